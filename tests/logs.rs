//! `logs` and the latest revision on the bench: a closed pipe ends `logs` quietly, and the latest
//! revision is the latest ACTIVE one. Checked through awscli, a different client than the one under
//! test.

mod common;

use common::*;
use std::io::BufRead;

/// Registers the probe for `name` (family `{name}-dev`, log group `/ecs/{name}-dev`) and puts
/// `count` log events of 200 characters into one task's stream: far more than a pipe buffers.
fn logged(name: &str, count: usize) -> tempfile::TempDir {
    let dir = project(name, &networked(""));
    ok(&cf(dir.path(), &["register", "--image", probe_image()]));
    let group = format!("/ecs/{name}-dev");
    let stream = format!("dev/{name}/0123456789abcdef0123456789abcdef");
    aws(&[
        "logs",
        "create-log-stream",
        "--log-group-name",
        &group,
        "--log-stream-name",
        &stream,
    ]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let events: Vec<serde_json::Value> = (0..count)
        .map(|i| {
            serde_json::json!({
                "timestamp": now - 60_000 + i as i64,
                "message": format!("line {i:05} {}", "x".repeat(189)),
            })
        })
        .collect();
    let file = dir.path().join("events.json");
    std::fs::write(&file, serde_json::to_vec(&events).unwrap()).unwrap();
    aws(&[
        "logs",
        "put-log-events",
        "--log-group-name",
        &group,
        "--log-stream-name",
        &stream,
        "--log-events",
        &format!("file://{}", file.display()),
    ]);
    dir
}

/// `logs | head -1`, and the same with `-f`: the reader goes after one line; cargo-fargate stops
/// writing and ends with 0, without a panic (Rust's `println!` panics on a closed pipe).
#[test]
fn logs_into_a_closed_pipe_ends_quietly() {
    let name = unique("pipe");
    let dir = logged(&name, 2000);
    for args in [&["logs"][..], &["logs", "-f"][..]] {
        let mut child = cf_spawn(dir.path(), args);
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(
            first.starts_with("[01234567] line 00000 "),
            "{args:?}: {first}"
        );
        drop(out);
        let status = wait_child(&mut child);
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(status.code(), Some(0), "{args:?}: {err}");
    }
}

/// The latest revision is the latest ACTIVE one: with the newest deregistered, `diff` compares
/// against the one before, and a family that merely shares the prefix is not mistaken for it.
#[test]
fn the_latest_revision_is_the_latest_active_one_of_exactly_the_family() {
    let name = unique("rev");
    let family = format!("{name}-dev");
    let dir = project(&name, &networked(""));
    let image = probe_image();
    ok(&cf(dir.path(), &["register", "--image", image]));
    set_fargate(dir.path(), &name, &networked("memory = 1024\n"));
    let r = json_result(&cf(
        dir.path(),
        &["register", "--image", image, "--message-format", "json"],
    ));
    assert_eq!(r["task_definition"]["revision"], 2);
    // Another family with our family's name as its prefix, and more revisions.
    let other = serde_json::json!({
        "family": format!("{family}-worker"),
        "containerDefinitions": [{"name": "w", "image": image, "memory": 128}],
    })
    .to_string();
    for _ in 0..3 {
        aws(&[
            "ecs",
            "register-task-definition",
            "--cli-input-json",
            &other,
        ]);
    }
    let diff = |dir: &std::path::Path| {
        json_result(&cf(
            dir,
            &["diff", "--image", image, "--message-format", "json"],
        ))
    };
    let d = diff(dir.path());
    assert_eq!(d["latest_revision"], 2, "{d}");
    assert_eq!(d["changed"], false, "{d}");
    aws(&[
        "ecs",
        "deregister-task-definition",
        "--task-definition",
        &format!("{family}:2"),
    ]);
    let d = diff(dir.path());
    assert_eq!(d["latest_revision"], 1, "{d}");
    assert_eq!(d["changed"], true, "{d}");
    assert!(
        d["diff"]
            .as_str()
            .unwrap()
            .starts_with(&format!("--- {family}:1 (registered)")),
        "{d}"
    );
}
