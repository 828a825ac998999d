//! `cargo fargate setup [--dry-run]`: everything a stage needs before its first deploy — the ECR
//! repository with its lifecycle policy, the ECS cluster, the log groups with retention, the managed
//! roles, and what the builder and kind need (the archive bucket and CodeBuild role with
//! `builder = "codebuild"`, the scheduler role with a `schedule`, Express Mode's infrastructure
//! role with `kind = "web"`) — created or brought in line,
//! tagged so `teardown` can find them. Plan first (read-only,
//! and all of it with `--dry-run`), then apply; a second run finds nothing to change.

use std::fmt;

use serde::Serialize;

use crate::aws::{Aws, Identity};
use crate::build::codebuild::upload::{self, BucketPlan};
use crate::config::{resolve::Builder, Config};
use crate::error::Result;
use crate::iam::codebuild as cb_role;
use crate::iam::deployer::{self, DeployerFlags, DeployerTrust};
use crate::iam::managed::{self, Desired};
use crate::iam::roles;
use crate::iam::scheduler as sched_role;
use crate::output::Output;
use crate::publish::{apply_repository, plan_repository, RepositoryPlan};

pub mod balancer;
pub mod network;

/// One resource of the stage and what setup does (or would do) to it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub resource: &'static str,
    pub name: String,
    /// `create`, `update`, or `none` when it is already as configured.
    pub action: &'static str,
    /// What differs, for updates.
    pub changes: Vec<String>,
    /// What AWS charges for it per month, where it charges (the network's parts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SetupReport {
    pub project: String,
    pub stage: String,
    pub dry_run: bool,
    pub steps: Vec<Step>,
    /// How many resources were (or would be) created or changed.
    pub changed: usize,
    /// The deployer role (`--ci`, `--deployer-trust`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployer_role: Option<String>,
    /// The `~/.aws/config` profile that takes it (`--deployer-trust`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl fmt::Display for SetupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.steps {
            let what = match (s.action, self.dry_run) {
                ("create", true) if !s.changes.is_empty() => {
                    format!("would create: {}", s.changes.join(", "))
                }
                ("create", true) => "would create".to_string(),
                ("create", false) => "created".to_string(),
                ("update", true) => format!("would update: {}", s.changes.join(", ")),
                ("update", false) => format!("updated: {}", s.changes.join(", ")),
                _ => "up to date".to_string(),
            };
            writeln!(f, "{:<12} {:<40} {what}", s.resource, s.name)?;
            if let Some(cost) = &s.cost {
                writeln!(f, "{:<12} {cost}", "")?;
            }
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
        )?;
        if let Some(role) = &self.deployer_role {
            writeln!(f, "deployer role: {role}")?;
        }
        if let Some(profile) = &self.profile {
            writeln!(
                f,
                "add to ~/.aws/config (then AWS_PROFILE={}):",
                profile
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("[profile ")
                    .trim_end_matches(']')
            )?;
            write!(f, "{profile}")?;
        }
        Ok(())
    }
}

/// Everything setup found and what it would do, read before anything changes.
struct Plan {
    steps: Vec<Step>,
    repository: RepositoryPlan,
    roles: roles::Plan,
    codebuild: Option<(BucketPlan, managed::RolePlan)>,
    scheduler: Option<managed::RolePlan>,
    /// `kind = "web"`: Express Mode's infrastructure role.
    web: bool,
    network: Option<network::NetworkPlan>,
    balancer: Option<balancer::BalancerPlan>,
    who: Option<DeployerTrust>,
    /// The deployer role's ARN and policies.
    deployer: Option<(String, Desired)>,
}

pub async fn run(
    aws: &Aws,
    config: &Config,
    dry_run: bool,
    flags: &DeployerFlags<'_>,
    out: &Output,
) -> Result<SetupReport> {
    let identity = aws.identity().await?;
    let who = deployer::parse(flags, &identity.account)?;
    let region = aws.region();
    let plan = plan(aws, config, &identity, &region, who).await?;
    let changed = plan.steps.iter().filter(|s| s.action != "none").count();
    let deployer_role = plan.deployer.as_ref().map(|(arn, _)| arn.clone());
    let profile = match (&plan.who, &deployer_role) {
        (Some(w), Some(arn)) if !w.people.is_empty() => {
            Some(deployer::profile(config, arn, &region))
        }
        _ => None,
    };
    if !dry_run && changed > 0 {
        apply_steps(aws, config, &plan, out).await?;
        apply_roles(aws, config, &plan, out).await?;
    }
    Ok(SetupReport {
        project: config.project.clone(),
        stage: config.stage.clone(),
        dry_run,
        steps: plan.steps,
        changed,
        deployer_role,
        profile,
    })
}

/// Reads everything, changes nothing.
async fn plan(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    region: &str,
    who: Option<DeployerTrust>,
) -> Result<Plan> {
    let (mut steps, repository) = stage_steps(aws, config).await?;
    let role_plan = roles::plan(aws, config, identity, region, None).await?;
    for role in [&role_plan.task, &role_plan.execution] {
        steps.extend(role_step(aws, &role.name, role.managed.as_ref()).await?);
    }
    // The builder's bucket and role.
    let mut codebuild = None;
    if config.build.builder == Builder::Codebuild {
        let bucket = upload::plan_bucket(aws, config, identity).await?;
        steps.push(Step {
            resource: "bucket",
            name: bucket.name.clone(),
            action: if bucket.create { "create" } else { "none" },
            changes: Vec::new(),
            cost: None,
        });
        let role = cb_role::plan(aws, config, identity, region).await?;
        steps.extend(role_step(aws, &role.name, role.managed.as_ref()).await?);
        codebuild = Some((bucket, role));
    }
    // The scheduler's role.
    let mut scheduler = None;
    if config.schedule.is_some() {
        let scope = sched_role::scope(
            config,
            identity,
            region,
            &role_plan.task.arn,
            &role_plan.execution.arn,
        );
        let role = sched_role::plan(aws, config, identity, &scope).await?;
        steps.extend(role_step(aws, &role.name, role.managed.as_ref()).await?);
        scheduler = Some(role);
    }
    // The infrastructure role ECS acts with (Express Mode; traffic-shifting deployments).
    let web = crate::iam::infrastructure::wanted(config);
    if web {
        let (_, want) = crate::iam::infrastructure::infrastructure_role(aws, config).await?;
        let name = crate::names::infrastructure_role(config);
        steps.extend(role_step(aws, &name, Some(&want)).await?);
    }
    // The project's network, when no subnets are configured.
    let network_plan = network::plan(aws, config).await?;
    if let Some(plan) = &network_plan {
        steps.insert(0, network::step(config, plan));
    }
    // The service's load balancer, in that network.
    let balancer_plan = balancer::plan(aws, config).await?;
    if let Some(plan) = &balancer_plan {
        let at = usize::from(network_plan.is_some());
        steps.insert(at, balancer::step(config, plan));
    }
    let deployer = deployer_steps(aws, config, identity, who.as_ref(), &mut steps).await?;
    Ok(Plan {
        steps,
        repository,
        roles: role_plan,
        codebuild,
        scheduler,
        web,
        network: network_plan,
        balancer: balancer_plan,
        who,
        deployer,
    })
}

/// The repository, the cluster and the log groups.
async fn stage_steps(aws: &Aws, config: &Config) -> Result<(Vec<Step>, RepositoryPlan)> {
    let mut steps = Vec::new();
    let repo_plan = plan_repository(aws, config).await?;
    let mut changes: Vec<String> = repo_plan.updates().iter().map(|u| u.to_string()).collect();
    if repo_plan.found.is_some() && repo_plan.lifecycle_policy_changes {
        changes.push("lifecycle policy".into());
    }
    steps.push(Step {
        resource: "repository",
        name: config.names.repository.clone(),
        action: match (&repo_plan.found, changes.is_empty()) {
            (None, _) => "create",
            (Some(_), false) => "update",
            (Some(_), true) => "none",
        },
        changes,
        cost: None,
    });
    steps.push(Step {
        resource: "cluster",
        name: config.names.cluster.clone(),
        action: if aws.cluster_exists(&config.names.cluster).await? {
            "none"
        } else {
            "create"
        },
        changes: Vec::new(),
        cost: None,
    });
    for group in crate::names::log_groups(config) {
        steps.push(log_group_step(aws, config, &group, config.container.log_retention_days).await?);
    }
    Ok((steps, repo_plan))
}

/// The deployer role and the CI's OIDC provider (account-wide: found, or made once).
async fn deployer_steps(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    who: Option<&DeployerTrust>,
    steps: &mut Vec<Step>,
) -> Result<Option<(String, Desired)>> {
    let Some(who) = who else {
        return Ok(None);
    };
    if let Some(ci) = &who.ci {
        let exists = deployer::plan_provider(aws, identity, ci).await?;
        steps.push(Step {
            resource: "oidc provider",
            name: ci.url(),
            action: if exists { "none" } else { "create" },
            changes: Vec::new(),
            cost: None,
        });
    }
    let (arn, want) = deployer::plan(aws, config, identity, who).await?;
    let name = crate::names::deployer_role(config);
    steps.extend(role_step(aws, &name, Some(&want)).await?);
    Ok(Some((arn, want)))
}

/// Applies the plan's steps but the roles, in the plan's order.
async fn apply_steps(aws: &Aws, config: &Config, plan: &Plan, out: &Output) -> Result<()> {
    let tags = crate::names::stage_tags(config);
    for step in plan.steps.iter().filter(|s| s.action != "none") {
        match step.resource {
            "repository" => {
                apply_repository(aws, &plan.repository, out).await?;
            }
            "network" => {
                if let Some(network) = &plan.network {
                    network::apply(aws, config, network, out).await?;
                }
                continue;
            }
            "load balancer" => {
                if let Some(balancer) = &plan.balancer {
                    balancer::apply(aws, config, balancer, out).await?;
                }
                continue;
            }
            "cluster" => aws.create_cluster(&config.names.cluster, &tags).await?,
            "log group" => {
                let adopt = crate::steps::register::check_log_group(aws, config, &step.name);
                if let Some(arn) = adopt.await? {
                    aws.tag_log_group(&arn, &tags).await?;
                }
                aws.ensure_log_group(&step.name, config.container.log_retention_days, &tags)
                    .await?;
            }
            "oidc provider" => {
                if let Some(ci) = plan.who.as_ref().and_then(|w| w.ci.as_ref()) {
                    let tags = crate::names::project_tags(config);
                    aws.create_oidc_provider(&ci.url(), &ci.audience, &ci.thumbprints(), &tags)
                        .await?;
                }
            }
            "bucket" => {
                if let Some((bucket, _)) = &plan.codebuild {
                    upload::apply_bucket(aws, bucket).await?;
                }
            }
            _ => {}
        }
        if step.resource != "role" && step.resource != "repository" {
            let verb = if step.action == "create" {
                "Created"
            } else {
                "Updated"
            };
            out.status(verb, format_args!("{} {}", step.resource, step.name));
        }
    }
    Ok(())
}

/// Creates or brings in line every managed role of the plan.
async fn apply_roles(aws: &Aws, config: &Config, plan: &Plan, out: &Output) -> Result<()> {
    for state in roles::apply(aws, &plan.roles).await? {
        if state.created || !state.changes.is_empty() {
            out.status("Role", format_args!("{} {}", state.name, state.how()));
        }
    }
    if let Some((_, role)) = &plan.codebuild {
        let changes = cb_role::apply(aws, role).await?;
        if !changes.is_empty() {
            out.status("Role", format_args!("{} {}", role.name, changes.join(", ")));
        }
    }
    if plan.web {
        crate::iam::infrastructure::apply_infrastructure_role(aws, config, out).await?;
    }
    if let Some((_, want)) = &plan.deployer {
        let name = crate::names::deployer_role(config);
        let about = "cargo-fargate: deploys this stage (setup --ci / --deployer-trust)";
        let done = managed::apply(aws, &name, about, want).await?;
        if done.created || !done.changes.is_empty() {
            let how = if done.created {
                "created".to_string()
            } else {
                done.changes.join(", ")
            };
            out.status("Role", format_args!("{name} {how}"));
        }
    }
    if let Some(role) = &plan.scheduler {
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
    Ok(())
}

async fn log_group_step(aws: &Aws, config: &Config, name: &str, retention: u32) -> Result<Step> {
    // Someone else's group is refused before anything is made (`adopt = true` takes it over).
    crate::steps::register::check_log_group(aws, config, name).await?;
    let group = aws.log_group(name).await?;
    let (action, changes) = match group {
        None => ("create", Vec::new()),
        Some(g) if g.retention_days != Some(retention as i32) => {
            ("update", vec![format!("retention {retention} days")])
        }
        Some(_) => ("none", Vec::new()),
    };
    Ok(Step {
        resource: "log group",
        name: name.to_string(),
        action,
        changes,
        cost: None,
    })
}

/// A managed role's differences from its plan, read without writing; `None` for a given role.
async fn role_step(aws: &Aws, name: &str, want: Option<&Desired>) -> Result<Option<Step>> {
    let Some(want) = want else {
        return Ok(None);
    };
    let (action, changes) = if !want.exists {
        ("create", Vec::new())
    } else {
        let changes = managed::diff(aws, name, want).await?;
        (if changes.is_empty() { "none" } else { "update" }, changes)
    };
    Ok(Some(Step {
        resource: "role",
        name: name.to_string(),
        action,
        changes,
        cost: None,
    }))
}
