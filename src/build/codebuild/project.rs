//! The CodeBuild project `{project}-{stage}`: privileged (the build runs Docker), the standard
//! image of the task's architecture, its own log group, and the buildspec rendered from
//! `task-templates/buildspec.yml`. Created, or updated only when a setting differs.

use std::time::Duration;

use crate::aws::codebuild::{BuildEnvironment, ProjectSpec};
use crate::aws::Aws;
use crate::build::{DockerfileSource, Plan};
use crate::config::resolve::Architecture;
use crate::config::Config;
use crate::error::Result;
use crate::project::Project;

const BUILDSPEC: &str = include_str!("../../../task-templates/buildspec.yml");
/// The current standard images (Docker, aws-cli) of CodeBuild.
const IMAGE_X86_64: &str = "aws/codebuild/standard:7.0";
const IMAGE_ARM64: &str = "aws/codebuild/amazonlinux-aarch64-standard:3.0";

/// The build arguments the Dockerfile gets, by name (their values go in as environment variables).
pub fn build_arg_names(project: &Project, config: &Config, plan: &Plan) -> Vec<String> {
    let mut names: Vec<String> = crate::build::docker::build_args(project, config, plan)
        .into_keys()
        .collect();
    names.sort();
    names
}

/// The buildspec: stable for a project and stage (per-build values come as environment variables),
/// so the project changes only when the settings do.
pub fn buildspec(project: &Project, config: &Config, plan: &Plan) -> Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    // minijinja would JSON-quote values in a .yml template; these are shell words, quoted here.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_template("buildspec.yml", BUILDSPEC)?;
    // The template's build stage is pushed as a cache of its own; a user's Dockerfile may have none.
    let cache_stage = match plan.dockerfile {
        DockerfileSource::Template => "build",
        DockerfileSource::User { .. } => "",
    };
    Ok(env
        .get_template("buildspec.yml")?
        .render(minijinja::context! {
            version => env!("CARGO_PKG_VERSION"),
            dockerfile => shell_word(&crate::build::docker::dockerfile_in_context(project, plan))?,
            cache_stage => cache_stage,
            build_args => build_arg_names(project, config, plan),
        })?)
}

/// A path as one shell word (shlex: POSIX quoting, as `exec` quotes its command).
fn shell_word(s: &str) -> Result<String> {
    Ok(shlex::try_quote(s)
        .map_err(|e| anyhow::anyhow!("the Dockerfile path {s:?} cannot be one shell word: {e}"))?
        .into_owned())
}

/// The environment an image of `arch` builds in: CodeBuild's ARM one (ARM_CONTAINER, the arm64
/// standard image) for arm64, so the build stage runs natively there.
pub fn environment(arch: Architecture) -> BuildEnvironment {
    let arm = arch == Architecture::Arm64;
    BuildEnvironment {
        arm,
        image: if arm { IMAGE_ARM64 } else { IMAGE_X86_64 }.to_string(),
    }
}

/// The project, in the environment of the task's architecture (a multi-platform image's other
/// platform builds with the environment overridden at StartBuild).
pub fn spec(
    project: &Project,
    config: &Config,
    plan: &Plan,
    service_role: &str,
) -> Result<ProjectSpec> {
    let on = environment(config.size.architecture);
    Ok(ProjectSpec {
        name: crate::names::build_project(config),
        buildspec: buildspec(project, config, plan)?,
        image: on.image,
        arm: on.arm,
        compute_type: config.build.codebuild_compute_type.clone(),
        service_role: service_role.to_string(),
        timeout_minutes: config.build.codebuild_timeout as i32,
        log_group: crate::names::build_log_group(config),
        tags: crate::names::stage_tags(config),
    })
}

/// What making the project match would do: `None` when it is up to date.
pub fn change(
    spec: &ProjectSpec,
    found: Option<&aws_sdk_codebuild::types::Project>,
) -> Option<String> {
    match found {
        None => Some(format!("create CodeBuild project {}", spec.name)),
        Some(p) => {
            let d = spec.differences(p);
            (!d.is_empty())
                .then(|| format!("update CodeBuild project {} ({})", spec.name, d.join(", ")))
        }
    }
}

/// Creates or updates the project. A role IAM has only just made can take seconds before
/// CodeBuild may assume it: those refusals are retried for a while.
pub async fn apply(aws: &Aws, spec: &ProjectSpec, exists: bool, fresh_role: bool) -> Result<()> {
    use backon::Retryable;
    let call = || async {
        if exists {
            aws.update_codebuild_project(spec).await
        } else {
            aws.create_codebuild_project(spec).await
        }
    };
    // 10 tries 3 s apart for a role made this run; one otherwise.
    let retries = backon::ConstantBuilder::default()
        .with_delay(Duration::from_secs(3))
        .with_max_times(if fresh_role { 9 } else { 0 });
    call.retry(retries)
        .sleep(tokio::time::sleep)
        .when(|e| e.to_string().contains("role"))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The buildspec's shell reads the quoted path back as the one word it was.
    #[test]
    fn a_dockerfile_path_is_one_shell_word() {
        assert_eq!(
            shell_word(".cargo-fargate/Dockerfile").unwrap(),
            ".cargo-fargate/Dockerfile"
        );
        for path in ["docker dir/it's.Dockerfile", "a\"b $HOME `x`/Dockerfile"] {
            let word = shell_word(path).unwrap();
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf '%s|' {word}"))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{path}|"));
        }
        assert!(shell_word("a\0b").is_err());
    }
}
