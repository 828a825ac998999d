//! Services that really run, on the bench: examples/web-service as `kind = "service"` behind a target
//! group served by the bench's HAProxy (scripts/bench/agent/lb.py), each task in its own network
//! namespace (agent/network.py), rolled out by the agent's scheduler (agent/rollout.py). What a user
//! sees is read through the load balancer, at the tasks' own addresses and with awscli.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `cargo fargate <args>` as project `name`, a one-task service behind target group `tg`.
fn cf(dir: &Path, name: &str, tg: &str, args: &[&str]) -> Command {
    let mut cmd = service_command(dir, name, "service", args);
    cmd.env("CARGO_FARGATE_DESIRED_COUNT", "1")
        .env("CARGO_FARGATE_TARGET_GROUP_ARN", tg)
        .env("CARGO_FARGATE_HEALTH_CHECK_GRACE_PERIOD", "10");
    cmd
}

#[test]
fn a_service_answers_through_its_load_balancer_rolls_out_without_a_failed_request_and_a_crash_is_rolled_back(
) {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("ro");
    let cluster = format!("{name}-dev");
    let tg = fast_target_group(&name);
    let deploy = || {
        let args = ["deploy", "--wait-timeout", "3m", "--message-format", "json"];
        json_result(&cf(dir.path(), &name, &tg, &args).output().unwrap())
    };

    // Created: the task answers through the load balancer and at its own address.
    let started = Instant::now();
    let first = deploy();
    assert_eq!(
        first["service"]["waited"]["rollout_state"], "COMPLETED",
        "{first}"
    );
    eprintln!("first deploy: {:?}", started.elapsed());
    let lb = balancer(&tg);
    assert_eq!(http_get(&lb, &lb, "/health").unwrap(), (200, "ok\n".into()));
    assert_eq!(
        http_get(&lb, &lb, "/").unwrap(),
        (200, "Hello from cargo-fargate\n".into())
    );
    let addresses = task_addresses(&cluster);
    assert_eq!(addresses.len(), 1, "{addresses:?}");
    let at = format!("{}:8080", addresses[0]);
    assert_eq!(http_get(&at, &at, "/health").unwrap().0, 200);
    assert_eq!(target_states(&tg), [(at, "healthy".to_string())]);
    // The container's own health check (the binary with --health) reports HEALTHY.
    let task = aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &cluster,
        "--tasks",
        aws(&[
            "ecs",
            "list-tasks",
            "--cluster",
            &cluster,
            "--service-name",
            &cluster,
        ])["taskArns"][0]
            .as_str()
            .unwrap(),
    ])["tasks"][0]
        .clone();
    assert_eq!(task["healthStatus"], "HEALTHY", "{task}");
    assert_eq!(task["containers"][0]["healthStatus"], "HEALTHY", "{task}");
    // status agrees with the tasks.
    let st = json_result(
        &cf(
            dir.path(),
            &name,
            &tg,
            &["status", "--message-format", "json"],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(st["running"], 1, "{st}");
    let running: Vec<&Value> = st["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["last_status"] == "RUNNING")
        .collect();
    assert_eq!(running.len(), 1, "{st}");
    assert_eq!(running[0]["health"], "HEALTHY", "{st}");
    assert_eq!(running[0]["address"], addresses[0].as_str(), "{st}");
    let ps = json_result(
        &cf(dir.path(), &name, &tg, &["ps", "--message-format", "json"])
            .output()
            .unwrap(),
    );
    let ps_running = ps["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["last_status"] == "RUNNING")
        .count();
    assert_eq!(ps_running, 1, "{ps}");

    // A second deploy changes nothing.
    let again = deploy();
    assert_eq!(again["service"]["action"], "unchanged", "{again}");

    // A code change rolls out while requests keep coming: none fails.
    let main = dir.path().join("src/main.rs");
    let code = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, format!("{code}\n// changed by the test\n")).unwrap();
    let traffic = Traffic::start(&lb, &lb, Duration::from_millis(20));
    let started = Instant::now();
    let changed = deploy();
    let rollout = started.elapsed();
    let (answers, failed) = traffic.finish();
    let answered = answers.len();
    assert_eq!(changed["service"]["action"], "updated", "{changed}");
    assert_eq!(changed["service"]["waited"]["rollout_state"], "COMPLETED");
    eprintln!(
        "rollout: {rollout:?}, {answered} requests answered, {} failed",
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert!(answered > 10, "{answered}");
    let new_td = changed["task_definition"]["arn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        describe_service(&cluster)["taskDefinition"],
        new_td.as_str()
    );
    assert_eq!(task_addresses(&cluster).len(), 1);

    // A revision that crashes at start: deploy fails naming why, the breaker puts the previous
    // revision back, and the load balancer answers from it throughout.
    let traffic = Traffic::start(&lb, &lb, Duration::from_millis(20));
    let o = cf(dir.path(), &name, &tg, &["deploy", "--wait-timeout", "3m"])
        .env("CARGO_FARGATE_ENVIRONMENT", "PORT=not-a-port")
        .output()
        .unwrap();
    let (answers, failed) = traffic.finish();
    let answered = answers.len();
    assert!(!o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("rolled back to"), "{err}");
    assert!(
        err.contains("Essential container in task exited") && err.contains("exited 64"),
        "{err}"
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert!(answered > 10, "{answered}");
    let s = describe_service(&cluster);
    assert_eq!(s["taskDefinition"], new_td.as_str(), "{s}");
    assert_eq!(http_get(&lb, &lb, "/").unwrap().0, 200);

    // Two tasks on the same port side by side, both healthy targets; a stopped task is replaced.
    let scaled = cf(
        dir.path(),
        &name,
        &tg,
        &["scale", "2", "--wait-timeout", "2m"],
    )
    .output()
    .unwrap();
    assert!(scaled.status.success(), "{}", stderr(&scaled));
    let healthy = healthy_targets(&tg, 2);
    assert_eq!(healthy.len(), 2, "{healthy:?}");
    assert!(healthy.iter().all(|t| t.ends_with(":8080")), "{healthy:?}");
    let before = task_addresses(&cluster);
    assert_eq!(before.len(), 2, "{before:?}");
    for a in &before {
        let at = format!("{a}:8080");
        assert_eq!(http_get(&at, &at, "/health").unwrap().0, 200);
    }

    let d = cf(dir.path(), &name, &tg, &["delete", "--yes"])
        .output()
        .unwrap();
    assert!(d.status.success(), "{}", stderr(&d));
}
