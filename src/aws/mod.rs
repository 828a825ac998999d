//! The one place AWS clients are made: aws-config's standard chain (env vars, profiles, SSO,
//! assume-role, credential_process) with the resolved profile, region and endpoint.
//!
//! aws-config itself honours `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>`;
//! `--endpoint-url` overrides both.

pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod iam;
pub mod image;
pub mod logs;
pub mod secrets;
pub mod ssm;
pub mod sts;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use serde::Serialize;

use crate::config::Config;
use crate::error::{Result, UserError};

/// What the clients are built from, after flags and configuration are resolved.
#[derive(Debug, Clone, Default)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

impl AwsOptions {
    pub fn new(config: &Config, endpoint_url: Option<String>) -> Self {
        AwsOptions {
            profile: config.aws_profile.clone(),
            region: config.region.clone(),
            endpoint_url,
        }
    }
}

pub struct Aws {
    sdk: SdkConfig,
}

/// Who the credentials belong to.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub region: String,
    pub endpoint: Option<String>,
}

impl Aws {
    pub async fn connect(options: &AwsOptions) -> Result<Aws> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(UserError::new("no AWS region is set")
                .fix("set `region` in [package.metadata.fargate], pass --region, or export AWS_REGION")
                .into());
        }
        Ok(Aws { sdk })
    }

    pub fn region(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    pub fn endpoint(&self) -> Option<String> {
        self.sdk
            .endpoint_url()
            .map(str::to_string)
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
    }

    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        aws_sdk_ecr::Client::new(&self.sdk)
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        aws_sdk_sts::Client::new(&self.sdk)
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk)
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.sdk)
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk)
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        aws_sdk_cloudwatchlogs::Client::new(&self.sdk)
    }

    /// An SSM client, in `region` when given (a parameter ARN of another region).
    pub fn ssm(&self, region: Option<&str>) -> aws_sdk_ssm::Client {
        let mut config = aws_sdk_ssm::config::Builder::from(&self.sdk);
        if let Some(region) = region {
            config = config.region(Region::new(region.to_string()));
        }
        aws_sdk_ssm::Client::from_conf(config.build())
    }

    /// A Secrets Manager client, in `region` when given (a secret ARN of another region).
    pub fn secretsmanager(&self, region: Option<&str>) -> aws_sdk_secretsmanager::Client {
        let mut config = aws_sdk_secretsmanager::config::Builder::from(&self.sdk);
        if let Some(region) = region {
            config = config.region(Region::new(region.to_string()));
        }
        aws_sdk_secretsmanager::Client::from_conf(config.build())
    }

    /// An ECR client for another region (an image pushed elsewhere).
    pub fn ecr_in(&self, region: &str) -> aws_sdk_ecr::Client {
        let config = aws_sdk_ecr::config::Builder::from(&self.sdk)
            .region(Region::new(region.to_string()))
            .build();
        aws_sdk_ecr::Client::from_conf(config)
    }

    /// The caller's account and ARN; fails early, with the fix, when there are no credentials.
    pub async fn identity(&self) -> Result<Identity> {
        let out = self.sts().get_caller_identity().send().await.map_err(|e| {
            let detail = sdk_message(&e);
            UserError::new(format!("AWS credentials were refused or not found ({detail})"))
                .fix("set AWS_PROFILE or --aws-profile, run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
        })?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
            region: self.region(),
            endpoint: self.endpoint(),
        })
    }
}

impl Identity {
    /// The ARN partition of the caller (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> &str {
        self.arn
            .split(':')
            .nth(1)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }
}

/// Keeps a copy of an operation's raw response body, for the APIs whose JSON we use as is
/// (task definitions and tasks: the same shapes the AWS docs and the CLI show).
#[derive(Debug, Clone, Default)]
pub struct RawResponse(std::sync::Arc<std::sync::Mutex<Option<Vec<u8>>>>);

impl RawResponse {
    /// The body as JSON (`{}` when there was none).
    pub fn json(&self) -> Result<serde_json::Value> {
        let body = self.0.lock().expect("raw response lock").take();
        match body {
            Some(bytes) if !bytes.is_empty() => Ok(serde_json::from_slice(&bytes)?),
            _ => Ok(serde_json::json!({})),
        }
    }
}

impl aws_sdk_ecs::config::Intercept for RawResponse {
    fn name(&self) -> &'static str {
        "RawResponse"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_sdk_ecs::config::interceptors::AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_ecs::config::RuntimeComponents,
        _cfg: &mut aws_sdk_ecs::config::ConfigBag,
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if let Some(bytes) = context.response().body().bytes() {
            *self.0.lock().expect("raw response lock") = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// An SDK error's code and message on one line, without the request dump its Debug form carries.
pub fn sdk_message<E, R>(err: &aws_sdk_sts::error::SdkError<E, R>) -> String
where
    E: aws_sdk_sts::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sts::error::SdkError;
    match err {
        SdkError::ServiceError(e) => {
            let e = e.err();
            match (e.code(), e.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_string(),
                _ => e.to_string(),
            }
        }
        other => {
            // Walk to the innermost cause: "dispatch failure" alone says nothing.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                text = s.to_string();
                source = s.source();
            }
            text
        }
    }
}
