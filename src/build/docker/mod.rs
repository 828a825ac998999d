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

mod context;

use context::TEMPLATE_PATH;
pub use context::{dockerfile_in_context, generated, BuildContext};

use super::{BuildOutput, DockerfileSource, Plan};
use crate::config::Config;
use crate::error::{display_path, innermost, Location, Result, UserError};
use crate::output::Output;
use crate::project::Project;

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

/// The build arguments the template Dockerfile takes (the docker and codebuild builders pass the same).
pub fn build_args(project: &Project, config: &Config, plan: &Plan) -> HashMap<String, String> {
    build_args_for(project, config, plan, config.size.architecture)
}

/// The build arguments for the image of `arch` (one platform of a multi-platform image).
pub fn build_args_for(
    project: &Project,
    config: &Config,
    plan: &Plan,
    arch: crate::config::resolve::Architecture,
) -> HashMap<String, String> {
    let features = if config.build.features.is_empty() {
        String::new()
    } else {
        format!("--features {}", config.build.features.join(","))
    };
    let locked = if project.workspace_root.join("Cargo.lock").is_file() {
        "--locked"
    } else {
        ""
    };
    HashMap::from([
        (
            "BUILDER_IMAGE".to_string(),
            config.build.builder_image.clone(),
        ),
        (
            "RUNTIME_IMAGE".to_string(),
            config.build.runtime_image.clone(),
        ),
        ("BIN".to_string(), config.bin.clone()),
        ("PROFILE".to_string(), config.build.cargo_profile.clone()),
        (
            "PROFILE_DIR".to_string(),
            profile_dir(&config.build.cargo_profile).to_string(),
        ),
        ("FEATURES".to_string(), features),
        ("LOCKED".to_string(), locked.to_string()),
        ("TZDATA".to_string(), config.build.tzdata.to_string()),
        // The workspace root's place in the context: cargo runs there.
        ("WORKSPACE".to_string(), plan.sources.workspace_path()),
        // The image's platform and Rust target; the build stage's platform is the image's unless a
        // builder knows its machine's own (the docker builder: see `platform::cross`).
        ("TARGET".to_string(), arch.rust_target().to_string()),
        ("TARGET_PLATFORM".to_string(), arch.platform().to_string()),
        ("BUILD_PLATFORM".to_string(), arch.platform().to_string()),
    ])
}

/// The directory cargo writes a profile's artifacts to.
fn profile_dir(profile: &str) -> &str {
    match profile {
        "dev" | "test" => "debug",
        "bench" => "release",
        other => other,
    }
}

/// Builds the image of the task's architecture in the Engine as `{repository}:{content tag}`.
pub async fn build(
    project: &Project,
    config: &Config,
    plan: Plan,
    out: &Output,
) -> Result<BuildOutput> {
    let started = Instant::now();
    let docker = connect().await?;
    let image = format!("{}:{}", config.names.repository, plan.content_tag);
    let arch = config.size.architecture;
    let made = build_image(&docker, project, config, &plan, arch, &image, out).await?;
    Ok(BuildOutput {
        size: made.size,
        log: Some(made.log),
        seconds: started.elapsed().as_secs_f64(),
        artifact: super::Artifact::Docker {
            tag: image,
            id: made.id,
        },
        plan,
        sbom: None,
        platform_sboms: Vec::new(),
    })
}

/// A multi-platform image: each platform's image built in turn as `{repository}:{content tag}-{arch}`
/// (cross-compiled where it is not the Engine's platform), unless `registry` already holds that tag.
/// The task's architecture's image is also tagged `{repository}:{content tag}`, which `run --local`
/// runs. `push` pushes each and joins them in one index.
pub async fn build_platforms(
    project: &Project,
    config: &Config,
    plan: Plan,
    registry: Option<&crate::registry::Registry>,
    out: &Output,
) -> Result<BuildOutput> {
    let started = Instant::now();
    let docker = connect().await?;
    let (mut platforms, mut size, mut log) = (Vec::new(), 0, None);
    for &arch in &config.size.image_architectures {
        let tag = super::platform_tag(&plan, config, arch);
        let held = match registry {
            Some(r) => r.manifest_digest(&config.names.repository, &tag).await?,
            None => None,
        };
        if let Some(digest) = held {
            out.status(
                "Fresh",
                format_args!("{}:{tag} is up to date", config.names.repository),
            );
            platforms.push(super::DockerPlatform {
                arch,
                local: format!("{}:{tag}", config.names.repository),
                tag,
                id: None,
                digest: Some(digest),
            });
            continue;
        }
        let local = format!("{}:{tag}", config.names.repository);
        let made = build_image(&docker, project, config, &plan, arch, &local, out).await?;
        if arch == config.size.architecture {
            docker
                .tag_image(
                    &local,
                    Some(bollard::query_parameters::TagImageOptions {
                        repo: Some(config.names.repository.clone()),
                        tag: Some(plan.content_tag.clone()),
                    }),
                )
                .await
                .with_context(|| format!("tagging {local}"))?;
        }
        size += made.size;
        log = Some(made.log);
        platforms.push(super::DockerPlatform {
            arch,
            tag,
            local,
            id: Some(made.id),
            digest: None,
        });
    }
    Ok(BuildOutput {
        size,
        log,
        seconds: started.elapsed().as_secs_f64(),
        artifact: super::Artifact::DockerPlatforms(platforms),
        plan,
        sbom: None,
        platform_sboms: Vec::new(),
    })
}

/// What one image build in the Engine left.
struct Made {
    id: String,
    size: u64,
    log: PathBuf,
}

/// Builds the image of `arch` as `image` in the Engine: the template cross-compiles on the Engine's
/// own platform; a user's Dockerfile gets the platform as it always did. Refuses an image of
/// another architecture.
async fn build_image(
    docker: &Docker,
    project: &Project,
    config: &Config,
    plan: &Plan,
    arch: crate::config::resolve::Architecture,
    image: &str,
    out: &Output,
) -> Result<Made> {
    let context = BuildContext::new(project, plan)?;
    let mut buildargs = build_args_for(project, config, plan, arch);
    // The proxy the tool goes through is the one the build's RUN steps need too.
    buildargs.extend(crate::net::proxy_build_args());
    let engine = super::platform::engine_platform(docker).await?;
    let platform = match plan.dockerfile {
        DockerfileSource::Template => {
            let runtime = &config.build.runtime_image;
            super::platform::cross(docker, &engine, arch.platform(), runtime, &mut buildargs)
                .await?
        }
        DockerfileSource::User { .. } => arch.platform().to_string(),
    };
    let options = BuildImageOptions {
        dockerfile: dockerfile_in_context(project, plan),
        t: Some(image.to_string()),
        rm: true,
        forcerm: true,
        buildargs: Some(buildargs),
        labels: Some(plan.labels.clone().into_iter().collect()),
        platform,
        ..Default::default()
    };
    let suffix = match config.size.image_architectures.len() {
        1 => String::new(),
        _ => format!("-{}", arch.as_config()),
    };
    let log_path = project.target_dir.join("fargate").join(format!(
        "build-{}-{}{suffix}.log",
        config.project, config.stage
    ));
    std::fs::create_dir_all(log_path.parent().unwrap_or(Path::new(".")))?;
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    out.status(
        "Building",
        format_args!(
            "{image} for {}{} ({} files in the context, {} bytes)",
            arch.platform(),
            if engine == arch.platform() {
                String::new()
            } else {
                format!(", cross-compiled on {engine}")
            },
            plan.entries.len(),
            context.size()
        ),
    );
    let stream = docker.build_image(
        options,
        None,
        Some(bollard::body_try_stream(futures_util::stream::unfold(
            context.spawn_writer(),
            |mut from| async move { from.recv().await.map(|piece| (piece.map(Into::into), from)) },
        ))),
    );
    let steps = follow(stream, log, out).await.map_err(|e| match e {
        Followed::Engine(e) => engine_error(e, plan, project),
        Followed::Other(e) => e,
    })?;
    if let Some(message) = steps.failure {
        return Err(failed(&steps.step, &steps.output, &message, &log_path, out));
    }
    let inspect = docker
        .inspect_image(image)
        .await
        .with_context(|| format!("inspecting {image}"))?;
    super::platform::built_for(
        config,
        arch,
        &dockerfile_in_context(project, plan),
        inspect.architecture.as_deref(),
    )?;
    Ok(Made {
        id: inspect.id.unwrap_or_default(),
        size: inspect.size.unwrap_or(0).max(0) as u64,
        log: log_path,
    })
}

/// How following the build's stream ended without a build step failing.
enum Followed {
    /// The engine refused the build before it ran (a Dockerfile it cannot parse, ...).
    Engine(bollard::errors::Error),
    Other(anyhow::Error),
}

impl From<std::io::Error> for Followed {
    fn from(e: std::io::Error) -> Self {
        Followed::Other(e.into())
    }
}

/// What the build's stream said: the last step, that step's output, and the failure, if any.
struct Steps {
    step: String,
    output: Vec<String>,
    failure: Option<String>,
}

/// Reads the engine's build stream to its end: plain text to the log, each step to the display
/// (whole lines; its output too when verbose).
async fn follow<S>(mut stream: S, mut log: std::fs::File, out: &Output) -> Result<Steps, Followed>
where
    S: futures_util::Stream<Item = Result<bollard::models::BuildInfo, bollard::errors::Error>>
        + Unpin,
{
    let spinner = out.spinner("Building");
    let mut steps = Steps {
        step: String::new(),
        output: Vec::new(),
        failure: None,
    };
    let mut pending = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(text) = info.stream.as_deref() {
                    // Output arrives in arbitrary chunks, coloured by the engine.
                    let text = super::strip_ansi(text);
                    log.write_all(text.as_bytes())?;
                    pending.push_str(&text);
                    while let Some(i) = pending.find('\n') {
                        let line: String = pending.drain(..=i).collect();
                        show_line(line.trim_end(), &mut steps, &spinner, out);
                    }
                }
                if let Some(detail) = info.error_detail {
                    let message = detail.message.unwrap_or_default();
                    writeln!(log, "{message}")?;
                    steps.failure = Some(message);
                }
            }
            // A failing step arrives as a stream error; anything else is the engine refusing the build.
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                writeln!(log, "{error}")?;
                steps.failure = Some(error);
                break;
            }
            Err(e) => {
                spinner.finish_and_clear();
                return Err(Followed::Engine(e));
            }
        }
    }
    spinner.finish_and_clear();
    Ok(steps)
}

/// One whole line of the build's output: a step starts, or the step's output goes on.
fn show_line(line: &str, steps: &mut Steps, spinner: &indicatif::ProgressBar, out: &Output) {
    if line.trim().is_empty() {
        return;
    }
    if line.starts_with("Step ") {
        steps.step = line.to_string();
        steps.output.clear();
        spinner.set_message(line.to_string());
        if out.json {
            out.event("build_step", serde_json::json!({ "step": line }));
        } else if out.plain_progress() {
            // A CI log gets the step, not the template's whole shell line (the build log keeps it).
            crate::output::write_stderr(format_args!("{:>12} {}\n", "", super::shorten(line, 100)));
        }
        return;
    }
    // The engine's own bookkeeping says nothing about the step.
    if !(line.starts_with(" ---> ") || line.starts_with("Removing intermediate container")) {
        steps.output.push(line.to_string());
    }
    if out.is_verbose() {
        spinner.suspend(|| crate::output::write_stderr(format_args!("{line}\n")));
    }
}

/// The failing step's own output, then one line that says what failed and where the log is.
fn failed(
    step: &str,
    output: &[String],
    message: &str,
    log_path: &Path,
    out: &Output,
) -> anyhow::Error {
    let tail = &output[output.len().saturating_sub(40)..];
    if out.json {
        out.event(
            "build_output",
            serde_json::json!({ "step": step, "lines": tail }),
        );
    } else {
        let mut text = format!("{step}\n");
        for line in tail {
            text += &format!("  {line}\n");
        }
        crate::output::write_stderr(format_args!("{text}"));
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
    let why = match message.rsplit_once("returned a non-zero code: ") {
        Some((_, code)) => format!("exit code {}", code.trim()),
        None => message.trim().to_string(),
    };
    let (at, instruction) = step.split_once(" : ").unwrap_or((step, ""));
    let shown = if out.json {
        "the step's output is in the `build_output` event"
    } else {
        "see the step's output above"
    };
    UserError::new(format!(
        "the image build failed at {at} `{}`: {why}{cause}",
        super::shorten(instruction, 90)
    ))
    .fix(format!(
        "{shown}; full log: {}{hint}",
        display_path(log_path)
    ))
    .into()
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
        assert_eq!(context::stub("lib"), "");
        assert_eq!(context::stub("proc-macro"), "");
        assert_eq!(context::stub("bin"), "fn main() {}\n");
        assert_eq!(context::stub("custom-build"), "fn main() {}\n");
        assert_eq!(profile_dir("dev"), "debug");
        assert_eq!(profile_dir("release"), "release");
        assert_eq!(profile_dir("dist"), "dist");
        assert_eq!(
            crate::build::strip_ansi("\x1b[91merror[E0308]\x1b[0m: x"),
            "error[E0308]: x"
        );
    }

    #[test]
    fn a_long_step_line_is_cut_with_an_ellipsis() {
        assert_eq!(
            crate::build::shorten("Step 1/2 : FROM x", 100),
            "Step 1/2 : FROM x"
        );
        let long = "é".repeat(150);
        let cut = crate::build::shorten(&long, 100);
        assert_eq!(cut.chars().count(), 101);
        assert!(cut.ends_with('…'));
    }
}
