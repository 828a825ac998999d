//! `cargo fargate setup` and `teardown` on the bench: setup creates the stage's resources, tagged,
//! and a second run changes nothing; teardown removes what setup and deploy made, stops what runs,
//! and leaves untagged resources and other stages alone. Checked through awscli.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn cfg(dir: &Path, name: &str, stage: &str, args: &[&str]) -> std::process::Output {
    cfg_with(dir, name, stage, &[], args)
}

/// `cargo fargate <args>` for `name`'s `stage` in the tests' VPC, with `env` (kind, builder,
/// schedule, …) on top.
fn cfg_with(
    dir: &Path,
    name: &str,
    stage: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> std::process::Output {
    let mut cmd = bench_command(
        dir,
        &format!("{name}-{stage}"),
        &[args, &["--stage", stage, "--message-format", "json"]].concat(),
    );
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg)
        .env_remove("CARGO_FARGATE_REPOSITORY")
        .envs(env.iter().copied());
    cmd.output().unwrap()
}

/// What a CodeBuild-built, scheduled service stage sets.
const CODEBUILD_SCHEDULED_SERVICE: &[(&str, &str)] = &[
    ("CARGO_FARGATE_BUILDER", "codebuild"),
    ("CARGO_FARGATE_SCHEDULE", "rate(2 hours)"),
    ("CARGO_FARGATE_KIND", "service"),
];

fn tags_of(list: &Value, k: &str, v: &str) -> std::collections::BTreeMap<String, String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t[k].as_str().unwrap().to_string(),
                t[v].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn repository_tags(repo: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let o = aws_try(&["ecr", "describe-repositories", "--repository-names", repo]);
    if !o.status.success() {
        return None;
    }
    let arn = serde_json::from_slice::<Value>(&o.stdout).unwrap()["repositories"][0]
        ["repositoryArn"]
        .as_str()
        .unwrap()
        .to_string();
    Some(tags_of(
        &aws(&["ecr", "list-tags-for-resource", "--resource-arn", &arn])["tags"],
        "Key",
        "Value",
    ))
}

fn cluster_active(name: &str) -> bool {
    aws(&["ecs", "describe-clusters", "--clusters", name])["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["status"] == "ACTIVE")
}

fn log_group(name: &str) -> Option<Value> {
    aws(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        name,
    ])["logGroups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["logGroupName"] == name)
        .cloned()
}

/// How many of `services` in `cluster` are ACTIVE.
fn active_services(cluster: &str, services: &[&str]) -> usize {
    let described = aws(&[
        &[
            "ecs",
            "describe-services",
            "--cluster",
            cluster,
            "--services",
        ],
        services,
    ]
    .concat());
    described["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "ACTIVE")
        .count()
}

fn role_exists(name: &str) -> bool {
    aws_try(&["iam", "get-role", "--role-name", name])
        .status
        .success()
}

fn stage_fixture() -> tempfile::TempDir {
    copy_fixture(&repo().join("examples/hello"))
}

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
fn teardown_removes_what_setup_and_deploy_made_and_nothing_else() {
    let name = unique("tdn");
    let (dev, prod) = (format!("{name}-dev"), format!("{name}-prod"));
    let dir = stage_fixture();
    ok(&cfg(dir.path(), &name, "prod", &["setup"]));
    ok(&cfg(dir.path(), &name, "dev", &["setup"]));
    let deployed = json_result(&cfg(dir.path(), &name, "dev", &["deploy"]));
    assert_eq!(deployed["exit_code"], 0, "{deployed}");
    assert!(!revisions(&dev).is_empty());
    // The bench's push goes to its registry, which moto's ECR does not see: give moto's ECR the
    // image too, as ECR itself would list it after a push.
    aws(&[
        "ecr",
        "put-image",
        "--repository-name",
        &dev,
        "--image-tag",
        "pushed",
        "--image-manifest",
        r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},"layers":[]}"#,
    ]);

    // The repository holds the pushed image: --force is needed, and nothing is removed.
    let o = cfg(dir.path(), &name, "dev", &["teardown", "--yes"]);
    one_line_error(&o, "--force");
    // No terminal and no --yes: refused, nothing removed.
    let o = cfg(dir.path(), &name, "dev", &["teardown", "--force"]);
    one_line_error(&o, "pass --yes");
    assert!(repository_tags(&dev).is_some());
    assert!(cluster_active(&dev) && log_group(&format!("/ecs/{dev}")).is_some());

    let r = json_result(&cfg(
        dir.path(),
        &name,
        "dev",
        &["teardown", "--yes", "--force"],
    ));
    assert!(r["removed"].as_u64().unwrap() >= 6, "{r}");
    assert!(repository_tags(&dev).is_none(), "repository left");
    assert!(!cluster_active(&dev), "cluster left");
    assert!(
        log_group(&format!("/ecs/{dev}")).is_none(),
        "log group left"
    );
    assert!(!role_exists(&format!("{dev}-task")) && !role_exists(&format!("{dev}-execution")));
    assert!(revisions(&dev).is_empty(), "task definitions left");

    // The other stage is untouched.
    assert!(repository_tags(&prod).is_some() && cluster_active(&prod));
    assert!(log_group(&format!("/ecs/{prod}")).is_some());
    assert!(role_exists(&format!("{prod}-task")) && role_exists(&format!("{prod}-execution")));

    // A second teardown finds nothing to remove.
    let again = json_result(&cfg(dir.path(), &name, "dev", &["teardown", "--yes"]));
    assert_eq!(again["removed"], 0, "{again}");
}

#[test]
fn teardown_leaves_an_untagged_repository_of_the_same_name_alone() {
    let name = unique("tdu");
    let repo_name = format!("{name}-dev");
    aws(&["ecr", "create-repository", "--repository-name", &repo_name]);
    let dir = stage_fixture();
    let r = json_result(&cfg(dir.path(), &name, "dev", &["teardown", "--yes"]));
    let item = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["resource"] == "repository")
        .unwrap_or_else(|| panic!("{r}"));
    assert_eq!(item["action"], "keep", "{r}");
    assert!(item["note"].as_str().unwrap().contains("not tagged"));
    assert_eq!(r["removed"], 0);
    assert!(
        repository_tags(&repo_name).is_some(),
        "the untagged repository was deleted"
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

/// What is not this stage's survives its teardown, in the places teardown looks: an untagged
/// service of the stage's name and another stage's service in the stage's cluster (which keeps
/// the cluster, said in its line), a schedule of the stage's name that runs someone else's job, an
/// untagged CodeBuild project of the stage's name, untagged roles named like the managed ones.
#[test]
fn teardown_leaves_foreign_services_schedules_projects_and_roles_alone() {
    let name = unique("tdf");
    let family = format!("{name}-dev");
    let dir = stage_fixture();
    ok(&cfg(dir.path(), &name, "dev", &["setup"]));
    let teardown = |args: &[&str]| {
        json_result(&cfg_with(
            dir.path(),
            &name,
            "dev",
            CODEBUILD_SCHEDULED_SERVICE,
            args,
        ))
    };

    // Two services in the stage's cluster: one of the stage's name without tags, one of prod's.
    let td = aws(&[
        "ecs",
        "register-task-definition",
        "--family",
        &format!("{name}-other"),
        "--container-definitions",
        r#"[{"name":"app","image":"busybox","memory":128}]"#,
    ])["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    let service = |service: &str, tags: &[&str]| {
        let mut args = vec![
            "ecs",
            "create-service",
            "--cluster",
            &family,
            "--service-name",
            service,
            "--task-definition",
            &td,
            "--desired-count",
            "0",
        ];
        if !tags.is_empty() {
            args.push("--tags");
            args.extend_from_slice(tags);
        }
        aws(&args);
    };
    let prod_service = format!("{name}-prod");
    service(&family, &[]);
    let project_tag = format!("key=cargo-fargate:project,value={name}");
    service(
        &prod_service,
        &[
            "key=managed-by,value=cargo-fargate",
            &project_tag,
            "key=cargo-fargate:stage,value=prod",
        ],
    );
    // A schedule of the stage's name that someone else runs (schedules carry no tags).
    create_schedule(
        &family,
        "rate(1 day)",
        Some("the nightly report of another team"),
        &family,
        "arn:aws:iam::123456789012:role/another-team",
        Value::Null,
    );
    // An untagged CodeBuild project of the stage's name, and untagged roles named like ours.
    aws(&[
        "codebuild",
        "create-project",
        "--name",
        &family,
        "--source",
        "type=NO_SOURCE,buildspec=version: 0.2",
        "--artifacts",
        "type=NO_ARTIFACTS",
        "--environment",
        "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL",
        "--service-role",
        "arn:aws:iam::123456789012:role/another-team",
    ]);
    let (cb_role, sched_role) = (format!("{family}-codebuild"), format!("{family}-scheduler"));
    make_role(&cb_role, "codebuild.amazonaws.com");
    make_role(&sched_role, "scheduler.amazonaws.com");

    let plan = teardown(&["teardown", "--dry-run"]);
    let down = teardown(&["teardown", "--yes"]);
    for r in [&plan, &down] {
        let action = |resource: &str, n: &str| -> (String, String) {
            let i = r["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["resource"] == resource && i["name"] == n)
                .unwrap_or_else(|| panic!("no {resource} {n} in {r}"));
            (
                i["action"].as_str().unwrap().to_string(),
                i["note"].as_str().unwrap_or_default().to_string(),
            )
        };
        for (resource, n) in [
            ("service", family.as_str()),
            ("schedule", family.as_str()),
            ("build project", family.as_str()),
            ("role", cb_role.as_str()),
            ("role", sched_role.as_str()),
        ] {
            assert_eq!(action(resource, n).0, "keep", "{resource} {n}: {r}");
        }
        // The cluster holds both services: kept, and its line says why and what to do.
        let (cluster, why) = action("cluster", &family);
        assert_eq!(cluster, "keep", "{r}");
        assert!(
            why.contains("2 services")
                && why.contains(&prod_service)
                && why.contains("run teardown again"),
            "{why}"
        );
        // What is the stage's own goes.
        assert_eq!(action("repository", &family).0, "remove", "{r}");
        assert_eq!(action("role", &format!("{family}-task")).0, "remove");
    }
    assert_eq!(down["removed"], plan["removed"], "{down}");

    // All of it is still there; the stage's own resources are gone.
    assert_eq!(active_services(&family, &[&family, &prod_service]), 2);
    assert!(cluster_active(&family));
    assert_eq!(
        aws(&["scheduler", "get-schedule", "--name", &family])["Description"],
        "the nightly report of another team"
    );
    assert_eq!(
        aws(&["codebuild", "batch-get-projects", "--names", &family])["projects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(role_exists(&cb_role) && role_exists(&sched_role));
    assert!(repository_tags(&family).is_none());
    assert!(!role_exists(&format!("{family}-task")));

    // Once the other services are gone, a second teardown removes the cluster.
    for s in [&family, &prod_service] {
        aws(&[
            "ecs",
            "delete-service",
            "--cluster",
            &family,
            "--service",
            s,
            "--force",
        ]);
    }
    let again = teardown(&["teardown", "--yes"]);
    assert!(
        again["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["resource"] == "cluster" && i["action"] == "remove"),
        "{again}"
    );
    assert!(!cluster_active(&family));
}

/// A web stage (Express Mode, the bench's stand-in in scripts/bench/agent/express.py): setup makes
/// its infrastructure role, deploy the Express service (and puts the role back when it drifted);
/// teardown deletes the Express service
/// (ECS then removes what it made for it), waits for it to go, and removes the role with the rest.
#[test]
fn teardown_removes_a_web_stages_express_service_and_its_infrastructure_role() {
    let name = unique("tdw");
    let family = format!("{name}-dev");
    let infrastructure = format!("{family}-infrastructure");
    let dir = copy_fixture(&repo().join("examples/web-service"));
    let run = |args: &[&str]| {
        cfg_with(
            dir.path(),
            &name,
            "dev",
            &[("CARGO_FARGATE_KIND", "web")],
            args,
        )
    };
    let express = |arn: &str| {
        aws(&[
            "ecs",
            "describe-express-gateway-service",
            "--service-arn",
            arn,
        ])["service"]
            .clone()
    };
    // setup makes the infrastructure role with the rest; a second run changes nothing.
    let first = json_result(&run(&["setup"]));
    assert!(
        first["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == infrastructure.as_str() && s["action"] == "create"),
        "{first}"
    );
    assert!(role_exists(&infrastructure));
    assert_eq!(json_result(&run(&["setup"]))["changed"], 0);
    let deployed = json_result(&run(&["deploy", "--wait-timeout", "2m"]));
    assert_eq!(deployed["exit_code"], 0, "{deployed}");
    let arn = format!("arn:aws:ecs:us-east-1:123456789012:service/{family}/{family}");
    assert_eq!(express(&arn)["status"]["statusCode"], "ACTIVE");
    assert!(role_exists(&infrastructure));
    // A drifted infrastructure role (trust, an extra policy) is put back by the next deploy.
    let trust = serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    aws(&[
        "iam",
        "update-assume-role-policy",
        "--role-name",
        &infrastructure,
        "--policy-document",
        &trust.to_string(),
    ]);
    aws(&[
        "iam",
        "attach-role-policy",
        "--role-name",
        &infrastructure,
        "--policy-arn",
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
    ]);
    let again = json_result(&run(&["deploy", "--wait-timeout", "2m"]));
    assert_eq!(again["exit_code"], 0, "{again}");
    let role = aws(&["iam", "get-role", "--role-name", &infrastructure]);
    assert!(
        role["Role"]["AssumeRolePolicyDocument"]
            .to_string()
            .contains("ecs.amazonaws.com"),
        "{role}"
    );
    let attached = aws(&[
        "iam",
        "list-attached-role-policies",
        "--role-name",
        &infrastructure,
    ])["AttachedPolicies"]
        .clone();
    assert_eq!(
        attached.as_array().unwrap().len(),
        1,
        "only the Express Mode policy: {attached}"
    );

    let plan = json_result(&run(&["teardown", "--dry-run"]));
    let down = json_result(&run(&["teardown", "--yes", "--force"]));
    for r in [&plan, &down] {
        for (resource, n) in [
            ("express service", family.as_str()),
            ("cluster", family.as_str()),
            ("role", infrastructure.as_str()),
        ] {
            assert!(
                r["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["resource"] == resource
                        && i["name"] == n
                        && i["action"] == "remove"),
                "{resource} {n} not removed: {r}"
            );
        }
    }
    assert_eq!(express(&arn)["status"]["statusCode"], "INACTIVE");
    assert!(!role_exists(&infrastructure), "infrastructure role left");
    assert!(!cluster_active(&family), "cluster left");
    assert!(revisions(&family).is_empty(), "task definitions left");
    let again = json_result(&run(&["teardown", "--yes"]));
    assert_eq!(again["removed"], 0, "{again}");
}
