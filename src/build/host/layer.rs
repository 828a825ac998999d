//! Image layers: deterministic gzipped tars written to disk as they are made (sha256 of the tar and of
//! the gzip computed on the way), so a layer is never held in memory whole.
//!
//! Deterministic means the bytes depend only on the entries: sorted paths, parent directories added,
//! owners root (or the image user where asked), fixed modes and one mtime, a gzip header without name
//! or time.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};

use super::layout::blob_path;
use super::BIN_DIR;
use crate::error::Result;

/// What one path in a layer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Dir,
    /// A file copied from this machine (read when the layer is written).
    File(PathBuf),
    Bytes(Vec<u8>),
    Symlink(String),
}

/// One path of a layer (relative, no leading `/`), with its mode and owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub content: Content,
    pub mode: u32,
    pub owner: u32,
}

impl Entry {
    pub fn file(from: impl Into<PathBuf>, mode: u32) -> Entry {
        Entry {
            content: Content::File(from.into()),
            mode,
            owner: 0,
        }
    }
    pub fn bytes(bytes: impl Into<Vec<u8>>, mode: u32) -> Entry {
        Entry {
            content: Content::Bytes(bytes.into()),
            mode,
            owner: 0,
        }
    }
    pub fn symlink(to: impl Into<String>) -> Entry {
        Entry {
            content: Content::Symlink(to.into()),
            mode: 0o777,
            owner: 0,
        }
    }
    pub fn dir(mode: u32, owner: u32) -> Entry {
        Entry {
            content: Content::Dir,
            mode,
            owner,
        }
    }
}

/// A layer's contents by path; parents missing from it are added as root-owned 0755 directories.
pub type Entries = BTreeMap<String, Entry>;

/// A layer written to a layout's blob directory.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The gzipped tar, named by its digest.
    pub path: PathBuf,
    /// sha256 of the compressed bytes: the blob's name.
    pub digest: String,
    /// sha256 of the uncompressed tar: what the image config lists.
    pub diff_id: String,
    /// Compressed bytes.
    pub size: u64,
}

/// The binary's entries: `/usr/local/bin/<bin>`, mode 0755.
pub fn binary_entries(binary: &Path, bin: &str) -> Entries {
    Entries::from([(format!("{BIN_DIR}/{bin}"), Entry::file(binary, 0o755))])
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            len: 0,
        }
    }
    fn finish(self) -> (W, String, u64) {
        let digest = format!("sha256:{}", hex::encode(self.hash.finalize()));
        (self.inner, digest, self.len)
    }
}

/// Writes `entries` as a gzipped tar into `blobs` (a layout's `blobs` directory), named by its digest.
pub fn write_layer(
    entries: &Entries,
    mtime: u64,
    level: Compression,
    blobs: &Path,
) -> Result<Layer> {
    std::fs::create_dir_all(blobs.join("sha256"))
        .with_context(|| format!("creating {}", blobs.display()))?;
    let tmp = tempfile::NamedTempFile::new_in(blobs)
        .with_context(|| format!("creating a temporary file in {}", blobs.display()))?;
    let file = Hashing::new(BufWriter::new(tmp.as_file()));
    // A fixed gzip header: no name, mtime 0.
    let gz = GzBuilder::new().mtime(0).write(file, level);
    let mut tar = tar::Builder::new(Hashing::new(gz));
    append_all(&mut tar, entries, mtime)?;
    let (gz, diff_id, _) = tar.into_inner()?.finish();
    let (file, digest, size) = gz.finish()?.finish();
    file.into_inner().map_err(|e| e.into_error())?;
    let path = blob_path(blobs, &digest)?;
    tmp.persist(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Layer {
        path,
        digest,
        diff_id,
        size,
    })
}

/// Appends the entries in path order, each directory before what it holds.
fn append_all<W: Write>(tar: &mut tar::Builder<W>, entries: &Entries, mtime: u64) -> Result<()> {
    let mut all: BTreeMap<String, Entry> = BTreeMap::new();
    for (path, entry) in entries {
        let path = path.trim_start_matches('/').trim_end_matches('/');
        let mut parent = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for dir in &parts[..parts.len() - 1] {
            parent.push_str(dir);
            parent.push('/');
            all.entry(parent.clone()).or_insert(Entry::dir(0o755, 0));
        }
        let key = match entry.content {
            Content::Dir => format!("{path}/"),
            _ => path.to_string(),
        };
        all.insert(key, entry.clone());
    }
    for (path, entry) in &all {
        let (kind, size) = match &entry.content {
            Content::Dir => (tar::EntryType::Directory, 0),
            Content::Symlink(_) => (tar::EntryType::Symlink, 0),
            Content::Bytes(b) => (tar::EntryType::Regular, b.len() as u64),
            Content::File(from) => {
                let meta = std::fs::metadata(from)
                    .with_context(|| format!("reading {}", from.display()))?;
                (tar::EntryType::Regular, meta.len())
            }
        };
        let mut h = fixed_header(kind, entry.mode, mtime, size);
        h.set_uid(entry.owner.into());
        h.set_gid(entry.owner.into());
        match &entry.content {
            Content::Dir if path.len() <= 100 => {
                // "usr/" with its slash, as docker and GNU tar write directories.
                h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
                h.set_cksum();
                tar.append(&h, std::io::empty())?;
            }
            Content::Dir => tar.append_data(&mut h, path, std::io::empty())?,
            Content::Symlink(to) => tar.append_link(&mut h, path, to)?,
            Content::Bytes(b) => tar.append_data(&mut h, path, &b[..])?,
            Content::File(from) => {
                let file = std::fs::File::open(from)
                    .with_context(|| format!("reading {}", from.display()))?;
                tar.append_data(&mut h, path, std::io::BufReader::new(file))?;
            }
        }
    }
    Ok(())
}

pub(super) fn fixed_header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(size);
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::digest_of;
    use std::io::Read;

    struct TarEntry {
        name: String,
        kind: tar::EntryType,
        mode: u32,
        mtime: u64,
        owner: (u64, u64),
        data: Vec<u8>,
        link: Option<String>,
    }

    /// The layer's uncompressed tar, after checking both digests against the bytes.
    fn unpacked(layer: &Layer) -> Vec<u8> {
        let gz = std::fs::read(&layer.path).unwrap();
        assert_eq!(layer.digest, digest_of(&gz));
        assert_eq!(layer.size, gz.len() as u64);
        assert!(layer.path.ends_with(&layer.digest[7..]));
        // gzip header: no name, mtime 0 (bytes 4..8)
        assert_eq!(&gz[3..8], &[0, 0, 0, 0, 0]);
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(
            layer.diff_id,
            digest_of(&tar),
            "diff_id is the uncompressed tar's"
        );
        tar
    }

    fn entries(tar: &[u8]) -> Vec<TarEntry> {
        let mut archive = tar::Archive::new(tar);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let h = e.header().clone();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                TarEntry {
                    name: String::from_utf8(e.path_bytes().to_vec()).unwrap(),
                    kind: h.entry_type(),
                    mode: h.mode().unwrap(),
                    mtime: h.mtime().unwrap(),
                    owner: (h.uid().unwrap(), h.gid().unwrap()),
                    data,
                    link: e
                        .link_name()
                        .unwrap()
                        .map(|l| l.to_string_lossy().into_owned()),
                }
            })
            .collect()
    }

    #[test]
    fn the_binary_layer_is_deterministic_with_fixed_modes_owners_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("hello");
        let bytes = b"\x7fELF pretend binary".repeat(1000);
        std::fs::write(&binary, &bytes).unwrap();
        let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
        let fast = Compression::fast();
        let a = write_layer(
            &binary_entries(&binary, "hello"),
            1_700_000_000,
            fast,
            &a_dir,
        )
        .unwrap();
        let b = write_layer(
            &binary_entries(&binary, "hello"),
            1_700_000_000,
            fast,
            &b_dir,
        )
        .unwrap();
        assert_eq!(
            std::fs::read(&a.path).unwrap(),
            std::fs::read(&b.path).unwrap(),
            "same binary, same bytes"
        );
        assert_eq!((&a.digest, &a.diff_id), (&b.digest, &b.diff_id));

        let got = entries(&unpacked(&a));
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "usr/",
                "usr/local/",
                "usr/local/bin/",
                "usr/local/bin/hello"
            ]
        );
        for e in &got {
            assert_eq!(e.mode, 0o755, "{}", e.name);
            assert_eq!((e.mtime, e.owner), (1_700_000_000, (0, 0)), "{}", e.name);
            assert_eq!(e.kind.is_dir(), e.name.ends_with('/'), "{}", e.name);
        }
        assert_eq!(got[3].data, bytes);

        // Another mtime or another binary: another layer.
        let other = write_layer(&binary_entries(&binary, "hello"), 0, fast, &a_dir).unwrap();
        assert_ne!(other.digest, a.digest);
        let mut changed = bytes.clone();
        changed[5] ^= 1;
        std::fs::write(&binary, &changed).unwrap();
        let changed = write_layer(
            &binary_entries(&binary, "hello"),
            1_700_000_000,
            fast,
            &a_dir,
        )
        .unwrap();
        assert_ne!(changed.digest, a.digest);
    }

    #[test]
    fn entries_are_sorted_with_parents_owners_modes_and_links() {
        let dir = tempfile::tempdir().unwrap();
        let layer_entries = Entries::from([
            ("tmp".to_string(), Entry::dir(0o1777, 0)),
            (
                "etc/ssl/cert.pem".to_string(),
                Entry::symlink("/etc/ssl/certs/ca.crt"),
            ),
            ("home/nonroot".to_string(), Entry::dir(0o755, 10001)),
            (
                "etc/passwd".to_string(),
                Entry::bytes("root:x:0:0::/:/x\n", 0o644),
            ),
        ]);
        let layer = write_layer(&layer_entries, 7, Compression::best(), dir.path()).unwrap();
        let got = entries(&unpacked(&layer));
        let names: Vec<&str> = got.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "etc/",
                "etc/passwd",
                "etc/ssl/",
                "etc/ssl/cert.pem",
                "home/",
                "home/nonroot/",
                "tmp/"
            ]
        );
        let by = |n: &str| got.iter().find(|e| e.name == n).unwrap();
        assert_eq!((by("tmp/").mode, by("tmp/").owner), (0o1777, (0, 0)));
        assert_eq!(by("home/nonroot/").owner, (10001, 10001));
        assert_eq!(by("etc/passwd").data, b"root:x:0:0::/:/x\n");
        assert_eq!(by("etc/ssl/cert.pem").kind, tar::EntryType::Symlink);
        assert_eq!(
            by("etc/ssl/cert.pem").link.as_deref(),
            Some("/etc/ssl/certs/ca.crt")
        );
        assert!(got.iter().all(|e| e.mtime == 7));
    }

    #[test]
    fn long_binary_names_still_land_in_usr_local_bin() {
        let dir = tempfile::tempdir().unwrap();
        let binary = dir.path().join("x");
        std::fs::write(&binary, b"x").unwrap();
        let name = "a-very-long-binary-name-".repeat(5);
        let layer = write_layer(
            &binary_entries(&binary, &name),
            0,
            Compression::fast(),
            dir.path(),
        )
        .unwrap();
        let got = entries(&unpacked(&layer));
        assert_eq!(got.last().unwrap().name, format!("usr/local/bin/{name}"));
    }
}
