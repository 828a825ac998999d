//! Scheduled jobs: a stage with `schedule = "cron(…)" | "rate(…)"` gets an EventBridge Scheduler
//! schedule `{project}-{stage}` (default group) that runs the newest registered revision on the
//! stage's cluster and network, with a role that may do only that.
//!
//! As with Copilot's scheduled jobs and ecschedule, `deploy` registers and schedules; it runs the
//! task now only when asked (`--run-now`). Two steps, like the roles: [`plan`] reads and checks
//! (nothing created), [`apply`] writes only what differs.

pub mod status;

use crate::iam::scheduler as role;

use std::fmt;

use serde::Serialize;

use crate::aws::scheduler::ScheduleSpec;
use crate::aws::{Aws, Identity};
use crate::config::{Config, Role};
use crate::error::Result;
use crate::output::Output;
use crate::steps::run::Network;

/// Launch settings every schedule gets.
const PLATFORM_VERSION: &str = "LATEST";
/// A RunTask EventBridge could not make (throttled, no capacity) is retried for an hour.
const MAX_EVENT_AGE_SECONDS: i32 = 3600;
const MAX_RETRIES: i32 = 10;

/// The schedule of a stage, checked, with what exists now.
#[derive(Debug, Clone)]
pub struct Plan {
    pub name: String,
    pub expression: String,
    pub timezone: String,
    pub cluster_arn: String,
    pub role: role::RolePlan,
    pub existing: Option<crate::aws::scheduler::FoundSchedule>,
}

/// Reads and checks what the stage's schedule needs (its role, the schedule that exists); `None`
/// for a stage without `schedule`. Creates nothing.
pub async fn plan(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    roles: &crate::iam::roles::Plan,
) -> Result<Option<Plan>> {
    let Some(schedule) = &config.schedule else {
        return Ok(None);
    };
    let region = aws.region();
    let scope = role::scope(
        config,
        identity,
        &region,
        &roles.task.arn,
        &roles.execution.arn,
    );
    let role = role::plan(aws, config, identity, &scope).await?;
    let name = crate::names::schedule(config);
    let existing = aws.get_schedule(&name).await?;
    Ok(Some(Plan {
        name,
        expression: schedule.expression.clone(),
        timezone: schedule.timezone.clone(),
        cluster_arn: role::cluster_arn(
            identity.partition(),
            &region,
            &identity.account,
            &config.names.cluster,
        ),
        role,
        existing,
    }))
}

impl Plan {
    /// The schedule as it must be, for a registered revision.
    pub fn spec(&self, config: &Config, network: &Network, task_definition: &str) -> ScheduleSpec {
        let mut subnets = network.subnets.clone();
        subnets.sort();
        let mut security_groups = network.security_groups.clone();
        security_groups.sort();
        ScheduleSpec {
            name: self.name.clone(),
            expression: self.expression.clone(),
            timezone: self.timezone.clone(),
            enabled: true,
            description: crate::names::schedule_description(config),
            cluster_arn: self.cluster_arn.clone(),
            role_arn: self.role.arn.clone(),
            task_definition_arn: task_definition.to_string(),
            subnets,
            security_groups,
            assign_public_ip: network.assign_public_ip,
            platform_version: PLATFORM_VERSION.into(),
            task_count: 1,
            max_event_age_seconds: MAX_EVENT_AGE_SECONDS,
            max_retries: MAX_RETRIES,
        }
    }

    /// What `deploy --dry-run` says of the schedule.
    pub fn describe(&self) -> (bool, String) {
        let what = format!(
            "{} ({} {}) with role {}{}",
            self.name,
            self.expression,
            self.timezone,
            self.role.name,
            if self.role.managed.as_ref().is_some_and(|m| !m.exists) {
                " (to create)"
            } else {
                ""
            }
        );
        match &self.existing {
            None => (true, format!("create schedule {what}")),
            Some(found)
                if found.spec.expression == self.expression
                    && found.spec.timezone == self.timezone =>
            {
                (
                    false,
                    format!("keep schedule {what}; its revision follows the task definition"),
                )
            }
            Some(_) => (true, format!("update schedule {what}")),
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleReport {
    pub name: String,
    pub arn: String,
    pub expression: String,
    pub timezone: String,
    pub task_definition: String,
    pub role: role::RoleState,
    pub created: bool,
    pub updated: bool,
}

/// Makes the role and the schedule match the plan, writing only what differs.
pub async fn apply(
    aws: &Aws,
    config: &Config,
    plan: &Plan,
    network: &Network,
    task_definition: &str,
    out: &Output,
) -> Result<ScheduleReport> {
    let role = role::apply(aws, &plan.role).await?;
    if role.created || !role.changes.is_empty() {
        out.status(
            if role.created { "Created" } else { "Updated" },
            format_args!("scheduler role {}", role.arn),
        );
    }
    let mut spec = plan.spec(config, network, task_definition);
    spec.role_arn = role.arn.clone();
    let (arn, created, updated) = match &plan.existing {
        Some(found) if found.spec == spec => (found.arn.clone(), false, false),
        Some(_) => {
            let arn = put(aws, &spec, true, role.created, out).await?;
            out.status(
                "Updated",
                format_args!("schedule {} ({})", spec.name, spec.expression),
            );
            (arn, false, true)
        }
        None => {
            let arn = put(aws, &spec, false, role.created, out).await?;
            out.status(
                "Created",
                format_args!("schedule {} ({})", spec.name, spec.expression),
            );
            (arn, true, false)
        }
    };
    Ok(ScheduleReport {
        name: spec.name,
        arn,
        expression: spec.expression,
        timezone: spec.timezone,
        task_definition: spec.task_definition_arn,
        role,
        created,
        updated,
    })
}

/// Writes the schedule. IAM takes a few seconds to make a new role usable everywhere: with a role
/// created just now, a refusal that names the role is retried for up to half a minute.
async fn put(
    aws: &Aws,
    spec: &ScheduleSpec,
    exists: bool,
    fresh_role: bool,
    out: &Output,
) -> Result<String> {
    const TRIES: u32 = 6;
    const EVERY: std::time::Duration = std::time::Duration::from_secs(5);
    let attempt = std::sync::atomic::AtomicU32::new(0);
    let refused = std::sync::Mutex::new(None);
    let what = format!(
        "IAM to make the new role {} usable by EventBridge Scheduler",
        spec.role_arn
    );
    // The tries are the limit; the deadline only bounds them (each call has its own timeout).
    let deadline = std::time::Instant::now() + (EVERY + crate::net::timeout()) * TRIES;
    let backoff = crate::net::poll::every(EVERY).with_max_times(TRIES as usize - 1);
    let put = crate::net::poll_until(&what, deadline, backoff, || async {
        let n = attempt.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        match aws.put_schedule(spec, exists).await {
            Err(e) if fresh_role && format!("{e:#}").to_ascii_lowercase().contains("role") => {
                if n < TRIES {
                    out.status("Waiting", format_args!("for {what} ({n}/{TRIES})"));
                }
                *refused.lock().expect("not poisoned") = Some(e);
                Ok(None)
            }
            other => other.map(Some),
        }
    })
    .await?;
    put.map_err(|timed_out| {
        let last = refused.lock().expect("not poisoned").take();
        last.unwrap_or_else(|| timed_out.into())
    })
}

impl fmt::Display for ScheduleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match (self.created, self.updated) {
            (true, _) => "created",
            (_, true) => "updated",
            _ => "unchanged",
        };
        write!(
            f,
            "{} {} in {} ({how})",
            self.name, self.expression, self.timezone
        )
    }
}

/// What `delete` removed of a scheduled stage.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleDeleted {
    pub schedule: String,
    pub schedule_deleted: bool,
    pub role: String,
    pub role_deleted: bool,
}

impl fmt::Display for ScheduleDeleted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gone = |b: bool| if b { "deleted" } else { "not found" };
        writeln!(
            f,
            "schedule         {} ({})",
            self.schedule,
            gone(self.schedule_deleted)
        )?;
        write!(
            f,
            "scheduler role   {} ({})",
            self.role,
            gone(self.role_deleted)
        )
    }
}

/// Deletes the stage's schedule, then its managed scheduler role (a given role is left alone);
/// `None` when the stage has no `schedule` and no schedule exists. Re-running converges.
pub async fn delete(aws: &Aws, config: &Config) -> Result<Option<ScheduleDeleted>> {
    let name = crate::names::schedule(config);
    let schedule_deleted = aws.delete_schedule(&name).await?;
    if !schedule_deleted && config.schedule.is_none() {
        return Ok(None);
    }
    let (role, role_deleted) = match &config.roles.scheduler {
        Role::Managed(role) => (role.clone(), role::delete(aws, role).await?),
        Role::Given(role) => (format!("{role} (given: kept)"), false),
    };
    Ok(Some(ScheduleDeleted {
        schedule: name,
        schedule_deleted,
        role,
        role_deleted,
    }))
}
