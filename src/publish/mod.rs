//! Stage `publish` (the `push` command): what a build produced, shipped. [`ecr`]: the ECR
//! repository ensured, the registry login, the push (through the Engine for a Docker build, blob
//! by blob below for the host builder's OCI image layout), the tags; [`sbom`]: the SBOM next to
//! the image. Build produces an artifact; only this stage ships it.

mod ecr;
mod engine;
mod lifecycle;
mod remote;
mod sbom;

pub use ecr::*;
pub use lifecycle::lifecycle_policy;
pub use remote::{publish_remote, tag_copies};
pub use sbom::{push_sbom, SbomPush};

use anyhow::Context;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;
use serde_json::Value;

use crate::build::host::{blob_path, descriptor_digest, OciImage};
use crate::error::Result;
use crate::output::Output;
use crate::registry::Registry;

#[derive(Debug, Clone, Default, Serialize)]
pub struct PushStats {
    pub digest: String,
    pub blobs_uploaded: usize,
    pub blobs_skipped: usize,
    /// Blobs linked from the base image's repository on the same registry, without an upload.
    pub blobs_mounted: usize,
    pub bytes_uploaded: u64,
}

/// Pushes a built image: each blob the registry lacks (mounted from the base's repository when it is
/// on the same registry, else uploaded), then the manifest under every tag (by digest when none).
pub async fn push(
    image: &OciImage,
    registry: &Registry,
    repository: &str,
    tags: &[String],
    out: &Output,
) -> Result<PushStats> {
    if !image.platforms.is_empty() {
        return push_index(image, registry, repository, tags, out).await;
    }
    let manifest: Value =
        serde_json::from_slice(&image.manifest).context("reading the image manifest")?;
    let mut blobs: Vec<(String, u64)> = Vec::new();
    let descriptors = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(std::iter::once(&manifest["config"]));
    for d in descriptors {
        let digest = descriptor_digest(d)?;
        if !blobs.iter().any(|(b, _)| *b == digest) {
            blobs.push((digest, d["size"].as_u64().unwrap_or(0)));
        }
    }
    let mount_from = image
        .base
        .as_ref()
        .filter(|b| registry.host == b.registry && b.repository != repository)
        .map(|b| b.repository.as_str());
    let total: u64 = blobs.iter().map(|(_, s)| s).sum();
    out.status(
        "Pushing",
        format!(
            "{} to {}/{repository}",
            image.manifest_digest, registry.host
        ),
    );
    let bar = out.bar(total, "Pushing");

    let outcomes: Vec<(BlobOutcome, u64)> = stream::iter(blobs)
        .map(|(digest, size)| {
            let bar = &bar;
            async move {
                let outcome = push_blob(image, registry, repository, &digest, mount_from).await?;
                out.verbose(format!("{digest}: {outcome:?}"));
                bar.inc(size);
                Ok::<_, anyhow::Error>((outcome, size))
            }
        })
        .buffer_unordered(3)
        .try_collect()
        .await?;
    bar.finish_and_clear();

    let mut stats = PushStats {
        digest: image.manifest_digest.clone(),
        ..PushStats::default()
    };
    for (outcome, size) in outcomes {
        match outcome {
            BlobOutcome::Skipped => stats.blobs_skipped += 1,
            BlobOutcome::Mounted => stats.blobs_mounted += 1,
            BlobOutcome::Uploaded => {
                stats.blobs_uploaded += 1;
                stats.bytes_uploaded += size;
            }
        }
    }

    let references = put_manifest(image, registry, repository, tags, out).await?;
    out.status(
        "Pushed",
        format!(
            "{}/{repository}:{} ({} uploaded, {} mounted, {} already there; {})",
            registry.host,
            references.join(","),
            stats.blobs_uploaded,
            stats.blobs_mounted,
            stats.blobs_skipped,
            indicatif::HumanBytes(stats.bytes_uploaded)
        ),
    );
    Ok(stats)
}

/// A multi-platform image: each platform's image by its digest, then the index under the tags.
async fn push_index(
    image: &OciImage,
    registry: &Registry,
    repository: &str,
    tags: &[String],
    out: &Output,
) -> Result<PushStats> {
    let mut stats = PushStats {
        digest: image.manifest_digest.clone(),
        ..PushStats::default()
    };
    for platform in &image.platforms {
        let s = Box::pin(push(platform, registry, repository, &[], out)).await?;
        stats.blobs_uploaded += s.blobs_uploaded;
        stats.blobs_skipped += s.blobs_skipped;
        stats.blobs_mounted += s.blobs_mounted;
        stats.bytes_uploaded += s.bytes_uploaded;
    }
    let references = put_manifest(image, registry, repository, tags, out).await?;
    out.status(
        "Pushed",
        format!(
            "{}/{repository}:{} (an index of {} platforms)",
            registry.host,
            references.join(","),
            image.platforms.len()
        ),
    );
    Ok(stats)
}

/// Puts the image's manifest under every tag (by digest when none); returns the references.
async fn put_manifest(
    image: &OciImage,
    registry: &Registry,
    repository: &str,
    tags: &[String],
    out: &Output,
) -> Result<Vec<String>> {
    let references: Vec<String> = if tags.is_empty() {
        vec![image.manifest_digest.clone()]
    } else {
        tags.to_vec()
    };
    for reference in &references {
        // Re-putting the same manifest is a no-op, and ECR refuses it on an immutable tag.
        if registry
            .manifest_digest(repository, reference)
            .await?
            .as_deref()
            == Some(image.manifest_digest.as_str())
        {
            out.verbose(format!("{repository}:{reference} is already this image"));
            continue;
        }
        let digest = registry
            .put_manifest(
                repository,
                reference,
                &image.manifest_media_type,
                image.manifest.clone(),
            )
            .await?;
        if digest != image.manifest_digest {
            anyhow::bail!(
                "the registry stored the manifest as {digest}, not {}",
                image.manifest_digest
            );
        }
    }
    Ok(references)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlobOutcome {
    Skipped,
    Mounted,
    Uploaded,
}

async fn push_blob(
    image: &OciImage,
    registry: &Registry,
    repository: &str,
    digest: &str,
    mount_from: Option<&str>,
) -> Result<BlobOutcome> {
    if registry.blob_exists(repository, digest).await? {
        return Ok(BlobOutcome::Skipped);
    }
    if let Some(from) = mount_from {
        if registry.mount_blob(repository, digest, from).await? {
            return Ok(BlobOutcome::Mounted);
        }
    }
    let path = blob_path(&image.dir.join("blobs"), digest)?;
    registry.upload_blob(repository, digest, &path).await?;
    Ok(BlobOutcome::Uploaded)
}
