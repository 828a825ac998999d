//! `logs`: a task's or the stage's log events, `-f` to follow.

use super::Session;
use crate::cli::LogsArgs;
use crate::error::Result;
use crate::steps::logs;

pub async fn run(s: &Session, args: LogsArgs) -> Result<i32> {
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
