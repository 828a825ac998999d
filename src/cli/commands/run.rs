//! `run`: the image's task on Fargate, followed to its end; `--local`: in the Docker Engine.

use super::Session;
use crate::cli::RunArgs;
use crate::deploy;
use crate::error::Result;
use crate::image::PinnedImage;

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
