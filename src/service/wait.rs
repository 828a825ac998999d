//! Waiting for a service deployment: until ECS reports its rollout COMPLETED, printing the
//! service's events and the new tasks' logs meanwhile. A deployment the circuit breaker fails or
//! rolls back, or one that has not settled by the deadline, is an error that names the cause.
//!
//! [`assess`] decides from a DescribeServices answer alone (pure, unit-tested over the documented
//! shapes); [`wait`] polls and prints.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use crate::aws::Aws;
use crate::error::{Result, UserError};
use crate::net::poll::{every, poll_with};
use crate::output::Output;
use crate::steps::logs;
use crate::steps::run::{parse_tasks, Task};

/// Where a deployment stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Rolling out: running/desired of the new deployment.
    InProgress {
        running: i64,
        desired: i64,
    },
    Completed,
    /// The circuit breaker (or ECS) failed the deployment; `rolled_back` when ECS went back to
    /// another revision.
    Failed {
        reason: String,
        rolled_back: Option<String>,
    },
    /// The service was deleted or is draining.
    Gone(String),
}

/// The deployment a create or update started: the PRIMARY one of the answer.
pub fn primary(service: &Value) -> Option<&Value> {
    service["deployments"]
        .as_array()?
        .iter()
        .find(|d| d["status"] == "PRIMARY")
}

/// Where deployment `id` stands in a DescribeServices service.
pub fn assess(service: &Value, id: &str) -> Progress {
    let status = service["status"].as_str().unwrap_or_default();
    if status != "ACTIVE" {
        return Progress::Gone(format!("the service is {status}"));
    }
    let deployments = service["deployments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let ours = deployments.iter().find(|d| d["id"] == id);
    let primary = primary(service);
    let rolled_back_to = || {
        primary
            .filter(|p| p["id"] != id)
            .and_then(|p| p["taskDefinition"].as_str())
            .map(|td| super::request::short_arn(td).to_string())
    };
    let Some(d) = ours else {
        // Replaced: by ECS's rollback, or by someone else's deployment.
        return Progress::Failed {
            reason: "the deployment was replaced before it completed".into(),
            rolled_back: rolled_back_to(),
        };
    };
    let reason = d["rolloutStateReason"].as_str().unwrap_or_default();
    match d["rolloutState"].as_str().unwrap_or_default() {
        "COMPLETED" if d["status"] == "PRIMARY" => Progress::Completed,
        "FAILED" => Progress::Failed {
            reason: if reason.is_empty() {
                "the deployment failed".into()
            } else {
                reason.to_string()
            },
            rolled_back: rolled_back_to(),
        },
        "COMPLETED" => Progress::Failed {
            reason: format!("the deployment is no longer the primary one ({reason})"),
            rolled_back: rolled_back_to(),
        },
        _ => Progress::InProgress {
            running: d["runningCount"].as_i64().unwrap_or(0),
            desired: d["desiredCount"].as_i64().unwrap_or(0),
        },
    }
}

/// The deployment that took over from `id` when it runs the same revision
/// (`task_definition_arn`): another deploy of the same image and settings, whose rollout is this
/// deploy's too. None while `id` is the primary one, or when the primary runs another revision
/// or has failed.
pub fn taken_over_by(service: &Value, id: &str, task_definition_arn: &str) -> Option<String> {
    let p = primary(service)?;
    (p["id"] != id && p["taskDefinition"] == task_definition_arn && p["rolloutState"] != "FAILED")
        .then(|| p["id"].as_str().map(str::to_string))
        .flatten()
}

/// Follows the deployment that took over from `deployment` with the same revision, saying so.
fn take_over(out: &Output, service: &Value, deployment: &mut String, input: &WaitInput<'_>) {
    if let Some(by) = taken_over_by(service, deployment, input.task_definition_arn) {
        out.status(
            "Following",
            format_args!(
                "deployment {by} of {}: another deploy of the same revision replaced deployment {deployment}, so its rollout is this deploy's",
                input.service
            ),
        );
        *deployment = by;
    }
}

/// Event messages that say why tasks do not become healthy.
pub fn health_events(service: &Value) -> Vec<String> {
    service["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e["message"].as_str())
        .filter(|m| {
            let m = m.to_ascii_lowercase();
            m.contains("unhealthy") || m.contains("health check") || m.contains("unable to")
        })
        .take(3)
        .map(str::to_string)
        .collect()
}

/// Why stopped tasks stopped: `task <id>: <reason> (<container>: <reason or exit code>)`.
pub fn stopped_reasons(tasks: &[Task]) -> Vec<String> {
    tasks
        .iter()
        .take(3)
        .map(|t| {
            let mut line = format!(
                "task {}: {}",
                logs::task_id(&t.task_arn),
                t.stopped_reason
                    .as_deref()
                    .filter(|r| !r.is_empty())
                    .unwrap_or("stopped")
            );
            let containers: Vec<String> = t
                .containers
                .iter()
                .filter_map(|c| match (&c.reason, c.exit_code) {
                    (Some(r), _) => Some(format!("{}: {r}", c.name)),
                    (None, Some(code)) if code != 0 => Some(format!("{} exited {code}", c.name)),
                    _ => None,
                })
                .collect();
            if !containers.is_empty() {
                line.push_str(&format!(" ({})", containers.join(", ")));
            }
            line
        })
        .collect()
}

/// The one line a failed or unsettled deployment ends with.
pub fn failure_line(
    service: &str,
    progress: &Progress,
    waited: Option<Duration>,
    stopped: &[String],
    health: &[String],
) -> String {
    let mut line = match (progress, waited) {
        (Progress::Failed {
            reason,
            rolled_back: Some(to),
        }, _) => format!("the deployment of service {service} was rolled back to {to}: {reason}"),
        (Progress::Failed { reason, .. }, _) => {
            format!("the deployment of service {service} failed: {reason}")
        }
        (Progress::Gone(why), _) => format!("service {service} went away during the deployment: {why}"),
        (Progress::InProgress { running, desired }, Some(w)) => format!(
            "the deployment of service {service} did not complete within {}: {running} of {desired} new tasks running",
            humantime::format_duration(w)
        ),
        (p, _) => format!("service {service}: {p:?}"),
    };
    if !stopped.is_empty() {
        line.push_str(&format!("; stopped {}", stopped.join("; ")));
    }
    if !health.is_empty() {
        line.push_str(&format!("; {}", health.join("; ")));
    }
    if stopped.is_empty() && health.is_empty() && matches!(progress, Progress::InProgress { .. }) {
        line.push_str("; no task has stopped and no health check failed yet");
    }
    line
}

/// What waiting saw.
#[derive(Debug, Clone, Serialize)]
pub struct Waited {
    pub deployment: String,
    pub rollout_state: String,
    pub seconds: u64,
}

pub struct WaitInput<'a> {
    pub cluster: &'a str,
    pub service: &'a str,
    pub deployment: &'a str,
    pub task_definition_arn: &'a str,
    /// The task definition, for where its containers log.
    pub definition: &'a Value,
    pub timeout: Duration,
    pub poll: Duration,
}

/// A blue-green, canary or linear deployment: its settings and production listener rule.
pub type Shifting<'a> = Option<(&'a crate::config::traffic::Deployment, &'a str)>;

/// Polls DescribeServices until the deployment completes, fails or times out, printing new
/// service events and following the logs of the new revision's tasks.
pub async fn wait(aws: &Aws, out: &Output, input: &WaitInput<'_>) -> Result<Waited> {
    wait_shifting(aws, out, input, None).await
}

/// [`wait`], saying each step of a traffic-shifting deployment as the rule's weights move.
pub async fn wait_shifting(
    aws: &Aws,
    out: &Output,
    input: &WaitInput<'_>,
    shift: Shifting<'_>,
) -> Result<Waited> {
    let started = Instant::now();
    out.status(
        "Waiting",
        format_args!(
            "for deployment {} of service {} to complete (at most {})",
            input.deployment,
            input.service,
            humantime::format_duration(input.timeout)
        ),
    );
    let revision = super::request::short_arn(input.task_definition_arn);
    let follower = shift.map(|(deployment, rule)| {
        out.status("Strategy", super::shift::plan_line(deployment, revision));
        super::shift::Follower::new(deployment, rule, revision)
    });
    let mut watch = Watch {
        aws,
        out,
        input,
        seen_events: HashSet::new(),
        first: true,
        last_line: String::new(),
        task_logs: super::task_logs::TaskLogs::new(input.definition),
        follower,
        deployment: input.deployment.to_string(),
        last: None,
    };
    let what = format!(
        "deployment {} of service {}",
        input.deployment, input.service
    );
    let deadline = started + input.timeout;
    let done = poll_with(&what, deadline, every(input.poll), &mut watch, |w| {
        Box::pin(w.look())
    })
    .await?;
    let Ok(deployment) = done else {
        // At least one look happened before the deadline; without one, nothing was seen to run.
        let (service, progress) = watch.last.unwrap_or((
            Value::Null,
            Progress::InProgress {
                running: 0,
                desired: 0,
            },
        ));
        let stopped = stopped_tasks(aws, input).await?;
        return Err(UserError::new(failure_line(
            input.service,
            &progress,
            Some(input.timeout),
            &stopped,
            &health_events(&service),
        ))
        .fix("see `cargo fargate status`; a slow start needs a longer --wait-timeout")
        .into());
    };
    Ok(Waited {
        deployment,
        rollout_state: "COMPLETED".into(),
        seconds: started.elapsed().as_secs(),
    })
}

/// What a deployment's wait has seen so far: the events printed, the new tasks' logs, the
/// traffic shift's steps, the deployment followed (another deploy's may take it over).
struct Watch<'a> {
    aws: &'a Aws,
    out: &'a Output,
    input: &'a WaitInput<'a>,
    seen_events: HashSet<String>,
    first: bool,
    last_line: String,
    task_logs: super::task_logs::TaskLogs,
    follower: Option<super::shift::Follower<'a>>,
    deployment: String,
    /// The last answer and where it stood, for the timeout's line.
    last: Option<(Value, Progress)>,
}

impl Watch<'_> {
    /// One look: the deployment's ID once it completed, `None` while it rolls; an error when it
    /// failed or the service went away.
    async fn look(&mut self) -> Result<Option<String>> {
        let (aws, out, input) = (self.aws, self.out, self.input);
        let service = aws
            .describe_service(input.cluster, input.service)
            .await?
            .ok_or_else(|| {
                UserError::new(format!(
                    "service {} is gone from cluster {}",
                    input.service, input.cluster
                ))
                .fix("deploy again to create it")
            })?;
        super::task_logs::print_events(out, &service, &mut self.seen_events, self.first);
        self.first = false;
        self.task_logs.poll(aws, out, input).await?;
        if let Some(f) = self.follower.as_mut() {
            f.poll(aws, out).await?;
        }
        take_over(out, &service, &mut self.deployment, input);
        let progress = assess(&service, &self.deployment);
        match &progress {
            Progress::Completed => {
                out.status(
                    "Completed",
                    format_args!("deployment {} of {}", self.deployment, input.service),
                );
                return Ok(Some(self.deployment.clone()));
            }
            Progress::InProgress { running, desired } => {
                let line = format!("{running} of {desired} new tasks running");
                if line != self.last_line {
                    out.status("Rolling", &line);
                    self.last_line = line;
                }
            }
            Progress::Failed { .. } | Progress::Gone(_) => {
                let stopped = stopped_tasks(aws, input).await?;
                return Err(UserError::new(failure_line(
                    input.service,
                    &progress,
                    None,
                    &stopped,
                    &health_events(&service),
                ))
                .fix(
                    "fix the cause and deploy again (`cargo fargate logs` shows the tasks' output)",
                )
                .into());
            }
        }
        self.last = Some((service, progress));
        Ok(None)
    }
}

/// Why the revision's tasks stopped, newest first.
async fn stopped_tasks(aws: &Aws, input: &WaitInput<'_>) -> Result<Vec<String>> {
    let arns = aws
        .service_tasks(input.cluster, input.service, "STOPPED")
        .await?;
    let arns: Vec<String> = arns.into_iter().take(100).collect();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let (tasks, _) = parse_tasks(&aws.describe_tasks(input.cluster, &arns).await?)?;
    let ours: Vec<Task> = tasks
        .into_iter()
        .filter(|t| t.task_definition_arn.as_deref() == Some(input.task_definition_arn))
        .collect();
    Ok(stopped_reasons(&ours))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NEW: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/app-dev:4";
    const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/app-dev:3";

    /// A DescribeServices service as the ECS API reference shows it.
    fn service(deployments: Value, events: Value) -> Value {
        json!({
            "serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/app-dev/app-dev",
            "serviceName": "app-dev", "status": "ACTIVE", "desiredCount": 2, "runningCount": 2,
            "deployments": deployments, "events": events,
        })
    }

    #[test]
    fn completed() {
        let s = service(
            json!([{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": NEW, "desiredCount": 2,
                    "runningCount": 2, "pendingCount": 0, "failedTasks": 0,
                    "rolloutState": "COMPLETED", "rolloutStateReason": "ECS deployment ecs-svc/1 completed."}]),
            json!([]),
        );
        assert_eq!(assess(&s, "ecs-svc/1"), Progress::Completed);
    }

    #[test]
    fn in_progress_past_the_timeout_names_the_cause() {
        let s = service(
            json!([
                {"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": NEW, "desiredCount": 2,
                 "runningCount": 1, "pendingCount": 1, "rolloutState": "IN_PROGRESS",
                 "rolloutStateReason": "ECS deployment ecs-svc/2 in progress."},
                {"id": "ecs-svc/1", "status": "ACTIVE", "taskDefinition": OLD, "desiredCount": 0,
                 "runningCount": 2, "rolloutState": "COMPLETED"}
            ]),
            json!([
                {"id": "e2", "message": "(service app-dev) (port 8080) is unhealthy in (target-group arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123) due to (reason Health checks failed)."},
                {"id": "e1", "message": "(service app-dev) has started 1 tasks: (task 1234)."}
            ]),
        );
        let p = assess(&s, "ecs-svc/2");
        assert_eq!(
            p,
            Progress::InProgress {
                running: 1,
                desired: 2
            }
        );
        let line = failure_line(
            "app-dev",
            &p,
            Some(Duration::from_secs(600)),
            &[],
            &health_events(&s),
        );
        assert!(line.contains("did not complete within 10m"), "{line}");
        assert!(line.contains("1 of 2 new tasks running"), "{line}");
        assert!(line.contains("is unhealthy in (target-group"), "{line}");
        assert!(!line.contains("has started"), "{line}");
    }

    #[test]
    fn failed_by_the_circuit_breaker_with_its_reason() {
        let s = service(
            json!([{"id": "ecs-svc/3", "status": "PRIMARY", "taskDefinition": NEW, "desiredCount": 1,
                    "runningCount": 0, "failedTasks": 3, "rolloutState": "FAILED",
                    "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start."}]),
            json!([]),
        );
        let p = assess(&s, "ecs-svc/3");
        assert_eq!(
            p,
            Progress::Failed {
                reason: "ECS deployment circuit breaker: tasks failed to start.".into(),
                rolled_back: None
            }
        );
        let stopped = stopped_reasons(&[Task {
            task_arn: "arn:aws:ecs:us-east-1:123456789012:task/app-dev/abc123".into(),
            last_status: "STOPPED".into(),
            desired_status: "STOPPED".into(),
            task_definition_arn: Some(NEW.into()),
            stop_code: Some("EssentialContainerExited".into()),
            stopped_reason: Some("Essential container in task exited".into()),
            started_by: Some("ecs-svc/3".into()),
            containers: vec![crate::steps::run::Container {
                name: "app".into(),
                last_status: Some("STOPPED".into()),
                exit_code: Some(101),
                reason: None,
            }],
        }]);
        let line = failure_line("app-dev", &p, None, &stopped, &[]);
        assert_eq!(line, "the deployment of service app-dev failed: ECS deployment circuit breaker: tasks failed to start.; stopped task abc123: Essential container in task exited (app exited 101)");
    }

    #[test]
    fn a_rollback_is_never_success() {
        // The breaker tripped with rollback on: ours FAILED and no longer primary, a new primary
        // deployment runs the previous revision.
        let s = service(
            json!([
                {"id": "ecs-svc/5", "status": "PRIMARY", "taskDefinition": OLD, "desiredCount": 2,
                 "runningCount": 2, "rolloutState": "COMPLETED"},
                {"id": "ecs-svc/4", "status": "ACTIVE", "taskDefinition": NEW, "desiredCount": 0,
                 "runningCount": 0, "failedTasks": 4, "rolloutState": "FAILED",
                 "rolloutStateReason": "ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/5."}
            ]),
            json!([]),
        );
        let p = assess(&s, "ecs-svc/4");
        assert!(
            matches!(&p, Progress::Failed { rolled_back: Some(to), .. } if to == "app-dev:3"),
            "{p:?}"
        );
        let line = failure_line("app-dev", &p, None, &[], &[]);
        assert!(line.contains("was rolled back to app-dev:3"), "{line}");
        // Later ECS drops the failed deployment: still not a success.
        let s = service(
            json!([{"id": "ecs-svc/5", "status": "PRIMARY", "taskDefinition": OLD,
                    "rolloutState": "COMPLETED"}]),
            json!([]),
        );
        assert!(matches!(
            assess(&s, "ecs-svc/4"),
            Progress::Failed {
                rolled_back: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn a_deployment_replaced_by_one_of_the_same_revision_is_taken_over() {
        let s = service(
            json!([
                {"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": NEW, "rolloutState": "IN_PROGRESS"},
                {"id": "ecs-svc/1", "status": "ACTIVE", "taskDefinition": NEW, "rolloutState": "IN_PROGRESS"},
            ]),
            json!([]),
        );
        assert_eq!(
            taken_over_by(&s, "ecs-svc/1", NEW).as_deref(),
            Some("ecs-svc/2")
        );
        assert_eq!(
            taken_over_by(&s, "ecs-svc/2", NEW),
            None,
            "still the primary"
        );
        // Replaced by another revision (a rollback, another image): not this deploy's rollout.
        let s = service(
            json!([{"id": "ecs-svc/3", "status": "PRIMARY", "taskDefinition": OLD, "rolloutState": "IN_PROGRESS"}]),
            json!([]),
        );
        assert_eq!(taken_over_by(&s, "ecs-svc/1", NEW), None);
        let s = service(
            json!([{"id": "ecs-svc/3", "status": "PRIMARY", "taskDefinition": NEW, "rolloutState": "FAILED"}]),
            json!([]),
        );
        assert_eq!(taken_over_by(&s, "ecs-svc/1", NEW), None);
    }

    #[test]
    fn a_draining_service_is_gone() {
        let mut s = service(json!([]), json!([]));
        s["status"] = json!("DRAINING");
        assert!(matches!(assess(&s, "ecs-svc/1"), Progress::Gone(_)));
    }
}
