//! The built binary on fixture projects: configuration, init, package, and bad input.

mod common;

use common::*;
use std::path::Path;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

#[test]
fn config_shows_stage_values_and_their_sources() {
    let hello = repo().join("examples/hello");
    let out = ok(&cargo_fargate(&hello, &["config"]));
    assert!(out.contains("cluster = \"hello-dev\""), "{out}");
    assert!(out.contains("memory = 512"), "{out}");
    let prod = ok(&cargo_fargate(&hello, &["config", "--stage", "prod"]));
    let cpu = prod.lines().find(|l| l.starts_with("cpu = ")).unwrap();
    assert!(
        cpu.starts_with("cpu = 512")
            && cpu.contains("Cargo.toml:22 [package.metadata.fargate.stages.prod]"),
        "{cpu}"
    );
    assert!(
        prod.contains("GREETING = \"Hello from production\""),
        "{prod}"
    );
    assert!(prod.contains("cluster = \"hello-prod\""), "{prod}");
    let region = prod.lines().find(|l| l.contains(" region ")).unwrap();
    assert!(region.contains("unset"), "{region}");
}

#[test]
fn config_precedence_flag_over_env_over_stage() {
    let dir = fixture("single");
    let o = command(
        dir.path(),
        &["config", "--stage", "prod", "--message-format", "json"],
    )
    .env("CARGO_FARGATE_MEMORY", "3072")
    .output()
    .unwrap();
    let r = json_result(&o);
    assert_eq!(r["config"]["cpu"], 1024);
    assert_eq!(r["config"]["memory"], 3072);
    let memory = r["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "memory")
        .unwrap();
    assert_eq!(memory["source"], "env CARGO_FARGATE_MEMORY");
    let o = command(
        dir.path(),
        &[
            "config",
            "--region",
            "ap-south-1",
            "--message-format",
            "json",
        ],
    )
    .env("CARGO_FARGATE_REGION", "us-east-2")
    .output()
    .unwrap();
    assert_eq!(json_result(&o)["config"]["region"], "ap-south-1");
    // The stage can come from the environment too.
    let o = command(dir.path(), &["config", "--message-format", "json"])
        .env("CARGO_FARGATE_STAGE", "prod")
        .output()
        .unwrap();
    assert_eq!(json_result(&o)["config"]["cluster"], "single-prod");
}

#[test]
fn workspace_defaults_apply_to_members() {
    let dir = fixture("workspace");
    let o = cargo_fargate(
        dir.path(),
        &[
            "config",
            "-p",
            "app",
            "--stage",
            "prod",
            "--message-format",
            "json",
        ],
    );
    let c = &json_result(&o)["config"];
    assert_eq!(c["architecture"], "arm64");
    assert_eq!(c["cpu"], 2048);
    assert_eq!(c["memory"], 8192);
    assert_eq!(c["tags"]["team"], "platform");
    // From the member's directory no -p is needed.
    let o = cargo_fargate(
        &dir.path().join("app"),
        &["config", "--message-format", "json"],
    );
    assert_eq!(json_result(&o)["config"]["project"], "app");
    // From the root of a workspace of two, -p is.
    one_line_error(&cargo_fargate(dir.path(), &["config"]), "pick one with -p");
}

#[test]
fn package_archives_the_workspace_with_path_deps_and_is_deterministic() {
    let dir = fixture("workspace");
    write(dir.path(), ".env", "SECRET=1\n");
    write(dir.path(), "app/keys/tls.key", "k\n");
    write(dir.path(), ".gitignore", "*.log\n");
    write(dir.path(), "app/debug.log", "noise\n");
    write(dir.path(), "target/debug/app", "bin\n");
    let o = cargo_fargate(
        &dir.path().join("app"),
        &["package", "--message-format", "json"],
    );
    let r = json_result(&o);
    let path = Path::new(r["path"].as_str().unwrap()).to_path_buf();
    assert!(path.ends_with("target/fargate/app-source.zip"), "{path:?}");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().to_string()).collect();
    assert!(names.contains(&"util/src/lib.rs".to_string()), "{names:?}");
    assert!(names.contains(&"app/src/main.rs".to_string()));
    for never in [
        ".env",
        "app/keys/tls.key",
        "app/debug.log",
        "target/debug/app",
    ] {
        assert!(!names.contains(&never.to_string()), "{never} in {names:?}");
    }
    let left: Vec<&str> = r["left_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert_eq!(left, [".env", "app/keys/tls.key"]);
    assert!(zip.by_name("Cargo.toml").is_ok());
    let sha = r["sha256"].as_str().unwrap().to_string();

    let again = json_result(&cargo_fargate(
        &dir.path().join("app"),
        &["package", "--message-format", "json"],
    ));
    assert_eq!(again["sha256"], sha.as_str());
    assert_eq!(again["unchanged"], true);

    // A copy of the same tree elsewhere gives the same bytes.
    let other = copy_fixture(dir.path());
    let elsewhere = json_result(&cargo_fargate(
        &other.path().join("app"),
        &["package", "--message-format", "json", "-o", "../x.zip"],
    ));
    assert_eq!(elsewhere["sha256"], sha.as_str());
}

#[test]
fn package_human_output_lists_what_was_left_out() {
    let dir = fixture("single");
    write(dir.path(), ".env.production", "SECRET=1\n");
    let o = cargo_fargate(dir.path(), &["package", "-o", "out/src.zip"]);
    let out = ok(&o);
    assert!(
        out.contains("left out .env.production (likely secret"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("sha256   ") && l.len() == 9 + 64),
        "{out}"
    );
    assert!(dir.path().join("out/src.zip").is_file());
    let o = cargo_fargate(
        dir.path(),
        &["package", "-o", "out/src.zip", "--allow", ".env.*"],
    );
    assert!(!ok(&o).contains("left out"));
}

#[test]
fn init_adds_a_section_that_config_reads_and_refuses_twice() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = "# keep this comment\n[package]\nname = \"fresh\" # and this\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n";
    write(dir.path(), "Cargo.toml", manifest);
    write(dir.path(), "src/main.rs", "fn main() {}\n");
    let out = ok(&cargo_fargate(dir.path(), &["init"]));
    assert!(out.contains("added [package.metadata.fargate]"), "{out}");
    let text = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
    assert!(text.starts_with(manifest.trim_end()), "{text}");
    assert!(dir.path().join(".dockerignore").is_file());
    let prod = json_result(&cargo_fargate(
        dir.path(),
        &["config", "--stage", "prod", "--message-format", "json"],
    ));
    assert_eq!(prod["config"]["cpu"], 512);
    let e = one_line_error(&cargo_fargate(dir.path(), &["init"]), "already exists");
    assert!(e.contains("Cargo.toml:") && e.contains("--force"), "{e}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap(),
        text,
        "a refused init changes nothing"
    );
    ok(&cargo_fargate(dir.path(), &["init", "--force"]));
}

#[test]
fn bad_input_gets_one_clear_line() {
    let dir = fixture("single");
    let manifest = std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap();
    let set = |text: &str| std::fs::write(dir.path().join("Cargo.toml"), text).unwrap();

    set(&manifest.replace("cpu = 256", "cpu = = 256"));
    one_line_error(
        &cargo_fargate(dir.path(), &["config"]),
        "Cargo.toml:8: invalid TOML at column",
    );

    set(&manifest.replace("cpu = 256", "cpus = 256"));
    one_line_error(
        &cargo_fargate(dir.path(), &["config"]),
        "Cargo.toml:8: `package.metadata.fargate.cpus`: unknown key; did you mean `cpu`?",
    );

    set(&manifest.replace("memory = 2048", "memory = 1536"));
    one_line_error(&cargo_fargate(dir.path(), &["config", "--stage", "prod"]), "Cargo.toml:15: `package.metadata.fargate.stages.prod.memory`: 1536 MiB is not valid with cpu 1024");

    set(&manifest);
    one_line_error(
        &cargo_fargate(dir.path(), &["config", "--stage", "staging"]),
        "flag --stage: unknown stage `staging`",
    );
    // Where the stage came from is clap's to say: the environment, unless the flag is given
    // (in any of its spellings) — then the flag wins.
    let o = command(dir.path(), &["config"])
        .env("CARGO_FARGATE_STAGE", "staging")
        .output()
        .unwrap();
    one_line_error(&o, "env CARGO_FARGATE_STAGE: unknown stage `staging`");
    let o = command(dir.path(), &["config", "--stage=staging"])
        .env("CARGO_FARGATE_STAGE", "staging")
        .output()
        .unwrap();
    one_line_error(&o, "flag --stage: unknown stage `staging`");
    one_line_error(
        &cargo_fargate(dir.path(), &["package", "--bin", "nope"]),
        "package `single` has no binary `nope`",
    );

    let empty = tempfile::tempdir().unwrap();
    one_line_error(
        &cargo_fargate(empty.path(), &["config"]),
        "no Cargo.toml in",
    );
    one_line_error(
        &cargo_fargate(
            dir.path(),
            &["config", "--manifest-path", "missing/Cargo.toml"],
        ),
        "no such manifest",
    );

    let lib = fixture("libonly");
    one_line_error(
        &cargo_fargate(lib.path(), &["package"]),
        "package `libonly` has no binary target",
    );
    assert!(
        !lib.path().join("target/fargate").exists(),
        "nothing half-created"
    );
}

#[test]
fn json_errors_are_machine_readable() {
    let dir = fixture("single");
    let o = cargo_fargate(
        dir.path(),
        &["config", "--stage", "nope", "--message-format", "json"],
    );
    assert!(!o.status.success());
    let line = stdout(&o).lines().last().unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["type"], "error");
    assert!(v["message"].as_str().unwrap().contains("unknown stage"));
}

/// A missing required argument: the JSON error names it (clap lists it on the line after its
/// first), and stderr keeps clap's usage text.
#[test]
fn a_missing_argument_is_named_in_the_json_error() {
    let dir = fixture("single");
    for (args, missing) in [
        (
            &["run", "--message-format", "json"][..],
            "--image <URI@sha256:DIGEST>",
        ),
        (&["scale", "--message-format", "json"][..], "<N>"),
    ] {
        let o = cargo_fargate(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["exit_code"], 2, "{v}");
        assert_eq!(
            v["message"],
            format!("the following required arguments were not provided: {missing}"),
            "{v}"
        );
        let err = stderr(&o);
        assert!(
            err.starts_with("error: the following required arguments"),
            "{err}"
        );
        assert!(err.contains("\nUsage: cargo fargate "), "{err}");
    }
}

/// `status` of a task stage names the stage and its family, and says when none of its tasks runs
/// (before its cluster exists, and after).
#[test]
fn status_of_a_task_stage_names_it_and_says_when_none_runs() {
    let env = bench();
    let dir = fixture("single");
    let cluster = unique("st");
    let status = || {
        let o = command(dir.path(), &["status"])
            .envs(env.clone())
            .env("CARGO_FARGATE_CLUSTER", &cluster)
            .output()
            .unwrap();
        ok(&o)
    };
    let out = status();
    assert!(
        out.starts_with(&format!(
            "tasks of stage dev (single-dev) in cluster {cluster}\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("no task of stage dev is running (the cluster does not exist yet)"),
        "{out}"
    );
    // In the fixture's region (`region = "eu-west-1"`), not the bench's default one.
    let region = ["--region", "eu-west-1"];
    aws(&[
        &["ecs", "create-cluster", "--cluster-name", &cluster][..],
        &region,
    ]
    .concat());
    let out = status();
    assert!(
        out.contains(
            "no task of stage dev is running; `cargo fargate ps --all` lists the stopped ones"
        ),
        "{out}"
    );
    aws(&[
        &["ecs", "delete-cluster", "--cluster", &cluster][..],
        &region,
    ]
    .concat());
}

#[test]
fn doctor_reports_the_identity_from_the_bench() {
    let env = bench();
    // Other tests make VPCs of their own in the shared bench account: say which subnet to use, as a
    // user of an account with several VPCs must.
    let n = net();
    let o = command(
        &repo().join("examples/hello"),
        &["doctor", "--message-format", "json"],
    )
    .envs(env)
    .env("CARGO_FARGATE_SUBNETS", &n.subnet)
    .env("CARGO_FARGATE_SECURITY_GROUPS", &n.sg)
    .output()
    .unwrap();
    let r = json_result(&o);
    assert_eq!(r["identity"]["account"], "123456789012");
    assert!(r["identity"]["endpoint"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1"));
    // Without a region anywhere, one clear line.
    let o = command(&repo().join("examples/hello"), &["doctor"])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .output()
        .unwrap();
    one_line_error(&o, "no AWS region is set");
}
