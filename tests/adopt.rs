//! `cargo fargate import copilot`: a corpus of Copilot manifests written from Copilot's published
//! manifest specification (tests/fixtures/copilot-*), each with the TOML it must give; the real
//! binary imports each (dry run, then a real write into a copy) and `config` accepts every stage.

mod common;

use std::path::Path;

use common::*;

/// The dry run's JSON result; nothing may be written.
fn dry_run(dir: &Path) -> serde_json::Value {
    let before = std::fs::read(dir.join("Cargo.toml")).unwrap();
    let o = cargo_fargate(
        dir,
        &["--message-format", "json", "import", "copilot", "--dry-run"],
    );
    let result = json_result(&o);
    assert_eq!(
        std::fs::read(dir.join("Cargo.toml")).unwrap(),
        before,
        "--dry-run wrote Cargo.toml"
    );
    result
}

/// `not_carried` notes as `at field` strings, for asserting on.
fn skipped(result: &serde_json::Value) -> Vec<String> {
    result["report"]["not_carried"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            format!(
                "{} {}",
                n["at"].as_str().unwrap(),
                n["field"].as_str().unwrap()
            )
        })
        .collect()
}

fn assert_skipped(result: &serde_json::Value, at: &str, field: &str) {
    let all = skipped(result);
    assert!(
        all.contains(&format!("{at} {field}")),
        "`{field}` at {at} not reported; reported: {all:#?}"
    );
}

/// The expected TOML of each package's section: `expected.toml`, or `expected-<package>.toml`
/// when the import writes several.
fn expected(fixture: &str, package: &str, sections: usize) -> String {
    let name = match sections {
        1 => "expected.toml".to_string(),
        _ => format!("expected-{package}.toml"),
    };
    std::fs::read_to_string(repo().join("tests/fixtures").join(fixture).join(name)).unwrap()
}

/// Imports for real, checks the rest of each Cargo.toml is kept byte for byte, then `config`
/// accepts every stage of every package written.
fn import_and_check(fixture: &str) -> Vec<String> {
    let dir = common::fixture(fixture);
    let result = dry_run(dir.path());
    let sections = result["sections"].as_array().unwrap().clone();
    let mut before = Vec::new();
    for s in &sections {
        let package = s["package"].as_str().unwrap();
        let want = expected(fixture, package, sections.len());
        assert_eq!(
            s["toml"].as_str().unwrap(),
            want,
            "{fixture}: {package}'s TOML differs from the expected file"
        );
        let manifest = dir.path().join(s["manifest"].as_str().unwrap());
        before.push((
            manifest.clone(),
            std::fs::read_to_string(&manifest).unwrap(),
            want,
        ));
    }

    let out = ok(&cargo_fargate(dir.path(), &["import", "copilot"]));
    assert!(out.contains("next: cargo fargate config"), "{out}");
    let mut written = Vec::new();
    for ((manifest, old, want), s) in before.iter().zip(&sections) {
        let after = std::fs::read_to_string(manifest).unwrap();
        assert!(
            after.starts_with(old.trim_end()),
            "the manifest's own text changed:\n{after}"
        );
        assert!(
            after.contains(want.trim()),
            "the written section differs:\n{after}"
        );
        let package = s["package"].as_str().unwrap();
        for stage in s["stages"].as_array().unwrap() {
            let o = cargo_fargate(
                dir.path(),
                &["config", "-p", package, "--stage", stage.as_str().unwrap()],
            );
            ok(&o);
        }
        written.push(after);
    }
    // A second import refuses to overwrite what the first wrote, in a dry run too; --force replaces.
    one_line_error(
        &cargo_fargate(dir.path(), &["import", "copilot"]),
        "already exists",
    );
    let dry = cargo_fargate(dir.path(), &["import", "copilot", "--dry-run"]);
    one_line_error(&dry, "already exists");
    ok(&cargo_fargate(
        dir.path(),
        &["import", "copilot", "--force"],
    ));
    for ((manifest, _, want), again) in before.iter().zip(&written) {
        let after = std::fs::read_to_string(manifest).unwrap();
        assert_eq!(&after, again, "--force must give the same file");
        assert_eq!(after.matches(want.trim()).count(), 1);
    }
    written
}

#[test]
fn a_web_service_with_environments_addons_and_an_imported_vpc() {
    let dir = common::fixture("copilot-web");
    let r = dry_run(dir.path());
    let m = "copilot/api/manifest.yml";
    for (line, field) in [
        (8, "image.healthcheck"),
        (16, "http.healthcheck.healthy_threshold"),
        (17, "http.healthcheck.interval"),
        (19, "http.alias"),
        (26, "count.cpu_percentage"),
        (36, "network.connect"),
        (50, "secrets.GITHUB_TOKEN"),
        (44, "variables.BUILD_TAG"),
        (54, "logging"),
        // The prod override's own line.
        (68, "count.cpu_percentage"),
    ] {
        assert_skipped(&r, &format!("{m}:{line}"), field);
    }
    let addons = "copilot/api/addons/policies.yml";
    assert_skipped(
        &r,
        &format!("{addons}:20"),
        "Resources.OrdersTableAccessPolicy",
    );
    assert_skipped(&r, &format!("{addons}:29"), "Resources.OrdersTable");
    assert_skipped(&r, &format!("{addons}:36"), "Outputs.OrdersTableName");
    assert_skipped(
        &r,
        "copilot/environments/test/manifest.yml:15",
        "observability",
    );
    assert_skipped(&r, "copilot/environments/prod/manifest.yml:14", "http");
    assert_eq!(
        r["workloads"][0]["becomes"]
            .as_str()
            .unwrap()
            .split(':')
            .next(),
        Some("kind = \"web\"")
    );

    let written = import_and_check("copilot-web");
    // The prod stage's environment: the shared entries from the base table, its own on top.
    let dir = common::fixture("copilot-web");
    ok(&cargo_fargate(dir.path(), &["import", "copilot"]));
    let prod = json_result(&cargo_fargate(
        dir.path(),
        &["--message-format", "json", "config", "--stage", "prod"],
    ));
    assert_eq!(
        prod["config"]["environment"],
        serde_json::json!({"LOG_LEVEL": "info", "WORKERS": "4"}),
        "{prod}"
    );
    // Copilot's `copilot secret init` path, with the application and each environment filled in.
    assert!(written[0].contains("SESSION_KEY = \"/copilot/shop/prod/secrets/SESSION_KEY\""));
    assert!(written[0].contains("SESSION_KEY = \"/copilot/shop/test/secrets/SESSION_KEY\""));
    assert!(written[0].contains("task-role-policy-files = [\"api-ReadAssetsPolicy.policy.json\"]"));
}

#[test]
fn backend_and_worker_services_become_one_stage_per_workload_and_environment() {
    let dir = common::fixture("copilot-services");
    let r = dry_run(dir.path());
    let b = "copilot/backend/manifest.yml";
    assert_skipped(&r, &format!("{b}:5"), "image.location");
    assert_skipped(&r, &format!("{b}:24"), "storage");
    let w = "copilot/worker/manifest.yml";
    assert_skipped(&r, &format!("{w}:9"), "subscribe");
    assert_skipped(&r, &format!("{w}:19"), "count.range");
    assert_skipped(&r, &format!("{w}:22"), "count.queue_delay");
    assert_skipped(&r, &format!("{w}:26"), "sidecars");
    assert_skipped(
        &r,
        "copilot/environments/staging/manifest.yml:6",
        "network.vpc.cidr",
    );
    let written = import_and_check("copilot-services");
    assert!(written[0].contains("[package.metadata.fargate.stages.worker-staging]"));
}

#[test]
fn scheduled_jobs_every_schedule_form() {
    let dir = common::fixture("copilot-jobs");
    let r = dry_run(dir.path());
    assert_skipped(&r, "copilot/report/manifest.yml:6", "retries");
    assert_skipped(&r, "copilot/report/manifest.yml:7", "timeout");
    assert_skipped(&r, "copilot/manual/manifest.yml:4", "on.schedule");
    assert_skipped(&r, "copilot/site/manifest.yml:2", "type");
    let stages = [
        "digest-test",
        "manual-test",
        "report-test",
        "sweep-test",
        "weekly-test",
    ];
    assert_eq!(r["sections"][0]["stages"], serde_json::json!(stages));
    // Every schedule form, converted (the `test` override replaces digest's weekday cron).
    let toml = r["sections"][0]["toml"].as_str().unwrap();
    for expr in [
        "cron(0 0 * * ? *)",
        "rate(90 minutes)",
        "cron(*/30 * * * ? *)",
        "cron(0 0 ? * 1 *)",
    ] {
        assert!(
            toml.contains(&format!("schedule = \"{expr}\"")),
            "{expr} not in:\n{toml}"
        );
    }
    let carried = r["report"]["carried"].to_string();
    assert!(carried.contains("cron(0 9 ? * 2-6 *)"), "{carried}");
    import_and_check("copilot-jobs");
}

#[test]
fn a_workspace_gets_each_workload_in_the_package_that_builds_it() {
    let dir = common::fixture("copilot-workspace");
    let r = dry_run(dir.path());
    let packages: Vec<(&str, &str)> = r["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| (w["name"].as_str().unwrap(), w["package"].as_str().unwrap()))
        .collect();
    // `api` by its Dockerfile's `-p api`; `cleanup` by the directory holding its Dockerfile.
    assert_eq!(packages, [("api", "api"), ("cleanup", "nightly-jobs")]);
    assert_skipped(
        &r,
        "copilot/environments/prod/manifest.yml:4",
        "network.vpc.subnets",
    );
    import_and_check("copilot-workspace");
}

#[test]
fn bad_input_is_one_line_and_writes_nothing() {
    // Not YAML: the file and line, nothing written.
    let dir = common::fixture("copilot-web");
    std::fs::write(
        dir.path().join("copilot/api/manifest.yml"),
        "name: api\ntype: [unclosed\n",
    )
    .unwrap();
    let before = std::fs::read(dir.path().join("Cargo.toml")).unwrap();
    let e = one_line_error(
        &cargo_fargate(dir.path(), &["import", "copilot"]),
        "not YAML",
    );
    assert!(e.contains("copilot/api/manifest.yml:"), "{e}");
    assert_eq!(
        std::fs::read(dir.path().join("Cargo.toml")).unwrap(),
        before
    );
    assert!(!dir.path().join("api-ReadAssetsPolicy.policy.json").exists());

    // A copilot/ with no manifests.
    let dir = common::fixture("copilot-web");
    std::fs::remove_dir_all(dir.path().join("copilot")).unwrap();
    std::fs::create_dir(dir.path().join("copilot")).unwrap();
    one_line_error(
        &cargo_fargate(dir.path(), &["import", "copilot"]),
        "no Copilot manifests",
    );
    assert_eq!(
        std::fs::read(dir.path().join("Cargo.toml")).unwrap(),
        before
    );

    // No copilot/ at all.
    std::fs::remove_dir_all(dir.path().join("copilot")).unwrap();
    one_line_error(
        &cargo_fargate(dir.path(), &["import", "copilot"]),
        "no Copilot directory",
    );
}
