use super::*;
use crate::config::resolve::Entry;
use crate::config::{test_config, Origin};
use serde_json::json;

const ACCOUNT: &str = "123456789012";

fn scope_of(fargate: &str, extra: &[(&'static str, Value)]) -> (Scope, Config) {
    let mut config = test_config(fargate);
    for (key, value) in extra {
        config.entries.push(Entry {
            key,
            value: value.clone(),
            origin: Origin::default_value(),
        });
    }
    let scope = Scope::new(
        &config,
        "aws",
        ACCOUNT,
        "eu-west-1",
        Some("arn:aws:iam::123456789012:user/ci"),
    );
    (scope, config)
}

fn sids(doc: &Value) -> Vec<String> {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Sid"].as_str().unwrap().to_string())
        .collect()
}

fn statement<'a>(doc: &'a Value, sid: &str) -> &'a Value {
    doc["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no {sid} in {doc:#}"))
}

#[test]
fn the_deployer_policy_follows_builder_kind_and_schedule() {
    let (scope, config) = scope_of("", &[]);
    let doc = scope.policy(Principal::Deployer, &config).unwrap().unwrap();
    let s = sids(&doc);
    assert!(
        !s.iter().any(|s| !s.contains("KeepRevisions")
            && (s.contains("Bucket")
                || s.contains("Build")
                || s.contains("Schedul")
                || s.contains("Service"))),
        "{s:?}"
    );
    // keep-revisions (10 by default) asks what the cluster's services and the stage's schedule
    // use, then deregisters; with 0 it never does.
    assert_eq!(
        statement(&doc, "KeepRevisionsAsksWhetherTheStagesScheduleUsesOne")["Action"],
        "scheduler:GetSchedule"
    );
    assert!(doc.to_string().contains("ecs:DeregisterTaskDefinition"));
    let (keep_all, config0) = scope_of("keep-revisions = 0", &[]);
    let doc0 = keep_all
        .policy(Principal::Deployer, &config0)
        .unwrap()
        .unwrap();
    assert!(
        !sids(&doc0).iter().any(|s| s.contains("KeepRevisions"))
            && !doc0.to_string().contains("ecs:DeregisterTaskDefinition"),
        "{doc0:#}"
    );
    assert_eq!(
        statement(&doc, "RunTaskOnlyInThisCluster")["Resource"],
        "arn:aws:ecs:eu-west-1:123456789012:task-definition/app-dev:*"
    );
    assert_eq!(
        statement(&doc, "PassTheTaskRolesToEcsTasks")["Resource"],
        json!([
            "arn:aws:iam::123456789012:role/app-dev-execution",
            "arn:aws:iam::123456789012:role/app-dev-task"
        ])
    );
    assert_eq!(
        statement(&doc, "SimulateAndAuditOwnCredentials")["Action"],
        json!(["iam:SimulatePrincipalPolicy", "iam:ListAccessKeys"])
    );

    let (scope, config) = scope_of(
        "builder = \"codebuild\"",
        &[
            ("kind", json!("web")),
            ("schedule", json!("rate(1 hour)")),
            ("exec", json!(true)),
        ],
    );
    let doc = scope.policy(Principal::Deployer, &config).unwrap().unwrap();
    for sid in [
        "ArchiveBucket",
        "SourceArchives",
        "BuildProject",
        "BuildLogs",
        "PassTheBuildRoleToCodeBuild",
        "SchedulesOfThisStage",
        "PassTheSchedulerRoleToScheduler",
        "ServicesOfThisStage",
        "PassTheInfrastructureRoleToEcs",
        "ExecIntoTasksOfThisCluster",
    ] {
        statement(&doc, sid);
    }
    assert_eq!(
        statement(&doc, "ManagedRoles")["Resource"],
        json!([
            "arn:aws:iam::123456789012:role/app-dev-codebuild",
            "arn:aws:iam::123456789012:role/app-dev-execution",
            "arn:aws:iam::123456789012:role/app-dev-infrastructure",
            "arn:aws:iam::123456789012:role/app-dev-scheduler",
            "arn:aws:iam::123456789012:role/app-dev-task"
        ])
    );
}

#[test]
fn given_roles_are_read_and_passed_but_never_managed() {
    let (scope, config) = scope_of(
        "task-role = \"arn:aws:iam::123456789012:role/app-given\"\nexecution-role = \"exec-given\"",
        &[],
    );
    let doc = scope.policy(Principal::Deployer, &config).unwrap().unwrap();
    assert_eq!(
        statement(&doc, "ReadTheGivenRoles")["Resource"],
        json!([
            "arn:aws:iam::123456789012:role/app-given",
            "arn:aws:iam::123456789012:role/exec-given"
        ])
    );
    assert_eq!(statement(&doc, "ManagedRoles")["Resource"], json!([]));
}

#[test]
fn attached_policies_are_allowed_only_by_arn() {
    let (scope, config) = scope_of(
        "task-role-policies = [\"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess\"]\nexecution-role-policy = \"aws-managed\"",
        &[],
    );
    let doc = scope.policy(Principal::Deployer, &config).unwrap().unwrap();
    assert_eq!(
        statement(&doc, "AttachOnlyTheConfiguredPolicies")["Condition"]["ArnEquals"]
            ["iam:PolicyARN"],
        json!([
            "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
            "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
        ])
    );
}

#[test]
fn the_execution_policy_reads_exactly_the_secrets_and_their_keys() {
    let (scope, _) = scope_of(
        "secrets-kms-keys = [\"arn:aws:kms:eu-west-1:123456789012:key/k1\"]\n[package.metadata.fargate.secrets]\nDB = \"arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf:password::\"\nTOKEN = \"/app/token\"",
        &[],
    );
    let doc = scope.execution_policy().unwrap();
    assert_eq!(
        statement(&doc, "ReadConfiguredParameters")["Resource"],
        json!(["arn:aws:ssm:eu-west-1:123456789012:parameter/app/token"])
    );
    assert_eq!(
        statement(&doc, "ReadConfiguredSecrets")["Resource"],
        json!([
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf-??????"
        ])
    );
    assert_eq!(
        statement(&doc, "DecryptConfiguredSecretsOnly")["Condition"]["StringEquals"]
            ["kms:ViaService"],
        json!([
            "ssm.eu-west-1.amazonaws.com",
            "secretsmanager.eu-west-1.amazonaws.com"
        ])
    );
    assert_eq!(
        statement(&doc, "PullTheRegisteredImages")["Resource"],
        json!(["arn:aws:ecr:eu-west-1:123456789012:repository/app-dev"])
    );
    // Without secrets: registry, repository and log group only.
    let (scope, _) = scope_of("", &[]);
    assert_eq!(
        sids(&scope.execution_policy().unwrap()),
        [
            "NoResourceLevelRegistryLogin",
            "PullTheRegisteredImages",
            "WriteThisLogGroup"
        ]
    );
}

#[test]
fn the_execution_role_pulls_the_registered_image_and_keeps_what_it_was_granted() {
    let image = crate::image::PinnedImage::parse(&format!(
        "210987654321.dkr.ecr.eu-west-1.amazonaws.com/tools/probe@sha256:{}",
        "ab".repeat(32)
    ))
    .unwrap();
    let theirs = pull_repository(&image, "aws").unwrap();
    assert_eq!(
        theirs,
        "arn:aws:ecr:eu-west-1:210987654321:repository/tools/probe"
    );
    let outside =
        crate::image::PinnedImage::parse(&format!("ghcr.io/o/app@sha256:{}", "cd".repeat(32)))
            .unwrap();
    assert_eq!(pull_repository(&outside, "aws"), None);

    let (scope, _) = scope_of("", &[]);
    let doc = scope
        .pulling_from([theirs.clone(), theirs.clone()])
        .execution_policy()
        .unwrap();
    let ours = "arn:aws:ecr:eu-west-1:123456789012:repository/app-dev";
    assert_eq!(
        statement(&doc, "PullTheRegisteredImages")["Resource"],
        json!([ours, theirs])
    );
    // What a role was granted is read back (the log group's ARN and wildcards are not repositories).
    assert_eq!(granted_pulls(&doc), [ours.to_string(), theirs]);
    assert!(granted_pulls(
        &json!({"Statement": {"Effect": "Allow", "Action": "ecr:BatchGetImage", "Resource": "*"}})
    )
    .is_empty());
}

#[test]
fn trust_policies_name_their_service_and_account() {
    let (scope, _) = scope_of("", &[]);
    let t = scope.trust(Principal::Scheduler).unwrap();
    assert_eq!(
        t["Statement"][0]["Principal"]["Service"],
        "scheduler.amazonaws.com"
    );
    assert_eq!(
        t["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
        ACCOUNT
    );
    let t = scope.trust(Principal::Deployer).unwrap();
    assert_eq!(
        t["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::123456789012:root"
    );
}

#[test]
fn a_session_is_evaluated_as_its_role_and_root_has_no_principal() {
    assert_eq!(
        principal_arn("arn:aws:sts::1:assumed-role/ci/session", "aws", "1").as_deref(),
        Some("arn:aws:iam::1:role/ci")
    );
    assert_eq!(principal_arn("arn:aws:iam::1:root", "aws", "1"), None);
    assert_eq!(
        principal_arn("arn:aws:sts::1:user/ci/deployer", "aws", "1").as_deref(),
        Some("arn:aws:iam::1:user/ci/deployer")
    );
}
