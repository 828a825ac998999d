//! Shared by the integration tests: run the built binary on a copy of a fixture, and reach the bench.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// Asserts the bar for bad input: non-zero exit, exactly one `error:` line, which contains `needle`.
pub fn one_line_error(o: &Output, needle: &str) -> String {
    let err = stderr(o);
    assert!(
        !o.status.success(),
        "expected a failure, got success: {}",
        stdout(o)
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr, got:\n{err}");
    assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    assert!(lines[0].contains(needle), "`{needle}` not in: {}", lines[0]);
    lines[0].to_string()
}

/// The last `{"type":"result"}` line of JSON output.
pub fn json_result(o: &Output) -> serde_json::Value {
    let out = ok(o);
    let result = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "result")
        .last();
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
