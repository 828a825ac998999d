//! Stage `package`: the source archive a remote build uploads.
//!
//! A zip of the build's source set ([`crate::sources`]: the workspace root and every path dependency,
//! inside or outside it, at their relative places) with Cargo.lock, honouring
//! .gitignore and .dockerignore, never carrying target/, .git/ or likely secrets. Deterministic: entries
//! sorted, timestamps fixed at the zip epoch, modes normalised to 0644/0755, so the same tree gives the
//! same bytes and its sha256 can key caches (image tags, S3 uploads).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::error::{display_path, Result};
use crate::output::Output;

mod collect;

pub use collect::collect;

/// Trees larger than this get a progress bar on a terminal.
const BAR_THRESHOLD_BYTES: u64 = 16 << 20;

pub struct PackageInput {
    /// The archive's top: the workspace root, or the directory holding it and every path
    /// dependency outside it.
    pub root: PathBuf,
    /// The directories archived, under `root`: the workspace root first (its .dockerignore applies
    /// to it, its Cargo.lock is always in), then each outside path dependency's.
    pub trees: Vec<PathBuf>,
    /// Single files archived besides (workspace manifests outside crates inherit from).
    pub files: Vec<PathBuf>,
    /// The outside path dependencies, for the report.
    pub outside: Vec<crate::sources::OutsideCrate>,
    /// Directories never archived besides `.git` (cargo's target dir).
    pub exclude: Vec<PathBuf>,
    pub output: PathBuf,
    /// Globs (relative paths) of likely-secret files the user allows in.
    pub allow: Vec<String>,
}

impl PackageInput {
    /// Only `root` (a workspace without outside path dependencies).
    pub fn tree(root: &Path, exclude: Vec<PathBuf>, output: PathBuf) -> Self {
        PackageInput {
            root: root.to_path_buf(),
            trees: vec![root.to_path_buf()],
            files: Vec::new(),
            outside: Vec::new(),
            exclude,
            output,
            allow: Vec::new(),
        }
    }

    /// The project's source set, with cargo's target dir left out; the archive goes to `output`,
    /// by default `<target-dir>/fargate/<project>-source.zip`.
    pub fn for_project(
        project: &crate::project::Project,
        sources: &crate::sources::SourceSet,
        config: &crate::config::Config,
        output: Option<PathBuf>,
        allow: Vec<String>,
    ) -> Self {
        PackageInput {
            root: sources.root.clone(),
            trees: sources.trees(),
            files: sources.manifests.clone(),
            outside: sources.outside.clone(),
            exclude: vec![project.target_dir.clone()],
            output: output.unwrap_or_else(|| {
                project
                    .target_dir
                    .join("fargate")
                    .join(format!("{}-source.zip", config.project))
            }),
            allow,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LeftOut {
    pub path: String,
    pub reason: &'static str,
}

/// A path dependency outside the workspace root and its files in the archive.
#[derive(Debug, Clone, Serialize)]
pub struct OutsideFiles {
    pub name: String,
    /// As the workspace names it (`../core`).
    pub path: String,
    /// Its files, by their names in the archive.
    pub files: Vec<String>,
}

impl OutsideFiles {
    /// Each outside crate's files among `entries` (a crate nested in another lists its own too).
    pub fn of(outside: &[crate::sources::OutsideCrate], entries: &[Entry]) -> Vec<OutsideFiles> {
        outside
            .iter()
            .map(|o| OutsideFiles {
                name: o.name.clone(),
                path: o.from_workspace.clone(),
                files: entries
                    .iter()
                    .filter(|e| e.name.starts_with(&format!("{}/", o.path)))
                    .map(|e| e.name.clone())
                    .collect(),
            })
            .collect()
    }
}

impl fmt::Display for OutsideFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "outside  {} at {} ({} files, outside the workspace root)",
            self.name,
            self.path,
            self.files.len()
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PackageOutput {
    pub path: PathBuf,
    pub sha256: String,
    pub files: usize,
    pub bytes: u64,
    /// Bytes of the files before compression.
    pub source_bytes: u64,
    pub left_out: Vec<LeftOut>,
    /// Path dependencies outside the workspace root, with the files archived from each.
    pub outside: Vec<OutsideFiles>,
    /// True when an archive with the same bytes was already there (left untouched).
    pub unchanged: bool,
}

impl fmt::Display for PackageOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "archive  {}", display_path(&self.path))?;
        writeln!(f, "sha256   {}", self.sha256)?;
        writeln!(f, "files    {}", self.files)?;
        writeln!(
            f,
            "bytes    {} ({} before compression)",
            self.bytes, self.source_bytes
        )?;
        for o in &self.outside {
            writeln!(f, "{o}")?;
        }
        for l in &self.left_out {
            writeln!(f, "left out {} ({})", l.path, l.reason)?;
        }
        Ok(())
    }
}

/// One file to archive: its path in the archive ('/'-separated) and on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub path: PathBuf,
    pub executable: bool,
    pub size: u64,
}

/// Writes the entries as a deterministic zip.
pub fn write_zip<W: Write + io::Seek>(
    entries: &[Entry],
    sink: W,
    on_progress: impl Fn(u64),
) -> Result<W> {
    let mut zip = zip::ZipWriter::new(sink);
    for e in entries {
        let opts = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(if e.executable { 0o755 } else { 0o644 })
            .large_file(e.size >= u32::MAX as u64);
        zip.start_file(e.name.as_str(), opts)?;
        let mut f = BufReader::new(
            File::open(&e.path).with_context(|| format!("reading {}", e.path.display()))?,
        );
        let n = io::copy(&mut f, &mut zip)
            .with_context(|| format!("archiving {}", e.path.display()))?;
        on_progress(n);
    }
    Ok(zip.finish()?)
}

pub fn sha256_file(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    hash_file(&mut hasher, path)?;
    Ok(hex::encode(hasher.finalize()))
}

/// Feeds a file's bytes to a hasher without reading it whole into memory.
fn hash_file(hasher: &mut Sha256, path: &Path) -> Result<()> {
    let mut f = File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        hasher.update(&buf[..n]);
    }
}

/// Builds the archive at `input.output`. Written to a temporary file first and renamed, so a failure
/// leaves nothing half-written; an identical existing archive is left as it is.
pub fn run(input: &PackageInput, out: &Output) -> Result<PackageOutput> {
    // What was left out is in the result (once): not warned about as well.
    let (entries, left_out) = collect(input)?;
    let source_bytes: u64 = entries.iter().map(|e| e.size).sum();
    out.status(
        "Packaging",
        format_args!(
            "{} ({} files, {} bytes)",
            display_path(&input.root),
            entries.len(),
            source_bytes
        ),
    );

    let dir = input
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Written beside the archive and renamed over it: a reader never sees half an archive, and
    // an interrupted write leaves nothing behind (the temporary file is removed when dropped).
    let mut tmp = tempfile::Builder::new()
        .prefix(".cargo-fargate-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let bar = if source_bytes > BAR_THRESHOLD_BYTES {
        out.bar(source_bytes, "Packaging")
    } else {
        indicatif::ProgressBar::hidden()
    };
    let written = (|| -> Result<()> {
        // A temporary file is private (0600); an archive is readable as `File::create` makes it.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        let f = write_zip(&entries, io::BufWriter::new(tmp.as_file_mut()), |n| {
            bar.inc(n)
        })?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    })();
    bar.finish_and_clear();
    written?;

    let sha256 = sha256_file(tmp.path())?;
    let unchanged = input.output.is_file()
        && sha256_file(&input.output).ok().as_deref() == Some(sha256.as_str());
    if !unchanged {
        tmp.persist(&input.output)
            .with_context(|| format!("writing {}", input.output.display()))?;
    }
    let bytes = std::fs::metadata(&input.output)?.len();
    Ok(PackageOutput {
        path: input.output.clone(),
        sha256,
        files: entries.len(),
        bytes,
        source_bytes,
        left_out,
        outside: OutsideFiles::of(&input.outside, &entries),
        unchanged,
    })
}

/// A hash of what the archive would hold (names, modes, contents) without compressing anything:
/// cheap enough to run before every build, and equal for equal trees.
pub fn source_hash(entries: &[Entry]) -> Result<String> {
    let mut hasher = Sha256::new();
    for e in entries {
        hasher.update(e.name.as_bytes());
        hasher.update([0, e.executable as u8]);
        hasher.update(e.size.to_le_bytes());
        hash_file(&mut hasher, &e.path)?;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The commit a tree is at, and whether it has changes on top.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct GitState {
    pub sha: String,
    pub dirty: bool,
}

impl GitState {
    pub fn short(&self) -> &str {
        &self.sha[..self.sha.len().min(7)]
    }
}

/// Asks git; None when the tree is not a git checkout or git is not installed.
pub fn git_state(root: &Path) -> Option<GitState> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let sha = String::from_utf8(git(&["rev-parse", "HEAD"])?.stdout)
        .ok()?
        .trim()
        .to_string();
    let status = git(&["status", "--porcelain", "--untracked-files=normal"])?;
    Some(GitState {
        sha,
        dirty: !status.stdout.is_empty(),
    })
}

#[cfg(test)]
mod tests;
