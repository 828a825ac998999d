//! A workload's addons (`copilot/<name>/addons/*.yml`, CloudFormation): an `AWS::IAM::ManagedPolicy`
//! whose document is plain IAM (no `!Ref`, `!Sub`, `Fn::…`) becomes a policy file in
//! `task-role-policy-files`; everything else is reported.

use std::path::{Path, PathBuf};

use super::report::Report;
use super::yaml::File;
use crate::error::Result;

/// A policy document to write, and the file name it is written as (relative to the package).
pub struct Policy {
    pub file: PathBuf,
    pub document: serde_json::Value,
    /// The resource's logical ID in the template.
    pub logical: String,
}

/// Reads the addon templates of workload `name` in `dir` (none when there is no `addons/`).
pub fn read(name: &str, dir: &Path, report: &mut Report) -> Result<Vec<Policy>> {
    let Ok(entries) = std::fs::read_dir(dir.join("addons")) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml")))
        .collect();
    paths.sort();
    let mut policies = Vec::new();
    for path in paths {
        let file = File::read(&path)?;
        for (field, line, node) in file.root.entries() {
            match field.as_str() {
                "Resources" => {
                    for (logical, line, res) in node.entries() {
                        let at = file.at(*line);
                        let kind = res.get("Type").and_then(|t| t.as_str()).unwrap_or("");
                        let doc = res.get("Properties").and_then(|p| p.get("PolicyDocument"));
                        match (kind, doc) {
                            ("AWS::IAM::ManagedPolicy", Some(doc)) if !doc.has_intrinsics() => {
                                let file = PathBuf::from(format!("{name}-{logical}.policy.json"));
                                report.carry(at, &format!("Resources.{logical}"), format!("task role policy → {}", file.display()));
                                policies.push(Policy { file, document: doc.to_json(), logical: logical.clone() });
                            }
                            ("AWS::IAM::ManagedPolicy", _) => report.skip(at, &format!("Resources.{logical}"), "a task role policy built with CloudFormation functions (`!Ref`, `!Sub`, …)", "write it as a JSON policy with the ARNs spelled out and list it in `task-role-policy-files`"),
                            _ => report.skip(at, &format!("Resources.{logical}"), format!("a resource of type {kind}"), "create it with your infrastructure code (CloudFormation, CDK, Terraform) and pass its name or ARN in `environment`"),
                        }
                    }
                }
                "Outputs" => {
                    for (out, line, value) in node.entries() {
                        // Copilot attaches a policy through its output: carried with the policy.
                        let of_policy = value.get("Value").is_some_and(|v| match &v.value {
                            super::yaml::Data::Tagged(t, r) if t == "!Ref" => policies
                                .iter()
                                .any(|p: &Policy| Some(p.logical.as_str()) == r.as_str()),
                            _ => false,
                        });
                        if of_policy {
                            continue;
                        }
                        report.skip(
                            file.at(*line),
                            &format!("Outputs.{out}"),
                            "an output Copilot injects as a variable",
                            "write the value in `environment`",
                        );
                    }
                }
                "Parameters" | "Conditions" | "AWSTemplateFormatVersion" | "Description" => {}
                _ => report.skip(
                    file.at(*line),
                    field,
                    "a template section this import does not know",
                    "keep it in your infrastructure code",
                ),
            }
        }
    }
    Ok(policies)
}
