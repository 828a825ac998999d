//! `cargo fargate import copilot [DIR]`: AWS Copilot's manifests → `[package.metadata.fargate]`,
//! one stage per environment, and a report of every field it could not carry (file:line, what to
//! do instead). Jobs: [`yaml`] reads, [`workload`] and [`environment`] map, [`schedule`] converts,
//! [`addons`] carries plain IAM policies, [`report`] says what happened, [`write`] writes.

pub mod addons;
pub mod environment;
pub mod report;
pub mod schedule;
pub mod workload;
pub mod write;
pub mod yaml;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{display_path, Location, Result, UserError};
use crate::project::Project;
use report::Report;
use workload::Keys;
use yaml::File;

/// What to import and how.
pub struct Options<'a> {
    /// The `copilot/` directory [default: the workspace root's].
    pub dir: Option<&'a Path>,
    pub bin: Option<&'a str>,
    pub dry_run: bool,
    pub force: bool,
}

/// One workload as it was imported.
#[derive(Debug, Serialize)]
pub struct Workload {
    pub name: String,
    /// Copilot's type (`Load Balanced Web Service`).
    pub copilot_type: String,
    /// What it became here, in words.
    pub becomes: String,
    pub stages: Vec<String>,
}

/// A workload's keys: the ones every stage shares, then each stage's own.
pub struct Stages {
    pub base: Keys,
    pub stages: Vec<(String, Keys)>,
    pub policies: Vec<addons::Policy>,
}

/// Reads every manifest under `dir`; nothing is written before all of them are read and mapped.
pub fn import(project: &Project, opts: &Options) -> Result<write::Output> {
    let dir = match opts.dir {
        Some(d) => d.to_path_buf(),
        None => project.workspace_root.join("copilot"),
    };
    if !dir.is_dir() {
        return Err(UserError::new("no Copilot directory here")
            .at(Location::file(&dir, None))
            .fix("pass the directory that holds the manifests: `cargo fargate import copilot DIR`")
            .into());
    }
    let mut report = Report::default();
    let envs = read_environments(&dir, &mut report)?;
    let files = read_workloads(&dir)?;
    let several = files.len() > 1;
    let mut workloads = Vec::new();
    let mut all = Vec::new();
    for (name, file) in &files {
        let ty = file.root.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let Some((kind, becomes)) = workload::kind_of(ty) else {
            report.skip(file.at(file.root.get("type").map_or(1, |t| t.line)), "type", format!("a `{ty}` workload"), "no kind here runs it (a static site belongs on S3 and CloudFront); it is not imported");
            continue;
        };
        report.carry(
            file.at(file.root.get("type").map_or(1, |t| t.line)),
            "type",
            format!("`{name}` ({ty}) → {becomes}"),
        );
        let bin = bin_for(project, name, file, &dir, opts.bin, several)?;
        let policies = addons::read(
            name,
            file.path.parent().unwrap_or(dir.as_path()),
            &mut report,
        )?;
        let mut stages = stages_of(name, file, kind, &envs, several, &mut report)?;
        let extra = dockerfile(project, file, &dir, &mut report);
        // Keys of the whole workload: in the base table, or in each stage when there are several.
        let targets: Vec<&mut Keys> = if several {
            stages.stages.iter_mut().map(|(_, k)| k).collect()
        } else {
            vec![&mut stages.base]
        };
        for keys in targets {
            keys.extend(extra.clone());
            if let Some(b) = &bin {
                keys.insert("bin".into(), serde_json::json!(b));
            }
            if !policies.is_empty() {
                let files: Vec<String> = policies
                    .iter()
                    .map(|p| p.file.display().to_string())
                    .collect();
                keys.insert("task-role-policy-files".into(), serde_json::json!(files));
            }
        }
        stages.policies = policies;
        workloads.push(Workload {
            name: name.clone(),
            copilot_type: ty.to_string(),
            becomes: becomes.to_string(),
            stages: stages.stages.iter().map(|(s, _)| s.clone()).collect(),
        });
        all.push(stages);
    }
    if all.is_empty() {
        return Err(UserError::new("none of the Copilot workloads has a kind cargo-fargate runs")
            .at(Location::file(&dir, None))
            .fix("see the types Copilot lists: Load Balanced Web Service, Backend Service, Worker Service, Scheduled Job")
            .into());
    }
    write::write(project, &all, workloads, report, opts)
}

/// Every `environments/<env>/manifest.yml`, sorted by name.
fn read_environments(dir: &Path, report: &mut Report) -> Result<Vec<environment::Environment>> {
    let mut envs = Vec::new();
    for (name, path) in manifests(&dir.join("environments")) {
        check_stage_name(&name, &path)?;
        let file = File::read(&path)?;
        envs.push(environment::read(&name, &file, report));
    }
    Ok(envs)
}

/// Every `<name>/manifest.yml` but the environments', sorted; none is an error.
fn read_workloads(dir: &Path) -> Result<Vec<(String, File)>> {
    let mut files = Vec::new();
    for (name, path) in manifests(dir) {
        if name == "environments" {
            continue;
        }
        files.push((name, File::read(&path)?));
    }
    if files.is_empty() {
        return Err(UserError::new("no Copilot manifests here (expected <name>/manifest.yml)")
            .at(Location::file(dir, None))
            .fix("pass the `copilot/` directory of the application: `cargo fargate import copilot DIR`")
            .into());
    }
    Ok(files)
}

/// `(name, dir/name/manifest.yml)` of each subdirectory that has one.
fn manifests(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let e = e.ok()?;
            let path = e.path().join("manifest.yml");
            path.is_file()
                .then(|| (e.file_name().to_string_lossy().into_owned(), path))
        })
        .collect();
    out.sort();
    out
}

fn check_stage_name(name: &str, path: &Path) -> Result<()> {
    crate::config::validate::stage_name(name).map_err(|what| {
        UserError::new(what)
            .at(Location::file(path, None))
            .fix("rename the environment (stage names are short lowercase words)")
            .into()
    })
}

/// The stages of one workload: one per environment (overrides applied); the keys they all share
/// go in the base table when the workload is the only one.
fn stages_of(
    name: &str,
    file: &File,
    kind: &'static str,
    envs: &[environment::Environment],
    several: bool,
    report: &mut Report,
) -> Result<Stages> {
    let overrides = file.root.get("environments");
    let mut names: Vec<String> = envs.iter().map(|e| e.name.clone()).collect();
    for (env, line, _) in overrides.map(|o| o.entries()).unwrap_or(&[]) {
        if !names.contains(env) {
            check_stage_name(env, &file.path)?;
            report.carry(
                file.at(*line),
                &format!("environments.{env}"),
                "an environment with no manifest: a stage of its own",
            );
            names.push(env.clone());
        }
    }
    let plain = workload::Context {
        file,
        kind,
        network: None,
    };
    let base = workload::map(&plain, &file.root, report);
    let mut stages = Vec::new();
    for env in &names {
        let root = match overrides.and_then(|o| o.get(env)) {
            Some(over) => file.root.overlay(over),
            None => file.root.clone(),
        };
        let network = envs.iter().find(|e| &e.name == env).map(|e| &e.network);
        let cx = workload::Context {
            file,
            kind,
            network,
        };
        let keys = workload::map(&cx, &root, report);
        let stage = if several {
            format!("{name}-{env}")
        } else {
            env.clone()
        };
        check_stage_name(&stage, &file.path)?;
        stages.push((stage, keys));
    }
    if several && stages.is_empty() {
        stages.push((name.to_string(), base));
        return Ok(Stages {
            base: Keys::new(),
            stages,
            policies: Vec::new(),
        });
    }
    if several {
        return Ok(Stages {
            base: Keys::new(),
            stages,
            policies: Vec::new(),
        });
    }
    Ok(split_common(base, stages))
}

/// Keys equal in every stage move to the base table; each stage keeps what differs.
fn split_common(base: Keys, stages: Vec<(String, Keys)>) -> Stages {
    if stages.is_empty() {
        return Stages {
            base,
            stages,
            policies: Vec::new(),
        };
    }
    let common: Keys = stages[0]
        .1
        .iter()
        .filter(|(k, v)| stages.iter().all(|(_, s)| s.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let stages = stages
        .into_iter()
        .map(|(n, keys)| {
            (
                n,
                keys.into_iter()
                    .filter(|(k, _)| !common.contains_key(k))
                    .collect(),
            )
        })
        .collect();
    Stages {
        base: common,
        stages,
        policies: Vec::new(),
    }
}

/// The binary that builds workload `name`: the package's only one, one named like the workload,
/// the one its Dockerfile builds (`--bin NAME`), or `--bin`; else an error that says so.
fn bin_for(
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
fn dockerfile(project: &Project, file: &File, dir: &Path, report: &mut Report) -> Keys {
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
