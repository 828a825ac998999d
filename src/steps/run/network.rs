//! The task's network: configured, or discovered, but never the default VPC unless allowed.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::aws::ec2::Subnet;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Result, UserError};

/// The task's network, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Network {
    pub vpc: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
}

/// What to do when no subnets are configured and the project has no network: the same in
/// `doctor`, `deploy` and `run`.
pub const SETUP_FIX: &str =
    "run `cargo fargate setup` (it makes the project's VPC), or set `subnets = [\"subnet-…\"]`";

/// Picks the subnets: the configured ones (all in one VPC, not the default one unless allowed),
/// or, with none configured, those of the account's only non-default VPC.
pub fn choose_subnets(
    config: &Config,
    found: &[Subnet],
    default_vpcs: &[String],
    allow_default_vpc: bool,
) -> Result<(String, Vec<String>), UserError> {
    let allow_fix = "or pass --allow-default-vpc to use it anyway";
    if !config.network.subnets.is_empty() {
        let mut vpcs: Vec<&str> = found.iter().map(|s| s.vpc_id.as_str()).collect();
        vpcs.sort();
        vpcs.dedup();
        if vpcs.len() > 1 {
            return Err(config
                .key_error(
                    "subnets",
                    format!("the subnets are in several VPCs ({})", vpcs.join(", ")),
                )
                .fix("a task's subnets must all be in one VPC"));
        }
        let vpc = vpcs.first().map(|v| v.to_string()).unwrap_or_default();
        if default_vpcs.contains(&vpc) && !allow_default_vpc {
            return Err(config
                .key_error(
                    "subnets",
                    format!("the subnets are in the default VPC {vpc}"),
                )
                .fix(format!("use subnets of your own VPC, {allow_fix}")));
        }
        return Ok((vpc, config.network.subnets.clone()));
    }
    let mut by_vpc: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for s in found {
        if allow_default_vpc || !default_vpcs.contains(&s.vpc_id) {
            by_vpc.entry(&s.vpc_id).or_default().push(s.id.clone());
        }
    }
    // With the default VPC allowed and others present, prefer the others.
    if allow_default_vpc && by_vpc.len() > 1 {
        by_vpc.retain(|v, _| !default_vpcs.iter().any(|d| d.as_str() == *v));
    }
    match by_vpc.len() {
        0 if found.is_empty() => Err(config
            .key_error("subnets", "no subnets are configured and the region has none")
            .fix(SETUP_FIX)),
        0 => Err(config
            .key_error(
                "subnets",
                "no subnets are configured and only the default VPC has any; tasks do not run in the default VPC unless asked",
            )
            .fix(format!("{SETUP_FIX}, {allow_fix}"))),
        1 => {
            let (vpc, mut subnets) = by_vpc.into_iter().next().expect("one VPC");
            subnets.sort();
            Ok((vpc.to_string(), subnets))
        }
        _ => Err(config
            .key_error(
                "subnets",
                format!(
                    "no subnets are configured and several VPCs have some ({})",
                    by_vpc.keys().copied().collect::<Vec<_>>().join(", ")
                ),
            )
            .fix(format!("{SETUP_FIX} to say which"))),
    }
}

/// Resolves and checks the network against EC2 (read-only).
pub async fn resolve_network(
    aws: &Aws,
    config: &Config,
    allow_default_vpc: bool,
) -> Result<Network> {
    if config.network.subnets.is_empty() {
        if let Some(net) = project_network(aws, config).await? {
            return Ok(net);
        }
    }
    // Subnets, default VPCs and the configured security groups are read at once; their errors are
    // reported in that order.
    let want_groups = !config.network.security_groups.is_empty();
    let (found, default_vpcs, groups) = tokio::join!(
        aws.subnets(&config.network.subnets),
        aws.default_vpcs(),
        async {
            match want_groups {
                true => Some(aws.security_groups(&config.network.security_groups).await),
                false => None,
            }
        },
    );
    let found = found.map_err(|e| match e.downcast::<UserError>() {
        Ok(u) if !config.network.subnets.is_empty() => {
            let mut k = config.key_error("subnets", u.what);
            k.fix = u.fix;
            k.into()
        }
        Ok(u) => u.into(),
        Err(e) => e,
    })?;
    let default_vpcs = default_vpcs?;
    let (vpc, subnets) = choose_subnets(config, &found, &default_vpcs, allow_default_vpc)?;
    let security_groups = if !want_groups {
        let sg = aws.default_security_group(&vpc).await?.ok_or_else(|| {
            config
                .key_error(
                    "security-groups",
                    format!("VPC {vpc} has no default security group"),
                )
                .fix("set `security-groups = [\"sg-…\"]`")
        })?;
        vec![sg]
    } else {
        let groups = groups.expect("asked when configured").map_err(|e| {
            match e.downcast::<UserError>() {
                Ok(u) => {
                    let mut k = config.key_error("security-groups", u.what);
                    k.fix = u.fix;
                    k.into()
                }
                Err(e) => e,
            }
        })?;
        if let Some(g) = groups.iter().find(|g| g.vpc_id != vpc) {
            return Err(config
                .key_error(
                    "security-groups",
                    format!(
                        "security group {} is in {}, not in the subnets' VPC {vpc}",
                        g.id, g.vpc_id
                    ),
                )
                .fix("use security groups of the subnets' VPC")
                .into());
        }
        config.network.security_groups.clone()
    };
    Ok(Network {
        vpc,
        subnets,
        security_groups,
        assign_public_ip: config.network.assign_public_ip,
    })
}

/// The network `setup` made for the project, found by its tags: the public subnets (tasks get a
/// public IP to reach ECR) or, with `network = "private"`, the private ones behind endpoints.
async fn project_network(aws: &Aws, config: &Config) -> Result<Option<Network>> {
    let Some(net) = aws.project_network(&config.project).await? else {
        return Ok(None);
    };
    let private = config.network.private;
    let subnets: Vec<String> = if private {
        &net.private_subnets
    } else {
        &net.public_subnets
    }
    .iter()
    .map(|(_, id)| id.clone())
    .collect();
    let Some(group) = net.tasks_group.clone().filter(|_| !subnets.is_empty()) else {
        let what = if private {
            "private subnets"
        } else {
            "public subnets or its security group"
        };
        return Err(config
            .key_error(
                "network",
                format!("the project's VPC {} has no {what} yet", net.vpc),
            )
            .fix("run `cargo fargate setup` to complete it")
            .into());
    };
    let security_groups = if config.network.security_groups.is_empty() {
        vec![group]
    } else {
        config.network.security_groups.clone()
    };
    Ok(Some(Network {
        vpc: net.vpc,
        subnets,
        security_groups,
        assign_public_ip: !private,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(id: &str, vpc: &str) -> Subnet {
        Subnet {
            id: id.into(),
            vpc_id: vpc.into(),
        }
    }

    #[test]
    fn the_default_vpc_is_refused_unless_allowed() {
        let none = crate::config::test_config("");
        let found = [
            subnet("subnet-d1", "vpc-default"),
            subnet("subnet-d2", "vpc-default"),
        ];
        let defaults = ["vpc-default".to_string()];
        let e = choose_subnets(&none, &found, &defaults, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only the default VPC has any"), "{e}");
        assert!(e.contains("--allow-default-vpc"), "{e}");
        let (vpc, subnets) = choose_subnets(&none, &found, &defaults, true).unwrap();
        assert_eq!((vpc.as_str(), subnets.len()), ("vpc-default", 2));

        // Discovery takes the one VPC of the account's own.
        let mut more = found.to_vec();
        more.push(subnet("subnet-b", "vpc-mine"));
        more.push(subnet("subnet-a", "vpc-mine"));
        let (vpc, subnets) = choose_subnets(&none, &more, &defaults, false).unwrap();
        assert_eq!(vpc, "vpc-mine");
        assert_eq!(subnets, ["subnet-a", "subnet-b"]);
        // Even when the default VPC is allowed.
        assert_eq!(
            choose_subnets(&none, &more, &defaults, true).unwrap().0,
            "vpc-mine"
        );
        more.push(subnet("subnet-c", "vpc-other"));
        let e = choose_subnets(&none, &more, &defaults, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("several VPCs have some (vpc-mine, vpc-other)"),
            "{e}"
        );

        // Configured subnets of the default VPC: refused, naming the key.
        let configured = crate::config::test_config("subnets = [\"subnet-0123456789abcdef0\"]");
        let found = [subnet("subnet-0123456789abcdef0", "vpc-default")];
        let e = choose_subnets(&configured, &found, &defaults, false)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/p/Cargo.toml:6: `package.metadata.fargate.subnets`: the subnets are in the default VPC vpc-default"),
            "{e}"
        );
        assert!(choose_subnets(&configured, &found, &defaults, true).is_ok());
    }
}
