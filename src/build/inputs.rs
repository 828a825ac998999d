//! Checks of the build's inputs that cargo would otherwise make minutes later, after the ECR
//! repository was created or an image pushed: the features and the cargo profile exist, Cargo.lock
//! is current (the build runs `--locked`), and the target directory can be written.
//! `build::plan` runs them, so `build`, `push`, `deploy` and `deploy --dry-run` all do.

use std::path::Path;
use std::process::Command;

use crate::config::Config;
use crate::error::{did_you_mean, display_path, list, Location, Result, UserError};
use crate::project::Project;

/// cargo's own profiles; any other must be a `[profile.<name>]` of the workspace root.
const BUILT_IN_PROFILES: &[&str] = &["dev", "release", "test", "bench"];

pub fn check(project: &Project, config: &Config) -> Result<()> {
    features(project, config)?;
    profile(project, config)?;
    lockfile(project)?;
    target_dir(project)?;
    Ok(())
}

fn features(project: &Project, config: &Config) -> Result<()> {
    for feature in &config.build.features {
        // `dep/feature` and `dep:name` name a dependency; cargo checks those against the resolve.
        let name = feature.split(['/', ':']).next().unwrap_or(feature);
        let known = project
            .features
            .iter()
            .chain(&project.optional_dependencies);
        if feature.contains('/') || known.clone().any(|f| f == name) {
            continue;
        }
        let names: Vec<&str> = known.map(String::as_str).collect();
        let fix = match did_you_mean(name, names.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None if names.is_empty() => format!(
                "package `{}` has no [features]; remove `{feature}`",
                project.package_name
            ),
            None => format!("its features: {}", list(&names)),
        };
        return Err(config
            .key_error(
                "features",
                format!(
                    "package `{}` has no feature `{feature}`",
                    project.package_name
                ),
            )
            .fix(fix)
            .into());
    }
    Ok(())
}

fn profile(project: &Project, config: &Config) -> Result<()> {
    let name = config.build.cargo_profile.as_str();
    if BUILT_IN_PROFILES.contains(&name) {
        return Ok(());
    }
    let root = project
        .workspace_manifest
        .as_ref()
        .unwrap_or(&project.manifest);
    let defined: Vec<String> = root
        .doc
        .get("profile")
        .and_then(|p| p.as_table_like())
        .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
        .unwrap_or_default();
    if defined.iter().any(|p| p == name) {
        return Ok(());
    }
    let all: Vec<&str> = BUILT_IN_PROFILES
        .iter()
        .copied()
        .chain(defined.iter().map(String::as_str))
        .collect();
    let fix = match did_you_mean(name, all.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!(
            "define [profile.{name}] in {} or use one of {}",
            display_path(&root.path),
            list(&all)
        ),
    };
    Err(config
        .key_error(
            "cargo-profile",
            format!("cargo has no profile `{name}` in this workspace"),
        )
        .fix(fix)
        .into())
}

/// With a Cargo.lock, the build runs `cargo build --locked`: a stale one fails there, late.
fn lockfile(project: &Project) -> Result<()> {
    let lock = project.workspace_root.join("Cargo.lock");
    if !lock.is_file() {
        // The Docker template builds without --locked then; the host builder makes one.
        return Ok(());
    }
    // Offline, so this never waits on the network; when cargo cannot answer offline (crates not
    // downloaded yet), the build's own --locked catches a stale lockfile.
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args([
            "metadata",
            "--locked",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(project.workspace_root.join("Cargo.toml"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    if let Ok(out) = out {
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && err.contains("--locked was passed") {
            return Err(UserError::new("Cargo.lock is out of date with the manifests")
                .at(Location::file(&lock, None))
                .fix("run `cargo update --workspace` (or `cargo build`) and commit Cargo.lock: the image is built with --locked")
                .into());
        }
    }
    Ok(())
}

/// Logs, archives and OCI layouts go to `target/fargate/`: a target that is a file or read-only
/// fails here, with its path, not as a bare OS error halfway.
fn target_dir(project: &Project) -> Result<()> {
    let dir = project.target_dir.join("fargate");
    writable(&dir).map_err(|e| {
        UserError::new(format!("cannot write to {}: {e}", display_path(&dir)))
            .fix("make the target directory a writable directory (or set CARGO_TARGET_DIR to one)")
            .into()
    })
}

fn writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = tempfile::NamedTempFile::new_in(dir)?;
    drop(probe);
    Ok(())
}
