//! Stage `push`: ECR repository ensured (scan on push, encryption, tag mutability, lifecycle policy),
//! registry login checked, and the image pushed — unless the registry already holds its content tag,
//! in which case build and push are skipped ("up to date").

use std::fmt;
use std::time::Instant;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptions, TagImageOptions};
use serde::Serialize;

use crate::aws::ecr::{lifecycle_policy, RepositorySpec, RepositoryState};
use crate::aws::{Aws, AwsOptions};
use crate::build::{self, BuildOutput};
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::output::Output;
use crate::project::Project;
use crate::registry::{self, Credentials, Registry};

#[derive(Debug, Serialize)]
pub struct PushOutput {
    pub repository: RepositoryState,
    pub lifecycle_policy_updated: bool,
    /// The image as Fargate pulls it: ECR's repository URI pinned by digest.
    pub image_uri: String,
    /// Where it was pushed (the registry endpoint override, when one is set).
    pub pushed_to: String,
    pub digest: String,
    pub tags: Vec<String>,
    pub up_to_date: bool,
    pub layers_pushed: usize,
    pub layers_skipped: usize,
    pub build: Option<BuildOutput>,
    pub seconds: f64,
}

impl fmt::Display for PushOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.repository.created {
            " (created)"
        } else {
            ""
        };
        writeln!(f, "repository {}{state}", self.repository.uri)?;
        writeln!(f, "image      {}", self.image_uri)?;
        writeln!(f, "pushed to  {}", self.pushed_to)?;
        writeln!(f, "tags       {}", self.tags.join(", "))?;
        if self.up_to_date {
            writeln!(f, "status     up to date (build and push skipped)")?;
        } else {
            writeln!(
                f,
                "status     pushed ({} layers, {} already there)",
                self.layers_pushed, self.layers_skipped
            )?;
        }
        writeln!(f, "took       {:.1}s", self.seconds)
    }
}

/// The registry session a push needs: where, as whom, and the ECR repository state.
pub struct Target {
    pub registry: Registry,
    pub credentials: Credentials,
    pub repository: RepositoryState,
    pub lifecycle_policy_updated: bool,
}

/// A checked registry login: the registry this machine pushes to (the `registry-endpoint`, else
/// the one ECR reports) and ECR's credentials for it.
pub struct Login {
    pub registry: Registry,
    pub credentials: Credentials,
}

/// Logs in with ECR's token and checks the registry accepts it (read-only; refused before anything
/// is created).
pub async fn login(aws: &Aws, config: &Config) -> Result<Login> {
    let login = aws.registry_login().await?;
    let endpoint = match &config.registry_endpoint {
        Some(e) => e.clone(),
        None => registry::endpoint(&login.proxy_endpoint).1,
    };
    let registry = Registry::new(&endpoint, Some(login.credentials.clone()))?;
    registry.check_login().await?;
    Ok(Login {
        registry,
        credentials: login.credentials,
    })
}

/// Ensures the repository and its lifecycle policy, for a checked login.
pub async fn target(aws: &Aws, config: &Config, login: Login, out: &Output) -> Result<Target> {
    let Login {
        registry,
        credentials,
    } = login;
    let repository = aws
        .ensure_repository(&RepositorySpec {
            name: &config.repository,
            tag_mutability: &config.tag_mutability,
            tags: &crate::iam::stage_tags(config),
        })
        .await?;
    if repository.created {
        out.status(
            "Created",
            format_args!(
                "ECR repository {} (scan on push, {})",
                config.repository, config.tag_mutability
            ),
        );
    }
    for setting in &repository.updated {
        out.status(
            "Updated",
            format_args!("{setting} of ECR repository {}", config.repository),
        );
    }
    let policy = lifecycle_policy(&config.stages, &config.lifecycle)?;
    let lifecycle_policy_updated = aws
        .ensure_lifecycle_policy(&config.repository, &policy)
        .await?;
    if lifecycle_policy_updated {
        out.status(
            "Updated",
            format_args!("lifecycle policy of {}", config.repository),
        );
    }
    Ok(Target {
        registry,
        credentials,
        repository,
        lifecycle_policy_updated,
    })
}

pub async fn run(
    project: &Project,
    config: &Config,
    plan: build::Plan,
    aws: &Aws,
    login: Login,
    out: &Output,
) -> Result<PushOutput> {
    let started = Instant::now();
    let target = target(aws, config, login, out).await?;
    let host = target.registry.host.clone();
    let pushed_to = format!("{host}/{}", config.repository);
    let canonical = |digest: &str| {
        let uri = if target.repository.uri.is_empty() {
            pushed_to.clone()
        } else {
            target.repository.uri.clone()
        };
        format!("{uri}@{digest}")
    };

    if let Some(digest) = target
        .registry
        .manifest_digest(&config.repository, &plan.content_tag)
        .await?
    {
        out.status(
            "Fresh",
            format_args!("{pushed_to}:{} is up to date", plan.content_tag),
        );
        return Ok(PushOutput {
            image_uri: canonical(&digest),
            repository: target.repository,
            lifecycle_policy_updated: target.lifecycle_policy_updated,
            pushed_to,
            digest,
            tags: vec![plan.content_tag],
            up_to_date: true,
            layers_pushed: 0,
            layers_skipped: 0,
            build: None,
            seconds: started.elapsed().as_secs_f64(),
        });
    }

    let access = build::BaseAccess {
        credentials: Some(target.credentials.clone()),
        push_registry: Some(host.clone()),
    };
    let built = build::run(project, config, plan, access, out).await?;
    let pushed = match &built.oci {
        Some(image) => push_oci(image, &target, config, &built.plan, out).await?,
        None => push_docker(&built, &target, config, out).await?,
    };
    Ok(PushOutput {
        image_uri: canonical(&pushed.digest),
        repository: target.repository,
        lifecycle_policy_updated: target.lifecycle_policy_updated,
        pushed_to,
        digest: pushed.digest,
        tags: pushed.tags,
        up_to_date: false,
        layers_pushed: pushed.layers_pushed,
        layers_skipped: pushed.layers_skipped,
        build: Some(built),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What one push did.
struct Pushed {
    digest: String,
    tags: Vec<String>,
    layers_pushed: usize,
    layers_skipped: usize,
}

/// Tags to put besides the content tag, less those an immutable repository already gives to
/// another image (kept as they are, with a warning).
async fn free_tags(
    target: &Target,
    config: &Config,
    tags: &[String],
    digest: Option<&str>,
    out: &Output,
) -> Result<Vec<String>> {
    let mut free = Vec::new();
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            if let (Some(existing), Some(ours)) = (
                target
                    .registry
                    .manifest_digest(&config.repository, tag)
                    .await?,
                digest,
            ) {
                if existing != ours {
                    out.warn(format_args!(
                        "{}/{}:{tag} already names another image; left as it is",
                        target.registry.host, config.repository
                    ));
                    continue;
                }
            }
        }
        free.push(tag.clone());
    }
    Ok(free)
}

/// The host builder's image, blob by blob over the registry API.
async fn push_oci(
    image: &build::host::OciImage,
    target: &Target,
    config: &Config,
    plan: &build::Plan,
    out: &Output,
) -> Result<Pushed> {
    let tags = free_tags(
        target,
        config,
        &plan.tags,
        Some(&image.manifest_digest),
        out,
    )
    .await?;
    let stats = build::host::push(image, &target.registry, &config.repository, &tags, out).await?;
    Ok(Pushed {
        digest: stats.digest,
        tags,
        layers_pushed: stats.blobs_uploaded,
        layers_skipped: stats.blobs_skipped + stats.blobs_mounted,
    })
}

/// The docker builder's image, pushed by the engine (which skips layers the registry has).
async fn push_docker(
    built: &BuildOutput,
    target: &Target,
    config: &Config,
    out: &Output,
) -> Result<Pushed> {
    let docker = build::docker::connect().await?;
    let host = &target.registry.host;
    let pushed_to = format!("{host}/{}", config.repository);
    let credentials = DockerCredentials {
        username: Some(target.credentials.username.clone()),
        password: Some(target.credentials.password().to_string()),
        serveraddress: Some(host.clone()),
        ..Default::default()
    };
    let (mut pushed, mut skipped, mut tags) = (0, 0, Vec::new());
    let mut digest: Option<String> = None;
    for tag in &built.plan.tags {
        // The content tag goes first; the others are checked against its digest.
        if digest.is_some()
            && free_tags(
                target,
                config,
                &[built.plan.content_tag.clone(), tag.clone()],
                digest.as_deref(),
                out,
            )
            .await?
            .len()
                < 2
        {
            continue;
        }
        docker
            .tag_image(
                &built.image,
                Some(TagImageOptions {
                    repo: Some(pushed_to.clone()),
                    tag: Some(tag.clone()),
                }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("tagging {}: {e}", built.image))?;
        out.status("Pushing", format_args!("{pushed_to}:{tag}"));
        let mut stream = docker.push_image(
            &pushed_to,
            Some(PushImageOptions {
                tag: Some(tag.clone()),
                platform: None,
            }),
            Some(credentials.clone()),
        );
        // The engine reports progress as it goes; silence this long means the registry stalls.
        while let Some(item) = build::docker::next_report(&mut stream, crate::net::timeout(), |secs| {
            UserError::new(format!(
                "the Docker Engine reported no progress pushing {pushed_to}:{tag} for {secs}s: the registry {host} stalls"
            ))
            .fix("check `registry-endpoint` and your network, or allow longer with --timeout SECS; re-running resumes (pushed layers are skipped)")
            .into()
        })
        .await?
        {
            let info = item.map_err(|e| anyhow::anyhow!("pushing {pushed_to}:{tag}: {e}"))?;
            if let Some(detail) = info.error_detail {
                let message = detail.message.unwrap_or_default();
                if message.contains("unauthorized") || message.contains("authentication required") {
                    return Err(UserError::new(format!(
                        "the registry {host} refused the push: {message}"
                    ))
                    .fix("check your credentials may push to this repository")
                    .into());
                }
                return Err(anyhow::anyhow!("pushing {pushed_to}:{tag}: {message}"));
            }
            match info.status.as_deref() {
                Some("Pushed") => pushed += 1,
                Some(s) if s == "Layer already exists" || s.starts_with("Mounted from") => {
                    skipped += 1
                }
                _ => {}
            }
        }
        if digest.is_none() {
            digest = target
                .registry
                .manifest_digest(&config.repository, tag)
                .await?;
        }
        tags.push(tag.clone());
    }
    let digest = digest.ok_or_else(|| {
        anyhow::anyhow!(
            "the registry does not show {pushed_to}:{} after the push",
            built.plan.content_tag
        )
    })?;
    Ok(Pushed {
        digest,
        tags,
        layers_pushed: pushed,
        layers_skipped: skipped,
    })
}

/// For `build` on its own with the host builder: ECR credentials when the base image lives in the
/// push registry (the registry endpoint, or an ECR host), anonymous access otherwise.
pub async fn base_access(config: &Config, aws_options: &AwsOptions) -> Result<build::BaseAccess> {
    if config.builder != crate::config::resolve::Builder::Host {
        return Ok(build::BaseAccess::default());
    }
    let base = registry::ImageRef::parse(&config.runtime_image)?;
    let endpoint_host = config
        .registry_endpoint
        .as_deref()
        .map(|e| registry::endpoint(e).1);
    if endpoint_host.as_deref() != Some(base.registry.as_str())
        && !base.registry.contains(".dkr.ecr.")
    {
        return Ok(build::BaseAccess::default());
    }
    let aws = Aws::connect(aws_options).await?;
    let login = aws.registry_login().await?;
    let push_registry =
        endpoint_host.unwrap_or_else(|| registry::endpoint(&login.proxy_endpoint).1);
    Ok(build::BaseAccess {
        credentials: Some(login.credentials),
        push_registry: Some(push_registry),
    })
}

/// Whether the push registry (the `registry-endpoint`, where this machine reaches ECR) holds the
/// pinned image.
pub async fn check_pushed(
    aws: &Aws,
    config: &Config,
    repository: &str,
    image: &crate::render::PinnedImage,
) -> Result<crate::aws::image::ImageCheck> {
    let registry = login(aws, config).await?.registry;
    match registry.manifest_digest(repository, &image.digest).await? {
        Some(_) => Ok(crate::aws::image::ImageCheck::Found),
        None => Err(UserError::new(format!(
            "image `{}` was never pushed ({} has no {repository}@{})",
            image.reference, registry.host, image.digest
        ))
        .at(crate::error::Location::Flag("--image".into()))
        .fix("push it first (cargo fargate push) and pass the digest it prints")
        .into()),
    }
}
