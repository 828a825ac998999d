//! `config`, `init` and `import`, `package`: the commands about the project and its
//! configuration, and `config`'s report (each key's value and where it came from).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::Session;
use crate::cli::{ImportCommand, InitArgs, PackageArgs};
use crate::config::{self, keys, Config, Source};
use crate::error::{display_path, Result};
use crate::project::Project;
use crate::steps::{init, package};

/// `config`: the resolved stage and where each value came from.
pub fn show(s: &Session) -> Result<i32> {
    let (project, config) = s.load()?;
    s.out.result(&ConfigReport::new(&project, &config));
    Ok(0)
}

/// `init`: the configuration section, a CI workflow (`--ci`), or what a live service or task
/// definition runs (`--from-service`, `--from-task-definition`).
pub async fn init(s: &Session, args: InitArgs) -> Result<i32> {
    let out = &s.out;
    if let Some(ci) = args.ci.as_deref() {
        let (project, config) = s.load()?;
        let root = &project.workspace_root;
        let written = crate::steps::init_ci::run(root, ci, &config, &args.branch, args.force)?;
        out.result(&written);
        return Ok(0);
    }
    let from = match (&args.from_service, &args.from_task_definition) {
        (Some(s), _) => Some(crate::adopt::live::Source::service(s)?),
        (None, Some(td)) => Some(crate::adopt::live::Source::TaskDefinition(td.clone())),
        _ => None,
    };
    match from {
        Some(from) => {
            let (project, config) = s.load()?;
            let aws = s.connect(&config).await?;
            out.result(&crate::adopt::live::init(&project, &aws, &from, args.force).await?);
        }
        None => {
            let project = s.project()?;
            out.result(&init::run(&project, args.force, args.workspace)?);
        }
    }
    Ok(0)
}

/// `import copilot`.
pub fn import(s: &Session, command: ImportCommand) -> Result<i32> {
    let ImportCommand::Copilot(args) = command;
    let opts = crate::adopt::Options {
        dir: args.dir.as_deref(),
        manifest_path: s.global.manifest_path.as_deref(),
        package: s.global.package.as_deref(),
        bin: s.global.bin.as_deref(),
        dry_run: args.dry_run,
        force: args.force,
    };
    s.out.result(&crate::adopt::import(&opts)?);
    Ok(0)
}

/// `package`: the source archive.
pub fn package(s: &Session, args: PackageArgs) -> Result<i32> {
    let (project, config) = s.load()?;
    let sources = crate::sources::SourceSet::of(&project)?;
    let input =
        package::PackageInput::for_project(&project, &sources, &config, args.output, args.allow);
    s.out.result(&package::run(&input, &s.out)?);
    Ok(0)
}

/// What `config` shows of a secret-looking environment value.
const MASKED: &str = "****";

/// `cargo fargate config`: each key's value and where it came from.
#[derive(Serialize)]
pub struct ConfigReport {
    project: String,
    stage: String,
    stages: Vec<String>,
    manifest: PathBuf,
    config: Config,
    sources: Vec<SourceEntry>,
}

#[derive(Serialize)]
struct SourceEntry {
    key: &'static str,
    value: serde_json::Value,
    source: String,
    /// A table's entries, each with where it came from (tables merge entry by entry).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    entries: BTreeMap<String, String>,
    #[serde(skip)]
    is_default: bool,
}

impl ConfigReport {
    pub fn new(project: &Project, config: &Config) -> Self {
        // Values of secret-looking environment names are never printed.
        let mask = |value: &serde_json::Value| {
            let mut value = value.clone();
            if let Some(map) = value.as_object_mut() {
                for (k, v) in map.iter_mut() {
                    if config::validate::looks_secret(k) {
                        *v = MASKED.into();
                    }
                }
            }
            value
        };
        let mut shown = config.clone();
        for (k, v) in shown.container.environment.iter_mut() {
            if config::validate::looks_secret(k) {
                *v = MASKED.into();
            }
        }
        let sources = config
            .entries
            .iter()
            .map(|e| SourceEntry {
                key: e.key,
                value: if e.key == "environment" {
                    mask(&e.value)
                } else {
                    e.value.clone()
                },
                source: e.origin.to_string(),
                entries: config
                    .table_origins
                    .get(e.key)
                    .map(|m| m.iter().map(|(k, o)| (k.clone(), o.to_string())).collect())
                    .unwrap_or_default(),
                is_default: e.origin.source == Source::Default,
            })
            .collect();
        ConfigReport {
            project: config.project.clone(),
            stage: config.stage.clone(),
            stages: config.stages.clone(),
            manifest: project.manifest.path.clone(),
            config: shown,
            sources,
        }
    }
}

/// A value as TOML would write it (JSON for scalars and arrays is valid TOML).
fn toml_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k} = {}", toml_value(v)))
                .collect();
            if inner.is_empty() {
                "{}".into()
            } else {
                format!("{{ {} }}", inner.join(", "))
            }
        }
        serde_json::Value::Array(items) => format!(
            "[{}]",
            items.iter().map(toml_value).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

impl fmt::Display for ConfigReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "# {} stage `{}` (stages: {}) from {}",
            self.project,
            self.stage,
            self.stages.join(", "),
            display_path(&self.manifest)
        )?;
        for e in &self.sources {
            if e.value.is_null() {
                let (doc, default) = keys::find(e.key)
                    .map(|k| (k.doc, k.default))
                    .unwrap_or(("", ""));
                writeln!(f, "# {:<46} # unset: {default}. {doc}", e.key)?;
                continue;
            }
            if let (false, Some(map)) = (e.entries.is_empty(), e.value.as_object()) {
                // A table, one line per entry: each may come from another layer.
                for (k, source) in &e.entries {
                    let value = map.get(k).cloned().unwrap_or_default();
                    let line = format!("{}.{k} = {}", e.key, toml_value(&value));
                    writeln!(f, "{line:<48} # {source}")?;
                }
                continue;
            }
            let line = format!("{} = {}", e.key, toml_value(&e.value));
            let source = if e.is_default {
                "default".to_string()
            } else {
                e.source.clone()
            };
            writeln!(f, "{line:<48} # {source}")?;
        }
        Ok(())
    }
}
