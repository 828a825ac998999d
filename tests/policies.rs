//! The IAM policies cargo-fargate writes, checked by the bench's IAM linter (parliament).

use std::collections::BTreeMap;

use cargo_fargate::steps::roles::{secrets_policy, trust_policy};
use serde_json::{json, Value};

/// parliament's findings on one policy document (JSON lines), from the bench's venv.
fn parliament(doc: &Value) -> Vec<Value> {
    let Ok(venv) = std::env::var("BENCH_VENV") else {
        panic!("BENCH_VENV is not set: run `scripts/test.sh`, or `eval \"$(scripts/bench.sh env)\"` before `cargo test`");
    };
    let out = std::process::Command::new(format!("{venv}/bin/parliament"))
        .args(["--string", &doc.to_string(), "--json"])
        .output()
        .expect("parliament runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("parliament prints JSON lines"))
        .collect()
}

/// parliament (the bench's IAM linter) finds nothing in the policies cargo-fargate writes.
#[test]
fn policy_documents_pass_parliament() {
    let secrets: BTreeMap<String, String> = [
        (
            "DB",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db",
        ),
        ("TOKEN", "/app/token"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let secrets_doc = secrets_policy(&secrets, "aws", "eu-west-1", "123456789012")
        .unwrap()
        .unwrap();
    assert_eq!(
        parliament(&secrets_doc),
        Vec::<Value>::new(),
        "{secrets_doc}"
    );
    // parliament lints identity policies: a trust policy has a Principal and no Resource,
    // which is all it may say about one.
    let trust = trust_policy("123456789012").unwrap();
    let findings: Vec<Value> = parliament(&trust)
        .into_iter()
        .filter(|f| f["detail"] != "Statement contains neither Resource nor NotResource")
        .collect();
    assert_eq!(findings, Vec::<Value>::new(), "{trust}");
    // And it does flag a bad policy, so silence above means something.
    let bad = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObjekt", "Resource": "*"}]});
    assert_eq!(parliament(&bad)[0]["issue"], "UNKNOWN_ACTION");
}

/// parliament finds nothing in the policy (the trust policy has no Resource, all it may say).
#[test]
fn codebuild_role_policies_pass_parliament() {
    let policy = cargo_fargate::build::codebuild::role::role_policy(
        &cargo_fargate::build::codebuild::role::Scope {
            partition: "aws",
            region: "eu-west-1",
            account: "123456789012",
            bucket: "hello-123456789012-eu-west-1",
            prefix: "hello/dev/",
            repository: "hello-dev",
            log_group: "/aws/codebuild/hello-dev",
        },
    )
    .unwrap();
    assert_eq!(parliament(&policy), Vec::<Value>::new(), "{policy}");
    let trust = cargo_fargate::build::codebuild::role::trust_policy("123456789012").unwrap();
    let findings: Vec<Value> = parliament(&trust)
        .into_iter()
        .filter(|f| f["detail"] != "Statement contains neither Resource nor NotResource")
        .collect();
    assert_eq!(findings, Vec::<Value>::new(), "{trust}");
}

/// parliament finds nothing in the scheduler role's policies.
#[test]
fn scheduler_policies_pass_parliament() {
    let policy = cargo_fargate::schedule::role::run_task_policy(
        &cargo_fargate::schedule::role::PolicyInput {
            partition: "aws",
            region: "eu-west-1",
            account: "123456789012",
            family: "app-prod",
            cluster: "app-prod",
            task_role_arn: "arn:aws:iam::123456789012:role/app-prod-task",
            execution_role_arn: "arn:aws:iam::123456789012:role/app-prod-execution",
        },
    )
    .unwrap();
    assert_eq!(parliament(&policy), Vec::<Value>::new(), "{policy}");
    // A trust policy has a Principal and no Resource, which is all parliament may say of it.
    let trust = cargo_fargate::schedule::role::trust_policy("123456789012").unwrap();
    let findings: Vec<Value> = parliament(&trust)
        .into_iter()
        .filter(|f| f["detail"] != "Statement contains neither Resource nor NotResource")
        .collect();
    assert_eq!(findings, Vec::<Value>::new(), "{trust}");
}
