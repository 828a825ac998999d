//! Scheduled jobs and keep-revisions on the bench: moto serves EventBridge Scheduler, ECS and IAM;
//! the bench agent runs the tasks. What AWS holds is checked through awscli, not cargo-fargate.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

/// `cargo fargate deploy` of examples/batch-job as project `name`, stage dev.
fn deploy(dir: &Path, name: &str, args: &[&str]) -> std::process::Output {
    deploy_with(dir, name, args, &[])
}

fn deploy_with(
    dir: &Path,
    name: &str,
    args: &[&str],
    envs: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = bench_command(dir, &format!("{name}-dev"), &[&["deploy"], args].concat());
    cmd.envs(envs.iter().copied());
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg)
        .env("CARGO_FARGATE_EXECUTION_ROLE", execution_role());
    cmd.output().unwrap()
}

/// `cargo fargate <args>` on the same stage, without building.
fn cmd(dir: &Path, name: &str, args: &[&str]) -> std::process::Output {
    bench_command(dir, &format!("{name}-dev"), args)
        .env("CARGO_FARGATE_NAME", name)
        .output()
        .unwrap()
}

fn get_schedule(name: &str) -> Option<Value> {
    let o = aws_try(&["scheduler", "get-schedule", "--name", name]);
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).unwrap())
}

/// Adds `schedule = …` to the example's base table.
fn with_schedule(dir: &Path, expression: &str) {
    let path = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replacen(
        "[package.metadata.fargate]\n",
        &format!("[package.metadata.fargate]\nschedule = \"{expression}\"\n"),
        1,
    );
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_scheduled_deploy_creates_the_schedule_and_its_role_converges_and_delete_removes_them() {
    let dir = copy_fixture(&repo().join("examples/batch-job"));
    with_schedule(dir.path(), "cron(0 3 * * ? *)");
    let name = unique("sch");
    let family = format!("{name}-dev");

    let r = json_result(&deploy(dir.path(), &name, &["--message-format", "json"]));
    // Registered and scheduled; nothing ran now.
    assert!(r.get("run").is_none(), "{r}");
    assert_eq!(r["schedule"]["created"], true, "{r}");
    assert!(
        aws(&["ecs", "list-tasks", "--cluster", &family])["taskArns"]
            .as_array()
            .unwrap()
            .is_empty(),
        "deploy of a scheduled stage ran a task"
    );
    let td_arn = r["task_definition"]["arn"].as_str().unwrap().to_string();

    // What EventBridge Scheduler holds: the expression, the cluster, this revision, the network.
    let s = get_schedule(&family).expect("the schedule exists");
    assert_eq!(s["ScheduleExpression"], "cron(0 3 * * ? *)");
    assert_eq!(s["ScheduleExpressionTimezone"], "UTC");
    assert_eq!(s["State"], "ENABLED");
    let target = &s["Target"];
    assert_eq!(
        target["Arn"],
        format!("arn:aws:ecs:us-east-1:123456789012:cluster/{family}").as_str()
    );
    let role_arn = format!("arn:aws:iam::123456789012:role/{family}-scheduler");
    assert_eq!(target["RoleArn"], role_arn.as_str());
    let ecs = &target["EcsParameters"];
    assert_eq!(ecs["TaskDefinitionArn"], td_arn.as_str());
    assert_eq!(ecs["LaunchType"], "FARGATE");
    assert_eq!(ecs["PlatformVersion"], "LATEST");
    assert_eq!(ecs["PropagateTags"], "TASK_DEFINITION");
    let vpc = &ecs["NetworkConfiguration"]["awsvpcConfiguration"];
    assert_eq!(vpc["Subnets"], serde_json::json!([net().subnet]));
    assert_eq!(vpc["SecurityGroups"], serde_json::json!([net().sg]));
    assert_eq!(vpc["AssignPublicIp"], "DISABLED");

    // Its role: trusts only the scheduler of this account; may run only this family on this
    // cluster and pass only the task's two roles.
    let role = aws(&[
        "iam",
        "get-role",
        "--role-name",
        &format!("{family}-scheduler"),
    ]);
    let trust = &role["Role"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"], "scheduler.amazonaws.com");
    assert_eq!(
        trust["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );
    let policy = aws(&[
        "iam",
        "get-role-policy",
        "--role-name",
        &format!("{family}-scheduler"),
        "--policy-name",
        "cargo-fargate-run-task",
    ]);
    let statements = &policy["PolicyDocument"]["Statement"];
    assert_eq!(statements[0]["Action"], "ecs:RunTask");
    assert_eq!(
        statements[0]["Resource"],
        format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:*").as_str()
    );
    assert_eq!(statements[2]["Action"], "iam:PassRole");
    let mut pass_roles = vec![
        format!("arn:aws:iam::123456789012:role/{family}-task"),
        execution_role().to_string(),
    ];
    pass_roles.sort();
    assert_eq!(statements[2]["Resource"], serde_json::json!(pass_roles));

    // A second deploy with no change leaves the schedule alone; --run-now runs the job once.
    let modified = s["LastModificationDate"].clone();
    let again = json_result(&deploy(
        dir.path(),
        &name,
        &["--run-now", "--message-format", "json"],
    ));
    assert_eq!(again["schedule"]["created"], false, "{again}");
    assert_eq!(again["schedule"]["updated"], false, "{again}");
    assert_eq!(again["exit_code"], 0, "{again}");
    assert_eq!(
        get_schedule(&family).unwrap()["LastModificationDate"],
        modified
    );

    // status: the expression, the next runs, the job just run and its exit code.
    let st = json_result(&cmd(
        dir.path(),
        &name,
        &["status", "--message-format", "json"],
    ));
    assert_eq!(st["expression"], "cron(0 3 * * ? *)");
    assert_eq!(st["deployed"], true);
    let next = st["next_runs"].as_array().unwrap();
    assert_eq!(next.len(), 5, "{st}");
    assert!(next
        .iter()
        .all(|t| t.as_str().unwrap().contains("T03:00:00+00:00")));
    assert_eq!(st["last_tasks"][0]["exit_code"], 0, "{st}");
    let human = ok(&cmd(dir.path(), &name, &["status"]));
    assert!(human.contains("next runs"), "{human}");
    assert!(human.contains("exit 0"), "{human}");

    // A changed expression updates the schedule (set through the environment: the sources, and
    // so the image, stay the same).
    let changed = json_result(&deploy_with(
        dir.path(),
        &name,
        &["--message-format", "json"],
        &[("CARGO_FARGATE_SCHEDULE", "rate(2 hours)")],
    ));
    assert_eq!(changed["schedule"]["updated"], true, "{changed}");
    assert_eq!(
        get_schedule(&family).unwrap()["ScheduleExpression"],
        "rate(2 hours)"
    );

    // delete asks for --yes, then removes the schedule and its managed role; again: converges.
    one_line_error(&cmd(dir.path(), &name, &["delete"]), "--yes");
    assert!(get_schedule(&family).is_some());
    let d = json_result(&cmd(
        dir.path(),
        &name,
        &["delete", "--yes", "--message-format", "json"],
    ));
    assert_eq!(d["schedule_deleted"], true, "{d}");
    assert_eq!(d["role_deleted"], true, "{d}");
    assert!(
        get_schedule(&family).is_none(),
        "the schedule is still there"
    );
    assert!(!aws_try(&[
        "iam",
        "get-role",
        "--role-name",
        &format!("{family}-scheduler")
    ])
    .status
    .success());
    let d = json_result(&cmd(
        dir.path(),
        &name,
        &["delete", "--yes", "--message-format", "json"],
    ));
    assert_eq!(d["schedule_deleted"], false, "{d}");
}

#[test]
fn an_invalid_schedule_is_one_line_with_its_place_and_nothing_is_created() {
    for (expression, says) in [
        ("cron(0 3 * * *)", "has 5 fields"),
        ("cron(0 3 * * * *)", "cannot both be given"),
        ("rate(5 minute)", "rate(5 minutes)"),
        ("every day", "not a schedule expression"),
    ] {
        let name = unique("schbad");
        let family = format!("{name}-dev");
        let dir = project(&name, &networked(&format!("schedule = \"{expression}\"")));
        for args in [&["deploy", "--dry-run"][..], &["deploy"]] {
            let line = one_line_error(&cf(dir.path(), args), says);
            // Where: the manifest and the line of the key.
            assert!(line.contains("Cargo.toml:12"), "{line}");
            assert!(line.contains("schedule"), "{line}");
        }
        // Nothing was created: no repository, roles, log group, cluster or schedule.
        assert!(!aws_try(&[
            "ecr",
            "describe-repositories",
            "--repository-names",
            &family
        ])
        .status
        .success());
        for role in ["task", "scheduler"] {
            assert!(!aws_try(&[
                "iam",
                "get-role",
                "--role-name",
                &format!("{family}-{role}")
            ])
            .status
            .success());
        }
        assert!(get_schedule(&family).is_none());
        let clusters = aws(&["ecs", "describe-clusters", "--clusters", &family]);
        assert!(
            clusters["clusters"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["status"] != "ACTIVE"),
            "{clusters}"
        );
        let groups = aws(&[
            "logs",
            "describe-log-groups",
            "--log-group-name-prefix",
            &format!("/ecs/{family}"),
        ]);
        assert!(groups["logGroups"].as_array().unwrap().is_empty());
    }
    let name = unique("schtz");
    let dir = project(
        &name,
        &networked("schedule = \"rate(1 day)\"\nschedule-timezone = \"Mars/Olympus\""),
    );
    one_line_error(&cf(dir.path(), &["deploy", "--dry-run"]), "IANA time zone");
}

/// The image every revision of the keep-revisions test points at: pushed once.
fn pushed_image(dir: &Path, repository: &str) -> String {
    let o = bench_command(dir, repository, &["push", "--message-format", "json"])
        .output()
        .unwrap();
    let r = json_result(&o);
    r["image_uri"].as_str().unwrap().to_string()
}

fn active(family: &str) -> Vec<String> {
    let mut revs: Vec<String> = revisions(family)
        .iter()
        .map(|a| a.rsplit(':').next().unwrap().to_string())
        .collect();
    revs.sort_by_key(|r| r.parse::<u32>().unwrap());
    revs
}

#[test]
fn old_revisions_are_deregistered_except_those_in_use_or_not_ours() {
    let name = unique("rev");
    let family = format!("{name}-dev");
    let settings = |n: u32| {
        networked(&format!(
            "keep-revisions = 1\n[package.metadata.fargate.environment]\nN = \"{n}\""
        ))
    };
    let dir = project(&name, &settings(1));
    std::fs::write(
        dir.path().join("src/main.rs"),
        "fn main() { println!(\"rev\"); }\n",
    )
    .unwrap();
    let image = pushed_image(dir.path(), &family);
    let register = |n: u32| {
        set_fargate(dir.path(), &name, &settings(n));
        ok(
            &bench_command(dir.path(), &family, &["register", "--image", &image])
                .output()
                .unwrap(),
        )
    };

    register(1);
    // A service of the cluster runs revision 1.
    aws(&["ecs", "create-cluster", "--cluster-name", &family]);
    aws(&[
        "ecs",
        "create-service",
        "--cluster",
        &family,
        "--service-name",
        "web",
        "--task-definition",
        &format!("{family}:1"),
        "--desired-count",
        "0",
    ]);
    register(2);
    assert_eq!(
        active(&family),
        ["1", "2"],
        "revision 1 is in use by a service"
    );

    // The stage's schedule runs revision 2; revision 3 is registered by someone else.
    create_schedule(
        &family,
        "rate(1 day)",
        None,
        &family,
        execution_role(),
        serde_json::json!({"EcsParameters": {"TaskDefinitionArn": format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:2")}}),
    );
    aws(&[
        "ecs",
        "register-task-definition",
        "--family",
        &family,
        "--container-definitions",
        r#"[{"name": "other", "image": "busybox", "memory": 64}]"#,
    ]);
    register(4);
    assert_eq!(
        active(&family),
        ["1", "2", "3", "4"],
        "each old one is kept for its reason"
    );
    register(5);
    assert_eq!(
        active(&family),
        ["1", "2", "3", "5"],
        "revision 4 is deregistered"
    );

    // Once the service and the schedule let go, their revisions go too.
    aws(&[
        "ecs",
        "delete-service",
        "--cluster",
        &family,
        "--service",
        "web",
        "--force",
    ]);
    aws(&["scheduler", "delete-schedule", "--name", &family]);
    register(6);
    assert_eq!(active(&family), ["3", "6"]);
}
