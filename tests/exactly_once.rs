//! Issue 19 on the bench: a create whose answer is lost happens once (RunTask's client token), a
//! repository the tool did not make is never rewritten (the rule teardown keeps it by), a job's exit
//! code stands whatever fails after it, and a value no process can be given is refused at load.

mod common;

use common::faulty::{Faulty, Reply};
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn moto_addr() -> String {
    env_var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// The tasks of `family` in `cluster`, running or stopped.
fn tasks_of(cluster: &str, family: &str) -> Vec<String> {
    let mut all = Vec::new();
    for status in ["RUNNING", "STOPPED"] {
        let o = aws_try(&[
            "ecs",
            "list-tasks",
            "--cluster",
            cluster,
            "--family",
            family,
            "--desired-status",
            status,
        ]);
        if o.status.success() {
            let v: Value = serde_json::from_slice(&o.stdout).unwrap();
            for t in v["taskArns"].as_array().unwrap() {
                all.push(t.as_str().unwrap().to_string());
            }
        }
    }
    all.sort();
    all.dedup();
    all
}

/// A project whose own Dockerfile is the bench's runtime image with `cmd` (no Rust to compile).
fn shell_project(name: &str, fargate: &str, cmd: &str) -> tempfile::TempDir {
    let dir = project(name, &networked(fargate));
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nCMD [\"sh\", \"-c\", \"{cmd}\"]\n",
            env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE")
        ),
    )
    .unwrap();
    dir
}

fn in_bench(dir: &Path, name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    bench_command(dir, &format!("{name}-dev"), args)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn a_lost_runtask_answer_starts_one_task_and_a_rerun_finds_it() {
    let name = unique("once");
    let dir = project(
        &name,
        &networked("[package.metadata.fargate.environment]\nPROBE_EXIT = \"3\"\nPROBE_LINES = \"ran once\"\n"),
    );
    let image = probe_image();
    // RunTask reaches ECS and starts the task; its answer never comes back, on every attempt.
    let proxy = Faulty::on(moto_addr(), "RunTask", || Reply::Swallow);
    let o = command(
        dir.path(),
        &["run", "--image", image, "--endpoint-url", &proxy.url],
    )
    .envs(bench())
    .env("AWS_MAX_ATTEMPTS", "3")
    .output()
    .unwrap();
    let line = one_line_error(&o, "RunTask's answer never arrived");
    assert!(line.contains("a task may have started"), "{line}");
    assert!(line.contains("cargo fargate ps --all"), "{line}");
    assert_eq!(o.status.code(), Some(1));
    assert!(proxy.count("RunTask") >= 2, "{:?}", proxy.operations());
    let family = format!("{name}-dev");
    let cluster = format!("{name}-dev");
    let first = tasks_of(&cluster, &family);
    assert_eq!(first.len(), 1, "retried RunTasks started {first:?}");

    // The re-run asks with the same client token: ECS answers with that task, which is followed to
    // its exit code; no second task.
    let o = cf(dir.path(), &["run", "--image", image]);
    assert!(stderr(&o).contains("Resuming"), "{}", stderr(&o));
    assert!(stdout(&o).contains("ran once"), "{}", stdout(&o));
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(tasks_of(&cluster, &family), first);

    // Answered, the token is spent: the next run is a run of its own.
    let o = cf(dir.path(), &["run", "--image", image]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(!stderr(&o).contains("Resuming"), "{}", stderr(&o));
    assert_eq!(tasks_of(&cluster, &family).len(), 2);
}

#[test]
fn a_repository_the_tool_did_not_make_is_not_rewritten_unless_adopted() {
    let name = unique("own");
    let repo = format!("{name}-dev");
    aws(&[
        "ecr",
        "create-repository",
        "--repository-name",
        &repo,
        "--image-tag-mutability",
        "MUTABLE",
    ]);
    let theirs = r#"{"rules":[{"rulePriority":1,"description":"keep 500","selection":{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":500},"action":{"type":"expire"}}]}"#;
    aws(&[
        "ecr",
        "put-lifecycle-policy",
        "--repository-name",
        &repo,
        "--lifecycle-policy-text",
        theirs,
    ]);
    let policy = || {
        let v = aws(&["ecr", "get-lifecycle-policy", "--repository-name", &repo]);
        serde_json::from_str::<Value>(v["lifecyclePolicyText"].as_str().unwrap()).unwrap()
    };
    let mutability = || {
        aws(&["ecr", "describe-repositories", "--repository-names", &repo])["repositories"][0]
            ["imageTagMutability"]
            .clone()
    };
    let before = policy();
    let dir = shell_project(&name, "", "echo hi");

    let o = in_bench(dir.path(), &name, &["push"], &[]);
    let line = one_line_error(&o, &format!("ECR repository `{repo}` exists but is not tagged"));
    assert!(line.contains("adopt = true"), "{line}");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(policy(), before, "the owner's lifecycle policy was replaced");
    assert_eq!(mutability(), "MUTABLE");
    assert!(registry_tags(&repo).is_empty(), "pushed into it anyway");
    // deploy refuses in its plan, before anything is created.
    let o = in_bench(dir.path(), &name, &["deploy", "--dry-run"], &[]);
    one_line_error(&o, &format!("ECR repository `{repo}` exists but is not tagged"));
    // teardown keeps it by the same rule.
    let o = in_bench(dir.path(), &name, &["teardown", "--dry-run"], &[]);
    assert!(stdout(&o).contains("not tagged as this stage's"), "{}", stdout(&o));

    // Adopted: tagged as the stage's, then made as configured.
    let o = in_bench(dir.path(), &name, &["push"], &[("CARGO_FARGATE_ADOPT", "true")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("Adopted"), "{}", stderr(&o));
    assert_ne!(policy(), before);
    assert_eq!(mutability(), "IMMUTABLE");
    let tags = repository_tags(&repo).unwrap();
    assert_eq!(tags.get("cargo-fargate:stage").map(String::as_str), Some("dev"));
    assert_eq!(tags.get("managed-by").map(String::as_str), Some("cargo-fargate"));
    // Now it is ours: a push without `adopt` is fine.
    let o = in_bench(dir.path(), &name, &["push"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_cleanup_that_hangs_after_the_job_exited_leaves_its_exit_code_and_summary() {
    let name = unique("fin");
    let dir = shell_project(&name, "", "echo the job ran; exit 0");
    // keep-revisions' ListTaskDefinitions, after the task has exited, never answers.
    let proxy = Faulty::on(moto_addr(), "ListTaskDefinitions", || Reply::Hang);
    let o = in_bench(
        dir.path(),
        &name,
        &["deploy", "--endpoint-url", &proxy.url, "--timeout", "20"],
        &[],
    );
    let err = stderr(&o);
    assert!(stdout(&o).contains("the job ran"), "{}\n{err}", stdout(&o));
    assert_eq!(o.status.code(), Some(0), "{err}");
    let warning = err
        .lines()
        .find(|l| l.contains("keep-revisions"))
        .unwrap_or_else(|| panic!("no warning names the cleanup:\n{err}"));
    assert!(warning.contains("ListTaskDefinitions"), "{warning}");
    assert!(stdout(&o).contains("exit code        0"), "{}", stdout(&o));
    assert!(stdout(&o).contains("task definition"), "{}", stdout(&o));
}

#[test]
fn a_nul_byte_in_the_environment_is_refused_at_load_before_anything_is_created() {
    let name = unique("nul");
    let dir = shell_project(
        &name,
        "[package.metadata.fargate.environment]\nGREETING = \"a\\u0000b\"\n",
        "echo hi",
    );
    let o = in_bench(dir.path(), &name, &["deploy"], &[]);
    let line = one_line_error(&o, "NUL byte");
    assert!(line.contains("Cargo.toml:"), "{line}");
    assert!(line.contains("GREETING"), "{line}");
    assert_eq!(o.status.code(), Some(1));
    let repo = format!("{name}-dev");
    assert!(repository_tags(&repo).is_none(), "a repository was created");
    assert!(
        aws(&["ecs", "list-task-definitions", "--family-prefix", &repo])["taskDefinitionArns"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_duplicate_stage_table_is_named_not_just_an_invalid_header() {
    let dir = project(
        "dup",
        "cpu = 256\n\n[package.metadata.fargate.stages.prod]\ncpu = 512\n\n[package.metadata.fargate.stages.prod]\ncpu = 1024\n",
    );
    let line = one_line_error(&cargo_fargate(dir.path(), &["config"]), "duplicate key");
    assert!(line.contains("Cargo.toml:"), "{line}");
    assert!(line.contains("prod"), "{line}");
}

#[test]
fn a_deploy_whose_task_never_started_says_why_in_human_output() {
    let name = unique("why");
    let dir = project(&name, &networked(""));
    // An entrypoint that is not in the image: the container cannot start.
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nENTRYPOINT [\"/no/such/program\"]\n",
            env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE")
        ),
    )
    .unwrap();
    let o = in_bench(dir.path(), &name, &["deploy"], &[]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let line = stdout(&o)
        .lines()
        .find(|l| l.starts_with("exit code"))
        .unwrap_or_else(|| panic!("no exit code line:\n{}", stdout(&o)))
        .to_string();
    assert!(line.contains("125 (") && line.len() > "exit code        125 ()".len(), "{line}");
}

#[test]
fn aws_profile_beside_keys_in_the_environment_gets_a_word() {
    let dir = project(&unique("prof"), &networked(""));
    let o = command(dir.path(), &["ps"])
        .envs(bench())
        .env("AWS_PROFILE", "ci-deployer")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("AWS_PROFILE=ci-deployer is set, but AWS_ACCESS_KEY_ID"),
        "{}",
        stderr(&o)
    );
}
