//! A started task followed to its end: its status as it changes and its containers' logs as they
//! are written, one look per turn on [`crate::net::poll`], with no deadline (the task ends it, or
//! Ctrl-C in the caller).

use crate::aws::Aws;
use crate::net::poll::{every, poll_with};
use crate::output::Output;
use crate::steps::logs::{self, Labels, Stream};

use super::{parse_tasks, RunInput, Task};

/// DescribeTasks answers of MISSING in a row before a task counts as lost.
const MISSING_POLLS: u32 = 3;

/// Polls the tasks until all have stopped, streaming their logs; their last state.
pub(super) async fn follow(
    aws: &Aws,
    out: &Output,
    input: &RunInput<'_>,
    arns: &[String],
) -> anyhow::Result<Vec<Task>> {
    let targets = logs::targets(input.definition);
    if targets.is_empty() {
        out.warn("the task definition has no awslogs container: not following logs");
    }
    let mut watch = Watch {
        aws,
        out,
        cluster: &input.config.names.cluster,
        arns,
        streams: arns
            .iter()
            .flat_map(|arn| targets.iter().map(|t| Stream::new(t, logs::task_id(arn))))
            .collect(),
        labels: Labels {
            task: arns.len() > 1,
            container: targets.len() > 1,
        },
        last_status: String::new(),
        missing_polls: 0,
        warned: false,
    };
    let what = format!("task {} to stop", arns.join(", task "));
    let stopped = poll_with(&what, None, every(input.poll), &mut watch, |w| {
        Box::pin(w.look())
    })
    .await?;
    Ok(stopped?)
}

/// What following the tasks has shown: each log stream's place, the last status line.
struct Watch<'a> {
    aws: &'a Aws,
    out: &'a Output,
    cluster: &'a str,
    arns: &'a [String],
    streams: Vec<Stream>,
    labels: Labels,
    last_status: String,
    missing_polls: u32,
    /// Whether the logs' failure was already told (once per run).
    warned: bool,
}

impl Watch<'_> {
    /// One look: the tasks' status and new log lines; the tasks once all have stopped.
    async fn look(&mut self) -> anyhow::Result<Option<Vec<Task>>> {
        let answer = self.aws.describe_tasks(self.cluster, self.arns).await?;
        let (tasks, failures) = parse_tasks(&answer)?;
        // ECS answers MISSING for a task it no longer knows (another account or region, or long
        // gone): asking again forever would hang.
        if tasks.len() < self.arns.len() && failures.iter().any(|f| f.contains("MISSING")) {
            self.missing_polls += 1;
            if self.missing_polls >= MISSING_POLLS {
                anyhow::bail!("ECS no longer knows the task ({})", failures.join("; "));
            }
        } else {
            self.missing_polls = 0;
        }
        // The logs are shown, not judged: a failure to fetch them is a warning, never the task's
        // result.
        if let Err(e) = logs::poll(self.aws, self.out, &mut self.streams, self.labels).await {
            self.logs_failed(&e);
        }
        let statuses: Vec<&str> = tasks.iter().map(|t| t.last_status.as_str()).collect();
        let status = statuses.join(", ");
        if status != self.last_status {
            self.out.status("Status", &status);
            self.last_status = status;
        }
        if tasks.is_empty() || tasks.iter().any(|t| t.last_status != "STOPPED") {
            return Ok(None);
        }
        // What the containers wrote last.
        loop {
            match logs::poll(self.aws, self.out, &mut self.streams, self.labels).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    self.logs_failed(&e);
                    break;
                }
            }
        }
        Ok(Some(tasks))
    }

    /// Once per run: the task's logs could not be fetched (the task is followed all the same).
    fn logs_failed(&mut self, e: &anyhow::Error) {
        if !std::mem::replace(&mut self.warned, true) {
            self.out.warn(format_args!(
                "could not fetch the task's logs ({e:#}); the task is still followed to its exit code: `cargo fargate logs` shows them later"
            ));
        }
    }
}
