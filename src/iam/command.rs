//! `cargo fargate iam policy --for PRINCIPAL [--trust] [--out-dir DIR]`: the policy (or trust
//! policy) a team hands to its IAM pipeline instead of the guides' `*FullAccess` list.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::{principal_arn, Principal, Scope};
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Location, Result, UserError};

/// What `iam policy` printed or wrote.
#[derive(Debug, Serialize)]
pub struct PolicyReport {
    pub principal: Principal,
    pub account: String,
    pub region: String,
    /// The permissions policy (`null` for a task role with no policy files).
    pub policy: Option<Value>,
    /// The trust policy, with --trust.
    pub trust: Option<Value>,
    /// Files written, with --out-dir.
    pub written: Vec<PathBuf>,
}

impl fmt::Display for PolicyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.written.is_empty() {
            for path in &self.written {
                writeln!(f, "wrote {}", crate::error::display_path(path))?;
            }
            return Ok(());
        }
        let doc = if self.trust.is_some() {
            &self.trust
        } else {
            &self.policy
        };
        match doc {
            Some(doc) => writeln!(
                f,
                "{}",
                serde_json::to_string_pretty(doc).map_err(|_| fmt::Error)?
            ),
            // `{}` is no policy IAM accepts (no `Statement`): say there is nothing to grant.
            None => writeln!(
                f,
                "the {} role needs no permissions policy: nothing to grant (no \
                 `task-role-policy-files`, `exec` off); `--trust` prints its trust policy",
                self.principal.name()
            ),
        }
    }
}

/// The account the policies name: `--account`, or the caller's (STS); with it, the caller.
pub struct Target {
    pub partition: String,
    pub account: String,
    pub region: String,
    pub caller: Option<String>,
}

impl Target {
    pub async fn resolve(
        config: &Config,
        account: Option<&str>,
        aws: Option<&Aws>,
    ) -> Result<Self> {
        if let Some(account) = account {
            if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
                return Err(
                    UserError::new(format!("`{account}` is not an AWS account ID"))
                        .at(Location::Flag("--account".into()))
                        .fix("give the 12-digit account ID, e.g. --account 123456789012")
                        .into(),
                );
            }
            let region = config
                .region
                .clone()
                .or_else(|| std::env::var("AWS_REGION").ok())
                .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
                .filter(|r| !r.is_empty())
                .ok_or_else(|| {
                    UserError::new("no AWS region is set, and the policies name it")
                        .fix("set `region` in [package.metadata.fargate], pass --region, or export AWS_REGION")
                })?;
            return Ok(Target {
                partition: "aws".into(),
                account: account.to_string(),
                region,
                caller: None,
            });
        }
        let aws = aws.expect("connected when no --account is given");
        let identity = aws.identity().await?;
        let partition = identity.partition().to_string();
        Ok(Target {
            caller: principal_arn(&identity.arn, &partition, &identity.account),
            partition,
            account: identity.account.clone(),
            region: identity.region.clone(),
        })
    }

    pub fn scope(&self, config: &Config) -> Scope {
        Scope::new(
            config,
            &self.partition,
            &self.account,
            &self.region,
            self.caller.as_deref(),
        )
    }
}

/// Renders the principal's policy (and trust policy); writes them under `out_dir` when given.
pub fn policy(
    config: &Config,
    target: &Target,
    principal: Principal,
    trust: bool,
    teardown: bool,
    out_dir: Option<&Path>,
) -> Result<PolicyReport> {
    let mut scope = target.scope(config);
    scope.teardown = teardown;
    let policy = scope.policy(principal, config)?;
    let trust_doc = if trust || out_dir.is_some() {
        Some(scope.trust(principal)?)
    } else {
        None
    };
    let mut written = Vec::new();
    if let Some(dir) = out_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            UserError::new(format!("cannot create {}: {e}", dir.display()))
                .at(Location::Flag("--out-dir".into()))
                .fix("give a directory you can write to")
        })?;
        let name = principal.name();
        let mut write = |file: String, doc: &Value| -> Result<()> {
            let path = dir.join(file);
            let text = serde_json::to_string_pretty(doc)? + "\n";
            std::fs::write(&path, text).map_err(|e| {
                UserError::new(format!("cannot write {}: {e}", path.display()))
                    .at(Location::Flag("--out-dir".into()))
                    .fix("give a directory you can write to")
            })?;
            written.push(path);
            Ok(())
        };
        if let Some(doc) = &policy {
            write(format!("{}-{name}-policy.json", scope.family), doc)?;
        }
        if let Some(doc) = &trust_doc {
            write(format!("{}-{name}-trust.json", scope.family), doc)?;
        }
    }
    Ok(PolicyReport {
        principal,
        account: scope.account.clone(),
        region: scope.region.clone(),
        policy,
        trust: trust.then_some(trust_doc).flatten(),
        written,
    })
}
