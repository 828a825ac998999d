//! `cargo fargate teardown`: removes what `setup` and `deploy` made for one stage — its schedule
//! and running tasks first, then task definitions, the CodeBuild project, the ECS service (scaled
//! to 0) or Express Mode service, cluster, log groups, repository and managed roles (task,
//! execution, CodeBuild, scheduler, Express Mode's infrastructure role). Only resources that carry
//! cargo-fargate's tags for this project and stage are touched: an untagged repository of the same
//! name, or another stage's, is reported and left alone, and a cluster that still holds services or
//! tasks that are not this stage's is kept (said in its line). Everything is read and checked
//! before the first deletion (a repository still holding images needs --force).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

mod wait;

use crate::aws::ecs::TasksOf;
use crate::aws::Aws;
use crate::config::{resolve::Builder, service::StageKind, Config, Role};
use crate::error::{Result, UserError};
use crate::names::is_ours;
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

/// What was found, read-only.
struct Found {
    items: Vec<Item>,
    tasks: Vec<String>,
    task_definitions: Vec<String>,
    repository_images: usize,
    /// The Express Mode service's ARN, when it is this stage's.
    express: Option<String>,
    /// The project's network, when this stage uses it (removed with the last stage).
    network: Option<crate::aws::vpc::ProjectNetwork>,
    /// The load balancer's parts (setup/balancer.rs): (resource, id).
    balancer: Vec<(&'static str, String)>,
}

fn item(resource: &'static str, name: &str, ours: bool) -> Item {
    Item {
        resource,
        name: name.to_string(),
        action: if ours { "remove" } else { "keep" },
        note: (!ours).then(|| "not tagged as this stage's by cargo-fargate".to_string()),
    }
}

/// Tags as the ECS JSON API gives them (`[{"key": …, "value": …}]`).
fn json_tags(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| Some((t["key"].as_str()?.into(), t["value"].as_str()?.into())))
                .collect()
        })
        .unwrap_or_default()
}

async fn find(aws: &Aws, config: &Config) -> Result<Found> {
    let family = crate::names::family(config);
    let mut items = Vec::new();

    // The schedule first (it starts tasks): schedules carry no tags, so it is found by its exact
    // name and is ours only when its description says it runs this project's stage.
    // Each lookup follows the configuration, as the deployer policy (`iam policy --teardown`) does.
    let schedule = crate::names::schedule(config);
    let found_schedule = match config.schedule {
        Some(_) => aws.get_schedule(&schedule).await?,
        None => None,
    };
    if let Some(found) = found_schedule {
        let ours = found.spec.description.starts_with(&format!(
            "cargo-fargate: runs {} stage {} ",
            config.project, config.stage
        ));
        items.push(item("schedule", &schedule, ours));
    }

    // The CodeBuild project, by its tags.
    let build_project = crate::names::build_project(config);
    let found_project = match config.builder {
        Builder::Codebuild => aws.codebuild_project(&build_project).await?,
        _ => None,
    };
    if let Some(found) = found_project {
        let tags = found
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect();
        items.push(item(
            "build project",
            &build_project,
            is_ours(config, &tags),
        ));
    }

    // Running tasks of the family in the cluster, the stage's service, and the cluster itself.
    let mut tasks = Vec::new();
    let mut express = None;
    if let Some(cluster_tags) = aws.active_cluster_tags(&config.cluster).await? {
        tasks = aws.list_tasks(&config.cluster, &family, "RUNNING").await?;
        let service = crate::names::service(config);
        let mut removed_service = false;
        match config.service.kind {
            // By its tags: scaled to 0 and deleted before the cluster.
            StageKind::Service => {
                if let Some(found) = aws.describe_service(&config.cluster, &service).await? {
                    if crate::service::request::is_active(Some(&found)) {
                        let ours = is_ours(config, &json_tags(&found["tags"]));
                        // Its scaling first: a scaler must not start tasks of a service going away.
                        if ours && config.service.scaling.is_some() {
                            let resource =
                                crate::aws::autoscaling::resource_id(&config.cluster, &service);
                            if aws.scalable_target(&resource).await?.is_some() {
                                items.push(item("scaling", &service, true));
                            }
                        }
                        items.push(item("service", &service, ours));
                        removed_service = ours;
                    }
                }
            }
            // Express Mode: deleting the service removes what ECS made for it (load balancer,
            // target groups, scaling); its infrastructure role goes with the roles below.
            StageKind::Web => {
                let arn = crate::service::express::stage_service_arn(aws, config).await?;
                if let Some(found) = aws.describe_express_service_tagged(&arn).await? {
                    use crate::service::express::{express_state, ExpressState};
                    if !matches!(express_state(&found), ExpressState::Inactive(_)) {
                        let ours = is_ours(config, &json_tags(&found["tags"]));
                        items.push(item("express service", &service, ours));
                        removed_service = ours;
                        express = ours.then_some(arn);
                    }
                }
            }
            StageKind::Task => {}
        }
        let mut cluster = item("cluster", &config.cluster, is_ours(config, &cluster_tags));
        if cluster.action == "remove" {
            // A cluster that holds what is not this stage's stays (ECS would refuse to delete it).
            let others: Vec<String> = aws
                .cluster_service_arns(&config.cluster)
                .await?
                .iter()
                .filter_map(|arn| arn.rsplit('/').next().map(str::to_string))
                .filter(|name| !(removed_service && *name == service))
                .collect();
            // The tasks of the service removed first stop with it (an Express service's are of
            // its own family).
            let service_tasks = match removed_service {
                true => {
                    aws.tasks_of(&config.cluster, TasksOf::Service(&service), "RUNNING")
                        .await?
                }
                false => Vec::new(),
            };
            let foreign_tasks = aws
                .tasks_of(&config.cluster, TasksOf::Cluster, "RUNNING")
                .await?
                .into_iter()
                .filter(|t| !tasks.contains(t) && !service_tasks.contains(t))
                .count();
            if let Some(note) = foreign_note(&others, foreign_tasks) {
                cluster.action = "keep";
                cluster.note = Some(note);
            }
        }
        items.push(cluster);
    }

    // The load balancer `setup` made, after the service that used its target group.
    let mut balancer = Vec::new();
    for (resource, name, ours, id) in crate::setup::balancer::found(aws, config).await? {
        items.push(item(resource, &name, ours));
        balancer.push((resource, id));
    }

    // Task definitions of the family, each by its own tags.
    let mut task_definitions = Vec::new();
    for (_, arn) in aws.active_revisions(&family).await? {
        if is_ours(config, &aws.task_definition_tags(&arn).await?) {
            task_definitions.push(arn);
        }
    }
    if !task_definitions.is_empty() {
        items.push(Item {
            resource: "task definitions",
            name: format!("{family} ({} revisions)", task_definitions.len()),
            action: "remove",
            note: None,
        });
    }

    // Log groups.
    for group in crate::names::log_groups(config) {
        if let Some(found) = aws.log_group(&group).await? {
            let ours = is_ours(config, &aws.log_group_tags(&found.arn).await?);
            items.push(item("log group", &group, ours));
        }
    }

    // The repository, and whether it holds images.
    let mut repository_images = 0;
    if let Some(tags) = aws.repository_tags(&config.repository).await? {
        let ours = is_ours(config, &tags);
        if ours {
            repository_images = aws.image_count(&config.repository).await?;
        }
        items.push(item("repository", &config.repository, ours));
    }

    // Managed roles (given roles are the user's).
    let infrastructure = Role::Managed(crate::names::infrastructure_role(config));
    for (role, used) in [
        (&config.task_role, true),
        (&config.execution_role, true),
        (&config.codebuild_role, config.builder == Builder::Codebuild),
        (&config.scheduler_role, config.schedule.is_some()),
        (&infrastructure, crate::iam::infrastructure::wanted(config)),
        (&Role::Managed(crate::names::deployer_role(config)), true),
    ] {
        if let (Role::Managed(name), true) = (role, used) {
            if let Some(found) = aws.get_role(name).await? {
                items.push(item("role", name, is_ours(config, &found.tags)));
            }
        }
    }
    // The project's network last: only once nothing of the stage runs in it.
    let network = aws.project_network(&config.project).await?;
    if let Some(net) = &network {
        let others = crate::setup::network::other_users(config, &net.vpc_tags);
        let name = format!("{} ({})", crate::names::network(config), net.vpc);
        items.push(match others.as_slice() {
            [] => item("network", &name, true),
            _ => Item {
                resource: "network",
                name,
                action: "keep",
                note: Some(format!("still used by stage {}", others.join(", "))),
            },
        });
    }
    Ok(Found {
        items,
        tasks,
        task_definitions,
        repository_images,
        express,
        network,
        balancer,
    })
}

/// Why the cluster stays: the services and tasks in it that are not this stage's.
fn foreign_note(services: &[String], tasks: usize) -> Option<String> {
    let mut held = Vec::new();
    if !services.is_empty() {
        held.push(format!(
            "{} {} ({})",
            services.len(),
            if services.len() == 1 {
                "service"
            } else {
                "services"
            },
            services.join(", ")
        ));
    }
    if tasks > 0 {
        held.push(format!(
            "{tasks} running {} of other families",
            if tasks == 1 { "task" } else { "tasks" }
        ));
    }
    (!held.is_empty()).then(|| {
        format!(
            "it still holds {} that cargo-fargate did not make for this stage; delete them, then run teardown again",
            held.join(" and ")
        )
    })
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
            config.repository, found.repository_images
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

    let family = crate::names::family(config);
    for task in &found.tasks {
        aws.stop_task(&config.cluster, task, "cargo fargate teardown")
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
                "{} task definitions of {family}",
                found.task_definitions.len()
            ),
        );
    }
    for i in &removing {
        match i.resource {
            "schedule" => {
                aws.delete_schedule(&i.name).await?;
            }
            "build project" => aws.delete_codebuild_project(&i.name).await?,
            "scaling" => {
                crate::service::scaling::remove(aws, config).await?;
            }
            "service" => {
                let body = serde_json::json!({"cluster": config.cluster, "service": i.name, "desiredCount": 0});
                aws.update_service(&body).await?;
                aws.delete_service(&config.cluster, &i.name).await?;
                wait::service_gone(aws, config, &i.name, None, out).await?;
            }
            "express service" => {
                let arn = found.express.as_deref().unwrap_or_default();
                aws.delete_express_service(arn).await?;
                wait::service_gone(aws, config, &i.name, Some(arn), out).await?;
            }
            "cluster" => {
                wait::tasks_stopped(aws, config, &found.tasks, out).await?;
                aws.delete_cluster(&config.cluster).await?;
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
            _ => continue,
        }
        out.status("Removed", format_args!("{} {}", i.resource, i.name));
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
    let mut err = std::io::stderr();
    for i in items {
        let _ = writeln!(err, "  {} {}", i.resource, i.name);
    }
    let _ = write!(
        err,
        "Remove these {} resources of {} stage `{}`{}? [y/N] ",
        items.len(),
        config.project,
        config.stage,
        if tasks > 0 {
            format!(" (stopping {tasks} running tasks first)")
        } else {
            String::new()
        }
    );
    let _ = err.flush();
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
