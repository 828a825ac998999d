//! `init --from-service CLUSTER/SERVICE` and `init --from-task-definition FAMILY[:REVISION]`: the
//! configuration that reproduces what already runs on ECS, written next to a task template that
//! renders back to the same definition (see [`super::taskdef`]); the service is then taken over in
//! place by `deploy` (`adopt = true`, its own name in `service-name`).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::taskdef;
use super::workload::Keys;
use crate::aws::Aws;
use crate::error::{display_path, Location, Result, UserError};
use crate::project::Project;

/// What to read.
pub enum Source {
    Service { cluster: String, service: String },
    TaskDefinition(String),
}

impl Source {
    /// `CLUSTER/SERVICE` as `--from-service` takes it.
    pub fn service(arg: &str) -> Result<Source> {
        match arg.split_once('/') {
            Some((c, s)) if !c.is_empty() && !s.is_empty() && !s.contains('/') => {
                Ok(Source::Service {
                    cluster: c.to_string(),
                    service: s.to_string(),
                })
            }
            _ => Err(UserError::new(format!("`{arg}` is not CLUSTER/SERVICE"))
                .at(Location::Flag("--from-service".into()))
                .fix("name the cluster and the service, e.g. `--from-service prod/orders`")
                .into()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Output {
    pub manifest: PathBuf,
    pub template: PathBuf,
    pub task_definition: String,
    pub service: Option<String>,
    /// The container the built image goes into.
    pub container: String,
    /// What the template keeps that no key expresses.
    pub kept: Vec<String>,
}

/// Reads the service and its task definition, checks both are the caller's account's, then
/// writes the section and the template (nothing when a check fails).
pub async fn init(project: &Project, aws: &Aws, from: &Source, force: bool) -> Result<Output> {
    let account = aws.identity().await?.account;
    let (service, td_ref, cluster) = match from {
        Source::Service { cluster, service } => {
            let found = aws
                .describe_service(cluster, service)
                .await?
                .filter(|s| s["status"] != "INACTIVE")
                .ok_or_else(|| {
                    UserError::new(format!("no service `{service}` in cluster `{cluster}`"))
                        .at(Location::Flag("--from-service".into()))
                        .fix(format!("list them: `aws ecs list-services --cluster {cluster}` (and check the region)"))
                })?;
            let td = found["taskDefinition"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (Some(found), td, Some(cluster.clone()))
        }
        Source::TaskDefinition(td) => (None, td.clone(), None),
    };
    let flag = if service.is_some() {
        "--from-service"
    } else {
        "--from-task-definition"
    };
    same_account(&td_ref, &account, flag)?;
    let described = aws
        .describe_task_definition(&td_ref)
        .await?
        .ok_or_else(|| {
            UserError::new(format!("no task definition `{td_ref}`"))
                .at(Location::Flag(flag.into()))
                .fix("list them: `aws ecs list-task-definition-families` (and check the region)")
        })?;
    let arn = described["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    same_account(&arn, &account, flag)?;
    let adopted = taskdef::adopt(&described).map_err(|what| {
        UserError::new(format!(
            "task definition `{arn}` cannot be kept as a template: {what}"
        ))
        .at(Location::Flag(flag.into()))
        .fix("write the configuration by hand (`cargo fargate init`)")
    })?;
    let mut keys: Keys = adopted.keys;
    if let (Some(s), Some(c)) = (&service, &cluster) {
        taskdef::service_keys(s, c, &mut keys);
    }
    let family = keys["family"].as_str().unwrap_or("task").to_string();
    let template_name = format!("{family}.task-definition.json");
    keys.insert("task-template".into(), serde_json::json!(template_name));
    keys.insert("adopt".into(), serde_json::json!(true));
    let stages = super::Stages {
        base: keys,
        stages: Vec::new(),
        policies: Vec::new(),
    };
    let origin = format!("Reproduces {arn} (`cargo fargate init --from-…`); the definition itself is in {template_name}.");
    let toml = super::write::section(std::slice::from_ref(&stages), &origin);
    let m = &project.manifest;
    let text = crate::steps::init::insert_section(&m.text, &m.path, force, "package", &toml)?;
    let template = project.package_dir.join(&template_name);
    if template.exists() && !force {
        return Err(UserError::new("the task template already exists")
            .at(Location::file(&template, None))
            .fix("pass --force to replace it")
            .into());
    }
    crate::steps::init::write_atomic(&template, &adopted.template)?;
    crate::steps::init::write_atomic(&m.path, &text)?;
    Ok(Output {
        manifest: m.path.clone(),
        template,
        task_definition: arn,
        service: service.and_then(|s| s["serviceArn"].as_str().map(String::from)),
        container: adopted.container,
        kept: adopted.kept,
    })
}

/// An ARN of another account is refused: its roles and secrets are not this account's to use.
fn same_account(reference: &str, account: &str, flag: &str) -> Result<()> {
    let Some(rest) = reference.strip_prefix("arn:") else {
        return Ok(());
    };
    let owner = rest.split(':').nth(3).unwrap_or_default();
    if owner == account {
        return Ok(());
    }
    Err(UserError::new(format!(
        "task definition `{reference}` belongs to account {owner}, not to these credentials' ({account})"
    ))
    .at(Location::Flag(flag.into()))
    .fix("run with credentials of that account (--aws-profile), or copy the definition into this account first")
    .into())
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "read {}", self.task_definition)?;
        if let Some(s) = &self.service {
            writeln!(f, "read {s}")?;
        }
        writeln!(
            f,
            "added [package.metadata.fargate] to {}",
            display_path(&self.manifest)
        )?;
        writeln!(
            f,
            "wrote {} (the definition; the built image goes into container `{}`)",
            display_path(&self.template),
            self.container
        )?;
        if !self.kept.is_empty() {
            writeln!(
                f,
                "kept in the template as they are: {}",
                self.kept.join(", ")
            )?;
        }
        writeln!(f, "next: cargo fargate config, then cargo fargate diff and cargo fargate deploy --dry-run")
    }
}
