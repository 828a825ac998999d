//! The source set of a build: what cargo needs to build the package, as `cargo metadata` says —
//! the workspace and every path dependency, inside or outside the workspace root (followed
//! transitively, with the workspace manifest an outside crate inherits from). The Docker context, the
//! CodeBuild source archive and the content hash are all made from this one set, so the three
//! builders build the same tree and a change anywhere in it makes a new image.
//!
//! Git and registry dependencies are not here: cargo fetches them, pinned by Cargo.lock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use cargo_metadata::{MetadataCommand, Package};
use serde::Serialize;

use crate::error::Result;
use crate::project::{Member, Project};

/// A path dependency outside the workspace root.
#[derive(Debug, Clone, Serialize)]
pub struct OutsideCrate {
    pub name: String,
    /// Its directory, relative to the context root ('/'-separated).
    pub path: String,
    /// Its directory as the workspace's manifests name it (`../core`).
    pub from_workspace: String,
    #[serde(skip)]
    pub dir: PathBuf,
    /// Its manifest and targets relative to the context root (the Dockerfile's skeleton).
    #[serde(skip)]
    pub member: Member,
}

/// The directories and files a build needs, and where they sit in the context.
#[derive(Debug, Clone)]
pub struct SourceSet {
    /// The top of the Docker context and the source archive: the workspace root, or the nearest
    /// directory holding it and every path dependency outside it.
    pub root: PathBuf,
    /// The workspace root (absolute): where cargo runs, its .dockerignore, its Cargo.lock.
    pub workspace_root: PathBuf,
    /// The path dependencies outside the workspace root, by context path.
    pub outside: Vec<OutsideCrate>,
    /// Workspace manifests the outside crates inherit from (absolute), when not already in a tree.
    pub manifests: Vec<PathBuf>,
}

impl SourceSet {
    /// Only the workspace root: what a project without outside path dependencies needs.
    pub fn workspace(root: &Path) -> SourceSet {
        SourceSet {
            root: root.to_path_buf(),
            workspace_root: root.to_path_buf(),
            outside: Vec::new(),
            manifests: Vec::new(),
        }
    }

    /// Follows the project's path dependencies out of the workspace root, asking `cargo metadata
    /// --no-deps` of each outside crate's own workspace (once per workspace).
    pub fn of(project: &Project) -> Result<SourceSet> {
        let workspace_root = canonical(&project.workspace_root);
        let mut known: BTreeMap<PathBuf, (Package, Option<PathBuf>)> = BTreeMap::new();
        let mut queue: Vec<PathBuf> = project
            .path_dependencies
            .iter()
            .map(|p| canonical(p))
            .collect();
        let mut seen = BTreeSet::new();
        let mut found: Vec<(Package, PathBuf)> = Vec::new();
        let mut manifests = BTreeSet::new();
        while let Some(dir) = queue.pop() {
            if dir.starts_with(&workspace_root) || !seen.insert(dir.clone()) {
                continue;
            }
            let manifest = dir.join("Cargo.toml");
            if !known.contains_key(&manifest) {
                let metadata = MetadataCommand::new()
                    .manifest_path(&manifest)
                    .no_deps()
                    .exec()
                    .map_err(|e| crate::project::cargo_error(&manifest, e))?;
                let ws_manifest =
                    canonical(metadata.workspace_root.as_std_path()).join("Cargo.toml");
                for p in metadata.packages {
                    let path = canonical(p.manifest_path.as_std_path());
                    // Inherited `workspace = true` fields need the workspace's own manifest.
                    let ws =
                        (path != ws_manifest && ws_manifest.is_file()).then(|| ws_manifest.clone());
                    known.insert(path, (p, ws));
                }
            }
            let Some((package, ws)) = known.get(&manifest).cloned() else {
                continue;
            };
            manifests.extend(ws);
            queue.extend(
                package
                    .dependencies
                    .iter()
                    .filter_map(|d| d.path.as_ref())
                    .map(|p| canonical(p.as_std_path())),
            );
            found.push((package, dir));
        }

        let mut root = workspace_root.clone();
        for dir in found
            .iter()
            .map(|(_, d)| d.as_path())
            .chain(manifests.iter().filter_map(|m| m.parent()))
        {
            while !dir.starts_with(&root) {
                match root.parent() {
                    Some(parent) => root = parent.to_path_buf(),
                    None => break,
                }
            }
        }
        let mut outside: Vec<OutsideCrate> = found
            .into_iter()
            .map(|(p, dir)| OutsideCrate {
                name: p.name.to_string(),
                path: name_in(&root, &dir),
                from_workspace: walk_between(&workspace_root, &dir),
                member: Member {
                    manifest: relative(&root, p.manifest_path.as_std_path()),
                    targets: p
                        .targets
                        .iter()
                        .map(|t| {
                            (
                                t.kind.first().map(|k| k.to_string()).unwrap_or_default(),
                                relative(&root, t.src_path.as_std_path()),
                            )
                        })
                        .collect(),
                },
                dir,
            })
            .collect();
        outside.sort_by(|a, b| a.path.cmp(&b.path));
        // A manifest inside a walked tree comes along with it.
        let manifests = manifests
            .into_iter()
            .filter(|m| {
                !m.starts_with(&workspace_root) && !outside.iter().any(|o| m.starts_with(&o.dir))
            })
            .collect();
        Ok(SourceSet {
            root,
            workspace_root,
            outside,
            manifests,
        })
    }

    /// The workspace root's place in the context, '/'-separated: `.` when it is the top.
    pub fn workspace_path(&self) -> String {
        name_in(&self.root, &self.workspace_root)
    }

    /// The directories to walk: the workspace root first, then each outside crate's directory that
    /// is not inside another one walked.
    pub fn trees(&self) -> Vec<PathBuf> {
        let mut trees = vec![self.workspace_root.clone()];
        let mut dirs: Vec<&PathBuf> = self.outside.iter().map(|o| &o.dir).collect();
        dirs.sort_by_key(|d| d.components().count());
        for d in dirs {
            if !trees.iter().any(|t| d.starts_with(t)) {
                trees.push(d.clone());
            }
        }
        trees
    }

    /// A path's name in the context: relative to the root, '/'-separated.
    pub fn name(&self, path: &Path) -> String {
        name_in(&self.root, path)
    }
}

/// `to` relative to `from`, with `..` steps: how a manifest in `from` names `to`.
fn walk_between(from: &Path, to: &Path) -> String {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); from.len() - common];
    parts.extend(
        to[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

fn relative(root: &Path, path: &Path) -> PathBuf {
    let path = canonical(path);
    path.strip_prefix(root).unwrap_or(&path).to_path_buf()
}

fn name_in(root: &Path, path: &Path) -> String {
    let rel = relative(root, path);
    let parts: Vec<String> = rel
        .components()
        .filter(|c| !matches!(c, Component::CurDir | Component::RootDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trees_skip_directories_inside_another_and_names_are_relative() {
        let mut s = SourceSet::workspace(Path::new("/r/examples"));
        s.root = PathBuf::from("/r");
        for (name, dir) in [
            ("core", "/r/core"),
            ("inner", "/r/core/inner"),
            ("extra", "/r/extra"),
        ] {
            s.outside.push(OutsideCrate {
                name: name.into(),
                path: name_in(&s.root, Path::new(dir)),
                from_workspace: walk_between(Path::new("/r/examples"), Path::new(dir)),
                dir: dir.into(),
                member: Member {
                    manifest: PathBuf::new(),
                    targets: vec![],
                },
            });
        }
        assert_eq!(s.workspace_path(), "examples");
        assert_eq!(
            s.trees(),
            [
                PathBuf::from("/r/examples"),
                PathBuf::from("/r/core"),
                PathBuf::from("/r/extra")
            ]
        );
        assert_eq!(s.name(Path::new("/r/core/src/lib.rs")), "core/src/lib.rs");
        assert_eq!(s.outside[0].from_workspace, "../core");
        assert_eq!(
            walk_between(Path::new("/r/a/ws"), Path::new("/r/a/b/c")),
            "../b/c"
        );
        assert_eq!(SourceSet::workspace(Path::new("/r")).workspace_path(), ".");
    }
}
