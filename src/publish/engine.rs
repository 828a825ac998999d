//! Pushes through the Docker Engine (the docker builder's images): the engine pushes each tag and
//! skips layers the registry has; a multi-platform image's platforms are pushed one by one under
//! `{content tag}-{arch}` and joined into one index by the registry client.

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{PushImageOptions, TagImageOptions};
use bollard::Docker;

use super::ecr::{free_tags, Pushed, Target};
use crate::build::{self, BuildOutput, DockerPlatform};
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::output::Output;

/// Where a push through the engine goes, and as whom.
struct Destination<'a> {
    docker: Docker,
    target: &'a Target,
    /// `host/repository`.
    pushed_to: String,
    credentials: DockerCredentials,
}

impl<'a> Destination<'a> {
    async fn new(target: &'a Target, config: &Config) -> Result<Destination<'a>> {
        let host = &target.registry.host;
        Ok(Destination {
            docker: build::docker::connect().await?,
            target,
            pushed_to: format!("{host}/{}", config.names.repository),
            credentials: DockerCredentials {
                username: Some(target.credentials.username.clone()),
                password: Some(target.credentials.password().to_string()),
                serveraddress: Some(host.clone()),
                ..Default::default()
            },
        })
    }

    /// Tags the local image `local` as `{pushed_to}:{tag}` and has the engine push it; returns
    /// `(layers pushed, layers already there)`.
    async fn push(&self, local: &str, tag: &str, out: &Output) -> Result<(usize, usize)> {
        let (pushed_to, host) = (&self.pushed_to, &self.target.registry.host);
        self.docker
            .tag_image(
                local,
                Some(TagImageOptions {
                    repo: Some(pushed_to.clone()),
                    tag: Some(tag.to_string()),
                }),
            )
            .await
            .map_err(|e| anyhow::anyhow!("tagging {local}: {e}"))?;
        out.status("Pushing", format_args!("{pushed_to}:{tag}"));
        let mut stream = self.docker.push_image(
            pushed_to,
            Some(PushImageOptions {
                tag: Some(tag.to_string()),
                platform: None,
            }),
            Some(self.credentials.clone()),
        );
        let (mut pushed, mut skipped) = (0, 0);
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
        Ok((pushed, skipped))
    }

    /// The registry's digest of `tag`, which the push just put.
    async fn digest(&self, config: &Config, tag: &str) -> Result<String> {
        let held = self
            .target
            .registry
            .manifest_digest(&config.names.repository, tag)
            .await?;
        held.ok_or_else(|| {
            anyhow::anyhow!(
                "the registry does not show {}:{tag} after the push",
                self.pushed_to
            )
        })
    }
}

/// The docker builder's image, pushed by the engine under each tag of the plan (the content tag
/// first; the others only where free).
pub(super) async fn push_docker(
    local: &str,
    built: &BuildOutput,
    target: &Target,
    config: &Config,
    out: &Output,
) -> Result<Pushed> {
    let to = Destination::new(target, config).await?;
    let plan = &built.plan;
    let (mut pushed, mut skipped, mut tags) = (0, 0, Vec::new());
    let mut digest: Option<String> = None;
    for tag in &plan.tags {
        // The content tag goes first; the others are checked against its digest.
        if digest.is_some() {
            let pair = [plan.content_tag.clone(), tag.clone()];
            if free_tags(target, config, &pair, digest.as_deref(), out)
                .await?
                .len()
                < 2
            {
                continue;
            }
        }
        let (p, s) = to.push(local, tag, out).await?;
        (pushed, skipped) = (pushed + p, skipped + s);
        if digest.is_none() {
            digest = Some(to.digest(config, tag).await?);
        }
        tags.push(tag.clone());
    }
    Ok(Pushed {
        digest: digest.unwrap_or_default(),
        tags,
        layers_pushed: pushed,
        layers_skipped: skipped,
        platforms: Vec::new(),
    })
}

/// A multi-platform image: each platform built here pushed by the engine under its own tag
/// (`{content tag}-{arch}`; those the registry held are left as they are), then one image index of
/// all of them under the plan's tags.
pub(super) async fn push_platforms(
    platforms: &[DockerPlatform],
    plan: &build::Plan,
    target: &Target,
    config: &Config,
    out: &Output,
) -> Result<Pushed> {
    let to = Destination::new(target, config).await?;
    let (mut pushed, mut skipped, mut digests) = (0, 0, Vec::new());
    for platform in platforms {
        let digest = match &platform.digest {
            Some(d) => d.clone(),
            None => {
                let (p, s) = to.push(&platform.local, &platform.tag, out).await?;
                (pushed, skipped) = (pushed + p, skipped + s);
                to.digest(config, &platform.tag).await?
            }
        };
        digests.push(digest);
    }
    let arches: Vec<&str> = platforms
        .iter()
        .map(|p| p.arch.platform().trim_start_matches("linux/"))
        .collect();
    let images: Vec<crate::registry::PlatformImage> = arches
        .iter()
        .zip(&digests)
        .map(|(architecture, digest)| crate::registry::PlatformImage {
            architecture,
            digest,
        })
        .collect();
    let registry = &target.registry;
    let content = std::slice::from_ref(&plan.content_tag);
    let digest = registry
        .join_index(&config.names.repository, &images, content)
        .await?;
    let tags = free_tags(target, config, &plan.tags, Some(&digest), out).await?;
    registry
        .join_index(&config.names.repository, &images, &tags)
        .await?;
    out.status(
        "Pushed",
        format_args!(
            "{}:{} = {digest} (an index of {})",
            to.pushed_to,
            tags.join(","),
            arches
                .iter()
                .map(|a| format!("linux/{a}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    Ok(Pushed {
        digest,
        tags,
        layers_pushed: pushed,
        layers_skipped: skipped,
        platforms: digests,
    })
}
