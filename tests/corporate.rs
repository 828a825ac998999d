//! Corporate networks on the bench, as AWS speaks only HTTPS: moto and the registry behind TLS
//! with the bench's own CA (scripts/bench/tls.sh: openssl and HAProxy), trusted through
//! `AWS_CA_BUNDLE` alone; and a deploy through an HTTP proxy on 127.0.0.1 that counts what it
//! forwarded (scripts/bench/proxy.py). Each deploy is examples/hello, built by the Docker Engine,
//! pushed and run by the bench agent. And the proxy reaches the engine's image builds.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// The TLS terminator in front of this bench's moto and registry (started once, kept running).
struct Tls {
    ca: String,
    moto: String,
    registry: String,
}

fn port_of(address: &str) -> String {
    address
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .to_string()
}

/// Started once per test binary (scripts/bench/tls.sh also takes a lock for other processes).
fn tls() -> &'static Tls {
    static TLS: std::sync::OnceLock<Tls> = std::sync::OnceLock::new();
    TLS.get_or_init(start_tls)
}

fn start_tls() -> Tls {
    let o = Command::new(repo().join("scripts/bench/tls.sh"))
        .arg("up")
        .env("BENCH_MOTO_PORT", port_of(&env_var("AWS_ENDPOINT_URL")))
        .env("BENCH_REGISTRY_PORT", port_of(&env_var("BENCH_REGISTRY")))
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "scripts/bench/tls.sh up: {}",
        stderr(&o)
    );
    let vars: HashMap<String, String> = stdout(&o)
        .lines()
        .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Tls {
        ca: vars["BENCH_CA"].clone(),
        moto: vars["BENCH_TLS_MOTO_URL"].clone(),
        registry: vars["BENCH_TLS_REGISTRY"].clone(),
    }
}

/// `cargo fargate deploy` of examples/hello with moto and the registry reached over TLS only, no
/// proxy and no CA bundle unless the test sets them.
fn deploy(dir: &Path, name: &str, tls: &Tls) -> Command {
    let mut cmd = bench_command(
        dir,
        &format!("{name}-dev"),
        &["deploy", "--message-format", "json"],
    );
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg)
        .env("AWS_ENDPOINT_URL", &tls.moto)
        .env("CARGO_FARGATE_REGISTRY_ENDPOINT", &tls.registry)
        .env_remove("AWS_CA_BUNDLE");
    for v in ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY"] {
        cmd.env_remove(v).env_remove(v.to_ascii_lowercase());
    }
    cmd
}

#[test]
fn a_deploy_over_tls_trusts_the_bench_ca_through_aws_ca_bundle_only() {
    let tls = tls();
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("tls");

    // Without the bundle the bench CA is unknown (it is in no system store): refused, one line.
    let o = deploy(dir.path(), &name, tls).output().unwrap();
    let e = one_line_error(&o, "invalid peer certificate: UnknownIssuer");
    assert!(e.contains("point AWS_CA_BUNDLE"), "{e}");

    // A bundle that is not there: one line naming the variable.
    let o = deploy(dir.path(), &name, tls)
        .env("AWS_CA_BUNDLE", dir.path().join("missing.pem"))
        .output()
        .unwrap();
    let e = one_line_error(&o, "AWS_CA_BUNDLE: cannot read the CA bundle");
    assert!(e.contains("point it at a PEM file"), "{e}");

    // With AWS_CA_BUNDLE: every AWS call and the push go over TLS, and the task runs.
    let o = deploy(dir.path(), &name, tls)
        .env("AWS_CA_BUNDLE", &tls.ca)
        .output()
        .unwrap();
    let r = json_result(&o);
    assert_eq!(r["exit_code"], 0, "{r}");
    assert!(
        !registry_tags(&format!("{name}-dev")).is_empty(),
        "nothing pushed"
    );

    // A profile's `ca_bundle` does the same (AWS_CA_BUNDLE unset).
    let config = dir.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile corp]\nregion = us-east-1\nca_bundle = {}\n",
            tls.ca
        ),
    )
    .unwrap();
    let mut ps = bench_command(dir.path(), &format!("{name}-dev"), &["ps"]);
    ps.env("CARGO_FARGATE_NAME", &name)
        .env("AWS_ENDPOINT_URL", &tls.moto)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_PROFILE", "corp")
        .env_remove("AWS_CA_BUNDLE");
    let o = ps.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
}

/// The counting proxy, on a port of its own; killed on drop.
struct Proxy {
    child: std::process::Child,
    address: String,
}

impl Proxy {
    fn start() -> Proxy {
        let mut child = Command::new("python3")
            .arg(repo().join("scripts/bench/proxy.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let address = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("proxy said {line:?}"))
            .to_string();
        Proxy { child, address }
    }

    /// {"host:port": {"requests": n, "tunnels": n}}
    fn counts(&self) -> Value {
        let mut s = std::net::TcpStream::connect(&self.address).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        write!(s, "GET /_proxy/counts HTTP/1.0\r\n\r\n").unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_deploy_goes_through_the_https_proxy_and_no_proxy_is_honoured() {
    let tls = tls();
    let proxy = Proxy::start();
    let url = format!("http://{}", proxy.address);
    let dir = copy_fixture(&repo().join("examples/hello"));
    let name = unique("pxy");
    let o = deploy(dir.path(), &name, tls)
        .env("AWS_CA_BUNDLE", &tls.ca)
        .env("HTTPS_PROXY", &url)
        .env("HTTP_PROXY", &url)
        .output()
        .unwrap();
    let r = json_result(&o);
    assert_eq!(r["exit_code"], 0, "{r}");
    let counts = proxy.counts();
    let tunnels = |to: &str| counts[format!("127.0.0.1:{}", port_of(to))]["tunnels"].as_u64();
    assert!(tunnels(&tls.moto).unwrap_or(0) > 0, "AWS calls: {counts}");
    assert!(tunnels(&tls.registry).unwrap_or(0) > 0, "pushes: {counts}");

    // NO_PROXY: the same calls go straight to the endpoint.
    let o = deploy(dir.path(), &name, tls)
        .env("AWS_CA_BUNDLE", &tls.ca)
        .env("HTTPS_PROXY", &url)
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap();
    assert_eq!(json_result(&o)["exit_code"], 0);
    assert_eq!(proxy.counts(), counts, "NO_PROXY was not honoured");
}

/// The proxy reaches the Docker Engine's builds as Docker's predefined build arguments: a `RUN`
/// step of the image sees HTTPS_PROXY when the tool has it, and nothing when it does not.
#[test]
fn image_builds_get_the_proxy_as_build_arguments() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nCOPY marker /marker\nRUN echo \"proxy=${{HTTPS_PROXY:-none}}\" > /proxy.txt\nCMD [\"cat\", \"/proxy.txt\"]\n",
            env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE")
        ),
    )
    .unwrap();
    let name = unique("pxb");
    let seen = |proxy: Option<&str>| {
        // A new marker each time: the RUN step is never a cached one (proxy arguments are not
        // part of Docker's cache key).
        std::fs::write(dir.path().join("marker"), unique("m")).unwrap();
        let mut cmd = bench_command(
            dir.path(),
            &format!("{name}-dev"),
            &["run", "--local", "--no-task-role"],
        );
        cmd.env("CARGO_FARGATE_NAME", &name)
            .env("CARGO_FARGATE_DOCKERFILE", "Dockerfile");
        for v in ["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY"] {
            cmd.env_remove(v).env_remove(v.to_ascii_lowercase());
        }
        if let Some(p) = proxy {
            // NO_PROXY: the tool's own calls (the local engine, the bench) stay direct.
            cmd.env("HTTPS_PROXY", p)
                .env("NO_PROXY", "127.0.0.1,localhost");
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
            .lines()
            .find(|l| l.starts_with("proxy="))
            .unwrap_or_else(|| panic!("{}", stdout(&o)))
            .to_string()
    };
    assert_eq!(
        seen(Some("http://proxy.corp.example:3128")),
        "proxy=http://proxy.corp.example:3128"
    );
    assert_eq!(seen(None), "proxy=none");
}
