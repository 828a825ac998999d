//! The task's two roles. Each is either given (a name or ARN: verified, never modified) or managed
//! (created and kept in line with the configuration, tagged `managed-by = cargo-fargate`).
//!
//! Two steps so that nothing is half-created: [`plan`] reads and checks everything (given roles
//! exist in this account and trust `ecs-tasks.amazonaws.com`, a managed role's name is not taken
//! by someone else's role, policy ARNs exist, policy files are JSON policies) and [`apply`] then
//! makes the managed roles match. Re-running converges: only differences are written.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::aws::{Aws, Identity};
use crate::config::validate::RoleArn;
use crate::config::{Config, Role};
use crate::error::{Location, Result, UserError};

pub use super::managed::Desired;
pub const ECS_TASKS: &str = "ecs-tasks.amazonaws.com";
pub const EXECUTION_POLICY: &str = "service-role/AmazonECSTaskExecutionRolePolicy";
use crate::names::{EXECUTION_POLICY_NAME, SECRETS_POLICY_NAME};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Task,
    Execution,
}

impl Kind {
    fn key(self) -> &'static str {
        match self {
            Kind::Task => "task-role",
            Kind::Execution => "execution-role",
        }
    }
}

/// One role, checked, and (when managed) what it must look like.
#[derive(Debug, Clone)]
pub struct RolePlan {
    pub kind: Kind,
    pub name: String,
    pub arn: String,
    pub managed: Option<Desired>,
    /// A managed role that exists, as the plan read it: [`apply`] leaves it alone without
    /// reading it again when it already is as desired.
    pub current: Option<Current>,
}

/// An existing managed role's trust, attached and inline policies, read once by the plan.
#[derive(Debug, Clone)]
pub struct Current {
    pub trust: Value,
    pub attached: BTreeSet<String>,
    pub inline: BTreeMap<String, Value>,
}

impl Current {
    fn matches(&self, want: &Desired) -> bool {
        self.trust == want.trust
            && want.attached.as_ref().is_none_or(|a| *a == self.attached)
            && self.inline == want.inline
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub task: RolePlan,
    pub execution: RolePlan,
}

/// What [`apply`] did to one role.
#[derive(Debug, Clone, Serialize)]
pub struct RoleState {
    pub kind: Kind,
    pub name: String,
    pub arn: String,
    pub managed: bool,
    pub created: bool,
    pub changes: Vec<String>,
}

/// The trust policy of managed roles: ECS tasks of this account (`iam policy --for task --trust`).
pub fn trust_policy(account: &str) -> Result<Value> {
    crate::iam::trust_policy(Some(ECS_TASKS), "aws", account)
}

/// The execution role's inline policy that reads exactly the configured secrets; `None` without
/// secrets.
pub fn secrets_policy(
    secrets: &BTreeMap<String, String>,
    partition: &str,
    region: &str,
    account: &str,
) -> Result<Option<Value>> {
    if secrets.is_empty() {
        return Ok(None);
    }
    let (ssm, secrets_manager) = crate::iam::secret_arns(secrets, partition, region, account);
    let doc = render_policy(
        "execution-secrets-policy.json",
        include_str!("../../task-templates/execution-secrets-policy.json"),
        minijinja::context! { ssm_parameters => ssm, secrets_manager => secrets_manager },
    )?;
    Ok(Some(doc))
}

pub fn render_policy(name: &str, source: &str, ctx: minijinja::Value) -> Result<Value> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.add_template(name, source)?;
    let text = env.get_template(name)?.render(ctx)?;
    Ok(serde_json::from_str(&text)?)
}

/// Whether a trust policy lets ECS tasks assume the role.
pub fn trusts_ecs_tasks(doc: &Value) -> bool {
    trusts(doc, ECS_TASKS)
}

/// Whether a trust policy lets `service` (e.g. `codebuild.amazonaws.com`) assume the role.
pub fn trusts(doc: &Value, service: &str) -> bool {
    use crate::aws::iam::{statements, strings};
    statements(doc).iter().any(|s| {
        s["Effect"] == "Allow"
            && strings(&s["Action"])
                .iter()
                .any(|a| matches!(a.as_str(), "sts:AssumeRole" | "sts:*" | "*"))
            && strings(&s["Principal"]["Service"])
                .iter()
                .any(|p| p == service)
    })
}

/// A given role's name: the value itself, or the name in its ARN.
pub fn role_name_of(value: &str) -> String {
    match RoleArn::parse(value) {
        Ok(arn) => arn.name,
        Err(_) => value.to_string(),
    }
}

/// Reads and checks both roles; creates nothing. `image`: the image being registered when it may
/// come from another repository than the stage's (`register --image`): a managed execution role
/// is then allowed to pull it too.
pub async fn plan(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    region: &str,
    image: Option<&crate::image::PinnedImage>,
) -> Result<Plan> {
    // The two roles are read at once.
    let (task, execution) = tokio::try_join!(
        plan_role(
            aws,
            config,
            identity,
            region,
            Kind::Task,
            &config.roles.task,
            None,
        ),
        plan_role(
            aws,
            config,
            identity,
            region,
            Kind::Execution,
            &config.roles.execution,
            image,
        ),
    )?;
    Ok(Plan { task, execution })
}

async fn plan_role(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    region: &str,
    kind: Kind,
    role: &Role,
    image: Option<&crate::image::PinnedImage>,
) -> Result<RolePlan> {
    match role {
        Role::Given(value) => plan_given(aws, config, identity, kind, value).await,
        Role::Managed(name) => plan_managed(aws, config, identity, region, kind, name, image).await,
    }
}

/// A role the user gave: it must exist in this account and trust ECS tasks.
async fn plan_given(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    kind: Kind,
    value: &str,
) -> Result<RolePlan> {
    let key = kind.key();
    if value.starts_with("arn:") {
        // Checked when the configuration was read.
        let arn = RoleArn::parse(value).map_err(|e| config.key_error(key, e))?;
        let account = &arn.account;
        if *account != identity.account || arn.partition != identity.partition() {
            return Err(config
                .key_error(key, format!("role `{value}` belongs to account {account}, but these credentials are for account {}", identity.account))
                .fix(format!("ECS tasks use roles of their own account: give a role of account {}, or drop `{key}` to let cargo-fargate manage one", identity.account))
                .into());
        }
    }
    let name = role_name_of(value);
    let found = aws.get_role(&name).await?.ok_or_else(|| {
        config
            .key_error(
                key,
                format!(
                    "role `{name}` does not exist in account {}",
                    identity.account
                ),
            )
            .fix(format!(
                "create it (trusting {ECS_TASKS}), fix the name, or drop `{key}` to let cargo-fargate manage one"
            ))
    })?;
    if !trusts_ecs_tasks(&found.trust) {
        return Err(config
            .key_error(
                key,
                format!("role `{name}` does not trust {ECS_TASKS}, so tasks cannot assume it"),
            )
            .fix(format!(
                "allow sts:AssumeRole for the service principal {ECS_TASKS} in its trust policy, or drop `{key}` to let cargo-fargate manage one"
            ))
            .into());
    }
    Ok(RolePlan {
        kind,
        name: found.name,
        arn: found.arn,
        managed: None,
        current: None,
    })
}

/// A role cargo-fargate manages: what it holds now and what it should hold.
async fn plan_managed(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    region: &str,
    kind: Kind,
    name: &str,
    image: Option<&crate::image::PinnedImage>,
) -> Result<RolePlan> {
    let key = kind.key();
    let existing = super::managed::existing(aws, config, key, name).await?;
    // Its policies as they are, read at once (the apply step then reads nothing again).
    let current = match &existing {
        Some(found) => {
            let (attached, inline) =
                tokio::try_join!(aws.attached_policies(name), aws.inline_policies(name))?;
            Some(Current {
                trust: found.trust.clone(),
                attached,
                inline,
            })
        }
        None => None,
    };
    let mut policies = BTreeSet::new();
    let mut inline = BTreeMap::new();
    match kind {
        Kind::Task => task_policies(aws, config, &mut policies, &mut inline).await?,
        Kind::Execution if config.roles.execution_policy != "aws-managed" => {
            // Pulls from the stage's repository, the registered image's, and whatever
            // the role already pulls from (older revisions must still start).
            let mut pulls: Vec<String> = image
                .and_then(|i| crate::iam::pull_repository(i, identity.partition()))
                .into_iter()
                .collect();
            if let Some(doc) = current
                .as_ref()
                .and_then(|c| c.inline.get(EXECUTION_POLICY_NAME))
            {
                pulls.extend(crate::iam::granted_pulls(doc));
            }
            let scope = crate::iam::Scope::new(
                config,
                identity.partition(),
                &identity.account,
                region,
                None,
            )
            .pulling_from(pulls);
            inline.insert(EXECUTION_POLICY_NAME.to_string(), scope.execution_policy()?);
        }
        Kind::Execution => {
            let arn = format!(
                "arn:{}:iam::aws:policy/{EXECUTION_POLICY}",
                identity.partition()
            );
            if !aws.policy_exists(&arn).await? {
                return Err(UserError::new(format!(
                    "the AWS managed policy `{arn}` is not available in this account"
                ))
                .fix("drop `execution-role-policy = \"aws-managed\"` to use the scoped policy, or give an execution role (`execution-role = \"NAME\"`)")
                .into());
            }
            policies.insert(arn);
            if let Some(doc) = secrets_policy(
                &config.container.secrets,
                identity.partition(),
                region,
                &identity.account,
            )? {
                inline.insert(SECRETS_POLICY_NAME.to_string(), doc);
            }
        }
    }
    Ok(RolePlan {
        kind,
        name: name.to_string(),
        arn: super::managed::arn(existing.as_ref(), identity, name),
        managed: Some(Desired {
            exists: existing.is_some(),
            trust: trust_policy(&identity.account)?,
            attached: Some(policies),
            inline,
            tags: crate::names::stage_tags(config),
        }),
        current,
    })
}

/// The task role's managed policies and inline policies (ECS Exec, the policy files).
async fn task_policies(
    aws: &Aws,
    config: &Config,
    policies: &mut BTreeSet<String>,
    inline: &mut BTreeMap<String, Value>,
) -> Result<()> {
    for arn in &config.roles.task_policies {
        if !aws.policy_exists(arn).await? {
            return Err(config
                .key_error(
                    "task-role-policies",
                    format!("managed policy `{arn}` does not exist"),
                )
                .fix("use the ARN of an existing AWS or customer managed policy")
                .into());
        }
        policies.insert(arn.clone());
    }
    if config.service.exec {
        let name = crate::names::EXEC_POLICY_NAME.to_string();
        inline.insert(name, crate::iam::exec::policy());
    }
    for path in &config.roles.task_policy_files {
        let (name, doc) = policy_file(path)?;
        if inline.insert(name.clone(), doc).is_some() {
            return Err(config
                .key_error(
                    "task-role-policy-files",
                    format!("two policy files are both named `{name}`"),
                )
                .fix("give each policy file its own file name")
                .into());
        }
    }
    Ok(())
}

/// A policy file: its inline policy name (from the file name) and document.
pub fn policy_file(path: &Path) -> Result<(String, Value)> {
    let at = || Location::file(path, None);
    let text = std::fs::read_to_string(path).map_err(|e| {
        UserError::new(format!("cannot read the policy file: {e}"))
            .at(at())
            .key("task-role-policy-files")
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| {
        UserError::new(format!("not JSON: {e}"))
            .at(Location::file(path, Some(e.line())))
            .key("task-role-policy-files")
            .fix(
                "write an IAM policy document: {\"Version\": \"2012-10-17\", \"Statement\": [...]}",
            )
    })?;
    if !doc
        .get("Statement")
        .is_some_and(|s| s.is_array() || s.is_object())
    {
        return Err(UserError::new("not an IAM policy: it has no `Statement`")
            .at(at())
            .key("task-role-policy-files")
            .fix(
                "write an IAM policy document: {\"Version\": \"2012-10-17\", \"Statement\": [...]}",
            )
            .into());
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@_-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    Ok((name, doc))
}

/// Makes the managed roles match their plan; given roles are left alone.
pub async fn apply(aws: &Aws, plan: &Plan) -> Result<Vec<RoleState>> {
    let mut states = Vec::new();
    for role in [&plan.task, &plan.execution] {
        states.push(apply_role(aws, role).await?);
    }
    Ok(states)
}

async fn apply_role(aws: &Aws, role: &RolePlan) -> Result<RoleState> {
    let mut state = RoleState {
        kind: role.kind,
        name: role.name.clone(),
        arn: role.arn.clone(),
        managed: role.managed.is_some(),
        created: false,
        changes: Vec::new(),
    };
    let Some(want) = &role.managed else {
        return Ok(state);
    };
    if role.current.as_ref().is_some_and(|c| c.matches(want)) {
        return Ok(state);
    }
    let description = match role.kind {
        Kind::Task => "cargo-fargate: the task's own permissions",
        Kind::Execution => {
            "cargo-fargate: pulls the image, writes logs, reads the configured secrets"
        }
    };
    let done = super::managed::apply(aws, &role.name, description, want).await?;
    if done.created {
        state.arn = done.arn;
    }
    state.created = done.created;
    state.changes = done.changes;
    Ok(state)
}

impl fmt::Display for RoleState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            Kind::Task => "task role",
            Kind::Execution => "exec role",
        };
        write!(f, "{what:<10} {}", self.arn)
    }
}

impl RoleState {
    /// How it was handled: given, created, up to date, or what changed.
    pub fn how(&self) -> String {
        match (self.managed, self.created, self.changes.is_empty()) {
            (false, _, _) => "given".to_string(),
            (true, true, _) => "created".to_string(),
            (true, false, true) => "up to date".to_string(),
            (true, false, false) => format!("updated: {}", self.changes.join(", ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trust_is_read_in_every_form_iam_allows() {
        assert!(trusts_ecs_tasks(&trust_policy("123456789012").unwrap()));
        assert!(trusts_ecs_tasks(
            &json!({"Statement": {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Principal": {"Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]}}})
        ));
        assert!(!trusts_ecs_tasks(
            &json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}]})
        ));
        assert!(!trusts_ecs_tasks(
            &json!({"Statement": [{"Effect": "Deny", "Action": "sts:AssumeRole", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})
        ));
        assert!(!trusts_ecs_tasks(
            &json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity", "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})
        ));
    }

    #[test]
    fn the_trust_policy_is_conditioned_on_the_account() {
        let p = trust_policy("123456789012").unwrap();
        assert_eq!(
            p["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }

    #[test]
    fn the_secrets_policy_names_exactly_the_configured_secrets() {
        let secrets: BTreeMap<String, String> = [
            (
                "DB",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf:password::",
            ),
            ("TOKEN", "/app/token"),
            (
                "KEY",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/app/key",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let p = secrets_policy(&secrets, "aws", "eu-west-1", "123456789012")
            .unwrap()
            .unwrap();
        assert_eq!(
            p["Statement"][0]["Resource"],
            json!([
                "arn:aws:ssm:eu-west-1:123456789012:parameter/app/key",
                "arn:aws:ssm:eu-west-1:123456789012:parameter/app/token"
            ])
        );
        assert_eq!(p["Statement"][0]["Action"], "ssm:GetParameters");
        assert_eq!(
            p["Statement"][1]["Resource"],
            json!([
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf",
                "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf-??????"
            ])
        );
        assert_eq!(p["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(
            secrets_policy(&BTreeMap::new(), "aws", "eu-west-1", "1").unwrap(),
            None
        );
        // Only one kind: one statement, still valid JSON.
        let only_ssm: BTreeMap<String, String> =
            [("T".to_string(), "/t".to_string())].into_iter().collect();
        let p = secrets_policy(&only_ssm, "aws", "eu-west-1", "123456789012")
            .unwrap()
            .unwrap();
        assert_eq!(p["Statement"].as_array().unwrap().len(), 1);
    }
}
