//! The base image: resolving `runtime-image` to one platform manifest and caching its blobs on disk.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

use super::config_error;
use super::layout::{blob_path, descriptor_digest};
use crate::config::{Architecture, Config};
use crate::error::{Result, UserError};
use crate::output::Output;
use crate::registry::{
    endpoint, Credentials, ImageRef, Registry, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
};

/// The base image's platform manifest, config and layer descriptors (blobs in the cache).
pub(super) struct BaseImage {
    pub media_type: String,
    pub digest: String,
    pub config: Value,
    pub layers: Vec<Value>,
}

/// `runtime-image` as a reference, pulled from `mirror` when one is given.
pub(super) fn base_reference(image: &str, mirror: Option<&str>) -> Result<ImageRef, UserError> {
    let mut reference = ImageRef::parse(image).map_err(|e| {
        e.downcast::<UserError>()
            .unwrap_or_else(|e| UserError::new(e.to_string()))
    })?;
    if let Some(mirror) = mirror {
        reference.registry = endpoint(mirror).1;
    }
    Ok(reference)
}

pub(super) fn oci_arch(arch: Architecture) -> &'static str {
    match arch {
        Architecture::X86_64 => "amd64",
        Architecture::Arm64 => "arm64",
    }
}

/// A manifest's media type: what the registry said, else its own `mediaType`.
fn manifest_type(header: &str, manifest: &Value) -> String {
    let header = header.split(';').next().unwrap_or("").trim();
    if [
        MEDIA_OCI_INDEX,
        MEDIA_OCI_MANIFEST,
        MEDIA_DOCKER_LIST,
        MEDIA_DOCKER_MANIFEST,
    ]
    .contains(&header)
    {
        return header.to_string();
    }
    match manifest["mediaType"].as_str() {
        Some(t) => t.to_string(),
        None if manifest.get("manifests").is_some() => MEDIA_OCI_INDEX.to_string(),
        None => MEDIA_OCI_MANIFEST.to_string(),
    }
}

/// The digest of an index's entry for linux/<arch>, or why there is none.
pub(super) fn pick_platform(index: &Value, arch: Architecture) -> Result<String, String> {
    let want = oci_arch(arch);
    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
    let matching = entries.iter().filter(|m| {
        m["platform"]["os"] == "linux"
            && m["platform"]["architecture"] == want
            && (want != "arm64" || matches!(m["platform"]["variant"].as_str(), None | Some("v8")))
    });
    if let Some(m) = matching.into_iter().next() {
        return descriptor_digest(m).map_err(|e| e.to_string());
    }
    let have: BTreeSet<String> = entries
        .iter()
        .filter_map(|m| {
            let p = &m["platform"];
            Some(format!(
                "{}/{}",
                p["os"].as_str()?,
                p["architecture"].as_str()?
            ))
        })
        .filter(|p| p != "unknown/unknown")
        .collect();
    Err(format!(
        "has no linux/{want} image (it has {})",
        have.into_iter().collect::<Vec<_>>().join(", ")
    ))
}

pub(super) async fn fetch_base(
    reference: &ImageRef,
    credentials: Option<Credentials>,
    arch: Architecture,
    cache: &BlobCache,
    out: &Output,
) -> Result<BaseImage> {
    let registry = Registry::new(&reference.registry, credentials)?;
    let repo = &reference.repository;
    let mut manifest = registry.get_manifest(repo, &reference.reference).await?;
    if reference.reference.starts_with("sha256:") && manifest.digest != reference.reference {
        anyhow::bail!("{reference} arrived with digest {}", manifest.digest);
    }
    let mut value: Value =
        serde_json::from_slice(&manifest.bytes).context("reading the base image's manifest")?;
    let mut media_type = manifest_type(&manifest.media_type, &value);
    if media_type == MEDIA_OCI_INDEX || media_type == MEDIA_DOCKER_LIST {
        let digest = pick_platform(&value, arch).map_err(UserError::new)?;
        out.verbose(format!("{reference}: {} is {digest}", arch.platform()));
        manifest = registry.get_manifest(repo, &digest).await?;
        if manifest.digest != digest {
            anyhow::bail!(
                "{reference}@{digest} arrived with digest {}",
                manifest.digest
            );
        }
        value = serde_json::from_slice(&manifest.bytes)
            .context("reading the base image's platform manifest")?;
        media_type = manifest_type(&manifest.media_type, &value);
    }
    if media_type != MEDIA_OCI_MANIFEST && media_type != MEDIA_DOCKER_MANIFEST {
        return Err(UserError::new(format!(
            "its manifest is {media_type}, which the host builder cannot extend"
        ))
        .into());
    }
    let config_digest = descriptor_digest(&value["config"])?;
    let config_path = cache.fetch(&registry, repo, &config_digest, out).await?;
    let config: Value = serde_json::from_slice(&std::fs::read(&config_path)?)
        .context("reading the base image's config")?;
    let platform = format!(
        "{}/{}",
        config["os"].as_str().unwrap_or("?"),
        config["architecture"].as_str().unwrap_or("?")
    );
    if platform != arch.platform() {
        return Err(
            UserError::new(format!("it is a {platform} image, not {}", arch.platform())).into(),
        );
    }
    let layers = value["layers"].as_array().cloned().unwrap_or_default();
    for layer in &layers {
        let digest = descriptor_digest(layer)?;
        cache.fetch(&registry, repo, &digest, out).await?;
    }
    Ok(BaseImage {
        media_type,
        digest: manifest.digest,
        config,
        layers,
    })
}

/// An error while fetching the base image, turned into one line about `runtime-image`.
pub(super) fn base_error(config: &Config, e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<UserError>() {
        Ok(u) => config_error(
            config,
            "runtime-image",
            format!("base image `{}`: {}", config.build.runtime_image, u.what),
        )
        .fix("check `runtime-image` (registry/repository:tag) and that this machine can pull it; the push registry's login is used only for an image on that registry")
        .into(),
        Err(e) => e.context(format!("fetching the base image `{}`", config.build.runtime_image)),
    }
}

/// Base blobs on disk, by digest, so each is downloaded once per target dir.
pub(super) struct BlobCache {
    pub blobs: PathBuf,
}

impl BlobCache {
    pub(super) fn new(dir: PathBuf) -> Self {
        BlobCache {
            blobs: dir.join("blobs"),
        }
    }

    pub(super) fn path(&self, digest: &str) -> Result<PathBuf> {
        blob_path(&self.blobs, digest)
    }

    /// The blob's path, downloading it first when it is not cached (verified, written atomically).
    pub(super) async fn fetch(
        &self,
        registry: &Registry,
        repo: &str,
        digest: &str,
        out: &Output,
    ) -> Result<PathBuf> {
        let path = self.path(digest)?;
        if path.is_file() {
            return Ok(path);
        }
        out.status(
            "Downloading",
            format!("{digest} from {}/{repo}", registry.host),
        );
        registry.download_blob(repo, digest, &path).await?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn index_entries_are_picked_by_linux_and_architecture() {
        let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
        let index = json!({ "manifests": [
            { "digest": d('1'), "platform": { "os": "linux", "architecture": "arm", "variant": "v7" } },
            { "digest": d('2'), "platform": { "os": "linux", "architecture": "arm64", "variant": "v8" } },
            { "digest": d('3'), "platform": { "os": "linux", "architecture": "amd64" } },
            { "digest": d('4'), "platform": { "os": "unknown", "architecture": "unknown" } },
        ]});
        assert_eq!(pick_platform(&index, Architecture::X86_64), Ok(d('3')));
        assert_eq!(pick_platform(&index, Architecture::Arm64), Ok(d('2')));
        let only_arm = json!({ "manifests": [
            { "digest": d('1'), "platform": { "os": "linux", "architecture": "arm64" } },
            { "digest": d('4'), "platform": { "os": "unknown", "architecture": "unknown" } },
        ]});
        assert_eq!(
            pick_platform(&only_arm, Architecture::X86_64),
            Err("has no linux/amd64 image (it has linux/arm64)".to_string())
        );
        assert_eq!(
            manifest_type(
                "application/vnd.oci.image.index.v1+json; charset=utf-8",
                &json!({})
            ),
            MEDIA_OCI_INDEX
        );
        assert_eq!(
            manifest_type("application/json", &json!({ "manifests": [] })),
            MEDIA_OCI_INDEX
        );
    }

    #[test]
    fn a_mirror_replaces_the_registry_of_the_base_only() {
        let r = base_reference("debian:bookworm-slim", Some("127.0.0.1:5000")).unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/library/debian:bookworm-slim");
        let r = base_reference("debian:bookworm-slim", None).unwrap();
        assert_eq!(r.registry, "registry-1.docker.io");
    }
}
