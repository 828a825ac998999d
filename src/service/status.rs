//! `status`, `rollback`, `scale` and `delete` of a stage's service (or, for `kind = "task"`, its
//! tasks). Reports are read from DescribeServices / DescribeTasks JSON.

use std::fmt;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

use super::request::{self, short_arn};
use crate::aws::Aws;
use crate::config::service::StageKind;
use crate::config::Config;
use crate::error::{Location, Result, UserError};
use crate::net::poll::{every, poll_until};
use crate::output::Output;
use crate::steps::logs::task_id;

#[derive(Debug, Serialize)]
pub struct DeploymentRow {
    pub id: String,
    pub status: String,
    pub rollout_state: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rollout_state_reason: String,
    pub task_definition: String,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub failed: i64,
}

#[derive(Debug, Serialize)]
pub struct TaskRow {
    pub id: String,
    pub last_status: String,
    pub revision: String,
    /// The digest each container runs, as ECS resolved it.
    pub image_digests: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// HEALTHY, UNHEALTHY or UNKNOWN (no container health check, or not decided yet).
    pub health: String,
    /// The task's own address (its ENI's private IPv4 address), once it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub kind: StageKind,
    pub cluster: String,
    /// The service's name; None for kind = "task".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// ACTIVE, DRAINING, INACTIVE, or MISSING when there is none.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition: Option<String>,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    pub deployments: Vec<DeploymentRow>,
    pub tasks: Vec<TaskRow>,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `scale-on`: the scalable target's range and the policies (src/service/scaling.rs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<super::scaling::ScalingReport>,
    /// Blue-green, canary or linear: the strategy and the production rule's weights now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traffic: Option<super::shift::Traffic>,
    /// The stage and its family, for the text's first line (the JSON has them from `config`).
    #[serde(skip)]
    pub stage: String,
    #[serde(skip)]
    pub family: String,
}

impl StatusReport {
    /// The first line: the service and its state; for a task stage, the stage, its family, and
    /// a line that says so when none of its tasks runs.
    fn heading(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.service {
            return writeln!(
                f,
                "service {s} in cluster {}: {}",
                self.cluster, self.status
            );
        }
        writeln!(
            f,
            "tasks of stage {} ({}) in cluster {}",
            self.stage, self.family, self.cluster
        )?;
        if self.tasks.is_empty() {
            let cluster = match self.status.as_str() {
                "MISSING" => " (the cluster does not exist yet)",
                _ => "",
            };
            writeln!(
                f,
                "no task of stage {} is running{cluster}; `cargo fargate ps --all` lists the stopped ones",
                self.stage
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.heading(f)?;
        if let Some(url) = &self.url {
            writeln!(f, "url      {url}")?;
        }
        if let Some(td) = &self.task_definition {
            writeln!(f, "revision {td}")?;
        }
        if self.service.is_some() {
            writeln!(
                f,
                "tasks    {} running, {} pending, {} desired",
                self.running, self.pending, self.desired
            )?;
        }
        if let Some(s) = &self.scaling {
            writeln!(f, "scaling  {}", s.range())?;
        }
        if let Some(t) = &self.traffic {
            writeln!(f, "traffic  {t}")?;
        }
        for d in &self.deployments {
            writeln!(
                f,
                "deployment {} {} {} {} ({} running, {} pending, {} desired{}){}",
                d.id,
                d.status,
                d.rollout_state,
                d.task_definition,
                d.running,
                d.pending,
                d.desired,
                if d.failed > 0 {
                    format!(", {} failed", d.failed)
                } else {
                    String::new()
                },
                if d.rollout_state_reason.is_empty() {
                    String::new()
                } else {
                    format!(": {}", d.rollout_state_reason)
                }
            )?;
        }
        for t in &self.tasks {
            write!(
                f,
                "task {} {} {} {} health {}",
                t.id,
                t.last_status,
                t.revision,
                t.image_digests.join(", "),
                t.health
            )?;
            if let Some(a) = &t.address {
                write!(f, " at {a}")?;
            }
            if let Some(r) = &t.stopped_reason {
                write!(f, " ({r})")?;
            }
            writeln!(f)?;
        }
        for e in &self.events {
            writeln!(f, "event {e}")?;
        }
        Ok(())
    }
}

/// The rows of a DescribeServices service.
pub fn deployments(service: &Value) -> Vec<DeploymentRow> {
    service["deployments"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|d| DeploymentRow {
            id: d["id"].as_str().unwrap_or_default().to_string(),
            status: d["status"].as_str().unwrap_or_default().to_string(),
            rollout_state: d["rolloutState"].as_str().unwrap_or("-").to_string(),
            rollout_state_reason: d["rolloutStateReason"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            task_definition: short_arn(d["taskDefinition"].as_str().unwrap_or_default())
                .to_string(),
            desired: d["desiredCount"].as_i64().unwrap_or(0),
            running: d["runningCount"].as_i64().unwrap_or(0),
            pending: d["pendingCount"].as_i64().unwrap_or(0),
            failed: d["failedTasks"].as_i64().unwrap_or(0),
        })
        .collect()
}

/// The rows of DescribeTasks tasks.
pub fn task_rows(tasks: &[Value]) -> Vec<TaskRow> {
    tasks
        .iter()
        .map(|t| TaskRow {
            id: task_id(t["taskArn"].as_str().unwrap_or_default()).to_string(),
            last_status: t["lastStatus"].as_str().unwrap_or_default().to_string(),
            revision: short_arn(t["taskDefinitionArn"].as_str().unwrap_or_default()).to_string(),
            image_digests: t["containers"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c["imageDigest"].as_str().map(str::to_string))
                .collect(),
            stopped_reason: t["stoppedReason"]
                .as_str()
                .filter(|r| !r.is_empty())
                .map(str::to_string),
            health: t["healthStatus"].as_str().unwrap_or("UNKNOWN").to_string(),
            address: t["attachments"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["type"] == "ElasticNetworkInterface")
                .flat_map(|a| a["details"].as_array().into_iter().flatten())
                .find(|d| d["name"] == "privateIPv4Address")
                .and_then(|d| d["value"].as_str())
                .map(str::to_string),
        })
        .collect()
}

pub async fn status(aws: &Aws, config: &Config) -> Result<StatusReport> {
    let mut report = StatusReport {
        kind: config.service.kind,
        cluster: config.names.cluster.clone(),
        service: None,
        status: "MISSING".into(),
        task_definition: None,
        desired: 0,
        running: 0,
        pending: 0,
        deployments: Vec::new(),
        tasks: Vec::new(),
        events: Vec::new(),
        url: None,
        scaling: None,
        traffic: None,
        stage: config.stage.clone(),
        family: crate::names::family(config),
    };
    if !aws.cluster_exists(&config.names.cluster).await? {
        if config.service.kind != StageKind::Task {
            report.service = Some(crate::names::service(config));
        }
        return Ok(report);
    }
    let tasks = super::exec::stage_tasks(aws, config).await?;
    report.tasks = task_rows(&tasks);
    if config.service.kind == StageKind::Task {
        report.status = if tasks.is_empty() { "IDLE" } else { "RUNNING" }.into();
        report.running = tasks.len() as i64;
        return Ok(report);
    }
    let name = crate::names::service(config);
    report.service = Some(name.clone());
    if config.service.kind == StageKind::Web {
        let arn = super::express::stage_service_arn(aws, config).await?;
        if let Some(e) = aws.describe_express_service(&arn).await? {
            report.url = super::express::url(&e);
        }
    }
    let Some(service) = aws.describe_service(&config.names.cluster, &name).await? else {
        return Ok(report);
    };
    report.status = service["status"].as_str().unwrap_or_default().to_string();
    report.task_definition = service["taskDefinition"]
        .as_str()
        .map(|s| short_arn(s).to_string());
    report.desired = service["desiredCount"].as_i64().unwrap_or(0);
    // Counted from the tasks themselves, as `ps` lists them: never a count no task shows.
    let count = |states: &[&str]| {
        report
            .tasks
            .iter()
            .filter(|t| states.contains(&t.last_status.as_str()))
            .count() as i64
    };
    report.running = count(&["RUNNING"]);
    report.pending = count(&["PROVISIONING", "PENDING", "ACTIVATING"]);
    report.deployments = deployments(&service);
    report.events = service["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .take(5)
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect();
    if report.status == "ACTIVE" {
        report.scaling = super::scaling::found(aws, config).await?;
        report.traffic = super::shift::traffic(aws, &service).await?;
    }
    Ok(report)
}

/// The ACTIVE service of a `kind = "service"` stage, or the line that says why there is none.
pub(super) async fn active_service(aws: &Aws, config: &Config, command: &str) -> Result<Value> {
    if config.service.kind != StageKind::Service {
        let hint = match config.service.kind {
            StageKind::Web => "Express Mode scales itself between `desired-count` and `max-count`; change them and deploy",
            _ => "set `kind = \"service\"` and deploy to run the stage as a service",
        };
        return Err(config
            .key_error(
                "kind",
                format!(
                    "`{command}` works on a kind = \"service\" stage; this one is kind = \"{}\"",
                    kind_name(config.service.kind)
                ),
            )
            .fix(hint)
            .into());
    }
    let name = crate::names::service(config);
    match aws.describe_service(&config.names.cluster, &name).await? {
        Some(s) if s["status"] == "ACTIVE" => Ok(s),
        _ => Err(UserError::new(format!(
            "service {name} does not exist in cluster {}",
            config.names.cluster
        ))
        .fix("deploy it first (`cargo fargate deploy`)")
        .into()),
    }
}

fn kind_name(kind: StageKind) -> &'static str {
    match kind {
        StageKind::Task => "task",
        StageKind::Service => "service",
        StageKind::Web => "web",
    }
}

pub use super::rollback::{rollback, rollback_target, ChangeReport};

/// `scale N`: sets the desired count and waits until that many tasks run.
pub async fn scale(
    aws: &Aws,
    config: &Config,
    count: u32,
    wait: &super::deploy::WaitOptions,
    out: &Output,
) -> Result<ChangeReport> {
    let limit = wait.timeout;
    let service = active_service(aws, config, "scale").await?;
    let name = crate::names::service(config);
    let before = service["desiredCount"].as_i64().unwrap_or(0);
    let body = serde_json::json!({"cluster": config.names.cluster, "service": name, "desiredCount": count});
    aws.update_service(&body).await?;
    out.status(
        "Scaling",
        format_args!("service {name} from {before} to {count} tasks"),
    );
    let report = ChangeReport {
        service: name.clone(),
        what: format!("desired count {before} → {count}"),
        waited: None,
    };
    if wait.no_wait {
        return Ok(report);
    }
    settle(aws, config, &name, count as i64, limit, out).await?;
    Ok(report)
}

/// Waits until the service runs `count` tasks and none is pending.
async fn settle(
    aws: &Aws,
    config: &Config,
    name: &str,
    count: i64,
    limit: Duration,
    out: &Output,
) -> Result<()> {
    let started = Instant::now();
    out.status(
        "Waiting",
        format_args!(
            "for {name} to run {count} tasks (at most {})",
            humantime::format_duration(limit)
        ),
    );
    let what = format!("{name} to run {count} tasks");
    let deadline = started + limit;
    // The last counts seen, for the timeout's line.
    let last = std::cell::Cell::new((0, 0));
    let settled = poll_until(&what, deadline, every(crate::steps::run::POLL), || async {
        let s = aws
            .describe_service(&config.names.cluster, name)
            .await?
            .unwrap_or_default();
        let running = s["runningCount"].as_i64().unwrap_or(0);
        let pending = s["pendingCount"].as_i64().unwrap_or(0);
        last.set((running, pending));
        Ok::<_, anyhow::Error>((running == count && pending == 0).then_some(()))
    })
    .await?;
    settled.map_err(|_| {
        let (running, pending) = last.get();
        UserError::new(format!(
            "service {name} runs {running} of {count} tasks ({pending} pending) after {}",
            humantime::format_duration(limit)
        ))
        .fix(
            "see `cargo fargate status` for its events; a slow start needs a longer --wait-timeout",
        )
        .into()
    })
}

#[derive(Debug, Serialize)]
pub struct DeleteReport {
    pub service: String,
    pub deleted: bool,
}

impl fmt::Display for DeleteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.deleted {
            writeln!(f, "deleted service {}", self.service)
        } else {
            writeln!(f, "no service {} to delete", self.service)
        }
    }
}

/// `delete`: scales the service to 0, then deletes it (Express Mode: deletes the Express service).
pub async fn delete(aws: &Aws, config: &Config, yes: bool, out: &Output) -> Result<DeleteReport> {
    let name = crate::names::service(config);
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(
                UserError::new(format!("deleting service {name} needs confirmation"))
                    .at(Location::Flag("--yes".into()))
                    .fix("pass --yes to delete without asking")
                    .into(),
            );
        }
        crate::output::write_stderr(format_args!(
            "delete service {name} in cluster {} (stage {})? [y/N] ",
            config.names.cluster, config.stage
        ));
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(UserError::new("not deleted")
                .fix("answer y to delete")
                .into());
        }
    }
    let mut report = DeleteReport {
        service: name.clone(),
        deleted: false,
    };
    if !aws.cluster_exists(&config.names.cluster).await? {
        return Ok(report);
    }
    if config.service.kind == StageKind::Web {
        let arn = super::express::stage_service_arn(aws, config).await?;
        if aws.describe_express_service(&arn).await?.is_some() {
            aws.delete_express_service(&arn).await?;
            out.status("Deleted", format_args!("Express Mode service {name}"));
            report.deleted = true;
        }
        return Ok(report);
    }
    let Some(service) = aws.describe_service(&config.names.cluster, &name).await? else {
        return Ok(report);
    };
    if !request::is_active(Some(&service)) {
        return Ok(report);
    }
    if service["desiredCount"].as_i64().unwrap_or(0) > 0 {
        let body = serde_json::json!({"cluster": config.names.cluster, "service": name, "desiredCount": 0});
        aws.update_service(&body).await?;
        out.status("Scaled", format_args!("service {name} to 0 tasks"));
    }
    aws.delete_service(&config.names.cluster, &name).await?;
    out.status("Deleted", format_args!("service {name}"));
    report.deleted = true;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_goes_to_the_previous_active_revision_or_the_given_one() {
        assert_eq!(rollback_target(5, &[2, 3, 5], None), Ok(3));
        assert_eq!(rollback_target(5, &[2, 3, 5], Some(2)), Ok(2));
        assert!(rollback_target(5, &[2, 3, 5], Some(4))
            .unwrap_err()
            .contains("not an ACTIVE"));
        assert!(rollback_target(5, &[5], None)
            .unwrap_err()
            .contains("no ACTIVE revision before 5"));
        assert!(rollback_target(5, &[5], Some(5))
            .unwrap_err()
            .contains("already runs"));
    }

    #[test]
    fn rows_name_revision_and_digest() {
        let tasks = vec![serde_json::json!({
            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
            "lastStatus": "RUNNING",
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/app-dev:7",
            "containers": [{"name": "app", "imageDigest": "sha256:1234"}]
        })];
        let rows = task_rows(&tasks);
        assert_eq!(rows[0].revision, "app-dev:7");
        assert_eq!(rows[0].image_digests, vec!["sha256:1234"]);
    }
}
