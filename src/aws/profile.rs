//! The AWS config and credentials files as the SDKs read them: a named profile must exist, the
//! CA bundle the CLI would trust, and where the default chain will find credentials (for the
//! one-line explanation of a failed call).

use aws_runtime::env_config::file::EnvConfigFiles;

use crate::error::{Result, UserError};

/// The AWS config and credentials files, as the SDKs find them.
fn profile_files() -> Vec<String> {
    let home = std::env::var("HOME").unwrap_or_else(|_| "~".into());
    vec![
        std::env::var("AWS_CONFIG_FILE").unwrap_or_else(|_| format!("{home}/.aws/config")),
        std::env::var("AWS_SHARED_CREDENTIALS_FILE")
            .unwrap_or_else(|_| format!("{home}/.aws/credentials")),
    ]
}

async fn load_profiles() -> Result<aws_config::profile::ProfileSet> {
    aws_config::profile::load(
        &aws_types::os_shim_internal::Fs::real(),
        &aws_types::os_shim_internal::Env::real(),
        &EnvConfigFiles::default(),
        None,
    )
    .await
    .map_err(|e| {
        UserError::new(format!("the AWS config files cannot be read: {e}"))
            .fix(format!(
                "fix the syntax of {}",
                profile_files().join(" or ")
            ))
            .into()
    })
}

/// A named profile must exist: otherwise the chain falls through to other credentials (or to
/// instance metadata) and a deploy goes to another account than the one named.
/// The CA bundle to trust, as the AWS CLI finds it: `AWS_CA_BUNDLE`, else `ca_bundle` in the
/// profile in use (the explicit one, else AWS_PROFILE, else `default`).
pub(super) async fn ca_bundle(profile: Option<&str>) -> Result<Option<crate::net::CaBundle>> {
    if let Some(path) = std::env::var("AWS_CA_BUNDLE")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(Some(crate::net::CaBundle::read(&path, "AWS_CA_BUNDLE")?));
    }
    let name = match profile {
        Some(p) => p.to_string(),
        None => std::env::var("AWS_PROFILE")
            .ok()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "default".into()),
    };
    let Ok(profiles) = load_profiles().await else {
        return Ok(None);
    };
    match profiles.get_profile(&name).and_then(|p| p.get("ca_bundle")) {
        Some(path) => Ok(Some(crate::net::CaBundle::read(
            path,
            &format!("ca_bundle of profile `{name}`"),
        )?)),
        None => Ok(None),
    }
}

pub(super) async fn check_profile(name: &str, origin: &str) -> Result<()> {
    let profiles = load_profiles().await?;
    if profiles.get_profile(name).is_some() {
        return Ok(());
    }
    let mut known: Vec<&str> = profiles.profiles().collect();
    known.sort_unstable();
    let fix = match crate::error::did_you_mean(name, known.iter().copied()) {
        Some(close) => format!(
            "did you mean `{close}`? Known: {}",
            crate::error::list(&known)
        ),
        None if known.is_empty() => {
            format!("create it with `aws configure --profile {name}` or `aws configure sso`")
        }
        None => format!(
            "known profiles: {}; or create it with `aws configure --profile {name}`",
            crate::error::list(&known)
        ),
    };
    Err(UserError::new(format!(
        "the AWS profile `{name}` (from {origin}) is not in {}",
        profile_files().join(" or ")
    ))
    .fix(fix)
    .into())
}

/// Where the default chain will find credentials, in its own order: environment, AWS_PROFILE (or
/// `default`), web identity, the container endpoint, instance metadata.
pub(super) async fn default_chain_source() -> Result<String> {
    let set = |v: &str| std::env::var_os(v).is_some_and(|s| !s.is_empty());
    if set("AWS_ACCESS_KEY_ID") {
        return Ok("the environment (AWS_ACCESS_KEY_ID)".into());
    }
    if let Ok(profile) = std::env::var("AWS_PROFILE") {
        if !profile.is_empty() {
            check_profile(&profile, "AWS_PROFILE").await?;
            return Ok(format!("profile `{profile}` (AWS_PROFILE)"));
        }
    }
    if load_profiles()
        .await
        .is_ok_and(|p| p.get_profile("default").is_some())
    {
        return Ok("profile `default`".into());
    }
    if set("AWS_WEB_IDENTITY_TOKEN_FILE") {
        return Ok("web identity (AWS_WEB_IDENTITY_TOKEN_FILE)".into());
    }
    if set("AWS_CONTAINER_CREDENTIALS_FULL_URI") || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        return Ok("the container credentials endpoint".into());
    }
    Ok("EC2 instance metadata (no profile or environment credentials)".into())
}
