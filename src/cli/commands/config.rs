//! `config`: the resolved stage and where each value came from.

use super::Session;
use crate::config::{self, keys, Config, Source};
use crate::error::{display_path, Result};
use crate::project::Project;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

pub fn run(s: &Session) -> Result<i32> {
    let (project, config) = s.load()?;
    s.out.result(&ConfigReport::new(&project, &config));
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
