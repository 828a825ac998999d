//! A service's autoscaling (`min-count`, `max-count`, `scale-on`): an Application Auto Scaling
//! scalable target on its desired count and one target-tracking policy per metric, named
//! `<service>-cpu`, `-memory`, `-requests`. `deploy` brings them in line (changing only what
//! differs) and never sets the desired count of a scaled service again (see `request::update`).

use std::fmt;

use serde::Serialize;

use crate::aws::autoscaling::{resource_id, TrackingPolicy};
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Result, UserError};

/// The metrics `scale-on` names, as Application Auto Scaling's predefined metric types.
const METRICS: [(&str, &str); 3] = [
    ("cpu", "ECSServiceAverageCPUUtilization"),
    ("memory", "ECSServiceAverageMemoryUtilization"),
    ("requests", "ALBRequestCountPerTarget"),
];

#[derive(Debug, Clone, Serialize)]
pub struct ScalingReport {
    pub min: u32,
    pub max: u32,
    /// `cpu 70%`, `requests 1000/target`.
    pub policies: Vec<String>,
    /// What this deploy changed (empty: nothing).
    pub changes: Vec<String>,
}

impl ScalingReport {
    /// `1–4 tasks on cpu 70%, requests 500/target`.
    pub fn range(&self) -> String {
        format!(
            "{}–{} tasks on {}",
            self.min,
            self.max,
            self.policies.join(", ")
        )
    }
}

impl fmt::Display for ScalingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scaling          {}", self.range())?;
        if self.changes.is_empty() {
            writeln!(f, " (unchanged)")
        } else {
            writeln!(f, " ({})", self.changes.join(", "))
        }
    }
}

/// How a policy reads in a report.
pub fn describe(p: &TrackingPolicy) -> String {
    let short = METRICS
        .iter()
        .find(|(_, m)| *m == p.metric)
        .map_or(p.metric.as_str(), |(s, _)| s);
    if short == "requests" {
        format!("{short} {}/target", p.target)
    } else {
        format!("{short} {}%", p.target)
    }
}

/// The ALBRequestCountPerTarget label of the service's target group: `app/…/targetgroup/…`.
async fn request_label(aws: &Aws, config: &Config) -> Result<String> {
    let arn = config
        .service
        .target_group_arn
        .as_deref()
        .unwrap_or_default();
    let tg = aws.find_target_group(None, Some(arn)).await?;
    let lb = tg.as_ref().and_then(|t| t.load_balancers.first()).ok_or_else(|| {
        config
            .key_error(
                "scale-on.requests",
                format!("target group {arn} is behind no load balancer, so no requests are counted"),
            )
            .fix("add the target group to a listener of your load balancer, or scale on `cpu` or `memory`")
    })?;
    let part = |a: &str, kind: &str| a.split_once(kind).map(|(_, r)| format!("{kind}{r}"));
    match (part(lb, "app/"), part(arn, "targetgroup/")) {
        (Some(l), Some(t)) => Ok(format!("{l}/{t}")),
        _ => Err(
            UserError::new(format!("{lb} is not an Application Load Balancer"))
                .fix("scale on `cpu` or `memory`")
                .into(),
        ),
    }
}

/// The policies the configuration asks for.
async fn wanted(aws: &Aws, config: &Config) -> Result<Vec<TrackingPolicy>> {
    let Some(s) = &config.service.scaling else {
        return Ok(Vec::new());
    };
    let mut policies = Vec::new();
    for ((short, metric), target) in METRICS.iter().zip([s.cpu, s.memory, s.requests]) {
        let Some(target) = target else { continue };
        let resource_label = match *short {
            "requests" => Some(request_label(aws, config).await?),
            _ => None,
        };
        policies.push(TrackingPolicy {
            name: crate::names::scaling_policy(config, short),
            metric: metric.to_string(),
            target: target.into(),
            resource_label,
        });
    }
    Ok(policies)
}

/// Brings the scalable target and policies in line; None for a service that does not scale.
pub async fn apply(aws: &Aws, config: &Config) -> Result<Option<ScalingReport>> {
    let Some(s) = &config.service.scaling else {
        return Ok(None);
    };
    let resource = resource_id(&config.names.cluster, &crate::names::service(config));
    let want = wanted(aws, config).await?;
    let mut changes = Vec::new();
    let range = aws.scalable_target(&resource).await?;
    if range != Some((s.min as i32, s.max as i32)) {
        let tags = crate::names::stage_tags(config);
        aws.register_scalable_target(&resource, s.min, s.max, &tags)
            .await?;
        changes.push(match range {
            None => format!("scalable target {}–{}", s.min, s.max),
            Some((a, b)) => format!("range {a}–{b} → {}–{}", s.min, s.max),
        });
    }
    let have = aws.tracking_policies(&resource).await?;
    for p in &want {
        if !have.contains(p) {
            aws.put_tracking_policy(&resource, p).await?;
            changes.push(format!("policy {}", describe(p)));
        }
    }
    for p in &have {
        let ours = METRICS
            .iter()
            .any(|(short, _)| p.name == crate::names::scaling_policy(config, short));
        if ours && !want.iter().any(|w| w.name == p.name) {
            aws.delete_tracking_policy(&resource, &p.name).await?;
            changes.push(format!("removed policy {}", describe(p)));
        }
    }
    Ok(Some(ScalingReport {
        min: s.min,
        max: s.max,
        policies: want.iter().map(describe).collect(),
        changes,
    }))
}

/// What `status` shows: the range and policies found (None: not scaled).
pub async fn found(aws: &Aws, config: &Config) -> Result<Option<ScalingReport>> {
    if config.service.scaling.is_none() {
        return Ok(None);
    }
    let resource = resource_id(&config.names.cluster, &crate::names::service(config));
    let Some((min, max)) = aws.scalable_target(&resource).await? else {
        return Ok(None);
    };
    let policies = aws.tracking_policies(&resource).await?;
    Ok(Some(ScalingReport {
        min: min.max(0) as u32,
        max: max.max(0) as u32,
        policies: policies.iter().map(describe).collect(),
        changes: Vec::new(),
    }))
}

/// `teardown`: the policies, then the scalable target.
pub async fn remove(aws: &Aws, config: &Config) -> Result<bool> {
    let resource = resource_id(&config.names.cluster, &crate::names::service(config));
    if aws.scalable_target(&resource).await?.is_none() {
        return Ok(false);
    }
    for p in aws.tracking_policies(&resource).await? {
        aws.delete_tracking_policy(&resource, &p.name).await?;
    }
    aws.deregister_scalable_target(&resource).await?;
    Ok(true)
}
