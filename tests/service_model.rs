//! Every request src/service/ sends, checked against the ECS service model of the bench's botocore
//! (the model the AWS CLI validates with): the bench's Express Mode is a stand-in, so this is where
//! its requests meet AWS's definition of them. And the exec policy against parliament.

use serde_json::{json, Value};

use cargo_fargate::config::test_config;
use cargo_fargate::service::{express, request};
use cargo_fargate::steps::run::Network;

fn venv() -> String {
    std::env::var("BENCH_VENV").unwrap_or_else(|_| {
        panic!("BENCH_VENV is not set: run `scripts/test.sh`, or `eval \"$(scripts/bench.sh env)\"` before `cargo test`")
    })
}

/// botocore's ParamValidator report for each (operation, request); empty when valid.
fn validate(requests: &[(&str, Value)]) -> Vec<String> {
    let script = r#"
import json, sys
import botocore.session
from botocore.validate import ParamValidator
model = botocore.session.get_session().get_service_model("ecs")
for line in sys.stdin:
    op, body = json.loads(line)
    report = ParamValidator().validate(body, model.operation_model(op).input_shape)
    print(json.dumps(report.generate_report() if report.has_errors() else ""))
"#;
    let input: String = requests
        .iter()
        .map(|(op, body)| format!("{}\n", json!([op, body])))
        .collect();
    let mut child = std::process::Command::new(format!("{}/bin/python", venv()))
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the bench's python runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "botocore's validator failed to run");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<String>(l).unwrap())
        .collect()
}

#[test]
fn every_request_matches_the_ecs_service_model() {
    let config = test_config(
        "kind = \"service\"\nports = [8080]\nexec = true\ntarget-group-arn = \"arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef\"\nhealth-check-grace-period = 30",
    );
    let network = Network {
        vpc: "vpc-1".into(),
        subnets: vec!["subnet-0123456789abcdef0".into()],
        security_groups: vec!["sg-0123456789abcdef0".into()],
        assign_public_ip: true,
    };
    let desired = request::Desired {
        config: &config,
        task_definition_arn: "arn:aws:ecs:us-east-1:123456789012:task-definition/app-dev:3",
        network: &network,
        container: "app",
    };
    let web = test_config(
        "kind = \"web\"\nports = [8080]\nhealth-check-path = \"/health\"\nmax-count = 3\n[package.metadata.fargate.environment]\nRUST_LOG = \"info\"",
    );
    let input = express::ExpressInput {
        config: &web,
        image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app-dev@sha256:0000000000000000000000000000000000000000000000000000000000000000",
        execution_role_arn: "arn:aws:iam::123456789012:role/app-dev-execution",
        task_role_arn: "arn:aws:iam::123456789012:role/app-dev-task",
        infrastructure_role_arn: "arn:aws:iam::123456789012:role/app-dev-infrastructure",
        network: &network,
    };
    let arn = express::service_arn(&web, "aws", "us-east-1", "123456789012");
    let (create_web, update_web) = (
        express::create_request(&input),
        express::update_request(&input, &arn),
    );
    // A canary behind the load balancer the tool makes: the strategy keys, alarms and the
    // advancedConfiguration ECS moves traffic with.
    let mut canary = test_config(
        "kind = \"service\"\nports = [8080]\nload-balancer = \"public\"\ndeployment = \"canary\"\ncanary-percent = 20\nbake-time = 2\nrollback-alarms = [\"api-5xx\"]",
    );
    canary.service.target_group_arn = Some(
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app-dev/0123456789abcdef"
            .into(),
    );
    canary.service.load_balancer.as_mut().unwrap().shift = Some(cargo_fargate::config::traffic::Shift {
        alternate_target_group_arn: "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app-dev-alt/0123456789abcdef".into(),
        production_listener_rule: "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/app-dev/0123456789abcdef/0123456789abcdef/0123456789abcdef".into(),
        role_arn: "arn:aws:iam::123456789012:role/app-dev-infrastructure".into(),
    });
    let shifting = request::Desired {
        config: &canary,
        ..desired
    };
    let (create_canary, update_canary) = (request::create(&shifting), request::update(&shifting));
    assert_eq!(
        create_canary["deploymentConfiguration"]["strategy"],
        "CANARY"
    );
    assert!(update_canary["loadBalancers"][0]["advancedConfiguration"]["roleArn"].is_string());
    let requests = vec![
        ("CreateService", request::create(&desired)),
        ("UpdateService", request::update(&desired)),
        ("CreateService", create_canary),
        ("UpdateService", update_canary),
        ("CreateExpressGatewayService", create_web),
        ("UpdateExpressGatewayService", update_web),
        (
            "DescribeExpressGatewayService",
            json!({"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/app-dev/app-dev"}),
        ),
        (
            "DeleteExpressGatewayService",
            json!({"serviceArn": "arn:aws:ecs:us-east-1:123456789012:service/app-dev/app-dev"}),
        ),
        // What rollback and scale send.
        (
            "UpdateService",
            json!({"cluster": "app-dev", "service": "app-dev", "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/app-dev:2"}),
        ),
        (
            "UpdateService",
            json!({"cluster": "app-dev", "service": "app-dev", "desiredCount": 3}),
        ),
        // And one that is wrong, so that silence above means something.
        (
            "CreateExpressGatewayService",
            json!({"serviceName": "x", "primaryContainer": {"containerPort": "80"}, "minTasks": 1}),
        ),
    ];
    let reports = validate(&requests);
    assert_eq!(reports.len(), requests.len());
    let (last, valid) = reports.split_last().unwrap();
    for ((op, body), report) in requests.iter().zip(valid) {
        assert_eq!(report, "", "{op} {body:#}");
    }
    assert!(
        last.contains("infrastructureRoleArn")
            && last.contains("minTasks")
            && last.contains("image"),
        "{last}"
    );
}

#[test]
fn the_exec_policy_passes_parliament() {
    let doc = cargo_fargate::iam::exec::policy();
    let out = std::process::Command::new(format!("{}/bin/parliament", venv()))
        .args(["--string", &doc.to_string(), "--json"])
        .output()
        .expect("parliament runs");
    let findings = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(findings, "", "{doc}");
}
