//! ECR, read-only: is a pinned image really there? Asked of ECR itself (the registry Fargate pulls
//! from), in the image's own account and region.

use super::Aws;
use crate::error::{Location, Result, UserError};
use crate::image::PinnedImage;

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
}
