//! The one place AWS clients are made: aws-config's standard chain (env vars, profiles, SSO,
//! assume-role, credential_process) with the resolved profile, region and endpoint.
//!
//! aws-config itself honours `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>`;
//! `--endpoint-url` overrides both.

pub mod ecr;

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
