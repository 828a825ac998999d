//! `cargo fargate iam policy`: every principal's policy and trust policy pass parliament and name
//! nothing outside the project; and on the bench, for each builder (docker, host, codebuild), a
//! service and a scheduled stage, every request the stage's commands make — API calls and the
//! image push's registry requests — is allowed by the generated deployer policy while the same
//! policy with any one statement removed is not; likewise `teardown` with `iam policy --teardown`,
//! and a build's and a task's registry requests with the CodeBuild and execution roles' policies.

mod common;
#[path = "iam/coverage.rs"]
mod coverage;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

const ACCOUNT: &str = "123456789012";
const PRINCIPALS: &[&str] = &["deployer", "codebuild", "execution", "task", "scheduler"];

fn policy_json(dir: &Path, args: &[&str]) -> Value {
    let o = command(
        dir,
        &[
            &[
                "iam",
                "policy",
                "--account",
                ACCOUNT,
                "--message-format",
                "json",
            ],
            args,
        ]
        .concat(),
    )
    .env("AWS_REGION", "eu-west-1")
    .output()
    .unwrap();
    json_result(&o)
}

fn statements(doc: &Value) -> Vec<Value> {
    doc["Statement"].as_array().cloned().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every resource is one of the project's: it carries the account (or is the stage's bucket, or an
/// AWS managed policy attached by configuration) and names a resource of the stage; `*` only where
/// the Sid says the actions take no resource.
fn assert_scoped(doc: &Value, names: &[&str]) {
    for st in statements(doc) {
        let sid = st["Sid"].as_str().unwrap_or_default().to_string();
        // EC2 resources and scalable targets have IDs, not names: the project's network and the
        // service's scalable target are scoped by their tag (or to tagging while creating, which
        // itself needs the tag).
        let condition = st["Condition"].to_string();
        let by_tag =
            condition.contains("cargo-fargate:project") || condition.contains("ec2:CreateAction");
        for r in strings(&st["Resource"]) {
            if r == "*" {
                assert!(sid.starts_with("NoResourceLevel"), "`*` in {sid}: {doc:#}");
                continue;
            }
            assert!(
                r.contains(ACCOUNT)
                    || r.starts_with("arn:aws:s3:::")
                    || r.starts_with("arn:aws:iam::aws:policy/"),
                "{r} is not of account {ACCOUNT}"
            );
            assert!(
                names.iter().any(|n| r.contains(n))
                    || (by_tag && (r.contains(":ec2:") || r.contains(":application-autoscaling:"))),
                "{r} (in {sid}) names none of the stage's resources {names:?}"
            );
        }
        for a in strings(&st["Action"]) {
            assert!(!a.contains('*'), "wildcard action {a} in {sid}");
        }
    }
}

/// Actions parliament does not know yet: its action list predates ECS Express Mode (November
/// 2025). Only these may be reported, as `UNKNOWN_ACTION`; anything else fails.
const NEWER_THAN_PARLIAMENT: &[&str] = &[
    "ecs:CreateExpressGatewayService",
    "ecs:UpdateExpressGatewayService",
    "ecs:DescribeExpressGatewayService",
    "ecs:DeleteExpressGatewayService",
];

#[test]
fn every_kind_of_stage_gets_a_parliament_clean_deployer_policy() {
    let stages = [
        ("iamsvc", "kind = \"service\"\nexec = true\n"),
        ("iamweb", "kind = \"web\"\n"),
        (
            "iamsch",
            "schedule = \"rate(1 hour)\"\nbuilder = \"host\"\n",
        ),
        ("iamtask", "keep-revisions = 0\n"),
        (
            "iamlb",
            "kind = \"service\"\nports = [8080]\nload-balancer = \"public\"\nmax-count = 4\nscale-on = { cpu = 70, requests = 500 }\n",
        ),
    ];
    for (name, settings) in stages {
        let dir = project(name, settings);
        for extra in [&[][..], &["--teardown"][..]] {
            let args = [&["--for", "deployer"][..], extra].concat();
            let doc = policy_json(dir.path(), &args)["policy"].clone();
            let findings: Vec<Value> = parliament(&doc)
                .into_iter()
                .filter(|f| {
                    !(f["issue"] == "UNKNOWN_ACTION"
                        && NEWER_THAN_PARLIAMENT
                            .contains(&f["location"]["string"].as_str().unwrap_or_default()))
                })
                .collect();
            assert_eq!(findings, Vec::<Value>::new(), "{name} {args:?}: {doc:#}");
            let bucket = format!("{name}-{ACCOUNT}-eu-west-1");
            let family = format!("{name}-dev");
            assert_scoped(
                &doc,
                &[
                    family.as_str(),
                    bucket.as_str(),
                    "AmazonECSInfrastructureRoleforExpressGatewayServices",
                    // the role Application Auto Scaling makes for ECS (scale-on), once per account
                    "AWSServiceRoleForApplicationAutoScaling_ECSService",
                ],
            );
            assert!(!doc.to_string().contains("FullAccess"));
        }
    }
}

#[test]
fn every_principals_policy_passes_parliament_and_stays_in_the_project() {
    let name = "iampol";
    let dir = project(
        name,
        r#"region = "eu-west-1"
builder = "codebuild"
task-role-policy-files = ["s3.json"]
secrets-kms-keys = ["arn:aws:kms:eu-west-1:123456789012:key/0f0e0d0c-1111-2222-3333-444455556666"]

[package.metadata.fargate.secrets]
DB = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:iampol/db"
TOKEN = "/iampol/token"
"#,
    );
    std::fs::write(
        dir.path().join("s3.json"),
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::iampol-data/*"}]}).to_string(),
    )
    .unwrap();
    let names = [
        "iampol-dev",
        "/ecs/iampol-dev",
        "iampol/db",
        "iampol/token",
        "iampol-data",
        ":key/",
        // the archive bucket's default name: {project}-{account}-{region}
        "iampol-123456789012-eu-west-1",
    ];
    for principal in PRINCIPALS {
        let r = policy_json(dir.path(), &["--for", principal]);
        assert_eq!(r["account"], ACCOUNT);
        let doc = &r["policy"];
        assert!(!statements(doc).is_empty(), "{principal}: {r}");
        assert_eq!(parliament(doc), Vec::<Value>::new(), "{principal}: {doc:#}");
        assert_scoped(doc, &names);
        assert!(!doc.to_string().contains("FullAccess"));

        let t = policy_json(dir.path(), &["--for", principal, "--trust"])["trust"].clone();
        // parliament lints identity policies: a trust policy has a Principal and no Resource.
        let findings: Vec<Value> = parliament(&t)
            .into_iter()
            .filter(|f| f["detail"] != "Statement contains neither Resource nor NotResource")
            .collect();
        assert_eq!(findings, Vec::<Value>::new(), "{principal} trust: {t:#}");
        let st = &t["Statement"][0];
        match *principal {
            "deployer" => assert_eq!(
                st["Principal"]["AWS"],
                format!("arn:aws:iam::{ACCOUNT}:root")
            ),
            "codebuild" => assert_eq!(st["Principal"]["Service"], "codebuild.amazonaws.com"),
            "scheduler" => assert_eq!(st["Principal"]["Service"], "scheduler.amazonaws.com"),
            _ => assert_eq!(st["Principal"]["Service"], "ecs-tasks.amazonaws.com"),
        }
        if *principal != "deployer" {
            assert_eq!(
                st["Condition"]["StringEquals"]["aws:SourceAccount"],
                ACCOUNT
            );
        }
    }

    // The deployer of a CodeBuild stage: the bucket's archive prefix, the build project and its
    // log group, and the build role passed only to CodeBuild.
    let d = policy_json(dir.path(), &["--for", "deployer"])["policy"].clone();
    let by_sid = |sid: &str| {
        statements(&d)
            .into_iter()
            .find(|s| s["Sid"] == sid)
            .unwrap_or_else(|| panic!("no {sid}: {d:#}"))
    };
    assert_eq!(
        by_sid("SourceArchives")["Resource"],
        format!("arn:aws:s3:::iampol-{ACCOUNT}-eu-west-1/iampol/dev/*")
    );
    assert_eq!(
        by_sid("BuildProject")["Resource"],
        format!("arn:aws:codebuild:eu-west-1:{ACCOUNT}:project/iampol-dev")
    );
    assert_eq!(
        by_sid("PassTheBuildRoleToCodeBuild")["Condition"]["StringEquals"]["iam:PassedToService"],
        "codebuild.amazonaws.com"
    );
    assert_eq!(
        by_sid("RunTaskOnlyInThisCluster")["Condition"]["ArnEquals"]["ecs:cluster"],
        format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:cluster/iampol-dev")
    );
    // The execution role reads exactly the two secrets and decrypts only through their services.
    let e = policy_json(dir.path(), &["--for", "execution"])["policy"].clone();
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "arn:aws:ssm:eu-west-1:{ACCOUNT}:parameter/iampol/token"
        )),
        "{e:#}"
    );
    assert!(text.contains("secret:iampol/db-??????"), "{e:#}");
    assert!(text.contains("kms:ViaService"), "{e:#}");

    // A docker-builder stage names no bucket or build project at all.
    set_fargate(dir.path(), name, "region = \"eu-west-1\"\n");
    let d = policy_json(dir.path(), &["--for", "deployer"])["policy"].to_string();
    assert!(!d.contains("s3:") && !d.contains("codebuild"), "{d}");

    // --out-dir writes both documents; --teardown adds the deletions and still passes.
    let out = tempfile::tempdir().unwrap();
    let r = policy_json(
        dir.path(),
        &[
            "--for",
            "deployer",
            "--teardown",
            "--out-dir",
            out.path().to_str().unwrap(),
        ],
    );
    assert_eq!(r["written"].as_array().unwrap().len(), 2, "{r}");
    let written: Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("iampol-dev-deployer-policy.json")).unwrap(),
    )
    .unwrap();
    assert!(written.to_string().contains("ecr:DeleteRepository"));
    assert_eq!(parliament(&written), Vec::<Value>::new());
    assert!(out.path().join("iampol-dev-deployer-trust.json").exists());
}

#[test]
fn iam_policy_without_a_region_is_one_clear_error() {
    let dir = project("iamnoregion", "");
    let o = command(
        dir.path(),
        &["iam", "policy", "--for", "deployer", "--account", ACCOUNT],
    )
    .env_remove("AWS_REGION")
    .env_remove("AWS_DEFAULT_REGION")
    .output()
    .unwrap();
    one_line_error(&o, "no AWS region is set");
    let o = command(
        dir.path(),
        &["iam", "policy", "--for", "deployer", "--account", "12"],
    )
    .env("AWS_REGION", "eu-west-1")
    .output()
    .unwrap();
    one_line_error(&o, "--account");
}

// ------------------------------------------------------------------------------- coverage ---
//
// Each case is one stage of examples/hello whose commands are signed with an access key of its own
// (common/coverage.rs), so records don't mix. Every API request of that key and every registry
// request the deployer made to the stage's repository must be allowed by the generated deployer
// policy, and that policy less any one statement must deny some of them. Then `teardown`, with a
// key of its own: the deployer policy does not allow it, `iam policy --teardown` allows all of
// the stage's requests and needs each of its statements.

const TASK_ACTIONS: &[&str] = &[
    "ecr:CreateRepository",
    "ecs:RegisterTaskDefinition",
    "ecs:RunTask",
    "iam:PassRole",
    "iam:CreateRole",
    "logs:CreateLogGroup",
    "ecs:ListServices",
    "ecs:DeregisterTaskDefinition",
];
const PUSH_ACTIONS: &[&str] = &[
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
];
const TEARDOWN_ACTIONS: &[&str] = &[
    "ecs:DeregisterTaskDefinition",
    "ecs:DeleteCluster",
    "ecr:DeleteRepository",
    "logs:DeleteLogGroup",
    "iam:DeleteRole",
];

/// A task role with nothing to grant: one line that says so, never `{}` (which IAM rejects).
#[test]
fn iam_policy_for_a_task_role_with_nothing_to_grant_says_so() {
    let dir = project("iamnothing", "");
    let o = command(
        dir.path(),
        &["iam", "policy", "--for", "task", "--account", ACCOUNT],
    )
    .env("AWS_REGION", "eu-west-1")
    .output()
    .unwrap();
    assert!(o.status.success(), "{o:?}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains("nothing to grant"), "{stdout}");
    assert!(!stdout.contains("{}"), "{stdout}");
}
