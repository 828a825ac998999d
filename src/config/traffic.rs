//! A service's traffic keys: the load balancer the tool makes (`load-balancer`, `listener`,
//! `certificate-arn`), the deployment strategy (`deployment` and its percents and bakes) and
//! autoscaling (`min-count`, `max-count`, `scale-on`). Checked together because each depends on
//! the others (a canary needs a load balancer; requests per target too).

use serde::Serialize;

use super::raw::{Origin, Source, Value};
use super::resolver::Resolver;
use super::service::StageKind;
use crate::error::UserError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// internet-facing, in the VPC's public subnets.
    Public,
    /// internal, reachable from inside the VPC only.
    Internal,
}

/// The Application Load Balancer `setup` makes for a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadBalancer {
    pub scheme: Scheme,
    /// HTTPS on 443 with this ACM certificate (HTTP on 80 then redirects), else HTTP on 80.
    pub certificate_arn: Option<String>,
    /// Its URL, once `service::balancer::attach` found the load balancer `setup` made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What a blue-green, canary or linear deployment shifts traffic with, once `attach` found
    /// what `setup` made for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shift: Option<Shift>,
}

/// ECS's `loadBalancers[].advancedConfiguration`: the second target group, the listener rule
/// whose weights ECS moves, and the infrastructure role it moves them with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub alternate_target_group_arn: String,
    pub production_listener_rule: String,
    pub role_arn: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "strategy")]
pub enum Strategy {
    Rolling,
    BlueGreen,
    Canary {
        percent: f64,
        bake_minutes: u32,
    },
    Linear {
        step_percent: f64,
        bake_minutes: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deployment {
    pub strategy: Strategy,
    /// ECS's bakeTimeInMinutes: the old revision stays ready for a rollback this long.
    pub bake_minutes: u32,
    pub rollback_alarms: Vec<String>,
}

impl Deployment {
    /// Whether ECS shifts traffic between two target groups (blue-green, canary, linear).
    pub fn shifts(&self) -> bool {
        self.strategy != Strategy::Rolling
    }
}

impl Default for Deployment {
    fn default() -> Self {
        Deployment {
            strategy: Strategy::Rolling,
            bake_minutes: 0,
            rollback_alarms: Vec::new(),
        }
    }
}

/// Application Auto Scaling: a scalable target and one target-tracking policy per metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scaling {
    pub min: u32,
    pub max: u32,
    pub cpu: Option<u32>,
    pub memory: Option<u32>,
    /// ALBRequestCountPerTarget's target value.
    pub requests: Option<u32>,
}

/// `load-balancer`, `listener` and `certificate-arn`. `target` is `target-group-arn`'s origin.
pub(super) fn load_balancer(
    r: &mut Resolver,
    kind: StageKind,
    target: Option<&Origin>,
    container_port: Option<u16>,
) -> Result<Option<LoadBalancer>, UserError> {
    let scheme = r.opt_str("load-balancer");
    let listener = r.opt_str("listener");
    let certificate = r.opt_str("certificate-arn");
    let Some((scheme, origin)) = scheme else {
        for (key, found) in [("listener", &listener), ("certificate-arn", &certificate)] {
            if let Some((_, o)) = found {
                return Err(r
                    .error(
                        key,
                        o,
                        "a listener belongs to the load balancer cargo-fargate makes, and there is none".into(),
                    )
                    .fix("set `load-balancer = \"public\"` (or \"internal\")"));
            }
        }
        return Ok(None);
    };
    if kind != StageKind::Service {
        return Err(r
            .error(
                "load-balancer",
                &origin,
                "only kind = \"service\" gets a load balancer made by cargo-fargate (kind = \"web\" has Express Mode's)".into(),
            )
            .fix("set `kind = \"service\"`, or drop `load-balancer`"));
    }
    if target.is_some() {
        return Err(r
            .error(
                "load-balancer",
                &origin,
                "`load-balancer` makes a target group, and `target-group-arn` names an existing one".into(),
            )
            .fix("keep one of them"));
    }
    if container_port.is_none() {
        return Err(r
            .error(
                "load-balancer",
                &origin,
                "the load balancer needs the container port it sends traffic to".into(),
            )
            .fix("set `ports = [8080]` (or `container-port`) to the port your server listens on"));
    }
    if let Some((arn, o)) = &certificate {
        if !acm_arn(arn) {
            return Err(r
                .error("certificate-arn", o, format!("`{arn}` is not an ACM certificate ARN such as `arn:aws:acm:eu-west-1:123456789012:certificate/0123abcd-…`"))
                .fix("copy the ARN from `aws acm list-certificates`"));
        }
    }
    if let (Some((l, o)), None) = (&listener, &certificate) {
        if l == "https" {
            return Err(r
                .error(
                    "listener",
                    o,
                    "an HTTPS listener needs a certificate".into(),
                )
                .fix("set `certificate-arn` to an ACM certificate of your domain, or `listener = \"http\"`"));
        }
    }
    if let (Some((l, o)), Some(_)) = (&listener, &certificate) {
        if l == "http" {
            return Err(r
                .error(
                    "certificate-arn",
                    o,
                    "`listener = \"http\"` serves no certificate".into(),
                )
                .fix("drop `listener` (a certificate makes it https), or drop `certificate-arn`"));
        }
    }
    Ok(Some(LoadBalancer {
        scheme: if scheme == "internal" {
            Scheme::Internal
        } else {
            Scheme::Public
        },
        certificate_arn: certificate.map(|(a, _)| a),
        url: None,
        shift: None,
    }))
}

fn acm_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == "acm"
        && !parts[3].is_empty()
        && parts[4].len() == 12
        && parts[5]
            .strip_prefix("certificate/")
            .is_some_and(|id| !id.is_empty())
}

/// A percentage key in `range`, or `default`; recorded either way.
fn percent(
    r: &mut Resolver,
    key: &'static str,
    default: f64,
    range: std::ops::RangeInclusive<f64>,
) -> Result<(f64, Option<Origin>), UserError> {
    match r.setting(key) {
        Some((Value::Float(p), o)) => {
            r.record(key, p, o.clone());
            if !range.contains(&p) {
                return Err(r.error(
                    key,
                    &o,
                    format!(
                        "{p}% is out of range; use {}–{}",
                        range.start(),
                        range.end()
                    ),
                ));
            }
            Ok((p, Some(o)))
        }
        _ => {
            r.record(key, default, Origin::default_value());
            Ok((default, None))
        }
    }
}

/// `deployment` and its keys; `balanced` is whether the service has a load balancer it made.
pub(super) fn deployment(r: &mut Resolver, balanced: bool) -> Result<Deployment, UserError> {
    let (name, origin) = r.str_or("deployment", || "rolling".into());
    let (canary_percent, canary_origin) = percent(r, "canary-percent", 10.0, 0.1..=100.0)?;
    let (canary_bake, _) = r.uint_at("canary-bake", 5, 0..=1440)?;
    let (step_percent, step_origin) = percent(r, "linear-step-percent", 10.0, 3.0..=100.0)?;
    let (linear_bake, _) = r.uint_at("linear-bake", 1, 0..=1440)?;
    let (bake_minutes, _) = r.uint_at("bake-time", 0, 0..=1440)?;
    let rollback_alarms = match r.setting("rollback-alarms") {
        Some((Value::StrList(l), o)) => {
            r.record("rollback-alarms", &l, o);
            l
        }
        _ => Vec::new(),
    };
    for (key, found, wanted) in [
        ("canary-percent", &canary_origin, "canary"),
        ("linear-step-percent", &step_origin, "linear"),
    ] {
        if let Some(o) = found {
            if name != wanted {
                return Err(r
                    .error(key, o, format!("`{key}` applies to deployment = \"{wanted}\", and this one is \"{name}\""))
                    .fix(format!("set `deployment = \"{wanted}\"`, or drop `{key}`")));
            }
        }
    }
    let strategy = match name.as_str() {
        "blue-green" => Strategy::BlueGreen,
        "canary" => Strategy::Canary {
            percent: canary_percent,
            bake_minutes: canary_bake,
        },
        "linear" => Strategy::Linear {
            step_percent,
            bake_minutes: linear_bake,
        },
        _ => Strategy::Rolling,
    };
    if strategy != Strategy::Rolling && !balanced {
        return Err(r
            .error(
                "deployment",
                &origin,
                format!("deployment = \"{name}\" shifts traffic between two target groups of a load balancer, and the service has none cargo-fargate made"),
            )
            .fix("set `load-balancer = \"public\"` (or \"internal\"), or `deployment = \"rolling\"`"));
    }
    Ok(Deployment {
        strategy,
        bake_minutes,
        rollback_alarms,
    })
}

/// `scale-on.cpu`, `.memory` and `.requests` as given, each checked against its range.
#[allow(clippy::type_complexity)]
fn scale_on(r: &mut Resolver) -> Result<[(&'static str, Option<(i64, Origin)>); 3], UserError> {
    let mut targets = [
        ("scale-on.cpu", None),
        ("scale-on.memory", None),
        ("scale-on.requests", None),
    ];
    for (key, found) in targets.iter_mut() {
        *found = r.opt_int(key);
        if let Some((v, o)) = found {
            let range = if *key == "scale-on.requests" {
                1..=1_000_000
            } else {
                1..=100
            };
            if !range.contains(v) {
                return Err(r.error(
                    key,
                    o,
                    format!("{v} is out of range; use {}–{}", range.start(), range.end()),
                ));
            }
        }
    }
    Ok(targets)
}

/// `min-count`, `max-count` and `scale-on.*`: None unless the service scales (max above min).
pub(super) fn scaling(
    r: &mut Resolver,
    kind: StageKind,
    desired: u32,
    max: (u32, Option<Origin>),
    balanced: bool,
) -> Result<Option<Scaling>, UserError> {
    let min = r.opt_int("min-count");
    let targets = scale_on(r)?;
    let first = min
        .as_ref()
        .map(|(_, o)| ("min-count", o.clone()))
        .or_else(|| {
            targets
                .iter()
                .find_map(|(k, f)| f.as_ref().map(|(_, o)| (*k, o.clone())))
        });
    let Some((key, origin)) = first else {
        return Ok(None);
    };
    if kind != StageKind::Service {
        return Err(r
            .error(
                key,
                &origin,
                "autoscaling keys are for kind = \"service\" (kind = \"web\" scales between `desired-count` and `max-count`)".into(),
            )
            .fix(format!("drop `{key}`, or set `kind = \"service\"`")));
    }
    let min_count = match &min {
        Some((n, o)) => {
            if !(0..=1000).contains(n) {
                return Err(r.error("min-count", o, format!("{n} is out of range; use 0–1000")));
            }
            *n as u32
        }
        None => desired,
    };
    if min_count > max.0 {
        let (_, o) = min
            .as_ref()
            .expect("a default min-count is desired-count ≤ max-count");
        return Err(r
            .error(
                "min-count",
                o,
                format!("min-count ({min_count}) is above max-count ({})", max.0),
            )
            .fix("set `max-count` to at least `min-count`"));
    }
    if let Some((_, o)) = &targets[2].1 {
        if !balanced {
            return Err(r
                .error(
                    "scale-on.requests",
                    o,
                    "requests per target are counted by a load balancer, and the service has none".into(),
                )
                .fix("set `load-balancer = \"public\"` (or `target-group-arn`), or scale on `cpu` or `memory`"));
        }
    }
    let value = |i: usize| targets[i].1.as_ref().map(|(v, _)| *v as u32);
    let (cpu, memory, requests) = (value(0), value(1), value(2));
    if cpu.is_none() && memory.is_none() && requests.is_none() {
        return Err(r
            .error(key, &origin, "autoscaling needs a metric to track".into())
            .fix("add `scale-on = { cpu = 70 }` (or memory, requests)"));
    }
    if max.0 == min_count {
        let at = max.1.clone().unwrap_or(origin);
        let shown = if at.source == Source::Default {
            key
        } else {
            "max-count"
        };
        return Err(r
            .error(
                shown,
                &at,
                format!(
                    "max-count ({}) leaves no room to scale above min-count ({min_count})",
                    max.0
                ),
            )
            .fix("set `max-count` above `min-count`"));
    }
    Ok(Some(Scaling {
        min: min_count,
        max: max.0,
        cpu,
        memory,
        requests,
    }))
}
