//! The image `run --local` starts, in the local Docker Engine: built by the configured builder (the
//! `docker` builder's lands there; the `host` builder's OCI layout is loaded), or `--image`, pulled
//! unless the engine has it (ECR images with ECR's credentials, from the `registry-endpoint` when
//! one is set, as `push` reaches it).

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{CreateImageOptions, ImportImageOptions};
use bollard::Docker;

use crate::aws::Aws;
use crate::build::host::OciImage;
use crate::config::Config;
use crate::error::{Location, Result, UserError};
use crate::output::Output;
use crate::registry::ImageRef;

/// Where `--image` is pulled from, and as whom.
pub struct Pull {
    /// The reference the engine pulls and the container is created from.
    pub reference: String,
    pub ecr: bool,
}

/// Whether `--image` is an ECR image, and the reference to pull: with a `registry-endpoint`, the
/// same repository and digest (or tag) at that endpoint, since that is where this machine reaches
/// ECR's registry.
pub fn pull_reference(image: &str, config: &Config) -> Result<Pull> {
    let parsed = ImageRef::parse(image).map_err(|e| {
        UserError::new(e.to_string())
            .at(Location::Flag("--image".into()))
            .fix("pass an image such as <registry>/<repository>@sha256:<digest>")
    })?;
    let ecr = crate::image::PinnedImage {
        reference: image.to_string(),
        repository: format!("{}/{}", parsed.registry, parsed.repository),
        digest: String::new(),
    }
    .ecr()
    .is_some();
    let reference = match (&config.registry_endpoint, ecr) {
        (Some(endpoint), true) => {
            let host = crate::registry::endpoint(endpoint).1;
            let sep = if parsed.reference.starts_with("sha256:") {
                '@'
            } else {
                ':'
            };
            format!("{host}/{}{sep}{}", parsed.repository, parsed.reference)
        }
        _ => image.to_string(),
    };
    Ok(Pull { reference, ecr })
}

/// Pulls `--image` unless the engine already has it; ECR images with ECR's credentials.
pub async fn pull(
    docker: &Docker,
    aws: Option<&Aws>,
    config: &Config,
    pull: &Pull,
    out: &Output,
) -> Result<()> {
    if docker.inspect_image(&pull.reference).await.is_ok() {
        out.verbose(format_args!("{} is in the engine already", pull.reference));
        return Ok(());
    }
    let credentials = match (pull.ecr, aws) {
        (true, Some(aws)) => {
            let login = crate::publish::login(aws, config).await?;
            Some(DockerCredentials {
                username: Some(login.credentials.username.clone()),
                password: Some(login.credentials.password().to_string()),
                serveraddress: Some(login.registry.host.clone()),
                ..Default::default()
            })
        }
        _ => None,
    };
    out.status("Pulling", &pull.reference);
    let options = CreateImageOptions {
        from_image: Some(pull.reference.clone()),
        platform: config.size.architecture.platform().to_string(),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), None, credentials);
    // The engine reports progress while it downloads; silence this long means the registry stalls.
    while let Some(item) = crate::build::docker::next_report(&mut stream, crate::net::timeout(), |secs| {
        UserError::new(format!(
            "the Docker Engine reported no progress pulling `{}` for {secs}s: its registry stalls",
            pull.reference
        ))
        .fix("check the registry (or `registry-endpoint`) and your network, or allow longer with --timeout SECS")
        .into()
    })
    .await?
    {
        if let Err(e) = item {
            let detail = match e {
                bollard::errors::Error::DockerStreamError { error } => error,
                bollard::errors::Error::DockerResponseServerError { message, .. } => message,
                other => other.to_string(),
            };
            return Err(UserError::new(format!(
                "cannot pull `{}`: {}",
                pull.reference,
                detail.trim()
            ))
            .at(Location::Flag("--image".into()))
            .fix("check the image exists and your credentials may pull it, or build it: drop --image")
            .into());
        }
    }
    Ok(())
}

/// The host builder's image as a `docker load` archive: the layout's config and layer blobs with a
/// `manifest.json` naming them. Engines of every version load this format (OCI archives only from
/// Docker 25 on); layers stay gzip-compressed, which `docker load` accepts.
pub fn docker_archive(image: &OciImage, tag: &str) -> Result<Vec<u8>> {
    let manifest: serde_json::Value = serde_json::from_slice(&image.manifest)?;
    let blob = |digest: &str| -> Result<String> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "`{digest}` in {} is not a sha256 digest",
                    image.dir.display()
                )
            })?;
        Ok(format!("blobs/sha256/{hex}"))
    };
    let config = blob(manifest["config"]["digest"].as_str().unwrap_or_default())?;
    let layers = manifest["layers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|l| blob(l["digest"].as_str().unwrap_or_default()))
        .collect::<Result<Vec<_>>>()?;
    let index = serde_json::json!([{ "Config": config, "RepoTags": [tag], "Layers": layers }]);
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, data)?;
        Ok(())
    };
    add("manifest.json", &serde_json::to_vec(&index)?)?;
    let mut seen = std::collections::BTreeSet::new();
    for name in std::iter::once(&config).chain(&layers) {
        if seen.insert(name.clone()) {
            let path = image.dir.join(name);
            let data = std::fs::read(&path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            add(name, &data)?;
        }
    }
    Ok(tar.into_inner()?)
}

/// Loads the host builder's image into the engine as `tag`, unless the engine has it already (an
/// image's ID in the engine is its config digest).
pub async fn load(docker: &Docker, image: &OciImage, tag: &str, out: &Output) -> Result<()> {
    if let Ok(found) = docker.inspect_image(tag).await {
        if found.id.as_deref() == Some(image.config_digest.as_str()) {
            out.verbose(format_args!("{tag} is in the engine already"));
            return Ok(());
        }
    }
    out.status("Loading", format_args!("{tag} into the Docker Engine"));
    let archive = docker_archive(image, tag)?;
    let archive_len = archive.len() as u64;
    let mut stream = docker.import_image(
        ImportImageOptions {
            quiet: true,
            ..Default::default()
        },
        bollard::body_full(archive.into()),
        None::<HashMap<String, DockerCredentials>>,
    );
    // Quiet mode reports once the archive is in: allow the time its bytes need.
    let limit = crate::net::timeout_for(archive_len);
    while let Some(item) = crate::build::docker::next_report(&mut stream, limit, |secs| {
        anyhow::anyhow!("the Docker Engine did not finish loading {tag} within {secs}s")
    })
    .await?
    {
        item.map_err(|e| anyhow::anyhow!("loading {tag} into the Docker Engine: {e}"))?;
    }
    Ok(())
}

/// A task of another architecture than this machine's runs here only under emulation: says so, or
/// refuses in one line when the kernel has no interpreter registered for it. A remote Engine
/// (`DOCKER_HOST` not a unix socket) is its own machine: not asked.
pub fn check_emulation(config: &Config, out: &Output) -> Result<()> {
    if std::env::var("DOCKER_HOST").is_ok_and(|h| !h.is_empty() && !h.starts_with("unix://")) {
        return Ok(());
    }
    let arch = config
        .size
        .architecture
        .rust_target()
        .split('-')
        .next()
        .unwrap_or("");
    let entry = format!("/proc/sys/fs/binfmt_misc/qemu-{arch}");
    let registered = std::fs::read_to_string(&entry).ok();
    if let Some(how) = emulation(arch, std::env::consts::ARCH, registered.as_deref())? {
        out.status(
            "Emulating",
            format!("{} with {how}", config.size.architecture.platform()),
        );
    }
    Ok(())
}

/// None on the machine's own architecture; the interpreter that emulates `arch`; or why it cannot.
fn emulation(arch: &str, host: &str, binfmt: Option<&str>) -> Result<Option<String>, UserError> {
    if arch == host {
        return Ok(None);
    }
    let enabled = binfmt.is_some_and(|t| t.lines().next() == Some("enabled"));
    let interpreter = binfmt
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("interpreter ")))
        .filter(|_| enabled);
    match interpreter {
        Some(i) => Ok(Some(format!("{i} (binfmt_misc)"))),
        None => Err(UserError::new(format!(
            "the task is {arch}, and this {host} machine's Engine cannot run {arch} binaries: no enabled qemu-{arch} in binfmt_misc"
        ))
        .fix(format!(
            "register qemu's interpreter (Debian: `apt-get install qemu-user-static binfmt-support`), or run the task on Fargate (`cargo fargate run` without --local), or set `architecture` to {host}'s"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_architecture_runs_only_with_an_enabled_interpreter() {
        assert_eq!(emulation("x86_64", "x86_64", None).unwrap(), None);
        let qemu = "enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: OCF\n";
        assert_eq!(
            emulation("aarch64", "x86_64", Some(qemu))
                .unwrap()
                .as_deref(),
            Some("/usr/bin/qemu-aarch64-static (binfmt_misc)")
        );
        for missing in [
            None,
            Some("disabled\ninterpreter /usr/bin/qemu-aarch64-static\n"),
        ] {
            let e = emulation("aarch64", "x86_64", missing)
                .unwrap_err()
                .to_string();
            assert!(e.contains("cannot run aarch64 binaries"), "{e}");
            assert!(e.contains("qemu-user-static"), "{e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn an_ecr_image_is_pulled_from_the_registry_endpoint() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let image = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app-dev@{digest}");
        let with = crate::config::test_config("registry-endpoint = \"127.0.0.1:5000\"");
        let p = pull_reference(&image, &with).unwrap();
        assert!(p.ecr);
        assert_eq!(p.reference, format!("127.0.0.1:5000/app-dev@{digest}"));
        let without = crate::config::test_config("");
        assert_eq!(pull_reference(&image, &without).unwrap().reference, image);
        // Another registry: pulled as given, with no ECR login.
        let p = pull_reference("ghcr.io/o/app:1.2", &with).unwrap();
        assert!(!p.ecr);
        assert_eq!(p.reference, "ghcr.io/o/app:1.2");
    }
}
