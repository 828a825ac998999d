//! The binary's layer: one deterministic gzipped tar.

use std::io::Write;

use flate2::{Compression, GzBuilder};

use super::BIN_DIR;
use crate::error::Result;
use crate::registry::digest_of;

/// The binary's layer: gzipped tar and its two digests.
#[derive(Debug, Clone)]
pub struct BinaryLayer {
    pub tar_gz: Vec<u8>,
    /// sha256 of the compressed bytes: the blob's name.
    pub digest: String,
    /// sha256 of the uncompressed tar: what the image config lists.
    pub diff_id: String,
}

/// The tar of one binary at `/usr/local/bin/<bin>`: root-owned, fixed modes and mtime, so the same
/// binary always gives the same bytes.
pub(super) fn binary_tar(binary: &[u8], bin: &str, mtime: u64) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut partial = String::new();
    for dir in BIN_DIR.split('/') {
        partial.push_str(dir);
        partial.push('/');
        let mut h = fixed_header(tar::EntryType::Directory, 0o755, mtime, 0);
        // "usr/" with its slash, as docker and GNU tar write directories.
        let name = &mut h.as_old_mut().name;
        name[..partial.len()].copy_from_slice(partial.as_bytes());
        h.set_cksum();
        tar.append(&h, std::io::empty())?;
    }
    let mut h = fixed_header(tar::EntryType::Regular, 0o755, mtime, binary.len() as u64);
    tar.append_data(&mut h, format!("{BIN_DIR}/{bin}"), binary)?;
    Ok(tar.into_inner()?)
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

pub(super) fn binary_layer(binary: &[u8], bin: &str, mtime: u64) -> Result<BinaryLayer> {
    let tar = binary_tar(binary, bin, mtime)?;
    let diff_id = digest_of(&tar);
    // A fixed gzip header (no name, mtime 0); fast compression, as ko does: it is one binary.
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::fast());
    gz.write_all(&tar)?;
    let tar_gz = gz.finish()?;
    Ok(BinaryLayer {
        digest: digest_of(&tar_gz),
        diff_id,
        tar_gz,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    struct TarEntry {
        name: String,
        kind: tar::EntryType,
        mode: u32,
        mtime: u64,
        owner: (u64, u64),
        data: Vec<u8>,
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
                }
            })
            .collect()
    }

    #[test]
    fn the_binary_layer_is_deterministic_with_fixed_modes_owners_and_mtime() {
        let binary = b"\x7fELF pretend binary".repeat(1000);
        let a = binary_layer(&binary, "hello", 1_700_000_000).unwrap();
        let b = binary_layer(&binary, "hello", 1_700_000_000).unwrap();
        assert_eq!(a.tar_gz, b.tar_gz, "same binary, same bytes");
        assert_eq!((&a.digest, &a.diff_id), (&b.digest, &b.diff_id));
        assert_eq!(a.digest, digest_of(&a.tar_gz));

        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(&a.tar_gz[..])
            .read_to_end(&mut tar)
            .unwrap();
        assert_eq!(
            a.diff_id,
            digest_of(&tar),
            "diff_id is the uncompressed tar's"
        );
        // gzip header: no name, mtime 0 (bytes 4..8)
        assert_eq!(&a.tar_gz[3..8], &[0, 0, 0, 0, 0]);

        let got = entries(&tar);
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
        assert_eq!(got[3].data, binary);

        // Another mtime or another binary: another layer.
        assert_ne!(binary_layer(&binary, "hello", 0).unwrap().digest, a.digest);
        let mut changed = binary.clone();
        changed[5] ^= 1;
        assert_ne!(
            binary_layer(&changed, "hello", 1_700_000_000)
                .unwrap()
                .digest,
            a.digest
        );
    }

    #[test]
    fn long_binary_names_still_land_in_usr_local_bin() {
        let name = "a-very-long-binary-name-".repeat(5);
        let tar = binary_tar(b"x", &name, 0).unwrap();
        let got = entries(&tar);
        assert_eq!(got.last().unwrap().name, format!("usr/local/bin/{name}"));
    }
}
