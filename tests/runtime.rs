//! The minimal runtime (`runtime-image = "scratch"`, the default) on the real bench, for the host and
//! the docker builders: the image holds the binary and exactly its shared libraries, runs as uid
//! 10001, finds its CA bundle where rustls-native-certs and OpenSSL look, and resolves names through
//! glibc's NSS (/etc/hosts, then DNS — Docker's embedded DNS server on a user-defined network; the
//! bench has no internet). Host builds of the same commit from two clones give the same digest.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn probe() -> tempfile::TempDir {
    copy_fixture(&repo().join("tests/fixtures/runtime-probe"))
}

/// `push` with the minimal runtime; its JSON result.
fn push_minimal(dir: &Path, repository: &str, builder: &str) -> serde_json::Value {
    let mut cmd = if builder == "host" {
        host_bench_command(dir, repository, &["push", "--message-format", "json"])
    } else {
        bench_command(dir, repository, &["push", "--message-format", "json"])
    };
    cmd.env("CARGO_FARGATE_RUNTIME_IMAGE", "scratch");
    json_result(&cmd.output().unwrap())
}

/// Paths of the regular files and symlinks in the image (not what Docker adds to a container).
fn image_files(docker: &DockerCli, image: &str) -> BTreeSet<String> {
    let id = docker.run(&["create", image]).trim().to_string();
    let out = docker.cmd(&["export", &id]).output().unwrap();
    docker.run(&["rm", &id]);
    assert!(out.status.success(), "docker export: {}", stderr(&out));
    let mut archive = tar::Archive::new(&out.stdout[..]);
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| !e.header().entry_type().is_dir())
        .map(|e| e.path().unwrap().to_string_lossy().into_owned())
        .filter(|p| {
            ![
                ".dockerenv",
                "etc/hosts",
                "etc/hostname",
                "etc/resolv.conf",
                "etc/mtab",
            ]
            .contains(&p.as_str())
                && !p.starts_with("dev/")
                && !p.starts_with("proc/")
                && !p.starts_with("sys/")
        })
        .collect()
}

/// Runs the probe in the image on a network of its own (so Docker's DNS server answers for
/// `probe-peer.test`, an alias of the probe's own container); its `key=value` report.
fn run_probe(docker: &DockerCli, image: &str) -> std::collections::BTreeMap<String, String> {
    let net = unique("lean-net");
    docker.run(&["network", "create", &net]);
    let out = docker
        .cmd(&[
            "run",
            "--rm",
            "--network",
            &net,
            "--network-alias",
            "probe-peer.test",
            "--add-host",
            "probe-hosts.test:10.9.8.7",
            image,
            "localhost",
            "probe-hosts.test",
            "probe-peer.test",
        ])
        .output()
        .unwrap();
    let _ = docker.cmd(&["network", "rm", &net]).output();
    assert!(out.status.success(), "docker run: {}", stderr(&out));
    stdout(&out)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What every minimal image must offer the probe.
fn assert_runtime_works(report: &std::collections::BTreeMap<String, String>) {
    assert_eq!(report["uid"], "10001", "{report:?}");
    let bundle: usize = report["certs /etc/ssl/certs/ca-certificates.crt"]
        .parse()
        .unwrap();
    assert!(bundle > 0, "no CA certificates: {report:?}");
    // openssl-probe (rustls-native-certs) tries these; Debian's OpenSSL reads $OPENSSLDIR/cert.pem.
    for path in [
        "/etc/ssl/cert.pem",
        "/usr/lib/ssl/cert.pem",
        "/etc/pki/tls/certs/ca-bundle.crt",
    ] {
        assert_eq!(
            report[&format!("certs {path}")],
            bundle.to_string(),
            "{path}: {report:?}"
        );
    }
    assert_eq!(report["tmp-writable"], "true");
    assert!(
        report["resolve localhost"].contains("127.0.0.1"),
        "{report:?}"
    );
    assert_eq!(
        report["resolve probe-hosts.test"], "10.9.8.7",
        "/etc/hosts via NSS files"
    );
    let peer = &report["resolve probe-peer.test"];
    assert!(
        peer.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| !ip.is_loopback()),
        "DNS via Docker's resolver: {report:?}"
    );
}

/// The OPENSSLDIR of this machine's OpenSSL (the build environment's): where its cert.pem is read.
fn openssl_dir() -> Option<String> {
    let out = Command::new("openssl")
        .args(["version", "-d"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.split('"').nth(1)?.to_string())
}

#[test]
fn host_minimal_image_holds_exactly_the_binary_closure_and_runs_tls_dns_as_10001() {
    let dir = probe();
    let repository = unique("probe-host");
    let r = push_minimal(dir.path(), &repository, "host");
    let digest = r["digest"].as_str().unwrap();
    let image = format!("{}/{repository}@{digest}", env_var("BENCH_REGISTRY"));
    let docker = DockerCli::login();
    docker.run(&["pull", "-q", &image]);

    // Exactly the binary's ELF closure, as `ldd` (another tool than ours) reports it here.
    let binary = dir
        .path()
        .join("target/x86_64-unknown-linux-gnu/release/runtime-probe");
    let ldd = Command::new("ldd").arg(&binary).output().unwrap();
    let expected_libs: BTreeSet<String> = stdout(&ldd)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                [_, "=>", path, ..] if path.starts_with('/') => Some(path.to_string()),
                [path, ..] if path.starts_with('/') => Some(path.to_string()),
                _ => None,
            }
        })
        .map(|p| p.trim_start_matches('/').to_string())
        .collect();
    assert!(
        expected_libs.iter().any(|l| l.ends_with("/libc.so.6")),
        "{expected_libs:?}"
    );
    let files = image_files(&docker, &image);
    let libs: BTreeSet<String> = files
        .iter()
        .filter(|f| f.contains(".so"))
        .cloned()
        .collect();
    assert_eq!(libs, expected_libs, "the image's libraries vs ldd");
    for f in [
        "usr/local/bin/runtime-probe",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/passwd",
        "etc/group",
        "etc/nsswitch.conf",
    ] {
        assert!(files.contains(f), "{f} missing: {files:?}");
    }
    assert!(
        !files
            .iter()
            .any(|f| f.starts_with("bin/") || f.starts_with("usr/bin/")),
        "no shell or tools: {files:?}"
    );
    assert!(
        !files.iter().any(|f| f.contains("zoneinfo")),
        "tzdata only when asked"
    );
    if let Some(d) = openssl_dir() {
        assert_eq!(
            d, "/usr/lib/ssl",
            "the image links $OPENSSLDIR/cert.pem for this OPENSSLDIR"
        );
    }

    assert_runtime_works(&run_probe(&docker, &image));
    let labels = docker.run(&[
        "image",
        "inspect",
        "-f",
        "{{.Config.User}} {{index .Config.Labels \"dev.cargo-fargate.toolchain\"}}",
        &image,
    ]);
    assert!(labels.starts_with("10001:10001 rustc "), "{labels}");
}

#[test]
fn docker_minimal_image_from_the_default_template_runs_tls_dns_as_10001() {
    let dir = probe();
    let repository = unique("probe-docker");
    let r = push_minimal(dir.path(), &repository, "docker");
    assert_eq!(r["build"]["plan"]["dockerfile"]["kind"], "template");
    let digest = r["digest"].as_str().unwrap();
    let image = format!("{}/{repository}@{digest}", env_var("BENCH_REGISTRY"));
    let docker = DockerCli::login();
    docker.run(&["pull", "-q", &image]);

    let files = image_files(&docker, &image);
    let libs: Vec<&str> = files
        .iter()
        .filter(|f| f.contains(".so"))
        .map(|f| f.rsplit('/').next().unwrap())
        .collect();
    assert!(libs.contains(&"libc.so.6"), "{files:?}");
    assert!(libs.iter().any(|l| l.starts_with("ld-linux")), "{files:?}");
    assert!(
        !files
            .iter()
            .any(|f| f.starts_with("bin/") || f.starts_with("usr/bin/")),
        "no shell or tools: {files:?}"
    );
    // The binary keeps its own name (a clap program's usage says it), as with the host builder.
    assert!(files.contains("usr/local/bin/runtime-probe"), "{files:?}");
    let entrypoint = docker.run(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Entrypoint}}",
        &image,
    ]);
    assert_eq!(entrypoint.trim(), r#"["/usr/local/bin/runtime-probe"]"#);
    assert_runtime_works(&run_probe(&docker, &image));
    let size = docker.run(&["image", "inspect", "-f", "{{.Size}}", &image]);
    let size: u64 = size.trim().parse().unwrap();
    assert!(
        size < 10 << 20,
        "a minimal image, not a distribution: {size} bytes"
    );
}

/// `cargo fargate build` with the host builder in `dir`: its result and its output (status events).
fn host_build(dir: &Path, epoch: Option<&str>) -> (serde_json::Value, String) {
    let mut cmd = command(dir, &["build", "--message-format", "json"]);
    // No `runtime-image` anywhere: the default is the minimal runtime.
    cmd.env("CARGO_FARGATE_BUILDER", "host")
        .env_remove("CARGO_FARGATE_RUNTIME_IMAGE")
        .env_remove("SOURCE_DATE_EPOCH");
    if let Some(e) = epoch {
        cmd.env("SOURCE_DATE_EPOCH", e);
    }
    let out = cmd.output().unwrap();
    (json_result(&out), stdout(&out))
}

#[test]
fn host_builds_of_one_commit_from_two_clones_give_the_same_digest() {
    let origin = probe();
    let git = |dir: &Path, args: &[&str]| {
        let o = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .env("GIT_COMMITTER_DATE", "2024-05-01T12:00:00Z")
            .env("GIT_AUTHOR_DATE", "2024-05-01T12:00:00Z")
            .output()
            .unwrap();
        assert!(o.status.success(), "git {args:?}: {}", stderr(&o));
    };
    git(origin.path(), &["init", "-q"]);
    git(origin.path(), &["add", "-A"]);
    git(origin.path(), &["commit", "-qm", "probe"]);
    let clones: Vec<tempfile::TempDir> = (0..2)
        .map(|_| {
            let c = tempfile::tempdir().unwrap();
            git(
                c.path(),
                &["clone", "-q", origin.path().to_str().unwrap(), "."],
            );
            c
        })
        .collect();
    let (a, a_out) = host_build(clones[0].path(), None);
    let (b, _) = host_build(clones[1].path(), None);
    assert!(
        a_out.contains("minimal: scratch") && a_out.contains("the default"),
        "build says which runtime and why: {a_out}"
    );
    assert_eq!(
        a["builder"].as_str().or(a["plan"]["builder"].as_str()),
        Some("host"),
        "{a}"
    );
    let digest = a["image_id"].as_str().unwrap();
    assert!(digest.starts_with("sha256:"), "{a}");
    assert_eq!(b["image_id"], a["image_id"], "same commit, same image");

    // The layers' mtimes and `created` come from the commit, not from the clock.
    let layout = clones[0]
        .path()
        .join("target/fargate/oci/runtime-probe-dev");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let blob = |d: &str| std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config: serde_json::Value =
        serde_json::from_slice(&blob(manifest["config"]["digest"].as_str().unwrap())).unwrap();
    assert_eq!(config["created"], "2024-05-01T12:00:00Z");
    for layer in manifest["layers"].as_array().unwrap() {
        let gz = blob(layer["digest"].as_str().unwrap());
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&gz[..]));
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            assert_eq!(e.header().mtime().unwrap(), 1_714_564_800);
        }
    }

    // SOURCE_DATE_EPOCH wins over the commit time: another input, another digest.
    let (c, _) = host_build(clones[0].path(), Some("1"));
    assert_ne!(c["image_id"], a["image_id"]);
}

#[test]
fn the_sbom_lists_the_crates_the_binary_uses_and_is_pushed_next_to_the_image() {
    let dir = copy_fixture(&repo().join("tests/fixtures/sbom-app"));
    let repository = unique("sbom");
    let r = push_minimal(dir.path(), &repository, "host");
    let digest = r["digest"].as_str().unwrap();

    // Cargo.lock holds itoa (a dependency) and hex (a dev-dependency, not in the binary).
    let lock: toml_edit::DocumentMut = std::fs::read_to_string(dir.path().join("Cargo.lock"))
        .unwrap()
        .parse()
        .unwrap();
    let locked: BTreeSet<(String, String)> = lock["package"]
        .as_array_of_tables()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_string(),
                p["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let in_binary: BTreeSet<(String, String)> = locked
        .iter()
        .filter(|(n, _)| n != "sbom-app" && n != "hex")
        .cloned()
        .collect();
    assert!(locked.iter().any(|(n, _)| n == "hex"), "{locked:?}");

    let path = dir.path().join("target/fargate/sbom/sbom-app-dev.cdx.json");
    assert_eq!(r["build"]["sbom"].as_str(), path.to_str(), "{r}");
    let bytes = std::fs::read(&path).unwrap();
    let sbom: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(sbom["bomFormat"], "CycloneDX");
    assert_eq!(sbom["metadata"]["component"]["name"], "sbom-app");
    let listed: BTreeSet<(String, String)> = sbom["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                c["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed, in_binary,
        "exactly the crates the binary is built from"
    );
    let itoa = &sbom["components"][0];
    assert_eq!(
        itoa["purl"],
        format!("pkg:cargo/itoa@{}", in_binary.iter().next().unwrap().1)
    );

    // Next to the image: the bench's registry (distribution 2.x) has no referrers API, so the
    // artifact is tagged sha256-<image hex>.sbom; its subject is the image, its layer the file.
    let tag = format!("{}.sbom", digest.replace(':', "-"));
    assert_eq!(r["sbom"]["tag"], tag.as_str(), "{r}");
    let artifact: serde_json::Value =
        serde_json::from_str(&registry_manifest(&repository, &tag)).unwrap();
    assert_eq!(artifact["artifactType"], "application/vnd.cyclonedx+json");
    assert_eq!(artifact["subject"]["digest"], digest);
    assert_eq!(
        artifact["layers"][0]["digest"].as_str().unwrap(),
        format!(
            "sha256:{}",
            hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))
        )
    );
}
