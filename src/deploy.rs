//! `deploy`: package → build → push → register → run as one command.
//!
//! Plan, then execute (as cargo-dist does): every read-only check runs first — configuration, the
//! run's network and cluster, the roles, the registry login, whether the image is already pushed,
//! whether the task definition would change — so `--dry-run` is the plan printed, and a real deploy
//! fails before creating anything when the plan cannot be carried out.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::aws::{Aws, AwsOptions};
use crate::build;
use crate::cli::{DeployArgs, RunOptions};
use crate::commands::POLL;
use crate::config::Config;
use crate::error::Result;
use crate::output::Output;
use crate::project::Project;
use crate::push::{self, PushOutput};
use crate::register::{self, Prepared, RegisterReport};
use crate::registry::Registry;
use crate::render::PinnedImage;
use crate::run::{self, Network, RunReport};

/// What `run` needs checked before anything is created.
pub struct Preflight {
    pub cluster_exists: bool,
    pub network: Option<Network>,
    pub environment: BTreeMap<String, String>,
}

/// Read-only checks of a run: environment overrides, the cluster (or leave to create it), the
/// network (never the default VPC unless allowed). Skipped, but for the overrides, when not running.
pub async fn preflight(
    aws: &Aws,
    config: &Config,
    opts: &RunOptions,
    will_run: bool,
) -> Result<Preflight> {
    let environment = run::parse_env_overrides(&opts.env, config)?;
    run::check_override_size(&config.project, &opts.command, &environment)?;
    if !will_run {
        return Ok(Preflight {
            cluster_exists: true,
            network: None,
            environment,
        });
    }
    let cluster_exists = aws.cluster_exists(&config.cluster).await?;
    if !cluster_exists && !config.create_cluster {
        return Err(config
            .key_error(
                "create-cluster",
                format!(
                    "ECS cluster `{}` does not exist and creating it is turned off",
                    config.cluster
                ),
            )
            .fix(
                "create it, set `create-cluster = true`, or point `cluster` at an existing cluster",
            )
            .into());
    }
    let network = run::resolve_network(aws, config, opts.allow_default_vpc).await?;
    Ok(Preflight {
        cluster_exists,
        network: Some(network),
        environment,
    })
}

/// Registers (roles, log group, task definition), then — when the preflight checked a network —
/// creates the cluster if needed and runs the task.
pub async fn launch(
    aws: &Aws,
    config: &Config,
    prepared: &Prepared,
    pre: &Preflight,
    opts: &RunOptions,
    out: &Output,
) -> Result<(RegisterReport, Option<RunReport>)> {
    let registered = register::apply(aws, config, prepared, out).await?;
    let Some(network) = &pre.network else {
        return Ok((registered, None));
    };
    if !pre.cluster_exists {
        aws.create_cluster(&config.cluster, &config.tags).await?;
        out.status("Created", format_args!("cluster {}", config.cluster));
    }
    let fresh_roles = registered.roles.iter().any(|r| r.created);
    let report = run::run(
        aws,
        out,
        &run::RunInput {
            config,
            definition: &prepared.definition,
            registration: &registered.task_definition,
            network,
            count: opts.count,
            command: (!opts.command.is_empty()).then_some(opts.command.as_slice()),
            environment: &pre.environment,
            detach: opts.detach,
            stop_on_interrupt: opts.stop_on_interrupt,
            poll: POLL,
            fresh_roles,
        },
    )
    .await?;
    Ok((registered, Some(report)))
}

/// One step of the plan, as `--dry-run` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub step: &'static str,
    /// Whether carrying the plan out changes anything at this step.
    pub changes: bool,
    pub action: String,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum DeployReport {
    Plan {
        dry_run: bool,
        project: String,
        stage: String,
        steps: Vec<Step>,
        /// Whether the deploying identity may do what the plan does.
        permissions: crate::permissions::Checked,
    },
    Done(Box<Deployed>),
}

#[derive(Debug, Serialize)]
pub struct Deployed {
    pub project: String,
    pub stage: String,
    pub image_uri: String,
    pub digest: String,
    pub up_to_date: bool,
    pub task_definition: register::Registration,
    pub log_group: String,
    /// `<prefix>/<container>/<task id>` of each task, as awslogs names the streams.
    pub log_streams: Vec<String>,
    pub tasks: Vec<String>,
    pub exit_code: i32,
    pub push: PushOutput,
    pub register: RegisterReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<RunReport>,
    /// The EventBridge Scheduler schedule of a scheduled stage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<crate::schedule::ScheduleReport>,
    /// Old revisions deregistered (keep-revisions).
    pub revisions: crate::revisions::PruneReport,
}

impl DeployReport {
    pub fn exit_code(&self) -> i32 {
        match self {
            DeployReport::Plan { .. } => 0,
            DeployReport::Done(d) => d.exit_code,
        }
    }
}

impl fmt::Display for DeployReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeployReport::Plan {
                project,
                stage,
                steps,
                permissions,
                ..
            } => {
                writeln!(
                    f,
                    "plan for {project} stage {stage} (dry run: nothing was changed)"
                )?;
                for s in steps {
                    writeln!(
                        f,
                        "  {:<9} {} {}",
                        s.step,
                        if s.changes { "~" } else { "=" },
                        s.action
                    )?;
                }
                writeln!(f, "  permissions: {permissions}")?;
                Ok(())
            }
            DeployReport::Done(d) => {
                let state = if d.up_to_date { "up to date" } else { "pushed" };
                writeln!(f, "image            {} ({state})", d.image_uri)?;
                let td = &d.task_definition;
                writeln!(
                    f,
                    "task definition  {}:{} ({})",
                    td.family,
                    td.revision,
                    if td.registered {
                        "registered"
                    } else {
                        "unchanged"
                    }
                )?;
                for t in &d.tasks {
                    writeln!(f, "task             {t}")?;
                }
                writeln!(f, "log group        {}", d.log_group)?;
                for s in &d.log_streams {
                    writeln!(f, "log stream       {s}")?;
                }
                if let Some(s) = &d.schedule {
                    writeln!(f, "schedule         {s}")?;
                }
                if !d.revisions.deregistered.is_empty() {
                    writeln!(f, "old revisions    {}", d.revisions)?;
                }
                match (&d.run, &d.schedule) {
                    (Some(r), _) if !r.detached && !r.interrupted => {
                        writeln!(f, "exit code        {}", d.exit_code)
                    }
                    (Some(_), _) => writeln!(f, "exit code        (not waited for)"),
                    (None, Some(_)) => writeln!(
                        f,
                        "run              not now: the schedule runs it (`deploy --run-now` also runs it once)"
                    ),
                    (None, None) => writeln!(f, "run              skipped (--no-run)"),
                }
            }
        }
    }
}

pub async fn deploy(
    project: &Project,
    config: &Config,
    aws_options: &AwsOptions,
    args: &DeployArgs,
    out: &Output,
) -> Result<DeployReport> {
    // A scheduled stage is registered and scheduled; it runs now only with --run-now.
    let scheduled = config.schedule.is_some();
    let will_run = !args.no_run && (!scheduled || args.run_now);
    // package: what goes into the image (the source archive's file list and hash).
    let plan = build::plan(project, config)?;
    let aws = Aws::connect(aws_options).await?;
    out.verbose(format_args!(
        "AWS credentials from {}, region {}",
        aws.credentials_source(),
        aws.region()
    ));
    let identity = aws.identity().await?;
    let region = aws.region();

    // Everything read-only first.
    let pre = preflight(&aws, config, &args.run, will_run || scheduled).await?;
    let roles = crate::roles::plan(&aws, config, &identity, &region).await?;
    let schedule_plan = crate::schedule::plan(&aws, config, &identity, &roles).await?;
    let permissions = crate::permissions::check(
        &aws,
        &crate::permissions::Needs {
            config,
            identity: &identity,
            region: &region,
            roles: &roles,
            create_cluster: !pre.cluster_exists,
            will_run,
        },
    )
    .await?;
    let login = push::login(&aws, config).await?;
    let pushed_digest = login
        .registry
        .manifest_digest(&config.repository, &plan.content_tag)
        .await?;

    // The definition as it will be registered (the digest is known once pushed; its length is
    // not): ECS's model and size limits are checked now, before anything changes.
    let digest = pushed_digest
        .clone()
        .unwrap_or_else(|| format!("sha256:{}", "0".repeat(64)));
    let planned_image = PinnedImage::parse(&format!(
        "{}.dkr.ecr.{region}.amazonaws.com/{}@{digest}",
        identity.account, config.repository
    ))?;
    crate::render::render(&crate::render::RenderInput {
        config,
        image: &planned_image,
        task_role_arn: &roles.task.arn,
        execution_role_arn: &roles.execution.arn,
        region: &region,
    })?;

    if args.dry_run {
        let mut steps = dry_run_steps(
            &aws,
            config,
            &plan,
            &pre,
            &roles,
            &login.registry,
            pushed_digest,
            out,
        )
        .await?;
        if let Some(schedule) = &schedule_plan {
            let (changes, action) = schedule.describe();
            if !will_run {
                if let Some(run) = steps.iter_mut().find(|s| s.step == "run") {
                    run.changes = false;
                    run.action = "not now: the schedule runs it (--run-now to run it once too)".into();
                }
            }
            steps.push(Step {
                step: "schedule",
                changes,
                action,
            });
        }
        return Ok(DeployReport::Plan {
            dry_run: true,
            project: config.project.clone(),
            stage: config.stage.clone(),
            steps,
            permissions,
        });
    }

    // The same login carries the push: the registry is asked once.
    let pushed = push::run(project, config, plan, &aws, login, out).await?;
    let image = PinnedImage::parse(&pushed.image_uri)?;
    let prepared = register::prepare(&aws, config, image, out).await?;
    let no_run = Preflight {
        cluster_exists: true,
        network: None,
        environment: BTreeMap::new(),
    };
    let (registered, run) = launch(
        &aws,
        config,
        &prepared,
        if will_run { &pre } else { &no_run },
        &args.run,
        out,
    )
    .await?;
    let schedule = match (&schedule_plan, &pre.network) {
        (Some(schedule_plan), Some(network)) => {
            if !will_run && !pre.cluster_exists {
                aws.create_cluster(&config.cluster, &config.tags).await?;
                out.status("Created", format_args!("cluster {}", config.cluster));
            }
            Some(
                crate::schedule::apply(
                    &aws,
                    config,
                    schedule_plan,
                    network,
                    &registered.task_definition.arn,
                    out,
                )
                .await?,
            )
        }
        _ => None,
    };
    // After the schedule moved to the new revision, so that the old one can go.
    let revisions = crate::revisions::prune(&aws, config, out).await?;

    let container = crate::render::main_container(&prepared.definition)
        .and_then(|c| c["name"].as_str())
        .unwrap_or("app")
        .to_string();
    let prefix = crate::render::log_stream_prefix(config);
    let tasks: Vec<String> = run
        .iter()
        .flat_map(|r| r.tasks.iter().map(|t| t.arn.clone()))
        .collect();
    let log_streams = run
        .iter()
        .flat_map(|r| {
            r.tasks
                .iter()
                .map(|t| format!("{prefix}/{container}/{}", t.id))
        })
        .collect();
    Ok(DeployReport::Done(Box::new(Deployed {
        project: config.project.clone(),
        stage: config.stage.clone(),
        image_uri: pushed.image_uri.clone(),
        digest: pushed.digest.clone(),
        up_to_date: pushed.up_to_date,
        task_definition: registered.task_definition.clone(),
        log_group: config.log_group.clone(),
        log_streams,
        tasks,
        exit_code: run.as_ref().map(|r| r.exit_code).unwrap_or(0),
        push: pushed,
        register: registered,
        run,
        schedule,
        revisions,
    })))
}

#[allow(clippy::too_many_arguments)]
async fn dry_run_steps(
    aws: &Aws,
    config: &Config,
    plan: &build::Plan,
    pre: &Preflight,
    roles: &crate::roles::Plan,
    registry: &Registry,
    pushed_digest: Option<String>,
    out: &Output,
) -> Result<Vec<Step>> {
    let mut steps = Vec::new();

    let source_bytes: u64 = plan.entries.iter().map(|e| e.size).sum();
    steps.push(Step {
        step: "package",
        changes: false,
        action: format!(
            "{} files, {source_bytes} bytes, source sha256 {}",
            plan.entries.len(),
            &plan.source_sha256[..16]
        ),
    });
    let image = format!(
        "{}/{}:{}",
        registry.host, config.repository, plan.content_tag
    );
    let builder = serde_json::to_value(plan.builder)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    steps.push(Step {
        step: "build",
        changes: pushed_digest.is_none(),
        action: match &pushed_digest {
            Some(_) => format!("skip: {image} is up to date"),
            None => format!(
                "build {image} with the {builder} builder for {}",
                plan.platform
            ),
        },
    });
    let repository = aws.repository_uri(&config.repository).await?;
    steps.push(Step {
        step: "push",
        changes: pushed_digest.is_none() || repository.is_none(),
        action: match (&pushed_digest, &repository) {
            (Some(d), Some(_)) => format!("skip: {} already holds {d}", registry.host),
            (Some(d), None) => format!(
                "create ECR repository {} (scan on push, {}); {} already holds {d}",
                config.repository, config.tag_mutability, registry.host
            ),
            (None, Some(_)) => format!("push {} ({})", image, plan.tags.join(", ")),
            (None, None) => format!(
                "create ECR repository {} (scan on push, {}) and push {image}",
                config.repository, config.tag_mutability
            ),
        },
    });
    let role = |r: &crate::roles::RolePlan| match &r.managed {
        Some(_) => format!("managed {}", r.name),
        None => format!("given {}", r.arn),
    };
    let register_action = match (&pushed_digest, &repository) {
        (Some(digest), Some(uri)) => {
            let image = PinnedImage::parse(&format!("{uri}@{digest}"))?;
            let prepared = register::prepare(aws, config, image, out).await?;
            let family = crate::render::family(config);
            match register::latest(aws, &family, &prepared.definition).await? {
                Some(l) if l.definition == register::normalise(&prepared.definition) => {
                    (false, format!("keep {family}:{} (unchanged)", l.revision))
                }
                Some(l) => (
                    true,
                    format!(
                        "register {family}:{} (differs from the latest; see `cargo fargate diff`)",
                        l.revision + 1
                    ),
                ),
                None => (true, format!("register {family}:1")),
            }
        }
        _ => (
            true,
            format!(
                "register a new revision of {} with the new image",
                crate::render::family(config)
            ),
        ),
    };
    steps.push(Step {
        step: "register",
        changes: register_action.0,
        action: format!(
            "{}; task role {}, execution role {}",
            register_action.1,
            role(&roles.task),
            role(&roles.execution)
        ),
    });
    steps.push(match &pre.network {
        None => Step {
            step: "run",
            changes: false,
            action: "skip (--no-run)".into(),
        },
        Some(n) => Step {
            step: "run",
            changes: true,
            action: format!(
                "run on {}cluster {} in {} (subnets {}; security groups {}; public IP {})",
                if pre.cluster_exists { "" } else { "a new " },
                config.cluster,
                n.vpc,
                n.subnets.join(", "),
                n.security_groups.join(", "),
                if n.assign_public_ip { "yes" } else { "no" },
            ),
        },
    });
    Ok(steps)
}
