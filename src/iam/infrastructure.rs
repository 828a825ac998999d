//! Express Mode's infrastructure role `{project}-{stage}-infrastructure`: ECS acts with it to make
//! and remove the load balancer, target groups and scaling of a `kind = "web"` service. Managed
//! like the stage's other roles ([`super::managed`]): its trust and the AWS managed policy,
//! nothing else.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::output::Output;

pub const INFRASTRUCTURE_POLICY: &str =
    "service-role/AmazonECSInfrastructureRoleforExpressGatewayServices";
pub const ECS: &str = "ecs.amazonaws.com";

/// Its trust policy: ECS, for this account only.
pub fn infrastructure_trust(account: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ExpressModeManagesTheLoadBalancerAndScaling",
            "Effect": "Allow",
            "Principal": {"Service": ECS},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}}
        }]
    })
}

/// Plans the infrastructure role (read-only): its ARN, and whether it must be created.
pub async fn plan_infrastructure_role(aws: &Aws, config: &Config) -> Result<(String, bool)> {
    let identity = aws.identity().await?;
    let name = crate::names::infrastructure_role(config);
    crate::config::validate::role_name(&name).map_err(|what| {
        config
            .key_error("name", what)
            .fix("shorten `name` (the infrastructure role is `{project}-{stage}-infrastructure`)")
    })?;
    match aws.get_role(&name).await? {
        Some(found) => {
            if !crate::iam::managed::is_managed(&found) {
                return Err(UserError::new(format!(
                    "role `{name}` already exists and was not created by cargo-fargate"
                ))
                .fix("delete or rename it, or set a different `name`")
                .into());
            }
            Ok((found.arn, false))
        }
        None => Ok((
            format!(
                "arn:{}:iam::{}:role/{name}",
                identity.partition(),
                identity.account
            ),
            true,
        )),
    }
}

/// What the infrastructure role must be: its trust and the Express Mode managed policy, nothing
/// else attached or inline (read-only; refuses a role of its name cargo-fargate did not make).
pub async fn infrastructure_role(
    aws: &Aws,
    config: &Config,
) -> Result<(String, crate::iam::managed::Desired)> {
    let identity = aws.identity().await?;
    let (arn, missing) = plan_infrastructure_role(aws, config).await?;
    let policy = format!(
        "arn:{}:iam::aws:policy/{INFRASTRUCTURE_POLICY}",
        identity.partition()
    );
    Ok((
        arn,
        crate::iam::managed::Desired {
            exists: !missing,
            trust: infrastructure_trust(&identity.account),
            attached: Some([policy].into_iter().collect()),
            inline: BTreeMap::new(),
            tags: crate::names::stage_tags(config),
        },
    ))
}

/// Makes the infrastructure role match [`infrastructure_role`]; converges on re-runs.
pub async fn apply_infrastructure_role(aws: &Aws, config: &Config, out: &Output) -> Result<String> {
    let (arn, want) = infrastructure_role(aws, config).await?;
    let done = crate::iam::managed::apply(
        aws,
        &crate::names::infrastructure_role(config),
        "cargo-fargate: ECS Express Mode manages the load balancer and scaling with it",
        &want,
    )
    .await?;
    if done.created {
        out.status("Created", format_args!("infrastructure role {}", done.arn));
        return Ok(done.arn);
    }
    if !done.changes.is_empty() {
        out.status(
            "Updated",
            format_args!("infrastructure role {arn}: {}", done.changes.join(", ")),
        );
    }
    Ok(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_infrastructure_role_trusts_ecs_of_this_account() {
        let t = infrastructure_trust("123456789012");
        assert_eq!(t["Statement"][0]["Principal"]["Service"], ECS);
        assert_eq!(
            t["Statement"][0]["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123456789012"
        );
    }
}
