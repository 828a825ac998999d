//! `cargo fargate setup [--dry-run]`: everything a stage needs before its first deploy — the ECR
//! repository with its lifecycle policy, the ECS cluster, the log groups with retention, the managed
//! roles, and what the builder and kind need (the archive bucket and CodeBuild role with
//! `builder = "codebuild"`, the scheduler role with a `schedule`) — created or brought in line,
//! tagged so `teardown` can find them. Plan first (read-only,
//! and all of it with `--dry-run`), then apply; a second run finds nothing to change.

use std::fmt;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::aws::Aws;
use crate::build::codebuild::{role as cb_role, upload};
use crate::config::{resolve::Builder, Config};
use crate::error::Result;
use crate::output::Output;
use crate::schedule::role as sched_role;
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
    let role_plan = roles::plan(aws, config, &identity, &region, None).await?;
    for role in [&role_plan.task, &role_plan.execution] {
        if let Some(step) = role_step(aws, role).await? {
            steps.push(step);
        }
    }
    // The builder's bucket and role.
    let mut codebuild = None;
    if config.builder == Builder::Codebuild {
        let bucket = upload::plan_bucket(aws, config, &identity).await?;
        steps.push(Step {
            resource: "bucket",
            name: bucket.name.clone(),
            action: if bucket.create { "create" } else { "none" },
            changes: Vec::new(),
        });
        let prefix = format!("{}/{}/", config.project, config.stage);
        let log_group = crate::build::codebuild::project::log_group(config);
        let role = cb_role::plan(
            aws,
            config,
            &identity,
            &cb_role::Scope {
                partition: identity.partition(),
                region: &region,
                account: &identity.account,
                bucket: &bucket.name,
                prefix: &prefix,
                repository: &config.repository,
                log_group: &log_group,
            },
        )
        .await?;
        if let Some(want) = &role.managed {
            let inline = BTreeMap::from([(cb_role::POLICY_NAME.to_string(), want.policy.clone())]);
            steps.push(
                diff_role(
                    aws,
                    &role.name,
                    want.exists,
                    &want.trust,
                    Some(&BTreeSet::new()),
                    &inline,
                )
                .await?,
            );
        }
        codebuild = Some((bucket, role));
    }
    // The scheduler's role.
    let mut scheduler = None;
    if config.schedule.is_some() {
        let family = crate::steps::render::family(config);
        let role = sched_role::plan(
            aws,
            config,
            &identity,
            &sched_role::PolicyInput {
                partition: identity.partition(),
                region: &region,
                account: &identity.account,
                family: &family,
                cluster: &config.cluster,
                task_role_arn: &role_plan.task.arn,
                execution_role_arn: &role_plan.execution.arn,
            },
        )
        .await?;
        if let Some(want) = &role.managed {
            let inline =
                BTreeMap::from([(sched_role::POLICY_NAME.to_string(), want.policy.clone())]);
            steps.push(diff_role(aws, &role.name, want.exists, &want.trust, None, &inline).await?);
        }
        scheduler = Some(role);
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
            "bucket" => {
                if let Some((bucket, _)) = &codebuild {
                    upload::apply_bucket(aws, bucket).await?;
                }
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
    if let Some((_, role)) = &codebuild {
        let changes = cb_role::apply(aws, role).await?;
        if !changes.is_empty() {
            out.status("Role", format_args!("{} {}", role.name, changes.join(", ")));
        }
    }
    if let Some(role) = &scheduler {
        let state = sched_role::apply(aws, role).await?;
        if state.created || !state.changes.is_empty() {
            let how = if state.created {
                "created".to_string()
            } else {
                state.changes.join(", ")
            };
            out.status("Role", format_args!("{} {how}", state.name));
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
    diff_role(
        aws,
        &role.name,
        want.exists,
        &want.trust,
        Some(&want.policies),
        &want.inline,
    )
    .await
    .map(Some)
}

/// What differs between a managed role and what it must be: its trust, its attached policies
/// (when `attached` says which), its inline policies.
async fn diff_role(
    aws: &Aws,
    name: &str,
    exists: bool,
    trust: &Value,
    attached: Option<&BTreeSet<String>>,
    want_inline: &BTreeMap<String, Value>,
) -> Result<Step> {
    let mut step = Step {
        resource: "role",
        name: name.to_string(),
        action: "none",
        changes: Vec::new(),
    };
    if !exists {
        step.action = "create";
        return Ok(step);
    }
    if let Some(found) = aws.get_role(name).await? {
        if &found.trust != trust {
            step.changes.push("trust policy".into());
        }
    }
    if let Some(want) = attached {
        let found = aws.attached_policies(name).await?;
        for arn in want.symmetric_difference(&found) {
            step.changes.push(format!("policy {arn}"));
        }
    }
    let inline = aws.inline_policies(name).await?;
    for (policy, doc) in want_inline {
        if inline.get(policy) != Some(doc) {
            step.changes.push(format!("inline policy {policy}"));
        }
    }
    for policy in inline.keys().filter(|n| !want_inline.contains_key(*n)) {
        step.changes.push(format!("extra inline policy {policy}"));
    }
    if !step.changes.is_empty() {
        step.action = "update";
    }
    Ok(step)
}
