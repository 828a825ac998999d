//! Where the AWS credentials come from, the way the AWS SDKs find them in a container — so the task
//! needs no keys: ECS hands the task role's temporary credentials to the container through an HTTP
//! endpoint named in its environment.
//!
//! 1. `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with the `Authorization` header from
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN` (or the file named by
//!    `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) when set;
//! 2. `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` on `http://169.254.170.2` — what Fargate sets;
//! 3. `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`), for running it locally.

use rusty_s3::Credentials;
use std::time::Duration;

/// The address ECS serves task credentials on, for `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`.
const ECS_CREDENTIALS_HOST: &str = "http://169.254.170.2";
/// The endpoint is local to the task: if it does not answer quickly, it will not answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Credentials and a description of where they came from (never the secret itself).
pub struct Found {
    pub credentials: Credentials,
    pub source: String,
}

/// Why no credentials could be had; a one-line message with the fix.
pub type Error = String;

pub fn find() -> Result<Found, Error> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    if let Some(uri) = var("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        let token = match (
            var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
            var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        ) {
            (Some(t), _) => Some(t),
            (None, Some(file)) => Some(
                std::fs::read_to_string(&file)
                    .map_err(|e| {
                        format!("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE `{file}`: {e}")
                    })?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        return from_endpoint(&uri, token.as_deref(), "AWS_CONTAINER_CREDENTIALS_FULL_URI");
    }
    if let Some(path) = var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        let uri = format!("{ECS_CREDENTIALS_HOST}{path}");
        return from_endpoint(&uri, None, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    }
    if let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let credentials = match var("AWS_SESSION_TOKEN") {
            Some(token) => Credentials::new_with_token(key, secret, token),
            None => Credentials::new(key, secret),
        };
        return Ok(Found {
            credentials,
            source: "environment (AWS_ACCESS_KEY_ID)".into(),
        });
    }
    Err("no AWS credentials: run it as an ECS task with a task role (ECS sets AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into())
}

/// GETs the container credentials endpoint: `{"AccessKeyId","SecretAccessKey","Token","Expiration",
/// "RoleArn"}`.
fn from_endpoint(uri: &str, token: Option<&str>, var: &str) -> Result<Found, Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(uri);
    if let Some(token) = token {
        request = request.header("Authorization", token);
    }
    let mut response = request
        .call()
        .map_err(|e| format!("the credentials endpoint {uri} (from {var}) did not answer: {e}"))?;
    let status = response.status();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("reading the answer of the credentials endpoint {uri}: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "the credentials endpoint {uri} (from {var}) answered {status}; is a task role set on the task definition?"
        ));
    }
    parse(&body)
        .map(|(credentials, role)| Found {
            credentials,
            source: match role {
                Some(role) => format!("task role {role} ({var})"),
                None => format!("container credentials ({var})"),
            },
        })
        .map_err(|e| format!("the credentials endpoint {uri} gave {e}"))
}

/// The credentials and the role ARN (when given) of an endpoint's JSON answer.
fn parse(body: &str) -> Result<(Credentials, Option<String>), String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|e| format!("no JSON ({e})"))?;
    let field = |name: &str| v.get(name).and_then(|f| f.as_str()).map(str::to_string);
    let (Some(key), Some(secret)) = (field("AccessKeyId"), field("SecretAccessKey")) else {
        return Err("no AccessKeyId and SecretAccessKey".into());
    };
    let credentials = match field("Token") {
        Some(token) => Credentials::new_with_token(key, secret, token),
        None => Credentials::new(key, secret),
    };
    Ok((credentials, field("RoleArn")))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_the_ecs_credentials_document() {
        let (c, role) = parse(
            r#"{"AccessKeyId":"ASIAX","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:00:00Z","RoleArn":"arn:aws:iam::123456789012:role/r"}"#,
        )
        .unwrap();
        assert_eq!((c.key(), c.secret(), c.token()), ("ASIAX", "s", Some("t")));
        assert_eq!(role.as_deref(), Some("arn:aws:iam::123456789012:role/r"));
        assert!(parse(r#"{"Token":"t"}"#).is_err());
        assert!(parse("<html>").is_err());
    }
}
