//! The new image's config and manifest: the base's, extended with the binary's layer and settings.

use std::collections::BTreeMap;

use anyhow::Context;
use serde::Serialize;
use serde_json::{json, Value};

use super::base::{oci_arch, BaseImage};
use super::layer::Layer;
use super::{rfc3339, BIN_DIR, IMAGE_USER};
use crate::config::Architecture;
use crate::error::Result;
use crate::registry::{digest_of, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_MANIFEST};

pub const MEDIA_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const MEDIA_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// What the image config takes from the project.
pub(super) struct ImageSettings {
    pub architecture: Architecture,
    pub bin: String,
    pub entrypoint: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    pub epoch: u64,
    /// The base's name and digest, for the manifest's annotations; None on `scratch`.
    pub base: Option<(String, String)>,
}

/// The new image's config and manifest, serialised.
pub(super) struct Assembled {
    pub config: Vec<u8>,
    pub config_digest: String,
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    pub manifest_digest: String,
    pub size: u64,
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

/// An OCI image index: its bytes and digest.
pub(super) struct Index {
    pub bytes: Vec<u8>,
    pub digest: String,
}

/// The image index of one image per architecture, each entry with its platform, in that order.
pub(super) fn index(arches: &[Architecture], images: &[super::OciImage]) -> Result<Index> {
    let manifests: Vec<Value> = arches
        .iter()
        .zip(images)
        .map(|(arch, image)| {
            json!({
                "mediaType": image.manifest_media_type,
                "digest": image.manifest_digest,
                "size": image.manifest.len(),
                "platform": { "architecture": oci_arch(*arch), "os": "linux" },
            })
        })
        .collect();
    let bytes = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": crate::registry::MEDIA_OCI_INDEX,
        "manifests": manifests,
    }))?;
    Ok(Index {
        digest: digest_of(&bytes),
        bytes,
    })
}

/// The config an empty (`scratch`) base starts from: no layers, a PATH for the binary.
pub(super) fn scratch() -> BaseImage {
    BaseImage {
        media_type: MEDIA_OCI_MANIFEST.to_string(),
        digest: String::new(),
        config: json!({
            "config": { "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"] },
            "rootfs": { "type": "layers", "diff_ids": [] },
        }),
        layers: Vec::new(),
    }
}

/// How the image runs, over the base's: our entrypoint and command, the non-root user, the
/// base's labels with ours on top.
fn set_run_config(run: &mut serde_json::Map<String, Value>, s: &ImageSettings) {
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
}

/// The base config's layer diff IDs, one per layer of its manifest.
fn base_diff_ids(obj: &serde_json::Map<String, Value>, base: &BaseImage) -> Result<Vec<Value>> {
    let diff_ids = obj
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
    Ok(diff_ids)
}

/// Base config + our layers (each with its history line), entrypoint, user and labels; a manifest
/// in the base's format.
pub(super) fn assemble(
    base: &BaseImage,
    ours: &[(&Layer, &str)],
    s: &ImageSettings,
) -> Result<Assembled> {
    let created = rfc3339(s.epoch);
    let mut config = base.config.clone();
    let obj = config
        .as_object_mut()
        .context("the base image's config is not a JSON object")?;
    obj.insert("created".into(), json!(created));
    obj.insert("architecture".into(), json!(oci_arch(s.architecture)));
    obj.insert("os".into(), json!("linux"));

    let mut diff_ids = base_diff_ids(obj, base)?;
    diff_ids.extend(ours.iter().map(|(l, _)| json!(l.diff_id)));
    obj.insert(
        "rootfs".into(),
        json!({ "type": "layers", "diff_ids": diff_ids }),
    );

    let mut history = obj
        .get("history")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (_, created_by) in ours {
        history.push(json!({ "created": created, "created_by": created_by }));
    }
    obj.insert("history".into(), Value::Array(history));

    let run = obj
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .context("the base image's config has a `config` that is not an object")?;
    set_run_config(run, s);

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
    for (layer, _) in ours {
        layers.push(json!({
            "mediaType": layer_type,
            "size": layer.size,
            "digest": layer.digest,
        }));
    }
    let size = layers.iter().map(|l| l["size"].as_u64().unwrap_or(0)).sum();
    // Docker's schema 2 has no annotations; OCI's standard ones name the base.
    let annotations = s.base.as_ref().filter(|_| !docker).map(|(name, digest)| {
        BTreeMap::from([
            (
                "org.opencontainers.image.base.digest".to_string(),
                digest.clone(),
            ),
            (
                "org.opencontainers.image.base.name".to_string(),
                name.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A layer as assemble sees it (it reads no files).
    fn binary_layer(bytes: &[u8]) -> Layer {
        Layer {
            path: std::path::PathBuf::new(),
            digest: digest_of(&[b"gz:", bytes].concat()),
            diff_id: digest_of(bytes),
            size: bytes.len() as u64 + 100,
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
            base: Some((
                "127.0.0.1:5000/x/debian:bookworm-slim".into(),
                format!("sha256:{}", "b".repeat(64)),
            )),
        }
    }

    #[test]
    fn config_and_manifest_extend_a_docker_base_in_docker_format() {
        let layer = binary_layer(b"binary");
        let a = assemble(
            &base(MEDIA_DOCKER_MANIFEST),
            &[(&layer, "test")],
            &settings(),
        )
        .unwrap();
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
        assert_eq!(a.size, 1000 + layer.size);
        assert!(
            manifest.get("annotations").is_none(),
            "schema 2 has no annotations"
        );

        // Same inputs, same digests; another binary, another image.
        let again = assemble(
            &base(MEDIA_DOCKER_MANIFEST),
            &[(&layer, "test")],
            &settings(),
        )
        .unwrap();
        assert_eq!(again.manifest_digest, a.manifest_digest);
        let other = binary_layer(b"binary 2");
        let b = assemble(
            &base(MEDIA_DOCKER_MANIFEST),
            &[(&other, "test")],
            &settings(),
        )
        .unwrap();
        assert_ne!(b.manifest_digest, a.manifest_digest);
        assert_ne!(b.config_digest, a.config_digest);
    }

    #[test]
    fn config_and_manifest_extend_an_oci_base_in_oci_format_with_the_given_command() {
        let layer = binary_layer(b"binary");
        let s = ImageSettings {
            entrypoint: Some(vec!["/usr/local/bin/hello".into(), "--serve".into()]),
            command: Some(vec!["--port".into(), "8080".into()]),
            architecture: Architecture::Arm64,
            ..settings()
        };
        let a = assemble(&base(MEDIA_OCI_MANIFEST), &[(&layer, "test")], &s).unwrap();
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
        let layer = binary_layer(b"binary");
        let err = assemble(&b, &[(&layer, "test")], &settings())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("2 layers but its config 1 diff_ids"), "{err}");
    }

    #[test]
    fn on_scratch_the_image_is_our_layers_only_with_a_path_and_no_base_annotations() {
        let runtime = binary_layer(b"runtime");
        let bin = binary_layer(b"binary");
        let s = ImageSettings {
            base: None,
            ..settings()
        };
        let a = assemble(&scratch(), &[(&runtime, "runtime"), (&bin, "binary")], &s).unwrap();
        let config: Value = serde_json::from_slice(&a.config).unwrap();
        assert_eq!(
            config["rootfs"]["diff_ids"],
            json!([runtime.diff_id, bin.diff_id])
        );
        assert_eq!(config["created"], "2023-11-14T22:13:20Z");
        assert_eq!(
            config["history"],
            json!([
                { "created": "2023-11-14T22:13:20Z", "created_by": "runtime" },
                { "created": "2023-11-14T22:13:20Z", "created_by": "binary" }
            ])
        );
        assert_eq!(config["config"]["User"], IMAGE_USER);
        assert_eq!(
            config["config"]["Env"],
            json!(["PATH=/usr/local/bin:/usr/bin:/bin"])
        );
        let manifest: Value = serde_json::from_slice(&a.manifest).unwrap();
        assert_eq!(a.manifest_media_type, MEDIA_OCI_MANIFEST);
        assert_eq!(manifest["layers"].as_array().unwrap().len(), 2);
        assert_eq!(manifest["layers"][0]["digest"], json!(runtime.digest));
        assert!(manifest.get("annotations").is_none(), "no base to name");
        assert_eq!(a.size, runtime.size + bin.size);
    }
}
