//! Doctor checks that read ECR and the secret stores: the last pushed image's platform, and whether
//! each configured secret exists (never reading its value).

use super::Check;
use crate::aws::{Aws, Identity};
use crate::config::Config;
use crate::error::Result;

/// The newest image in the repository is for `architecture`.
pub async fn check(aws: &Aws, config: &Config, checks: &mut Vec<Check>) -> Result<()> {
    let repo = &config.names.repository;
    let digest = match aws.newest_image(repo).await? {
        None => {
            checks.push(Check::warn(
                "image",
                format!("ECR repository {repo} does not exist yet"),
                "run `cargo fargate setup`, then `cargo fargate push` (or deploy)",
            ));
            return Ok(());
        }
        Some(None) => {
            checks.push(Check::warn(
                "image",
                format!("ECR repository {repo} holds no image yet"),
                "push one: `cargo fargate push` (or deploy)",
            ));
            return Ok(());
        }
        Some(Some(digest)) => digest,
    };
    let want = config
        .size
        .architecture
        .platform()
        .trim_start_matches("linux/");
    let platforms = match aws.image_architectures(repo, &digest).await {
        Ok(p) => p,
        Err(e) => {
            checks.push(Check::warn(
                "image",
                format!("the platform of {repo}@{digest} could not be read ({e:#})"),
                "allow ecr:BatchGetImage and ecr:GetDownloadUrlForLayer on the repository",
            ));
            return Ok(());
        }
    };
    if platforms.iter().any(|p| p == want) {
        checks.push(Check::ok(
            "image",
            format!("the last pushed image {repo}@{digest} is for linux/{want}"),
        ));
    } else {
        checks.push(Check::fail(
            "image",
            format!(
                "the last pushed image {repo}@{digest} is for {}, but `architecture` is {}",
                platforms.join(", "),
                config.size.architecture.ecs()
            ),
            "push an image for the configured architecture (`cargo fargate push`), or set `architecture` to match the image",
        ));
    }
    Ok(())
}

/// Whether a configured secret exists (metadata only), its ARN, and the action that reads it.
pub async fn secret_exists(
    aws: &Aws,
    identity: &Identity,
    value: &str,
) -> Result<(bool, String, &'static str)> {
    let partition = identity.partition();
    let region_of = |arn: &str| arn.split(':').nth(3).map(str::to_string);
    if value.starts_with("arn:") && value.split(':').nth(2) == Some("secretsmanager") {
        let base = value.split(':').take(7).collect::<Vec<_>>().join(":");
        let region = region_of(&base);
        let exists = aws.secret_exists(&base, region.as_deref()).await?;
        return Ok((exists, base, "secretsmanager:GetSecretValue"));
    }
    let (arn, region) = if value.starts_with("arn:") {
        (value.to_string(), region_of(value))
    } else {
        (
            format!(
                "arn:{partition}:ssm:{}:{}:parameter/{}",
                identity.region,
                identity.account,
                value.trim_start_matches('/')
            ),
            None,
        )
    };
    let exists = aws.parameter_exists(value, region.as_deref()).await?;
    Ok((exists, arn, "ssm:GetParameters"))
}
