//! arm64 (Graviton) end to end on the bench, from this x86_64 machine: the host builder cross-compiles
//! examples/hello for aarch64-unknown-linux-gnu, the pushed layer's binary is an aarch64 ELF file,
//! the task definition asks for ARM64, and the bench agent runs the task on the Engine under qemu's
//! arm64 emulation (binfmt_misc): the container's own output and exit code come back. A machine that
//! cannot build or emulate arm64 fails these tests (scripts/bench.sh installs what they need).

mod common;

use common::arm64::*;
use common::*;

#[test]
fn host_builder_cross_builds_hello_for_arm64_and_the_task_runs_it_under_emulation() {
    let dir = hello();
    let name = unique("a64");
    let family = format!("{name}-dev");
    let o = cf_arch(
        dir.path(),
        &name,
        "arm64",
        &[
            "deploy",
            "--message-format",
            "json",
            "-e",
            "HELLO_EXIT_CODE=3",
            "--",
            "on",
            "graviton",
        ],
    )
    .output()
    .unwrap();
    // The container's own exit code is deploy's, and its output came back through its log.
    let greeting = r#"Hello from cargo-fargate! args=["on", "graviton"]"#;
    let r = exited_with_greeting(&o, 3, greeting);
    assert_eq!(r["exit_code"], 3, "{r}");
    let digest = r["digest"].as_str().unwrap();

    // The pushed image: an arm64 config, an aarch64 binary.
    let config = pushed_arm64(&family, digest, "hello");
    assert_eq!(config["os"], "linux");

    // ECS was asked for ARM64, and the task ran its container to its exit.
    let td = task_definition(&family);
    assert_eq!(td["runtimePlatform"]["cpuArchitecture"], "ARM64", "{td}");
    let task_arn = r["tasks"][0].as_str().unwrap();
    let tasks = aws(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        &family,
        "--tasks",
        task_arn,
    ]);
    assert_eq!(tasks["tasks"][0]["containers"][0]["exitCode"], 3, "{tasks}");
    assert_eq!(tasks["tasks"][0]["stopCode"], "EssentialContainerExited");
}

#[test]
fn an_image_of_the_other_architecture_is_refused_before_anything_is_created() {
    let dir = hello();
    let name = unique("a64x");
    let family = format!("{name}-dev");
    // An x86_64 image of the stage, pushed.
    let pushed = json_result(
        &cf_arch(
            dir.path(),
            &name,
            "x86_64",
            &["push", "--message-format", "json"],
        )
        .output()
        .unwrap(),
    );
    let uri = pushed["image_uri"]
        .as_str()
        .expect("push reports the image")
        .to_string();
    let (_, machine) = pushed_binary_machine(&family, pushed["digest"].as_str().unwrap(), "hello");
    assert_eq!(machine, EM_X86_64);

    // Registered (or diffed: the read-only look at what register would do) for an ARM64 task: one
    // line naming the image's platform and the key, before any role or definition is made.
    for args in [
        &["diff", "--image", &uri][..],
        &["register", "--image", &uri],
        &["run", "--image", &uri],
    ] {
        let o = cf_arch(dir.path(), &name, "arm64", args).output().unwrap();
        let e = one_line_error(&o, "is for linux/amd64, but the task runs on ARM64");
        assert!(e.contains("CARGO_FARGATE_ARCHITECTURE"), "{args:?}: {e}");
        assert!(e.contains("architecture = \"x86_64\""), "{args:?}: {e}");
    }
    assert!(
        aws(&["ecs", "list-task-definitions", "--family-prefix", &family])["taskDefinitionArns"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a task definition was registered"
    );
    for role in ["task", "execution"] {
        let o = aws_try(&[
            "iam",
            "get-role",
            "--role-name",
            &format!("{family}-{role}"),
        ]);
        assert!(!o.status.success(), "role {family}-{role} was created");
    }
    // The same image for an X86_64 task goes through.
    let o = cf_arch(dir.path(), &name, "x86_64", &["register", "--image", &uri])
        .output()
        .unwrap();
    ok(&o);
}

#[test]
fn docker_template_cross_compiles_in_a_native_build_stage_and_the_arm64_task_runs() {
    let dir = hello();
    let name = unique("a64d");
    let family = format!("{name}-dev");
    let mut cmd = cf_arch(
        dir.path(),
        &name,
        "arm64",
        &["deploy", "--message-format", "json", "--", "from", "docker"],
    );
    // The docker builder: the Engine builds the template, its builder image being the bench's
    // x86_64 one (no arm64 builder exists here, so nothing can have been compiled under emulation).
    cmd.env("CARGO_FARGATE_BUILDER", "docker");
    let greeting = r#"Hello from cargo-fargate! args=["from", "docker"]"#;
    let r = exited_with_greeting(&cmd.output().unwrap(), 0, greeting);
    pushed_arm64(&family, r["digest"].as_str().unwrap(), "hello");
    let td = task_definition(&family);
    assert_eq!(td["runtimePlatform"]["cpuArchitecture"], "ARM64");
}

#[test]
fn both_architectures_push_one_index_and_a_task_of_each_runs_from_its_digest() {
    let dir = hello();
    let name = unique("a64b");
    let family = format!("{name}-dev");
    // deploy: one image index of both platforms; the task (x86_64, the first) runs from it. The flag
    // wins over the environment's `arm64`.
    let o = cf_arch(
        dir.path(),
        &name,
        "arm64",
        &[
            "deploy",
            "--architecture",
            "both",
            "--message-format",
            "json",
            "--",
            "x86",
        ],
    )
    .output()
    .unwrap();
    let r = json_result(&o);
    assert_eq!(r["exit_code"], 0, "{r}");
    let digest = r["digest"].as_str().unwrap().to_string();
    let uri = r["image_uri"].as_str().unwrap().to_string();
    let index = registry_index(&family, &digest);
    assert_eq!(
        index["mediaType"], "application/vnd.oci.image.index.v1+json",
        "{index}"
    );
    let platforms: Vec<(String, String)> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["platform"]["architecture"].as_str().unwrap().to_string(),
                m["digest"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        platforms
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>(),
        ["amd64", "arm64"]
    );
    let (amd64, _) = pushed_binary_machine(&family, &platforms[0].1, "hello");
    let (arm64, machine) = pushed_binary_machine(&family, &platforms[1].1, "hello");
    assert_eq!(
        (
            amd64["architecture"].as_str(),
            arm64["architecture"].as_str()
        ),
        (Some("amd64"), Some("arm64"))
    );
    assert_eq!(machine, EM_AARCH64);
    // The SBOM refers to the index and to each platform's image (this registry has no referrers
    // API: by the fallback tag).
    let tags = registry_tags(&family);
    for d in std::iter::once(&digest).chain(platforms.iter().map(|(_, d)| d)) {
        let fallback = format!("{}.sbom", d.replace(':', "-"));
        assert!(tags.contains(&fallback), "no SBOM for {d}: {tags:?}");
    }
    let td = task_definition(&family);
    assert_eq!(td["containerDefinitions"][0]["image"], uri.as_str());
    assert_eq!(td["runtimePlatform"]["cpuArchitecture"], "X86_64");

    // The same pinned index for an ARM64 task: the agent pulls its arm64 image and runs it under
    // emulation; the Engine then holds that image (its ID is the arm64 config's digest).
    let o = cf_arch(
        dir.path(),
        &name,
        "arm64",
        &[
            "run",
            "--image",
            &uri,
            "--message-format",
            "json",
            "--",
            "arm",
        ],
    )
    .output()
    .unwrap();
    let show = format!("stdout:\n{}\nstderr:\n{}", stdout(&o), stderr(&o));
    let run = json_result(&o);
    assert_eq!(run["exit_code"], 0, "{show}");
    assert!(
        stdout(&o).contains(r#"Hello from cargo-fargate! args=[\"arm\"]"#),
        "{show}"
    );
    let td = task_definition(&family);
    assert_eq!(td["containerDefinitions"][0]["image"], uri.as_str());
    assert_eq!(td["runtimePlatform"]["cpuArchitecture"], "ARM64");
    let arm64_config = registry_index(&family, &platforms[1].1)["config"]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let o = std::process::Command::new("docker")
        .args([
            "image",
            "inspect",
            "--format",
            "{{.Architecture}}",
            &arm64_config,
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&o).trim(), "arm64", "{}", stderr(&o));
}

#[test]
fn a_dockerfile_that_builds_the_other_architecture_is_refused_before_the_push() {
    let dir = hello();
    let name = unique("a64f");
    let family = format!("{name}-dev");
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM --platform=linux/amd64 {}\nCMD [\"true\"]\n",
            env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE")
        ),
    )
    .unwrap();
    let mut cmd = cf_arch(dir.path(), &name, "arm64", &["push"]);
    cmd.env("CARGO_FARGATE_BUILDER", "docker");
    let o = cmd.output().unwrap();
    let e = one_line_error(
        &o,
        "Dockerfile built a linux/amd64 image, but the task runs on ARM64",
    );
    assert!(e.contains("CARGO_FARGATE_ARCHITECTURE"), "{e}");
    assert!(registry_tags(&family).is_empty(), "nothing pushed");
}

#[test]
fn run_local_of_an_arm64_build_says_it_emulates_and_shows_the_containers_output() {
    let dir = hello();
    let name = unique("a64l");
    let o = cf_arch(
        dir.path(),
        &name,
        "arm64",
        &["run", "--local", "-e", "HELLO_EXIT_CODE=4", "--", "local"],
    )
    .output()
    .unwrap();
    let (out, err) = (stdout(&o), stderr(&o));
    assert_eq!(o.status.code(), Some(4), "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains(r#"Hello from cargo-fargate! args=["local"]"#),
        "{out}"
    );
    assert!(
        err.contains("Emulating linux/arm64 with /") && err.contains("(binfmt_misc)"),
        "{err}"
    );
}
