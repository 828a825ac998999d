//! Waits that must end: a task ECS reports MISSING is not polled forever, and Ctrl-C ends the wait
//! for IAM to make freshly created roles usable. A misbehaving endpoint (tests/common/faulty.rs)
//! stands between the binary and the bench and answers the one call each case is about.

mod common;

use common::faulty::{Faulty, Reply};
use common::*;
use std::time::{Duration, Instant};

const IMAGE: &str = "public.ecr.aws/docker/library/busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111";

fn moto_addr() -> String {
    env_var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// A project of its own (unique roles, family and cluster) in the tests' network.
fn own_project(prefix: &str) -> tempfile::TempDir {
    let name = unique(prefix);
    let n = net();
    project(
        &name,
        &format!(
            "subnets = [\"{}\"]\nsecurity-groups = [\"{}\"]\n",
            n.subnet, n.sg
        ),
    )
}

#[test]
fn a_task_ecs_reports_missing_ends_as_could_not_observe() {
    let proxy = Faulty::start(Some(moto_addr()), |r| {
        if r.operation() == "DescribeTasks" {
            Reply::Answer {
                status: 200,
                content_type: "application/x-amz-json-1.1",
                body: r#"{"tasks": [], "failures": [{"arn": "arn:aws:ecs:us-east-1:123456789012:task/x/0123", "reason": "MISSING"}]}"#.into(),
            }
        } else {
            Reply::Forward
        }
    });
    let dir = own_project("miss");
    let started = Instant::now();
    let o = command(
        dir.path(),
        &["run", "--image", IMAGE, "--endpoint-url", &proxy.url],
    )
    .envs(bench())
    .output()
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "{:?}",
        started.elapsed()
    );
    let line = one_line_error(&o, "lost track of task");
    assert!(line.contains("ECS no longer knows the task"), "{line}");
    assert!(line.contains("MISSING"), "{line}");
    assert_eq!(o.status.code(), Some(124), "{line}");
    let polls = proxy
        .operations()
        .iter()
        .filter(|op| *op == "DescribeTasks")
        .count();
    assert!((3..=4).contains(&polls), "{polls} DescribeTasks");
}

#[test]
fn ctrl_c_ends_the_wait_for_iam_to_make_new_roles_usable() {
    // The roles are created by this run (fresh); ECS keeps answering that it cannot assume them.
    let proxy = Faulty::start(Some(moto_addr()), |r| {
        if r.operation() == "RunTask" {
            Reply::aws_json(
                400,
                "InvalidParameterException",
                "ECS was unable to assume the role 'arn:aws:iam::123456789012:role/x' that was provided for this task.",
            )
        } else {
            Reply::Forward
        }
    });
    let dir = own_project("iamw");
    let mut child = cf_spawn(
        dir.path(),
        &["run", "--image", IMAGE, "--endpoint-url", &proxy.url],
    );
    let stderr = lines_of(child.stderr.take().unwrap());
    let mut seen = Vec::new();
    wait_for_line(&stderr, &mut seen, |l| {
        l.contains("Waiting") && l.contains("for IAM to let ECS use the new roles")
    });
    let interrupted = Instant::now();
    interrupt(&child);
    let status = wait_child(&mut child);
    // Five retries 5 s apart would take 25 s: Ctrl-C does not wait for them.
    assert!(
        interrupted.elapsed() < Duration::from_secs(5),
        "{:?}",
        interrupted.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    seen.extend(stderr.iter());
    let last = seen.last().unwrap();
    assert!(
        last.starts_with("error: ") && last.contains("interrupted while waiting for IAM"),
        "{seen:?}"
    );
    let run_tasks = proxy
        .operations()
        .iter()
        .filter(|op| *op == "RunTask")
        .count();
    assert!(run_tasks < 6, "{run_tasks} RunTask");
}
