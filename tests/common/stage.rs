//! A stage of examples/hello (or another fixture) on the bench for setup and teardown tests, and
//! what they read back through awscli.

use super::*;
use serde_json::Value;
use std::path::Path;

pub fn cfg(dir: &Path, name: &str, stage: &str, args: &[&str]) -> std::process::Output {
    cfg_with(dir, name, stage, &[], args)
}

/// `cargo fargate <args>` for `name`'s `stage` in the tests' VPC, with `env` (kind, builder,
/// schedule, …) on top.
pub fn cfg_with(
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
pub const CODEBUILD_SCHEDULED_SERVICE: &[(&str, &str)] = &[
    ("CARGO_FARGATE_BUILDER", "codebuild"),
    ("CARGO_FARGATE_SCHEDULE", "rate(2 hours)"),
    ("CARGO_FARGATE_KIND", "service"),
];

pub fn tags_of(list: &Value, k: &str, v: &str) -> std::collections::BTreeMap<String, String> {
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

pub fn repository_tags(repo: &str) -> Option<std::collections::BTreeMap<String, String>> {
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

pub fn cluster_active(name: &str) -> bool {
    aws(&["ecs", "describe-clusters", "--clusters", name])["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["status"] == "ACTIVE")
}

pub fn log_group(name: &str) -> Option<Value> {
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
pub fn active_services(cluster: &str, services: &[&str]) -> usize {
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

pub fn role_exists(name: &str) -> bool {
    aws_try(&["iam", "get-role", "--role-name", name])
        .status
        .success()
}

pub fn stage_fixture() -> tempfile::TempDir {
    copy_fixture(&repo().join("examples/hello"))
}
