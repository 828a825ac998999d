//! Real workspace layouts on the bench: `tests/fixtures/outside` is a library workspace whose
//! `examples/` is a workspace of its own, its member depending by path on a crate outside that root
//! (`../../core`), which depends on a third path crate (`../extra`) and inherits fields from the
//! library's workspace manifest. Each builder (docker, host, codebuild) builds and runs it; a one-line
//! change outside the workspace root makes a new content tag and the next deploy runs the new code,
//! as the task's own output shows.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// The fixture, copied: the examples' workspace root is `examples/` inside it.
fn layout() -> tempfile::TempDir {
    fixture("outside")
}

fn examples(dir: &tempfile::TempDir) -> std::path::PathBuf {
    dir.path().join("examples")
}

/// `cargo fargate <args>` with `builder`, project `name`, stage dev, in the tests' own VPC.
fn cf(dir: &Path, name: &str, builder: &str, args: &[&str]) -> Command {
    let mut cmd = if builder == "host" {
        host_bench_command(dir, &format!("{name}-dev"), args)
    } else {
        bench_command(dir, &format!("{name}-dev"), args)
    };
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_BUILDER", builder)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg);
    cmd
}

fn show(o: &Output) -> String {
    format!("stdout:\n{}\nstderr:\n{}", stdout(o), stderr(o))
}

/// The content tag (`dev-` and 16 hex digits) a command's output names.
fn content_tag(text: &str) -> String {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .find(|w| {
            w.len() == 20 && w.starts_with("dev-") && w[4..].chars().all(|c| c.is_ascii_hexdigit())
        })
        .unwrap_or_else(|| panic!("no content tag in:\n{text}"))
        .to_string()
}

/// Replaces `from` by `to` in the file at `path` (one line of a crate's source).
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// Deploys, checks the task printed `expect` and exited 0; the content tag deployed.
fn deploy(dir: &Path, name: &str, builder: &str, expect: &str) -> String {
    let o = cf(dir, name, builder, &["deploy"]).output().unwrap();
    let out = ok(&o);
    assert!(
        out.contains(&format!("server says {expect}")),
        "the task did not print `{expect}`:\n{}",
        show(&o)
    );
    content_tag(&format!("{out}\n{}", stderr(&o)))
}

/// Deploy, change one line of `file` (outside the workspace root), deploy again: a new content tag,
/// and the task prints the new code's words.
fn builds_runs_and_rebuilds_on_an_outside_change(builder: &str, file: &str, from: &str, to: &str) {
    let dir = layout();
    let ws = examples(&dir);
    let name = unique(&format!("ws{}", &builder[..1]));
    let first = deploy(&ws, &name, builder, "core-v1 with extra-v1");

    // Nothing changed: the same tag, and nothing rebuilt.
    let o = cf(&ws, &name, builder, &["push"]).output().unwrap();
    let out = format!("{}\n{}", ok(&o), stderr(&o));
    assert!(out.contains("up to date"), "{}", show(&o));
    assert_eq!(content_tag(&out), first);

    edit(&dir.path().join(file), from, to);
    let expect = "core-v1 with extra-v1".replace(from.trim_matches('"'), to.trim_matches('"'));
    let second = deploy(&ws, &name, builder, &expect);
    assert_ne!(
        first, second,
        "a change outside the workspace root kept the content tag"
    );
}

#[test]
fn docker_builds_a_member_with_path_dependencies_outside_its_workspace_root() {
    builds_runs_and_rebuilds_on_an_outside_change(
        "docker",
        "core/src/lib.rs",
        "\"core-v1\"",
        "\"core-v2\"",
    );
}

#[test]
fn host_rebuilds_when_a_transitive_path_dependency_outside_the_root_changes() {
    builds_runs_and_rebuilds_on_an_outside_change(
        "host",
        "extra/src/lib.rs",
        "\"extra-v1\"",
        "\"extra-v2\"",
    );
}

#[test]
fn codebuild_builds_the_same_tree_from_its_source_archive() {
    builds_runs_and_rebuilds_on_an_outside_change(
        "codebuild",
        "core/src/lib.rs",
        "\"core-v1\"",
        "\"core-v3\"",
    );
}

#[test]
fn package_lists_the_outside_files_and_is_deterministic() {
    let dir = layout();
    let ws = examples(&dir);
    let out_zip = dir.path().join("src.zip");
    let args = [
        "package",
        "-o",
        out_zip.to_str().unwrap(),
        "--message-format",
        "json",
    ];
    let first = json_result(&cargo_fargate(&ws, &args));
    let outside = first["outside"].as_array().unwrap();
    let by_name = |n: &str| {
        outside
            .iter()
            .find(|o| o["name"] == n)
            .unwrap_or_else(|| panic!("{n} not in {first}"))
    };
    assert_eq!(by_name("outside-core")["path"], "../core");
    assert_eq!(
        by_name("outside-core")["files"],
        serde_json::json!(["core/Cargo.toml", "core/src/lib.rs"])
    );
    assert_eq!(by_name("outside-extra")["path"], "../extra");
    assert_eq!(outside.len(), 2, "{first}");

    // The archive: the workspace at its relative place, the outside crates and the manifest they
    // inherit from; never the library's crate no example needs.
    let zip = std::process::Command::new("unzip")
        .args(["-Z1", out_zip.to_str().unwrap()])
        .output()
        .unwrap();
    let names: Vec<String> = stdout(&zip).lines().map(str::to_string).collect();
    assert_eq!(
        names,
        [
            "Cargo.toml",
            "core/Cargo.toml",
            "core/src/lib.rs",
            "examples/Cargo.lock",
            "examples/Cargo.toml",
            "examples/server/Cargo.toml",
            "examples/server/src/main.rs",
            "extra/Cargo.toml",
            "extra/src/lib.rs",
        ]
    );

    // The same tree gives the same bytes; a change outside gives others.
    let again = json_result(&cargo_fargate(&ws, &args));
    assert_eq!(again["sha256"], first["sha256"]);
    assert_eq!(again["unchanged"], true);
    edit(&dir.path().join("extra/src/lib.rs"), "extra-v1", "extra-v9");
    let changed = json_result(&cargo_fargate(&ws, &args));
    assert_ne!(changed["sha256"], first["sha256"]);

    // The human report names the outside crates once, and a left-out file once.
    std::fs::write(dir.path().join("core/.env"), "TOKEN=1\n").unwrap();
    let o = cargo_fargate(&ws, &["package", "-o", out_zip.to_str().unwrap()]);
    let out = ok(&o);
    assert!(
        out.contains("outside  outside-core at ../core (2 files"),
        "{}",
        show(&o)
    );
    let all = format!("{out}{}", stderr(&o));
    assert_eq!(all.matches("left out core/.env").count(), 1, "{}", show(&o));
}

#[test]
fn the_plan_shows_the_path_dependencies_outside_the_root() {
    let dir = layout();
    let ws = examples(&dir);
    let name = unique("wsp");
    let o = cf(&ws, &name, "docker", &["deploy", "--dry-run"])
        .output()
        .unwrap();
    let out = ok(&o);
    assert!(
        out.contains("outside-core at ../core") && out.contains("outside-extra at ../extra"),
        "{}",
        show(&o)
    );
}

/// `config` lines `key = value  # origin`, by key.
fn config_lines(dir: &Path, args: &[&str]) -> std::collections::BTreeMap<String, String> {
    let o = cargo_fargate(dir, args);
    ok(&o)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (kv, origin) = l.split_once(" # ")?;
            Some((kv.trim().to_string(), origin.trim().to_string()))
        })
        .collect()
}

#[test]
fn init_in_a_member_keeps_the_workspace_defaults_and_tables_merge_with_their_origins() {
    let dir = fixture("workspace");
    let root = dir.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&root).unwrap();
    std::fs::write(
        &root,
        format!("{text}\n[workspace.metadata.fargate.environment]\nAPP_ENV = \"staging\"\nLEGACY = \"1\"\n"),
    )
    .unwrap();
    let app = dir.path().join("app");
    let manifest = app.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let bare = &text[..text.find("[package.metadata.fargate]").unwrap()];
    std::fs::write(&manifest, bare).unwrap();

    let o = cargo_fargate(&app, &["init"]);
    assert!(
        ok(&o).contains("added [package.metadata.fargate]"),
        "{}",
        show(&o)
    );
    let written = std::fs::read_to_string(&manifest).unwrap();
    assert!(
        written.contains("# architecture = \"arm64\"  # from [workspace.metadata.fargate] (")
            && written.contains("# cpu = 2048  # from [workspace.metadata.fargate.stages.prod] (")
            && !written.contains("\ncpu = "),
        "{written}"
    );

    // A member's table adds to the workspace's; `{ unset = true }` removes an inherited entry.
    std::fs::write(
        &manifest,
        written.replace(
            "[package.metadata.fargate.environment]\n",
            "[package.metadata.fargate.environment]\nLEGACY = { unset = true }\n",
        ),
    )
    .unwrap();
    let lines = config_lines(&app, &["config", "--stage", "prod"]);
    let origin = |kv: &str| {
        lines
            .get(kv)
            .unwrap_or_else(|| panic!("no `{kv}` in {lines:#?}"))
            .clone()
    };
    assert!(origin("architecture = \"arm64\"").ends_with("[workspace.metadata.fargate]"));
    assert!(origin("cpu = 2048").ends_with("[workspace.metadata.fargate.stages.prod]"));
    assert!(origin("memory = 4096").ends_with("[workspace.metadata.fargate.stages.prod]"));
    assert!(origin("environment.APP_ENV = \"staging\"").ends_with("[workspace.metadata.fargate]"));
    let rust_log = origin("environment.RUST_LOG = \"info\"");
    assert!(
        rust_log.contains("Cargo.toml:") && rust_log.ends_with("[package.metadata.fargate]"),
        "{rust_log}"
    );
    assert!(!lines.keys().any(|k| k.contains("LEGACY")), "{lines:#?}");
}

#[test]
fn init_workspace_writes_the_defaults_at_the_root() {
    let dir = project("wsinit", "");
    // `project` writes a package section: start from the manifest without it.
    let manifest = dir.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        &text[..text.find("[package.metadata.fargate]").unwrap()],
    )
    .unwrap();
    let o = cargo_fargate(dir.path(), &["init", "--workspace"]);
    assert!(
        ok(&o).contains("added [workspace.metadata.fargate]"),
        "{}",
        show(&o)
    );
    let again = cargo_fargate(dir.path(), &["init", "--workspace"]);
    assert!(
        one_line_error(&again, "already exists").contains("--force"),
        "{}",
        show(&again)
    );
    let lines = config_lines(dir.path(), &["config", "--stage", "prod"]);
    assert!(
        lines["cpu = 512"].ends_with("[workspace.metadata.fargate.stages.prod]"),
        "{lines:#?}"
    );
}

#[test]
fn the_config_header_lists_the_same_stages_with_or_without_stage_dev() {
    let dir = fixture("workspace");
    let app = dir.path().join("app");
    let header = |args: &[&str]| {
        ok(&cargo_fargate(&app, args))
            .lines()
            .next()
            .unwrap()
            .to_string()
    };
    let plain = header(&["config"]);
    assert_eq!(plain, header(&["config", "--stage", "dev"]));
    assert!(plain.contains("(stages: dev, prod)"), "{plain}");
}
