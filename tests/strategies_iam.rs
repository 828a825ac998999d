//! The IAM coverage of ECS's blue-green, canary and linear deployments on the bench: what a canary
//! stage's setup, deploys, status and teardown call (the alternate target group, the production
//! listener rule, the infrastructure role and its PassRole to ECS) is exactly what the deployer
//! policy allows (tests/strategies.rs shows the deployments themselves).

mod common;

use common::*;

/// A canary stage's calls (setup with its alternate target group, production rule and
/// infrastructure role; two deploys, one shifting traffic; status; teardown) are exactly what the
/// deployer policy allows: each is allowed, and without any of its load balancer or PassRole
/// statements some is denied.
#[test]
fn the_deployer_policy_allows_the_strategies_calls_and_needs_each_of_its_statements() {
    let stage = Stage::new(
        "sti",
        "web-service",
        "docker",
        &[
            ("KIND", "service"),
            ("LOAD_BALANCER", "public"),
            ("DEPLOYMENT", "canary"),
            ("CANARY_BAKE", "0"),
            ("DESIRED_COUNT", "1"),
            ("HEALTH_CHECK_PATH", "/health"),
            ("SUBNETS", ""),
            ("SECURITY_GROUPS", ""),
        ],
    );
    ok(&stage.run(&["setup"]));
    let first = stage.json(&["deploy", "--wait-timeout", "3m"]);
    assert_eq!(first["service"]["action"], "created", "{first}");
    let env = [("ENVIRONMENT", "GREETING=v2")];
    let o = stage.run_as(&stage.key, &env, &["deploy", "--wait-timeout", "3m"]);
    ok(&o);
    ok(&stage.run(&["status"]));
    let teardown_key = key_of(&stage.name, "T");
    ok(&stage.run_as(&teardown_key, &[], &["teardown", "--yes", "--force"]));

    let actions = actions_of(&stage.key);
    for a in [
        "elasticloadbalancing:CreateRule",
        "elasticloadbalancing:DescribeRules",
        "iam:PassRole",
        "iam:PutRolePolicy",
    ] {
        assert!(actions.contains(a), "{a} not recorded: {actions:?}");
    }
    let judged = ["elasticloadbalancing:", "iam:PassRole"];
    let policy = stage.deployer_policy(&[]);
    let keys = [stage.key.as_str()];
    assert_eq!(
        denied_of(&keys, &policy, &judged),
        Vec::<serde_json::Value>::new(),
        "{policy:#}"
    );
    let teardown_policy = stage.deployer_policy(&["--teardown"]);
    let both = [stage.key.as_str(), teardown_key.as_str()];
    assert_eq!(
        denied_of(&both, &teardown_policy, &judged),
        Vec::<serde_json::Value>::new(),
        "{teardown_policy:#}"
    );
    for sid in [
        "NoResourceLevelLoadBalancerReads",
        "TheStagesLoadBalancerTargetGroupAndListeners",
        "PassTheInfrastructureRoleToEcs",
    ] {
        let mut without = teardown_policy.clone();
        without["Statement"]
            .as_array_mut()
            .unwrap()
            .retain(|s| s["Sid"] != sid);
        assert_ne!(without, teardown_policy, "{sid} is in the policy");
        assert!(
            !denied_of(&both, &without, &judged).is_empty(),
            "nothing needs {sid}"
        );
    }
    // Removing the PassRole statement denies exactly the infrastructure role's PassRole.
    let mut without = policy.clone();
    without["Statement"]
        .as_array_mut()
        .unwrap()
        .retain(|s| s["Sid"] != "PassTheInfrastructureRoleToEcs");
    let denied = denied_of(&keys, &without, &["iam:PassRole"]);
    assert!(
        denied
            .iter()
            .all(|d| d.to_string().contains("-infrastructure")),
        "{denied:?}"
    );
}
