//! `status`, `rollback`, `scale`, `delete`: a long-running stage (service, web service or
//! schedule) once deployed.

use super::Session;
use crate::cli::{DeleteArgs, RollbackArgs, ScaleArgs};
use crate::error::{Result, UserError};

/// `status`: a scheduled stage's schedule (next runs, last exit codes); else the service or tasks.
pub async fn status(s: &Session) -> Result<i32> {
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

/// `rollback`: the service back to an earlier revision.
pub async fn rollback(s: &Session, args: RollbackArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let wait = args.wait.options();
    let aws = s.connect(&config).await?;
    let r = crate::service::status::rollback(&aws, &config, args.to, &wait, &s.out);
    s.out.result(&r.await?);
    Ok(0)
}

/// `scale`: the service's desired count.
pub async fn scale(s: &Session, args: ScaleArgs) -> Result<i32> {
    let (_, config) = s.load()?;
    let wait = args.wait.options();
    let aws = s.connect(&config).await?;
    let r = crate::service::status::scale(&aws, &config, args.count, &wait, &s.out);
    s.out.result(&r.await?);
    Ok(0)
}

/// `delete`: a scheduled stage's schedule and managed scheduler role; else the service.
pub async fn delete(s: &Session, args: DeleteArgs) -> Result<i32> {
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
