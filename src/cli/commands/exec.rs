//! `exec`: a shell (or command) in a running task, through ECS Exec; its exit code is ours.

use super::Session;
use crate::cli::ExecArgs;
use crate::error::Result;

pub async fn run(s: &Session, args: ExecArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let aws = s.connect(&config).await?;
    let input = crate::service::exec::ExecInput {
        task: args.task.as_deref(),
        container: args.container.as_deref(),
        command: &args.command,
    };
    crate::service::exec::exec(&aws, &config, &input).await
}
