//! Finds the cargo project: its manifest, workspace, package and binary targets.
//!
//! The manifest is parsed with toml_edit before cargo sees it, so malformed TOML is reported by us on
//! one line with its line and column; `cargo metadata --no-deps` (offline, fast) then gives the package.

use std::path::{Path, PathBuf};

use anyhow::Context;
use cargo_metadata::{MetadataCommand, Package, TargetKind};
use toml_edit::ImDocument;

use crate::error::{did_you_mean, display_path, list, Location, Result, UserError};

/// A parsed manifest, kept with its text for line numbers and for edits that keep formatting.
pub struct Manifest {
    pub path: PathBuf,
    pub text: String,
    pub doc: ImDocument<String>,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UserError::new(format!("cannot read the manifest: {e}"))
                .at(Location::file(path, None))
                .fix("check the path given to --manifest-path")
        })?;
        Manifest::from_text(path, text)
    }

    /// Parses manifest text; TOML errors name the file, line and column.
    pub fn from_text(path: &Path, text: String) -> Result<Manifest> {
        let doc = ImDocument::parse(text.clone()).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(&text, s.start)).unwrap_or((1, 1));
            // Every line of toml_edit's message: the first alone ("invalid table header") hides
            // the reason ("duplicate key `prod` in table `stages`").
            let message = e
                .message()
                .lines()
                .map(|l| l.trim().trim_end_matches('.'))
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            let message = if message.is_empty() {
                "invalid TOML".to_string()
            } else {
                message
            };
            let fix = if message.contains("duplicate key") {
                "a table or key may appear once: merge the two into one"
            } else {
                "fix the syntax at that line"
            };
            UserError::new(format!("invalid TOML at column {col}: {message}"))
                .at(Location::file(path, Some(line)))
                .fix(fix)
        })?;
        Ok(Manifest {
            path: path.to_path_buf(),
            text,
            doc,
        })
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

/// A workspace member's manifest and target sources, relative to the workspace root: what the
/// Dockerfile's dependency layer needs to build dependencies from stubs.
#[derive(Debug, Clone)]
pub struct Member {
    pub manifest: PathBuf,
    /// (kind, source path): kind is cargo's (`lib`, `bin`, `custom-build`, `proc-macro`, …).
    pub targets: Vec<(String, PathBuf)>,
}

/// The selected package of a cargo workspace.
pub struct Project {
    pub members: Vec<Member>,
    pub workspace_root: PathBuf,
    pub target_dir: PathBuf,
    pub package_name: String,
    pub package_version: String,
    pub package_dir: PathBuf,
    pub bins: Vec<String>,
    pub default_run: Option<String>,
    /// The package's own manifest.
    pub manifest: Manifest,
    /// The workspace root manifest, when it is another file.
    pub workspace_manifest: Option<Manifest>,
    /// The package's `[features]`, and its optional dependencies (features of their own).
    pub features: Vec<String>,
    pub optional_dependencies: Vec<String>,
    /// Directories of every path dependency of the workspace's members and `[patch]` tables
    /// (absolute; inside or outside the root): where `sources` starts.
    pub path_dependencies: Vec<PathBuf>,
}

/// Finds `Cargo.toml` in `start` or the nearest parent, as cargo does.
pub fn locate_manifest(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(path) = given {
        let path = if path.is_dir() {
            path.join("Cargo.toml")
        } else {
            path.to_path_buf()
        };
        if !path.is_file() {
            return Err(UserError::new("no such manifest")
                .at(Location::Flag("--manifest-path".into()))
                .fix(format!(
                    "`{}` does not exist; point --manifest-path at a Cargo.toml",
                    display_path(&path)
                ))
                .into());
        }
        return Ok(std::fs::canonicalize(&path).unwrap_or(path));
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    cwd.ancestors()
        .map(|d| d.join("Cargo.toml"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            UserError::new(format!(
                "no Cargo.toml in `{}` or any parent directory",
                cwd.display()
            ))
            .fix("run cargo fargate inside a cargo project, or pass --manifest-path")
            .into()
        })
}

/// The names of the workspace's packages that have a binary (what `-p` may name), for commands
/// that look at every member (`import copilot`).
pub fn binary_packages(manifest_path: Option<&Path>) -> Result<Vec<String>> {
    let path = locate_manifest(manifest_path)?;
    let metadata = MetadataCommand::new()
        .manifest_path(&path)
        .no_deps()
        .exec()
        .map_err(|e| cargo_error(&path, e))?;
    Ok(metadata
        .workspace_packages()
        .iter()
        .filter(|p| p.targets.iter().any(|t| t.kind.contains(&TargetKind::Bin)))
        .map(|p| p.name.to_string())
        .collect())
}

impl Project {
    pub fn load(manifest_path: Option<&Path>, package: Option<&str>) -> Result<Project> {
        let path = locate_manifest(manifest_path)?;
        let manifest = Manifest::read(&path)?;
        let metadata = MetadataCommand::new()
            .manifest_path(&path)
            .no_deps()
            .exec()
            .map_err(|e| cargo_error(&path, e))?;

        let members: Vec<&Package> = metadata.workspace_packages();
        let selected = select(&members, package, &path)?;

        let bins: Vec<String> = selected
            .targets
            .iter()
            .filter(|t| t.kind.contains(&TargetKind::Bin))
            .map(|t| t.name.clone())
            .collect();
        let package_manifest = selected.manifest_path.as_std_path().to_path_buf();
        if bins.is_empty() {
            return Err(UserError::new(format!(
                "package `{}` has no binary target",
                selected.name
            ))
            .at(Location::file(&package_manifest, None))
            .fix("cargo-fargate deploys a binary: add src/main.rs or a [[bin]] section")
            .into());
        }
        let workspace_root = metadata.workspace_root.as_std_path().to_path_buf();
        let (manifest, workspace_manifest) =
            manifests(manifest, &path, &package_manifest, &workspace_root)?;

        let mut path_dependencies: Vec<PathBuf> = members
            .iter()
            .flat_map(|p| p.dependencies.iter())
            .filter_map(|d| d.path.as_ref().map(|p| p.as_std_path().to_path_buf()))
            .collect();
        let root_manifest = workspace_manifest.as_ref().unwrap_or(&manifest);
        path_dependencies.extend(patch_paths(root_manifest, &workspace_root));
        path_dependencies.sort();
        path_dependencies.dedup();
        let members = member_sources(&members, &workspace_root);
        let features = selected.features.keys().cloned().collect();
        let optional_dependencies = selected
            .dependencies
            .iter()
            .filter(|d| d.optional)
            .map(|d| d.rename.clone().unwrap_or_else(|| d.name.clone()))
            .collect();
        Ok(Project {
            features,
            optional_dependencies,
            members,
            path_dependencies,
            target_dir: metadata.target_directory.as_std_path().to_path_buf(),
            package_name: selected.name.to_string(),
            package_version: selected.version.to_string(),
            package_dir: package_manifest
                .parent()
                .unwrap_or(Path::new("."))
                .to_path_buf(),
            default_run: selected.default_run.clone(),
            bins,
            manifest,
            workspace_manifest,
            workspace_root,
        })
    }
}

/// The package to deploy: `-p`, else the one whose manifest was given, else the only one.
fn select<'m>(members: &[&'m Package], package: Option<&str>, path: &Path) -> Result<&'m Package> {
    Ok(match package {
        Some(name) => members
            .iter()
            .find(|p| p.name.as_str() == name)
            .copied()
            .ok_or_else(|| {
                let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
                let fix = match did_you_mean(name, names.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("workspace members: {}", list(&names)),
                };
                UserError::new(format!("no package `{name}` in this workspace"))
                    .at(Location::Flag("-p".into()))
                    .fix(fix)
            })?,
        None => match members
            .iter()
            .find(|p| p.manifest_path.as_std_path() == path)
        {
            Some(p) => p,
            None if members.len() == 1 => members[0],
            None => {
                let names: Vec<&str> = members.iter().map(|p| p.name.as_str()).collect();
                return Err(
                    UserError::new(format!("this workspace has {} packages", names.len()))
                        .at(Location::file(path, None))
                        .fix(format!("pick one with -p: {}", list(&names)))
                        .into(),
                );
            }
        },
    })
}

/// The package's manifest and, when it is another file, the workspace's; `manifest` is the one
/// already parsed (`path`).
fn manifests(
    manifest: Manifest,
    path: &Path,
    package_manifest: &Path,
    workspace_root: &Path,
) -> Result<(Manifest, Option<Manifest>)> {
    Ok(if package_manifest == path {
        let root = workspace_root.join("Cargo.toml");
        let ws = if root != path && root.is_file() {
            Some(Manifest::read(&root)?)
        } else {
            None
        };
        (manifest, ws)
    } else {
        // A member chosen from the workspace root: the file we parsed is the workspace manifest.
        let ws = if path == workspace_root.join("Cargo.toml") {
            Some(manifest)
        } else {
            Some(Manifest::read(&workspace_root.join("Cargo.toml"))?)
        };
        (Manifest::read(package_manifest)?, ws)
    })
}

/// Each member's manifest and target sources, relative to the workspace root.
fn member_sources(members: &[&Package], workspace_root: &Path) -> Vec<Member> {
    members
        .iter()
        .map(|p| Member {
            manifest: relative(workspace_root, p.manifest_path.as_std_path()),
            targets: p
                .targets
                .iter()
                .map(|t| {
                    (
                        t.kind.first().map(|k| k.to_string()).unwrap_or_default(),
                        relative(workspace_root, t.src_path.as_std_path()),
                    )
                })
                .collect(),
        })
        .collect()
}

/// The `path` of each `[patch.<registry>]` entry of the workspace manifest: cargo builds those too.
fn patch_paths(manifest: &Manifest, root: &Path) -> Vec<PathBuf> {
    let Some(patch) = manifest.doc.get("patch").and_then(|p| p.as_table_like()) else {
        return Vec::new();
    };
    patch
        .iter()
        .filter_map(|(_, registry)| registry.as_table_like())
        .flat_map(|registry| registry.iter().map(|(_, dep)| dep))
        .filter_map(|dep| {
            dep.as_table_like()?
                .get("path")?
                .as_str()
                .map(|p| root.join(p))
        })
        .collect()
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// cargo's own error, cut to its first `error:` line.
pub(crate) fn cargo_error(path: &Path, e: cargo_metadata::Error) -> anyhow::Error {
    let text = match &e {
        cargo_metadata::Error::CargoMetadata { stderr } => stderr.clone(),
        other => other.to_string(),
    };
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines
        .next()
        .unwrap_or("cargo metadata failed")
        .trim_start_matches("error: ")
        .to_string();
    // cargo puts the real cause last ("Caused by: ...").
    let cause = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("Caused by"))
        .unwrap_or("");
    let what = if cause.is_empty() || first.contains(cause) {
        first
    } else {
        format!("{first}: {cause}")
    };
    if text.contains("no default toolchain") || text.contains("rustup could not choose a version") {
        return UserError::new(format!("cargo cannot run: {what}"))
            .fix("pick a toolchain: `rustup default stable` (or add a rust-toolchain.toml)")
            .into();
    }
    UserError::new(format!("cargo could not read the project: {what}"))
        .at(Location::file(path, None))
        .fix("fix the manifest as cargo says")
        .into()
}
