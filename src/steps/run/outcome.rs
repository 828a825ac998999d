//! How a run ended, decided from DescribeTasks: the essential container's exit code, or
//! [`super::DID_NOT_RUN`] when it never ran.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::DID_NOT_RUN;
use crate::error::Result;
use crate::steps::logs;

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
}
