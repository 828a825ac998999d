//! `cargo fargate setup` on the bench: setup creates the stage's resources, tagged, and a second
//! run changes nothing, for the builder's and kind's needs too. Checked through awscli. Teardown's
//! tests are in tests/teardown.rs.

mod common;

use common::*;
use serde_json::Value;

#[test]
fn setup_creates_the_stage_tagged_and_a_second_run_changes_nothing() {
    let name = unique("set");
    let family = format!("{name}-dev");
    let dir = stage_fixture();

    let plan = json_result(&cfg(dir.path(), &name, "dev", &["setup", "--dry-run"]));
    assert_eq!(plan["dry_run"], true);
    let actions: Vec<(String, String)> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["resource"].as_str().unwrap().to_string(),
                s["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("repository", "create"),
            ("cluster", "create"),
            ("log group", "create"),
            ("role", "create"),
            ("role", "create")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(
        repository_tags(&family).is_none(),
        "the dry run created the repository"
    );
    assert!(!cluster_active(&family));

    let first = json_result(&cfg(dir.path(), &name, "dev", &["setup"]));
    assert_eq!(first["changed"], 5, "{first}");
    let tags = repository_tags(&family).expect("repository created");
    assert_eq!(
        tags.get("managed-by").map(String::as_str),
        Some("cargo-fargate")
    );
    assert_eq!(
        tags.get("cargo-fargate:stage").map(String::as_str),
        Some("dev")
    );
    let lifecycle = aws(&["ecr", "get-lifecycle-policy", "--repository-name", &family]);
    assert!(lifecycle["lifecyclePolicyText"]
        .as_str()
        .unwrap()
        .contains("untagged"));
    assert!(cluster_active(&family));
    let group = log_group(&format!("/ecs/{family}")).expect("log group created");
    assert_eq!(group["retentionInDays"], 7);
    assert!(role_exists(&format!("{family}-task")) && role_exists(&format!("{family}-execution")));
    // The managed execution role has the scoped inline policy, not the AWS managed one.
    let attached = aws(&[
        "iam",
        "list-attached-role-policies",
        "--role-name",
        &format!("{family}-execution"),
    ]);
    assert_eq!(attached["AttachedPolicies"], serde_json::json!([]));
    let inline = aws(&[
        "iam",
        "get-role-policy",
        "--role-name",
        &format!("{family}-execution"),
        "--policy-name",
        "cargo-fargate-execution",
    ]);
    let doc = inline["PolicyDocument"].to_string();
    assert!(
        doc.contains(&format!("repository/{family}"))
            && doc.contains(&format!("log-group:/ecs/{family}:log-stream:*")),
        "{doc}"
    );

    let second = json_result(&cfg(dir.path(), &name, "dev", &["setup"]));
    assert_eq!(second["changed"], 0, "{second}");
    assert!(
        second["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["action"] == "none"),
        "{second}"
    );

    // A drifted setting is put back, and only it.
    aws(&[
        "logs",
        "put-retention-policy",
        "--log-group-name",
        &format!("/ecs/{family}"),
        "--retention-in-days",
        "1",
    ]);
    let third = json_result(&cfg(dir.path(), &name, "dev", &["setup"]));
    assert_eq!(third["changed"], 1, "{third}");
    assert_eq!(
        log_group(&format!("/ecs/{family}")).unwrap()["retentionInDays"],
        7
    );
}

#[test]
fn a_codebuild_scheduled_service_stage_gets_its_bucket_and_roles_and_teardown_removes_them() {
    let name = unique("scb");
    let family = format!("{name}-dev");
    let dir = stage_fixture();
    let run = |args: &[&str]| {
        json_result(&cfg_with(
            dir.path(),
            &name,
            "dev",
            CODEBUILD_SCHEDULED_SERVICE,
            args,
        ))
    };
    let step = |report: &Value, resource: &str, name: &str| -> String {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["resource"] == resource && s["name"].as_str().unwrap().contains(name))
            .unwrap_or_else(|| panic!("no {resource} {name} in {report}"))["action"]
            .as_str()
            .unwrap()
            .to_string()
    };

    // The plan shows the builder's bucket and role and the scheduler's role, and creates nothing.
    let plan = run(&["setup", "--dry-run"]);
    let bucket = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["resource"] == "bucket")
        .unwrap_or_else(|| panic!("no bucket in {plan}"))["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(step(&plan, "bucket", &bucket), "create");
    assert_eq!(
        step(&plan, "role", &format!("{family}-codebuild")),
        "create"
    );
    assert_eq!(
        step(&plan, "role", &format!("{family}-scheduler")),
        "create"
    );
    assert!(!aws_try(&["s3api", "head-bucket", "--bucket", &bucket])
        .status
        .success());
    assert!(!role_exists(&format!("{family}-codebuild")));

    let first = run(&["setup"]);
    assert_eq!(first["changed"], plan["changed"], "{first}");
    // The bucket is private: every public access block is on, and it is encrypted.
    let block = aws(&["s3api", "get-public-access-block", "--bucket", &bucket]);
    for k in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            block["PublicAccessBlockConfiguration"][k], true,
            "{k}: {block}"
        );
    }
    assert!(
        aws_try(&["s3api", "get-bucket-encryption", "--bucket", &bucket])
            .status
            .success()
    );
    // The CodeBuild role trusts CodeBuild and has its one scoped inline policy.
    let role = aws(&[
        "iam",
        "get-role",
        "--role-name",
        &format!("{family}-codebuild"),
    ]);
    assert!(
        role["Role"]["AssumeRolePolicyDocument"]
            .to_string()
            .contains("codebuild.amazonaws.com"),
        "{role}"
    );
    let policy = aws(&[
        "iam",
        "get-role-policy",
        "--role-name",
        &format!("{family}-codebuild"),
        "--policy-name",
        "cargo-fargate-codebuild",
    ]);
    assert!(
        policy["PolicyDocument"]
            .to_string()
            .contains(&format!("{bucket}/{name}/dev/")),
        "{policy}"
    );
    let role = aws(&[
        "iam",
        "get-role",
        "--role-name",
        &format!("{family}-scheduler"),
    ]);
    assert!(
        role["Role"]["AssumeRolePolicyDocument"]
            .to_string()
            .contains("scheduler.amazonaws.com"),
        "{role}"
    );

    let second = run(&["setup"]);
    assert_eq!(second["changed"], 0, "{second}");
    assert_eq!(step(&second, "bucket", &bucket), "none");
    assert_eq!(
        step(&second, "role", &format!("{family}-codebuild")),
        "none"
    );
    assert_eq!(
        step(&second, "role", &format!("{family}-scheduler")),
        "none"
    );

    // The schedule as deploy makes it (schedules carry no tags: found by name and description).
    create_schedule(
        &family,
        "rate(2 hours)",
        Some(&format!(
            "cargo-fargate: runs {name} stage dev on cluster {family}"
        )),
        &family,
        role["Role"]["Arn"].as_str().unwrap(),
        Value::Null,
    );
    // The service as deploy makes it (kind = "service"), tagged as this stage's.
    let td = aws(&[
        "ecs",
        "register-task-definition",
        "--family",
        &format!("{name}-svc"),
        "--container-definitions",
        r#"[{"name":"app","image":"busybox","memory":128}]"#,
    ]);
    aws(&[
        "ecs",
        "create-service",
        "--cluster",
        &family,
        "--service-name",
        &family,
        "--task-definition",
        td["taskDefinition"]["taskDefinitionArn"].as_str().unwrap(),
        "--desired-count",
        "1",
        "--tags",
        "key=managed-by,value=cargo-fargate",
        &format!("key=cargo-fargate:project,value={name}"),
        "key=cargo-fargate:stage,value=dev",
    ]);
    let down = run(&["teardown", "--yes"]);
    for (resource, n) in [
        ("schedule", family.clone()),
        ("service", family.clone()),
        ("role", format!("{family}-codebuild")),
        ("role", format!("{family}-scheduler")),
    ] {
        assert!(
            down["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["resource"] == resource
                    && i["name"] == n.as_str()
                    && i["action"] == "remove"),
            "{resource} {n} not removed: {down}"
        );
    }
    assert_eq!(active_services(&family, &[&family]), 0, "service left");
    assert!(!aws_try(&["scheduler", "get-schedule", "--name", &family])
        .status
        .success());
    assert!(
        !role_exists(&format!("{family}-codebuild"))
            && !role_exists(&format!("{family}-scheduler"))
    );
}
