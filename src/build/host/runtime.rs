//! The minimal runtime: what a binary needs on an empty (`scratch`) base, taken from this machine
//! (the build environment the binary was linked in): its shared-library closure (ELF DT_NEEDED,
//! resolved through the library paths, plus the dynamic loader), a CA bundle where rustls-native-certs
//! and OpenSSL look, passwd/group entries for the image user, glibc's NSS configuration, and tzdata
//! when asked. A static binary gets no libraries at all.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use super::elf;
use super::layer::{Entries, Entry};
use crate::error::{Result, UserError};

/// The image user's uid and gid (see [`super::IMAGE_USER`]).
pub const UID: u32 = 10001;

/// Where the image's CA bundle lives: Debian's path, which openssl-probe (rustls-native-certs) tries
/// first. The other usual places link to it (see [`ca_entries`]).
pub const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// CA bundles on this machine, in the order tried.
const HOST_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// What was put in the runtime, for `build`'s report.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    pub entries: Entries,
    /// Image paths of the shared libraries (the loader first); empty for a static binary.
    pub libraries: Vec<String>,
    pub tzdata: bool,
}

/// Collects the runtime of `binary` (built for `target`) from this machine.
pub fn collect(binary: &Path, target: &str, tzdata: bool) -> Result<Runtime> {
    let mut rt = Runtime {
        tzdata,
        ..Runtime::default()
    };
    let needs = elf::read_file(binary)?.unwrap_or_default();
    let bin = binary.file_name().unwrap_or_default().to_string_lossy();
    let dirs = library_dirs(target);
    let libs = closure(&bin, &needs, &dirs, target)?;
    let glibc = libs.iter().any(|(image, _)| image.ends_with("/libc.so.6"));
    for (image, host) in libs {
        rt.libraries.push(format!("/{image}"));
        rt.entries.insert(image, Entry::file(host, 0o755));
    }
    rt.entries.extend(ca_entries(&find_ca_bundle()?));
    rt.entries.extend(user_entries(glibc));
    if tzdata {
        let zoneinfo = Path::new("/usr/share/zoneinfo");
        if !zoneinfo.is_dir() {
            return Err(UserError::new(
                "`tzdata = true` but this machine has no /usr/share/zoneinfo to copy",
            )
            .fix("install tzdata (e.g. `apt-get install tzdata`), or set `tzdata = false`")
            .into());
        }
        add_tree(&mut rt.entries, zoneinfo, "usr/share/zoneinfo")?;
    }
    Ok(rt)
}

/// One line on what the minimal runtime holds, for `build`'s report.
pub fn summary(bin: &str, rt: &Runtime) -> String {
    let libs = if rt.libraries.is_empty() {
        format!("`{bin}` is static: no shared libraries")
    } else {
        let names: Vec<&str> = rt
            .libraries
            .iter()
            .map(|l| l.rsplit('/').next().unwrap_or(l))
            .collect();
        format!("`{bin}` loads {}", names.join(", "))
    };
    format!(
        "{libs}; + CA bundle, passwd/group for uid {UID}{}",
        if rt.tzdata { ", tzdata" } else { "" }
    )
}

/// The GNU multiarch name of a Rust target: `x86_64-unknown-linux-gnu` → `x86_64-linux-gnu`.
fn multiarch(target: &str) -> String {
    let arch = target.split('-').next().unwrap_or(target);
    format!("{arch}-linux-gnu")
}

fn native(target: &str) -> bool {
    target.split('-').next() == Some(std::env::consts::ARCH)
}

/// The directories the target's libraries are found in here: for a native build those of the host's
/// loader (`/etc/ld.so.conf`, then the default paths), for a cross build the cross sysroot's.
pub fn library_dirs(target: &str) -> Vec<PathBuf> {
    let ma = multiarch(target);
    let mut dirs = Vec::new();
    if native(target) {
        dirs.extend(ld_so_conf(Path::new("/etc/ld.so.conf"), 0));
        for d in [
            format!("/lib/{ma}"),
            format!("/usr/lib/{ma}"),
            "/lib64".into(),
            "/usr/lib64".into(),
            "/lib".into(),
            "/usr/lib".into(),
        ] {
            dirs.push(PathBuf::from(d));
        }
    } else {
        dirs.push(PathBuf::from(format!("/usr/{ma}/lib")));
        dirs.push(PathBuf::from(format!("/usr/lib/{ma}")));
    }
    let mut seen = BTreeSet::new();
    dirs.retain(|d| d.is_dir() && seen.insert(d.clone()));
    dirs
}

/// The directories an `ld.so.conf` names, following `include` globs (`*` in the file name only).
fn ld_so_conf(file: &Path, depth: u32) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Vec::new();
    };
    let mut dirs = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include").map(str::trim) {
            if depth > 4 {
                continue;
            }
            let pattern = Path::new(pattern);
            let (dir, name) = (
                pattern.parent().unwrap_or(Path::new("/")),
                pattern.file_name().unwrap_or_default().to_string_lossy(),
            );
            let (prefix, suffix) = name.split_once('*').unwrap_or((&name, ""));
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let n = p.file_name().unwrap_or_default().to_string_lossy();
                    n.starts_with(prefix)
                        && n.ends_with(suffix)
                        && n.len() >= prefix.len() + suffix.len()
                        && (name.contains('*') || *n == *name)
                })
                .collect();
            files.sort();
            for f in files {
                dirs.extend(ld_so_conf(&f, depth + 1));
            }
        } else if line.starts_with('/') {
            dirs.push(PathBuf::from(line));
        }
    }
    dirs
}

/// The loader and every library the binary needs, transitively: (path in the image, file here).
/// glibc before 2.34 loads its DNS and files NSS modules at run time, so they come along.
fn closure(
    bin: &str,
    needs: &elf::ElfNeeds,
    dirs: &[PathBuf],
    target: &str,
) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let Some(interp) = &needs.interpreter else {
        return Ok(out); // static: nothing to load
    };
    let interp_name = Path::new(interp).file_name().unwrap_or_default().to_owned();
    let interp_host = if native(target) {
        PathBuf::from(interp)
    } else {
        PathBuf::from(format!("/usr/{}/lib", multiarch(target))).join(&interp_name)
    };
    if !interp_host.is_file() {
        return Err(UserError::new(format!(
            "`{bin}` is loaded by {interp}, which this machine does not have"
        ))
        .fix("install the target's C library (libc6-dev, or the cross libc for a cross build), or set `runtime-image` to a full base")
        .into());
    }
    out.push((interp.trim_start_matches('/').to_string(), interp_host));

    let mut seen: BTreeSet<String> = BTreeSet::new();
    seen.insert(interp_name.to_string_lossy().into_owned());
    let mut queue: VecDeque<(String, String)> = needs
        .needed
        .iter()
        .map(|n| (n.clone(), bin.to_string()))
        .collect();
    let machine = needs.machine;
    let mut nss_added = false;
    while let Some((soname, by)) = queue.pop_front() {
        if !seen.insert(soname.clone()) {
            continue;
        }
        let Some((host, lib)) = find_library(&soname, dirs, machine)? else {
            return Err(UserError::new(format!(
                "`{by}` links {soname}, which is not in this machine's library paths ({})",
                dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
            ))
            .fix(format!("install the package that provides {soname}, or set `runtime-image` to a base image that has it"))
            .into());
        };
        let image = if native(target) {
            host.to_string_lossy().trim_start_matches('/').to_string()
        } else {
            format!("lib/{}/{soname}", multiarch(target))
        };
        for n in &lib.needed {
            queue.push_back((n.clone(), soname.clone()));
        }
        if soname == "libc.so.6" && !nss_added {
            nss_added = true;
            if lib.glibc_defined.as_ref().is_some_and(|v| *v < vec![2, 34]) {
                for m in ["libnss_files.so.2", "libnss_dns.so.2"] {
                    queue.push_back((m.to_string(), "glibc's resolver".to_string()));
                }
            }
        }
        out.push((image, host));
    }
    Ok(out)
}

/// The first `soname` in `dirs` that is an ELF file for `machine`, with what it needs.
pub fn find_library(
    soname: &str,
    dirs: &[PathBuf],
    machine: u16,
) -> Result<Option<(PathBuf, elf::ElfNeeds)>> {
    for d in dirs {
        let path = d.join(soname);
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if let Some(lib) = elf::read(&bytes)? {
            if lib.machine == machine {
                return Ok(Some((path, lib)));
            }
        }
    }
    Ok(None)
}

fn find_ca_bundle() -> Result<PathBuf> {
    HOST_CA_BUNDLES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            UserError::new(format!(
                "this machine has no CA bundle to put in the image (looked at {})",
                HOST_CA_BUNDLES.join(", ")
            ))
            .fix("install ca-certificates (e.g. `apt-get install ca-certificates`), or set `runtime-image` to a base that has one")
            .into()
        })
}

/// The CA bundle at [`CA_BUNDLE`], and links where other TLS stacks look: OpenSSL's default
/// `OPENSSLDIR/cert.pem` on Debian/Ubuntu (`/usr/lib/ssl`), Fedora/RHEL and Alpine.
fn ca_entries(bundle: &Path) -> Entries {
    let abs = format!("/{CA_BUNDLE}");
    Entries::from([
        (CA_BUNDLE.to_string(), Entry::file(bundle, 0o644)),
        ("etc/ssl/cert.pem".to_string(), Entry::symlink(abs.clone())),
        (
            "usr/lib/ssl/cert.pem".to_string(),
            Entry::symlink(abs.clone()),
        ),
        (
            "usr/lib/ssl/certs".to_string(),
            Entry::symlink("/etc/ssl/certs"),
        ),
        (
            "etc/pki/tls/certs/ca-bundle.crt".to_string(),
            Entry::symlink(abs.clone()),
        ),
        ("etc/pki/tls/cert.pem".to_string(), Entry::symlink(abs)),
    ])
}

/// passwd/group with root and the image user, its home, a writable /tmp, and (for glibc) the NSS
/// configuration that makes `getaddrinfo` read /etc/hosts, then ask DNS.
fn user_entries(glibc: bool) -> Entries {
    let mut e = Entries::from([
        (
            "etc/passwd".to_string(),
            Entry::bytes(
                format!("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{UID}:{UID}:nonroot:/home/nonroot:/sbin/nologin\n"),
                0o644,
            ),
        ),
        (
            "etc/group".to_string(),
            Entry::bytes(format!("root:x:0:\nnonroot:x:{UID}:\n"), 0o644),
        ),
        ("home/nonroot".to_string(), Entry::dir(0o755, UID)),
        ("tmp".to_string(), Entry::dir(0o1777, 0)),
    ]);
    if glibc {
        e.insert(
            "etc/nsswitch.conf".to_string(),
            Entry::bytes(
                "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n",
                0o644,
            ),
        );
    }
    e
}

/// Files, directories and symlinks under `from`, at `to` in the image (modes normalised).
fn add_tree(entries: &mut Entries, from: &Path, to: &str) -> Result<()> {
    let mut items: Vec<_> = std::fs::read_dir(from)?.flatten().collect();
    items.sort_by_key(|e| e.file_name());
    for item in items {
        let name = item.file_name().to_string_lossy().into_owned();
        if name == "right" || name == "posix" && to.ends_with("zoneinfo") {
            continue; // leap-second and duplicate copies of every zone
        }
        let path = item.path();
        let image = format!("{to}/{name}");
        let kind = item.file_type()?;
        if kind.is_symlink() {
            let target = std::fs::read_link(&path)?;
            entries.insert(image, Entry::symlink(target.to_string_lossy().into_owned()));
        } else if kind.is_dir() {
            entries.insert(image.clone(), Entry::dir(0o755, 0));
            add_tree(entries, &path, &image)?;
        } else if kind.is_file() {
            entries.insert(image, Entry::file(path, 0o644));
        }
    }
    Ok(())
}
