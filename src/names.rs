//! Every name cargo-fargate gives an AWS resource of a stage, and the tags it puts on them: one
//! owner, so that the step that creates a resource, the one that reads it and `teardown` that
//! removes it cannot disagree. Each is computed from the resolved configuration alone; the names
//! a user can set (cluster, family, service, repository, roles, log group, bucket) are resolved in
//! `config` and read from it here.

use std::collections::BTreeMap;

use crate::config::resolve::Builder;
use crate::config::Config;

/// The tag on everything cargo-fargate created: what it may change and delete.
pub const MANAGED_TAG: (&str, &str) = ("managed-by", "cargo-fargate");
/// The tag naming the project a resource was made for.
pub const PROJECT_TAG: &str = "cargo-fargate:project";
/// The tag naming the stage a resource was made for.
pub const STAGE_TAG: &str = "cargo-fargate:stage";

/// The managed execution role's scoped inline policy (in place of the AWS managed one).
pub const EXECUTION_POLICY_NAME: &str = "cargo-fargate-execution";
/// The managed execution role's inline policy that reads the configured secrets.
pub const SECRETS_POLICY_NAME: &str = "cargo-fargate-secrets";
/// The task role's inline policy that lets ECS Exec open a session.
pub const EXEC_POLICY_NAME: &str = "cargo-fargate-exec";
/// The CodeBuild role's inline policy.
pub const CODEBUILD_POLICY_NAME: &str = "cargo-fargate-codebuild";
/// The scheduler role's inline policy.
pub const SCHEDULER_POLICY_NAME: &str = "cargo-fargate-run-task";
/// The deployer role's inline policy.
pub const DEPLOYER_POLICY_NAME: &str = "cargo-fargate-deployer";

/// `{project}-{stage}`: the name of the stage's own resources that have no key of their own.
fn stage_name(config: &Config) -> String {
    format!("{}-{}", config.project, config.stage)
}

/// The family every revision of this project's stage is registered under (`family`, default
/// `{project}-{stage}`).
pub fn family(config: &Config) -> String {
    config.names.family.clone()
}

/// The EventBridge schedule of a `schedule` stage.
pub fn schedule(config: &Config) -> String {
    stage_name(config)
}

/// The ECS service of a `service` / `web` stage, in its cluster (`service-name`, default
/// `{project}-{stage}`).
pub fn service(config: &Config) -> String {
    config.names.service_name.clone()
}

/// The EventBridge schedule's description: schedules carry no tags, so it is what marks one as
/// this project's stage ([`is_our_schedule`]).
pub fn schedule_description(config: &Config) -> String {
    format!(
        "cargo-fargate: runs {} stage {} on cluster {}",
        config.project, config.stage, config.names.cluster
    )
}

/// Whether a schedule's description says it runs this project's stage (on any cluster).
pub fn is_our_schedule(config: &Config, description: &str) -> bool {
    description.starts_with(&format!(
        "cargo-fargate: runs {} stage {} ",
        config.project, config.stage
    ))
}

/// A target-tracking scaling policy of the stage's service, by its metric's short name
/// (`cpu`, `memory`, `requests`).
pub fn scaling_policy(config: &Config, metric: &str) -> String {
    format!("{}-{metric}", service(config))
}

/// The start of every image tag a stage's builds put (`{stage}-{content hash}`, its platforms'
/// and its build caches'): the repository's lifecycle policy keeps each stage's last images by it.
pub fn image_tag_prefix(stage: &str) -> String {
    format!("{stage}-")
}

/// The CodeBuild project of the `codebuild` builder.
pub fn build_project(config: &Config) -> String {
    stage_name(config)
}

/// The CodeBuild project's log group.
pub fn build_log_group(config: &Config) -> String {
    format!("/aws/codebuild/{}", build_project(config))
}

/// The managed infrastructure role of a `web` stage (Express Mode).
pub fn infrastructure_role(config: &Config) -> String {
    format!("{}-infrastructure", stage_name(config))
}

/// The deployer role of a stage (`setup --ci …`, `setup --deployer-trust …`).
pub fn deployer_role(config: &Config) -> String {
    format!("{}-deployer", stage_name(config))
}

/// The awslogs stream prefix: streams are `<stage>/<container>/<task id>`.
pub fn log_stream_prefix(config: &Config) -> String {
    config.stage.clone()
}

/// The log groups of the stage: the tasks', and the build project's with CodeBuild.
pub fn log_groups(config: &Config) -> Vec<String> {
    let mut groups = vec![config.container.log_group.clone()];
    if config.build.builder == Builder::Codebuild {
        groups.push(build_log_group(config));
    }
    groups
}

/// The source bucket of the `codebuild` builder: the `bucket` key, else
/// `{project}-{account}-{region}` (globally unique as S3 requires), shortened with a hash when
/// over 63 characters.
pub fn bucket(config: &Config, account: &str, region: &str) -> String {
    if let Some(b) = &config.names.bucket {
        return b.clone();
    }
    let tail = format!("-{account}-{region}");
    let mut project = config.project.clone();
    if project.len() + tail.len() > 63 {
        project = hashed(&project, 63 - tail.len() - 9);
    }
    format!("{project}{tail}")
}

/// What of the source bucket is the project's (its stages' archives expire under it): `<project>/`.
pub fn bucket_prefix(config: &Config) -> String {
    format!("{}/", config.project)
}

/// The source bucket's rule that expires the objects under `prefix` (a [`bucket_prefix`]).
pub fn expiry_rule(prefix: &str) -> String {
    format!(
        "cargo-fargate-expire-{}",
        prefix.trim_end_matches('/').replace('/', "-")
    )
}

/// Where this stage's source archives go in the bucket (its policy's scope): `<project>/<stage>/`.
pub fn archive_prefix(config: &Config) -> String {
    format!("{}{}/", bucket_prefix(config), config.stage)
}

/// The key of one source archive, by its SHA-256: the same source is uploaded once.
pub fn archive_key(config: &Config, sha256: &str) -> String {
    format!("{}source/{sha256}.zip", archive_prefix(config))
}

/// Tags on everything cargo-fargate creates for a stage; `teardown` finds resources by them.
pub fn stage_tags(config: &Config) -> BTreeMap<String, String> {
    let mut tags = project_tags(config);
    tags.insert(STAGE_TAG.into(), config.stage.clone());
    tags
}

/// Tags on what the project's stages share (the CodeBuild source bucket): no stage tag.
pub fn project_tags(config: &Config) -> BTreeMap<String, String> {
    let mut tags = config.container.tags.clone();
    tags.insert(MANAGED_TAG.0.into(), MANAGED_TAG.1.into());
    tags.insert(PROJECT_TAG.into(), config.project.clone());
    tags
}

/// Tags on the tasks a run starts: the project's and the stage's, without `managed-by` (a task
/// is not a resource cargo-fargate keeps).
pub fn task_tags(config: &Config) -> BTreeMap<String, String> {
    let mut tags = config.container.tags.clone();
    tags.insert(PROJECT_TAG.into(), config.project.clone());
    tags.insert(STAGE_TAG.into(), config.stage.clone());
    tags
}

/// The tag that says which part of the project's network a resource is (`vpc`, `public`,
/// `private`, `gateway`, `routes-public`, `routes-private`, `tasks`, `endpoints`, `endpoint`).
pub const NETWORK_PART_TAG: &str = "cargo-fargate:network";
/// The prefix of the tags that say which stages use the project's network: `teardown` of the
/// last one removes it.
pub const NETWORK_STAGE_TAG_PREFIX: &str = "cargo-fargate:uses:";

/// The project's network (its VPC and what is in it): shared by its stages, so no stage tag.
pub fn network(config: &Config) -> String {
    config.project.clone()
}

/// The `Name` of one part of the project's network, e.g. `app-public-a`.
pub fn network_part(config: &Config, part: &str) -> String {
    format!("{}-{part}", network(config))
}

/// Tags on one part of the project's network: the project's, its `Name` and its part.
pub fn network_tags(config: &Config, part: &str, name: &str) -> BTreeMap<String, String> {
    let mut tags = project_tags(config);
    tags.insert("Name".into(), name.into());
    tags.insert(NETWORK_PART_TAG.into(), part.into());
    tags
}

/// The stage's Application Load Balancer and its target group (`load-balancer = …`): ELB allows
/// 32 characters, letters, digits and `-`; a longer `{project}-{stage}` keeps its start and a hash.
pub fn load_balancer(config: &Config) -> String {
    let full = stage_name(config);
    if full.len() <= 32 {
        return full;
    }
    hashed(&full, 23)
}

/// The target group `setup` makes for the load balancer (its own namespace: the same name).
pub fn target_group(config: &Config) -> String {
    load_balancer(config)
}

/// The second target group a blue-green, canary or linear deployment starts the new revision
/// behind (`{name}-alt`, 32 characters at most as ELB allows, hashed like [`load_balancer`]).
pub fn alternate_target_group(config: &Config) -> String {
    let full = format!("{}-alt", stage_name(config));
    if full.len() <= 32 {
        return full;
    }
    hashed(&full, 19)
}

/// A name too long for its service: its first `keep` characters and 8 of its SHA-256, so two
/// long names that share a beginning still differ (and the same name always gives the same).
fn hashed(full: &str, keep: usize) -> String {
    use sha2::Digest;
    let hash = hex::encode(sha2::Sha256::digest(full.as_bytes()));
    format!("{}-{}", full[..keep].trim_end_matches('-'), &hash[..8])
}

/// The priority of the production listener rule whose weights ECS moves between the two groups.
pub const PRODUCTION_RULE_PRIORITY: i32 = 1;

/// The load balancer's security group, in the project's VPC.
pub fn load_balancer_group(config: &Config) -> String {
    format!("{}-lb", stage_name(config))
}

/// The tag on the project's VPC that says this stage uses it.
pub fn network_use_tag(config: &Config) -> String {
    format!("{NETWORK_STAGE_TAG_PREFIX}{}", config.stage)
}

/// Whether `tags` carry `managed-by = cargo-fargate`.
pub fn is_managed(tags: &BTreeMap<String, String>) -> bool {
    tags.get(MANAGED_TAG.0).map(String::as_str) == Some(MANAGED_TAG.1)
}

/// Whether `tags` say the resource was made by cargo-fargate for this project's stage.
pub fn is_ours(config: &Config, tags: &BTreeMap<String, String>) -> bool {
    is_managed(tags)
        && tags.get(PROJECT_TAG) == Some(&config.project)
        && tags.get(STAGE_TAG) == Some(&config.stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_resources_share_the_stage_name() {
        let c = crate::config::test_config("builder = \"codebuild\"");
        let stage = format!("{}-{}", c.project, c.stage);
        for name in [family(&c), schedule(&c), service(&c), build_project(&c)] {
            assert_eq!(name, stage);
        }
        assert_eq!(
            log_groups(&c),
            vec![
                c.container.log_group.clone(),
                format!("/aws/codebuild/{stage}")
            ]
        );
        assert_eq!(infrastructure_role(&c), format!("{stage}-infrastructure"));
    }

    #[test]
    fn an_existing_family_and_service_are_named_by_their_keys() {
        let c = crate::config::test_config(
            "family = \"legacy-td\"\nservice-name = \"orders_{stage}\"\nadopt = true",
        );
        assert_eq!(family(&c), "legacy-td");
        assert_eq!(service(&c), "orders_dev");
        // What has no key of its own keeps the stage name.
        assert_eq!(schedule(&c), format!("{}-{}", c.project, c.stage));
    }

    #[test]
    fn tags_say_whose_and_which_stage() {
        let c = crate::config::test_config("");
        let tags = stage_tags(&c);
        assert!(is_ours(&c, &tags));
        assert!(!project_tags(&c).contains_key(STAGE_TAG));
        assert!(!is_managed(&task_tags(&c)));
        let mut other = tags.clone();
        other.insert(STAGE_TAG.into(), "prod".into());
        assert!(!is_ours(&c, &other));
    }

    /// The upload, the role's policy and the bucket's expiry rule name the same keys; teardown
    /// knows the schedule deploy wrote, and no other stage's.
    #[test]
    fn archives_schedules_and_scaling_policies_are_named_once() {
        let c = crate::config::test_config("");
        let key = archive_key(&c, "abc");
        assert_eq!(key, format!("{}/{}/source/abc.zip", c.project, c.stage));
        assert!(key.starts_with(&archive_prefix(&c)));
        assert!(archive_prefix(&c).starts_with(&bucket_prefix(&c)));
        assert_eq!(
            expiry_rule(&bucket_prefix(&c)),
            format!("cargo-fargate-expire-{}", c.project)
        );
        assert!(is_our_schedule(&c, &schedule_description(&c)));
        let mut other = c.clone();
        other.stage = format!("{}x", c.stage);
        assert!(!is_our_schedule(&c, &schedule_description(&other)));
        assert_eq!(scaling_policy(&c, "cpu"), format!("{}-cpu", service(&c)));
    }

    #[test]
    fn a_long_bucket_name_is_shortened_with_a_hash() {
        let mut c = crate::config::test_config("");
        c.project = "p".repeat(60);
        let name = bucket(&c, "123456789012", "eu-west-1");
        assert_eq!(name.len(), 63, "{name}");
        assert!(name.ends_with("-123456789012-eu-west-1"));
        c.names.bucket = Some("mine".into());
        assert_eq!(bucket(&c, "123456789012", "eu-west-1"), "mine");
    }
}
