//! The stage's infrastructure role `{project}-{stage}-infrastructure`, which ECS acts with. For
//! Express Mode (`kind = "web"`) it makes and removes the load balancer, target groups and
//! scaling: the AWS managed policy. For a blue-green, canary or linear `kind = "service"` it moves
//! the production listener rule's weights and (de)registers tasks: an inline policy scoped to
//! the stage's load balancer, listener rules and two target groups. Managed like the stage's
//! other roles ([`super::managed`]): its trust and that policy, nothing else.

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
            "Sid": "EcsMovesTheStagesTraffic",
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

/// The inline policy name of a traffic-shifting service's infrastructure role.
pub const TRAFFIC_POLICY: &str = "traffic-shifting";

/// What ECS needs to shift a service's traffic (as AmazonECSInfrastructureRolePolicyForLoadBalancers,
/// scoped to this stage): read the listeners, rules and target health; modify the production
/// rule; register and deregister the tasks in the two target groups.
pub fn traffic_policy(config: &Config, partition: &str, region: &str, account: &str) -> Value {
    let elb = format!("arn:{partition}:elasticloadbalancing:{region}:{account}:");
    let lb = crate::names::load_balancer(config);
    let alternate = crate::names::alternate_target_group(config);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "NoResourceLevelLoadBalancerReads",
                "Effect": "Allow",
                "Action": [
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth"
                ],
                "Resource": "*"
            },
            {
                "Sid": "MoveTheProductionRuleOfTheStagesListeners",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:ModifyListener", "elasticloadbalancing:ModifyRule"],
                "Resource": [
                    format!("{elb}listener/app/{lb}/*/*"),
                    format!("{elb}listener-rule/app/{lb}/*/*/*")
                ]
            },
            {
                "Sid": "TasksInTheStagesTwoTargetGroups",
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                "Resource": [
                    format!("{elb}targetgroup/{lb}/*"),
                    format!("{elb}targetgroup/{alternate}/*")
                ]
            }
        ]
    })
}

/// Whether the stage has an infrastructure role: Express Mode, or a traffic-shifting service.
pub fn wanted(config: &Config) -> bool {
    config.service.kind == crate::config::service::StageKind::Web
        || config.service.deployment.shifts()
}

/// What the infrastructure role must be: its trust and the Express Mode managed policy (or, for
/// a traffic-shifting service, the inline [`traffic_policy`]), nothing else (read-only; refuses a
/// role of its name cargo-fargate did not make).
pub async fn infrastructure_role(
    aws: &Aws,
    config: &Config,
) -> Result<(String, crate::iam::managed::Desired)> {
    let identity = aws.identity().await?;
    let (arn, missing) = plan_infrastructure_role(aws, config).await?;
    let partition = identity.partition();
    let (attached, inline) = if config.service.kind == crate::config::service::StageKind::Web {
        let policy = format!("arn:{partition}:iam::aws:policy/{INFRASTRUCTURE_POLICY}");
        ([policy].into_iter().collect(), BTreeMap::new())
    } else {
        let policy = traffic_policy(config, partition, &aws.region(), &identity.account);
        (
            Default::default(),
            [(TRAFFIC_POLICY.to_string(), policy)].into_iter().collect(),
        )
    };
    Ok((
        arn,
        crate::iam::managed::Desired {
            exists: !missing,
            trust: infrastructure_trust(&identity.account),
            attached: Some(attached),
            inline,
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
        if config.service.kind == crate::config::service::StageKind::Web {
            "cargo-fargate: ECS Express Mode manages the load balancer and scaling with it"
        } else {
            "cargo-fargate: ECS shifts the service's traffic between its target groups with it"
        },
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
