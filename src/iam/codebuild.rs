//! The CodeBuild project's service role: given (`codebuild-role`: checked, never modified) or
//! managed as `{project}-{stage}-codebuild` with a trust for CodeBuild of this account and one
//! inline policy, the one `cargo fargate iam policy --for codebuild` prints: this stage's
//! archives, this repository, this build project's log group.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::aws::{Aws, Identity};
use crate::config::{Config, Role};
use crate::error::Result;
use crate::iam::managed;
use crate::iam::roles::{role_name_of, trusts};
use crate::iam::{Principal, Scope};

pub const CODEBUILD: &str = "codebuild.amazonaws.com";
pub use crate::names::CODEBUILD_POLICY_NAME as POLICY_NAME;

/// The role, checked; with what it must look like when managed.
pub type RolePlan = managed::RolePlan;

pub fn trust_policy(scope: &Scope) -> Result<Value> {
    scope.trust(Principal::Codebuild)
}

/// The managed role's inline policy (`iam policy --for codebuild`).
pub fn role_policy(scope: &Scope, config: &Config) -> Result<Value> {
    Ok(scope
        .policy(Principal::Codebuild, config)?
        .expect("the CodeBuild role has a policy"))
}

/// Reads and checks the role; creates nothing.
pub async fn plan(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    region: &str,
) -> Result<RolePlan> {
    const KEY: &str = "codebuild-role";
    match &config.roles.codebuild {
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
            let scope = Scope::new(
                config,
                identity.partition(),
                &identity.account,
                region,
                None,
            );
            // Managed policies were never attached by cargo-fargate: anything attached is detached.
            managed::plan(
                aws,
                config,
                identity,
                KEY,
                name,
                trust_policy(&scope)?,
                Some(BTreeSet::new()),
                BTreeMap::from([(POLICY_NAME.to_string(), role_policy(&scope, config)?)]),
            )
            .await
        }
    }
}

/// Makes a managed role match its plan; what changed (`created` for a new one; empty: up to date
/// or given).
pub async fn apply(aws: &Aws, plan: &RolePlan) -> Result<Vec<String>> {
    let Some(want) = &plan.managed else {
        return Ok(Vec::new());
    };
    let done = managed::apply(
        aws,
        &plan.name,
        "cargo-fargate: CodeBuild reads this project's source archives, pushes its image, writes its build log",
        want,
    )
    .await?;
    Ok(if done.created {
        vec!["created".to_string()]
    } else {
        done.changes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_only_this_projects_resources() {
        let config = crate::config::test_config("builder = \"codebuild\"");
        let scope = Scope::new(&config, "aws", "123456789012", "eu-west-1", None);
        let p = role_policy(&scope, &config).unwrap();
        let by_sid = |sid: &str| {
            p["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap_or_else(|| panic!("no {sid} in {p}"))
        };
        let family = crate::names::family(&config);
        assert_eq!(
            by_sid("ReadThisStagesSourceArchives")["Resource"],
            format!(
                "arn:aws:s3:::{}-123456789012-eu-west-1/{}/{}/*",
                config.project, config.project, config.stage
            )
        );
        assert_eq!(
            by_sid("PushToThisRepository")["Resource"],
            format!(
                "arn:aws:ecr:eu-west-1:123456789012:repository/{}",
                config.names.repository
            )
        );
        let stars: Vec<&Value> = p["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["Resource"] == "*")
            .collect();
        assert_eq!(stars.len(), 1);
        assert_eq!(stars[0]["Action"], "ecr:GetAuthorizationToken");
        assert!(by_sid("WriteThisBuildsLogs")["Resource"][0]
            .as_str()
            .unwrap()
            .ends_with(&format!("log-group:/aws/codebuild/{family}")));
        let trust = trust_policy(&scope).unwrap();
        assert!(trusts(&trust, CODEBUILD));
        assert_eq!(
            trust["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }
}
