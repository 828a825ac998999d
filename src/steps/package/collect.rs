//! What goes into the archive: the source set's files, less what .gitignore and .dockerignore
//! leave out, target/ and .git/, and anything that looks like a secret.

use std::path::{Path, PathBuf};

use anyhow::Context;
use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::WalkBuilder;

use super::{Entry, LeftOut, PackageInput};
use crate::error::{Location, Result, UserError};

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
