//! Operating a running service on the bench (examples/web-service, each task in its own network
//! namespace, its target group served by the bench's HAProxy: scripts/bench/agent/lb.py): tasks
//! side by side on one port, `scale`, `stop` of a task, `logs -f` over every task, and a
//! `kind = "web"` stage whose printed URL answers with the app's response.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `cargo fargate <args>` as project `name`, kind `kind`, in the tests' VPC.
fn cf(dir: &Path, name: &str, kind: &str, args: &[&str]) -> Command {
    let mut cmd = bench_command(dir, &format!("{name}-dev"), args);
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_KIND", kind)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg);
    cmd
}

/// An ALB-like target group: /health every 5 s, healthy after 2, a 3 s deregistration delay.
fn target_group(name: &str) -> String {
    let tg = aws(&[
        "elbv2",
        "create-target-group",
        "--name",
        name,
        "--protocol",
        "HTTP",
        "--port",
        "8080",
        "--vpc-id",
        &net().vpc,
        "--target-type",
        "ip",
        "--health-check-path",
        "/health",
        "--health-check-interval-seconds",
        "5",
        "--healthy-threshold-count",
        "2",
    ])["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string();
    aws(&[
        "elbv2",
        "modify-target-group-attributes",
        "--target-group-arn",
        &tg,
        "--attributes",
        "Key=deregistration_delay.timeout_seconds,Value=3",
    ]);
    tg
}

/// `GET path` on host:port with a Host header: (status, body).
fn get(addr: &str, host: &str, path: &str) -> Result<(u16, String), String> {
    let sock: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(3))
        .map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let code = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((code, body.to_string()))
}

/// Where the bench serves target group `tg`: 127.0.0.1:<port> (GET /_bench/lb on the agent).
fn balancer(tg: &str) -> String {
    let endpoint = env_var("AWS_ENDPOINT_URL");
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let (code, body) = get(host, host, "/_bench/lb").unwrap();
    assert_eq!(code, 200, "{body}");
    let all: Value = serde_json::from_str(&body).unwrap();
    all[tg]
        .as_str()
        .unwrap_or_else(|| panic!("target group {tg} is not served: {all}"))
        .trim_start_matches("http://")
        .to_string()
}

/// The healthy targets of `tg` (ip:port), once there are `n` of them (at most 90 s).
fn healthy_targets(tg: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let healthy: Vec<String> =
            aws(&["elbv2", "describe-target-health", "--target-group-arn", tg])
                ["TargetHealthDescriptions"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["TargetHealth"]["State"] == "healthy")
                .map(|d| {
                    format!(
                        "{}:{}",
                        d["Target"]["Id"].as_str().unwrap(),
                        d["Target"]["Port"]
                    )
                })
                .collect();
        if healthy.len() == n || Instant::now() > deadline {
            return healthy;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// The service's RUNNING tasks: (task ARN, address).
fn running_tasks(cluster: &str) -> Vec<(String, String)> {
    let arns: Vec<String> = aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        cluster,
        "--service-name",
        cluster,
        "--desired-status",
        "RUNNING",
    ])["taskArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    if arns.is_empty() {
        return Vec::new();
    }
    let mut args = vec!["ecs", "describe-tasks", "--cluster", cluster, "--tasks"];
    args.extend(arns.iter().map(String::as_str));
    aws(&args)["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["lastStatus"] == "RUNNING")
        .filter_map(|t| {
            let address = t["attachments"][0]["details"]
                .as_array()?
                .iter()
                .find(|d| d["name"] == "privateIPv4Address")?["value"]
                .as_str()?;
            Some((t["taskArn"].as_str()?.to_string(), address.to_string()))
        })
        .collect()
}

fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap()
}

#[test]
fn tasks_share_a_port_scale_to_three_a_stopped_task_is_replaced_and_logs_follow_every_task() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("ops");
    let cluster = format!("{name}-dev");
    let tg = target_group(&name);
    let cmd = |args: &[&str]| {
        let mut c = cf(dir.path(), &name, "service", args);
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
        assert_eq!(get(&at, &at, "/").unwrap().0, 200);
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
            get(&at, &at, &format!("/marker-{}", short(arn))).unwrap().0,
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
    let events = aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        &cluster,
        "--services",
        &cluster,
    ])["services"][0]["events"]
        .to_string();
    assert!(events.contains(short(&victim)), "{events}");

    run(&["delete", "--yes"]);
}

#[test]
fn a_web_stages_url_answers_with_the_apps_response() {
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let name = unique("web");
    // examples/web-service sets `health-check-path = "/health"`: Express Mode's default (/ping)
    // would find nothing there, and no task would ever be healthy.
    let cmd = |args: &[&str]| cf(dir.path(), &name, "web", args);
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
    let service = aws(&[
        "ecs",
        "describe-services",
        "--cluster",
        &cluster,
        "--services",
        &cluster,
    ])["services"][0]
        .clone();
    let tg = service["loadBalancers"][0]["targetGroupArn"]
        .as_str()
        .unwrap_or_else(|| panic!("no target group: {service}"))
        .to_string();
    assert_eq!(healthy_targets(&tg, 1).len(), 1);
    let lb = balancer(&tg);
    assert_eq!(
        get(&lb, host, "/").unwrap(),
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
    let o = cf(
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
    let o = cf(dir.path(), &name, "service", &["delete", "--yes"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}
