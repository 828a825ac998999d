//! `deploy`: package → build → push → register → run as one command.
//!
//! Plan, then execute (as cargo-dist does): [`plan::plan`] asks every read-only question first —
//! configuration, the run's network and cluster, the roles, the registry login, the repository,
//! whether the image is already pushed, whether the task definition would change — so `--dry-run`
//! is the plan printed, and a real deploy fails before creating anything when the plan cannot be
//! carried out. The execution carries out that plan and asks none of it again.

pub mod compose;
pub mod permissions;
pub mod plan;
pub mod report;

use crate::aws::image::ImageCheck;
use crate::aws::{Aws, AwsOptions};
use crate::config::Config;
use crate::error::Result;
use crate::image::PinnedImage;
use crate::output::Output;
use crate::project::Project;
use crate::publish;
use crate::steps::register;
use crate::steps::run::RunOptions;

pub use compose::{launch, preflight, Preflight};
pub use report::{DeployReport, Deployed, Step};

/// What `deploy` is asked to do (the CLI fills it from its flags).
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    pub run: RunOptions,
    /// Show the plan and change nothing.
    pub dry_run: bool,
    /// Stop after registering the task definition.
    pub no_run: bool,
    /// kind = "service" | "web": how the deployment is waited for.
    pub wait: crate::service::deploy::WaitOptions,
    /// For a scheduled stage: also run the task once now.
    pub run_now: bool,
}

pub async fn deploy(
    project: &Project,
    config: &Config,
    aws_options: &AwsOptions,
    opts: &DeployOptions,
    out: &Output,
) -> Result<DeployReport> {
    let aws = Aws::connect(aws_options).await?;
    if let Some(w) = aws.credentials_warning() {
        out.warn(w);
    }
    out.verbose(format_args!(
        "AWS credentials from {}, region {}",
        aws.credentials_source(),
        aws.region()
    ));
    // The load balancer `setup` made: its target group is the service's.
    let attached = crate::service::balancer::attach(&aws, config).await?;
    let config = attached.as_ref().unwrap_or(config);
    crate::interrupt::note("during the plan: nothing was changed yet");
    let plan = plan::plan(project, config, &aws, opts, out).await?;
    if opts.dry_run {
        return Ok(DeployReport::Plan {
            dry_run: true,
            project: config.project.clone(),
            stage: config.stage.clone(),
            steps: plan.steps(config),
            permissions: plan.permissions,
        });
    }
    execute(project, config, &aws, plan, opts, out).await
}

/// Carries out a plan: each step acts on what the plan found.
async fn execute(
    project: &Project,
    config: &Config,
    aws: &Aws,
    plan: plan::DeployPlan,
    opts: &DeployOptions,
    out: &Output,
) -> Result<DeployReport> {
    let plan::DeployPlan {
        build,
        region,
        pre,
        roles,
        login,
        repository,
        pushed_digest,
        definition,
        codebuild,
        will_run,
        schedule: schedule_plan,
        log_group_ready,
        ..
    } = plan;
    crate::build::codebuild::set_stop_on_interrupt(opts.run.stop_on_interrupt);
    crate::interrupt::note("after the plan: nothing was built, pushed or registered");
    // The plan's login carries the push: the registry is logged in to once.
    let target = publish::target_from_plan(aws, &repository, login, out).await?;
    let remote = codebuild.map(|checked| (aws, checked));
    out.group_start("build", &format!("Build and push {}", config.project));
    let pushed = compose::ship(project, config, build, target, pushed_digest, remote, out).await;
    out.group_end("build");
    let pushed = pushed?;
    let image = PinnedImage::parse(&pushed.image_uri)?;
    let mut prepared = match definition.prepared {
        Some(prepared) if prepared.image == image => prepared,
        // Just pushed: the registry holds it.
        _ => register::prepare(config, image, ImageCheck::Found, roles, &region, out)?,
    };
    prepared.log_group_ready = log_group_ready;
    let latest = Some(definition.latest);
    let (registered, run, service) =
        launch_kind(aws, config, &prepared, latest, &pre, will_run, opts, out).await?;
    let schedule = match (&schedule_plan, &pre.network) {
        (Some(schedule_plan), Some(network)) => Some(
            schedule(
                aws,
                config,
                schedule_plan,
                network,
                &registered,
                will_run,
                &pre,
                out,
            )
            .await?,
        ),
        _ => None,
    };
    // After the schedule moved to the new revision, so that the old one can go.
    let revisions = prune(aws, config, &registered, out).await;
    Ok(DeployReport::Done(Box::new(report::done(
        config, &prepared, pushed, registered, run, service, schedule, revisions,
    ))))
}

/// What follows the registration, by the stage's kind: the service rolled out (src/service/), or
/// the task run (a scheduled stage's only with --run-now).
#[allow(clippy::too_many_arguments)]
async fn launch_kind(
    aws: &Aws,
    config: &Config,
    prepared: &register::Prepared,
    latest: Option<Option<register::Latest>>,
    pre: &Preflight,
    will_run: bool,
    opts: &DeployOptions,
    out: &Output,
) -> Result<(
    register::RegisterReport,
    Option<crate::steps::run::RunReport>,
    Option<crate::service::deploy::ServiceReport>,
)> {
    if let Some(network) = &pre.network {
        if config.service.kind != crate::config::service::StageKind::Task {
            crate::interrupt::note(format!(
                "service {}: its deployment may be under way and ECS carries it on; `cargo fargate status` shows it, `cargo fargate rollback` undoes it",
                crate::names::service(config)
            ));
            let (r, s) = crate::service::deploy::finish(
                aws,
                config,
                prepared,
                latest,
                pre.cluster_exists,
                network,
                &opts.wait,
                out,
            )
            .await?;
            return Ok((r, None, Some(s)));
        }
    }
    // A scheduled stage's preflight checked the network for the schedule, not to run now.
    let no_run = Preflight {
        cluster_exists: true,
        network: None,
        environment: Default::default(),
    };
    out.group_start("task", &format!("Task of {}", crate::names::family(config)));
    let launched = launch(
        aws,
        config,
        prepared,
        latest,
        if will_run { pre } else { &no_run },
        &opts.run,
        out,
    )
    .await;
    out.group_end("task");
    let (r, run) = launched?;
    Ok((r, run, None))
}

/// A scheduled stage's schedule, pointed at the registered revision (the cluster made first when
/// no run made it).
#[allow(clippy::too_many_arguments)]
async fn schedule(
    aws: &Aws,
    config: &Config,
    plan: &crate::schedule::Plan,
    network: &crate::steps::run::Network,
    registered: &register::RegisterReport,
    will_run: bool,
    pre: &Preflight,
    out: &Output,
) -> Result<crate::schedule::ScheduleReport> {
    crate::interrupt::note(format!(
        "task definition {} is registered; the schedule may not point at it yet (run deploy again)",
        registered.task_definition.arn
    ));
    if !will_run && !pre.cluster_exists {
        aws.create_cluster(&config.names.cluster, &crate::names::stage_tags(config))
            .await?;
        out.status("Created", format_args!("cluster {}", config.names.cluster));
    }
    crate::schedule::apply(
        aws,
        config,
        plan,
        network,
        &registered.task_definition.arn,
        out,
    )
    .await
}

/// keep-revisions. Housekeeping: once the task has run (or the service moved), its failure is a
/// warning and never the deploy's result or exit code. Nothing registered, nothing surplus: a
/// deploy that registered no revision leaves pruning to the next one that does (a round trip
/// saved on every unchanged deploy).
async fn prune(
    aws: &Aws,
    config: &Config,
    registered: &register::RegisterReport,
    out: &Output,
) -> crate::revisions::PruneReport {
    crate::interrupt::note(
        "the deploy is done; only deregistering old revisions (keep-revisions) was cut short",
    );
    let skipped = || crate::revisions::PruneReport {
        keep: config.keep_revisions,
        ..Default::default()
    };
    if !registered.task_definition.registered {
        return skipped();
    }
    match crate::revisions::prune(aws, config, out).await {
        Ok(r) => r,
        Err(e) => {
            out.warn(format_args!(
                "keep-revisions: old revisions of the family were not deregistered: {e:#} (the deploy's result stands; the next deploy prunes them)"
            ));
            skipped()
        }
    }
}
