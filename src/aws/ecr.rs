//! ECR: the repository (ensured, scan on push, encrypted, tag mutability), its lifecycle policy, and
//! the registry login. The token is decoded in memory only: never printed, logged or written.

use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Tag,
};
use base64::Engine;
use serde::Serialize;

use super::Aws;
use crate::error::{Result, UserError};
use crate::registry::Credentials;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RepositoryState {
    pub name: String,
    pub uri: String,
    pub created: bool,
    /// Settings that were changed to match the configuration.
    pub updated: Vec<String>,
}

/// What the ECR login gives: the registry to push to and the credentials for it.
pub struct Login {
    /// `https://<account>.dkr.ecr.<region>.amazonaws.com` as ECR reports it.
    pub proxy_endpoint: String,
    pub credentials: Credentials,
}

pub struct RepositorySpec<'a> {
    pub name: &'a str,
    pub tag_mutability: &'a str,
    pub tags: &'a std::collections::BTreeMap<String, String>,
}

impl Aws {
    /// Creates the repository when missing; turns scan-on-push on and sets tag mutability when they
    /// differ. Never deletes or weakens anything else.
    pub async fn ensure_repository(&self, spec: &RepositorySpec<'_>) -> Result<RepositoryState> {
        let ecr = self.ecr();
        let mutability = ImageTagMutability::from(spec.tag_mutability);
        let found = ecr
            .describe_repositories()
            .repository_names(spec.name)
            .send()
            .await;
        match found {
            Ok(out) => {
                let repo = out.repositories().first().ok_or_else(|| {
                    anyhow::anyhow!("ECR returned no repository for {}", spec.name)
                })?;
                let mut updated = Vec::new();
                let scanning = repo
                    .image_scanning_configuration()
                    .map(|c| c.scan_on_push())
                    .unwrap_or(false);
                if !scanning {
                    ecr.put_image_scanning_configuration()
                        .repository_name(spec.name)
                        .image_scanning_configuration(
                            ImageScanningConfiguration::builder()
                                .scan_on_push(true)
                                .build(),
                        )
                        .send()
                        .await
                        .map_err(|e| {
                            self.fail(e, "ecr:PutImageScanningConfiguration", |m| {
                                anyhow::anyhow!("turning on scan-on-push for {}: {}", spec.name, m)
                            })
                        })?;
                    updated.push("scan-on-push".into());
                }
                if repo.image_tag_mutability() != Some(&mutability) {
                    ecr.put_image_tag_mutability()
                        .repository_name(spec.name)
                        .image_tag_mutability(mutability.clone())
                        .send()
                        .await
                        .map_err(|e| {
                            self.fail(e, "ecr:PutImageTagMutability", |m| {
                                anyhow::anyhow!("setting tag mutability of {}: {}", spec.name, m)
                            })
                        })?;
                    updated.push("tag-mutability".into());
                }
                Ok(RepositoryState {
                    name: spec.name.into(),
                    uri: repo.repository_uri().unwrap_or_default().into(),
                    created: false,
                    updated,
                })
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_not_found_exception()) =>
            {
                let tags: Vec<Tag> = spec
                    .tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Result<_, _>>()?;
                let out = ecr
                    .create_repository()
                    .repository_name(spec.name)
                    .image_tag_mutability(mutability)
                    .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(true).build())
                    .encryption_configuration(EncryptionConfiguration::builder().encryption_type(EncryptionType::Aes256).build()?)
                    .set_tags((!tags.is_empty()).then_some(tags))
                    .send()
                    .await
                    .map_err(|e| self.fail(e, "ecr:CreateRepository", |m| anyhow::Error::from({
                        UserError::new(format!("could not create ECR repository `{}`: {}", spec.name, m))
                            .fix("check the `repository` name and that your credentials allow ecr:CreateRepository")
                    })))?;
                let uri = out
                    .repository()
                    .and_then(|r| r.repository_uri())
                    .unwrap_or_default()
                    .to_string();
                Ok(RepositoryState {
                    name: spec.name.into(),
                    uri,
                    created: true,
                    updated: Vec::new(),
                })
            }
            Err(e) => Err(self.fail(e, "ecr:DescribeRepositories", |m| {
                anyhow::Error::from(
                    UserError::new(format!(
                        "could not read ECR repository `{}`: {}",
                        spec.name, m
                    ))
                    .fix("check your credentials and region (cargo fargate doctor)"),
                )
            })),
        }
    }

    /// The repository's URI when it exists (read-only, for plans).
    pub async fn repository_uri(&self, name: &str) -> Result<Option<String>> {
        match self
            .ecr()
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .repositories()
                .first()
                .map(|r| r.repository_uri().unwrap_or_default().to_string())),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail(e, "ecr:DescribeRepositories", |m| {
                anyhow::anyhow!("reading ECR repository {name}: {}", m)
            })),
        }
    }

    /// Puts the lifecycle policy when it differs from the one in place; true when it was put.
    pub async fn ensure_lifecycle_policy(
        &self,
        repository: &str,
        policy: &serde_json::Value,
    ) -> Result<bool> {
        let ecr = self.ecr();
        let current = match ecr
            .get_lifecycle_policy()
            .repository_name(repository)
            .send()
            .await
        {
            Ok(out) => out
                .lifecycle_policy_text()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_lifecycle_policy_not_found_exception()) =>
            {
                None
            }
            Err(e) => {
                return Err(self.fail(e, "ecr:GetLifecyclePolicy", |m| {
                    anyhow::anyhow!("reading the lifecycle policy of {repository}: {}", m)
                }))
            }
        };
        if current.as_ref() == Some(policy) {
            return Ok(false);
        }
        ecr.put_lifecycle_policy()
            .repository_name(repository)
            .lifecycle_policy_text(policy.to_string())
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:PutLifecyclePolicy", |m| {
                    anyhow::anyhow!("putting the lifecycle policy of {repository}: {}", m)
                })
            })?;
        Ok(true)
    }

    /// ECR's registry login: the token decodes to `AWS:<password>`.
    pub async fn registry_login(&self) -> Result<Login> {
        let out = self
            .ecr()
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:GetAuthorizationToken", |m| {
                    anyhow::Error::from({
                        UserError::new(format!("ECR refused a registry login: {}", m))
                            .fix("your credentials need ecr:GetAuthorizationToken")
                    })
                })
            })?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| anyhow::anyhow!("ECR returned no authorization data"))?;
        let token = data
            .authorization_token()
            .ok_or_else(|| anyhow::anyhow!("ECR returned no authorization token"))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|_| anyhow::anyhow!("ECR's authorization token is not base64"))?;
        let decoded = String::from_utf8(decoded)
            .map_err(|_| anyhow::anyhow!("ECR's authorization token is not text"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("ECR's authorization token is not user:password"))?;
        Ok(Login {
            proxy_endpoint: data.proxy_endpoint().unwrap_or_default().to_string(),
            credentials: Credentials::new(username, password),
        })
    }
}

/// The lifecycle policy for the configured rules, from `task-templates/lifecycle-policy.json`.
pub fn lifecycle_policy(
    stages: &[String],
    lifecycle: &crate::config::resolve::Lifecycle,
) -> Result<serde_json::Value> {
    let mut env = minijinja::Environment::new();
    env.add_template(
        "lifecycle",
        include_str!("../../task-templates/lifecycle-policy.json"),
    )?;
    let text = env.get_template("lifecycle")?.render(minijinja::context! {
        stages => stages,
        keep_last => lifecycle.keep_last,
        short_lived_prefixes => lifecycle.short_lived_prefixes,
        short_lived_expire_days => lifecycle.short_lived_expire_days,
        untagged_expire_days => lifecycle.untagged_expire_days,
    })?;
    Ok(serde_json::from_str(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resolve::Lifecycle;

    #[test]
    fn stage_rules_come_first_and_each_prefix_has_its_own_rule() {
        let l = Lifecycle {
            untagged_expire_days: 1,
            keep_last: 10,
            short_lived_prefixes: vec!["testing".into(), "git-".into()],
            short_lived_expire_days: 3,
        };
        let p = lifecycle_policy(&["dev".into(), "prod".into()], &l).unwrap();
        let rules = p["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 5);
        let prios: Vec<i64> = rules
            .iter()
            .map(|r| r["rulePriority"].as_i64().unwrap())
            .collect();
        assert_eq!(prios, [1, 2, 3, 4, 5]);
        assert_eq!(rules[0]["selection"]["tagPrefixList"][0], "dev-");
        assert_eq!(rules[1]["selection"]["countNumber"], 10);
        assert_eq!(
            rules[2]["selection"]["tagPrefixList"],
            serde_json::json!(["testing"])
        );
        assert_eq!(rules[3]["selection"]["countType"], "sinceImagePushed");
        assert_eq!(rules[4]["selection"]["tagStatus"], "untagged");
        assert_eq!(rules[4]["selection"]["countNumber"], 1);
    }
}
