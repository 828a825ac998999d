//! The IAM policies cargo-fargate writes, checked by the bench's IAM linter (parliament).

mod common;

use std::collections::BTreeMap;

use common::parliament;

use cargo_fargate::iam::roles::{secrets_policy, trust_policy};
use serde_json::{json, Value};

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

/// parliament finds nothing in the CodeBuild and scheduler roles' policies: the ones
/// `iam policy --for codebuild|scheduler` prints (the trust policy has no Resource, all it may say).
#[test]
fn codebuild_and_scheduler_role_policies_pass_parliament() {
    use cargo_fargate::iam::{codebuild as cb, scheduler as sched};
    let config =
        cargo_fargate::config::test_config("builder = \"codebuild\"\nschedule = \"rate(1 hour)\"");
    let identity = cargo_fargate::aws::Identity {
        account: "123456789012".into(),
        arn: "arn:aws:iam::123456789012:user/me".into(),
        region: "eu-west-1".into(),
        endpoint: None,
        credentials: String::new(),
    };
    let scope = sched::scope(
        &config,
        &identity,
        "eu-west-1",
        "arn:aws:iam::123456789012:role/app-dev-task",
        "arn:aws:iam::123456789012:role/app-dev-execution",
    );
    for (policy, trust) in [
        (
            cb::role_policy(&scope, &config).unwrap(),
            cb::trust_policy(&scope).unwrap(),
        ),
        (
            sched::run_task_policy(&scope, &config).unwrap(),
            sched::trust_policy(&scope).unwrap(),
        ),
    ] {
        assert_eq!(parliament(&policy), Vec::<Value>::new(), "{policy}");
        let findings: Vec<Value> = parliament(&trust)
            .into_iter()
            .filter(|f| f["detail"] != "Statement contains neither Resource nor NotResource")
            .collect();
        assert_eq!(findings, Vec::<Value>::new(), "{trust}");
    }
}
