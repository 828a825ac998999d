//! Ctrl-C on the bench (issue 19): wherever it lands — the plan, the Docker build, a CodeBuild
//! build, a followed task — the command exits 130 with one line saying what was left running or
//! half-done, in human output as in JSON. SIGINT is sent to the binary as a terminal's Ctrl-C
//! would (`kill -INT`).

mod common;

use common::faulty::{Faulty, Reply};
use common::*;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

fn moto_addr() -> String {
    env_var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

fn spawn(mut cmd: Command) -> (Child, Receiver<String>, Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = lines_of(child.stderr.take().unwrap());
    let out = lines_of(child.stdout.take().unwrap());
    (child, out, err)
}

/// Interrupts `child`, waits for it, and returns its stdout and stderr lines after `seen`.
fn interrupt_and_wait(
    child: &mut Child,
    out: &Receiver<String>,
    err: &Receiver<String>,
    mut seen: Vec<String>,
) -> (Vec<String>, Vec<String>) {
    let at = Instant::now();
    interrupt(child);
    let status = wait_child(child);
    // The readers end with the pipes; give them a moment to hand over the last lines.
    std::thread::sleep(Duration::from_millis(300));
    seen.extend(err.try_iter());
    let printed: Vec<String> = out.try_iter().collect();
    assert_eq!(status.code(), Some(130), "{seen:?}\n{printed:?}");
    assert!(
        at.elapsed() < Duration::from_secs(20),
        "Ctrl-C took {:?} to end the command",
        at.elapsed()
    );
    (printed, seen)
}

/// Waits until `proxy` has been asked for `operation` (the command is now blocked on it).
fn wait_for_operation(proxy: &Faulty, operation: &str) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while proxy.count(operation) == 0 {
        assert!(
            Instant::now() < deadline,
            "no {operation}: {:?}",
            proxy.operations()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The first line `want` accepts, within 3 minutes (a build's first step or CodeBuild's start
/// under a loaded bench); every line read goes to `seen`.
fn wait_long(rx: &Receiver<String>, seen: &mut Vec<String>, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(180);
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

fn nothing_registered(family: &str) {
    let defs = aws(&["ecs", "list-task-definitions", "--family-prefix", family]);
    assert_eq!(defs["taskDefinitionArns"], serde_json::json!([]), "{defs}");
}

/// Ctrl-C while the plan waits on AWS: nothing was changed, and it says so, in both outputs.
#[test]
fn ctrl_c_during_the_plan_says_nothing_was_changed_yet() {
    for json in [false, true] {
        let name = unique("intplan");
        let dir = project(&name, &networked(""));
        // The plan's question about the task definition never gets its answer.
        let proxy = Faulty::on(moto_addr(), "DescribeTaskDefinition", || Reply::Hang);
        let mut args = vec!["deploy", "--endpoint-url", &proxy.url];
        if json {
            args.extend(["--message-format", "json"]);
        }
        let (mut child, out, err) = spawn(bench_command(dir.path(), &format!("{name}-dev"), &args));
        wait_for_operation(&proxy, "DescribeTaskDefinition");
        let (printed, seen) = interrupt_and_wait(&mut child, &out, &err, Vec::new());
        let want = "interrupted: during the plan: nothing was changed yet";
        if json {
            let error: serde_json::Value = printed
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|e| e["type"] == "error")
                .unwrap_or_else(|| panic!("no error event: {printed:?}"));
            assert_eq!(error["message"], want, "{error}");
        } else {
            assert_eq!(
                seen.last().map(String::as_str),
                Some(&*format!("error: {want}"))
            );
        }
        let repo = format!("{name}-dev");
        assert!(repository_tags(&repo).is_none(), "a repository was made");
        nothing_registered(&repo);
    }
}

/// Ctrl-C during the Engine's build: the build stops (no image is pushed), nothing is registered.
#[test]
fn ctrl_c_during_the_docker_build_says_the_build_stopped() {
    let name = unique("intbuild");
    let dir = project(&name, &networked(""));
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN echo building-slowly && sleep 120\nCMD [\"true\"]\n",
            env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE")
        ),
    )
    .unwrap();
    let repo = format!("{name}-dev");
    let (mut child, out, err) = spawn(bench_command(dir.path(), &repo, &["deploy"]));
    let mut seen = Vec::new();
    wait_long(&err, &mut seen, |l| l.contains("sleep 120"));
    let (_, seen) = interrupt_and_wait(&mut child, &out, &err, seen);
    let last = seen.last().unwrap();
    assert_eq!(
        last, "error: interrupted: the image build stopped; nothing was pushed or registered",
        "{seen:?}"
    );
    assert!(registry_tags(&repo).is_empty(), "an image was pushed");
    nothing_registered(&repo);
}

/// A command whose CodeBuild build is running, and stays so (its build script sleeps).
struct Building {
    child: Child,
    out: Receiver<String>,
    err: Receiver<String>,
    seen: Vec<String>,
    /// The build's ID.
    id: String,
}

impl Building {
    /// Ctrl-C, then the command's stderr lines (it exited 130).
    fn interrupt(mut self) -> Vec<String> {
        interrupt_and_wait(&mut self.child, &self.out, &self.err, self.seen).1
    }
}

/// Starts `args` in `dir` with the CodeBuild builder and a compile step that lasts, and waits
/// until the build is running.
fn slow_codebuild_build(dir: &std::path::Path, name: &str, args: &[&str]) -> Building {
    std::fs::write(
        dir.join("build.rs"),
        "fn main() { std::thread::sleep(std::time::Duration::from_secs(600)); }\n",
    )
    .unwrap();
    let mut cmd = bench_command(dir, &format!("{name}-dev"), args);
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_BUILDER", "codebuild");
    let (child, out, err) = spawn(cmd);
    let mut seen = Vec::new();
    let line = wait_long(&err, &mut seen, |l| l.contains("on CodeBuild ("));
    let id = line
        .rsplit("build ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_string();
    Building {
        child,
        out,
        err,
        seen,
        id,
    }
}

/// `--stop-on-interrupt` off: Ctrl-C while CodeBuild builds leaves the build running, says so
/// with its ID and how to stop it, and exits 130.
#[test]
fn ctrl_c_during_a_codebuild_build_names_the_build_left_running() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("intcb");
    let building = slow_codebuild_build(dir.path(), &name, &["push"]);
    let id = building.id.clone();
    let seen = building.interrupt();
    let last = seen.last().unwrap();
    assert!(
        last.starts_with(&format!(
            "error: interrupted: stopped following CodeBuild build {id}; it goes on"
        )),
        "{seen:?}"
    );
    assert!(
        last.contains(&format!("aws codebuild stop-build --id {id}")),
        "{last}"
    );
    let build = &aws(&["codebuild", "batch-get-builds", "--ids", &id])["builds"][0];
    assert_eq!(build["buildStatus"], "IN_PROGRESS", "{build}");
    aws(&["codebuild", "stop-build", "--id", &id]);
}

/// `--stop-on-interrupt` on: Ctrl-C while CodeBuild builds stops the build, says so, waits for
/// CodeBuild to report it ended, and exits 130 without going on to register or run.
#[test]
fn ctrl_c_with_stop_on_interrupt_stops_the_codebuild_build() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("intcbstop");
    let manifest = dir.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "[package.metadata.fargate]\n",
        &format!("[package.metadata.fargate]\n{}", networked("")),
    );
    std::fs::write(&manifest, text).unwrap();
    let building = slow_codebuild_build(dir.path(), &name, &["deploy", "--stop-on-interrupt"]);
    let id = building.id.clone();
    let seen = building.interrupt();
    assert!(
        seen.iter()
            .any(|l| l.contains(&format!("Stopping CodeBuild build {id}"))),
        "{seen:?}"
    );
    let last = seen.last().unwrap();
    assert!(
        last.starts_with(&format!(
            "error: interrupted: CodeBuild build {id} was asked to stop and ended STOPPED"
        )),
        "{seen:?}"
    );
    let build = &aws(&["codebuild", "batch-get-builds", "--ids", &id])["builds"][0];
    assert_eq!(build["buildStatus"], "STOPPED", "{build}");
    nothing_registered(&name);
}

/// A followed task: Ctrl-C leaves it running and says which, with how to follow or stop it.
#[test]
fn ctrl_c_while_following_a_task_names_the_task_left_running() {
    let name = unique("inttask");
    let dir = project(
        &name,
        &networked(
            "[package.metadata.fargate.environment]\nPROBE_LINES = \"waiting\"\nPROBE_SLEEP = \"300\"\n",
        ),
    );
    let image = probe_image();
    let mut cmd = command(dir.path(), &["run", "--image", image]);
    cmd.envs(bench());
    let (mut child, out, err) = spawn(cmd);
    let mut seen = Vec::new();
    let started = wait_for_line(&err, &mut seen, |l| l.contains("Started task arn:"));
    let arn = started.split_whitespace().last().unwrap().to_string();
    let (_, seen) = interrupt_and_wait(&mut child, &out, &err, seen);
    let id = arn.rsplit('/').next().unwrap();
    let warning = seen
        .iter()
        .find(|l| l.starts_with("warning: interrupted"))
        .unwrap_or_else(|| panic!("{seen:?}"));
    assert!(
        warning.contains(&format!("still running: task {arn}")),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("cargo fargate stop {id}")),
        "{warning}"
    );
    let cluster = format!("{name}-dev");
    let task = &aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &cluster,
        "--tasks",
        &arn,
    ])["tasks"][0];
    assert_eq!(task["lastStatus"], "RUNNING", "{task}");
    aws(&["ecs", "stop-task", "--cluster", &cluster, "--task", &arn]);
}
