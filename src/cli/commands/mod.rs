//! The resolved stage of the command line: flags + project + configuration turned into the typed
//! input of each pipeline stage, and each command's result reported. One file per subcommand, each
//! with a `run` taking its parsed arguments (as cargo-lambda's); [`run`] here is the table from
//! command to file.

use crate::aws::{Aws, AwsOptions};
use crate::cli::{Command, FargateCli, GlobalArgs};
use crate::config::{Config, StageChoice};
use crate::error::{display_path, Location, Result};
use crate::output::Output;
use crate::project::Project;

mod build;
mod completions;
mod config;
mod delete;
mod deploy;
mod diff;
mod doctor;
mod exec;
mod iam;
mod import;
mod init;
mod logs;
mod man;
mod package;
mod ps;
mod push;
mod register;
mod render;
mod rollback;
mod run;
mod scale;
mod setup;
mod status;
mod stop;
mod teardown;

pub use config::ConfigReport;

/// Runs a command; the value is the process exit code.
pub async fn run(cli: FargateCli, out: &Output) -> Result<i32> {
    let s = Session {
        global: cli.global,
        out: out.clone(),
    };
    crate::interrupt::note(left_by_interrupt(&cli.command));
    match cli.command {
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(&s, args),
        Command::Config(_) => config::run(&s),
        Command::Init(args) => init::run(&s, args).await,
        Command::Import(command) => import::run(&s, command),
        Command::Package(args) => package::run(&s, args),
        Command::Build(args) => build::run(&s, args).await,
        Command::Push(args) => push::run(&s, args).await,
        Command::Render(args) => render::run(&s, args).await,
        Command::Register(args) => register::run(&s, args).await,
        Command::Diff(args) => diff::run(&s, args).await,
        Command::Run(args) => run::run(&s, args).await,
        Command::Deploy(args) => deploy::run(&s, args).await,
        Command::Logs(args) => logs::run(&s, args).await,
        Command::Ps(args) => ps::run(&s, args).await,
        Command::Stop(args) => stop::run(&s, args).await,
        Command::Exec(args) => exec::run(&s, args).await,
        Command::Status => status::run(&s).await,
        Command::Rollback(args) => rollback::run(&s, args).await,
        Command::Scale(args) => scale::run(&s, args).await,
        Command::Delete(args) => delete::run(&s, args).await,
        Command::Doctor => doctor::run(&s).await,
        Command::Iam(command) => iam::run(&s, command).await,
        Command::Setup(args) => setup::run(&s, args).await,
        Command::Teardown(args) => teardown::run(&s, args).await,
    }
}

/// What Ctrl-C leaves behind before a stage says more ([`crate::interrupt::note`]).
fn left_by_interrupt(command: &Command) -> &'static str {
    match command {
        Command::Deploy(_) | Command::Run(_) | Command::Push(_) => {
            "nothing was changed yet (still checking and planning)"
        }
        Command::Setup(_)
        | Command::Teardown(_)
        | Command::Register(_)
        | Command::Rollback(_)
        | Command::Scale(_)
        | Command::Delete(_)
        | Command::Stop(_) => {
            "the command stopped part-way: what it already did stays; `cargo fargate status` shows the stage"
        }
        Command::Init(_) | Command::Import(_) | Command::Package(_) | Command::Man(_) => {
            "a file it was writing may be incomplete; run the command again"
        }
        _ => "nothing was changed",
    }
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
                name: crate::config::DEFAULT_STAGE.into(),
                location: None,
            },
        }
    }

    pub fn load(&self) -> Result<(Project, Config)> {
        self.load_with(crate::config::Layer::default())
    }

    /// Loads with a command's own flags laid over the global ones.
    pub fn load_with(&self, flags: crate::config::Layer) -> Result<(Project, Config)> {
        check_env_is_unicode()?;
        let project = self.project()?;
        let flags = self.global.config_layer().merge(flags);
        let config = crate::config::load(
            &project,
            &self.stage(),
            self.global.bin.as_deref(),
            flags,
            |k| std::env::var(k).ok(),
        )?;
        for name in config.container.environment.keys() {
            if crate::config::validate::looks_secret(name) {
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
