//! One CodeBuild build followed to its end: phases as they finish (each once), its CloudWatch log
//! as it is written, and on failure the failing phase and the log's tail. Ctrl-C stops following
//! (and, asked to, the build).

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use aws_sdk_codebuild::types::Build;

use crate::aws::Aws;
use crate::error::{Result, UserError};
use crate::net::poll::{every, poll_with};
use crate::output::{write_stderr, Output};

/// Lines of the log kept for a failure's message.
const TAIL: usize = 40;
/// How often the build and its log are read.
const POLL: Duration = Duration::from_secs(2);

/// What following a build saw.
pub struct Followed {
    pub build: Build,
    pub seconds: f64,
}

fn status(b: &Build) -> &str {
    b.build_status()
        .map(|s| s.as_str())
        .unwrap_or("IN_PROGRESS")
}

/// Follows build `id` until CodeBuild reports it done, succeeded or not (a failure is an error,
/// with the failing phase and the log tail). `timeout_minutes` bounds the wait, with slack for
/// the queue and the last phases.
pub async fn follow(
    aws: &Aws,
    id: &str,
    timeout_minutes: u32,
    stop_on_interrupt: bool,
    out: &Output,
) -> Result<Followed> {
    let started = Instant::now();
    let limit = Duration::from_secs(u64::from(timeout_minutes) * 60 + 15 * 60);
    let mut watch = Watch {
        aws,
        id,
        out,
        spinner: out.spinner("Building"),
        printed: BTreeSet::new(),
        tail: VecDeque::new(),
        token: None,
        log_at: None,
    };
    let mut interrupt = crate::interrupt::claim();
    let mut stopping = false;
    let what = format!("CodeBuild build {id}");
    let done = loop {
        let wait = poll_with(&what, started + limit, every(POLL), &mut watch, |w| {
            Box::pin(w.look())
        });
        tokio::select! {
            done = wait => break done?,
            _ = interrupt.recv() => {}
        }
        if !stop_on_interrupt || stopping {
            watch.spinner.finish_and_clear();
            return Err(interrupted(id, stopping));
        }
        stopping = true;
        watch.spinner.suspend(|| {
            out.status(
                "Stopping",
                format_args!("CodeBuild build {id} (Ctrl-C again: stop following)"),
            )
        });
        aws.stop_codebuild(id).await?;
    };
    watch.spinner.finish_and_clear();
    let Ok(build) = done else {
        return Err(UserError::new(format!(
            "CodeBuild still reports build {id} in progress {} minutes after it started, past its {timeout_minutes}-minute timeout",
            started.elapsed().as_secs() / 60
        ))
        .fix(format!("check it with `aws codebuild batch-get-builds --ids {id}`"))
        .into());
    };
    if stopping {
        // Ctrl-C asked for the stop: the command ends there, however the build ended.
        return Err(interrupted_stopped(id, status(&build)));
    }
    if status(&build) != "SUCCEEDED" {
        return Err(failure(&build, &watch.tail, watch.log_at.as_ref(), out));
    }
    Ok(Followed {
        build,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Ctrl-C while following: the build goes on (or is stopping); one line says how to see or stop
/// it, with exit code 130.
fn interrupted(id: &str, stopping: bool) -> anyhow::Error {
    let what = if stopping {
        "stopping was asked for; it ends shortly"
    } else {
        "it goes on"
    };
    let left = UserError::new(format!(
        "interrupted: stopped following CodeBuild build {id}; {what}"
    ))
    .fix(format!("see it with `aws codebuild batch-get-builds --ids {id}`; stop it with `aws codebuild stop-build --id {id}`, or pass --stop-on-interrupt so Ctrl-C stops the build"));
    crate::error::Exit::interrupted(left)
}

/// Ctrl-C with `--stop-on-interrupt`: the build was stopped (or ended first); exit code 130.
fn interrupted_stopped(id: &str, status: &str) -> anyhow::Error {
    let ended = UserError::new(format!(
        "interrupted: CodeBuild build {id} was asked to stop and ended {status}; nothing after the build was done"
    ))
    .fix("run the command again to build and go on");
    crate::error::Exit::interrupted(ended)
}

/// What following a build has shown so far: the phases printed, the log's token and its tail.
/// Each change is made as soon as it is shown, so a look dropped halfway (Ctrl-C) repeats nothing.
struct Watch<'a> {
    aws: &'a Aws,
    id: &'a str,
    out: &'a Output,
    spinner: indicatif::ProgressBar,
    printed: BTreeSet<String>,
    tail: VecDeque<String>,
    token: Option<String>,
    log_at: Option<(String, String)>,
}

impl Watch<'_> {
    /// One look: the build, its new log lines and finished phases; the build once it is done.
    async fn look(&mut self) -> Result<Option<Build>> {
        let b = self.aws.codebuild_build(self.id).await?;
        if self.log_at.is_none() {
            self.log_at = b
                .logs()
                .and_then(|l| Some((l.group_name()?.to_string(), l.stream_name()?.to_string())));
        }
        self.read_log().await?;
        self.show_phases(&b);
        self.spinner.set_message(format!(
            "build {}: {}",
            self.id,
            b.current_phase().unwrap_or("QUEUED")
        ));
        if status(&b) == "IN_PROGRESS" {
            return Ok(None);
        }
        if self.log_at.is_some() {
            // The log's last lines may land after the status changes.
            tokio::time::sleep(Duration::from_millis(500)).await;
            self.read_log().await?;
        }
        Ok(Some(b))
    }

    /// Shows each phase once, as it finishes.
    fn show_phases(&mut self, b: &Build) {
        for p in b.phases() {
            let Some(st) = p.phase_status() else { continue };
            let kind = p.phase_type().map(|t| t.as_str()).unwrap_or("?");
            if !self.printed.insert(kind.to_string()) {
                continue;
            }
            let secs = p.duration_in_seconds().unwrap_or(0);
            if self.out.json {
                self.out.event(
                    "build_phase",
                    serde_json::json!({ "phase": kind, "status": st.as_str(), "seconds": secs }),
                );
            } else {
                self.spinner.suspend(|| {
                    self.out
                        .status("Phase", format_args!("{kind} {} ({secs}s)", st.as_str()))
                });
            }
        }
    }

    /// Prints the log events after the token, page by page, moving the token on with each.
    async fn read_log(&mut self) -> Result<()> {
        let Some((group, stream)) = self.log_at.clone() else {
            return Ok(());
        };
        loop {
            let (events, next) = self
                .aws
                .stream_events(&group, &stream, self.token.as_deref())
                .await?;
            let done = events.is_empty() || next == self.token;
            for e in events {
                for line in e.message.lines() {
                    self.show_line(crate::build::strip_ansi(line).trim_end().to_string());
                }
            }
            self.token = next;
            if done {
                return Ok(());
            }
        }
    }

    fn show_line(&mut self, line: String) {
        if self.out.json {
            self.out
                .event("build_log", serde_json::json!({ "line": line }));
        } else if self.out.shows_progress() {
            // Indented: a compiler's `error:` line is the build's, not this command's.
            self.spinner
                .suspend(|| write_stderr(format_args!("  {line}\n")));
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }
}

/// The one-line error of a failed build: status, the failing phase and what CodeBuild said of it,
/// the first compiler `error` line of the tail; the tail itself printed above it.
fn failure(
    build: &Build,
    tail: &VecDeque<String>,
    log: Option<&(String, String)>,
    out: &Output,
) -> anyhow::Error {
    let id = build.id().unwrap_or_default();
    let st = status(build);
    let phase = build
        .phases()
        .iter()
        .find(|p| p.phase_status().is_some_and(|s| s.as_str() != "SUCCEEDED"));
    let phase_name = phase
        .and_then(|p| p.phase_type())
        .map(|t| t.as_str().to_string())
        .or_else(|| build.current_phase().map(str::to_string))
        .unwrap_or_else(|| "?".into());
    let said = phase
        .and_then(|p| p.contexts().iter().find_map(|c| c.message()))
        .filter(|m| !m.is_empty())
        .map(|m| match m.rsplit_once("Reason: ") {
            // `Error while executing command: <the whole command>. Reason: exit status 1`
            Some((_, reason)) => format!(" (a command ended with {})", reason.trim()),
            None => format!(" ({})", crate::build::shorten(m, 120)),
        })
        .unwrap_or_default();
    let lines: Vec<&String> = tail.iter().collect();
    if out.json {
        out.event(
            "build_output",
            serde_json::json!({ "phase": phase_name, "lines": lines }),
        );
    } else if !out.shows_progress() {
        // With --quiet the log was not shown as it came: its tail now.
        write_stderr(format_args!("last lines of the build log:\n"));
        for l in &lines {
            write_stderr(format_args!("  {l}\n"));
        }
    }
    let cause = lines
        .iter()
        .find(|l| l.trim_start().starts_with("error"))
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    let where_log = match log {
        Some((g, s)) => format!("full log: `aws logs tail {g} --log-stream-names {s}`"),
        None => format!("`aws codebuild batch-get-builds --ids {id}`"),
    };
    let fix = match st {
        "TIMED_OUT" => {
            format!("raise `codebuild-timeout` (minutes) or make the build faster; {where_log}")
        }
        "STOPPED" => format!("it was stopped; run again to build; {where_log}"),
        _ => format!("see the build log above; {where_log}"),
    };
    UserError::new(format!(
        "CodeBuild build {id} {st} in phase {phase_name}{said}{cause}"
    ))
    .fix(fix)
    .into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_is_dropped() {
        assert_eq!(
            crate::build::strip_ansi(
                "\x1b[0m\x1b[91merror[E0308]\x1b[0m\x1b[91m: mismatched types"
            ),
            "error[E0308]: mismatched types"
        );
    }
}
