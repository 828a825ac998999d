//! The container's life on the local engine: created, attached (so no output is lost), started, its
//! output streamed line by line, Ctrl-C forwarded (`docker stop` with the task's stop timeout: SIGTERM,
//! then SIGKILL; a second Ctrl-C kills at once), its exit code read, and the container removed —
//! whatever happened in between.

use std::io::Write;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, KillContainerOptions, RemoveContainerOptions,
    StopContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use serde_json::json;

use crate::error::Result;
use crate::output::Output;

/// How the container ended.
#[derive(Debug, Clone)]
pub struct Ended {
    /// `None` when it never started.
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    pub interrupted: bool,
    /// Why it did not start (the engine's message).
    pub start_error: Option<String>,
}

/// Names shown with each log line (`--message-format json`), as `run` labels CloudWatch's.
pub struct Labels<'a> {
    pub task: &'a str,
    pub container: &'a str,
}

/// Creates, runs and removes the container; see the module docs.
pub async fn run(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
    stop_timeout: i32,
    ports: &[u16],
    labels: &Labels<'_>,
    out: &Output,
) -> Result<Ended> {
    // Listen for Ctrl-C from before the container exists: from here on it is ours to stop.
    let interrupt = crate::interrupt::claim();
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.to_string()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(|e| anyhow::anyhow!("creating container {name}: {}", engine_message(e)))?;
    let id = created.id;
    let watch = Listeners::new(ports);
    let result = supervise(docker, &id, stop_timeout, watch, labels, interrupt, out).await;
    let removed = docker
        .remove_container(
            &id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await;
    if let Err(e) = removed {
        out.warn(format_args!(
            "container {name} was not removed ({}); remove it with `docker rm -f {name}`",
            engine_message(e)
        ));
    }
    result
}

async fn supervise(
    docker: &Docker,
    id: &str,
    stop_timeout: i32,
    mut watch: Listeners,
    labels: &Labels<'_>,
    mut interrupt: crate::interrupt::Claim,
    out: &Output,
) -> Result<Ended> {
    let attached = docker
        .attach_container(
            id,
            Some(AttachContainerOptions {
                stream: true,
                logs: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| anyhow::anyhow!("attaching to container {id}: {}", engine_message(e)))?;
    let mut ended = Ended {
        exit_code: None,
        oom_killed: false,
        interrupted: false,
        start_error: None,
    };
    if let Err(e) = docker.start_container(id, None).await {
        ended.start_error = Some(engine_message(e));
        return Ok(ended);
    }
    let mut output = attached.output;
    let mut lines = Lines::default();
    loop {
        let event = tokio::select! {
            item = output.next() => Some(item),
            _ = interrupt.recv() => None,
            _ = tokio::time::sleep(Listeners::EVERY), if watch.active() => {
                watch.look(docker, id, out).await;
                continue;
            }
        };
        match event {
            Some(Some(Ok(chunk))) => lines.push(chunk, labels, out),
            Some(Some(Err(e))) => {
                out.verbose(format_args!("the container's output ended: {e}"));
                break;
            }
            Some(None) => break,
            None => {
                // A second Ctrl-C kills.
                let docker = docker.clone();
                let id = id.to_string();
                if ended.interrupted {
                    out.status("Killing", format_args!("container {}", labels.task));
                    tokio::spawn(async move {
                        let _ = docker
                            .kill_container(&id, None::<KillContainerOptions>)
                            .await;
                    });
                } else {
                    ended.interrupted = true;
                    out.status(
                        "Stopping",
                        format_args!(
                            "container {} (SIGTERM, SIGKILL after {stop_timeout}s; Ctrl-C again to kill it now)",
                            labels.task
                        ),
                    );
                    tokio::spawn(async move {
                        let options = StopContainerOptions {
                            t: Some(stop_timeout),
                            signal: None,
                        };
                        let _ = docker.stop_container(&id, Some(options)).await;
                    });
                }
            }
        }
    }
    lines.flush(labels, out);
    // The output ends when the process does; the engine may take a moment to record its state.
    let mut wait = docker.wait_container(id, None);
    while wait.next().await.is_some() {}
    let state = docker
        .inspect_container(id, None)
        .await
        .map_err(|e| anyhow::anyhow!("inspecting container {id}: {}", engine_message(e)))?
        .state
        .unwrap_or_default();
    ended.exit_code = state.exit_code;
    ended.oom_killed = state.oom_killed.unwrap_or(false);
    Ok(ended)
}

/// Watches the container's sockets for a declared port listened on only on loopback, for its first
/// half minute: read from `/proc/<pid>/net/tcp{,6}` (its network namespace's table), which a local
/// Linux engine shares with us; elsewhere (Docker Desktop's VM, a remote engine) nothing is said.
struct Listeners {
    ports: Vec<u16>,
    until: std::time::Instant,
}

impl Listeners {
    const EVERY: std::time::Duration = std::time::Duration::from_millis(500);

    fn new(ports: &[u16]) -> Listeners {
        Listeners {
            ports: ports.to_vec(),
            until: std::time::Instant::now() + std::time::Duration::from_secs(30),
        }
    }

    fn active(&self) -> bool {
        !self.ports.is_empty() && std::time::Instant::now() < self.until
    }

    async fn look(&mut self, docker: &Docker, id: &str, out: &Output) {
        let pid = match docker.inspect_container(id, None).await {
            Ok(c) => c.state.and_then(|s| s.pid).filter(|p| *p > 0),
            Err(_) => None,
        };
        let Some(pid) = pid else { return };
        let read = |f: &str| std::fs::read_to_string(format!("/proc/{pid}/net/{f}"));
        let (Ok(tcp), tcp6) = (read("tcp"), read("tcp6").unwrap_or_default()) else {
            self.ports.clear(); // not a table we can read: say nothing
            return;
        };
        for (address, port) in crate::steps::loopback::loopback_only(&tcp, &tcp6, &self.ports) {
            out.warn(crate::steps::loopback::warning(
                &address,
                port,
                "its socket table",
            ));
            self.ports.retain(|p| *p != port);
        }
    }
}

/// The engine's own message, without bollard's wrapping.
pub fn engine_message(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        bollard::errors::Error::DockerStreamError { error } => error,
        other => other.to_string(),
    }
    .trim()
    .to_string()
}

/// Output arrives in chunks; whole lines are printed, per stream.
#[derive(Default)]
struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Lines {
    fn push(&mut self, chunk: bollard::container::LogOutput, labels: &Labels, out: &Output) {
        use bollard::container::LogOutput;
        let (buffer, stderr) = match &chunk {
            LogOutput::StdErr { .. } => (&mut self.stderr, true),
            _ => (&mut self.stdout, false),
        };
        buffer.extend_from_slice(chunk.as_ref());
        while let Some(i) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=i).collect();
            print(&line[..line.len() - 1], stderr, labels, out);
        }
    }

    fn flush(&mut self, labels: &Labels, out: &Output) {
        for (buffer, stderr) in [(&mut self.stdout, false), (&mut self.stderr, true)] {
            if !buffer.is_empty() {
                print(buffer, stderr, labels, out);
                buffer.clear();
            }
        }
    }
}

/// One line: the container's stdout to stdout and stderr to stderr; with `--message-format json`,
/// both as `{"type":"log",…}` events on stdout.
fn print(line: &[u8], stderr: bool, labels: &Labels, out: &Output) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches('\r');
    if out.json {
        out.event(
            "log",
            json!({
                "task": labels.task,
                "container": labels.container,
                "stream": if stderr { "stderr" } else { "stdout" },
                "timestamp": crate::steps::logs::now_ms(),
                "message": text,
            }),
        );
    } else if stderr {
        crate::output::write_stderr(format_args!("{text}\n"));
    } else {
        // A closed pipe (`| head`) is the reader's choice, not an error.
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }
}
