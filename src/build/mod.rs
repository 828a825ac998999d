//! Stage `build`: the container image, built by the Docker Engine (`docker`) or assembled on the host
//! (`host`). [`plan`] decides the image's content tag and labels from the source and the build
//! settings before anything runs, so `push` can skip the build when the registry already has it.

pub mod codebuild;
pub mod docker;
pub mod host;
mod inputs;
pub mod platform;
pub mod sbom;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::resolve::Builder;
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::project::Project;
use crate::sources::{OutsideCrate, SourceSet};
use crate::steps::package::{self, Entry, GitState};

const DEFAULT_DOCKERFILE: &str = include_str!("../../task-templates/Dockerfile");
/// Where the template names the binary in its ENTRYPOINT (an exec form cannot read the BIN arg).
const TEMPLATE_BIN: &str = "@BIN@";

/// Which Dockerfile a docker build uses.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DockerfileSource {
    /// `task-templates/Dockerfile`, built into cargo-fargate.
    Template,
    /// The user's own: `dockerfile` in the config, or `Dockerfile` beside Cargo.toml.
    User { path: PathBuf },
}

/// What to build and how to name it, decided before building.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub builder: Builder,
    pub platform: &'static str,
    /// `{stage}-{hash}`: the source hash plus every build setting, so equal inputs share a tag.
    pub content_tag: String,
    /// Every tag to push: the content tag, `git-<sha>` on a clean tree, `{stage}` on mutable repos.
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub source_sha256: String,
    pub git: Option<GitState>,
    pub dockerfile: DockerfileSource,
    #[serde(skip)]
    pub dockerfile_text: String,
    /// The files of the build context (the source archive's list).
    #[serde(skip)]
    pub entries: Vec<Entry>,
    /// Path dependencies outside the workspace root, built with it.
    pub outside: Vec<OutsideCrate>,
    /// Where the workspace and its path dependencies sit in the context.
    #[serde(skip)]
    pub sources: SourceSet,
}

/// Finds the Dockerfile: the configured one, else `Dockerfile` beside the package's Cargo.toml, else
/// the template.
fn dockerfile(project: &Project, config: &Config) -> Result<(DockerfileSource, String)> {
    let path = config
        .build
        .dockerfile
        .clone()
        .or_else(|| Some(project.package_dir.join("Dockerfile")).filter(|p| p.is_file()));
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                UserError::new(format!("cannot read the Dockerfile: {e}"))
                    .at(crate::error::Location::file(&path, None))
            })?;
            Ok((DockerfileSource::User { path }, text))
        }
        None => Ok((
            DockerfileSource::Template,
            DEFAULT_DOCKERFILE.replace(TEMPLATE_BIN, &config.bin),
        )),
    }
}

/// What the content tag is the hash of: every input that changes the image.
#[derive(Serialize)]
struct ContentKey<'a> {
    source_sha256: &'a str,
    builder: Builder,
    platform: &'a str,
    /// Every platform of a multi-platform image (absent for one: earlier tags stay valid).
    #[serde(skip_serializing_if = "Option::is_none")]
    platforms: Option<Vec<&'a str>>,
    bin: &'a str,
    cargo_profile: &'a str,
    features: &'a [String],
    builder_image: &'a str,
    runtime_image: &'a str,
    tzdata: bool,
    dockerfile: &'a str,
    entrypoint: Option<&'a [String]>,
    command: Option<&'a [String]>,
}

pub fn plan(project: &Project, config: &Config) -> Result<Plan> {
    inputs::check(project, config)?;
    // The source set, not just the workspace root: a change in a path dependency outside it must
    // make a new content tag.
    let sources = SourceSet::of(project)?;
    let input = package::PackageInput::for_project(project, &sources, config, None, Vec::new());
    let (entries, _) = package::collect(&input)?;
    let source_sha256 = package::source_hash(&entries)?;
    let (dockerfile, dockerfile_text) = dockerfile(project, config)?;
    let git = package::git_state(&project.workspace_root);

    // Everything that changes the image goes into the content tag, hashed from its JSON (stable,
    // unlike a Debug rendering).
    let key = ContentKey {
        source_sha256: &source_sha256,
        builder: config.build.builder,
        platform: config.size.architecture.platform(),
        platforms: (config.size.image_architectures.len() > 1).then(|| {
            config
                .size
                .image_architectures
                .iter()
                .map(|a| a.platform())
                .collect()
        }),
        bin: &config.bin,
        cargo_profile: &config.build.cargo_profile,
        features: &config.build.features,
        builder_image: &config.build.builder_image,
        runtime_image: &config.build.runtime_image,
        tzdata: config.build.tzdata,
        dockerfile: &dockerfile_text,
        entrypoint: config.container.entrypoint.as_deref(),
        command: config.container.command.as_deref(),
    };
    let h = Sha256::digest(serde_json::to_vec(&key)?);
    let content_tag = crate::names::image_tag_prefix(&config.stage) + &hex::encode(h)[..16];

    let mut tags = vec![content_tag.clone()];
    if let Some(g) = git.as_ref().filter(|g| !g.dirty) {
        tags.push(format!("git-{}", g.short()));
    }
    if config.tag_mutability == crate::config::resolve::TagMutability::Mutable {
        tags.push(config.stage.clone());
    }

    let mut labels = BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            config.project.clone(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            project.package_version.clone(),
        ),
        (
            "dev.cargo-fargate.source-sha256".to_string(),
            source_sha256.clone(),
        ),
        (
            "dev.cargo-fargate.content-tag".to_string(),
            content_tag.clone(),
        ),
        ("dev.cargo-fargate.stage".to_string(), config.stage.clone()),
        (
            "dev.cargo-fargate.version".to_string(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
    ]);
    if config.build.builder != Builder::Host {
        // The host builder labels the `rustc -V` it used; elsewhere the builder image is the toolchain.
        labels.insert(
            host::TOOLCHAIN_LABEL.to_string(),
            config.build.builder_image.clone(),
        );
    }
    if let Some(g) = &git {
        labels.insert("org.opencontainers.image.revision".into(), g.sha.clone());
        labels.insert("dev.cargo-fargate.git-dirty".into(), g.dirty.to_string());
    }

    Ok(Plan {
        builder: config.build.builder,
        platform: config.size.architecture.platform(),
        content_tag,
        tags,
        labels,
        source_sha256,
        git,
        dockerfile,
        dockerfile_text,
        entries,
        outside: sources.outside.clone(),
        sources,
    })
}

/// The image a build made, as its builder leaves it. A builder that pushes by itself (CodeBuild)
/// adds its own variant.
#[derive(Debug, Clone)]
pub enum Artifact {
    /// In the Docker Engine under `tag` (`{repository}:{content_tag}`), with the engine's image ID;
    /// `push` has the engine push it.
    Docker { tag: String, id: String },
    /// An OCI image layout on disk; `push` uploads it blob by blob.
    Host(Box<host::OciImage>),
    /// A multi-platform image the Docker Engine built one platform at a time; `push` has the
    /// engine push each and joins them in one index.
    DockerPlatforms(Vec<DockerPlatform>),
}

/// One platform's image of a multi-platform Docker build.
#[derive(Debug, Clone)]
pub struct DockerPlatform {
    pub arch: crate::config::resolve::Architecture,
    /// `{content tag}-{arch}`: the tag it is pushed under.
    pub tag: String,
    /// In the Engine as `{repository}:{tag}`.
    pub local: String,
    /// The engine's image ID; None when the registry already held the tag (nothing was built).
    pub id: Option<String>,
    /// The registry's digest, when it already held the tag.
    pub digest: Option<String>,
}

/// What a build leaves behind.
#[derive(Debug, Clone)]
pub struct BuildOutput {
    pub plan: Plan,
    pub artifact: Artifact,
    pub size: u64,
    /// The full build log (`docker`; the host builder streams cargo's output instead).
    pub log: Option<PathBuf>,
    pub seconds: f64,
    /// The CycloneDX SBOM written to target/fargate/sbom/ (pushed next to the image).
    pub sbom: Option<PathBuf>,
    /// A multi-platform image: each platform's SBOM (its target's dependencies), in the order of
    /// `image_architectures`; pushed next to that platform's image.
    pub platform_sboms: Vec<PathBuf>,
}

impl BuildOutput {
    /// `docker`: the local image `{repository}:{content_tag}`; `host`: the OCI image layout's path.
    /// Several platforms with `docker`: each platform's local image.
    pub fn image(&self) -> String {
        match &self.artifact {
            Artifact::Docker { tag, .. } => tag.clone(),
            Artifact::Host(oci) => oci.dir.display().to_string(),
            Artifact::DockerPlatforms(p) => {
                let locals: Vec<&str> = p.iter().map(|p| p.local.as_str()).collect();
                locals.join(", ")
            }
        }
    }

    /// `docker`: the engine's image ID (of the first platform built, for several); `host`: the
    /// manifest digest.
    pub fn image_id(&self) -> &str {
        match &self.artifact {
            Artifact::Docker { id, .. } => id,
            Artifact::Host(oci) => &oci.manifest_digest,
            Artifact::DockerPlatforms(p) => p.iter().find_map(|p| p.id.as_deref()).unwrap_or(""),
        }
    }
}

/// The JSON of a build (`build`, and `push`'s `build`), the same whichever builder made it.
impl Serialize for BuildOutput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shape<'a> {
            plan: &'a Plan,
            image: String,
            image_id: &'a str,
            size: u64,
            log: &'a Option<PathBuf>,
            seconds: f64,
            #[serde(skip_serializing_if = "Option::is_none")]
            oci: Option<&'a host::OciImage>,
            #[serde(skip_serializing_if = "Option::is_none")]
            sbom: &'a Option<PathBuf>,
        }
        Shape {
            plan: &self.plan,
            image: self.image(),
            image_id: self.image_id(),
            size: self.size,
            log: &self.log,
            seconds: self.seconds,
            oci: match &self.artifact {
                Artifact::Host(oci) => Some(oci.as_ref()),
                Artifact::Docker { .. } | Artifact::DockerPlatforms(_) => None,
            },
            sbom: &self.sbom,
        }
        .serialize(serializer)
    }
}

impl fmt::Display for BuildOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "image    {}", self.image())?;
        writeln!(f, "id       {}", self.image_id())?;
        writeln!(f, "platform {}", self.plan.platform)?;
        writeln!(f, "tags     {}", self.plan.tags.join(", "))?;
        writeln!(f, "size     {} bytes", self.size)?;
        if let Some(log) = &self.log {
            writeln!(f, "log      {}", crate::error::display_path(log))?;
        }
        writeln!(f, "took     {:.1}s", self.seconds)
    }
}

/// Registry access for the host builder's base image: the push registry's credentials go only to
/// that registry.
#[derive(Default)]
pub struct BaseAccess {
    pub credentials: Option<crate::registry::Credentials>,
    pub push_registry: Option<String>,
}

/// Builds with the configured builder.
pub async fn run(
    project: &Project,
    config: &Config,
    plan: Plan,
    access: BaseAccess,
    out: &crate::output::Output,
) -> Result<BuildOutput> {
    let mut built = match config.build.builder {
        Builder::Docker if config.size.image_architectures.len() > 1 => {
            // The push registry's tags say which platforms are there already.
            let registry = match (&access.push_registry, access.credentials) {
                (Some(host), Some(c)) => Some(crate::registry::Registry::new(host, Some(c))?),
                _ => None,
            };
            docker::build_platforms(project, config, plan, registry.as_ref(), out).await?
        }
        Builder::Docker => docker::build(project, config, plan, out).await?,
        Builder::Host => {
            let started = std::time::Instant::now();
            let input = host::HostBuildInput {
                project,
                config,
                labels: plan.labels.clone(),
                base_credentials: access.credentials,
                base_registry_override: None,
                push_registry: access.push_registry,
            };
            let image = host::build(&input, out).await?;
            BuildOutput {
                size: image.size,
                log: None,
                seconds: started.elapsed().as_secs_f64(),
                artifact: Artifact::Host(Box::new(image)),
                plan,
                sbom: None,
                platform_sboms: Vec::new(),
            }
        }
        Builder::Codebuild => {
            // CodeBuild pushes what it builds: there is no local image to leave behind.
            return Err(UserError::new(
                "the `codebuild` builder builds and pushes in one step, so `build` alone has nothing to do with it",
            )
            .fix("run `cargo fargate push` or `cargo fargate deploy` (or build locally with --builder docker)")
            .into());
        }
    };
    let written = sbom::write(project, config)?;
    out.status(
        "SBOM",
        format!(
            "{} ({} crates from Cargo.lock)",
            crate::error::display_path(&written.path),
            written.crates.len()
        ),
    );
    built.sbom = Some(written.path);
    if config.size.image_architectures.len() > 1 {
        for &arch in &config.size.image_architectures {
            built
                .platform_sboms
                .push(sbom::write_for(project, config, arch)?.path);
        }
    }
    Ok(built)
}

/// The tag the image of `arch` is pushed under: the content tag for a one-platform image; for each
/// platform of a multi-platform one `{content tag}-{arch}`, so a platform already pushed is not
/// built again, and the index of all of them gets the content tag.
pub fn platform_tag(
    plan: &Plan,
    config: &Config,
    arch: crate::config::resolve::Architecture,
) -> String {
    if config.size.image_architectures.len() > 1 {
        format!("{}-{}", plan.content_tag, arch.as_config())
    } else {
        plan.content_tag.clone()
    }
}

/// `line` cut to `max` characters, with an ellipsis when it was longer (whole lines stay in logs).
pub(crate) fn shorten(line: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match line.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &line[..at]).into(),
        None => line.into(),
    }
}

/// Drops terminal colour sequences (`ESC [ … m`) the classic builder wraps a step's stderr in (the
/// engine's stream and CodeBuild's log alike). Hand-written: `strip-ansi-escapes` would add `vte`
/// for these few lines.
pub(crate) fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
