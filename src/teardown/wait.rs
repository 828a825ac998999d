//! Teardown's waits: ECS refuses to delete a cluster while tasks are stopping or a service is
//! draining, and Express Mode still needs its infrastructure role while it removes the load
//! balancer. Each wait says what it waits for and gives up with the fix.

use std::time::{Duration, Instant};

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::net::poll::{every, poll_until};
use crate::output::Output;

const POLL: Duration = Duration::from_secs(2);
const TASKS_LIMIT: Duration = Duration::from_secs(180);
/// Draining waits out the load balancer's deregistration delay (300 s by default).
const SERVICE_LIMIT: Duration = Duration::from_secs(600);

/// Waits until none of the family's tasks is RUNNING.
pub async fn tasks_stopped(
    aws: &Aws,
    config: &Config,
    tasks: &[String],
    out: &Output,
) -> Result<()> {
    if tasks.is_empty() {
        return Ok(());
    }
    let family = crate::names::family(config);
    out.status(
        "Waiting",
        format_args!("for {} tasks of {family} to stop", tasks.len()),
    );
    let deadline = Instant::now() + TASKS_LIMIT;
    let what = format!("tasks of {family} to stop");
    let stopped = poll_until(&what, deadline, every(POLL), || async {
        let running = aws
            .list_tasks(&config.names.cluster, &family, "RUNNING")
            .await?;
        Ok::<_, anyhow::Error>(running.is_empty().then_some(()))
    })
    .await?;
    stopped.map_err(|_| {
        UserError::new(format!("tasks of {family} did not stop within 3 minutes"))
            .fix("check them with `cargo fargate ps`, then run teardown again")
            .into()
    })
}

/// Whether the deleted service (and, for Express Mode, the Express service `express`) is gone.
async fn gone(aws: &Aws, config: &Config, name: &str, express: Option<&str>) -> Result<bool> {
    if let Some(arn) = express {
        if let Some(found) = aws.describe_express_service(arn).await? {
            if found["status"]["statusCode"] != "INACTIVE" {
                return Ok(false);
            }
        }
    }
    Ok(
        match aws.describe_service(&config.names.cluster, name).await? {
            None => true,
            Some(s) => s["status"] == "INACTIVE",
        },
    )
}

/// Waits until the deleted service has drained (INACTIVE).
pub async fn service_gone(
    aws: &Aws,
    config: &Config,
    name: &str,
    express: Option<&str>,
    out: &Output,
) -> Result<()> {
    if gone(aws, config, name, express).await? {
        return Ok(());
    }
    out.status(
        "Waiting",
        format_args!(
            "for service {name} to drain (at most {})",
            humantime::format_duration(SERVICE_LIMIT)
        ),
    );
    let deadline = Instant::now() + SERVICE_LIMIT;
    let what = format!("service {name} to drain");
    let drained = poll_until(&what, deadline, every(POLL), || async {
        Ok::<_, anyhow::Error>(gone(aws, config, name, express).await?.then_some(()))
    })
    .await?;
    drained.map_err(|_| {
        UserError::new(format!(
            "service {name} was deleted but had not drained within {}",
            humantime::format_duration(SERVICE_LIMIT)
        ))
        .fix("see `cargo fargate status`; run teardown again once it is INACTIVE")
        .into()
    })
}
