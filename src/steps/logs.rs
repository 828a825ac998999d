//! Task logs from CloudWatch Logs: followed live while `run` waits, and `cargo fargate logs [-f]`.
//!
//! A container with the awslogs driver writes to `<group>` / `<prefix>/<container>/<task id>`; both
//! come from the task definition (the rendered one for `run`, the latest registered for `logs`).

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Value};

use crate::aws::logs::LogEvent;
use crate::aws::Aws;
use crate::error::{Result, UserError};
use crate::net::poll::{every, poll_with};
use crate::output::Output;

/// Where one container of a task definition logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub container: String,
    pub group: String,
    pub prefix: String,
}

/// The awslogs targets of a task definition's containers.
pub fn targets(definition: &Value) -> Vec<LogTarget> {
    definition["containerDefinitions"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|c| c["logConfiguration"]["logDriver"] == "awslogs")
        .filter_map(|c| {
            let options = &c["logConfiguration"]["options"];
            Some(LogTarget {
                container: c["name"].as_str()?.to_string(),
                group: options["awslogs-group"].as_str()?.to_string(),
                prefix: options["awslogs-stream-prefix"].as_str()?.to_string(),
            })
        })
        .collect()
}

/// The short ID of a task ARN (its last path segment).
pub fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// One stream being followed, with the token to continue from.
#[derive(Debug, Clone)]
pub struct Stream {
    pub task: String,
    pub container: String,
    pub group: String,
    pub name: String,
    token: Option<String>,
}

impl Stream {
    pub fn new(target: &LogTarget, task_id: &str) -> Stream {
        Stream {
            task: task_id.to_string(),
            container: target.container.clone(),
            group: target.group.clone(),
            name: format!("{}/{}/{task_id}", target.prefix, target.container),
            token: None,
        }
    }
}

/// How log lines are shown: a `[task container]` prefix only when there is more than one of each.
#[derive(Debug, Clone, Copy)]
pub struct Labels {
    pub task: bool,
    pub container: bool,
}

pub fn print(out: &Output, labels: Labels, task: &str, container: &str, event: &LogEvent) {
    if out.json {
        out.event(
            "log",
            json!({ "task": task, "container": container, "timestamp": event.timestamp, "message": event.message }),
        );
        return;
    }
    let mut label = Vec::new();
    if labels.task {
        label.push(&task[..task.len().min(8)]);
    }
    if labels.container {
        label.push(container);
    }
    let text = event.message.trim_end_matches(['\n', '\r']);
    if label.is_empty() {
        out.line(text);
    } else {
        out.line(format_args!("[{}] {text}", label.join(" ")));
    }
}

/// Reads and prints what is new in each stream; the number of events printed.
pub async fn poll(
    aws: &Aws,
    out: &Output,
    streams: &mut [Stream],
    labels: Labels,
) -> Result<usize> {
    poll_seen(aws, out, streams, labels, &mut |_| {}).await
}

/// [`poll`], showing each message to `seen` too.
pub async fn poll_seen(
    aws: &Aws,
    out: &Output,
    streams: &mut [Stream],
    labels: Labels,
    seen: &mut (dyn FnMut(&str) + Send),
) -> Result<usize> {
    let mut printed = 0;
    for s in streams.iter_mut() {
        loop {
            let (events, next) = aws
                .stream_events(&s.group, &s.name, s.token.as_deref())
                .await?;
            let more = !events.is_empty() && next != s.token;
            s.token = next;
            for e in &events {
                print(out, labels, &s.task, &s.container, e);
                seen(&e.message);
            }
            printed += events.len();
            if !more {
                break;
            }
        }
    }
    Ok(printed)
}

/// `--since`: `90s`, `15m`, `2h`, `1d`, `1h30m` (humantime's durations).
pub fn parse_since(value: &str) -> Result<Duration, UserError> {
    humantime::parse_duration(value).map_err(|e| {
        UserError::new(format!("`{value}` is not a duration ({e})"))
            .at(crate::error::Location::Flag("--since".into()))
            .fix("write a number and a unit: 90s, 15m, 2h or 1d")
    })
}

/// Events already shown while following every task's streams, kept only as long as a re-read can
/// return them (from `start` on): following for days does not grow it.
#[derive(Debug, Default)]
pub struct Seen {
    keys: std::collections::HashMap<String, i64>,
}

impl Seen {
    /// True when the event is new (and now remembered).
    pub fn insert(&mut self, key: String, timestamp: i64) -> bool {
        self.keys.insert(key, timestamp).is_none()
    }

    /// Forgets events older than `start`: the next reads begin there.
    pub fn forget_before(&mut self, start: i64) {
        self.keys.retain(|_, t| *t >= start);
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

pub struct LogsInput<'a> {
    pub family: &'a str,
    pub follow: bool,
    pub task: Option<&'a str>,
    pub since: Duration,
    pub poll: Duration,
}

/// `cargo fargate logs`: how many events were shown, from where.
#[derive(Debug, Serialize)]
pub struct LogsReport {
    pub group: String,
    pub streams: Vec<String>,
    pub events: usize,
}

impl fmt::Display for LogsReport {
    fn fmt(&self, _f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The log lines themselves were the output.
        Ok(())
    }
}

/// Prints the family's log events (every task of the stage, or one), following with `-f` until
/// Ctrl-C.
pub async fn run(aws: &Aws, out: &Output, input: &LogsInput<'_>) -> Result<LogsReport> {
    let described = aws
        .latest_task_definition(input.family)
        .await?
        .ok_or_else(|| {
            UserError::new(format!(
                "no task definition of `{}` is registered, so there are no task logs",
                input.family
            ))
            .fix("deploy first: `cargo fargate setup` makes the stage, `cargo fargate deploy` registers and runs it")
        })?;
    let targets = targets(&described["taskDefinition"]);
    let first = targets.first().cloned().ok_or_else(|| {
        UserError::new(format!(
            "the latest `{}` task definition has no container with the awslogs log driver",
            input.family
        ))
        .fix("use the built-in template, or give the container an awslogs logConfiguration")
    })?;
    let labels = Labels {
        task: input.task.is_none(),
        container: targets.len() > 1,
    };
    let from = match input.task {
        Some(task) => Source::Task(targets.iter().map(|t| Stream::new(t, task)).collect()),
        None => Source::Every {
            start: now_ms() - input.since.as_millis() as i64,
            seen: Seen::default(),
        },
    };
    let mut reader = Reader {
        aws,
        out,
        input,
        targets: &targets,
        labels,
        from,
        events: 0,
    };
    let streams = reader.stream_names();
    let wait = poll_with(
        "new log events (Ctrl-C stops)",
        None,
        every(input.poll),
        &mut reader,
        |r| Box::pin(r.look()),
    );
    // Ctrl-C ends following, as `tail -f`: what was shown is the result.
    let mut interrupt = crate::interrupt::claim();
    tokio::select! {
        done = wait => done??,
        _ = interrupt.recv() => {}
    }
    Ok(LogsReport {
        group: first.group,
        streams,
        events: reader.events,
    })
}

/// Where `logs` reads: one task's streams (`--task`), or every task's under each container's
/// prefix from a time on, with the events already shown.
enum Source {
    Task(Vec<Stream>),
    Every { start: i64, seen: Seen },
}

/// What `logs` has shown so far and where it goes on from.
struct Reader<'a> {
    aws: &'a Aws,
    out: &'a Output,
    input: &'a LogsInput<'a>,
    targets: &'a [LogTarget],
    labels: Labels,
    from: Source,
    events: usize,
}

impl Reader<'_> {
    fn stream_names(&self) -> Vec<String> {
        match &self.from {
            Source::Task(streams) => streams.iter().map(|s| s.name.clone()).collect(),
            Source::Every { .. } => self
                .targets
                .iter()
                .map(|t| format!("{}/{}/*", t.prefix, t.container))
                .collect(),
        }
    }

    /// One look: the new events, printed; done unless following (`-f`) to a reader still there.
    async fn look(&mut self) -> Result<Option<()>> {
        match &mut self.from {
            Source::Task(streams) => {
                self.events += poll(self.aws, self.out, streams, self.labels).await?;
            }
            Source::Every { .. } => self.every_task().await?,
        }
        let done = !self.input.follow || self.out.stdout_closed();
        Ok(done.then_some(()))
    }

    /// Every task's new events since the start, each once.
    async fn every_task(&mut self) -> Result<()> {
        let Source::Every { start, seen } = &mut self.from else {
            return Ok(());
        };
        let mut newest = *start;
        for t in self.targets {
            let prefix = format!("{}/{}/", t.prefix, t.container);
            for e in self.aws.filter_events(&t.group, &prefix, *start).await? {
                let key = format!("{}:{}:{}:{}", e.stream, e.id, e.timestamp, e.message);
                if !seen.insert(key, e.timestamp) {
                    continue;
                }
                newest = newest.max(e.timestamp);
                print(self.out, self.labels, task_id(&e.stream), &t.container, &e);
                self.events += 1;
            }
        }
        // Re-read a little before the newest event seen: events can be ingested out of order
        // (already shown ones are skipped).
        *start = (*start).max(newest - 10_000);
        seen.forget_before(*start);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_come_from_awslogs_containers_only() {
        let td = json!({"containerDefinitions": [
            {"name": "app", "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/a-dev", "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "dev"}}},
            {"name": "sidecar", "logConfiguration": {"logDriver": "fluentd"}},
            {"name": "quiet"}
        ]});
        let t = targets(&td);
        assert_eq!(
            t,
            vec![LogTarget {
                container: "app".into(),
                group: "/ecs/a-dev".into(),
                prefix: "dev".into()
            }]
        );
        assert_eq!(Stream::new(&t[0], "abc123").name, "dev/app/abc123");
        assert_eq!(task_id("arn:aws:ecs:eu-west-1:1:task/c/abc123"), "abc123");
    }

    #[test]
    fn since_takes_a_unit() {
        assert_eq!(parse_since("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_since("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse_since("1h30m").unwrap(), Duration::from_secs(5400));
        let e = parse_since("2 fortnights").unwrap_err().to_string();
        assert!(
            e.starts_with("flag --since: `2 fortnights` is not a duration")
                && e.ends_with("; write a number and a unit: 90s, 15m, 2h or 1d"),
            "{e}"
        );
        assert!(parse_since("h").is_err());
    }

    #[test]
    fn the_seen_set_keeps_only_what_a_re_read_can_return() {
        let mut seen = Seen::default();
        // A day of following, one event a second, re-reading the last 10 s each round.
        for t in 0..86_400i64 {
            assert!(seen.insert(format!("s:{t}"), t * 1000));
            assert!(!seen.insert(format!("s:{t}"), t * 1000), "shown twice");
            seen.forget_before(t * 1000 - 10_000);
        }
        assert!(seen.len() <= 11, "{}", seen.len());
    }
}
