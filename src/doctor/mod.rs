//! `cargo fargate doctor`: what the guides warn about, checked against the account: `[ok]`, `[warn]`
//! or `[fail]` per check, each not-ok line with its fix; JSON for CI; non-zero exit on any fail.
//! Read-only: it changes nothing.

mod checks;
mod image;
mod target_group;

use std::fmt;

use serde::Serialize;

use crate::aws::Aws;
use crate::config::Config;
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub status: Status,
    /// Short name of what was checked (`credentials`, `access-key`, `subnets`, …).
    pub check: &'static str,
    pub message: String,
    /// What to do about it (for warn and fail).
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(check: &'static str, message: impl Into<String>) -> Self {
        Check {
            status: Status::Ok,
            check,
            message: message.into(),
            fix: None,
        }
    }

    pub fn warn(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            status: Status::Warn,
            check,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(check: &'static str, message: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            status: Status::Fail,
            check,
            message: message.into(),
            fix: Some(fix.into()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DoctorReport {
    pub project: String,
    pub stage: String,
    /// Who the credentials are: account, ARN, region, endpoint, where they came from.
    pub identity: crate::aws::Identity,
    pub checks: Vec<Check>,
    pub ok: usize,
    pub warn: usize,
    pub fail: usize,
}

impl DoctorReport {
    pub fn exit_code(&self) -> i32 {
        if self.fail > 0 {
            1
        } else {
            0
        }
    }
}

impl fmt::Display for DoctorReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "project  {} (stage {})", self.project, self.stage)?;
        writeln!(f, "account  {}", self.identity.account)?;
        writeln!(f, "caller   {}", self.identity.arn)?;
        writeln!(f, "region   {}", self.identity.region)?;
        writeln!(f, "from     {}", self.identity.credentials)?;
        if let Some(e) = &self.identity.endpoint {
            writeln!(f, "endpoint {e}")?;
        }
        for c in &self.checks {
            let tag = match c.status {
                Status::Ok => "[ok]  ",
                Status::Warn => "[warn]",
                Status::Fail => "[fail]",
            };
            writeln!(f, "{tag} {:<12} {}", c.check, c.message)?;
            if let Some(fix) = &c.fix {
                writeln!(f, "       {:<12} fix: {fix}", "")?;
            }
        }
        writeln!(
            f,
            "{} ok, {} warnings, {} failures",
            self.ok, self.warn, self.fail
        )
    }
}

pub async fn run(aws: &Aws, config: &Config) -> Result<DoctorReport> {
    let identity = aws.identity().await?;
    // Every check reads on its own: they run at once, and report in this order.
    let (mut credentials, mut docker, mut subnets, mut bucket, mut roles) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut deployer, mut image, mut log_group, mut secrets, mut target_group) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    tokio::try_join!(
        checks::credentials(aws, &identity, &mut credentials),
        async {
            checks::docker(config, &mut docker).await;
            Ok(())
        },
        checks::subnets(aws, config, &mut subnets),
        checks::bucket(aws, config, &identity, &mut bucket),
        checks::roles(aws, config, &identity, &mut roles),
        checks::deployer(aws, config, &identity, &mut deployer),
        checks::image(aws, config, &mut image),
        checks::log_group(aws, config, &mut log_group),
        checks::secrets(aws, config, &identity, &mut secrets),
        target_group::check(aws, config, &mut target_group),
    )?;
    let region = Check::ok(
        "region",
        format!("{} ({})", identity.region, region_source(config)),
    );
    let mut checks = credentials;
    checks.push(region);
    for more in [
        docker,
        subnets,
        bucket,
        roles,
        deployer,
        image,
        log_group,
        secrets,
        target_group,
    ] {
        checks.extend(more);
    }
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    Ok(DoctorReport {
        project: config.project.clone(),
        stage: config.stage.clone(),
        identity: identity.clone(),
        ok: count(Status::Ok),
        warn: count(Status::Warn),
        fail: count(Status::Fail),
        checks,
    })
}

fn region_source(config: &Config) -> String {
    config
        .entries
        .iter()
        .find(|e| e.key == "region" && !e.value.is_null())
        .map(|e| e.origin.to_string())
        .unwrap_or_else(|| {
            if std::env::var("AWS_REGION").is_ok() {
                "AWS_REGION".into()
            } else if std::env::var("AWS_DEFAULT_REGION").is_ok() {
                "AWS_DEFAULT_REGION".into()
            } else {
                "the profile".into()
            }
        })
}
