//! `ps`: the stage's tasks.

use super::Session;
use crate::cli::PsArgs;
use crate::error::Result;
use crate::steps::tasks;

pub async fn run(s: &Session, args: PsArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let aws = s.connect(&config).await?;
    s.out.result(&tasks::ps(&aws, &config, args.all).await?);
    Ok(0)
}
