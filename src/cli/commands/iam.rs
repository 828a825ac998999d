//! `iam policy`: least-privilege policies for the stage's principals.

use super::Session;
use crate::cli::IamCommand;
use crate::error::Result;

pub async fn run(s: &Session, command: IamCommand) -> Result<i32> {
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
