//! Which cargo package and binary build a workload: the package whose directory is the
//! Dockerfile's build context (or holds the Dockerfile), the one the Dockerfile names (`-p NAME`,
//! `--bin NAME`), the one named like the workload; else `-p`/`--bin` say it.

use std::path::{Path, PathBuf};

use super::report::Report;
use super::workload::Keys;
use super::yaml::File;
use crate::error::{display_path, Location, Result, UserError};
use crate::project::Project;

/// The packages a workload may go to: `-p`'s, or every one of the workspace with a binary.
pub fn load(manifest_path: Option<&Path>, package: Option<&str>) -> Result<Vec<Project>> {
    if package.is_some() {
        return Ok(vec![Project::load(manifest_path, package)?]);
    }
    let names = crate::project::binary_packages(manifest_path)?;
    if names.len() <= 1 {
        return Ok(vec![Project::load(
            manifest_path,
            names.first().map(String::as_str),
        )?]);
    }
    names
        .iter()
        .map(|n| Project::load(manifest_path, Some(n)))
        .collect()
}

/// The index in `projects` of the package that builds workload `name`.
pub fn of(projects: &[Project], name: &str, file: &File, dir: &Path) -> Result<usize> {
    if projects.len() == 1 {
        return Ok(0);
    }
    let same = |a: &Path, b: &Path| {
        std::fs::canonicalize(a)
            .ok()
            .is_some_and(|a| Some(a) == std::fs::canonicalize(b).ok())
    };
    let root = dir.parent().unwrap_or(dir);
    let build = file.root.get("image").and_then(|i| i.get("build"));
    let context = build
        .and_then(|b| b.get("context"))
        .and_then(|c| c.as_str())
        .map(|c| root.join(c));
    let dockerfile = dockerfile_path(file, dir);
    let text = dockerfile
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let checks: [&dyn Fn(&Project) -> bool; 4] = [
        &|p| context.as_ref().is_some_and(|c| same(c, &p.package_dir)),
        &|p| {
            dockerfile
                .as_ref()
                .and_then(|d| d.parent())
                .is_some_and(|d| same(d, &p.package_dir))
        },
        &|p| {
            let n = &p.package_name;
            [format!("-p {n}"), format!("--package {n}")]
                .iter()
                .any(|s| text.contains(s.as_str()))
                || p.bins.iter().any(|b| text.contains(&format!("--bin {b}")))
        },
        &|p| p.package_name == name || p.bins.iter().any(|b| b == name),
    ];
    for check in checks {
        let found: Vec<usize> = (0..projects.len())
            .filter(|i| check(&projects[*i]))
            .collect();
        if let [one] = found[..] {
            return Ok(one);
        }
    }
    let names: Vec<&str> = projects.iter().map(|p| p.package_name.as_str()).collect();
    Err(UserError::new(format!(
        "cannot tell which package builds the workload `{name}` (its Dockerfile's context and text name none of {})",
        crate::error::list(&names)
    ))
    .at(Location::file(&file.path, Some(file.root.line)))
    .fix("import it with `-p PACKAGE` (and `--bin NAME` when the package has several binaries)")
    .into())
}

/// The binary that builds workload `name`: the package's only one, one named like the workload,
/// the one its Dockerfile builds (`--bin NAME`), or `--bin`; else an error that says so.
pub fn bin_for(
    project: &Project,
    name: &str,
    file: &File,
    dir: &Path,
    flag: Option<&str>,
    several: bool,
) -> Result<Option<String>> {
    if let Some(b) = flag.filter(|_| !several) {
        return Ok(Some(b.to_string()));
    }
    if project.bins.len() <= 1 {
        return Ok(None);
    }
    if project.bins.iter().any(|b| b == name) {
        return Ok(Some(name.to_string()));
    }
    if let Some(text) = dockerfile_path(file, dir).and_then(|p| std::fs::read_to_string(p).ok()) {
        if let Some(b) = project
            .bins
            .iter()
            .find(|b| text.contains(&format!("--bin {b}")))
        {
            return Ok(Some(b.clone()));
        }
    }
    Err(UserError::new(format!(
        "cannot tell which binary of package `{}` the workload `{name}` runs (it has {})",
        project.package_name,
        crate::error::list(&project.bins)
    ))
    .at(Location::file(&file.path, Some(file.root.line)))
    .fix("import it alone with `--bin NAME` (`-p PACKAGE` for another package)")
    .into())
}

/// The Dockerfile Copilot builds with (paths are relative to the directory above `copilot/`).
fn dockerfile_path(file: &File, dir: &Path) -> Option<PathBuf> {
    let build = file.root.get("image")?.get("build")?;
    let rel = build
        .as_str()
        .or_else(|| build.get("dockerfile")?.as_str())?;
    Some(dir.parent().unwrap_or(dir).join(rel))
}

/// `dockerfile` relative to the package, when Copilot's exists; its context is reported when it
/// is not the workspace root (cargo-fargate's build context).
pub fn dockerfile(project: &Project, file: &File, dir: &Path, report: &mut Report) -> Keys {
    let mut keys = Keys::new();
    let Some(path) = dockerfile_path(file, dir) else {
        return keys;
    };
    let build = file.root.get("image").and_then(|i| i.get("build"));
    let at = file.at(build.map_or(1, |b| b.line));
    let root = dir.parent().unwrap_or(dir);
    if let Some(ctx) = build
        .and_then(|b| b.get("context"))
        .and_then(|c| c.as_str())
    {
        if std::fs::canonicalize(root.join(ctx)).ok()
            != std::fs::canonicalize(&project.workspace_root).ok()
        {
            report.skip(at.clone(), "image.build.context", format!("build context `{ctx}`"), "cargo-fargate builds with the workspace root as context: adjust the Dockerfile's COPY paths");
        }
    }
    match relative(&path, &project.package_dir) {
        Some(rel) if path.is_file() => {
            keys.insert("dockerfile".into(), serde_json::json!(rel));
        }
        _ => report.skip(at, "image.build", format!("the Dockerfile {} is missing", display_path(&path)), "build with the built-in template (leave `dockerfile` out) or point `dockerfile` at one"),
    }
    keys
}

/// `path` relative to `base` (both made absolute), with `..` where needed.
fn relative(path: &Path, base: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let base = std::fs::canonicalize(base).ok()?;
    let common = path
        .components()
        .zip(base.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut out: Vec<String> = base
        .components()
        .skip(common)
        .map(|_| "..".to_string())
        .collect();
    out.extend(
        path.components()
            .skip(common)
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Some(out.join("/"))
}
