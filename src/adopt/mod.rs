//! `cargo fargate import copilot [DIR]`: AWS Copilot's manifests → `[package.metadata.fargate]`,
//! one stage per environment, and a report of every field it could not carry (file:line, what to
//! do instead). Jobs: [`yaml`] reads, [`workload`] and [`environment`] map, [`schedule`] converts,
//! [`addons`] carries plain IAM policies, [`report`] says what happened, [`write`] writes.

pub mod addons;
pub mod environment;
pub mod live;
pub mod package;
pub mod report;
pub mod schedule;
pub mod taskdef;
pub mod workload;
pub mod write;
pub mod yaml;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Location, Result, UserError};
use crate::project::Project;
use report::Report;
use workload::Keys;
use yaml::File;

/// What to import and how.
pub struct Options<'a> {
    /// The `copilot/` directory [default: the workspace root's].
    pub dir: Option<&'a Path>,
    /// `--manifest-path` and `-p`: without `-p`, every package of the workspace may get workloads.
    pub manifest_path: Option<&'a Path>,
    pub package: Option<&'a str>,
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
    /// The cargo package that builds it.
    pub package: String,
    pub stages: Vec<String>,
}

/// A workload's keys: the ones every stage shares, then each stage's own.
pub struct Stages {
    pub base: Keys,
    pub stages: Vec<(String, Keys)>,
    pub policies: Vec<addons::Policy>,
}

/// Reads every manifest under `dir`, matches each workload to its package, maps it; nothing is
/// written before all of them are read and mapped.
pub fn import(opts: &Options) -> Result<write::Output> {
    let projects = package::load(opts.manifest_path, opts.package)?;
    let dir = match opts.dir {
        Some(d) => d.to_path_buf(),
        None => projects[0].workspace_root.join("copilot"),
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
    // Each importable workload with the package that builds it.
    let mut routed: Vec<(usize, &String, &File, &'static str, &'static str)> = Vec::new();
    for (name, file) in &files {
        let ty = file.root.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let at = file.at(file.root.get("type").map_or(1, |t| t.line));
        let Some((kind, becomes)) = workload::kind_of(ty) else {
            report.skip(at, "type", format!("a `{ty}` workload"), "no kind here runs it (a static site belongs on S3 and CloudFront); it is not imported");
            continue;
        };
        report.carry(at, "type", format!("`{name}` ({ty}) → {becomes}"));
        routed.push((
            package::of(&projects, name, file, &dir)?,
            name,
            file,
            kind,
            becomes,
        ));
    }
    if routed.is_empty() {
        return Err(UserError::new("none of the Copilot workloads has a kind cargo-fargate runs")
            .at(Location::file(&dir, None))
            .fix("see the types Copilot lists: Load Balanced Web Service, Backend Service, Worker Service, Scheduled Job")
            .into());
    }
    let mut workloads = Vec::new();
    let mut sections = Vec::new();
    for (i, project) in projects.iter().enumerate() {
        let mine: Vec<_> = routed.iter().filter(|r| r.0 == i).collect();
        let several = mine.len() > 1;
        let mut all = Vec::new();
        for (_, name, file, kind, becomes) in mine {
            let cx = Workload {
                name: name.to_string(),
                copilot_type: file
                    .root
                    .get("type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("")
                    .to_string(),
                becomes: becomes.to_string(),
                package: project.package_name.clone(),
                stages: Vec::new(),
            };
            let stages = workload_stages(
                project,
                &cx,
                file,
                kind,
                &envs,
                several,
                &dir,
                opts,
                &mut report,
            )?;
            workloads.push(Workload {
                stages: stages.stages.iter().map(|(s, _)| s.clone()).collect(),
                ..cx
            });
            all.push(stages);
        }
        if !all.is_empty() {
            sections.push((project, all));
        }
    }
    write::write(sections, workloads, report, opts)
}

/// One workload's stages in `project`, with its bin, Dockerfile and addon policies.
#[allow(clippy::too_many_arguments)]
fn workload_stages(
    project: &Project,
    w: &Workload,
    file: &File,
    kind: &'static str,
    envs: &[environment::Environment],
    several: bool,
    dir: &Path,
    opts: &Options,
    report: &mut Report,
) -> Result<Stages> {
    let name = w.name.as_str();
    let bin = package::bin_for(project, name, file, dir, opts.bin, several)?;
    let policies = addons::read(name, file.path.parent().unwrap_or(dir), report)?;
    let app = application(dir);
    let mut stages = stages_of(name, file, kind, envs, several, app.as_deref(), report)?;
    let extra = package::dockerfile(project, file, dir, report);
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
    Ok(stages)
}

/// The application's name, from Copilot's `.workspace` file (`application: NAME`).
fn application(dir: &Path) -> Option<String> {
    let file = File::read(&dir.join(".workspace")).ok()?;
    file.root.get("application")?.as_str().map(String::from)
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
    app: Option<&str>,
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
    let app_var = app.map(|a| ("COPILOT_APPLICATION_NAME", a));
    let base = workload::map(
        &plain,
        &file.root.substitute(&Vec::from_iter(app_var)),
        report,
    );
    let mut stages = Vec::new();
    for env in &names {
        let root = match overrides.and_then(|o| o.get(env)) {
            Some(over) => file.root.overlay(over),
            None => file.root.clone(),
        };
        let mut vars = vec![("COPILOT_ENVIRONMENT_NAME", env.as_str())];
        vars.extend(app_var);
        let root = root.substitute(&vars);
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
fn split_common(base: Keys, mut stages: Vec<(String, Keys)>) -> Stages {
    if stages.is_empty() {
        return Stages {
            base,
            stages,
            policies: Vec::new(),
        };
    }
    let mut common = Keys::new();
    for (k, v) in stages[0].1.clone() {
        if stages.iter().all(|(_, s)| s.get(&k) == Some(&v)) {
            common.insert(k, v);
        } else if let Some(shared) = common_entries(&k, &stages) {
            // Tables merge entry by entry across layers: the shared entries go in the base.
            common.insert(k, shared);
        }
    }
    for (_, keys) in stages.iter_mut() {
        for (k, v) in &common {
            match (keys.get_mut(k), v) {
                (Some(serde_json::Value::Object(own)), serde_json::Value::Object(shared))
                    if own != shared =>
                {
                    own.retain(|e, val| shared.get(e) != Some(val));
                }
                _ => {
                    keys.remove(k);
                }
            }
        }
    }
    Stages {
        base: common,
        stages,
        policies: Vec::new(),
    }
}

/// The entries of table `key` (environment, secrets) that every stage has alike; `None` when
/// there are none or `key` is not a table in every stage.
fn common_entries(key: &str, stages: &[(String, Keys)]) -> Option<serde_json::Value> {
    let tables: Vec<&serde_json::Map<String, serde_json::Value>> = stages
        .iter()
        .map(|(_, s)| s.get(key)?.as_object())
        .collect::<Option<_>>()?;
    let shared: serde_json::Map<String, serde_json::Value> = tables[0]
        .iter()
        .filter(|(e, v)| tables.iter().all(|t| t.get(*e) == Some(*v)))
        .map(|(e, v)| (e.clone(), v.clone()))
        .collect();
    (!shared.is_empty()).then_some(serde_json::Value::Object(shared))
}
