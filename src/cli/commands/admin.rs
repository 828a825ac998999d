//! `doctor`, `iam policy`, `setup`, `teardown`, `completions`, `man`: the commands around a
//! stage's account rather than its image.

use super::Session;
use crate::cli::{CompletionsArgs, IamCommand, ManArgs, SetupArgs, TeardownArgs};
use crate::error::Result;

/// `completions`: the shell's completion script.
pub fn completions(args: CompletionsArgs) -> Result<i32> {
    crate::cli::shell::print(&crate::cli::shell::completions(args.shell));
    Ok(0)
}

/// `man`: the manual page, or one per command into a directory.
pub fn man(s: &Session, args: ManArgs) -> Result<i32> {
    match args.dir {
        Some(dir) => s.out.result(&crate::cli::shell::man_pages(&dir)?),
        None => crate::cli::shell::print(&crate::cli::shell::man()?),
    }
    Ok(0)
}

/// `doctor`: every check, [ok]/[warn]/[fail]; non-zero on any fail.
pub async fn doctor(s: &Session) -> Result<i32> {
    let (_, config) = s.load()?;
    s.out.progress(
        "Checking",
        format_args!(
            "{} (credentials, network, roles, permissions, image)",
            config.stage
        ),
    );
    let aws = s.connect(&config).await?;
    let report = crate::doctor::run(&aws, &config).await?;
    s.out.result(&report);
    Ok(report.exit_code())
}

/// `iam policy`: least-privilege policies for the stage's principals.
pub async fn iam(s: &Session, command: IamCommand) -> Result<i32> {
    let IamCommand::Policy(args) = command;
    let (_, config) = s.load()?;
    let aws = match args.account {
        Some(_) => None,
        None => Some(s.connect(&config).await?),
    };
    let target =
        crate::iam::command::Target::resolve(&config, args.account.as_deref(), aws.as_ref())
            .await?;
    s.out.result(&crate::iam::command::policy(
        &config,
        &target,
        args.principal.into(),
        args.trust,
        args.teardown,
        args.out_dir.as_deref(),
    )?);
    Ok(0)
}

/// `setup`: what the stage needs, created idempotently.
pub async fn setup(s: &Session, args: SetupArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    s.out
        .progress("Planning", format_args!("setup of {}", config.stage));
    let aws = s.connect(&config).await?;
    let flags = crate::iam::deployer::DeployerFlags {
        ci: args.ci.as_deref(),
        repo: args.repo.as_deref(),
        branch: args.branch.as_deref(),
        environment: args.environment.as_deref(),
        gitlab_url: args.gitlab_url.as_deref(),
        pull_requests: args.pull_requests,
        people: &args.deployer_trust,
    };
    s.out
        .result(&crate::setup::run(&aws, &config, args.dry_run, &flags, &s.out).await?);
    Ok(0)
}

/// `teardown`: the stage's resources, the ones carrying its tags only.
pub async fn teardown(s: &Session, args: TeardownArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    s.out
        .progress("Finding", format_args!("the resources of {}", config.stage));
    let aws = s.connect(&config).await?;
    s.out
        .result(&crate::teardown::run(&aws, &config, &(&args).into(), &s.out).await?);
    Ok(0)
}
