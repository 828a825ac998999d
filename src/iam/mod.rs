//! Least-privilege IAM for every principal of a stage: the deploying identity, the CodeBuild and
//! EventBridge Scheduler service roles, the task's execution and task roles. Each policy is a
//! template in task-templates/ rendered over one [`Scope`]: the ARNs of this project's and stage's
//! resources, so nothing is granted outside them and `"Resource": "*"` appears only on actions that
//! take no resource (their `Sid` says so).
//!
//! Also the one owner of every role cargo-fargate makes, each through [`managed`] (read, compare,
//! converge; never take over a role it did not create): the task and execution roles ([`roles`]),
//! the CodeBuild role ([`codebuild`]), the scheduler role ([`scheduler`]), Express Mode's
//! infrastructure role ([`infrastructure`]) and the ECS Exec policy on the task role ([`exec`]).

pub mod codebuild;
pub mod command;
pub mod deployer;
pub mod exec;
pub mod infrastructure;
pub mod managed;
pub mod roles;
pub mod scheduler;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::config::{resolve::Builder, Config, Role};
use crate::error::{Result, UserError};

/// The principals cargo-fargate writes policies for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Principal {
    /// The identity that runs `cargo fargate deploy` (a user, or a CI role).
    Deployer,
    /// The CodeBuild project's service role (builder = "codebuild").
    Codebuild,
    /// The task's execution role: pulls the image, writes logs, reads secrets.
    Execution,
    /// The task role: the application's own permissions.
    Task,
    /// EventBridge Scheduler's role for scheduled runs.
    Scheduler,
}

impl Principal {
    /// The AWS service that assumes the role, or none for the deployer.
    pub fn service(self) -> Option<&'static str> {
        match self {
            Principal::Deployer => None,
            Principal::Codebuild => Some("codebuild.amazonaws.com"),
            Principal::Execution | Principal::Task => Some(crate::iam::roles::ECS_TASKS),
            Principal::Scheduler => Some("scheduler.amazonaws.com"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Principal::Deployer => "deployer",
            Principal::Codebuild => "codebuild",
            Principal::Execution => "execution",
            Principal::Task => "task",
            Principal::Scheduler => "scheduler",
        }
    }
}

/// Whether an existing resource of the stage's name may be updated in place: the rule `teardown`
/// uses to decide what it removes ([`crate::names::is_ours`]) also decides what deploy, push and setup change.
/// `Ok(false)`: ours, update it; `Ok(true)`: not ours but `adopt = true`, so tag it first, then
/// update it; `Err`: not ours, refused before any change, naming it and what would have changed.
pub fn may_update(
    config: &Config,
    resource: &str,
    tags: &BTreeMap<String, String>,
    changes: &str,
) -> crate::error::Result<bool> {
    if crate::names::is_ours(config, tags) {
        return Ok(false);
    }
    if config.names.adopt {
        return Ok(true);
    }
    Err(crate::error::UserError::new(format!(
        "{resource} exists but is not tagged as stage {} of {}'s by cargo-fargate, so it is not changed ({changes} refused)",
        config.stage, config.project
    ))
    .fix("set `adopt = true` (or CARGO_FARGATE_ADOPT=true) to take it over: it is tagged as this stage's, then updated, and `teardown` removes it; or give the stage another name for it")
    .into())
}

/// A configuration key another part of the tool defines (kind, schedule, exec, codebuild-role, …),
/// read by name so the policies follow whatever keys the configuration has.
fn entry<'a>(config: &'a Config, key: &str) -> Option<&'a Value> {
    config
        .entries
        .iter()
        .filter(|e| e.key == key)
        .map(|e| &e.value)
        .rfind(|v| !v.is_null())
}

/// Everything a policy names: the account, region and this stage's resources.
#[derive(Debug, Clone, Serialize)]
pub struct Scope {
    pub partition: String,
    pub account: String,
    pub region: String,
    pub project: String,
    pub stage: String,
    pub family: String,
    pub repository: String,
    pub cluster: String,
    pub log_group: String,
    pub builder: &'static str,
    pub kind: String,
    pub scheduled: bool,
    /// `keep-revisions`: old revisions are deregistered after a deploy (0: never).
    pub keep_revisions: u32,
    pub exec: bool,
    pub teardown: bool,
    /// No `subnets`: `setup` makes (and `teardown` removes) the project's network.
    pub network: bool,
    /// `load-balancer`: the name of the load balancer and target group `setup` makes.
    pub load_balancer: Option<String>,
    /// `target-group-arn`: doctor reads the given target group's settings.
    pub target_group: bool,
    /// `scale-on`: the service's scalable target and target-tracking policies.
    pub scaling: bool,
    /// A blue-green, canary or linear service: its alternate target group and production rule,
    /// and the infrastructure role passed to ECS. `alternate` is that target group's name.
    pub alternate: Option<String>,
    /// The caller's IAM user or role ARN (an assumed-role session as its role), when known.
    pub caller: Option<String>,
    pub caller_is_user: bool,
    pub arn: Arns,
    pub ssm_parameters: BTreeSet<String>,
    pub secrets_manager: BTreeSet<String>,
    pub kms_keys: Vec<String>,
    pub kms_via: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Arns {
    pub repository: String,
    /// The ECR repositories the execution role pulls from: the stage's, and those of images
    /// registered from elsewhere (`register --image`, `run --image`); see [`Scope::pulling_from`].
    pub pull_repositories: Vec<String>,
    pub cluster: String,
    pub family: String,
    pub tasks: String,
    pub container_instances: String,
    pub log_group: Vec<String>,
    pub log_streams: String,
    pub managed_roles: Vec<String>,
    pub given_roles: Vec<String>,
    pub ecs_task_roles: Vec<String>,
    pub policies: Vec<String>,
    pub bucket: String,
    pub archives: String,
    pub build_project: String,
    pub build_log_group: Vec<String>,
    pub codebuild_role: String,
    pub scheduler_role: String,
    pub schedules: String,
    pub services: String,
    pub infrastructure_role: String,
    /// `{project}-{stage}-deployer` (`setup --ci`): only teardown touches it, never itself.
    pub deployer_role: String,
}

/// A role of the stage: its ARN and whether cargo-fargate manages it.
struct RoleRef {
    arn: String,
    managed: bool,
}

/// Every role of the stage as an ARN, and whether cargo-fargate manages it.
struct StageRoles {
    task: RoleRef,
    execution: RoleRef,
    codebuild: RoleRef,
    scheduler: RoleRef,
    infrastructure: RoleRef,
}

impl StageRoles {
    fn new(config: &Config, partition: &str, account: &str) -> StageRoles {
        let role_arn = |name: &str| format!("arn:{partition}:iam::{account}:role/{name}");
        let role = |r: &Role| match r {
            Role::Given(v) if v.starts_with("arn:") => RoleRef {
                arn: v.clone(),
                managed: false,
            },
            Role::Given(v) => RoleRef {
                arn: role_arn(v),
                managed: false,
            },
            Role::Managed(name) => RoleRef {
                arn: role_arn(name),
                managed: true,
            },
        };
        StageRoles {
            task: role(&config.roles.task),
            execution: role(&config.roles.execution),
            codebuild: role(&config.roles.codebuild),
            scheduler: role(&config.roles.scheduler),
            infrastructure: role(&Role::Managed(crate::names::infrastructure_role(config))),
        }
    }

    /// The roles the stage uses: task and execution, and those of its builder and kind
    /// (`infrastructure`: Express Mode's or traffic shifting's role).
    fn used(&self, codebuild: bool, scheduled: bool, infrastructure: bool) -> Vec<&RoleRef> {
        let mut roles = vec![&self.task, &self.execution];
        if codebuild {
            roles.push(&self.codebuild);
        }
        if scheduled {
            roles.push(&self.scheduler);
        }
        if infrastructure {
            roles.push(&self.infrastructure);
        }
        roles
    }
}

/// The ARNs of the `managed` (or given) roles among `roles`, sorted, without repeats.
fn pick(roles: &[&RoleRef], managed: bool) -> Vec<String> {
    let set: BTreeSet<String> = roles
        .iter()
        .filter(|r| r.managed == managed)
        .map(|r| r.arn.clone())
        .collect();
    set.into_iter().collect()
}

/// The managed policies the managed roles are given.
fn role_policies(config: &Config, partition: &str, roles: &StageRoles) -> Vec<String> {
    let mut policies: BTreeSet<String> = BTreeSet::new();
    if roles.task.managed {
        policies.extend(config.roles.task_policies.iter().cloned());
    }
    if roles.execution.managed && config.roles.execution_policy == "aws-managed" {
        policies.insert(format!(
            "arn:{partition}:iam::aws:policy/{}",
            crate::iam::roles::EXECUTION_POLICY
        ));
    }
    policies.into_iter().collect()
}

/// The ARNs of the stage's resources (the role lists and policies are filled in by the caller).
fn arns(config: &Config, p: &str, account: &str, region: &str, roles: &StageRoles) -> Arns {
    let family = crate::names::family(config);
    // The archive bucket, named as the codebuild builder names it.
    let bucket = crate::names::bucket(config, account, region);
    let logs = |group: &str| {
        vec![
            format!("arn:{p}:logs:{region}:{account}:log-group:{group}"),
            format!("arn:{p}:logs:{region}:{account}:log-group:{group}:*"),
        ]
    };
    let cluster = &config.names.cluster;
    let repository = format!(
        "arn:{p}:ecr:{region}:{account}:repository/{}",
        config.names.repository
    );
    let ecs_task_roles: BTreeSet<String> = [roles.task.arn.clone(), roles.execution.arn.clone()]
        .into_iter()
        .collect();
    Arns {
        pull_repositories: vec![repository.clone()],
        repository,
        cluster: format!("arn:{p}:ecs:{region}:{account}:cluster/{cluster}"),
        family: format!("arn:{p}:ecs:{region}:{account}:task-definition/{family}:*"),
        tasks: format!("arn:{p}:ecs:{region}:{account}:task/{cluster}/*"),
        container_instances: format!(
            "arn:{p}:ecs:{region}:{account}:container-instance/{cluster}/*"
        ),
        log_group: logs(&config.container.log_group),
        log_streams: format!(
            "arn:{p}:logs:{region}:{account}:log-group:{}:log-stream:*",
            config.container.log_group
        ),
        managed_roles: Vec::new(),
        given_roles: Vec::new(),
        ecs_task_roles: ecs_task_roles.into_iter().collect(),
        policies: Vec::new(),
        bucket: format!("arn:{p}:s3:::{bucket}"),
        archives: format!(
            "arn:{p}:s3:::{bucket}/{}",
            crate::names::archive_prefix(config) + "*"
        ),
        build_project: format!(
            "arn:{p}:codebuild:{region}:{account}:project/{}",
            crate::names::build_project(config)
        ),
        build_log_group: logs(&crate::names::build_log_group(config)),
        codebuild_role: roles.codebuild.arn.clone(),
        scheduler_role: roles.scheduler.arn.clone(),
        schedules: format!(
            "arn:{p}:scheduler:{region}:{account}:schedule/default/{}*",
            crate::names::schedule(config)
        ),
        services: format!(
            "arn:{p}:ecs:{region}:{account}:service/{cluster}/{}",
            crate::names::service(config)
        ),
        infrastructure_role: roles.infrastructure.arn.clone(),
        deployer_role: format!(
            "arn:{p}:iam::{account}:role/{}",
            crate::names::deployer_role(config)
        ),
    }
}

impl Scope {
    pub fn new(
        config: &Config,
        partition: &str,
        account: &str,
        region: &str,
        caller: Option<&str>,
    ) -> Scope {
        let builder = match config.build.builder {
            Builder::Docker => "docker",
            Builder::Host => "host",
            Builder::Codebuild => "codebuild",
        };
        let kind = entry(config, "kind")
            .and_then(Value::as_str)
            .unwrap_or("task")
            .to_string();
        let scheduled = entry(config, "schedule").is_some();
        let exec = entry(config, "exec").and_then(Value::as_bool) == Some(true);
        let roles = StageRoles::new(config, partition, account);
        // The infrastructure role: Express Mode's, or the one ECS shifts traffic with.
        let shifts = crate::iam::infrastructure::wanted(config) && kind != "web";
        let used = roles.used(builder == "codebuild", scheduled, kind == "web" || shifts);
        let (ssm_parameters, secrets_manager) =
            secret_arns(&config.container.secrets, partition, region, account);
        let mut kms_via = Vec::new();
        if !ssm_parameters.is_empty() {
            kms_via.push(format!("ssm.{region}.amazonaws.com"));
        }
        if !secrets_manager.is_empty() {
            kms_via.push(format!("secretsmanager.{region}.amazonaws.com"));
        }
        let mut arn = arns(config, partition, account, region, &roles);
        arn.managed_roles = pick(&used, true);
        arn.given_roles = pick(&used, false);
        arn.policies = role_policies(config, partition, &roles);
        Scope {
            partition: partition.to_string(),
            account: account.to_string(),
            region: region.to_string(),
            project: config.project.clone(),
            stage: config.stage.clone(),
            family: crate::names::family(config),
            repository: config.names.repository.clone(),
            cluster: config.names.cluster.clone(),
            log_group: config.container.log_group.clone(),
            builder,
            kind,
            scheduled,
            keep_revisions: config.keep_revisions,
            exec,
            teardown: false,
            network: config.network.subnets.is_empty(),
            load_balancer: config
                .service
                .load_balancer
                .as_ref()
                .map(|_| crate::names::load_balancer(config)),
            scaling: config.service.scaling.is_some(),
            alternate: shifts.then(|| crate::names::alternate_target_group(config)),
            target_group: config.service.target_group_arn.is_some(),
            caller: caller.map(str::to_string),
            caller_is_user: caller.is_some_and(|c| c.contains(":user/")),
            arn,
            ssm_parameters,
            secrets_manager,
            kms_keys: config.roles.secrets_kms_keys.clone(),
            kms_via,
        }
    }

    /// The policy document of `principal`; the task role's is the configured policy files merged
    /// (`None` when it has none).
    pub fn policy(&self, principal: Principal, config: &Config) -> Result<Option<Value>> {
        let doc = match principal {
            Principal::Deployer => render(
                "iam-deployer-policy.json",
                include_str!("../../task-templates/iam-deployer-policy.json"),
                self,
            )?,
            Principal::Codebuild => render(
                "iam-codebuild-policy.json",
                include_str!("../../task-templates/iam-codebuild-policy.json"),
                self,
            )?,
            Principal::Execution => self.execution_policy()?,
            Principal::Scheduler => render(
                "iam-scheduler-policy.json",
                include_str!("../../task-templates/iam-scheduler-policy.json"),
                self,
            )?,
            Principal::Task => {
                let mut statements = Vec::new();
                for path in &config.roles.task_policy_files {
                    let (_, doc) = crate::iam::roles::policy_file(path)?;
                    match &doc["Statement"] {
                        Value::Array(items) => statements.extend(items.iter().cloned()),
                        one => statements.push(one.clone()),
                    }
                }
                if statements.is_empty() {
                    return Ok(None);
                }
                serde_json::json!({"Version": "2012-10-17", "Statement": statements})
            }
        };
        Ok(Some(doc))
    }

    /// The execution role also pulls from `repositories` (ARNs), sorted and without repeats.
    pub fn pulling_from(mut self, repositories: impl IntoIterator<Item = String>) -> Scope {
        let mut all: BTreeSet<String> = self.arn.pull_repositories.drain(..).collect();
        all.extend(repositories);
        self.arn.pull_repositories = all.into_iter().collect();
        self
    }

    /// The managed execution role's inline policy.
    pub fn execution_policy(&self) -> Result<Value> {
        render(
            "iam-execution-policy.json",
            include_str!("../../task-templates/iam-execution-policy.json"),
            self,
        )
    }

    /// The trust policy of `principal`'s role.
    pub fn trust(&self, principal: Principal) -> Result<Value> {
        trust_policy(principal.service(), &self.partition, &self.account)
    }
}

/// A trust policy for `service` (or, without one, for identities of the account).
pub fn trust_policy(service: Option<&str>, partition: &str, account: &str) -> Result<Value> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template(
        "iam-trust-policy.json",
        include_str!("../../task-templates/iam-trust-policy.json"),
    )?;
    let text = env.get_template("iam-trust-policy.json")?.render(
        minijinja::context! { service => service, partition => partition, account => account },
    )?;
    Ok(serde_json::from_str(&text)?)
}

fn render(name: &str, source: &str, scope: &Scope) -> Result<Value> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template(name, source)?;
    let text = env
        .get_template(name)?
        .render(minijinja::Value::from_serialize(scope))?;
    serde_json::from_str(&text).map_err(|e| {
        UserError::new(format!(
            "the built-in template {name} rendered invalid JSON: {e}"
        ))
        .fix("report this as a bug in cargo-fargate")
        .into()
    })
}

/// The ARNs the configured secrets are read by: SSM parameters, and Secrets Manager secrets (a
/// name without its random suffix matches it through `-??????`).
pub fn secret_arns(
    secrets: &BTreeMap<String, String>,
    partition: &str,
    region: &str,
    account: &str,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut ssm = BTreeSet::new();
    let mut secrets_manager = BTreeSet::new();
    for value in secrets.values() {
        if let Some(rest) = value.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.split(':').collect();
            if parts.get(1) == Some(&"secretsmanager") {
                // arn:partition:secretsmanager:region:account:secret:name[:json-key:stage:version]
                let base = format!("arn:{}", parts[..6.min(parts.len())].join(":"));
                secrets_manager.insert(base.clone());
                secrets_manager.insert(format!("{base}-??????"));
            } else {
                ssm.insert(value.clone());
            }
        } else {
            let name = value.trim_start_matches('/');
            ssm.insert(format!(
                "arn:{partition}:ssm:{region}:{account}:parameter/{name}"
            ));
        }
    }
    (ssm, secrets_manager)
}

/// The ECR repository an image is pulled from, as an ARN; `None` for an image outside ECR (a
/// public registry needs no permission; a private one needs `repositoryCredentials`).
pub fn pull_repository(image: &crate::image::PinnedImage, partition: &str) -> Option<String> {
    image.ecr().map(|ecr| {
        format!(
            "arn:{partition}:ecr:{}:{}:repository/{}",
            ecr.region, ecr.registry_id, ecr.repository_name
        )
    })
}

/// The ECR repositories an execution policy already lets the role pull from: kept when the
/// policy is rewritten, so revisions registered with an image from elsewhere still start.
pub fn granted_pulls(policy: &Value) -> Vec<String> {
    use crate::aws::iam::strings as list;
    crate::aws::iam::statements(policy)
        .iter()
        .filter(|s| {
            s["Effect"] == "Allow" && list(&s["Action"]).iter().any(|a| a == "ecr:BatchGetImage")
        })
        .flat_map(|s| list(&s["Resource"]))
        .filter(|r| {
            r.starts_with("arn:")
                && r.contains(":ecr:")
                && r.contains(":repository/")
                && !r.contains('*')
        })
        .collect()
}

/// The IAM principal behind a caller ARN: a user or role (an assumed-role session is its role);
/// `None` for the root user.
pub fn principal_arn(arn: &str, partition: &str, account: &str) -> Option<String> {
    if arn.ends_with(":root") {
        return None;
    }
    if let Some(rest) = arn.split(":assumed-role/").nth(1) {
        let role = rest.split('/').next()?;
        return Some(format!("arn:{partition}:iam::{account}:role/{role}"));
    }
    if let Some(user) = arn.split(":user/").nth(1) {
        // An IAM user is named by its IAM ARN, whatever service reported it.
        return Some(format!("arn:{partition}:iam::{account}:user/{user}"));
    }
    Some(arn.to_string())
}

#[cfg(test)]
mod tests;
