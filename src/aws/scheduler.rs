//! EventBridge Scheduler: the one schedule of a scheduled stage (default group), read, written
//! only when it differs, and deleted.

use aws_sdk_scheduler::types::{
    AssignPublicIp, AwsVpcConfiguration, EcsParameters, FlexibleTimeWindow, FlexibleTimeWindowMode,
    LaunchType, NetworkConfiguration, PropagateTags, RetryPolicy, ScheduleState, Target,
};
use serde::Serialize;

use super::Aws;
use crate::error::{Result, UserError};

/// Everything cargo-fargate sets on a schedule, in a form that compares equal whether built
/// from the configuration or read back with GetSchedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScheduleSpec {
    pub name: String,
    pub expression: String,
    pub timezone: String,
    pub enabled: bool,
    pub description: String,
    /// The cluster ARN the task runs in.
    pub cluster_arn: String,
    pub role_arn: String,
    pub task_definition_arn: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub platform_version: String,
    pub task_count: i32,
    /// How long, and how often, EventBridge retries a RunTask that fails (throttling, capacity).
    pub max_event_age_seconds: i32,
    pub max_retries: i32,
}

/// A schedule as GetSchedule reports it.
#[derive(Debug, Clone)]
pub struct FoundSchedule {
    pub spec: ScheduleSpec,
    pub arn: String,
    /// When it was last created or changed: a rate schedule counts from here.
    pub modified: Option<aws_smithy_types::DateTime>,
}

impl ScheduleSpec {
    fn target(&self) -> Result<Target> {
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(self.subnets.clone()))
            .set_security_groups(Some(self.security_groups.clone()))
            .assign_public_ip(if self.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()?;
        let ecs = EcsParameters::builder()
            .task_definition_arn(&self.task_definition_arn)
            .launch_type(LaunchType::Fargate)
            .platform_version(&self.platform_version)
            .task_count(self.task_count)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .propagate_tags(PropagateTags::TaskDefinition)
            .build()?;
        Ok(Target::builder()
            .arn(&self.cluster_arn)
            .role_arn(&self.role_arn)
            .ecs_parameters(ecs)
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_event_age_in_seconds(self.max_event_age_seconds)
                    .maximum_retry_attempts(self.max_retries)
                    .build(),
            )
            .build()?)
    }

    /// Reads back what [`ScheduleSpec::target`] wrote (sorted, defaults filled as AWS fills them).
    fn from_output(
        out: &aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput,
    ) -> ScheduleSpec {
        let target = out.target();
        let ecs = target.and_then(|t| t.ecs_parameters());
        let vpc = ecs
            .and_then(|e| e.network_configuration())
            .and_then(|n| n.awsvpc_configuration());
        let retry = target.and_then(|t| t.retry_policy());
        let mut subnets: Vec<String> = vpc.map(|v| v.subnets().to_vec()).unwrap_or_default();
        subnets.sort();
        let mut security_groups: Vec<String> = vpc
            .map(|v| v.security_groups().to_vec())
            .unwrap_or_default();
        security_groups.sort();
        ScheduleSpec {
            name: out.name().unwrap_or_default().to_string(),
            expression: out.schedule_expression().unwrap_or_default().to_string(),
            timezone: out
                .schedule_expression_timezone()
                .unwrap_or("UTC")
                .to_string(),
            enabled: out.state() != Some(&ScheduleState::Disabled),
            description: out.description().unwrap_or_default().to_string(),
            cluster_arn: target.map(|t| t.arn().to_string()).unwrap_or_default(),
            role_arn: target.map(|t| t.role_arn().to_string()).unwrap_or_default(),
            task_definition_arn: ecs
                .map(|e| e.task_definition_arn().to_string())
                .unwrap_or_default(),
            subnets,
            security_groups,
            assign_public_ip: vpc.and_then(|v| v.assign_public_ip())
                == Some(&AssignPublicIp::Enabled),
            platform_version: ecs
                .and_then(|e| e.platform_version())
                .unwrap_or("LATEST")
                .to_string(),
            task_count: ecs.and_then(|e| e.task_count()).unwrap_or(1),
            max_event_age_seconds: retry
                .and_then(|r| r.maximum_event_age_in_seconds())
                .unwrap_or(86400),
            max_retries: retry
                .and_then(|r| r.maximum_retry_attempts())
                .unwrap_or(185),
        }
    }
}

impl Aws {
    pub fn scheduler(&self) -> aws_sdk_scheduler::Client {
        self.scheduler
            .get_or_init(|| aws_sdk_scheduler::Client::new(&self.sdk))
            .clone()
    }

    /// The schedule `name` of the default group, or `None`.
    pub async fn get_schedule(&self, name: &str) -> Result<Option<FoundSchedule>> {
        match self.scheduler().get_schedule().name(name).send().await {
            Ok(out) => Ok(Some(FoundSchedule {
                spec: ScheduleSpec::from_output(&out),
                arn: out.arn().unwrap_or_default().to_string(),
                modified: out
                    .last_modification_date()
                    .or(out.creation_date())
                    .copied(),
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail(e, "scheduler:GetSchedule", |m| {
                UserError::new(format!("could not read schedule `{name}`: {m}"))
                    .fix("check your credentials and region (cargo fargate doctor)")
                    .into()
            })),
        }
    }

    /// Creates the schedule, or replaces its settings when `exists`; the schedule's ARN.
    pub async fn put_schedule(&self, spec: &ScheduleSpec, exists: bool) -> Result<String> {
        let target = spec.target()?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()?;
        let state = if spec.enabled {
            ScheduleState::Enabled
        } else {
            ScheduleState::Disabled
        };
        let refused = |m: String| -> anyhow::Error {
            UserError::new(format!(
                "EventBridge Scheduler refused schedule `{}`: {m}",
                spec.name
            ))
            .key("schedule")
            .fix("check `schedule`, `schedule-timezone` and the network keys (cargo fargate deploy --dry-run)")
            .into()
        };
        if exists {
            let out = self
                .scheduler()
                .update_schedule()
                .name(&spec.name)
                .schedule_expression(&spec.expression)
                .schedule_expression_timezone(&spec.timezone)
                .description(&spec.description)
                .state(state)
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .map_err(|e| self.fail(e, "scheduler:UpdateSchedule", refused))?;
            Ok(out.schedule_arn().to_string())
        } else {
            let out = self
                .scheduler()
                .create_schedule()
                // Retried, the same schedule is created once.
                .client_token(super::idempotency_token(
                    &[&spec.name, &spec.expression, &spec.task_definition_arn],
                    64,
                ))
                .name(&spec.name)
                .schedule_expression(&spec.expression)
                .schedule_expression_timezone(&spec.timezone)
                .description(&spec.description)
                .state(state)
                .flexible_time_window(window)
                .target(target)
                .send()
                .await
                .map_err(|e| self.fail(e, "scheduler:CreateSchedule", refused))?;
            Ok(out.schedule_arn().to_string())
        }
    }

    /// Deletes the schedule; `false` when there was none.
    pub async fn delete_schedule(&self, name: &str) -> Result<bool> {
        match self.scheduler().delete_schedule().name(name).send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail(e, "scheduler:DeleteSchedule", |m| {
                anyhow::anyhow!("deleting schedule {name}: {m}")
            })),
        }
    }
}
