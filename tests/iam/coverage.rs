//! Each kind of stage deployed and torn down on the bench, every request recorded as IAM would
//! authorize it: the policies `iam policy` prints allow each request, and each statement is needed.

use super::*;

/// setup, deploy, ps, logs and doctor: what a user of a task stage does.
fn deploy_a_task(stage: &Stage) {
    ok(&stage.run(&["setup"]));
    let deployed = stage.json(&["deploy"]);
    assert_eq!(deployed["exit_code"], 0, "{deployed}");
    ok(&stage.run(&["ps", "--all"]));
    ok(&stage.run(&["logs"]));
    let _ = stage.run(&["doctor"]); // warnings are fine; its calls are what counts
}

/// A deploy of a new revision (same image) with keep-revisions = 1: revision 1 (with any other
/// older one) is deregistered once no service or schedule uses it.
fn deploy_a_revision_keeping_one(stage: &Stage, extra: &[(&str, &str)]) {
    let settings = [
        &[("KEEP_REVISIONS", "1"), ("CPU", "512"), ("MEMORY", "1024")],
        extra,
    ]
    .concat();
    let r = json_result(&stage.run_as(
        &stage.key,
        &settings,
        &["deploy", "--message-format", "json"],
    ));
    let first = json!(format!("{}:1", stage.family()));
    assert!(
        r["revisions"]["deregistered"]
            .as_array()
            .is_some_and(|d| d.contains(&first)),
        "{r}"
    );
}

/// The deployer policy (asked for as the stage's user) allows each request of the stage's key
/// and each registry request of the deployer, and needs each statement; the key's actions
/// include `must`, the deployer's registry requests `pushes`. Returns how many requests were
/// checked.
fn assert_deploys_covered(stage: &Stage, what: &str, must: &[&str], pushes: &[&str]) -> u64 {
    let policy = stage.deployer_policy(&[]);
    let pushed = assert_pushed(stage, DEPLOYER_CLIENTS, pushes);
    assert_each_registry_action_needed(stage, DEPLOYER_CLIENTS, pushes);
    let record = Record {
        keys: vec![stage.key.clone()],
        registry: Some(stage.registry(Some(DEPLOYER_CLIENTS))),
    };
    let checked = record.assert_covered(&policy, what);
    let actions = actions_of(&stage.key);
    for a in must {
        assert!(
            actions.contains(*a),
            "{what}: {a} was not recorded: {actions:?}"
        );
    }
    eprintln!(
        "{what}: {checked} requests checked ({pushed} of them the deployer's to the registry), {} API actions",
        actions.len()
    );
    checked
}

/// `teardown --yes --force` with a key of its own: it needs more than the deployer policy; `iam
/// policy --teardown` allows it and all the stage did before, and needs each of its statements.
fn assert_teardown_covered(stage: &Stage, what: &str, must: &[&str]) {
    let key = key_of(&stage.name, "T");
    ok(&stage.run_as(&key, &[], &["teardown", "--yes", "--force"]));
    let only = Record {
        keys: vec![key.clone()],
        registry: None,
    };
    let (_, denied) = only.evaluate(&stage.deployer_policy(&[]));
    assert!(
        denied.iter().any(|d| d["action"] == "ecr:DeleteRepository"),
        "{what}: teardown needed nothing beyond the deployer policy: {denied:?}"
    );
    let record = Record {
        keys: vec![stage.key.clone(), key.clone()],
        registry: Some(stage.registry(Some(DEPLOYER_CLIENTS))),
    };
    let policy = stage.deployer_policy(&["--teardown"]);
    let checked = record.assert_covered(&policy, what);
    let actions = actions_of(&key);
    for a in [TEARDOWN_ACTIONS, must].concat() {
        assert!(
            actions.contains(a),
            "{what}: {a} was not recorded: {actions:?}"
        );
    }
    eprintln!(
        "{what}: {checked} requests checked, {} API actions of teardown",
        actions.len()
    );
}

/// The inline policies of `role`, as the tool put them, allow each registry request of `clients`
/// to the stage's repository, and without the statement granting `action` some are denied.
/// Returns how many requests were checked.
fn assert_role_allows_its_registry_requests(
    stage: &Stage,
    role: &str,
    clients: &[&str],
    action: &str,
) -> u64 {
    let policy = inline_policies(role);
    let record = Record {
        keys: vec![],
        registry: Some(stage.registry(Some(clients))),
    };
    let (n, denied) = record.evaluate(&policy);
    assert!(n > 0, "no registry request of {clients:?}");
    assert_eq!(denied, Vec::<Value>::new(), "{role}: {policy:#}");
    let fewer: Vec<Value> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["Action"].to_string().contains(action))
        .cloned()
        .collect();
    let (_, denied) = record.evaluate(&json!({"Version": "2012-10-17", "Statement": fewer}));
    assert!(!denied.is_empty(), "{role} needs no {action}");
    n
}

#[test]
fn a_docker_deploy_and_its_teardown_make_only_calls_the_deployer_policies_allow_and_need() {
    let stage = Stage::new("cov", "hello", "docker", &[]);
    deploy_a_task(&stage);
    deploy_a_revision_keeping_one(&stage, &[]);
    assert_deploys_covered(&stage, "docker deploy", TASK_ACTIONS, PUSH_ACTIONS);
    // ECS pulled the image for the task as the managed execution role: its scoped policy allows
    // each of those requests.
    let n = assert_role_allows_its_registry_requests(
        &stage,
        &format!("{}-execution", stage.family()),
        TASK_CLIENTS,
        "ecr:BatchGetImage",
    );
    eprintln!("execution role: {n} registry requests of the task's pull checked");
    assert_teardown_covered(&stage, "docker teardown", &[]);
}

#[test]
fn a_host_builder_deploy_makes_only_calls_the_deployer_policy_allows_and_needs() {
    let stage = Stage::new("coh", "hello", "host", &[]);
    deploy_a_task(&stage);
    deploy_a_revision_keeping_one(&stage, &[]);
    assert_deploys_covered(&stage, "host deploy", TASK_ACTIONS, PUSH_ACTIONS);
}

#[test]
fn a_codebuild_deploy_and_its_teardown_make_only_calls_the_policies_allow_and_need() {
    let stage = Stage::new("cob", "hello", "codebuild", &[]);
    deploy_a_task(&stage);
    deploy_a_revision_keeping_one(&stage, &[]);
    let build_actions = [
        "s3:PutObject",
        "s3:PutLifecycleConfiguration",
        "codebuild:CreateProject",
        "codebuild:StartBuild",
        "codebuild:BatchGetBuilds",
    ];
    // The build pushes the image; the deployer tags it and pushes its SBOM.
    assert_deploys_covered(
        &stage,
        "codebuild deploy",
        &[TASK_ACTIONS, &build_actions].concat(),
        &[
            "ecr:BatchGetImage",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        ],
    );

    // The build pushes with the docker CLI, as the CodeBuild role: its inline policies, as the
    // deploy put them, allow each of those requests, and without its ECR statement would not.
    let pushed = assert_pushed(&stage, BUILD_CLIENTS, PUSH_ACTIONS);
    assert_each_registry_action_needed(&stage, BUILD_CLIENTS, PUSH_ACTIONS);
    let n = assert_role_allows_its_registry_requests(
        &stage,
        &format!("{}-codebuild", stage.family()),
        BUILD_CLIENTS,
        "ecr:PutImage",
    );
    assert_eq!(n as usize, pushed);
    eprintln!("codebuild role: {n} registry requests of the build checked");

    assert_teardown_covered(
        &stage,
        "codebuild teardown",
        &["codebuild:DeleteProject", "logs:ListTagsForResource"],
    );
}

#[test]
fn a_service_stage_and_its_teardown_make_only_calls_the_deployer_policies_allow_and_need() {
    // A service runs a server (examples/hello would exit at once and trip the circuit breaker).
    let stage = Stage::new("cos", "web-service", "docker", &[("KIND", "service")]);
    ok(&stage.run(&["setup"]));
    let created = stage.json(&["deploy", "--wait-timeout", "2m"]);
    assert_eq!(created["service"]["action"], "created", "{created}");
    // A new revision (same image): the service is updated to it; then what a user does next.
    let updated = json_result(&stage.run_as(
        &stage.key,
        &[("CPU", "1024"), ("MEMORY", "2048")],
        &["deploy", "--wait-timeout", "2m", "--message-format", "json"],
    ));
    assert_eq!(updated["service"]["action"], "updated", "{updated}");
    ok(&stage.run(&["status"]));
    ok(&stage.run(&["scale", "2", "--wait-timeout", "1m"]));
    ok(&stage.run(&["rollback", "--wait-timeout", "1m"]));
    // A one-off task of the service's definition (a migration, say): its health probe, which
    // finds no server in its own task and exits 1.
    let image = created["image_uri"].as_str().unwrap();
    let o = stage.run(&["run", "--image", image, "--", "--health"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    ok(&stage.run(&["ps", "--all"]));
    ok(&stage.run(&["logs"]));
    let _ = stage.run(&["doctor"]);
    deploy_a_revision_keeping_one(&stage, &[]);
    ok(&stage.run(&["delete", "--yes"]));

    assert_deploys_covered(
        &stage,
        "service stage",
        &[
            "ecs:CreateService",
            "ecs:UpdateService",
            "ecs:DescribeServices",
            "ecs:DeleteService",
            "ecs:ListServices",
            "ecs:DeregisterTaskDefinition",
        ],
        PUSH_ACTIONS,
    );
    assert_teardown_covered(&stage, "service teardown", &[]);
}

#[test]
fn a_scheduled_stage_and_its_teardown_make_only_calls_the_deployer_policies_allow_and_need() {
    let stage = Stage::new("coe", "hello", "docker", &[("SCHEDULE", "rate(1 day)")]);
    ok(&stage.run(&["setup"]));
    // Registered, scheduled, and run once now.
    let created = stage.json(&["deploy", "--run-now"]);
    assert_eq!(created["schedule"]["created"], true, "{created}");
    // The schedule moved to a new revision; the one before deregistered.
    deploy_a_revision_keeping_one(&stage, &[("SCHEDULE", "rate(2 days)")]);
    ok(&stage.run(&["status"]));
    ok(&stage.run(&["ps", "--all"]));
    let _ = stage.run(&["doctor"]);

    assert_deploys_covered(
        &stage,
        "scheduled stage",
        &[
            "scheduler:CreateSchedule",
            "scheduler:UpdateSchedule",
            "scheduler:GetSchedule",
            "ecs:RunTask",
            "ecs:DeregisterTaskDefinition",
        ],
        PUSH_ACTIONS,
    );
    assert_teardown_covered(&stage, "scheduled teardown", &["scheduler:DeleteSchedule"]);
}
