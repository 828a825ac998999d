//! `delete`: a scheduled stage's schedule and managed scheduler role; else the service.

use super::Session;
use crate::cli::DeleteArgs;
use crate::error::{Result, UserError};

pub async fn run(s: &Session, args: DeleteArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    if config.schedule.is_none() {
        let aws = s.connect(&config).await?;
        let deleted = crate::service::status::delete(&aws, &config, args.yes, &s.out).await?;
        s.out.result(&deleted);
        return Ok(0);
    }
    if !args.yes {
        return Err(UserError::new(format!(
            "`delete` removes the schedule and managed scheduler role of {}-{}",
            config.project, config.stage
        ))
        .fix("pass --yes to confirm")
        .into());
    }
    let aws = s.connect(&config).await?;
    let deleted = crate::schedule::delete(&aws, &config)
        .await?
        .ok_or_else(|| {
            UserError::new(format!(
                "stage `{}` has no schedule to delete",
                config.stage
            ))
        })?;
    s.out.result(&deleted);
    Ok(0)
}
