//! The `codebuild` builder: the image is built and pushed by AWS CodeBuild, with the same Dockerfile
//! as the docker builder.
//!
//! [`check`] reads everything first (the bucket: ours, here, private; the service role; the
//! project) and creates nothing, so a refused bucket or role stops the run before any change and
//! `--dry-run` shows the plan. [`build_and_push`] then uploads the source archive (skipped when S3
//! has it), makes the role, log group and project match, starts the build (one per platform, each in
//! its architecture's environment), follows it, and checks the digest it reports against the
//! registry before anything pins it; several platforms are joined into one image index.

pub mod follow;
pub mod project;
pub mod upload;

use crate::iam::codebuild as role;

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::aws::codebuild::ProjectSpec;
use crate::aws::Aws;
use crate::build::Plan;
use crate::config::resolve::Architecture;
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::output::Output;
use crate::project::Project;
use crate::registry::Registry;

static STOP_ON_INTERRUPT: AtomicBool = AtomicBool::new(false);

/// `--stop-on-interrupt`: Ctrl-C also stops the build (by default it only stops following it).
pub fn set_stop_on_interrupt(stop: bool) {
    STOP_ON_INTERRUPT.store(stop, Ordering::Relaxed);
}

/// Everything checked, nothing changed.
pub struct Checked {
    pub bucket: upload::BucketPlan,
    pub role: role::RolePlan,
    pub spec: ProjectSpec,
    pub project_found: Option<aws_sdk_codebuild::types::Project>,
}

/// One platform's image of a multi-platform build.
#[derive(Debug, Clone, Serialize)]
pub struct PlatformDigest {
    /// `x86_64` or `arm64`, as the configuration names it.
    pub architecture: String,
    pub digest: String,
}

/// What a CodeBuild build did.
#[derive(Debug, Clone, Serialize)]
pub struct Built {
    /// The build's id (several, space-separated, for a multi-platform image).
    pub build_id: String,
    /// The image's digest: its index's for a multi-platform image.
    pub digest: String,
    /// Each platform's image of a multi-platform one (empty for one platform).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformDigest>,
    pub archive: upload::Archive,
    pub bucket: String,
    /// 0 when S3 already held the archive.
    pub uploaded_bytes: u64,
    pub seconds: f64,
}

/// Reads and checks the bucket, the service role and the project; changes nothing.
pub async fn check(aws: &Aws, project: &Project, config: &Config, plan: &Plan) -> Result<Checked> {
    let identity = aws.identity().await?;
    let region = aws.region();
    let bucket = upload::plan_bucket(aws, config, &identity).await?;
    let role = role::plan(aws, config, &identity, &region).await?;
    let spec = project::spec(project, config, plan, &role.arn)?;
    let project_found = aws.codebuild_project(&spec.name).await?;
    Ok(Checked {
        bucket,
        role,
        spec,
        project_found,
    })
}

/// The plan's upload and project steps, as `deploy --dry-run` shows them: `(step, changes, action)`.
/// With the image already pushed (`fresh`) nothing is archived: both are skipped.
pub async fn steps(
    aws: &Aws,
    project: &Project,
    config: &Config,
    plan: &Plan,
    checked: &Checked,
    fresh: bool,
) -> Result<Vec<(&'static str, bool, String)>> {
    if fresh {
        return Ok(vec![
            ("upload", false, "skip: the image is up to date".into()),
            ("project", false, "skip: the image is up to date".into()),
        ]);
    }
    let archive = upload::archive(project, config, plan)?;
    let location = format!("s3://{}/{}", checked.bucket.name, archive.key);
    let upload_step = if checked.bucket.create {
        (
            true,
            format!(
                "create S3 bucket {} (private, encrypted, public access blocked) and upload {} bytes to {location}",
                checked.bucket.name, archive.bytes
            ),
        )
    } else if aws
        .object_exists(&checked.bucket.name, &archive.key, &checked.bucket.account)
        .await?
    {
        (
            false,
            format!("skip: {location} is already there (0 bytes)"),
        )
    } else {
        (
            true,
            format!("upload {} bytes to {location}", archive.bytes),
        )
    };
    let role = match &checked.role.managed {
        None => format!("given role {}", checked.role.arn),
        Some(m) if !m.exists => format!("create role {}", checked.role.name),
        Some(_) => format!("managed role {}", checked.role.name),
    };
    let change = project::change(&checked.spec, checked.project_found.as_ref());
    let project_step = (
        change.is_some() || checked.role.managed.as_ref().is_some_and(|m| !m.exists),
        format!(
            "{}; {role}; log group {}",
            change.unwrap_or_else(|| format!(
                "keep CodeBuild project {} (up to date)",
                checked.spec.name
            )),
            checked.spec.log_group
        ),
    );
    Ok(vec![
        ("upload", upload_step.0, upload_step.1),
        ("project", project_step.0, project_step.1),
    ])
}

/// The newest image of this stage in the repository (ECR's push times) as a cache source, and
/// its build stage when that was pushed too: `(image, build stage)`.
async fn cache_sources(
    aws: &Aws,
    config: &Config,
    current: &str,
) -> Result<(Option<String>, Option<String>)> {
    let Some(images) = aws.images(&config.names.repository).await? else {
        return Ok((None, None));
    };
    let mut tags: Vec<(i64, String)> = Vec::new();
    let mut all = std::collections::BTreeSet::new();
    let stage_prefix = crate::names::image_tag_prefix(&config.stage);
    for image in images {
        for tag in image.tags {
            if tag.starts_with(&stage_prefix) && tag != current {
                tags.push((image.pushed_at, tag.clone()));
            }
            all.insert(tag);
        }
    }
    tags.sort();
    let Some((_, tag)) = tags.pop() else {
        return Ok((None, None));
    };
    let builder = format!("builder-{tag}");
    Ok((Some(tag), all.contains(&builder).then_some(builder)))
}

/// Builds and pushes with CodeBuild; the digest is the registry's. Each platform of the image
/// builds in its own environment (arm64 on the ARM one), all started before any is followed; a
/// platform the registry already holds (`{content tag}-{arch}`) is not built again, and several are
/// joined into one image index under the content tag.
pub async fn build_and_push(
    aws: &Aws,
    project: &Project,
    config: &Config,
    plan: &Plan,
    checked: Checked,
    registry: &Registry,
    out: &Output,
) -> Result<Built> {
    let started = std::time::Instant::now();
    let (archive, uploaded_bytes) = prepare(aws, project, config, plan, &checked, out).await?;
    let location = format!("{}/{}", checked.bucket.name, archive.key);
    let mut runs = Vec::new();
    for &arch in &config.size.image_architectures {
        let tag = crate::build::platform_tag(plan, config, arch);
        let held = match config.size.image_architectures.len() {
            1 => None, // the content tag: checked before the build was planned
            _ => {
                registry
                    .manifest_digest(&config.names.repository, &tag)
                    .await?
            }
        };
        if let Some(digest) = held {
            out.status(
                "Fresh",
                format_args!(
                    "{}/{}:{tag} is up to date",
                    registry.host, config.names.repository
                ),
            );
            runs.push((arch, tag, Err(digest)));
            continue;
        }
        let build = Start {
            project,
            config,
            plan,
            checked: &checked,
            location: &location,
            registry,
        };
        runs.push((
            arch,
            tag.clone(),
            Ok(build.start(aws, arch, &tag, out).await?),
        ));
    }
    let (mut platforms, mut build_ids) = (Vec::new(), Vec::new());
    for (arch, tag, run) in runs {
        let digest = match run {
            Err(digest) => digest,
            Ok(id) => {
                let digest = finish(aws, config, registry, &id, &tag, out).await?;
                build_ids.push(id);
                digest
            }
        };
        platforms.push((arch, digest));
    }
    let digest = join(registry, config, plan, &platforms, out).await?;
    Ok(Built {
        build_id: build_ids.join(" "),
        digest,
        platforms: match platforms.len() {
            1 => Vec::new(),
            _ => platforms
                .into_iter()
                .map(|(arch, digest)| PlatformDigest {
                    architecture: arch.as_config().to_string(),
                    digest,
                })
                .collect(),
        },
        bucket: checked.bucket.name.clone(),
        archive,
        uploaded_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The image's digest: the one platform's, or the index of several put under the content tag.
async fn join(
    registry: &Registry,
    config: &Config,
    plan: &Plan,
    platforms: &[(Architecture, String)],
    out: &Output,
) -> Result<String> {
    if let [(_, one)] = platforms {
        return Ok(one.clone());
    }
    let oci: Vec<(&str, &str)> = platforms
        .iter()
        .map(|(arch, digest)| {
            (
                arch.platform().trim_start_matches("linux/"),
                digest.as_str(),
            )
        })
        .collect();
    let images: Vec<crate::registry::PlatformImage> = oci
        .iter()
        .map(|(architecture, digest)| crate::registry::PlatformImage {
            architecture,
            digest,
        })
        .collect();
    let digest = registry
        .join_index(
            &config.names.repository,
            &images,
            std::slice::from_ref(&plan.content_tag),
        )
        .await?;
    out.status(
        "Joined",
        format_args!(
            "{}/{}:{} = {digest} (an index of {})",
            registry.host,
            config.names.repository,
            plan.content_tag,
            oci.iter()
                .map(|(a, _)| format!("linux/{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    Ok(digest)
}

/// Uploads the source archive (unless S3 has it) and makes the bucket, role, log group and project
/// match: once, whatever the number of platforms. Returns the archive and the bytes uploaded.
async fn prepare(
    aws: &Aws,
    project: &Project,
    config: &Config,
    plan: &Plan,
    checked: &Checked,
    out: &Output,
) -> Result<(upload::Archive, u64)> {
    let archive = upload::archive(project, config, plan)?;
    if upload::apply_bucket(aws, &checked.bucket).await? {
        out.status(
            "Created",
            format_args!(
                "S3 bucket {} (private, encrypted, public access blocked)",
                checked.bucket.name
            ),
        );
    }
    let uploaded_bytes = upload::upload(aws, &checked.bucket, &archive, out).await?;

    let changes = role::apply(aws, &checked.role).await?;
    let fresh_role = changes.iter().any(|c| c == "created");
    if !changes.is_empty() {
        out.status(
            if fresh_role { "Created" } else { "Updated" },
            format_args!(
                "CodeBuild role {} ({})",
                checked.role.name,
                changes.join(", ")
            ),
        );
    }
    let tags = crate::names::stage_tags(config);
    let group = aws
        .ensure_log_group(
            &checked.spec.log_group,
            config.container.log_retention_days,
            &tags,
        )
        .await?;
    if group.created {
        out.status("Created", format_args!("log group {}", group.name));
    }
    if let Some(change) = project::change(&checked.spec, checked.project_found.as_ref()) {
        project::apply(
            aws,
            &checked.spec,
            checked.project_found.is_some(),
            fresh_role,
        )
        .await?;
        out.status(
            "Updated",
            format_args!(
                "{}",
                change
                    .replacen("create", "created", 1)
                    .replacen("update", "updated", 1)
            ),
        );
    }
    Ok((archive, uploaded_bytes))
}

/// What starting one platform's build needs.
struct Start<'a> {
    project: &'a Project,
    config: &'a Config,
    plan: &'a Plan,
    checked: &'a Checked,
    location: &'a str,
    registry: &'a Registry,
}

impl Start<'_> {
    /// Starts the build of the image of `arch`, pushed as `tag`, in that architecture's
    /// environment; returns the build's id.
    async fn start(
        &self,
        aws: &Aws,
        arch: Architecture,
        tag: &str,
        out: &Output,
    ) -> Result<String> {
        let (config, plan) = (self.config, self.plan);
        let repository_uri = format!("{}/{}", self.registry.host, config.names.repository);
        let (cache_image, cache_builder) = cache_sources(aws, config, tag).await?;
        let mut env: Vec<(String, String)> = vec![
            ("REPOSITORY_URI".into(), repository_uri.clone()),
            ("IMAGE_TAG".into(), tag.to_string()),
            (
                "IMAGE_LABELS".into(),
                plan.labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            (
                "CACHE_IMAGE".into(),
                cache_image
                    .map(|t| format!("{repository_uri}:{t}"))
                    .unwrap_or_default(),
            ),
            (
                "CACHE_BUILDER".into(),
                cache_builder
                    .map(|t| format!("{repository_uri}:{t}"))
                    .unwrap_or_default(),
            ),
        ];
        let mut args: Vec<(String, String)> =
            crate::build::docker::build_args_for(self.project, config, plan, arch)
                .into_iter()
                .collect();
        args.sort();
        env.extend(args);
        let on = project::environment(arch);
        let spec = &self.checked.spec;
        let build = aws
            .start_codebuild(&spec.name, self.location, &spec.buildspec, &env, &on)
            .await?;
        let id = build.id().unwrap_or_default().to_string();
        out.status(
            "Building",
            format_args!(
                "{repository_uri}:{tag} on CodeBuild ({} {}, build {id})",
                if on.arm {
                    "ARM_CONTAINER"
                } else {
                    "LINUX_CONTAINER"
                },
                spec.compute_type
            ),
        );
        Ok(id)
    }
}

/// Follows build `id` to its end and checks the digest it reports is what the registry holds
/// for `tag`.
async fn finish(
    aws: &Aws,
    config: &Config,
    registry: &Registry,
    id: &str,
    tag: &str,
    out: &Output,
) -> Result<String> {
    let repository_uri = format!("{}/{}", registry.host, config.names.repository);
    let followed = follow::follow(
        aws,
        id,
        config.build.codebuild_timeout,
        STOP_ON_INTERRUPT.load(Ordering::Relaxed),
        out,
    )
    .await?;
    let reported = followed
        .build
        .exported_environment_variables()
        .iter()
        .find(|v| v.name() == Some("IMAGE_DIGEST"))
        .and_then(|v| v.value())
        .unwrap_or_default()
        .to_string();

    // The registry is the source of truth: the digest pinned is the one it holds for the tag.
    let held = registry
        .manifest_digest(&config.names.repository, tag)
        .await?;
    let digest = match held {
        Some(d) if d == reported => d,
        Some(d) => {
            return Err(UserError::new(format!(
                "CodeBuild build {id} reported digest `{reported}`, but {repository_uri}:{tag} is {d}"
            ))
            .fix("something else pushed this tag meanwhile; run again (the build is repeated only if the tag is gone)")
            .into())
        }
        None => {
            return Err(UserError::new(format!(
                "CodeBuild build {id} succeeded, but {repository_uri}:{tag} is not in the registry"
            ))
            .fix("check the build's post_build log above pushed to this registry (`registry-endpoint`)")
            .into())
        }
    };
    out.status(
        "Built",
        format_args!("{repository_uri}@{digest} in {:.0}s", followed.seconds),
    );
    Ok(digest)
}
