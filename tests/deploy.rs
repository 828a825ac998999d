//! `deploy` end to end on the bench: the Docker Engine builds, the registry takes the push, moto
//! registers, and the bench agent runs the task as a container of the pushed image; checked through
//! awscli and the registry, not through cargo-fargate itself.

mod common;

use common::*;
use std::path::Path;

fn deploy(dir: &Path, name: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = bench_command(dir, &format!("{name}-dev"), &[&["deploy"], args].concat());
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg);
    cmd
}

fn repository_exists(name: &str) -> bool {
    aws_try(&["ecr", "describe-repositories", "--repository-names", name])
        .status
        .success()
}

#[test]
fn dry_run_changes_nothing_then_deploy_runs_and_a_second_deploy_converges() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("dep");
    let family = format!("{name}-dev");

    let plan = json_result(
        &deploy(
            dir.path(),
            &name,
            &["--dry-run", "--message-format", "json"],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(plan["dry_run"], true);
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["package", "build", "push", "register", "run"]);
    assert!(
        plan["steps"][2]["action"]
            .as_str()
            .unwrap()
            .contains("create ECR repository"),
        "{plan}"
    );
    let register = plan["steps"][3]["action"].as_str().unwrap();
    assert!(
        register.ends_with(&format!("; create role {family}-task, {family}-execution")),
        "{register}"
    );
    assert_eq!(plan["steps"][3]["changes"], true);
    assert!(
        !repository_exists(&family),
        "dry run created the repository"
    );
    assert!(
        aws(&["ecs", "list-task-definitions", "--family-prefix", &family])["taskDefinitionArns"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(registry_tags(&family).is_empty());

    let o = deploy(dir.path(), &name, &["--message-format", "json"])
        .output()
        .unwrap();
    let r = json_result(&o);
    assert_eq!(r["exit_code"], 0);
    assert_eq!(r["up_to_date"], false);
    assert_eq!(r["task_definition"]["revision"], 1);
    assert_eq!(r["log_group"], format!("/ecs/{family}"));
    let image_uri = r["image_uri"].as_str().unwrap();
    assert!(image_uri.ends_with(r["digest"].as_str().unwrap()));
    // Events came before the result, machine-readable.
    let events: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(events.iter().any(|e| e["type"] == "build_step"));
    // The container's own greeting, from its log stream, came while deploy waited.
    let greeting = "Hello from cargo-fargate! args=[]";
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "log" && e["message"] == greeting),
        "{events:?}"
    );

    // What AWS holds: the definition pins the pushed digest and names the created task role, which
    // trusts ECS tasks; the task ran in the configured network.
    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &family,
    ]);
    assert_eq!(
        td["taskDefinition"]["containerDefinitions"][0]["image"],
        image_uri
    );
    let task_role = format!("arn:aws:iam::123456789012:role/{family}-task");
    assert_eq!(td["taskDefinition"]["taskRoleArn"], task_role.as_str());
    let role = aws(&["iam", "get-role", "--role-name", &format!("{family}-task")]);
    assert!(role["Role"]["AssumeRolePolicyDocument"]
        .to_string()
        .contains("ecs-tasks.amazonaws.com"));
    let task_arn = r["tasks"][0].as_str().unwrap();
    let tasks = aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &family,
        "--tasks",
        task_arn,
    ]);
    let details = tasks["tasks"][0]["attachments"][0]["details"].to_string();
    assert!(details.contains(&net().subnet), "{details}");
    let id = task_arn.rsplit('/').next().unwrap();
    assert_eq!(
        r["log_streams"][0],
        format!("dev/{name}/{id}"),
        "awslogs names streams prefix/container/task"
    );
    assert_eq!(
        log_messages(&format!("/ecs/{family}"), &format!("dev/{name}/{id}")),
        [greeting]
    );
    let task = &tasks["tasks"][0];
    assert_eq!(task["stopCode"], "EssentialContainerExited");
    assert_eq!(task["containers"][0]["exitCode"], 0);

    // Nothing changed: no build, no push, no new revision; the human summary says so.
    let o = deploy(dir.path(), &name, &[]).output().unwrap();
    let out = ok(&o);
    assert!(out.contains("(up to date)"), "{out}");
    assert!(
        out.contains(&format!("task definition  {family}:1 (unchanged)")),
        "{out}"
    );
    assert!(out.contains("exit code        0"), "{out}");
    assert!(out.starts_with(&format!("{greeting}\n")), "{out}");
    assert_eq!(
        aws(&["ecs", "list-task-definitions", "--family-prefix", &family])["taskDefinitionArns"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // The job fails: deploy exits with the container's code (examples/hello exits HELLO_EXIT_CODE).
    let o = deploy(dir.path(), &name, &["-e", "HELLO_EXIT_CODE=3"])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(3), "{out}{}", stderr(&o));
    assert!(out.starts_with(&format!("{greeting}\n")), "{out}");
    assert!(out.contains("exit code        3"), "{out}");
}

#[test]
fn the_default_vpc_is_refused_before_anything_is_pushed_or_created() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("dvpc");
    let family = format!("{name}-dev");
    let subnet = default_vpc_subnet();
    let o = deploy(dir.path(), &name, &[])
        .env("CARGO_FARGATE_SUBNETS", &subnet)
        .output()
        .unwrap();
    one_line_error(&o, "default VPC");
    assert!(registry_tags(&family).is_empty(), "nothing pushed");
    assert!(!repository_exists(&family), "no repository created");
    assert!(
        !aws_try(&["iam", "get-role", "--role-name", &format!("{family}-task")])
            .status
            .success(),
        "no role created"
    );
}

/// The plan sees what `ensure_repository` would change: a repository whose tag mutability was
/// changed behind our back shows `~` on the push step even though the image is up to date, the
/// deploy puts it back, and the next plan is all `=` up to the run.
#[test]
fn a_repository_setting_that_drifted_is_a_change_in_the_plan() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("drift");
    let family = format!("{name}-dev");
    ok(&deploy(dir.path(), &name, &["--no-run"]).output().unwrap());
    aws(&[
        "ecr",
        "put-image-tag-mutability",
        "--repository-name",
        &family,
        "--image-tag-mutability",
        "MUTABLE",
    ]);

    let plan = |dir: &Path| {
        json_result(
            &deploy(
                dir,
                &name,
                &["--dry-run", "--no-run", "--message-format", "json"],
            )
            .output()
            .unwrap(),
        )
    };
    let p = plan(dir.path());
    let step = |p: &serde_json::Value, i: usize| {
        (
            p["steps"][i]["changes"].clone(),
            p["steps"][i]["action"].as_str().unwrap().to_string(),
        )
    };
    let (build_changes, _) = step(&p, 1);
    assert_eq!(build_changes, false, "{p}");
    let (push_changes, push_action) = step(&p, 2);
    assert_eq!(push_changes, true, "{p}");
    assert!(
        push_action.contains(&format!("update tag-mutability of ECR repository {family}")),
        "{push_action}"
    );
    let (register_changes, register_action) = step(&p, 3);
    assert_eq!(register_changes, false, "{p}");
    assert!(
        register_action.starts_with(&format!("keep {family}:1 (unchanged)")),
        "{register_action}"
    );
    // The human plan marks it the same way.
    let human = ok(&deploy(dir.path(), &name, &["--dry-run", "--no-run"])
        .output()
        .unwrap());
    assert!(
        human.contains("  push      ~ update tag-mutability"),
        "{human}"
    );

    let r = json_result(
        &deploy(dir.path(), &name, &["--no-run", "--message-format", "json"])
            .output()
            .unwrap(),
    );
    assert_eq!(r["up_to_date"], true, "{r}");
    assert_eq!(
        r["push"]["repository"]["updated"],
        serde_json::json!(["tag-mutability"]),
        "{r}"
    );
    let described = aws(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        &family,
    ]);
    assert_eq!(
        described["repositories"][0]["imageTagMutability"],
        "IMMUTABLE"
    );
    let p = plan(dir.path());
    let (push_changes, push_action) = step(&p, 2);
    assert_eq!(push_changes, false, "{p}");
    assert!(push_action.starts_with("skip: "), "{push_action}");
}
