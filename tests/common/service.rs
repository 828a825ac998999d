//! A service on the bench as its tests see it: HTTP at a task's own address or through what the
//! bench serves for a target group or a load balancer (scripts/bench/agent/lb.py, listeners.py),
//! and its target group, tasks and service read back with awscli.

use super::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `cargo fargate <args>` on the bench as project `name`, of `kind`, in the tests' VPC.
pub fn service_command(dir: &Path, name: &str, kind: &str, args: &[&str]) -> Command {
    let mut cmd = bench_command(dir, &format!("{name}-dev"), args);
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_KIND", kind)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg);
    cmd
}

/// `GET path` on `addr` (host:port) with `Host: host`: the whole answer, head and body; Err on any
/// connection failure.
pub fn http_answer(addr: &str, host: &str, path: &str) -> Result<String, String> {
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
    Ok(text)
}

/// `GET path` on `addr` with `Host: host`: (status code, body); Err on any connection or protocol
/// failure.
pub fn http_get(addr: &str, host: &str, path: &str) -> Result<(u16, String), String> {
    let text = http_answer(addr, host, path)?;
    let code = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((code, body.to_string()))
}

/// Where the bench serves `key` (a target group's ARN, or a load balancer's `host:port`):
/// 127.0.0.1:<port>, from GET /_bench/lb on the agent; None when it does not.
pub fn served(key: &str) -> Option<String> {
    let endpoint = env_var("AWS_ENDPOINT_URL");
    let agent = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let (code, body) = http_get(agent, agent, "/_bench/lb").unwrap();
    assert_eq!(code, 200, "{body}");
    let all: Value = serde_json::from_str(&body).unwrap();
    all[key]
        .as_str()
        .map(|u| u.trim_start_matches("http://").to_string())
}

/// Where the bench serves target group `tg`, which it must.
pub fn balancer(tg: &str) -> String {
    served(tg).unwrap_or_else(|| panic!("target group {tg} is not served"))
}

/// A target group of IP targets on port 8080 in the tests' VPC: ELB's defaults but for `settings`
/// (create-target-group's options). Its ARN.
pub fn target_group(name: &str, settings: &[&str]) -> String {
    let vpc = &net().vpc;
    let mut args = vec!["elbv2", "create-target-group", "--name", name];
    args.extend(["--protocol", "HTTP", "--port", "8080", "--vpc-id", vpc]);
    args.extend(["--target-type", "ip"]);
    args.extend(settings);
    aws(&args)["TargetGroups"][0]["TargetGroupArn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A target group as an ALB's: HTTP health checks on /health every 5 s (ELB's minimum), healthy
/// after 2, and a short deregistration delay so that a rollout does not wait 300 s.
pub fn fast_target_group(name: &str) -> String {
    let tg = target_group(
        name,
        &[
            "--health-check-path",
            "/health",
            "--health-check-interval-seconds",
            "5",
            "--health-check-timeout-seconds",
            "2",
            "--healthy-threshold-count",
            "2",
            "--unhealthy-threshold-count",
            "2",
        ],
    );
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

/// The targets of `tg` (ip:port) with their health state.
pub fn target_states(tg: &str) -> Vec<(String, String)> {
    aws(&["elbv2", "describe-target-health", "--target-group-arn", tg])["TargetHealthDescriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                format!(
                    "{}:{}",
                    d["Target"]["Id"].as_str().unwrap(),
                    d["Target"]["Port"]
                ),
                d["TargetHealth"]["State"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The healthy targets of `tg` (ip:port), once there are `n` of them (at most 90 s).
pub fn healthy_targets(tg: &str, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let healthy: Vec<String> = target_states(tg)
            .into_iter()
            .filter(|(_, state)| state == "healthy")
            .map(|(target, _)| target)
            .collect();
        if healthy.len() == n || Instant::now() > deadline {
            return healthy;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Service `stage` of cluster `stage` as DescribeServices has it; Null when there is none (moto
/// answers ClusterNotFoundException before the first deploy).
pub fn describe_service(stage: &str) -> Value {
    let o = aws_try(&[
        "ecs",
        "describe-services",
        "--cluster",
        stage,
        "--services",
        stage,
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    v["services"][0].clone()
}

/// The RUNNING tasks of service `stage`: (task ARN, address from its ENI attachment).
pub fn running_tasks(stage: &str) -> Vec<(String, String)> {
    let arns: Vec<String> = aws(&[
        "ecs",
        "list-tasks",
        "--cluster",
        stage,
        "--service-name",
        stage,
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
    let mut args = vec!["ecs", "describe-tasks", "--cluster", stage, "--tasks"];
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

/// The addresses of the RUNNING tasks of service `stage`.
pub fn task_addresses(stage: &str) -> Vec<String> {
    running_tasks(stage).into_iter().map(|(_, a)| a).collect()
}
