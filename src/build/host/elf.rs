//! What an ELF file asks of the system it runs on, read from its headers with `object`: its dynamic
//! loader, the shared libraries it links (DT_NEEDED) and the glibc symbol versions it needs or defines.

use object::elf;
use object::read::elf::{ElfFile64, FileHeader, ProgramHeader};
use object::read::{ReadCache, ReadRef};
use object::Endianness;

use crate::error::Result;

/// A glibc symbol version: `GLIBC_2.36` is `[2, 36]`.
pub type GlibcVersion = Vec<u32>;

/// The runtime needs of one 64-bit ELF file.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ElfNeeds {
    /// PT_INTERP: the dynamic loader's path (`/lib64/ld-linux-x86-64.so.2`); None for a static file.
    pub interpreter: Option<String>,
    /// DT_NEEDED: sonames of the shared libraries it links (`libc.so.6`), in order.
    pub needed: Vec<String>,
    /// The newest `GLIBC_x.y` it needs (SHT_GNU_VERNEED).
    pub glibc_needed: Option<GlibcVersion>,
    /// The newest `GLIBC_x.y` it defines (SHT_GNU_VERDEF): set for libc itself.
    pub glibc_defined: Option<GlibcVersion>,
    /// e_machine: a library for another architecture is not one of ours.
    pub machine: u16,
}

/// Reads `bytes` as a 64-bit ELF file; None when it is not one (a script, a 32-bit file, garbage).
pub fn read(bytes: &[u8]) -> Result<Option<ElfNeeds>> {
    read_from(bytes)
}

/// [`read`] for a file on disk, reading only the headers and tables it needs (a binary may be large).
pub fn read_file(path: &std::path::Path) -> Result<Option<ElfNeeds>> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let cache = ReadCache::new(file);
    read_from(&cache)
}

fn read_from<'d, R: ReadRef<'d>>(bytes: R) -> Result<Option<ElfNeeds>> {
    let Ok(file) = ElfFile64::<Endianness, R>::parse(bytes) else {
        return Ok(None);
    };
    let endian = file.endian();
    let header = file.elf_header();
    let mut needs = ElfNeeds {
        machine: header.e_machine(endian),
        ..ElfNeeds::default()
    };
    for segment in header.program_headers(endian, bytes)? {
        if let Some(interp) = segment.interpreter(endian, bytes)? {
            needs.interpreter = Some(String::from_utf8_lossy(interp).into_owned());
        }
    }
    let sections = file.elf_section_table();
    let dynamic = sections.dynamic_table(endian, bytes)?;
    for d in &dynamic {
        if d.tag == elf::DT_NEEDED {
            needs
                .needed
                .push(String::from_utf8_lossy(dynamic.string(d)?).into_owned());
        }
    }
    if let Some((mut verneed, link)) = sections.gnu_verneed(endian, bytes)? {
        let strings = sections.strings(endian, bytes, link)?;
        while let Some((_, mut aux)) = verneed.next()? {
            while let Some(a) = aux.next()? {
                newest(&mut needs.glibc_needed, a.name(endian, strings)?);
            }
        }
    }
    if let Some((mut verdef, link)) = sections.gnu_verdef(endian, bytes)? {
        let strings = sections.strings(endian, bytes, link)?;
        while let Some((_, mut aux)) = verdef.next()? {
            while let Some(a) = aux.next()? {
                newest(&mut needs.glibc_defined, a.name(endian, strings)?);
            }
        }
    }
    Ok(Some(needs))
}

/// Keeps the newer of `current` and `name` when `name` is `GLIBC_x.y[.z]` (not GLIBC_PRIVATE).
fn newest(current: &mut Option<GlibcVersion>, name: &[u8]) {
    let Some(version) = glibc_version(name) else {
        return;
    };
    if current.as_ref().is_none_or(|c| version > *c) {
        *current = Some(version);
    }
}

/// `GLIBC_2.34` as `[2, 34]`.
pub fn glibc_version(name: &[u8]) -> Option<GlibcVersion> {
    let v = std::str::from_utf8(name).ok()?.strip_prefix("GLIBC_")?;
    v.split('.').map(|n| n.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_parse_only_when_numeric() {
        assert_eq!(glibc_version(b"GLIBC_2.2.5"), Some(vec![2, 2, 5]));
        assert_eq!(glibc_version(b"GLIBC_2.34"), Some(vec![2, 34]));
        for bad in [&b"GLIBC_PRIVATE"[..], b"GLIBC_", b"GLIBC_2.", b"GCC_3.0"] {
            assert_eq!(glibc_version(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn this_test_binary_and_the_host_libc_are_read_from_their_headers() {
        // The test binary is dynamically linked against glibc like any host build.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let needs = read(&exe).unwrap().expect("an ELF file");
        let interp = needs.interpreter.clone().expect("a dynamic loader");
        assert!(interp.contains("ld-linux"), "{interp}");
        assert!(needs.needed.iter().any(|n| n == "libc.so.6"), "{needs:?}");
        let needed = needs.glibc_needed.expect("versioned glibc symbols");
        assert!(needed >= vec![2, 2, 5], "{needed:?}");
        assert_eq!(needs.glibc_defined, None);

        let libc = ["/lib", "/usr/lib", "/lib64", "/usr/lib64"]
            .iter()
            .flat_map(|d| {
                [
                    format!("{d}/{}-linux-gnu/libc.so.6", std::env::consts::ARCH),
                    format!("{d}/libc.so.6"),
                ]
            })
            .find(|p| std::path::Path::new(p).is_file())
            .expect("the host has a libc");
        let libc = read(&std::fs::read(libc).unwrap()).unwrap().unwrap();
        let defined = libc.glibc_defined.expect("libc defines GLIBC_ versions");
        assert!(defined >= needed, "{defined:?} < {needed:?}");

        assert_eq!(read(b"#!/bin/sh\necho GLIBC_2.99\n").unwrap(), None);
    }
}
