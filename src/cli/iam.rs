//! `iam policy`'s arguments: clap's types stay in the CLI layer, so the principal the flag
//! takes is an enum of its own here, turned into [`crate::iam::Principal`].

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::iam::Principal;

#[derive(Subcommand, Debug)]
pub enum IamCommand {
    /// Print (or write) the policy of one principal, scoped to this project's and stage's ARNs.
    Policy(IamPolicyArgs),
}

#[derive(Args, Debug)]
pub struct IamPolicyArgs {
    /// Whose policy: the deploying identity, or one of the stage's roles.
    #[arg(long = "for", value_enum, value_name = "PRINCIPAL")]
    pub principal: PrincipalArg,
    /// Print the role's trust policy instead (who may assume it).
    #[arg(long)]
    pub trust: bool,
    /// Write `<family>-<principal>-policy.json` and `-trust.json` into DIR instead of printing.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// The account ID to name, without asking AWS who the credentials are.
    #[arg(long, value_name = "ID")]
    pub account: Option<String>,
    /// With --for deployer: also the deletions `cargo fargate teardown` makes.
    #[arg(long)]
    pub teardown: bool,
}

/// `--for`: the principals cargo-fargate writes policies for ([`Principal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrincipalArg {
    /// The identity that runs `cargo fargate deploy` (a user, or a CI role).
    Deployer,
    /// The CodeBuild project's service role (builder = "codebuild").
    Codebuild,
    /// The task's execution role: pulls the image, writes logs, reads secrets.
    Execution,
    /// The task role: the application's own permissions.
    Task,
    /// EventBridge Scheduler's role for scheduled runs.
    Scheduler,
}

impl From<PrincipalArg> for Principal {
    fn from(p: PrincipalArg) -> Self {
        match p {
            PrincipalArg::Deployer => Principal::Deployer,
            PrincipalArg::Codebuild => Principal::Codebuild,
            PrincipalArg::Execution => Principal::Execution,
            PrincipalArg::Task => Principal::Task,
            PrincipalArg::Scheduler => Principal::Scheduler,
        }
    }
}
