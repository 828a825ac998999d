//! The `codebuild` builder on the bench: the source zip goes to moto's S3, the bench agent carries
//! out the CodeBuild build (buildspec phases in a container of the standard-image stand-in, with
//! the Engine's socket, logs to moto's CloudWatch Logs), and the image lands in the bench registry.
//! Checked through awscli, the registry and parliament, not through cargo-fargate itself.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `cargo fargate <args>` with the codebuild builder, project `name`, stage dev.
fn cb(dir: &Path, name: &str, args: &[&str]) -> Command {
    let mut cmd = bench_command(dir, &format!("{name}-dev"), args);
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_BUILDER", "codebuild")
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg);
    cmd
}

/// The bucket cargo-fargate derives on the bench (account 123456789012, us-east-1).
fn default_bucket(name: &str) -> String {
    format!("{name}-{ACCOUNT}-us-east-1")
}

fn bucket_exists(bucket: &str) -> bool {
    aws_try(&["s3api", "head-bucket", "--bucket", bucket])
        .status
        .success()
}

fn nothing_created(name: &str) {
    let family = format!("{name}-dev");
    assert!(
        !aws_try(&[
            "ecr",
            "describe-repositories",
            "--repository-names",
            &family
        ])
        .status
        .success(),
        "the repository was created"
    );
    assert!(
        !aws_try(&[
            "iam",
            "get-role",
            "--role-name",
            &format!("{family}-codebuild")
        ])
        .status
        .success(),
        "the role was created"
    );
    let projects = aws(&["codebuild", "batch-get-projects", "--names", &family]);
    assert_eq!(projects["projects"], serde_json::json!([]), "{projects}");
}

/// JSON events of one kind from a command's stdout.
fn events(out: &str, kind: &str) -> Vec<Value> {
    out.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == kind)
        .collect()
}

fn parliament(doc: &Value) -> Vec<Value> {
    let out = Command::new(format!("{}/bin/parliament", env_var("BENCH_VENV")))
        .args(["--string", &doc.to_string(), "--json"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn dry_run_runs_the_checks_and_shows_upload_project_and_build_but_creates_nothing() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("cbd");
    let plan = json_result(
        &cb(
            dir.path(),
            &name,
            &["deploy", "--dry-run", "--message-format", "json"],
        )
        .output()
        .unwrap(),
    );
    let steps: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        ["package", "upload", "project", "build", "push", "register", "run"]
    );
    let upload = plan["steps"][1]["action"].as_str().unwrap();
    assert!(
        upload.contains(&format!("create S3 bucket {}", default_bucket(&name)))
            && upload.contains(&format!("/{name}/dev/source/")),
        "{upload}"
    );
    let project = plan["steps"][2]["action"].as_str().unwrap();
    assert!(
        project.contains(&format!("create CodeBuild project {name}-dev"))
            && project.contains(&format!("create role {name}-dev-codebuild"))
            && project.contains(&format!("/aws/codebuild/{name}-dev")),
        "{project}"
    );
    assert!(
        plan["steps"][3]["action"]
            .as_str()
            .unwrap()
            .contains("codebuild builder"),
        "{plan}"
    );
    assert!(
        !bucket_exists(&default_bucket(&name)),
        "dry run made the bucket"
    );
    nothing_created(&name);
}

#[test]
fn a_bucket_in_another_region_or_public_is_refused_before_anything_is_created() {
    let dir = copy_fixture(&repo().join("examples/hello"));

    // In another region, private otherwise.
    let name = unique("cbr");
    let elsewhere = format!("{name}-elsewhere");
    aws(&[
        "s3api",
        "create-bucket",
        "--bucket",
        &elsewhere,
        "--region",
        "eu-west-1",
        "--create-bucket-configuration",
        "LocationConstraint=eu-west-1",
    ]);
    aws(&[
        "s3api",
        "put-public-access-block",
        "--bucket",
        &elsewhere,
        "--public-access-block-configuration",
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true",
    ]);
    for args in [&["push"][..], &["deploy"][..]] {
        let o = cb(dir.path(), &name, args)
            .env("CARGO_FARGATE_BUCKET", &elsewhere)
            .output()
            .unwrap();
        let line = one_line_error(&o, "is in eu-west-1");
        assert!(line.contains("CARGO_FARGATE_BUCKET"), "{line}");
        nothing_created(&name);
    }

    // Public: no public access block at all, then one setting off.
    let name = unique("cbp");
    let open = format!("{name}-open");
    aws(&["s3api", "create-bucket", "--bucket", &open]);
    let o = cb(dir.path(), &name, &["push"])
        .env("CARGO_FARGATE_BUCKET", &open)
        .output()
        .unwrap();
    let line = one_line_error(&o, "may be public: it has no public access block");
    assert!(line.contains("put-public-access-block"), "{line}");
    nothing_created(&name);
    aws(&[
        "s3api",
        "put-public-access-block",
        "--bucket",
        &open,
        "--public-access-block-configuration",
        "BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=false,RestrictPublicBuckets=true",
    ]);
    let o = cb(dir.path(), &name, &["deploy", "--dry-run"])
        .env("CARGO_FARGATE_BUCKET", &open)
        .output()
        .unwrap();
    one_line_error(&o, "BlockPublicPolicy off");
    nothing_created(&name);
}

#[test]
fn deploy_builds_on_codebuild_pushes_pins_and_runs_then_a_code_change_reuses_the_cache() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("cbf");
    let family = format!("{name}-dev");
    let bucket = default_bucket(&name);

    let o = cb(dir.path(), &name, &["deploy", "--message-format", "json"])
        .output()
        .unwrap();
    let r = json_result(&o);
    let out = stdout(&o);
    assert_eq!(r["exit_code"], 0, "{out}");
    let built = &r["push"]["codebuild"];
    let uploaded = built["uploaded_bytes"].as_u64().unwrap();
    assert!(uploaded > 0 && uploaded == built["archive"]["bytes"].as_u64().unwrap());
    let key = built["archive"]["key"].as_str().unwrap();
    assert_eq!(
        key,
        format!(
            "{name}/dev/source/{}.zip",
            built["archive"]["sha256"].as_str().unwrap()
        )
    );

    // The bucket: private, encrypted, owner-enforced, expiring archives, tagged.
    let pab = aws(&["s3api", "get-public-access-block", "--bucket", &bucket]);
    for k in [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(pab["PublicAccessBlockConfiguration"][k], true, "{pab}");
    }
    let enc = aws(&["s3api", "get-bucket-encryption", "--bucket", &bucket]);
    assert_eq!(
        enc["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]
            ["SSEAlgorithm"],
        "AES256"
    );
    let own = aws(&[
        "s3api",
        "get-bucket-ownership-controls",
        "--bucket",
        &bucket,
    ]);
    assert_eq!(
        own["OwnershipControls"]["Rules"][0]["ObjectOwnership"],
        "BucketOwnerEnforced"
    );
    let life = aws(&[
        "s3api",
        "get-bucket-lifecycle-configuration",
        "--bucket",
        &bucket,
    ]);
    assert_eq!(life["Rules"][0]["Status"], "Enabled", "{life}");
    assert!(life["Rules"][0]["Expiration"]["Days"].as_i64().unwrap() > 0);
    let tags = aws(&["s3api", "get-bucket-tagging", "--bucket", &bucket]);
    assert!(
        tags["TagSet"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["Key"] == "managed-by" && t["Value"] == "cargo-fargate"),
        "{tags}"
    );
    let head = aws(&["s3api", "head-object", "--bucket", &bucket, "--key", key]);
    assert_eq!(head["ContentLength"].as_u64(), Some(uploaded));

    // The role: trusts CodeBuild of this account; its policy names only this bucket's prefix,
    // this repository and this log group, and parliament finds nothing.
    let role = aws(&[
        "iam",
        "get-role",
        "--role-name",
        &format!("{family}-codebuild"),
    ]);
    let trust = &role["Role"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"], "codebuild.amazonaws.com");
    assert_eq!(
        trust["Condition"]["StringEquals"]["aws:SourceAccount"],
        ACCOUNT
    );
    let policies = aws(&[
        "iam",
        "list-role-policies",
        "--role-name",
        &format!("{family}-codebuild"),
    ]);
    assert_eq!(
        policies["PolicyNames"],
        serde_json::json!(["cargo-fargate-codebuild"])
    );
    let policy = aws(&[
        "iam",
        "get-role-policy",
        "--role-name",
        &format!("{family}-codebuild"),
        "--policy-name",
        "cargo-fargate-codebuild",
    ])["PolicyDocument"]
        .clone();
    let resources: Vec<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| match &s["Resource"] {
            Value::Array(a) => a.iter().map(|r| r.as_str().unwrap().to_string()).collect(),
            r => vec![r.as_str().unwrap().to_string()],
        })
        .collect();
    assert_eq!(
        resources,
        [
            "*".to_string(),
            format!("arn:aws:ecr:us-east-1:{ACCOUNT}:repository/{family}"),
            format!("arn:aws:s3:::{bucket}/{name}/dev/*"),
            format!("arn:aws:s3:::{bucket}"),
            format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/codebuild/{family}"),
            format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/codebuild/{family}:*"),
        ]
    );
    assert_eq!(parliament(&policy), Vec::<Value>::new(), "{policy}");

    // The project: privileged, the standard image, its log group, the rendered buildspec.
    let p = &aws(&["codebuild", "batch-get-projects", "--names", &family])["projects"][0];
    assert_eq!(p["environment"]["privilegedMode"], true, "{p}");
    assert_eq!(p["environment"]["image"], "aws/codebuild/standard:7.0");
    assert_eq!(p["environment"]["computeType"], "BUILD_GENERAL1_MEDIUM");
    assert_eq!(
        p["logsConfig"]["cloudWatchLogs"]["groupName"],
        format!("/aws/codebuild/{family}")
    );
    let spec = p["source"]["buildspec"].as_str().unwrap();
    assert!(
        spec.contains("exported-variables:")
            && spec.contains("docker login")
            && spec.contains("-f .cargo-fargate/Dockerfile")
            && spec.contains("--cache-from"),
        "{spec}"
    );
    let group = aws(&[
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        &format!("/aws/codebuild/{family}"),
    ]);
    // examples/hello's dev stage keeps logs 7 days (`log-retention-days`).
    assert_eq!(group["logGroups"][0]["retentionInDays"], 7, "{group}");

    // Phases each once, the build's log streamed.
    let phases: Vec<String> = events(&out, "build_phase")
        .iter()
        .map(|e| e["phase"].as_str().unwrap().to_string())
        .collect();
    for want in ["PRE_BUILD", "BUILD", "POST_BUILD"] {
        assert_eq!(
            phases.iter().filter(|p| *p == want).count(),
            1,
            "{phases:?}"
        );
    }
    assert!(
        events(&out, "build_log")
            .iter()
            .any(|e| e["line"].as_str().unwrap().contains("pushed ")),
        "{out}"
    );

    // Pinned by digest; the registry's image pulls back and runs.
    let digest = r["digest"].as_str().unwrap();
    assert!(r["image_uri"]
        .as_str()
        .unwrap()
        .ends_with(&format!("@{digest}")));
    let td = aws(&[
        "ecs",
        "describe-task-definition",
        "--task-definition",
        &family,
    ]);
    assert!(
        td["taskDefinition"]["containerDefinitions"][0]["image"]
            .as_str()
            .unwrap()
            .ends_with(&format!("@{digest}")),
        "{td}"
    );
    let docker = DockerCli::login();
    let pulled = format!("{}/{family}@{digest}", env_var("BENCH_REGISTRY"));
    docker.run(&["pull", &pulled]);
    let said = docker.run(&["run", "--rm", &pulled]);
    assert!(said.contains("Hello"), "{said}");

    // Nothing changed: not built again, nothing uploaded.
    let again = cb(dir.path(), &name, &["push", "--message-format", "json"])
        .output()
        .unwrap();
    let a = json_result(&again);
    assert_eq!(a["up_to_date"], true);
    assert!(a.get("codebuild").is_none(), "{a}");

    // A code-only change: a new archive, a new build that reuses the cached dependency layer.
    let main = dir.path().join("src/main.rs");
    let text = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, text.replace("Hello", "Hello again")).unwrap();
    let o = cb(dir.path(), &name, &["push", "--message-format", "json"])
        .output()
        .unwrap();
    let r2 = json_result(&o);
    assert_eq!(r2["up_to_date"], false);
    assert!(r2["codebuild"]["uploaded_bytes"].as_u64().unwrap() > 0);
    assert_ne!(r2["digest"], r["digest"]);
    let log: Vec<String> = events(&stdout(&o), "build_log")
        .iter()
        .map(|e| e["line"].as_str().unwrap().to_string())
        .collect();
    assert!(
        log.iter().any(|l| l.contains("Using cache")),
        "the rebuild used no cache:\n{}",
        log.join("\n")
    );
}

#[test]
fn a_failing_cargo_step_names_the_build_phase_with_the_compiler_error_and_a_rerun_uploads_nothing()
{
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("cbe");
    std::fs::write(
        dir.path().join("src/main.rs"),
        "fn main() { let x: u32 = \"not a number\"; }\n",
    )
    .unwrap();
    let o = cb(dir.path(), &name, &["push"]).output().unwrap();
    let line = one_line_error(&o, "FAILED in phase BUILD");
    assert!(line.contains("error[E0308]"), "{line}");
    assert!(stderr(&o).contains("mismatched types"), "{}", stderr(&o));
    assert!(
        registry_tags(&format!("{name}-dev")).is_empty(),
        "a failed build pushed"
    );

    // The same source again: the archive is in S3 already.
    let o = cb(dir.path(), &name, &["push", "--message-format", "json"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let fresh = events(&stdout(&o), "status")
        .into_iter()
        .find(|e| e["step"] == "fresh")
        .unwrap_or_else(|| panic!("no upload skipped:\n{}", stdout(&o)));
    assert!(
        fresh["message"]
            .as_str()
            .unwrap()
            .contains("(0 bytes uploaded)"),
        "{fresh}"
    );
    assert!(!events(&stdout(&o), "status")
        .iter()
        .any(|e| e["step"] == "uploading"));
}

#[test]
fn a_build_past_its_timeout_fails_as_timed_out() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("cbt");
    // A build step that outlasts the timeout: 5 minutes is AWS's least, and the bench agent makes a
    // minute of this project last 3 seconds.
    std::fs::write(
        dir.path().join("build.rs"),
        "fn main() { std::thread::sleep(std::time::Duration::from_secs(600)); }\n",
    )
    .unwrap();
    let knob = format!(
        "{}/_bench/codebuild/minute?project={name}-dev&seconds=3",
        env_var("AWS_ENDPOINT_URL").trim_end_matches('/')
    );
    let set = Command::new("curl")
        .args(["-sf", "--max-time", "10", "-X", "POST", &knob])
        .status()
        .unwrap();
    assert!(
        set.success(),
        "the bench agent has no timeout knob at {knob}"
    );
    let o = cb(dir.path(), &name, &["push"])
        .env("CARGO_FARGATE_CODEBUILD_TIMEOUT", "5")
        .output()
        .unwrap();
    let line = one_line_error(&o, "TIMED_OUT");
    assert!(line.contains("codebuild-timeout"), "{line}");
}
