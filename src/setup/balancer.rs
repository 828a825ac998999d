//! The stage's Application Load Balancer (`load-balancer = "public" | "internal"`, kind =
//! "service"): made by `setup` in the project's VPC — its security group (HTTP/HTTPS from the
//! internet, or from the VPC when internal), the tasks' group opened to that group only on the
//! container port, the load balancer, the target group on the container port, and the listeners
//! (HTTP forwarding; with `certificate-arn` HTTPS forwarding and HTTP redirecting to it). Read by
//! `deploy` (the target group its service registers in, the URL it prints) and removed by
//! `teardown`. Everything is found by name and changed only when tagged as this stage's.
//!
//! Fast by default: the target group checks every 5 s (timeout 2 s) and takes a task after 2
//! passes, so a healthy task takes traffic about 10 s after it starts listening; its
//! deregistration delay is the stage's `stop-timeout` (ELB's default is 300 s, its health check
//! 30 s × 5 = 150 s: together most of a rolling deploy on AWS).

use super::Step;
use crate::aws::elb::{ForwardRule, FoundBalancer, NewTargetGroup, TargetGroupSettings};
use crate::aws::Aws;
use crate::config::traffic::{LoadBalancer, Scheme};
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::names;
use crate::output::Output;
use crate::service::balancer::refuse;

/// The health check of the target groups the tool makes: (interval, timeout, healthy, unhealthy).
pub const HEALTH_CHECK: (i32, i32, i32, i32) = (5, 2, 2, 2);
/// us-east-1 list prices: an ALB hour, an LCU hour.
const ALB_HOURLY: f64 = 0.0225;
const LCU_HOURLY: f64 = 0.008;

/// What exists of the stage's load balancer, and what setup would do.
#[derive(Debug, Clone, Default)]
pub struct BalancerPlan {
    pub vpc: Option<String>,
    pub group: Option<String>,
    pub load_balancer: Option<FoundBalancer>,
    pub target_group: Option<TargetGroupSettings>,
    /// A traffic-shifting deployment's second target group and production rule.
    pub alternate: Option<TargetGroupSettings>,
    pub rule: Option<ForwardRule>,
    pub listener_ports: Vec<i32>,
    pub tasks_open: bool,
    /// What is missing or differs, as the plan says it.
    pub changes: Vec<String>,
}

/// The listener ports the configuration asks for: (port, forwards) — a redirecting one does not.
fn ports(lb: &LoadBalancer) -> Vec<(i32, bool)> {
    match lb.certificate_arn {
        Some(_) => vec![(443, true), (80, false)],
        None => vec![(80, true)],
    }
}

/// Reads what exists (nothing is changed); None without `load-balancer`.
pub async fn plan(aws: &Aws, config: &Config) -> Result<Option<BalancerPlan>> {
    let Some(lb) = &config.service.load_balancer else {
        return Ok(None);
    };
    if !config.network.security_groups.is_empty() {
        return Err(config
            .key_error(
                "security-groups",
                "the load balancer may reach the tasks through the project's tasks' group, and `security-groups` replaces it",
            )
            .fix("drop `security-groups` (setup opens the tasks' group to the load balancer only), or use `target-group-arn`")
            .into());
    }
    if !config.network.subnets.is_empty() {
        return Err(config
            .key_error(
                "load-balancer",
                "the load balancer is made in the VPC `setup` makes, and `subnets` names others",
            )
            .fix("drop `subnets` (and `security-groups`), or use a target group of yours through `target-group-arn`")
            .into());
    }
    let port = config
        .service
        .container_port
        .expect("checked with load-balancer");
    let mut plan = BalancerPlan::default();
    let net = aws.project_network(&config.project).await?;
    let name = names::load_balancer(config);
    if let Some(net) = &net {
        plan.vpc = Some(net.vpc.clone());
        let group_name = names::load_balancer_group(config);
        if let Some((id, tags)) = aws.find_group(&net.vpc, &group_name).await? {
            if !names::is_ours(config, &tags) {
                return Err(refuse(config, "security group", &group_name));
            }
            if let Some(tasks) = &net.tasks_group {
                plan.tasks_open = aws.allows_from(tasks, &id, port).await?;
            }
            plan.group = Some(id);
        }
    }
    plan.load_balancer = aws.find_load_balancer(&name).await?;
    if let Some(found) = &plan.load_balancer {
        if !names::is_ours(config, &found.tags) {
            return Err(refuse(config, "load balancer", &name));
        }
        if found.internal != (lb.scheme == Scheme::Internal) {
            return Err(config
                .key_error(
                    "load-balancer",
                    format!(
                        "load balancer {name} is {}, and a load balancer's scheme cannot change",
                        if found.internal {
                            "internal"
                        } else {
                            "internet-facing"
                        }
                    ),
                )
                .fix("run `cargo fargate teardown` and then `setup`, or keep its scheme")
                .into());
        }
        let listeners = aws.listeners(&found.arn).await?;
        plan.listener_ports = listeners.iter().map(|l| l.1).collect();
        if let (true, Some((arn, _, _))) = (
            config.service.deployment.shifts(),
            listeners.iter().find(|l| l.1 == forwarding_port(lb)),
        ) {
            plan.rule = aws.rule_at(arn, names::PRODUCTION_RULE_PRIORITY).await?;
        }
    }
    plan.target_group = target_group(aws, config, &name, port).await?;
    if config.service.deployment.shifts() {
        let alternate = names::alternate_target_group(config);
        plan.alternate = target_group(aws, config, &alternate, port).await?;
    }
    plan.changes = changes(config, lb, &plan, port);
    Ok(Some(plan))
}

/// The port of the listener that forwards (HTTPS with a certificate, else HTTP).
fn forwarding_port(lb: &LoadBalancer) -> i32 {
    ports(lb)
        .into_iter()
        .find(|(_, forwards)| *forwards)
        .map_or(80, |(p, _)| p)
}

/// A target group of this name, checked to be ours and on the container port.
async fn target_group(
    aws: &Aws,
    config: &Config,
    name: &str,
    port: u16,
) -> Result<Option<TargetGroupSettings>> {
    let found = aws.find_target_group(Some(name), None).await?;
    if let Some(tg) = &found {
        if !names::is_ours(config, &tg.tags) {
            return Err(refuse(config, "target group", name));
        }
        if tg.port != i32::from(port) {
            return Err(config
                .key_error(
                    "container-port",
                    format!("target group {name} sends traffic to port {}, and a target group's port cannot change", tg.port),
                )
                .fix(format!("keep port {}, or run `cargo fargate teardown` and then `setup`", tg.port))
                .into());
        }
    }
    Ok(found)
}

fn changes(config: &Config, lb: &LoadBalancer, plan: &BalancerPlan, port: u16) -> Vec<String> {
    let mut changes = Vec::new();
    let reach = match lb.scheme {
        Scheme::Public => "the internet",
        Scheme::Internal => "the VPC",
    };
    if plan.group.is_none() {
        changes.push(format!(
            "security group {} (HTTP/HTTPS from {reach})",
            names::load_balancer_group(config)
        ));
    }
    if !plan.tasks_open {
        changes.push(format!(
            "tasks' security group: port {port} from the load balancer only"
        ));
    }
    if plan.load_balancer.is_none() {
        changes.push(format!(
            "{} load balancer {}",
            if lb.scheme == Scheme::Public {
                "internet-facing"
            } else {
                "internal"
            },
            names::load_balancer(config)
        ))
    }
    group_changes(
        config,
        "target group",
        plan.target_group.as_ref(),
        port,
        &mut changes,
    );
    if config.service.deployment.shifts() {
        let what = "alternate target group";
        group_changes(config, what, plan.alternate.as_ref(), port, &mut changes);
        if plan.rule.is_none() {
            changes.push(format!(
                "production listener rule on port {}: 100% to the target group, 0% to the alternate (ECS moves the weights)",
                forwarding_port(lb)
            ));
        }
    }
    for (p, forwards) in ports(lb) {
        if !plan.listener_ports.contains(&p) {
            changes.push(match (p, forwards) {
                (443, _) => "HTTPS listener on 443 with the certificate".to_string(),
                (_, true) => "HTTP listener on 80".to_string(),
                _ => "HTTP listener on 80 redirecting to HTTPS".to_string(),
            });
        }
    }
    changes
}

/// What setup would make or change of one target group.
fn group_changes(
    config: &Config,
    what: &str,
    found: Option<&TargetGroupSettings>,
    port: u16,
    changes: &mut Vec<String>,
) {
    let stop = config.container.stop_timeout as i32;
    let (interval, _, healthy, _) = HEALTH_CHECK;
    match found {
        None => changes.push(format!(
            "{what} → port {port}, health check {} every {interval}s, healthy after {healthy}, deregistration delay {stop}s",
            config.service.health_check_path
        )),
        Some(tg) => {
            if tg.deregistration_delay != stop {
                changes.push(format!("{what} deregistration delay {}s → {stop}s", tg.deregistration_delay));
            }
            if health_differs(config, tg) {
                changes.push(format!(
                    "{what} health check {} every {interval}s, healthy after {healthy}",
                    config.service.health_check_path
                ));
            }
        }
    }
}

/// Whether the target group's health check is not the configured path with the fast defaults.
fn health_differs(config: &Config, tg: &TargetGroupSettings) -> bool {
    let (interval, timeout, healthy, unhealthy) = HEALTH_CHECK;
    (
        config.service.health_check_path.as_str(),
        interval,
        timeout,
        healthy,
        unhealthy,
    ) != (
        tg.health_check_path.as_str(),
        tg.interval,
        tg.timeout,
        tg.healthy_threshold,
        tg.unhealthy_threshold,
    )
}

/// The setup step: the load balancer with what setup would make or change.
pub fn step(config: &Config, plan: &BalancerPlan) -> Step {
    let action = match (&plan.load_balancer, plan.changes.is_empty()) {
        (None, _) => "create",
        (Some(_), true) => "none",
        (Some(_), false) => "update",
    };
    Step {
        resource: "load balancer",
        name: names::load_balancer(config),
        action,
        changes: plan.changes.clone(),
        cost: Some(format!(
            "costs ${:.2}/month plus ${:.2} per LCU-month of traffic (us-east-1 list prices)",
            ALB_HOURLY * 730.0,
            LCU_HOURLY * 730.0
        )),
    }
}

/// Makes what the plan lacks, in order; the network exists by now.
pub async fn apply(aws: &Aws, config: &Config, plan: &BalancerPlan, out: &Output) -> Result<()> {
    let lb = config
        .service
        .load_balancer
        .as_ref()
        .expect("planned with one");
    let port = config
        .service
        .container_port
        .expect("checked with load-balancer");
    let net = aws.project_network(&config.project).await?.ok_or_else(|| {
        UserError::new("the project's VPC is missing").fix("run `cargo fargate setup` again")
    })?;
    let tasks = net.tasks_group.clone().ok_or_else(|| {
        UserError::new(format!(
            "the project's VPC {} has no tasks' security group",
            net.vpc
        ))
        .fix("run `cargo fargate setup` again")
    })?;
    let tags = names::stage_tags(config);
    let name = names::load_balancer(config);
    let group = match &plan.group {
        Some(g) => g.clone(),
        None => {
            let cidr = match lb.scheme {
                Scheme::Public => "0.0.0.0/0",
                Scheme::Internal => net.cidr.as_str(),
            };
            let group_name = names::load_balancer_group(config);
            let id = aws
                .create_open_group(&net.vpc, &group_name, &[80, 443], cidr, &tags)
                .await?;
            out.status("Created", format_args!("security group {group_name}"));
            id
        }
    };
    if !plan.tasks_open {
        aws.allow_from(&tasks, &group, port).await?;
        out.status(
            "Opened",
            format_args!("tasks' port {port} to the load balancer"),
        );
    }
    let subnets: Vec<String> = match (lb.scheme, net.private_subnets.is_empty()) {
        (Scheme::Internal, false) => &net.private_subnets,
        _ => &net.public_subnets,
    }
    .iter()
    .map(|(_, id)| id.clone())
    .collect();
    let lb_arn = match &plan.load_balancer {
        Some(found) => found.arn.clone(),
        None => {
            let internal = lb.scheme == Scheme::Internal;
            let (arn, _) = aws
                .create_load_balancer(&name, internal, &subnets, &group, &tags)
                .await?;
            out.status("Created", format_args!("load balancer {name}"));
            arn
        }
    };
    let tg_arn = apply_group(
        aws,
        config,
        &name,
        plan.target_group.as_ref(),
        &net.vpc,
        out,
    )
    .await?;
    for (p, forwards) in ports(lb) {
        if plan.listener_ports.contains(&p) {
            continue;
        }
        let certificate = if p == 443 {
            lb.certificate_arn.as_deref()
        } else {
            None
        };
        let target = forwards.then_some(tg_arn.as_str());
        aws.create_listener(&lb_arn, p, certificate, target, &tags)
            .await?;
        out.status("Created", format_args!("listener on port {p}"));
    }
    if config.service.deployment.shifts() {
        apply_shift(aws, config, plan, (&lb_arn, &tg_arn), &net.vpc, out).await?;
    }
    Ok(())
}

/// A traffic-shifting deployment's alternate target group and production listener rule.
async fn apply_shift(
    aws: &Aws,
    config: &Config,
    plan: &BalancerPlan,
    (lb_arn, tg_arn): (&str, &str),
    vpc: &str,
    out: &Output,
) -> Result<()> {
    let lb = config
        .service
        .load_balancer
        .as_ref()
        .expect("planned with one");
    let name = names::load_balancer(config);
    let tags = names::stage_tags(config);
    let alternate = names::alternate_target_group(config);
    let found = plan.alternate.as_ref();
    let alt_arn = apply_group(aws, config, &alternate, found, vpc, out).await?;
    if plan.rule.is_none() {
        let port = forwarding_port(lb);
        let listeners = aws.listeners(lb_arn).await?;
        let (listener, _, _) = listeners.iter().find(|l| l.1 == port).ok_or_else(|| {
            UserError::new(format!(
                "load balancer {name} has no listener on port {port}"
            ))
            .fix("run `cargo fargate setup` again")
        })?;
        let priority = names::PRODUCTION_RULE_PRIORITY;
        let groups = (tg_arn, alt_arn.as_str());
        aws.create_production_rule(listener, priority, groups, &tags)
            .await?;
        out.status(
            "Created",
            format_args!("production listener rule on port {port}"),
        );
    }
    Ok(())
}

/// Makes the target group `name` with the fast defaults, or brings one found to them.
async fn apply_group(
    aws: &Aws,
    config: &Config,
    name: &str,
    found: Option<&TargetGroupSettings>,
    vpc: &str,
    out: &Output,
) -> Result<String> {
    let (interval, timeout, healthy_threshold, unhealthy_threshold) = HEALTH_CHECK;
    let port = config
        .service
        .container_port
        .expect("checked with load-balancer");
    let Some(tg) = found else {
        let new = NewTargetGroup {
            name,
            vpc,
            port,
            health_check_path: &config.service.health_check_path,
            interval,
            timeout,
            healthy_threshold,
            unhealthy_threshold,
            deregistration_delay: config.container.stop_timeout,
        };
        let arn = aws
            .create_target_group(&new, &names::stage_tags(config))
            .await?;
        out.status("Created", format_args!("target group {name}"));
        return Ok(arn);
    };
    if tg.deregistration_delay != config.container.stop_timeout as i32 {
        aws.set_deregistration_delay(&tg.arn, config.container.stop_timeout)
            .await?;
    }
    if health_differs(config, tg) {
        let path = &config.service.health_check_path[..];
        let check = (
            path,
            interval,
            timeout,
            healthy_threshold,
            unhealthy_threshold,
        );
        aws.set_health_check(&tg.arn, check).await?;
        out.status("Updated", format_args!("target group {name}: health check"));
    }
    Ok(tg.arn.clone())
}

/// What `teardown` removes: (resource, name, ours, id), dependents first.
pub async fn found(
    aws: &Aws,
    config: &Config,
) -> Result<Vec<(&'static str, String, bool, String)>> {
    let mut items = Vec::new();
    if config.service.load_balancer.is_none() {
        return Ok(items);
    }
    let name = names::load_balancer(config);
    if let Some(lb) = aws.find_load_balancer(&name).await? {
        items.push((
            "load balancer",
            name.clone(),
            names::is_ours(config, &lb.tags),
            lb.arn,
        ));
    }
    for tg_name in [name.clone(), names::alternate_target_group(config)] {
        if let Some(tg) = aws.find_target_group(Some(&tg_name), None).await? {
            let ours = names::is_ours(config, &tg.tags);
            items.push(("target group", tg_name, ours, tg.arn));
        }
    }
    if let Some(net) = aws.project_network(&config.project).await? {
        let group_name = names::load_balancer_group(config);
        if let Some((id, tags)) = aws.find_group(&net.vpc, &group_name).await? {
            items.push((
                "lb security group",
                group_name,
                names::is_ours(config, &tags),
                id,
            ));
        }
    }
    Ok(items)
}

/// Removes one part `found` listed (the group after the tasks' rule that names it).
pub async fn remove(aws: &Aws, config: &Config, resource: &str, id: &str) -> Result<()> {
    match resource {
        "load balancer" => aws.delete_load_balancer(id).await,
        "target group" => aws.delete_target_group(id).await,
        "lb security group" => {
            if let (Some(net), Some(port)) = (
                aws.project_network(&config.project).await?,
                config.service.container_port,
            ) {
                if let Some(tasks) = &net.tasks_group {
                    if aws.allows_from(tasks, id, port).await? {
                        aws.revoke_from(tasks, id, port).await?;
                    }
                }
            }
            aws.delete_group(id).await
        }
        _ => Ok(()),
    }
}
