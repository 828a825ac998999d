//! `build` and `push` on the real bench: the Docker Engine builds the default template, the registry
//! takes the push with the token moto's ECR hands out, and the image pulls back and runs.

mod common;

use common::*;
use std::path::Path;

/// `push` with JSON output; its result line.
fn push_json(dir: &Path, repository: &str) -> serde_json::Value {
    json_result(
        &bench_command(dir, repository, &["push", "--message-format", "json"])
            .output()
            .unwrap(),
    )
}

fn hello() -> tempfile::TempDir {
    copy_fixture(&repo().join("examples/hello"))
}

#[test]
fn default_template_image_is_pushed_with_ecr_settings_and_pulls_back_and_runs() {
    let dir = hello();
    let repository = unique("hello");
    let r = push_json(dir.path(), &repository);
    assert_eq!(r["up_to_date"], false);
    assert_eq!(r["repository"]["created"], true);
    assert_eq!(r["build"]["plan"]["dockerfile"]["kind"], "template");
    let digest = r["digest"].as_str().unwrap().to_string();
    assert!(
        digest.starts_with("sha256:")
            && r["image_uri"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{repository}@{digest}")),
        "{r}"
    );
    let content_tag = r["build"]["plan"]["content_tag"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(content_tag.starts_with("dev-"));
    assert!(registry_tags(&repository).contains(&content_tag));

    // The ECR API shows the repository as configured, with its lifecycle policy.
    let repos = aws(&[
        "ecr",
        "describe-repositories",
        "--repository-names",
        &repository,
    ]);
    let repo_json = &repos["repositories"][0];
    assert_eq!(repo_json["imageScanningConfiguration"]["scanOnPush"], true);
    assert_eq!(repo_json["imageTagMutability"], "IMMUTABLE");
    let policy = aws(&[
        "ecr",
        "get-lifecycle-policy",
        "--repository-name",
        &repository,
    ]);
    let rules: serde_json::Value =
        serde_json::from_str(policy["lifecyclePolicyText"].as_str().unwrap()).unwrap();
    let rules = rules["rules"].as_array().unwrap();
    assert_eq!(rules[0]["selection"]["tagPrefixList"][0], "dev-");
    assert_eq!(rules[1]["selection"]["tagPrefixList"][0], "prod-");
    assert_eq!(rules.last().unwrap()["selection"]["tagStatus"], "untagged");

    // Pull it back by digest from the registry (local copies removed first) and run it.
    let docker = DockerCli::login();
    let registry = env_var("BENCH_REGISTRY");
    let _ = docker
        .cmd(&[
            "rmi",
            "-f",
            &format!("{repository}:{content_tag}"),
            &format!("{registry}/{repository}:{content_tag}"),
        ])
        .output();
    let by_digest = format!("{registry}/{repository}@{digest}");
    docker.run(&["pull", "-q", &by_digest]);
    assert_eq!(
        docker
            .run(&["run", "--rm", "-e", "GREETING=Hi", &by_digest, "a", "b"])
            .trim(),
        "Hi! args=[\"a\", \"b\"]"
    );
    assert!(
        docker
            .run(&["run", "--rm", "--entrypoint", "id", &by_digest])
            .starts_with("uid=10001"),
        "runs as non-root"
    );
    let labels = docker.run(&["inspect", "--format", "{{json .Config.Labels}}", &by_digest]);
    let labels: serde_json::Value = serde_json::from_str(&labels).unwrap();
    assert_eq!(
        labels["dev.cargo-fargate.source-sha256"],
        r["build"]["plan"]["source_sha256"]
    );
    assert_eq!(
        labels["dev.cargo-fargate.version"],
        env!("CARGO_PKG_VERSION")
    );

    // A second run with no change skips build and push.
    let again = push_json(dir.path(), &repository);
    assert_eq!(again["up_to_date"], true);
    assert_eq!(again["digest"], digest.as_str());
    assert!(again["build"].is_null());
}

#[test]
fn code_only_change_rebuilds_without_recompiling_dependencies_and_pushes_one_layer() {
    let dir = copy_fixture(&repo().join("tests/fixtures/withdep"));
    let repository = unique("withdep");
    let first = push_json(dir.path(), &repository);
    let main = dir.path().join("src/main.rs");
    let text = std::fs::read_to_string(&main)
        .unwrap()
        // Unique per run: neither the engine's cache nor the registry may hold the new layer already.
        .replace("withdep {}", &format!("withdep {repository} {{}}"));
    std::fs::write(&main, text).unwrap();
    let second = push_json(dir.path(), &repository);
    assert_ne!(first["digest"], second["digest"]);
    assert_eq!(
        second["layers_pushed"], 1,
        "only the binary's layer is new: {second}"
    );
    assert!(second["layers_skipped"].as_u64().unwrap() >= 1);

    let log = std::fs::read_to_string(second["build"]["log"].as_str().unwrap()).unwrap();
    // The template's steps, found by what they run (their numbers change with the template).
    let step = |first_line: &dyn Fn(&str) -> bool| -> &str {
        log.split("Step ")
            .find(|s| first_line(s.lines().next().unwrap_or("")))
            .unwrap_or_else(|| panic!("no such step in:\n{log}"))
    };
    let deps_step = step(&|l| l.contains("cargo build") && !l.contains("find /src"));
    assert!(
        deps_step.contains("Using cache"),
        "the dependency layer is reused:\n{deps_step}"
    );
    let code_step = step(&|l| l.contains("find /src"));
    assert!(code_step.contains("Compiling withdep"), "{code_step}");
    assert!(
        !code_step.contains("Compiling itoa"),
        "dependencies were recompiled:\n{code_step}"
    );

    let docker = DockerCli::login();
    let image = format!(
        "{}/{repository}@{}",
        env_var("BENCH_REGISTRY"),
        second["digest"].as_str().unwrap()
    );
    assert_eq!(
        docker.run(&["run", "--rm", &image]).trim(),
        format!("withdep {repository} 42")
    );
}

#[test]
fn bad_input_is_one_line_and_pushes_nothing() {
    let dir = hello();
    let repository = unique("bad");

    let o = bench_command(dir.path(), &repository, &["push"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    one_line_error(
        &o,
        "no Docker daemon answers at unix:///nonexistent/docker.sock",
    );

    let o = bench_command(dir.path(), "Bad_Name", &["push"])
        .output()
        .unwrap();
    one_line_error(&o, "`Bad_Name` is not a valid ECR repository name");

    let o = bench_command(dir.path(), &repository, &["push", "--bin", "nope"])
        .output()
        .unwrap();
    one_line_error(&o, "package `hello` has no binary `nope`");

    let o = bench_command(dir.path(), &repository, &["push"])
        .env("CARGO_FARGATE_DOCKERFILE", "docker/Missing.Dockerfile")
        .output()
        .unwrap();
    one_line_error(&o, "Dockerfile `docker/Missing.Dockerfile` does not exist");

    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM scratch\nCOPY . /\nFORM x\n",
    )
    .unwrap();
    let o = bench_command(dir.path(), &repository, &["push"])
        .output()
        .unwrap();
    one_line_error(
        &o,
        "Dockerfile:3: the Docker Engine refused the Dockerfile: unknown instruction: FORM",
    );
    std::fs::remove_file(dir.path().join("Dockerfile")).unwrap();

    // A failing step: its own output is shown, then one error line naming the step.
    std::fs::write(
        dir.path().join("src/main.rs"),
        "fn main() { let x: u32 = \"not a number\"; }\n",
    )
    .unwrap();
    let o = bench_command(dir.path(), &repository, &["push"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("error[E0308]: mismatched types"),
        "the step's output is shown:\n{err}"
    );
    assert!(
        err.lines().last().unwrap().starts_with(
            "error: the image build failed at Step 23/35 `RUN . /etc/cargo-fargate.env && find"
        ),
        "{err}"
    );
    assert!(
        err.lines().last().unwrap().contains(
            ": exit code 101: error[E0308]: mismatched types; see the step's output above"
        ),
        "{err}"
    );
    // With JSON, the cause is on stdout too: the step's output as an event, and in the error.
    let o = bench_command(
        dir.path(),
        &repository,
        &["push", "--message-format", "json"],
    )
    .output()
    .unwrap();
    assert!(!o.status.success());
    let events: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let output = events
        .iter()
        .find(|e| e["type"] == "build_output")
        .unwrap_or_else(|| panic!("no build_output event: {events:?}"));
    assert!(
        output["step"].as_str().unwrap().starts_with("Step 23/35"),
        "{output}"
    );
    assert!(
        output["lines"].as_array().unwrap().iter().any(|l| l
            .as_str()
            .unwrap()
            .contains("error[E0308]: mismatched types")),
        "{output}"
    );
    let error = events.last().unwrap();
    assert_eq!(error["type"], "error");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains(": exit code 101: error[E0308]: mismatched types"),
        "{message}"
    );
    assert!(
        message.contains("the step's output is in the `build_output` event"),
        "{message}"
    );

    assert!(registry_tags(&repository).is_empty(), "nothing was pushed");
}

#[test]
fn a_registry_refusing_the_login_stops_before_anything_is_created() {
    // Credentials of another account: moto's ECR hands out that account's token, which the bench
    // registry (like a real ECR registry of account 123456789012) refuses.
    let creds = aws(&[
        "sts",
        "assume-role",
        "--role-arn",
        "arn:aws:iam::111111111111:role/deployer",
        "--role-session-name",
        "test",
    ]);
    let c = &creds["Credentials"];
    let dir = hello();
    let repository = unique("refused");
    let o = bench_command(dir.path(), &repository, &["push"])
        .env("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap())
        .env(
            "AWS_SECRET_ACCESS_KEY",
            c["SecretAccessKey"].as_str().unwrap(),
        )
        .env("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap())
        .output()
        .unwrap();
    let line = one_line_error(&o, "refused the login");
    assert!(
        !line.contains("111111111111-auth-token"),
        "the token is never printed"
    );
    assert!(registry_tags(&repository).is_empty());
}

#[test]
fn the_default_template_passes_hadolint() {
    bench();
    let hadolint = Path::new(&env_var("BENCH_VENV")).join("bin/hadolint");
    let o = std::process::Command::new(hadolint)
        .arg(repo().join("task-templates/Dockerfile"))
        .output()
        .unwrap();
    assert!(o.status.success(), "hadolint: {}", stdout(&o));
}

#[test]
fn host_builder_image_runs_like_the_docker_one_and_skips_what_the_registry_has() {
    let dir = hello();
    let repository = unique("hello-host");
    let push = |dir: &Path| {
        json_result(
            &host_bench_command(dir, &repository, &["push", "--message-format", "json"])
                .output()
                .unwrap(),
        )
    };
    let first = push(dir.path());
    assert_eq!(first["build"]["plan"]["builder"], "host");
    assert!(
        first["build"]["oci"]["dir"]
            .as_str()
            .unwrap()
            .ends_with("fargate/oci/hello-dev"),
        "{first}"
    );
    let digest = first["digest"].as_str().unwrap();

    let docker = DockerCli::login();
    let image = format!("{}/{repository}@{digest}", env_var("BENCH_REGISTRY"));
    docker.run(&["pull", "-q", &image]);
    assert_eq!(
        docker.run(&["run", "--rm", &image]).trim(),
        "Hello! args=[]"
    );
    assert!(docker
        .run(&["run", "--rm", "--entrypoint", "id", &image])
        .starts_with("uid=10001"));

    assert_eq!(push(dir.path())["up_to_date"], true);

    // A code change: only the binary's layer and the config are uploaded.
    let main = dir.path().join("src/main.rs");
    std::fs::write(
        &main,
        std::fs::read_to_string(&main)
            .unwrap()
            .replace("\"Hello\"", &format!("\"Howdy {repository}\"")),
    )
    .unwrap();
    let changed = push(dir.path());
    assert_eq!(changed["layers_pushed"], 2, "{changed}");
    let image = format!(
        "{}/{repository}@{}",
        env_var("BENCH_REGISTRY"),
        changed["digest"].as_str().unwrap()
    );
    assert_eq!(
        docker.run(&["run", "--rm", &image]).trim(),
        format!("Howdy {repository}! args=[]")
    );
}
