//! `deploy` of a `kind = "service"` or `"web"` stage, after the image is pushed: register, then
//! create or update the service and wait for its deployment. Everything read-only (the network,
//! the roles, the current service) was checked by the deploy plan before.

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::request::{self, Change, Desired};
use super::wait::{self, WaitInput, Waited};
use crate::aws::Aws;
use crate::config::service::StageKind;
use crate::config::Config;
use crate::error::Result;
use crate::output::Output;
use crate::steps::register::{self, Prepared, RegisterReport};
use crate::steps::run::Network;

/// What happened to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Serialize)]
pub struct ServiceReport {
    pub kind: StageKind,
    pub cluster: String,
    pub service: String,
    pub arn: String,
    pub action: Action,
    pub changes: Vec<Change>,
    /// The deployment waited for (or accepted, with --no-wait).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited: Option<Waited>,
    /// Why the deployment was not waited for: "no-wait" (asked), or "already-completed" (the
    /// service already ran this revision and settings, rolled out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_waited: Option<&'static str>,
    /// `scale-on`: the range and policies, and what this deploy changed of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling: Option<super::scaling::ScalingReport>,
    /// kind = "web": the HTTPS URL Express Mode gives the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl fmt::Display for ServiceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.action {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
        };
        writeln!(
            f,
            "service          {} in cluster {} ({what})",
            self.service, self.cluster
        )?;
        for c in &self.changes {
            writeln!(f, "  ~ {c}")?;
        }
        match (&self.deployment, &self.waited) {
            (Some(d), Some(w)) => writeln!(
                f,
                "deployment       {d} {} after {}s",
                w.rollout_state, w.seconds
            )?,
            (Some(d), None) if self.not_waited == Some(ALREADY_COMPLETED) => writeln!(
                f,
                "deployment       {d} already COMPLETED (the service already runs this revision: nothing to wait for)"
            )?,
            (Some(d), None) => writeln!(f, "deployment       {d} accepted (not waited for)")?,
            _ => {}
        }
        if let Some(s) = &self.scaling {
            write!(f, "{s}")?;
        }
        if let Some(url) = &self.url {
            writeln!(f, "url              {url}")?;
        }
        Ok(())
    }
}

/// `not_waited` when the service already ran what the deploy asked for, rolled out.
const ALREADY_COMPLETED: &str = "already-completed";

/// How a service deployment is waited for (`--wait-timeout`, `--no-wait`).
#[derive(Debug, Clone)]
pub struct WaitOptions {
    pub timeout: Duration,
    /// Return once ECS accepted the change.
    pub no_wait: bool,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(15 * 60),
            no_wait: false,
        }
    }
}

/// The name of the container a load balancer sends traffic to.
pub fn container_name(definition: &Value, config: &Config) -> String {
    crate::steps::render::main_container(definition)
        .and_then(|c| c["name"].as_str())
        .unwrap_or(&config.project)
        .to_string()
}

/// Registers, creates the cluster when needed, then deploys the service and waits.
#[allow(clippy::too_many_arguments)]
pub async fn finish(
    aws: &Aws,
    config: &Config,
    prepared: &Prepared,
    latest: Option<Option<crate::steps::register::Latest>>,
    cluster_exists: bool,
    network: &Network,
    wait: &WaitOptions,
    out: &Output,
) -> Result<(RegisterReport, ServiceReport)> {
    let (limit, no_wait) = (wait.timeout, wait.no_wait);
    let registered = register::apply(aws, config, prepared, latest, out).await?;
    if !cluster_exists {
        aws.create_cluster(&config.names.cluster, &crate::names::stage_tags(config))
            .await?;
        out.status("Created", format_args!("cluster {}", config.names.cluster));
    }
    let report = match config.service.kind {
        StageKind::Web => {
            super::express::deploy(
                aws,
                config,
                prepared,
                &registered,
                network,
                no_wait,
                limit,
                out,
            )
            .await?
        }
        _ => {
            service(
                aws,
                config,
                &prepared.definition,
                &registered.task_definition.arn,
                network,
                no_wait,
                limit,
                out,
            )
            .await?
        }
    };
    Ok((registered, report))
}

/// Creates or updates the ECS service so it runs `task_definition_arn` as configured, then waits.
#[allow(clippy::too_many_arguments)]
pub async fn service(
    aws: &Aws,
    config: &Config,
    definition: &Value,
    task_definition_arn: &str,
    network: &Network,
    no_wait: bool,
    limit: Duration,
    out: &Output,
) -> Result<ServiceReport> {
    let name = crate::names::service(config);
    let container = container_name(definition, config);
    let desired = Desired {
        config,
        task_definition_arn,
        network,
        container: &container,
    };
    let current = aws.describe_service(&config.names.cluster, &name).await?;
    let (action, changes, answer) = create_or_update(aws, &desired, current, out).await?;
    let arn = answer["serviceArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let deployment = wait::primary(&answer).and_then(|d| {
        Some((
            d["id"].as_str()?.to_string(),
            d["rolloutState"].as_str().unwrap_or_default().to_string(),
        ))
    });
    let mut report = ServiceReport {
        kind: config.service.kind,
        cluster: config.names.cluster.clone(),
        service: name.clone(),
        arn,
        action,
        changes,
        deployment: deployment.as_ref().map(|(id, _)| id.clone()),
        waited: None,
        not_waited: None,
        scaling: super::scaling::apply(aws, config).await?,
        url: config
            .service
            .load_balancer
            .as_ref()
            .and_then(|l| l.url.clone()),
    };
    let Some((id, state)) = deployment else {
        return Ok(report);
    };
    // Unchanged and settled: nothing to wait for. Unchanged but still rolling (a deploy that timed
    // out before): wait again, so re-running converges.
    report.not_waited = not_waited(no_wait, action, &state, &id, &name, out);
    if report.not_waited.is_some() {
        return Ok(report);
    }
    report.waited = Some(
        wait::wait_shifting(
            aws,
            out,
            &WaitInput {
                cluster: &config.names.cluster,
                service: &name,
                deployment: &id,
                task_definition_arn,
                definition,
                timeout: limit + super::shift::baked(&config.service.deployment),
                poll: crate::steps::run::POLL,
            },
            // A new service has nothing to shift from: its first tasks take the traffic.
            shift_of(config).filter(|_| action != Action::Created),
        )
        .await?,
    );
    Ok(report)
}

/// Why the deployment is not waited for, if it is not: `--no-wait`, or nothing changed and its
/// rollout is complete. Unchanged but rolling (another deploy's rollout of exactly this, or one
/// that stopped waiting): it is this deploy's to wait for, and a line says so.
fn not_waited(
    no_wait: bool,
    action: Action,
    state: &str,
    id: &str,
    name: &str,
    out: &Output,
) -> Option<&'static str> {
    match (no_wait, action, state) {
        (true, _, _) => Some("no-wait"),
        (false, Action::Unchanged, "COMPLETED") => Some(ALREADY_COMPLETED),
        (false, Action::Unchanged, _) => {
            out.status(
                "Joining",
                format_args!(
                    "deployment {id} of {name}: already rolling out this revision and settings (another deploy started it, or one that stopped waiting)"
                ),
            );
            None
        }
        _ => None,
    }
}

/// CreateService, or UpdateService when the configuration differs from what runs: (what was done,
/// the settings that changed, the service as ECS answered).
async fn create_or_update(
    aws: &Aws,
    desired: &Desired<'_>,
    current: Option<Value>,
    out: &Output,
) -> Result<(Action, Vec<request::Change>, Value)> {
    let (config, name) = (desired.config, crate::names::service(desired.config));
    Ok(if !request::is_active(current.as_ref()) {
        let created = aws.create_service(&request::create(desired)).await?;
        out.status(
            "Created",
            format_args!("service {name} in cluster {}", config.names.cluster),
        );
        (Action::Created, Vec::new(), created)
    } else {
        let current = current.expect("active");
        let update = request::update(desired);
        let changes = request::changes(&current, &update);
        if changes.is_empty() {
            (Action::Unchanged, changes, current)
        } else {
            let updated = aws.update_service(&update).await?;
            out.status(
                "Updated",
                format_args!(
                    "service {name}: {}",
                    changes
                        .iter()
                        .map(|c| c.setting)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            (Action::Updated, changes, updated)
        }
    })
}

/// A line of the deploy plan: whether it changes anything, and what.
#[derive(Debug, Clone)]
pub struct PlanLine {
    pub changes: bool,
    pub action: String,
}

/// The plan's step for the service: what `deploy` would create or change; `running` is the
/// revision the service would run (None: a new one the deploy registers).
pub async fn plan_step(
    aws: &Aws,
    config: &Config,
    network: &Network,
    running: Option<String>,
) -> Result<PlanLine> {
    let name = crate::names::service(config);
    let family = crate::names::family(config);
    let arn = running.unwrap_or_else(|| format!("{family} (new revision)"));
    let container = config.project.clone();
    let desired = Desired {
        config,
        task_definition_arn: &arn,
        network,
        container: &container,
    };
    if config.service.kind == StageKind::Web {
        return super::express::plan_step(aws, config, network).await;
    }
    let current = aws.describe_service(&config.names.cluster, &name).await?;
    let s = &config.service;
    let summary = format!(
        "desired {}, circuit breaker with rollback, {}–{}%, platform {}, subnets {}, security groups {}, public IP {}{}{}",
        s.desired_count,
        s.min_healthy_percent,
        s.max_percent,
        s.platform_version,
        network.subnets.join(", "),
        network.security_groups.join(", "),
        if network.assign_public_ip { "yes" } else { "no" },
        match (&s.target_group_arn, s.container_port) {
            (Some(tg), Some(p)) => format!(", target group {tg} → port {p}"),
            _ => String::new(),
        },
        if s.exec { ", ECS Exec on" } else { "" },
    );
    let summary = match &s.scaling {
        Some(r) => {
            let on: Vec<String> = [
                ("cpu", r.cpu, "%"),
                ("memory", r.memory, "%"),
                ("requests", r.requests, "/target"),
            ]
            .iter()
            .filter_map(|(k, v, unit)| v.map(|v| format!("{k} {v}{unit}")))
            .collect();
            format!(
                "{summary}, autoscaling {}–{} on {} (deploy leaves the count to it)",
                r.min,
                r.max,
                on.join(", ")
            )
        }
        None => summary,
    };
    if !request::is_active(current.as_ref()) {
        return Ok(PlanLine {
            changes: true,
            action: format!(
                "create service {name} in cluster {} running {}: {summary}",
                config.names.cluster,
                request::short_arn(&arn)
            ),
        });
    }
    let changes = request::changes(
        current.as_ref().expect("active"),
        &request::update(&desired),
    );
    Ok(PlanLine {
        changes: !changes.is_empty(),
        action: if changes.is_empty() {
            format!("keep service {name} (unchanged)")
        } else {
            format!(
                "update service {name}: {}",
                changes
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
    })
}

/// The permissions a service deploy needs besides the task's, for the deploy plan's check.
pub fn actions(
    config: &Config,
    partition: &str,
    region: &str,
    account: &str,
) -> Vec<(&'static str, String)> {
    let service = format!(
        "arn:{partition}:ecs:{region}:{account}:service/{}/{}",
        config.names.cluster,
        crate::names::service(config)
    );
    let mut list: Vec<(&'static str, String)> = match config.service.kind {
        StageKind::Web => [
            "ecs:DescribeExpressGatewayService",
            "ecs:CreateExpressGatewayService",
            "ecs:UpdateExpressGatewayService",
        ]
        .into_iter()
        .map(|a| (a, service.clone()))
        .collect(),
        _ => [
            "ecs:DescribeServices",
            "ecs:CreateService",
            "ecs:UpdateService",
        ]
        .into_iter()
        .map(|a| (a, service.clone()))
        .collect(),
    };
    list.push(("ecs:TagResource", service));
    if config.service.kind == StageKind::Web {
        let role = format!(
            "arn:{partition}:iam::{account}:role/{}",
            crate::names::infrastructure_role(config)
        );
        for a in ["iam:CreateRole", "iam:AttachRolePolicy", "iam:PassRole"] {
            list.push((a, role.clone()));
        }
    }
    list
}

/// Checks that need the caller's account and region, before anything is created: a target group
/// must be in the service's account and region (ECS cannot use another's).
pub fn check(config: &Config, identity: &crate::aws::Identity, region: &str) -> Result<()> {
    let Some(arn) = &config.service.target_group_arn else {
        return Ok(());
    };
    if config.service.kind != StageKind::Service {
        return Ok(());
    }
    let (tg_region, tg_account) = crate::config::service::arn_region_account(arn);
    if tg_account != identity.account {
        return Err(config
            .key_error(
                "target-group-arn",
                format!(
                    "the target group is in account {tg_account}, but the service is deployed to account {}",
                    identity.account
                ),
            )
            .fix(format!(
                "use a target group of account {} (a service registers only with its own account's load balancers)",
                identity.account
            ))
            .into());
    }
    if tg_region != region {
        return Err(config
            .key_error(
                "target-group-arn",
                format!("the target group is in region {tg_region}, but the service is deployed to region {region}"),
            )
            .fix(format!("use a target group of region {region}, or deploy to {tg_region} (`region`)"))
            .into());
    }
    Ok(())
}

/// `diff`'s lines for a `kind = "service"` stage: each setting `deploy` would change on the service
/// (`~ taskDefinition: app-dev:3 → app-dev:4`), or that it would create it; none for other kinds.
/// `task_definition`: the revision it would run, None when a new one would be registered.
pub async fn diff(
    aws: &Aws,
    config: &Config,
    task_definition: Option<&str>,
) -> Result<Vec<String>> {
    if config.service.kind != StageKind::Service {
        return Ok(Vec::new());
    }
    let name = crate::names::service(config);
    let current = aws.describe_service(&config.names.cluster, &name).await?;
    if !request::is_active(current.as_ref()) {
        return Ok(vec![format!("+ service {name} (deploy creates it)")]);
    }
    let network = crate::steps::run::resolve_network(aws, config, false).await?;
    let new_revision = format!("{} (new revision)", crate::names::family(config));
    let container = config.project.clone();
    let desired = Desired {
        config,
        task_definition_arn: task_definition.unwrap_or(&new_revision),
        network: &network,
        container: &container,
    };
    let changes = request::changes(
        current.as_ref().expect("active"),
        &request::update(&desired),
    );
    Ok(changes
        .iter()
        .map(|c| format!("~ service {name} {c}"))
        .collect())
}

/// The strategy and production rule `deploy` follows, for a traffic-shifting service.
fn shift_of(config: &Config) -> Option<(&crate::config::traffic::Deployment, &str)> {
    let shift = config.service.load_balancer.as_ref()?.shift.as_ref()?;
    Some((
        &config.service.deployment,
        shift.production_listener_rule.as_str(),
    ))
}
