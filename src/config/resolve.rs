//! The resolved layer: one fully typed [`Config`], defaults applied last, every value validated and
//! remembered with its origin so `cargo fargate config` can say where it came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::raw::{Layer, Origin, Source};
use super::validate;
use crate::error::UserError;

pub use super::kinds::{Architecture, Builder, Lifecycle, Role, TagMutability, SCRATCH};
pub use super::sections::{ContainerSettings, Network, Roles, Schedule, Size};

use super::resolver::Resolver;

/// Everything a pipeline stage needs to know, fully resolved.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub project: String,
    pub stage: String,
    /// Every stage the configuration defines (lifecycle rules cover them all).
    pub stages: Vec<String>,
    pub bin: String,
    pub region: Option<String>,
    pub aws_profile: Option<String>,
    /// The stage's resource names as configured.
    #[serde(flatten)]
    pub names: Names,
    pub tag_mutability: TagMutability,
    pub registry_endpoint: Option<String>,
    /// The task's CPU, memory and architectures (src/config/sections.rs).
    #[serde(flatten)]
    pub size: Size,
    /// Where tasks run (src/config/sections.rs).
    #[serde(flatten)]
    pub network: Network,
    /// The stage's roles and what they are given.
    #[serde(flatten)]
    pub roles: Roles,
    /// The container's logs, environment, process, ports and tags (src/config/sections.rs).
    #[serde(flatten)]
    pub container: ContainerSettings,
    /// How the image is built (src/config/sections.rs).
    #[serde(flatten)]
    pub build: super::sections::BuildSettings,
    pub task_template: Option<PathBuf>,
    /// `schedule`: the stage is a scheduled job.
    #[serde(flatten)]
    pub schedule: Option<Schedule>,
    pub keep_revisions: u32,
    pub lifecycle: Lifecycle,
    /// The stage's kind and its service settings (src/config/service.rs).
    pub service: super::service::ServiceSettings,
    /// Each key's effective value and origin, in table order.
    #[serde(skip)]
    pub entries: Vec<Entry>,
    /// Where each entry of a table key came from (`environment` → `APP_ENV` → origin): tables
    /// merge entry by entry across layers.
    #[serde(skip)]
    pub table_origins: BTreeMap<&'static str, BTreeMap<String, Origin>>,
}

impl Config {
    /// An error about a key, located where its value came from (file:line, env var or flag) and
    /// named as the user wrote it.
    pub fn key_error(&self, key: &str, what: impl Into<String>) -> UserError {
        let mut e = UserError::new(what);
        if let Some(entry) = self.entries.iter().find(|e| e.key == key) {
            e = e.key(shown_key(key, &entry.origin.source));
            e.location = entry.origin.where_set();
        } else {
            e = e.key(key);
        }
        e
    }
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: &'static str,
    pub value: serde_json::Value,
    pub origin: Origin,
}

/// What resolution needs to know about the cargo project.
pub struct ProjectFacts<'a> {
    pub package_name: &'a str,
    pub package_dir: &'a Path,
    pub manifest_path: &'a Path,
    pub bins: &'a [String],
    pub default_run: Option<&'a str>,
    /// `--bin` from the command line, which wins over the `bin` key.
    pub bin_flag: Option<&'a str>,
}

/// How a key is named in messages: by its TOML path when it came from a file.
pub fn shown_key(key: &str, source: &Source) -> String {
    match source {
        Source::Workspace => format!("workspace.metadata.fargate.{key}"),
        Source::WorkspaceStage(s) => format!("workspace.metadata.fargate.stages.{s}.{key}"),
        Source::Package | Source::Default => format!("package.metadata.fargate.{key}"),
        Source::Stage(s) => format!("package.metadata.fargate.stages.{s}.{key}"),
        Source::Env(_) | Source::Flag(_) => key.to_string(),
    }
}

/// `{project}` and `{stage}` in resource names.
pub(super) fn interpolate(template: &str, project: &str, stage: &str) -> String {
    template
        .replace("{project}", project)
        .replace("{stage}", stage)
}

/// The project's name and the stage, which every derived resource name is made from.
pub(super) struct Naming {
    pub project: String,
    pub stage: String,
    /// Where `name` came from: a derived name that is too long is blamed on it.
    pub origin: Origin,
}

impl Naming {
    /// `{project}-{stage}`: the default of every resource name.
    pub fn default_name(&self) -> String {
        format!("{}-{}", self.project, self.stage)
    }

    /// A name as configured, `{project}` and `{stage}` filled in.
    pub fn named(&self, template: &str) -> String {
        interpolate(template, &self.project, &self.stage)
    }
}

/// The stage's resource names as configured (`{project}` and `{stage}` filled in), and whether
/// they may be created or taken over: the names module derives every other name from them.
#[derive(Debug, Clone, Serialize)]
pub struct Names {
    pub cluster: String,
    /// `family`: the task definition family (`names::family` reads it).
    pub family: String,
    /// `service-name`: the ECS service of a `service` stage (`names::service` reads it).
    pub service_name: String,
    pub create_cluster: bool,
    /// `adopt`: resources of the stage's names not tagged as its own may be taken over.
    pub adopt: bool,
    pub repository: String,
    /// `None`: derived at run time from the project, account and region (see `build::codebuild`).
    pub bucket: Option<String>,
}

pub fn resolve(
    layer: &Layer,
    facts: &ProjectFacts,
    stage: &str,
    stages: Vec<String>,
) -> Result<Config, UserError> {
    let mut r = Resolver {
        layer,
        entries: Vec::new(),
        manifest: facts.manifest_path,
    };
    let naming = project_name(&mut r, facts, stage)?;
    let bin = bin(&mut r, facts)?;
    let region = r.opt_str("region");
    if let Some((value, origin)) = &region {
        r.check("region", origin, validate::region(value))?;
    }
    let aws_profile = r.opt_str("aws-profile").map(|(v, _)| v);
    let names = names(&mut r, &naming)?;
    let (tag_mutability, registry_endpoint, bucket) = registry(&mut r, &naming)?;
    let names = Names { bucket, ..names };
    let size = super::sections::size(&mut r)?;
    let network = super::sections::network(&mut r)?;
    let roles = super::sections::task_roles(&mut r, &naming, facts.package_dir)?;
    let (container, service) = super::sections::container(&mut r, &naming, facts)?;
    let build = super::sections::build(&mut r, &naming, facts.package_dir)?;
    let (schedule, scheduler_role) = super::sections::schedule(&mut r, &naming)?;
    let keep_revisions = r.uint("keep-revisions", 10, 0..=1000)?;
    let lifecycle = super::sections::lifecycle(&mut r)?;
    Ok(Config {
        project: naming.project,
        stage: naming.stage,
        stages,
        bin,
        region: region.map(|(v, _)| v),
        aws_profile,
        names,
        tag_mutability,
        registry_endpoint,
        size,
        network,
        roles: Roles {
            codebuild: build.codebuild_role,
            scheduler: scheduler_role,
            ..roles
        },
        container,
        build: build.settings,
        task_template: build.task_template,
        schedule,
        keep_revisions,
        lifecycle,
        service,
        entries: r.entries,
        table_origins: layer.origins.clone(),
    })
}

/// `name`: the project's name, checked as it becomes part of AWS resource names.
fn project_name(r: &mut Resolver, facts: &ProjectFacts, stage: &str) -> Result<Naming, UserError> {
    let (project, origin) = r.str_or("name", || {
        facts.package_name.to_ascii_lowercase().replace('_', "-")
    });
    let name_ok = !project.is_empty()
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && project.starts_with(|c: char| c.is_ascii_lowercase());
    if !name_ok {
        return Err(r.error("name", &origin, format!("project name `{project}` is invalid; use lowercase letters, digits and `-`, starting with a letter (it becomes part of AWS resource names)")));
    }
    Ok(Naming {
        project,
        stage: stage.to_string(),
        origin,
    })
}

/// The binary: --bin, else the `bin` key, else default-run, else the only one.
fn bin(r: &mut Resolver, facts: &ProjectFacts) -> Result<String, UserError> {
    let bin = match (facts.bin_flag, r.string("bin")) {
        (Some(flag), _) => (
            flag.to_string(),
            Origin {
                source: Source::Flag("--bin".into()),
                location: None,
            },
        ),
        (None, Some(found)) => found,
        (None, None) => {
            let chosen = facts
                .default_run
                .map(str::to_string)
                .or_else(|| (facts.bins.len() == 1).then(|| facts.bins[0].clone()));
            let chosen = chosen.ok_or_else(|| {
                UserError::new(format!(
                    "package `{}` has several binaries ({})",
                    facts.package_name,
                    crate::error::list(facts.bins)
                ))
                .at(crate::error::Location::file(facts.manifest_path, None))
                .fix("pick one with --bin NAME or `bin = \"NAME\"` in [package.metadata.fargate]")
            })?;
            (chosen, Origin::default_value())
        }
    };
    if !facts.bins.contains(&bin.0) {
        let fix = match crate::error::did_you_mean(&bin.0, facts.bins.iter().map(String::as_str)) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("its binaries: {}", crate::error::list(facts.bins)),
        };
        return Err(r
            .error(
                "bin",
                &bin.1,
                format!("package `{}` has no binary `{}`", facts.package_name, bin.0),
            )
            .fix(fix));
    }
    r.record("bin", &bin.0, bin.1.clone());
    Ok(bin.0)
}

/// The cluster, family, service and repository names (the bucket's comes later, in key order).
fn names(r: &mut Resolver, naming: &Naming) -> Result<Names, UserError> {
    let name = |r: &mut Resolver,
                key: &'static str,
                check: &dyn Fn(&str) -> Result<(), String>|
     -> Result<String, UserError> {
        let (value, origin) = r.str_or(key, || naming.default_name());
        let value = naming.named(&value);
        r.check_derived(key, &origin, &naming.origin, check(&value))?;
        Ok(value)
    };
    let cluster = name(r, "cluster", &validate::cluster)?;
    // The family and service names: an existing one is taken over with `adopt`.
    let family = name(r, "family", &|v| {
        validate::ecs_name(v, "task definition family")
    })?;
    let service_name = name(r, "service-name", &|v| validate::ecs_name(v, "service"))?;
    let create_cluster = r.bool("create-cluster", true);
    let adopt = r.bool("adopt", false);
    let repository = name(r, "repository", &validate::ecr_repository)?;
    Ok(Names {
        cluster,
        family,
        service_name,
        create_cluster,
        adopt,
        repository,
        bucket: None,
    })
}

/// The repository's tag mutability, the registry endpoint and the archive bucket.
fn registry(
    r: &mut Resolver,
    naming: &Naming,
) -> Result<(TagMutability, Option<String>, Option<String>), UserError> {
    let (tag_mutability, _) = r.str_or("tag-mutability", || "IMMUTABLE".into());
    // `Kind::Choice` already refused anything else.
    let tag_mutability = if tag_mutability == "MUTABLE" {
        TagMutability::Mutable
    } else {
        TagMutability::Immutable
    };
    let registry_endpoint = r.opt_str("registry-endpoint");
    if let Some((value, origin)) = &registry_endpoint {
        r.check(
            "registry-endpoint",
            origin,
            validate::registry_endpoint(value),
        )?;
    }
    let bucket = r.opt_str("bucket").map(|(b, o)| (naming.named(&b), o));
    if let Some((value, origin)) = &bucket {
        r.check("bucket", origin, validate::bucket(value))?;
    }
    Ok((
        tag_mutability,
        registry_endpoint.map(|(v, _)| v),
        bucket.map(|(b, _)| b),
    ))
}
