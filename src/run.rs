//! Running the task: the network (configured, or discovered but never the default VPC unless
//! allowed), RunTask on Fargate, then waiting until it stops while following its logs. The exit
//! code of the process is the essential container's: [`outcome`] decides it from DescribeTasks.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aws::ec2::Subnet;
use crate::aws::ecs::RunSpec;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Location, Result, UserError};
use crate::logs::{self, Labels, Stream};
use crate::output::Output;
use crate::register::Registration;

/// The exit code when an essential container never ran (the task failed to start, the image could
/// not be pulled, …), as `docker run` does.
pub const DID_NOT_RUN: i32 = 125;
/// The exit code after Ctrl-C.
pub const INTERRUPTED: i32 = 130;
/// DescribeTasks answers of MISSING in a row before a task counts as lost.
const MISSING_POLLS: u32 = 3;

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
/// `startedBy` of every task `run` starts.
pub const STARTED_BY: &str = "cargo-fargate";

/// A task as DescribeTasks reports it (the fields the decision needs).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub task_arn: String,
    #[serde(default)]
    pub last_status: String,
    #[serde(default)]
    pub desired_status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_definition_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    #[serde(default)]
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The tasks of a DescribeTasks (or RunTask) response, and its failures as messages.
pub fn parse_tasks(response: &Value) -> Result<(Vec<Task>, Vec<String>)> {
    let tasks: Vec<Task> = serde_json::from_value(
        response
            .get("tasks")
            .cloned()
            .unwrap_or(Value::Array(Vec::new())),
    )?;
    let failures = response["failures"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            let what = f["arn"].as_str().unwrap_or("task");
            let reason = f["reason"].as_str().unwrap_or("unknown");
            match f["detail"].as_str() {
                Some(d) => format!("{what}: {reason} ({d})"),
                None => format!("{what}: {reason}"),
            }
        })
        .collect();
    Ok((tasks, failures))
}

/// Which containers of the task definition are essential (ECS's default is essential).
pub fn essential_containers(definition: &Value) -> BTreeMap<String, bool> {
    definition["containerDefinitions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            Some((
                c["name"].as_str()?.to_string(),
                c["essential"].as_bool().unwrap_or(true),
            ))
        })
        .collect()
}

/// How a run ended: the process exit code and one line that says why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub exit_code: i32,
    pub message: String,
}

/// Decides the exit code of stopped tasks: the first essential container's non-zero exit code;
/// [`DID_NOT_RUN`] when an essential container has no exit code (the task failed to start, the
/// image could not be pulled, …); else 0. Non-essential containers are reported, never decisive.
pub fn outcome(tasks: &[Task], essential: &BTreeMap<String, bool>) -> Outcome {
    if tasks.is_empty() {
        return Outcome {
            exit_code: DID_NOT_RUN,
            message: "no task was started".into(),
        };
    }
    let mut exit_code = 0;
    let mut lines = Vec::new();
    for task in tasks {
        let mut parts = Vec::new();
        let mut task_code = 0;
        let mut not_run = false;
        for c in &task.containers {
            let is_essential = essential.get(&c.name).copied().unwrap_or(true);
            let tag = if is_essential { "" } else { " (not essential)" };
            match c.exit_code {
                Some(code) => {
                    parts.push(format!("{}{tag} exited {code}", c.name));
                    if is_essential && code != 0 && task_code == 0 {
                        task_code = code;
                    }
                }
                None => {
                    let why = c.reason.as_deref().unwrap_or("no exit code");
                    parts.push(format!("{}{tag} did not run: {why}", c.name));
                    not_run |= is_essential;
                }
            }
        }
        if task.containers.is_empty() {
            not_run = true;
        }
        if task_code == 0 && (not_run || task.stop_code.as_deref() == Some("TaskFailedToStart")) {
            task_code = DID_NOT_RUN;
        }
        if exit_code == 0 {
            exit_code = task_code;
        }
        let reason = match (task.stop_code.as_deref(), task.stopped_reason.as_deref()) {
            (Some(code), Some(r)) if !r.is_empty() => format!("{code}: {r}"),
            (None, Some(r)) if !r.is_empty() => r.to_string(),
            (Some(code), _) => code.to_string(),
            _ => "stopped".to_string(),
        };
        let containers = if parts.is_empty() {
            "no containers".to_string()
        } else {
            parts.join(", ")
        };
        lines.push(format!(
            "task {} {reason}; {containers}",
            logs::task_id(&task.task_arn)
        ));
    }
    Outcome {
        exit_code,
        message: lines.join("; "),
    }
}

/// The task's network, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    pub vpc: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

/// Picks the subnets: the configured ones (all in one VPC, not the default one unless allowed),
/// or, with none configured, those of the account's only non-default VPC.
pub fn choose_subnets(
    config: &Config,
    found: &[Subnet],
    default_vpcs: &[String],
    allow_default_vpc: bool,
) -> Result<(String, Vec<String>), UserError> {
    let allow_fix = "or pass --allow-default-vpc to use it anyway";
    if !config.subnets.is_empty() {
        let mut vpcs: Vec<&str> = found.iter().map(|s| s.vpc_id.as_str()).collect();
        vpcs.sort();
        vpcs.dedup();
        if vpcs.len() > 1 {
            return Err(config
                .key_error(
                    "subnets",
                    format!("the subnets are in several VPCs ({})", vpcs.join(", ")),
                )
                .fix("a task's subnets must all be in one VPC"));
        }
        let vpc = vpcs.first().map(|v| v.to_string()).unwrap_or_default();
        if default_vpcs.contains(&vpc) && !allow_default_vpc {
            return Err(config
                .key_error(
                    "subnets",
                    format!("the subnets are in the default VPC {vpc}"),
                )
                .fix(format!("use subnets of your own VPC, {allow_fix}")));
        }
        return Ok((vpc, config.subnets.clone()));
    }
    let mut by_vpc: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in found {
        if allow_default_vpc || !default_vpcs.contains(&s.vpc_id) {
            by_vpc.entry(&s.vpc_id).or_default().push(s.id.clone());
        }
    }
    // With the default VPC allowed and others present, prefer the others.
    if allow_default_vpc && by_vpc.len() > 1 {
        by_vpc.retain(|v, _| !default_vpcs.iter().any(|d| d.as_str() == *v));
    }
    match by_vpc.len() {
        0 if found.is_empty() => Err(config
            .key_error("subnets", "no subnets are configured and the region has none")
            .fix("create a VPC with subnets and set `subnets = [\"subnet-…\"]`")),
        0 => Err(config
            .key_error(
                "subnets",
                "no subnets are configured and only the default VPC has any; tasks do not run in the default VPC unless asked",
            )
            .fix(format!("set `subnets = [\"subnet-…\"]` to subnets of your own VPC, {allow_fix}"))),
        1 => {
            let (vpc, mut subnets) = by_vpc.into_iter().next().expect("one VPC");
            subnets.sort();
            Ok((vpc.to_string(), subnets))
        }
        _ => Err(config
            .key_error(
                "subnets",
                format!(
                    "no subnets are configured and several VPCs have some ({})",
                    by_vpc.keys().copied().collect::<Vec<_>>().join(", ")
                ),
            )
            .fix("set `subnets = [\"subnet-…\"]` to say which")),
    }
}

/// Resolves and checks the network against EC2 (read-only).
pub async fn resolve_network(
    aws: &Aws,
    config: &Config,
    allow_default_vpc: bool,
) -> Result<Network> {
    let found =
        aws.subnets(&config.subnets)
            .await
            .map_err(|e| match e.downcast::<UserError>() {
                Ok(u) if !config.subnets.is_empty() => {
                    let mut k = config.key_error("subnets", u.what);
                    k.fix = u.fix;
                    k.into()
                }
                Ok(u) => u.into(),
                Err(e) => e,
            })?;
    let default_vpcs = aws.default_vpcs().await?;
    let (vpc, subnets) = choose_subnets(config, &found, &default_vpcs, allow_default_vpc)?;
    let security_groups = if config.security_groups.is_empty() {
        let sg = aws.default_security_group(&vpc).await?.ok_or_else(|| {
            config
                .key_error(
                    "security-groups",
                    format!("VPC {vpc} has no default security group"),
                )
                .fix("set `security-groups = [\"sg-…\"]`")
        })?;
        vec![sg]
    } else {
        let groups = aws
            .security_groups(&config.security_groups)
            .await
            .map_err(|e| match e.downcast::<UserError>() {
                Ok(u) => {
                    let mut k = config.key_error("security-groups", u.what);
                    k.fix = u.fix;
                    k.into()
                }
                Err(e) => e,
            })?;
        if let Some(g) = groups.iter().find(|g| g.vpc_id != vpc) {
            return Err(config
                .key_error(
                    "security-groups",
                    format!(
                        "security group {} is in {}, not in the subnets' VPC {vpc}",
                        g.id, g.vpc_id
                    ),
                )
                .fix("use security groups of the subnets' VPC")
                .into());
        }
        config.security_groups.clone()
    };
    Ok(Network {
        vpc,
        subnets,
        security_groups,
        assign_public_ip: config.assign_public_ip,
    })
}

/// `--env KEY=VALUE` overrides: plain variables only (a secret's name is refused).
pub fn parse_env_overrides(
    values: &[String],
    config: &Config,
) -> Result<BTreeMap<String, String>, UserError> {
    let mut env = BTreeMap::new();
    for v in values {
        let at = || Location::Flag("--env".into());
        let (k, val) = v.split_once('=').ok_or_else(|| {
            UserError::new(format!("`{v}` is not KEY=VALUE"))
                .at(at())
                .fix("write --env NAME=value")
        })?;
        crate::config::validate::env_name(k).map_err(|e| UserError::new(e).at(at()))?;
        if config.secrets.contains_key(k) {
            return Err(UserError::new(format!(
                "`{k}` is a secret; it cannot be overridden with a plain value"
            ))
            .at(at())
            .fix("change the secret's value where it is stored, or use another name"));
        }
        env.insert(k.to_string(), val.to_string());
    }
    Ok(env)
}

/// RunTask refuses overrides over 8192 characters of JSON (the whole `overrides` structure).
pub fn check_override_size(
    container: &str,
    command: &[String],
    environment: &BTreeMap<String, String>,
) -> Result<(), UserError> {
    const LIMIT: usize = 8192;
    let env: Vec<Value> = environment
        .iter()
        .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
        .collect();
    let overrides = serde_json::json!({"containerOverrides": [{"name": container, "command": command, "environment": env}]});
    let size = overrides.to_string().len();
    if size <= LIMIT {
        return Ok(());
    }
    Err(UserError::new(format!(
        "the overrides of this run are {size} characters of JSON, over RunTask's limit of {LIMIT}"
    ))
    .at(Location::Flag(if command.iter().map(String::len).sum::<usize>() > environment.values().map(String::len).sum::<usize>() { "-- COMMAND".into() } else { "--env".into() }))
    .fix("pass less with -e / -- COMMAND: put large values in `environment` or `secrets` (they are in the task definition, not the overrides)"))
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
    let container = crate::render::main_container(input.definition)
        .and_then(|c| c["name"].as_str())
        .unwrap_or(&config.project)
        .to_string();
    let mut tags = config.tags.clone();
    tags.insert("cargo-fargate:project".into(), config.project.clone());
    tags.insert("cargo-fargate:stage".into(), config.stage.clone());
    let spec = RunSpec {
        cluster: &config.cluster,
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
    };
    // Listen for Ctrl-C from here on: once a task may exist, it is ours to report or stop.
    let mut interrupt = Box::pin(tokio::signal::ctrl_c());
    let _ = futures_util::FutureExt::now_or_never(&mut interrupt);
    // A role IAM has just created can take a few seconds to be usable by ECS.
    let mut attempts = if input.fresh_roles { 6 } else { 1 };
    let response = loop {
        attempts -= 1;
        match aws.run_task(&spec).await {
            Err(e) if attempts > 0 && e.to_string().contains("role") => {
                out.verbose(format_args!("waiting for IAM: {e}"));
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            other => break other?,
        }
    };
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
    let essential = essential_containers(input.definition);
    let arns: Vec<String> = tasks.iter().map(|t| t.task_arn.clone()).collect();
    for arn in &arns {
        out.status("Started", format_args!("task {arn}"));
    }
    let mut report = RunReport {
        cluster: config.cluster.clone(),
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

    let targets = logs::targets(input.definition);
    if targets.is_empty() {
        out.warn("the task definition has no awslogs container: not following logs");
    }
    let mut streams: Vec<Stream> = arns
        .iter()
        .flat_map(|arn| targets.iter().map(|t| Stream::new(t, logs::task_id(arn))))
        .collect();
    let labels = Labels {
        task: arns.len() > 1,
        container: targets.len() > 1,
    };
    let mut last_status = String::new();
    let mut missing_polls = 0;
    let wait = async {
        loop {
            let (tasks, failures) =
                parse_tasks(&aws.describe_tasks(&config.cluster, &arns).await?)?;
            // ECS answers MISSING for a task it no longer knows (another account or region, or
            // long gone): asking again forever would hang.
            if tasks.len() < arns.len() && failures.iter().any(|f| f.contains("MISSING")) {
                missing_polls += 1;
                if missing_polls >= MISSING_POLLS {
                    anyhow::bail!("ECS no longer knows the task ({})", failures.join("; "));
                }
            } else {
                missing_polls = 0;
            }
            logs::poll(aws, out, &mut streams, labels).await?;
            let statuses: Vec<&str> = tasks.iter().map(|t| t.last_status.as_str()).collect();
            let status = statuses.join(", ");
            if status != last_status {
                out.status("Status", &status);
                last_status = status;
            }
            if !tasks.is_empty() && tasks.iter().all(|t| t.last_status == "STOPPED") {
                // What the containers wrote last.
                while logs::poll(aws, out, &mut streams, labels).await? > 0 {}
                return Ok::<_, anyhow::Error>(tasks);
            }
            tokio::time::sleep(input.poll).await;
        }
    };
    tokio::select! {
        done = wait => {
            let tasks = done.map_err(|e| lost(e, &arns))?;
            let o = outcome(&tasks, &essential);
            report.tasks = tasks.iter().map(|t| task_report(t, &essential)).collect();
            report.exit_code = o.exit_code;
            report.outcome = Some(o);
        }
        _ = &mut interrupt => {
            report.interrupted = true;
            report.exit_code = INTERRUPTED;
            if input.stop_on_interrupt {
                for arn in &arns {
                    aws.stop_task(&config.cluster, arn, "interrupted: cargo fargate run --stop-on-interrupt").await?;
                    out.status("Stopped", format_args!("task {arn}"));
                }
            } else {
                out.warn(format_args!(
                    "stopped following; the task keeps running: `cargo fargate logs -f --task {}` or `cargo fargate stop {}`",
                    logs::task_id(&arns[0]),
                    logs::task_id(&arns[0])
                ));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn essential() -> BTreeMap<String, bool> {
        essential_containers(&json!({"containerDefinitions": [
            {"name": "app", "essential": true},
            {"name": "log-router", "essential": false}
        ]}))
    }

    fn decide(response: Value) -> Outcome {
        let (tasks, _) = parse_tasks(&response).unwrap();
        outcome(&tasks, &essential())
    }

    /// DescribeTasks of a task whose essential container exited 3, as ECS reports it.
    #[test]
    fn the_essential_containers_exit_code_is_the_exit_code() {
        let o = decide(json!({"tasks": [{
            "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/app-dev/0f2a3b4c5d6e7f8091a2b3c4d5e6f708",
            "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [{
                "containerArn": "arn:aws:ecs:eu-west-1:123456789012:container/app-dev/0f2a/1",
                "name": "app", "lastStatus": "STOPPED", "exitCode": 3,
                "networkInterfaces": [], "healthStatus": "UNKNOWN"
            }]
        }], "failures": []}));
        assert_eq!(o.exit_code, 3);
        assert_eq!(
            o.message,
            "task 0f2a3b4c5d6e7f8091a2b3c4d5e6f708 EssentialContainerExited: Essential container in task exited; app exited 3"
        );
        let o = decide(json!({"tasks": [{
            "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/app-dev/ok",
            "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "app", "lastStatus": "STOPPED", "exitCode": 0}]
        }]}));
        assert_eq!(o.exit_code, 0);
    }

    #[test]
    fn a_task_that_failed_to_start_is_not_a_success() {
        let o = decide(json!({"tasks": [{
            "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/app-dev/abc",
            "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
            "stopCode": "TaskFailedToStart",
            "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app-dev@sha256:00: not found",
            "containers": [{
                "name": "app", "lastStatus": "STOPPED",
                "reason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)"
            }]
        }]}));
        assert_eq!(o.exit_code, DID_NOT_RUN);
        assert!(
            o.message
                .contains("TaskFailedToStart: CannotPullContainerError"),
            "{}",
            o.message
        );
        assert!(
            o.message
                .contains("app did not run: CannotPullContainerError"),
            "{}",
            o.message
        );
        // Failed to start with no container information at all.
        let o = decide(json!({"tasks": [{
            "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/app-dev/abc",
            "lastStatus": "STOPPED", "stopCode": "TaskFailedToStart",
            "stoppedReason": "ResourceInitializationError: unable to pull secrets or registry auth",
            "containers": []
        }]}));
        assert_eq!(o.exit_code, DID_NOT_RUN);
        assert!(
            o.message.contains("ResourceInitializationError"),
            "{}",
            o.message
        );
    }

    #[test]
    fn a_failing_sidecar_does_not_decide_but_is_reported() {
        let o = decide(json!({"tasks": [{
            "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/app-dev/abc",
            "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [
                {"name": "log-router", "lastStatus": "STOPPED", "exitCode": 2},
                {"name": "app", "lastStatus": "STOPPED", "exitCode": 0}
            ]
        }]}));
        assert_eq!(o.exit_code, 0);
        assert!(
            o.message.contains("log-router (not essential) exited 2"),
            "{}",
            o.message
        );
        // The other way round: the essential one failed, the sidecar is fine.
        let o = decide(json!({"tasks": [{
            "taskArn": "arn:aws:ecs:eu-west-1:123456789012:task/app-dev/abc",
            "lastStatus": "STOPPED", "stopCode": "EssentialContainerExited",
            "containers": [
                {"name": "log-router", "exitCode": 0},
                {"name": "app", "exitCode": 137, "reason": "OutOfMemoryError: Container killed due to memory usage"}
            ]
        }]}));
        assert_eq!(o.exit_code, 137);
    }

    #[test]
    fn with_several_tasks_any_failure_fails_the_run() {
        let o = decide(json!({"tasks": [
            {"taskArn": "t/1", "lastStatus": "STOPPED", "containers": [{"name": "app", "exitCode": 0}]},
            {"taskArn": "t/2", "lastStatus": "STOPPED", "containers": [{"name": "app", "exitCode": 4}]}
        ]}));
        assert_eq!(o.exit_code, 4);
        assert!(
            o.message
                .starts_with("task 1 stopped; app exited 0; task 2"),
            "{}",
            o.message
        );
        assert_eq!(outcome(&[], &essential()).exit_code, DID_NOT_RUN);
    }

    #[test]
    fn run_task_failures_are_read() {
        let (tasks, failures) = parse_tasks(&json!({"tasks": [], "failures": [
            {"arn": "arn:aws:ecs:eu-west-1:123456789012:container-instance/x", "reason": "RESOURCE:MEMORY"}
        ]}))
        .unwrap();
        assert!(tasks.is_empty());
        assert_eq!(
            failures,
            ["arn:aws:ecs:eu-west-1:123456789012:container-instance/x: RESOURCE:MEMORY"]
        );
    }

    fn subnet(id: &str, vpc: &str) -> Subnet {
        Subnet {
            id: id.into(),
            vpc_id: vpc.into(),
        }
    }

    #[test]
    fn the_default_vpc_is_refused_unless_allowed() {
        let none = crate::config::test_config("");
        let found = [
            subnet("subnet-d1", "vpc-default"),
            subnet("subnet-d2", "vpc-default"),
        ];
        let defaults = ["vpc-default".to_string()];
        let e = choose_subnets(&none, &found, &defaults, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only the default VPC has any"), "{e}");
        assert!(e.contains("--allow-default-vpc"), "{e}");
        let (vpc, subnets) = choose_subnets(&none, &found, &defaults, true).unwrap();
        assert_eq!((vpc.as_str(), subnets.len()), ("vpc-default", 2));

        // Discovery takes the one VPC of the account's own.
        let mut more = found.to_vec();
        more.push(subnet("subnet-b", "vpc-mine"));
        more.push(subnet("subnet-a", "vpc-mine"));
        let (vpc, subnets) = choose_subnets(&none, &more, &defaults, false).unwrap();
        assert_eq!(vpc, "vpc-mine");
        assert_eq!(subnets, ["subnet-a", "subnet-b"]);
        // Even when the default VPC is allowed.
        assert_eq!(
            choose_subnets(&none, &more, &defaults, true).unwrap().0,
            "vpc-mine"
        );
        more.push(subnet("subnet-c", "vpc-other"));
        let e = choose_subnets(&none, &more, &defaults, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("several VPCs have some (vpc-mine, vpc-other)"),
            "{e}"
        );

        // Configured subnets of the default VPC: refused, naming the key.
        let configured = crate::config::test_config("subnets = [\"subnet-0123456789abcdef0\"]");
        let found = [subnet("subnet-0123456789abcdef0", "vpc-default")];
        let e = choose_subnets(&configured, &found, &defaults, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/p/Cargo.toml:6: `package.metadata.fargate.subnets`: the subnets are in the default VPC vpc-default"),
            "{e}"
        );
        assert!(choose_subnets(&configured, &found, &defaults, true).is_ok());
    }

    #[test]
    fn overrides_over_8_kib_are_refused_naming_the_flag() {
        let small = BTreeMap::from([("A".to_string(), "1".to_string())]);
        assert!(check_override_size("app", &[], &small).is_ok());
        let big = BTreeMap::from([("A".to_string(), "x".repeat(9000))]);
        let e = check_override_size("app", &[], &big)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("flag --env: the overrides of this run are"),
            "{e}"
        );
    }

    #[test]
    fn env_overrides_are_plain_variables_only() {
        let c = crate::config::test_config("[package.metadata.fargate.secrets]\nDB = \"/app/db\"");
        let env = parse_env_overrides(&["A=1".into(), "B=x=y".into()], &c).unwrap();
        assert_eq!(env["B"], "x=y");
        let e = parse_env_overrides(&["DB=plain".into()], &c)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("flag --env: `DB` is a secret"), "{e}");
        assert!(parse_env_overrides(&["NOEQUALS".into()], &c).is_err());
        assert!(parse_env_overrides(&["1A=x".into()], &c).is_err());
    }
}
