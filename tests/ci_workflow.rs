//! The CI files: `init --ci github|gitlab` writes the stage's release workflow, which passes the
//! GitHub Actions and GitLab CI schemas (check-jsonschema, in the bench venv), and refuses to
//! overwrite one without --force; the project's own workflows (.github/workflows) pass too.

mod common;

use std::path::Path;

use common::*;

/// check-jsonschema's verdict on `files` against one of its built-in schemas.
fn schema_check(schema: &str, files: &[&Path]) {
    let bin = Path::new(&env_var("BENCH_VENV")).join("bin/check-jsonschema");
    let o = std::process::Command::new(bin)
        .args(["--builtin-schema", schema])
        .args(files)
        .output()
        .expect("check-jsonschema runs (scripts/bench.sh installs it in the venv)");
    assert!(o.status.success(), "{schema}: {}{}", stdout(&o), stderr(&o));
}

#[test]
fn init_ci_writes_workflows_that_pass_the_schemas_and_keeps_an_existing_one() {
    let dir = stage_fixture();
    let out = ok(&cargo_fargate(
        dir.path(),
        &["init", "--ci", "github", "--stage", "prod"],
    ));
    assert!(
        out.contains("cargo fargate setup --stage prod --ci github"),
        "{out}"
    );
    let github = dir.path().join(".github/workflows/cargo-fargate-prod.yml");
    let text = std::fs::read_to_string(&github).unwrap();
    for needle in [
        "id-token: write",
        "group: cargo-fargate-prod",
        "role/hello-prod-deployer",
        "cargo binstall --no-confirm --locked cargo-fargate",
        "cargo fargate doctor --stage prod",
        "cargo fargate deploy --stage prod --dry-run",
        "cargo fargate diff --stage prod",
    ] {
        assert!(text.contains(needle), "`{needle}` not in:\n{text}");
    }
    schema_check("vendor.github-workflows", &[&github]);

    ok(&cargo_fargate(
        dir.path(),
        &["init", "--ci", "gitlab", "--branch", "trunk"],
    ));
    let gitlab = dir.path().join(".gitlab-ci.yml");
    let text = std::fs::read_to_string(&gitlab).unwrap();
    assert!(
        text.contains("resource_group: cargo-fargate-dev") && text.contains("\"trunk\""),
        "{text}"
    );
    schema_check("vendor.gitlab-ci", &[&gitlab]);

    // An existing workflow is kept: one line, nothing written; --force replaces it.
    std::fs::write(&gitlab, "# mine\n").unwrap();
    one_line_error(
        &cargo_fargate(dir.path(), &["init", "--ci", "gitlab"]),
        ".gitlab-ci.yml already exists; nothing was written",
    );
    assert_eq!(std::fs::read_to_string(&gitlab).unwrap(), "# mine\n");
    ok(&cargo_fargate(
        dir.path(),
        &["init", "--ci", "gitlab", "--force"],
    ));
    assert!(std::fs::read_to_string(&gitlab)
        .unwrap()
        .contains("cargo fargate deploy"));

    one_line_error(
        &cargo_fargate(dir.path(), &["init", "--ci", "jenkins"]),
        "unknown CI `jenkins`",
    );
}

#[test]
fn the_projects_own_workflows_pass_the_schema() {
    let dir = repo().join(".github/workflows");
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    assert!(!files.is_empty(), "no workflows in {}", dir.display());
    let release = std::fs::read_to_string(dir.join("release.yml")).unwrap();
    for target in [
        "x86_64-unknown-linux-gnu",
        "aarch64-unknown-linux-gnu",
        "x86_64-apple-darwin",
        "aarch64-apple-darwin",
    ] {
        assert!(release.contains(&format!("target: {target}")), "{target}");
    }
    // Archived as [package.metadata.binstall] says: cargo-fargate-<target>.tar.gz, binary at the root.
    let manifest = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    assert!(
        manifest.contains("{ name }-{ target }{ archive-suffix }")
            && manifest.contains("pkg-fmt = \"tgz\"")
    );
    assert!(
        release.contains("cargo-fargate-${{ matrix.target }}.tar.gz\""),
        "{release}"
    );
    assert!(
        release.contains("-czf \"$archive\" cargo-fargate"),
        "{release}"
    );
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    schema_check("vendor.github-workflows", &refs);
}

/// Under GitHub Actions: a configuration error is an annotation on Cargo.toml's line, a deploy's
/// build and task logs are in groups, and its summary (digest, revision, exit code, logs) is
/// appended to the job summary. Plain text elsewhere.
#[test]
fn github_actions_get_annotations_groups_and_a_job_summary() {
    let name = unique("gha");
    let dir = project(&name, "cpu = 3\n");
    let bad = command(dir.path(), &["deploy", "--dry-run"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_WORKSPACE", dir.path())
        .output()
        .unwrap();
    let e = one_line_error(&bad, "cpu");
    assert!(e.contains("Cargo.toml:9"), "{e}");
    assert!(
        stdout(&bad).starts_with("::error file=Cargo.toml,line=9,title=cargo fargate::"),
        "{}",
        stdout(&bad)
    );
    // Elsewhere: no workflow commands.
    let plain = command(dir.path(), &["deploy", "--dry-run"])
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert!(!stdout(&plain).contains("::error"), "{}", stdout(&plain));

    let dir = stage_fixture();
    let summary = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(summary.path(), "# earlier step\n").unwrap();
    let mut cmd = bench_command(
        dir.path(),
        &format!("{name}-dev"),
        &["deploy", "--stage", "dev"],
    );
    cmd.env("CARGO_FARGATE_NAME", &name)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg)
        .env("CARGO_FARGATE_EXECUTION_ROLE", execution_role())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", summary.path());
    let o = cmd.output().unwrap();
    let out = ok(&o);
    let start = out
        .find("::group::Task of")
        .unwrap_or_else(|| panic!("{out}"));
    let end = out[start..].find("::endgroup::").unwrap() + start;
    assert!(
        out[start..end].contains("Hello"),
        "the task's output is in its group:\n{out}"
    );
    assert!(out.contains("::group::Build and push"), "{out}");
    let md = std::fs::read_to_string(summary.path()).unwrap();
    assert!(
        md.starts_with("# earlier step\n"),
        "appended, not replaced:\n{md}"
    );
    assert!(md.contains("| digest | `sha256:"), "{md}");
    assert!(md.contains("| exit code | `0` |"), "{md}");
    assert!(
        md.contains(&format!("| log group | `/ecs/{name}-dev` |")),
        "{md}"
    );
}
