//! ECS's native blue-green, canary and linear deployments (`deployment = …`): the parts of
//! CreateService / UpdateService that ask for them (`deploymentConfiguration.strategy` with its
//! bakes and percents, the alarms, `loadBalancers[].advancedConfiguration`), and following one as
//! `deploy` waits: ECS starts the new revision behind the alternate target group, then moves the
//! production listener rule's weights in the strategy's steps, bakes, and stops the old tasks.
//! The weights are read from the rule itself (DescribeRules), as ECS moves them.

use serde_json::{json, Value};

use crate::aws::Aws;
use crate::config::traffic::{Deployment, Shift, Strategy};
use crate::error::Result;
use crate::output::Output;

/// `deploymentConfiguration`'s strategy keys and alarms, added to the rolling settings.
pub fn configure(deployment: &Deployment, dc: &mut serde_json::Map<String, Value>) {
    let d = deployment;
    if !d.rollback_alarms.is_empty() {
        dc.insert(
            "alarms".into(),
            json!({"alarmNames": d.rollback_alarms, "enable": true, "rollback": true}),
        );
    }
    let name = match &d.strategy {
        Strategy::Rolling => return,
        Strategy::BlueGreen => "BLUE_GREEN",
        Strategy::Canary {
            percent,
            bake_minutes,
        } => {
            dc.insert(
                "canaryConfiguration".into(),
                json!({"canaryPercent": percent, "canaryBakeTimeInMinutes": bake_minutes}),
            );
            "CANARY"
        }
        Strategy::Linear {
            step_percent,
            bake_minutes,
        } => {
            dc.insert(
                "linearConfiguration".into(),
                json!({"stepPercent": step_percent, "stepBakeTimeInMinutes": bake_minutes}),
            );
            "LINEAR"
        }
    };
    dc.insert("strategy".into(), name.into());
    dc.insert("bakeTimeInMinutes".into(), d.bake_minutes.into());
}

/// The minutes a deployment bakes by design (the shift's bakes and `bake-time`), which
/// `--wait-timeout` does not count: a 60-minute bake must not fail a 15-minute wait.
pub fn baked(deployment: &Deployment) -> std::time::Duration {
    let shift = match &deployment.strategy {
        Strategy::Rolling | Strategy::BlueGreen => 0,
        Strategy::Canary { bake_minutes, .. } => u64::from(*bake_minutes),
        Strategy::Linear {
            step_percent,
            bake_minutes,
        } => ((100.0 / step_percent).ceil() as u64).saturating_sub(1) * u64::from(*bake_minutes),
    };
    let bake = match deployment.strategy {
        Strategy::Rolling => 0,
        _ => u64::from(deployment.bake_minutes),
    };
    std::time::Duration::from_secs(60 * (shift + bake))
}

/// `loadBalancers[].advancedConfiguration` of a traffic-shifting service.
pub fn advanced(shift: &Shift) -> Value {
    json!({
        "alternateTargetGroupArn": shift.alternate_target_group_arn,
        "productionListenerRule": shift.production_listener_rule,
        "roleArn": shift.role_arn,
    })
}

/// The production listener rule of a described traffic-shifting service.
pub fn rule_of(service: &Value) -> Option<String> {
    service["loadBalancers"]
        .as_array()?
        .iter()
        .find_map(|lb| lb["advancedConfiguration"]["productionListenerRule"].as_str())
        .map(str::to_string)
}

/// The strategy settings of a described service or a request, ECS's defaults filled in, for
/// `diff` and the no-change check.
pub fn projection(dc: &Value) -> Value {
    let strategy = dc["strategy"].as_str().unwrap_or("ROLLING");
    let pick = |key: &str| match strategy {
        "CANARY" if key == "canaryConfiguration" => dc[key].clone(),
        "LINEAR" if key == "linearConfiguration" => dc[key].clone(),
        _ => Value::Null,
    };
    let alarms = &dc["alarms"];
    json!({
        "strategy": strategy,
        "bakeTimeInMinutes": if strategy == "ROLLING" { Value::Null } else { dc["bakeTimeInMinutes"].clone() },
        "canaryConfiguration": pick("canaryConfiguration"),
        "linearConfiguration": pick("linearConfiguration"),
        "alarms": if alarms["enable"].as_bool() == Some(true) { alarms["alarmNames"].clone() } else { json!([]) },
    })
}

/// `status`'s view of a traffic-shifting service: its strategy and where traffic goes now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Traffic {
    pub strategy: String,
    /// (target group name, weight) of the production rule.
    pub weights: Vec<(String, i32)>,
}

impl std::fmt::Display for Traffic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: i32 = self.weights.iter().map(|(_, w)| *w).sum::<i32>().max(1);
        let shares: Vec<String> = self
            .weights
            .iter()
            .map(|(g, w)| format!("{}% {g}", w * 100 / total))
            .collect();
        write!(f, "{}: {}", self.strategy, shares.join(", "))
    }
}

/// The strategy and the production rule's weights of a described service; None when it rolls.
pub async fn traffic(aws: &Aws, service: &Value) -> Result<Option<Traffic>> {
    let dc = &service["deploymentConfiguration"];
    let strategy = dc["strategy"].as_str().unwrap_or("ROLLING");
    let Some(rule) = rule_of(service).filter(|_| strategy != "ROLLING") else {
        return Ok(None);
    };
    let name = |arn: &str| arn.split('/').nth(1).unwrap_or(arn).to_string();
    let weights = aws
        .rule(&rule)
        .await?
        .weights
        .iter()
        .map(|(g, w)| (name(g), *w))
        .collect();
    let strategy = match strategy {
        "CANARY" => format!(
            "canary {}% then the rest after {} min, bake {} min",
            dc["canaryConfiguration"]["canaryPercent"],
            dc["canaryConfiguration"]["canaryBakeTimeInMinutes"],
            dc["bakeTimeInMinutes"]
        ),
        "LINEAR" => format!(
            "linear {}% per step every {} min, bake {} min",
            dc["linearConfiguration"]["stepPercent"],
            dc["linearConfiguration"]["stepBakeTimeInMinutes"],
            dc["bakeTimeInMinutes"]
        ),
        _ => format!("blue-green, bake {} min", dc["bakeTimeInMinutes"]),
    };
    Ok(Some(Traffic { strategy, weights }))
}

/// What `deploy` says before the shift starts: the steps it will wait for.
pub fn plan_line(deployment: &Deployment, revision: &str) -> String {
    let bake = |m: u32| format!("{m} min");
    let steps = match &deployment.strategy {
        Strategy::Rolling => return format!("rolling to {revision}"),
        Strategy::BlueGreen => "all traffic at once".to_string(),
        Strategy::Canary {
            percent,
            bake_minutes,
        } => format!(
            "{percent}% first, the rest after a {} canary bake",
            bake(*bake_minutes)
        ),
        Strategy::Linear {
            step_percent,
            bake_minutes,
        } => format!(
            "{step_percent}% per step, {} between steps",
            bake(*bake_minutes)
        ),
    };
    format!(
        "{revision} starts behind the alternate target group; once healthy: {steps}; then a {} bake before the old tasks stop",
        bake(deployment.bake_minutes)
    )
}

/// Follows the production rule's weights during one deployment and says each step.
pub struct Follower<'a> {
    pub deployment: &'a Deployment,
    pub rule: String,
    pub revision: String,
    /// The target group that served when the deployment started; None until first read.
    old: Option<String>,
    last: Option<i32>,
}

impl<'a> Follower<'a> {
    pub fn new(deployment: &'a Deployment, rule: &str, revision: &str) -> Self {
        Follower {
            deployment,
            rule: rule.to_string(),
            revision: revision.to_string(),
            old: None,
            last: None,
        }
    }

    /// Reads the rule once and says a step the weights took since the last look.
    pub async fn poll(&mut self, aws: &Aws, out: &Output) -> Result<()> {
        let rule = aws.rule(&self.rule).await?;
        let total: i32 = rule.weights.iter().map(|(_, w)| *w).sum::<i32>().max(1);
        if self.old.is_none() {
            self.old = rule
                .weights
                .iter()
                .max_by_key(|(_, w)| *w)
                .map(|(g, _)| g.clone());
        }
        let old = self.old.as_deref().unwrap_or_default();
        let new: i32 = rule
            .weights
            .iter()
            .filter(|(g, _)| g != old)
            .map(|(_, w)| *w)
            .sum();
        let percent = (new * 100 + total / 2) / total;
        if self.last == Some(percent) || (self.last.is_none() && percent == 0) {
            self.last = Some(percent);
            return Ok(());
        }
        let back = self.last.is_some_and(|l| percent < l);
        self.last = Some(percent);
        out.status("Shifting", self.step_line(percent, back));
        Ok(())
    }

    fn step_line(&self, percent: i32, back: bool) -> String {
        let r = &self.revision;
        if back {
            return format!("traffic back to the old revision ({percent}% on {r}): rolling back");
        }
        if percent >= 100 {
            return match self.deployment.bake_minutes {
                0 => format!("100% on {r}; the old tasks stop now"),
                m => format!(
                    "100% on {r}; bake {m} min before the old tasks stop (rollback stays instant)"
                ),
            };
        }
        match &self.deployment.strategy {
            Strategy::Canary { bake_minutes, .. } => {
                format!("{percent}% to {r} (canary), bake {bake_minutes} min before the rest")
            }
            Strategy::Linear {
                step_percent,
                bake_minutes,
            } => format!(
                "{percent}% to {r}, bake {bake_minutes} min before the next {step_percent}%"
            ),
            _ => format!("{percent}% to {r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary() -> Deployment {
        Deployment {
            strategy: Strategy::Canary {
                percent: 10.0,
                bake_minutes: 2,
            },
            bake_minutes: 1,
            rollback_alarms: vec!["api-5xx".into()],
        }
    }

    #[test]
    fn a_canary_asks_ecs_for_its_percent_bakes_and_alarms() {
        let mut dc = serde_json::Map::new();
        configure(&canary(), &mut dc);
        let dc = Value::Object(dc);
        assert_eq!(dc["strategy"], "CANARY");
        assert_eq!(dc["bakeTimeInMinutes"], 1);
        assert_eq!(dc["canaryConfiguration"]["canaryPercent"], 10.0);
        assert_eq!(dc["canaryConfiguration"]["canaryBakeTimeInMinutes"], 2);
        assert_eq!(dc["alarms"]["alarmNames"][0], "api-5xx");
        assert_eq!(dc["alarms"]["rollback"], true);
        // the same request read back projects the same
        assert_eq!(projection(&dc), projection(&dc.clone()));
        assert_ne!(projection(&dc), projection(&json!({})));
    }

    #[test]
    fn the_bakes_are_not_counted_by_the_wait_timeout() {
        assert_eq!(baked(&canary()).as_secs(), 3 * 60);
        let linear = Deployment {
            strategy: Strategy::Linear {
                step_percent: 10.0,
                bake_minutes: 1,
            },
            ..Deployment::default()
        };
        assert_eq!(baked(&linear).as_secs(), 9 * 60);
        assert_eq!(baked(&Deployment::default()).as_secs(), 0);
    }

    #[test]
    fn rolling_asks_for_no_strategy_keys() {
        let mut dc = serde_json::Map::new();
        configure(&Deployment::default(), &mut dc);
        assert!(dc.is_empty());
        assert_eq!(
            projection(&Value::Object(dc)),
            projection(&json!({"strategy": "ROLLING"}))
        );
    }

    #[test]
    fn steps_say_what_deploy_waits_for() {
        let d = canary();
        let f = Follower::new(&d, "rule", "app-dev:7");
        assert_eq!(
            f.step_line(10, false),
            "10% to app-dev:7 (canary), bake 2 min before the rest"
        );
        assert!(f.step_line(100, false).contains("bake 1 min"));
        assert!(f.step_line(0, true).contains("rolling back"));
    }
}
