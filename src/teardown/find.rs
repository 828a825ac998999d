//! What teardown would remove, read before anything is deleted: each kind of resource found by its
//! exact name or tags, and whether it is this stage's.

use std::collections::BTreeMap;

use super::Item;
use crate::aws::ecs::TasksOf;
use crate::aws::Aws;
use crate::config::{resolve::Builder, service::StageKind, Config, Role};
use crate::error::Result;
use crate::names::is_ours;

/// What was found, read-only.
pub(super) struct Found {
    pub(super) items: Vec<Item>,
    pub(super) tasks: Vec<String>,
    pub(super) task_definitions: Vec<String>,
    pub(super) repository_images: usize,
    /// The Express Mode service's ARN, when it is this stage's.
    pub(super) express: Option<String>,
    /// The project's network, when this stage uses it (removed with the last stage).
    pub(super) network: Option<crate::aws::vpc::ProjectNetwork>,
    /// The load balancer's parts (setup/balancer.rs): (resource, id).
    pub(super) balancer: Vec<(&'static str, String)>,
}

pub(super) fn item(resource: &'static str, name: &str, ours: bool) -> Item {
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

pub(super) async fn find(aws: &Aws, config: &Config) -> Result<Found> {
    let mut items = Vec::new();
    schedule_and_build(aws, config, &mut items).await?;
    let (tasks, express) = cluster(aws, config, &mut items).await?;
    // The load balancer `setup` made, after the service that used its target group.
    let mut balancer = Vec::new();
    for (resource, name, ours, id) in crate::setup::balancer::found(aws, config).await? {
        items.push(item(resource, &name, ours));
        balancer.push((resource, id));
    }

    let task_definitions = task_definitions(aws, config, &mut items).await?;
    let repository_images = logs_and_repository(aws, config, &mut items).await?;
    roles(aws, config, &mut items).await?;
    let network = network(aws, config, &mut items).await?;
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

/// The schedule first (it starts tasks), then the CodeBuild project.
async fn schedule_and_build(aws: &Aws, config: &Config, items: &mut Vec<Item>) -> Result<()> {
    // Schedules carry no tags, so it is found by its exact
    // name and is ours only when its description says it runs this project's stage.
    // Each lookup follows the configuration, as the deployer policy (`iam policy --teardown`) does.
    let schedule = crate::names::schedule(config);
    let found_schedule = match config.schedule {
        Some(_) => aws.get_schedule(&schedule).await?,
        None => None,
    };
    if let Some(found) = found_schedule {
        let ours = crate::names::is_our_schedule(config, &found.spec.description);
        items.push(item("schedule", &schedule, ours));
    }

    // The CodeBuild project, by its tags.
    let build_project = crate::names::build_project(config);
    let found_project = match config.build.builder {
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

    Ok(())
}

/// Running tasks of the family in the cluster, the stage's service, and the cluster itself:
/// (the running tasks, the Express service's ARN when it is this stage's).
async fn cluster(
    aws: &Aws,
    config: &Config,
    items: &mut Vec<Item>,
) -> Result<(Vec<String>, Option<String>)> {
    let family = crate::names::family(config);
    let mut tasks = Vec::new();
    let mut express = None;
    if let Some(cluster_tags) = aws.active_cluster_tags(&config.names.cluster).await? {
        tasks = aws
            .list_tasks(&config.names.cluster, &family, "RUNNING")
            .await?;
        let service = crate::names::service(config);
        let mut removed_service = false;
        match config.service.kind {
            // By its tags: scaled to 0 and deleted before the cluster.
            StageKind::Service => {
                if let Some(found) = aws
                    .describe_service(&config.names.cluster, &service)
                    .await?
                {
                    if crate::service::request::is_active(Some(&found)) {
                        let ours = is_ours(config, &json_tags(&found["tags"]));
                        // Its scaling first: a scaler must not start tasks of a service going away.
                        if ours && config.service.scaling.is_some() {
                            let resource = crate::aws::autoscaling::resource_id(
                                &config.names.cluster,
                                &service,
                            );
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
        let mut cluster = item(
            "cluster",
            &config.names.cluster,
            is_ours(config, &cluster_tags),
        );
        if cluster.action == "remove" {
            // A cluster that holds what is not this stage's stays (ECS would refuse to delete it).
            let others: Vec<String> = aws
                .cluster_service_arns(&config.names.cluster)
                .await?
                .iter()
                .filter_map(|arn| arn.rsplit('/').next().map(str::to_string))
                .filter(|name| !(removed_service && *name == service))
                .collect();
            // The tasks of the service removed first stop with it (an Express service's are of
            // its own family).
            let service_tasks = match removed_service {
                true => {
                    aws.tasks_of(&config.names.cluster, TasksOf::Service(&service), "RUNNING")
                        .await?
                }
                false => Vec::new(),
            };
            let foreign_tasks = aws
                .tasks_of(&config.names.cluster, TasksOf::Cluster, "RUNNING")
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

    Ok((tasks, express))
}

/// Task definitions of the family, each by its own tags.
async fn task_definitions(
    aws: &Aws,
    config: &Config,
    items: &mut Vec<Item>,
) -> Result<Vec<String>> {
    let family = crate::names::family(config);
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

    Ok(task_definitions)
}

/// The log groups, and the repository with how many images it holds.
async fn logs_and_repository(aws: &Aws, config: &Config, items: &mut Vec<Item>) -> Result<usize> {
    // Log groups.
    for group in crate::names::log_groups(config) {
        if let Some(found) = aws.log_group(&group).await? {
            let ours = is_ours(config, &aws.log_group_tags(&found.arn).await?);
            items.push(item("log group", &group, ours));
        }
    }

    // The repository, and whether it holds images.
    let mut repository_images = 0;
    if let Some(tags) = aws.repository_tags(&config.names.repository).await? {
        let ours = is_ours(config, &tags);
        if ours {
            repository_images = aws.image_count(&config.names.repository).await?;
        }
        items.push(item("repository", &config.names.repository, ours));
    }

    Ok(repository_images)
}

/// Managed roles (given roles are the user's).
async fn roles(aws: &Aws, config: &Config, items: &mut Vec<Item>) -> Result<()> {
    let infrastructure = Role::Managed(crate::names::infrastructure_role(config));
    for (role, used) in [
        (&config.roles.task, true),
        (&config.roles.execution, true),
        (
            &config.roles.codebuild,
            config.build.builder == Builder::Codebuild,
        ),
        (&config.roles.scheduler, config.schedule.is_some()),
        (&infrastructure, crate::iam::infrastructure::wanted(config)),
        (&Role::Managed(crate::names::deployer_role(config)), true),
    ] {
        if let (Role::Managed(name), true) = (role, used) {
            if let Some(found) = aws.get_role(name).await? {
                items.push(item("role", name, is_ours(config, &found.tags)));
            }
        }
    }
    Ok(())
}

/// The project's network last: only once nothing of the stage runs in it.
async fn network(
    aws: &Aws,
    config: &Config,
    items: &mut Vec<Item>,
) -> Result<Option<crate::aws::vpc::ProjectNetwork>> {
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
    Ok(network)
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
