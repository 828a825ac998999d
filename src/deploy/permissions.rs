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
    /// What the plan found already done: the image pushed, the repository as configured, the
    /// task definition unchanged, the log group as configured. Only the calls still to come are
    /// simulated — the plan's reads have already been allowed.
    pub pushed: bool,
    pub repository: Repository,
    pub register: bool,
    pub log_group_writes: bool,
    /// `--dry-run`: everything the deploy would call is simulated, whatever it is.
    pub dry_run: bool,
}

/// What the deploy does to the repository.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Repository {
    Create,
    Update,
    Keep,
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
    let repo = format!(
        "arn:{p}:ecr:{region}:{account}:repository/{}",
        c.names.repository
    );
    let mut ecr: Vec<&'static str> = match needs.repository {
        Repository::Create => vec!["ecr:CreateRepository", "ecr:PutLifecyclePolicy"],
        Repository::Update => vec!["ecr:PutLifecyclePolicy"],
        Repository::Keep => vec![],
    };
    if !needs.pushed {
        ecr.extend([
            "ecr:BatchCheckLayerAvailability",
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        ]);
    }
    let mut list: Vec<(&'static str, String)> =
        ecr.into_iter().map(|a| (a, repo.clone())).collect();
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
        // ECS checks that the caller may pass the definition's roles on register and on run.
        if needs.register || needs.will_run {
            list.push(("iam:PassRole", role.arn.clone()));
        }
    }
    let group = format!(
        "arn:{p}:logs:{region}:{account}:log-group:{}",
        c.container.log_group
    );
    if needs.log_group_writes {
        list.push(("logs:CreateLogGroup", group.clone()));
        list.push(("logs:PutRetentionPolicy", group));
    }
    // The ARNs the calls are authorized on (a policy scoped to them does not match "*").
    let family = crate::names::family(c);
    let definitions = format!("arn:{p}:ecs:{region}:{account}:task-definition/{family}:*");
    if needs.register {
        list.push(("ecs:RegisterTaskDefinition", definitions.clone()));
    }
    if needs.will_run {
        if needs.create_cluster {
            list.push((
                "ecs:CreateCluster",
                format!("arn:{p}:ecs:{region}:{account}:cluster/{}", c.names.cluster),
            ));
        }
        if c.service.kind != crate::config::service::StageKind::Task {
            list.extend(crate::service::deploy::actions(c, p, region, account));
        } else {
            list.push(("ecs:RunTask", definitions));
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
    actions.sort_unstable();
    actions.dedup();
    let checked = |simulated| Checked {
        simulated,
        actions: actions.clone(),
    };
    let Some(principal) = principal(needs.identity) else {
        return Ok(checked(false));
    };
    if list.is_empty() {
        return Ok(checked(true));
    }
    // A deploy whose one change is the run cannot be left half-done: a refused RunTask fails it
    // having created nothing, so asking first would only add a round trip. The dry run asks.
    let run_only = list
        .iter()
        .all(|(a, _)| matches!(*a, "ecs:RunTask" | "iam:PassRole"));
    if run_only && !needs.dry_run {
        return Ok(checked(false));
    }
    // The context the real requests carry, for policies scoped by conditions.
    let c = needs.config;
    let cluster = format!(
        "arn:{}:ecs:{}:{}:cluster/{}",
        needs.identity.partition(),
        needs.region,
        needs.identity.account,
        c.names.cluster
    );
    let context = [
        ("ecs:cluster", cluster.as_str()),
        ("iam:PassedToService", "ecs-tasks.amazonaws.com"),
    ];
    let Some(denied) = aws.simulate(&principal, &list, &context).await? else {
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
