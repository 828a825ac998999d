//! A throw-away cargo project pointed at the bench, and the roles and child-process plumbing the
//! register/run tests share.

use super::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::Output;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// A role trusting `service`, created through awscli; its ARN.
pub fn make_role(name: &str, service: &str) -> String {
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]});
    aws(&[
        "iam",
        "create-role",
        "--role-name",
        name,
        "--assume-role-policy-document",
        &trust.to_string(),
    ])["Role"]["Arn"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The execution role the fixtures give: what ECS needs to pull from ECR and write awslogs (the
/// bench's agent checks it as Fargate does), AWS's own AmazonECSTaskExecutionRolePolicy.
pub fn execution_role() -> &'static str {
    static ROLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ROLE.get_or_init(|| {
        let name = unique("cf-test-exec-");
        let arn = make_role(&name, "ecs-tasks.amazonaws.com");
        aws(&[
            "iam",
            "attach-role-policy",
            "--role-name",
            &name,
            "--policy-arn",
            "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        ]);
        arn
    })
}

/// A cargo project named `name` with this `[package.metadata.fargate]` body.
pub fn project(name: &str, fargate: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n[package.metadata.fargate]\n{fargate}\n"
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    dir
}

/// The usual settings: our network, a given execution role.
pub fn networked(extra: &str) -> String {
    let n = net();
    format!(
        "subnets = [\"{}\"]\nsecurity-groups = [\"{}\"]\nexecution-role = \"{}\"\n{extra}",
        n.subnet,
        n.sg,
        execution_role()
    )
}

/// `cargo fargate <args>` against the bench, in `dir`.
pub fn cf(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).envs(bench()).output().unwrap()
}

pub fn set_fargate(dir: &Path, name: &str, fargate: &str) {
    let fresh = project(name, fargate);
    std::fs::copy(fresh.path().join("Cargo.toml"), dir.join("Cargo.toml")).unwrap();
}

/// `cargo fargate <args>` on the bench, running, with its stdout and stderr piped (a test that waits
/// for its lines, interrupts or stops it while it runs).
pub fn cf_spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    command(dir, args)
        .envs(bench())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads lines of a child's stream on a thread, so a test can wait for one with a deadline.
pub fn lines_of(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The first line `want` accepts, within 60 s; every line read goes to `seen`.
pub fn wait_for_line(
    rx: &Receiver<String>,
    seen: &mut Vec<String>,
    want: impl Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(line.clone());
            if want(&line) {
                return line;
            }
        }
    }
    panic!("timed out; saw:\n{}", seen.join("\n"));
}

/// Waits (60 s at most) for a child to end.
pub fn wait_child(child: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the command did not end within 60s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends SIGINT to a child, as Ctrl-C does.
pub fn interrupt(child: &std::process::Child) {
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
}

/// The ARNs of the registered revisions of `family`.
pub fn revisions(family: &str) -> Vec<String> {
    aws(&["ecs", "list-task-definitions", "--family-prefix", family])["taskDefinitionArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .filter(|a| a.rsplit('/').next().unwrap().rsplit_once(':').unwrap().0 == family)
        .collect()
}

/// A schedule made the way the AWS CLI makes one (no flexible window), starting tasks in
/// `cluster` as `role`; `extra` adds the target's other fields (EcsParameters).
pub fn create_schedule(
    name: &str,
    expression: &str,
    description: Option<&str>,
    cluster: &str,
    role: &str,
    extra: Value,
) {
    let mut target = json!({
        "Arn": format!("arn:aws:ecs:us-east-1:123456789012:cluster/{cluster}"),
        "RoleArn": role,
    });
    if let (Some(t), Value::Object(more)) = (target.as_object_mut(), extra) {
        t.extend(more);
    }
    let target = target.to_string();
    let mut args = vec![
        "scheduler",
        "create-schedule",
        "--name",
        name,
        "--schedule-expression",
        expression,
        "--flexible-time-window",
        "Mode=OFF",
        "--target",
        &target,
    ];
    if let Some(d) = description {
        args.extend(["--description", d]);
    }
    aws(&args);
}
