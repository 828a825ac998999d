//! Ships the SBOM next to the image: an OCI artifact (artifactType CycloneDX, the empty config, the
//! SBOM as its one layer) whose `subject` is the image, so registries with the referrers API (ECR)
//! list it under the image. Where the registry has no referrers API (distribution 2.x, the bench's),
//! it is also tagged `sha256-<image hex>.sbom`, the tag schema cosign and oras fall back to.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::build::sbom::MEDIA_CYCLONEDX;
use crate::error::Result;
use crate::output::Output;
use crate::registry::{digest_of, Registry, MEDIA_OCI_MANIFEST};

/// The OCI empty descriptor's media type and content (`{}`).
const MEDIA_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Where an SBOM went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SbomPush {
    /// The artifact manifest's digest.
    pub digest: String,
    /// The fallback tag, when the registry has no referrers API.
    pub tag: Option<String>,
}

/// Pushes the SBOM at `path` as an artifact referring to `repository@subject`.
pub async fn push_sbom(
    registry: &Registry,
    repository: &str,
    subject: &str,
    path: &Path,
    out: &Output,
) -> Result<SbomPush> {
    let subject_manifest = registry.get_manifest(repository, subject).await?;
    let media_type = subject_manifest
        .media_type
        .split(';')
        .next()
        .unwrap_or(MEDIA_OCI_MANIFEST)
        .trim()
        .to_string();
    let sbom = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let sbom_digest = digest_of(&sbom);
    let empty = b"{}".to_vec();
    let empty_digest = digest_of(&empty);
    for (digest, bytes) in [(&empty_digest, &empty), (&sbom_digest, &sbom)] {
        if !registry.blob_exists(repository, digest).await? {
            registry
                .upload_bytes(repository, digest, bytes.clone())
                .await?;
        }
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "artifactType": MEDIA_CYCLONEDX,
        "config": { "mediaType": MEDIA_EMPTY, "digest": empty_digest, "size": empty.len() },
        "layers": [{
            "mediaType": MEDIA_CYCLONEDX,
            "digest": sbom_digest,
            "size": sbom.len(),
            "annotations": { "org.opencontainers.image.title": file_name },
        }],
        "subject": {
            "mediaType": media_type,
            "digest": subject,
            "size": subject_manifest.bytes.len(),
        },
    });
    let bytes = serde_json::to_vec(&manifest)?;
    let digest = digest_of(&bytes);
    registry
        .put_manifest(repository, &digest, MEDIA_OCI_MANIFEST, bytes.clone())
        .await?;
    let mut tag = None;
    if !registry.referrers_supported(repository, subject).await? {
        let fallback = crate::registry::referrers_fallback_tag(subject, "sbom");
        if registry
            .manifest_digest(repository, &fallback)
            .await?
            .as_deref()
            != Some(&digest)
        {
            registry
                .put_manifest(repository, &fallback, MEDIA_OCI_MANIFEST, bytes)
                .await?;
        }
        tag = Some(fallback);
    }
    out.status(
        "SBOM",
        format!(
            "{}/{repository}@{digest} (refers to {subject}{})",
            registry.host,
            tag.as_deref()
                .map(|t| format!("; tagged {t}: no referrers API here"))
                .unwrap_or_default()
        ),
    );
    Ok(SbomPush { digest, tag })
}
