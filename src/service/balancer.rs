//! A service's load balancer as `deploy`, `status` and `diff` see it: the target group and the
//! load balancer `setup` made for `load-balancer = …` (src/setup/balancer.rs), found by name.

use crate::aws::Aws;
use crate::config::traffic::{LoadBalancer, Shift};
use crate::config::Config;
use crate::error::Result;
use crate::names;

pub fn refuse(config: &Config, what: &str, name: &str) -> anyhow::Error {
    config
        .key_error(
            "load-balancer",
            format!(
                "{what} {name} exists and is not tagged as stage {}'s by cargo-fargate",
                config.stage
            ),
        )
        .fix(format!(
            "delete or rename that {what}, or use it through `target-group-arn`"
        ))
        .into()
}

/// The URL `deploy` prints for a load balancer's DNS name.
pub fn url(lb: &LoadBalancer, dns_name: &str) -> String {
    match lb.certificate_arn {
        Some(_) => format!("https://{dns_name}"),
        None => format!("http://{dns_name}"),
    }
}

/// `deploy`, `status` and `diff` see the target group setup made as if it were configured, and
/// the URL; an error when setup has not made it yet.
pub async fn attach(aws: &Aws, config: &Config) -> Result<Option<Config>> {
    let Some(lb) = &config.service.load_balancer else {
        return Ok(None);
    };
    let name = names::load_balancer(config);
    let not_made = || -> anyhow::Error {
        config
            .key_error(
                "load-balancer",
                format!("the load balancer {name} is not made yet"),
            )
            .fix("run `cargo fargate setup` first (`--dry-run` shows what it makes)")
            .into()
    };
    let found = aws.find_load_balancer(&name).await?.ok_or_else(not_made)?;
    let tg = aws
        .find_target_group(Some(&name), None)
        .await?
        .ok_or_else(not_made)?;
    if !names::is_ours(config, &found.tags) {
        return Err(refuse(config, "load balancer", &name));
    }
    if !names::is_ours(config, &tg.tags) {
        return Err(refuse(config, "target group", &name));
    }
    let shift = match config.service.deployment.shifts() {
        true => Some(shift(aws, config, &found.arn, &tg.arn).await?),
        false => None,
    };
    let mut attached = config.clone();
    attached.service.target_group_arn = Some(tg.arn);
    if let Some(l) = attached.service.load_balancer.as_mut() {
        l.url = Some(url(lb, &found.dns_name));
        l.shift = shift;
    }
    Ok(Some(attached))
}

/// What a traffic-shifting deployment needs of what setup made: the alternate target group, the
/// production rule (forwarding to both groups) and the infrastructure role.
async fn shift(aws: &Aws, config: &Config, lb_arn: &str, tg_arn: &str) -> Result<Shift> {
    let not_made = |what: String| -> anyhow::Error {
        config
            .key_error(
                "deployment",
                format!("{what} of this deployment strategy is not made yet"),
            )
            .fix("run `cargo fargate setup` first (`--dry-run` shows what it makes)")
            .into()
    };
    let alternate = names::alternate_target_group(config);
    let alt = aws
        .find_target_group(Some(&alternate), None)
        .await?
        .ok_or_else(|| not_made(format!("the alternate target group {alternate}")))?;
    if !names::is_ours(config, &alt.tags) {
        return Err(refuse(config, "target group", &alternate));
    }
    let mut rule = None;
    for (listener, _, _) in aws.listeners(lb_arn).await? {
        if let Some(found) = aws
            .rule_at(&listener, names::PRODUCTION_RULE_PRIORITY)
            .await?
        {
            let groups: Vec<&str> = found.weights.iter().map(|(g, _)| g.as_str()).collect();
            if groups.contains(&tg_arn) && groups.contains(&alt.arn.as_str()) {
                rule = Some(found.arn);
            }
        }
    }
    let rule = rule.ok_or_else(|| not_made("the production listener rule".into()))?;
    let role = names::infrastructure_role(config);
    let found = aws
        .get_role(&role)
        .await?
        .ok_or_else(|| not_made(format!("the infrastructure role {role}")))?;
    Ok(Shift {
        alternate_target_group_arn: alt.arn,
        production_listener_rule: rule,
        role_arn: found.arn,
    })
}
