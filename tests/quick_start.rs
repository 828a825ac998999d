//! The quick start works as written: every `cargo fargate …` line of the README's quick start (the
//! book's is the same block) runs, in order, on the bench, in a fresh project — `examples/hello`
//! without its `[package.metadata.fargate]` — and succeeds; the runs print the container's own
//! greeting. Only what the bench needs is added: its endpoints, the tests' VPC and unique names.

mod common;

use common::*;
use std::path::Path;
use std::process::Output;

/// The fenced `sh` block under `## Quick start` / `# Quick start` of a markdown file.
fn quick_start_block(file: &str) -> String {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    let section = text
        .split("# Quick start\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{file}: no Quick start section"));
    let block = section
        .split("```sh\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{file}: the Quick start has no sh block"));
    block.split("```").next().unwrap().to_string()
}

/// The block's `cargo fargate` commands, without comments: the words after `cargo fargate`.
fn commands(block: &str) -> Vec<Vec<String>> {
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("cargo fargate "))
        .map(|l| {
            let l = l.split(" #").next().unwrap();
            l.split_whitespace().map(str::to_string).collect()
        })
        .collect()
}

/// A project with no cargo-fargate configuration yet: `examples/hello`'s package and workspace only.
fn fresh_project() -> tempfile::TempDir {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let manifest = dir.path().join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let bare = text.split("[package.metadata.fargate]").next().unwrap();
    std::fs::write(&manifest, bare).unwrap();
    dir
}

/// `cargo fargate <args>` on the bench as project `name`: resources named as the stage's defaults.
fn cf(dir: &Path, name: &str, args: &[String]) -> Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cmd = bench_command(dir, "unused", &args);
    cmd.env_remove("CARGO_FARGATE_REPOSITORY")
        .env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg);
    cmd.output().unwrap()
}

#[test]
fn the_book_and_the_readme_give_the_same_quick_start() {
    let readme = quick_start_block("README.md");
    let book = quick_start_block("docs/src/quick-start.md");
    assert_eq!(readme, book, "README.md and docs/src/quick-start.md");
    assert!(commands(&readme).len() >= 5, "{readme}");
}

#[test]
fn the_quick_start_runs_as_written() {
    let dir = fresh_project();
    let name = unique("qs");
    let mut ran = Vec::new();
    for args in commands(&quick_start_block("README.md")) {
        let line = format!("cargo fargate {}", args.join(" "));
        let o = cf(dir.path(), &name, &args);
        assert!(
            o.status.success(),
            "`{line}` exited {:?}\nstdout:\n{}\nstderr:\n{}",
            o.status.code(),
            stdout(&o),
            stderr(&o)
        );
        ran.push((line, stdout(&o)));
    }
    // What the container printed reaches the user from the local run and from the deploy.
    for wanted in ["cargo fargate run --local", "cargo fargate deploy"] {
        let (line, out) = ran.iter().find(|(l, _)| l == wanted).unwrap();
        assert!(out.contains("Hello! args=[]"), "`{line}`:\n{out}");
    }
    for stage in ["dev", "prod"] {
        let args = ["teardown", "--stage", stage, "--yes", "--force"].map(String::from);
        let o = cf(dir.path(), &name, &args);
        assert!(o.status.success(), "teardown {stage}: {}", stderr(&o));
    }
}
