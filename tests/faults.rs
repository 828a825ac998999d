//! Faults between the tool and the network, and input that used to be caught too late: each case
//! ends within its time limit with its own one-line message and exit code, and changes nothing.
//! A misbehaving endpoint (tests/common/faulty.rs) stands between the binary and the bench.

mod common;
#[path = "faults/inputs.rs"]
mod inputs;

use common::faulty::{Faulty, Reply};
use common::*;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

fn single() -> tempfile::TempDir {
    fixture("single")
}

/// `cargo fargate <args>` against the bench, timed.
fn timed(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let started = Instant::now();
    let o = command(dir, args)
        .envs(bench())
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (o, started.elapsed())
}

fn repository_exists(name: &str) -> bool {
    aws_try(&["ecr", "describe-repositories", "--repository-names", name])
        .status
        .success()
}

fn moto_addr() -> String {
    env_var("AWS_ENDPOINT_URL")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

#[test]
fn an_endpoint_that_never_answers_ends_within_the_timeout_naming_the_call() {
    let hang = Faulty::start(None, |_| Reply::Hang);
    let dir = single();
    let (o, took) = timed(
        dir.path(),
        &["doctor", "--endpoint-url", &hang.url, "--timeout", "3"],
        &[],
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let line = one_line_error(
        &o,
        &format!(
            "STS GetCallerIdentity at {} did not answer within 3s",
            hang.url
        ),
    );
    assert!(line.contains("--timeout"), "{line}");
    assert_eq!(o.status.code(), Some(1));

    // The same through the environment, with JSON: an error event on stdout.
    let (o, took) = timed(
        dir.path(),
        &[
            "ps",
            "--endpoint-url",
            &hang.url,
            "--message-format",
            "json",
        ],
        &[("CARGO_FARGATE_TIMEOUT", "2")],
    );
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let event: serde_json::Value =
        serde_json::from_str(stdout(&o).lines().last().unwrap()).unwrap();
    assert_eq!(event["type"], "error");
    assert!(
        event["message"]
            .as_str()
            .unwrap()
            .contains("ECS DescribeClusters at"),
        "{event}"
    );
}

#[test]
fn an_html_answer_is_not_mistaken_for_aws_or_for_bad_credentials() {
    let proxy = Faulty::start(None, |_| Reply::html(503));
    let dir = single();
    let (o, _) = timed(
        dir.path(),
        &["doctor", "--endpoint-url", &proxy.url],
        &[("AWS_MAX_ATTEMPTS", "2")],
    );
    let line = one_line_error(
        &o,
        "answered HTTP 503 (text/html; charset=utf-8), which is not an AWS API response",
    );
    assert!(line.contains("STS GetCallerIdentity"), "{line}");
    assert!(!line.contains("credentials"), "{line}");
    // A JSON-protocol service too (once: "malformed JSON error body … check the subnets").
    let (o, _) = timed(
        dir.path(),
        &["ps", "--endpoint-url", &proxy.url],
        &[("AWS_MAX_ATTEMPTS", "2")],
    );
    let line = one_line_error(&o, "ECS DescribeClusters at");
    assert!(line.contains("HTTP 503"), "{line}");
    assert!(!line.contains("malformed"), "{line}");
    // 5xx is retried: two attempts each.
    assert_eq!(proxy.operations().len(), 4, "{:?}", proxy.operations());
}

#[test]
fn throttling_is_retried_with_backoff_then_named() {
    let throttle = Faulty::start(None, |_| {
        Reply::aws_json(400, "ThrottlingException", "Rate exceeded")
    });
    let dir = single();
    let (o, took) = timed(
        dir.path(),
        &["ps", "--endpoint-url", &throttle.url],
        &[("AWS_MAX_ATTEMPTS", "4")],
    );
    one_line_error(&o, "ECS DescribeClusters at");
    let line = stderr(&o);
    assert!(
        line.contains("was throttled (ThrottlingException) on all 4 attempts"),
        "{line}"
    );
    assert_eq!(throttle.operations().len(), 4);
    // Backoff between attempts, not three requests in a blink.
    assert!(took > Duration::from_millis(500), "took {took:?}");
}

#[test]
fn access_denied_names_the_action_the_resource_and_the_policy_line_that_allows_it() {
    let deny = Faulty::start(None, |_| {
        Reply::aws_json(400, "AccessDeniedException", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: ecs:DescribeClusters on resource: arn:aws:ecs:eu-west-1:123456789012:cluster/single-dev because no identity-based policy allows the ecs:DescribeClusters action")
    });
    let dir = single();
    let (o, _) = timed(dir.path(), &["ps", "--endpoint-url", &deny.url], &[]);
    let line = one_line_error(&o, "ECS denied ecs:DescribeClusters");
    assert!(
        line.contains(r#"{"Action":"ecs:DescribeClusters","Effect":"Allow","Resource":"arn:aws:ecs:eu-west-1:123456789012:cluster/single-dev"}"#),
        "{line}"
    );
    // Denied is final: not retried.
    assert_eq!(deny.operations().len(), 1);

    let expired = Faulty::start(None, |_| {
        Reply::aws_json(
            400,
            "ExpiredTokenException",
            "The security token included in the request is expired",
        )
    });
    let (o, _) = timed(dir.path(), &["ps", "--endpoint-url", &expired.url], &[]);
    let line = one_line_error(&o, "the AWS session has expired (ExpiredTokenException)");
    assert!(line.contains("aws sso login"), "{line}");
}

#[test]
fn an_endpoint_without_a_scheme_is_refused_up_front() {
    let dir = single();
    let (o, _) = timed(
        dir.path(),
        &["doctor", "--endpoint-url", "127.0.0.1:5055"],
        &[],
    );
    let line = one_line_error(
        &o,
        "flag --endpoint-url: `127.0.0.1:5055` is not an endpoint URL",
    );
    assert!(line.contains("`http://127.0.0.1:5055`"), "{line}");
    let (o, _) = timed(
        dir.path(),
        &["doctor"],
        &[("AWS_ENDPOINT_URL_ECS", "localhost:4566")],
    );
    one_line_error(
        &o,
        "env AWS_ENDPOINT_URL_ECS: `localhost:4566` is not an endpoint URL",
    );
}

/// A profile of its own: an IAM user of moto's with an access key, in config files of the test's own.
fn profile_files(dir: &Path) -> (String, Vec<(String, String)>) {
    let user = unique("cf-prof-");
    aws(&["iam", "create-user", "--user-name", &user]);
    let key = aws(&["iam", "create-access-key", "--user-name", &user]);
    let (id, secret) = (
        key["AccessKey"]["AccessKeyId"].as_str().unwrap(),
        key["AccessKey"]["SecretAccessKey"].as_str().unwrap(),
    );
    let credentials = dir.join("aws-credentials");
    std::fs::write(
        &credentials,
        format!("[other]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"),
    )
    .unwrap();
    let config = dir.join("aws-config");
    std::fs::write(&config, "[profile other]\nregion = us-east-1\n").unwrap();
    (
        user,
        vec![
            (
                "AWS_SHARED_CREDENTIALS_FILE".into(),
                credentials.display().to_string(),
            ),
            ("AWS_CONFIG_FILE".into(), config.display().to_string()),
        ],
    )
}

#[test]
fn an_explicit_profile_wins_over_keys_in_the_environment_and_a_missing_one_is_named() {
    let dir = single();
    let files = tempfile::tempdir().unwrap();
    let (user, mut env) = profile_files(files.path());
    let doctor = |args: &[&str], env: &[(String, String)]| {
        command(dir.path(), &[&["doctor"], args].concat())
            .envs(bench())
            .envs(env.iter().cloned())
            .output()
            .unwrap()
    };
    // doctor's result, whatever its other checks say (this region has only its default VPC, so the
    // subnets check fails: beside the point here).
    let result = |o: &std::process::Output| -> serde_json::Value {
        let line = stdout(o).lines().last().unwrap_or_default().to_string();
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("no JSON result: {}", stderr(o)))
    };
    let user_arn = format!("arn:aws:iam::123456789012:user/{user}");
    // The bench exports AWS_ACCESS_KEY_ID=testing: the default chain would sign with it.
    let r = result(&doctor(
        &["--aws-profile", "other", "--message-format", "json"],
        &env,
    ));
    assert_eq!(r["identity"]["arn"], user_arn, "{r}");
    assert_eq!(
        r["identity"]["credentials"],
        "profile `other` (flag --aws-profile)"
    );
    // Without the flag, the environment's keys (and doctor says so).
    let r = result(&doctor(&["--message-format", "json"], &env));
    assert_ne!(r["identity"]["arn"], user_arn);
    assert_eq!(
        r["identity"]["credentials"],
        "the environment (AWS_ACCESS_KEY_ID)"
    );

    // A profile that does not exist is an error naming it and the files, never a fallback.
    let line = one_line_error(
        &doctor(&["--aws-profile", "nosuch"], &env),
        "the AWS profile `nosuch` (from flag --aws-profile) is not in",
    );
    assert!(line.contains("aws-credentials"), "{line}");
    assert!(line.contains("`other`"), "{line}");
    // Named through the environment variable of the `aws-profile` key, too.
    env.push(("CARGO_FARGATE_AWS_PROFILE".into(), "nosuch".into()));
    one_line_error(
        &doctor(&[], &env),
        "(from env CARGO_FARGATE_AWS_PROFILE) is not in",
    );
}

#[test]
fn a_registry_that_stalls_a_blob_upload_fails_naming_the_blob_and_a_rerun_converges() {
    let registry = env_var("BENCH_REGISTRY");
    // Everything passes but the upload of a blob's bytes, which stalls.
    let stall = Faulty::start(Some(registry.clone()), |r| {
        if r.method == "PUT" && r.path.contains("/blobs/uploads/") {
            Reply::Hang
        } else {
            Reply::Forward
        }
    });
    let dir = fixture("single");
    let repository = unique("cf-stall-");
    let (o, took) = {
        let started = Instant::now();
        let o = host_bench_command(dir.path(), &repository, &["push", "--timeout", "3"])
            .env("CARGO_FARGATE_REGISTRY_ENDPOINT", &stall.addr)
            // The base comes through the same endpoint, with the same login, as on ECR.
            .env(
                "CARGO_FARGATE_RUNTIME_IMAGE",
                env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE").replacen(
                    &registry,
                    &stall.addr,
                    1,
                ),
            )
            .output()
            .unwrap();
        (o, started.elapsed())
    };
    assert!(took < Duration::from_secs(120), "took {took:?}");
    let line = one_line_error(
        &o,
        &format!(
            "failed 4 times: the registry {} did not answer PUT /v2/{repository}/blobs/uploads/",
            stall.addr
        ),
    );
    assert!(line.contains("pushing blob sha256:"), "{line}");
    drop(stall);

    // Once the registry behaves, the same command converges.
    let o = host_bench_command(
        dir.path(),
        &repository,
        &["push", "--message-format", "json"],
    )
    .output()
    .unwrap();
    let r = json_result(&o);
    assert!(r["digest"].as_str().unwrap().starts_with("sha256:"), "{r}");
    let again = json_result(
        &host_bench_command(
            dir.path(),
            &repository,
            &["push", "--message-format", "json"],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(again["up_to_date"], true);
    assert_eq!(again["digest"], r["digest"]);
}

#[test]
fn a_task_that_cannot_be_observed_is_not_reported_as_its_exit_code() {
    // Everything reaches moto except DescribeTasks, which a broken proxy answers with HTML.
    let moto = moto_addr();
    let proxy = Faulty::start(Some(moto), |r| {
        if r.operation() == "DescribeTasks" {
            Reply::html(502)
        } else {
            Reply::Forward
        }
    });
    let name = unique("lost");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n\n[package.metadata.fargate]\nsubnets = [\"{}\"]\nsecurity-groups = [\"{}\"]\n",
            net().subnet,
            net().sg
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").unwrap();
    let image = "public.ecr.aws/docker/library/busybox@sha256:1111111111111111111111111111111111111111111111111111111111111111";
    let (o, took) = timed(
        dir.path(),
        &["run", "--image", image, "--endpoint-url", &proxy.url],
        &[("AWS_MAX_ATTEMPTS", "2")],
    );
    assert!(took < Duration::from_secs(120), "took {took:?}");
    let line = one_line_error(&o, "lost track of task");
    assert!(line.contains("its exit code is unknown"), "{line}");
    assert!(line.contains("ECS DescribeTasks"), "{line}");
    assert_eq!(o.status.code(), Some(124));
    assert!(proxy.operations().contains(&"RunTask".to_string()));
}

/// An IAM user of the bench with an access key: (user ARN, env signing as it).
fn iam_user(name: &str) -> (String, Vec<(&'static str, String)>) {
    aws(&["iam", "create-user", "--user-name", name]);
    let key = aws(&["iam", "create-access-key", "--user-name", name])["AccessKey"].clone();
    (
        format!("arn:aws:iam::123456789012:user/{name}"),
        vec![
            (
                "AWS_ACCESS_KEY_ID",
                key["AccessKeyId"].as_str().unwrap().to_string(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                key["SecretAccessKey"].as_str().unwrap().to_string(),
            ),
        ],
    )
}

#[test]
fn a_permission_the_plan_needs_and_iam_denies_fails_the_deploy_before_anything_is_created() {
    // A deployer with the generated policy (attached as a managed policy: it is too long for an
    // inline one) and, on top, an explicit Deny of iam:CreateRole: the bench's policy simulator
    // (scripts/bench/agent/simulate.py) evaluates both, as IAM does.
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("perm");
    let user = format!("{name}-deployer");
    let (_, signing) = iam_user(&user);
    let deploy = |args: &[&str], signing: &[(&str, String)]| {
        bench_command(dir.path(), &format!("{name}-dev"), args)
            .env("CARGO_FARGATE_NAME", &name)
            .env("CARGO_FARGATE_SUBNETS", &net().subnet)
            .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg)
            .envs(signing.iter().map(|(k, v)| (*k, v.as_str())))
            .output()
            .unwrap()
    };
    let policy = json_result(&deploy(
        &[
            "iam",
            "policy",
            "--for",
            "deployer",
            "--message-format",
            "json",
        ],
        &signing,
    ))["policy"]
        .clone();
    let arn = aws(&[
        "iam",
        "create-policy",
        "--policy-name",
        &user,
        "--policy-document",
        &policy.to_string(),
    ])["Policy"]["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    aws(&[
        "iam",
        "attach-user-policy",
        "--user-name",
        &user,
        "--policy-arn",
        &arn,
    ]);
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"iam:CreateRole","Resource":"*"}]}"#;
    aws(&[
        "iam",
        "put-user-policy",
        "--user-name",
        &user,
        "--policy-name",
        "no-roles",
        "--policy-document",
        deny,
    ]);
    for dry_run in [true, false] {
        let mut args = vec!["deploy"];
        if dry_run {
            args.push("--dry-run");
        }
        let line = one_line_error(
            &deploy(&args, &signing),
            &format!("may not iam:CreateRole on arn:aws:iam::123456789012:role/{name}-dev-execution (explicitDeny, by IAM's policy simulator) (and 1 more: iam:CreateRole)"),
        );
        assert!(line.contains("nothing was changed"), "{line}");
        assert!(line.contains(r#""Action":"iam:CreateRole""#), "{line}");
        assert!(
            !repository_exists(&format!("{name}-dev")),
            "repository created"
        );
    }

    // Without the Deny the generated policy allows every call of the plan (its conditions
    // evaluated with the context the calls carry: ecs:cluster, iam:PassedToService).
    aws(&[
        "iam",
        "delete-user-policy",
        "--user-name",
        &user,
        "--policy-name",
        "no-roles",
    ]);
    let plan = json_result(&deploy(
        &["deploy", "--dry-run", "--message-format", "json"],
        &signing,
    ));
    assert_eq!(plan["permissions"]["simulated"], true, "{plan}");
    let actions = plan["permissions"]["actions"].as_array().unwrap();
    for a in [
        "iam:CreateRole",
        "iam:PassRole",
        "ecs:RunTask",
        "ecr:PutImage",
    ] {
        assert!(actions.contains(&serde_json::json!(a)), "{a}: {plan}");
    }

    // An identity IAM does not let use the simulator (no policy at all): the dry run says what
    // it assumes, and IAM's AccessDenied is not retried.
    let (_, bare) = iam_user(&format!("{name}-bare"));
    let plan = json_result(&deploy(
        &["deploy", "--dry-run", "--message-format", "json"],
        &bare,
    ));
    assert_eq!(plan["permissions"]["simulated"], false, "{plan}");
    assert!(
        plan["permissions"]["actions"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("iam:PassRole")),
        "{plan}"
    );
}

#[test]
fn an_endpoint_without_a_policy_simulator_is_asked_once_per_resource_and_never_retried() {
    // Endpoints that lack the simulator (moto alone, LocalStack) answer it with HTTP 500: that is
    // "not available", not an outage to retry with backoff.
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let proxy = Faulty::start(Some(moto_addr()), move |r| {
        if r.operation() != "SimulatePrincipalPolicy" {
            return Reply::Forward;
        }
        // The resource of each request (ResourceArns.member.1=...).
        let body = String::from_utf8_lossy(&r.body).into_owned();
        let resource = body
            .split('&')
            .find(|kv| kv.starts_with("ResourceArns.member.1="))
            .unwrap_or_default()
            .to_string();
        seen.lock().unwrap().push(resource);
        Reply::Answer {
            status: 500,
            content_type: "text/xml",
            body: "<ErrorResponse><Error><Code>InternalFailure</Code><Message>not implemented</Message></Error></ErrorResponse>".into(),
        }
    });
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("nosim");
    let (o, took) = {
        let started = Instant::now();
        let o = bench_command(
            dir.path(),
            &format!("{name}-dev"),
            &[
                "deploy",
                "--dry-run",
                "--message-format",
                "json",
                "--endpoint-url",
                &proxy.url,
            ],
        )
        .env("CARGO_FARGATE_NAME", &name)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg)
        .output()
        .unwrap();
        (o, started.elapsed())
    };
    let plan = json_result(&o);
    assert_eq!(plan["permissions"]["simulated"], false, "{plan}");
    // One request per resource simulated (repository, two roles, log group, task definitions),
    // each once: with the SDK's retries each would be asked up to six times.
    let asked = asked.lock().unwrap().clone();
    let mut distinct = asked.clone();
    distinct.sort();
    distinct.dedup();
    assert!(!asked.is_empty());
    assert_eq!(asked.len(), distinct.len(), "asked again: {asked:?}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_rustup_without_a_default_toolchain_is_not_blamed_on_the_manifest() {
    let dir = single();
    let rustup_home = tempfile::tempdir().unwrap();
    let o = command(dir.path(), &["config"])
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env("RUSTUP_HOME", rustup_home.path())
        .output()
        .unwrap();
    let line = one_line_error(&o, "cargo cannot run");
    assert!(line.contains("rustup default stable"), "{line}");
    assert!(!line.contains("Cargo.toml"), "{line}");
}
