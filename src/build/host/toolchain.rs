//! The host's toolchain: whether it can build the Linux target at all, and driving `cargo build`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use serde::Deserialize;

use super::config_error;
use crate::config::Config;
use crate::error::{Location, Result, UserError};

/// Refuses, on one line, a host that cannot build for the target: not Linux, or another architecture
/// without a cross linker and the target's standard library.
pub(super) fn check_host(config: &Config, package_dir: &Path) -> Result<()> {
    let target = config.architecture.rust_target();
    let var = linker_env_var(target);
    let linker = std::env::var_os(&var).is_some() || linker_in_cargo_config(package_dir, target);
    host_support(
        std::env::consts::OS,
        std::env::consts::ARCH,
        target,
        linker,
        || std_installed(target, package_dir),
    )
    .map_err(|e| {
        let mut located = config_error(config, "builder", e.what);
        located.fix = e.fix;
        located.into()
    })
}

/// The pure decision of [`check_host`]; `std_installed` is asked only for a cross build.
fn host_support(
    os: &str,
    arch: &str,
    target: &str,
    linker_configured: bool,
    std_installed: impl FnOnce() -> bool,
) -> Result<(), UserError> {
    let instead =
        "or set `builder = \"docker\"` (builds in a container) or `builder = \"codebuild\"`";
    if os != "linux" {
        return Err(UserError::new(format!(
            "the host builder cannot build {target} on {os}: it links with the host's toolchain, which targets {os}"
        ))
        .fix("set `builder = \"docker\"` (builds in a container) or `builder = \"codebuild\"`: the host builder needs a Linux machine"));
    }
    let target_arch = target.split('-').next().unwrap_or(target);
    if target_arch == arch {
        return Ok(());
    }
    if !linker_configured {
        return Err(UserError::new(format!(
            "this {arch} host has no cross linker for {target}"
        ))
        .fix(format!(
            "install one and set {}=<linker> (e.g. {target_arch}-linux-gnu-gcc) plus `rustup target add {target}`, {instead}",
            linker_env_var(target)
        )));
    }
    if !std_installed() {
        return Err(UserError::new(format!(
            "the Rust standard library for {target} is not installed"
        ))
        .fix(format!("run `rustup target add {target}`, {instead}")));
    }
    Ok(())
}

/// `CARGO_TARGET_<TRIPLE>_LINKER`, as cargo spells it.
fn linker_env_var(target: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        target.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

/// Whether a `.cargo/config.toml` that cargo reads for this package sets `target.<triple>.linker`.
fn linker_in_cargo_config(package_dir: &Path, target: &str) -> bool {
    let mut files: Vec<PathBuf> = package_dir
        .ancestors()
        .flat_map(|d| [d.join(".cargo/config.toml"), d.join(".cargo/config")])
        .collect();
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        files.push(home.join("config.toml"));
        files.push(home.join("config"));
    }
    files.iter().any(|f| {
        std::fs::read_to_string(f)
            .ok()
            .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
            .is_some_and(|doc| {
                doc.get("target")
                    .and_then(|t| t.get(target))
                    .and_then(|t| t.get("linker"))
                    .is_some()
            })
    })
}

/// Whether the toolchain cargo will use (rust-toolchain files apply: run in the package) has the
/// target's standard library.
fn std_installed(target: &str, package_dir: &Path) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", target])
        .current_dir(package_dir)
        .stderr(Stdio::null())
        .output();
    let Ok(out) = out else { return false };
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success()
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("libstd-") && name.ends_with(".rlib")
            })
        })
}

// --------------------------------------------------------------------------------------- cargo ---

pub(super) struct CargoBuild {
    pub manifest: PathBuf,
    pub bin: String,
    pub profile: String,
    pub target: String,
    pub features: Vec<String>,
}

/// The part of cargo's JSON messages we read.
#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    target: Option<CargoTarget>,
    executable: Option<PathBuf>,
}

#[derive(Deserialize)]
struct CargoTarget {
    name: String,
    kind: Vec<String>,
}

impl CargoBuild {
    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "build".into(),
            "--manifest-path".into(),
            self.manifest.display().to_string(),
            "--bin".into(),
            self.bin.clone(),
            "--profile".into(),
            self.profile.clone(),
            "--target".into(),
            self.target.clone(),
        ];
        if !self.features.is_empty() {
            args.push("--features".into());
            args.push(self.features.join(","));
        }
        args.push("--message-format".into());
        args.push("json-render-diagnostics".into());
        args
    }

    /// Runs cargo with its progress and diagnostics on our stderr; returns the executable's path.
    pub fn run(&self) -> Result<PathBuf> {
        // Under `cargo fargate`, CARGO is the cargo that called us: use the same one.
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut child = Command::new(cargo)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                UserError::new(format!("cannot run cargo: {e}"))
                    .fix("install Rust with rustup, or put cargo on PATH")
            })?;
        let stdout = child.stdout.take().expect("piped stdout");
        let mut executable = None;
        for line in BufReader::new(stdout).lines() {
            let line = line.context("reading cargo's output")?;
            let Ok(msg) = serde_json::from_str::<CargoMessage>(&line) else {
                continue;
            };
            if msg.reason != "compiler-artifact" {
                continue;
            }
            if let (Some(t), Some(exe)) = (msg.target, msg.executable) {
                if t.name == self.bin && t.kind.iter().any(|k| k == "bin") {
                    executable = Some(exe);
                }
            }
        }
        let status = child.wait().context("waiting for cargo")?;
        if !status.success() {
            return Err(UserError::new(format!(
                "cargo build of `{}` for {} failed",
                self.bin, self.target
            ))
            .at(Location::file(&self.manifest, None))
            .fix("fix what cargo reported above, then run again")
            .into());
        }
        executable.ok_or_else(|| {
            anyhow::anyhow!(
                "cargo built `{}` but reported no executable for it",
                self.bin
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_check_refuses_what_cannot_build_and_says_what_to_use() {
        let x86 = "x86_64-unknown-linux-gnu";
        let arm = "aarch64-unknown-linux-gnu";
        let never = || -> bool { panic!("std is asked about only for a cross build") };
        assert!(host_support("linux", "x86_64", x86, false, never).is_ok());
        assert!(host_support("linux", "aarch64", arm, false, never).is_ok());

        let mac = host_support("macos", "aarch64", arm, true, || true)
            .unwrap_err()
            .to_string();
        assert!(
            mac.contains("cannot build aarch64-unknown-linux-gnu on macos"),
            "{mac}"
        );
        assert!(mac.contains("builder = \"docker\""), "{mac}");

        let no_linker = host_support("linux", "x86_64", arm, false, || true)
            .unwrap_err()
            .to_string();
        assert!(
            no_linker.contains("no cross linker for aarch64-unknown-linux-gnu"),
            "{no_linker}"
        );
        assert!(
            no_linker.contains("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"),
            "{no_linker}"
        );
        assert!(no_linker.contains("builder = \"codebuild\""), "{no_linker}");

        let no_std = host_support("linux", "x86_64", arm, true, || false)
            .unwrap_err()
            .to_string();
        assert!(
            no_std.contains("rustup target add aarch64-unknown-linux-gnu"),
            "{no_std}"
        );
        assert!(host_support("linux", "x86_64", arm, true, || true).is_ok());
        for e in [mac, no_linker, no_std] {
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn this_host_has_the_standard_library_of_its_own_target_only_when_installed() {
        let own = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        assert!(std_installed(&own, Path::new(".")));
        assert!(!std_installed(
            "riscv64gc-unknown-none-elf-not-a-target",
            Path::new(".")
        ));
    }
}
