//! The resolved stage of the command line: flags + project + configuration turned into the typed
//! input of each pipeline stage, and each command's result reported.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::aws::{Aws, AwsOptions, Identity};
use crate::cli::{Command, FargateCli, GlobalArgs};
use crate::config::{self, keys, Config, Source, StageChoice};
use crate::error::{display_path, Location, Result};
use crate::output::Output;
use crate::project::Project;
use crate::register::{self, DiffReport};
use crate::render::{PinnedImage, RenderReport};
use crate::{init, logs, package, run, tasks};

/// How often `run` and `logs -f` ask AWS for news.
const POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Runs a command; the value is the process exit code.
pub async fn run(cli: FargateCli, out: &Output) -> Result<i32> {
    let session = Session {
        global: cli.global,
        out: out.clone(),
    };
    match cli.command {
        Command::Config(_) => {
            let (project, config) = session.load()?;
            out.result(&ConfigReport::new(&project, &config));
        }
        Command::Init(args) => {
            let project = session.project()?;
            out.result(&init::run(&project, args.force)?);
        }
        Command::Package(args) => {
            let (project, config) = session.load()?;
            let output = args
                .output
                .unwrap_or_else(|| default_archive_path(&project, &config));
            let input = package::PackageInput {
                root: project.workspace_root.clone(),
                exclude: vec![project.target_dir.clone()],
                output,
                allow: args.allow,
            };
            out.result(&package::run(&input, out)?);
        }
        Command::Doctor => {
            let (_, config) = session.load()?;
            let aws = Aws::connect(&session.aws_options(&config)).await?;
            let identity = aws.identity().await?;
            if identity.arn.ends_with(":root") {
                out.warn("these are the account's root credentials: use an IAM user or role with least privilege instead");
            }
            out.result(&DoctorReport {
                project: config.project,
                stage: config.stage,
                identity,
            });
        }
        Command::Render(args) => {
            let (_, config) = session.load()?;
            let image = PinnedImage::parse(&args.image)?;
            let aws = Aws::connect(&session.aws_options(&config)).await?;
            let prepared = register::prepare(&aws, &config, image, out).await?;
            out.result(&RenderReport {
                family: crate::render::family(&config),
                image: prepared.image.reference.clone(),
                template: config
                    .task_template
                    .as_deref()
                    .map(display_path)
                    .unwrap_or_else(|| "built-in".into()),
                definition: prepared.definition,
            });
        }
        Command::Register(args) => {
            let (_, config) = session.load()?;
            let image = PinnedImage::parse(&args.image)?;
            let aws = Aws::connect(&session.aws_options(&config)).await?;
            let prepared = register::prepare(&aws, &config, image, out).await?;
            out.result(&register::apply(&aws, &config, &prepared, out).await?);
        }
        Command::Diff(args) => {
            let (_, config) = session.load()?;
            let image = PinnedImage::parse(&args.image.image)?;
            let aws = Aws::connect(&session.aws_options(&config)).await?;
            let prepared = register::prepare(&aws, &config, image, out).await?;
            let family = crate::render::family(&config);
            let latest = register::latest(&aws, &family, &prepared.definition).await?;
            let rendered = register::normalise(&prepared.definition);
            let (old, label) = match &latest {
                Some(l) => (
                    l.definition.clone(),
                    format!("{family}:{} (registered)", l.revision),
                ),
                None => (
                    serde_json::Value::Null,
                    format!("{family} (none registered)"),
                ),
            };
            let changed = old != rendered;
            let report = DiffReport {
                family,
                latest_revision: latest.as_ref().map(|l| l.revision),
                changed,
                diff: register::unified_diff(&old, &rendered, &label, "rendered"),
            };
            out.result(&report);
            return Ok(if args.exit_code && changed { 1 } else { 0 });
        }
        Command::Run(args) => {
            let (_, config) = session.load()?;
            let image = PinnedImage::parse(&args.image.image)?;
            let environment = run::parse_env_overrides(&args.env, &config)?;
            let aws = Aws::connect(&session.aws_options(&config)).await?;
            // Everything is checked before anything is created.
            let prepared = register::prepare(&aws, &config, image, out).await?;
            let cluster_exists = aws.cluster_exists(&config.cluster).await?;
            if !cluster_exists && !config.create_cluster {
                return Err(config
                    .key_error(
                        "create-cluster",
                        format!("ECS cluster `{}` does not exist and creating it is turned off", config.cluster),
                    )
                    .fix("create it, set `create-cluster = true`, or point `cluster` at an existing cluster")
                    .into());
            }
            let network = run::resolve_network(&aws, &config, args.allow_default_vpc).await?;
            let registered = register::apply(&aws, &config, &prepared, out).await?;
            if !cluster_exists {
                aws.create_cluster(&config.cluster, &config.tags).await?;
                out.status("Created", format_args!("cluster {}", config.cluster));
            }
            let fresh_roles = registered.roles.iter().any(|r| r.created);
            let report = run::run(
                &aws,
                out,
                &run::RunInput {
                    config: &config,
                    definition: &prepared.definition,
                    registration: &registered.task_definition,
                    network: &network,
                    count: args.count,
                    command: (!args.command.is_empty()).then_some(args.command.as_slice()),
                    environment: &environment,
                    detach: args.detach,
                    stop_on_interrupt: args.stop_on_interrupt,
                    poll: POLL,
                    fresh_roles,
                },
            )
            .await?;
            out.result(&report);
            return Ok(report.exit_code);
        }
        Command::Logs(args) => {
            let (_, config) = session.load()?;
            let since = logs::parse_since(&args.since)?;
            let aws = Aws::connect(&session.aws_options(&config)).await?;
            let family = crate::render::family(&config);
            let task = args.task.as_deref().map(logs::task_id);
            let report = logs::run(
                &aws,
                out,
                &logs::LogsInput {
                    family: &family,
                    follow: args.follow,
                    task,
                    since,
                    poll: POLL,
                },
            )
            .await?;
            out.result(&report);
        }
        Command::Ps(args) => {
            let (_, config) = session.load()?;
            let aws = Aws::connect(&session.aws_options(&config)).await?;
            out.result(&tasks::ps(&aws, &config, args.all).await?);
        }
        Command::Stop(args) => {
            let (_, config) = session.load()?;
            let aws = Aws::connect(&session.aws_options(&config)).await?;
            out.result(&tasks::stop(&aws, &config, &args.tasks, args.all, &args.reason).await?);
        }
    }
    Ok(0)
}

pub struct Session {
    pub global: GlobalArgs,
    pub out: Output,
}

impl Session {
    pub fn project(&self) -> Result<Project> {
        Project::load(
            self.global.manifest_path.as_deref(),
            self.global.package.as_deref(),
        )
    }

    pub fn stage(&self) -> StageChoice {
        match &self.global.stage {
            Some(name) => {
                let from_env = std::env::var("CARGO_FARGATE_STAGE").ok().as_deref()
                    == Some(name.as_str())
                    && !std::env::args().any(|a| a == "--stage" || a.starts_with("--stage="));
                let location = if from_env {
                    Location::Env("CARGO_FARGATE_STAGE".into())
                } else {
                    Location::Flag("--stage".into())
                };
                StageChoice {
                    name: name.clone(),
                    location: Some(location),
                }
            }
            None => StageChoice {
                name: config::DEFAULT_STAGE.into(),
                location: None,
            },
        }
    }

    pub fn load(&self) -> Result<(Project, Config)> {
        let project = self.project()?;
        let config = config::load(
            &project,
            &self.stage(),
            self.global.bin.as_deref(),
            self.global.config_layer(),
            |k| std::env::var(k).ok(),
        )?;
        self.out.verbose(format_args!(
            "stage {} of {} from {}",
            config.stage,
            config.project,
            display_path(&project.manifest.path)
        ));
        Ok((project, config))
    }

    pub fn aws_options(&self, config: &Config) -> AwsOptions {
        AwsOptions::new(config, self.global.endpoint_url.clone())
    }
}

pub fn default_archive_path(project: &Project, config: &Config) -> PathBuf {
    project
        .target_dir
        .join("fargate")
        .join(format!("{}-source.zip", config.project))
}

#[derive(Serialize)]
struct DoctorReport {
    project: String,
    stage: String,
    identity: Identity,
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "project  {} (stage {})", self.project, self.stage)?;
        writeln!(f, "account  {}", self.identity.account)?;
        writeln!(f, "caller   {}", self.identity.arn)?;
        writeln!(f, "region   {}", self.identity.region)?;
        if let Some(e) = &self.identity.endpoint {
            writeln!(f, "endpoint {e}")?;
        }
        Ok(())
    }
}

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
    #[serde(skip)]
    is_default: bool,
}

impl ConfigReport {
    pub fn new(project: &Project, config: &Config) -> Self {
        let sources = config
            .entries
            .iter()
            .map(|e| SourceEntry {
                key: e.key,
                value: e.value.clone(),
                source: e.origin.to_string(),
                is_default: e.origin.source == Source::Default,
            })
            .collect();
        ConfigReport {
            project: config.project.clone(),
            stage: config.stage.clone(),
            stages: config.stages.clone(),
            manifest: project.manifest.path.clone(),
            config: config.clone(),
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
                let default = keys::find(e.key).map(|k| k.default).unwrap_or("");
                writeln!(f, "# {:<32} # unset: {default}", e.key)?;
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
