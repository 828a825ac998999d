//! STS AssumeRole: the task role's temporary credentials, for `run --local` (the container talks to
//! AWS as the task will on Fargate).

use std::fmt;

use super::Aws;
use crate::error::Result;

/// Temporary credentials of an assumed role. Debug never shows the secret parts.
#[derive(Clone)]
pub struct TemporaryCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl fmt::Debug for TemporaryCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TemporaryCredentials {{ access_key_id: {:?}, secret_access_key: <redacted>, session_token: <redacted> }}",
            self.access_key_id
        )
    }
}

impl Aws {
    /// Assumes `role_arn` with the caller's credentials; the error carries STS's code and message.
    pub async fn assume_role(
        &self,
        role_arn: &str,
        session_name: &str,
    ) -> Result<TemporaryCredentials> {
        let out = self
            .sts()
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session_name)
            .send()
            .await
            .map_err(|e| self.fail(e, "sts:AssumeRole", |m| anyhow::anyhow!("{m}")))?;
        let c = out
            .credentials()
            .ok_or_else(|| anyhow::anyhow!("STS returned no credentials for {role_arn}"))?;
        Ok(TemporaryCredentials {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: c.session_token().to_string(),
        })
    }
}
