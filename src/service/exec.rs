//! `cargo fargate exec [-- CMD]`: ECS Exec into a running task of the stage, through the Session
//! Manager plugin as the AWS CLI does. `exec = true` turns it on for new runs and services and
//! gives the managed task role the SSM messages permissions the ECS agent needs.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::aws::Aws;
use crate::config::service::StageKind;
use crate::config::Config;
use crate::error::{Location, Result, UserError};
use crate::steps::logs::task_id;

pub const PLUGIN: &str = "session-manager-plugin";

/// The Session Manager plugin on PATH, or the line that says how to get it.
pub fn find_plugin(path: Option<std::ffi::OsString>) -> Result<PathBuf, UserError> {
    path.iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(PLUGIN))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            UserError::new(format!("the Session Manager plugin (`{PLUGIN}`) is not on PATH; `exec` needs it to open the session"))
                .fix("install it: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html")
        })
}

/// A running task that accepts ECS Exec: the one named, else the newest of the stage.
pub fn pick_task<'a>(
    tasks: &'a [Value],
    wanted: Option<&str>,
    config: &Config,
) -> Result<&'a Value, UserError> {
    let running: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["lastStatus"] == "RUNNING")
        .collect();
    let task = match wanted {
        Some(id) => running
            .iter()
            .find(|t| t["taskArn"] == id || task_id(t["taskArn"].as_str().unwrap_or_default()) == id)
            .copied()
            .ok_or_else(|| {
                UserError::new(format!("task `{id}` is not a running task of stage {}", config.stage))
                    .at(Location::Flag("--task".into()))
                    .fix("list them with `cargo fargate status`")
            })?,
        None => running
            .iter()
            .max_by_key(|t| t["startedAt"].to_string())
            .copied()
            .ok_or_else(|| {
                UserError::new(format!(
                    "stage {} has no running task to exec into",
                    config.stage
                ))
                .fix("deploy it first (`cargo fargate deploy`), or start one with `cargo fargate run --detach`")
            })?,
    };
    if task["enableExecuteCommand"] != true {
        let id = task_id(task["taskArn"].as_str().unwrap_or_default());
        let fix = if config.service.exec {
            "`exec = true` applies to tasks started after it was set: deploy again (or `cargo fargate run`) and exec into a new task"
        } else {
            "set `exec = true` in [package.metadata.fargate] and deploy again"
        };
        return Err(UserError::new(format!("ECS Exec is not enabled on task {id}")).fix(fix));
    }
    Ok(task)
}

/// The running tasks of the stage, as DescribeTasks JSON.
pub async fn stage_tasks(aws: &Aws, config: &Config) -> Result<Vec<Value>> {
    let arns = match config.service.kind {
        StageKind::Task => {
            aws.list_tasks(
                &config.names.cluster,
                &crate::names::family(config),
                "RUNNING",
            )
            .await?
        }
        _ => {
            aws.service_tasks(
                &config.names.cluster,
                &crate::names::service(config),
                "RUNNING",
            )
            .await?
        }
    };
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let json = aws.describe_tasks(&config.names.cluster, chunk).await?;
        tasks.extend(json["tasks"].as_array().cloned().unwrap_or_default());
    }
    Ok(tasks)
}

/// Which task and container `exec` opens a session in, and what it runs there (a shell when
/// empty).
pub struct ExecInput<'a> {
    pub task: Option<&'a str>,
    pub container: Option<&'a str>,
    pub command: &'a [String],
}

/// Opens the session; the exit code is the plugin's.
pub async fn exec(aws: &Aws, config: &Config, input: &ExecInput<'_>) -> Result<i32> {
    let ExecInput {
        task,
        container,
        command,
    } = *input;
    let plugin = find_plugin(std::env::var_os("PATH"))?;
    if !aws.cluster_exists(&config.names.cluster).await? {
        return Err(UserError::new(format!(
            "cluster {} does not exist, so stage {} has no task to exec into",
            config.names.cluster, config.stage
        ))
        .fix("deploy it first (`cargo fargate deploy`)")
        .into());
    }
    let tasks = stage_tasks(aws, config).await?;
    let task = pick_task(&tasks, task, config)?;
    let containers = task["containers"].as_array().cloned().unwrap_or_default();
    let chosen = match container {
        Some(name) => containers
            .iter()
            .find(|c| c["name"] == name)
            .ok_or_else(|| {
                UserError::new(format!("the task has no container `{name}`"))
                    .at(Location::Flag("--container".into()))
                    .fix(format!(
                        "its containers: {}",
                        crate::error::list(containers.iter().filter_map(|c| c["name"].as_str()))
                    ))
            })?,
        None => containers.first().ok_or_else(|| {
            UserError::new("the task reports no containers").fix("try again once it is RUNNING")
        })?,
    };
    let name = chosen["name"].as_str().unwrap_or_default();
    let runtime = chosen["runtimeId"].as_str().unwrap_or_default();
    let task_arn = task["taskArn"].as_str().unwrap_or_default();
    let command = if command.is_empty() {
        "/bin/sh".to_string()
    } else {
        shell_words(command)?
    };
    let session = aws
        .execute_command(&config.names.cluster, task_arn, name, &command)
        .await?;
    let target = json!({
        "Target": format!("ecs:{}_{}_{}", config.names.cluster, task_id(task_arn), runtime)
    });
    // Ctrl-C belongs to the session (the terminal hands it to the plugin too), not to us.
    let _ctrl_c = crate::interrupt::claim();
    // The same arguments the AWS CLI hands the plugin; the session token goes to it only.
    let status = tokio::process::Command::new(plugin)
        .arg(session["session"].to_string())
        .arg(aws.region())
        .arg("StartSession")
        .arg(config.aws_profile.clone().unwrap_or_default())
        .arg(target.to_string())
        .arg(aws.endpoint_of("ecs"))
        .status()
        .await
        .map_err(|e| anyhow::anyhow!("starting {PLUGIN}: {e}"))?;
    Ok(status.code().unwrap_or(1))
}

/// `CMD ARGS…` as one command line, quoting what the shell would split (shlex: POSIX quoting).
fn shell_words(words: &[String]) -> Result<String> {
    shlex::try_join(words.iter().map(String::as_str)).map_err(|_| {
        UserError::new("a command argument holds a NUL byte, which no shell command can carry")
            .fix("drop the NUL byte from the command")
            .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_plugin_is_one_clear_line() {
        let dir = tempfile::tempdir().unwrap();
        let e = find_plugin(Some(dir.path().as_os_str().to_owned())).unwrap_err();
        assert!(e.to_string().contains("session-manager-plugin"), "{e}");
        std::fs::write(dir.path().join(PLUGIN), "").unwrap();
        assert!(find_plugin(Some(dir.path().as_os_str().to_owned())).is_ok());
    }

    #[test]
    fn exec_must_be_enabled_on_the_task() {
        let c = crate::config::test_config("");
        let tasks = vec![
            json!({"taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/aaa", "lastStatus": "RUNNING", "enableExecuteCommand": false}),
            json!({"taskArn": "arn:aws:ecs:us-east-1:123456789012:task/c/bbb", "lastStatus": "STOPPED", "enableExecuteCommand": true}),
        ];
        let e = pick_task(&tasks, None, &c).unwrap_err().to_string();
        assert!(
            e.contains("not enabled on task aaa") && e.contains("exec = true"),
            "{e}"
        );
        let e = pick_task(&tasks, Some("bbb"), &c).unwrap_err().to_string();
        assert!(e.contains("not a running task"), "{e}");
        let e = pick_task(&[], None, &c).unwrap_err().to_string();
        assert!(e.contains("no running task"), "{e}");
    }

    #[test]
    fn commands_are_quoted_for_the_shell() {
        let words: Vec<String> = ["ls", "-la", "/my dir", "it's"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let line = shell_words(&words).unwrap();
        assert_eq!(line, r#"ls -la '/my dir' "it's""#);
        // what the shell splits it back into: the same words
        assert_eq!(shlex::split(&line).unwrap(), words);
        assert!(shell_words(&["a\0b".to_string()]).is_err());
    }
}
