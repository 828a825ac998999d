//! `run --local` on the real bench: the Docker Engine runs the container, moto gives SSM, Secrets
//! Manager, STS and IAM. What the container sees is checked from inside it (a probe crate prints a
//! length and a hash of each variable it is asked about), what the user sees from the tool's output.
//!
//! moto is shared, so every test works on a project of its own name, and every test checks that no
//! container of that project is left in the engine.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// What the probe prints for a variable; the tests compute the same for the expected value.
fn fnv(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}")
}

/// tests/fixtures/probe (prints, for each variable named in its arguments, its length and hash,
/// never its value; see its main.rs) under a name of its own, `fargate` added to its
/// `[package.metadata.fargate]`.
fn probe(name: &str, fargate: &str) -> tempfile::TempDir {
    let dir = fixture("probe");
    let manifest = dir.path().join("Cargo.toml");
    let mut text = std::fs::read_to_string(&manifest).unwrap();
    text.push_str(&format!("name = \"{name}\"\nstop-timeout = 2\n{fargate}\n"));
    std::fs::write(manifest, text).unwrap();
    dir
}

/// examples/hello under a name of its own.
fn hello(name: &str) -> tempfile::TempDir {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let manifest = dir.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "[package.metadata.fargate]\n",
        &format!("[package.metadata.fargate]\nname = \"{name}\"\n"),
    );
    std::fs::write(manifest, text).unwrap();
    dir
}

/// `cargo fargate run --local <args>` on the bench with the host builder (its base image from the
/// bench registry).
fn local(dir: &Path, name: &str, args: &[&str]) -> Command {
    let mut all = vec!["run", "--local"];
    all.extend_from_slice(args);
    host_bench_command(dir, name, &all)
}

fn timed(mut cmd: Command, what: &str) -> Output {
    let started = Instant::now();
    let o = cmd.output().unwrap();
    eprintln!("{what}: {:.1}s", started.elapsed().as_secs_f64());
    o
}

/// The containers of a project in the engine, running or not.
fn containers_of(project: &str) -> Vec<String> {
    let o = Command::new("docker")
        .args([
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=dev.cargo-fargate.project={project}"),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "docker ps: {}", stderr(&o));
    stdout(&o).lines().map(str::to_string).collect()
}

fn assert_no_container(project: &str) {
    assert_eq!(
        containers_of(project),
        Vec::<String>::new(),
        "containers left behind"
    );
}

/// The probe's line for a variable.
fn probe_line<'a>(out: &'a str, var: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(&format!("{var} ")))
        .unwrap_or_else(|| panic!("no line for {var} in:\n{out}"))
}

#[test]
fn hello_runs_locally_with_its_greeting_arguments_and_exit_code() {
    let name = unique("hl-");
    let dir = hello(&name);
    let o = timed(
        local(
            dir.path(),
            &name,
            &[
                "--no-task-role",
                "-e",
                "HELLO_EXIT_CODE=3",
                "--",
                "a",
                "b c",
            ],
        ),
        "hello, first run (cargo build + load)",
    );
    assert_eq!(o.status.code(), Some(3), "stderr:\n{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Hello from cargo-fargate! args=[\"a\", \"b c\"]"),
        "{out}"
    );
    assert!(out.ends_with("exit code 3\n"), "{out}");
    assert_no_container(&name);

    // JSON: log events as `run` prints them, then the result.
    let o = timed(
        local(
            dir.path(),
            &name,
            &["--no-task-role", "--message-format", "json"],
        ),
        "hello, second run (json)",
    );
    assert_eq!(o.status.code(), Some(0), "stderr:\n{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let log = lines.iter().find(|v| v["type"] == "log").unwrap();
    assert_eq!(log["message"], "Hello from cargo-fargate! args=[]");
    assert_eq!(log["container"], name.as_str());
    assert_eq!(log["stream"], "stdout");
    let result = lines.last().unwrap();
    assert_eq!(result["type"], "result");
    assert_eq!(result["exit_code"], 0);
    assert_eq!(result["task_role"], Value::Null);
    assert_eq!(result["limits"], json!({"cpu": 256, "memory": 512}));
    assert_eq!(result["outcome"]["message"], format!("{name} exited 0"));
    assert!(result["image"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{name}:dev-")));
    assert_no_container(&name);
}

#[test]
fn the_docker_builders_image_runs_as_built() {
    let name = unique("db-");
    let dir = hello(&name);
    let o = timed(
        bench_command(
            dir.path(),
            &name,
            &[
                "run",
                "--local",
                "--no-task-role",
                "--message-format",
                "json",
                "-e",
                "HELLO_EXIT_CODE=7",
            ],
        ),
        "hello with the docker builder",
    );
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(lines
        .iter()
        .any(|v| v["type"] == "log" && v["message"] == "Hello from cargo-fargate! args=[]"));
    let result = lines.last().unwrap();
    assert_eq!(result["build"]["plan"]["builder"], "docker");
    assert_eq!(result["exit_code"], 7);
    assert_no_container(&name);
}

#[test]
fn secrets_reach_the_process_and_their_values_appear_nowhere() {
    let name = unique("sc-");
    let parameter = format!("/{name}/db-url");
    let db_url = format!("postgres://app:{}@db.internal/app", unique("pw"));
    aws(&[
        "ssm",
        "put-parameter",
        "--name",
        &parameter,
        "--type",
        "SecureString",
        "--value",
        &db_url,
    ]);
    let password = unique("sm-pw-");
    let secret_arn = aws(&[
        "secretsmanager",
        "create-secret",
        "--name",
        &format!("{name}/api"),
        "--secret-string",
        &json!({"user": "app", "password": password}).to_string(),
    ])["ARN"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = probe(
        &name,
        &format!(
            "[package.metadata.fargate.secrets]\nDB_URL = \"{parameter}\"\nAPI_PASSWORD = \"{secret_arn}:password::\"\n"
        ),
    );
    for format in ["human", "json"] {
        let o = timed(
            local(
                dir.path(),
                &name,
                &[
                    "--no-task-role",
                    "--message-format",
                    format,
                    "--",
                    "DB_URL",
                    "API_PASSWORD",
                ],
            ),
            &format!("secrets ({format})"),
        );
        let out = stdout(&o);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{err}\n{out}");
        for (var, value) in [("DB_URL", &db_url), ("API_PASSWORD", &password)] {
            let want = format!("{var} len={} fnv={} head=-", value.len(), fnv(value));
            assert!(out.contains(&want), "{want} not in:\n{out}");
            assert!(!out.contains(value.as_str()), "a secret's value in stdout");
            assert!(!err.contains(value.as_str()), "a secret's value in stderr");
        }
        if format == "json" {
            let result = json_result(&o);
            assert_eq!(result["secrets"], json!(["API_PASSWORD", "DB_URL"]));
        }
    }
    assert_no_container(&name);
}

#[test]
fn the_task_role_gives_the_container_temporary_credentials() {
    let name = unique("tr-");
    let role = format!("{name}-role");
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let arn = aws(&[
        "iam",
        "create-role",
        "--role-name",
        &role,
        "--assume-role-policy-document",
        &trust.to_string(),
    ])["Role"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = probe(&name, &format!("task-role = \"{role}\""));
    let o = timed(
        local(
            dir.path(),
            &name,
            &[
                "--message-format",
                "json",
                "--",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_SESSION_TOKEN",
                "AWS_REGION",
                "AWS_DEFAULT_REGION",
                "AWS_PROFILE",
            ],
        ),
        "task role",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let messages: Vec<String> = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "log")
        .map(|v| v["message"].as_str().unwrap().to_string())
        .collect();
    let out = messages.join("\n");
    // Temporary credentials (STS key IDs start with ASIA), not the caller's long-term keys.
    let key_id = probe_line(&out, "AWS_ACCESS_KEY_ID");
    assert!(key_id.ends_with("head=ASIA"), "{key_id}");
    let caller = std::env::var("AWS_ACCESS_KEY_ID").unwrap();
    assert!(
        !key_id.contains(&format!("fnv={} ", fnv(&caller))),
        "{key_id}"
    );
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap();
    assert!(
        !probe_line(&out, "AWS_SECRET_ACCESS_KEY").contains(&fnv(&secret)),
        "the caller's secret key reached the container"
    );
    assert!(!probe_line(&out, "AWS_SESSION_TOKEN").contains("len=0"));
    assert!(!probe_line(&out, "AWS_SESSION_TOKEN").ends_with("unset"));
    let region = std::env::var("AWS_REGION").unwrap();
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        let want = format!("{var} len={} fnv={}", region.len(), fnv(&region));
        assert!(probe_line(&out, var).starts_with(&want), "{out}");
    }
    assert_eq!(probe_line(&out, "AWS_PROFILE"), "AWS_PROFILE unset");
    let result = json_result(&o);
    assert_eq!(result["task_role"], arn.as_str());
    assert_no_container(&name);
}

#[test]
fn the_container_has_the_tasks_size_and_its_ports_on_localhost() {
    let name = unique("sz-");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = probe(
        &name,
        &format!("cpu = 512\nmemory = 1024\nports = [{port}]"),
    );
    let mut child = local(
        dir.path(),
        &name,
        &["--no-task-role", "--", "limits", &format!("serve={port}")],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut limits = String::new();
    loop {
        let line = lines.next().expect("the probe's output ended").unwrap();
        if line.starts_with("limits ") {
            limits = line;
        } else if line == "listening" {
            break;
        }
    }
    let mut answer = String::new();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    std::io::Read::read_to_string(&mut stream, &mut answer).unwrap();
    assert_eq!(answer, "hello from the container\n");
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("bind 0.0.0.0"), "bound 0.0.0.0, yet: {err}");
    // 1024 MiB; 512 cpu units = half a CPU (cgroup v1 or v2 quota/period).
    let (memory, cpu) = limits
        .strip_prefix("limits memory=")
        .and_then(|l| l.split_once(" cpu="))
        .unwrap_or_else(|| panic!("{limits}"));
    assert_eq!(memory, (1024u64 << 20).to_string());
    let (quota, period) = cpu.split_once('/').unwrap();
    let (quota, period): (f64, f64) = (quota.parse().unwrap(), period.parse().unwrap());
    assert!((quota / period - 0.5).abs() < 1e-9, "{limits}");
    assert_no_container(&name);
}

/// A server bound to 127.0.0.1 inside the container answers nobody outside it: one line says so
/// (read from the container's socket table), and the run goes on.
#[test]
fn a_server_listening_on_loopback_only_is_named_in_one_line() {
    let name = unique("lo-");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = probe(&name, &format!("ports = [{port}]"));
    let o = timed(
        local(
            dir.path(),
            &name,
            &["--no-task-role", "--", &format!("serve-loopback={port}")],
        ),
        "loopback",
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let said: Vec<&str> = err.lines().filter(|l| l.contains("bind 0.0.0.0")).collect();
    assert_eq!(said.len(), 1, "{err}");
    assert!(
        said[0].contains(&format!("listens on 127.0.0.1:{port} only")),
        "{}",
        said[0]
    );
    assert_no_container(&name);
}

#[test]
fn ctrl_c_stops_the_container_and_removes_it() {
    let name = unique("cc-");
    let dir = probe(&name, "");
    let mut child = local(dir.path(), &name, &["--no-task-role", "--", "wait"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    loop {
        let line = lines.next().expect("the probe's output ended").unwrap();
        if line == "waiting" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "never waiting"
        );
    }
    assert_eq!(containers_of(&name).len(), 1, "the container runs");
    let interrupted = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    // The probe, PID 1 without a SIGTERM handler, ignores SIGTERM: SIGKILL after stop-timeout (2 s).
    let took = interrupted.elapsed();
    eprintln!("ctrl-c: stopped in {:.1}s", took.as_secs_f64());
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.contains("Stopping"), "{err}");
    assert!(
        rest.iter().any(|l| l.contains("exited 137 after Ctrl-C")),
        "{rest:?}"
    );
    assert_no_container(&name);
}

#[test]
fn a_pushed_ecr_image_is_pulled_through_the_registry_endpoint_and_run() {
    let name = unique("im-");
    let dir = hello(&name);
    let pushed = json_result(
        &host_bench_command(dir.path(), &name, &["push", "--message-format", "json"])
            .output()
            .unwrap(),
    );
    let image = pushed["image_uri"].as_str().unwrap();
    assert!(image.contains(".dkr.ecr."), "{image}");
    let o = timed(
        bench_command(
            dir.path(),
            &name,
            &["run", "--local", "--image", image, "--no-task-role"],
        ),
        "--image (pull)",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("Pulling"), "{}", stderr(&o));
    assert!(stdout(&o).contains("Hello from cargo-fargate! args=[]"));
    assert_no_container(&name);
    let pulled = format!(
        "{}/{name}@{}",
        env_var("BENCH_REGISTRY"),
        pushed["digest"].as_str().unwrap()
    );
    let _ = Command::new("docker").args(["rmi", &pulled]).output();
}

#[test]
fn bad_input_is_one_line_and_leaves_nothing_running() {
    // No Docker daemon.
    let name = unique("bd-");
    let dir = probe(&name, "");
    let dead = std::env::temp_dir().join(format!("{name}.sock"));
    let o = local(dir.path(), &name, &["--no-task-role"])
        .env("DOCKER_HOST", format!("unix://{}", dead.display()))
        .output()
        .unwrap();
    let e = one_line_error(&o, "no Docker daemon answers at unix://");
    assert!(e.contains("DOCKER_HOST"), "{e}");
    assert_no_container(&name);

    // The managed task role before `register`: skipped with one line, the run goes on (a first
    // `run --local` needs nothing in AWS).
    let o = local(dir.path(), &name, &[]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "stderr:\n{}", stderr(&o));
    let err = stderr(&o);
    let skipped: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("does not exist yet"))
        .collect();
    assert_eq!(skipped.len(), 1, "stderr:\n{}", stderr(&o));
    assert!(
        skipped[0].contains(&format!("`{name}-dev-task`"))
            && skipped[0].contains("running without task role credentials"),
        "{}",
        skipped[0]
    );
    assert_no_container(&name);
    // A given task role that does not exist is an error.
    let dir = probe(&name, &format!("task-role = \"{name}-nope\""));
    let o = local(dir.path(), &name, &[]).output().unwrap();
    let e = one_line_error(&o, &format!("role `{name}-nope` does not exist"));
    assert!(e.contains("Cargo.toml:"), "{e}");
    assert!(e.contains("--no-task-role"), "{e}");
    assert_no_container(&name);

    // A secret that does not exist, in SSM and in Secrets Manager.
    let dir = probe(
        &name,
        &format!("[package.metadata.fargate.secrets]\nDB_URL = \"/{name}/missing\"\n"),
    );
    let o = local(dir.path(), &name, &["--no-task-role"])
        .output()
        .unwrap();
    let e = one_line_error(
        &o,
        &format!("`DB_URL`: SSM parameter `/{name}/missing` does not exist"),
    );
    assert!(e.contains("secrets"), "{e}");
    let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-AbCdEf");
    let dir = probe(
        &name,
        &format!("[package.metadata.fargate.secrets]\nAPI_KEY = \"{arn}\"\n"),
    );
    let o = local(dir.path(), &name, &["--no-task-role"])
        .output()
        .unwrap();
    one_line_error(&o, &format!("`API_KEY`: Secrets Manager secret `{arn}`"));
    assert_no_container(&name);

    // An image that cannot be pulled.
    let dir = probe(&name, "");
    let o = bench_command(
        dir.path(),
        &name,
        &[
            "run",
            "--local",
            "--no-task-role",
            "--image",
            &format!("{}/{name}/nothing:here", env_var("BENCH_REGISTRY")),
        ],
    )
    .output()
    .unwrap();
    one_line_error(&o, "cannot pull");
    assert_no_container(&name);
}

#[test]
fn run_needs_an_image_unless_local() {
    let dir = probe("no-image", "");
    let o = cargo_fargate(dir.path(), &["run"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--image"), "{}", stderr(&o));
    let o = cargo_fargate(dir.path(), &["run", "--no-task-role", "--image", "x"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--local"), "{}", stderr(&o));
    let o = cargo_fargate(dir.path(), &["run", "--local", "--detach"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}
