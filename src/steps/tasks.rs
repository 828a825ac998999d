//! `cargo fargate ps` and `stop`: the tasks of this project's stage (its task definition family)
//! in the configured cluster.

use std::fmt;

use serde::Serialize;

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::names::family;
use crate::steps::logs::task_id;
use crate::steps::run::{parse_tasks, Task};

#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    pub arn: String,
    pub id: String,
    pub revision: Option<i64>,
    pub last_status: String,
    pub desired_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
}

impl From<&Task> for TaskRow {
    fn from(t: &Task) -> Self {
        TaskRow {
            arn: t.task_arn.clone(),
            id: task_id(&t.task_arn).to_string(),
            revision: t
                .task_definition_arn
                .as_deref()
                .and_then(|a| a.rsplit(':').next())
                .and_then(|r| r.parse().ok()),
            last_status: t.last_status.clone(),
            desired_status: t.desired_status.clone(),
            started_by: t.started_by.clone().filter(|s| !s.is_empty()),
            stopped_reason: t.stopped_reason.clone().filter(|s| !s.is_empty()),
        }
    }
}

/// `cargo fargate ps`.
#[derive(Debug, Serialize)]
pub struct PsReport {
    pub cluster: String,
    pub family: String,
    pub tasks: Vec<TaskRow>,
}

impl fmt::Display for PsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tasks.is_empty() {
            return writeln!(f, "no tasks of {} in cluster {}", self.family, self.cluster);
        }
        writeln!(
            f,
            "{:<36}  {:>8}  {:<14}  {:<14}  started by",
            "task", "revision", "status", "desired"
        )?;
        for t in &self.tasks {
            let rev = t.revision.map(|r| r.to_string()).unwrap_or_default();
            write!(
                f,
                "{:<36}  {rev:>8}  {:<14}  {:<14}  {}",
                t.id,
                t.last_status,
                t.desired_status,
                t.started_by.as_deref().unwrap_or("-")
            )?;
            if let Some(r) = &t.stopped_reason {
                write!(f, "  ({r})")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

async fn family_tasks(aws: &Aws, config: &Config, stopped_too: bool) -> Result<Vec<Task>> {
    if !aws.cluster_exists(&config.names.cluster).await? {
        return Ok(Vec::new());
    }
    let fam = family(config);
    let mut arns = aws
        .list_tasks(&config.names.cluster, &fam, "RUNNING")
        .await?;
    if stopped_too {
        arns.extend(
            aws.list_tasks(&config.names.cluster, &fam, "STOPPED")
                .await?,
        );
    }
    let mut tasks = Vec::new();
    // DescribeTasks takes at most 100 tasks at a time.
    for chunk in arns.chunks(100) {
        let (found, _) = parse_tasks(&aws.describe_tasks(&config.names.cluster, chunk).await?)?;
        tasks.extend(found);
    }
    Ok(tasks)
}

pub async fn ps(aws: &Aws, config: &Config, all: bool) -> Result<PsReport> {
    let tasks = family_tasks(aws, config, all).await?;
    Ok(PsReport {
        cluster: config.names.cluster.clone(),
        family: family(config),
        tasks: tasks.iter().map(TaskRow::from).collect(),
    })
}

/// `cargo fargate stop`.
#[derive(Debug, Serialize)]
pub struct StopReport {
    pub cluster: String,
    pub stopped: Vec<String>,
}

impl fmt::Display for StopReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.stopped.is_empty() {
            return writeln!(f, "no running tasks to stop in cluster {}", self.cluster);
        }
        for arn in &self.stopped {
            writeln!(f, "stopping {arn}")?;
        }
        Ok(())
    }
}

/// Which tasks `stop` stops, and the reason ECS records.
pub struct StopInput<'a> {
    /// IDs or ARNs of this family's tasks.
    pub ids: &'a [String],
    /// Every running task of the stage instead.
    pub all: bool,
    pub reason: &'a str,
}

/// Stops the given tasks (IDs or ARNs of this family), or with `all` every running one.
pub async fn stop(aws: &Aws, config: &Config, input: &StopInput<'_>) -> Result<StopReport> {
    let StopInput { ids, all, reason } = *input;
    if ids.is_empty() && !all {
        return Err(UserError::new("no task to stop was named")
            .fix("name tasks by ID (cargo fargate ps), or pass --all to stop every running task of this stage")
            .into());
    }
    let running = family_tasks(aws, config, false).await?;
    let targets: Vec<&Task> = if all {
        running.iter().collect()
    } else {
        let mut chosen = Vec::new();
        for id in ids {
            let found = running
                .iter()
                .find(|t| t.task_arn == *id || task_id(&t.task_arn) == id.as_str());
            chosen.push(found.ok_or_else(|| {
                UserError::new(format!(
                    "task `{id}` is not a running task of {} in cluster {}",
                    family(config),
                    config.names.cluster
                ))
                .fix("list them with `cargo fargate ps`")
            })?);
        }
        chosen
    };
    let mut stopped = Vec::new();
    for t in targets {
        aws.stop_task(&config.names.cluster, &t.task_arn, reason)
            .await?;
        stopped.push(t.task_arn.clone());
    }
    Ok(StopReport {
        cluster: config.names.cluster.clone(),
        stopped,
    })
}
