//! The imported configuration as `[package.metadata.fargate]` (keys in the reference's order),
//! written into Cargo.toml the way `init` writes (every other byte kept), with the policy files.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value as J;
use toml_edit::{Array, DocumentMut, InlineTable, Item, Table};

use super::report::Report;
use super::workload::Keys;
use super::{Options, Stages, Workload};
use crate::error::{display_path, Result};
use crate::project::Project;

/// What the import did (or, with `--dry-run`, would do).
#[derive(Debug, Serialize)]
pub struct Output {
    pub dry_run: bool,
    /// One `[package.metadata.fargate]` per package that got workloads.
    pub sections: Vec<Section>,
    pub policy_files: Vec<PathBuf>,
    pub workloads: Vec<Workload>,
    pub report: Report,
}

#[derive(Debug, Serialize)]
pub struct Section {
    pub package: String,
    pub manifest: PathBuf,
    /// The section, as TOML.
    pub toml: String,
    pub stages: Vec<String>,
}

/// Renders each package's section and each manifest's new text (a section already there stops it,
/// in a dry run too), then, unless `dry_run`, writes the policy files and the manifests.
pub fn write(
    packages: Vec<(&Project, Vec<Stages>)>,
    workloads: Vec<Workload>,
    report: Report,
    opts: &Options,
) -> Result<Output> {
    let mut sections = Vec::new();
    let mut texts = Vec::new();
    let mut policies = Vec::new();
    for (project, all) in &packages {
        let toml = section(
            all,
            "Imported from AWS Copilot by `cargo fargate import copilot`.",
        );
        let mut stages: Vec<String> = all
            .iter()
            .flat_map(|s| s.stages.iter().map(|(n, _)| n.clone()))
            .collect();
        stages.sort();
        // Made in a dry run too: a section already there is refused there as well.
        let m = &project.manifest;
        texts.push((
            m.path.clone(),
            crate::steps::init::insert_section(&m.text, &m.path, opts.force, "package", &toml)?,
        ));
        for p in all.iter().flat_map(|s| &s.policies) {
            let json = serde_json::to_string_pretty(&p.document).expect("JSON serialises") + "\n";
            policies.push((project.package_dir.join(&p.file), json));
        }
        sections.push(Section {
            package: project.package_name.clone(),
            manifest: project.manifest.path.clone(),
            toml,
            stages,
        });
    }
    if !opts.dry_run {
        for (path, text) in policies.iter().chain(&texts) {
            crate::steps::init::write_atomic(path, text)?;
        }
    }
    Ok(Output {
        dry_run: opts.dry_run,
        sections,
        policy_files: policies.into_iter().map(|(p, _)| p).collect(),
        workloads,
        report,
    })
}

/// The section's TOML: the shared keys, then one table per stage.
pub fn section(all: &[Stages], origin: &str) -> String {
    let mut fargate = Table::new();
    fargate.decor_mut().set_prefix(format!("\n# {origin}\n"));
    let mut stages = Table::new();
    stages.set_implicit(true);
    for s in all {
        fill(&mut fargate, &s.base);
        for (name, keys) in &s.stages {
            let mut t = Table::new();
            fill(&mut t, keys);
            stages.insert(name, Item::Table(t));
        }
    }
    if !stages.is_empty() {
        fargate.insert("stages", Item::Table(stages));
    }
    let mut metadata = Table::new();
    metadata.set_implicit(true);
    metadata.insert("fargate", Item::Table(fargate));
    let mut package = Table::new();
    package.set_implicit(true);
    package.insert("metadata", Item::Table(metadata));
    let mut doc = DocumentMut::new();
    doc.insert("package", Item::Table(package));
    doc.to_string()
}

/// Inserts `keys` in the order of the configuration reference (`config::keys::KEYS`).
fn fill(table: &mut Table, keys: &Keys) {
    let rank = |k: &str| {
        crate::config::keys::KEYS
            .iter()
            .position(|d| d.name == k)
            .unwrap_or(usize::MAX)
    };
    let mut sorted: Vec<(&String, &J)> = keys.iter().collect();
    sorted.sort_by_key(|(k, _)| rank(k));
    for (k, v) in sorted {
        if let Some(value) = toml_value(v) {
            table.insert(k, Item::Value(value));
        }
    }
}

fn toml_value(v: &J) -> Option<toml_edit::Value> {
    Some(match v {
        J::String(s) => s.as_str().into(),
        J::Bool(b) => (*b).into(),
        J::Number(n) => n.as_i64()?.into(),
        J::Array(items) => {
            let mut a = Array::new();
            for i in items {
                a.push(toml_value(i)?);
            }
            a.into()
        }
        J::Object(m) => {
            let mut t = InlineTable::new();
            for (k, v) in m {
                t.insert(k.as_str(), toml_value(v)?);
            }
            t.into()
        }
        J::Null => return None,
    })
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            for s in &self.sections {
                writeln!(f, "# {}", display_path(&s.manifest))?;
                writeln!(f, "{}", s.toml.trim())?;
                writeln!(f)?;
            }
        }
        for w in &self.workloads {
            writeln!(
                f,
                "{} ({}) → package {}, {}",
                w.name, w.copilot_type, w.package, w.becomes
            )?;
        }
        write!(f, "{}", self.report)?;
        let verb = if self.dry_run { "would write" } else { "wrote" };
        for s in &self.sections {
            writeln!(
                f,
                "{verb} [package.metadata.fargate] in {}",
                display_path(&s.manifest)
            )?;
        }
        for p in &self.policy_files {
            writeln!(f, "{verb} {}", display_path(p))?;
        }
        if self.dry_run {
            return writeln!(f, "next: cargo fargate import copilot (without --dry-run)");
        }
        for s in &self.sections {
            let p = if self.sections.len() > 1 {
                format!(" -p {}", s.package)
            } else {
                String::new()
            };
            let stage = s
                .stages
                .first()
                .map(|st| format!(" --stage {st}"))
                .unwrap_or_default();
            writeln!(f, "next: cargo fargate config{p}{stage}, then cargo fargate diff{p}{stage} and cargo fargate deploy --dry-run{p}{stage}")?;
        }
        Ok(())
    }
}
