//! `rollback [--to REVISION]`: the service back to an earlier ACTIVE revision of its family, by
//! an UpdateService that ECS carries out with the service's own strategy (rolling, or the
//! blue-green, canary or linear shift, which `rollback` follows as `deploy` does).

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::status::active_service;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Location, Result, UserError};
use crate::output::Output;

/// The revision `rollback` goes to: `to`, else the newest ACTIVE revision below the current one.
pub fn rollback_target(current: i64, active: &[i64], to: Option<i64>) -> Result<i64, String> {
    match to {
        Some(r) if r == current => Err(format!("the service already runs revision {r}")),
        Some(r) if active.contains(&r) => Ok(r),
        Some(r) => Err(format!(
            "revision {r} is not an ACTIVE revision (active: {})",
            active
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => active
            .iter()
            .copied()
            .filter(|r| *r < current)
            .max()
            .ok_or_else(|| format!("there is no ACTIVE revision before {current} to go back to")),
    }
}

#[derive(Debug, Serialize)]
pub struct ChangeReport {
    pub service: String,
    pub what: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited: Option<super::wait::Waited>,
}

impl fmt::Display for ChangeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "service {}: {}", self.service, self.what)
    }
}

/// `rollback [--to REVISION]`.
pub async fn rollback(
    aws: &Aws,
    config: &Config,
    to: Option<i64>,
    wait: &super::deploy::WaitOptions,
    out: &Output,
) -> Result<ChangeReport> {
    let limit = wait.timeout;
    let service = active_service(aws, config, "rollback").await?;
    let name = crate::names::service(config);
    let current_arn = service["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let current: i64 = current_arn
        .rsplit(':')
        .next()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    let family = crate::names::family(config);
    // Oldest first, as rollback_target reads them.
    let mut active: Vec<i64> = aws
        .active_revisions(&family)
        .await?
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    active.sort_unstable();
    let target = rollback_target(current, &active, to).map_err(|what| {
        let mut e = UserError::new(what)
            .fix("pick one with --to REVISION (`cargo fargate status` shows what runs)");
        if to.is_some() {
            e = e.at(Location::Flag("--to".into()));
        }
        e
    })?;
    let arn = current_arn
        .rsplit_once(':')
        .map(|(base, _)| format!("{base}:{target}"))
        .unwrap_or_default();
    let body = serde_json::json!({"cluster": config.names.cluster, "service": name, "taskDefinition": arn});
    let updated = aws.update_service(&body).await?;
    out.status(
        "Rolling",
        format_args!("service {name} back to {family}:{target}"),
    );
    let mut report = ChangeReport {
        service: name.clone(),
        what: format!("{family}:{current} → {family}:{target}"),
        waited: None,
    };
    if wait.no_wait {
        return Ok(report);
    }
    // A traffic-shifting service goes back through its strategy too: follow the rule's weights.
    let rule = super::shift::rule_of(&updated);
    let shift = rule.as_deref().map(|r| (&config.service.deployment, r));
    if let Some(id) = super::wait::primary(&updated).and_then(|d| d["id"].as_str()) {
        report.waited = Some(
            super::wait::wait_shifting(
                aws,
                out,
                &super::wait::WaitInput {
                    cluster: &config.names.cluster,
                    service: &name,
                    deployment: id,
                    task_definition_arn: &arn,
                    definition: &Value::Null,
                    timeout: limit + super::shift::baked(&config.service.deployment),
                    poll: crate::steps::run::POLL,
                },
                shift,
            )
            .await?,
        );
    }
    Ok(report)
}
