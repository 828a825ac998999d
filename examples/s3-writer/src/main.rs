//! "IAM roles for ECS tasks", in Rust: the task creates an S3 bucket and writes a `Hello World`
//! object into it with no keys of its own — the task role's credentials carry both calls (see
//! `credentials.rs` for how they are found).
//!
//! Settings, from the environment:
//! - `BUCKET` (required): the bucket to create (or reuse: one we already own is fine, so re-runs
//!   converge) — the task role's policy (`task-role-policy.json`) allows exactly this bucket;
//! - `KEY` (default `hello_world.txt`): the object's key;
//! - `AWS_REGION` (or `AWS_DEFAULT_REGION`; Fargate sets both): the bucket's region;
//! - `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL`: another S3 endpoint (path-style URLs), else
//!   `https://s3.<region>.amazonaws.com`.
//!
//! Exit codes: 0 done; 78 a setting is missing or invalid; 77 no credentials, or S3 refused them
//! (403); 1 any other failure of S3 or the network.

mod credentials;

use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::process::ExitCode;
use std::time::Duration;

/// Every S3 call gives up after this long.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Presigned URLs are used at once; a short validity is enough.
const URL_VALIDITY: Duration = Duration::from_secs(300);
const BODY: &str = "Hello World!\n";

/// A failure: its exit code and one line saying what went wrong and what to do.
struct Failure(u8, String);

fn setting(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

fn bucket() -> Result<Bucket, Failure> {
    let config = |m: String| Failure(78, m);
    let name = setting(&["BUCKET"])
        .ok_or_else(|| config("BUCKET is not set; set it to the bucket to create (`[package.metadata.fargate.environment]`)".into()))?;
    let region = setting(&["AWS_REGION", "AWS_DEFAULT_REGION"])
        .ok_or_else(|| config("no region: set AWS_REGION".into()))?;
    let (endpoint, style) = match setting(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]) {
        Some(url) => (url, UrlStyle::Path),
        None => (
            format!("https://s3.{region}.amazonaws.com"),
            UrlStyle::VirtualHost,
        ),
    };
    let url = endpoint
        .parse()
        .map_err(|e| config(format!("S3 endpoint `{endpoint}` is not a URL: {e}")))?;
    Bucket::new(url, style, name.clone(), region).map_err(|e| {
        config(format!(
            "bucket `{name}` at `{endpoint}`: {e:?}; check BUCKET and AWS_ENDPOINT_URL"
        ))
    })
}

/// `<Code>` and `<Message>` of an S3 error document, as `Code: Message`.
fn s3_error(body: &str) -> String {
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{t}>"))? + start;
        Some(body[start..end].to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => body.chars().take(200).collect(),
    }
}

/// Sends a presigned PUT; returns the status and the body of the answer.
fn put(agent: &ureq::Agent, url: &str, body: &[u8]) -> Result<(u16, String), Failure> {
    let mut response = agent
        .put(url)
        .send(body)
        .map_err(|e| Failure(1, format!("S3 did not answer: {e}")))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    Ok((status, text))
}

fn failed(what: &str, bucket: &Bucket, status: u16, body: &str) -> Failure {
    let code = if status == 403 { 77 } else { 1 };
    let fix = if status == 403 {
        "; the task role's policy must allow it on this bucket (task-role-policy.json)"
    } else {
        ""
    };
    Failure(
        code,
        format!(
            "{what} `{}` failed ({status}): {}{fix}",
            bucket.name(),
            s3_error(body)
        ),
    )
}

fn create_bucket(agent: &ureq::Agent, bucket: &Bucket, creds: &Credentials) -> Result<(), Failure> {
    let url = bucket.create_bucket(creds).sign(URL_VALIDITY);
    // Outside us-east-1 the region goes in the body, or S3 refuses the request.
    let body = if bucket.region() == "us-east-1" {
        String::new()
    } else {
        format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            bucket.region()
        )
    };
    match put(agent, url.as_str(), body.as_bytes())? {
        // us-east-1 also answers 200 for a bucket we already own.
        (200, _) => println!("bucket {} ready in {}", bucket.name(), bucket.region()),
        (409, b) if b.contains("BucketAlreadyOwnedByYou") => {
            println!("bucket {} already exists and is ours", bucket.name())
        }
        (status, b) => return Err(failed("CreateBucket", bucket, status, &b)),
    }
    Ok(())
}

fn put_object(
    agent: &ureq::Agent,
    bucket: &Bucket,
    creds: &Credentials,
    key: &str,
) -> Result<(), Failure> {
    let url = bucket.put_object(Some(creds), key).sign(URL_VALIDITY);
    match put(agent, url.as_str(), BODY.as_bytes())? {
        (200, _) => {
            println!("wrote s3://{}/{key} ({} bytes)", bucket.name(), BODY.len());
            Ok(())
        }
        (status, b) => Err(failed("PutObject in", bucket, status, &b)),
    }
}

fn run() -> Result<(), Failure> {
    let bucket = bucket()?;
    let key = setting(&["KEY"]).unwrap_or_else(|| "hello_world.txt".into());
    let found = credentials::find().map_err(|m| Failure(77, m))?;
    println!("credentials: {}", found.source);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    create_bucket(&agent, &bucket, &found.credentials)?;
    put_object(&agent, &bucket, &found.credentials, &key)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(code, message)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::s3_error;

    #[test]
    fn s3_errors_read_as_code_and_message() {
        let body = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        assert_eq!(s3_error(body), "AccessDenied: Access Denied");
        assert_eq!(
            s3_error("<Error><Code>NoSuchBucket</Code></Error>"),
            "NoSuchBucket"
        );
    }
}
