//! `doctor`: every check, [ok]/[warn]/[fail]; non-zero on any fail.

use super::Session;
use crate::error::Result;

pub async fn run(s: &Session) -> Result<i32> {
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
