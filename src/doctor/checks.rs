//! The checks of `doctor`, one function each; every one reads, none writes.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Check;
use crate::aws::{Aws, Identity};
use crate::config::{resolve::Builder, Config, Role};
use crate::error::Result;
use crate::iam::{principal_arn, Principal, Scope};

/// Access keys older than this should be rotated.
const KEY_MAX_AGE_DAYS: i64 = 90;

/// Who the credentials are and where they came from; root fails; old access keys warn.
pub async fn credentials(aws: &Aws, identity: &Identity, checks: &mut Vec<Check>) -> Result<()> {
    if identity.arn.ends_with(":root") {
        checks.push(Check::fail(
            "credentials",
            format!("{} are the account's root credentials (from {})", identity.arn, identity.credentials),
            "never deploy with root: create an IAM user or role with `cargo fargate iam policy --for deployer`, use its credentials, and delete the root access keys",
        ));
        return Ok(());
    }
    checks.push(Check::ok(
        "credentials",
        format!("{} (from {})", identity.arn, identity.credentials),
    ));
    let Some(user) = identity.arn.split(":user/").nth(1) else {
        checks.push(Check::ok(
            "access-keys",
            "temporary credentials of a role or session: nothing to rotate",
        ));
        return Ok(());
    };
    let user = user.rsplit('/').next().unwrap_or(user);
    if let Some((ci, flag)) = ci_name() {
        checks.push(Check::warn(
            "ci-credentials",
            format!("this {ci} job deploys with {user}'s long-lived access keys"),
            format!("take a role through the CI's OIDC instead: run `cargo fargate setup --ci {flag}` once, `cargo fargate init --ci` writes the workflow; then delete the keys from the CI's secrets"),
        ));
    }
    let keys = match aws.access_keys(user).await {
        Ok(keys) => keys,
        Err(why) => {
            checks.push(Check::warn(
                "access-keys",
                format!("the age of {user}'s access keys could not be read ({why})"),
                "allow iam:ListAccessKeys on your own user (it is in `cargo fargate iam policy --for deployer`)",
            ));
            return Ok(());
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut old = Vec::new();
    for key in keys {
        let Some(created) = key.created_secs else {
            continue;
        };
        let days = (now - created) / 86_400;
        if key.active && days > KEY_MAX_AGE_DAYS {
            old.push(format!("{} ({days} days)", key.id));
        }
    }
    if old.is_empty() {
        checks.push(Check::ok(
            "access-keys",
            format!("{user}'s active access keys are at most {KEY_MAX_AGE_DAYS} days old"),
        ));
    } else {
        checks.push(Check::warn(
            "access-keys",
            format!("{user} has access keys older than {KEY_MAX_AGE_DAYS} days: {}", old.join(", ")),
            format!("rotate them: `aws iam create-access-key --user-name {user}`, switch to the new key, then `aws iam delete-access-key` the old one (or use SSO / a role instead of keys)"),
        ));
    }
    Ok(())
}

/// The CI this runs in, by the variables each sets, with the `setup --ci` flags for it.
fn ci_name() -> Option<(&'static str, &'static str)> {
    let set = |v: &str| std::env::var(v).is_ok_and(|v| v == "true");
    if set("GITHUB_ACTIONS") {
        Some(("GitHub Actions", "github --repo OWNER/NAME"))
    } else if set("GITLAB_CI") {
        Some(("GitLab CI", "gitlab --repo GROUP/PROJECT"))
    } else if set("CI") {
        Some(("CI", "github|gitlab --repo OWNER/NAME"))
    } else {
        None
    }
}

/// The Docker Engine answers, when the builder needs it.
pub async fn docker(config: &Config, checks: &mut Vec<Check>) {
    if config.build.builder != Builder::Docker {
        return;
    }
    match crate::build::docker::connect().await {
        Ok(_) => checks.push(Check::ok("docker", "the Docker Engine answers")),
        Err(e) => checks.push(Check::fail(
            "docker",
            format!("{e:#}"),
            "start Docker or point DOCKER_HOST at a running Engine, or use `builder = \"host\"` / `\"codebuild\"`",
        )),
    }
}

/// The configured subnets exist and are not in the default VPC.
pub async fn subnets(aws: &Aws, config: &Config, checks: &mut Vec<Check>) -> Result<()> {
    if config.network.subnets.is_empty() {
        // The same question `deploy` and `run` ask, so the three cannot disagree.
        match crate::steps::run::resolve_network(aws, config, false).await {
            Ok(n) => checks.push(Check::ok(
                "subnets",
                format!("{} of VPC {}", n.subnets.join(", "), n.vpc),
            )),
            Err(e) => match e.downcast::<crate::error::UserError>() {
                Ok(u) => checks.push(Check::fail("subnets", u.what, u.fix.unwrap_or_default())),
                Err(e) => return Err(e),
            },
        }
        return Ok(());
    }
    let subnets = match aws.subnets(&config.network.subnets).await {
        Ok(s) => s,
        Err(e) => {
            checks.push(Check::fail(
                "subnets",
                format!("{e:#}"),
                "use subnet IDs of this account and region (aws ec2 describe-subnets)",
            ));
            return Ok(());
        }
    };
    let defaults: BTreeSet<String> = aws.default_vpcs().await?.into_iter().collect();
    let in_default: Vec<&str> = subnets
        .iter()
        .filter(|s| defaults.contains(&s.vpc_id))
        .map(|s| s.id.as_str())
        .collect();
    if in_default.is_empty() {
        checks.push(Check::ok(
            "subnets",
            format!(
                "{} not in the default VPC",
                config.network.subnets.join(", ")
            ),
        ));
    } else {
        checks.push(Check::fail(
            "subnets",
            format!("{} in the default VPC", in_default.join(", ")),
            "the default VPC's subnets are public and shared: create a VPC for the stage and set `subnets` to its subnets",
        ));
    }
    Ok(())
}

/// The archive bucket is private, when the builder uses one.
pub async fn bucket(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    checks: &mut Vec<Check>,
) -> Result<()> {
    if config.build.builder != Builder::Codebuild {
        return Ok(());
    }
    let name = &crate::names::bucket(config, &identity.account, &identity.region);
    match aws.bucket_privacy(name, &identity.account).await? {
        None => checks.push(Check::warn(
            "bucket",
            format!("S3 bucket {name} does not exist yet"),
            "run `cargo fargate setup` (or the first deploy creates it private and encrypted)",
        )),
        Some(Some(why)) => checks.push(Check::fail(
            "bucket",
            format!("S3 bucket {name} may be public: {why}"),
            format!("block all public access: `aws s3api put-public-access-block --bucket {name} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true`"),
        )),
        Some(None) => checks.push(Check::ok(
            "bucket",
            format!("S3 bucket {name} is private (all public access blocked)"),
        )),
    }
    Ok(())
}

pub use crate::iam::roles::trusts;

/// The roles a stage uses: (what, name, managed, trusted service).
fn stage_roles(config: &Config) -> Vec<(&'static str, String, bool, &'static str)> {
    let name = |r: &Role| match r {
        Role::Given(v) => (v.rsplit('/').next().unwrap_or(v).to_string(), false),
        Role::Managed(n) => (n.clone(), true),
    };
    let (task, tm) = name(&config.roles.task);
    let (exec, em) = name(&config.roles.execution);
    let mut roles = vec![
        (
            "task role",
            task,
            tm,
            Principal::Task.service().unwrap_or_default(),
        ),
        (
            "execution role",
            exec,
            em,
            Principal::Execution.service().unwrap_or_default(),
        ),
    ];
    if config.build.builder == Builder::Codebuild {
        let (n, m) = name(&config.roles.codebuild);
        roles.push(("codebuild role", n, m, "codebuild.amazonaws.com"));
    }
    if config
        .entries
        .iter()
        .any(|e| e.key == "schedule" && !e.value.is_null())
    {
        let (n, m) = name(&config.roles.scheduler);
        roles.push(("scheduler role", n, m, "scheduler.amazonaws.com"));
    }
    roles
}

/// Each role exists and trusts the service that assumes it.
pub async fn roles(
    aws: &Aws,
    config: &Config,
    _identity: &Identity,
    checks: &mut Vec<Check>,
) -> Result<()> {
    for (what, name, managed, service) in stage_roles(config) {
        match aws.get_role(&name).await? {
            None if managed => checks.push(Check::warn(
                "roles",
                format!("{what} {name} does not exist yet"),
                "run `cargo fargate setup` (or the first deploy creates it)",
            )),
            None => checks.push(Check::fail(
                "roles",
                format!("{what} {name} does not exist"),
                format!("create it trusting {service} (`cargo fargate iam policy --for {} --trust`), or drop the key to let cargo-fargate manage it", what.split(' ').next().unwrap_or(what)),
            )),
            Some(role) if !trusts(&role.trust, service) => checks.push(Check::fail(
                "roles",
                format!("{what} {name} does not trust {service}, so it cannot be assumed for the stage"),
                format!("replace its trust policy with `cargo fargate iam policy --for {} --trust`{}", what.split(' ').next().unwrap_or(what), if managed { " (or run `cargo fargate setup`, which rewrites it)" } else { "" }),
            )),
            Some(_) => checks.push(Check::ok("roles", format!("{what} {name} trusts {service}"))),
        }
    }
    Ok(())
}

/// The caller may do what a deploy does: every action of the generated deployer policy on its
/// resources, asked of IAM's policy simulator.
pub async fn deployer(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    checks: &mut Vec<Check>,
) -> Result<()> {
    let partition = identity.partition();
    let Some(caller) = principal_arn(&identity.arn, partition, &identity.account) else {
        return Ok(()); // root: already failed above
    };
    let scope = Scope::new(
        config,
        partition,
        &identity.account,
        &identity.region,
        Some(&caller),
    );
    let policy = scope
        .policy(Principal::Deployer, config)?
        .unwrap_or(Value::Null);
    let mut needs: Vec<(&'static str, String)> = Vec::new();
    for st in policy["Statement"].as_array().into_iter().flatten() {
        if st.get("Condition").is_some() {
            continue; // the simulator would need the request's context to judge these
        }
        let actions = crate::aws::iam::strings(&st["Action"]);
        let resource = match &st["Resource"] {
            Value::String(r) => r.clone(),
            Value::Array(r) => r.first().and_then(Value::as_str).unwrap_or("*").to_string(),
            _ => "*".into(),
        };
        let resource = resource.replace(":*", ":1").replace("/*", "/x");
        for a in actions {
            needs.push((Box::leak(a.into_boxed_str()), resource.clone()));
        }
    }
    match aws.simulate(&caller, &needs, &[]).await? {
        None => checks.push(Check::warn(
            "permissions",
            "IAM's policy simulator is not available to these credentials, so what a deploy needs was not checked",
            "attach the policy of `cargo fargate iam policy --for deployer` to this identity (it allows the simulator on itself)",
        )),
        Some(denied) if denied.is_empty() => checks.push(Check::ok(
            "permissions",
            format!("{} may do the {} calls a deploy makes (IAM policy simulator)", caller, needs.len()),
        )),
        Some(denied) => checks.push(Check::fail(
            "permissions",
            format!(
                "{caller} may not: {}",
                denied.iter().take(5).map(|d| format!("{} on {}", d.action, d.resource)).collect::<Vec<_>>().join(", ")
                    + &if denied.len() > 5 { format!(" (and {} more)", denied.len() - 5) } else { String::new() }
            ),
            "attach the policy of `cargo fargate iam policy --for deployer` to this identity",
        )),
    }
    Ok(())
}

/// The last image pushed to the repository is for the configured architecture.
pub async fn image(aws: &Aws, config: &Config, checks: &mut Vec<Check>) -> Result<()> {
    super::image::check(aws, config, checks).await
}

/// The tasks' log group exists.
pub async fn log_group(aws: &Aws, config: &Config, checks: &mut Vec<Check>) -> Result<()> {
    let name = &config.container.log_group;
    match aws.log_group(name).await? {
        Some(g) => checks.push(Check::ok(
            "log-group",
            format!(
                "{name} exists (retention {} days)",
                g.retention_days
                    .map(|d| d.to_string())
                    .unwrap_or_else(|| "never expire".into())
            ),
        )),
        None => checks.push(Check::warn(
            "log-group",
            format!("log group {name} does not exist yet"),
            "run `cargo fargate setup` (or the first deploy creates it)",
        )),
    }
    Ok(())
}

/// Each configured secret exists, and the execution role may read it.
pub async fn secrets(
    aws: &Aws,
    config: &Config,
    identity: &Identity,
    checks: &mut Vec<Check>,
) -> Result<()> {
    let partition = identity.partition();
    let exec_arn = match &config.roles.execution {
        Role::Given(v) if v.starts_with("arn:") => Some(v.clone()),
        Role::Given(v) => Some(format!(
            "arn:{partition}:iam::{}:role/{v}",
            identity.account
        )),
        Role::Managed(_) => None,
    };
    for (name, value) in &config.container.secrets {
        let (exists, arn, action) = super::image::secret_exists(aws, identity, value).await?;
        if !exists {
            checks.push(Check::fail(
                "secrets",
                format!("secret `{name}` = `{value}` does not exist"),
                "create it (aws ssm put-parameter --type SecureString / aws secretsmanager create-secret), or fix the name under `secrets`",
            ));
            continue;
        }
        let Some(role) = &exec_arn else {
            checks.push(Check::ok(
                "secrets",
                format!("`{name}` exists; the managed execution role's policy names it"),
            ));
            continue;
        };
        match aws.simulate(role, &[(action, arn.clone())], &[]).await? {
            Some(denied) if !denied.is_empty() => checks.push(Check::fail(
                "secrets",
                format!("`{name}` exists, but execution role {role} may not {action} it"),
                format!("allow {action} on {arn} in that role's policy (see `cargo fargate iam policy --for execution`)"),
            )),
            Some(_) => checks.push(Check::ok(
                "secrets",
                format!("`{name}` exists and the execution role may read it"),
            )),
            None => checks.push(Check::ok(
                "secrets",
                format!("`{name}` exists (whether {role} may read it was not simulated)"),
            )),
        }
    }
    Ok(())
}
