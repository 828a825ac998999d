//! `cargo fargate init`: adds a commented `[package.metadata.fargate]` section to the package's
//! Cargo.toml (toml_edit keeps the rest of the file byte for byte) and a `.dockerignore` at the
//! workspace root (the build context) when there is none.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;
use toml_edit::{DocumentMut, Item, Table};

use crate::error::{display_path, Location, Result, UserError};
use crate::project::Project;

const METADATA_TEMPLATE: &str = include_str!("../../task-templates/metadata.toml");
const DOCKERIGNORE_TEMPLATE: &str = include_str!("../../task-templates/dockerignore");

#[derive(Debug, Serialize)]
pub struct InitOutput {
    pub manifest: PathBuf,
    pub dockerignore: PathBuf,
    pub dockerignore_written: bool,
}

impl fmt::Display for InitOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "added [package.metadata.fargate] to {}",
            display_path(&self.manifest)
        )?;
        if self.dockerignore_written {
            writeln!(f, "wrote {}", display_path(&self.dockerignore))
        } else {
            writeln!(
                f,
                "kept {} (--force replaces it)",
                display_path(&self.dockerignore)
            )
        }
    }
}

/// The manifest text with the section added; pure, so it is tested without files.
pub fn add_section(manifest_text: &str, manifest_path: &Path, force: bool) -> Result<String> {
    let mut doc: DocumentMut = manifest_text
        .parse()
        .with_context(|| format!("parsing {}", manifest_path.display()))?;
    let package = doc
        .get_mut("package")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| {
            UserError::new("no [package] table")
                .at(Location::file(manifest_path, None))
                .fix("run init in a package, or pass -p NAME")
        })?;
    if !package.contains_key("metadata") {
        let mut t = Table::new();
        t.set_implicit(true);
        package.insert("metadata", Item::Table(t));
    }
    let metadata = package
        .get_mut("metadata")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| {
            UserError::new("`package.metadata` is not a table")
                .at(Location::file(manifest_path, None))
                .fix("make it a table")
        })?;
    if metadata.contains_key("fargate") {
        if !force {
            let line = manifest_text
                .lines()
                .position(|l| l.trim_start().starts_with("[package.metadata.fargate"))
                .map(|i| i + 1);
            return Err(UserError::new("[package.metadata.fargate] already exists")
                .at(Location::file(manifest_path, line))
                .fix("edit it, or pass --force to replace it")
                .into());
        }
        metadata.remove("fargate");
    }
    let template: DocumentMut = METADATA_TEMPLATE
        .parse()
        .expect("the metadata template is valid TOML");
    let mut section = template["package"]["metadata"]["fargate"].clone();
    // Tables keep the positions they had in the template; renumber them after the manifest's own.
    let mut next = max_position(doc.as_table()) + 1;
    if let Some(t) = section.as_table_mut() {
        renumber(t, &mut next);
    }
    let metadata = doc["package"]["metadata"]
        .as_table_like_mut()
        .expect("checked above");
    metadata.insert("fargate", section);
    let mut text = doc.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

fn max_position(table: &Table) -> usize {
    let own = table.position().unwrap_or(0);
    table
        .iter()
        .filter_map(|(_, item)| item.as_table())
        .map(max_position)
        .fold(own, usize::max)
}

fn renumber(table: &mut Table, next: &mut usize) {
    table.set_position(*next);
    *next += 1;
    for (_, item) in table.iter_mut() {
        if let Some(t) = item.as_table_mut() {
            renumber(t, next);
        }
    }
}

pub fn run(project: &Project, force: bool) -> Result<InitOutput> {
    let manifest = &project.manifest.path;
    let text = add_section(&project.manifest.text, manifest, force)?;
    let dockerignore = project.workspace_root.join(".dockerignore");
    let write_ignore = force || !dockerignore.exists();
    // Both checked; now write, each atomically.
    if write_ignore {
        write_atomic(&dockerignore, DOCKERIGNORE_TEMPLATE)?;
    }
    write_atomic(manifest, &text)?;
    Ok(InitOutput {
        manifest: manifest.clone(),
        dockerignore,
        dockerignore_written: write_ignore,
    })
}

/// Writes beside `path` and renames over it: an interrupted write leaves the old file whole.
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing beside {}", path.display()))?;
    std::io::Write::write_all(&mut tmp, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    // A temporary file is private (0600); the file keeps the permissions it had.
    if let Ok(meta) = std::fs::metadata(path) {
        tmp.as_file().set_permissions(meta.permissions())?;
    } else {
        readable(tmp.as_file())?;
    }
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A new file as `File::create` makes it: readable by all (umask aside).
fn readable(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = "# my app\n[package]\nname = \"app\"   # the name\nversion = \"0.1.0\"\n\n[dependencies]\nserde = \"1\" # keep me\n\n[profile.release]\nlto = true\n";

    #[test]
    fn adds_the_section_and_keeps_everything_else() {
        let out = add_section(MANIFEST, Path::new("Cargo.toml"), false).unwrap();
        assert!(
            out.starts_with(MANIFEST.trim_end()),
            "existing text must be untouched:\n{out}"
        );
        assert!(out.contains("[package.metadata.fargate]\n"));
        assert!(out.contains("[package.metadata.fargate.stages.prod]"));
        assert!(out.contains("# region = \"eu-west-1\""));
        assert!(
            !out.contains("[package.metadata]\n"),
            "metadata stays implicit:\n{out}"
        );
        let again = out.parse::<DocumentMut>().unwrap();
        assert_eq!(
            again["package"]["metadata"]["fargate"]["cpu"].as_integer(),
            Some(256)
        );
    }

    #[test]
    fn refuses_to_overwrite_without_force() {
        let once = add_section(MANIFEST, Path::new("Cargo.toml"), false).unwrap();
        let err = add_section(&once, Path::new("Cargo.toml"), false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("already exists")
                && err.contains("--force")
                && err.contains("Cargo.toml:"),
            "{err}"
        );
        let twice = add_section(&once, Path::new("Cargo.toml"), true).unwrap();
        assert_eq!(twice.matches("[package.metadata.fargate]\n").count(), 1);
    }
}
