//! Blobs read over the registry API: whether one exists, a small JSON one (an image config) read
//! whole, and a download to a file as it arrives, checked against its digest. Uploads: `upload`.

use std::path::Path;

use anyhow::Context;
use reqwest::header::HeaderMap;
use reqwest::{Method, Response};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{ok_or_status, Payload, Registry};
use crate::error::Result;

impl Registry {
    pub async fn blob_exists(&self, repository: &str, digest: &str) -> Result<bool> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let resp = self
            .send(
                Method::HEAD,
                &url,
                &Self::scope(repository, true),
                HeaderMap::new(),
                Payload::None,
            )
            .await?;
        Ok(resp.status().is_success())
    }

    async fn blob_response(&self, repository: &str, digest: &str) -> Result<Response> {
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let resp = self
            .send(
                Method::GET,
                &url,
                &Self::scope(repository, false),
                HeaderMap::new(),
                Payload::None,
            )
            .await?;
        ok_or_status(resp, &format!("reading blob {digest} of {repository}")).await
    }

    /// A small JSON blob (an image config), read whole and checked against its digest.
    pub async fn blob_json(&self, repository: &str, digest: &str) -> Result<serde_json::Value> {
        let resp = self.blob_response(repository, digest).await?;
        let bytes = resp.bytes().await?;
        let got = format!("sha256:{}", hex::encode(Sha256::digest(&bytes)));
        anyhow::ensure!(
            got == digest,
            "blob {digest} of {repository} arrived corrupted"
        );
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// The architectures of an image: its index's entries, or its config's `architecture`.
    pub async fn image_architectures(&self, repository: &str, digest: &str) -> Result<Vec<String>> {
        let manifest = self.get_manifest(repository, digest).await?;
        let manifest: serde_json::Value = serde_json::from_slice(&manifest.bytes)?;
        if let Some(list) = super::index_architectures(&manifest) {
            return Ok(list);
        }
        let config = self
            .blob_json(repository, super::config_digest(&manifest)?)
            .await?;
        Ok(config["architecture"]
            .as_str()
            .map(str::to_string)
            .into_iter()
            .collect())
    }

    /// Downloads a blob to `path` as it arrives, checking its digest on the way; the file appears
    /// whole or not at all. A broken or corrupted transfer is tried again.
    pub async fn download_blob(&self, repository: &str, digest: &str, path: &Path) -> Result<()> {
        super::with_retries(|| self.download_once(repository, digest, path))
            .await
            .map_err(|(e, tries)| {
                e.context(format!(
                    "downloading blob {digest} from {}/{repository} failed {tries} time{}",
                    self.host,
                    if tries == 1 { "" } else { "s" }
                ))
            })
    }

    async fn download_once(&self, repository: &str, digest: &str, path: &Path) -> Result<()> {
        let dir = path.parent().context("a blob path has a directory")?;
        tokio::fs::create_dir_all(dir)
            .await
            .with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        let result = async {
            let mut resp = self.blob_response(repository, digest).await?;
            let mut file = tokio::fs::File::create(&tmp)
                .await
                .with_context(|| format!("creating {}", tmp.display()))?;
            let mut hasher = Sha256::new();
            while let Some(piece) = resp.chunk().await? {
                hasher.update(&piece);
                file.write_all(&piece)
                    .await
                    .with_context(|| format!("writing {}", tmp.display()))?;
            }
            file.flush().await?;
            let got = format!("sha256:{}", hex::encode(hasher.finalize()));
            if got != digest {
                anyhow::bail!(
                    "blob {digest} of {repository} arrived corrupted (its bytes hash to {got})"
                );
            }
            tokio::fs::rename(&tmp, path)
                .await
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }
}
