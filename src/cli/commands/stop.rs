//! `stop`: tasks of the stage, by ID or all.

use super::Session;
use crate::cli::StopArgs;
use crate::error::Result;
use crate::steps::tasks;

pub async fn run(s: &Session, args: StopArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let aws = s.connect(&config).await?;
    let input = tasks::StopInput {
        ids: &args.tasks,
        all: args.all,
        reason: &args.reason,
    };
    let stopped = tasks::stop(&aws, &config, &input).await?;
    s.out.result(&stopped);
    Ok(0)
}
