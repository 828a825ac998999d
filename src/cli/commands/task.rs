//! `run` (on Fargate or `--local`), `deploy`, `logs`, `ps`, `stop`, `exec`: a stage's tasks.

use super::Session;
use crate::cli::{DeployArgs, ExecArgs, LogsArgs, PsArgs, RunArgs, StopArgs};
use crate::deploy;
use crate::error::Result;
use crate::image::PinnedImage;
use crate::steps::{logs, tasks};

/// `run`: the image's task on Fargate, followed to its end; `--local`: in the Docker Engine.
pub async fn run(s: &Session, args: RunArgs) -> Result<i32> {
    if args.local {
        return run_local(s, args).await;
    }
    let out = &s.out;
    let (project, config) = s.load_with(args.build.config_layer())?;
    let image = args
        .image
        .as_deref()
        .expect("clap requires --image without --local");
    let image = PinnedImage::parse(image)?;
    let aws = s.connect(&config).await?;
    // Everything is checked before anything is created.
    let mut opts = args.run.options();
    opts.state_dir = Some(project.target_dir.join("fargate"));
    let pre = deploy::preflight(&aws, &config, &opts, true).await?;
    let prepared = deploy::compose::prepare(&aws, &config, image, out).await?;
    let (_, report) = deploy::launch(&aws, &config, &prepared, None, &pre, &opts, out).await?;
    let report = report.expect("launch runs when asked to");
    out.result(&report);
    Ok(report.exit_code)
}

/// `run --local`: the task's container in the local Docker Engine.
async fn run_local(s: &Session, args: RunArgs) -> Result<i32> {
    let (project, config) = s.load_with(args.build.config_layer())?;
    let environment = crate::steps::run::parse_env_overrides(&args.run.env, &config)?;
    let aws = s.aws_options(&config);
    let input = crate::local::LocalInput {
        project: &project,
        config: &config,
        aws: &aws,
        image: args.image.as_deref(),
        environment: &environment,
        command: (!args.run.command.is_empty()).then_some(args.run.command.as_slice()),
        task_role: !args.no_task_role,
    };
    let report = crate::local::run(&input, &s.out).await?;
    s.out.result(&report);
    Ok(report.exit_code)
}

/// `deploy`: package, build, push, register and run (or roll out the service, or schedule).
pub async fn deploy(s: &Session, args: DeployArgs) -> Result<i32> {
    let out = &s.out;
    let (project, config) = s.load_with(args.build.config_layer())?;
    let mut opts = args.options();
    opts.run.state_dir = Some(project.target_dir.join("fargate"));
    let report = deploy::deploy(&project, &config, &s.aws_options(&config), &opts, out).await?;
    out.result(&report);
    if let (Some(crate::ci::Ci::GitHub), deploy::DeployReport::Done(done)) = (out.ci(), &report) {
        if let Err(e) = crate::ci::append_summary(&done.summary_markdown()) {
            out.warn(format_args!("could not write the job summary: {e}"));
        }
    }
    Ok(report.exit_code())
}

/// `logs`: a task's or the stage's log events, `-f` to follow.
pub async fn logs(s: &Session, args: LogsArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let since = logs::parse_since(&args.since)?;
    let aws = s.connect(&config).await?;
    let family = crate::names::family(&config);
    let task = args.task.as_deref().map(logs::task_id);
    let input = logs::LogsInput {
        family: &family,
        follow: args.follow,
        task,
        since,
        poll: crate::steps::run::POLL,
    };
    s.out.result(&logs::run(&aws, &s.out, &input).await?);
    Ok(0)
}

/// `ps`: the stage's tasks.
pub async fn ps(s: &Session, args: PsArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let aws = s.connect(&config).await?;
    s.out.result(&tasks::ps(&aws, &config, args.all).await?);
    Ok(0)
}

/// `stop`: tasks of the stage, by ID or all.
pub async fn stop(s: &Session, args: StopArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let aws = s.connect(&config).await?;
    let stopped = tasks::stop(&aws, &config, &args.tasks, args.all, &args.reason).await?;
    s.out.result(&stopped);
    Ok(0)
}

/// `exec`: a shell (or command) in a running task, through ECS Exec; its exit code is ours.
pub async fn exec(s: &Session, args: ExecArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let aws = s.connect(&config).await?;
    let (task, container) = (args.task.as_deref(), args.container.as_deref());
    crate::service::exec::exec(&aws, &config, task, container, &args.command).await
}
