//! `kind = "service"` on the bench: examples/web-service built by the Docker Engine, pushed to the
//! registry, registered with moto, and deployed as an ECS service that moto serves (the bench's
//! agent keeps what CreateService sends and completes each rollout at once: see
//! scripts/bench/agent/services.py). Results are read back with awscli, not with cargo-fargate.
//!
//! The wait over IN_PROGRESS, FAILED and rolled-back deployments is unit-tested in
//! src/service/wait.rs; Express Mode's requests are checked against the ECS service model in
//! tests/service_model.rs; a web stage's deploy and teardown run on the bench's Express Mode
//! stand-in in tests/setup.rs.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `cargo fargate <args>` on the bench as project `name`, a service in the tests' own VPC.
fn cf(dir: &Path, name: &str, args: &[&str]) -> Command {
    let mut cmd = service_command(dir, name, "service", args);
    cmd.env("CARGO_FARGATE_DESIRED_COUNT", "2")
        .env("CARGO_FARGATE_EXEC", "true");
    cmd
}

fn run_json(mut cmd: Command) -> Value {
    json_result(&cmd.output().unwrap())
}

#[test]
fn a_service_is_created_converges_follows_code_and_rolls_back_scales_and_is_deleted() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("svc");
    let family = format!("{name}-dev");

    // The plan names the service; nothing is created.
    let plan = run_json(cf(
        dir.path(),
        &name,
        &["deploy", "--dry-run", "--message-format", "json"],
    ));
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["package", "build", "push", "register", "service"]);
    let action = plan["steps"][4]["action"].as_str().unwrap();
    assert!(
        action.contains(&format!("create service {family}"))
            && action.contains("circuit breaker with rollback")
            && action.contains(&net().subnet),
        "{action}"
    );
    assert!(
        describe_service(&family).is_null(),
        "the dry run created the service"
    );

    // Created with the circuit breaker, the configured network and the pinned revision.
    let r = run_json(cf(
        dir.path(),
        &name,
        &["deploy", "--wait-timeout", "2m", "--message-format", "json"],
    ));
    assert_eq!(r["service"]["action"], "created", "{r}");
    assert_eq!(r["service"]["waited"]["rollout_state"], "COMPLETED", "{r}");
    let first_td = r["task_definition"]["arn"].as_str().unwrap().to_string();
    let s = describe_service(&family);
    assert_eq!(s["status"], "ACTIVE");
    assert_eq!(s["taskDefinition"], first_td.as_str());
    assert_eq!(s["desiredCount"], 2);
    assert_eq!(s["launchType"], "FARGATE");
    assert_eq!(
        s["deploymentConfiguration"]["deploymentCircuitBreaker"],
        serde_json::json!({"enable": true, "rollback": true}),
        "{s}"
    );
    assert_eq!(s["deploymentConfiguration"]["minimumHealthyPercent"], 100);
    assert_eq!(s["deploymentConfiguration"]["maximumPercent"], 200);
    let vpc = &s["networkConfiguration"]["awsvpcConfiguration"];
    assert_eq!(vpc["subnets"], serde_json::json!([net().subnet]));
    assert_eq!(vpc["securityGroups"], serde_json::json!([net().sg]));
    assert_eq!(vpc["assignPublicIp"], "DISABLED");
    assert_eq!(s["enableExecuteCommand"], true);
    assert_eq!(s["propagateTags"], "SERVICE");
    let deployment = s["deployments"][0]["id"].clone();

    // Unchanged: no UpdateService (the deployment and the events stay as they were).
    let again = run_json(cf(
        dir.path(),
        &name,
        &["deploy", "--wait-timeout", "2m", "--message-format", "json"],
    ));
    assert_eq!(again["service"]["action"], "unchanged", "{again}");
    assert_eq!(again["task_definition"]["registered"], false);
    let s2 = describe_service(&family);
    assert_eq!(s2["deployments"][0]["id"], deployment);
    assert_eq!(s2["events"], s["events"]);

    // A code change: a new image, a new revision pinned by its digest, and the service moved to it.
    let main = dir.path().join("src/main.rs");
    let code = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{code}\n// changed by the test\n")).unwrap();
    let changed = run_json(cf(
        dir.path(),
        &name,
        &["deploy", "--wait-timeout", "2m", "--message-format", "json"],
    ));
    assert_eq!(changed["service"]["action"], "updated", "{changed}");
    let new_td = changed["task_definition"]["arn"].as_str().unwrap();
    assert_ne!(new_td, first_td);
    assert!(changed["service"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["setting"] == "taskDefinition"));
    let s3 = describe_service(&family);
    assert_eq!(s3["taskDefinition"], new_td);
    assert_ne!(s3["deployments"][0]["id"], deployment);
    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        new_td,
    ]);
    let image = td["taskDefinition"]["containerDefinitions"][0]["image"]
        .as_str()
        .unwrap();
    assert!(
        image.contains("@sha256:") && image == changed["image_uri"].as_str().unwrap(),
        "{image}"
    );

    // status: the deployment, its rollout state and the revision.
    let st = run_json(cf(
        dir.path(),
        &name,
        &["status", "--message-format", "json"],
    ));
    assert_eq!(st["service"], family.as_str());
    assert_eq!(st["status"], "ACTIVE");
    assert_eq!(st["deployments"][0]["rollout_state"], "COMPLETED");
    assert_eq!(
        st["deployments"][0]["task_definition"],
        format!("{family}:2")
    );

    // rollback: back to the previous revision, as DescribeServices reports.
    let rb = run_json(cf(
        dir.path(),
        &name,
        &[
            "rollback",
            "--wait-timeout",
            "2m",
            "--message-format",
            "json",
        ],
    ));
    assert_eq!(rb["what"], format!("{family}:2 → {family}:1"), "{rb}");
    assert_eq!(
        describe_service(&family)["taskDefinition"],
        first_td.as_str()
    );
    let o = cf(dir.path(), &name, &["rollback", "--to", "7"])
        .output()
        .unwrap();
    one_line_error(&o, "--to");

    // scale.
    run_json(cf(
        dir.path(),
        &name,
        &[
            "scale",
            "3",
            "--wait-timeout",
            "1m",
            "--message-format",
            "json",
        ],
    ));
    let s4 = describe_service(&family);
    assert_eq!(s4["desiredCount"], 3);
    assert_eq!(s4["runningCount"], 3);

    // exec without the Session Manager plugin: one line that says so.
    let o = cf(dir.path(), &name, &["exec", "--", "ls"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    one_line_error(&o, "session-manager-plugin");

    // delete: refused without --yes when nobody can be asked, then scaled to 0 and deleted.
    let o = cf(dir.path(), &name, &["delete"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    one_line_error(&o, "--yes");
    assert_eq!(describe_service(&family)["status"], "ACTIVE");
    let d = run_json(cf(
        dir.path(),
        &name,
        &["delete", "--yes", "--message-format", "json"],
    ));
    assert_eq!(d["deleted"], true);
    let gone = describe_service(&family);
    assert!(gone.is_null() || gone["status"] == "INACTIVE", "{gone}");
    assert_eq!(gone["desiredCount"].as_i64().unwrap_or(0), 0);
}

#[test]
fn bad_service_input_is_one_line_and_creates_nothing() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("svb");
    let family = format!("{name}-dev");
    let nothing_created = || {
        assert!(
            !aws_try(&[
                "ecr",
                "describe-repositories",
                "--repository-names",
                &family
            ])
            .status
            .success(),
            "a repository was created"
        );
        assert!(registry_tags(&family).is_empty());
        assert!(describe_service(&family).is_null());
    };
    let tg = |account: &str, region: &str| {
        format!("arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/web/0123456789abcdef")
    };

    // A target group of another account, then of another region.
    for (arn, needle) in [
        (tg("210987654321", "us-east-1"), "account 210987654321"),
        (tg("123456789012", "eu-west-1"), "region eu-west-1"),
    ] {
        let o = cf(dir.path(), &name, &["deploy"])
            .env("CARGO_FARGATE_TARGET_GROUP_ARN", &arn)
            .output()
            .unwrap();
        let line = one_line_error(&o, needle);
        assert!(line.contains("target-group-arn"), "{line}");
        nothing_created();
    }

    // kind = "service" with a target group and no port, in the manifest: file:line and key.
    let manifest = dir.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "ports = [8080]\n",
        &format!(
            "target-group-arn = \"{}\"\n",
            tg("123456789012", "us-east-1")
        ),
    );
    std::fs::write(&manifest, text).unwrap();
    let o = cf(dir.path(), &name, &["deploy", "--dry-run"])
        .output()
        .unwrap();
    let line = one_line_error(&o, "needs the container port");
    assert!(
        line.contains("Cargo.toml:") && line.contains("target-group-arn"),
        "{line}"
    );
    nothing_created();
}
