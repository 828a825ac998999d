//! The `docker` builder: the workspace root (filtered like the source archive) sent to the Docker
//! Engine as a tar stream through bollard, with the Dockerfile and a manifest skeleton for the
//! dependency layer. The classic builder needs nothing beyond the engine.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use bollard::query_parameters::BuildImageOptions;
use bollard::Docker;
use futures_util::StreamExt;

use super::{BuildOutput, DockerfileSource, Plan};
use crate::config::Config;
use crate::error::{display_path, innermost, Location, Result, UserError};
use crate::output::Output;
use crate::project::Project;

/// Where the skeleton and the template Dockerfile sit inside the context.
const SKELETON: &str = ".cargo-fargate/skeleton";
const TEMPLATE_PATH: &str = ".cargo-fargate/Dockerfile";

/// The next report of an Engine stream that moves data (push, pull, load): silence longer than
/// `limit` means the other end stalls, and ends the wait as `stalled(seconds)` instead of hanging.
pub async fn next_report<S>(
    stream: &mut S,
    limit: Duration,
    stalled: impl FnOnce(u64) -> anyhow::Error,
) -> Result<Option<S::Item>>
where
    S: futures_util::Stream + Unpin,
{
    tokio::time::timeout(limit, stream.next())
        .await
        .map_err(|_| stalled(limit.as_secs()))
}

/// The Docker Engine, as DOCKER_HOST (or the default socket) names it; fails with the fix when no
/// daemon answers. Large contexts and long builds outlive bollard's 120 s default.
pub async fn connect() -> Result<Docker> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let down = |detail: String| -> anyhow::Error {
        UserError::new(format!("no Docker daemon answers at {host} ({detail})"))
            .fix("start Docker, point DOCKER_HOST at a running daemon, or use `builder = \"host\"`")
            .into()
    };
    let docker = Docker::connect_with_defaults()
        .map_err(|e| down(e.to_string()))?
        .with_timeout(Duration::from_secs(3600));
    match tokio::time::timeout(
        crate::net::timeout().min(Duration::from_secs(30)),
        docker.ping(),
    )
    .await
    {
        Ok(answer) => answer.map_err(|e| down(innermost(&e)))?,
        Err(_) => return Err(down("it accepted the connection but did not answer".into())),
    };
    Ok(docker)
}

/// A stub source for a target of this kind: enough for cargo to build the dependency graph.
fn stub(kind: &str) -> &'static str {
    match kind {
        "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro" => "",
        _ => "fn main() {}\n",
    }
}

/// The build context: the project's files, the skeleton (manifests, lockfile, stub sources) and the
/// template Dockerfile, as a tar with fixed owners, modes and timestamps.
pub fn context(project: &Project, plan: &Plan) -> Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, data)
            .with_context(|| format!("adding {name} to the build context"))?;
        Ok(())
    };
    for e in &plan.entries {
        let data =
            std::fs::read(&e.path).with_context(|| format!("reading {}", e.path.display()))?;
        add(&e.name, &data, if e.executable { 0o755 } else { 0o644 })?;
    }
    let root = &project.workspace_root;
    let mut skeleton: Vec<(String, Vec<u8>)> = Vec::new();
    let rel = |p: &Path| {
        p.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/")
    };
    for name in [
        "Cargo.toml",
        "Cargo.lock",
        ".cargo/config.toml",
        ".cargo/config",
        "rust-toolchain.toml",
        "rust-toolchain",
    ] {
        if let Ok(data) = std::fs::read(root.join(name)) {
            skeleton.push((name.to_string(), data));
        }
    }
    for member in &project.members {
        let data = std::fs::read(root.join(&member.manifest))
            .with_context(|| format!("reading {}", member.manifest.display()))?;
        skeleton.push((rel(&member.manifest), data));
        for (kind, src) in &member.targets {
            skeleton.push((rel(src), stub(kind).as_bytes().to_vec()));
        }
    }
    skeleton.sort_by(|a, b| a.0.cmp(&b.0));
    skeleton.dedup_by(|a, b| a.0 == b.0);
    for (name, data) in skeleton {
        add(&format!("{SKELETON}/{name}"), &data, 0o644)?;
    }
    if dockerfile_in_context(project, plan) == TEMPLATE_PATH {
        add(TEMPLATE_PATH, plan.dockerfile_text.as_bytes(), 0o644)?;
    }
    Ok(tar.into_inner()?)
}

/// The Dockerfile's path inside the context: the template's, or the user's relative to the root
/// (a Dockerfile outside the workspace is sent in the template's place).
fn dockerfile_in_context(project: &Project, plan: &Plan) -> String {
    match &plan.dockerfile {
        DockerfileSource::Template => TEMPLATE_PATH.into(),
        DockerfileSource::User { path } => match path.strip_prefix(&project.workspace_root) {
            Ok(rel) => rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            Err(_) => TEMPLATE_PATH.into(),
        },
    }
}

/// The directory cargo writes a profile's artifacts to.
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }
}

pub async fn build(
    project: &Project,
    config: &Config,
    plan: Plan,
    out: &Output,
) -> Result<BuildOutput> {
    let docker = connect().await?;
    let started = Instant::now();
    let image = format!("{}:{}", config.repository, plan.content_tag);
    let context = context(project, &plan)?;
    let features = if config.features.is_empty() {
        String::new()
    } else {
        format!("--features {}", config.features.join(","))
    };
    let locked = if project.workspace_root.join("Cargo.lock").is_file() {
        "--locked"
    } else {
        ""
    };
    let buildargs = HashMap::from([
        ("BUILDER_IMAGE".to_string(), config.builder_image.clone()),
        ("RUNTIME_IMAGE".to_string(), config.runtime_image.clone()),
        ("BIN".to_string(), config.bin.clone()),
        ("PROFILE".to_string(), config.cargo_profile.clone()),
        (
            "PROFILE_DIR".to_string(),
            profile_dir(&config.cargo_profile).to_string(),
        ),
        ("FEATURES".to_string(), features),
        ("LOCKED".to_string(), locked.to_string()),
    ]);
    let options = BuildImageOptions {
        dockerfile: dockerfile_in_context(project, &plan),
        t: Some(image.clone()),
        rm: true,
        forcerm: true,
        buildargs: Some(buildargs),
        labels: Some(plan.labels.clone().into_iter().collect()),
        platform: plan.platform.to_string(),
        ..Default::default()
    };

    let log_path = project
        .target_dir
        .join("fargate")
        .join(format!("build-{}-{}.log", config.project, config.stage));
    std::fs::create_dir_all(log_path.parent().unwrap_or(Path::new(".")))?;
    let mut log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    out.status(
        "Building",
        format_args!(
            "{image} for {} ({} files in the context, {} bytes)",
            plan.platform,
            plan.entries.len(),
            context.len()
        ),
    );

    let spinner = out.spinner("Building");
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut step = String::new();
    let mut pending = String::new();
    let mut step_output: Vec<String> = Vec::new();
    let mut failure: Option<String> = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(text) = info.stream.as_deref() {
                    // Output arrives in arbitrary chunks, coloured by the engine: plain text to the
                    // log, whole lines to the display.
                    let text = strip_ansi(text);
                    log.write_all(text.as_bytes())?;
                    pending.push_str(&text);
                    while let Some(i) = pending.find('\n') {
                        let line: String = pending.drain(..=i).collect();
                        let line = line.trim_end();
                        if line.trim().is_empty() {
                            continue;
                        }
                        if line.starts_with("Step ") {
                            step = line.to_string();
                            step_output.clear();
                            spinner.set_message(line.to_string());
                            if out.json {
                                out.event("build_step", serde_json::json!({ "step": line }));
                            } else if out.plain_progress() {
                                eprintln!("{:>12} {line}", "");
                            }
                        } else {
                            // The engine's own bookkeeping says nothing about the step.
                            if !(line.starts_with(" ---> ")
                                || line.starts_with("Removing intermediate container"))
                            {
                                step_output.push(line.to_string());
                            }
                            if out.is_verbose() {
                                spinner.suspend(|| eprintln!("{line}"));
                            }
                        }
                    }
                }
                if let Some(detail) = info.error_detail {
                    let message = detail.message.unwrap_or_default();
                    writeln!(log, "{message}")?;
                    failure = Some(message);
                }
            }
            // A failing step arrives as a stream error; anything else is the engine refusing the build.
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                writeln!(log, "{error}")?;
                failure = Some(error);
                break;
            }
            Err(e) => {
                spinner.finish_and_clear();
                return Err(engine_error(e, &plan, project));
            }
        }
    }
    spinner.finish_and_clear();
    if let Some(message) = failure {
        // The failing step's own output, then one line that says what failed and where the log is.
        let tail: Vec<&String> = step_output
            .iter()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if out.json {
            out.event(
                "build_output",
                serde_json::json!({ "step": step, "lines": tail }),
            );
        } else {
            eprintln!("{step}");
            for line in &tail {
                eprintln!("  {line}");
            }
        }
        // The cause in the error line itself (cargo's first `error…` line), so CI logs that keep
        // only the last line still say why.
        let cause = tail
            .iter()
            .find(|l| l.trim_start().starts_with("error"))
            .map(|l| format!(": {}", l.trim()))
            .unwrap_or_default();
        let hint = if message.contains("exec format error") {
            "; the engine cannot run this platform's binaries: build on a matching host or with `builder = \"codebuild\"`"
        } else if step.contains(" : FROM ") {
            "; the base image could not be had: check `builder-image` / `runtime-image` and that the engine can pull them"
        } else {
            ""
        };
        let short = |s: &str| {
            if s.chars().count() > 90 {
                format!("{}…", s.chars().take(90).collect::<String>())
            } else {
                s.to_string()
            }
        };
        let why = match message.rsplit_once("returned a non-zero code: ") {
            Some((_, code)) => format!("exit code {}", code.trim()),
            None => message.trim().to_string(),
        };
        let (at, instruction) = step.split_once(" : ").unwrap_or((step.as_str(), ""));
        let shown = if out.json {
            "the step's output is in the `build_output` event"
        } else {
            "see the step's output above"
        };
        return Err(UserError::new(format!(
            "the image build failed at {at} `{}`: {why}{cause}",
            short(instruction)
        ))
        .fix(format!(
            "{shown}; full log: {}{hint}",
            display_path(&log_path)
        ))
        .into());
    }

    let inspect = docker
        .inspect_image(&image)
        .await
        .with_context(|| format!("inspecting {image}"))?;
    Ok(BuildOutput {
        size: inspect.size.unwrap_or(0).max(0) as u64,
        log: Some(log_path),
        seconds: started.elapsed().as_secs_f64(),
        artifact: super::Artifact::Docker {
            tag: image,
            id: inspect.id.unwrap_or_default(),
        },
        plan,
    })
}

/// Drops terminal colour sequences (`ESC [ … m`) the engine wraps a step's stderr in.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Errors the engine sends before the build starts, e.g. a Dockerfile it cannot parse.
fn engine_error(e: bollard::errors::Error, plan: &Plan, project: &Project) -> anyhow::Error {
    let message = match &e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => innermost(other),
    };
    let file: PathBuf = match &plan.dockerfile {
        DockerfileSource::User { path } => path.clone(),
        DockerfileSource::Template => project.workspace_root.join(TEMPLATE_PATH),
    };
    if message.contains("dockerfile parse error")
        || message.contains("unknown instruction")
        || message.contains("Dockerfile")
    {
        let line = message
            .split("line ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok());
        // "dockerfile parse error line 1: unknown instruction: FORM" → "unknown instruction: FORM"
        let what = match message.find("line ") {
            Some(i) => message[i..]
                .split_once(": ")
                .map(|(_, rest)| rest)
                .unwrap_or(&message),
            None => &message,
        };
        let what = what.trim().to_string();
        return UserError::new(format!("the Docker Engine refused the Dockerfile: {what}"))
            .at(Location::file(&file, line))
            .fix("fix the Dockerfile at that line")
            .into();
    }
    UserError::new(format!(
        "the Docker Engine failed the build: {}",
        message.trim()
    ))
    .fix("check the engine's log")
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_build_for_every_kind() {
        assert_eq!(stub("lib"), "");
        assert_eq!(stub("proc-macro"), "");
        assert_eq!(stub("bin"), "fn main() {}\n");
        assert_eq!(stub("custom-build"), "fn main() {}\n");
        assert_eq!(profile_dir("dev"), "debug");
        assert_eq!(profile_dir("release"), "release");
        assert_eq!(profile_dir("dist"), "dist");
        assert_eq!(
            strip_ansi("\x1b[91merror[E0308]\x1b[0m: x"),
            "error[E0308]: x"
        );
    }
}
