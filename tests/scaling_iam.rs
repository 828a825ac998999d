//! The IAM coverage of a service's autoscaling (`scale-on`) on the bench: what deploys, status and
//! teardown of a scaled service behind its load balancer call on Application Auto Scaling — the
//! scalable target registered with the project's tags, its tracking policies, the service-linked
//! role AWS makes for it — is exactly what the deployer policy allows, with the policy's tag
//! conditions evaluated on the tags each request sends and the scalable target carries
//! (scripts/bench/agent/autoscaling.py records them as IAM authorizes them).

mod common;

use common::*;
use serde_json::{json, Value};

/// The Application Auto Scaling statements of the deployer policy.
const SCALING_STATEMENTS: &[&str] = &[
    "NoResourceLevelScalingReads",
    "ScalableTargetRegisteredOnlyWithTheProjectsTag",
    "ScalingPoliciesOnlyOnTheProjectsScalableTargets",
    "ApplicationAutoScalingMakesItsEcsRoleOnce",
];
const JUDGED: &[&str] = &["application-autoscaling:", "iam:CreateServiceLinkedRole"];

/// The requests of `keys` (and the deployer's registry requests to the stage's repository) that
/// `policy` denies, of the actions `judged` keeps. EC2 requests are left out: the recorder does not
/// derive their resources (it records them against `*`), so no scoped policy allows them there.
fn denied_of(stage: &Stage, keys: &[&str], policy: &Value, judged: fn(&str) -> bool) -> Vec<Value> {
    let record = Record {
        keys: keys.iter().map(|k| k.to_string()).collect(),
        registry: Some(stage.registry(Some(DEPLOYER_CLIENTS))),
    };
    record.denied(policy, judged)
}

fn not_ec2(action: &str) -> bool {
    !action.starts_with("ec2:")
}

fn scaling(action: &str) -> bool {
    JUDGED.iter().any(|s| action.starts_with(s))
}

/// The recorded requests of `key` for `action`, oldest first.
fn records(key: &str, action: &str) -> Vec<Value> {
    recorder(&format!("/_bench/record?key={key}"), None)
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"] == action)
        .cloned()
        .collect()
}

fn without(policy: &Value, sid: &str) -> Value {
    let mut fewer = policy.clone();
    fewer["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["Sid"] != sid);
    assert_ne!(&fewer, policy, "{sid} is in the policy");
    fewer
}

/// A scaled service's first deploy (a new scalable target, tagged; cpu and requests policies), a
/// second (a new range on the existing target; the requests policy dropped), status, then
/// teardown: each request is allowed by the deployer policy (`--teardown` for teardown), each
/// Application Auto Scaling statement is needed by a recorded scaling call, and its tag
/// conditions decide: naming another project denies them, and a target tagged as another
/// project's is not registered over. Setup (the project's network) signs with a key of its own.
#[test]
fn the_deployer_policy_allows_the_scaling_calls_and_needs_each_of_its_statements() {
    let stage = Stage::new(
        "sci",
        "web-service",
        "docker",
        &[
            ("KIND", "service"),
            ("LOAD_BALANCER", "public"),
            ("DESIRED_COUNT", "1"),
            ("MAX_COUNT", "4"),
            ("SCALE_ON_CPU", "70"),
            ("HEALTH_CHECK_PATH", "/health"),
            ("SUBNETS", ""),
            ("SECURITY_GROUPS", ""),
        ],
    );
    ok(&stage.run_as(&key_of(&stage.name, "S"), &[], &["setup"]));
    let deploy = ["deploy", "--wait-timeout", "3m", "--message-format", "json"];
    let requests = [("SCALE_ON_REQUESTS", "500")];
    let first = json_result(&stage.run_as(&stage.key, &requests, &deploy));
    assert_eq!(first["service"]["action"], "created", "{first}");
    assert_eq!(
        first["service"]["scaling"]["policies"],
        json!(["cpu 70%", "requests 500/target"]),
        "{first}"
    );
    let second = json_result(&stage.run_as(&stage.key, &[("MAX_COUNT", "3")], &deploy));
    assert_eq!(
        second["service"]["scaling"]["policies"],
        json!(["cpu 70%"]),
        "{second}"
    );
    assert_eq!(second["service"]["scaling"]["max"], 3, "{second}");
    ok(&stage.run(&["status"]));

    // The scalable target, as Application Auto Scaling has it: tagged as the project's.
    let resource = format!("service/{}/{}", stage.family(), stage.family());
    let targets = aws(&[
        "application-autoscaling",
        "describe-scalable-targets",
        "--service-namespace",
        "ecs",
        "--resource-ids",
        &resource,
    ])["ScalableTargets"]
        .clone();
    let arn = targets[0]["ScalableTargetARN"]
        .as_str()
        .unwrap()
        .to_string();
    let tags = aws(&[
        "application-autoscaling",
        "list-tags-for-resource",
        "--resource-arn",
        &arn,
    ])["Tags"]
        .clone();
    assert_eq!(tags["cargo-fargate:project"], stage.name.as_str(), "{tags}");

    // What was recorded: the new target by `*` (AWS gives its ID), with the tags it is
    // registered with; the update by its ARN, with the tags it carries; the role AWS makes.
    let registers = records(&stage.key, "application-autoscaling:RegisterScalableTarget");
    assert_eq!(registers.len(), 2, "{registers:?}");
    assert!(
        registers[0]["resource"]
            .as_str()
            .unwrap()
            .ends_with(":scalable-target/*"),
        "{registers:?}"
    );
    assert_eq!(
        registers[0]["context"]["aws:RequestTag/cargo-fargate:project"],
        stage.name.as_str()
    );
    assert_eq!(registers[1]["resource"], arn.as_str(), "{registers:?}");
    assert_eq!(
        registers[1]["context"]["aws:ResourceTag/cargo-fargate:project"],
        stage.name.as_str()
    );
    for (action, n) in [
        ("application-autoscaling:TagResource", 2),
        ("application-autoscaling:PutScalingPolicy", 2),
        ("application-autoscaling:DeleteScalingPolicy", 1),
        ("iam:CreateServiceLinkedRole", 2),
    ] {
        assert_eq!(records(&stage.key, action).len(), n, "{action}");
    }

    // Every deploy request (and the deployer's pushes) is allowed, and teardown's by the
    // teardown policy.
    let policy = stage.deployer_policy(&[]);
    let none = Vec::<Value>::new();
    assert_eq!(
        denied_of(&stage, &[&stage.key], &policy, not_ec2),
        none,
        "{policy:#}"
    );

    let teardown_key = key_of(&stage.name, "T");
    ok(&stage.run_as(&teardown_key, &[], &["teardown", "--yes", "--force"]));
    let deregisters = records(
        &teardown_key,
        "application-autoscaling:DeregisterScalableTarget",
    );
    assert_eq!(deregisters.len(), 1, "{deregisters:?}");
    assert_eq!(deregisters[0]["resource"], arn.as_str());
    let teardown_policy = stage.deployer_policy(&["--teardown"]);
    let keys = [stage.key.as_str(), teardown_key.as_str()];
    assert_eq!(
        denied_of(&stage, &keys, &teardown_policy, not_ec2),
        none,
        "{teardown_policy:#}"
    );

    // Each scaling statement is needed by a scaling call.
    for sid in SCALING_STATEMENTS {
        let denied = denied_of(&stage, &keys, &without(&teardown_policy, sid), scaling);
        assert!(!denied.is_empty(), "no scaling call needs {sid}");
    }
    // The tag conditions decide: the same policy for another project's tag allows none of the
    // calls on the target, so a scalable target not tagged as the project's is out of reach.
    let other = teardown_policy
        .to_string()
        .replace(&format!("\"{}\"", stage.name), "\"another-project\"");
    let other: Value = serde_json::from_str(&other).unwrap();
    let denied: Vec<String> = denied_of(&stage, &keys, &other, scaling)
        .iter()
        .map(|d| d["action"].as_str().unwrap().to_string())
        .collect();
    for a in [
        "application-autoscaling:RegisterScalableTarget",
        "application-autoscaling:TagResource",
        "application-autoscaling:PutScalingPolicy",
        "application-autoscaling:DeleteScalingPolicy",
        "application-autoscaling:DeregisterScalableTarget",
    ] {
        assert!(denied.iter().any(|d| d == a), "{a} not denied: {denied:?}");
    }
    // A scalable target tagged as another project's is not registered over (nor re-tagged): with
    // the project's name in the target-tag condition changed, exactly the second deploy's
    // register of the existing target and its tagging are denied, not the first's of a new one.
    let mut foreign = teardown_policy.clone();
    for st in foreign["Statement"].as_array_mut().unwrap() {
        if st["Sid"] == "ScalableTargetRegisteredOnlyWithTheProjectsTag" {
            st["Condition"]["StringEqualsIfExists"]["aws:ResourceTag/cargo-fargate:project"] =
                json!("another-project");
        }
    }
    let denied: Vec<(String, String)> = denied_of(&stage, &keys, &foreign, scaling)
        .iter()
        .map(|d| {
            (
                d["action"].as_str().unwrap().into(),
                d["resource"].as_str().unwrap().into(),
            )
        })
        .collect();
    let register = "application-autoscaling:RegisterScalableTarget".to_string();
    let tag = "application-autoscaling:TagResource".to_string();
    assert_eq!(denied, vec![(register, arn.clone()), (tag, arn.clone())]);
}
