//! The deploy plan: every read-only question a deploy asks, asked once — identity, roles,
//! permissions, the registry login, the repository's settings, whether the image is pushed, whether
//! the task definition would change, the run's network. `--dry-run` prints it; `deploy` carries it
//! out without asking again.

use super::permissions;
use crate::aws::image::ImageCheck;
use crate::aws::{Aws, Identity};
use crate::build;
use crate::config::Config;
use crate::error::Result;
use crate::iam::roles;
use crate::image::PinnedImage;
use crate::output::Output;
use crate::project::Project;
use crate::publish::{self, Login, RepositoryPlan};
use crate::steps::register::{self, Latest, Prepared};
use crate::steps::render;

use super::compose::{self, Preflight};
use super::report::Step;
use super::DeployOptions;

/// The task definition step of a plan.
pub struct DefinitionPlan {
    /// Rendered with the pushed image, when the registry already holds it (else the image is new).
    pub prepared: Option<Prepared>,
    /// The latest ACTIVE revision of the family, normalised.
    pub latest: Option<Latest>,
    /// Whether a new revision is registered.
    pub changes: bool,
}

pub struct DeployPlan {
    pub build: build::Plan,
    pub identity: Identity,
    pub region: String,
    pub pre: Preflight,
    pub roles: roles::Plan,
    pub permissions: permissions::Checked,
    /// The registry login, checked: the push uses it (the registry is logged in to once).
    pub login: Login,
    pub repository: RepositoryPlan,
    /// The digest under the content tag when the registry holds it: build and push are skipped.
    pub pushed_digest: Option<String>,
    pub definition: DefinitionPlan,
    /// The `codebuild` builder's bucket, role and project, checked.
    pub codebuild: Option<build::codebuild::Checked>,
    /// Its `upload` and `project` steps, for `--dry-run`.
    pub remote_steps: Vec<(&'static str, bool, String)>,
    /// kind = "service" | "web": what the deploy does to the service (instead of a run).
    pub service: Option<Step>,
    /// Whether a task runs now (a scheduled stage runs only with --run-now).
    pub will_run: bool,
    /// The schedule of a scheduled stage.
    pub schedule: Option<crate::schedule::Plan>,
    /// The log group exists with the configured retention: the register step leaves it alone.
    pub log_group_ready: bool,
}

/// Asks every read-only question of a deploy; fails, having changed nothing, when the plan cannot
/// be carried out.
pub async fn plan(
    project: &Project,
    config: &Config,
    aws: &Aws,
    opts: &DeployOptions,
    out: &Output,
) -> Result<DeployPlan> {
    // A scheduled stage is registered and scheduled; it runs now only with --run-now.
    let scheduled = config.schedule.is_some();
    let will_run = !opts.no_run && (!scheduled || opts.run_now);
    // package: what goes into the image (the source archive's file list and hash).
    let build = build::plan(project, config)?;
    let region = aws.region();
    let family = crate::names::family(config);
    out.progress("Planning", "reading the stage's resources");
    // The plan's reads, at once: it costs its longest chain (identity -> roles -> schedule; the
    // registry login -> the image), not the sum. Errors are reported in this order, whichever
    // came first, so the same input always gets the same line.
    let (ids, pre, pushed, repository, log_group, described, codebuild) = tokio::join!(
        who(aws, config, &region),
        compose::preflight(aws, config, &opts.run, will_run || scheduled),
        pushed(aws, config, &build.content_tag),
        publish::plan_repository(aws, config),
        // Someone else's log group of the stage's name is refused now, not after the push.
        register::inspect_log_group(aws, config, &config.container.log_group),
        aws.latest_task_definition(&family),
        async {
            Ok::<_, anyhow::Error>(
                compose::check_remote(aws, project, config, &build)
                    .await?
                    .map(|(_, checked)| checked),
            )
        },
    );
    let (identity, roles, schedule) = ids?;
    let pre = pre?;
    let (login, pushed_digest) = pushed?;
    let (repository, log_group, described, codebuild) =
        (repository?, log_group?, described?, codebuild?);
    let remote_steps = match (&codebuild, opts.dry_run) {
        (Some(checked), true) => {
            let pushed = pushed_digest.is_some();
            build::codebuild::steps(aws, project, config, &build, checked, pushed).await?
        }
        _ => Vec::new(),
    };

    let definition = definition_plan(
        config,
        &identity,
        &region,
        &repository,
        &roles,
        pushed_digest.as_deref(),
        described,
        out,
    )?;
    let service_step = service_step(aws, config, &pre, &definition);
    out.progress("Checking", "permissions");
    let needs = permissions::Needs {
        config,
        identity: &identity,
        region: &region,
        roles: &roles,
        create_cluster: !pre.cluster_exists,
        will_run,
        pushed: pushed_digest.is_some(),
        repository: repository_needs(&repository),
        register: definition.changes,
        log_group_writes: log_group.writes,
        dry_run: opts.dry_run,
    };
    let (service, permissions) = tokio::try_join!(service_step, permissions::check(aws, &needs))?;
    Ok(DeployPlan {
        build,
        identity,
        region,
        pre,
        roles,
        permissions,
        login,
        repository,
        pushed_digest,
        definition,
        codebuild,
        remote_steps,
        service,
        will_run,
        schedule,
        log_group_ready: !log_group.writes,
    })
}

/// The definition as it will be registered (the digest is known once pushed; its length is not):
/// ECS's model and size limits are checked now, before anything changes.
#[allow(clippy::too_many_arguments)]
fn definition_plan(
    config: &Config,
    identity: &Identity,
    region: &str,
    repository: &RepositoryPlan,
    roles: &roles::Plan,
    pushed_digest: Option<&str>,
    described: Option<serde_json::Value>,
    out: &Output,
) -> Result<DefinitionPlan> {
    let repository_uri = match &repository.found {
        Some(found) if !found.uri.is_empty() => found.uri.clone(),
        _ => format!(
            "{}.dkr.ecr.{region}.amazonaws.com/{}",
            identity.account, config.names.repository
        ),
    };
    let placeholder = format!("sha256:{}", "0".repeat(64));
    let digest = pushed_digest.unwrap_or(&placeholder);
    let image = PinnedImage::parse(&format!("{repository_uri}@{digest}"))?;
    let rendered = render::render(&render::RenderInput {
        config,
        image: &image,
        task_role_arn: &roles.task.arn,
        execution_role_arn: &roles.execution.arn,
        region,
    })?;
    let latest = register::latest_of(described, &rendered);
    if pushed_digest.is_none() {
        // A new image is a new definition.
        return Ok(DefinitionPlan {
            prepared: None,
            latest,
            changes: true,
        });
    }
    let changes = latest
        .as_ref()
        .is_none_or(|l| l.definition != register::normalise(&rendered));
    let prepared = register::prepare(config, image, ImageCheck::Found, roles.clone(), region, out)?;
    Ok(DefinitionPlan {
        prepared: Some(prepared),
        latest,
        changes,
    })
}

/// The caller, the stage's roles and its schedule: one chain, each read needing the one before.
async fn who(
    aws: &Aws,
    config: &Config,
    region: &str,
) -> Result<(Identity, roles::Plan, Option<crate::schedule::Plan>)> {
    let identity = aws.identity().await?;
    crate::service::deploy::check(config, &identity, region)?;
    let roles = roles::plan(aws, config, &identity, region, None).await?;
    let schedule = crate::schedule::plan(aws, config, &identity, &roles).await?;
    Ok((identity, roles, schedule))
}

/// The registry login, and the digest under the content tag when the image is already pushed.
async fn pushed(aws: &Aws, config: &Config, content_tag: &str) -> Result<(Login, Option<String>)> {
    let login = publish::login(aws, config).await?;
    let digest = login
        .registry
        .manifest_digest(&config.names.repository, content_tag)
        .await?;
    Ok((login, digest))
}

/// What the push needs of the repository, for the permission check.
fn repository_needs(repository: &RepositoryPlan) -> permissions::Repository {
    match &repository.found {
        None => permissions::Repository::Create,
        Some(_) if repository.changes() => permissions::Repository::Update,
        Some(_) => permissions::Repository::Keep,
    }
}

/// kind = "service" | "web": the service's line of the plan (an unchanged definition keeps the
/// revision the service runs).
async fn service_step(
    aws: &Aws,
    config: &Config,
    pre: &Preflight,
    definition: &DefinitionPlan,
) -> Result<Option<Step>> {
    match &pre.network {
        Some(n) if config.service.kind != crate::config::service::StageKind::Task => {
            let running = (!definition.changes)
                .then(|| definition.latest.as_ref().map(|l| l.arn.clone()))
                .flatten();
            let line = crate::service::deploy::plan_step(aws, config, n, running).await?;
            Ok(Some(Step {
                step: "service",
                changes: line.changes,
                action: line.action,
            }))
        }
        _ => Ok(None),
    }
}

/// The path dependencies outside the workspace root the build takes along, for the package step.
fn outside(plan: &build::Plan) -> String {
    if plan.outside.is_empty() {
        return String::new();
    }
    let crates: Vec<String> = plan
        .outside
        .iter()
        .map(|o| format!("{} at {}", o.name, o.from_workspace))
        .collect();
    format!(
        ", with path dependencies outside the workspace root: {}",
        crates.join(", ")
    )
}

impl DeployPlan {
    /// The plan as `--dry-run` shows it: `changes` on every step that would change something.
    pub fn steps(&self, config: &Config) -> Vec<Step> {
        let plan = &self.build;
        let registry = &self.login.registry;
        let mut steps = Vec::new();

        let source_bytes: u64 = plan.entries.iter().map(|e| e.size).sum();
        steps.push(Step {
            step: "package",
            changes: false,
            action: format!(
                "{} files, {source_bytes} bytes, source sha256 {}{}",
                plan.entries.len(),
                &plan.source_sha256[..16],
                outside(plan)
            ),
        });
        steps.extend(
            self.remote_steps
                .iter()
                .map(|(step, changes, action)| Step {
                    step,
                    changes: *changes,
                    action: action.clone(),
                }),
        );
        let image = format!(
            "{}/{}:{}",
            registry.host, config.names.repository, plan.content_tag
        );
        let builder = serde_json::to_value(plan.builder)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        steps.push(Step {
            step: "build",
            changes: self.pushed_digest.is_none(),
            action: match &self.pushed_digest {
                Some(_) => format!("skip: {image} is up to date"),
                None => format!(
                    "build {image} with the {builder} builder for {}",
                    plan.platform
                ),
            },
        });
        let repository = self.repository.describe();
        steps.push(Step {
            step: "push",
            changes: self.pushed_digest.is_none() || self.repository.changes(),
            action: match (&self.pushed_digest, repository.is_empty()) {
                (Some(d), true) => format!("skip: {} already holds {d}", registry.host),
                (Some(d), false) => {
                    format!("{repository}; {} already holds {d}", registry.host)
                }
                (None, true) => format!("push {} ({})", image, plan.tags.join(", ")),
                (None, false) => format!("{repository} and push {image}"),
            },
        });
        steps.push(self.register_step(config));
        if let Some(service) = &self.service {
            steps.push(service.clone());
            return steps;
        }
        steps.push(self.run_step(config));
        if let Some(schedule) = &self.schedule {
            let (changes, action) = schedule.describe();
            steps.push(Step {
                step: "schedule",
                changes,
                action,
            });
        }
        steps
    }

    /// The register step: keep or register the definition, and the roles it names.
    fn register_step(&self, config: &Config) -> Step {
        let role = |r: &roles::RolePlan| match &r.managed {
            Some(_) => format!("managed {}", r.name),
            None => format!("given {}", r.arn),
        };
        let family = crate::names::family(config);
        let register_action = match (&self.definition.prepared, &self.definition.latest) {
            (Some(_), Some(l)) if !self.definition.changes => {
                format!("keep {family}:{} (unchanged)", l.revision)
            }
            (Some(_), Some(l)) => format!(
                "register {family}:{} (differs from the latest; see `cargo fargate diff`)",
                l.revision + 1
            ),
            (Some(_), None) => format!("register {family}:1"),
            (None, _) => format!("register a new revision of {family} with the new image"),
        };
        // Managed roles that do not exist yet are created by the register step.
        let new_roles: Vec<&str> = [&self.roles.task, &self.roles.execution]
            .into_iter()
            .filter(|r| r.managed.as_ref().is_some_and(|d| !d.exists))
            .map(|r| r.name.as_str())
            .collect();
        let creates = match new_roles.as_slice() {
            [] => String::new(),
            names => format!("; create role {}", names.join(", ")),
        };
        Step {
            step: "register",
            changes: self.definition.changes || !new_roles.is_empty(),
            action: format!(
                "{register_action}; task role {}, execution role {}{creates}",
                role(&self.roles.task),
                role(&self.roles.execution)
            ),
        }
    }

    /// The run step: where the task runs, or why it does not run now.
    fn run_step(&self, config: &Config) -> Step {
        match &self.pre.network {
            Some(_) if !self.will_run => Step {
                step: "run",
                changes: false,
                action: "not now: the schedule runs it (--run-now to run it once too)".into(),
            },
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
                    if self.pre.cluster_exists {
                        ""
                    } else {
                        "a new "
                    },
                    config.names.cluster,
                    n.vpc,
                    n.subnets.join(", "),
                    n.security_groups.join(", "),
                    if n.assign_public_ip {
                        "yes: AWS charges $0.005/hour for it while the task runs"
                    } else {
                        "no"
                    },
                ),
            },
        }
    }
}
