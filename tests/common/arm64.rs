//! Shared by the arm64 tests (tests/arm64.rs, tests/arm64_builders.rs): the example, the bench
//! command for an architecture, and what the registry holds (an image's platforms, the ELF machine
//! of its binary).

use super::*;
use std::io::Read;
use std::path::Path;
use std::process::Output;

/// `EM_AARCH64` and `EM_X86_64`: an ELF header's e_machine.
pub const EM_AARCH64: u16 = 183;
pub const EM_X86_64: u16 = 62;

pub fn hello() -> tempfile::TempDir {
    copy_fixture(&repo().join("examples/hello"))
}

/// `cargo fargate <args>` on the bench with the host builder, as project `name`, for `architecture`,
/// on the minimal runtime (scratch: its libraries are the target's, from the cross sysroot).
pub fn cf_arch(dir: &Path, name: &str, architecture: &str, args: &[&str]) -> std::process::Command {
    let mut cmd = host_bench_command(dir, &format!("{name}-dev"), args);
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_ARCHITECTURE", architecture)
        .env("CARGO_FARGATE_RUNTIME_IMAGE", "scratch")
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg);
    cmd
}

/// A blob of the bench registry, as its bytes.
pub fn registry_blob(repository: &str, digest: &str) -> Vec<u8> {
    registry_curl("GET", &format!("{repository}/blobs/{digest}"), 60, &["-L"])
}

/// The image config and the e_machine of `/usr/local/bin/<bin>` in the image's layers.
pub fn pushed_binary_machine(
    repository: &str,
    digest: &str,
    bin: &str,
) -> (serde_json::Value, u16) {
    let manifest: serde_json::Value =
        serde_json::from_str(&registry_manifest(repository, digest)).unwrap();
    let config: serde_json::Value = serde_json::from_slice(&registry_blob(
        repository,
        manifest["config"]["digest"].as_str().unwrap(),
    ))
    .unwrap();
    let want = format!("usr/local/bin/{bin}");
    for layer in manifest["layers"].as_array().unwrap() {
        let blob = registry_blob(repository, layer["digest"].as_str().unwrap());
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(&blob[..]));
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            if path == want {
                let mut header = [0u8; 20];
                entry.read_exact(&mut header).unwrap();
                assert_eq!(&header[..4], b"\x7fELF", "{want} is not an ELF file");
                return (config, u16::from_le_bytes([header[18], header[19]]));
            }
        }
    }
    panic!("no {want} in the layers of {repository}@{digest}: {manifest}");
}

/// The task definition of `family`'s latest revision, as ECS has it.
pub fn task_definition(family: &str) -> serde_json::Value {
    aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        family,
    ])["taskDefinition"]
        .clone()
}

/// Asserts that `o` exited with `code` and that its JSON output carries the container's log line
/// `greeting`; its result.
pub fn exited_with_greeting(o: &Output, code: i32, greeting: &str) -> serde_json::Value {
    let out = stdout(o);
    let show = format!("stdout:\n{out}\nstderr:\n{}", stderr(o));
    assert_eq!(o.status.code(), Some(code), "{show}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "log" && e["message"] == greeting),
        "{show}"
    );
    events
        .into_iter()
        .rfind(|e| e["type"] == "result")
        .expect(&show)
}

/// Asserts that image `digest` of `repository` is an arm64 one whose `/usr/local/bin/<bin>` is an
/// aarch64 ELF file; its config.
pub fn pushed_arm64(repository: &str, digest: &str, bin: &str) -> serde_json::Value {
    let (config, machine) = pushed_binary_machine(repository, digest, bin);
    assert_eq!(config["architecture"], "arm64", "{config}");
    assert_eq!(
        machine, EM_AARCH64,
        "the pushed binary is not an aarch64 ELF file"
    );
    config
}

/// A manifest or image index of the bench registry, parsed.
pub fn registry_index(repository: &str, reference: &str) -> serde_json::Value {
    let accept = [
        "-H",
        "Accept: application/vnd.oci.image.index.v1+json",
        "-H",
        "Accept: application/vnd.oci.image.manifest.v1+json",
        "-H",
        "Accept: application/vnd.docker.distribution.manifest.v2+json",
    ];
    let path = format!("{repository}/manifests/{reference}");
    serde_json::from_slice(&registry_curl("GET", &path, 30, &accept)).unwrap()
}

/// Deletes a manifest (and so every tag naming it) from the bench registry.
pub fn delete_manifest(repository: &str, digest: &str) {
    registry_curl(
        "DELETE",
        &format!("{repository}/manifests/{digest}"),
        30,
        &[],
    );
}
