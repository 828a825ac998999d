//! SSM Parameter Store: a parameter's decrypted value, for `run --local` (on Fargate the execution
//! role reads it; locally the user's credentials do).

use super::{Aws, Found};
use crate::error::Result;

impl Aws {
    /// The decrypted value of a parameter given by name or ARN (read in the ARN's region); `None`
    /// when it does not exist.
    pub async fn parameter_value(&self, name_or_arn: &str) -> Result<Option<String>> {
        let region = arn_region(name_or_arn);
        let out = self
            .ssm(region)
            .get_parameter()
            .name(name_or_arn)
            .with_decryption(true)
            .send()
            .await
            .found(|s| s.is_parameter_not_found())
            .map_err(|e| {
                self.fail(e, "ssm:GetParameter", |m| {
                    anyhow::anyhow!("reading SSM parameter {name_or_arn}: {m}")
                })
            })?;
        Ok(out.map(|out| {
            out.parameter()
                .and_then(|p| p.value())
                .unwrap_or_default()
                .to_string()
        }))
    }
}

impl Aws {
    /// Whether the parameter exists (its value is not decrypted), asked in `region` when given.
    pub async fn parameter_exists(&self, name_or_arn: &str, region: Option<&str>) -> Result<bool> {
        let out = self
            .ssm(region)
            .get_parameter()
            .name(name_or_arn)
            .with_decryption(false)
            .send()
            .await
            .found(|s| s.is_parameter_not_found())
            .map_err(|e| {
                self.fail(e, "ssm:GetParameter", |m| {
                    anyhow::anyhow!("reading parameter {name_or_arn}: {m}")
                })
            })?;
        Ok(out.is_some())
    }
}

/// The region of an ARN (`arn:partition:service:region:…`), when it is one and names a region.
pub fn arn_region(value: &str) -> Option<&str> {
    let mut parts = value.strip_prefix("arn:")?.split(':');
    let _partition = parts.next()?;
    let _service = parts.next()?;
    parts.next().filter(|r| !r.is_empty())
}
