//! The resolved layer: one fully typed [`Config`], defaults applied last, every value validated and
//! remembered with its origin so `cargo fargate config` can say where it came from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::raw::{Layer, Origin, Source, Value};
use super::validate;
use crate::error::UserError;

pub use super::kinds::{Architecture, Builder, Lifecycle, Role, TagMutability, SCRATCH};

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
    pub cluster: String,
    /// `family`: the task definition family (`names::family` reads it).
    pub family: String,
    /// `service-name`: the ECS service of a `service` stage (`names::service` reads it).
    pub service_name: String,
    pub create_cluster: bool,
    /// `adopt`: resources of the stage's names not tagged as its own may be taken over.
    pub adopt: bool,
    pub repository: String,
    pub tag_mutability: TagMutability,
    pub registry_endpoint: Option<String>,
    /// `None`: derived at run time from the project, account and region (see `build::codebuild`).
    pub bucket: Option<String>,
    pub cpu: u32,
    pub memory: u32,
    /// The task's architecture (`runtimePlatform`); the image's first platform.
    pub architecture: Architecture,
    /// Every platform of the image: one, or both for `architecture = "both"` (an image index).
    pub image_architectures: Vec<Architecture>,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// `network = "private"`: tasks in the private subnets of the VPC `setup` makes.
    pub private_network: bool,
    /// The project's VPC range and how many zones it spans (setup's network).
    pub network_cidr: String,
    pub zones: u32,
    pub task_role: Role,
    pub task_role_policies: Vec<String>,
    pub task_role_policy_files: Vec<PathBuf>,
    pub execution_role: Role,
    /// `scoped` or `aws-managed`: what the managed execution role is given.
    pub execution_role_policy: String,
    /// Customer managed KMS keys of the configured secrets.
    pub secrets_kms_keys: Vec<String>,
    pub log_group: String,
    pub log_retention_days: u32,
    pub environment: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub ports: Vec<u16>,
    pub stop_timeout: u32,
    /// `[health-check]`: the container's healthCheck.
    pub health_check: Option<super::health::HealthCheck>,
    pub tags: BTreeMap<String, String>,
    pub builder: Builder,
    pub codebuild_role: Role,
    pub codebuild_compute_type: String,
    pub codebuild_timeout: u32,
    pub dockerfile: Option<PathBuf>,
    pub builder_image: String,
    pub runtime_image: String,
    /// Put tzdata in a minimal (`scratch`) image.
    pub tzdata: bool,
    pub cargo_profile: String,
    pub features: Vec<String>,
    pub task_template: Option<PathBuf>,
    /// `cron(…)` or `rate(…)`, checked: the stage is a scheduled job.
    pub schedule: Option<String>,
    pub schedule_timezone: String,
    pub scheduler_role: Role,
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
            e.location = entry
                .origin
                .location
                .clone()
                .or_else(|| match &entry.origin.source {
                    Source::Env(var) => Some(crate::error::Location::Env(var.clone())),
                    Source::Flag(flag) => Some(crate::error::Location::Flag(flag.clone())),
                    _ => None,
                });
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

/// Reads settings off the merged layer, recording each lookup for `cargo fargate config`.
struct Resolver<'a> {
    layer: &'a Layer,
    entries: Vec<Entry>,
    manifest: &'a Path,
}

impl<'a> Resolver<'a> {
    fn setting(&self, key: &'static str) -> Option<(Value, Origin)> {
        self.layer
            .settings
            .get(key)
            .map(|s| (s.value.clone(), s.origin.clone()))
    }

    fn record(&mut self, key: &'static str, value: impl Serialize, origin: Origin) {
        let value = serde_json::to_value(value).expect("config values serialise");
        self.entries.push(Entry { key, value, origin });
    }

    /// An error about `key`, located where its value came from.
    fn error(&self, key: &'static str, origin: &Origin, what: String) -> UserError {
        let mut e = UserError::new(what).key(shown_key(key, &origin.source));
        e.location = origin.location.clone().or_else(|| match &origin.source {
            Source::Default => Some(crate::error::Location::file(self.manifest, None)),
            _ => None,
        });
        e
    }

    fn string(&mut self, key: &'static str) -> Option<(String, Origin)> {
        match self.setting(key) {
            Some((Value::Str(s), o)) => Some((s, o)),
            _ => None,
        }
    }

    fn str_or(&mut self, key: &'static str, default: impl FnOnce() -> String) -> (String, Origin) {
        let (value, origin) = self
            .string(key)
            .unwrap_or_else(|| (default(), Origin::default_value()));
        self.record(key, &value, origin.clone());
        (value, origin)
    }

    fn opt_str(&mut self, key: &'static str) -> Option<(String, Origin)> {
        let found = self.string(key);
        match &found {
            Some((v, o)) => self.record(key, v, o.clone()),
            None => self.record(key, serde_json::Value::Null, Origin::default_value()),
        }
        found
    }

    fn int(&mut self, key: &'static str, default: i64) -> (i64, Origin) {
        let (value, origin) = match self.setting(key) {
            Some((Value::Int(i), o)) => (i, o),
            _ => (default, Origin::default_value()),
        };
        self.record(key, value, origin.clone());
        (value, origin)
    }

    fn uint(
        &mut self,
        key: &'static str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<u32, UserError> {
        let (value, origin) = self.int(key, default);
        if !range.contains(&value) {
            return Err(self.error(
                key,
                &origin,
                format!(
                    "{value} is out of range; use {}–{}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(value as u32)
    }

    fn bool(&mut self, key: &'static str, default: bool) -> bool {
        let (value, origin) = match self.setting(key) {
            Some((Value::Bool(b), o)) => (b, o),
            _ => (default, Origin::default_value()),
        };
        self.record(key, value, origin);
        value
    }

    fn list(&mut self, key: &'static str, default: &[&str]) -> (Vec<String>, Origin) {
        let (value, origin) = match self.setting(key) {
            Some((Value::StrList(l), o)) => (l, o),
            _ => (
                default.iter().map(|s| s.to_string()).collect(),
                Origin::default_value(),
            ),
        };
        self.record(key, &value, origin.clone());
        (value, origin)
    }

    fn opt_list(&mut self, key: &'static str) -> Option<Vec<String>> {
        match self.setting(key) {
            Some((Value::StrList(l), o)) => {
                self.record(key, &l, o);
                Some(l)
            }
            _ => {
                self.record(key, serde_json::Value::Null, Origin::default_value());
                None
            }
        }
    }

    fn int_list(&mut self, key: &'static str) -> (Vec<i64>, Origin) {
        let (value, origin) = match self.setting(key) {
            Some((Value::IntList(l), o)) => (l, o),
            _ => (Vec::new(), Origin::default_value()),
        };
        self.record(key, &value, origin.clone());
        (value, origin)
    }

    fn map(&mut self, key: &'static str) -> (BTreeMap<String, String>, Origin) {
        let (value, origin) = match self.setting(key) {
            Some((Value::StrMap(m), o)) => (m, o),
            _ => (BTreeMap::new(), Origin::default_value()),
        };
        self.record(key, &value, origin.clone());
        (value, origin)
    }

    /// An optional file path, relative to the package, that must exist.
    fn opt_file(
        &mut self,
        key: &'static str,
        dir: &Path,
        what: &str,
    ) -> Result<Option<PathBuf>, UserError> {
        let Some((f, origin)) = self.opt_str(key) else {
            return Ok(None);
        };
        let path = dir.join(&f);
        self.check(key, &origin, existing(&path, &f, what))?;
        Ok(Some(path))
    }

    /// Like `check`, for a key whose default is made from `name` (`{project}-{stage}`): when the
    /// user did not set the key, the complaint is about `name`, which is what they can shorten.
    fn check_derived(
        &self,
        key: &'static str,
        origin: &Origin,
        name_origin: &Origin,
        check: Result<(), String>,
    ) -> Result<(), UserError> {
        if origin.source != Source::Default {
            return self.check(key, origin, check);
        }
        check.map_err(|what| {
            self.error(
                "name",
                name_origin,
                format!("the default `{key}` made from the project name: {what}"),
            )
            .fix(format!("shorten `name`, or set `{key}` yourself"))
        })
    }

    /// Runs `check` on a value and turns its complaint into a located error.
    fn check(
        &self,
        key: &'static str,
        origin: &Origin,
        check: Result<(), String>,
    ) -> Result<(), UserError> {
        check.map_err(|what| self.error(key, origin, what))
    }
}

fn existing(path: &Path, given: &str, what: &str) -> Result<(), String> {
    path.is_file().then_some(()).ok_or_else(|| {
        format!("{what} `{given}` does not exist (paths are relative to the package)")
    })
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
fn interpolate(template: &str, project: &str, stage: &str) -> String {
    template
        .replace("{project}", project)
        .replace("{stage}", stage)
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

    let (project, project_origin) = r.str_or("name", || {
        facts.package_name.to_ascii_lowercase().replace('_', "-")
    });
    let name_ok = !project.is_empty()
        && project
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && project.starts_with(|c: char| c.is_ascii_lowercase());
    if !name_ok {
        return Err(r.error("name", &project_origin, format!("project name `{project}` is invalid; use lowercase letters, digits and `-`, starting with a letter (it becomes part of AWS resource names)")));
    }
    let named = |t: &str| interpolate(t, &project, stage);
    let default_name = format!("{project}-{stage}");

    // The binary: --bin, else the `bin` key, else default-run, else the only one.
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
    let bin = bin.0;

    let region = r.opt_str("region");
    if let Some((value, origin)) = &region {
        r.check("region", origin, validate::region(value))?;
    }
    let aws_profile = r.opt_str("aws-profile").map(|(v, _)| v);

    let (cluster, origin) = r.str_or("cluster", || default_name.clone());
    let cluster = named(&cluster);
    r.check_derived(
        "cluster",
        &origin,
        &project_origin,
        validate::cluster(&cluster),
    )?;
    // The family and service names: an existing one is taken over with `adopt`.
    let (family, origin) = r.str_or("family", || default_name.clone());
    let family = named(&family);
    r.check_derived(
        "family",
        &origin,
        &project_origin,
        validate::ecs_name(&family, "task definition family"),
    )?;
    let (service_name, origin) = r.str_or("service-name", || default_name.clone());
    let service_name = named(&service_name);
    r.check_derived(
        "service-name",
        &origin,
        &project_origin,
        validate::ecs_name(&service_name, "service"),
    )?;
    let create_cluster = r.bool("create-cluster", true);
    let adopt = r.bool("adopt", false);

    let (repository, origin) = r.str_or("repository", || default_name.clone());
    let repository = named(&repository);
    r.check_derived(
        "repository",
        &origin,
        &project_origin,
        validate::ecr_repository(&repository),
    )?;
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

    let bucket = r.opt_str("bucket").map(|(b, o)| (named(&b), o));
    if let Some((value, origin)) = &bucket {
        r.check("bucket", origin, validate::bucket(value))?;
    }

    let (cpu, cpu_origin) = r.int("cpu", 256);
    r.check("cpu", &cpu_origin, validate::cpu(cpu))?;
    let (memory, memory_origin) = r.int("memory", 512);
    // Name the key the user set: memory when given, else cpu.
    let (blame_key, blame) = if memory_origin.source != Source::Default {
        ("memory", &memory_origin)
    } else {
        ("cpu", &cpu_origin)
    };
    r.check(blame_key, blame, validate::cpu_memory(cpu, memory))?;

    let (arch, _) = r.str_or("architecture", || "x86_64".into());
    let (architecture, image_architectures) = match arch.as_str() {
        "arm64" => (Architecture::Arm64, vec![Architecture::Arm64]),
        "both" => (
            Architecture::X86_64,
            vec![Architecture::X86_64, Architecture::Arm64],
        ),
        _ => (Architecture::X86_64, vec![Architecture::X86_64]),
    };

    let (subnets, origin) = r.list("subnets", &[]);
    for s in &subnets {
        r.check("subnets", &origin, validate::subnet(s))?;
    }
    let (security_groups, origin) = r.list("security-groups", &[]);
    for s in &security_groups {
        r.check("security-groups", &origin, validate::security_group(s))?;
    }
    let assign_public_ip = r.bool("assign-public-ip", false);
    let (network, _) = r.str_or("network", || "public".into());
    let private_network = network == "private";
    let (network_cidr, origin) = r.str_or("network-cidr", || "10.0.0.0/16".into());
    r.check(
        "network-cidr",
        &origin,
        validate::network_cidr(&network_cidr),
    )?;
    let (zones, origin) = r.int("zones", 2);
    r.check("zones", &origin, validate::zones(zones))?;
    let zones = zones as u32;

    let role = |r: &mut Resolver, key: &'static str, suffix: &str| -> Result<Role, UserError> {
        Ok(match r.opt_str(key) {
            Some((given, origin)) => {
                let given = named(&given);
                r.check(key, &origin, validate::role(&given))?;
                Role::Given(given)
            }
            None => {
                let managed = format!("{default_name}-{suffix}");
                r.check("name", &project_origin, validate::role_name(&managed))?;
                Role::Managed(managed)
            }
        })
    };
    let task_role = role(&mut r, "task-role", "task")?;
    let (task_role_policies, origin) = r.list("task-role-policies", &[]);
    for arn in &task_role_policies {
        let ok = arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":policy/");
        r.check("task-role-policies", &origin, ok.then_some(()).ok_or_else(|| format!("`{arn}` is not an IAM policy ARN such as `arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess`")))?;
    }
    let (policy_files, origin) = r.list("task-role-policy-files", &[]);
    let mut task_role_policy_files = Vec::new();
    for f in policy_files {
        let path = facts.package_dir.join(&f);
        r.check(
            "task-role-policy-files",
            &origin,
            existing(&path, &f, "policy file"),
        )?;
        task_role_policy_files.push(path);
    }
    let execution_role = role(&mut r, "execution-role", "execution")?;
    let (execution_role_policy, _) = r.str_or("execution-role-policy", || "scoped".into());
    let (secrets_kms_keys, origin) = r.list("secrets-kms-keys", &[]);
    for arn in &secrets_kms_keys {
        let ok = arn.starts_with("arn:aws") && arn.contains(":kms:") && arn.contains(":key/");
        r.check("secrets-kms-keys", &origin, ok.then_some(()).ok_or_else(|| format!("`{arn}` is not a KMS key ARN such as `arn:aws:kms:eu-west-1:123456789012:key/1234abcd-…`")))?;
    }

    let (log_group, origin) = r.str_or("log-group", || format!("/ecs/{default_name}"));
    let log_group = named(&log_group);
    r.check_derived(
        "log-group",
        &origin,
        &project_origin,
        validate::log_group(&log_group),
    )?;
    let (days, origin) = r.int("log-retention-days", 30);
    r.check("log-retention-days", &origin, validate::log_retention(days))?;

    let (environment, origin) = r.map("environment");
    for (k, v) in &environment {
        r.check("environment", &origin, validate::env_name(k))?;
        r.check(
            "environment",
            &origin,
            validate::process_string(&format!("the value of `{k}`"), v),
        )?;
    }
    let (secrets, origin) = r.map("secrets");
    for (k, v) in &secrets {
        r.check("secrets", &origin, validate::env_name(k))?;
        r.check(
            "secrets",
            &origin,
            validate::secret_reference(v).map_err(|e| format!("`{k}`: {e}")),
        )?;
        if environment.contains_key(k) {
            r.check("secrets", &origin, Err(format!("`{k}` is both a secret and a plain environment variable; keep it in `secrets` only")))?;
        }
    }
    let command = r.opt_list("command");
    let entrypoint = r.opt_list("entrypoint");
    for (key, list) in [("command", &command), ("entrypoint", &entrypoint)] {
        for arg in list.iter().flatten() {
            let origin = r
                .setting(key)
                .map(|(_, o)| o)
                .unwrap_or_else(Origin::default_value);
            r.check(
                key,
                &origin,
                validate::process_string(&format!("`{}`", arg.escape_debug()), arg),
            )?;
        }
    }
    let (port_values, origin) = r.int_list("ports");
    let mut ports = Vec::new();
    for p in port_values {
        r.check(
            "ports",
            &origin,
            (1..=65535)
                .contains(&p)
                .then_some(())
                .ok_or_else(|| format!("{p} is not a port (1–65535)")),
        )?;
        ports.push(p as u16);
    }
    let (service, service_entries) = super::service::resolve(layer, facts.manifest_path, &ports)?;
    r.entries.extend(service_entries);
    let stop_timeout = r.uint("stop-timeout", 30, 2..=120)?;
    let (health_check, health_entries) = super::health::resolve(layer, facts.manifest_path)?;
    r.entries.extend(health_entries);
    let (tags, tags_origin) = r.map("tags");
    for (k, v) in &tags {
        r.check("tags", &tags_origin, validate::tag(k, v))?;
    }

    let (builder, _) = r.str_or("builder", || "docker".into());
    let builder = match builder.as_str() {
        "host" => Builder::Host,
        "codebuild" => Builder::Codebuild,
        _ => Builder::Docker,
    };
    let codebuild_role = role(&mut r, "codebuild-role", "codebuild")?;
    let (codebuild_compute_type, _) =
        r.str_or("codebuild-compute-type", || "BUILD_GENERAL1_MEDIUM".into());
    let codebuild_timeout = r.uint("codebuild-timeout", 60, 5..=2160)?;
    let dockerfile = r.opt_file("dockerfile", facts.package_dir, "Dockerfile")?;
    let (builder_image, _) = r.str_or("builder-image", || "rust:1.95.0-slim-bookworm".into());
    let (runtime_image, _) = r.str_or("runtime-image", || SCRATCH.into());
    let tzdata = r.bool("tzdata", false);
    let (cargo_profile, _) = r.str_or("cargo-profile", || "release".into());
    let (features, _) = r.list("features", &[]);
    let task_template = r.opt_file("task-template", facts.package_dir, "template")?;

    let schedule = r.opt_str("schedule");
    if let Some((value, origin)) = &schedule {
        r.check(
            "schedule",
            origin,
            crate::config::schedule::parse(value)
                .map(|_| ())
                .map_err(|e| format!("{e}; valid: {}", crate::config::schedule::EXAMPLES)),
        )?;
    }
    let (schedule_timezone, origin) = r.str_or("schedule-timezone", || "UTC".into());
    r.check(
        "schedule-timezone",
        &origin,
        crate::config::schedule::timezone(&schedule_timezone).map(|_| ()),
    )?;
    let scheduler_role = role(&mut r, "scheduler-role", "scheduler")?;
    let keep_revisions = r.uint("keep-revisions", 10, 0..=1000)?;

    let lifecycle = Lifecycle {
        untagged_expire_days: r.uint("lifecycle.untagged-expire-days", 1, 1..=3650)?,
        keep_last: r.uint("lifecycle.keep-last", 10, 1..=1000)?,
        short_lived_prefixes: r
            .list(
                "lifecycle.short-lived-prefixes",
                &["testing", "builder", "git-"],
            )
            .0,
        short_lived_expire_days: r.uint("lifecycle.short-lived-expire-days", 3, 1..=3650)?,
    };

    Ok(Config {
        project,
        stage: stage.to_string(),
        stages,
        bin,
        region: region.map(|(v, _)| v),
        aws_profile,
        cluster,
        family,
        service_name,
        create_cluster,
        adopt,
        repository,
        tag_mutability,
        registry_endpoint: registry_endpoint.map(|(v, _)| v),
        bucket: bucket.map(|(b, _)| b),
        cpu: cpu as u32,
        memory: memory as u32,
        architecture,
        image_architectures,
        subnets,
        security_groups,
        assign_public_ip,
        private_network,
        network_cidr,
        zones,
        task_role,
        task_role_policies,
        task_role_policy_files,
        execution_role,
        execution_role_policy,
        secrets_kms_keys,
        log_group,
        log_retention_days: days as u32,
        environment,
        secrets,
        command,
        entrypoint,
        ports,
        stop_timeout,
        health_check,
        tags,
        builder,
        codebuild_role,
        codebuild_compute_type,
        codebuild_timeout,
        dockerfile,
        builder_image,
        runtime_image,
        tzdata,
        cargo_profile,
        features,
        task_template,
        schedule: schedule.map(|(v, _)| v),
        schedule_timezone,
        scheduler_role,
        keep_revisions,
        lifecycle,
        service,
        entries: r.entries,
        table_origins: layer.origins.clone(),
    })
}
