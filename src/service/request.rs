//! The CreateService / UpdateService requests a stage's configuration asks for, as the API's JSON,
//! and what differs between a described service and them. Pure: unit-tested here, and every
//! request shape is checked against the ECS service model (tests/services.rs).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::config::Config;
use crate::steps::run::Network;

/// What a service should be: the configuration, the revision to run and the checked network.
pub struct Desired<'a> {
    pub config: &'a Config,
    pub task_definition_arn: &'a str,
    pub network: &'a Network,
    /// The container a target group sends traffic to (the task definition's main container).
    pub container: &'a str,
}

/// The tags on the service (and, by `propagateTags = SERVICE`, on its tasks).
pub fn tags(config: &Config) -> Vec<Value> {
    crate::names::stage_tags(config)
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

/// The settings CreateService and UpdateService share, under the names both requests (and
/// DescribeServices) use.
fn settings(d: &Desired) -> serde_json::Map<String, Value> {
    let s = &d.config.service;
    let mut m = serde_json::Map::new();
    m.insert("taskDefinition".into(), d.task_definition_arn.into());
    // An autoscaled service starts within its range; its count is the scaler's afterwards.
    let desired = match &s.scaling {
        Some(range) => s.desired_count.clamp(range.min, range.max),
        None => s.desired_count,
    };
    m.insert("desiredCount".into(), desired.into());
    m.insert("platformVersion".into(), s.platform_version.clone().into());
    m.insert(
        "networkConfiguration".into(),
        json!({"awsvpcConfiguration": {
            "subnets": d.network.subnets,
            "securityGroups": d.network.security_groups,
            "assignPublicIp": if d.network.assign_public_ip { "ENABLED" } else { "DISABLED" },
        }}),
    );
    let mut dc = serde_json::Map::new();
    dc.insert(
        "deploymentCircuitBreaker".into(),
        json!({"enable": true, "rollback": true}),
    );
    dc.insert("maximumPercent".into(), s.max_percent.into());
    dc.insert("minimumHealthyPercent".into(), s.min_healthy_percent.into());
    super::shift::configure(&s.deployment, &mut dc);
    m.insert("deploymentConfiguration".into(), Value::Object(dc));
    if let (Some(arn), Some(port)) = (&s.target_group_arn, s.container_port) {
        let mut lb =
            json!({"targetGroupArn": arn, "containerName": d.container, "containerPort": port});
        if let Some(shift) = s.load_balancer.as_ref().and_then(|l| l.shift.as_ref()) {
            lb["advancedConfiguration"] = super::shift::advanced(shift);
        }
        m.insert("loadBalancers".into(), json!([lb]));
        m.insert(
            "healthCheckGracePeriodSeconds".into(),
            s.health_check_grace_period.into(),
        );
    }
    m.insert("enableExecuteCommand".into(), s.exec.into());
    m.insert("propagateTags".into(), "SERVICE".into());
    m
}

/// The CreateService request.
pub fn create(d: &Desired) -> Value {
    let mut m = settings(d);
    m.insert("cluster".into(), d.config.names.cluster.clone().into());
    m.insert("serviceName".into(), crate::names::service(d.config).into());
    m.insert("launchType".into(), "FARGATE".into());
    m.insert("schedulingStrategy".into(), "REPLICA".into());
    m.insert("deploymentController".into(), json!({"type": "ECS"}));
    m.insert("tags".into(), Value::Array(tags(d.config)));
    Value::Object(m)
}

/// The UpdateService request: every setting, so the service ends as configured.
pub fn update(d: &Desired) -> Value {
    let mut m = settings(d);
    m.insert("cluster".into(), d.config.names.cluster.clone().into());
    m.insert("service".into(), crate::names::service(d.config).into());
    if !m.contains_key("loadBalancers") {
        // An empty list removes a target group the configuration no longer names.
        m.insert("loadBalancers".into(), json!([]));
    }
    if d.config.service.scaling.is_some() {
        // Never fight the scaler: an update leaves the desired count where it put it.
        m.remove("desiredCount");
    }
    Value::Object(m)
}

/// A list of strings (subnets, security groups) in a stable order, for comparing; not a list: `[]`.
pub(super) fn sorted(v: &Value) -> Value {
    let mut items: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    items.sort();
    json!(items)
}

/// The compared settings of a service or a request, with ECS's defaults filled in and lists in a
/// stable order, so that only real differences count.
pub fn projection(v: &Value) -> BTreeMap<&'static str, Value> {
    let net = &v["networkConfiguration"]["awsvpcConfiguration"];
    let dc = &v["deploymentConfiguration"];
    let breaker = &dc["deploymentCircuitBreaker"];
    let mut lbs: Vec<Value> = v["loadBalancers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|lb| {
                    let adv = &lb["advancedConfiguration"];
                    json!({
                        "targetGroupArn": lb["targetGroupArn"],
                        "containerName": lb["containerName"],
                        "containerPort": lb["containerPort"],
                        "alternateTargetGroupArn": adv["alternateTargetGroupArn"],
                        "productionListenerRule": adv["productionListenerRule"],
                        "roleArn": adv["roleArn"],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    lbs.sort_by_key(|l| l.to_string());
    let has_lb = !lbs.is_empty();
    let mut p = BTreeMap::new();
    p.insert("taskDefinition", v["taskDefinition"].clone());
    p.insert("desiredCount", v["desiredCount"].clone());
    p.insert(
        "platformVersion",
        v["platformVersion"]
            .as_str()
            .map_or(json!("LATEST"), |s| json!(s)),
    );
    p.insert("subnets", sorted(&net["subnets"]));
    p.insert("securityGroups", sorted(&net["securityGroups"]));
    p.insert(
        "assignPublicIp",
        net["assignPublicIp"]
            .as_str()
            .map_or(json!("DISABLED"), |s| json!(s)),
    );
    p.insert(
        "circuitBreaker",
        json!({
            "enable": breaker["enable"].as_bool().unwrap_or(false),
            "rollback": breaker["rollback"].as_bool().unwrap_or(false),
        }),
    );
    p.insert(
        "maximumPercent",
        dc["maximumPercent"]
            .as_i64()
            .map_or(json!(200), |n| json!(n)),
    );
    p.insert(
        "minimumHealthyPercent",
        dc["minimumHealthyPercent"]
            .as_i64()
            .map_or(json!(100), |n| json!(n)),
    );
    p.insert("loadBalancers", json!(lbs));
    p.insert("deploymentStrategy", super::shift::projection(dc));
    // ECS keeps a grace period only for a service with a load balancer.
    p.insert(
        "healthCheckGracePeriodSeconds",
        if has_lb {
            json!(v["healthCheckGracePeriodSeconds"].as_i64().unwrap_or(0))
        } else {
            Value::Null
        },
    );
    p.insert(
        "enableExecuteCommand",
        json!(v["enableExecuteCommand"].as_bool().unwrap_or(false)),
    );
    p.insert(
        "propagateTags",
        v["propagateTags"]
            .as_str()
            .map_or(json!("NONE"), |s| json!(s)),
    );
    p
}

/// One setting that differs: `name: from → to`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    pub setting: &'static str,
    pub from: Value,
    pub to: Value,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Value| match v {
            Value::String(s) => short_arn(s).to_string(),
            Value::Null => "none".into(),
            other => other.to_string(),
        };
        write!(
            f,
            "{}: {} → {}",
            self.setting,
            show(&self.from),
            show(&self.to)
        )
    }
}

/// `family:3` for a task definition ARN; anything else as it is.
pub fn short_arn(s: &str) -> &str {
    if s.contains(":task-definition/") {
        s.rsplit('/').next().unwrap_or(s)
    } else {
        s
    }
}

/// What UpdateService would change on the described service.
pub fn changes(current: &Value, request: &Value) -> Vec<Change> {
    let (from, to) = (projection(current), projection(request));
    let scaled = request["desiredCount"].is_null();
    to.into_iter()
        .filter(|(setting, _)| !(scaled && *setting == "desiredCount"))
        .filter_map(|(setting, want)| {
            let have = from.get(setting).cloned().unwrap_or(Value::Null);
            (have != want).then_some(Change {
                setting,
                from: have,
                to: want,
            })
        })
        .collect()
}

/// Whether the described service can be updated (ACTIVE) or has to be created (none, INACTIVE).
pub fn is_active(service: Option<&Value>) -> bool {
    service.is_some_and(|s| s["status"] == "ACTIVE")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        crate::config::test_config(&format!("kind = \"service\"\nports = [8080]\n{extra}"))
    }

    fn network() -> Network {
        Network {
            vpc: "vpc-1".into(),
            subnets: vec!["subnet-b".into(), "subnet-a".into()],
            security_groups: vec!["sg-1".into()],
            assign_public_ip: false,
        }
    }

    const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/app-dev:3";

    fn desired<'a>(config: &'a Config, network: &'a Network) -> Desired<'a> {
        Desired {
            config,
            task_definition_arn: TD,
            network,
            container: "app",
        }
    }

    #[test]
    fn create_has_the_breaker_the_network_and_tags() {
        let c = config("desired-count = 2\nexec = true");
        let n = network();
        let d = desired(&c, &n);
        let r = create(&d);
        assert_eq!(r["serviceName"], "app-dev");
        assert_eq!(r["desiredCount"], 2);
        assert_eq!(r["launchType"], "FARGATE");
        assert_eq!(
            r["deploymentConfiguration"]["deploymentCircuitBreaker"],
            json!({"enable": true, "rollback": true})
        );
        assert_eq!(
            r["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"],
            "DISABLED"
        );
        assert_eq!(r["enableExecuteCommand"], true);
        assert_eq!(r["propagateTags"], "SERVICE");
        assert!(r.get("loadBalancers").is_none());
        assert!(r.get("healthCheckGracePeriodSeconds").is_none());
        assert!(r["tags"]
            .as_array()
            .unwrap()
            .contains(&json!({"key": "cargo-fargate:stage", "value": "dev"})));
    }

    #[test]
    fn a_target_group_brings_the_container_port_and_grace_period() {
        let c = config("target-group-arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef\"\nhealth-check-grace-period = 30");
        let n = network();
        let d = desired(&c, &n);
        let r = update(&d);
        assert_eq!(r["loadBalancers"][0]["containerPort"], 8080);
        assert_eq!(r["loadBalancers"][0]["containerName"], "app");
        assert_eq!(r["healthCheckGracePeriodSeconds"], 30);
    }

    #[test]
    fn a_described_service_equal_to_the_request_has_no_changes() {
        let c = config("");
        let n = network();
        let d = desired(&c, &n);
        // As DescribeServices answers: extra fields, other list order, defaults left out.
        let described = json!({
            "serviceName": "app-dev", "status": "ACTIVE", "taskDefinition": TD, "desiredCount": 1,
            "runningCount": 1, "platformVersion": "LATEST", "propagateTags": "SERVICE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}},
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}, "maximumPercent": 200, "minimumHealthyPercent": 100, "alarms": {"enable": false}},
            "loadBalancers": [], "deployments": [], "events": []
        });
        assert_eq!(changes(&described, &update(&d)), vec![]);
        assert!(is_active(Some(&described)));

        let mut moved = described.clone();
        moved["taskDefinition"] =
            json!("arn:aws:ecs:us-east-1:123456789012:task-definition/app-dev:2");
        moved["deploymentConfiguration"]["deploymentCircuitBreaker"]["enable"] = json!(false);
        let found = changes(&moved, &update(&d));
        let names: Vec<&str> = found.iter().map(|c| c.setting).collect();
        assert_eq!(names, vec!["circuitBreaker", "taskDefinition"]);
        assert_eq!(
            found[1].to_string(),
            "taskDefinition: app-dev:2 → app-dev:3"
        );
    }

    #[test]
    fn an_autoscaled_service_starts_in_its_range_and_an_update_leaves_its_count_alone() {
        let c = config("min-count = 2\nmax-count = 6\nscale-on = { cpu = 60 }");
        let n = network();
        let d = desired(&c, &n);
        assert_eq!(create(&d)["desiredCount"], 2);
        let u = update(&d);
        assert!(u.get("desiredCount").is_none(), "{u}");
        // The scaler moved it to 5: not a change.
        let described = json!({
            "serviceName": "app-dev", "status": "ACTIVE", "taskDefinition": TD, "desiredCount": 5,
            "platformVersion": "LATEST", "propagateTags": "SERVICE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-a", "subnet-b"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}},
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}, "maximumPercent": 200, "minimumHealthyPercent": 100},
            "loadBalancers": []
        });
        assert_eq!(changes(&described, &u), vec![]);
    }
}
