//! Doctor checks that read ECR and the secret stores: the last pushed image's platform, and whether
//! each configured secret exists (never reading its value).

use serde_json::Value;

use super::Check;
use crate::aws::{Aws, Identity};
use crate::config::Config;
use crate::error::Result;

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// The newest image in the repository is for `architecture`.
pub async fn check(aws: &Aws, config: &Config, checks: &mut Vec<Check>) -> Result<()> {
    let ecr = aws.ecr();
    let repo = &config.repository;
    let mut pages = ecr
        .describe_images()
        .repository_name(repo)
        .into_paginator()
        .send();
    let mut latest: Option<(i64, String)> = None;
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(p) => p,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_not_found_exception()) =>
            {
                checks.push(Check::warn(
                    "image",
                    format!("ECR repository {repo} does not exist yet"),
                    "run `cargo fargate setup`, then `cargo fargate push` (or deploy)",
                ));
                return Ok(());
            }
            Err(e) => {
                return Err(aws.fail(e, "ecr:DescribeImages", |m| {
                    anyhow::anyhow!("listing images of {repo}: {m}")
                }))
            }
        };
        for d in page.image_details() {
            let at = d.image_pushed_at().map(|t| t.secs()).unwrap_or(0);
            if let Some(digest) = d.image_digest() {
                if latest.as_ref().map_or(true, |(t, _)| at >= *t) {
                    latest = Some((at, digest.to_string()));
                }
            }
        }
    }
    let Some((_, digest)) = latest else {
        checks.push(Check::warn(
            "image",
            format!("ECR repository {repo} holds no image yet"),
            "push one: `cargo fargate push` (or deploy)",
        ));
        return Ok(());
    };
    let want = config.architecture.platform().trim_start_matches("linux/");
    let platforms = match platforms(aws, repo, &digest).await {
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
                config.architecture.ecs()
            ),
            "push an image for the configured architecture (`cargo fargate push`), or set `architecture` to match the image",
        ));
    }
    Ok(())
}

/// The architectures an image is for: an index's entries, or the image config's `architecture`.
async fn platforms(aws: &Aws, repo: &str, digest: &str) -> Result<Vec<String>> {
    let ecr = aws.ecr();
    let out = ecr
        .batch_get_image()
        .repository_name(repo)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(digest)
                .build(),
        )
        .set_accepted_media_types(Some(MANIFEST_TYPES.iter().map(|s| s.to_string()).collect()))
        .send()
        .await
        .map_err(|e| {
            aws.fail(e, "ecr:BatchGetImage", |m| {
                anyhow::anyhow!("reading the manifest: {m}")
            })
        })?;
    let manifest: Value = out
        .images()
        .first()
        .and_then(|i| i.image_manifest())
        .map(serde_json::from_str)
        .transpose()?
        .unwrap_or(Value::Null);
    if let Some(list) = manifest["manifests"].as_array() {
        return Ok(list
            .iter()
            .filter_map(|m| m["platform"]["architecture"].as_str().map(str::to_string))
            .filter(|a| a != "unknown")
            .collect());
    }
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the manifest names no image config"))?;
    let url = ecr
        .get_download_url_for_layer()
        .repository_name(repo)
        .layer_digest(config_digest)
        .send()
        .await
        .map_err(|e| {
            aws.fail(e, "ecr:GetDownloadUrlForLayer", |m| {
                anyhow::anyhow!("locating the image config: {m}")
            })
        })?
        .download_url()
        .unwrap_or_default()
        .to_string();
    let config: Value = crate::net::http_client()
        .timeout(crate::net::timeout())
        .build()?
        .get(&url)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(config["architecture"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .collect())
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
        let found = aws
            .secretsmanager(region.as_deref())
            .describe_secret()
            .secret_id(&base)
            .send()
            .await;
        let exists = match found {
            Ok(_) => true,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                false
            }
            Err(e) => {
                return Err(aws.fail(e, "secretsmanager:DescribeSecret", |m| {
                    anyhow::anyhow!("reading secret {base}: {m}")
                }))
            }
        };
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
    let found = aws
        .ssm(region.as_deref())
        .get_parameter()
        .name(value)
        .with_decryption(false)
        .send()
        .await;
    let exists = match found {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_parameter_not_found()) =>
        {
            false
        }
        Err(e) => {
            return Err(aws.fail(e, "ssm:GetParameter", |m| {
                anyhow::anyhow!("reading parameter {value}: {m}")
            }))
        }
    };
    Ok((exists, arn, "ssm:GetParameters"))
}

/// Whether a bucket may be public: `None` when it does not exist (or is another account's),
/// `Some(Some(why))` when it may be public, `Some(None)` when all public access is blocked and S3
/// calls its policy private.
pub async fn bucket_public(aws: &Aws, name: &str, account: &str) -> Result<Option<Option<String>>> {
    let custom = !aws.endpoint_of("s3").ends_with(".amazonaws.com");
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(aws.sdk_config())
            .force_path_style(custom)
            .build(),
    );
    if let Err(e) = s3
        .head_bucket()
        .bucket(name)
        .expected_bucket_owner(account)
        .send()
        .await
    {
        if matches!(http_status(&e), 403 | 404) {
            return Ok(None);
        }
        return Err(aws.fail(e, "s3:HeadBucket", |m| {
            anyhow::anyhow!("checking S3 bucket {name}: {m}")
        }));
    }
    match s3
        .get_public_access_block()
        .bucket(name)
        .expected_bucket_owner(account)
        .send()
        .await
    {
        Ok(out) => {
            let c = out.public_access_block_configuration();
            let off: Vec<&str> = [
                ("BlockPublicAcls", c.and_then(|c| c.block_public_acls())),
                ("IgnorePublicAcls", c.and_then(|c| c.ignore_public_acls())),
                ("BlockPublicPolicy", c.and_then(|c| c.block_public_policy())),
                (
                    "RestrictPublicBuckets",
                    c.and_then(|c| c.restrict_public_buckets()),
                ),
            ]
            .into_iter()
            .filter(|(_, on)| *on != Some(true))
            .map(|(n, _)| n)
            .collect();
            if !off.is_empty() {
                return Ok(Some(Some(format!(
                    "its public access block has {} off",
                    off.join(", ")
                ))));
            }
        }
        Err(e)
            if e.as_service_error().and_then(|s| s.meta().code())
                == Some("NoSuchPublicAccessBlockConfiguration")
                || http_status(&e) == 404 =>
        {
            return Ok(Some(Some("it has no public access block".into())));
        }
        Err(e) => {
            return Err(aws.fail(e, "s3:GetBucketPublicAccessBlock", |m| {
                anyhow::anyhow!("reading the public access block of {name}: {m}")
            }))
        }
    }
    match s3
        .get_bucket_policy_status()
        .bucket(name)
        .expected_bucket_owner(account)
        .send()
        .await
    {
        Ok(out) if out.policy_status().and_then(|p| p.is_public()) == Some(true) => {
            Ok(Some(Some("its bucket policy makes it public".into())))
        }
        Ok(_) => Ok(Some(None)),
        Err(e)
            if e.as_service_error().and_then(|s| s.meta().code()) == Some("NoSuchBucketPolicy")
                || http_status(&e) == 404 =>
        {
            Ok(Some(None))
        }
        Err(e) => Err(aws.fail(e, "s3:GetBucketPolicyStatus", |m| {
            anyhow::anyhow!("reading the policy status of {name}: {m}")
        })),
    }
}

fn http_status<E>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> u16 {
    e.raw_response().map(|r| r.status().as_u16()).unwrap_or(0)
}
