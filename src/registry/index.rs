//! Joining images pushed one platform at a time (a Docker or CodeBuild build per platform) into one
//! image index, and reading a blob ECR hands out as a download URL, with the registry client's
//! timeouts and retries.

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use super::{digest_of, Registry, MEDIA_OCI_INDEX};
use crate::error::Result;

/// One platform's image for an index: its OCI architecture (`amd64`, `arm64`) and manifest digest.
pub struct PlatformImage<'a> {
    pub architecture: &'a str,
    pub digest: &'a str,
}

/// An OCI image index of manifests `(media type, digest, size, architecture)`, as bytes and digest.
pub fn index_of(entries: &[(String, String, usize, String)]) -> Result<(Vec<u8>, String)> {
    let manifests: Vec<Value> = entries
        .iter()
        .map(|(media_type, digest, size, arch)| {
            json!({
                "mediaType": media_type,
                "digest": digest,
                "size": size,
                "platform": { "architecture": arch, "os": "linux" },
            })
        })
        .collect();
    let bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": manifests,
    }))?;
    let digest = digest_of(&bytes);
    Ok((bytes, digest))
}

impl Registry {
    /// Puts an image index of `images` (each already in `repository`) under every tag of `tags`;
    /// returns its digest. Each entry's media type and size are the registry's own.
    pub async fn join_index(
        &self,
        repository: &str,
        images: &[PlatformImage<'_>],
        tags: &[String],
    ) -> Result<String> {
        let mut entries = Vec::new();
        for image in images {
            let m = self.get_manifest(repository, image.digest).await?;
            let media_type = m.media_type.split(';').next().unwrap_or_default().trim();
            entries.push((
                media_type.to_string(),
                m.digest,
                m.bytes.len(),
                image.architecture.to_string(),
            ));
        }
        let (bytes, digest) = index_of(&entries)?;
        for tag in tags {
            if self.manifest_digest(repository, tag).await?.as_deref() == Some(&digest) {
                continue; // ECR refuses re-putting an immutable tag, even the same manifest
            }
            self.put_manifest(repository, tag, MEDIA_OCI_INDEX, bytes.clone())
                .await?;
        }
        Ok(digest)
    }
}

/// A small JSON blob from a download URL (ECR's GetDownloadUrlForLayer: presigned, no login),
/// checked against its digest; fetched with the registry client's time limits and retries.
pub async fn download_json(url: &str, digest: &str) -> Result<Value> {
    let Some(at) = url.find("://").map(|i| i + 3) else {
        anyhow::bail!("not a download URL: {url}");
    };
    let base = &url[..url[at..].find('/').map_or(url.len(), |i| at + i)];
    let registry = Registry::new(base, None)?;
    let resp = registry
        .exchange(
            &Method::GET,
            url,
            || registry.client.get(url).headers(HeaderMap::new()),
            0,
        )
        .await?;
    let resp = super::ok_or_status(resp, &format!("downloading blob {digest}")).await?;
    let bytes = resp.bytes().await?;
    anyhow::ensure!(
        digest_of(&bytes) == digest,
        "blob {digest} arrived corrupted from its download URL"
    );
    Ok(serde_json::from_slice(&bytes)?)
}
