//! The project's network, made by `setup` when no `subnets` are configured: its own VPC over two
//! availability zones, public subnets behind an internet gateway, a security group with no
//! inbound rule; `network = "private"` adds private subnets with no route out and the VPC
//! endpoints tasks need there (ECR, S3, CloudWatch Logs, SSM, Secrets Manager) — endpoints rather
//! than a NAT gateway: tasks reach AWS and nothing else, and no per-GB NAT charge on image pulls.
//! Stages of one project share it (each stage tags the VPC as a user; `teardown` of the last
//! removes it). The plan states what AWS charges per month for it.

use std::collections::BTreeMap;

use super::Step;
use crate::aws::vpc::ProjectNetwork;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::Result;
use crate::names;
use crate::output::Output;

/// The interface endpoints a task in a private subnet needs (ECR's API and registry, CloudWatch
/// Logs for awslogs, SSM and Secrets Manager for `secrets`); S3 (image layers) is a free gateway
/// endpoint.
pub const INTERFACE_SERVICES: &[&str] = &["ecr.api", "ecr.dkr", "logs", "ssm", "secretsmanager"];

/// us-east-1 list prices, per hour: a public IPv4 address, an interface endpoint in one zone.
const PUBLIC_IPV4_HOURLY: f64 = 0.005;
const INTERFACE_ENDPOINT_HOURLY: f64 = 0.01;
const HOURS_PER_MONTH: f64 = 730.0;

/// One part setup makes, in the order it makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Vpc(String),
    Subnet {
        private: bool,
        zone: String,
        cidr: String,
    },
    Gateway,
    PublicRoutes,
    PrivateRoutes,
    TasksGroup,
    EndpointsGroup,
    Endpoint(String),
    /// The stage's tag on the VPC (it uses the network).
    UseTag,
}

impl Part {
    fn describe(&self) -> String {
        match self {
            Part::Vpc(cidr) => format!("VPC {cidr}"),
            Part::Subnet {
                private,
                zone,
                cidr,
            } => {
                format!(
                    "{} subnet {cidr} in {zone}",
                    if *private { "private" } else { "public" }
                )
            }
            Part::Gateway => "internet gateway".into(),
            Part::PublicRoutes => "public route table".into(),
            Part::PrivateRoutes => "private route table".into(),
            Part::TasksGroup => "tasks' security group (no inbound rule)".into(),
            Part::EndpointsGroup => "endpoints' security group (HTTPS from the VPC)".into(),
            Part::Endpoint(s) => format!("endpoint {s}"),
            Part::UseTag => "used by this stage".into(),
        }
    }
}

/// What setup would do to the project's network.
#[derive(Debug, Clone)]
pub struct NetworkPlan {
    pub found: Option<ProjectNetwork>,
    pub missing: Vec<Part>,
    pub private: bool,
    pub zones: usize,
}

/// The subnets are sixteenths of the VPC's range (config::validate checks it is /16 to /24):
/// public ones from the start (10.0.0.0/20, 10.0.16.0/20, …), private ones from the middle
/// (10.0.128.0/20, …).
fn subnet_cidr(vpc: &str, private: bool, index: usize) -> String {
    let (ip, prefix) = vpc.split_once('/').unwrap_or(("10.0.0.0", "16"));
    let base = u32::from(
        ip.parse::<std::net::Ipv4Addr>()
            .unwrap_or(std::net::Ipv4Addr::new(10, 0, 0, 0)),
    );
    let prefix: u32 = prefix.parse().unwrap_or(16) + 4;
    let slot = if private { 8 } else { 0 } + index as u32;
    format!(
        "{}/{prefix}",
        std::net::Ipv4Addr::from(base + (slot << (32 - prefix)))
    )
}

/// The endpoint service name of `short` in `region`.
pub fn endpoint_service(region: &str, short: &str) -> String {
    format!("com.amazonaws.{region}.{short}")
}

/// What AWS charges per month for the network as planned (us-east-1 list prices).
pub fn monthly_cost(private: bool, zones: usize) -> String {
    let ip = PUBLIC_IPV4_HOURLY * HOURS_PER_MONTH;
    if private {
        let n = INTERFACE_SERVICES.len() * zones;
        let endpoints = n as f64 * INTERFACE_ENDPOINT_HOURLY * HOURS_PER_MONTH;
        format!(
            "costs ${endpoints:.2}/month: {} interface endpoints × {zones} zones at ${:.2}/month each, plus $0.01/GB; no public IPv4 (VPC, subnets, gateway endpoint for S3: free)",
            INTERFACE_SERVICES.len(),
            INTERFACE_ENDPOINT_HOURLY * HOURS_PER_MONTH
        )
    } else {
        format!("costs ${ip:.2}/month per running task (its public IPv4 address); VPC, subnets, internet gateway: free")
    }
}

/// The parts the stage needs that `found` lacks.
pub fn missing(
    config: &Config,
    found: Option<&ProjectNetwork>,
    zones: &[String],
    region: &str,
) -> Vec<Part> {
    let private = config.network.private;
    let mut parts = Vec::new();
    let Some(net) = found else {
        // A new VPC is made with this stage's tag on it.
        let mut fresh = ProjectNetwork::default();
        fresh
            .vpc_tags
            .insert(names::network_use_tag(config), "yes".into());
        parts.push(Part::Vpc(config.network.cidr.clone()));
        parts.extend(missing(config, Some(&fresh), zones, region));
        return parts;
    };
    let net_cidr = if net.cidr.is_empty() {
        config.network.cidr.clone()
    } else {
        net.cidr.clone()
    };
    let subnets = |private: bool, have: &[(String, String)], parts: &mut Vec<Part>| {
        for (i, zone) in zones.iter().enumerate() {
            if !have.iter().any(|(z, _)| z == zone) {
                let cidr = subnet_cidr(&net_cidr, private, i);
                parts.push(Part::Subnet {
                    private,
                    zone: zone.clone(),
                    cidr,
                });
            }
        }
    };
    subnets(false, &net.public_subnets, &mut parts);
    if net.gateway.is_none() {
        parts.push(Part::Gateway);
    }
    if net.public_routes.is_none() {
        parts.push(Part::PublicRoutes);
    }
    if net.tasks_group.is_none() {
        parts.push(Part::TasksGroup);
    }
    if private {
        subnets(true, &net.private_subnets, &mut parts);
        if net.private_routes.is_none() {
            parts.push(Part::PrivateRoutes);
        }
        if net.endpoints_group.is_none() {
            parts.push(Part::EndpointsGroup);
        }
        for short in std::iter::once(&"s3").chain(INTERFACE_SERVICES) {
            let service = endpoint_service(region, short);
            if !net.endpoints.iter().any(|(s, _)| *s == service) {
                parts.push(Part::Endpoint(service));
            }
        }
    }
    if !net.vpc_tags.contains_key(&names::network_use_tag(config)) {
        parts.push(Part::UseTag);
    }
    parts
}

/// Reads the project's network; `None` when the stage's `subnets` are configured (they win).
pub async fn plan(aws: &Aws, config: &Config) -> Result<Option<NetworkPlan>> {
    if !config.network.subnets.is_empty() {
        return Ok(None);
    }
    let found = aws.project_network(&config.project).await?;
    let zones = match &found {
        Some(net) if !net.public_subnets.is_empty() => {
            net.public_subnets.iter().map(|(z, _)| z.clone()).collect()
        }
        _ => {
            let zones = aws.availability_zones().await?;
            let want = config.network.zones as usize;
            if zones.len() < want {
                return Err(config
                    .key_error(
                        "zones",
                        format!(
                            "region {} has {} availability zone(s) up; the project's network spans {want}",
                            aws.region(),
                            zones.len()
                        ),
                    )
                    .fix("set `zones` to at most that many, use another region, or set `subnets`")
                    .into());
            }
            zones.into_iter().take(want).collect::<Vec<_>>()
        }
    };
    let missing = missing(config, found.as_ref(), &zones, &aws.region());
    Ok(Some(NetworkPlan {
        found,
        missing,
        private: config.network.private,
        zones: zones.len(),
    }))
}

/// The plan's line: one row for the whole network, what it lacks, and what it costs.
pub fn step(config: &Config, plan: &NetworkPlan) -> Step {
    let name = match &plan.found {
        Some(net) => format!("{} ({})", names::network(config), net.vpc),
        None => names::network(config),
    };
    let action = match (&plan.found, plan.missing.is_empty()) {
        (None, _) => "create",
        (Some(_), true) => "none",
        (Some(_), false) => "update",
    };
    Step {
        resource: "network",
        name,
        action,
        changes: if action == "update" {
            plan.missing.iter().map(Part::describe).collect()
        } else {
            Vec::new()
        },
        cost: Some(monthly_cost(plan.private, plan.zones)),
    }
}

/// Makes what the plan says is missing, in order, each part tagged as the project's.
pub async fn apply(
    aws: &Aws,
    config: &Config,
    plan: &NetworkPlan,
    out: &Output,
) -> Result<ProjectNetwork> {
    let mut net = plan.found.clone().unwrap_or_default();
    let region = aws.region();
    for part in &plan.missing {
        let mut maker = Maker {
            aws,
            config,
            net: &mut net,
            region: &region,
        };
        maker.make(part).await?;
        out.status("Network", format_args!("{}", part.describe()));
    }
    Ok(net)
}

/// Makes the network's parts into `net`, each tagged as the project's.
struct Maker<'a> {
    aws: &'a Aws,
    config: &'a Config,
    net: &'a mut ProjectNetwork,
    region: &'a str,
}

impl Maker<'_> {
    fn tags(&self, part: &str, name: &str) -> BTreeMap<String, String> {
        names::network_tags(self.config, part, name)
    }

    /// Makes one part: the VPC, its subnets and routing here, the rest in [`Maker::make_access`].
    async fn make(&mut self, part: &Part) -> Result<()> {
        match part {
            Part::Vpc(cidr) => {
                let mut t = self.tags("vpc", &names::network(self.config));
                t.insert(names::network_use_tag(self.config), "yes".into());
                self.net.vpc = self.aws.create_vpc(cidr, &t).await?;
                self.net.cidr = cidr.clone();
                self.net.vpc_tags = t;
            }
            Part::Subnet {
                private,
                zone,
                cidr,
            } => {
                let tier = if *private { "private" } else { "public" };
                let suffix = zone.chars().last().unwrap_or('x');
                let name = names::network_part(self.config, &format!("{tier}-{suffix}"));
                let id = self
                    .aws
                    .create_subnet(&self.net.vpc, cidr, zone, &self.tags(tier, &name))
                    .await?;
                let list = if *private {
                    &mut self.net.private_subnets
                } else {
                    &mut self.net.public_subnets
                };
                list.push((zone.clone(), id));
            }
            Part::Gateway => {
                let name = names::network_part(self.config, "gateway");
                self.net.gateway = Some(
                    self.aws
                        .create_gateway(&self.net.vpc, &self.tags("gateway", &name))
                        .await?,
                );
            }
            Part::PublicRoutes => {
                let name = names::network_part(self.config, "public");
                let subnets = ids(&self.net.public_subnets);
                let t = self.tags("routes-public", &name);
                let id = self
                    .aws
                    .create_routes(&self.net.vpc, self.net.gateway.as_deref(), &subnets, &t)
                    .await?;
                self.net.public_routes = Some(id);
            }
            Part::PrivateRoutes => {
                let name = names::network_part(self.config, "private");
                let subnets = ids(&self.net.private_subnets);
                let t = self.tags("routes-private", &name);
                self.net.private_routes = Some(
                    self.aws
                        .create_routes(&self.net.vpc, None, &subnets, &t)
                        .await?,
                );
            }
            Part::TasksGroup | Part::EndpointsGroup | Part::Endpoint(_) | Part::UseTag => {
                return self.make_access(part).await
            }
        }
        Ok(())
    }

    /// Makes a security group, a VPC endpoint, or this stage's use tag.
    async fn make_access(&mut self, part: &Part) -> Result<()> {
        match part {
            Part::TasksGroup => {
                let name = names::network_part(self.config, "tasks");
                let t = self.tags("tasks", &name);
                let about = "cargo-fargate tasks: no inbound rule";
                self.net.tasks_group = Some(
                    self.aws
                        .create_group(&self.net.vpc, &name, about, None, &t)
                        .await?,
                );
            }
            Part::EndpointsGroup => {
                let name = names::network_part(self.config, "endpoints");
                let t = self.tags("endpoints", &name);
                let about = "cargo-fargate VPC endpoints: HTTPS from the VPC";
                let cidr = if self.net.cidr.is_empty() {
                    &self.config.network.cidr
                } else {
                    &self.net.cidr
                };
                let id = self
                    .aws
                    .create_group(&self.net.vpc, &name, about, Some(cidr), &t)
                    .await?;
                self.net.endpoints_group = Some(id);
            }
            Part::Endpoint(service) => {
                let short = service
                    .rsplit_once(&format!("{}.", self.region))
                    .map_or(service.as_str(), |(_, s)| s);
                let name = names::network_part(self.config, short);
                let gateway = short == "s3";
                let attach = if gateway {
                    self.net.private_routes.iter().cloned().collect()
                } else {
                    ids(&self.net.private_subnets)
                };
                let t = self.tags("endpoint", &name);
                let group = self.net.endpoints_group.as_deref();
                let id = self
                    .aws
                    .create_endpoint(&self.net.vpc, service, gateway, &attach, group, &t)
                    .await?;
                self.net.endpoints.push((service.clone(), id));
            }
            Part::UseTag => {
                self.aws
                    .tag_network(
                        &self.net.vpc,
                        &names::network_use_tag(self.config),
                        Some("yes"),
                    )
                    .await?;
            }
            _ => unreachable!("made by `make`"),
        }
        Ok(())
    }
}

fn ids(subnets: &[(String, String)]) -> Vec<String> {
    subnets.iter().map(|(_, id)| id.clone()).collect()
}

/// The stages other than this one whose tags say they use the network.
pub fn other_users(config: &Config, vpc_tags: &BTreeMap<String, String>) -> Vec<String> {
    vpc_tags
        .keys()
        .filter_map(|k| k.strip_prefix(names::NETWORK_STAGE_TAG_PREFIX))
        .filter(|stage| *stage != config.stage)
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones() -> Vec<String> {
        vec!["us-east-1a".into(), "us-east-1b".into()]
    }

    #[test]
    fn a_fresh_account_gets_the_whole_network() {
        let c = crate::config::test_config("");
        let parts = missing(&c, None, &zones(), "us-east-1");
        assert_eq!(parts[0], Part::Vpc("10.0.0.0/16".into()));
        assert!(parts.contains(&Part::Subnet {
            private: false,
            zone: "us-east-1b".into(),
            cidr: "10.0.16.0/20".into()
        }));
        assert!(parts.contains(&Part::Gateway) && parts.contains(&Part::TasksGroup));
        assert!(!parts.iter().any(|p| matches!(p, Part::Endpoint(_))));
        let private = crate::config::test_config("network = \"private\"");
        let parts = missing(&private, None, &zones(), "us-east-1");
        assert!(parts.contains(&Part::Endpoint("com.amazonaws.us-east-1.ecr.dkr".into())));
        assert!(parts.contains(&Part::Subnet {
            private: true,
            zone: "us-east-1a".into(),
            cidr: "10.0.128.0/20".into()
        }));
        assert_eq!(
            parts
                .iter()
                .filter(|p| matches!(p, Part::Endpoint(_)))
                .count(),
            6
        );
    }

    #[test]
    fn costs_are_stated() {
        assert!(monthly_cost(false, 2).contains("$3.65/month per running task"));
        assert!(
            monthly_cost(true, 2).contains("$73.00/month"),
            "{}",
            monthly_cost(true, 2)
        );
        assert!(
            monthly_cost(true, 3).contains("$109.50/month"),
            "{}",
            monthly_cost(true, 3)
        );
        assert_eq!(subnet_cidr("10.0.0.0/16", true, 1), "10.0.144.0/20");
        assert_eq!(subnet_cidr("192.168.8.0/24", false, 1), "192.168.8.16/28");
    }

    #[test]
    fn other_stages_keep_the_network() {
        let c = crate::config::test_config("");
        let mut tags = BTreeMap::new();
        tags.insert(names::network_use_tag(&c), "yes".to_string());
        assert!(other_users(&c, &tags).is_empty());
        tags.insert(
            format!("{}prod", names::NETWORK_STAGE_TAG_PREFIX),
            "yes".into(),
        );
        assert_eq!(other_users(&c, &tags), ["prod"]);
    }
}
