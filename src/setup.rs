//! `cargo fargate setup [--dry-run]`: everything a stage needs before its first deploy — the ECR
//! repository with its lifecycle policy, the ECS cluster, the log groups with retention, the managed
//! roles — created or brought in line, tagged so `teardown` can find them. Plan first (read-only,
//! and all of it with `--dry-run`), then apply; a second run finds nothing to change.

use std::fmt;

use serde::Serialize;

use crate::aws::Aws;
use crate::config::{resolve::Builder, Config};
use crate::error::Result;
use crate::output::Output;
use crate::steps::push::{apply_repository, plan_repository};
use crate::steps::roles;

/// One resource of the stage and what setup does (or would do) to it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub resource: &'static str,
    pub name: String,
    /// `create`, `update`, or `none` when it is already as configured.
    pub action: &'static str,
    /// What differs, for updates.
    pub changes: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct SetupReport {
    pub project: String,
    pub stage: String,
    pub dry_run: bool,
    pub steps: Vec<Step>,
    /// How many resources were (or would be) created or changed.
    pub changed: usize,
}

impl fmt::Display for SetupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            let what = match (s.action, self.dry_run) {
                ("create", true) => "would create".to_string(),
                ("create", false) => "created".to_string(),
                ("update", true) => format!("would update: {}", s.changes.join(", ")),
                ("update", false) => format!("updated: {}", s.changes.join(", ")),
                _ => "up to date".to_string(),
            };
            writeln!(f, "{:<12} {:<40} {what}", s.resource, s.name)?;
        }
        let verb = if self.dry_run {
            "would change"
        } else {
            "changed"
        };
        writeln!(
            f,
            "stage {} of {}: {verb} {} of {} resources",
            self.stage,
            self.project,
            self.changed,
            self.steps.len()
        )
    }
}

/// The log groups of the stage: the tasks', and the build project's with CodeBuild.
pub fn log_groups(config: &Config) -> Vec<String> {
    let mut groups = vec![config.log_group.clone()];
    if config.builder == Builder::Codebuild {
        groups.push(format!(
            "/aws/codebuild/{}",
            crate::steps::render::family(config)
        ));
    }
    groups
}

pub async fn run(aws: &Aws, config: &Config, dry_run: bool, out: &Output) -> Result<SetupReport> {
    let identity = aws.identity().await?;
    let region = aws.region();
    let tags = crate::iam::stage_tags(config);

    // Plan: read everything, change nothing.
    let mut steps = Vec::new();
    let repo_plan = plan_repository(aws, config).await?;
    let mut changes: Vec<String> = repo_plan.updates().iter().map(|u| u.to_string()).collect();
    if repo_plan.found.is_some() && repo_plan.lifecycle_policy_changes {
        changes.push("lifecycle policy".into());
    }
    steps.push(Step {
        resource: "repository",
        name: config.repository.clone(),
        action: match (&repo_plan.found, changes.is_empty()) {
            (None, _) => "create",
            (Some(_), false) => "update",
            (Some(_), true) => "none",
        },
        changes,
    });
    let cluster = Step {
        resource: "cluster",
        name: config.cluster.clone(),
        action: if aws.cluster_exists(&config.cluster).await? {
            "none"
        } else {
            "create"
        },
        changes: Vec::new(),
    };
    steps.push(cluster.clone());
    for group in log_groups(config) {
        steps.push(log_group_step(aws, &group, config.log_retention_days).await?);
    }
    let role_plan = roles::plan(aws, config, &identity, &region).await?;
    for role in [&role_plan.task, &role_plan.execution] {
        if let Some(step) = role_step(aws, role).await? {
            steps.push(step);
        }
    }
    let changed = steps.iter().filter(|s| s.action != "none").count();
    let report = |steps| SetupReport {
        project: config.project.clone(),
        stage: config.stage.clone(),
        dry_run,
        steps,
        changed,
    };
    if dry_run || changed == 0 {
        return Ok(report(steps));
    }

    // Apply, in the plan's order.
    for step in &steps {
        if step.action == "none" {
            continue;
        }
        match step.resource {
            "repository" => {
                apply_repository(aws, &repo_plan, out).await?;
            }
            "cluster" => aws.create_cluster(&config.cluster, &tags).await?,
            "log group" => {
                aws.ensure_log_group(&step.name, config.log_retention_days, &tags)
                    .await?;
            }
            _ => {}
        }
        if step.resource != "role" && step.resource != "repository" {
            out.status(
                if step.action == "create" {
                    "Created"
                } else {
                    "Updated"
                },
                format_args!("{} {}", step.resource, step.name),
            );
        }
    }
    for state in roles::apply(aws, &role_plan).await? {
        if state.created || !state.changes.is_empty() {
            out.status("Role", format_args!("{} {}", state.name, state.how()));
        }
    }
    Ok(report(steps))
}

async fn log_group_step(aws: &Aws, name: &str, retention: u32) -> Result<Step> {
    let found = aws
        .logs()
        .describe_log_groups()
        .log_group_name_prefix(name)
        .send()
        .await
        .map_err(|e| {
            aws.fail(e, "logs:DescribeLogGroups", |m| {
                anyhow::anyhow!("reading log group {name}: {m}")
            })
        })?;
    let group = found
        .log_groups()
        .iter()
        .find(|g| g.log_group_name() == Some(name));
    let (action, changes) = match group {
        None => ("create", Vec::new()),
        Some(g) if g.retention_in_days() != Some(retention as i32) => {
            ("update", vec![format!("retention {retention} days")])
        }
        Some(_) => ("none", Vec::new()),
    };
    Ok(Step {
        resource: "log group",
        name: name.to_string(),
        action,
        changes,
    })
}

/// A managed role's differences from its plan, read without writing; `None` for a given role.
async fn role_step(aws: &Aws, role: &roles::RolePlan) -> Result<Option<Step>> {
    let Some(want) = &role.managed else {
        return Ok(None);
    };
    let mut step = Step {
        resource: "role",
        name: role.name.clone(),
        action: "none",
        changes: Vec::new(),
    };
    if !want.exists {
        step.action = "create";
        return Ok(Some(step));
    }
    if let Some(found) = aws.get_role(&role.name).await? {
        if found.trust != want.trust {
            step.changes.push("trust policy".into());
        }
    }
    let attached = aws.attached_policies(&role.name).await?;
    for arn in want.policies.symmetric_difference(&attached) {
        step.changes.push(format!("policy {arn}"));
    }
    let inline = aws.inline_policies(&role.name).await?;
    for (name, doc) in &want.inline {
        if inline.get(name) != Some(doc) {
            step.changes.push(format!("inline policy {name}"));
        }
    }
    for name in inline.keys().filter(|n| !want.inline.contains_key(*n)) {
        step.changes.push(format!("extra inline policy {name}"));
    }
    if !step.changes.is_empty() {
        step.action = "update";
    }
    Ok(Some(step))
}
