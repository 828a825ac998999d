//! The host's toolchain: whether it can build the Linux target at all, and driving `cargo build`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use serde::Deserialize;

use super::config_error;
use crate::config::Config;
use crate::error::{Location, Result, UserError};

/// How cargo is run for the target: on this machine's own architecture as it is; for another one
/// with the cross linker and standard library found here.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Toolchain {
    /// `RUSTC` for cargo: a rustc that has the target's standard library when the default one has not
    /// (Debian's `rustc-web` with `libstd-rust-web-dev:<arch>`, at /usr/bin/rustc).
    pub rustc: Option<PathBuf>,
    /// `CARGO_TARGET_<TRIPLE>_LINKER` and the cross gcc found on PATH, when none is configured.
    pub linker: Option<(String, String)>,
    /// Link with `cargo zigbuild` (zig as the cross linker): no gcc cross linker here.
    pub zigbuild: bool,
}

/// What links for the target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Linker {
    /// `CARGO_TARGET_<TRIPLE>_LINKER` or a cargo config's `target.<triple>.linker`.
    Configured,
    /// `<arch>-linux-gnu-gcc` on PATH.
    Gcc(String),
    /// cargo-zigbuild on PATH.
    Zig,
    Missing,
}

/// Where the target's standard library is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Std {
    /// The rustc cargo uses anyway.
    Default,
    /// Another rustc on this machine.
    At(PathBuf),
    Missing,
}

/// Refuses, on one line, a host that cannot build for the target (not Linux, or another architecture
/// without a cross linker or the target's standard library), naming what installs them; otherwise how
/// to run cargo.
pub(super) fn check_host(
    config: &Config,
    arch: crate::config::Architecture,
    package_dir: &Path,
) -> Result<Toolchain> {
    let target = arch.rust_target();
    let arch = std::env::consts::ARCH;
    let cross = target.split('-').next() != Some(arch);
    let linker = || find_linker(target, package_dir);
    let std = || find_std(target, package_dir);
    host_support(std::env::consts::OS, arch, target, cross, linker, std).map_err(|e| {
        let mut located = config_error(config, "builder", e.what);
        located.fix = e.fix;
        located.into()
    })
}

fn find_linker(target: &str, package_dir: &Path) -> Linker {
    if std::env::var_os(linker_env_var(target)).is_some()
        || linker_in_cargo_config(package_dir, target)
    {
        return Linker::Configured;
    }
    let gcc = format!("{}-gcc", gnu_triple(target));
    if on_path(&gcc) {
        Linker::Gcc(gcc)
    } else if on_path("cargo-zigbuild") {
        Linker::Zig
    } else {
        Linker::Missing
    }
}

fn find_std(target: &str, package_dir: &Path) -> Std {
    let default = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    if std_installed(Path::new(&default), target, package_dir) {
        return Std::Default;
    }
    let debian = PathBuf::from(DEBIAN_RUSTC);
    if debian != Path::new(&default) && std_installed(&debian, target, package_dir) {
        Std::At(debian)
    } else {
        Std::Missing
    }
}

/// Debian's `rustc-web` (bookworm's current Rust), whose standard library exists for other
/// architectures through multiarch (`libstd-rust-web-dev:arm64`).
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";

/// The pure decision of [`check_host`]; the linker and std are looked for only for a cross build.
fn host_support(
    os: &str,
    arch: &str,
    target: &str,
    cross: bool,
    linker: impl FnOnce() -> Linker,
    std: impl FnOnce() -> Std,
) -> Result<Toolchain, UserError> {
    let instead =
        "or set `builder = \"docker\"` (builds in a container) or `builder = \"codebuild\"`";
    if os != "linux" {
        return Err(UserError::new(format!(
            "the host builder cannot build {target} on {os}: it links with the host's toolchain, which targets {os}"
        ))
        .fix("set `builder = \"docker\"` (builds in a container) or `builder = \"codebuild\"`: the host builder needs a Linux machine"));
    }
    if !cross {
        return Ok(Toolchain::default());
    }
    let debian = debian_arch(target);
    let mut toolchain = Toolchain::default();
    match linker() {
        Linker::Configured => {}
        Linker::Gcc(gcc) => toolchain.linker = Some((linker_env_var(target), gcc)),
        Linker::Zig => toolchain.zigbuild = true,
        Linker::Missing => {
            return Err(UserError::new(format!(
                "this {arch} host has no cross linker for {target}"
            ))
            .fix(format!(
                "install one (Debian/Ubuntu: `apt-get install gcc-{} libc6-dev-{debian}-cross`) or set {}=<linker>, or install cargo-zigbuild, {instead}",
                gnu_triple(target).replace('_', "-"),
                linker_env_var(target),
            )))
        }
    }
    match std() {
        Std::Default => {}
        Std::At(rustc) => toolchain.rustc = Some(rustc),
        Std::Missing => {
            return Err(UserError::new(format!(
                "the Rust standard library for {target} is not installed"
            ))
            .fix(format!(
                "run `rustup target add {target}` (Debian without rustup: `dpkg --add-architecture {debian} && apt-get update && apt-get install rustc-web libstd-rust-web-dev:{debian}`), {instead}"
            )))
        }
    }
    Ok(toolchain)
}

/// `aarch64-unknown-linux-gnu` → `aarch64-linux-gnu` (the GNU cross tools' prefix).
fn gnu_triple(target: &str) -> String {
    format!("{}-linux-gnu", target.split('-').next().unwrap_or(target))
}

/// Debian's name of the target's architecture (`arm64`, `amd64`).
fn debian_arch(target: &str) -> &'static str {
    match target.split('-').next() {
        Some("aarch64") => "arm64",
        _ => "amd64",
    }
}

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(command).is_file()))
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

/// Whether `rustc` (rust-toolchain files apply to rustup's: run in the package) has the target's
/// standard library.
fn std_installed(rustc: &Path, target: &str, package_dir: &Path) -> bool {
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
    pub toolchain: Toolchain,
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
        let build = if self.toolchain.zigbuild {
            "zigbuild"
        } else {
            "build"
        };
        let mut args: Vec<String> = vec![
            build.into(),
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
        let mut command = Command::new(cargo);
        if let Some(rustc) = &self.toolchain.rustc {
            command.env("RUSTC", rustc);
        }
        if let Some((var, linker)) = &self.toolchain.linker {
            command.env(var, linker);
        }
        let mut child = command
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
    fn the_host_check_refuses_what_cannot_build_and_says_what_installs_it() {
        let x86 = "x86_64-unknown-linux-gnu";
        let arm = "aarch64-unknown-linux-gnu";
        let never_l = || -> Linker { panic!("the linker is looked for only for a cross build") };
        let never_s = || -> Std { panic!("std is looked for only for a cross build") };
        let native = host_support("linux", "x86_64", x86, false, never_l, never_s).unwrap();
        assert_eq!(native, Toolchain::default());

        let mac = host_support("macos", "aarch64", arm, false, never_l, never_s)
            .unwrap_err()
            .to_string();
        assert!(
            mac.contains("cannot build aarch64-unknown-linux-gnu on macos"),
            "{mac}"
        );
        assert!(mac.contains("builder = \"docker\""), "{mac}");

        let no_linker = host_support("linux", "x86_64", arm, true, || Linker::Missing, never_s)
            .unwrap_err()
            .to_string();
        assert!(
            no_linker.contains("no cross linker for aarch64-unknown-linux-gnu"),
            "{no_linker}"
        );
        assert!(
            no_linker.contains("apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross"),
            "{no_linker}"
        );
        assert!(
            no_linker.contains("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER"),
            "{no_linker}"
        );
        let reverse = host_support("linux", "aarch64", x86, true, || Linker::Missing, never_s)
            .unwrap_err()
            .to_string();
        assert!(
            reverse.contains("apt-get install gcc-x86-64-linux-gnu libc6-dev-amd64-cross"),
            "{reverse}"
        );

        let no_std = host_support(
            "linux",
            "x86_64",
            arm,
            true,
            || Linker::Configured,
            || Std::Missing,
        )
        .unwrap_err()
        .to_string();
        assert!(
            no_std.contains("rustup target add aarch64-unknown-linux-gnu"),
            "{no_std}"
        );
        assert!(
            no_std.contains("apt-get install rustc-web libstd-rust-web-dev:arm64"),
            "{no_std}"
        );
        for e in [mac, no_linker, reverse, no_std] {
            assert!(!e.contains('\n'));
        }

        // Found parts are what cargo is run with.
        let gcc = || Linker::Gcc("aarch64-linux-gnu-gcc".into());
        let debian = || Std::At(PathBuf::from("/usr/bin/rustc"));
        let found = host_support("linux", "x86_64", arm, true, gcc, debian).unwrap();
        assert_eq!(
            found.linker,
            Some((
                "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".into(),
                "aarch64-linux-gnu-gcc".into()
            ))
        );
        assert_eq!(found.rustc, Some(PathBuf::from("/usr/bin/rustc")));
        let zig = host_support(
            "linux",
            "x86_64",
            arm,
            true,
            || Linker::Zig,
            || Std::Default,
        )
        .unwrap();
        assert!(zig.zigbuild && zig.linker.is_none() && zig.rustc.is_none());
    }

    #[test]
    fn this_host_has_the_standard_library_of_its_own_target_only_when_installed() {
        let own = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
        assert!(std_installed(Path::new("rustc"), &own, Path::new(".")));
        assert!(!std_installed(
            Path::new("rustc"),
            "riscv64gc-unknown-none-elf-not-a-target",
            Path::new(".")
        ));
    }
}
