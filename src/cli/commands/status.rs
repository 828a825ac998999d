//! `status`: a scheduled stage's schedule (next runs, last exit codes); else the service or tasks.

use super::Session;
use crate::error::{Result, UserError};

pub async fn run(s: &Session) -> Result<i32> {
    let (_, config) = s.load()?;
    let aws = s.connect(&config).await?;
    if config.schedule.is_some() {
        let status = crate::schedule::status::status(&aws, &config)
            .await?
            .ok_or_else(|| {
                UserError::new(format!("stage `{}` has no schedule", config.stage))
                    .fix("set `schedule = \"cron(…)\"` for a scheduled job; `cargo fargate ps` lists the stage's tasks")
            })?;
        s.out.result(&status);
        return Ok(0);
    }
    // The load balancer `setup` made: its URL (and target group) as deploy sees them.
    let attached = match &config.service.load_balancer {
        Some(_) => crate::service::balancer::attach(&aws, &config)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let config = attached.as_ref().unwrap_or(&config);
    let mut status = crate::service::status::status(&aws, config).await?;
    if let Some(url) = config
        .service
        .load_balancer
        .as_ref()
        .and_then(|l| l.url.clone())
    {
        status.url = Some(url);
    }
    s.out.result(&status);
    Ok(0)
}
