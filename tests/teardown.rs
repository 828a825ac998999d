//! `cargo fargate teardown` on the bench: it removes what setup and deploy made (an Express Mode
//! service and its infrastructure role too), stops what runs, and leaves untagged resources,
//! other stages and what is not cargo-fargate's alone. Checked through awscli.

mod common;

use common::*;
use serde_json::Value;

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

    // --force: the repository holds the pushed images (the bench's ECR knows the registry's).
    let plan = json_result(&run(&["teardown", "--dry-run", "--force"]));
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
