//! The bench agent's CodeBuild, driven through the CodeBuild API with awscli as a user's build would be:
//! a zip in S3, a project with its service role, StartBuild, BatchGetBuilds, the CloudWatch log. These
//! prove the bench behaves as CodeBuild documents it, so the codebuild builder's tests can trust it.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

const ACCOUNT: &str = "123456789012";

/// A project of the test's own: bucket, service role (S3 object + log group only), CodeBuild project.
struct Project {
    name: String,
    bucket: String,
}

impl Project {
    fn new(prefix: &str) -> Project {
        bench();
        let name = unique(prefix);
        let bucket = name.to_lowercase();
        aws(&["s3api", "create-bucket", "--bucket", &bucket]);
        let role = make_role(&name, "codebuild.amazonaws.com");
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": format!("arn:aws:s3:::{bucket}/*")},
            {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": format!("arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/codebuild/{name}:*")},
        ]});
        aws(&[
            "iam",
            "put-role-policy",
            "--role-name",
            &name,
            "--policy-name",
            "build",
            "--policy-document",
            &policy.to_string(),
        ]);
        aws(&[
            "codebuild",
            "create-project",
            "--name",
            &name,
            "--source",
            &json!({"type": "S3", "location": format!("{bucket}/src.zip")}).to_string(),
            "--artifacts",
            "type=NO_ARTIFACTS",
            "--environment",
            "type=LINUX_CONTAINER,image=aws/codebuild/standard:7.0,computeType=BUILD_GENERAL1_SMALL,privilegedMode=true",
            "--service-role",
            &role,
        ]);
        Project { name, bucket }
    }

    /// Uploads a zip of `files` (path, mode, content) as the project's source.
    fn source(&self, files: &[(&str, u32, &str)]) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("src.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        for (name, mode, content) in files {
            let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
            zip.start_file(*name, opts).unwrap();
            zip.write_all(content.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        aws(&[
            "s3",
            "cp",
            path.to_str().unwrap(),
            &format!("s3://{}/src.zip", self.bucket),
        ]);
    }

    fn start(&self, extra: &[&str]) -> String {
        let mut args = vec!["codebuild", "start-build", "--project-name", &self.name];
        args.extend_from_slice(extra);
        aws(&args)["build"]["id"].as_str().unwrap().to_string()
    }
}

fn build(id: &str) -> Value {
    aws(&["codebuild", "batch-get-builds", "--ids", id])["builds"][0].clone()
}

/// Reads the build until it is no longer IN_PROGRESS; every currentPhase seen on the way.
fn wait_done(id: &str, secs: u64) -> (Value, Vec<String>) {
    let start = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    loop {
        let b = build(id);
        let phase = b["currentPhase"].as_str().unwrap_or_default().to_string();
        if seen.last() != Some(&phase) {
            seen.push(phase);
        }
        if b["buildStatus"] != "IN_PROGRESS" {
            return (b, seen);
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "build {id} still IN_PROGRESS after {secs}s: {b}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn phases(b: &Value) -> Vec<(String, String)> {
    b["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["phaseType"].as_str().unwrap().to_string(),
                p["phaseStatus"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn phase<'a>(b: &'a Value, kind: &str) -> &'a Value {
    b["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phaseType"] == kind)
        .unwrap_or_else(|| panic!("no {kind} phase in {b}"))
}

fn log(b: &Value) -> Vec<String> {
    log_messages(
        b["logs"]["groupName"].as_str().unwrap(),
        b["logs"]["streamName"].as_str().unwrap(),
    )
}

/// Position of the first log line containing `needle`.
fn at(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in the build log:\n{}", lines.join("\n")))
}

fn exported(b: &Value) -> Vec<(String, String)> {
    b["exportedEnvironmentVariables"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| {
                    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                    (s("name"), s("value"))
                })
                .collect()
        })
        .unwrap_or_default()
}

const SPEC: &str = r#"version: 0.2
env:
  shell: bash
  variables:
    FROM_SPEC: spec
    OVERRIDDEN: spec
  exported-variables: [RESULT]
phases:
  install:
    commands:
      - KEPT=kept; cd sub
  pre_build:
    commands:
      - echo "pre kept=$KEPT dir=$(pwd) spec=$FROM_SPEC overridden=$OVERRIDDEN"
      - ./tool.sh
      - sleep 2
      - echo "id=$CODEBUILD_BUILD_ID src=$CODEBUILD_SRC_DIR region=$AWS_REGION/$AWS_DEFAULT_REGION account=${AWS_ACCOUNT_ID:-unset} succeeding=$CODEBUILD_BUILD_SUCCEEDING"
  build:
    commands:
      - echo building; false
      - echo never-runs
    finally:
      - echo finally-runs
  post_build:
    commands:
      - echo "post succeeding=$CODEBUILD_BUILD_SUCCEEDING"
      - export RESULT="it's $KEPT"
"#;

#[test]
fn phases_run_in_order_in_one_shell_and_a_failed_build_still_runs_post_build() {
    let p = Project::new("cfbcb-phases-");
    p.source(&[
        ("buildspec.yml", 0o644, SPEC),
        ("sub/tool.sh", 0o755, "#!/bin/sh\necho tool-ran\n"),
    ]);
    let id = p.start(&[
        "--environment-variables-override",
        "name=OVERRIDDEN,value=override,type=PLAINTEXT",
    ]);
    let (b, seen) = wait_done(&id, 120);

    assert_eq!(b["buildStatus"], "FAILED", "{b}");
    assert_eq!(b["buildComplete"], true);
    assert_eq!(b["currentPhase"], "COMPLETED");
    assert!(
        seen.contains(&"PRE_BUILD".to_string()),
        "the running build showed its phase (seen {seen:?})"
    );
    let want = [
        ("SUBMITTED", "SUCCEEDED"),
        ("QUEUED", "SUCCEEDED"),
        ("PROVISIONING", "SUCCEEDED"),
        ("DOWNLOAD_SOURCE", "SUCCEEDED"),
        ("INSTALL", "SUCCEEDED"),
        ("PRE_BUILD", "SUCCEEDED"),
        ("BUILD", "FAILED"),
        ("POST_BUILD", "SUCCEEDED"),
        ("UPLOAD_ARTIFACTS", "SUCCEEDED"),
        ("FINALIZING", "SUCCEEDED"),
        ("COMPLETED", ""),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(phases(&b), want);
    let failed = phase(&b, "BUILD");
    assert_eq!(
        failed["contexts"][0]["statusCode"],
        "COMMAND_EXECUTION_ERROR"
    );
    assert_eq!(
        failed["contexts"][0]["message"],
        "Error while executing command: echo building; false. Reason: exit status 1"
    );
    assert!(
        phase(&b, "PRE_BUILD")["durationInSeconds"]
            .as_i64()
            .unwrap()
            >= 2
    );
    assert_eq!(
        exported(&b),
        vec![("RESULT".to_string(), "it's kept".to_string())]
    );
    assert_eq!(b["logs"]["groupName"], format!("/aws/codebuild/{}", p.name));
    assert_eq!(
        b["logs"]["streamName"].as_str().unwrap(),
        id.split_once(':').unwrap().1
    );
    assert!(b["logs"]["deepLink"]
        .as_str()
        .unwrap()
        .starts_with("https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:"));

    let lines = log(&b);
    let src = lines
        .iter()
        .find_map(|l| l.strip_prefix("pre kept=kept dir="))
        .unwrap_or_else(|| panic!("no pre_build line in:\n{}", lines.join("\n")));
    assert!(
        src.starts_with("/codebuild/output/src")
            && src.contains("/src/sub spec=spec overridden=override"),
        "{src}"
    );
    let src_dir = src.split("/sub ").next().unwrap();
    assert!(lines.iter().any(|l| l
        == &format!(
            "id={id} src={src_dir} region=us-east-1/us-east-1 account=unset succeeding=1"
        )));
    let order = [
        "Entering phase INSTALL",
        "tool-ran",
        "Entering phase BUILD",
        "building",
        "Command did not exit successfully echo building; false exit status 1",
        "finally-runs",
        "Phase complete: BUILD State: FAILED",
        "Entering phase POST_BUILD",
        "post succeeding=0",
    ];
    let positions: Vec<usize> = order.iter().map(|n| at(&lines, n)).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "log out of order {positions:?}:\n{}",
        lines.join("\n")
    );
    assert!(!lines.iter().any(|l| l.contains("never-runs")));
    assert!(
        !lines.iter().any(|l| l.contains("@@cfb-")),
        "the agent's markers leak into the log"
    );
}

#[test]
fn an_install_failure_ends_the_build_and_a_yaml_error_fails_download_source() {
    let p = Project::new("cfbcb-install-");
    p.source(&[(
        "buildspec.yml",
        0o644,
        "version: 0.2\nphases:\n  install:\n    commands:\n      - echo installing\n      - exit 3\n  build:\n    commands:\n      - echo never-runs\n",
    )]);
    let (b, _) = wait_done(&p.start(&[]), 120);
    assert_eq!(b["buildStatus"], "FAILED");
    let kinds: Vec<String> = phases(&b).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        [
            "SUBMITTED",
            "QUEUED",
            "PROVISIONING",
            "DOWNLOAD_SOURCE",
            "INSTALL",
            "FINALIZING",
            "COMPLETED"
        ]
    );
    assert_eq!(
        phase(&b, "INSTALL")["contexts"][0]["message"],
        "Error while executing command: exit 3. Reason: exit status 3"
    );
    assert!(!log(&b).iter().any(|l| l.contains("never-runs")));

    let (b, _) = wait_done(
        &p.start(&["--buildspec-override", "version: 0.2\nphases: [oops\n"]),
        60,
    );
    assert_eq!(b["buildStatus"], "FAILED");
    let ds = phase(&b, "DOWNLOAD_SOURCE");
    assert_eq!(ds["phaseStatus"], "FAILED");
    assert_eq!(ds["contexts"][0]["statusCode"], "YAML_FILE_ERROR");
}

#[test]
fn the_arm_environment_runs_its_build_as_arm64_and_refuses_an_x86_64_image() {
    let p = Project::new("cfbcb-arm-");
    p.source(&[(
        "buildspec.yml",
        0o644,
        "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"machine $(uname -m)\"\n",
    )]);
    let arm = [
        "--environment-type-override",
        "ARM_CONTAINER",
        "--image-override",
        "aws/codebuild/amazonlinux-aarch64-standard:3.0",
    ];
    let (b, _) = wait_done(&p.start(&arm), 300);
    let lines = log(&b);
    assert_eq!(b["buildStatus"], "SUCCEEDED", "{lines:#?}");
    assert_eq!(b["environment"]["type"], "ARM_CONTAINER");
    assert!(
        lines.iter().any(|l| l.trim() == "machine aarch64"),
        "{lines:#?}"
    );
    // The project's own environment (LINUX_CONTAINER) runs x86_64.
    let (b, _) = wait_done(&p.start(&[]), 120);
    let lines = log(&b);
    assert_eq!(b["buildStatus"], "SUCCEEDED", "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.trim() == "machine x86_64"),
        "{lines:#?}"
    );
    // A curated image of the other architecture cannot start there.
    let wrong = [
        "--environment-type-override",
        "ARM_CONTAINER",
        "--image-override",
        "aws/codebuild/standard:7.0",
    ];
    let (b, _) = wait_done(&p.start(&wrong), 60);
    assert_eq!(b["buildStatus"], "FAILED");
    let provisioning = phase(&b, "PROVISIONING");
    assert_eq!(provisioning["contexts"][0]["statusCode"], "CLIENT_ERROR");
    assert!(
        provisioning["contexts"][0]["message"]
            .as_str()
            .unwrap()
            .contains("not supported for environment type ARM_CONTAINER"),
        "{provisioning}"
    );
}

#[test]
fn a_source_the_role_may_not_read_fails_download_source() {
    let p = Project::new("cfbcb-denied-");
    aws(&[
        "s3api",
        "create-bucket",
        "--bucket",
        &format!("{}-other", p.bucket),
    ]);
    let (b, _) = wait_done(
        &p.start(&[
            "--source-location-override",
            &format!("{}-other/src.zip", p.bucket),
        ]),
        60,
    );
    assert_eq!(b["buildStatus"], "FAILED");
    let ds = phase(&b, "DOWNLOAD_SOURCE");
    assert_eq!(ds["contexts"][0]["statusCode"], "ACCESS_DENIED", "{b}");
    // the project's own object, missing: a client error naming the key
    let (b, _) = wait_done(&p.start(&[]), 60);
    let ds = phase(&b, "DOWNLOAD_SOURCE");
    assert!(
        ds["contexts"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("NoSuchKey"),
        "{b}"
    );
}

/// POST /_bench/codebuild/minute: a test's time compression for timeouts (see the agent header).
fn minute_lasts(project: &str, seconds: u32) {
    let endpoint = env_var("AWS_ENDPOINT_URL");
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /_bench/codebuild/minute?project={project}&seconds={seconds} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[test]
fn a_build_past_its_timeout_is_timed_out_and_stop_build_stops_one() {
    let p = Project::new("cfbcb-time-");
    p.source(&[("README", 0o644, "the buildspec comes with StartBuild\n")]);
    minute_lasts(&p.name, 1);
    let spec = "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started\n      - sleep 60\n      - echo never-runs\n";
    let timed = p.start(&[
        "--buildspec-override",
        spec,
        "--timeout-in-minutes-override",
        "5",
    ]);
    let stopped = p.start(&["--buildspec-override", spec]);
    let t0 = Instant::now();
    while !log(&build(&stopped)).iter().any(|l| l == "started") {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the build never started"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    aws(&["codebuild", "stop-build", "--id", &stopped]);

    let (b, _) = wait_done(&stopped, 60);
    assert_eq!(b["buildStatus"], "STOPPED", "{b}");
    assert_eq!(phase(&b, "BUILD")["phaseStatus"], "STOPPED");
    assert!(!log(&b).iter().any(|l| l.contains("never-runs")));

    let (b, _) = wait_done(&timed, 60);
    assert_eq!(b["buildStatus"], "TIMED_OUT", "{b}");
    assert_eq!(b["timeoutInMinutes"], 5);
    assert_eq!(phase(&b, "BUILD")["phaseStatus"], "TIMED_OUT");
    assert!(
        t0.elapsed() < Duration::from_secs(50),
        "5 bench minutes of 1 s"
    );
    // nothing is left running on the Engine
    let o = std::process::Command::new("docker")
        .args([
            "ps",
            "-q",
            "--filter",
            &format!(
                "label=cargo-fargate-bench.task={}",
                b["arn"].as_str().unwrap()
            ),
        ])
        .output()
        .unwrap();
    assert!(
        stdout(&o).trim().is_empty(),
        "the build's container is still there"
    );
}

#[test]
fn a_privileged_build_pushes_to_ecr_by_its_real_uri_and_ecr_agrees_with_the_registry() {
    let p = Project::new("cfbcb-push-");
    let repo = p.name.to_lowercase();
    let uri = aws(&["ecr", "create-repository", "--repository-name", &repo])["repository"]
        ["repositoryUri"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(uri.contains(".dkr.ecr.us-east-1.amazonaws.com/"), "{uri}");
    let dockerfile = format!(
        "FROM {}\nRUN echo {} > /built\n",
        env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE"),
        p.name
    );
    let spec = r#"version: 0.2
env:
  exported-variables: [IMAGE_DIGEST]
phases:
  pre_build:
    commands:
      - aws ecr get-login-password --region $AWS_REGION | docker login --username AWS --password-stdin ${REPOSITORY_URI%%/*}
  build:
    commands:
      - docker build -t $REPOSITORY_URI:$IMAGE_TAG .
      - docker push $REPOSITORY_URI:$IMAGE_TAG
      - IMAGE_DIGEST=$(docker inspect --format '{{index .RepoDigests 0}}' $REPOSITORY_URI:$IMAGE_TAG | cut -d@ -f2)
"#;
    p.source(&[
        ("buildspec.yml", 0o644, spec),
        ("Dockerfile", 0o644, dockerfile.as_str()),
    ]);
    // UpdateProject (moto has none): the project's variables name the repository
    let env = json!({"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
        "computeType": "BUILD_GENERAL1_SMALL", "privilegedMode": true,
        "environmentVariables": [{"name": "REPOSITORY_URI", "value": uri, "type": "PLAINTEXT"}]});
    aws(&[
        "codebuild",
        "update-project",
        "--name",
        &p.name,
        "--environment",
        &env.to_string(),
        "--timeout-in-minutes",
        "20",
    ]);
    let got = aws(&["codebuild", "batch-get-projects", "--names", &p.name])["projects"][0].clone();
    assert_eq!(
        got["environment"]["environmentVariables"][0]["value"],
        uri.as_str()
    );
    assert_eq!(got["timeoutInMinutes"], 20);

    let (b, _) = wait_done(
        &p.start(&[
            "--environment-variables-override",
            "name=IMAGE_TAG,value=t1",
        ]),
        300,
    );
    assert_eq!(b["buildStatus"], "SUCCEEDED", "{b}\n{}", log(&b).join("\n"));
    let digest = exported(&b)[0].1.clone();
    assert!(digest.starts_with("sha256:"), "{b}");
    let images = aws(&[
        "ecr",
        "describe-images",
        "--repository-name",
        &repo,
        "--image-ids",
        "imageTag=t1",
    ]);
    assert_eq!(images["imageDetails"][0]["imageDigest"], digest.as_str());
    let manifest = registry_manifest(&repo, "t1");
    let got = aws(&[
        "ecr",
        "batch-get-image",
        "--repository-name",
        &repo,
        "--image-ids",
        "imageTag=t1",
    ]);
    assert_eq!(
        got["images"][0]["imageManifest"].as_str().unwrap(),
        manifest,
        "ECR holds the registry's manifest bytes"
    );
}
