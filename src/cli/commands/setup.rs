//! `setup`: what the stage needs, created idempotently.

use super::Session;
use crate::cli::SetupArgs;
use crate::error::Result;

pub async fn run(s: &Session, args: SetupArgs) -> Result<i32> {
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
