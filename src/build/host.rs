//! Builder `host`: cargo builds the binary on this machine for the Linux target, and the image is
//! assembled here without Docker, the way ko does it for Go: the base image's layers as they are in its
//! registry, plus one deterministic layer holding the binary. An unchanged binary gives the same image
//! digest, and a rebuild costs what `cargo build` costs plus compressing one file.
//!
//! The result is an OCI image layout under `<target>/fargate/oci/<project>-<stage>/`; [`push`] sends it
//! over the registry HTTP API, skipping blobs the registry already has.

// Until build/mod.rs wires this builder into `cargo fargate build`, only the tests call it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use flate2::{Compression, GzBuilder};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::resolve::shown_key;
use crate::config::{Architecture, Config};
use crate::error::{Location, Result, UserError};
use crate::output::Output;
use crate::project::Project;
use crate::registry::{
    digest_of, endpoint, Credentials, ImageRef, Registry, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
};

pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// The image runs as this user, not root. Numeric, so the base needs no passwd entry for it.
pub const IMAGE_USER: &str = "10001:10001";
/// Where the binary lands in the image (and so the default entrypoint's directory).
const BIN_DIR: &str = "usr/local/bin";

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

#[derive(Debug, Clone, Default, Serialize)]
pub struct PushStats {
    pub digest: String,
    pub blobs_uploaded: usize,
    pub blobs_skipped: usize,
    /// Blobs linked from the base image's repository on the same registry, without an upload.
    pub blobs_mounted: usize,
    pub bytes_uploaded: u64,
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
    glibc_fits(&config.bin, newest_glibc(&binary), &base_glibc).map_err(|e| {
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
            human_bytes(image.size)
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

/// Pushes a built image: each blob the registry lacks (mounted from the base's repository when it is
/// on the same registry, else uploaded), then the manifest under every tag (by digest when none).
pub async fn push(
    image: &OciImage,
    registry: &Registry,
    repository: &str,
    tags: &[String],
    out: &Output,
) -> Result<PushStats> {
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
    let mount_from = (registry.host == image.base.registry && image.base.repository != repository)
        .then_some(image.base.repository.as_str());
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
    out.status(
        "Pushed",
        format!(
            "{}/{repository}:{} ({} uploaded, {} mounted, {} already there; {})",
            registry.host,
            references.join(","),
            stats.blobs_uploaded,
            stats.blobs_mounted,
            stats.blobs_skipped,
            human_bytes(stats.bytes_uploaded)
        ),
    );
    Ok(stats)
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

// ---------------------------------------------------------------------------------------- host ---

/// Refuses, on one line, a host that cannot build for the target: not Linux, or another architecture
/// without a cross linker and the target's standard library.
fn check_host(config: &Config, package_dir: &Path) -> Result<()> {
    let target = config.architecture.rust_target();
    let var = linker_env_var(target);
    let linker = std::env::var_os(&var).is_some() || linker_in_cargo_config(package_dir, target);
    host_support(
        std::env::consts::OS,
        std::env::consts::ARCH,
        target,
        linker,
        || std_installed(target, package_dir),
    )
    .map_err(|e| {
        let mut located = config_error(config, "builder", e.what);
        located.fix = e.fix;
        located.into()
    })
}

/// The pure decision of [`check_host`]; `std_installed` is asked only for a cross build.
fn host_support(
    os: &str,
    arch: &str,
    target: &str,
    linker_configured: bool,
    std_installed: impl FnOnce() -> bool,
) -> Result<(), UserError> {
    let instead =
        "or set `builder = \"docker\"` (builds in a container) or `builder = \"codebuild\"`";
    if os != "linux" {
        return Err(UserError::new(format!(
            "the host builder cannot build {target} on {os}: it links with the host's toolchain, which targets {os}"
        ))
        .fix("set `builder = \"docker\"` (builds in a container) or `builder = \"codebuild\"`: the host builder needs a Linux machine"));
    }
    let target_arch = target.split('-').next().unwrap_or(target);
    if target_arch == arch {
        return Ok(());
    }
    if !linker_configured {
        return Err(UserError::new(format!(
            "this {arch} host has no cross linker for {target}"
        ))
        .fix(format!(
            "install one and set {}=<linker> (e.g. {target_arch}-linux-gnu-gcc) plus `rustup target add {target}`, {instead}",
            linker_env_var(target)
        )));
    }
    if !std_installed() {
        return Err(UserError::new(format!(
            "the Rust standard library for {target} is not installed"
        ))
        .fix(format!("run `rustup target add {target}`, {instead}")));
    }
    Ok(())
}

/// `CARGO_TARGET_<TRIPLE>_LINKER`, as cargo spells it.
fn linker_env_var(target: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// Whether a `.cargo/config.toml` that cargo reads for this package sets `target.<triple>.linker`.
fn linker_in_cargo_config(package_dir: &Path, target: &str) -> bool {
    let mut files: Vec<PathBuf> = package_dir
        .ancestors()
        .flat_map(|d| [d.join(".cargo/config.toml"), d.join(".cargo/config")])
        .collect();
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        files.push(home.join("config.toml"));
        files.push(home.join("config"));
    }
    files.iter().any(|f| {
        std::fs::read_to_string(f)
            .ok()
            .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
            .is_some_and(|doc| {
                doc.get("target")
                    .and_then(|t| t.get(target))
                    .and_then(|t| t.get("linker"))
                    .is_some()
            })
    })
}

/// Whether the toolchain cargo will use (rust-toolchain files apply: run in the package) has the
/// target's standard library.
fn std_installed(target: &str, package_dir: &Path) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .current_dir(package_dir)
        .stderr(Stdio::null())
        .output();
    let Ok(out) = out else { return false };
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success()
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libstd-") && name.ends_with(".rlib")
            })
        })
}

// --------------------------------------------------------------------------------------- cargo ---

struct CargoBuild {
    manifest: PathBuf,
    bin: String,
    profile: String,
    target: String,
    features: Vec<String>,
}

/// The part of cargo's JSON messages we read.
#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    target: Option<CargoTarget>,
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct CargoTarget {
    name: String,
    kind: Vec<String>,
}

impl CargoBuild {
    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "build".into(),
            "--manifest-path".into(),
            self.manifest.display().to_string(),
            "--bin".into(),
            self.bin.clone(),
            "--profile".into(),
            self.profile.clone(),
            "--target".into(),
            self.target.clone(),
        ];
        if !self.features.is_empty() {
            args.push("--features".into());
            args.push(self.features.join(","));
        }
        args.push("--message-format".into());
        args.push("json-render-diagnostics".into());
        args
    }

    /// Runs cargo with its progress and diagnostics on our stderr; returns the executable's path.
    fn run(&self) -> Result<PathBuf> {
        // Under `cargo fargate`, CARGO is the cargo that called us: use the same one.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut child = Command::new(cargo)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                UserError::new(format!("cannot run cargo: {e}"))
                    .fix("install Rust with rustup, or put cargo on PATH")
            })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut executable = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo's output")?;
            let Ok(msg) = serde_json::from_str::<CargoMessage>(&line) else {
                continue;
            };
            if msg.reason != "compiler-artifact" {
                continue;
            }
            if let (Some(t), Some(exe)) = (msg.target, msg.executable) {
                if t.name == self.bin && t.kind.iter().any(|k| k == "bin") {
                    executable = Some(exe);
                }
            }
        }
        let status = child.wait().context("waiting for cargo")?;
        if !status.success() {
            return Err(UserError::new(format!(
                "cargo build of `{}` for {} failed",
                self.bin, self.target
            ))
            .at(Location::file(&self.manifest, None))
            .fix("fix what cargo reported above, then run again")
            .into());
        }
        executable.ok_or_else(|| {
            anyhow::anyhow!(
                "cargo built `{}` but reported no executable for it",
                self.bin
            )
        })
    }
}

// ---------------------------------------------------------------------------------------- base ---

/// The base image's platform manifest, config and layer descriptors (blobs in the cache).
struct BaseImage {
    media_type: String,
    digest: String,
    config: Value,
    layers: Vec<Value>,
}

/// `runtime-image` as a reference, pulled from `mirror` when one is given.
fn base_reference(image: &str, mirror: Option<&str>) -> Result<ImageRef, UserError> {
    let mut reference = ImageRef::parse(image).map_err(|e| {
        e.downcast::<UserError>()
            .unwrap_or_else(|e| UserError::new(e.to_string()))
    })?;
    if let Some(mirror) = mirror {
        reference.registry = endpoint(mirror).1;
    }
    Ok(reference)
}

fn oci_arch(arch: Architecture) -> &'static str {
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
fn pick_platform(index: &Value, arch: Architecture) -> Result<String, String> {
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

async fn fetch_base(
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
fn base_error(config: &Config, e: anyhow::Error) -> anyhow::Error {
    match e.downcast::<UserError>() {
        Ok(u) => config_error(
            config,
            "runtime-image",
            format!("base image `{}`: {}", config.runtime_image, u.what),
        )
        .fix("check `runtime-image` (registry/repository:tag) and that this machine can pull it; the push registry's login is used only for an image on that registry")
        .into(),
        Err(e) => e.context(format!("fetching the base image `{}`", config.runtime_image)),
    }
}

/// A UserError about `key`, located where the key's value came from.
fn config_error(config: &Config, key: &str, what: String) -> UserError {
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

/// `sha256:<64 hex>` from a descriptor; anything else is refused (it becomes a file name).
fn descriptor_digest(d: &Value) -> Result<String> {
    let digest = d["digest"].as_str().unwrap_or("");
    valid_digest(digest)?;
    Ok(digest.to_string())
}

fn valid_digest(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => anyhow::bail!("`{digest}` is not a sha256 digest"),
    }
}

fn blob_path(blobs: &Path, digest: &str) -> Result<PathBuf> {
    Ok(blobs.join("sha256").join(valid_digest(digest)?))
}

/// Base blobs on disk, by digest, so each is downloaded once per target dir.
struct BlobCache {
    blobs: PathBuf,
}

impl BlobCache {
    fn new(dir: PathBuf) -> Self {
        BlobCache {
            blobs: dir.join("blobs"),
        }
    }

    fn path(&self, digest: &str) -> Result<PathBuf> {
        blob_path(&self.blobs, digest)
    }

    /// The blob's path, downloading it first when it is not cached (verified, written atomically).
    async fn fetch(
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

/// Writes through a temp file and a rename, so a file at `path` is always whole.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("blob paths have a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().unwrap_or_default().to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------- glibc ---

/// A glibc symbol version: `GLIBC_2.36` is `[2, 36]`.
type GlibcVersion = Vec<u32>;

/// What the base image offers a dynamically linked binary.
#[derive(Debug, Clone, PartialEq, Eq)]
enum BaseGlibc {
    /// The newest symbol version its libc defines.
    Version(GlibcVersion),
    /// No libc at all (scratch, distroless/static, alpine).
    Missing,
    /// Layers we cannot read (not gzip or plain tar): no opinion.
    Unknown,
}

/// The newest `GLIBC_x.y[.z]` named in `bytes`: the most a binary needs, or the most a libc defines.
fn newest_glibc(bytes: &[u8]) -> Option<GlibcVersion> {
    const TAG: &[u8] = b"GLIBC_";
    let mut newest: Option<GlibcVersion> = None;
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'G') {
        let start = i + at;
        i = start + 1;
        if !bytes[start..].starts_with(TAG) {
            continue;
        }
        let rest = &bytes[start + TAG.len()..];
        let len = rest
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .count();
        let version: Option<GlibcVersion> = std::str::from_utf8(&rest[..len])
            .ok()
            .filter(|v| v.contains('.') && !v.starts_with('.') && !v.ends_with('.'))
            .and_then(|v| v.split('.').map(|n| n.parse().ok()).collect());
        if let Some(v) = version {
            if newest.as_ref().map_or(true, |n| v > *n) {
                newest = Some(v);
            }
        }
    }
    newest
}

/// Reads the base's libc (`libc.so.6`, or `libc-2.x.so` on older releases) out of its layers.
fn base_glibc(layers: &[(PathBuf, String)]) -> Result<BaseGlibc> {
    let mut found = BaseGlibc::Missing;
    for (path, media_type) in layers {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let reader: Box<dyn std::io::Read> = if media_type.ends_with("gzip") {
            Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
        } else if media_type.ends_with(".tar") {
            Box::new(BufReader::new(file))
        } else {
            return Ok(BaseGlibc::Unknown);
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let mut entry = entry?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let path = entry.path()?;
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let is_libc =
                name == "libc.so.6" || (name.starts_with("libc-") && name.ends_with(".so"));
            if !is_libc {
                continue;
            }
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes)?;
            if let Some(v) = newest_glibc(&bytes) {
                // An upper layer's libc replaces a lower one's.
                found = BaseGlibc::Version(v);
            }
        }
    }
    Ok(found)
}

/// [`base_glibc`], remembered per base manifest (reading the layers takes a moment).
fn base_glibc_cached(base: &BaseImage, cache: &BlobCache) -> Result<BaseGlibc> {
    let memo = cache
        .blobs
        .parent()
        .expect("the cache has a root")
        .join("glibc")
        .join(valid_digest(&base.digest)?);
    if let Ok(text) = std::fs::read_to_string(&memo) {
        match text.trim() {
            "missing" => return Ok(BaseGlibc::Missing),
            v => {
                if let Some(v) = v.split('.').map(|n| n.parse().ok()).collect() {
                    return Ok(BaseGlibc::Version(v));
                }
            }
        }
    }
    let mut layers = Vec::new();
    for d in &base.layers {
        let media_type = d["mediaType"]
            .as_str()
            .unwrap_or(MEDIA_OCI_LAYER)
            .to_string();
        layers.push((cache.path(&descriptor_digest(d)?)?, media_type));
    }
    let found = base_glibc(&layers)?;
    let text = match &found {
        BaseGlibc::Version(v) => version_text(v),
        BaseGlibc::Missing => "missing".to_string(),
        BaseGlibc::Unknown => return Ok(found),
    };
    write_atomic(&memo, text.as_bytes())?;
    Ok(found)
}

fn version_text(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// Whether a binary needing `needed` (None: static) runs on the base.
fn glibc_fits(bin: &str, needed: Option<GlibcVersion>, base: &BaseGlibc) -> Result<(), UserError> {
    let Some(needed) = needed else { return Ok(()) };
    let instead = "or set `builder = \"docker\"` to build against the runtime image's own glibc";
    match base {
        BaseGlibc::Unknown => Ok(()),
        BaseGlibc::Version(have) if *have >= needed => Ok(()),
        BaseGlibc::Version(have) => Err(UserError::new(format!(
            "`{bin}` was linked against this host's glibc and needs {}, but the base image has glibc {}",
            version_text(&needed),
            version_text(have)
        ))
        .fix(format!(
            "use a `runtime-image` with glibc {} or newer, {instead}",
            version_text(&needed)
        ))),
        BaseGlibc::Missing => Err(UserError::new(format!(
            "`{bin}` needs glibc {} but the base image has no glibc",
            version_text(&needed)
        ))
        .fix(format!(
            "use a glibc `runtime-image` such as `debian:bookworm-slim` or `gcr.io/distroless/cc-debian12`, {instead}"
        ))),
    }
}

// ---------------------------------------------------------------------------------------- image ---

/// The binary's layer: gzipped tar and its two digests.
#[derive(Debug, Clone)]
pub struct BinaryLayer {
    pub tar_gz: Vec<u8>,
    /// sha256 of the compressed bytes: the blob's name.
    pub digest: String,
    /// sha256 of the uncompressed tar: what the image config lists.
    pub diff_id: String,
}

/// The tar of one binary at `/usr/local/bin/<bin>`: root-owned, fixed modes and mtime, so the same
/// binary always gives the same bytes.
fn binary_tar(binary: &[u8], bin: &str, mtime: u64) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut partial = String::new();
    for dir in BIN_DIR.split('/') {
        partial.push_str(dir);
        partial.push('/');
        let mut h = fixed_header(tar::EntryType::Directory, 0o755, mtime, 0);
        // "usr/" with its slash, as docker and GNU tar write directories.
        let name = &mut h.as_old_mut().name;
        name[..partial.len()].copy_from_slice(partial.as_bytes());
        h.set_cksum();
        tar.append(&h, std::io::empty())?;
    }
    let mut h = fixed_header(tar::EntryType::Regular, 0o755, mtime, binary.len() as u64);
    tar.append_data(&mut h, format!("{BIN_DIR}/{bin}"), binary)?;
    Ok(tar.into_inner()?)
}

fn fixed_header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

fn binary_layer(binary: &[u8], bin: &str, mtime: u64) -> Result<BinaryLayer> {
    let tar = binary_tar(binary, bin, mtime)?;
    let diff_id = digest_of(&tar);
    // A fixed gzip header (no name, mtime 0); fast compression, as ko does: it is one binary.
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::fast());
    gz.write_all(&tar)?;
    let tar_gz = gz.finish()?;
    Ok(BinaryLayer {
        digest: digest_of(&tar_gz),
        diff_id,
        tar_gz,
    })
}

/// What the image config takes from the project.
struct ImageSettings {
    architecture: Architecture,
    bin: String,
    entrypoint: Option<Vec<String>>,
    command: Option<Vec<String>>,
    labels: BTreeMap<String, String>,
    epoch: u64,
    created_by: String,
    base_name: String,
    base_digest: String,
}

/// The new image's config and manifest, serialised.
struct Assembled {
    config: Vec<u8>,
    config_digest: String,
    manifest: Vec<u8>,
    manifest_media_type: String,
    manifest_digest: String,
    size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestOut {
    schema_version: u32,
    media_type: String,
    config: Value,
    layers: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
}

/// Base config + the binary's layer, entrypoint, user and labels; a manifest in the base's format.
fn assemble(base: &BaseImage, layer: &BinaryLayer, s: &ImageSettings) -> Result<Assembled> {
    let created = rfc3339(s.epoch);
    let mut config = base.config.clone();
    let obj = config
        .as_object_mut()
        .context("the base image's config is not a JSON object")?;
    obj.insert("created".into(), json!(created));
    obj.insert("architecture".into(), json!(oci_arch(s.architecture)));
    obj.insert("os".into(), json!("linux"));

    let mut diff_ids = obj
        .get("rootfs")
        .and_then(|r| r["diff_ids"].as_array().cloned())
        .unwrap_or_default();
    if diff_ids.len() != base.layers.len() {
        anyhow::bail!(
            "the base image lists {} layers but its config {} diff_ids",
            base.layers.len(),
            diff_ids.len()
        );
    }
    diff_ids.push(json!(layer.diff_id));
    obj.insert(
        "rootfs".into(),
        json!({ "type": "layers", "diff_ids": diff_ids }),
    );

    let mut history = obj
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    history.push(json!({ "created": created, "created_by": s.created_by }));
    obj.insert("history".into(), Value::Array(history));

    let run = obj
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("the base image's config has a `config` that is not an object")?;
    let entrypoint = s
        .entrypoint
        .clone()
        .unwrap_or_else(|| vec![format!("/{BIN_DIR}/{}", s.bin)]);
    run.insert("Entrypoint".into(), json!(entrypoint));
    // The base's Cmd (e.g. `bash`) would become our binary's arguments: replace or drop it.
    match &s.command {
        Some(cmd) => run.insert("Cmd".into(), json!(cmd)),
        None => run.remove("Cmd"),
    };
    run.insert("User".into(), json!(IMAGE_USER));
    let mut labels: BTreeMap<String, Value> = run
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    for (k, v) in &s.labels {
        labels.insert(k.clone(), json!(v));
    }
    if labels.is_empty() {
        run.remove("Labels");
    } else {
        run.insert("Labels".into(), json!(labels));
    }

    let config_bytes = serde_json::to_vec(&config)?;
    let config_digest = digest_of(&config_bytes);
    let docker = base.media_type == MEDIA_DOCKER_MANIFEST;
    let (manifest_type, config_type, layer_type) = if docker {
        (
            MEDIA_DOCKER_MANIFEST,
            MEDIA_DOCKER_CONFIG,
            MEDIA_DOCKER_LAYER,
        )
    } else {
        (MEDIA_OCI_MANIFEST, MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER)
    };
    let mut layers = base.layers.clone();
    layers.push(json!({
        "mediaType": layer_type,
        "size": layer.tar_gz.len(),
        "digest": layer.digest,
    }));
    let size = layers.iter().map(|l| l["size"].as_u64().unwrap_or(0)).sum();
    // Docker's schema 2 has no annotations; OCI's standard ones name the base.
    let annotations = (!docker).then(|| {
        BTreeMap::from([
            (
                "org.opencontainers.image.base.digest".to_string(),
                s.base_digest.clone(),
            ),
            (
                "org.opencontainers.image.base.name".to_string(),
                s.base_name.clone(),
            ),
        ])
    });
    let manifest = ManifestOut {
        schema_version: 2,
        media_type: manifest_type.to_string(),
        config: json!({
            "mediaType": config_type,
            "size": config_bytes.len(),
            "digest": config_digest,
        }),
        layers,
        annotations,
    };
    let manifest_bytes = serde_json::to_vec(&manifest)?;
    Ok(Assembled {
        manifest_digest: digest_of(&manifest_bytes),
        manifest: manifest_bytes,
        manifest_media_type: manifest_type.to_string(),
        config: config_bytes,
        config_digest,
        size,
    })
}

// --------------------------------------------------------------------------------------- layout ---

enum BlobSource<'a> {
    Bytes(&'a [u8]),
    /// A file in the cache: hard-linked (same file system) or copied.
    File(PathBuf),
}

/// Writes an OCI image layout holding exactly `blobs`, with `index_entry` as its one manifest.
fn write_layout(dir: &Path, blobs: &[(String, BlobSource)], index_entry: Value) -> Result<()> {
    let blob_dir = dir.join("blobs");
    std::fs::create_dir_all(blob_dir.join("sha256"))
        .with_context(|| format!("creating {}", blob_dir.display()))?;
    let mut keep = BTreeSet::new();
    for (digest, source) in blobs {
        let path = blob_path(&blob_dir, digest)?;
        keep.insert(path.file_name().unwrap_or_default().to_os_string());
        if path.is_file() {
            continue; // named by its digest: same name, same bytes
        }
        match source {
            BlobSource::Bytes(bytes) => write_atomic(&path, bytes)?,
            BlobSource::File(from) => {
                if std::fs::hard_link(from, &path).is_err() {
                    std::fs::copy(from, &path).with_context(|| {
                        format!("copying {} to {}", from.display(), path.display())
                    })?;
                }
            }
        }
    }
    // Blobs of earlier builds: the layout holds this image only.
    for e in std::fs::read_dir(blob_dir.join("sha256"))?.flatten() {
        if !keep.contains(&e.file_name()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": [index_entry],
    });
    write_atomic(&dir.join("index.json"), &serde_json::to_vec_pretty(&index)?)?;
    Ok(())
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
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Instant;

    struct TarEntry {
        name: String,
        kind: tar::EntryType,
        mode: u32,
        mtime: u64,
        owner: (u64, u64),
        data: Vec<u8>,
    }

    fn entries(tar: &[u8]) -> Vec<TarEntry> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                TarEntry {
                    name: String::from_utf8(e.path_bytes().to_vec()).unwrap(),
                    kind: h.entry_type(),
                    mode: h.mode().unwrap(),
                    mtime: h.mtime().unwrap(),
                    owner: (h.uid().unwrap(), h.gid().unwrap()),
                    data,
                }
            })
            .collect()
    }

    #[test]
    fn the_binary_layer_is_deterministic_with_fixed_modes_owners_and_mtime() {
        let binary = b"\x7fELF pretend binary".repeat(1000);
        let a = binary_layer(&binary, "hello", 1_700_000_000).unwrap();
        let b = binary_layer(&binary, "hello", 1_700_000_000).unwrap();
        assert_eq!(a.tar_gz, b.tar_gz, "same binary, same bytes");
        assert_eq!((&a.digest, &a.diff_id), (&b.digest, &b.diff_id));
        assert_eq!(a.digest, digest_of(&a.tar_gz));

        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&a.tar_gz[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(
            a.diff_id,
            digest_of(&tar),
            "diff_id is the uncompressed tar's"
        );
        // gzip header: no name, mtime 0 (bytes 4..8)
        assert_eq!(&a.tar_gz[3..8], &[0, 0, 0, 0, 0]);

        let got = entries(&tar);
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/hello"
            ]
        );
        for e in &got {
            assert_eq!(e.mode, 0o755, "{}", e.name);
            assert_eq!((e.mtime, e.owner), (1_700_000_000, (0, 0)), "{}", e.name);
            assert_eq!(e.kind.is_dir(), e.name.ends_with('/'), "{}", e.name);
        }
        assert_eq!(got[3].data, binary);

        // Another mtime or another binary: another layer.
        assert_ne!(binary_layer(&binary, "hello", 0).unwrap().digest, a.digest);
        let mut changed = binary.clone();
        changed[5] ^= 1;
        assert_ne!(
            binary_layer(&changed, "hello", 1_700_000_000)
                .unwrap()
                .digest,
            a.digest
        );
    }

    #[test]
    fn long_binary_names_still_land_in_usr_local_bin() {
        let name = "a-very-long-binary-name-".repeat(5);
        let tar = binary_tar(b"x", &name, 0).unwrap();
        let got = entries(&tar);
        assert_eq!(got.last().unwrap().name, format!("usr/local/bin/{name}"));
    }

    fn base(media_type: &str) -> BaseImage {
        BaseImage {
            media_type: media_type.to_string(),
            digest: format!("sha256:{}", "b".repeat(64)),
            config: json!({
                "architecture": "amd64",
                "os": "linux",
                "created": "2024-01-01T00:00:00Z",
                "config": {
                    "Env": ["PATH=/usr/bin"],
                    "Cmd": ["bash"],
                    "Labels": { "from-base": "yes", "shared": "base" }
                },
                "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", "d".repeat(64))] },
                "history": [{ "created": "2024-01-01T00:00:00Z", "created_by": "base" }]
            }),
            layers: vec![json!({
                "mediaType": if media_type == MEDIA_DOCKER_MANIFEST { MEDIA_DOCKER_LAYER } else { MEDIA_OCI_LAYER },
                "size": 1000,
                "digest": format!("sha256:{}", "a".repeat(64)),
            })],
        }
    }

    fn settings() -> ImageSettings {
        ImageSettings {
            architecture: Architecture::X86_64,
            bin: "hello".into(),
            entrypoint: None,
            command: None,
            labels: BTreeMap::from([
                ("shared".to_string(), "ours".to_string()),
                ("org.example.stage".to_string(), "dev".to_string()),
            ]),
            epoch: 1_700_000_000,
            created_by: "test".into(),
            base_name: "127.0.0.1:5000/x/debian:bookworm-slim".into(),
            base_digest: format!("sha256:{}", "b".repeat(64)),
        }
    }

    #[test]
    fn config_and_manifest_extend_a_docker_base_in_docker_format() {
        let layer = binary_layer(b"binary", "hello", 0).unwrap();
        let a = assemble(&base(MEDIA_DOCKER_MANIFEST), &layer, &settings()).unwrap();
        let config: Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(a.config_digest, digest_of(&a.config));
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(
            config["rootfs"]["diff_ids"],
            json!([format!("sha256:{}", "d".repeat(64)), layer.diff_id])
        );
        let run = &config["config"];
        assert_eq!(run["Entrypoint"], json!(["/usr/local/bin/hello"]));
        assert!(
            run.get("Cmd").is_none(),
            "the base's `bash` must not become our arguments"
        );
        assert_eq!(run["User"], IMAGE_USER);
        assert_eq!(run["Env"], json!(["PATH=/usr/bin"]), "the base's env stays");
        assert_eq!(
            run["Labels"],
            json!({ "from-base": "yes", "shared": "ours", "org.example.stage": "dev" })
        );
        assert_eq!(config["history"].as_array().unwrap().len(), 2);

        let manifest: Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(a.manifest_media_type, MEDIA_DOCKER_MANIFEST);
        assert_eq!(a.manifest_digest, digest_of(&a.manifest));
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["mediaType"], MEDIA_DOCKER_MANIFEST);
        assert_eq!(manifest["config"]["mediaType"], MEDIA_DOCKER_CONFIG);
        assert_eq!(manifest["config"]["digest"], json!(a.config_digest));
        assert_eq!(manifest["config"]["size"], json!(a.config.len()));
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(
            layers[0]["digest"],
            json!(format!("sha256:{}", "a".repeat(64)))
        );
        assert_eq!(layers[1]["mediaType"], MEDIA_DOCKER_LAYER);
        assert_eq!(layers[1]["digest"], json!(layer.digest));
        assert_eq!(a.size, 1000 + layer.tar_gz.len() as u64);
        assert!(
            manifest.get("annotations").is_none(),
            "schema 2 has no annotations"
        );

        // Same inputs, same digests; another binary, another image.
        let again = assemble(&base(MEDIA_DOCKER_MANIFEST), &layer, &settings()).unwrap();
        assert_eq!(again.manifest_digest, a.manifest_digest);
        let other = binary_layer(b"binary 2", "hello", 0).unwrap();
        let b = assemble(&base(MEDIA_DOCKER_MANIFEST), &other, &settings()).unwrap();
        assert_ne!(b.manifest_digest, a.manifest_digest);
        assert_ne!(b.config_digest, a.config_digest);
    }

    #[test]
    fn config_and_manifest_extend_an_oci_base_in_oci_format_with_the_given_command() {
        let layer = binary_layer(b"binary", "hello", 0).unwrap();
        let s = ImageSettings {
            entrypoint: Some(vec!["/usr/local/bin/hello".into(), "--serve".into()]),
            command: Some(vec!["--port".into(), "8080".into()]),
            architecture: Architecture::Arm64,
            ..settings()
        };
        let a = assemble(&base(MEDIA_OCI_MANIFEST), &layer, &s).unwrap();
        let config: Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(
            config["config"]["Entrypoint"],
            json!(["/usr/local/bin/hello", "--serve"])
        );
        assert_eq!(config["config"]["Cmd"], json!(["--port", "8080"]));
        assert_eq!(config["architecture"], "arm64");
        let manifest: Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(a.manifest_media_type, MEDIA_OCI_MANIFEST);
        assert_eq!(manifest["config"]["mediaType"], MEDIA_OCI_CONFIG);
        assert_eq!(manifest["layers"][1]["mediaType"], MEDIA_OCI_LAYER);
        assert_eq!(
            manifest["annotations"]["org.opencontainers.image.base.digest"],
            json!(format!("sha256:{}", "b".repeat(64)))
        );
    }

    #[test]
    fn a_base_whose_config_disagrees_with_its_layers_is_refused() {
        let mut b = base(MEDIA_OCI_MANIFEST);
        b.layers.push(b.layers[0].clone());
        let layer = binary_layer(b"binary", "hello", 0).unwrap();
        let err = assemble(&b, &layer, &settings()).err().unwrap().to_string();
        assert!(err.contains("2 layers but its config 1 diff_ids"), "{err}");
    }

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
    fn digests_from_manifests_cannot_escape_the_blob_directory() {
        assert!(blob_path(Path::new("/b"), "sha256:../../etc/passwd").is_err());
        assert!(blob_path(Path::new("/b"), &format!("sha512:{}", "a".repeat(64))).is_err());
        assert_eq!(
            blob_path(Path::new("/b"), &format!("sha256:{}", "a".repeat(64))).unwrap(),
            Path::new("/b/sha256").join("a".repeat(64))
        );
    }

    #[test]
    fn the_host_check_refuses_what_cannot_build_and_says_what_to_use() {
        let x86 = "x86_64-unknown-linux-gnu";
        let arm = "aarch64-unknown-linux-gnu";
        let never = || -> bool { panic!("std is asked about only for a cross build") };
        assert!(host_support("linux", "x86_64", x86, false, never).is_ok());
        assert!(host_support("linux", "aarch64", arm, false, never).is_ok());

        let mac = host_support("macos", "aarch64", arm, true, || true)
            .unwrap_err()
            .to_string();
        assert!(
            mac.contains("cannot build aarch64-unknown-linux-gnu on macos"),
            "{mac}"
        );
        assert!(mac.contains("builder = \"docker\""), "{mac}");

        let no_linker = host_support("linux", "x86_64", arm, false, || true)
            .unwrap_err()
            .to_string();
        assert!(
            no_linker.contains("no cross linker for aarch64-unknown-linux-gnu"),
            "{no_linker}"
        );
        assert!(
            no_linker.contains("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"),
            "{no_linker}"
        );
        assert!(no_linker.contains("builder = \"codebuild\""), "{no_linker}");

        let no_std = host_support("linux", "x86_64", arm, true, || false)
            .unwrap_err()
            .to_string();
        assert!(
            no_std.contains("rustup target add aarch64-unknown-linux-gnu"),
            "{no_std}"
        );
        assert!(host_support("linux", "x86_64", arm, true, || true).is_ok());
        for e in [mac, no_linker, no_std] {
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn this_host_has_the_standard_library_of_its_own_target_only_when_installed() {
        let own = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        assert!(std_installed(&own, Path::new(".")));
        assert!(!std_installed(
            "riscv64gc-unknown-none-elf-not-a-target",
            Path::new(".")
        ));
    }

    #[test]
    fn glibc_versions_are_read_and_compared() {
        let binary = b"\0GLIBC_2.2.5\0GLIBC_2.34\0GLIBC_PRIVATE\0GLIBC_2.28\0GLIBC_\0xGLIBC_2.\0";
        assert_eq!(newest_glibc(binary), Some(vec![2, 34]));
        assert_eq!(newest_glibc(b"static, no versions"), None);
        assert!(glibc_fits("hello", Some(vec![2, 34]), &BaseGlibc::Version(vec![2, 36])).is_ok());
        assert!(glibc_fits("hello", Some(vec![2, 36]), &BaseGlibc::Version(vec![2, 36])).is_ok());
        assert!(glibc_fits("hello", None, &BaseGlibc::Missing).is_ok());
        assert!(glibc_fits("hello", Some(vec![2, 39]), &BaseGlibc::Unknown).is_ok());
        let old = glibc_fits("hello", Some(vec![2, 39]), &BaseGlibc::Version(vec![2, 36]))
            .unwrap_err()
            .to_string();
        assert!(
            old.contains("needs 2.39, but the base image has glibc 2.36"),
            "{old}"
        );
        assert!(old.contains("glibc 2.39 or newer"), "{old}");
        let none = glibc_fits("hello", Some(vec![2, 2, 5]), &BaseGlibc::Missing)
            .unwrap_err()
            .to_string();
        assert!(
            none.contains("needs glibc 2.2.5 but the base image has no glibc"),
            "{none}"
        );
    }

    #[test]
    fn the_base_glibc_is_read_from_the_upper_layer_libc() {
        let dir = tempfile::tempdir().unwrap();
        let layer = |name: &str, files: &[(&str, &[u8])]| {
            let mut tar = tar::Builder::new(Vec::new());
            for (path, data) in files {
                let mut h = fixed_header(tar::EntryType::Regular, 0o644, 0, data.len() as u64);
                tar.append_data(&mut h, path, *data).unwrap();
            }
            let mut gz = GzBuilder::new().write(Vec::new(), Compression::fast());
            gz.write_all(&tar.into_inner().unwrap()).unwrap();
            let path = dir.path().join(name);
            std::fs::write(&path, gz.finish().unwrap()).unwrap();
            (path, MEDIA_DOCKER_LAYER.to_string())
        };
        let lower = layer(
            "lower",
            &[(
                "usr/lib/x86_64-linux-gnu/libc-2.31.so",
                b"GLIBC_2.30\0GLIBC_2.31\0",
            )],
        );
        let upper = layer(
            "upper",
            &[(
                "usr/lib/x86_64-linux-gnu/libc.so.6",
                b"GLIBC_2.35\0GLIBC_2.36\0",
            )],
        );
        let other = layer("other", &[("etc/GLIBC_2.99", b"GLIBC_2.99")]);
        assert_eq!(
            base_glibc(std::slice::from_ref(&lower)).unwrap(),
            BaseGlibc::Version(vec![2, 31])
        );
        assert_eq!(
            base_glibc(&[lower, upper.clone()]).unwrap(),
            BaseGlibc::Version(vec![2, 36])
        );
        assert_eq!(
            base_glibc(std::slice::from_ref(&other)).unwrap(),
            BaseGlibc::Missing
        );
        let zstd = (
            upper.0,
            "application/vnd.oci.image.layer.v1.tar+zstd".to_string(),
        );
        assert_eq!(base_glibc(&[other, zstd]).unwrap(), BaseGlibc::Unknown);
    }

    #[test]
    fn times_and_epochs() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(source_date_epoch(None), Ok(0));
        assert_eq!(source_date_epoch(Some("1700000000")), Ok(1_700_000_000));
        let e = source_date_epoch(Some("yesterday"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("env SOURCE_DATE_EPOCH: "), "{e}");
    }

    #[test]
    fn a_mirror_replaces_the_registry_of_the_base_only() {
        let r = base_reference("debian:bookworm-slim", Some("127.0.0.1:5000")).unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/library/debian:bookworm-slim");
        let r = base_reference("debian:bookworm-slim", None).unwrap();
        assert_eq!(r.registry, "registry-1.docker.io");
    }

    // ----------------------------------------------------------------------- real parts ---

    /// A copy of examples/hello in a temp dir (without target/), so build output stays out of the repo.
    fn hello_copy() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
        for rel in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
            let to = dir.path().join(rel);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(src.join(rel), to).unwrap();
        }
        dir
    }

    #[tokio::test]
    async fn a_failed_cargo_build_is_one_line_with_the_fix() {
        let dir = hello_copy();
        std::fs::write(
            dir.path().join("src/main.rs"),
            "fn main() { let x: u8 = \"no\"; }\n",
        )
        .unwrap();
        let cargo = CargoBuild {
            manifest: dir.path().join("Cargo.toml"),
            bin: "hello".into(),
            profile: "dev".into(),
            target: format!("{}-unknown-linux-gnu", std::env::consts::ARCH),
            features: vec![],
        };
        let err = tokio::task::spawn_blocking(move || cargo.run())
            .await
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Cargo.toml: cargo build of `hello` for"),
            "{err}"
        );
        assert!(
            err.contains("failed; fix what cargo reported above"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    const HOW: &str = "the local bench is not running: run `scripts/test.sh`, or `scripts/bench.sh up && eval \"$(scripts/bench.sh env)\"` before `cargo test`";

    /// The bench registry and the runtime stand-in pushed there; fails (never skips) when absent.
    fn bench() -> (String, String) {
        assert!(std::env::var("CARGO_FARGATE_BENCH").is_ok(), "{HOW}");
        let registry = std::env::var("BENCH_REGISTRY").expect(HOW);
        std::net::TcpStream::connect(&registry)
            .unwrap_or_else(|e| panic!("{HOW} ({registry}: {e})"));
        let base = std::env::var("CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE").unwrap_or_else(|_| {
            panic!("CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE is not set: {HOW}")
        });
        (registry, base)
    }

    fn bench_credentials() -> Credentials {
        Credentials::new("AWS", "123456789012-auth-token")
    }

    /// `docker` with a throwaway client config logged in to the bench registry (nothing in ~/.docker).
    struct Docker {
        config: tempfile::TempDir,
    }

    impl Docker {
        fn login(registry: &str) -> Docker {
            let d = Docker {
                config: tempfile::tempdir().unwrap(),
            };
            let mut child = d
                .cmd(&["login", registry, "-u", "AWS", "--password-stdin"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("docker is on PATH (the bench installs it)");
            child
                .stdin
                .take()
                .unwrap()
                .write_all(bench_credentials().password().as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "docker login: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            d
        }

        fn cmd(&self, args: &[&str]) -> Command {
            let mut c = Command::new("docker");
            c.env("DOCKER_CONFIG", self.config.path()).args(args);
            c
        }

        fn ok(&self, args: &[&str]) -> String {
            let out = self.cmd(args).output().unwrap();
            assert!(
                out.status.success(),
                "docker {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    }

    async fn host_build(
        dir: &Path,
        base: &str,
        registry: &str,
    ) -> (OciImage, Config, std::time::Duration) {
        let start = Instant::now();
        let (image, config) = try_host_build(dir, base, registry).await;
        (image.unwrap(), config, start.elapsed())
    }

    async fn try_host_build(dir: &Path, base: &str, registry: &str) -> (Result<OciImage>, Config) {
        let project = Project::load(Some(&dir.join("Cargo.toml")), None).unwrap();
        let stage = crate::config::StageChoice {
            name: "dev".into(),
            location: None,
        };
        let config = crate::config::load(&project, &stage, None, Default::default(), |k| {
            (k == "CARGO_FARGATE_RUNTIME_IMAGE").then(|| base.to_string())
        })
        .unwrap();
        let input = HostBuildInput {
            project: &project,
            config: &config,
            labels: BTreeMap::from([("org.example.test".to_string(), "host".to_string())]),
            base_credentials: Some(bench_credentials()),
            base_registry_override: None,
            push_registry: Some(registry.to_string()),
        };
        let image = build(&input, &Output::plain()).await;
        (image, config)
    }

    #[tokio::test]
    async fn host_builds_hello_pushes_it_and_docker_runs_it() {
        let (registry_host, base) = bench();
        let registry = Registry::new(&registry_host, Some(bench_credentials())).unwrap();
        let base_ref = ImageRef::parse(&base).unwrap();
        assert!(
            registry
                .manifest_digest(&base_ref.repository, &base_ref.reference)
                .await
                .unwrap()
                .is_some(),
            "{base} is not in the bench registry: run `scripts/base-images.sh` (it pushes the runtime stand-in there)"
        );
        let dir = hello_copy();

        // A base that is not there fails on one line about `runtime-image`, before cargo runs.
        let missing = format!("{registry_host}/{}:no-such-tag", base_ref.repository);
        let err = try_host_build(dir.path(), &missing, &registry_host)
            .await
            .0
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("`runtime-image`: base image `"), "{err}");
        assert!(err.contains(":no-such-tag does not exist"), "{err}");
        assert!(err.contains("; check `runtime-image`"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        assert!(
            !dir.path().join("target/x86_64-unknown-linux-gnu").exists(),
            "cargo ran"
        );

        let (image, config, took) = host_build(dir.path(), &base, &registry_host).await;
        eprintln!("host build: {took:?}");

        // The OCI layout: index → manifest → config and layers, all present and named by digest.
        let layout: Value =
            serde_json::from_slice(&std::fs::read(image.dir.join("index.json")).unwrap()).unwrap();
        assert_eq!(
            layout["manifests"][0]["digest"],
            json!(image.manifest_digest)
        );
        assert!(image
            .dir
            .ends_with(format!("fargate/oci/{}-dev", config.project)));
        let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
        assert_eq!(
            image.manifest_media_type, MEDIA_DOCKER_MANIFEST,
            "docker pushed the base in schema 2"
        );
        let layers = manifest["layers"].as_array().unwrap();
        for d in layers.iter().chain([&manifest["config"]]) {
            let digest = d["digest"].as_str().unwrap();
            let bytes =
                std::fs::read(blob_path(&image.dir.join("blobs"), digest).unwrap()).unwrap();
            assert_eq!(digest_of(&bytes), digest);
        }
        let blobs = std::fs::read_dir(image.dir.join("blobs/sha256"))
            .unwrap()
            .count();
        assert_eq!(
            blobs,
            layers.len() + 2,
            "exactly this image's blobs (+ manifest)"
        );
        let base_layers = layers.len() - 1;

        // The base's blobs are cached: a second build downloads nothing and gives the same image.
        let cache = dir.path().join("target/fargate/oci-cache/blobs/sha256");
        let cached: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(cached.len(), base_layers + 1, "base layers + base config");
        let before: Vec<_> = cached
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
            .collect();
        let (again, _, took_again) = host_build(dir.path(), &base, &registry_host).await;
        eprintln!("host rebuild, nothing changed: {took_again:?}");
        assert_eq!(
            again.manifest_digest, image.manifest_digest,
            "same binary, same image"
        );
        let after: Vec<_> = cached
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
            .collect();
        assert_eq!(before, after, "no base blob downloaded twice");
        // The bench's runtime stand-in is Debian 12: glibc 2.36, read from its layer once.
        let memo = dir
            .path()
            .join("target/fargate/oci-cache/glibc")
            .join(&again.base_digest[7..]);
        assert_eq!(std::fs::read_to_string(memo).unwrap(), "2.36");

        // First push: our layer and config uploaded, the base's layers mounted from its repository.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let repo = format!("cargo-fargate-test/host-{}-{nanos}", std::process::id());
        let out = Output::plain();
        let start = Instant::now();
        let first = push(&image, &registry, &repo, &["v1".to_string()], &out)
            .await
            .unwrap();
        eprintln!("first push: {:?} {first:?}", start.elapsed());
        assert_eq!(first.digest, image.manifest_digest);
        assert_eq!(
            (
                first.blobs_uploaded,
                first.blobs_mounted,
                first.blobs_skipped
            ),
            (2, base_layers, 0)
        );
        let ours = layers.last().unwrap()["size"].as_u64().unwrap()
            + manifest["config"]["size"].as_u64().unwrap();
        assert_eq!(first.bytes_uploaded, ours);
        assert_eq!(
            registry
                .manifest_digest(&repo, "v1")
                .await
                .unwrap()
                .as_deref(),
            Some(image.manifest_digest.as_str())
        );

        // Docker pulls and runs it: the binary, as the non-root user, with fixed modes.
        let docker = Docker::login(&registry_host);
        let tagged = format!("{registry_host}/{repo}:v1");
        docker.ok(&["pull", "-q", &tagged]);
        assert_eq!(docker.ok(&["run", "--rm", &tagged]), "Hello! args=[]\n");
        assert_eq!(
            docker.ok(&[
                "run",
                "--rm",
                "-e",
                "GREETING=Hello from cargo-fargate",
                &tagged,
                "a",
                "b"
            ]),
            "Hello from cargo-fargate! args=[\"a\", \"b\"]\n"
        );
        assert_eq!(
            docker.ok(&[
                "run",
                "--rm",
                "--entrypoint",
                "stat",
                &tagged,
                "-c",
                "%a %u:%g %Y",
                "/usr/local/bin/hello"
            ]),
            "755 0:0 0\n"
        );
        assert_eq!(
            docker.ok(&["run", "--rm", "--entrypoint", "id", &tagged, "-u"]),
            "10001\n"
        );
        let inspected = docker.ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Config.User}} {{index .Config.Labels \"org.example.test\"}}",
            &tagged,
        ]);
        assert_eq!(inspected, "10001:10001 host\n");

        // Second push of the same image: nothing uploaded.
        let start = Instant::now();
        let second = push(
            &image,
            &registry,
            &repo,
            &["v1".to_string(), "v1-again".to_string()],
            &out,
        )
        .await
        .unwrap();
        eprintln!("second push: {:?} {second:?}", start.elapsed());
        assert_eq!(
            (
                second.blobs_uploaded,
                second.blobs_mounted,
                second.bytes_uploaded
            ),
            (0, 0, 0)
        );
        assert_eq!(second.blobs_skipped, layers.len() + 1);
        assert_eq!(
            registry
                .manifest_digest(&repo, "v1-again")
                .await
                .unwrap()
                .as_deref(),
            Some(image.manifest_digest.as_str())
        );

        // A changed binary: only its layer and the config travel.
        let main = dir.path().join("src/main.rs");
        let code = std::fs::read_to_string(&main)
            .unwrap()
            .replace("args={args:?}", "v2 args={args:?}");
        std::fs::write(&main, code).unwrap();
        let (changed, _, _) = host_build(dir.path(), &base, &registry_host).await;
        assert_ne!(changed.manifest_digest, image.manifest_digest);
        let third = push(&changed, &registry, &repo, &["v2".to_string()], &out)
            .await
            .unwrap();
        eprintln!("changed binary push: {third:?}");
        assert_eq!(
            (
                third.blobs_uploaded,
                third.blobs_mounted,
                third.blobs_skipped
            ),
            (2, 0, base_layers)
        );
        let tagged2 = format!("{registry_host}/{repo}:v2");
        docker.ok(&["pull", "-q", &tagged2]);
        assert_eq!(docker.ok(&["run", "--rm", &tagged2]), "Hello! v2 args=[]\n");
        let _ = docker.cmd(&["image", "rm", &tagged, &tagged2]).output();
    }
}
