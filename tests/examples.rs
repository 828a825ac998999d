//! The examples under examples/, each deployed for real on the bench: the Docker Engine builds its
//! image from the default template, the registry takes the push, moto registers it, and the bench's
//! agent runs the task as a container (its own network namespace and address, as awsvpc gives a
//! Fargate task; the task role's credentials served to it,
//! its output shipped to CloudWatch Logs). Results are checked through awscli, HTTP and the task's
//! own logs, not through cargo-fargate.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A copy of `examples/<name>` to deploy (tests never write into the repository).
fn example(name: &str) -> tempfile::TempDir {
    copy_fixture(&repo().join("examples").join(name))
}

/// `cargo fargate <args>` on the bench, as project `name` (unique per test: moto is shared), in the
/// tests' own VPC.
fn cf(dir: &Path, name: &str, args: &[&str]) -> Command {
    let mut cmd = bench_command(dir, &format!("{name}-dev"), args);
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg);
    cmd
}

/// Polls `check` until it gives a value or `timeout` passes.
fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "gave up after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Every message of a log group, read with awscli.
fn log_messages(group: &str) -> Vec<String> {
    let v = aws(&["logs", "filter-log-events", "--log-group-name", group]);
    v["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["message"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until a message of the log group contains `needle`; returns that message.
fn wait_for_log(group: &str, needle: &str) -> String {
    wait_for(
        &format!("`{needle}` in {group}"),
        Duration::from_secs(60),
        || log_messages(group).into_iter().find(|m| m.contains(needle)),
    )
}

fn show(o: &std::process::Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o))
}

#[test]
fn batch_job_deploy_exits_with_the_jobs_code_and_shows_its_error_from_the_container_log() {
    let dir = example("batch-job");
    let name = unique("bj");
    let group = format!("/ecs/{name}-dev");

    // A bad item: the job exits 65 (bad data), and so does deploy.
    let o = cf(dir.path(), &name, &["deploy", "--", "4", "8", "fifteen"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(65), "{}", show(&o));
    // Its progress and its error line (written to stderr in the container) came back through the
    // task's CloudWatch log, which deploy follows.
    let out = stdout(&o);
    let error = "error: item 3 `fifteen` is not an integer";
    assert!(out.contains("[2/3] 8 (running sum 12)"), "{}", show(&o));
    assert!(out.contains(error), "{}", show(&o));
    assert!(
        out.lines()
            .any(|l| l.starts_with("exit code") && l.split_whitespace().nth(2) == Some("65")),
        "{}",
        show(&o)
    );
    wait_for_log(&group, error);

    // The configured input (NUMBERS in its metadata): nothing to rebuild, the job succeeds.
    let o = cf(dir.path(), &name, &["deploy"]).output().unwrap();
    let out = ok(&o);
    assert!(out.contains("(up to date)"), "{}", show(&o));
    assert!(
        out.contains("done: count=8 sum=31 min=1 max=9 mean=3.875"),
        "{}",
        show(&o)
    );
}

/// `GET path` on 127.0.0.1:8080, where the bench's agent (host networking) exposes the task's port:
/// the status code and body, or None while nothing answers.
fn get(at: &str, path: &str) -> Option<(u16, String)> {
    let addr = at.parse().ok()?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    s.read_to_string(&mut response).ok()?;
    let status = response.split_whitespace().nth(1)?.parse().ok()?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((status, body))
}

/// Stops the stage's tasks when the test ends, passed or not: nothing is left running on the bench.
struct StopOnDrop<'a> {
    dir: &'a Path,
    name: &'a str,
}

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let _ = cf(self.dir, self.name, &["stop", "--all"]).output();
    }
}

#[test]
fn web_service_answers_on_its_port_and_shuts_down_gracefully_when_stopped() {
    let dir = example("web-service");
    let name = unique("ws");
    let family = format!("{name}-dev");
    let group = format!("/ecs/{family}");

    let _stop = StopOnDrop {
        dir: dir.path(),
        name: &name,
    };
    let r = json_result(
        &cf(
            dir.path(),
            &name,
            &["deploy", "--detach", "--message-format", "json"],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(r["exit_code"], 0, "{r}");
    let task = r["tasks"][0].as_str().unwrap().to_string();
    // The task's own address (its ENI's, as DescribeTasks reports it), port 8080.
    let at = wait_for("the task's address", Duration::from_secs(60), || {
        let t = aws(&[
            "ecs",
            "describe-tasks",
            "--cluster",
            &family,
            "--tasks",
            &task,
        ]);
        t["tasks"][0]["attachments"][0]["details"]
            .as_array()?
            .iter()
            .find(|d| d["name"] == "privateIPv4Address")?["value"]
            .as_str()
            .map(|ip| format!("{ip}:8080"))
    });

    let (status, body) = wait_for(
        "the service to answer /health at its address",
        Duration::from_secs(120),
        || get(&at, "/health"),
    );
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = get(&at, "/").unwrap();
    assert_eq!((status, body.as_str()), (200, "Hello from cargo-fargate\n"));

    // stop sends SIGTERM (ECS's StopTask); the service logs it and exits 0 well before SIGKILL.
    let out = ok(&cf(dir.path(), &name, &["stop", "--all"]).output().unwrap());
    assert!(out.contains(task.rsplit('/').next().unwrap()), "{out}");
    let container = wait_for("the task to stop", Duration::from_secs(60), || {
        let t = aws(&[
            "ecs",
            "describe-tasks",
            "--cluster",
            &family,
            "--tasks",
            &task,
        ]);
        (t["tasks"][0]["lastStatus"] == "STOPPED").then(|| t["tasks"][0]["containers"][0].clone())
    });
    assert_eq!(container["exitCode"], 0, "{container}");
    wait_for_log(&group, "shutting down: SIGTERM received");
    let logs = log_messages(&group);
    assert!(
        logs.iter()
            .any(|m| m.contains("\"GET /health HTTP/1.1\" 200")),
        "{logs:?}"
    );
    assert!(logs.iter().any(|m| m == "stopped"), "{logs:?}");
    assert!(get(&at, "/health").is_none(), "still answering after stop");
}

/// The bucket name examples/s3-writer ships with, in its metadata and its task role's policy.
const EXAMPLE_BUCKET: &str = "cargo-fargate-s3-writer-example";

/// Replaces the example's bucket by `bucket` in both places, so the policy still names exactly it.
fn use_bucket(dir: &Path, bucket: &str) {
    for file in ["Cargo.toml", "task-role-policy.json"] {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(EXAMPLE_BUCKET), "{file} names no bucket");
        std::fs::write(&path, text.replace(EXAMPLE_BUCKET, bucket)).unwrap();
    }
}

#[test]
fn s3_writer_policy_allows_exactly_its_bucket_and_parliament_finds_nothing() {
    let path = repo().join("examples/s3-writer/task-role-policy.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let grants: Vec<(String, String)> = doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["Effect"], "Allow");
            (s["Action"].to_string(), s["Resource"].to_string())
        })
        .collect();
    assert_eq!(
        grants,
        [
            (
                "\"s3:CreateBucket\"".into(),
                format!("\"arn:aws:s3:::{EXAMPLE_BUCKET}\"")
            ),
            (
                "\"s3:PutObject\"".into(),
                format!("\"arn:aws:s3:::{EXAMPLE_BUCKET}/*\"")
            ),
        ]
    );
    let parliament = Path::new(&env_var("BENCH_VENV")).join("bin/parliament");
    let o = Command::new(parliament)
        .args(["--string", &text])
        .output()
        .unwrap();
    assert!(o.status.success(), "parliament: {}", show(&o));
    assert_eq!(stdout(&o).trim(), "", "parliament findings");
}

#[test]
fn s3_writer_writes_hello_world_through_its_task_role_with_no_keys_in_the_task() {
    let dir = example("s3-writer");
    let name = unique("s3w");
    let family = format!("{name}-dev");
    let bucket = format!("{name}-hello-world");
    use_bucket(dir.path(), &bucket);

    let o = cf(dir.path(), &name, &["deploy", "--message-format", "json"])
        .output()
        .unwrap();
    let r = json_result(&o);
    assert_eq!(r["exit_code"], 0, "{}", show(&o));

    // The object is in S3, as awscli reads it.
    let got = aws_try(&["s3", "cp", &format!("s3://{bucket}/hello_world.txt"), "-"]);
    assert!(got.status.success(), "aws s3 cp: {}", stderr(&got));
    assert_eq!(stdout(&got), "Hello World!\n");

    // No keys went into the task: its definition carries the bucket and the task role, nothing more.
    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &family,
    ]);
    let env = &td["taskDefinition"]["containerDefinitions"][0]["environment"];
    let names: Vec<&str> = env
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["BUCKET"], "{env}");
    assert_eq!(env[0]["value"], bucket.as_str());
    assert_eq!(
        td["taskDefinition"]["taskRoleArn"],
        format!("arn:aws:iam::123456789012:role/{family}-task")
    );
    // The role's inline policy is the example's file, naming exactly this bucket.
    let policy = aws(&[
        "iam",
        "get-role-policy",
        "--role-name",
        &format!("{family}-task"),
        "--policy-name",
        "task-role-policy",
    ]);
    let resources: Vec<String> = policy["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Resource"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        resources,
        [
            format!("arn:aws:s3:::{bucket}"),
            format!("arn:aws:s3:::{bucket}/*")
        ]
    );
    // The task says where its credentials came from: the container credentials endpoint (the
    // task role), not keys in its environment.
    let line = wait_for_log(&format!("/ecs/{family}"), "credentials: ");
    assert!(line.contains("AWS_CONTAINER_CREDENTIALS"), "{line}");
    if line.contains("task role arn:") {
        assert!(line.contains(&format!(":role/{family}-task ")), "{line}");
    }
    let out = stdout(&o);
    assert!(
        out.contains(&format!("wrote s3://{bucket}/hello_world.txt")),
        "{}",
        show(&o)
    );
}
