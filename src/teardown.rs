//! `cargo fargate teardown`: removes what `setup` and `deploy` made for one stage — its schedule
//! and running tasks first, then task definitions, the CodeBuild project, the ECS service (scaled
//! to 0) or Express Mode service, cluster, log groups, repository and managed roles (task,
//! execution, CodeBuild, scheduler, Express Mode's infrastructure role). Only resources that carry
//! cargo-fargate's tags for this project and stage are touched: an untagged repository of the same
//! name, or another stage's, is reported and left alone, and a cluster that still holds services or
//! tasks that are not this stage's is kept (said in its line). Everything is read and checked
//! before the first deletion (a repository still holding images needs --force).

use std::fmt;
use std::io::{BufRead, IsTerminal};

use serde::Serialize;

mod find;
mod wait;

use find::{find, Found};

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::output::Output;

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub resource: &'static str,
    pub name: String,
    /// `remove`, or `keep` with the reason in `note`.
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TeardownReport {
    pub project: String,
    pub stage: String,
    pub dry_run: bool,
    pub items: Vec<Item>,
    pub removed: usize,
}

impl fmt::Display for TeardownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for i in &self.items {
            let what = match (i.action, self.dry_run) {
                ("remove", true) => "would remove".to_string(),
                ("remove", false) => "removed".to_string(),
                _ => format!("kept: {}", i.note.as_deref().unwrap_or("")),
            };
            writeln!(f, "{:<16} {:<40} {what}", i.resource, i.name)?;
        }
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        writeln!(
            f,
            "stage {} of {}: {verb} {} resources",
            self.stage, self.project, self.removed
        )
    }
}

/// What `teardown` is asked to do (the CLI's flags, as a plain struct).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Do not ask for confirmation.
    pub yes: bool,
    /// Also delete a repository that still holds images.
    pub force: bool,
    /// Show what would be removed, and remove nothing.
    pub dry_run: bool,
}

pub async fn run(
    aws: &Aws,
    config: &Config,
    args: &Options,
    out: &Output,
) -> Result<TeardownReport> {
    let found = find(aws, config).await?;
    let removing: Vec<&Item> = found
        .items
        .iter()
        .filter(|i| i.action == "remove")
        .collect();
    if found.repository_images > 0
        && !args.force
        && removing.iter().any(|i| i.resource == "repository")
    {
        return Err(UserError::new(format!(
            "ECR repository `{}` still holds {} images; nothing was removed",
            config.names.repository, found.repository_images
        ))
        .fix("pass --force to delete it with its images, or delete the images you want gone first")
        .into());
    }
    let report = |items: Vec<Item>, dry_run| TeardownReport {
        project: config.project.clone(),
        stage: config.stage.clone(),
        dry_run,
        removed: items.iter().filter(|i| i.action == "remove").count(),
        items,
    };
    if args.dry_run || removing.is_empty() {
        return Ok(report(found.items, args.dry_run));
    }
    if !args.yes {
        confirm(config, &removing, found.tasks.len())?;
    }

    stop_and_deregister(aws, config, &found, out).await?;
    for i in &removing {
        remove(aws, config, &found, i, args, out).await?;
    }
    // A network other stages still use only loses this stage's tag.
    if let Some(net) = &found.network {
        let tag = crate::names::network_use_tag(config);
        let kept = found
            .items
            .iter()
            .any(|i| i.resource == "network" && i.action == "keep");
        if kept && net.vpc_tags.contains_key(&tag) {
            aws.tag_network(&net.vpc, &tag, None).await?;
        }
    }
    Ok(report(found.items, false))
}

/// Stops the stage's running tasks and deregisters its task definitions.
async fn stop_and_deregister(
    aws: &Aws,
    config: &Config,
    found: &Found,
    out: &Output,
) -> Result<()> {
    for task in &found.tasks {
        aws.stop_task(&config.names.cluster, task, "cargo fargate teardown")
            .await?;
        out.status(
            "Stopped",
            format_args!("task {}", task.rsplit('/').next().unwrap_or(task)),
        );
    }
    for arn in &found.task_definitions {
        aws.deregister_task_definition(arn).await?;
    }
    if !found.task_definitions.is_empty() {
        out.status(
            "Removed",
            format_args!(
                "{} task definitions of {}",
                found.task_definitions.len(),
                crate::names::family(config)
            ),
        );
    }
    Ok(())
}

/// Removes one item, by its kind, and says so.
async fn remove(
    aws: &Aws,
    config: &Config,
    found: &Found,
    i: &Item,
    args: &Options,
    out: &Output,
) -> Result<()> {
    match i.resource {
        "schedule" => {
            aws.delete_schedule(&i.name).await?;
        }
        "build project" => aws.delete_codebuild_project(&i.name).await?,
        "scaling" => {
            crate::service::scaling::remove(aws, config).await?;
        }
        "service" => {
            let body = serde_json::json!({"cluster": config.names.cluster, "service": i.name, "desiredCount": 0});
            aws.update_service(&body).await?;
            aws.delete_service(&config.names.cluster, &i.name).await?;
            wait::service_gone(aws, config, &i.name, None, out).await?;
        }
        "express service" => {
            let arn = found.express.as_deref().unwrap_or_default();
            aws.delete_express_service(arn).await?;
            wait::service_gone(aws, config, &i.name, Some(arn), out).await?;
        }
        "cluster" => {
            wait::tasks_stopped(aws, config, &found.tasks, out).await?;
            aws.delete_cluster(&config.names.cluster).await?;
        }
        "load balancer" | "target group" | "lb security group" => {
            let id = found.balancer.iter().find(|(r, _)| *r == i.resource);
            if let Some((r, id)) = id {
                crate::setup::balancer::remove(aws, config, r, id).await?;
            }
        }
        "log group" => aws.delete_log_group(&i.name).await?,
        "repository" => aws.delete_repository(&i.name, args.force).await?,
        "role" => aws.delete_role_and_policies(&i.name).await?,
        "network" => {
            if let Some(net) = &found.network {
                aws.delete_network(net).await?;
            }
        }
        _ => return Ok(()),
    }
    out.status("Removed", format_args!("{} {}", i.resource, i.name));
    Ok(())
}

/// Asks on the terminal; refuses when there is none to ask on.
fn confirm(config: &Config, items: &[&Item], tasks: usize) -> Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(UserError::new(format!(
            "teardown would remove {} resources of stage `{}` and needs confirmation, but stdin is not a terminal; nothing was removed",
            items.len(), config.stage
        ))
        .fix("pass --yes to confirm, or --dry-run to see what it would remove")
        .into());
    }
    let mut text = String::new();
    for i in items {
        text += &format!("  {} {}\n", i.resource, i.name);
    }
    crate::output::write_stderr(format_args!(
        "{text}Remove these {} resources of {} stage `{}`{}? [y/N] ",
        items.len(),
        config.project,
        config.stage,
        if tasks > 0 {
            format!(" (stopping {tasks} running tasks first)")
        } else {
            String::new()
        }
    ));
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        return Err(UserError::new("teardown cancelled; nothing was removed").into());
    }
    Ok(())
}

#[cfg(test)]
mod json_tests {
    /// JSON drops nulls, as every other command's does: no `"note": null` on a removed item.
    #[test]
    fn an_item_without_a_note_has_no_note_key() {
        let item = super::Item {
            resource: "cluster",
            name: "app-dev".into(),
            action: "remove",
            note: None,
        };
        let json = serde_json::to_value(&item).unwrap();
        assert!(json.get("note").is_none(), "{json}");
    }
}
