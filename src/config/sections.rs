//! The configuration by concern, each resolved on its own from the merged layer (as
//! `ServiceSettings` is in service.rs): the task's size, its network, its roles, its container, the
//! build, the schedule and the repository's lifecycle. Keys are read in the key table's order, so
//! `cargo fargate config` lists them as before.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::kinds::{Architecture, Builder, Lifecycle, Role, SCRATCH};
use super::raw::{Origin, Source};
use super::resolve::{Naming, ProjectFacts};
use super::resolver::{existing, Resolver};
use super::validate;
use crate::error::UserError;

/// Where the stage's tasks run. Serialised flat, as the keys are written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    /// `network = "private"`: tasks in the private subnets of the VPC `setup` makes.
    #[serde(rename = "private_network")]
    pub private: bool,
    /// The project's VPC range and how many zones it spans (setup's network).
    #[serde(rename = "network_cidr")]
    pub cidr: String,
    pub zones: u32,
}

/// The stage's roles (each managed by cargo-fargate or given) and what they are given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Roles {
    #[serde(rename = "task_role")]
    pub task: Role,
    #[serde(rename = "task_role_policies")]
    pub task_policies: Vec<String>,
    #[serde(rename = "task_role_policy_files")]
    pub task_policy_files: Vec<PathBuf>,
    #[serde(rename = "execution_role")]
    pub execution: Role,
    /// `scoped` or `aws-managed`: what the managed execution role is given.
    #[serde(rename = "execution_role_policy")]
    pub execution_policy: String,
    /// Customer managed KMS keys of the configured secrets.
    pub secrets_kms_keys: Vec<String>,
    #[serde(rename = "codebuild_role")]
    pub codebuild: Role,
    #[serde(rename = "scheduler_role")]
    pub scheduler: Role,
}

/// A scheduled job's schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    /// `cron(…)` or `rate(…)`, checked.
    #[serde(rename = "schedule")]
    pub expression: String,
    #[serde(rename = "schedule_timezone")]
    pub timezone: String,
}

/// A managed role's name (`{project}-{stage}-{suffix}`), or the one given in `key`.
fn role(
    r: &mut Resolver,
    naming: &Naming,
    key: &'static str,
    suffix: &str,
) -> Result<Role, UserError> {
    Ok(match r.opt_str(key) {
        Some((given, origin)) => {
            let given = naming.named(&given);
            r.check(key, &origin, validate::role(&given))?;
            Role::Given(given)
        }
        None => {
            let managed = format!("{}-{suffix}", naming.default_name());
            r.check("name", &naming.origin, validate::role_name(&managed))?;
            Role::Managed(managed)
        }
    })
}

/// The task's size and architecture. Serialised flat, as the keys are written.
#[derive(Debug, Clone, Serialize)]
pub struct Size {
    pub cpu: u32,
    pub memory: u32,
    /// The task's architecture (`runtimePlatform`); the image's first platform.
    pub architecture: Architecture,
    /// Every platform of the image: one, or both for `architecture = "both"` (an image index).
    pub image_architectures: Vec<Architecture>,
}

pub(super) fn size(r: &mut Resolver) -> Result<Size, UserError> {
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
    Ok(Size {
        cpu: cpu as u32,
        memory: memory as u32,
        architecture,
        image_architectures,
    })
}

pub(super) fn network(r: &mut Resolver) -> Result<Network, UserError> {
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
    let (cidr, origin) = r.str_or("network-cidr", || "10.0.0.0/16".into());
    r.check("network-cidr", &origin, validate::network_cidr(&cidr))?;
    let (zones, origin) = r.int("zones", 2);
    r.check("zones", &origin, validate::zones(zones))?;
    Ok(Network {
        subnets,
        security_groups,
        assign_public_ip,
        private: network == "private",
        cidr,
        zones: zones as u32,
    })
}

/// The task and execution roles and what they are given; the CodeBuild and scheduler roles are
/// read with the build and the schedule (placeholders here, filled in by `resolve`).
pub(super) fn task_roles(
    r: &mut Resolver,
    naming: &Naming,
    package_dir: &Path,
) -> Result<Roles, UserError> {
    let task = role(r, naming, "task-role", "task")?;
    let (task_policies, origin) = r.list("task-role-policies", &[]);
    for arn in &task_policies {
        let ok = arn.starts_with("arn:aws") && arn.contains(":iam::") && arn.contains(":policy/");
        r.check("task-role-policies", &origin, ok.then_some(()).ok_or_else(|| format!("`{arn}` is not an IAM policy ARN such as `arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess`")))?;
    }
    let (policy_files, origin) = r.list("task-role-policy-files", &[]);
    let mut task_policy_files = Vec::new();
    for f in policy_files {
        let path = package_dir.join(&f);
        r.check(
            "task-role-policy-files",
            &origin,
            existing(&path, &f, "policy file"),
        )?;
        task_policy_files.push(path);
    }
    let execution = role(r, naming, "execution-role", "execution")?;
    let (execution_policy, _) = r.str_or("execution-role-policy", || "scoped".into());
    let (secrets_kms_keys, origin) = r.list("secrets-kms-keys", &[]);
    for arn in &secrets_kms_keys {
        let ok = arn.starts_with("arn:aws") && arn.contains(":kms:") && arn.contains(":key/");
        r.check("secrets-kms-keys", &origin, ok.then_some(()).ok_or_else(|| format!("`{arn}` is not a KMS key ARN such as `arn:aws:kms:eu-west-1:123456789012:key/1234abcd-…`")))?;
    }
    Ok(Roles {
        task,
        task_policies,
        task_policy_files,
        execution,
        execution_policy,
        secrets_kms_keys,
        codebuild: Role::Managed(String::new()),
        scheduler: Role::Managed(String::new()),
    })
}

/// The container: its logs, environment, process, ports, stop timeout, health check and tags.
/// Serialised flat, as the keys are written.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerSettings {
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
}

/// The container's settings and the service's, which are read between `ports` (which they need)
/// and `stop-timeout` in the key table's order.
pub(super) fn container(
    r: &mut Resolver,
    naming: &Naming,
    facts: &ProjectFacts,
) -> Result<(ContainerSettings, super::service::ServiceSettings), UserError> {
    let (log_group, origin) = r.str_or("log-group", || format!("/ecs/{}", naming.default_name()));
    let log_group = naming.named(&log_group);
    r.check_derived(
        "log-group",
        &origin,
        &naming.origin,
        validate::log_group(&log_group),
    )?;
    let (days, origin) = r.int("log-retention-days", 30);
    r.check("log-retention-days", &origin, validate::log_retention(days))?;
    let (environment, secrets) = environment(r)?;
    let (command, entrypoint) = process(r)?;
    let ports = ports(r)?;
    let (service, service_entries) = super::service::resolve(r.layer, facts.manifest_path, &ports)?;
    r.entries.extend(service_entries);
    let stop_timeout = r.uint("stop-timeout", 30, 2..=120)?;
    let (health_check, health_entries) = super::health::resolve(r.layer, facts.manifest_path)?;
    r.entries.extend(health_entries);
    let (tags, tags_origin) = r.map("tags");
    for (k, v) in &tags {
        r.check("tags", &tags_origin, validate::tag(k, v))?;
    }
    let container = ContainerSettings {
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
    };
    Ok((container, service))
}

type Vars = BTreeMap<String, String>;

/// `environment` and `secrets`: valid names, and none in both.
fn environment(r: &mut Resolver) -> Result<(Vars, Vars), UserError> {
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
    Ok((environment, secrets))
}

type Args = Option<Vec<String>>;

/// `command` and `entrypoint`, each argument one a process can take.
fn process(r: &mut Resolver) -> Result<(Args, Args), UserError> {
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
    Ok((command, entrypoint))
}

fn ports(r: &mut Resolver) -> Result<Vec<u16>, UserError> {
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
    Ok(ports)
}

/// How the image is built: the builder and what it is given.
#[derive(Debug, Clone, Serialize)]
pub struct BuildSettings {
    pub builder: Builder,
    pub codebuild_compute_type: String,
    pub codebuild_timeout: u32,
    pub dockerfile: Option<PathBuf>,
    pub builder_image: String,
    pub runtime_image: String,
    /// Put tzdata in a minimal (`scratch`) image.
    pub tzdata: bool,
    pub cargo_profile: String,
    pub features: Vec<String>,
}

/// The build keys as resolved: the settings, the CodeBuild role (one of the stage's roles) and
/// the task definition template (the render step's).
pub(super) struct Build {
    pub settings: BuildSettings,
    pub codebuild_role: Role,
    pub task_template: Option<PathBuf>,
}

pub(super) fn build(
    r: &mut Resolver,
    naming: &Naming,
    package_dir: &Path,
) -> Result<Build, UserError> {
    let (builder, _) = r.str_or("builder", || "docker".into());
    let builder = match builder.as_str() {
        "host" => Builder::Host,
        "codebuild" => Builder::Codebuild,
        _ => Builder::Docker,
    };
    let codebuild_role = role(r, naming, "codebuild-role", "codebuild")?;
    let (codebuild_compute_type, _) =
        r.str_or("codebuild-compute-type", || "BUILD_GENERAL1_MEDIUM".into());
    let codebuild_timeout = r.uint("codebuild-timeout", 60, 5..=2160)?;
    let dockerfile = r.opt_file("dockerfile", package_dir, "Dockerfile")?;
    let (builder_image, _) = r.str_or("builder-image", || "rust:1.95.0-slim-bookworm".into());
    let (runtime_image, _) = r.str_or("runtime-image", || SCRATCH.into());
    let tzdata = r.bool("tzdata", false);
    let (cargo_profile, _) = r.str_or("cargo-profile", || "release".into());
    let (features, _) = r.list("features", &[]);
    let task_template = r.opt_file("task-template", package_dir, "template")?;
    Ok(Build {
        settings: BuildSettings {
            builder,
            codebuild_compute_type,
            codebuild_timeout,
            dockerfile,
            builder_image,
            runtime_image,
            tzdata,
            cargo_profile,
            features,
        },
        codebuild_role,
        task_template,
    })
}

/// The schedule, when the stage has one, and the scheduler's role.
pub(super) fn schedule(
    r: &mut Resolver,
    naming: &Naming,
) -> Result<(Option<Schedule>, Role), UserError> {
    let expression = r.opt_str("schedule");
    if let Some((value, origin)) = &expression {
        r.check(
            "schedule",
            origin,
            super::schedule::parse(value)
                .map(|_| ())
                .map_err(|e| format!("{e}; valid: {}", super::schedule::EXAMPLES)),
        )?;
    }
    let (timezone, origin) = r.str_or("schedule-timezone", || "UTC".into());
    r.check(
        "schedule-timezone",
        &origin,
        super::schedule::timezone(&timezone).map(|_| ()),
    )?;
    let role = role(r, naming, "scheduler-role", "scheduler")?;
    let schedule = expression.map(|(expression, _)| Schedule {
        expression,
        timezone,
    });
    Ok((schedule, role))
}

/// The repository's lifecycle rules.
pub(super) fn lifecycle(r: &mut Resolver) -> Result<Lifecycle, UserError> {
    Ok(Lifecycle {
        untagged_expire_days: r.uint("lifecycle.untagged-expire-days", 1, 1..=3650)?,
        keep_last: r.uint("lifecycle.keep-last", 10, 1..=1000)?,
        short_lived_prefixes: r
            .list(
                "lifecycle.short-lived-prefixes",
                &["testing", "builder", "git-"],
            )
            .0,
        short_lived_expire_days: r.uint("lifecycle.short-lived-expire-days", 3, 1..=3650)?,
    })
}
