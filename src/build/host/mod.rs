//! Builder `host`: cargo builds the binary on this machine for the Linux target, and the image is
//! assembled here without Docker, the way ko does it for Go: the base image's layers as they are in its
//! registry, plus one deterministic layer holding the binary. An unchanged binary gives the same image
//! digest, and a rebuild costs what `cargo build` costs plus compressing one file.
//!
//! The result is an OCI image layout under `<target>/fargate/oci/<project>-<stage>/`; the publisher
//! ([`crate::publish`]) ships it.
//!
//! One job per file: [`toolchain`] (can this host build the target; driving cargo), [`base`] (fetching
//! and caching the base image), [`glibc`] (does the binary run on the base), [`layer`] (the binary's
//! layer), [`image`] (config and manifest), [`layout`] (the OCI layout on disk); [`elf`] reads binaries.

mod base;
mod elf;
mod glibc;
mod image;
mod layer;
mod layout;
mod toolchain;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use serde_json::json;

use crate::config::resolve::shown_key;
use crate::config::Config;
use crate::error::{Location, Result, UserError};
use crate::output::Output;
use crate::project::Project;
use crate::registry::{endpoint, Credentials, ImageRef};

use base::{base_error, base_reference, fetch_base, oci_arch, BlobCache};
use glibc::{base_glibc_cached, glibc_fits, needed_glibc};
use image::{assemble, ImageSettings};
use layer::binary_layer;
use layout::{write_layout, BlobSource};
use toolchain::{check_host, CargoBuild};

pub use layout::{blob_path, descriptor_digest};

/// The image runs as this user, not root. Numeric, so the base needs no passwd entry for it.
pub const IMAGE_USER: &str = "10001:10001";
/// Where the binary lands in the image (and so the default entrypoint's directory).
pub(super) const BIN_DIR: &str = "usr/local/bin";

pub struct HostBuildInput<'a> {
    pub project: &'a Project,
    pub config: &'a Config,
    /// Image labels, merged over the base image's.
    pub labels: BTreeMap<String, String>,
    /// Credentials of the push registry; used for the base image only when it lives on that registry
    /// (`push_registry`), never sent to another host.
    pub base_credentials: Option<Credentials>,
    /// Pull the base image from this registry (`host[:port]`: a mirror or pull-through cache) instead
    /// of the one its reference names; the repository path stays as written.
    pub base_registry_override: Option<String>,
    /// The registry the image will be pushed to (`host[:port]` or URL), which `base_credentials` are for.
    pub push_registry: Option<String>,
}

/// A built image, on disk as an OCI image layout.
#[derive(Debug, Clone, Serialize)]
pub struct OciImage {
    pub dir: PathBuf,
    #[serde(skip)]
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    pub manifest_digest: String,
    pub config_digest: String,
    /// The base image as pulled (its tag, not its digest: see `base_digest`); push mounts from it.
    #[serde(serialize_with = "crate::registry::display")]
    pub base: ImageRef,
    /// The digest of the base's platform manifest the image was built on.
    pub base_digest: String,
    /// Compressed bytes of all layers.
    pub size: u64,
}

/// Builds the binary with cargo and assembles the image; see the module docs.
pub async fn build(input: &HostBuildInput<'_>, out: &Output) -> Result<OciImage> {
    let config = input.config;
    let project = input.project;
    let target = config.architecture.rust_target();
    check_host(config, &project.package_dir)?;
    let epoch = source_date_epoch(std::env::var("SOURCE_DATE_EPOCH").ok().as_deref())?;

    // The base first: a wrong `runtime-image` fails in a second, not after a long compile.
    let base_ref = base_reference(
        &config.runtime_image,
        input.base_registry_override.as_deref(),
    )
    .map_err(|e| config_error(config, "runtime-image", e.what))?;
    let same_host = input
        .push_registry
        .as_deref()
        .is_some_and(|p| endpoint(p).1 == base_ref.registry);
    let credentials = input.base_credentials.clone().filter(|_| same_host);
    let cache = BlobCache::new(project.target_dir.join("fargate").join("oci-cache"));
    out.status("Resolving", format!("base image {base_ref}"));
    let base = fetch_base(&base_ref, credentials, config.architecture, &cache, out)
        .await
        .map_err(|e| base_error(config, e))?;

    out.status(
        "Building",
        format!(
            "{} for {target} (cargo build --profile {})",
            config.bin, config.cargo_profile
        ),
    );
    let cargo = CargoBuild {
        manifest: project.manifest.path.clone(),
        bin: config.bin.clone(),
        profile: config.cargo_profile.clone(),
        target: target.to_string(),
        features: config.features.clone(),
    };
    let binary_path = tokio::task::spawn_blocking(move || cargo.run())
        .await
        .context("the cargo build task failed")??;
    let binary = std::fs::read(&binary_path)
        .with_context(|| format!("reading the built binary {}", binary_path.display()))?;

    // The binary links against the host's glibc: refuse a base whose glibc is older (it would die at
    // start on Fargate with "GLIBC_2.xx not found").
    let base_glibc = base_glibc_cached(&base, &cache)?;
    glibc_fits(&config.bin, needed_glibc(&binary)?, &base_glibc).map_err(|e| {
        let mut located = config_error(config, "runtime-image", e.what);
        located.fix = e.fix;
        located
    })?;

    let layer = binary_layer(&binary, &config.bin, epoch)?;
    let settings = ImageSettings {
        architecture: config.architecture,
        bin: config.bin.clone(),
        entrypoint: config.entrypoint.clone(),
        command: config.command.clone(),
        labels: input.labels.clone(),
        epoch,
        created_by: format!(
            "cargo-fargate host builder: cargo build --bin {} --profile {} --target {target}",
            config.bin, config.cargo_profile
        ),
        base_name: base_ref.to_string(),
        base_digest: base.digest.clone(),
    };
    let image = assemble(&base, &layer, &settings)?;

    let dir = project
        .target_dir
        .join("fargate")
        .join("oci")
        .join(format!("{}-{}", config.project, config.stage));
    let mut blobs: Vec<(String, BlobSource)> = vec![
        (
            image.manifest_digest.clone(),
            BlobSource::Bytes(&image.manifest),
        ),
        (
            image.config_digest.clone(),
            BlobSource::Bytes(&image.config),
        ),
        (layer.digest.clone(), BlobSource::Bytes(&layer.tar_gz)),
    ];
    for d in &base.layers {
        let digest = descriptor_digest(d)?;
        let path = cache.path(&digest)?;
        blobs.push((digest, BlobSource::File(path)));
    }
    let index_entry = json!({
        "mediaType": image.manifest_media_type,
        "digest": image.manifest_digest,
        "size": image.manifest.len(),
        "platform": { "architecture": oci_arch(config.architecture), "os": "linux" },
        "annotations": {
            "org.opencontainers.image.ref.name": config.stage,
            "org.opencontainers.image.base.name": settings.base_name,
        },
    });
    write_layout(&dir, &blobs, index_entry)?;

    out.status(
        "Built",
        format!(
            "{} ({} on {}, {} layers, {})",
            image.manifest_digest,
            config.bin,
            base_ref,
            base.layers.len() + 1,
            indicatif::HumanBytes(image.size)
        ),
    );
    out.verbose(format!("OCI image layout: {}", dir.display()));
    Ok(OciImage {
        dir,
        manifest: image.manifest,
        manifest_media_type: image.manifest_media_type,
        manifest_digest: image.manifest_digest,
        config_digest: image.config_digest,
        base: base_ref,
        base_digest: base.digest,
        size: image.size,
    })
}

/// A UserError about `key`, located where the key's value came from.
pub(super) fn config_error(config: &Config, key: &str, what: String) -> UserError {
    let origin = config
        .entries
        .iter()
        .find(|e| e.key == key)
        .map(|e| &e.origin);
    let mut e = UserError::new(what);
    if let Some(origin) = origin {
        e = e.key(shown_key(key, &origin.source));
        e.location = origin.location.clone();
    } else {
        e = e.key(key);
    }
    e
}

// ---------------------------------------------------------------------------------------- small ---

/// SOURCE_DATE_EPOCH (reproducible-builds.org), else 0: the layer's mtimes and the image's `created`.
fn source_date_epoch(value: Option<&str>) -> Result<u64, UserError> {
    match value.map(str::trim) {
        None | Some("") => Ok(0),
        Some(v) => v.parse().map_err(|_| {
            UserError::new(format!("`{v}` is not a number of seconds"))
                .at(Location::Env("SOURCE_DATE_EPOCH".into()))
                .fix("set it to seconds since 1970, e.g. `$(git log -1 --format=%ct)`, or unset it")
        }),
    }
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ`.
pub(super) fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests;
