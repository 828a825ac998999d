//! The ECR side of `publish`: the repository ensured (scan on push, encryption, tag mutability,
//! lifecycle policy), registry login checked, and the image pushed — unless the registry already
//! holds its content tag, in which case build and push are skipped ("up to date").

use std::fmt;
use std::time::Instant;

use serde::Serialize;

use crate::aws::ecr::{RepositoryFound, RepositorySpec, RepositoryState};
use crate::aws::{Aws, AwsOptions};
use crate::build::{self, Artifact, BuildOutput};
use crate::config::resolve::TagMutability;
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::output::Output;
use crate::registry::{self, Credentials, Registry};

use super::{lifecycle_policy, sbom, SbomPush};

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
    /// The SBOM artifact pushed next to the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sbom: Option<SbomPush>,
    /// The `codebuild` builder's build: its id, the archive and the bytes uploaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codebuild: Option<build::codebuild::Built>,
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

impl Target {
    /// What a build needs to pull a base image from the push registry (the host builder does).
    pub fn base_access(&self) -> build::BaseAccess {
        build::BaseAccess {
            credentials: Some(self.credentials.clone()),
            push_registry: Some(self.registry.host.clone()),
        }
    }
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

/// What making the repository match the configuration would change (read-only).
#[derive(Debug, Clone)]
pub struct RepositoryPlan {
    pub name: String,
    pub tag_mutability: TagMutability,
    pub tags: std::collections::BTreeMap<String, String>,
    /// The repository as it is; `None`: it is created.
    pub found: Option<RepositoryFound>,
    pub lifecycle_policy: serde_json::Value,
    /// Whether the lifecycle policy in place differs (or there is none).
    pub lifecycle_policy_changes: bool,
    /// An existing repository not tagged as this stage's, taken over (`adopt = true`): it is
    /// tagged before it is changed.
    pub adopt: bool,
}

impl RepositoryPlan {
    /// The settings that would be changed on an existing repository.
    pub fn updates(&self) -> Vec<&'static str> {
        let Some(found) = &self.found else {
            return Vec::new();
        };
        let mut updates = Vec::new();
        if !found.scan_on_push {
            updates.push("scan-on-push");
        }
        if found.tag_mutability != Some(self.tag_mutability) {
            updates.push("tag-mutability");
        }
        updates
    }

    /// Whether applying the plan changes anything.
    pub fn changes(&self) -> bool {
        self.found.is_none() || !self.updates().is_empty() || self.lifecycle_policy_changes
    }

    /// One line for a plan: what would be done to the repository.
    pub fn describe(&self) -> String {
        let mut what = Vec::new();
        match &self.found {
            None => what.push(format!(
                "create ECR repository {} (scan on push, {})",
                self.name, self.tag_mutability
            )),
            Some(_) => {
                if self.adopt {
                    what.push(format!("adopt ECR repository {} (tag it)", self.name));
                }
                for u in self.updates() {
                    what.push(format!("update {u} of ECR repository {}", self.name));
                }
            }
        }
        if self.lifecycle_policy_changes {
            what.push(format!("put the lifecycle policy of {}", self.name));
        }
        what.join("; ")
    }
}

/// Reads the repository and its lifecycle policy and compares them with the configuration.
pub async fn plan_repository(aws: &Aws, config: &Config) -> Result<RepositoryPlan> {
    let found = aws.describe_repository(&config.names.repository).await?;
    let policy = lifecycle_policy(&config.stages, &config.lifecycle)?;
    let current = match &found {
        Some(_) => aws.lifecycle_policy(&config.names.repository).await?,
        None => None,
    };
    let mut plan = RepositoryPlan {
        name: config.names.repository.clone(),
        tag_mutability: config.tag_mutability,
        tags: crate::names::stage_tags(config),
        lifecycle_policy_changes: current.as_ref() != Some(&policy),
        lifecycle_policy: policy,
        found,
        adopt: false,
    };
    // Someone else's repository is used as it is, never rewritten (the rule teardown keeps it by).
    if plan.found.is_some() && plan.changes() {
        let tags = aws
            .repository_tags(&config.names.repository)
            .await?
            .unwrap_or_default();
        plan.adopt = crate::iam::may_update(
            config,
            &format!("ECR repository `{}`", config.names.repository),
            &tags,
            &plan.describe(),
        )?;
    }
    Ok(plan)
}

/// Carries out a repository plan: creates the repository or turns on what is off, and puts the
/// lifecycle policy when it differs. Never deletes or weakens anything else.
pub async fn apply_repository(
    aws: &Aws,
    plan: &RepositoryPlan,
    out: &Output,
) -> Result<(RepositoryState, bool)> {
    let name = &plan.name;
    let (uri, created) = match &plan.found {
        Some(found) => (found.uri.clone(), false),
        None => {
            let uri = aws
                .create_repository(&RepositorySpec {
                    name,
                    tag_mutability: plan.tag_mutability,
                    tags: &plan.tags,
                })
                .await?;
            out.status(
                "Created",
                format_args!(
                    "ECR repository {name} (scan on push, {})",
                    plan.tag_mutability
                ),
            );
            (uri, true)
        }
    };
    if plan.adopt {
        aws.tag_repository(name, &plan.tags).await?;
        out.status(
            "Adopted",
            format_args!("ECR repository {name} (tagged as this stage's)"),
        );
    }
    let mut updated = Vec::new();
    for setting in plan.updates() {
        match setting {
            "scan-on-push" => aws.set_scan_on_push(name).await?,
            _ => aws.set_tag_mutability(name, plan.tag_mutability).await?,
        }
        out.status(
            "Updated",
            format_args!("{setting} of ECR repository {name}"),
        );
        updated.push(setting.to_string());
    }
    if plan.lifecycle_policy_changes {
        aws.put_lifecycle_policy(name, &plan.lifecycle_policy)
            .await?;
        out.status("Updated", format_args!("lifecycle policy of {name}"));
    }
    Ok((
        RepositoryState {
            name: name.clone(),
            uri,
            created,
            updated,
        },
        plan.lifecycle_policy_changes,
    ))
}

/// Ensures the repository and its lifecycle policy, for a checked login.
pub async fn target(aws: &Aws, config: &Config, login: Login, out: &Output) -> Result<Target> {
    let plan = plan_repository(aws, config).await?;
    target_from_plan(aws, &plan, login, out).await
}

/// [`target`] for a repository plan made earlier (a deploy's).
pub async fn target_from_plan(
    aws: &Aws,
    plan: &RepositoryPlan,
    login: Login,
    out: &Output,
) -> Result<Target> {
    let (repository, lifecycle_policy_updated) = apply_repository(aws, plan, out).await?;
    Ok(Target {
        registry: login.registry,
        credentials: login.credentials,
        repository,
        lifecycle_policy_updated,
    })
}

/// Where the image goes: `host/repository` of the push registry, and ECR's URI for pinning.
pub(super) fn names(target: &Target, config: &Config) -> (String, String) {
    let pushed_to = format!("{}/{}", target.registry.host, config.names.repository);
    let uri = if target.repository.uri.is_empty() {
        pushed_to.clone()
    } else {
        target.repository.uri.clone()
    };
    (pushed_to, uri)
}

/// The push when the registry already holds the content tag: nothing to build or push.
pub async fn up_to_date(
    target: &Target,
    config: &Config,
    content_tag: &str,
    digest: Option<String>,
    started: Instant,
    out: &Output,
) -> Result<Option<PushOutput>> {
    let digest = match digest {
        Some(d) => d,
        None => match target
            .registry
            .manifest_digest(&config.names.repository, content_tag)
            .await?
        {
            Some(d) => d,
            None => return Ok(None),
        },
    };
    let (pushed_to, uri) = names(target, config);
    out.status(
        "Fresh",
        format_args!("{pushed_to}:{content_tag} is up to date"),
    );
    Ok(Some(PushOutput {
        sbom: None,
        image_uri: format!("{uri}@{digest}"),
        repository: target.repository.clone(),
        lifecycle_policy_updated: target.lifecycle_policy_updated,
        pushed_to,
        digest,
        tags: vec![content_tag.to_string()],
        up_to_date: true,
        layers_pushed: 0,
        layers_skipped: 0,
        build: None,
        codebuild: None,
        seconds: started.elapsed().as_secs_f64(),
    }))
}

/// Pushes a built image (either builder's) with its tags.
pub async fn publish(
    built: BuildOutput,
    target: Target,
    config: &Config,
    started: Instant,
    out: &Output,
) -> Result<PushOutput> {
    let pushed = match &built.artifact {
        Artifact::Host(image) => push_oci(image, &target, config, &built.plan, out).await?,
        Artifact::Docker { tag, .. } => {
            super::engine::push_docker(tag, &built, &target, config, out).await?
        }
        Artifact::DockerPlatforms(platforms) => {
            super::engine::push_platforms(platforms, &built.plan, &target, config, out).await?
        }
    };
    let sbom = match &built.sbom {
        Some(path) => Some(
            sbom::push_sbom(
                &target.registry,
                &config.names.repository,
                &pushed.digest,
                path,
                out,
            )
            .await?,
        ),
        None => None,
    };
    // A multi-platform image: each platform's image gets the SBOM too (a client that resolved the
    // index asks about the image it pulls).
    for (platform, path) in pushed.platforms.iter().zip(&built.platform_sboms) {
        sbom::push_sbom(
            &target.registry,
            &config.names.repository,
            platform,
            path,
            out,
        )
        .await?;
    }
    let (pushed_to, uri) = names(&target, config);
    Ok(PushOutput {
        sbom,
        image_uri: format!("{uri}@{}", pushed.digest),
        repository: target.repository,
        lifecycle_policy_updated: target.lifecycle_policy_updated,
        pushed_to,
        digest: pushed.digest,
        tags: pushed.tags,
        up_to_date: false,
        layers_pushed: pushed.layers_pushed,
        layers_skipped: pushed.layers_skipped,
        build: Some(built),
        codebuild: None,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What one push did.
pub(super) struct Pushed {
    pub digest: String,
    pub tags: Vec<String>,
    pub layers_pushed: usize,
    pub layers_skipped: usize,
    /// Each platform's image digest of a multi-platform image (empty for one platform).
    pub platforms: Vec<String>,
}

/// Tags to put besides the content tag, less those an immutable repository already gives to
/// another image (kept as they are, with a warning).
pub(super) async fn free_tags(
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
                    .manifest_digest(&config.names.repository, tag)
                    .await?,
                digest,
            ) {
                if existing != ours {
                    out.warn(format_args!(
                        "{}/{}:{tag} already names another image; left as it is",
                        target.registry.host, config.names.repository
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
    let stats = super::push(
        image,
        &target.registry,
        &config.names.repository,
        &tags,
        out,
    )
    .await?;
    Ok(Pushed {
        digest: stats.digest,
        tags,
        layers_pushed: stats.blobs_uploaded,
        layers_skipped: stats.blobs_skipped + stats.blobs_mounted,
        platforms: image
            .platforms
            .iter()
            .map(|p| p.manifest_digest.clone())
            .collect(),
    })
}

/// For `build` on its own with the host builder: ECR credentials when the base image lives in the
/// push registry (the registry endpoint, or an ECR host), anonymous access otherwise.
pub async fn base_access(config: &Config, aws_options: &AwsOptions) -> Result<build::BaseAccess> {
    if config.build.builder != crate::config::resolve::Builder::Host
        || config.build.runtime_image == crate::config::resolve::SCRATCH
    {
        return Ok(build::BaseAccess::default());
    }
    let base = registry::ImageRef::parse(&config.build.runtime_image)?;
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
/// pinned image: how `register` checks an image when ECR's own registry is not reachable.
pub async fn check_pushed(
    registry: &Registry,
    repository: &str,
    image: &crate::image::PinnedImage,
) -> Result<crate::aws::image::ImageCheck> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(found: Option<RepositoryFound>, lifecycle_policy_changes: bool) -> RepositoryPlan {
        RepositoryPlan {
            name: "app-dev".into(),
            tag_mutability: TagMutability::Immutable,
            tags: Default::default(),
            found,
            lifecycle_policy: serde_json::json!({}),
            lifecycle_policy_changes,
            adopt: false,
        }
    }

    #[test]
    fn a_repository_plan_names_every_change_and_only_those() {
        let missing = plan(None, true);
        assert!(missing.changes());
        assert_eq!(
            missing.describe(),
            "create ECR repository app-dev (scan on push, IMMUTABLE); put the lifecycle policy of app-dev"
        );
        let as_wanted = RepositoryFound {
            uri: "1.dkr.ecr.r.amazonaws.com/app-dev".into(),
            scan_on_push: true,
            tag_mutability: Some(TagMutability::Immutable),
        };
        let same = plan(Some(as_wanted.clone()), false);
        assert!(!same.changes());
        assert_eq!(same.describe(), "");
        let drifted = plan(
            Some(RepositoryFound {
                scan_on_push: false,
                tag_mutability: Some(TagMutability::Mutable),
                ..as_wanted
            }),
            false,
        );
        assert!(drifted.changes());
        assert_eq!(drifted.updates(), ["scan-on-push", "tag-mutability"]);
        assert_eq!(
            drifted.describe(),
            "update scan-on-push of ECR repository app-dev; update tag-mutability of ECR repository app-dev"
        );
    }
}
