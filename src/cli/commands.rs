//! The resolved stage of the command line: flags + project + configuration turned into the typed
//! input of each pipeline stage, and each command's result reported.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::aws::{Aws, AwsOptions};
use crate::cli::{Command, FargateCli, GlobalArgs};
use crate::config::{self, keys, Config, Source, StageChoice};
use crate::deploy;
use crate::error::{display_path, Location, Result};
use crate::image::PinnedImage;
use crate::output::Output;
use crate::project::Project;
use crate::steps::register::{self, DiffReport};
use crate::steps::render::RenderReport;
use crate::steps::{init, logs, package, tasks};

/// Runs a command; the value is the process exit code.
pub async fn run(cli: FargateCli, out: &Output) -> Result<i32> {
    let session = Session {
        global: cli.global,
        out: out.clone(),
    };
    match cli.command {
        Command::Completions(args) => {
            crate::cli::shell::print(&crate::cli::shell::completions(args.shell));
        }
        Command::Man(args) => match args.dir {
            Some(dir) => out.result(&crate::cli::shell::man_pages(&dir)?),
            None => crate::cli::shell::print(&crate::cli::shell::man()?),
        },
        Command::Config(_) => {
            let (project, config) = session.load()?;
            out.result(&ConfigReport::new(&project, &config));
        }
        Command::Init(args) if args.ci.is_some() => {
            let (project, config) = session.load()?;
            let ci = args.ci.as_deref().unwrap_or_default();
            let root = &project.workspace_root;
            let written = crate::steps::init_ci::run(root, ci, &config, &args.branch, args.force)?;
            out.result(&written);
        }
        Command::Init(args) => {
            let from = match (&args.from_service, &args.from_task_definition) {
                (Some(s), _) => Some(crate::adopt::live::Source::service(s)?),
                (None, Some(td)) => Some(crate::adopt::live::Source::TaskDefinition(td.clone())),
                _ => None,
            };
            match from {
                Some(from) => {
                    let (project, config) = session.load()?;
                    let aws = session.connect(&config).await?;
                    out.result(&crate::adopt::live::init(&project, &aws, &from, args.force).await?);
                }
                None => {
                    let project = session.project()?;
                    out.result(&init::run(&project, args.force, args.workspace)?);
                }
            }
        }
        Command::Import(crate::cli::ImportCommand::Copilot(args)) => {
            let opts = crate::adopt::Options {
                dir: args.dir.as_deref(),
                manifest_path: session.global.manifest_path.as_deref(),
                package: session.global.package.as_deref(),
                bin: session.global.bin.as_deref(),
                dry_run: args.dry_run,
                force: args.force,
            };
            out.result(&crate::adopt::import(&opts)?);
        }
        Command::Package(args) => {
            let (project, config) = session.load()?;
            let sources = crate::sources::SourceSet::of(&project)?;
            let input = package::PackageInput::for_project(
                &project,
                &sources,
                &config,
                args.output,
                args.allow,
            );
            out.result(&package::run(&input, out)?);
        }
        Command::Build(args) => {
            let (project, config) = session.load_with(args.config_layer())?;
            let plan = crate::build::plan(&project, &config)?;
            let access =
                crate::publish::base_access(&config, &session.aws_options(&config)).await?;
            out.result(&crate::build::run(&project, &config, plan, access, out).await?);
        }
        Command::Push(args) => {
            let (project, config) = session.load_with(args.config_layer())?;
            let plan = crate::build::plan(&project, &config)?;
            let aws = session.connect(&config).await?;
            let login = crate::publish::login(&aws, &config).await?;
            out.result(&deploy::compose::push(&project, &config, plan, &aws, login, out).await?);
        }
        Command::Doctor => {
            let (_, config) = session.load()?;
            out.progress(
                "Checking",
                format_args!(
                    "{} (credentials, network, roles, permissions, image)",
                    config.stage
                ),
            );
            let aws = session.connect(&config).await?;
            let report = crate::doctor::run(&aws, &config).await?;
            out.result(&report);
            return Ok(report.exit_code());
        }
        Command::Iam(crate::cli::IamCommand::Policy(args)) => {
            let (_, config) = session.load()?;
            let aws = match args.account {
                Some(_) => None,
                None => Some(session.connect(&config).await?),
            };
            let target = crate::iam::command::Target::resolve(
                &config,
                args.account.as_deref(),
                aws.as_ref(),
            )
            .await?;
            out.result(&crate::iam::command::policy(
                &config,
                &target,
                args.principal,
                args.trust,
                args.teardown,
                args.out_dir.as_deref(),
            )?);
        }
        Command::Setup(args) => {
            let (_, config) = session.load()?;
            out.progress("Planning", format_args!("setup of {}", config.stage));
            let aws = session.connect(&config).await?;
            let flags = crate::iam::deployer::DeployerFlags {
                ci: args.ci.as_deref(),
                repo: args.repo.as_deref(),
                branch: args.branch.as_deref(),
                environment: args.environment.as_deref(),
                gitlab_url: args.gitlab_url.as_deref(),
                pull_requests: args.pull_requests,
                people: &args.deployer_trust,
            };
            out.result(&crate::setup::run(&aws, &config, args.dry_run, &flags, out).await?);
        }
        Command::Teardown(args) => {
            let (_, config) = session.load()?;
            out.progress("Finding", format_args!("the resources of {}", config.stage));
            let aws = session.connect(&config).await?;
            out.result(&crate::teardown::run(&aws, &config, &(&args).into(), out).await?);
        }
        Command::Render(args) => {
            let (_, config) = session.load()?;
            let image = PinnedImage::parse(&args.image)?;
            let aws = session.connect(&config).await?;
            let prepared = deploy::compose::prepare(&aws, &config, image, out).await?;
            out.result(&RenderReport {
                family: crate::names::family(&config),
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
            let aws = session.connect(&config).await?;
            let prepared = deploy::compose::prepare(&aws, &config, image, out).await?;
            let report = register::apply(&aws, &config, &prepared, None, out).await?;
            crate::revisions::prune(&aws, &config, out).await?;
            out.result(&report);
        }
        Command::Diff(args) => {
            let (_, config) = session.load()?;
            let image = PinnedImage::parse(&args.image.image)?;
            let aws = session.connect(&config).await?;
            let prepared = deploy::compose::prepare(&aws, &config, image, out).await?;
            let family = crate::names::family(&config);
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
            let mut changed = old != rendered;
            let mut diff = register::unified_diff(&old, &rendered, &label, "rendered");
            // kind = "service": the service's settings too (the revision it would run included).
            let running = latest.as_ref().filter(|_| !changed).map(|l| l.arn.as_str());
            let attached = crate::service::balancer::attach(&aws, &config).await?;
            let service =
                crate::service::deploy::diff(&aws, attached.as_ref().unwrap_or(&config), running)
                    .await?;
            changed |= !service.is_empty();
            diff.extend(service.iter().map(|l| format!("{l}\n")));
            let report = DiffReport {
                family,
                latest_revision: latest.as_ref().map(|l| l.revision),
                changed,
                diff,
            };
            out.result(&report);
            return Ok(if args.exit_code && changed {
                crate::error::exit::CHANGED
            } else {
                0
            });
        }
        Command::Run(args) if args.local => {
            let (project, config) = session.load_with(args.build.config_layer())?;
            let environment = crate::steps::run::parse_env_overrides(&args.run.env, &config)?;
            let aws = session.aws_options(&config);
            let input = crate::local::LocalInput {
                project: &project,
                config: &config,
                aws: &aws,
                image: args.image.as_deref(),
                environment: &environment,
                command: (!args.run.command.is_empty()).then_some(args.run.command.as_slice()),
                task_role: !args.no_task_role,
            };
            let report = crate::local::run(&input, out).await?;
            out.result(&report);
            return Ok(report.exit_code);
        }
        Command::Run(args) => {
            let (project, config) = session.load_with(args.build.config_layer())?;
            let image = args
                .image
                .as_deref()
                .expect("clap requires --image without --local");
            let image = PinnedImage::parse(image)?;
            let aws = session.connect(&config).await?;
            // Everything is checked before anything is created.
            let mut opts = args.run.options();
            opts.state_dir = Some(project.target_dir.join("fargate"));
            let pre = deploy::preflight(&aws, &config, &opts, true).await?;
            let prepared = deploy::compose::prepare(&aws, &config, image, out).await?;
            let (_, report) =
                deploy::launch(&aws, &config, &prepared, None, &pre, &opts, out).await?;
            let report = report.expect("launch runs when asked to");
            out.result(&report);
            return Ok(report.exit_code);
        }
        Command::Deploy(args) => {
            let (project, config) = session.load_with(args.build.config_layer())?;
            let mut opts = args.options();
            opts.run.state_dir = Some(project.target_dir.join("fargate"));
            let report =
                deploy::deploy(&project, &config, &session.aws_options(&config), &opts, out)
                    .await?;
            out.result(&report);
            if let (Some(crate::ci::Ci::GitHub), deploy::DeployReport::Done(done)) =
                (out.ci(), &report)
            {
                if let Err(e) = crate::ci::append_summary(&done.summary_markdown()) {
                    out.warn(format_args!("could not write the job summary: {e}"));
                }
            }
            return Ok(report.exit_code());
        }
        Command::Logs(args) => {
            let (_, config) = session.load()?;
            let since = logs::parse_since(&args.since)?;
            let aws = session.connect(&config).await?;
            let family = crate::names::family(&config);
            let task = args.task.as_deref().map(logs::task_id);
            let report = logs::run(
                &aws,
                out,
                &logs::LogsInput {
                    family: &family,
                    follow: args.follow,
                    task,
                    since,
                    poll: crate::steps::run::POLL,
                },
            )
            .await?;
            out.result(&report);
        }
        Command::Ps(args) => {
            let (_, config) = session.load()?;
            let aws = session.connect(&config).await?;
            out.result(&tasks::ps(&aws, &config, args.all).await?);
        }
        Command::Status => {
            let (_, config) = session.load()?;
            let aws = session.connect(&config).await?;
            // A scheduled stage: its schedule (next runs, last exit codes); else the service or tasks.
            if config.schedule.is_some() {
                let status = crate::schedule::status::status(&aws, &config)
                    .await?
                    .ok_or_else(|| {
                        crate::error::UserError::new(format!(
                            "stage `{}` has no schedule",
                            config.stage
                        ))
                        .fix("set `schedule = \"cron(…)\"` for a scheduled job; `cargo fargate ps` lists the stage's tasks")
                    })?;
                out.result(&status);
            } else {
                // The load balancer `setup` made: its URL (and target group) as deploy sees them.
                let attached = match &config.service.load_balancer {
                    Some(_) => crate::service::balancer::attach(&aws, &config)
                        .await
                        .ok()
                        .flatten(),
                    None => None,
                };
                let config = attached.as_ref().unwrap_or(&config);
                let mut status = crate::service::status::status(&aws, config).await?;
                if let Some(url) = config
                    .service
                    .load_balancer
                    .as_ref()
                    .and_then(|l| l.url.clone())
                {
                    status.url = Some(url);
                }
                out.result(&status);
            }
        }
        Command::Rollback(args) => {
            let (_, config) = session.load()?;
            let wait = args.wait.options();
            let aws = session.connect(&config).await?;
            let r = crate::service::status::rollback(&aws, &config, args.to, &wait, out);
            out.result(&r.await?);
        }
        Command::Scale(args) => {
            let (_, config) = session.load()?;
            let wait = args.wait.options();
            let aws = session.connect(&config).await?;
            let r = crate::service::status::scale(&aws, &config, args.count, &wait, out);
            out.result(&r.await?);
        }
        Command::Delete(args) => {
            let (_, config) = session.load()?;
            // A scheduled stage: its schedule and managed scheduler role; else the service.
            if config.schedule.is_some() {
                if !args.yes {
                    return Err(crate::error::UserError::new(format!(
                        "`delete` removes the schedule and managed scheduler role of {}-{}",
                        config.project, config.stage
                    ))
                    .fix("pass --yes to confirm")
                    .into());
                }
                let aws = session.connect(&config).await?;
                let deleted = crate::schedule::delete(&aws, &config)
                    .await?
                    .ok_or_else(|| {
                        crate::error::UserError::new(format!(
                            "stage `{}` has no schedule to delete",
                            config.stage
                        ))
                    })?;
                out.result(&deleted);
            } else {
                let aws = session.connect(&config).await?;
                out.result(&crate::service::status::delete(&aws, &config, args.yes, out).await?);
            }
        }
        Command::Exec(args) => {
            let (_, config) = session.load()?;
            let aws = session.connect(&config).await?;
            let (task, container) = (args.task.as_deref(), args.container.as_deref());
            return crate::service::exec::exec(&aws, &config, task, container, &args.command).await;
        }
        Command::Stop(args) => {
            let (_, config) = session.load()?;
            let aws = session.connect(&config).await?;
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
                let location = if self.global.stage_from_env {
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
        self.load_with(config::Layer::default())
    }

    /// Loads with a command's own flags laid over the global ones.
    pub fn load_with(&self, flags: config::Layer) -> Result<(Project, Config)> {
        check_env_is_unicode()?;
        let project = self.project()?;
        let flags = self.global.config_layer().merge(flags);
        let config = config::load(
            &project,
            &self.stage(),
            self.global.bin.as_deref(),
            flags,
            |k| std::env::var(k).ok(),
        )?;
        for name in config.environment.keys() {
            if config::validate::looks_secret(name) {
                self.out.warn(format_args!(
                    "`environment.{name}` looks like a secret: plain environment values are readable by anyone who can describe the task definition; store it in SSM or Secrets Manager and name it under `secrets`"
                ));
            }
        }
        self.out.verbose(format_args!(
            "stage {} of {} from {}",
            config.stage,
            config.project,
            display_path(&project.manifest.path)
        ));
        Ok((project, config))
    }

    /// The run's AWS clients; verbose output says where the credentials came from.
    pub async fn connect(&self, config: &Config) -> Result<Aws> {
        let aws = Aws::connect(&self.aws_options(config)).await?;
        if let Some(w) = aws.credentials_warning() {
            self.out.warn(w);
        }
        self.out.verbose(format_args!(
            "AWS credentials from {}, region {}",
            aws.credentials_source(),
            aws.region()
        ));
        Ok(aws)
    }

    pub fn aws_options(&self, config: &Config) -> AwsOptions {
        AwsOptions::new(
            config,
            self.global.endpoint_url.clone(),
            std::time::Duration::from_secs(self.global.timeout),
        )
    }
}

/// A `CARGO_FARGATE_*` value that is not UTF-8 would be skipped silently by `env::var`.
fn check_env_is_unicode() -> Result<()> {
    for (key, value) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_FARGATE_") && value.to_str().is_none() {
            return Err(crate::error::UserError::new("the value is not valid UTF-8")
                .at(Location::Env(key.to_string()))
                .fix(format!("set {key} to UTF-8 text, or unset it"))
                .into());
        }
    }
    Ok(())
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
        for (k, v) in shown.environment.iter_mut() {
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
