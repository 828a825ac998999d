//! `cargo fargate doctor` on the bench: one test per thing the guides warn about, each seen as a
//! `[fail]`/`[warn]` line with its fix, in JSON, and in the exit code.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// `doctor --message-format json` with extra env; the result and the exit code.
fn doctor(dir: &Path, env: &[(&str, &str)]) -> (Value, i32) {
    let mut cmd = command(dir, &["doctor", "--message-format", "json"]);
    cmd.envs(bench());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    let result = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|v| v["type"] == "result")
        .unwrap_or_else(|| panic!("no result: {}\n{}", stdout(&o), stderr(&o)));
    (result, o.status.code().unwrap_or(-1))
}

fn check<'a>(r: &'a Value, name: &str, status: &str) -> &'a Value {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name && c["status"] == status)
        .unwrap_or_else(|| panic!("no {status} {name} check in {r:#}"))
}

#[test]
fn root_credentials_fail() {
    let dir = project(&unique("docroot"), &networked(""));
    // The bench answers GetCallerIdentity for keys starting with ROOT as the account's root user.
    let (r, code) = doctor(dir.path(), &[("AWS_ACCESS_KEY_ID", "ROOTAAAABBBBCCCCDDDD")]);
    let c = check(&r, "credentials", "fail");
    assert!(c["message"].as_str().unwrap().contains(":root"), "{c}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("iam policy --for deployer"),
        "{c}"
    );
    assert_eq!(code, 1);
    // Human output: the line and its fix.
    let o = command(dir.path(), &["doctor"])
        .envs(bench())
        .env("AWS_ACCESS_KEY_ID", "ROOTAAAABBBBCCCCDDDD")
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(out.contains("[fail] credentials"), "{out}");
    assert!(out.contains("fix: never deploy with root"), "{out}");
}

#[test]
fn an_access_key_older_than_90_days_warns() {
    let user = unique("docold");
    aws(&["iam", "create-user", "--user-name", &user]);
    let key = aws(&["iam", "create-access-key", "--user-name", &user])["AccessKey"].clone();
    let id = key["AccessKeyId"].as_str().unwrap();
    let o = std::process::Command::new("curl")
        .args(["-s", "--max-time", "30", "-X", "POST", "--data-binary"])
        .arg(format!("{{\"key\":\"{id}\",\"days\":120}}"))
        .arg(format!(
            "{}/_bench/iam/age-access-key",
            env_var("AWS_ENDPOINT_URL")
        ))
        .output()
        .unwrap();
    assert!(stdout(&o).contains("aged"), "{}", stdout(&o));
    let dir = project(&unique("docold"), &networked(""));
    let (r, _) = doctor(
        dir.path(),
        &[
            ("AWS_ACCESS_KEY_ID", id),
            (
                "AWS_SECRET_ACCESS_KEY",
                key["SecretAccessKey"].as_str().unwrap(),
            ),
        ],
    );
    assert!(
        r["identity"]["arn"]
            .as_str()
            .unwrap()
            .ends_with(&format!(":user/{user}")),
        "{r}"
    );
    let c = check(&r, "access-keys", "warn");
    assert!(c["message"].as_str().unwrap().contains(id), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("rotate"), "{c}");

    // A fresh key of the same kind is fine.
    let fresh = aws(&["iam", "create-access-key", "--user-name", &user])["AccessKey"].clone();
    aws(&[
        "iam",
        "update-access-key",
        "--user-name",
        &user,
        "--access-key-id",
        id,
        "--status",
        "Inactive",
    ]);
    let (r, _) = doctor(
        dir.path(),
        &[
            ("AWS_ACCESS_KEY_ID", fresh["AccessKeyId"].as_str().unwrap()),
            (
                "AWS_SECRET_ACCESS_KEY",
                fresh["SecretAccessKey"].as_str().unwrap(),
            ),
        ],
    );
    check(&r, "access-keys", "ok");
}

#[test]
fn subnets_of_the_default_vpc_fail() {
    let subnet = default_vpc_subnet();
    let dir = project(&unique("docvpc"), &format!("subnets = [\"{subnet}\"]\n"));
    let (r, code) = doctor(dir.path(), &[]);
    let c = check(&r, "subnets", "fail");
    assert!(c["message"].as_str().unwrap().contains(&subnet), "{c}");
    assert_eq!(code, 1);
    // The tests' own VPC passes.
    let dir = project(&unique("docvpc"), &networked(""));
    let (r, _) = doctor(dir.path(), &[]);
    check(&r, "subnets", "ok");
}

#[test]
fn a_public_bucket_fails() {
    let name = unique("docpub");
    // The archive bucket's default name: `{project}-{account}-{region}` (the bench's account and region).
    let bucket = format!("{name}-123456789012-us-east-1");
    aws(&["s3api", "create-bucket", "--bucket", &bucket]);
    let dir = project(&name, &networked("builder = \"codebuild\"\n"));
    let (r, code) = doctor(dir.path(), &[]);
    let c = check(&r, "bucket", "fail");
    assert!(c["message"].as_str().unwrap().contains("public"), "{c}");
    assert!(
        c["fix"]
            .as_str()
            .unwrap()
            .contains("put-public-access-block"),
        "{c}"
    );
    assert_eq!(code, 1);
    aws(&[
        "s3api", "put-public-access-block", "--bucket", &bucket, "--public-access-block-configuration",
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
    ]);
    let (r, _) = doctor(dir.path(), &[]);
    check(&r, "bucket", "ok");
}

#[test]
fn a_role_with_the_wrong_trust_fails() {
    let role = unique("cf-doc-trust-");
    let arn = make_role(&role, "ec2.amazonaws.com");
    let dir = project(
        &unique("doctrust"),
        &networked(&format!("task-role = \"{arn}\"\n")),
    );
    let (r, code) = doctor(dir.path(), &[]);
    let c = check(&r, "roles", "fail");
    assert!(c["message"].as_str().unwrap().contains(&role), "{c}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("ecs-tasks.amazonaws.com"),
        "{c}"
    );
    assert!(c["fix"].as_str().unwrap().contains("--trust"), "{c}");
    assert_eq!(code, 1);
    // The given execution role of the fixtures trusts ECS tasks.
    assert!(
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["check"] == "roles" && c["status"] == "ok"),
        "{r:#}"
    );
}

#[test]
fn a_secret_that_does_not_exist_fails() {
    let name = unique("docsec");
    let present = format!("/{name}/present");
    let unreadable = format!("/{name}/unreadable");
    for parameter in [&present, &unreadable] {
        aws(&[
            "ssm",
            "put-parameter",
            "--name",
            parameter,
            "--type",
            "SecureString",
            "--value",
            "s3cr3t-value",
        ]);
    }
    // An execution role of its own that may read `present` only (the bench's policy simulator
    // evaluates it, as IAM does).
    let role = format!("{name}-exec");
    let arn = make_role(&role, "ecs-tasks.amazonaws.com");
    let read = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "ssm:GetParameters",
        "Resource": format!("arn:aws:ssm:us-east-1:123456789012:parameter{present}")}]});
    aws(&[
        "iam",
        "put-role-policy",
        "--role-name",
        &role,
        "--policy-name",
        "secrets",
        "--policy-document",
        &read.to_string(),
    ]);
    let n = net();
    let dir = project(
        &name,
        &format!("subnets = [\"{}\"]\nsecurity-groups = [\"{}\"]\nexecution-role = \"{arn}\"\n\n[package.metadata.fargate.secrets]\nPRESENT = \"{present}\"\nUNREADABLE = \"{unreadable}\"\nMISSING = \"/{name}/missing\"\n", n.subnet, n.sg),
    );
    let (r, code) = doctor(dir.path(), &[]);
    let c = check(&r, "secrets", "fail");
    assert!(c["message"].as_str().unwrap().contains("MISSING"), "{c}");
    assert!(c["fix"].as_str().unwrap().contains("put-parameter"), "{c}");
    let ok = check(&r, "secrets", "ok");
    assert!(ok["message"].as_str().unwrap().contains("PRESENT"), "{ok}");
    assert!(
        ok["message"]
            .as_str()
            .unwrap()
            .contains("the execution role may read it"),
        "{ok}"
    );
    let denied = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "secrets" && c["message"].as_str().unwrap().contains("UNREADABLE"))
        .unwrap_or_else(|| panic!("no UNREADABLE check in {r:#}"));
    assert_eq!(denied["status"], "fail", "{denied}");
    assert!(
        denied["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{arn} may not ssm:GetParameters it")),
        "{denied}"
    );
    assert_eq!(code, 1);
    // Never the value.
    assert!(!r.to_string().contains("s3cr3t-value"));
}

#[test]
fn the_policy_simulator_says_whether_the_caller_may_deploy() {
    // An IAM user with the generated deployer policy (managed: too long for an inline one); the
    // bench's simulator (scripts/bench/agent/simulate.py) evaluates it as IAM does.
    let user = unique("docsim");
    aws(&["iam", "create-user", "--user-name", &user]);
    let key = aws(&["iam", "create-access-key", "--user-name", &user])["AccessKey"].clone();
    let signing = [
        ("AWS_ACCESS_KEY_ID", key["AccessKeyId"].as_str().unwrap()),
        (
            "AWS_SECRET_ACCESS_KEY",
            key["SecretAccessKey"].as_str().unwrap(),
        ),
    ];
    let dir = project(&unique("docsim"), &networked(""));

    // No policy at all: IAM refuses it the simulator; doctor says what it could not check.
    let (r, _) = doctor(dir.path(), &signing);
    let c = check(&r, "permissions", "warn");
    assert!(
        c["message"].as_str().unwrap().contains("not available"),
        "{c}"
    );

    let policy = json_result(
        &command(
            dir.path(),
            &[
                "iam",
                "policy",
                "--for",
                "deployer",
                "--message-format",
                "json",
            ],
        )
        .envs(bench())
        .envs(signing)
        .output()
        .unwrap(),
    )["policy"]
        .clone();
    let arn = aws(&[
        "iam",
        "create-policy",
        "--policy-name",
        &user,
        "--policy-document",
        &policy.to_string(),
    ])["Policy"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    aws(&[
        "iam",
        "attach-user-policy",
        "--user-name",
        &user,
        "--policy-arn",
        &arn,
    ]);
    let (r, _) = doctor(dir.path(), &signing);
    let c = check(&r, "permissions", "ok");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains(&format!("user/{user} may do the")),
        "{c}"
    );

    // A Deny on top: the simulator names the refused call.
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"ecr:PutImage","Resource":"*"}]}"#;
    aws(&[
        "iam",
        "put-user-policy",
        "--user-name",
        &user,
        "--policy-name",
        "no-push",
        "--policy-document",
        deny,
    ]);
    let (r, code) = doctor(dir.path(), &signing);
    let c = check(&r, "permissions", "fail");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("may not: ecr:PutImage on arn:aws:ecr:"),
        "{c}"
    );
    assert_eq!(code, 1);
}
