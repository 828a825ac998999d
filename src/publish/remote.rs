//! What CodeBuild built and pushed itself, completed here: the plan's other tags put on the
//! registry's image and the SBOM pushed next to it (and to each platform's image).

use std::time::Instant;

use super::ecr::{free_tags, names, PushOutput, Target};
use super::sbom;
use crate::build;
use crate::config::Config;
use crate::error::Result;
use crate::output::Output;

/// Completes what CodeBuild built and pushed itself: the registry's digest is the image's, the
/// plan's other tags are put, and the SBOM (from the same Cargo.lock the build used) goes next to
/// the image.
pub async fn publish_remote(
    built: build::codebuild::Built,
    target: Target,
    project: &crate::project::Project,
    config: &Config,
    plan: &build::Plan,
    started: Instant,
    out: &Output,
) -> Result<PushOutput> {
    let tags = tag_copies(&target, config, plan, &built.digest, out).await?;
    let (pushed_to, uri) = names(&target, config);
    let written = build::sbom::write(project, config)?;
    let sbom = sbom::push_sbom(
        &target.registry,
        &config.names.repository,
        &built.digest,
        &written.path,
        out,
    )
    .await?;
    // Each platform's image gets its own target's SBOM.
    for (&arch, platform) in config.size.image_architectures.iter().zip(&built.platforms) {
        let path = build::sbom::write_for(project, config, arch)?.path;
        let (registry, repository) = (&target.registry, &config.names.repository);
        sbom::push_sbom(registry, repository, &platform.digest, &path, out).await?;
    }
    Ok(PushOutput {
        sbom: Some(sbom),
        image_uri: format!("{uri}@{}", built.digest),
        repository: target.repository,
        lifecycle_policy_updated: target.lifecycle_policy_updated,
        pushed_to,
        digest: built.digest.clone(),
        tags,
        up_to_date: false,
        layers_pushed: 0,
        layers_skipped: 0,
        build: None,
        codebuild: Some(built),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The plan's other tags (`git-<sha>`, the stage on mutable repositories) put on an image a remote
/// build pushed under its content tag: the same manifest under each free tag.
pub async fn tag_copies(
    target: &Target,
    config: &Config,
    plan: &build::Plan,
    digest: &str,
    out: &Output,
) -> Result<Vec<String>> {
    let tags = free_tags(target, config, &plan.tags, Some(digest), out).await?;
    let manifest = target
        .registry
        .get_manifest(&config.names.repository, &plan.content_tag)
        .await?;
    for tag in tags.iter().filter(|t| **t != plan.content_tag) {
        target
            .registry
            .put_manifest(
                &config.names.repository,
                tag,
                &manifest.media_type,
                manifest.bytes.clone(),
            )
            .await?;
    }
    Ok(tags)
}
