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
use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::WalkBuilder;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

use crate::error::{display_path, Location, Result, UserError};
use crate::output::Output;

/// File names that are likely secrets; left out unless `--allow`ed.
const SECRET_PATTERNS: &[&str] = &[
    "**/.env",
    "**/.env.*",
    "**/*.pem",
    "**/*.key",
    "**/*.p12",
    "**/*.pfx",
    "**/id_rsa*",
    "**/id_dsa*",
    "**/id_ecdsa*",
    "**/id_ed25519*",
    "**/.aws/**",
    "**/credentials",
    "**/credentials.json",
    "**/credentials.csv",
    "**/*_accessKeys.csv",
    "**/.netrc",
    "**/.git-credentials",
];

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

fn globset(patterns: &[&str]) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).expect("built-in secret patterns are valid"));
    }
    b.build().expect("built-in secret patterns are valid")
}

/// Patterns of `.dockerignore` are relative to the context root, so each is anchored there
/// (in gitignore syntax an unanchored `target` would match at any depth).
fn dockerignore(root: &Path) -> Result<Option<Gitignore>> {
    let path = root.join(".dockerignore");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let mut b = GitignoreBuilder::new(root);
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (neg, pat) = match line.strip_prefix('!') {
            Some(rest) => ("!", rest.trim()),
            None => ("", line),
        };
        let pat = pat.trim_start_matches("./");
        let anchored = if pat.starts_with('/') {
            pat.to_string()
        } else {
            format!("/{pat}")
        };
        b.add_line(Some(path.clone()), &format!("{neg}{anchored}"))
            .map_err(|e| {
                UserError::new(format!("invalid pattern `{line}`: {e}"))
                    .at(Location::file(&path, Some(n + 1)))
                    .fix("fix or remove the pattern")
            })?;
    }
    Ok(Some(b.build().map_err(|e| {
        UserError::new(format!("invalid .dockerignore: {e}")).at(Location::file(&path, None))
    })?))
}

/// What every walk leaves out or lets in.
struct Filters {
    secrets: GlobSet,
    allow: GlobSet,
    /// The workspace's .dockerignore (anchored at the workspace root; applies to its tree only).
    docker: Option<Gitignore>,
    workspace: PathBuf,
    exclude: Vec<PathBuf>,
    output: PathBuf,
}

/// Lists what goes into the archive, sorted, and what was left out as a likely secret.
pub fn collect(input: &PackageInput) -> Result<(Vec<Entry>, Vec<LeftOut>)> {
    let root = &input.root;
    let workspace = input.trees.first().unwrap_or(root).clone();
    let mut allow = GlobSetBuilder::new();
    for a in &input.allow {
        allow.add(Glob::new(a).map_err(|e| {
            UserError::new(format!("invalid glob `{a}`: {e}")).at(Location::Flag("--allow".into()))
        })?);
    }
    let filters = Filters {
        secrets: globset(SECRET_PATTERNS),
        allow: allow.build().context("building --allow globs")?,
        docker: dockerignore(&workspace)?,
        exclude: input
            .exclude
            .iter()
            .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
            .collect(),
        output: std::fs::canonicalize(&input.output).unwrap_or_else(|_| input.output.clone()),
        workspace: workspace.clone(),
    };

    let mut entries = Vec::new();
    let mut left_out = Vec::new();
    for tree in &input.trees {
        walk(root, tree, &filters, &mut entries, &mut left_out)?;
    }
    // Cargo.lock pins the build even where .gitignore leaves it out (libraries often do); the
    // manifests outside crates inherit from come alone.
    for file in std::iter::once(workspace.join("Cargo.lock")).chain(input.files.iter().cloned()) {
        let name = name_in(root, &file);
        if file.is_file() && !entries.iter().any(|e| e.name == name) {
            let meta = std::fs::metadata(&file)?;
            entries.push(Entry {
                name,
                path: file,
                executable: is_executable(&meta),
                size: meta.len(),
            });
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|a, b| a.name == b.name);
    left_out.sort_by(|a, b| a.path.cmp(&b.path));
    left_out.dedup();
    Ok((entries, left_out))
}

/// A path's name in the archive: relative to the root, '/'-separated.
fn name_in(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Walks one tree (the workspace root or an outside crate's directory) into `entries`.
fn walk(
    root: &Path,
    tree: &Path,
    filters: &Filters,
    entries: &mut Vec<Entry>,
    left_out: &mut Vec<LeftOut>,
) -> Result<()> {
    let exclude = filters.exclude.clone();
    let docker = filters
        .docker
        .clone()
        .filter(|_| tree.starts_with(&filters.workspace));
    let walker = WalkBuilder::new(tree)
        .hidden(false)
        .ignore(false)
        .git_global(false) // a user's global excludes would make the archive machine-dependent
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .parents(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |e| {
            let path = e.path();
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            if is_dir && (e.file_name() == ".git" || exclude.iter().any(|x| x == path)) {
                return false;
            }
            if e.depth() == 1 && is_dir && e.file_name() == "target" {
                return false;
            }
            !docker
                .as_ref()
                .is_some_and(|d| d.matched(path, is_dir).is_ignore())
        })
        .build();

    for item in walker {
        let item = item.with_context(|| format!("walking {}", tree.display()))?;
        let Some(ft) = item.file_type() else { continue };
        let path = item.path();
        if ft.is_dir() || path == filters.output {
            continue;
        }
        let name = name_in(root, path);
        let rel = Path::new(&name);
        if filters.secrets.is_match(rel) && !filters.allow.is_match(rel) {
            left_out.push(LeftOut {
                path: name,
                reason: "likely secret; --allow GLOB to include",
            });
            continue;
        }
        // Symlinks: archive the file they point at, when it is a file.
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_file() {
            continue;
        }
        entries.push(Entry {
            name,
            path: path.to_path_buf(),
            executable: is_executable(&meta),
            size: meta.len(),
        });
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &std::fs::Metadata) -> bool {
    false
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

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        write(
            r,
            "Cargo.toml",
            "[workspace]\nmembers = [\"app\", \"lib\"]\n",
        );
        write(r, "Cargo.lock", "# lock\n");
        write(
            r,
            "app/Cargo.toml",
            "[package]\nname = \"app\"\n[dependencies]\nlib = { path = \"../lib\" }\n",
        );
        write(r, "app/src/main.rs", "fn main() {}\n");
        write(r, "lib/src/lib.rs", "pub fn f() {}\n");
        write(r, ".gitignore", "*.log\nscratch/\n");
        write(r, "debug.log", "noise\n");
        write(r, "scratch/notes.txt", "x\n");
        write(r, ".env", "SECRET=1\n");
        write(r, ".env.production", "SECRET=2\n");
        write(r, "certs/server.pem", "-----BEGIN\n");
        write(r, "app/.aws/credentials", "[default]\n");
        write(r, "deploy/id_rsa", "key\n");
        write(r, "target/debug/app", "binary\n");
        write(r, ".git/config", "[core]\n");
        dir
    }

    fn input(root: &Path) -> PackageInput {
        PackageInput::tree(root, vec![root.join("target")], root.join("out.zip"))
    }

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn includes_sources_and_path_deps_and_leaves_out_ignored_and_secrets() {
        let dir = tree();
        let (entries, left_out) = collect(&input(dir.path())).unwrap();
        assert_eq!(
            names(&entries),
            [
                ".gitignore",
                "Cargo.lock",
                "Cargo.toml",
                "app/Cargo.toml",
                "app/src/main.rs",
                "lib/src/lib.rs"
            ]
        );
        let out: Vec<&str> = left_out.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(
            out,
            [
                ".env",
                ".env.production",
                "app/.aws/credentials",
                "certs/server.pem",
                "deploy/id_rsa"
            ]
        );
    }

    #[test]
    fn allow_lets_a_listed_secret_in() {
        let dir = tree();
        let mut i = input(dir.path());
        i.allow = vec!["certs/*.pem".into()];
        let (entries, left_out) = collect(&i).unwrap();
        assert!(names(&entries).contains(&"certs/server.pem"));
        assert!(!left_out.iter().any(|l| l.path == "certs/server.pem"));
    }

    #[test]
    fn dockerignore_is_anchored_at_the_root_and_lock_is_forced_in() {
        let dir = tree();
        write(
            dir.path(),
            ".dockerignore",
            "lib/src\n*.toml\n!app/Cargo.toml\n",
        );
        write(dir.path(), ".gitignore", "Cargo.lock\n*.log\nscratch/\n");
        let (entries, _) = collect(&input(dir.path())).unwrap();
        // `*.toml` matches the root only (as docker does), so app/Cargo.toml stays either way.
        assert_eq!(
            names(&entries),
            [
                ".dockerignore",
                ".gitignore",
                "Cargo.lock",
                "app/Cargo.toml",
                "app/src/main.rs"
            ]
        );
    }

    #[test]
    fn same_tree_gives_the_same_bytes() {
        let dir = tree();
        let (entries, _) = collect(&input(dir.path())).unwrap();
        let a = write_zip(&entries, io::Cursor::new(Vec::new()), |_| {})
            .unwrap()
            .into_inner();
        // Touch every file: new mtimes must not change the archive.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        for e in &entries {
            let text = std::fs::read(&e.path).unwrap();
            std::fs::write(&e.path, text).unwrap();
        }
        let b = write_zip(&entries, io::Cursor::new(Vec::new()), |_| {})
            .unwrap()
            .into_inner();
        assert_eq!(a, b);
        // And a content change does change it.
        write(dir.path(), "app/src/main.rs", "fn main() { println!(); }\n");
        let c = write_zip(&entries, io::Cursor::new(Vec::new()), |_| {})
            .unwrap()
            .into_inner();
        assert_ne!(a, c);
    }

    #[test]
    fn run_is_atomic_and_reuses_an_identical_archive() {
        let dir = tree();
        let i = input(dir.path());
        let first = run(&i, &Output::plain()).unwrap();
        assert!(!first.unchanged);
        assert_eq!(first.files, 6);
        let second = run(&i, &Output::plain()).unwrap();
        assert!(second.unchanged);
        assert_eq!(first.sha256, second.sha256);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        // The archive reads back with the expected names and fixed modes.
        let mut zip = zip::ZipArchive::new(File::open(&first.path).unwrap()).unwrap();
        assert_eq!(zip.len(), 6);
        let f = zip.by_name("app/src/main.rs").unwrap();
        assert_eq!(f.unix_mode().unwrap() & 0o777, 0o644);
    }
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
