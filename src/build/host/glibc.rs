//! glibc compatibility: a host-linked binary must not need a newer glibc than the base image has.

use std::io::BufReader;
use std::path::PathBuf;

use anyhow::Context;

use super::base::{BaseImage, BlobCache};
use super::elf::{self, GlibcVersion};
use super::image::MEDIA_OCI_LAYER;
use super::layout::{descriptor_digest, valid_digest, write_atomic};
use crate::error::{Result, UserError};

/// What the base image offers a dynamically linked binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum BaseGlibc {
    /// The newest symbol version its libc defines.
    Version(GlibcVersion),
    /// No libc at all (scratch, distroless/static, alpine).
    Missing,
    /// Layers we cannot read (not gzip or plain tar): no opinion.
    Unknown,
}

/// The newest glibc version a binary needs: None for a static binary (or one without versioned glibc
/// symbols).
pub(super) fn needed_glibc(binary: &[u8]) -> Result<Option<GlibcVersion>> {
    Ok(elf::read(binary)?.and_then(|n| n.glibc_needed))
}

/// Reads the base's libc (`libc.so.6`, or `libc-2.x.so` on older releases) out of its layers.
pub(super) fn base_glibc(layers: &[(PathBuf, String)]) -> Result<BaseGlibc> {
    let mut found = BaseGlibc::Missing;
    for (path, media_type) in layers {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let reader: Box<dyn std::io::Read> = if media_type.ends_with("gzip") {
            Box::new(flate2::read::GzDecoder::new(BufReader::new(file)))
        } else if media_type.ends_with(".tar") {
            Box::new(BufReader::new(file))
        } else {
            return Ok(BaseGlibc::Unknown);
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries()? {
            let mut entry = entry?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                continue;
            }
            let path = entry.path()?;
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let is_libc =
                name == "libc.so.6" || (name.starts_with("libc-") && name.ends_with(".so"));
            if !is_libc {
                continue;
            }
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes)?;
            if let Some(v) = elf::read(&bytes)?.and_then(|n| n.glibc_defined) {
                // An upper layer's libc replaces a lower one's.
                found = BaseGlibc::Version(v);
            }
        }
    }
    Ok(found)
}

/// [`base_glibc`], remembered per base manifest (reading the layers takes a moment).
pub(super) fn base_glibc_cached(base: &BaseImage, cache: &BlobCache) -> Result<BaseGlibc> {
    let memo = cache
        .blobs
        .parent()
        .expect("the cache has a root")
        .join("glibc")
        .join(valid_digest(&base.digest)?);
    if let Ok(text) = std::fs::read_to_string(&memo) {
        match text.trim() {
            "missing" => return Ok(BaseGlibc::Missing),
            v => {
                if let Some(v) = v.split('.').map(|n| n.parse().ok()).collect() {
                    return Ok(BaseGlibc::Version(v));
                }
            }
        }
    }
    let mut layers = Vec::new();
    for d in &base.layers {
        let media_type = d["mediaType"]
            .as_str()
            .unwrap_or(MEDIA_OCI_LAYER)
            .to_string();
        layers.push((cache.path(&descriptor_digest(d)?)?, media_type));
    }
    let found = base_glibc(&layers)?;
    let text = match &found {
        BaseGlibc::Version(v) => version_text(v),
        BaseGlibc::Missing => "missing".to_string(),
        BaseGlibc::Unknown => return Ok(found),
    };
    write_atomic(&memo, text.as_bytes())?;
    Ok(found)
}

fn version_text(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// Whether a binary needing `needed` (None: static) runs on the base.
pub(super) fn glibc_fits(
    bin: &str,
    needed: Option<GlibcVersion>,
    base: &BaseGlibc,
) -> Result<(), UserError> {
    let Some(needed) = needed else { return Ok(()) };
    let instead = "or set `builder = \"docker\"` to build against the runtime image's own glibc";
    match base {
        BaseGlibc::Unknown => Ok(()),
        BaseGlibc::Version(have) if *have >= needed => Ok(()),
        BaseGlibc::Version(have) => Err(UserError::new(format!(
            "`{bin}` was linked against this host's glibc and needs {}, but the base image has glibc {}",
            version_text(&needed),
            version_text(have)
        ))
        .fix(format!(
            "use a `runtime-image` with glibc {} or newer, {instead}",
            version_text(&needed)
        ))),
        BaseGlibc::Missing => Err(UserError::new(format!(
            "`{bin}` needs glibc {} but the base image has no glibc",
            version_text(&needed)
        ))
        .fix(format!(
            "use a glibc `runtime-image` such as `debian:bookworm-slim` or `gcr.io/distroless/cc-debian12`, {instead}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::image::MEDIA_DOCKER_LAYER;
    use super::super::layer::fixed_header;
    use super::*;
    use flate2::{Compression, GzBuilder};
    use std::io::Write;
    use std::path::Path;

    #[test]
    fn glibc_versions_are_read_and_compared() {
        // Read from the ELF's version needs, not from any string in it.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(needed_glibc(&exe)
            .unwrap()
            .is_some_and(|v| v >= vec![2, 2, 5]));
        assert_eq!(
            needed_glibc(b"static, GLIBC_2.99 in a string").unwrap(),
            None
        );
        assert!(glibc_fits("hello", Some(vec![2, 34]), &BaseGlibc::Version(vec![2, 36])).is_ok());
        assert!(glibc_fits("hello", Some(vec![2, 36]), &BaseGlibc::Version(vec![2, 36])).is_ok());
        assert!(glibc_fits("hello", None, &BaseGlibc::Missing).is_ok());
        assert!(glibc_fits("hello", Some(vec![2, 39]), &BaseGlibc::Unknown).is_ok());
        let old = glibc_fits("hello", Some(vec![2, 39]), &BaseGlibc::Version(vec![2, 36]))
            .unwrap_err()
            .to_string();
        assert!(
            old.contains("needs 2.39, but the base image has glibc 2.36"),
            "{old}"
        );
        assert!(old.contains("glibc 2.39 or newer"), "{old}");
        let none = glibc_fits("hello", Some(vec![2, 2, 5]), &BaseGlibc::Missing)
            .unwrap_err()
            .to_string();
        assert!(
            none.contains("needs glibc 2.2.5 but the base image has no glibc"),
            "{none}"
        );
    }

    #[test]
    fn the_base_glibc_is_read_from_the_upper_layer_libc() {
        let dir = tempfile::tempdir().unwrap();
        let layer = |name: &str, files: &[(&str, &[u8])]| {
            let mut tar = tar::Builder::new(Vec::new());
            for (path, data) in files {
                let mut h = fixed_header(tar::EntryType::Regular, 0o644, 0, data.len() as u64);
                tar.append_data(&mut h, path, *data).unwrap();
            }
            let mut gz = GzBuilder::new().write(Vec::new(), Compression::fast());
            gz.write_all(&tar.into_inner().unwrap()).unwrap();
            let path = dir.path().join(name);
            std::fs::write(&path, gz.finish().unwrap()).unwrap();
            (path, MEDIA_DOCKER_LAYER.to_string())
        };
        // Two real glibc ELF files with different newest versions: the host's libm and libc.
        let host_lib = |name: &str| -> (Vec<u8>, GlibcVersion) {
            let path = ["/lib", "/usr/lib", "/lib64", "/usr/lib64"]
                .iter()
                .flat_map(|d| {
                    [
                        format!("{d}/{}-linux-gnu/{name}", std::env::consts::ARCH),
                        format!("{d}/{name}"),
                    ]
                })
                .find(|p| Path::new(p).is_file())
                .unwrap_or_else(|| panic!("this Linux host has no {name}"));
            let bytes = std::fs::read(path).unwrap();
            let v = elf::read(&bytes).unwrap().unwrap().glibc_defined.unwrap();
            (bytes, v)
        };
        let (old_bytes, old) = host_lib("libm.so.6");
        let (new_bytes, new) = host_lib("libc.so.6");
        assert_ne!(old, new, "the test needs two different versions");
        let lower = layer(
            "lower",
            &[("usr/lib/x86_64-linux-gnu/libc-2.31.so", &old_bytes)],
        );
        let upper = layer(
            "upper",
            &[("usr/lib/x86_64-linux-gnu/libc.so.6", &new_bytes)],
        );
        let other = layer("other", &[("etc/GLIBC_2.99", b"GLIBC_2.99")]);
        assert_eq!(
            base_glibc(std::slice::from_ref(&lower)).unwrap(),
            BaseGlibc::Version(old)
        );
        assert_eq!(
            base_glibc(&[lower, upper.clone()]).unwrap(),
            BaseGlibc::Version(new)
        );
        assert_eq!(
            base_glibc(std::slice::from_ref(&other)).unwrap(),
            BaseGlibc::Missing
        );
        let zstd = (
            upper.0,
            "application/vnd.oci.image.layer.v1.tar+zstd".to_string(),
        );
        assert_eq!(base_glibc(&[other, zstd]).unwrap(), BaseGlibc::Unknown);
    }
}
