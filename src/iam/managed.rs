//! A role cargo-fargate manages (task, execution, CodeBuild, scheduler): one way to read, compare
//! and converge it. A role of the managed name that cargo-fargate did not create (no
//! `managed-by = cargo-fargate` tag) is refused, never taken over; a managed role is brought to its
//! trust policy, attached policies (when it manages them) and inline policies, and only the
//! differences are written.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::aws::iam::RoleInfo;
use crate::aws::{Aws, Identity};
use crate::config::Config;
use crate::error::Result;

/// What a managed role must look like.
#[derive(Debug, Clone)]
pub struct Desired {
    pub exists: bool,
    pub trust: Value,
    /// The managed policies attached to it; `None`: attached policies are left as they are.
    pub attached: Option<BTreeSet<String>>,
    pub inline: BTreeMap<String, Value>,
    pub tags: BTreeMap<String, String>,
}

/// What [`apply`] did.
#[derive(Debug, Clone)]
pub struct Applied {
    pub arn: String,
    pub created: bool,
    pub changes: Vec<String>,
}

/// Whether IAM's tags say cargo-fargate made the role.
pub fn is_managed(found: &RoleInfo) -> bool {
    crate::names::is_managed(&found.tags)
}

/// The managed role `name` as it exists (`None`: to create); a role of that name that
/// cargo-fargate did not make is refused, naming `key` (the setting that would use it as given).
pub async fn existing(
    aws: &Aws,
    config: &Config,
    key: &str,
    name: &str,
) -> Result<Option<RoleInfo>> {
    let found = aws.get_role(name).await?;
    if let Some(found) = &found {
        if !is_managed(found) {
            return Err(config
                .key_error(
                    key,
                    format!("role `{name}` already exists and was not created by cargo-fargate"),
                )
                .fix(format!(
                    "set `{key} = \"{name}\"` to use it as it is, or set a different `name`"
                ))
                .into());
        }
    }
    Ok(found)
}

/// The role's ARN: IAM's when it exists, else the one it will have.
pub fn arn(found: Option<&RoleInfo>, identity: &Identity, name: &str) -> String {
    found.map(|r| r.arn.clone()).unwrap_or_else(|| {
        format!(
            "arn:{}:iam::{}:role/{name}",
            identity.partition(),
            identity.account
        )
    })
}

/// What differs between the role and `want`, read without writing (for plans).
pub async fn diff(aws: &Aws, name: &str, want: &Desired) -> Result<Vec<String>> {
    let mut changes = Vec::new();
    if let Some(found) = aws.get_role(name).await? {
        if found.trust != want.trust {
            changes.push("trust policy".into());
        }
    }
    if let Some(want) = &want.attached {
        let found = aws.attached_policies(name).await?;
        for arn in want.symmetric_difference(&found) {
            changes.push(format!("policy {arn}"));
        }
    }
    let inline = aws.inline_policies(name).await?;
    for (policy, doc) in &want.inline {
        if inline.get(policy) != Some(doc) {
            changes.push(format!("inline policy {policy}"));
        }
    }
    for policy in inline.keys().filter(|n| !want.inline.contains_key(*n)) {
        changes.push(format!("extra inline policy {policy}"));
    }
    Ok(changes)
}

/// Makes the role match `want`: created when missing (with its tags), else its trust, attached
/// and inline policies put right. Re-running converges.
pub async fn apply(aws: &Aws, name: &str, description: &str, want: &Desired) -> Result<Applied> {
    let mut done = Applied {
        arn: String::new(),
        created: false,
        changes: Vec::new(),
    };
    let created = if want.exists {
        None
    } else {
        aws.create_role(name, description, &want.trust, &want.tags)
            .await?
    };
    let (attached, inline) = if let Some(arn) = created {
        done.arn = arn;
        done.created = true;
        (BTreeSet::new(), BTreeMap::new())
    } else {
        if let Some(found) = aws.get_role(name).await? {
            if !want.exists && !is_managed(&found) {
                // Made between our plan and the create, by someone else: never ours to change.
                anyhow::bail!(
                    "role `{name}` was created by someone else while this run was planning; it is not cargo-fargate's, so it is left as it is: remove it or set a different `name`, then re-run"
                );
            }
            done.arn = found.arn;
            if found.trust != want.trust {
                aws.update_trust(name, &want.trust).await?;
                done.changes.push("trust policy".into());
            }
        }
        let attached = match want.attached {
            Some(_) => aws.attached_policies(name).await?,
            None => BTreeSet::new(),
        };
        (attached, aws.inline_policies(name).await?)
    };
    if let Some(want) = &want.attached {
        for arn in want.difference(&attached) {
            aws.attach_policy(name, arn).await?;
            done.changes.push(format!("attached {arn}"));
        }
        for arn in attached.difference(want) {
            aws.detach_policy(name, arn).await?;
            done.changes.push(format!("detached {arn}"));
        }
    }
    for (policy, doc) in &want.inline {
        if inline.get(policy) != Some(doc) {
            aws.put_inline_policy(name, policy, doc).await?;
            done.changes.push(format!("inline policy {policy}"));
        }
    }
    for policy in inline.keys().filter(|n| !want.inline.contains_key(*n)) {
        aws.delete_inline_policy(name, policy).await?;
        done.changes.push(format!("removed inline policy {policy}"));
    }
    Ok(done)
}

/// A service role of the stage (CodeBuild's, the scheduler's): given, or managed.
#[derive(Debug, Clone)]
pub struct RolePlan {
    pub name: String,
    pub arn: String,
    /// `None`: given (checked, never modified).
    pub managed: Option<Desired>,
}

/// The plan of the managed role `name` (the setting `key` would name a given one): it must look
/// like `trust`, `attached` and `inline`, tagged as this stage's.
#[allow(clippy::too_many_arguments)]
pub async fn plan(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    key: &str,
    name: &str,
    trust: Value,
    attached: Option<BTreeSet<String>>,
    inline: BTreeMap<String, Value>,
) -> Result<RolePlan> {
    let found = existing(aws, config, key, name).await?;
    Ok(RolePlan {
        name: name.to_string(),
        arn: arn(found.as_ref(), identity, name),
        managed: Some(Desired {
            exists: found.is_some(),
            trust,
            attached,
            inline,
            tags: crate::names::stage_tags(config),
        }),
    })
}
