//! The one place AWS clients are made: aws-config's standard chain (env vars, profiles, SSO,
//! assume-role, credential_process) with the resolved profile, region and endpoint.
//!
//! aws-config itself honours `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_<SERVICE>`;
//! `--endpoint-url` overrides both. Every call has a time limit (`--timeout`, retries included) and
//! the SDK's adaptive retry for throttling and 5xx; a failed call is explained by [`Aws::fail`].

pub mod autoscaling;
pub mod codebuild;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod ecs_service;
pub mod elb;
pub mod fault;
pub mod iam;
pub mod image;
pub mod logs;
mod profile;
pub mod revisions;
pub mod s3;
pub mod scheduler;
pub mod secrets;
pub mod ssm;
pub mod sts;
pub mod vpc;

use std::sync::OnceLock;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use serde::Serialize;

use crate::config::Config;
use crate::error::{Location, Result, UserError};
use fault::Call;
use profile::{ca_bundle, check_profile, default_chain_source};

/// A read that may find nothing: `.found(|e| e.is_…_not_found…())` turns the service's "no such
/// thing" into `Ok(None)`; every other error stays for [`Aws::fail`].
pub trait Found<T, E, R> {
    fn found(self, missing: impl FnOnce(&E) -> bool) -> Result<Option<T>, SdkError<E, R>>;
}

impl<T, E, R> Found<T, E, R> for Result<T, SdkError<E, R>> {
    fn found(self, missing: impl FnOnce(&E) -> bool) -> Result<Option<T>, SdkError<E, R>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.as_service_error().is_some_and(missing) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// No single request waits longer than this, whatever `--timeout` allows the whole call.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts per call (the SDK's default of 3 gives up on throttling within two seconds).
const MAX_ATTEMPTS: u32 = 6;

/// What the clients are built from, after flags and configuration are resolved.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    pub profile: Option<String>,
    /// Where an explicit profile was named (flag, key, env var), for messages.
    pub profile_origin: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// The whole call's limit, retries included.
    pub timeout: Duration,
}

impl Default for AwsOptions {
    fn default() -> Self {
        AwsOptions {
            profile: None,
            profile_origin: None,
            region: None,
            endpoint_url: None,
            timeout: Duration::from_secs(60),
        }
    }
}

impl AwsOptions {
    pub fn new(config: &Config, endpoint_url: Option<String>, timeout: Duration) -> Self {
        let profile_origin = config
            .entries
            .iter()
            .find(|e| e.key == "aws-profile" && !e.value.is_null())
            .map(|e| e.origin.to_string());
        AwsOptions {
            profile: config.aws_profile.clone(),
            profile_origin,
            region: config.region.clone(),
            endpoint_url,
            timeout,
        }
    }
}

/// The AWS clients of one run: made once, shared by every stage.
pub struct Aws {
    sdk: SdkConfig,
    endpoint_override: Option<String>,
    timeout: Duration,
    max_attempts: u32,
    credentials_source: String,
    identity: OnceLock<Identity>,
    ecr: OnceLock<aws_sdk_ecr::Client>,
    ecs: OnceLock<aws_sdk_ecs::Client>,
    iam: OnceLock<aws_sdk_iam::Client>,
    ec2: OnceLock<aws_sdk_ec2::Client>,
    logs: OnceLock<aws_sdk_cloudwatchlogs::Client>,
    scheduler: OnceLock<aws_sdk_scheduler::Client>,
    sts: OnceLock<aws_sdk_sts::Client>,
    s3: OnceLock<aws_sdk_s3::Client>,
    codebuild: OnceLock<aws_sdk_codebuild::Client>,
    elb: OnceLock<aws_sdk_elasticloadbalancingv2::Client>,
    autoscaling: OnceLock<aws_sdk_applicationautoscaling::Client>,
}

/// Who the credentials belong to.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub region: String,
    pub endpoint: Option<String>,
    /// Where the credentials came from: a profile, the environment, SSO, a container, …
    pub credentials: String,
}

impl Aws {
    pub async fn connect(options: &AwsOptions) -> Result<Aws> {
        let endpoint_override = match &options.endpoint_url {
            Some(url) => Some(check_endpoint(
                url,
                Location::Flag("--endpoint-url".into()),
            )?),
            None => None,
        };
        for (var, value) in std::env::vars() {
            if var == "AWS_ENDPOINT_URL" || var.starts_with("AWS_ENDPOINT_URL_") {
                check_endpoint(&value, Location::Env(var))?;
            }
        }
        let max_attempts = std::env::var("AWS_MAX_ATTEMPTS")
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|n| *n >= 1)
            .unwrap_or(MAX_ATTEMPTS);
        // The CA bundle (AWS_CA_BUNDLE, else the profile's ca_bundle) before any client is made.
        crate::net::set_ca_bundle(ca_bundle(options.profile.as_deref()).await?);
        // One HTTPS client (one connection pool, one TLS setup) for every client and provider.
        let http = crate::net::aws_http_client()?;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http.clone())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(options.timeout.min(Duration::from_secs(10)))
                    .read_timeout(options.timeout.min(ATTEMPT_TIMEOUT))
                    .operation_attempt_timeout(options.timeout.min(ATTEMPT_TIMEOUT))
                    .operation_timeout(options.timeout)
                    .build(),
            )
            .retry_config(
                RetryConfig::adaptive()
                    .with_max_attempts(max_attempts)
                    .with_initial_backoff(Duration::from_millis(500))
                    .with_max_backoff(Duration::from_secs(10)),
            );
        let credentials_source;
        if let Some(profile) = &options.profile {
            // An explicit profile wins over credentials in the environment, as in the AWS CLI: the
            // default chain would sign with AWS_ACCESS_KEY_ID and ignore the profile.
            let origin = options.profile_origin.as_deref().unwrap_or("--aws-profile");
            check_profile(profile, origin).await?;
            // The provider makes its own clients (STS, SSO, IMDS): they get the same HTTPS client.
            let providers =
                aws_config::provider_config::ProviderConfig::default().with_http_client(http);
            loader = loader.profile_name(profile).credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .configure(&providers)
                    .profile_name(profile)
                    .build(),
            );
            credentials_source = format!("profile `{profile}` ({origin})");
        } else {
            credentials_source = default_chain_source().await?;
        }
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &endpoint_override {
            loader = loader.endpoint_url(url);
        }
        let sdk = loader.load().await;
        if sdk.region().is_none() {
            return Err(UserError::new("no AWS region is set")
                .fix("set `region` in [package.metadata.fargate], pass --region, or export AWS_REGION")
                .into());
        }
        Ok(Aws {
            sdk,
            endpoint_override,
            timeout: options.timeout,
            max_attempts,
            credentials_source,
            identity: OnceLock::new(),
            ecr: OnceLock::new(),
            ecs: OnceLock::new(),
            iam: OnceLock::new(),
            ec2: OnceLock::new(),
            logs: OnceLock::new(),
            scheduler: OnceLock::new(),
            sts: OnceLock::new(),
            s3: OnceLock::new(),
            codebuild: OnceLock::new(),
            elb: OnceLock::new(),
            autoscaling: OnceLock::new(),
        })
    }

    /// The loaded SDK configuration, for a client of a service this module has no accessor for.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk
    }

    pub fn region(&self) -> String {
        self.sdk.region().map(|r| r.to_string()).unwrap_or_default()
    }

    pub fn endpoint(&self) -> Option<String> {
        self.endpoint_override
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
    }

    /// Where the credentials came from, in words.
    pub fn credentials_source(&self) -> &str {
        &self.credentials_source
    }

    /// A word for the user when the credentials are not the ones they may think: AWS_PROFILE is
    /// set, yet keys in the environment sign (the AWS CLI's order too).
    pub fn credentials_warning(&self) -> Option<String> {
        let profile = std::env::var("AWS_PROFILE")
            .ok()
            .filter(|p| !p.is_empty())?;
        self.credentials_source.starts_with("the environment").then(|| {
            format!(
                "AWS_PROFILE={profile} is set, but AWS_ACCESS_KEY_ID in the environment is used, as the AWS CLI does: pass --aws-profile {profile} to use the profile, or unset the keys"
            )
        })
    }

    /// Where calls of one service go: `--endpoint-url`, `AWS_ENDPOINT_URL_<SERVICE>`,
    /// `AWS_ENDPOINT_URL`, else the service's regional endpoint.
    pub fn endpoint_of(&self, prefix: &str) -> String {
        if let Some(url) = &self.endpoint_override {
            return url.clone();
        }
        let key = match prefix {
            "logs" => "CLOUDWATCH_LOGS".to_string(),
            p => p.to_ascii_uppercase(),
        };
        std::env::var(format!("AWS_ENDPOINT_URL_{key}"))
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .unwrap_or_else(|_| match prefix {
                "iam" => "https://iam.amazonaws.com".into(),
                p => format!("https://{p}.{}.amazonaws.com", self.region()),
            })
    }

    /// One operation, for messages: `ecs:RunTask` and where it goes.
    pub fn call(&self, action: &'static str) -> Call {
        Call {
            action,
            endpoint: self.endpoint_of(action.split(':').next().unwrap_or_default()),
            timeout: self.timeout,
            max_attempts: self.max_attempts,
        }
    }

    /// Turns a failed call into one line: a fault of the road or the caller (unreachable, timed
    /// out, not AWS, throttled, denied, expired) explains itself with the call named; the service's
    /// own answer (`Code: message`) goes to `otherwise`, which says what it meant for this step.
    pub fn fail<E>(
        &self,
        err: SdkError<E, HttpResponse>,
        action: &'static str,
        otherwise: impl FnOnce(String) -> anyhow::Error,
    ) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let fault = fault::classify(&err);
        if let Some(e) = fault::explain(&fault, &self.call(action)) {
            return e.into();
        }
        otherwise(fault::service_message(&fault).unwrap_or_else(|| err.to_string()))
    }

    pub fn ecr(&self) -> aws_sdk_ecr::Client {
        self.ecr
            .get_or_init(|| aws_sdk_ecr::Client::new(&self.sdk))
            .clone()
    }

    pub fn sts(&self) -> aws_sdk_sts::Client {
        self.sts
            .get_or_init(|| aws_sdk_sts::Client::new(&self.sdk))
            .clone()
    }

    pub fn ecs(&self) -> aws_sdk_ecs::Client {
        self.ecs
            .get_or_init(|| aws_sdk_ecs::Client::new(&self.sdk))
            .clone()
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        self.iam
            .get_or_init(|| aws_sdk_iam::Client::new(&self.sdk))
            .clone()
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        self.ec2
            .get_or_init(|| aws_sdk_ec2::Client::new(&self.sdk))
            .clone()
    }

    pub fn logs(&self) -> aws_sdk_cloudwatchlogs::Client {
        self.logs
            .get_or_init(|| aws_sdk_cloudwatchlogs::Client::new(&self.sdk))
            .clone()
    }

    /// S3, path-style when an endpoint is overridden (a stand-in or proxy has no per-bucket hosts).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.s3
            .get_or_init(|| {
                let custom = !self.endpoint_of("s3").ends_with(".amazonaws.com");
                let config = aws_sdk_s3::config::Builder::from(&self.sdk)
                    .force_path_style(custom)
                    .build();
                aws_sdk_s3::Client::from_conf(config)
            })
            .clone()
    }

    pub fn codebuild(&self) -> aws_sdk_codebuild::Client {
        self.codebuild
            .get_or_init(|| aws_sdk_codebuild::Client::new(&self.sdk))
            .clone()
    }

    pub fn elb(&self) -> aws_sdk_elasticloadbalancingv2::Client {
        self.elb
            .get_or_init(|| aws_sdk_elasticloadbalancingv2::Client::new(&self.sdk))
            .clone()
    }

    pub fn autoscaling(&self) -> aws_sdk_applicationautoscaling::Client {
        self.autoscaling
            .get_or_init(|| aws_sdk_applicationautoscaling::Client::new(&self.sdk))
            .clone()
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

    /// The caller's account and ARN, asked once per run; fails early, with the fix, when there are
    /// no credentials.
    pub async fn identity(&self) -> Result<Identity> {
        if let Some(identity) = self.identity.get() {
            return Ok(identity.clone());
        }
        let out = self
            .sts()
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                let source = self.credentials_source.clone();
                self.fail(e, "sts:GetCallerIdentity", |detail| {
                    UserError::new(format!(
                        "AWS refused the credentials from {source} ({detail})"
                    ))
                    .fix("pass --aws-profile or set `aws-profile`, run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
                    .into()
                })
            })?;
        let identity = Identity {
            account: out.account().unwrap_or_default().to_string(),
            arn: out.arn().unwrap_or_default().to_string(),
            region: self.region(),
            endpoint: self.endpoint(),
            credentials: self.credentials_source.clone(),
        };
        let _ = self.identity.set(identity.clone());
        Ok(identity)
    }
}

/// An endpoint URL must have its scheme: `127.0.0.1:4566` alone is read as a path by the SDK.
/// An idempotency token derived from what a create asks for (`parts`): the SDK's retries and a
/// re-run of the same request send the same one, so the service makes the thing once; another
/// request gets another token. `cf-` and hex, `len` characters at most (ECS CreateService takes
/// 36, CodeBuild and Scheduler 64).
pub fn idempotency_token(parts: &[&str], len: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let hex = hex::encode(h.finalize());
    format!("cf-{}", &hex[..(len - 3).min(hex.len())])
}

fn check_endpoint(url: &str, location: Location) -> Result<String> {
    let ok = (url.starts_with("http://") || url.starts_with("https://"))
        && reqwest::Url::parse(url).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()));
    if !ok {
        return Err(UserError::new(format!("`{url}` is not an endpoint URL"))
            .at(location)
            .fix(format!(
                "give the scheme and host, e.g. `http://{}`",
                url.trim_start_matches("//")
            ))
            .into());
    }
    Ok(url.to_string())
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
