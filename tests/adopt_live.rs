//! `init --from-service` / `--from-task-definition` on the bench: a service and a task definition
//! made with awscli (not by cargo-fargate), taken over: `diff` right after `init` shows the image
//! only, and `deploy` updates the same service (same ARN) to the new image.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn cf(dir: &Path, repository: &str, args: &[&str]) -> Command {
    bench_command(dir, repository, args)
}

/// A task definition the tool did not render: its own container name, no tags of ours, an image
/// by tag (as teams push them), a log group and prefix of its own.
fn register_legacy(family: &str, image_by_tag: &str) -> Value {
    let containers = json!([{
        "name": "app",
        "image": image_by_tag,
        "essential": true,
        "environment": [{"name": "PORT", "value": "8080"}, {"name": "GREETING", "value": "legacy"}],
        "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
        "stopTimeout": 15,
        "logConfiguration": {"logDriver": "awslogs", "options": {
            "awslogs-group": format!("/legacy/{family}"), "awslogs-region": "us-east-1",
            "awslogs-stream-prefix": "app"}}
    }]);
    aws(&[
        "ecs",
        "register-task-definition",
        "--family",
        family,
        "--requires-compatibilities",
        "FARGATE",
        "--network-mode",
        "awsvpc",
        "--cpu",
        "256",
        "--memory",
        "512",
        "--execution-role-arn",
        execution_role(),
        "--container-definitions",
        &containers.to_string(),
        "--tags",
        "key=team,value=orders",
    ])["taskDefinition"]
        .clone()
}

#[test]
fn a_service_made_elsewhere_is_taken_over_in_place() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("tko");
    let repository = format!("{name}-img");
    // An image in the registry (pushed by the tool; the service and definition are not its).
    let push = json_result(
        &cf(
            dir.path(),
            &repository,
            &["push", "--message-format", "json"],
        )
        .output()
        .unwrap(),
    );
    let pinned = push["image_uri"].as_str().unwrap().to_string();
    let by_tag = format!(
        "{}:{}",
        pinned.split('@').next().unwrap(),
        push["tags"][0].as_str().unwrap()
    );

    let cluster = format!("{name}-c");
    let family = format!("{name}-legacy");
    let service = format!("{name}-orders");
    aws(&["ecs", "create-cluster", "--cluster-name", &cluster]);
    let td = register_legacy(&family, &by_tag);
    let net = net();
    let network = format!(
        "awsvpcConfiguration={{subnets=[{}],securityGroups=[{}],assignPublicIp=DISABLED}}",
        net.subnet, net.sg
    );
    let created = aws(&[
        "ecs",
        "create-service",
        "--cluster",
        &cluster,
        "--service-name",
        &service,
        "--task-definition",
        td["taskDefinitionArn"].as_str().unwrap(),
        "--desired-count",
        "1",
        "--launch-type",
        "FARGATE",
        "--network-configuration",
        &network,
    ]);
    let service_arn = created["service"]["serviceArn"]
        .as_str()
        .unwrap()
        .to_string();

    // Bad input first: one line each, nothing written.
    let before = std::fs::read(dir.path().join("Cargo.toml")).unwrap();
    let missing = format!("{cluster}/no-such-service");
    one_line_error(
        &cf(
            dir.path(),
            &repository,
            &["init", "--force", "--from-service", &missing],
        )
        .output()
        .unwrap(),
        "no service `no-such-service`",
    );
    let foreign = "arn:aws:ecs:us-east-1:999999999999:task-definition/theirs:1";
    one_line_error(
        &cf(
            dir.path(),
            &repository,
            &["init", "--force", "--from-task-definition", foreign],
        )
        .output()
        .unwrap(),
        "belongs to account 999999999999",
    );
    assert_eq!(
        std::fs::read(dir.path().join("Cargo.toml")).unwrap(),
        before
    );

    // init writes what reproduces the service and its definition.
    let from = format!("{cluster}/{service}");
    let out = ok(&cf(
        dir.path(),
        &repository,
        &["init", "--force", "--from-service", &from],
    )
    .output()
    .unwrap());
    assert!(out.contains("next: cargo fargate config"), "{out}");
    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
    for line in [
        format!("family = \"{family}\""),
        format!("service-name = \"{service}\""),
        format!("cluster = \"{cluster}\""),
        "adopt = true".to_string(),
        format!("task-template = \"{family}.task-definition.json\""),
    ] {
        assert!(manifest.contains(&line), "{line} not in:\n{manifest}");
    }
    ok(&cf(dir.path(), &repository, &["config"]).output().unwrap());

    // diff: the image is the only change.
    let diff = ok(&cf(dir.path(), &repository, &["diff", "--image", &pinned])
        .output()
        .unwrap());
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| {
            (l.starts_with('+') || l.starts_with('-'))
                && !l.starts_with("+++")
                && !l.starts_with("---")
        })
        .collect();
    assert_eq!(changed.len(), 2, "only the image line may change:\n{diff}");
    assert!(changed.iter().all(|l| l.contains("\"image\"")), "{diff}");
    // The service: the new revision, and the two settings cargo-fargate always deploys services
    // with (the circuit breaker with rollback, tags propagated from the service).
    let service_lines: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with("~ service"))
        .collect();
    assert_eq!(service_lines.len(), 3, "{diff}");
    for what in ["taskDefinition:", "circuitBreaker:", "propagateTags:"] {
        assert!(
            service_lines.iter().any(|l| l.contains(what)),
            "{what} not in:\n{diff}"
        );
    }

    // The same from the task definition alone (a revision named): a task stage, the image only.
    let td_dir = copy_fixture(&repo().join("examples/web-service"));
    let revision = format!("{family}:1");
    ok(&cf(
        td_dir.path(),
        &repository,
        &["init", "--force", "--from-task-definition", &revision],
    )
    .output()
    .unwrap());
    let written = std::fs::read_to_string(td_dir.path().join("Cargo.toml")).unwrap();
    assert!(
        !written.contains("service-name") && !written.contains("kind = "),
        "{written}"
    );
    let diff = ok(
        &cf(td_dir.path(), &repository, &["diff", "--image", &pinned])
            .output()
            .unwrap(),
    );
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| !l.starts_with("+++") && !l.starts_with("---"))
        .filter(|l| l.starts_with('+') || l.starts_with('-') || l.starts_with('~'))
        .collect();
    assert_eq!(changed.len(), 2, "only the image line may change:\n{diff}");
    assert!(changed.iter().all(|l| l.contains("\"image\"")), "{diff}");

    // deploy updates the same service to the new image.
    let r = json_result(
        &cf(
            dir.path(),
            &repository,
            &["deploy", "--wait-timeout", "2m", "--message-format", "json"],
        )
        .output()
        .unwrap(),
    );
    let s = aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        &cluster,
        "--services",
        &service,
    ])["services"][0]
        .clone();
    assert_eq!(s["serviceArn"], service_arn.as_str(), "{r}");
    let now = s["taskDefinition"].as_str().unwrap();
    assert!(
        now.contains(&format!("task-definition/{family}:2")),
        "{now}"
    );
    let td2 = aws(&["ecs", "describe-task-definition", "--task-definition", now])["taskDefinition"]
        .clone();
    // The image deploy built and pushed, pinned by digest, in the team's own container.
    assert_eq!(
        td2["containerDefinitions"][0]["image"], r["image_uri"],
        "{r}"
    );
    assert!(r["image_uri"].as_str().unwrap().contains("@sha256:"));
    assert_eq!(td2["containerDefinitions"][0]["name"], "app");
}
