//! Secrets Manager: a secret's value, for `run --local` (on Fargate the execution role reads it;
//! locally the user's credentials do).

use super::Aws;
use crate::error::Result;

/// Which version of a secret to read: ECS's `:version-stage:version-id` suffix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretVersion {
    pub stage: Option<String>,
    pub id: Option<String>,
}

/// What Secrets Manager holds for a secret version.
pub enum SecretValue {
    Text(String),
    Binary,
}

impl Aws {
    /// The value of the secret `arn` (read in the ARN's region); `None` when it does not exist.
    pub async fn secret_value(
        &self,
        arn: &str,
        version: &SecretVersion,
    ) -> Result<Option<SecretValue>> {
        let region = super::ssm::arn_region(arn);
        let mut request = self
            .secretsmanager(region)
            .get_secret_value()
            .secret_id(arn);
        if let Some(stage) = &version.stage {
            request = request.version_stage(stage);
        }
        if let Some(id) = &version.id {
            request = request.version_id(id);
        }
        match request.send().await {
            Ok(out) => Ok(Some(match out.secret_string() {
                Some(text) => SecretValue::Text(text.to_string()),
                None => SecretValue::Binary,
            })),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.fail(e, "secretsmanager:GetSecretValue", |m| {
                anyhow::anyhow!("reading secret {arn}: {m}")
            })),
        }
    }

    /// Whether the secret exists (DescribeSecret: metadata only, never its value), asked in
    /// `region` when given.
    pub async fn secret_exists(&self, arn: &str, region: Option<&str>) -> Result<bool> {
        match self
            .secretsmanager(region)
            .describe_secret()
            .secret_id(arn)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.fail(e, "secretsmanager:DescribeSecret", |m| {
                anyhow::anyhow!("reading secret {arn}: {m}")
            })),
        }
    }
}
