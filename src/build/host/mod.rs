//! Builder `host`: cargo builds the binary on this machine for the Linux target, and the image is
//! assembled here without Docker, the way ko does it for Go: the base image's layers as they are in its
//! registry, plus one deterministic layer holding the binary. An unchanged binary gives the same image
//! digest, and a rebuild costs what `cargo build` costs plus compressing one file.
//!
//! The result is an OCI image layout under `<target>/fargate/oci/<project>-<stage>/`; the publisher
//! (`publish`) ships it.
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
mod runtime;
mod toolchain;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use serde_json::json;

use crate::config::resolve::shown_key;
use crate::config::resolve::SCRATCH;
use crate::config::{Architecture, Config};
use crate::error::{Location, Result, UserError};
use crate::output::Output;
use crate::project::Project;
use crate::registry::{endpoint, Credentials, ImageRef};

use base::{base_error, base_reference, fetch_base, oci_arch, BaseImage, BlobCache};
use flate2::Compression;
use glibc::{base_glibc_cached, glibc_fits, needed_glibc};
use image::{assemble, ImageSettings};
use layer::{binary_entries, write_layer, Layer};
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
    /// None: the minimal runtime on `scratch`.
    #[serde(serialize_with = "base_name")]
    pub base: Option<ImageRef>,
    /// The digest of the base's platform manifest the image was built on.
    pub base_digest: Option<String>,
    /// Compressed bytes of all layers.
    pub size: u64,
    /// A multi-platform image: its platforms' images (each in its own layout); `manifest` is then
    /// their OCI image index. Empty for a one-platform image.
    #[serde(skip)]
    pub platforms: Vec<OciImage>,
}

/// Builds the binary with cargo and assembles the image, one per platform of `image_architectures`
/// (then joined by an image index); see the module docs.
pub async fn build(input: &HostBuildInput<'_>, out: &Output) -> Result<OciImage> {
    let config = input.config;
    let dir = input
        .project
        .target_dir
        .join("fargate")
        .join("oci")
        .join(format!("{}-{}", config.project, config.stage));
    if let [arch] = config.size.image_architectures[..] {
        return build_platform(input, arch, dir, out).await;
    }
    let mut platforms = Vec::new();
    for &arch in &config.size.image_architectures {
        platforms.push(build_platform(input, arch, dir.join(arch.as_config()), out).await?);
    }
    let index = image::index(&config.size.image_architectures, &platforms)?;
    out.status(
        "Built",
        format!(
            "{} (an index of {})",
            index.digest,
            config
                .size
                .image_architectures
                .iter()
                .map(|a| a.platform())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    Ok(OciImage {
        dir,
        manifest: index.bytes,
        manifest_media_type: crate::registry::MEDIA_OCI_INDEX.to_string(),
        manifest_digest: index.digest,
        config_digest: String::new(),
        base: platforms[0].base.clone(),
        base_digest: None,
        size: platforms.iter().map(|p| p.size).sum(),
        platforms,
    })
}

/// The image of one platform, written as an OCI image layout in `dir`.
async fn build_platform(
    input: &HostBuildInput<'_>,
    arch: Architecture,
    dir: PathBuf,
    out: &Output,
) -> Result<OciImage> {
    let config = input.config;
    let project = input.project;
    let target = arch.rust_target();
    let toolchain = check_host(config, arch, &project.package_dir)?;
    let epoch = build_epoch(
        std::env::var("SOURCE_DATE_EPOCH").ok().as_deref(),
        &project.package_dir,
    )?;
    let cache = BlobCache::new(project.target_dir.join("fargate").join("oci-cache"));

    // The base first: a wrong `runtime-image` fails in a second, not after a long compile.
    let pulled = pull_base(input, arch, &cache, out).await?;

    out.status(
        "Building",
        format!(
            "{} for {target} (cargo build --profile {})",
            config.bin, config.build.cargo_profile
        ),
    );
    let cargo = CargoBuild {
        manifest: project.manifest.path.clone(),
        bin: config.bin.clone(),
        profile: config.build.cargo_profile.clone(),
        target: target.to_string(),
        features: config.build.features.clone(),
        toolchain: toolchain.clone(),
    };
    let binary = tokio::task::spawn_blocking(move || cargo.run())
        .await
        .context("the cargo build task failed")??;

    let blob_dir = dir.join("blobs");
    let ours = our_layers(
        config, &pulled, &binary, arch, epoch, &cache, &blob_dir, out,
    )?;

    let mut labels = input.labels.clone();
    if let Some(version) = toolchain_version(toolchain.rustc.as_deref(), &project.package_dir) {
        labels.insert(TOOLCHAIN_LABEL.to_string(), version);
    }
    let scratch_base = image::scratch();
    let base = pulled.as_ref().map_or(&scratch_base, |(_, b)| b);
    let settings = ImageSettings {
        architecture: arch,
        bin: config.bin.clone(),
        entrypoint: config.container.entrypoint.clone(),
        command: config.container.command.clone(),
        labels,
        epoch,
        base: pulled
            .as_ref()
            .map(|(r, b)| (r.to_string(), b.digest.clone())),
    };
    let layers: Vec<(&Layer, &str)> = ours.iter().map(|(l, w)| (l, w.as_str())).collect();
    let image = assemble(base, &layers, &settings)?;

    let base_name = write_image(&dir, config, arch, &image, &ours, base, &pulled, &cache)?;
    out.status(
        "Built",
        format!(
            "{} ({} on {}, {} layers, {})",
            image.manifest_digest,
            config.bin,
            base_name,
            base.layers.len() + ours.len(),
            indicatif::HumanBytes(image.size)
        ),
    );
    out.verbose(format!("OCI image layout: {}", dir.display()));
    let (base_ref, base_digest) = match pulled {
        Some((r, b)) => (Some(r), Some(b.digest)),
        None => (None, None),
    };
    Ok(OciImage {
        dir,
        manifest: image.manifest,
        manifest_media_type: image.manifest_media_type,
        manifest_digest: image.manifest_digest,
        config_digest: image.config_digest,
        base: base_ref,
        base_digest,
        size: image.size,
        platforms: Vec::new(),
    })
}

/// The runtime base for `arch` (None: the minimal runtime on `scratch`), in the blob cache; the
/// push registry's credentials go only to that registry.
async fn pull_base(
    input: &HostBuildInput<'_>,
    arch: Architecture,
    cache: &BlobCache,
    out: &Output,
) -> Result<Option<(ImageRef, BaseImage)>> {
    let config = input.config;
    Ok(if config.build.runtime_image == SCRATCH {
        out.status("Runtime", minimal_reason(config));
        None
    } else {
        let base_ref = base_reference(
            &config.build.runtime_image,
            input.base_registry_override.as_deref(),
        )
        .map_err(|e| config_error(config, "runtime-image", e.what))?;
        let same_host = input
            .push_registry
            .as_deref()
            .is_some_and(|p| endpoint(p).1 == base_ref.registry);
        let credentials = input.base_credentials.clone().filter(|_| same_host);
        out.status(
            "Runtime",
            format!(
                "base image {base_ref} (`runtime-image` = \"{}\"{})",
                config.build.runtime_image,
                key_origin(config, "runtime-image")
            ),
        );
        let base = fetch_base(&base_ref, credentials, arch, cache, out)
            .await
            .map_err(|e| base_error(config, e))?;
        Some((base_ref, base))
    })
}

/// The layers the image adds to its base: on `scratch` the minimal runtime (the binary's shared
/// libraries, CA bundle, passwd/group), then the binary; on a base, after checking its glibc is
/// new enough for the binary, the binary alone.
#[allow(clippy::too_many_arguments)]
fn our_layers(
    config: &Config,
    pulled: &Option<(ImageRef, BaseImage)>,
    binary: &Path,
    arch: Architecture,
    epoch: u64,
    cache: &BlobCache,
    blob_dir: &Path,
    out: &Output,
) -> Result<Vec<(Layer, String)>> {
    let target = arch.rust_target();
    let mut ours: Vec<(Layer, String)> = Vec::new();
    match &pulled {
        Some((_, base)) => {
            // The binary links against the host's glibc: refuse a base whose glibc is older (it would
            // die at start on Fargate with "GLIBC_2.xx not found").
            let base_glibc = base_glibc_cached(base, cache)?;
            glibc_fits(&config.bin, needed_glibc(binary)?, &base_glibc).map_err(|e| {
                let mut located = config_error(config, "runtime-image", e.what);
                located.fix = e.fix;
                located
            })?;
        }
        None => {
            let rt = runtime::collect(binary, target, config.build.tzdata)?;
            out.status("Runtime", runtime::summary(&config.bin, &rt));
            for lib in &rt.libraries {
                out.verbose(format!("runtime library {lib}"));
            }
            let layer = write_layer(&rt.entries, epoch, Compression::best(), blob_dir)?;
            let what = format!(
                "cargo-fargate minimal runtime: {} shared libraries, CA bundle, passwd/group{}",
                rt.libraries.len(),
                if rt.tzdata { ", tzdata" } else { "" }
            );
            ours.push((layer, what));
        }
    }
    // gzip level 6: measured on Rust binaries (BENCHMARKS.md, "Host builder layer compression"),
    // 5-9 % smaller than level 1 for ~0.2 s per 5 MB, and within 1 % of level 9 at a quarter of
    // its time. Deterministic at any level, so builds stay reproducible.
    let layer = write_layer(
        &binary_entries(binary, &config.bin),
        epoch,
        Compression::new(6),
        blob_dir,
    )?;
    ours.push((
        layer,
        format!(
            "cargo-fargate host builder: cargo build --bin {} --profile {} --target {target}",
            config.bin, config.build.cargo_profile
        ),
    ));

    Ok(ours)
}

/// Writes the image (manifest, config, our layers, the base's cached layers) as an OCI image
/// layout in `dir`; returns the base's name as the layout's annotation gives it.
#[allow(clippy::too_many_arguments)]
fn write_image(
    dir: &Path,
    config: &Config,
    arch: Architecture,
    image: &image::Assembled,
    ours: &[(Layer, String)],
    base: &BaseImage,
    pulled: &Option<(ImageRef, BaseImage)>,
    cache: &BlobCache,
) -> Result<String> {
    let mut blobs: Vec<(String, BlobSource)> = vec![
        (
            image.manifest_digest.clone(),
            BlobSource::Bytes(&image.manifest),
        ),
        (
            image.config_digest.clone(),
            BlobSource::Bytes(&image.config),
        ),
    ];
    for (layer, _) in ours {
        blobs.push((layer.digest.clone(), BlobSource::File(layer.path.clone())));
    }
    for d in &base.layers {
        let digest = descriptor_digest(d)?;
        let path = cache.path(&digest)?;
        blobs.push((digest, BlobSource::File(path)));
    }
    let base_name = pulled
        .as_ref()
        .map_or_else(|| SCRATCH.to_string(), |(r, _)| r.to_string());
    let index_entry = json!({
        "mediaType": image.manifest_media_type,
        "digest": image.manifest_digest,
        "size": image.manifest.len(),
        "platform": { "architecture": oci_arch(arch), "os": "linux" },
        "annotations": {
            "org.opencontainers.image.ref.name": config.stage,
            "org.opencontainers.image.base.name": base_name,
        },
    });
    write_layout(dir, &blobs, index_entry)?;

    Ok(base_name)
}

impl OciImage {
    /// The image a task of the configured architecture runs: its platform's in a multi-platform
    /// image, else the image itself.
    pub fn of(&self, config: &Config) -> &OciImage {
        config
            .size
            .image_architectures
            .iter()
            .position(|a| *a == config.size.architecture)
            .and_then(|i| self.platforms.get(i))
            .unwrap_or(self)
    }
}

fn base_name<S: serde::Serializer>(base: &Option<ImageRef>, s: S) -> Result<S::Ok, S::Error> {
    match base {
        Some(b) => crate::registry::display(b, s),
        None => s.serialize_str(SCRATCH),
    }
}

/// The label naming the toolchain that built the binary (`rustc -V`).
pub const TOOLCHAIN_LABEL: &str = "dev.cargo-fargate.toolchain";

/// `rustc -V` as cargo will run it in the package (rust-toolchain files apply); `rustc`: the one
/// chosen for a cross build.
fn toolchain_version(rustc: Option<&Path>, package_dir: &Path) -> Option<String> {
    let rustc = rustc
        .map(|r| r.as_os_str().to_owned())
        .or_else(|| std::env::var_os("RUSTC"))
        .unwrap_or_else(|| "rustc".into());
    let out = std::process::Command::new(rustc)
        .arg("-V")
        .current_dir(package_dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Why the image is minimal, for `build`'s report.
fn minimal_reason(config: &Config) -> String {
    format!(
        "minimal: scratch + the binary's shared libraries, CA bundle, passwd/group (`runtime-image` = \"{SCRATCH}\"{}; set it to e.g. `debian:bookworm-slim` for a shell or system packages)",
        key_origin(config, "runtime-image")
    )
}

/// `, from <where>` for a key set somewhere, `, the default` otherwise.
fn key_origin(config: &Config, key: &str) -> String {
    match config.entries.iter().find(|e| e.key == key) {
        Some(e) if e.origin.source != crate::config::raw::Source::Default => {
            format!(", from {}", e.origin)
        }
        _ => ", the default".to_string(),
    }
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

/// The layers' mtimes and the image's `created`: SOURCE_DATE_EPOCH (reproducible-builds.org), else
/// the time of the commit the package is at, else 0 — never the time of the build, so the same
/// inputs give the same digest.
fn build_epoch(value: Option<&str>, package_dir: &Path) -> Result<u64, UserError> {
    if value.is_some_and(|v| !v.trim().is_empty()) {
        return source_date_epoch(value);
    }
    let commit_time = std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(package_dir)
        .stderr(std::process::Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok());
    Ok(commit_time.unwrap_or(0))
}

/// SOURCE_DATE_EPOCH, else 0.
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
