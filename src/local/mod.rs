//! `cargo fargate run --local`: the stage's task definition run on the local Docker Engine, so a
//! developer sees on the laptop what Fargate will do — the same image (built by the configured
//! builder, or `--image`), the rendered container's environment, entrypoint, command, user, size and
//! ports, its secrets resolved, and the task role's temporary credentials.
//!
//! Every check that can fail on bad input runs before the image is built: the engine answers, the
//! task role exists and can be assumed, every secret can be read. Secret values and credentials go
//! into the container's environment and nowhere else.

mod container;
mod image;
mod secrets;
mod supervise;

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::Serialize;

use crate::aws::{Aws, AwsOptions};
use crate::build::{self, BuildOutput};
use crate::config::{Config, Role};
use crate::error::{Result, UserError};
use crate::image::PinnedImage;
use crate::output::Output;
use crate::project::Project;
use crate::steps::render::{self, RenderInput};
use crate::steps::run::{Outcome, DID_NOT_RUN, INTERRUPTED};

pub use container::Limits;

/// Labels on every container `run --local` starts (`docker ps --filter label=…`).
pub const LABEL_PROJECT: &str = "dev.cargo-fargate.project";
pub const LABEL_STAGE: &str = "dev.cargo-fargate.stage";
pub const LABEL_LOCAL: &str = "dev.cargo-fargate.local";

pub struct LocalInput<'a> {
    pub project: &'a Project,
    pub config: &'a Config,
    pub aws: &'a AwsOptions,
    /// `--image`: run it instead of building.
    pub image: Option<&'a str>,
    /// `-e KEY=VALUE`, checked.
    pub environment: &'a BTreeMap<String, String>,
    /// `-- CMD`.
    pub command: Option<&'a [String]>,
    /// Assume the task role and hand its credentials to the container (not with --no-task-role).
    pub task_role: bool,
}

/// `cargo fargate run --local`.
#[derive(Debug, Serialize)]
pub struct LocalReport {
    pub project: String,
    pub stage: String,
    /// The image the container ran: the built one's local tag, or `--image` as pulled.
    pub image: String,
    pub container: String,
    /// The assumed task role, or none (`--no-task-role`).
    pub task_role: Option<String>,
    /// The names of the secrets handed to the container (never their values).
    pub secrets: Vec<String>,
    pub ports: Vec<u16>,
    pub limits: Limits,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildOutput>,
    pub interrupted: bool,
    pub outcome: Outcome,
    pub exit_code: i32,
}

impl fmt::Display for LocalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "container {}: {}", self.container, self.outcome.message)?;
        writeln!(f, "exit code {}", self.exit_code)
    }
}

/// The AWS connection, made only when something needs it: with `--no-task-role`, no secrets and an
/// image outside ECR, `run --local` works without AWS credentials.
struct LazyAws<'a> {
    options: &'a AwsOptions,
    aws: Option<Aws>,
}

impl LazyAws<'_> {
    async fn get(&mut self) -> Result<&Aws> {
        if self.aws.is_none() {
            self.aws = Some(Aws::connect(self.options).await?);
        }
        Ok(self.aws.as_ref().expect("connected"))
    }

    fn region(&self, config: &Config) -> Option<String> {
        match &self.aws {
            Some(aws) => Some(aws.region()),
            None => config
                .region
                .clone()
                .or_else(|| std::env::var("AWS_REGION").ok())
                .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok()),
        }
    }
}

/// Runs the stage's task definition on the local engine until the container stops.
pub async fn run(input: &LocalInput<'_>, out: &Output) -> Result<LocalReport> {
    let config = input.config;
    let docker = build::docker::connect().await.map_err(|e| match e.downcast::<UserError>() {
        Ok(u) => u
            .fix("start Docker, or point DOCKER_HOST at a running daemon: `run --local` runs the task there")
            .into(),
        Err(e) => e,
    })?;
    let mut aws = LazyAws {
        options: input.aws,
        aws: None,
    };

    // The task role first: a role that does not exist or cannot be assumed fails in a second.
    let mut injected = BTreeMap::new();
    let task_role = assume_task_role(&mut aws, input, &mut injected, out).await?;

    // What image, under which name the engine will hold it.
    let given = input
        .image
        .map(|i| image::pull_reference(i, config))
        .transpose()?;
    let plan = match given {
        Some(_) => None,
        None => Some(build::plan(input.project, config)?),
    };
    let local_image = match (&given, &plan) {
        (Some(pull), _) => pull.reference.clone(),
        (None, Some(plan)) => format!("{}:{}", config.names.repository, plan.content_tag),
        (None, None) => unreachable!("a plan without --image"),
    };

    let region = aws.region(config);
    let (definition, main) = definition(config, &local_image, task_role.as_deref(), region)?;
    let container_name = main["name"].as_str().unwrap_or(&config.project).to_string();

    // Secrets, with the user's credentials (the execution role's job on Fargate).
    let wanted = secrets::of_container(&main);
    if !wanted.is_empty() {
        let values = secrets::resolve(aws.get().await?, config, &wanted).await?;
        out.status(
            "Resolved",
            format_args!(
                "{} secret(s): {}",
                values.len(),
                crate::error::list(values.keys())
            ),
        );
        injected.extend(values);
    }
    let region = aws.region(config);

    image::check_emulation(config, out)?;
    // The image into the engine.
    let built = into_engine(
        &docker,
        &mut aws,
        input,
        given.as_ref(),
        plan,
        &local_image,
        out,
    )
    .await?;

    let spec = container::Spec {
        image: &local_image,
        overrides: input.environment,
        command: input.command,
        injected: &injected,
        region: region.as_deref(),
        labels: HashMap::from([
            (LABEL_PROJECT.to_string(), config.project.clone()),
            (LABEL_STAGE.to_string(), config.stage.clone()),
            (LABEL_LOCAL.to_string(), "true".to_string()),
        ]),
    };
    let (name, ports, limits, ended) =
        start(&docker, config, &definition, &main, &spec, out).await?;
    let outcome = outcome(&container_name, &ended, limits);
    let exit_code = if ended.interrupted {
        INTERRUPTED
    } else {
        outcome.exit_code
    };
    Ok(LocalReport {
        project: config.project.clone(),
        stage: config.stage.clone(),
        image: local_image,
        container: name,
        task_role,
        secrets: wanted.into_keys().collect(),
        ports,
        limits,
        build: built,
        interrupted: ended.interrupted,
        outcome,
        exit_code,
    })
}

/// The image into the engine: pulled (`--image`) or built (a host build's archive loaded).
async fn into_engine(
    docker: &bollard::Docker,
    aws: &mut LazyAws<'_>,
    input: &LocalInput<'_>,
    given: Option<&image::Pull>,
    plan: Option<build::Plan>,
    local_image: &str,
    out: &Output,
) -> Result<Option<BuildOutput>> {
    let config = input.config;
    Ok(match (given, plan) {
        (Some(pull), _) => {
            let aws = if pull.ecr {
                Some(aws.get().await?)
            } else {
                None
            };
            image::pull(docker, aws, config, pull, out).await?;
            None
        }
        (None, Some(plan)) => {
            let access = crate::publish::base_access(config, input.aws).await?;
            crate::interrupt::note("the image build stopped; no container was started");
            let built = build::run(input.project, config, plan, access, out).await?;
            if let build::Artifact::Host(oci) = &built.artifact {
                image::load(docker, oci.of(config), local_image, out).await?;
            }
            Some(built)
        }
        (None, None) => unreachable!("a plan without --image"),
    })
}

/// The task role's credentials into `injected` (unless --no-task-role); the role's ARN. A managed
/// role not made yet is a warning: a local run needs no AWS resource.
async fn assume_task_role(
    aws: &mut LazyAws<'_>,
    input: &LocalInput<'_>,
    injected: &mut BTreeMap<String, String>,
    out: &Output,
) -> Result<Option<String>> {
    let config = input.config;
    if !input.task_role {
        return Ok(None);
    }
    let aws = aws.get().await?;
    let Some(arn) = task_role_arn(aws, config).await? else {
        out.warn(format_args!(
            "the managed task role `{}` does not exist yet (`cargo fargate setup` makes it): running without task role credentials",
            match &config.roles.task {
                Role::Given(v) | Role::Managed(v) => v,
            }
        ));
        return Ok(None);
    };
    let credentials = aws
        .assume_role(&arn, &session_name())
        .await
        .map_err(|e| {
            UserError::new(format!("cannot assume the task role `{arn}` with your credentials ({e:#})"))
                .fix("its trust policy must let your principal sts:AssumeRole it (ECS task roles trust only ecs-tasks.amazonaws.com unless you add it), or pass --no-task-role")
        })?;
    out.status("Assumed", format_args!("task role {arn}"));
    injected.insert("AWS_ACCESS_KEY_ID".to_string(), credentials.access_key_id);
    injected.insert(
        "AWS_SECRET_ACCESS_KEY".to_string(),
        credentials.secret_access_key,
    );
    injected.insert("AWS_SESSION_TOKEN".to_string(), credentials.session_token);
    Ok(Some(arn))
}

/// The rendered definition — what `register` would send, with the roles as named here — and its
/// main container.
fn definition(
    config: &Config,
    local_image: &str,
    task_role: Option<&str>,
    region: Option<String>,
) -> Result<(serde_json::Value, serde_json::Value)> {
    let role_name = |role: &Role| match role {
        Role::Given(v) | Role::Managed(v) => v.clone(),
    };
    let definition = render::render(&RenderInput {
        config,
        image: &PinnedImage {
            reference: local_image.to_string(),
            repository: local_image.to_string(),
            digest: String::new(),
        },
        task_role_arn: task_role
            .map(str::to_string)
            .unwrap_or_else(|| role_name(&config.roles.task))
            .as_str(),
        execution_role_arn: &role_name(&config.roles.execution),
        region: region.as_deref().unwrap_or_default(),
    })?;
    let main = render::main_container(&definition)
        .cloned()
        .ok_or_else(|| {
            UserError::new("the task definition has no container")
                .fix("render one `containerDefinitions` entry in the task template")
        })?;
    Ok((definition, main))
}

/// Creates and runs the container until it stops: its name, published ports, limits and end.
async fn start(
    docker: &bollard::Docker,
    config: &Config,
    definition: &serde_json::Value,
    main: &serde_json::Value,
    spec: &container::Spec<'_>,
    out: &Output,
) -> Result<(String, Vec<u16>, Limits, supervise::Ended)> {
    let container_name = main["name"].as_str().unwrap_or(&config.project);
    let name = format!(
        "cargo-fargate-{}-{}-{}",
        config.project,
        config.stage,
        std::process::id()
    );
    let body = container::create_body(definition, main, spec);
    let ports: Vec<u16> = container::ports(main).into_iter().map(|(p, _)| p).collect();
    let limits = Limits::of(definition, main);
    let published = if ports.is_empty() {
        String::new()
    } else {
        format!(
            ", on {}",
            ports
                .iter()
                .map(|p| format!("127.0.0.1:{p}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    out.status(
        "Running",
        format_args!(
            "{container_name} ({}) as {name}: {} cpu units, {} MiB{published}",
            spec.image, limits.cpu, limits.memory
        ),
    );
    let stop_timeout = main["stopTimeout"]
        .as_i64()
        .map(|t| t as i32)
        .unwrap_or(config.container.stop_timeout as i32);
    let ended = supervise::run(
        docker,
        &name,
        body,
        stop_timeout,
        &ports,
        &supervise::Labels {
            task: &name,
            container: container_name,
        },
        out,
    )
    .await?;
    Ok((name, ports, limits, ended))
}

/// The exit code and why, with `run`'s conventions: the container's exit code, or 125 when it never
/// ran.
fn outcome(container: &str, ended: &supervise::Ended, limits: Limits) -> Outcome {
    if let Some(why) = &ended.start_error {
        return Outcome {
            exit_code: DID_NOT_RUN,
            message: format!("{container} did not run: {why}"),
        };
    }
    let Some(code) = ended.exit_code else {
        return Outcome {
            exit_code: DID_NOT_RUN,
            message: format!("{container} did not run: no exit code"),
        };
    };
    let mut message = format!("{container} exited {code}");
    if ended.oom_killed {
        message.push_str(&format!(
            " (OutOfMemory: killed at the task's {} MiB)",
            limits.memory
        ));
    }
    if ended.interrupted {
        message.push_str(" after Ctrl-C");
    }
    Outcome {
        exit_code: i32::try_from(code).unwrap_or(1),
        message,
    }
}

/// The task role's ARN, read from IAM: a role that does not exist is named with the fix. When IAM
/// may not be read, the ARN is made from the account and AssumeRole has the last word.
/// `None`: the managed role is not made yet.
async fn task_role_arn(aws: &Aws, config: &Config) -> Result<Option<String>> {
    let (value, managed) = match &config.roles.task {
        Role::Given(v) => (v.as_str(), false),
        Role::Managed(name) => (name.as_str(), true),
    };
    let name = value.rsplit('/').next().unwrap_or(value);
    match aws.get_role(name).await {
        Ok(Some(role)) => Ok(Some(role.arn)),
        Ok(None) if managed => Ok(None),
        Ok(None) => Err(config
            .key_error("task-role", format!("role `{name}` does not exist"))
            .fix("create it, fix the name, or pass --no-task-role")
            .into()),
        Err(_) if value.starts_with("arn:") => Ok(Some(value.to_string())),
        Err(_) => {
            let identity = aws.identity().await?;
            Ok(Some(format!(
                "arn:{}:iam::{}:role/{name}",
                identity.partition(),
                identity.account
            )))
        }
    }
}

/// `cargo-fargate-local-<user>`, as STS accepts it (2–64 of `\w+=,.@-`): CloudTrail shows who ran it.
fn session_name() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "user".into());
    let user: String = user
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .collect();
    let mut name = format!("cargo-fargate-local-{user}");
    name.truncate(64);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(exit_code: Option<i64>) -> supervise::Ended {
        supervise::Ended {
            exit_code,
            oom_killed: false,
            interrupted: false,
            start_error: None,
        }
    }

    #[test]
    fn the_exit_code_follows_runs_conventions() {
        let limits = Limits {
            cpu: 256,
            memory: 512,
        };
        assert_eq!(outcome("app", &ended(Some(3)), limits).exit_code, 3);
        assert_eq!(
            outcome("app", &ended(Some(0)), limits).message,
            "app exited 0"
        );
        let mut e = ended(None);
        e.start_error = Some("exec: \"/nope\": no such file".into());
        let o = outcome("app", &e, limits);
        assert_eq!(o.exit_code, DID_NOT_RUN);
        assert!(
            o.message.starts_with("app did not run: exec"),
            "{}",
            o.message
        );
        let mut e = ended(Some(137));
        e.oom_killed = true;
        let o = outcome("app", &e, limits);
        assert_eq!(o.exit_code, 137);
        assert!(o.message.contains("OutOfMemory"), "{}", o.message);
    }

    #[test]
    fn the_session_name_is_one_sts_accepts() {
        let name = session_name();
        assert!(name.starts_with("cargo-fargate-local-"));
        assert!(name.len() <= 64);
    }
}
