//! The pipeline stages composed for the commands that chain them: build then push, the image check
//! then register, register then run. Stages never call each other; these functions do.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::aws::image::ImageCheck;
use crate::aws::Aws;
use crate::build;
use crate::config::Config;
use crate::error::Result;
use crate::iam::roles;
use crate::image::PinnedImage;
use crate::output::Output;
use crate::project::Project;
use crate::publish::{self, Login, PushOutput, Target};
use crate::steps::register::{self, Latest, Prepared, RegisterReport};
use crate::steps::run::{self, Network, RunOptions, RunReport, POLL};

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
    // The cluster and the network are read at once; a missing cluster is reported first.
    let (cluster_exists, network) = tokio::join!(
        aws.cluster_exists(&config.names.cluster),
        run::resolve_network(aws, config, opts.allow_default_vpc)
    );
    let cluster_exists = cluster_exists?;
    if !cluster_exists && !config.names.create_cluster {
        return Err(config
            .key_error(
                "create-cluster",
                format!(
                    "ECS cluster `{}` does not exist and creating it is turned off",
                    config.names.cluster
                ),
            )
            .fix(
                "create it, set `create-cluster = true`, or point `cluster` at an existing cluster",
            )
            .into());
    }
    Ok(Preflight {
        cluster_exists,
        network: Some(network?),
        environment,
    })
}

/// Whether a pinned image is there to be pulled, and for the task's architecture (Fargate would
/// start it and stop it at once with `exec format error`). With a registry endpoint, this machine
/// reaches ECR's registry there: it is asked, as push did; else ECR itself.
pub async fn check_image(aws: &Aws, config: &Config, image: &PinnedImage) -> Result<ImageCheck> {
    let Some(ecr) = image.ecr() else {
        return aws.check_image(image).await; // not ECR: Fargate pulls it, we do not read it
    };
    let architectures = match &config.registry_endpoint {
        Some(_) => {
            let login = publish::login(aws, config).await?;
            publish::check_pushed(&login.registry, &ecr.repository_name, image).await?;
            login
                .registry
                .image_architectures(&ecr.repository_name, &image.digest)
                .await?
        }
        None => {
            aws.check_image(image).await?;
            aws.image_architectures(&ecr.repository_name, &image.digest)
                .await?
        }
    };
    architecture_fits(config, image, &architectures)?;
    Ok(ImageCheck::Found)
}

/// Refuses an image none of whose platforms is the task's `runtimePlatform` (an image that names
/// no architecture is let through: Fargate will tell).
fn architecture_fits(
    config: &Config,
    image: &PinnedImage,
    architectures: &[String],
) -> Result<(), crate::error::UserError> {
    let want = config
        .size
        .architecture
        .platform()
        .trim_start_matches("linux/");
    if architectures.is_empty() || architectures.iter().any(|a| a == want) {
        return Ok(());
    }
    let have = architectures.join(", ");
    let other = if architectures.iter().any(|a| a == "arm64") {
        "arm64"
    } else {
        "x86_64"
    };
    let mut e = config.key_error(
        "architecture",
        format!(
            "image `{}` is for linux/{have}, but the task runs on {} (`architecture` = \"{}\")",
            image.reference,
            config.size.architecture.ecs(),
            config.size.architecture.as_config()
        ),
    );
    e.fix = Some(format!(
        "push an image for {want} (`cargo fargate push` with this configuration), or set `architecture = \"{other}\"` to run this one"
    ));
    Err(e)
}

/// Everything `register` needs checked (the image, the roles) and the definition rendered.
/// Read-only: on any error, nothing has been created.
pub async fn prepare(
    aws: &Aws,
    config: &Config,
    image: PinnedImage,
    out: &Output,
) -> Result<Prepared> {
    let identity = aws.identity().await?;
    let region = aws.region();
    let check = check_image(aws, config, &image).await?;
    let roles = roles::plan(aws, config, &identity, &region, Some(&image)).await?;
    register::prepare(config, image, check, roles, &region, out)
}

/// Builds the image unless the registry already holds its content tag, then pushes it. `known`:
/// the digest under the content tag when a plan already asked the registry (`None`: ask).
pub async fn ship(
    project: &Project,
    config: &Config,
    plan: build::Plan,
    target: Target,
    known: Option<String>,
    remote: Remote<'_>,
    out: &Output,
) -> Result<PushOutput> {
    let started = Instant::now();
    if let Some(done) =
        publish::up_to_date(&target, config, &plan.content_tag, known, started, out).await?
    {
        return Ok(done);
    }
    if let Some((aws, checked)) = remote {
        crate::interrupt::note(
            "before the CodeBuild build started: the source archive may be in the bucket; nothing was built, pushed or registered",
        );
        // CodeBuild builds and pushes; the registry's digest is checked, the plan's other tags put.
        let built = build::codebuild::build_and_push(
            aws,
            project,
            config,
            &plan,
            checked,
            &target.registry,
            out,
        )
        .await?;
        crate::interrupt::note(
            "CodeBuild pushed the image; its other tags and the task definition were not made (run the command again to finish)",
        );
        return publish::publish_remote(built, target, project, config, &plan, started, out).await;
    }
    crate::interrupt::note("the image build stopped; nothing was pushed or registered");
    let built = build::run(project, config, plan, target.base_access(), out).await?;
    crate::interrupt::note(format!(
        "the push to {} stopped part-way: the layers sent stay there, nothing was tagged or registered (run the command again to finish it)",
        target.registry.host
    ));
    publish::publish(built, target, config, started, out).await
}

/// The `codebuild` builder's checked bucket, role and project, with the clients to carry them out.
pub type Remote<'a> = Option<(&'a Aws, build::codebuild::Checked)>;

/// The `codebuild` builder's read-only checks (bucket, role, project), before anything is created.
pub async fn check_remote<'a>(
    aws: &'a Aws,
    project: &Project,
    config: &Config,
    plan: &build::Plan,
) -> Result<Remote<'a>> {
    Ok(match config.build.builder {
        crate::config::resolve::Builder::Codebuild => Some((
            aws,
            build::codebuild::check(aws, project, config, plan).await?,
        )),
        _ => None,
    })
}

/// `push`: the codebuild builder's checks, the repository ensured for the login, then [`ship`].
pub async fn push(
    project: &Project,
    config: &Config,
    plan: build::Plan,
    aws: &Aws,
    login: Login,
    out: &Output,
) -> Result<PushOutput> {
    let remote = check_remote(aws, project, config, &plan).await?;
    let target = publish::target(aws, config, login, out).await?;
    ship(project, config, plan, target, None, remote, out).await
}

/// Registers (roles, log group, task definition), then — when the preflight checked a network —
/// creates the cluster if needed and runs the task. `latest`: the latest revision when a plan
/// already read it. This is where a deploy's kind (task, service, schedule) decides what follows
/// the registration.
pub async fn launch(
    aws: &Aws,
    config: &Config,
    prepared: &Prepared,
    latest: Option<Option<Latest>>,
    pre: &Preflight,
    opts: &RunOptions,
    out: &Output,
) -> Result<(RegisterReport, Option<RunReport>)> {
    crate::interrupt::note(
        "the image is pushed; the task definition may be registered, no task was started",
    );
    let registered = register::apply(aws, config, prepared, latest, out).await?;
    crate::interrupt::note(format!(
        "task definition {} is registered; no task was started",
        registered.task_definition.arn
    ));
    let Some(network) = &pre.network else {
        return Ok((registered, None));
    };
    if !pre.cluster_exists {
        aws.create_cluster(&config.names.cluster, &crate::names::stage_tags(config))
            .await?;
        out.status("Created", format_args!("cluster {}", config.names.cluster));
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
            state_dir: opts.state_dir.as_deref(),
        },
    )
    .await?;
    Ok((registered, Some(report)))
}
