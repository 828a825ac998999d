//! Running the task: the network (configured, or discovered but never the default VPC unless
//! allowed), RunTask on Fargate, then waiting until it stops while following its logs. The exit
//! code of the process is the essential container's: [`outcome`] decides it from DescribeTasks.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use backon::Retryable;
use serde::Serialize;
use serde_json::Value;

use crate::aws::ecs::RunSpec;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::output::Output;
use crate::steps::logs;
use crate::steps::register::Registration;

mod follow;
mod network;
mod outcome;
mod overrides;
mod token;

pub use network::{choose_subnets, resolve_network, Network};
pub use outcome::{essential_containers, outcome, parse_tasks, Container, Outcome, Task};
pub use overrides::{check_override_size, parse_env_overrides};

/// How often `run` and `logs -f` ask AWS for news.
pub const POLL: Duration = Duration::from_secs(2);

/// The exit code when an essential container never ran (the task failed to start, the image could
/// not be pulled, …), as `docker run` does.
pub const DID_NOT_RUN: i32 = crate::error::exit::DID_NOT_RUN;
/// The exit code after Ctrl-C.
pub const INTERRUPTED: i32 = crate::error::exit::INTERRUPTED;
/// RunTask retries, and the pause between them, while IAM makes freshly created roles usable.
const IAM_RETRIES: usize = 5;
const IAM_DELAY: Duration = Duration::from_secs(5);

/// A task that was started but could not be followed: its exit code is unknown, which is not the
/// container's `1`, so it ends the process with its own code.
fn lost(cause: anyhow::Error, arns: &[String]) -> anyhow::Error {
    let ids: Vec<&str> = arns.iter().map(|a| logs::task_id(a)).collect();
    crate::error::Exit {
        code: crate::error::exit::LOST,
        error: cause.context(format!(
            "lost track of task {} after it started (its exit code is unknown; `cargo fargate ps --all` shows it once AWS answers again)",
            ids.join(", ")
        )),
    }
    .into()
}
/// RunTask's answer was lost: say what may exist and how to find it; the token stays recorded so
/// that a re-run finds the task. Any other failure was an answer: the token is spent.
fn unanswered(err: anyhow::Error, pending: &token::Pending) -> anyhow::Error {
    let Some(cause) = err.downcast_ref::<crate::aws::ecs::Unanswered>() else {
        pending.answered();
        return err;
    };
    UserError::new(format!(
        "RunTask's answer never arrived ({}), so a task may have started",
        cause.0
    ))
    .fix("`cargo fargate ps --all` shows it; re-running the same command finds that task (same client token) instead of starting another")
    .into()
}

/// `startedBy` of every task `run` starts.
pub const STARTED_BY: &str = "cargo-fargate";

/// How to run the task, as `run` and `deploy` are asked to (the CLI fills it from its flags).
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// How many tasks to start (1–10).
    pub count: i32,
    /// `KEY=VALUE` overrides of the environment.
    pub env: Vec<String>,
    pub detach: bool,
    pub stop_on_interrupt: bool,
    pub allow_default_vpc: bool,
    /// The container's command instead of the configured one; empty: the configured one.
    pub command: Vec<String>,
    /// Where RunTask's client token waits for its answer (`target/fargate`), so that a re-run
    /// after a lost answer finds the task instead of starting another; `None`: not kept.
    pub state_dir: Option<std::path::PathBuf>,
}

pub struct RunInput<'a> {
    pub config: &'a Config,
    pub definition: &'a Value,
    pub registration: &'a Registration,
    pub network: &'a Network,
    pub count: i32,
    pub command: Option<&'a [String]>,
    pub environment: &'a BTreeMap<String, String>,
    pub detach: bool,
    pub stop_on_interrupt: bool,
    pub poll: Duration,
    /// Roles were just created: IAM may take a few seconds before ECS can use them.
    pub fresh_roles: bool,
    /// See [`RunOptions::state_dir`].
    pub state_dir: Option<&'a std::path::Path>,
}

/// A task in a report.
#[derive(Debug, Clone, Serialize)]
pub struct TaskReport {
    pub arn: String,
    pub id: String,
    pub last_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    pub containers: Vec<ContainerReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContainerReport {
    pub name: String,
    pub essential: bool,
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn task_report(task: &Task, essential: &BTreeMap<String, bool>) -> TaskReport {
    TaskReport {
        arn: task.task_arn.clone(),
        id: logs::task_id(&task.task_arn).to_string(),
        last_status: task.last_status.clone(),
        stop_code: task.stop_code.clone(),
        stopped_reason: task.stopped_reason.clone().filter(|r| !r.is_empty()),
        containers: task
            .containers
            .iter()
            .map(|c| ContainerReport {
                name: c.name.clone(),
                essential: essential.get(&c.name).copied().unwrap_or(true),
                exit_code: c.exit_code,
                reason: c.reason.clone(),
            })
            .collect(),
    }
}

/// `cargo fargate run`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub cluster: String,
    pub task_definition: Registration,
    pub network: Network,
    pub tasks: Vec<TaskReport>,
    /// `--detach`: the tasks were placed and left running.
    pub detached: bool,
    pub interrupted: bool,
    /// How the tasks ended (not with --detach or after Ctrl-C).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub exit_code: i32,
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detached || self.interrupted {
            for t in &self.tasks {
                writeln!(f, "{}", t.arn)?;
            }
            return Ok(());
        }
        for t in &self.tasks {
            write!(f, "task {} {}", t.id, t.last_status)?;
            match (&t.stop_code, &t.stopped_reason) {
                (Some(code), Some(reason)) => writeln!(f, ": {code}: {reason}")?,
                (Some(code), None) => writeln!(f, ": {code}")?,
                (None, Some(reason)) => writeln!(f, ": {reason}")?,
                (None, None) => writeln!(f)?,
            }
            for c in &t.containers {
                let tag = if c.essential { "" } else { " (not essential)" };
                match (c.exit_code, &c.reason) {
                    (Some(code), _) => writeln!(f, "  {}{tag} exited {code}", c.name)?,
                    (None, Some(r)) => writeln!(f, "  {}{tag} did not run: {r}", c.name)?,
                    (None, None) => writeln!(f, "  {}{tag} did not run", c.name)?,
                }
            }
        }
        writeln!(f, "exit code {}", self.exit_code)
    }
}

/// Starts the tasks, and unless detached waits until they stop, streaming their logs.
pub async fn run(aws: &Aws, out: &Output, input: &RunInput<'_>) -> Result<RunReport> {
    let config = input.config;
    // Listen for Ctrl-C from before RunTask: once a task may exist, it is ours to report or stop.
    let mut interrupt = crate::interrupt::claim();
    let tasks = start(aws, out, input, &mut interrupt).await?;
    let essential = essential_containers(input.definition);
    let arns: Vec<String> = tasks.iter().map(|t| t.task_arn.clone()).collect();
    for arn in &arns {
        out.status("Started", format_args!("task {arn}"));
    }
    let mut report = RunReport {
        cluster: config.names.cluster.clone(),
        task_definition: input.registration.clone(),
        network: input.network.clone(),
        tasks: tasks.iter().map(|t| task_report(t, &essential)).collect(),
        detached: input.detach,
        interrupted: false,
        outcome: None,
        exit_code: 0,
    };
    if input.detach {
        return Ok(report);
    }
    tokio::select! {
        done = follow::follow(aws, out, input, &arns) => {
            let tasks = done.map_err(|e| lost(e, &arns))?;
            let o = outcome(&tasks, &essential);
            report.tasks = tasks.iter().map(|t| task_report(t, &essential)).collect();
            report.exit_code = o.exit_code;
            report.outcome = Some(o);
        }
        _ = interrupt.recv() => {
            report.interrupted = true;
            report.exit_code = INTERRUPTED;
            interrupted(aws, out, input, &arns).await?;
        }
    }
    Ok(report)
}

/// RunTask, with the client token of this run's identity (a lost answer is asked again, never
/// doubled); retried while IAM makes new roles usable. The tasks ECS started, at least one.
async fn start(
    aws: &Aws,
    out: &Output,
    input: &RunInput<'_>,
    interrupt: &mut crate::interrupt::Claim,
) -> Result<Vec<Task>> {
    let config = input.config;
    let container = crate::steps::render::main_container(input.definition)
        .and_then(|c| c["name"].as_str())
        .unwrap_or(&config.project)
        .to_string();
    let tags = crate::names::task_tags(config);
    let fingerprint = token::fingerprint(&serde_json::json!({
        "cluster": config.names.cluster, "taskDefinition": input.registration.arn, "count": input.count,
        "network": input.network, "container": container, "command": input.command,
        "environment": input.environment, "tags": tags, "exec": config.service.exec,
    }));
    let family = input
        .registration
        .arn
        .rsplit('/')
        .next()
        .unwrap_or_default();
    let family = family.split(':').next().unwrap_or(family);
    let pending =
        token::Pending::begin(input.state_dir, &config.names.cluster, family, &fingerprint);
    if pending.resumed {
        out.status(
            "Resuming",
            "an earlier run's RunTask got no answer: asking again with its client token, so ECS answers with the task it started instead of starting another",
        );
    }
    let spec = RunSpec {
        cluster: &config.names.cluster,
        task_definition: &input.registration.arn,
        count: input.count,
        subnets: &input.network.subnets,
        security_groups: &input.network.security_groups,
        assign_public_ip: input.network.assign_public_ip,
        container: &container,
        command: input.command,
        environment: input.environment,
        started_by: STARTED_BY,
        tags: &tags,
        exec: config.service.exec,
        client_token: &pending.token,
    };
    // A role IAM has just created can take a few seconds to be usable by ECS: RunTask is retried
    // while ECS says so, and Ctrl-C ends the wait.
    let retries = if input.fresh_roles { IAM_RETRIES } else { 0 };
    let start = (|| aws.run_task(&spec))
        .retry(
            backon::ConstantBuilder::default()
                .with_delay(IAM_DELAY)
                .with_max_times(retries),
        )
        .sleep(tokio::time::sleep)
        .when(|e| e.to_string().contains("role"))
        .notify(|e, after| {
            out.status(
                "Waiting",
                format_args!(
                    "for IAM to let ECS use the new roles (retrying in {}s): {e:#}",
                    after.as_secs()
                ),
            )
        });
    let response = tokio::select! {
        r = start => r.map_err(|e| unanswered(e, &pending))?,
        _ = interrupt.recv() => {
            return Err(crate::error::Exit {
                code: INTERRUPTED,
                error: anyhow::anyhow!(
                    "interrupted while waiting for IAM to make the new roles usable; `cargo fargate ps` shows a task if one started"
                ),
            }
            .into());
        }
    };
    pending.answered();
    let (tasks, failures) = parse_tasks(&response)?;
    if tasks.is_empty() {
        return Err(UserError::new(format!(
            "ECS started no task: {}",
            if failures.is_empty() {
                "no reason given".to_string()
            } else {
                failures.join("; ")
            }
        ))
        .fix("check the cluster's capacity, subnets and security groups")
        .into());
    }
    Ok(tasks)
}

/// Ctrl-C while following: the tasks stopped (`--stop-on-interrupt`), or one line naming what
/// keeps running and how to follow or stop it.
async fn interrupted(aws: &Aws, out: &Output, input: &RunInput<'_>, arns: &[String]) -> Result<()> {
    let cluster = &input.config.names.cluster;
    if input.stop_on_interrupt {
        for arn in arns {
            aws.stop_task(
                cluster,
                arn,
                "interrupted: cargo fargate run --stop-on-interrupt",
            )
            .await?;
            out.status("Stopped", format_args!("task {arn}"));
        }
        return Ok(());
    }
    let ids: Vec<&str> = arns.iter().map(|a| logs::task_id(a)).collect();
    out.warn(format_args!(
        "interrupted: stopped following; still running: task {}: follow it with `cargo fargate logs -f --task {}`, stop it with `cargo fargate stop {}`",
        arns.join(", task "),
        ids[0],
        ids.join(" ")
    ));
    Ok(())
}
