//! Why an AWS call failed, classified before it is explained.
//!
//! A refused request and a broken road to AWS need different fixes: an endpoint that does not
//! answer, an answer that is not AWS's (a proxy's HTML page), throttling, a denied action, an
//! expired session or missing credentials each get their own line naming the call, the endpoint
//! and the fix. Anything else is the service's own answer (validation, not found, …), which the
//! caller explains in its own words.

use std::fmt;
use std::time::Duration;

use aws_sdk_sts::config::http::HttpResponse;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::error::{innermost, UserError};

/// One AWS operation as IAM names it (`ecs:RunTask`), with where it was sent.
#[derive(Debug, Clone)]
pub struct Call {
    /// `ecs:RunTask`: the IAM action, which also names the service and the operation.
    pub action: &'static str,
    pub endpoint: String,
    /// The whole call's time limit, retries included.
    pub timeout: Duration,
    pub max_attempts: u32,
}

impl Call {
    pub fn service(&self) -> &'static str {
        service_name(self.action.split(':').next().unwrap_or_default())
    }

    pub fn operation(&self) -> &'static str {
        self.action.split(':').nth(1).unwrap_or(self.action)
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} at {}",
            self.service(),
            self.operation(),
            self.endpoint
        )
    }
}

/// How people name a service from its IAM prefix.
pub fn service_name(prefix: &str) -> &'static str {
    match prefix {
        "ecr" => "ECR",
        "ecs" => "ECS",
        "iam" => "IAM",
        "ec2" => "EC2",
        "logs" => "CloudWatch Logs",
        "sts" => "STS",
        "s3" => "S3",
        "codebuild" => "CodeBuild",
        "ssm" => "SSM",
        "secretsmanager" => "Secrets Manager",
        _ => "AWS",
    }
}

/// What went wrong with a call, before anyone explains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// No connection: refused, DNS, TLS, a malformed endpoint.
    Unreachable(String),
    /// Connected, but no answer in time (retries included).
    TimedOut,
    /// Something answered that is not an AWS API: an HTML page, a bare status.
    NotAws { status: u16, content_type: String },
    /// Throttled on every attempt.
    Throttled(String),
    /// The caller may not do this.
    AccessDenied {
        message: String,
        action: Option<String>,
        resource: Option<String>,
    },
    /// The session token (SSO, assumed role) has expired.
    Expired(String),
    /// AWS does not know these credentials (wrong key, wrong partition, signature mismatch).
    BadCredentials(String),
    /// No credentials could be found at all.
    NoCredentials(String),
    /// The service's own answer: the caller explains it.
    Service { code: String, message: String },
}

const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "EC2ThrottledException",
    "PriorRequestNotComplete",
    "BandwidthLimitExceeded",
];
const DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
];
const EXPIRED: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
    "TokenRefreshRequired",
];
const BAD_CREDENTIALS: &[&str] = &[
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidSignatureException",
    "AuthFailure",
    "IncompleteSignature",
    "MissingAuthenticationToken",
];

/// Classifies an SDK error from the error itself: its kind, code and the raw HTTP answer.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> Fault
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let chain = DisplayErrorContext(err).to_string();
    match err {
        SdkError::TimeoutError(_) => Fault::TimedOut,
        SdkError::DispatchFailure(d) if d.is_timeout() => Fault::TimedOut,
        SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_) => {
            if looks_like_credentials(&chain) {
                Fault::NoCredentials(innermost(err))
            } else {
                Fault::Unreachable(innermost(err))
            }
        }
        SdkError::ResponseError(r) => not_aws(r.raw()),
        SdkError::ServiceError(s) => {
            let e = s.err();
            let code = e.code().unwrap_or_default().to_string();
            let message = e.message().unwrap_or_default().to_string();
            let raw = s.raw();
            let body = raw.body().bytes().unwrap_or_default();
            let html = looks_like_html(body, content_type(raw).as_str());
            if html || (code.is_empty() && message.is_empty()) {
                return not_aws(raw);
            }
            if THROTTLING.contains(&code.as_str()) || raw.status().as_u16() == 429 {
                Fault::Throttled(code)
            } else if DENIED.contains(&code.as_str()) {
                let (action, resource) = denied_parts(&message);
                Fault::AccessDenied {
                    message,
                    action,
                    resource,
                }
            } else if EXPIRED.contains(&code.as_str()) {
                Fault::Expired(code)
            } else if BAD_CREDENTIALS.contains(&code.as_str()) {
                Fault::BadCredentials(if message.is_empty() {
                    code
                } else {
                    format!("{code}: {message}")
                })
            } else {
                Fault::Service { code, message }
            }
        }
        _ => Fault::Unreachable(innermost(err)),
    }
}

fn content_type(raw: &HttpResponse) -> String {
    raw.headers()
        .get("content-type")
        .unwrap_or_default()
        .to_string()
}

fn not_aws(raw: &HttpResponse) -> Fault {
    let ct = content_type(raw);
    Fault::NotAws {
        status: raw.status().as_u16(),
        content_type: if ct.is_empty() {
            "no content type".into()
        } else {
            ct
        },
    }
}

fn looks_like_html(body: &[u8], content_type: &str) -> bool {
    if content_type.contains("html") {
        return true;
    }
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|i| &body[i..])
        .unwrap_or_default();
    let head = String::from_utf8_lossy(&start[..start.len().min(15)]).to_ascii_lowercase();
    head.starts_with("<!doctype") || head.starts_with("<html")
}

fn looks_like_credentials(chain: &str) -> bool {
    let c = chain.to_ascii_lowercase();
    c.contains("credential") && !c.contains("connection refused")
}

/// `User: arn:… is not authorized to perform: iam:CreateRole on resource: arn:… because …`.
pub fn denied_parts(message: &str) -> (Option<String>, Option<String>) {
    let word_after = |marker: &str| {
        message.find(marker).map(|i| {
            message[i + marker.len()..]
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .trim_end_matches(['.', ','])
                .to_string()
        })
    };
    (
        word_after("perform: ").filter(|s| s.contains(':')),
        word_after("on resource: ").filter(|s| !s.is_empty()),
    )
}

/// A TLS failure to verify the server's certificate chain.
fn untrusted(cause: &str) -> bool {
    cause.contains("UnknownIssuer") || cause.contains("invalid peer certificate")
}

/// The one line for a fault of the road or the caller; `None` for the service's own answers.
pub fn explain(fault: &Fault, call: &Call) -> Option<UserError> {
    let secs = call.timeout.as_secs_f32();
    let e = match fault {
        Fault::Unreachable(cause) if untrusted(cause) => {
            UserError::new(format!("cannot reach {call}: {cause}")).fix(
                "its certificate is signed by a CA this machine does not trust (a TLS-inspecting \
                 proxy?): point AWS_CA_BUNDLE (or `ca_bundle` in your AWS profile) at your network's CA bundle",
            )
        }
        Fault::Unreachable(cause) => UserError::new(format!("cannot reach {call}: {cause}"))
            .fix("check --endpoint-url / AWS_ENDPOINT_URL, the region and your network (behind a proxy: HTTPS_PROXY, NO_PROXY)"),
        Fault::TimedOut => UserError::new(format!(
            "{call} did not answer within {secs:.0}s (retries included)"
        ))
        .fix("check the endpoint and your network, or allow longer with --timeout SECS (CARGO_FARGATE_TIMEOUT)"),
        Fault::NotAws {
            status,
            content_type,
        } => UserError::new(format!(
            "{call} answered HTTP {status} ({content_type}), which is not an AWS API response"
        ))
        .fix("check --endpoint-url / AWS_ENDPOINT_URL: a proxy, captive portal or wrong host answered; re-run once it is fixed"),
        Fault::Throttled(code) => UserError::new(format!(
            "{call} was throttled ({code}) on all {} attempts",
            call.max_attempts
        ))
        .fix("wait a minute and re-run (it converges), allow more attempts with AWS_MAX_ATTEMPTS, or ask AWS for a higher request quota"),
        Fault::AccessDenied {
            message,
            action,
            resource,
        } => {
            let action = action.clone().unwrap_or_else(|| call.action.to_string());
            let statement = serde_json::json!({
                "Effect": "Allow",
                "Action": action,
                "Resource": resource.clone().unwrap_or_else(|| "<the resource named above>".into()),
            });
            let first = message.split(" because ").next().unwrap_or(message);
            UserError::new(format!("{} denied {action}: {first}", call.service()))
                .fix(format!("allow it in the deploying identity's policy: {statement}"))
        }
        Fault::Expired(code) => UserError::new(format!(
            "the AWS session has expired ({code}) calling {call}"
        ))
        .fix("refresh the credentials (`aws sso login`, or assume the role again) and re-run"),
        Fault::BadCredentials(detail) => UserError::new(format!(
            "AWS does not accept these credentials ({detail}) calling {call}"
        ))
        .fix("check the access key and secret (or the profile) you are using: `cargo fargate doctor -v` says where they came from"),
        Fault::NoCredentials(detail) => UserError::new(format!(
            "no AWS credentials were found ({detail})"
        ))
        .fix("pass --aws-profile or set `aws-profile`, run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"),
        Fault::Service { .. } => return None,
    };
    Some(e)
}

/// The service's answer on one line: `Code: message`.
pub fn service_message(fault: &Fault) -> Option<String> {
    match fault {
        Fault::Service { code, message } => Some(match (code.is_empty(), message.is_empty()) {
            (false, false) => format!("{code}: {message}"),
            (false, true) => code.clone(),
            _ => message.clone(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_denied_messages_give_action_and_resource() {
        let m = "User: arn:aws:iam::123456789012:user/dev is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/app-dev-task because no identity-based policy allows the iam:CreateRole action";
        assert_eq!(
            denied_parts(m),
            (
                Some("iam:CreateRole".into()),
                Some("arn:aws:iam::123456789012:role/app-dev-task".into())
            )
        );
        let ec2 = "You are not authorized to perform this operation. User: arn:aws:sts::1:assumed-role/r/s is not authorized to perform: ec2:DescribeVpcs because no identity-based policy allows it.";
        assert_eq!(denied_parts(ec2), (Some("ec2:DescribeVpcs".into()), None));
    }

    #[test]
    fn html_is_recognised_by_type_or_body() {
        assert!(looks_like_html(b"", "text/html; charset=utf-8"));
        assert!(looks_like_html(b"\n  <!DOCTYPE html><p>", ""));
        assert!(looks_like_html(b"<HTML>", "application/octet-stream"));
        assert!(!looks_like_html(b"{\"__type\":\"X\"}", "application/json"));
    }

    #[test]
    fn every_fault_but_the_services_own_answer_is_explained_with_the_call() {
        let call = Call {
            action: "ecs:RunTask",
            endpoint: "http://127.0.0.1:9".into(),
            timeout: Duration::from_secs(7),
            max_attempts: 4,
        };
        let timed_out = explain(&Fault::TimedOut, &call).unwrap().to_string();
        assert!(
            timed_out.contains("ECS RunTask at http://127.0.0.1:9 did not answer within 7s"),
            "{timed_out}"
        );
        let throttled = explain(&Fault::Throttled("ThrottlingException".into()), &call)
            .unwrap()
            .to_string();
        assert!(throttled.contains("all 4 attempts"), "{throttled}");
        let denied = explain(
            &Fault::AccessDenied {
                message: "User: u is not authorized to perform: ecs:RunTask on resource: arn:x because no".into(),
                action: Some("ecs:RunTask".into()),
                resource: Some("arn:x".into()),
            },
            &call,
        )
        .unwrap()
        .to_string();
        assert!(
            denied.contains(r#"{"Action":"ecs:RunTask","Effect":"Allow","Resource":"arn:x"}"#),
            "{denied}"
        );
        assert!(explain(
            &Fault::Service {
                code: "InvalidParameterException".into(),
                message: "m".into()
            },
            &call
        )
        .is_none());
    }
}
