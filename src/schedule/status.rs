//! `status` of a scheduled stage: its expression, the next runs (computed here: AWS does not say),
//! and how the last tasks ended. ECS keeps stopped tasks for about an hour, so older runs are
//! found only in the logs (`cargo fargate logs --since 1d`).

use std::fmt;

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::aws::Aws;
use crate::config::schedule::{self as expr, Expression};
use crate::config::Config;
use crate::error::Result;

/// How many next runs and last tasks `status` shows.
const NEXT_RUNS: usize = 5;
const LAST_TASKS: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct ScheduleStatus {
    pub name: String,
    /// Whether the schedule exists in EventBridge Scheduler.
    pub deployed: bool,
    pub expression: String,
    pub timezone: String,
    pub enabled: bool,
    /// The revision the schedule runs.
    pub task_definition: Option<String>,
    /// RFC 3339 times in the schedule's zone.
    pub next_runs: Vec<String>,
    pub last_tasks: Vec<LastTask>,
}

/// One task of the family, newest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastTask {
    pub id: String,
    pub revision: String,
    pub status: String,
    pub started_at: Option<String>,
    pub stopped_at: Option<String>,
    /// The main container's exit code (none while it runs, or when it never started).
    pub exit_code: Option<i64>,
    pub reason: Option<String>,
}

/// The stage's schedule as deployed (else as configured); `None` when the stage has no `schedule`
/// and no schedule exists.
pub async fn status(aws: &Aws, config: &Config) -> Result<Option<ScheduleStatus>> {
    let name = crate::names::schedule(config);
    let found = aws.get_schedule(&name).await?;
    let (expression, timezone, enabled, task_definition, anchor) = match (&found, &config.schedule)
    {
        (Some(f), _) => (
            f.spec.expression.clone(),
            f.spec.timezone.clone(),
            f.spec.enabled,
            Some(f.spec.task_definition_arn.clone()),
            f.modified
                .and_then(|d| Timestamp::from_second(d.secs()).ok()),
        ),
        (None, Some(s)) => (s.expression.clone(), s.timezone.clone(), false, None, None),
        (None, None) => return Ok(None),
    };
    let next_runs = match (expr::parse(&expression), expr::timezone(&timezone)) {
        (Ok(parsed), Ok(tz)) if enabled => next_runs(&parsed, &tz, Timestamp::now(), anchor),
        _ => Vec::new(),
    };
    let family = crate::names::family(config);
    let mut arns = aws
        .list_tasks(&config.names.cluster, &family, "STOPPED")
        .await?;
    arns.extend(
        aws.list_tasks(&config.names.cluster, &family, "RUNNING")
            .await?,
    );
    arns.truncate(100);
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let described = aws.describe_tasks(&config.names.cluster, chunk).await?;
        let tz = expr::timezone(&timezone).unwrap_or(TimeZone::UTC);
        tasks.extend(last_tasks(&described, &config.project, &tz));
    }
    tasks.truncate(LAST_TASKS);
    Ok(Some(ScheduleStatus {
        name,
        deployed: found.is_some(),
        expression,
        timezone,
        enabled,
        task_definition,
        next_runs,
        last_tasks: tasks,
    }))
}

fn next_runs(
    parsed: &Expression,
    tz: &TimeZone,
    now: Timestamp,
    anchor: Option<Timestamp>,
) -> Vec<String> {
    parsed
        .next(tz, now, anchor, NEXT_RUNS)
        .iter()
        .map(|z| z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string())
        .collect()
}

/// The tasks of a DescribeTasks answer, newest first, with the exit code of `container` (the
/// main container, named after the project), else of the first container that has one.
pub fn last_tasks(described: &Value, container: &str, tz: &TimeZone) -> Vec<LastTask> {
    let time = |v: &Value| -> Option<(f64, String)> {
        let secs = v.as_f64()?;
        let ts = Timestamp::from_second(secs as i64).ok()?;
        Some((
            secs,
            ts.to_zoned(tz.clone())
                .strftime("%Y-%m-%dT%H:%M:%S%:z")
                .to_string(),
        ))
    };
    let mut tasks: Vec<(f64, LastTask)> = described["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let arn = t["taskArn"].as_str().unwrap_or_default();
            let containers = t["containers"].as_array().cloned().unwrap_or_default();
            let main = containers
                .iter()
                .find(|c| c["name"] == container)
                .or_else(|| containers.iter().find(|c| c["exitCode"].is_i64()));
            let created = time(&t["createdAt"]).map(|(s, _)| s).unwrap_or(0.0);
            let reason = t["stoppedReason"]
                .as_str()
                .or_else(|| main.and_then(|c| c["reason"].as_str()))
                .map(str::to_string);
            (
                created,
                LastTask {
                    id: arn.rsplit('/').next().unwrap_or(arn).to_string(),
                    revision: t["taskDefinitionArn"]
                        .as_str()
                        .and_then(|a| a.rsplit('/').next())
                        .unwrap_or_default()
                        .to_string(),
                    status: t["lastStatus"].as_str().unwrap_or_default().to_string(),
                    started_at: time(&t["startedAt"]).map(|(_, s)| s),
                    stopped_at: time(&t["stoppedAt"]).map(|(_, s)| s),
                    exit_code: main.and_then(|c| c["exitCode"].as_i64()),
                    reason,
                },
            )
        })
        .collect();
    tasks.sort_by(|a, b| b.0.total_cmp(&a.0));
    tasks.into_iter().map(|(_, t)| t).collect()
}

impl fmt::Display for ScheduleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (self.deployed, self.enabled) {
            (false, _) => " (not deployed yet: run `cargo fargate deploy`)",
            (true, false) => " (disabled)",
            _ => "",
        };
        writeln!(f, "schedule         {}{state}", self.name)?;
        writeln!(
            f,
            "expression       {} ({})",
            self.expression, self.timezone
        )?;
        if let Some(td) = &self.task_definition {
            writeln!(
                f,
                "runs             {}",
                td.rsplit('/').next().unwrap_or(td)
            )?;
        }
        for (i, run) in self.next_runs.iter().enumerate() {
            writeln!(f, "{:<17}{run}", if i == 0 { "next runs" } else { "" })?;
        }
        if self.last_tasks.is_empty() {
            writeln!(f, "last tasks       none in the last hour (ECS forgets stopped tasks after about an hour)")?;
        }
        for (i, t) in self.last_tasks.iter().enumerate() {
            let exit = match t.exit_code {
                Some(code) => format!("exit {code}"),
                None => t.status.to_ascii_lowercase(),
            };
            let when = t
                .stopped_at
                .as_deref()
                .or(t.started_at.as_deref())
                .unwrap_or("-");
            write!(
                f,
                "{:<17}{} {} {exit} at {when}",
                if i == 0 { "last tasks" } else { "" },
                t.id,
                t.revision
            )?;
            match &t.reason {
                Some(r) if t.exit_code != Some(0) => writeln!(f, " ({r})")?,
                _ => writeln!(f)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_tasks_are_newest_first_with_the_main_containers_exit_code() {
        let described = json!({"tasks": [
            {"taskArn": "arn:aws:ecs:eu-west-1:1:task/c/aaa", "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/app-prod:3",
             "lastStatus": "STOPPED", "createdAt": 1_790_000_000.5, "startedAt": 1_790_000_010.0, "stoppedAt": 1_790_000_070.0,
             "stoppedReason": "Essential container in task exited",
             "containers": [{"name": "sidecar", "exitCode": 0}, {"name": "app", "exitCode": 3}]},
            {"taskArn": "arn:aws:ecs:eu-west-1:1:task/c/bbb", "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/app-prod:4",
             "lastStatus": "RUNNING", "createdAt": 1_790_003_600.0, "startedAt": 1_790_003_610.0,
             "containers": [{"name": "app"}]},
            {"taskArn": "arn:aws:ecs:eu-west-1:1:task/c/ccc", "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/app-prod:2",
             "lastStatus": "STOPPED", "createdAt": 1_789_996_400.0, "stoppedAt": 1_789_996_460.0,
             "stoppedReason": "CannotPullContainerError: pull access denied",
             "containers": [{"name": "app", "reason": "CannotPullContainerError"}]}
        ]});
        let tasks = last_tasks(&described, "app", &TimeZone::UTC);
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["bbb", "aaa", "ccc"]);
        assert_eq!(tasks[0].exit_code, None);
        assert_eq!(tasks[0].status, "RUNNING");
        assert_eq!(tasks[1].exit_code, Some(3));
        assert_eq!(tasks[1].revision, "app-prod:3");
        assert_eq!(
            tasks[1].stopped_at.as_deref(),
            Some("2026-09-21T14:14:30+00:00")
        );
        assert_eq!(tasks[2].exit_code, None);
        assert!(tasks[2]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("CannotPull"));
        let shown = ScheduleStatus {
            name: "app-prod".into(),
            deployed: true,
            expression: "cron(0 3 * * ? *)".into(),
            timezone: "UTC".into(),
            enabled: true,
            task_definition: Some("arn:aws:ecs:eu-west-1:1:task-definition/app-prod:4".into()),
            next_runs: next_runs(
                &expr::parse("cron(0 3 * * ? *)").unwrap(),
                &TimeZone::UTC,
                "2026-11-23T12:00:00Z".parse().unwrap(),
                None,
            ),
            last_tasks: tasks,
        }
        .to_string();
        assert!(
            shown.contains("next runs        2026-11-24T03:00:00+00:00\n"),
            "{shown}"
        );
        assert!(
            shown.contains("aaa app-prod:3 exit 3 at 2026-09-21T14:14:30+00:00 (Essential"),
            "{shown}"
        );
        assert!(shown.contains("runs             app-prod:4\n"), "{shown}");
    }
}
