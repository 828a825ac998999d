//! Bad input is refused before anything is created: one line naming the key, flag or field, in
//! human output and JSON, and `--dry-run` refuses it too.

use super::*;

#[test]
fn a_template_field_ecs_does_not_know_fails_before_anything_is_registered() {
    let dir = single();
    let name = unique("tpl");
    let template = r#"{
  "family": "{{ family }}",
  "requiresCompatibilities": ["FARGATE"],
  "networkMode": "awsvpc",
  "cpu": "{{ cpu }}",
  "memory": "{{ memory }}",
  "executionRoleArn": "{{ execution_role_arn }}",
  "containerDefinitions": [{
    "name": "app",
    "image": "{{ image }}",
    "essentail": true
  }]
}
"#;
    std::fs::write(dir.path().join("td.json"), template).unwrap();
    let image = "public.ecr.aws/docker/library/busybox@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let o = command(dir.path(), &["register", "--image", image])
        .envs(bench())
        .env("CARGO_FARGATE_NAME", &name)
        .env("CARGO_FARGATE_TASK_TEMPLATE", "td.json")
        .output()
        .unwrap();
    let line = one_line_error(
        &o,
        "td.json:11: `task-template`: the task definition does not fit ECS: `containerDefinitions[0].essentail` is not a field",
    );
    assert!(line.contains("did you mean `essential`?"), "{line}");
    let family = format!("{name}-dev");
    assert!(
        aws(&["ecs", "list-task-definitions", "--family-prefix", &family])["taskDefinitionArns"]
            .as_array()
            .unwrap()
            .is_empty(),
        "registered anyway"
    );
    assert!(
        !aws_try(&["iam", "get-role", "--role-name", &format!("{family}-task")])
            .status
            .success(),
        "a role was created before the check"
    );
}

/// `deploy --dry-run` and `deploy` of examples/hello with one thing wrong: both fail with `needle`
/// and nothing exists afterwards.
fn refused_before_anything(
    setup: impl Fn(&Path),
    extra: &[&str],
    env: &[(&str, &str)],
    needle: &str,
) {
    let dir = copy_fixture(&repo().join("examples/hello"));
    setup(dir.path());
    let name = unique("chk");
    for dry_run in [true, false] {
        let mut args = vec!["deploy"];
        if dry_run {
            args.push("--dry-run");
        }
        args.extend(extra);
        let o = bench_command(dir.path(), &format!("{name}-dev"), &args)
            .env("CARGO_FARGATE_NAME", &name)
            .env("CARGO_FARGATE_SUBNETS", &net().subnet)
            .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        one_line_error(&o, needle);
        assert!(
            !repository_exists(&format!("{name}-dev")),
            "{needle}: repository created"
        );
    }
}

fn edit_manifest(dir: &Path, from: &str, to: &str) {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from));
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn build_inputs_are_checked_before_anything_is_created() {
    refused_before_anything(
        |_| {},
        &["--features", "jsn"],
        &[],
        "`features`: package `hello` has no feature `jsn`",
    );
    refused_before_anything(
        |_| {},
        &["--cargo-profile", "relese"],
        &[],
        "`cargo-profile`: cargo has no profile `relese` in this workspace; did you mean `release`?",
    );
    refused_before_anything(
        |d| {
            edit_manifest(
                d,
                "publish = false",
                "publish = false\n\n[dependencies]\nitoa = \"1\"",
            )
        },
        &[],
        &[],
        "Cargo.lock is out of date with the manifests",
    );
    refused_before_anything(
        |d| std::fs::write(d.join("target"), "a file where the target directory goes").unwrap(),
        &[],
        &[],
        "cannot write to target/fargate:",
    );
}

#[test]
fn limits_are_checked_before_anything_is_created_naming_the_key_or_flag() {
    refused_before_anything(
        |d| {
            edit_manifest(
                d,
                "[package.metadata.fargate]\n",
                "[package.metadata.fargate]\ntags = { \"aws:owner\" = \"me\" }\n",
            )
        },
        &[],
        &[],
        "`package.metadata.fargate.tags`: tag key `aws:owner` starts with `aws:`",
    );
    let big = format!("BIG={}", "x".repeat(9000));
    refused_before_anything(
        |_| {},
        &["-e", &big],
        &[],
        "flag --env: the overrides of this run are",
    );
    let huge = "y".repeat(70 * 1024);
    refused_before_anything(
        |_| {},
        &[],
        &[("CARGO_FARGATE_ENVIRONMENT", &format!("HUGE={huge}"))],
        "over ECS's 64 KiB limit",
    );
}

#[test]
fn a_long_name_is_blamed_on_name_not_on_a_key_the_user_never_set() {
    let dir = single();
    let o = command(dir.path(), &["config"])
        .env("CARGO_FARGATE_NAME", format!("a{}", "b".repeat(60)))
        .output()
        .unwrap();
    // The first name made from `name` that is too long is a role's (the archive bucket's default
    // name is shortened with a hash instead): the error blames `name`, and says to shorten it.
    let line = one_line_error(&o, "`name`: `abbbb");
    assert!(line.contains("is not a valid IAM role name"), "{line}");
    assert!(line.contains("a shorter `name`"), "{line}");
}

#[test]
fn secret_looking_environment_names_warn_and_their_values_are_never_printed() {
    let dir = single();
    edit_manifest(
        dir.path(),
        "[package.metadata.fargate]\n",
        "[package.metadata.fargate]\nenvironment = { DB_PASSWORD = \"hunter2\", RUST_LOG = \"info\" }\n",
    );
    for format in ["human", "json"] {
        let o = command(dir.path(), &["config", "--message-format", format])
            .output()
            .unwrap();
        let all = format!("{}{}", stdout(&o), stderr(&o));
        assert!(o.status.success(), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
        assert!(all.contains("DB_PASSWORD"), "{all}");
        assert!(all.contains("info"), "{all}");
        assert!(all.contains("looks like a secret"), "{all}");
    }
}

#[test]
fn usage_errors_and_bad_environment_values_are_one_line_with_json_too() {
    let dir = single();
    let o = command(
        dir.path(),
        &["--message-format", "json", "deploy", "--count", "99"],
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let event: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(event["type"], "error");
    assert_eq!(event["exit_code"], 2);
    assert!(
        event["message"].as_str().unwrap().contains("--count"),
        "{event}"
    );

    use std::os::unix::ffi::OsStrExt;
    let o = command(dir.path(), &["config"])
        .env(
            "CARGO_FARGATE_REGION",
            std::ffi::OsStr::from_bytes(b"eu-\xffwest-1"),
        )
        .output()
        .unwrap();
    one_line_error(&o, "env CARGO_FARGATE_REGION: the value is not valid UTF-8");
}
