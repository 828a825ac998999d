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
    /// `package` or `workspace`: which `[….metadata.fargate]` was added.
    pub section: &'static str,
    pub manifest: PathBuf,
    pub dockerignore: PathBuf,
    pub dockerignore_written: bool,
}

impl fmt::Display for InitOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "added [{}.metadata.fargate] to {}",
            self.section,
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
pub fn add_section(
    manifest_text: &str,
    manifest_path: &Path,
    force: bool,
    bins: &[String],
    default_run: Option<&str>,
    defaults: &WorkspaceDefaults,
) -> Result<String> {
    let template = defaults.comment_inherited(&with_bin(METADATA_TEMPLATE, bins, default_run));
    insert_section(manifest_text, manifest_path, force, "package", &template)
}

/// The root manifest's text with `[workspace.metadata.fargate]` added: the defaults of every member.
pub fn add_workspace_section(
    manifest_text: &str,
    manifest_path: &Path,
    force: bool,
) -> Result<String> {
    let template = METADATA_TEMPLATE
        .replace("[package.metadata.fargate", "[workspace.metadata.fargate")
        .replace(
            "# Precedence: flags > CARGO_FARGATE_* env > [stages.<name>] > this table > [workspace.metadata.fargate].",
            "# Defaults of every member; a member's [package.metadata.fargate] overrides them key by key.",
        );
    insert_section(manifest_text, manifest_path, force, "workspace", &template)
}

/// Adds `[<section>.metadata.fargate]` from `template`, keeping every other byte.
pub fn insert_section(
    manifest_text: &str,
    manifest_path: &Path,
    force: bool,
    section: &str,
    template: &str,
) -> Result<String> {
    let mut doc: DocumentMut = manifest_text
        .parse()
        .with_context(|| format!("parsing {}", manifest_path.display()))?;
    let table = doc
        .get_mut(section)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| {
            let fix = match section {
                "workspace" => {
                    "run `init --workspace` at a workspace root (a Cargo.toml with [workspace])"
                }
                _ => "run init in a package, or pass -p NAME",
            };
            UserError::new(format!("no [{section}] table"))
                .at(Location::file(manifest_path, None))
                .fix(fix)
        })?;
    if !table.contains_key("metadata") {
        let mut t = Table::new();
        t.set_implicit(true);
        table.insert("metadata", Item::Table(t));
    }
    let metadata = table
        .get_mut("metadata")
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| {
            UserError::new(format!("`{section}.metadata` is not a table"))
                .at(Location::file(manifest_path, None))
                .fix("make it a table")
        })?;
    if metadata.contains_key("fargate") {
        if !force {
            let header = format!("[{section}.metadata.fargate");
            let line = manifest_text
                .lines()
                .position(|l| l.trim_start().starts_with(&header))
                .map(|i| i + 1);
            return Err(
                UserError::new(format!("[{section}.metadata.fargate] already exists"))
                    .at(Location::file(manifest_path, line))
                    .fix("edit it, or pass --force to replace it")
                    .into(),
            );
        }
        metadata.remove("fargate");
    }
    let template: DocumentMut = template
        .parse()
        .expect("the metadata template is valid TOML");
    let mut new = template[section]["metadata"]["fargate"].clone();
    // Tables keep the positions they had in the template; renumber them after the manifest's own.
    let mut next = max_position(doc.as_table()) + 1;
    if let Some(t) = new.as_table_mut() {
        renumber(t, &mut next);
    }
    let metadata = doc[section]["metadata"]
        .as_table_like_mut()
        .expect("checked above");
    metadata.insert("fargate", new);
    let mut text = doc.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    // Comments after the template's last table (commented inherited keys) are the template
    // document's trailing text, which the section does not carry: the section is last, so they follow it.
    if let Some(trailing) = template
        .trailing()
        .as_str()
        .filter(|t| !t.trim().is_empty())
    {
        text.push_str(trailing.trim_start_matches('\n'));
        if !text.ends_with('\n') {
            text.push('\n');
        }
    }
    Ok(text)
}

/// The workspace's `[workspace.metadata.fargate]`, as a member's `init` sees it: a key the
/// workspace sets is written commented in the member, saying where its value comes from, so the
/// member does not silently override it.
#[derive(Default)]
pub struct WorkspaceDefaults {
    /// Where the workspace section is (`Cargo.toml:12`), for the comments.
    pub at: String,
    /// Base keys and environment entries: (dotted key, value as TOML).
    pub base: Vec<(String, String)>,
    /// Per stage: the keys it sets.
    pub stages: Vec<(String, Vec<(String, String)>)>,
}

impl WorkspaceDefaults {
    /// Reads the root manifest's `[workspace.metadata.fargate]`; empty when there is none.
    pub fn read(manifest: Option<&crate::project::Manifest>) -> WorkspaceDefaults {
        let Some(m) = manifest else {
            return WorkspaceDefaults::default();
        };
        let Some(t) = m
            .doc
            .get("workspace")
            .and_then(|w| w.get("metadata"))
            .and_then(|w| w.get("fargate"))
            .and_then(Item::as_table_like)
        else {
            return WorkspaceDefaults::default();
        };
        let line = m
            .text
            .lines()
            .position(|l| l.trim_start().starts_with("[workspace.metadata.fargate"))
            .map(|i| format!(":{}", i + 1))
            .unwrap_or_default();
        let keys = |t: &dyn toml_edit::TableLike| {
            let mut out = Vec::new();
            for (k, v) in t.iter() {
                match v.as_table_like() {
                    Some(sub) if k == "environment" || k == "secrets" || k == "tags" => {
                        for (e, v) in sub.iter() {
                            let text = v.as_value().map(|v| v.to_string()).unwrap_or_default();
                            out.push((format!("{k}.{e}"), text.trim().to_string()));
                        }
                    }
                    Some(_) => {}
                    None => {
                        let text = v.as_value().map(|v| v.to_string()).unwrap_or_default();
                        out.push((k.to_string(), text.trim().to_string()));
                    }
                }
            }
            out
        };
        let stages = t
            .get("stages")
            .and_then(Item::as_table_like)
            .map(|s| {
                s.iter()
                    .filter_map(|(name, t)| Some((name.to_string(), keys(t.as_table_like()?))))
                    .collect()
            })
            .unwrap_or_default();
        WorkspaceDefaults {
            at: format!("{}{line}", display_path(&m.path)),
            base: keys(t),
            stages,
        }
    }

    /// What the workspace says of `key` for `stage` (None: the package's base table): its value and
    /// the table setting it. A base key the workspace sets only in a stage counts too: the member's
    /// base would override it there.
    fn value(&self, stage: Option<&str>, key: &str) -> Option<(String, String)> {
        let find =
            |keys: &[(String, String)]| keys.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let staged = |name: &str| {
            let (_, keys) = self.stages.iter().find(|(n, _)| n == name)?;
            find(keys).map(|v| (v, format!("workspace.metadata.fargate.stages.{name}")))
        };
        let base = || find(&self.base).map(|v| (v, "workspace.metadata.fargate".to_string()));
        match stage {
            Some(name) => staged(name).or_else(base),
            None => base().or_else(|| self.stages.iter().find_map(|(name, _)| staged(name))),
        }
    }

    /// The template with each key the workspace sets commented out, with the workspace's value
    /// and where it is set.
    pub fn comment_inherited(&self, template: &str) -> String {
        if self.base.is_empty() && self.stages.is_empty() {
            return template.to_string();
        }
        let mut table = String::new();
        let mut out = String::new();
        for line in template.lines() {
            let trimmed = line.trim_start();
            if trimmed.starts_with('[') {
                table = trimmed.trim_matches(|c| c == '[' || c == ']').to_string();
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let rest = table.strip_prefix("package.metadata.fargate").unwrap_or("");
            let (stage, prefix) = match rest.strip_prefix(".stages.") {
                Some(stage) => (Some(stage), ""),
                None => (None, rest.trim_start_matches('.')),
            };
            let key = trimmed.split('=').next().unwrap_or("").trim();
            let dotted = if prefix.is_empty() {
                key.to_string()
            } else {
                format!("{prefix}.{key}")
            };
            let inherited = (!trimmed.starts_with('#') && trimmed.contains('='))
                .then(|| self.value(stage, &dotted))
                .flatten();
            match inherited {
                Some((value, table)) => out.push_str(&format!(
                    "# {key} = {value}  # from [{table}] ({}); set it here to override\n",
                    self.at
                )),
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// With several binaries, the template picks one (`default-run`, else the first) and lists the
/// others in a comment: deploy needs to know which.
fn with_bin(template: &str, bins: &[String], default_run: Option<&str>) -> String {
    if bins.len() < 2 {
        return template.to_string();
    }
    let chosen = default_run.unwrap_or(&bins[0]);
    let header = "[package.metadata.fargate]\n";
    template.replacen(
        header,
        &format!(
            "{header}bin = {chosen:?}{:pad$}# the binary to deploy; this package has: {}\n",
            "",
            bins.join(", "),
            pad = 24usize.saturating_sub(chosen.len() + 2).max(1)
        ),
        1,
    )
}

/// The last position of any table below `table`, arrays of tables (`[[bin]]`) included, so that a
/// section added after it comes after every table of the file.
fn max_position(table: &Table) -> usize {
    let own = table.position().unwrap_or(0);
    table
        .iter()
        .flat_map(|(_, item)| match item {
            Item::Table(t) => vec![max_position(t)],
            Item::ArrayOfTables(a) => a.iter().map(max_position).collect(),
            _ => Vec::new(),
        })
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

pub fn run(project: &Project, force: bool, workspace: bool) -> Result<InitOutput> {
    let (manifest, text) = if workspace {
        // The root manifest: the package's own in a single-package workspace.
        let root = project
            .workspace_manifest
            .as_ref()
            .unwrap_or(&project.manifest);
        let text = add_workspace_section(&root.text, &root.path, force)?;
        (&root.path, text)
    } else {
        let defaults = WorkspaceDefaults::read(project.workspace_manifest.as_ref());
        let text = add_section(
            &project.manifest.text,
            &project.manifest.path,
            force,
            &project.bins,
            project.default_run.as_deref(),
            &defaults,
        )?;
        (&project.manifest.path, text)
    };
    let dockerignore = project.workspace_root.join(".dockerignore");
    let write_ignore = force || !dockerignore.exists();
    // Both checked; now write, each atomically.
    if write_ignore {
        write_atomic(&dockerignore, DOCKERIGNORE_TEMPLATE)?;
    }
    write_atomic(manifest, &text)?;
    Ok(InitOutput {
        section: if workspace { "workspace" } else { "package" },
        manifest: manifest.clone(),
        dockerignore,
        dockerignore_written: write_ignore,
    })
}

/// Writes beside `path` and renames over it: an interrupted write leaves the old file whole.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
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

    /// `add_section` with nothing but the manifest: no binaries to choose, no workspace defaults.
    fn add_plain(manifest: &str) -> Result<String> {
        add_section(
            manifest,
            Path::new("Cargo.toml"),
            false,
            &[],
            None,
            &WorkspaceDefaults::default(),
        )
    }

    const MANIFEST: &str = "# my app\n[package]\nname = \"app\"   # the name\nversion = \"0.1.0\"\n\n[dependencies]\nserde = \"1\" # keep me\n\n[profile.release]\nlto = true\n";

    #[test]
    fn the_section_comes_after_arrays_of_tables() {
        let manifest = "[package]\nname = \"a\"\n\n[[bin]]\nname = \"x\"\npath = \"x.rs\"\n";
        let out = add_plain(manifest).unwrap();
        assert!(out.starts_with(manifest.trim_end()), "{out}");
    }

    #[test]
    fn adds_the_section_and_keeps_everything_else() {
        let out = add_plain(MANIFEST).unwrap();
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
        let once = add_plain(MANIFEST).unwrap();
        let err = add_plain(&once).unwrap_err().to_string();
        assert!(
            err.contains("already exists")
                && err.contains("--force")
                && err.contains("Cargo.toml:"),
            "{err}"
        );
        let twice = add_section(
            &once,
            Path::new("Cargo.toml"),
            true,
            &[],
            None,
            &WorkspaceDefaults::default(),
        )
        .unwrap();
        assert_eq!(twice.matches("[package.metadata.fargate]\n").count(), 1);
    }

    #[test]
    fn several_binaries_pick_one_and_list_the_others() {
        let bins = vec!["server".to_string(), "migrate".to_string()];
        let out = add_section(
            MANIFEST,
            Path::new("Cargo.toml"),
            false,
            &bins,
            None,
            &WorkspaceDefaults::default(),
        )
        .unwrap();
        assert!(
            out.contains("bin = \"server\"") && out.contains("this package has: server, migrate"),
            "{out}"
        );
        assert!(out.contains("# kind = \"task\""), "{out}");
        let doc = out.parse::<DocumentMut>().unwrap();
        assert_eq!(
            doc["package"]["metadata"]["fargate"]["bin"].as_str(),
            Some("server")
        );
        let out = add_section(
            MANIFEST,
            Path::new("Cargo.toml"),
            false,
            &bins,
            Some("migrate"),
            &WorkspaceDefaults::default(),
        )
        .unwrap();
        assert!(out.contains("bin = \"migrate\""), "{out}");
    }

    const ROOT: &str = "[workspace]\nmembers = [\"app\"]\n\n[workspace.metadata.fargate]\ncpu = 1024\nmemory = 2048\n\n[workspace.metadata.fargate.environment]\nRUST_LOG = \"debug\"\n\n[workspace.metadata.fargate.stages.prod]\nmemory = 4096\n";

    #[test]
    fn in_a_member_the_workspace_defaults_stay_commented_with_where_they_come_from() {
        let root =
            crate::project::Manifest::from_text(Path::new("/ws/Cargo.toml"), ROOT.into()).unwrap();
        let defaults = WorkspaceDefaults::read(Some(&root));
        let out = add_section(
            MANIFEST,
            Path::new("Cargo.toml"),
            false,
            &[],
            None,
            &defaults,
        )
        .unwrap();
        let doc = out.parse::<DocumentMut>().unwrap();
        let fargate = &doc["package"]["metadata"]["fargate"];
        // Only what differs from the workspace is set: the architecture (not set there).
        for key in ["cpu", "memory"] {
            assert!(
                fargate.get(key).is_none(),
                "{key} overrides the workspace:\n{out}"
            );
            assert!(fargate["stages"]["prod"].get(key).is_none(), "{out}");
        }
        assert!(fargate["environment"].get("RUST_LOG").is_none(), "{out}");
        assert_eq!(fargate["architecture"].as_str(), Some("x86_64"));
        assert!(
            out.contains("# cpu = 1024  # from [workspace.metadata.fargate] (")
                && out.contains("Cargo.toml:4)"),
            "{out}"
        );
        assert!(
            out.contains("# memory = 4096  # from [workspace.metadata.fargate.stages.prod]"),
            "{out}"
        );
        assert!(out.contains("# RUST_LOG = \"debug\"  # from"), "{out}");
    }

    #[test]
    fn workspace_init_writes_the_root_section_once() {
        let out = add_workspace_section(
            "[workspace]\nmembers = [\"app\"]\n",
            Path::new("Cargo.toml"),
            false,
        )
        .unwrap();
        let doc = out.parse::<DocumentMut>().unwrap();
        assert_eq!(
            doc["workspace"]["metadata"]["fargate"]["cpu"].as_integer(),
            Some(256)
        );
        assert!(
            out.contains("[workspace.metadata.fargate.stages.prod]"),
            "{out}"
        );
        assert!(!out.lines().any(|l| l.starts_with("[package.")), "{out}");
        let err = add_workspace_section(&out, Path::new("Cargo.toml"), false).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        let err = add_workspace_section(MANIFEST, Path::new("Cargo.toml"), false).unwrap_err();
        assert!(err.to_string().contains("no [workspace] table"), "{err}");
    }
}
