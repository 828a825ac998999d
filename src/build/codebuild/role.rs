//! The CodeBuild project's service role: given (`codebuild-role`: checked, never modified) or
//! managed as `{project}-{stage}-codebuild` with a trust for CodeBuild of this account and one
//! inline policy naming only this project's archives, repository and build log group.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::aws::{Aws, Identity};
use crate::config::{Config, Role};
use crate::error::Result;
use crate::steps::roles::{render_policy, role_name_of, trusts, MANAGED_TAG};

pub const CODEBUILD: &str = "codebuild.amazonaws.com";
pub const POLICY_NAME: &str = "cargo-fargate-codebuild";

/// The role, checked; with what it must look like when managed.
#[derive(Debug, Clone)]
pub struct RolePlan {
    pub name: String,
    pub arn: String,
    /// `None`: given.
    pub managed: Option<Managed>,
}

#[derive(Debug, Clone)]
pub struct Managed {
    pub exists: bool,
    pub trust: Value,
    pub policy: Value,
    pub tags: BTreeMap<String, String>,
}

/// What the policy is scoped to.
pub struct Scope<'a> {
    pub partition: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub bucket: &'a str,
    /// `{project}/{stage}/`: this stage's archives.
    pub prefix: &'a str,
    pub repository: &'a str,
    pub log_group: &'a str,
}

pub fn trust_policy(account: &str) -> Result<Value> {
    render_policy(
        "codebuild-trust-policy.json",
        include_str!("../../../task-templates/codebuild-trust-policy.json"),
        minijinja::context! { account => account },
    )
}

pub fn role_policy(s: &Scope<'_>) -> Result<Value> {
    render_policy(
        "codebuild-role-policy.json",
        include_str!("../../../task-templates/codebuild-role-policy.json"),
        minijinja::context! {
            partition => s.partition, region => s.region, account => s.account, bucket => s.bucket,
            prefix => s.prefix, repository => s.repository, log_group => s.log_group,
        },
    )
}

/// Reads and checks the role; creates nothing.
pub async fn plan(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    scope: &Scope<'_>,
) -> Result<RolePlan> {
    const KEY: &str = "codebuild-role";
    match &config.codebuild_role {
        Role::Given(value) => {
            if let Some(rest) = value.strip_prefix("arn:") {
                let account = rest.split(':').nth(3).unwrap_or_default();
                if account != identity.account {
                    return Err(config
                        .key_error(KEY, format!("role `{value}` belongs to account {account}, but these credentials are for account {}", identity.account))
                        .fix(format!("give a role of account {}, or drop `{KEY}` to let cargo-fargate manage one", identity.account))
                        .into());
                }
            }
            let name = role_name_of(value);
            let found = aws.get_role(&name).await?.ok_or_else(|| {
                config
                    .key_error(KEY, format!("role `{name}` does not exist in account {}", identity.account))
                    .fix(format!("create it (trusting {CODEBUILD}), fix the name, or drop `{KEY}` to let cargo-fargate manage one"))
            })?;
            if !trusts(&found.trust, CODEBUILD) {
                return Err(config
                    .key_error(KEY, format!("role `{name}` does not trust {CODEBUILD}, so CodeBuild cannot assume it"))
                    .fix(format!("allow sts:AssumeRole for the service principal {CODEBUILD} in its trust policy, or drop `{KEY}` to let cargo-fargate manage one"))
                    .into());
            }
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
                        .key_error(KEY, format!("role `{name}` already exists and was not created by cargo-fargate"))
                        .fix(format!("set `{KEY} = \"{name}\"` to use it as it is, or set a different `name`"))
                        .into());
                }
            }
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
                    policy: role_policy(scope)?,
                    tags: super::upload::tags(config, true),
                }),
            })
        }
    }
}

/// Makes a managed role match its plan; what changed (empty: up to date or given).
pub async fn apply(aws: &Aws, plan: &RolePlan) -> Result<Vec<String>> {
    let Some(want) = &plan.managed else {
        return Ok(Vec::new());
    };
    let mut changes = Vec::new();
    let inline = if want.exists {
        if let Some(found) = aws.get_role(&plan.name).await? {
            if found.trust != want.trust {
                aws.update_trust(&plan.name, &want.trust).await?;
                changes.push("trust policy".to_string());
            }
        }
        aws.inline_policies(&plan.name).await?
    } else {
        aws.create_role(
            &plan.name,
            "cargo-fargate: CodeBuild reads this project's source archives, pushes its image, writes its build log",
            &want.trust,
            &want.tags,
        )
        .await?;
        changes.push("created".to_string());
        BTreeMap::new()
    };
    if inline.get(POLICY_NAME) != Some(&want.policy) {
        aws.put_inline_policy(&plan.name, POLICY_NAME, &want.policy)
            .await?;
        if want.exists {
            changes.push(format!("inline policy {POLICY_NAME}"));
        }
    }
    for name in inline.keys().filter(|n| *n != POLICY_NAME) {
        aws.delete_inline_policy(&plan.name, name).await?;
        changes.push(format!("removed inline policy {name}"));
    }
    // Managed policies were never attached by cargo-fargate: anything attached is detached.
    let attached: BTreeSet<String> = if want.exists {
        aws.attached_policies(&plan.name).await?
    } else {
        BTreeSet::new()
    };
    for arn in attached {
        aws.detach_policy(&plan.name, &arn).await?;
        changes.push(format!("detached {arn}"));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope<'static> {
        Scope {
            partition: "aws",
            region: "eu-west-1",
            account: "123456789012",
            bucket: "hello-123456789012-eu-west-1",
            prefix: "hello/dev/",
            repository: "hello-dev",
            log_group: "/aws/codebuild/hello-dev",
        }
    }

    #[test]
    fn the_policy_names_only_this_projects_resources() {
        let p = role_policy(&scope()).unwrap();
        let statements = p["Statement"].as_array().unwrap();
        assert_eq!(
            statements[0]["Resource"],
            "arn:aws:s3:::hello-123456789012-eu-west-1/hello/dev/*"
        );
        assert_eq!(
            statements[1]["Resource"],
            "arn:aws:ecr:eu-west-1:123456789012:repository/hello-dev"
        );
        let stars: Vec<&Value> = statements.iter().filter(|s| s["Resource"] == "*").collect();
        assert_eq!(stars.len(), 1);
        assert_eq!(stars[0]["Action"], "ecr:GetAuthorizationToken");
        assert!(trusts(&trust_policy("123456789012").unwrap(), CODEBUILD));
        assert_eq!(
            trust_policy("123456789012").unwrap()["Statement"][0]["Condition"]["StringEquals"]
                ["aws:SourceAccount"],
            "123456789012"
        );
    }
}
