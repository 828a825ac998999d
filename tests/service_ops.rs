//! Operating a running service on the bench (examples/web-service, each task in its own network
//! namespace, its target group served by the bench's HAProxy: scripts/bench/agent/lb.py): tasks
//! side by side on one port, `scale`, `stop` of a task, `logs -f` over every task, and a
//! `kind = "web"` stage whose printed URL answers with the app's response.

mod common;

use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

#[test]
fn tasks_share_a_port_scale_to_three_a_stopped_task_is_replaced_and_logs_follow_every_task() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("ops");
    let cluster = format!("{name}-dev");
    let tg = fast_target_group(&name);
    let cmd = |args: &[&str]| {
        let mut c = service_command(dir.path(), &name, "service", args);
        c.env("CARGO_FARGATE_DESIRED_COUNT", "2")
            .env("CARGO_FARGATE_HEALTH_CHECK_GRACE_PERIOD", "10")
            .env("CARGO_FARGATE_TARGET_GROUP_ARN", &tg);
        c
    };
    let run = |args: &[&str]| {
        let o = cmd(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        o
    };

    // Two tasks of one service, both listening on 8080, each at its own address.
    let deployed = run(&["deploy", "--wait-timeout", "3m"]);
    // It binds 0.0.0.0: nothing to say about loopback.
    assert!(
        !stderr(&deployed).contains("bind 0.0.0.0"),
        "{}",
        stderr(&deployed)
    );
    let two = healthy_targets(&tg, 2);
    assert_eq!(two.len(), 2, "{two:?}");
    assert!(two.iter().all(|t| t.ends_with(":8080")), "{two:?}");
    let tasks = running_tasks(&cluster);
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert_ne!(tasks[0].1, tasks[1].1);
    for (_, a) in &tasks {
        let at = format!("{a}:8080");
        assert_eq!(http_get(&at, &at, "/").unwrap().0, 200);
    }

    // `logs -f` follows both tasks: a request to each shows up under that task's prefix.
    let mut follow = cmd(&["logs", "-f", "--since", "1m"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(follow.stdout.take().unwrap());
    std::thread::sleep(Duration::from_secs(2));
    for (arn, a) in &tasks {
        let at = format!("{a}:8080");
        assert_eq!(
            http_get(&at, &at, &format!("/marker-{}", short(arn)))
                .unwrap()
                .0,
            404
        );
    }
    let mut want: Vec<(String, String)> = tasks
        .iter()
        .map(|(arn, _)| {
            (
                short(arn)[..8].to_string(),
                format!("/marker-{}", short(arn)),
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !want.is_empty() && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_secs(1)) {
            seen.push(line.clone());
            want.retain(|(prefix, marker)| {
                !(line.starts_with(&format!("[{prefix}]")) && line.contains(marker.as_str()))
            });
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(want.is_empty(), "not followed: {want:?} in {seen:#?}");

    // scale 3: three healthy targets.
    run(&["scale", "3", "--wait-timeout", "2m"]);
    let three = healthy_targets(&tg, 3);
    assert_eq!(three.len(), 3, "{three:?}");

    // `stop` of one task: the scheduler replaces it, and three targets are healthy again.
    let before = running_tasks(&cluster);
    let victim = before[0].0.clone();
    run(&["stop", short(&victim)]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let after = loop {
        let now = running_tasks(&cluster);
        if (now.len() == 3 && !now.iter().any(|(a, _)| *a == victim)) || Instant::now() > deadline {
            break now;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(!after.iter().any(|(a, _)| *a == victim), "{after:?}");
    let three = healthy_targets(&tg, 3);
    assert_eq!(three.len(), 3, "{three:?}");
    let events = describe_service(&cluster)["events"].to_string();
    assert!(events.contains(short(&victim)), "{events}");

    run(&["delete", "--yes"]);
}

#[test]
fn a_web_stages_url_answers_with_the_apps_response() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("web");
    // examples/web-service sets `health-check-path = "/health"`: Express Mode's default (/ping)
    // would find nothing there, and no task would ever be healthy.
    let cmd = |args: &[&str]| service_command(dir.path(), &name, "web", args);
    let o = cmd(&["setup"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cmd(&["deploy", "--wait-timeout", "3m"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // The URL deploy prints, as a user reads it.
    let text = format!("{}{}", stdout(&o), stderr(&o));
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("https://") && w.contains(".on.aws"))
        .unwrap_or_else(|| panic!("no URL printed: {text}"))
        .trim_end_matches(['.', ',', ')'])
        .to_string();
    let host = url.trim_start_matches("https://").trim_end_matches('/');
    assert_eq!(host, format!("{name}-dev.ecs.us-east-1.on.aws"));

    // On the bench the URL's host is served by the HAProxy of the Express service's target group
    // (scripts/bench/agent/express.py): the request goes there with the URL's Host header.
    let cluster = format!("{name}-dev");
    let service = describe_service(&cluster);
    let tg = service["loadBalancers"][0]["targetGroupArn"]
        .as_str()
        .unwrap_or_else(|| panic!("no target group: {service}"))
        .to_string();
    assert_eq!(healthy_targets(&tg, 1).len(), 1);
    let lb = balancer(&tg);
    assert_eq!(
        http_get(&lb, host, "/").unwrap(),
        (200, "Hello from cargo-fargate\n".to_string())
    );

    let o = cmd(&["teardown", "--yes", "--force"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A service whose server binds 127.0.0.1: nothing outside its task can reach it (on Fargate
/// neither). Its deploy says so in one line, from the task's own log (all the tool sees of a
/// Fargate task).
#[test]
fn a_service_listening_on_loopback_only_is_named_in_one_line() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("lo");
    let o = service_command(
        dir.path(),
        &name,
        "service",
        &["deploy", "--wait-timeout", "3m"],
    )
    .env("CARGO_FARGATE_DESIRED_COUNT", "1")
    .env("CARGO_FARGATE_ENVIRONMENT", "BIND=127.0.0.1")
    .output()
    .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    let said: Vec<&str> = err.lines().filter(|l| l.contains("bind 0.0.0.0")).collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(
        said[0].starts_with("warning: the container listens on 127.0.0.1:8080 only"),
        "{}",
        said[0]
    );
    let o = service_command(dir.path(), &name, "service", &["delete", "--yes"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Two deploys of one service at once: each waits for the rollout that carries what it asked for
/// — its own, or the other's when that one runs the same revision — and says which, never
/// "accepted (not waited for)" without --no-wait, never "rolled back". An unchanged re-deploy
/// says there was nothing to wait for.
#[test]
fn two_simultaneous_deploys_each_wait_for_the_rollout_that_carries_them() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("twice");
    let cmd = |args: &[&str], count: &str| {
        let mut c = service_command(dir.path(), &name, "service", args);
        c.env("CARGO_FARGATE_DESIRED_COUNT", count);
        c
    };
    // Deployed once: the two deploys race on the service's update, not on creating the stage.
    let o = cmd(&["deploy", "--wait-timeout", "3m"], "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let spawn = || {
        cmd(&["deploy", "--wait-timeout", "3m"], "2")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let service = describe_service(&format!("{name}-dev"));
    let last = primary_deployment(&service);
    for o in [&a, &b] {
        let (out, err) = (stdout(o), stderr(o));
        assert!(o.status.success(), "{out}\n{err}");
        assert!(!err.contains("rolled back"), "{err}");
        let line = out
            .lines()
            .find(|l| l.starts_with("deployment "))
            .unwrap_or_else(|| panic!("no deployment line:\n{out}"));
        assert!(!line.contains("not waited for"), "{line}");
        assert!(
            line.contains("COMPLETED after") || line.contains("already COMPLETED ("),
            "{line}"
        );
        if let Some(f) = err.lines().find(|l| l.contains("Following")) {
            assert!(
                f.contains("another deploy of the same revision replaced"),
                "{f}"
            );
        }
    }
    assert_eq!(service["desiredCount"], 2);

    // Unchanged and settled: one line says why nothing was waited for.
    let o = cmd(&["deploy", "--wait-timeout", "3m"], "2")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains(&format!("deployment       {last} already COMPLETED (the service already runs this revision: nothing to wait for)")),
        "{out}"
    );
}

/// The ID of the service's primary deployment.
fn primary_deployment(service: &serde_json::Value) -> String {
    service["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["status"] == "PRIMARY")
        .and_then(|d| d["id"].as_str())
        .unwrap_or_else(|| panic!("no primary deployment: {service}"))
        .to_string()
}
