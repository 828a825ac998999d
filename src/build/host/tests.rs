//! The host builder's small helpers, and a failed cargo build (no bench needed; the end-to-end
//! test is tests/host.rs).
use super::*;

use std::path::Path;

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
        toolchain: Default::default(),
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
