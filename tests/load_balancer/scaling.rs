//! Autoscaling behind the load balancer: a scalable target with target-tracking policies that a
//! deploy never fights.

use super::*;

fn scalable_targets(stage: &str) -> Vec<Value> {
    let id = format!("service/{stage}/{stage}");
    aws(&[
        "application-autoscaling",
        "describe-scalable-targets",
        "--service-namespace",
        "ecs",
        "--resource-ids",
        &id,
    ])["ScalableTargets"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn scaling_policies(stage: &str) -> Vec<Value> {
    let id = format!("service/{stage}/{stage}");
    aws(&[
        "application-autoscaling",
        "describe-scaling-policies",
        "--service-namespace",
        "ecs",
        "--resource-id",
        &id,
    ])["ScalingPolicies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn autoscaling_is_a_scalable_target_with_tracking_policies_that_deploy_never_fights() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("las");
    let stage = format!("{name}-dev");
    let env = [
        ("CARGO_FARGATE_LOAD_BALANCER", "public"),
        ("CARGO_FARGATE_MIN_COUNT", "1"),
        ("CARGO_FARGATE_MAX_COUNT", "4"),
        ("CARGO_FARGATE_SCALE_ON_CPU", "70"),
        ("CARGO_FARGATE_SCALE_ON_REQUESTS", "500"),
    ];
    json_result(&cf(dir.path(), &name, &env, &["setup"]));
    let first = json_result(&cf(
        dir.path(),
        &name,
        &env,
        &["deploy", "--wait-timeout", "3m"],
    ));
    let scaling = &first["service"]["scaling"];
    assert_eq!(
        (scaling["min"].clone(), scaling["max"].clone()),
        (1.into(), 4.into()),
        "{first}"
    );
    assert_eq!(
        scaling["policies"],
        serde_json::json!(["cpu 70%", "requests 500/target"]),
        "{first}"
    );
    assert_eq!(scaling["changes"].as_array().unwrap().len(), 3, "{first}");

    // As Application Auto Scaling has them.
    let targets = scalable_targets(&stage);
    assert_eq!(targets.len(), 1, "{targets:?}");
    assert_eq!(targets[0]["MinCapacity"], 1);
    assert_eq!(targets[0]["MaxCapacity"], 4);
    assert_eq!(targets[0]["ScalableDimension"], "ecs:service:DesiredCount");
    let policies = scaling_policies(&stage);
    assert_eq!(policies.len(), 2, "{policies:?}");
    let by_metric = |m: &str| {
        policies
            .iter()
            .find(|p| {
                p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
                    ["PredefinedMetricType"]
                    == m
            })
            .unwrap_or_else(|| panic!("{m}: {policies:?}"))
            ["TargetTrackingScalingPolicyConfiguration"]
            .clone()
    };
    assert_eq!(
        by_metric("ECSServiceAverageCPUUtilization")["TargetValue"],
        70.0
    );
    let requests = by_metric("ALBRequestCountPerTarget");
    assert_eq!(requests["TargetValue"], 500.0);
    let label = requests["PredefinedMetricSpecification"]["ResourceLabel"]
        .as_str()
        .unwrap();
    assert!(
        label.starts_with(&format!("app/{stage}/"))
            && label.contains(&format!("/targetgroup/{stage}/")),
        "{label}"
    );

    // A second deploy changes nothing.
    let again = json_result(&cf(
        dir.path(),
        &name,
        &env,
        &["deploy", "--wait-timeout", "3m"],
    ));
    assert_eq!(again["service"]["action"], "unchanged", "{again}");
    assert_eq!(
        again["service"]["scaling"]["changes"],
        serde_json::json!([])
    );

    // The scaler moves the count (as Application Auto Scaling does: UpdateService); a deploy of a
    // new revision keeps it.
    aws(&[
        "ecs",
        "update-service",
        "--cluster",
        &stage,
        "--service",
        &stage,
        "--desired-count",
        "2",
    ]);
    let changed_env = [
        &env[..],
        &[
            ("CARGO_FARGATE_CPU", "512"),
            ("CARGO_FARGATE_MEMORY", "1024"),
        ],
    ]
    .concat();
    let updated = json_result(&cf(
        dir.path(),
        &name,
        &changed_env,
        &["deploy", "--wait-timeout", "3m"],
    ));
    assert_eq!(updated["service"]["action"], "updated", "{updated}");
    let changed = updated["service"]["changes"].to_string();
    assert!(!changed.contains("desiredCount"), "{changed}");
    let service = describe_service(&stage);
    assert_eq!(service["desiredCount"], 2, "{service}");

    // status shows the range and the policies.
    let status = json_result(&cf(dir.path(), &name, &env, &["status"]));
    assert_eq!(status["scaling"]["min"], 1, "{status}");
    assert_eq!(status["scaling"]["max"], 4, "{status}");
    assert_eq!(status["scaling"]["policies"].as_array().unwrap().len(), 2);
    assert!(
        status["url"].as_str().unwrap().starts_with("http://"),
        "{status}"
    );

    // teardown removes them (before the service).
    let down = json_result(&cf(
        dir.path(),
        &name,
        &env,
        &["teardown", "--yes", "--force"],
    ));
    assert!(down["items"].to_string().contains("\"scaling\""), "{down}");
    assert!(scalable_targets(&stage).is_empty());
    assert!(scaling_policies(&stage).is_empty());
}
