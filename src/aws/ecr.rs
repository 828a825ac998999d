//! ECR: the repository (ensured, scan on push, encrypted, tag mutability), its lifecycle policy, and
//! the registry login. The token is decoded in memory only: never printed, logged or written.

use aws_sdk_ecr::types::{
    EncryptionConfiguration, EncryptionType, ImageScanningConfiguration, ImageTagMutability, Tag,
};
use base64::Engine;
use serde::Serialize;

use super::{Aws, Found};
use crate::config::resolve::TagMutability;
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
    pub tag_mutability: TagMutability,
    pub tags: &'a std::collections::BTreeMap<String, String>,
}

/// A repository as ECR describes it: what a plan compares with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryFound {
    pub uri: String,
    pub scan_on_push: bool,
    pub tag_mutability: Option<TagMutability>,
}

fn ecr_mutability(m: TagMutability) -> ImageTagMutability {
    ImageTagMutability::from(m.as_str())
}

impl Aws {
    /// DescribeRepositories of one repository; `None` when it does not exist.
    async fn repository(&self, name: &str) -> Result<Option<aws_sdk_ecr::types::Repository>> {
        let out = self
            .ecr()
            .describe_repositories()
            .repository_names(name)
            .send()
            .await
            .found(|s| s.is_repository_not_found_exception())
            .map_err(|e| {
                self.fail(e, "ecr:DescribeRepositories", |m| {
                    anyhow::Error::from(
                        UserError::new(format!("could not read ECR repository `{name}`: {m}"))
                            .fix("check your credentials and region (cargo fargate doctor)"),
                    )
                })
            })?;
        Ok(out.and_then(|out| out.repositories().first().cloned()))
    }

    /// The repository as ECR describes it; `None` when it does not exist (read-only, for plans).
    pub async fn describe_repository(&self, name: &str) -> Result<Option<RepositoryFound>> {
        let Some(repo) = self.repository(name).await? else {
            return Ok(None);
        };
        Ok(Some(RepositoryFound {
            uri: repo.repository_uri().unwrap_or_default().into(),
            scan_on_push: repo
                .image_scanning_configuration()
                .map(|c| c.scan_on_push())
                .unwrap_or(false),
            tag_mutability: match repo.image_tag_mutability() {
                Some(ImageTagMutability::Mutable) => Some(TagMutability::Mutable),
                Some(ImageTagMutability::Immutable) => Some(TagMutability::Immutable),
                _ => None,
            },
        }))
    }

    /// Creates the repository: scan on push, AES-256 encryption, the tags; its URI.
    pub async fn create_repository(&self, spec: &RepositorySpec<'_>) -> Result<String> {
        let tags: Vec<Tag> = spec
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<_, _>>()?;
        let out = self
            .ecr()
            .create_repository()
            .repository_name(spec.name)
            .image_tag_mutability(ecr_mutability(spec.tag_mutability))
            .image_scanning_configuration(ImageScanningConfiguration::builder().scan_on_push(true).build())
            .encryption_configuration(EncryptionConfiguration::builder().encryption_type(EncryptionType::Aes256).build()?)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(|e| self.fail(e, "ecr:CreateRepository", |m| anyhow::Error::from({
                UserError::new(format!("could not create ECR repository `{}`: {}", spec.name, m))
                    .fix("check the `repository` name and that your credentials allow ecr:CreateRepository")
            })))?;
        Ok(out
            .repository()
            .and_then(|r| r.repository_uri())
            .unwrap_or_default()
            .to_string())
    }

    /// Turns scan-on-push on.
    pub async fn set_scan_on_push(&self, name: &str) -> Result<()> {
        self.ecr()
            .put_image_scanning_configuration()
            .repository_name(name)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:PutImageScanningConfiguration", |m| {
                    anyhow::anyhow!("turning on scan-on-push for {name}: {m}")
                })
            })?;
        Ok(())
    }

    pub async fn set_tag_mutability(&self, name: &str, mutability: TagMutability) -> Result<()> {
        self.ecr()
            .put_image_tag_mutability()
            .repository_name(name)
            .image_tag_mutability(ecr_mutability(mutability))
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:PutImageTagMutability", |m| {
                    anyhow::anyhow!("setting tag mutability of {name}: {m}")
                })
            })?;
        Ok(())
    }

    /// The repository's lifecycle policy; `None` when it has none (read-only, for plans).
    pub async fn lifecycle_policy(&self, repository: &str) -> Result<Option<serde_json::Value>> {
        let out = self
            .ecr()
            .get_lifecycle_policy()
            .repository_name(repository)
            .send()
            .await
            .found(|s| {
                s.is_lifecycle_policy_not_found_exception() || s.is_repository_not_found_exception()
            })
            .map_err(|e| {
                self.fail(e, "ecr:GetLifecyclePolicy", |m| {
                    anyhow::anyhow!("reading the lifecycle policy of {repository}: {m}")
                })
            })?;
        Ok(out.and_then(|out| {
            out.lifecycle_policy_text()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        }))
    }

    pub async fn put_lifecycle_policy(
        &self,
        repository: &str,
        policy: &serde_json::Value,
    ) -> Result<()> {
        self.ecr()
            .put_lifecycle_policy()
            .repository_name(repository)
            .lifecycle_policy_text(policy.to_string())
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:PutLifecyclePolicy", |m| {
                    anyhow::anyhow!("putting the lifecycle policy of {repository}: {m}")
                })
            })?;
        Ok(())
    }

    /// The repository's tags; `None` when it does not exist.
    pub async fn repository_tags(
        &self,
        name: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>> {
        let Some(arn) = self
            .repository(name)
            .await?
            .and_then(|r| r.repository_arn().map(str::to_string))
        else {
            return Ok(None);
        };
        let tags = self
            .ecr()
            .list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:ListTagsForResource", |m| {
                    anyhow::anyhow!("reading the tags of {name}: {m}")
                })
            })?;
        Ok(Some(
            tags.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        ))
    }

    /// Tags an existing repository (`adopt = true`: it becomes the stage's).
    pub async fn tag_repository(
        &self,
        name: &str,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<()> {
        let Some(arn) = self
            .repository(name)
            .await?
            .and_then(|r| r.repository_arn().map(str::to_string))
        else {
            return Ok(());
        };
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<_, _>>()?;
        self.ecr()
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:TagResource", |m| {
                    anyhow::Error::from(
                        UserError::new(format!("could not tag ECR repository `{name}`: {m}"))
                            .fix("your credentials need ecr:TagResource on it"),
                    )
                })
            })?;
        Ok(())
    }

    /// How many images (tagged or not) the repository holds.
    pub async fn image_count(&self, name: &str) -> Result<usize> {
        let mut pages = self
            .ecr()
            .list_images()
            .repository_name(name)
            .into_paginator()
            .send();
        let mut count = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.fail(e, "ecr:ListImages", |m| {
                    anyhow::anyhow!("listing images of {name}: {m}")
                })
            })?;
            count += page.image_ids().len();
        }
        Ok(count)
    }

    /// Deletes the repository (`force`: with its images).
    pub async fn delete_repository(&self, name: &str, force: bool) -> Result<()> {
        self.ecr()
            .delete_repository()
            .repository_name(name)
            .force(force)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecr:DeleteRepository", |m| {
                    anyhow::anyhow!("deleting ECR repository {name}: {m}")
                })
            })?;
        Ok(())
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
