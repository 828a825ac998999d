//! `cargo fargate teardown`: removes what `setup` and `deploy` made for one stage — its schedule
//! and running tasks first, then task definitions, the CodeBuild project, the ECS service (scaled to 0), cluster, log groups,
//! repository and managed roles (task, execution, CodeBuild, scheduler). Only
//! resources that carry cargo-fargate's tags for this project and stage are touched: an untagged
//! repository of the same name, or another stage's, is reported and left alone. Everything is
//! read and checked before the first deletion (a repository still holding images needs --force).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;

use crate::aws::Aws;
use crate::cli::TeardownArgs;
use crate::config::{resolve::Builder, service::StageKind, Config, Role};
use crate::error::{Result, UserError};
use crate::iam::is_ours;
use crate::output::Output;

#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub resource: &'static str,
    pub name: String,
    /// `remove`, or `keep` with the reason in `note`.
    pub action: &'static str,
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
}

fn tags_of<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    pairs.map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn item(resource: &'static str, name: &str, ours: bool, exists: bool) -> Option<Item> {
    exists.then(|| Item {
        resource,
        name: name.to_string(),
        action: if ours { "remove" } else { "keep" },
        note: (!ours).then(|| "not tagged as this stage's by cargo-fargate".to_string()),
    })
}

async fn find(aws: &Aws, config: &Config) -> Result<Found> {
    let family = crate::steps::render::family(config);
    let mut items = Vec::new();

    // The schedule first (it starts tasks): schedules carry no tags, so it is found by its exact
    // name and is ours only when its description says it runs this project's stage.
    // Each lookup follows the configuration, as the deployer policy (`iam policy --teardown`) does.
    let schedule = crate::schedule::name(config);
    let found_schedule = match config.schedule {
        Some(_) => aws.get_schedule(&schedule).await?,
        None => None,
    };
    if let Some(found) = found_schedule {
        let ours = found.spec.description.starts_with(&format!(
            "cargo-fargate: runs {} stage {} ",
            config.project, config.stage
        ));
        items.extend(item("schedule", &schedule, ours, true));
    }

    // The CodeBuild project, by its tags.
    let build_project = crate::build::codebuild::project::name(config);
    let found_project = match config.builder {
        Builder::Codebuild => aws.codebuild_project(&build_project).await?,
        _ => None,
    };
    if let Some(found) = found_project {
        let ours = is_ours(
            config,
            &tags_of(
                found
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value()?))),
            ),
        );
        items.extend(item("build project", &build_project, ours, true));
    }

    // Running tasks of the family in the cluster, and the cluster itself.
    let ecs = aws.ecs();
    let clusters = ecs
        .describe_clusters()
        .clusters(&config.cluster)
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .map_err(|e| {
            aws.fail(e, "ecs:DescribeClusters", |m| {
                anyhow::anyhow!("reading cluster {}: {m}", config.cluster)
            })
        })?;
    let cluster = clusters.clusters().iter().find(|c| {
        c.cluster_name() == Some(config.cluster.as_str()) && c.status() == Some("ACTIVE")
    });
    let mut tasks = Vec::new();
    if let Some(c) = cluster {
        tasks = aws.list_tasks(&config.cluster, &family, "RUNNING").await?;
        let ours = is_ours(
            config,
            &tags_of(c.tags().iter().filter_map(|t| Some((t.key()?, t.value()?)))),
        );
        // The stage's ECS service, by its tags: scaled to 0 and deleted before the cluster.
        let service = crate::service::request::service_name(config);
        let found_service = match config.service.kind {
            StageKind::Service => aws.describe_service(&config.cluster, &service).await?,
            _ => None,
        };
        if let Some(found) = found_service {
            if crate::service::request::is_active(Some(&found)) {
                let tags = found["tags"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|t| Some((t["key"].as_str()?, t["value"].as_str()?)))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default();
                items.extend(item(
                    "service",
                    &service,
                    is_ours(config, &tags_of(tags.into_iter())),
                    true,
                ));
            }
        }
        items.extend(item("cluster", &config.cluster, ours, true));
    }

    // Task definitions of the family, each by its own tags.
    let mut task_definitions = Vec::new();
    let mut pages = ecs
        .list_task_definitions()
        .family_prefix(&family)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            aws.fail(e, "ecs:ListTaskDefinitions", |m| {
                anyhow::anyhow!("listing task definitions of {family}: {m}")
            })
        })?;
        for arn in page.task_definition_arns() {
            let fam = arn
                .rsplit('/')
                .next()
                .and_then(|s| s.rsplit_once(':'))
                .map(|(f, _)| f);
            if fam != Some(family.as_str()) {
                continue;
            }
            let d = ecs
                .describe_task_definition()
                .task_definition(arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(|e| {
                    aws.fail(e, "ecs:DescribeTaskDefinition", |m| {
                        anyhow::anyhow!("reading {arn}: {m}")
                    })
                })?;
            let ours = is_ours(
                config,
                &tags_of(d.tags().iter().filter_map(|t| Some((t.key()?, t.value()?)))),
            );
            if ours {
                task_definitions.push(arn.clone());
            }
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
    for group in crate::setup::log_groups(config) {
        let found = aws
            .logs()
            .describe_log_groups()
            .log_group_name_prefix(&group)
            .send()
            .await
            .map_err(|e| {
                aws.fail(e, "logs:DescribeLogGroups", |m| {
                    anyhow::anyhow!("reading log group {group}: {m}")
                })
            })?;
        if let Some(g) = found
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(group.as_str()))
        {
            let arn = g
                .arn()
                .unwrap_or_default()
                .trim_end_matches(":*")
                .to_string();
            let tags = aws
                .logs()
                .list_tags_for_resource()
                .resource_arn(&arn)
                .send()
                .await
                .map_err(|e| {
                    aws.fail(e, "logs:ListTagsForResource", |m| {
                        anyhow::anyhow!("reading the tags of {group}: {m}")
                    })
                })?;
            let ours = is_ours(
                config,
                &tags
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            );
            items.extend(item("log group", &group, ours, true));
        }
    }

    // The repository, and whether it holds images.
    let ecr = aws.ecr();
    let mut repository_images = 0;
    match ecr
        .describe_repositories()
        .repository_names(&config.repository)
        .send()
        .await
    {
        Ok(out) => {
            if let Some(repo) = out.repositories().first() {
                let arn = repo.repository_arn().unwrap_or_default();
                let tags = ecr
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send()
                    .await
                    .map_err(|e| {
                        aws.fail(e, "ecr:ListTagsForResource", |m| {
                            anyhow::anyhow!("reading the tags of {}: {m}", config.repository)
                        })
                    })?;
                let ours = is_ours(
                    config,
                    &tags_of(tags.tags().iter().map(|t| (t.key(), t.value()))),
                );
                if ours {
                    let images = ecr
                        .list_images()
                        .repository_name(&config.repository)
                        .send()
                        .await
                        .map_err(|e| {
                            aws.fail(e, "ecr:ListImages", |m| {
                                anyhow::anyhow!("listing images of {}: {m}", config.repository)
                            })
                        })?;
                    repository_images = images.image_ids().len();
                }
                items.extend(item("repository", &config.repository, ours, true));
            }
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_repository_not_found_exception()) => {}
        Err(e) => {
            return Err(aws.fail(e, "ecr:DescribeRepositories", |m| {
                anyhow::anyhow!("reading ECR repository {}: {m}", config.repository)
            }))
        }
    }

    // Managed roles (given roles are the user's).
    let codebuild = config.builder == Builder::Codebuild;
    let scheduled = config.schedule.is_some();
    for (role, used) in [
        (&config.task_role, true),
        (&config.execution_role, true),
        (&config.codebuild_role, codebuild),
        (&config.scheduler_role, scheduled),
    ] {
        if let (Role::Managed(name), true) = (role, used) {
            if let Some(found) = aws.get_role(name).await? {
                items.extend(item("role", name, is_ours(config, &found.tags), true));
            }
        }
    }
    Ok(Found {
        items,
        tasks,
        task_definitions,
        repository_images,
    })
}

pub async fn run(
    aws: &Aws,
    config: &Config,
    args: &TeardownArgs,
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

    let family = crate::steps::render::family(config);
    for task in &found.tasks {
        aws.stop_task(&config.cluster, task, "cargo fargate teardown")
            .await?;
        out.status(
            "Stopped",
            format_args!("task {}", task.rsplit('/').next().unwrap_or(task)),
        );
    }
    let ecs = aws.ecs();
    for arn in &found.task_definitions {
        ecs.deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| {
                aws.fail(e, "ecs:DeregisterTaskDefinition", |m| {
                    anyhow::anyhow!("deregistering {arn}: {m}")
                })
            })?;
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
            "cluster" => {
                wait_tasks_stopped(aws, config, &found.tasks, out).await?;
                ecs.delete_cluster()
                    .cluster(&config.cluster)
                    .send()
                    .await
                    .map_err(|e| {
                        aws.fail(e, "ecs:DeleteCluster", |m| {
                            anyhow::anyhow!("deleting cluster {}: {m}", config.cluster)
                        })
                    })?;
            }
            "log group" => {
                aws.logs()
                    .delete_log_group()
                    .log_group_name(&i.name)
                    .send()
                    .await
                    .map_err(|e| {
                        aws.fail(e, "logs:DeleteLogGroup", |m| {
                            anyhow::anyhow!("deleting log group {}: {m}", i.name)
                        })
                    })?;
            }
            "repository" => {
                aws.ecr()
                    .delete_repository()
                    .repository_name(&i.name)
                    .force(args.force)
                    .send()
                    .await
                    .map_err(|e| {
                        aws.fail(e, "ecr:DeleteRepository", |m| {
                            anyhow::anyhow!("deleting ECR repository {}: {m}", i.name)
                        })
                    })?;
            }
            "role" => delete_role(aws, &i.name).await?,
            "service" => {
                let body = serde_json::json!({"cluster": config.cluster, "service": i.name, "desiredCount": 0});
                aws.update_service(&body).await?;
                aws.delete_service(&config.cluster, &i.name).await?;
            }
            "schedule" => {
                aws.delete_schedule(&i.name).await?;
            }
            "build project" => {
                aws.codebuild()
                    .delete_project()
                    .name(&i.name)
                    .send()
                    .await
                    .map_err(|e| {
                        aws.fail(e, "codebuild:DeleteProject", |m| {
                            anyhow::anyhow!("deleting CodeBuild project {}: {m}", i.name)
                        })
                    })?;
            }
            _ => continue,
        }
        out.status("Removed", format_args!("{} {}", i.resource, i.name));
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

/// A cluster with tasks still stopping cannot be deleted: waits for them, saying so.
async fn wait_tasks_stopped(
    aws: &Aws,
    config: &Config,
    tasks: &[String],
    out: &Output,
) -> Result<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    let family = crate::steps::render::family(config);
    out.status(
        "Waiting",
        format_args!("for {} tasks of {family} to stop", tasks.len()),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    while !aws
        .list_tasks(&config.cluster, &family, "RUNNING")
        .await?
        .is_empty()
    {
        if std::time::Instant::now() > deadline {
            return Err(
                UserError::new(format!("tasks of {family} did not stop within 3 minutes"))
                    .fix("check them with `cargo fargate ps`, then run teardown again")
                    .into(),
            );
        }
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    }
    Ok(())
}

async fn delete_role(aws: &Aws, name: &str) -> Result<()> {
    let iam = aws.iam();
    for policy in aws.inline_policies(name).await?.keys() {
        aws.delete_inline_policy(name, policy).await?;
    }
    for arn in aws.attached_policies(name).await? {
        aws.detach_policy(name, &arn).await?;
    }
    iam.delete_role()
        .role_name(name)
        .send()
        .await
        .map_err(|e| {
            aws.fail(e, "iam:DeleteRole", |m| {
                anyhow::anyhow!("deleting role {name}: {m}")
            })
        })?;
    Ok(())
}
