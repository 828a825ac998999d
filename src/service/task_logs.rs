//! What a deployment's wait prints: the service's new events, and the logs of its new tasks, each
//! task followed from its start, with a warning when a task's log says it listens on loopback only.

use std::collections::HashSet;

use serde_json::Value;

use super::wait::WaitInput;
use crate::aws::Aws;
use crate::error::Result;
use crate::output::Output;
use crate::steps::logs::{self, Labels, Stream};
use crate::steps::loopback;
use crate::steps::run::parse_tasks;

/// The logs of the new revision's tasks, followed as they start, with the loopback warning.
pub(super) struct TaskLogs {
    targets: Vec<logs::LogTarget>,
    streams: Vec<Stream>,
    followed: HashSet<String>,
    ports: Vec<u16>,
    warned: HashSet<u16>,
}

impl TaskLogs {
    pub(super) fn new(definition: &Value) -> Self {
        TaskLogs {
            targets: logs::targets(definition),
            streams: Vec::new(),
            followed: HashSet::new(),
            ports: declared_ports(definition),
            warned: HashSet::new(),
        }
    }

    pub(super) async fn poll(
        &mut self,
        aws: &Aws,
        out: &Output,
        input: &WaitInput<'_>,
    ) -> Result<()> {
        let running = aws
            .service_tasks(input.cluster, input.service, "RUNNING")
            .await?;
        let fresh: Vec<String> = running
            .into_iter()
            .filter(|a| !self.followed.contains(a))
            .collect();
        if !fresh.is_empty() && !self.targets.is_empty() {
            let (tasks, _) = parse_tasks(&aws.describe_tasks(input.cluster, &fresh).await?)?;
            for t in tasks
                .iter()
                .filter(|t| t.task_definition_arn.as_deref() == Some(input.task_definition_arn))
            {
                self.followed.insert(t.task_arn.clone());
                self.streams.extend(
                    self.targets
                        .iter()
                        .map(|tg| Stream::new(tg, logs::task_id(&t.task_arn))),
                );
            }
        }
        let labels = Labels {
            task: true,
            container: self.targets.len() > 1,
        };
        logs::poll_seen(aws, out, &mut self.streams, labels, &mut |line| {
            if let Some((address, port)) = loopback::in_log_line(line, &self.ports) {
                if self.warned.insert(port) {
                    out.warn(loopback::warning(&address, port, "its log says so"));
                }
            }
        })
        .await?;
        Ok(())
    }
}

/// The container ports of the task definition's port mappings.
fn declared_ports(definition: &Value) -> Vec<u16> {
    definition["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["portMappings"].as_array().into_iter().flatten())
        .filter_map(|m| m["containerPort"].as_u64()?.try_into().ok())
        .collect()
}

/// New service events, oldest first; on the first look only the latest few.
pub(super) fn print_events(out: &Output, service: &Value, seen: &mut HashSet<String>, first: bool) {
    let events = service["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let limit = if first { 3 } else { events.len() };
    for e in events.iter().take(limit).rev() {
        let id = e["id"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| e.to_string());
        if seen.insert(id) {
            if let Some(m) = e["message"].as_str() {
                if out.json {
                    out.event("service_event", serde_json::json!({ "message": m }));
                } else {
                    out.status("Event", m);
                }
            }
        }
    }
    for e in events {
        if let Some(id) = e["id"].as_str() {
            seen.insert(id.to_string());
        }
    }
}
