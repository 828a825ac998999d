//! Building an image for another platform than the Docker Engine's with the classic builder: the
//! build stage runs on the Engine's own platform and cross-compiles (the template's TARGET), and the
//! runtime stage starts from an image of the target platform. The classic builder refuses
//! `COPY --from` a stage of another platform once the build has a `platform`, and it gives
//! `FROM scratch` the Engine's architecture; so a cross build passes no platform, and `scratch`
//! becomes an empty image of the target platform, made here (no layers, no download).

use std::collections::HashMap;

use anyhow::Context;
use bollard::Docker;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use crate::config::resolve::SCRATCH;
use crate::error::Result;

/// `os/arch` of the Engine, as Docker names platforms (`linux/amd64`).
pub async fn engine_platform(docker: &Docker) -> Result<String> {
    let v = docker
        .version()
        .await
        .context("asking the Docker Engine for its platform")?;
    Ok(format!(
        "{}/{}",
        v.os.as_deref().unwrap_or("linux"),
        v.arch.as_deref().unwrap_or("amd64")
    ))
}

/// The build's `platform` option and the template's arguments for a build of `platform` on an Engine
/// of `engine`: unchanged on the Engine's own platform; across platforms no `platform` option, the
/// build stage on the Engine's, and for `scratch` an empty base of the target platform.
pub async fn cross(
    docker: &Docker,
    engine: &str,
    platform: &str,
    runtime_image: &str,
    args: &mut HashMap<String, String>,
) -> Result<String> {
    if engine == platform {
        return Ok(platform.to_string());
    }
    args.insert("BUILD_PLATFORM".into(), engine.to_string());
    if runtime_image == SCRATCH {
        args.insert("RUNTIME_BASE".into(), empty_base(docker, platform).await?);
    }
    Ok(String::new())
}

/// Refuses, before the push, an image the Dockerfile built for another architecture than the
/// task's (a Dockerfile that copies a prebuilt binary, or pins its base's platform): Fargate would
/// stop the task with `exec format error`.
pub fn built_for(
    config: &crate::config::Config,
    arch: crate::config::resolve::Architecture,
    dockerfile: &str,
    architecture: Option<&str>,
) -> Result<()> {
    let want = arch.platform().trim_start_matches("linux/");
    match architecture {
        Some(have) if have != want => Err(config
            .key_error(
                "architecture",
                format!(
                    "{dockerfile} built a linux/{have} image, but the task runs on {}",
                    arch.ecs()
                ),
            )
            .fix(format!(
                "build for {} in the Dockerfile (its `FROM` images and binaries), or set `architecture` to match",
                arch.platform()
            ))
            .into()),
        _ => Ok(()),
    }
}

/// The tag of the empty image of a platform (`cargo-fargate/scratch:linux-arm64`).
pub fn empty_base_tag(platform: &str) -> String {
    format!("cargo-fargate/scratch:{}", platform.replace('/', "-"))
}

/// Loads the empty image of `platform` into the Engine (`docker load` of a config and no layers)
/// unless it is there; returns its tag. The same bytes every time, so the same image ID.
async fn empty_base(docker: &Docker, platform: &str) -> Result<String> {
    let tag = empty_base_tag(platform);
    if docker.inspect_image(&tag).await.is_ok() {
        return Ok(tag);
    }
    let archive = empty_image_archive(platform, &tag)?;
    let mut stream = docker.import_image(
        bollard::query_parameters::ImportImageOptionsBuilder::default()
            .quiet(true)
            .build(),
        bollard::body_full(archive.into()),
        None,
    );
    while let Some(item) = stream.next().await {
        item.with_context(|| format!("loading the empty {platform} base {tag} into the Engine"))?;
    }
    Ok(tag)
}

/// A `docker save` archive of an image with no layers whose config names `platform`.
fn empty_image_archive(platform: &str, tag: &str) -> Result<Vec<u8>> {
    let (os, arch) = platform.split_once('/').unwrap_or(("linux", platform));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": arch,
        "os": os,
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [] },
        "history": [{
            "created_by": format!("cargo-fargate: an empty base for {platform}"),
            "empty_layer": true
        }],
    }))?;
    let config_name = format!("{}.json", hex::encode(Sha256::digest(&config)));
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": config_name, "RepoTags": [tag], "Layers": []
    }]))?;
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in [
        (config_name.as_str(), &config),
        ("manifest.json", &manifest),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, &bytes[..])?;
    }
    Ok(tar.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_base_archive_names_its_platform_and_holds_no_layer() {
        let bytes =
            empty_image_archive("linux/arm64", "cargo-fargate/scratch:linux-arm64").unwrap();
        let mut archive = tar::Archive::new(&bytes[..]);
        let mut files = HashMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
            files.insert(name, text);
        }
        let manifest: serde_json::Value = serde_json::from_str(&files["manifest.json"]).unwrap();
        assert_eq!(manifest[0]["Layers"], serde_json::json!([]));
        let config: serde_json::Value =
            serde_json::from_str(&files[manifest[0]["Config"].as_str().unwrap()]).unwrap();
        assert_eq!(config["architecture"], "arm64");
        assert_eq!(config["os"], "linux");
        assert_eq!(
            empty_base_tag("linux/arm64"),
            "cargo-fargate/scratch:linux-arm64"
        );
    }
}
