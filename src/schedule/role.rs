//! The role EventBridge Scheduler assumes to start the task: given (a name or ARN, used as is) or
//! managed as `{project}-{stage}-scheduler` — trusting only the scheduler of this account, allowed
//! only `ecs:RunTask` of this stage's family on its cluster and `iam:PassRole` of exactly the
//! task's two roles.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::aws::{Aws, Identity};
use crate::config::{Config, Role};
use crate::error::Result;
use crate::steps::roles::{render_policy, MANAGED_TAG};

pub const SCHEDULER: &str = "scheduler.amazonaws.com";
/// The managed role's one inline policy.
pub const POLICY_NAME: &str = "cargo-fargate-run-task";

/// The role, checked, and (when managed) what it must look like.
#[derive(Debug, Clone)]
pub struct RolePlan {
    pub name: String,
    pub arn: String,
    /// `None` for a given role.
    pub managed: Option<Managed>,
}

#[derive(Debug, Clone)]
pub struct Managed {
    pub exists: bool,
    pub trust: Value,
    pub policy: Value,
    pub tags: BTreeMap<String, String>,
}

/// The trust policy of the managed scheduler role.
pub fn trust_policy(account: &str) -> Result<Value> {
    render_policy(
        "scheduler-trust-policy.json",
        include_str!("../../task-templates/scheduler-trust-policy.json"),
        minijinja::context! { account => account },
    )
}

/// What the scheduler role may do: run this family on this cluster, pass the two task roles.
pub struct PolicyInput<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub family: &'a str,
    pub cluster: &'a str,
    pub task_role_arn: &'a str,
    pub execution_role_arn: &'a str,
}

pub fn run_task_policy(p: &PolicyInput) -> Result<Value> {
    let mut pass_roles = vec![p.task_role_arn, p.execution_role_arn];
    pass_roles.dedup();
    render_policy(
        "scheduler-policy.json",
        include_str!("../../task-templates/scheduler-policy.json"),
        minijinja::context! {
            partition => p.partition,
            region => p.region,
            account => p.account,
            family => p.family,
            cluster => p.cluster,
            cluster_arn => cluster_arn(p.partition, p.region, p.account, p.cluster),
            pass_roles => pass_roles,
        },
    )
}

pub fn cluster_arn(partition: &str, region: &str, account: &str, cluster: &str) -> String {
    format!("arn:{partition}:ecs:{region}:{account}:cluster/{cluster}")
}

/// Reads and checks the role; creates nothing.
pub async fn plan(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    policy: &PolicyInput<'_>,
) -> Result<RolePlan> {
    match &config.scheduler_role {
        Role::Given(value) => {
            let name = value.rsplit('/').next().unwrap_or(value);
            let found = aws.get_role(name).await?.ok_or_else(|| {
                config
                    .key_error(
                        "scheduler-role",
                        format!("role `{name}` does not exist in account {}", identity.account),
                    )
                    .fix(format!("create it (trusting {SCHEDULER}), fix the name, or drop `scheduler-role` to let cargo-fargate manage one"))
            })?;
            Ok(RolePlan {
                name: found.name,
                arn: found.arn,
                managed: None,
            })
        }
        Role::Managed(name) => {
            let existing = aws.get_role(name).await?;
            if let Some(found) = &existing {
                if found.tags.get(MANAGED_TAG.0).map(String::as_str) != Some(MANAGED_TAG.1) {
                    return Err(config
                        .key_error(
                            "scheduler-role",
                            format!("role `{name}` already exists and was not created by cargo-fargate"),
                        )
                        .fix(format!("set `scheduler-role = \"{name}\"` to use it as it is, or set a different `name`"))
                        .into());
                }
            }
            let mut tags = config.tags.clone();
            tags.insert(MANAGED_TAG.0.into(), MANAGED_TAG.1.into());
            tags.insert("cargo-fargate:project".into(), config.project.clone());
            tags.insert("cargo-fargate:stage".into(), config.stage.clone());
            Ok(RolePlan {
                name: name.clone(),
                arn: existing.as_ref().map(|r| r.arn.clone()).unwrap_or_else(|| {
                    format!(
                        "arn:{}:iam::{}:role/{name}",
                        identity.partition(),
                        identity.account
                    )
                }),
                managed: Some(Managed {
                    exists: existing.is_some(),
                    trust: trust_policy(&identity.account)?,
                    policy: run_task_policy(policy)?,
                    tags,
                }),
            })
        }
    }
}

/// What [`apply`] did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoleState {
    pub name: String,
    pub arn: String,
    pub managed: bool,
    pub created: bool,
    pub changes: Vec<String>,
}

/// Makes a managed role match its plan (only differences are written); a given role is left alone.
pub async fn apply(aws: &Aws, plan: &RolePlan) -> Result<RoleState> {
    let mut state = RoleState {
        name: plan.name.clone(),
        arn: plan.arn.clone(),
        managed: plan.managed.is_some(),
        created: false,
        changes: Vec::new(),
    };
    let Some(want) = &plan.managed else {
        return Ok(state);
    };
    let inline = if want.exists {
        if let Some(found) = aws.get_role(&plan.name).await? {
            if found.trust != want.trust {
                aws.update_trust(&plan.name, &want.trust).await?;
                state.changes.push("trust policy".into());
            }
        }
        aws.inline_policies(&plan.name).await?
    } else {
        state.arn = aws
            .create_role(
                &plan.name,
                "cargo-fargate: EventBridge Scheduler starts this stage's task",
                &want.trust,
                &want.tags,
            )
            .await?;
        state.created = true;
        BTreeMap::new()
    };
    if inline.get(POLICY_NAME) != Some(&want.policy) {
        aws.put_inline_policy(&plan.name, POLICY_NAME, &want.policy)
            .await?;
        state.changes.push(format!("inline policy {POLICY_NAME}"));
    }
    for name in inline.keys().filter(|n| *n != POLICY_NAME) {
        aws.delete_inline_policy(&plan.name, name).await?;
        state.changes.push(format!("removed inline policy {name}"));
    }
    Ok(state)
}

/// Deletes the managed role (its inline policies first); `false` when there was none or it is not
/// cargo-fargate's.
pub async fn delete(aws: &Aws, name: &str) -> Result<bool> {
    let Some(found) = aws.get_role(name).await? else {
        return Ok(false);
    };
    if found.tags.get(MANAGED_TAG.0).map(String::as_str) != Some(MANAGED_TAG.1) {
        return Ok(false);
    }
    for policy in aws.inline_policies(name).await?.keys() {
        aws.delete_inline_policy(name, policy).await?;
    }
    aws.delete_role(name).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input() -> PolicyInput<'static> {
        PolicyInput {
            partition: "aws",
            region: "eu-west-1",
            account: "123456789012",
            family: "app-prod",
            cluster: "app-prod",
            task_role_arn: "arn:aws:iam::123456789012:role/app-prod-task",
            execution_role_arn: "arn:aws:iam::123456789012:role/app-prod-execution",
        }
    }

    #[test]
    fn the_policy_names_exactly_this_family_cluster_and_roles() {
        let p = run_task_policy(&input()).unwrap();
        let s = &p["Statement"];
        assert_eq!(s[0]["Action"], "ecs:RunTask");
        assert_eq!(
            s[0]["Resource"],
            "arn:aws:ecs:eu-west-1:123456789012:task-definition/app-prod:*"
        );
        assert_eq!(
            s[0]["Condition"]["ArnEquals"]["ecs:cluster"],
            "arn:aws:ecs:eu-west-1:123456789012:cluster/app-prod"
        );
        assert_eq!(
            s[2]["Resource"],
            json!([
                "arn:aws:iam::123456789012:role/app-prod-task",
                "arn:aws:iam::123456789012:role/app-prod-execution"
            ])
        );
        assert_eq!(
            s[2]["Condition"]["StringEquals"]["iam:PassedToService"],
            "ecs-tasks.amazonaws.com"
        );
        let trust = trust_policy("123456789012").unwrap();
        assert_eq!(trust["Statement"][0]["Principal"]["Service"], SCHEDULER);
        assert_eq!(
            trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }
}
