//! CloudWatch Logs: the log group (created with its retention) and reading a task's log events.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Aws;
use crate::error::{Result, UserError};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LogGroupState {
    pub name: String,
    pub created: bool,
    pub retention_updated: bool,
}

/// A log group as CloudWatch Logs describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogGroupFound {
    pub name: String,
    /// Without the `:*` DescribeLogGroups puts after it (the ARN tags are read by).
    pub arn: String,
    pub retention_days: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    pub stream: String,
    pub timestamp: i64,
    pub message: String,
    /// Unique within the group (filter_log_events) or empty (get_log_events).
    pub id: String,
}

impl Aws {
    /// The log group of exactly this name; `None` when it does not exist.
    pub async fn log_group(&self, name: &str) -> Result<Option<LogGroupFound>> {
        // Every page: groups are listed by name from the prefix on, so the exact name comes first
        // on AWS, but nothing in the API promises it.
        let mut pages = self
            .logs()
            .describe_log_groups()
            .log_group_name_prefix(name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.fail(e, "logs:DescribeLogGroups", |m| {
                    anyhow::Error::from({
                        UserError::new(format!("could not read log group `{name}`: {}", m))
                            .fix("your credentials need logs:DescribeLogGroups")
                    })
                })
            })?;
            if let Some(g) = page
                .log_groups()
                .iter()
                .find(|g| g.log_group_name() == Some(name))
            {
                return Ok(Some(LogGroupFound {
                    name: name.to_string(),
                    arn: g
                        .arn()
                        .unwrap_or_default()
                        .trim_end_matches(":*")
                        .to_string(),
                    retention_days: g.retention_in_days(),
                }));
            }
        }
        Ok(None)
    }

    /// A log group's tags.
    pub async fn log_group_tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let out = self
            .logs()
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "logs:ListTagsForResource", |m| {
                    anyhow::anyhow!("reading the tags of {arn}: {m}")
                })
            })?;
        Ok(out
            .tags()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect())
    }

    /// Tags a log group by its ARN (`adopt = true`: it becomes the stage's).
    pub async fn tag_log_group(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        self.logs()
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "logs:TagResource", |m| {
                    anyhow::anyhow!("tagging log group {arn}: {m}")
                })
            })?;
        Ok(())
    }

    pub async fn delete_log_group(&self, name: &str) -> Result<()> {
        self.logs()
            .delete_log_group()
            .log_group_name(name)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "logs:DeleteLogGroup", |m| {
                    anyhow::anyhow!("deleting log group {name}: {m}")
                })
            })?;
        Ok(())
    }

    /// Creates the group when missing and sets its retention when it differs.
    pub async fn ensure_log_group(
        &self,
        name: &str,
        retention_days: u32,
        tags: &BTreeMap<String, String>,
    ) -> Result<LogGroupState> {
        let logs = self.logs();
        let existing = self.log_group(name).await?.map(|g| g.retention_days);
        let mut state = LogGroupState {
            name: name.to_string(),
            created: false,
            retention_updated: false,
        };
        let current_retention = match existing {
            Some(r) => r,
            None => {
                let created = logs
                    .create_log_group()
                    .log_group_name(name)
                    .set_tags((!tags.is_empty()).then(|| tags.clone().into_iter().collect()))
                    .send()
                    .await;
                match created {
                    Ok(_) => state.created = true,
                    // Made meanwhile (another deploy of the stage): it exists, which is the goal.
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
                    Err(e) => {
                        return Err(self.fail(e, "logs:CreateLogGroup", |m| {
                            anyhow::Error::from({
                                UserError::new(format!(
                                    "could not create log group `{name}`: {}",
                                    m
                                ))
                                .fix("your credentials need logs:CreateLogGroup")
                            })
                        }))
                    }
                }
                None
            }
        };
        if current_retention != Some(retention_days as i32) {
            logs.put_retention_policy()
                .log_group_name(name)
                .retention_in_days(retention_days as i32)
                .send()
                .await
                .map_err(|e| {
                    self.fail(e, "logs:PutRetentionPolicy", |m| {
                        anyhow::anyhow!("setting the retention of {name}: {}", m)
                    })
                })?;
            state.retention_updated = !state.created;
        }
        Ok(state)
    }

    /// The next events of one stream after `token`, and the token to continue from. A stream that
    /// does not exist yet (the task has not logged) gives no events.
    pub async fn stream_events(
        &self,
        group: &str,
        stream: &str,
        token: Option<&str>,
    ) -> Result<(Vec<LogEvent>, Option<String>)> {
        let out = self
            .logs()
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(true)
            .set_next_token(token.map(str::to_string))
            .send()
            .await;
        match out {
            Ok(out) => {
                let events = out
                    .events()
                    .iter()
                    .map(|e| LogEvent {
                        stream: stream.to_string(),
                        timestamp: e.timestamp().unwrap_or_default(),
                        message: e.message().unwrap_or_default().to_string(),
                        id: String::new(),
                    })
                    .collect();
                let next = out
                    .next_forward_token()
                    .map(str::to_string)
                    .or_else(|| token.map(str::to_string));
                Ok((events, next))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok((Vec::new(), token.map(str::to_string)))
            }
            Err(e) => Err(self.fail(e, "logs:GetLogEvents", |m| {
                anyhow::anyhow!("reading log stream {group} {stream}: {}", m)
            })),
        }
    }

    /// Events of the streams starting with `prefix` since `start_ms`, oldest first.
    pub async fn filter_events(
        &self,
        group: &str,
        prefix: &str,
        start_ms: i64,
    ) -> Result<Vec<LogEvent>> {
        let mut pages = self
            .logs()
            .filter_log_events()
            .log_group_name(group)
            .log_stream_name_prefix(prefix)
            .start_time(start_ms)
            .into_paginator()
            .send();
        let mut events = Vec::new();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Err(UserError::new(format!("log group `{group}` does not exist"))
                        .key("log-group")
                        .fix("run a task first (cargo fargate run), or check the `log-group` setting")
                        .into())
                }
                Err(e) => {
                    return Err(self.fail(e, "logs:FilterLogEvents", |m| anyhow::anyhow!(
                        "reading log group {group}: {}",
                        m
                    )))
                }
            };
            events.extend(page.events().iter().map(|e| LogEvent {
                stream: e.log_stream_name().unwrap_or_default().to_string(),
                timestamp: e.timestamp().unwrap_or_default(),
                message: e.message().unwrap_or_default().to_string(),
                id: e.event_id().unwrap_or_default().to_string(),
            }));
        }
        events.sort_by_key(|e| e.timestamp);
        Ok(events)
    }
}
