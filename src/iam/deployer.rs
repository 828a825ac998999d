//! The stage's deployer role `{project}-{stage}-deployer`, made by `setup --ci …` or
//! `setup --deployer-trust ARN…`: the identity that deploys, without a stored access key. CI
//! takes it through the CI's OIDC provider (GitHub Actions, GitLab), trusted only for one
//! repository and branch or environment; people take it from their own identity of the account.
//! Its permissions are the generated deployer policy of the stage (`iam policy --for deployer`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::managed::{self, Desired};
use super::{Principal, Scope};
use crate::aws::{Aws, Identity};
use crate::config::Config;
use crate::error::{Location, Result, UserError};

pub use crate::names::DEPLOYER_POLICY_NAME as POLICY_NAME;
/// GitHub Actions' OIDC issuer, and the audience `aws-actions/configure-aws-credentials` asks for.
pub const GITHUB_HOST: &str = "token.actions.githubusercontent.com";
pub const STS_AUDIENCE: &str = "sts.amazonaws.com";
/// GitHub's issuer certificate thumbprints (IAM no longer checks them for GitHub, but some
/// partitions still want one).
const GITHUB_THUMBPRINTS: &[&str] = &[
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
];

/// Who may take the deployer role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployerTrust {
    pub ci: Option<Ci>,
    /// IAM principals of the account (`--deployer-trust`).
    pub people: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ci {
    /// The issuer's host (and path), as IAM names the provider: `token.actions.githubusercontent.com`.
    pub host: String,
    pub audience: String,
    /// The `sub` claim the trust requires.
    pub subject: String,
    pub kind: &'static str,
    pub repo: String,
    /// `--pull-requests`: the `sub` pattern of the repository's pull/merge request jobs, which
    /// then may take the role too (for `deploy --dry-run` and `diff`; they can deploy as well).
    pub pull_requests: Option<String>,
}

impl Ci {
    pub fn provider_arn(&self, partition: &str, account: &str) -> String {
        format!("arn:{partition}:iam::{account}:oidc-provider/{}", self.host)
    }
    pub fn url(&self) -> String {
        format!("https://{}", self.host)
    }
    pub fn thumbprints(&self) -> Vec<String> {
        match self.kind {
            "github" => GITHUB_THUMBPRINTS.iter().map(|t| t.to_string()).collect(),
            _ => Vec::new(),
        }
    }
}

/// The flags of `setup` that ask for a deployer role.
#[derive(Debug, Clone, Default)]
pub struct DeployerFlags<'a> {
    pub ci: Option<&'a str>,
    pub repo: Option<&'a str>,
    pub branch: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub gitlab_url: Option<&'a str>,
    pub pull_requests: bool,
    pub people: &'a [String],
}

fn flag_error(flag: &str, what: String, fix: &str) -> UserError {
    UserError::new(what)
        .at(Location::Flag(flag.into()))
        .fix(fix)
}

/// Checks the flags (one line per mistake, before anything is read or made); `None` when no
/// deployer role is asked for.
pub fn parse(flags: &DeployerFlags, account: &str) -> Result<Option<DeployerTrust>, UserError> {
    for arn in flags.people {
        let ok = arn.starts_with("arn:aws")
            && arn.split(':').nth(4) == Some(account)
            && (arn.contains(":user/") || arn.contains(":role/") || arn.ends_with(":root"));
        if !ok {
            return Err(flag_error(
                "--deployer-trust",
                format!("`{arn}` is not an IAM user or role ARN of account {account}"),
                "give ARNs such as arn:aws:iam::ACCOUNT:user/alice or arn:aws:iam::ACCOUNT:role/admins",
            ));
        }
    }
    let ci = match flags.ci {
        None => {
            if flags.repo.is_some() || flags.branch.is_some() || flags.environment.is_some() {
                return Err(flag_error(
                    "--repo",
                    "--repo, --branch and --environment need --ci".into(),
                    "add --ci github or --ci gitlab",
                ));
            }
            None
        }
        Some(kind) => Some(ci(flags, kind)?),
    };
    Ok(
        (ci.is_some() || !flags.people.is_empty()).then(|| DeployerTrust {
            ci,
            people: flags.people.to_vec(),
        }),
    )
}

fn ci(flags: &DeployerFlags, kind: &str) -> Result<Ci, UserError> {
    let repo = checked_repo(flags, kind)?;
    match kind {
        "github" => {
            let subject = match (flags.branch, flags.environment) {
                (_, Some(env)) => format!("repo:{repo}:environment:{env}"),
                (branch, None) => {
                    format!("repo:{repo}:ref:refs/heads/{}", branch.unwrap_or("main"))
                }
            };
            Ok(Ci {
                host: GITHUB_HOST.into(),
                audience: STS_AUDIENCE.into(),
                subject,
                kind: "github",
                repo: repo.into(),
                pull_requests: flags
                    .pull_requests
                    .then(|| format!("repo:{repo}:pull_request")),
            })
        }
        "gitlab" => gitlab(flags, repo),
        other => Err(flag_error(
            "--ci",
            format!("unknown CI `{other}`"),
            "use --ci github or --ci gitlab",
        )),
    }
}

/// `--repo` in the CI's shape, and `--branch` / `--environment` without wildcards.
fn checked_repo<'f>(flags: &DeployerFlags<'f>, kind: &str) -> Result<&'f str, UserError> {
    let repo = flags.repo.ok_or_else(|| {
        flag_error(
            "--ci",
            format!("--ci {kind} needs --repo"),
            "add --repo OWNER/NAME (the repository that deploys)",
        )
    })?;
    let parts: Vec<&str> = repo.split('/').collect();
    let good = |s: &&str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    let shape_ok = match kind {
        "github" => parts.len() == 2 && parts.iter().all(good),
        _ => parts.len() >= 2 && parts.iter().all(good),
    };
    if !shape_ok {
        let want = if kind == "github" {
            "OWNER/NAME"
        } else {
            "GROUP/PROJECT"
        };
        return Err(flag_error(
            "--repo",
            format!("`{repo}` is not {want}"),
            &format!("give the repository as {want}, e.g. --repo acme/api"),
        ));
    }
    for (flag, value) in [
        ("--branch", flags.branch),
        ("--environment", flags.environment),
    ] {
        if value.is_some_and(|v| v.is_empty() || v.contains(['*', '?', '"'])) {
            return Err(flag_error(
                flag,
                format!("{flag} must name one branch or environment, without wildcards"),
                "give its exact name",
            ));
        }
    }
    Ok(repo)
}

/// GitLab's trust: its token names the branch (never the environment), at gitlab.com or
/// `--gitlab-url`.
fn gitlab(flags: &DeployerFlags, repo: &str) -> Result<Ci, UserError> {
    if flags.environment.is_some() {
        return Err(flag_error(
            "--environment",
            "GitLab's token names the branch, not the environment".into(),
            "use --branch with --ci gitlab",
        ));
    }
    let url = flags
        .gitlab_url
        .unwrap_or("https://gitlab.com")
        .trim_end_matches('/');
    let Some(host) = url
        .strip_prefix("https://")
        .filter(|h| !h.is_empty() && !h.contains(['?', '#']))
    else {
        return Err(flag_error(
            "--gitlab-url",
            format!("`{url}` is not an https:// URL"),
            "give your GitLab's address, e.g. --gitlab-url https://gitlab.example.com",
        ));
    };
    let branch = flags.branch.unwrap_or("main");
    Ok(Ci {
        host: host.into(),
        audience: STS_AUDIENCE.into(),
        subject: format!("project_path:{repo}:ref_type:branch:ref:{branch}"),
        kind: "gitlab",
        repo: repo.into(),
        pull_requests: flags
            .pull_requests
            .then(|| format!("project_path:{repo}:ref_type:branch:ref:*")),
    })
}

/// The deployer role's trust policy: the CI's provider for one repository and branch or
/// environment (audience and subject both required), and/or the named principals.
pub fn trust(trust: &DeployerTrust, partition: &str, account: &str) -> Value {
    let mut statements = Vec::new();
    if let Some(ci) = &trust.ci {
        statements.push(json!({
            "Sid": "OnlyThisRepositoryAndRefThroughTheCiOidcProvider",
            "Effect": "Allow",
            "Principal": {"Federated": ci.provider_arn(partition, account)},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                format!("{}:aud", ci.host): ci.audience,
                format!("{}:sub", ci.host): ci.subject,
            }}
        }));
    }
    if let Some(pattern) = trust
        .ci
        .as_ref()
        .and_then(|ci| ci.pull_requests.as_ref().map(|p| (ci, p)))
    {
        let (ci, pattern) = pattern;
        statements.push(json!({
            "Sid": "PullRequestJobsOfThisRepositoryThroughTheCiOidcProvider",
            "Effect": "Allow",
            "Principal": {"Federated": ci.provider_arn(partition, account)},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {format!("{}:aud", ci.host): ci.audience},
                "StringLike": {format!("{}:sub", ci.host): pattern},
            }
        }));
    }
    if !trust.people.is_empty() {
        statements.push(json!({
            "Sid": "TheNamedIdentitiesOfThisAccount",
            "Effect": "Allow",
            "Principal": {"AWS": trust.people},
            "Action": "sts:AssumeRole"
        }));
    }
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// The `~/.aws/config` profile that takes the role from the person's own credentials.
pub fn profile(config: &Config, role_arn: &str, region: &str) -> String {
    format!(
        "[profile {}]\nrole_arn = {role_arn}\nsource_profile = default\nregion = {region}\n",
        crate::names::deployer_role(config)
    )
}

/// What the deployer role must be (read-only; refuses a role of its name cargo-fargate did not
/// make): its trust and the stage's deployer policy, scoped to the role itself as the caller.
pub async fn plan(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    who: &DeployerTrust,
) -> Result<(String, Desired)> {
    let name = crate::names::deployer_role(config);
    crate::config::validate::role_name(&name).map_err(|what| {
        config
            .key_error("name", what)
            .fix("shorten `name` (the deployer role is `{project}-{stage}-deployer`)")
    })?;
    let found = managed::existing(aws, config, "name", &name).await?;
    let arn = managed::arn(found.as_ref(), identity, &name);
    let scope = Scope::new(
        config,
        identity.partition(),
        &identity.account,
        &aws.region(),
        Some(&arn),
    );
    let policy = scope
        .policy(Principal::Deployer, config)?
        .unwrap_or(Value::Null);
    let desired = Desired {
        exists: found.is_some(),
        trust: trust(who, identity.partition(), &identity.account),
        attached: Some(Default::default()),
        inline: BTreeMap::from([(POLICY_NAME.to_string(), policy)]),
        tags: crate::names::stage_tags(config),
    };
    Ok((arn, desired))
}

/// Whether the CI's OIDC provider exists: `Some(false)` to create; refused when it exists
/// without the audience (adding one to a provider others use is the account owner's call).
pub async fn plan_provider(aws: &Aws, identity: &Identity, ci: &Ci) -> Result<bool> {
    let arn = ci.provider_arn(identity.partition(), &identity.account);
    match aws.oidc_provider_audiences(&arn).await? {
        None => Ok(false),
        Some(audiences) if audiences.contains(&ci.audience) => Ok(true),
        Some(audiences) => Err(UserError::new(format!(
            "the OIDC provider {} exists with audience {} but not {}; nothing was created",
            ci.url(),
            audiences.join(", "),
            ci.audience
        ))
        .fix(format!("add it: aws iam add-client-id-to-open-id-connect-provider --open-id-connect-provider-arn {arn} --client-id {}", ci.audience))
        .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags<'a>(ci: &'a str, repo: &'a str) -> DeployerFlags<'a> {
        DeployerFlags {
            ci: Some(ci),
            repo: Some(repo),
            ..Default::default()
        }
    }

    #[test]
    fn github_trust_names_the_repository_and_ref() {
        let mut f = flags("github", "acme/api");
        f.branch = Some("release");
        let t = parse(&f, "123456789012").unwrap().unwrap();
        let doc = trust(&t, "aws", "123456789012");
        let st = &doc["Statement"][0];
        assert_eq!(
            st["Principal"]["Federated"],
            "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
        );
        let c = &st["Condition"]["StringEquals"];
        assert_eq!(
            c["token.actions.githubusercontent.com:aud"],
            "sts.amazonaws.com"
        );
        assert_eq!(
            c["token.actions.githubusercontent.com:sub"],
            "repo:acme/api:ref:refs/heads/release"
        );
        let mut f = flags("github", "acme/api");
        f.environment = Some("prod");
        assert_eq!(
            parse(&f, "123456789012")
                .unwrap()
                .unwrap()
                .ci
                .unwrap()
                .subject,
            "repo:acme/api:environment:prod"
        );
    }

    #[test]
    fn gitlab_trust_names_the_project_path() {
        let mut f = flags("gitlab", "group/sub/app");
        f.gitlab_url = Some("https://gitlab.example.com/");
        let ci = parse(&f, "123456789012").unwrap().unwrap().ci.unwrap();
        assert_eq!(ci.host, "gitlab.example.com");
        assert_eq!(
            ci.subject,
            "project_path:group/sub/app:ref_type:branch:ref:main"
        );
    }

    #[test]
    fn bad_flags_are_one_line_each() {
        let acct = "123456789012";
        for (f, needle) in [
            (flags("github", "acme"), "`acme` is not OWNER/NAME"),
            (flags("github", "acme/api/x"), "is not OWNER/NAME"),
            (flags("jenkins", "acme/api"), "unknown CI `jenkins`"),
            (
                DeployerFlags {
                    ci: Some("github"),
                    ..Default::default()
                },
                "needs --repo",
            ),
            (
                DeployerFlags {
                    repo: Some("a/b"),
                    ..Default::default()
                },
                "need --ci",
            ),
        ] {
            let e = parse(&f, acct).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert_eq!(e.lines().count(), 1, "{e}");
        }
        let people = vec!["arn:aws:iam::999999999999:user/x".to_string()];
        let f = DeployerFlags {
            people: &people,
            ..Default::default()
        };
        assert!(parse(&f, acct)
            .unwrap_err()
            .to_string()
            .contains("not an IAM user or role ARN of account"));
        assert!(parse(&DeployerFlags::default(), acct).unwrap().is_none());
    }

    #[test]
    fn people_assume_the_role_from_their_own_identity() {
        let people = vec!["arn:aws:iam::123456789012:user/alice".to_string()];
        let f = DeployerFlags {
            people: &people,
            ..Default::default()
        };
        let t = parse(&f, "123456789012").unwrap().unwrap();
        let doc = trust(&t, "aws", "123456789012");
        assert_eq!(
            doc["Statement"][0]["Principal"]["AWS"][0],
            "arn:aws:iam::123456789012:user/alice"
        );
        assert_eq!(doc["Statement"][0]["Action"], "sts:AssumeRole");
    }
}
