//! The host builder end to end on the bench (registry + Docker Engine), and its small helpers.
use super::*;
use crate::publish::push;
use crate::registry::{digest_of, Registry, MEDIA_DOCKER_MANIFEST};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

#[test]
fn times_and_epochs() {
    assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(source_date_epoch(None), Ok(0));
    assert_eq!(source_date_epoch(Some("1700000000")), Ok(1_700_000_000));
    let e = source_date_epoch(Some("yesterday"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("env SOURCE_DATE_EPOCH: "), "{e}");
}

// ----------------------------------------------------------------------- real parts ---

/// A copy of examples/hello in a temp dir (without target/), so build output stays out of the repo.
fn hello_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    for rel in ["Cargo.toml", "Cargo.lock", "src/main.rs"] {
        let to = dir.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(src.join(rel), to).unwrap();
    }
    dir
}

#[tokio::test]
async fn a_failed_cargo_build_is_one_line_with_the_fix() {
    let dir = hello_copy();
    std::fs::write(
        dir.path().join("src/main.rs"),
        "fn main() { let x: u8 = \"no\"; }\n",
    )
    .unwrap();
    let cargo = CargoBuild {
        manifest: dir.path().join("Cargo.toml"),
        bin: "hello".into(),
        profile: "dev".into(),
        target: format!("{}-unknown-linux-gnu", std::env::consts::ARCH),
        features: vec![],
    };
    let err = tokio::task::spawn_blocking(move || cargo.run())
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Cargo.toml: cargo build of `hello` for"),
        "{err}"
    );
    assert!(
        err.contains("failed; fix what cargo reported above"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
}

const HOW: &str = "the local bench is not running: run `scripts/test.sh`, or `scripts/bench.sh up && eval \"$(scripts/bench.sh env)\"` before `cargo test`";

/// The bench registry and the runtime stand-in pushed there; fails (never skips) when absent.
fn bench() -> (String, String) {
    assert!(std::env::var("CARGO_FARGATE_BENCH").is_ok(), "{HOW}");
    let registry = std::env::var("BENCH_REGISTRY").expect(HOW);
    std::net::TcpStream::connect(&registry).unwrap_or_else(|e| panic!("{HOW} ({registry}: {e})"));
    let base = std::env::var("CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE")
        .unwrap_or_else(|_| panic!("CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE is not set: {HOW}"));
    (registry, base)
}

fn bench_credentials() -> Credentials {
    Credentials::new("AWS", "123456789012-auth-token")
}

/// `docker` with a throwaway client config logged in to the bench registry (nothing in ~/.docker).
struct Docker {
    config: tempfile::TempDir,
}

impl Docker {
    fn login(registry: &str) -> Docker {
        let d = Docker {
            config: tempfile::tempdir().unwrap(),
        };
        let mut child = d
            .cmd(&["login", registry, "-u", "AWS", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docker is on PATH (the bench installs it)");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(bench_credentials().password().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "docker login: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        d
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_CONFIG", self.config.path()).args(args);
        c
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

async fn host_build(
    dir: &Path,
    base: &str,
    registry: &str,
) -> (OciImage, Config, std::time::Duration) {
    let start = Instant::now();
    let (image, config) = try_host_build(dir, base, registry).await;
    (image.unwrap(), config, start.elapsed())
}

async fn try_host_build(dir: &Path, base: &str, registry: &str) -> (Result<OciImage>, Config) {
    let project = Project::load(Some(&dir.join("Cargo.toml")), None).unwrap();
    let stage = crate::config::StageChoice {
        name: "dev".into(),
        location: None,
    };
    let config = crate::config::load(&project, &stage, None, Default::default(), |k| {
        (k == "CARGO_FARGATE_RUNTIME_IMAGE").then(|| base.to_string())
    })
    .unwrap();
    let input = HostBuildInput {
        project: &project,
        config: &config,
        labels: BTreeMap::from([("org.example.test".to_string(), "host".to_string())]),
        base_credentials: Some(bench_credentials()),
        base_registry_override: None,
        push_registry: Some(registry.to_string()),
    };
    let image = build(&input, &Output::plain()).await;
    (image, config)
}

#[tokio::test]
async fn host_builds_hello_pushes_it_and_docker_runs_it() {
    let (registry_host, base) = bench();
    let registry = Registry::new(&registry_host, Some(bench_credentials())).unwrap();
    let base_ref = ImageRef::parse(&base).unwrap();
    assert!(
            registry
                .manifest_digest(&base_ref.repository, &base_ref.reference)
                .await
                .unwrap()
                .is_some(),
            "{base} is not in the bench registry: run `scripts/base-images.sh` (it pushes the runtime stand-in there)"
        );
    let dir = hello_copy();

    // A base that is not there fails on one line about `runtime-image`, before cargo runs.
    let missing = format!("{registry_host}/{}:no-such-tag", base_ref.repository);
    let err = try_host_build(dir.path(), &missing, &registry_host)
        .await
        .0
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("`runtime-image`: base image `"), "{err}");
    assert!(err.contains(":no-such-tag does not exist"), "{err}");
    assert!(err.contains("; check `runtime-image`"), "{err}");
    assert!(!err.contains('\n'), "{err}");
    assert!(
        !dir.path().join("target/x86_64-unknown-linux-gnu").exists(),
        "cargo ran"
    );

    let (image, config, took) = host_build(dir.path(), &base, &registry_host).await;
    eprintln!("host build: {took:?}");

    // The OCI layout: index → manifest → config and layers, all present and named by digest.
    let layout: Value =
        serde_json::from_slice(&std::fs::read(image.dir.join("index.json")).unwrap()).unwrap();
    assert_eq!(
        layout["manifests"][0]["digest"],
        json!(image.manifest_digest)
    );
    assert!(image
        .dir
        .ends_with(format!("fargate/oci/{}-dev", config.project)));
    let manifest: Value = serde_json::from_slice(&image.manifest).unwrap();
    assert_eq!(
        image.manifest_media_type, MEDIA_DOCKER_MANIFEST,
        "docker pushed the base in schema 2"
    );
    let layers = manifest["layers"].as_array().unwrap();
    for d in layers.iter().chain([&manifest["config"]]) {
        let digest = d["digest"].as_str().unwrap();
        let bytes = std::fs::read(blob_path(&image.dir.join("blobs"), digest).unwrap()).unwrap();
        assert_eq!(digest_of(&bytes), digest);
    }
    let blobs = std::fs::read_dir(image.dir.join("blobs/sha256"))
        .unwrap()
        .count();
    assert_eq!(
        blobs,
        layers.len() + 2,
        "exactly this image's blobs (+ manifest)"
    );
    let base_layers = layers.len() - 1;

    // The base's blobs are cached: a second build downloads nothing and gives the same image.
    let cache = dir.path().join("target/fargate/oci-cache/blobs/sha256");
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(cached.len(), base_layers + 1, "base layers + base config");
    let before: Vec<_> = cached
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    let (again, _, took_again) = host_build(dir.path(), &base, &registry_host).await;
    eprintln!("host rebuild, nothing changed: {took_again:?}");
    assert_eq!(
        again.manifest_digest, image.manifest_digest,
        "same binary, same image"
    );
    let after: Vec<_> = cached
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    assert_eq!(before, after, "no base blob downloaded twice");
    // The bench's runtime stand-in is Debian 12: glibc 2.36, read from its layer once.
    let memo = dir
        .path()
        .join("target/fargate/oci-cache/glibc")
        .join(&again.base_digest[7..]);
    assert_eq!(std::fs::read_to_string(memo).unwrap(), "2.36");

    // First push: our layer and config uploaded, the base's layers mounted from its repository.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let repo = format!("cargo-fargate-test/host-{}-{nanos}", std::process::id());
    let out = Output::plain();
    let start = Instant::now();
    let first = push(&image, &registry, &repo, &["v1".to_string()], &out)
        .await
        .unwrap();
    eprintln!("first push: {:?} {first:?}", start.elapsed());
    assert_eq!(first.digest, image.manifest_digest);
    assert_eq!(
        (
            first.blobs_uploaded,
            first.blobs_mounted,
            first.blobs_skipped
        ),
        (2, base_layers, 0)
    );
    let ours = layers.last().unwrap()["size"].as_u64().unwrap()
        + manifest["config"]["size"].as_u64().unwrap();
    assert_eq!(first.bytes_uploaded, ours);
    assert_eq!(
        registry
            .manifest_digest(&repo, "v1")
            .await
            .unwrap()
            .as_deref(),
        Some(image.manifest_digest.as_str())
    );

    // Docker pulls and runs it: the binary, as the non-root user, with fixed modes.
    let docker = Docker::login(&registry_host);
    let tagged = format!("{registry_host}/{repo}:v1");
    docker.ok(&["pull", "-q", &tagged]);
    assert_eq!(docker.ok(&["run", "--rm", &tagged]), "Hello! args=[]\n");
    assert_eq!(
        docker.ok(&[
            "run",
            "--rm",
            "-e",
            "GREETING=Hello from cargo-fargate",
            &tagged,
            "a",
            "b"
        ]),
        "Hello from cargo-fargate! args=[\"a\", \"b\"]\n"
    );
    assert_eq!(
        docker.ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "stat",
            &tagged,
            "-c",
            "%a %u:%g %Y",
            "/usr/local/bin/hello"
        ]),
        "755 0:0 0\n"
    );
    assert_eq!(
        docker.ok(&["run", "--rm", "--entrypoint", "id", &tagged, "-u"]),
        "10001\n"
    );
    let inspected = docker.ok(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.User}} {{index .Config.Labels \"org.example.test\"}}",
        &tagged,
    ]);
    assert_eq!(inspected, "10001:10001 host\n");

    // Second push of the same image: nothing uploaded.
    let start = Instant::now();
    let second = push(
        &image,
        &registry,
        &repo,
        &["v1".to_string(), "v1-again".to_string()],
        &out,
    )
    .await
    .unwrap();
    eprintln!("second push: {:?} {second:?}", start.elapsed());
    assert_eq!(
        (
            second.blobs_uploaded,
            second.blobs_mounted,
            second.bytes_uploaded
        ),
        (0, 0, 0)
    );
    assert_eq!(second.blobs_skipped, layers.len() + 1);
    assert_eq!(
        registry
            .manifest_digest(&repo, "v1-again")
            .await
            .unwrap()
            .as_deref(),
        Some(image.manifest_digest.as_str())
    );

    // A changed binary: only its layer and the config travel.
    let main = dir.path().join("src/main.rs");
    let code = std::fs::read_to_string(&main)
        .unwrap()
        .replace("args={args:?}", "v2 args={args:?}");
    std::fs::write(&main, code).unwrap();
    let (changed, _, _) = host_build(dir.path(), &base, &registry_host).await;
    assert_ne!(changed.manifest_digest, image.manifest_digest);
    let third = push(&changed, &registry, &repo, &["v2".to_string()], &out)
        .await
        .unwrap();
    eprintln!("changed binary push: {third:?}");
    assert_eq!(
        (
            third.blobs_uploaded,
            third.blobs_mounted,
            third.blobs_skipped
        ),
        (2, 0, base_layers)
    );
    let tagged2 = format!("{registry_host}/{repo}:v2");
    docker.ok(&["pull", "-q", &tagged2]);
    assert_eq!(docker.ok(&["run", "--rm", &tagged2]), "Hello! v2 args=[]\n");
    let _ = docker.cmd(&["image", "rm", &tagged, &tagged2]).output();
}
