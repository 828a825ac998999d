//! A given target group (`target-group-arn`) whose settings make every deploy slow: ELB's
//! defaults hold each replaced task for 300 s of deregistration delay, and admit a new task only
//! after 5 health checks 30 s apart. Doctor names the setting and the seconds it costs against
//! the defaults of the target groups cargo-fargate makes; it never changes a given target group.

use super::Check;
use crate::aws::elb::TargetGroupSettings;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::Result;

/// Seconds a setting may cost over cargo-fargate's defaults before doctor says so.
const SLOW: i32 = 30;

/// The slow settings of `tg` for a task that stops within `stop_timeout`: (what, fix).
pub fn slow(tg: &TargetGroupSettings, stop_timeout: u32) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let stop = stop_timeout as i32;
    let extra = tg.deregistration_delay - stop;
    if extra >= SLOW {
        found.push((
            format!(
                "target group {}: deregistration_delay.timeout_seconds = {} keeps every replaced task draining {extra} s longer than its stop-timeout ({stop} s): each deploy waits that long per batch",
                tg.name, tg.deregistration_delay
            ),
            format!(
                "aws elbv2 modify-target-group-attributes --target-group-arn {} --attributes Key=deregistration_delay.timeout_seconds,Value={stop}",
                tg.arn
            ),
        ));
    }
    let (interval, _, healthy, _) = crate::setup::balancer::HEALTH_CHECK;
    let admitted = tg.interval * tg.healthy_threshold;
    let ours = interval * healthy;
    if admitted - ours >= SLOW {
        found.push((
            format!(
                "target group {}: health checks every {} s × healthy threshold {} admit a new task {admitted} s after it answers, {} s more than every {interval} s × {healthy}",
                tg.name, tg.interval, tg.healthy_threshold, admitted - ours
            ),
            format!(
                "aws elbv2 modify-target-group --target-group-arn {} --health-check-interval-seconds {interval} --healthy-threshold-count {healthy}",
                tg.arn
            ),
        ));
    }
    found
}

/// Warns about a given target group's slow settings; says it is fine otherwise.
pub async fn check(aws: &Aws, config: &Config, checks: &mut Vec<Check>) -> Result<()> {
    let Some(arn) = &config.service.target_group_arn else {
        return Ok(());
    };
    let Some(tg) = aws.find_target_group(None, Some(arn)).await? else {
        checks.push(Check::fail(
            "target-group",
            format!("target group {arn} does not exist"),
            "set `target-group-arn` to an existing target group, or use `load-balancer = \"public\"`",
        ));
        return Ok(());
    };
    let slow = slow(&tg, config.container.stop_timeout);
    if slow.is_empty() {
        checks.push(Check::ok(
            "target-group",
            format!(
                "{}: new tasks admitted after {} s, old ones drained for {} s",
                tg.name,
                tg.interval * tg.healthy_threshold,
                tg.deregistration_delay
            ),
        ));
    }
    for (what, fix) in slow {
        checks.push(Check::warn("target-group", what, fix));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tg(interval: i32, healthy: i32, delay: i32) -> TargetGroupSettings {
        TargetGroupSettings {
            arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/1".into(),
            name: "web".into(),
            port: 8080,
            health_check_path: "/".into(),
            interval,
            timeout: 5,
            healthy_threshold: healthy,
            unhealthy_threshold: 2,
            deregistration_delay: delay,
            load_balancers: Vec::new(),
            tags: Default::default(),
        }
    }

    #[test]
    fn elbs_defaults_cost_seconds_on_every_deploy() {
        let found = slow(&tg(30, 5, 300), 30);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0]
                .0
                .contains("deregistration_delay.timeout_seconds = 300")
                && found[0].0.contains("270 s longer"),
            "{found:?}"
        );
        assert!(
            found[1].0.contains("150 s after it answers, 140 s more"),
            "{found:?}"
        );
        assert!(slow(&tg(5, 2, 30), 30).is_empty());
        assert!(slow(&tg(10, 3, 20), 10).is_empty());
    }
}
