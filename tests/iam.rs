//! `cargo fargate iam policy`: every principal's policy and trust policy pass parliament and name
//! nothing outside the project; and on the bench, every request a full deploy makes is allowed by
//! the generated deployer policy while the same policy with any one statement removed is not.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;

const ACCOUNT: &str = "123456789012";
const PRINCIPALS: &[&str] = &["deployer", "codebuild", "execution", "task", "scheduler"];

fn parliament(doc: &Value) -> Vec<Value> {
    let venv = env_var("BENCH_VENV");
    let out = std::process::Command::new(format!("{venv}/bin/parliament"))
        .args(["--string", &doc.to_string(), "--json"])
        .output()
        .expect("parliament runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("parliament prints JSON lines"))
        .collect()
}

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
                names.iter().any(|n| r.contains(n)),
                "{r} (in {sid}) names none of the stage's resources {names:?}"
            );
        }
        for a in strings(&st["Action"]) {
            assert!(!a.contains('*'), "wildcard action {a} in {sid}");
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

fn recorder(path: &str, body: Option<&Value>) -> Value {
    let endpoint = env_var("AWS_ENDPOINT_URL");
    let mut args = vec!["-s".to_string(), "--max-time".into(), "30".into()];
    if let Some(b) = body {
        args.extend([
            "-X".into(),
            "POST".into(),
            "-H".into(),
            "Content-Type: application/json".into(),
            "--data-binary".into(),
            b.to_string(),
        ]);
    }
    args.push(format!("{endpoint}{path}"));
    let o = std::process::Command::new("curl")
        .args(&args)
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| {
        panic!("the bench has no request recorder at {endpoint}{path} (restart it: scripts/bench.sh down && up): {}", stdout(&o))
    })
}

/// A full deploy (after setup), then what a user does next (ps, logs, doctor), all signed with an
/// access key of the test's own; returns that key and the generated deployer policy.
fn recorded_deploy(builder: &str) -> (String, Value) {
    let name = unique("cov");
    // 20 characters, as AWS (and moto) read an access key ID.
    let key = format!("AKIA{:0>16}", name.to_ascii_uppercase())[..20].to_string();
    let dir = copy_fixture(&repo().join("examples/hello"));
    let run = |args: &[&str]| -> std::process::Output {
        let mut cmd = if builder == "host" {
            host_bench_command(dir.path(), &format!("{name}-dev"), args)
        } else {
            bench_command(dir.path(), &format!("{name}-dev"), args)
        };
        cmd.env("CARGO_FARGATE_NAME", &name)
            .env("CARGO_FARGATE_SUBNETS", &net().subnet)
            .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg)
            .env("AWS_ACCESS_KEY_ID", &key)
            .output()
            .unwrap()
    };
    ok(&run(&["setup"]));
    let deployed = json_result(&run(&["deploy", "--message-format", "json"]));
    assert_eq!(deployed["exit_code"], 0, "{deployed}");
    ok(&run(&["ps", "--all"]));
    ok(&run(&["logs"]));
    let _ = run(&["doctor"]); // warnings are fine; its calls are what counts
    let policy = json_result(&run(&[
        "iam",
        "policy",
        "--for",
        "deployer",
        "--message-format",
        "json",
    ]))["policy"]
        .clone();
    (key, policy)
}

fn denied(key: &str, policy: &Value) -> Vec<Value> {
    let r = recorder(
        "/_bench/record/evaluate",
        Some(&json!({"key": key, "policy": policy})),
    );
    assert!(
        r["checked"].as_u64().unwrap() > 20,
        "too few requests recorded: {r}"
    );
    r["denied"].as_array().unwrap().clone()
}

fn assert_covered(builder: &str) {
    let (key, policy) = recorded_deploy(builder);
    let records = recorder(&format!("/_bench/record?key={key}"), None);
    let actions: std::collections::BTreeSet<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for must in [
        "ecr:CreateRepository",
        "ecs:RegisterTaskDefinition",
        "ecs:RunTask",
        "iam:PassRole",
        "iam:CreateRole",
        "logs:CreateLogGroup",
    ] {
        assert!(
            actions.contains(must),
            "{must} was not recorded: {actions:?}"
        );
    }
    assert_eq!(denied(&key, &policy), Vec::<Value>::new(), "{policy:#}");
    // Each statement is needed: without it, some recorded request is denied.
    let all = statements(&policy);
    for (i, st) in all.iter().enumerate() {
        let mut fewer = all.clone();
        fewer.remove(i);
        let without = json!({"Version": "2012-10-17", "Statement": fewer});
        assert!(
            !denied(&key, &without).is_empty(),
            "nothing a {builder} deploy does needs statement {}: {st:#}",
            st["Sid"]
        );
    }
}

#[test]
fn a_docker_deploy_makes_only_calls_the_deployer_policy_allows_and_needs_every_statement() {
    assert_covered("docker");
}

#[test]
fn a_host_builder_deploy_makes_only_calls_the_deployer_policy_allows() {
    assert_covered("host");
}
