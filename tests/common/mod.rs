//! Shared by the integration tests: run the built binary on a copy of a fixture, and reach the bench.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod arm64;
mod coverage;
mod project;
mod service;
mod stage;
mod traffic;
mod vpc;
#[allow(unused_imports)]
pub use coverage::*;
#[allow(unused_imports)]
pub use project::*;
#[allow(unused_imports)]
pub use service::*;
#[allow(unused_imports)]
pub use stage::*;
#[allow(unused_imports)]
pub use traffic::*;
#[allow(unused_imports)]
pub use vpc::*;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies `tests/fixtures/<name>` (or any directory) into a fresh temp dir, so tests can write there.
pub fn copy_fixture(src: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(src, dir.path());
    dir
}

pub fn fixture(name: &str) -> tempfile::TempDir {
    copy_fixture(&repo().join("tests/fixtures").join(name))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            if e.file_name() != "target" {
                copy_dir(&e.path(), &target);
            }
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// `cargo fargate <args>` in `dir`, with no CARGO_FARGATE_* settings leaking in from the caller.
pub fn cargo_fargate(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cargo-fargate"));
    cmd.arg("fargate").args(args).current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("CARGO_FARGATE_") && k != "CARGO_FARGATE_BENCH" {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {}\nstdout:\n{}",
        stderr(o),
        stdout(o)
    );
    stdout(o)
}

/// Asserts the bar for bad input: non-zero exit, exactly one `error:` line, last on stderr, which
/// contains `needle`. Progress lines may come before it; nothing else may look like an error.
pub fn one_line_error(o: &Output, needle: &str) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected a failure, got success: {}",
        stdout(o)
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    let errors: Vec<&&str> = lines.iter().filter(|l| l.starts_with("error")).collect();
    assert_eq!(
        errors.len(),
        1,
        "expected one error line on stderr, got:\n{err}"
    );
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("error: "),
        "the error must be the last line:\n{err}"
    );
    assert!(last.contains(needle), "`{needle}` not in: {last}");
    last.to_string()
}

/// The last `{"type":"result"}` line of JSON output.
pub fn json_result(o: &Output) -> serde_json::Value {
    let out = ok(o);
    let result = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["type"] == "result");
    result.unwrap_or_else(|| panic!("no JSON result in:\n{out}"))
}

/// The local bench's environment; fails (never skips) with how to start it when it is not up.
pub fn bench() -> Vec<(String, String)> {
    let how = "the local bench is not running: run `scripts/test.sh`, or `scripts/bench.sh up && eval \"$(scripts/bench.sh env)\"` before `cargo test`";
    assert!(std::env::var("CARGO_FARGATE_BENCH").is_ok(), "{how}");
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect(how);
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("{how} ({host}: {e})"));
    std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_") || k == "DOCKER_HOST")
        .collect()
}

/// A name no other test (or earlier run) uses on the shared bench; short, since it becomes part of
/// IAM role names (64 characters at most).
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    format!(
        "{prefix}{:x}{:x}{n:x}",
        std::process::id() % 0xfff,
        nanos % 0xffffff
    )
}

pub fn env_var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests through scripts/test.sh (the bench exports it)")
    })
}

/// `cargo fargate <args>` against the bench: moto, the registry endpoint override, the stand-in base
/// images, and a repository of the test's own.
pub fn bench_command(dir: &Path, repository: &str, args: &[&str]) -> Command {
    let mut cmd = command(dir, args);
    cmd.envs(bench())
        .env("CARGO_FARGATE_REPOSITORY", repository)
        .env("CARGO_FARGATE_REGISTRY_ENDPOINT", env_var("BENCH_REGISTRY"))
        .env(
            "CARGO_FARGATE_BUILDER_IMAGE",
            env_var("CARGO_FARGATE_TEST_BUILDER_IMAGE"),
        )
        .env(
            "CARGO_FARGATE_RUNTIME_IMAGE",
            env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE"),
        );
    cmd
}

/// `bench_command` for the host builder: its base image is read over the registry API, so the
/// runtime stand-in is named in the bench registry.
pub fn host_bench_command(dir: &Path, repository: &str, args: &[&str]) -> Command {
    let mut cmd = bench_command(dir, repository, args);
    cmd.env("CARGO_FARGATE_BUILDER", "host").env(
        "CARGO_FARGATE_RUNTIME_IMAGE",
        env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE"),
    );
    cmd
}

/// awscli against the bench, JSON out (`null` for an empty answer); panics on failure. A different
/// client than the one under test.
pub fn aws(args: &[&str]) -> serde_json::Value {
    let o = aws_try(args);
    assert!(o.status.success(), "aws {args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

pub fn aws_try(args: &[&str]) -> Output {
    let aws = PathBuf::from(env_var("BENCH_VENV")).join("bin/aws");
    Command::new(aws)
        .args(args)
        .args(["--output", "json"])
        .envs(bench())
        .output()
        .unwrap()
}

/// The docker CLI with a throw-away config dir, logged in to the bench registry.
pub struct DockerCli {
    config: tempfile::TempDir,
}

impl DockerCli {
    pub fn login() -> DockerCli {
        let cli = DockerCli {
            config: tempfile::tempdir().unwrap(),
        };
        let registry = env_var("BENCH_REGISTRY");
        let o = cli
            .cmd(&["login", &registry, "-u", "AWS", "--password-stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin
                    .take()
                    .unwrap()
                    .write_all(b"123456789012-auth-token")?;
                c.wait_with_output()
            });
        let o = o.unwrap();
        assert!(o.status.success(), "docker login: {}", stderr(&o));
        cli
    }
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", self.config.path()).args(args);
        if let Ok(h) = std::env::var("DOCKER_HOST") {
            c.env("DOCKER_HOST", h);
        }
        c
    }
    pub fn run(&self, args: &[&str]) -> String {
        let o = self.cmd(args).output().unwrap();
        assert!(o.status.success(), "docker {args:?}: {}", stderr(&o));
        stdout(&o)
    }
}

/// Tags the bench registry holds for a repository (empty when it has none).
pub fn registry_tags(repository: &str) -> Vec<String> {
    let url = format!(
        "http://{}/v2/{repository}/tags/list",
        env_var("BENCH_REGISTRY")
    );
    let o = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "30",
            "-u",
            "AWS:123456789012-auth-token",
            &url,
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
pub mod faulty;

pub const ACCOUNT: &str = "123456789012";

/// The tests' task image (tests/fixtures/probe, driven by PROBE_* env vars): built on the runtime
/// stand-in, pushed to the bench registry, and recorded in moto's ECR with the registry's own
/// manifest, so that both agree on its digest. Once per test binary; its tag is a hash of its
/// inputs, so another binary (or an earlier run) finds it pushed and only records it again —
/// concurrent builds of the same inputs give the same image. An ECR URI pinned by digest.
pub fn probe_image() -> &'static str {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE.get_or_init(build_probe)
}

fn build_probe() -> String {
    use sha2::{Digest, Sha256};
    let dir = repo().join("tests/fixtures/probe");
    let base = env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE");
    let cli = DockerCli::login();
    let base_id = cli.run(&["image", "inspect", "--format", "{{.Id}}", &base]);
    let mut h = Sha256::new();
    for f in ["Dockerfile", "probe.sh"] {
        h.update(std::fs::read(dir.join(f)).unwrap());
    }
    h.update(base_id.trim());
    let tag = format!("probe-{}", &hex::encode(h.finalize())[..16]);
    let repository = "cargo-fargate-tests";
    let local = format!("{}/{repository}:{tag}", env_var("BENCH_REGISTRY"));
    if !registry_tags(repository).contains(&tag) {
        let arg = format!("BASE={base}");
        cli.run(&[
            "build",
            "-q",
            "--build-arg",
            &arg,
            "-t",
            &local,
            dir.to_str().unwrap(),
        ]);
        cli.run(&["push", "-q", &local]);
    }
    let manifest = registry_manifest(repository, &tag);
    let digest = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(manifest.as_bytes()))
    );
    aws_try(&["ecr", "create-repository", "--repository-name", repository]);
    let o = aws_try(&[
        "ecr",
        "put-image",
        "--repository-name",
        repository,
        "--image-manifest",
        &manifest,
        "--image-digest",
        &digest,
        "--image-tag",
        &tag,
    ]);
    assert!(
        o.status.success() || stderr(&o).contains("ImageAlreadyExists"),
        "put-image: {}",
        stderr(&o)
    );
    format!("{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{repository}@{digest}")
}

/// `curl -X method` on the bench registry's `/v2/<path>` with its credentials (and `args`), `secs`
/// at the most; asserts it succeeded and returns the body.
pub fn registry_curl(method: &str, path: &str, secs: u32, args: &[&str]) -> Vec<u8> {
    let url = format!("http://{}/v2/{path}", env_var("BENCH_REGISTRY"));
    let o = Command::new("curl")
        .args(["-sf", "--max-time", &secs.to_string()])
        .args(["-u", "AWS:123456789012-auth-token"])
        .args(if method == "GET" {
            vec![]
        } else {
            vec!["-X", method]
        })
        .args(args)
        .arg(&url)
        .output()
        .unwrap();
    assert!(o.status.success(), "{method} {url}: {}", stderr(&o));
    o.stdout
}

/// A manifest as the bench registry stores it, byte for byte (its sha256 is the image digest).
pub fn registry_manifest(repository: &str, reference: &str) -> String {
    let accept = [
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
    ];
    let path = format!("{repository}/manifests/{reference}");
    String::from_utf8_lossy(&registry_curl("GET", &path, 30, &accept)).into_owned()
}

/// An image pinned by digest in a registry that refuses every connection (nothing listens on
/// 127.0.0.1:9), so a task of it cannot be pulled. Not in ECR: the tool does not read it (as for
/// any registry but ECR), and the pull fails where Fargate's would.
pub fn unpullable_image() -> String {
    format!("127.0.0.1:9/cargo-fargate-tests@sha256:{:0>64}", unique(""))
}

/// DescribeTasks of one task once it has STOPPED (awscli, polling for up to `secs` seconds).
pub fn wait_stopped(cluster: &str, arn: &str, secs: u64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let task = aws(&[
            "ecs",
            "describe-tasks",
            "--cluster",
            cluster,
            "--tasks",
            arn,
        ])["tasks"][0]
            .clone();
        if task["lastStatus"] == "STOPPED" {
            return task;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task {arn} did not stop within {secs}s: {task}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
}

/// The messages of a CloudWatch Logs stream (empty when it does not exist).
pub fn log_messages(group: &str, stream: &str) -> Vec<String> {
    let o = aws_try(&[
        "logs",
        "get-log-events",
        "--log-group-name",
        group,
        "--log-stream-name",
        stream,
        "--start-from-head",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["events"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["message"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}
