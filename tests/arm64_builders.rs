//! arm64 and multi-platform images from the docker and codebuild builders, on the bench: CodeBuild
//! builds arm64 on its ARM environment (ARM_CONTAINER; the agent runs that build's container as
//! linux/arm64 under qemu), the Docker Engine builds each platform of `architecture = "both"` in
//! turn (cross-compiling where the platform is not its own), and either way one image index of two
//! platforms is pushed whose images' binaries are x86_64 and aarch64 ELF files; a task of each
//! architecture runs from the same pinned digest and its own output and exit code come back.

mod common;

use common::arm64::*;
use common::*;
use std::path::Path;

/// `cf` with another builder.
fn with_builder(
    dir: &Path,
    name: &str,
    architecture: &str,
    builder: &str,
    args: &[&str],
) -> std::process::Command {
    let mut cmd = cf_arch(dir, name, architecture, args);
    cmd.env("CARGO_FARGATE_BUILDER", builder);
    cmd
}

/// The JSON events of one kind in a command's stdout.
fn events(out: &str, kind: &str) -> Vec<serde_json::Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == kind)
        .collect()
}

/// The CodeBuild builds of project `family`, as BatchGetBuilds shows them.
fn builds(family: &str) -> Vec<serde_json::Value> {
    let ids = aws(&[
        "codebuild",
        "list-builds-for-project",
        "--project-name",
        family,
    ])["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect::<Vec<_>>();
    let mut args = vec!["codebuild", "batch-get-builds", "--ids"];
    args.extend(ids.iter().map(String::as_str));
    aws(&args)["builds"].as_array().unwrap().clone()
}

/// Asserts `digest` of `family` is an image index of linux/amd64 and linux/arm64 whose images hold
/// `/usr/local/bin/hello` built for x86_64 and aarch64, each with its SBOM; the platforms' digests.
fn two_platform_index(family: &str, digest: &str) -> Vec<String> {
    let index = registry_index(family, digest);
    let platforms: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let arch = m["platform"]["architecture"].as_str().unwrap().to_string();
            (arch, m["digest"].as_str().unwrap().to_string())
        })
        .collect();
    let arches: Vec<&str> = platforms.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(arches, ["amd64", "arm64"], "{index}");
    let (amd64, machine) = pushed_binary_machine(family, &platforms[0].1, "hello");
    assert_eq!(
        (amd64["architecture"].as_str(), machine),
        (Some("amd64"), EM_X86_64)
    );
    pushed_arm64(family, &platforms[1].1, "hello");
    // Each platform's image is there under its own tag, and each (and the index) has its SBOM.
    let tags = registry_tags(family);
    for arch in ["x86_64", "arm64"] {
        assert!(
            tags.iter().any(|t| t.ends_with(&format!("-{arch}"))),
            "{tags:?}"
        );
    }
    for d in std::iter::once(digest).chain(platforms.iter().map(|(_, d)| d.as_str())) {
        let fallback = format!("{}.sbom", d.replace(':', "-"));
        assert!(tags.contains(&fallback), "no SBOM for {d}: {tags:?}");
    }
    platforms.into_iter().map(|(_, d)| d).collect()
}

/// Runs an ARM64 task of `family` from `uri` (the index pinned for X86_64 before): the agent pulls
/// its arm64 image and runs it under emulation, and the task's output comes back.
fn arm64_task_runs_from(dir: &Path, name: &str, builder: &str, uri: &str) {
    let o = with_builder(
        dir,
        name,
        "arm64",
        builder,
        &[
            "run",
            "--image",
            uri,
            "--message-format",
            "json",
            "--",
            "arm",
        ],
    )
    .output()
    .unwrap();
    let greeting = r#"Hello from cargo-fargate! args=["arm"]"#;
    exited_with_greeting(&o, 0, greeting);
    let td = task_definition(&format!("{name}-dev"));
    assert_eq!(td["containerDefinitions"][0]["image"], uri);
    assert_eq!(td["runtimePlatform"]["cpuArchitecture"], "ARM64");
}

/// Deploys examples/hello for both architectures with `builder`: the task (x86_64) greets, and the
/// image index holds both platforms (`two_platform_index`); its (digest, URI).
fn deployed_both(dir: &Path, name: &str, builder: &str) -> (String, String) {
    let args = ["deploy", "--message-format", "json", "--", "x86"];
    let o = with_builder(dir, name, "both", builder, &args)
        .output()
        .unwrap();
    let r = exited_with_greeting(&o, 0, r#"Hello from cargo-fargate! args=["x86"]"#);
    let (digest, uri) = (
        r["digest"].as_str().unwrap(),
        r["image_uri"].as_str().unwrap(),
    );
    two_platform_index(&format!("{name}-dev"), digest);
    (digest.to_string(), uri.to_string())
}

/// `push` again for both architectures with `builder`: its JSON result.
fn pushed_again(dir: &Path, name: &str, builder: &str) -> serde_json::Value {
    let push = ["push", "--message-format", "json"];
    json_result(
        &with_builder(dir, name, "both", builder, &push)
            .output()
            .unwrap(),
    )
}

#[test]
fn codebuild_builds_arm64_on_its_arm_environment_and_the_task_runs_under_emulation() {
    let dir = hello();
    let name = unique("a64c");
    let family = format!("{name}-dev");
    let args = [
        "deploy",
        "--message-format",
        "json",
        "--",
        "from",
        "codebuild",
    ];
    let o = with_builder(dir.path(), &name, "arm64", "codebuild", &args)
        .output()
        .unwrap();
    let greeting = r#"Hello from cargo-fargate! args=["from", "codebuild"]"#;
    let r = exited_with_greeting(&o, 0, greeting);
    pushed_arm64(&family, r["digest"].as_str().unwrap(), "hello");
    assert_eq!(
        task_definition(&family)["runtimePlatform"]["cpuArchitecture"],
        "ARM64"
    );
    let p = &aws(&["codebuild", "batch-get-projects", "--names", &family])["projects"][0];
    assert_eq!(p["environment"]["type"], "ARM_CONTAINER", "{p}");
    assert_eq!(
        p["environment"]["image"],
        "aws/codebuild/amazonlinux-aarch64-standard:3.0"
    );
    // The build's own shell ran on aarch64 (the agent's linux/arm64 container, under qemu).
    let lines: Vec<String> = events(&stdout(&o), "build_log")
        .iter()
        .map(|e| e["line"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("building linux/arm64 on aarch64")),
        "{lines:#?}"
    );
}

#[test]
fn docker_builds_both_platforms_into_one_index_and_a_task_of_each_runs_from_its_digest() {
    let dir = hello();
    let name = unique("a64db");
    let family = format!("{name}-dev");
    let (digest, uri) = deployed_both(dir.path(), &name, "docker");
    let (digest, uri) = (digest.as_str(), uri.as_str());
    let td = task_definition(&family);
    assert_eq!(td["containerDefinitions"][0]["image"], uri);
    assert_eq!(td["runtimePlatform"]["cpuArchitecture"], "X86_64");
    arm64_task_runs_from(dir.path(), &name, "docker", uri);
    // Pushed again: the registry holds the content tag, nothing is built.
    let again = pushed_again(dir.path(), &name, "docker");
    assert_eq!(again["up_to_date"], true, "{again}");
    assert_eq!(again["digest"], digest);
    // The index gone (a push interrupted after both platforms): each platform is found by its own
    // tag, nothing is built or pushed again, and the same index is put back.
    delete_manifest(&family, digest);
    let again = pushed_again(dir.path(), &name, "docker");
    assert_eq!(
        (again["up_to_date"].as_bool(), again["digest"].as_str()),
        (Some(false), Some(digest)),
        "{again}"
    );
    assert_eq!(again["layers_pushed"], 0, "{again}");
    assert_eq!(
        again["build"]["image_id"], "",
        "a platform was built again: {again}"
    );
}

#[test]
fn codebuild_builds_each_platform_on_its_environment_and_joins_one_index() {
    let dir = hello();
    let name = unique("a64cb");
    let family = format!("{name}-dev");
    let (digest, uri) = deployed_both(dir.path(), &name, "codebuild");
    let (digest, uri) = (digest.as_str(), uri.as_str());
    // Two builds: the arm64 image on the ARM environment, the x86_64 one on the Linux one.
    let mut environments: Vec<(String, String)> = builds(&family)
        .iter()
        .map(|b| {
            let env = &b["environment"];
            let tag = b["environmentVariables"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(env["environmentVariables"].as_array().into_iter().flatten())
                .find(|v| v["name"] == "TARGET_PLATFORM")
                .map(|v| v["value"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default();
            (env["type"].as_str().unwrap_or_default().to_string(), tag)
        })
        .collect();
    environments.sort();
    assert_eq!(
        environments,
        [
            ("ARM_CONTAINER".to_string(), "linux/arm64".to_string()),
            ("LINUX_CONTAINER".to_string(), "linux/amd64".to_string())
        ]
    );
    assert_eq!(
        task_definition(&family)["runtimePlatform"]["cpuArchitecture"],
        "X86_64"
    );
    arm64_task_runs_from(dir.path(), &name, "codebuild", uri);
    // The index gone: both platforms are found by their own tags, no build starts, the same index
    // is joined again.
    delete_manifest(&family, digest);
    assert_eq!(
        pushed_again(dir.path(), &name, "codebuild")["digest"],
        digest
    );
    assert_eq!(builds(&family).len(), 2, "a build was started again");
}
