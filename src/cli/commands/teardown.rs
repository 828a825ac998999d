//! `teardown`: the stage's resources, the ones carrying its tags only.

use super::Session;
use crate::cli::TeardownArgs;
use crate::error::Result;

pub async fn run(s: &Session, args: TeardownArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    s.out
        .progress("Finding", format_args!("the resources of {}", config.stage));
    let aws = s.connect(&config).await?;
    s.out
        .result(&crate::teardown::run(&aws, &config, &(&args).into(), &s.out).await?);
    Ok(0)
}
