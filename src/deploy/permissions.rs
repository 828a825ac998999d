//! Whether the deploying identity may do what a deploy plan will do, checked before the first
//! change: IAM's policy simulator is asked where the account lets the caller use it; otherwise
//! the plan states the permissions it assumes. A deploy denied halfway (repository made, image
//! pushed, then `iam:CreateRole` refused) is what this prevents.

use crate::aws::{Aws, Identity};
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::iam::roles;

/// What a deploy will do that needs a permission: for the plan at hand.
pub struct Needs<'a> {
    pub config: &'a Config,
    pub identity: &'a Identity,
    pub region: &'a str,
    pub roles: &'a roles::Plan,
    pub create_cluster: bool,
    pub will_run: bool,
}

/// The outcome: checked by IAM's policy simulator, or assumed (the simulator was not available to
/// the caller) — with the actions either way.
#[derive(Debug, serde::Serialize)]
pub struct Checked {
    pub simulated: bool,
    pub actions: Vec<&'static str>,
}

impl std::fmt::Display for Checked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.simulated {
            write!(
                f,
                "{} actions allowed (IAM policy simulator)",
                self.actions.len()
            )
        } else {
            write!(
                f,
                "assumed, IAM's policy simulator is not available to this caller: {}",
                self.actions.join(", ")
            )
        }
    }
}

pub fn actions(needs: &Needs) -> Vec<(&'static str, String)> {
    let c = needs.config;
    let p = needs.identity.partition();
    let (region, account) = (needs.region, &needs.identity.account);
    let repo = format!("arn:{p}:ecr:{region}:{account}:repository/{}", c.repository);
    let mut list: Vec<(&'static str, String)> = [
        "ecr:DescribeRepositories",
        "ecr:CreateRepository",
        "ecr:PutLifecyclePolicy",
        "ecr:BatchCheckLayerAvailability",
        "ecr:InitiateLayerUpload",
        "ecr:UploadLayerPart",
        "ecr:CompleteLayerUpload",
        "ecr:PutImage",
    ]
    .into_iter()
    .map(|a| (a, repo.clone()))
    .collect();
    list.push(("ecr:GetAuthorizationToken", "*".into()));
    for role in [&needs.roles.task, &needs.roles.execution] {
        if let Some(m) = role.managed.as_ref().filter(|m| !m.exists) {
            list.push(("iam:CreateRole", role.arn.clone()));
            list.push(("iam:TagRole", role.arn.clone()));
            if !m.inline.is_empty() {
                list.push(("iam:PutRolePolicy", role.arn.clone()));
            }
            if m.attached.as_ref().is_some_and(|a| !a.is_empty()) {
                list.push(("iam:AttachRolePolicy", role.arn.clone()));
            }
        }
        list.push(("iam:PassRole", role.arn.clone()));
    }
    let group = format!("arn:{p}:logs:{region}:{account}:log-group:{}", c.log_group);
    list.push(("logs:CreateLogGroup", group.clone()));
    list.push(("logs:PutRetentionPolicy", group));
    list.push(("ecs:RegisterTaskDefinition", "*".into()));
    if needs.will_run {
        if needs.create_cluster {
            list.push(("ecs:CreateCluster", "*".into()));
        }
        let family = crate::names::family(c);
        if c.service.kind != crate::config::service::StageKind::Task {
            list.extend(crate::service::deploy::actions(c, p, region, account));
        } else {
            list.push((
                "ecs:RunTask",
                format!("arn:{p}:ecs:{region}:{account}:task-definition/{family}:*"),
            ));
        }
    }
    list
}

/// The IAM principal the simulator evaluates: a user or role ARN (an assumed-role session is
/// evaluated as its role). None for the root user, who may do anything.
fn principal(identity: &Identity) -> Option<String> {
    crate::iam::principal_arn(&identity.arn, identity.partition(), &identity.account)
}

/// Fails, before anything is created, when the simulator says the caller may not do an action
/// of the plan.
pub async fn check(aws: &Aws, needs: &Needs<'_>) -> Result<Checked> {
    let list = actions(needs);
    let mut actions: Vec<&'static str> = list.iter().map(|(a, _)| *a).collect();
    actions.dedup();
    let checked = |simulated| Checked {
        simulated,
        actions: actions.clone(),
    };
    let Some(principal) = principal(needs.identity) else {
        return Ok(checked(false));
    };
    let Some(denied) = aws.simulate(&principal, &list).await? else {
        return Ok(checked(false));
    };
    if let Some(first) = denied.first() {
        let statement = serde_json::json!({"Effect": "Allow", "Action": first.action, "Resource": first.resource});
        let more = if denied.len() > 1 {
            format!(
                " (and {} more: {})",
                denied.len() - 1,
                denied[1..]
                    .iter()
                    .map(|d| d.action.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        };
        return Err(UserError::new(format!(
            "{principal} may not {} on {} ({}, by IAM's policy simulator){more}; nothing was changed",
            first.action, first.resource, first.decision
        ))
        .fix(format!("allow it in that identity's policy: {statement}"))
        .into());
    }
    Ok(checked(true))
}
