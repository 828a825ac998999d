//! Big images on the real bench: a layer larger than one upload chunk is pushed in chunks, resumed
//! where the registry stands after a connection reset, and pulls back intact; a build context with
//! a large file reaches the Docker Engine whole. (Memory is measured in scripts/bench-build.sh.)

mod common;

use common::faulty::{Faulty, Reply};
use common::*;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

/// The upload chunk (src/registry/blobs.rs): the second chunk starts here.
const CHUNK: u64 = 16 << 20;

/// The host-built binary's own output, run on this machine: what the image must print too.
fn local_output(dir: &Path) -> String {
    // The host builder builds for the image's target: target/<triple>/release/big.
    let bin = std::fs::read_dir(dir.join("target"))
        .unwrap()
        .map(|e| e.unwrap().path().join("release/big"))
        .find(|p| p.is_file())
        .expect("the host-built binary");
    let o = Command::new(bin).output().unwrap();
    assert!(o.status.success());
    stdout(&o).trim().to_string()
}

#[test]
fn a_large_layer_is_pushed_in_chunks_resumed_after_a_reset_and_pulls_back_intact() {
    let registry = env_var("BENCH_REGISTRY");
    // The second chunk of the big layer is cut once: the connection closes, no answer.
    let cut = AtomicBool::new(false);
    let second = format!("{CHUNK}-");
    let proxy = Faulty::start(Some(registry.clone()), move |r| {
        let range = r.header("content-range").unwrap_or_default();
        if r.method == "PATCH" && range.starts_with(&second) && !cut.swap(true, Ordering::SeqCst) {
            Reply::Drop
        } else {
            Reply::Forward
        }
    });
    let dir = fixture("big");
    let repository = unique("cf-big-");
    let o = host_bench_command(
        dir.path(),
        &repository,
        &["push", "--message-format", "json"],
    )
    .env("CARGO_FARGATE_REGISTRY_ENDPOINT", &proxy.addr)
    .env(
        "CARGO_FARGATE_RUNTIME_IMAGE",
        env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE_REMOTE").replacen(&registry, &proxy.addr, 1),
    )
    .output()
    .unwrap();
    let result = json_result(&o);
    let digest = result["digest"].as_str().unwrap().to_string();

    // What the registry was sent: the big layer in 16 MiB PATCHes with Content-Range and a length,
    // the cut one asked about (GET on the session) and sent again in the same session, then the
    // commit; never the whole layer in one request.
    let seen = proxy.seen.lock().unwrap().clone();
    let patches: Vec<(usize, String)> = seen
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "PATCH")
        .map(|(i, r)| (i, r.header("content-range").unwrap_or_default().to_string()))
        .collect();
    let big: Vec<&(usize, String)> = patches
        .iter()
        .filter(|(_, range)| {
            range
                .split('-')
                .nth(1)
                .and_then(|end| end.parse::<u64>().ok())
                .is_some_and(|end| end >= CHUNK - 1)
        })
        .collect();
    let starts: Vec<&str> = big
        .iter()
        .map(|(_, range)| range.split('-').next().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "0",
            &CHUNK.to_string(),
            &CHUNK.to_string(),
            &(2 * CHUNK).to_string()
        ],
        "{patches:?}"
    );
    for (i, range) in &big {
        let r = &seen[*i];
        let (start, end) = range.split_once('-').unwrap();
        let len = end.parse::<u64>().unwrap() - start.parse::<u64>().unwrap() + 1;
        assert!(len <= CHUNK, "{range}");
        assert_eq!(r.header("content-length"), Some(len.to_string().as_str()));
    }
    let (cut_at, retried_at) = (big[1].0, big[2].0);
    assert!(
        seen[cut_at + 1..retried_at]
            .iter()
            .any(|r| r.method == "GET" && r.path.contains("/blobs/uploads/")),
        "no status query between the cut chunk and its retry: {:?}",
        seen[cut_at..=retried_at]
            .iter()
            .map(|r| format!("{} {}", r.method, r.path))
            .collect::<Vec<_>>()
    );
    // Resumed, not restarted: the session of the retry is the session of the first chunk.
    let session = |i: usize| {
        seen[i]
            .path
            .split("/blobs/uploads/")
            .nth(1)
            .unwrap()
            .split(['?', '/'])
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(session(big[0].0), session(big[3].0));
    assert!(seen.iter().all(|r| r.body.len() as u64 <= CHUNK));
    drop(proxy);

    // The image pulls back from the registry and its binary is the one built here, byte for byte.
    let docker = DockerCli::login();
    let image = format!("{registry}/{repository}@{digest}");
    docker.run(&["pull", "-q", &image]);
    let inside = docker.run(&["run", "--rm", &image]);
    assert_eq!(inside.trim(), local_output(dir.path()));
    assert!(inside.starts_with("bytes=41943040 "), "{inside}");
}

#[test]
fn a_large_file_in_the_build_context_reaches_the_engine_whole() {
    let dir = fixture("big");
    // 48 MiB of bytes that do not compress (new ones each run: the engine's cache must not answer),
    // next to a Dockerfile that hashes them in the engine.
    let data = dir.path().join("data.bin");
    let mut x: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let bytes: Vec<u8> = (0..6 << 20)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    std::fs::write(&data, &bytes).unwrap();
    let want = {
        let o = Command::new("sha256sum").arg(&data).output().unwrap();
        stdout(&o).split_whitespace().next().unwrap().to_string()
    };
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nCOPY data.bin /data.bin\nRUN sha256sum /data.bin\n",
            env_var("CARGO_FARGATE_TEST_RUNTIME_IMAGE")
        ),
    )
    .unwrap();
    let repository = unique("cf-ctx-");
    let o = bench_command(
        dir.path(),
        &repository,
        &["build", "--builder", "docker", "--message-format", "json"],
    )
    .output()
    .unwrap();
    let result = json_result(&o);
    let log = std::fs::read_to_string(result["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains(&format!("{want}  /data.bin")),
        "the engine hashed something else:\n{log}"
    );
}
