//! ECR, read-only: is a pinned image really there (asked of ECR itself, the registry Fargate pulls
//! from, in the image's own account and region), and the newest image of a repository, its
//! manifest and config.

use super::Aws;
use crate::error::{Location, Result, UserError};
use crate::image::PinnedImage;

/// An image of a repository: its digest, tags and push time (seconds since the epoch).
#[derive(Debug, Clone)]
pub struct ImageSummary {
    pub digest: String,
    pub tags: Vec<String>,
    pub pushed_at: i64,
    /// ECR's `artifactMediaType`: the config's media type, or an artifact's own type.
    pub artifact_media_type: Option<String>,
}

impl ImageSummary {
    /// An artifact that refers to an image (an SBOM, a signature), not an image that runs: by
    /// its type where ECR gives one, else by the referrers tag schema of all its tags.
    fn is_artifact(&self) -> bool {
        use crate::registry::{is_image_config_type, is_referrers_fallback_tag};
        match self
            .artifact_media_type
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            Some(t) => !is_image_config_type(t),
            None => !self.tags.is_empty() && self.tags.iter().all(|t| is_referrers_fallback_tag(t)),
        }
    }
}

/// What is known about a pinned image before it goes into a task definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageCheck {
    /// ECR has it.
    Found,
    /// Not an ECR image: the registry is not asked (Fargate pulls it with the execution role).
    NotEcr,
}

impl Aws {
    pub async fn check_image(&self, image: &PinnedImage) -> Result<ImageCheck> {
        let Some(ecr) = image.ecr() else {
            return Ok(ImageCheck::NotEcr);
        };
        let not_pushed = |why: String| -> anyhow::Error {
            UserError::new(format!(
                "image `{}` was never pushed ({why})",
                image.reference
            ))
            .at(Location::Flag("--image".into()))
            .fix("push it first (cargo fargate push) and pass the digest it prints")
            .into()
        };
        let out = self
            .ecr_in(&ecr.region)
            .describe_images()
            .registry_id(&ecr.registry_id)
            .repository_name(&ecr.repository_name)
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(&image.digest)
                    .build(),
            )
            .send()
            .await;
        match out {
            Ok(out) if !out.image_details().is_empty() => Ok(ImageCheck::Found),
            Ok(_) => Err(not_pushed("ECR has no such digest".into())),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_image_not_found_exception() => Err(not_pushed(format!(
                    "repository `{}` has no image {}",
                    ecr.repository_name, image.digest
                ))),
                Some(s) if s.is_repository_not_found_exception() => Err(not_pushed(format!(
                    "ECR repository `{}` does not exist in {} of account {}",
                    ecr.repository_name, ecr.region, ecr.registry_id
                ))),
                _ => Err(self.fail(e, "ecr:DescribeImages", |m| {
                    anyhow::anyhow!("checking image {} in ECR: {m}", image.reference)
                })),
            },
        }
    }

    /// The images of `repository` as ECR describes them; `None` when it does not exist.
    pub async fn images(&self, repository: &str) -> Result<Option<Vec<ImageSummary>>> {
        let mut pages = self
            .ecr()
            .describe_images()
            .repository_name(repository)
            .into_paginator()
            .send();
        let mut images = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_repository_not_found_exception()) =>
                {
                    return Ok(None)
                }
                Err(e) => {
                    return Err(self.fail(e, "ecr:DescribeImages", |m| {
                        anyhow::anyhow!("listing the images of {repository}: {m}")
                    }))
                }
            };
            images.extend(page.image_details().iter().map(|d| ImageSummary {
                digest: d.image_digest().unwrap_or_default().to_string(),
                tags: d.image_tags().to_vec(),
                pushed_at: d.image_pushed_at().map(|t| t.secs()).unwrap_or(0),
                artifact_media_type: d.artifact_media_type().map(str::to_string),
            }));
        }
        Ok(Some(images))
    }

    /// The digest of the newest image pushed to `repository` (by push time; artifacts tagged by
    /// the referrers tag schema, such as the SBOM pushed after the image, are not images): `None`
    /// when the repository does not exist, `Some(None)` when it holds no image.
    pub async fn newest_image(&self, repository: &str) -> Result<Option<Option<String>>> {
        let Some(images) = self.images(repository).await? else {
            return Ok(None);
        };
        let mut latest: Option<&ImageSummary> = None;
        for image in images
            .iter()
            .filter(|i| !i.digest.is_empty() && !i.is_artifact())
        {
            if latest.is_none_or(|l| image.pushed_at >= l.pushed_at) {
                latest = Some(image);
            }
        }
        Ok(Some(latest.map(|i| i.digest.clone())))
    }

    /// An image's manifest (BatchGetImage), in the first of `media_types` ECR has.
    pub async fn image_manifest(
        &self,
        repository: &str,
        digest: &str,
        media_types: &[&str],
    ) -> Result<Option<String>> {
        let out = self
            .ecr()
            .batch_get_image()
            .repository_name(repository)
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(digest)
                    .build(),
            )
            .set_accepted_media_types(Some(media_types.iter().map(|s| s.to_string()).collect()))
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:BatchGetImage", |m| {
                    anyhow::anyhow!("reading the manifest: {m}")
                })
            })?;
        Ok(out
            .images()
            .first()
            .and_then(|i| i.image_manifest())
            .map(str::to_string))
    }

    /// Where a layer (or image config) of the repository can be downloaded from.
    pub async fn layer_url(&self, repository: &str, digest: &str) -> Result<String> {
        Ok(self
            .ecr()
            .get_download_url_for_layer()
            .repository_name(repository)
            .layer_digest(digest)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:GetDownloadUrlForLayer", |m| {
                    anyhow::anyhow!("locating the image config: {m}")
                })
            })?
            .download_url()
            .unwrap_or_default()
            .to_string())
    }

    /// The architectures of an image in ECR: its index's entries, or its config's `architecture`.
    pub async fn image_architectures(&self, repository: &str, digest: &str) -> Result<Vec<String>> {
        let manifest: serde_json::Value = self
            .image_manifest(repository, digest, MANIFEST_TYPES)
            .await?
            .map(|m| serde_json::from_str(&m))
            .transpose()?
            .unwrap_or(serde_json::Value::Null);
        if let Some(list) = crate::registry::index_architectures(&manifest) {
            return Ok(list);
        }
        let config_digest = crate::registry::config_digest(&manifest)?;
        let url = self.layer_url(repository, config_digest).await?;
        let config = crate::registry::download_json(&url, config_digest).await?;
        Ok(config["architecture"]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .collect())
    }
}

/// The manifest types an image is asked for in, an index first.
const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
