//! The role EventBridge Scheduler assumes to start the task: given (a name or ARN, used as is) or
//! managed as `{project}-{stage}-scheduler` — trusting only the scheduler of this account, with the
//! one inline policy `cargo fargate iam policy --for scheduler` prints: `ecs:RunTask` of this
//! stage's family on its cluster and `iam:PassRole` of exactly the task's two roles.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::aws::{Aws, Identity};
use crate::config::{Config, Role};
use crate::error::Result;
use crate::iam::managed;
use crate::iam::{Principal, Scope};

pub const SCHEDULER: &str = "scheduler.amazonaws.com";
/// The managed role's one inline policy.
pub use crate::names::SCHEDULER_POLICY_NAME as POLICY_NAME;

/// The role, checked, and (when managed) what it must look like.
pub type RolePlan = managed::RolePlan;

/// The trust policy of the managed scheduler role.
pub fn trust_policy(scope: &Scope) -> Result<Value> {
    scope.trust(Principal::Scheduler)
}

/// The scope of the role's policy: the stage's, passing exactly the task's two roles as planned
/// (IAM's ARNs, a role's path included), sorted as `iam policy` lists them.
pub fn scope(
    config: &Config,
    identity: &Identity,
    region: &str,
    task_role_arn: &str,
    execution_role_arn: &str,
) -> Scope {
    let mut scope = Scope::new(
        config,
        identity.partition(),
        &identity.account,
        region,
        None,
    );
    let pass_roles: std::collections::BTreeSet<String> = [task_role_arn, execution_role_arn]
        .into_iter()
        .map(str::to_string)
        .collect();
    scope.arn.ecs_task_roles = pass_roles.into_iter().collect();
    scope
}

/// What the scheduler role may do: run this family on this cluster, pass the two task roles.
pub fn run_task_policy(scope: &Scope, config: &Config) -> Result<Value> {
    Ok(scope
        .policy(Principal::Scheduler, config)?
        .expect("the scheduler role has a policy"))
}

pub fn cluster_arn(partition: &str, region: &str, account: &str, cluster: &str) -> String {
    format!("arn:{partition}:ecs:{region}:{account}:cluster/{cluster}")
}

/// Reads and checks the role; creates nothing.
pub async fn plan(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    scope: &Scope,
) -> Result<RolePlan> {
    match &config.roles.scheduler {
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
        // Attached policies are left as they are.
        Role::Managed(name) => {
            managed::plan(
                aws,
                config,
                identity,
                "scheduler-role",
                name,
                trust_policy(scope)?,
                None,
                BTreeMap::from([(POLICY_NAME.to_string(), run_task_policy(scope, config)?)]),
            )
            .await
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
    let done = managed::apply(
        aws,
        &plan.name,
        "cargo-fargate: EventBridge Scheduler starts this stage's task",
        want,
    )
    .await?;
    if done.created {
        state.arn = done.arn;
    }
    state.created = done.created;
    state.changes = done.changes;
    Ok(state)
}

/// Deletes the managed role (its policies first); `false` when there was none or it is not
/// cargo-fargate's.
pub async fn delete(aws: &Aws, name: &str) -> Result<bool> {
    let Some(found) = aws.get_role(name).await? else {
        return Ok(false);
    };
    if !managed::is_managed(&found) {
        return Ok(false);
    }
    aws.delete_role_and_policies(name).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_policy_names_exactly_this_family_cluster_and_roles() {
        let config = crate::config::test_config("schedule = \"rate(1 hour)\"");
        let identity = Identity {
            account: "123456789012".into(),
            arn: "arn:aws:iam::123456789012:user/me".into(),
            region: "eu-west-1".into(),
            endpoint: None,
            credentials: String::new(),
        };
        let scope = scope(
            &config,
            &identity,
            "eu-west-1",
            "arn:aws:iam::123456789012:role/app-prod-task",
            "arn:aws:iam::123456789012:role/ops/app-prod-execution",
        );
        let family = crate::names::family(&config);
        let p = run_task_policy(&scope, &config).unwrap();
        let s = &p["Statement"];
        assert_eq!(s[0]["Action"], "ecs:RunTask");
        assert_eq!(
            s[0]["Resource"],
            format!("arn:aws:ecs:eu-west-1:123456789012:task-definition/{family}:*")
        );
        assert_eq!(
            s[0]["Condition"]["ArnEquals"]["ecs:cluster"],
            format!(
                "arn:aws:ecs:eu-west-1:123456789012:cluster/{}",
                config.names.cluster
            )
        );
        // The roles as planned (a role's path is part of its ARN), sorted.
        assert_eq!(
            s[2]["Resource"],
            json!([
                "arn:aws:iam::123456789012:role/app-prod-task",
                "arn:aws:iam::123456789012:role/ops/app-prod-execution"
            ])
        );
        assert_eq!(
            s[2]["Condition"]["StringEquals"]["iam:PassedToService"],
            "ecs-tasks.amazonaws.com"
        );
        let trust = trust_policy(&scope).unwrap();
        assert_eq!(trust["Statement"][0]["Principal"]["Service"], SCHEDULER);
        assert_eq!(
            trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }
}
