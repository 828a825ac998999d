//! The OCI image layout on disk: blobs named by digest, `oci-layout` and `index.json`.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{json, Value};

use crate::error::Result;
use crate::registry::MEDIA_OCI_INDEX;

/// `sha256:<64 hex>` from a descriptor; anything else is refused (it becomes a file name).
pub fn descriptor_digest(d: &Value) -> Result<String> {
    let digest = d["digest"].as_str().unwrap_or("");
    valid_digest(digest)?;
    Ok(digest.to_string())
}

pub fn valid_digest(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(hex)
        }
        _ => anyhow::bail!("`{digest}` is not a sha256 digest"),
    }
}

/// A blob's file in a layout's (or the cache's) `blobs` directory.
pub fn blob_path(blobs: &Path, digest: &str) -> Result<PathBuf> {
    Ok(blobs.join("sha256").join(valid_digest(digest)?))
}

/// Writes through a temp file persisted over `path`, so a file at `path` is always whole.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("blob paths have a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub enum BlobSource<'a> {
    Bytes(&'a [u8]),
    /// A file in the cache: hard-linked (same file system) or copied.
    File(PathBuf),
}

/// Writes an OCI image layout holding exactly `blobs`, with `index_entry` as its one manifest.
pub fn write_layout(dir: &Path, blobs: &[(String, BlobSource)], index_entry: Value) -> Result<()> {
    let blob_dir = dir.join("blobs");
    std::fs::create_dir_all(blob_dir.join("sha256"))
        .with_context(|| format!("creating {}", blob_dir.display()))?;
    let mut keep = BTreeSet::new();
    for (digest, source) in blobs {
        let path = blob_path(&blob_dir, digest)?;
        keep.insert(path.file_name().unwrap_or_default().to_os_string());
        if path.is_file() {
            continue; // named by its digest: same name, same bytes
        }
        match source {
            BlobSource::Bytes(bytes) => write_atomic(&path, bytes)?,
            BlobSource::File(from) => {
                if std::fs::hard_link(from, &path).is_err() {
                    std::fs::copy(from, &path).with_context(|| {
                        format!("copying {} to {}", from.display(), path.display())
                    })?;
                }
            }
        }
    }
    // Blobs of earlier builds: the layout holds this image only.
    for e in std::fs::read_dir(blob_dir.join("sha256"))?.flatten() {
        if !keep.contains(&e.file_name()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
    write_atomic(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": [index_entry],
    });
    write_atomic(&dir.join("index.json"), &serde_json::to_vec_pretty(&index)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_from_manifests_cannot_escape_the_blob_directory() {
        assert!(blob_path(Path::new("/b"), "sha256:../../etc/passwd").is_err());
        assert!(blob_path(Path::new("/b"), &format!("sha512:{}", "a".repeat(64))).is_err());
        assert_eq!(
            blob_path(Path::new("/b"), &format!("sha256:{}", "a".repeat(64))).unwrap(),
            Path::new("/b/sha256").join("a".repeat(64))
        );
    }
}
