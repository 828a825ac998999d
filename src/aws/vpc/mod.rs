//! EC2 for the project's own network: found by its tags, made part by part by `setup`, removed by
//! `teardown` of the last stage that uses it. Only resources tagged as ours are ever changed.

use std::collections::BTreeMap;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification,
    VpcEndpointType,
};

mod delete;
mod groups;

use super::Aws;
use crate::error::{Result, UserError};
use crate::names::{MANAGED_TAG, NETWORK_PART_TAG, PROJECT_TAG};

/// The project's network as found: every part by its `cargo-fargate:network` tag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectNetwork {
    pub vpc: String,
    pub cidr: String,
    pub vpc_tags: BTreeMap<String, String>,
    /// (availability zone, subnet ID), sorted by zone.
    pub public_subnets: Vec<(String, String)>,
    pub private_subnets: Vec<(String, String)>,
    pub gateway: Option<String>,
    pub public_routes: Option<String>,
    pub private_routes: Option<String>,
    pub tasks_group: Option<String>,
    pub endpoints_group: Option<String>,
    /// (service name, endpoint ID) of the live endpoints.
    pub endpoints: Vec<(String, String)>,
    /// The subnet associations of the project's route tables (undone before they are deleted).
    pub associations: Vec<String>,
}

fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn spec(kind: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tag_list(tags)))
        .build()
}

fn tag_map(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

/// A resource's `cargo-fargate:network` tag: which part of the network it is.
fn part(tags: &[Tag]) -> Option<String> {
    tag_map(tags).get(NETWORK_PART_TAG).cloned()
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

impl Aws {
    pub(super) fn net_error<E>(
        &self,
        e: aws_sdk_ec2::error::SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
        action: &'static str,
        what: String,
    ) -> anyhow::Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.fail(e, action, |m| {
            let fix = if m.contains("DependencyViolation") {
                "something cargo-fargate did not make still uses it: remove that, then run teardown again".to_string()
            } else {
                format!("your credentials need {action} (`cargo fargate iam policy --for deployer` lists what setup needs)")
            };
            UserError::new(format!("could not {what}: {m}")).fix(fix).into()
        })
    }

    /// The project's VPC and its parts, if `setup` made it.
    pub async fn project_network(&self, project: &str) -> Result<Option<ProjectNetwork>> {
        let ec2 = self.ec2();
        let vpcs = ec2
            .describe_vpcs()
            .filters(filter(&format!("tag:{}", MANAGED_TAG.0), MANAGED_TAG.1))
            .filters(filter(&format!("tag:{PROJECT_TAG}"), project))
            .filters(filter(&format!("tag:{NETWORK_PART_TAG}"), "vpc"))
            .send()
            .await
            .map_err(|e| self.net_error(e, "ec2:DescribeVpcs", "read the project's VPC".into()))?;
        let Some(vpc) = vpcs.vpcs().first() else {
            return Ok(None);
        };
        let id = vpc.vpc_id().unwrap_or_default().to_string();
        let mut net = ProjectNetwork {
            vpc: id,
            cidr: vpc.cidr_block().unwrap_or_default().to_string(),
            vpc_tags: tag_map(vpc.tags()),
            ..Default::default()
        };
        self.read_subnets(&mut net).await?;
        self.read_gateway(&mut net).await?;
        self.read_routes(&mut net).await?;
        self.read_groups(&mut net).await?;
        self.read_endpoints(&mut net).await?;
        Ok(Some(net))
    }

    /// The public and private subnets, sorted by zone.
    async fn read_subnets(&self, net: &mut ProjectNetwork) -> Result<()> {
        let ec2 = self.ec2();
        let subnets = ec2
            .describe_subnets()
            .filters(filter("vpc-id", &net.vpc))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:DescribeSubnets",
                    "read the project's subnets".into(),
                )
            })?;
        for s in subnets.subnets() {
            let entry = (
                s.availability_zone().unwrap_or_default().to_string(),
                s.subnet_id().unwrap_or_default().to_string(),
            );
            match part(s.tags()).as_deref() {
                Some("public") => net.public_subnets.push(entry),
                Some("private") => net.private_subnets.push(entry),
                _ => {}
            }
        }
        net.public_subnets.sort();
        net.private_subnets.sort();
        Ok(())
    }

    /// The internet gateway.
    async fn read_gateway(&self, net: &mut ProjectNetwork) -> Result<()> {
        let ec2 = self.ec2();
        let gateways = ec2
            .describe_internet_gateways()
            .filters(filter("attachment.vpc-id", &net.vpc))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:DescribeInternetGateways",
                    "read the project's internet gateway".into(),
                )
            })?;
        net.gateway = gateways
            .internet_gateways()
            .iter()
            .find(|g| part(g.tags()).as_deref() == Some("gateway"))
            .and_then(|g| g.internet_gateway_id().map(str::to_string));
        Ok(())
    }

    /// The route tables and their subnet associations.
    async fn read_routes(&self, net: &mut ProjectNetwork) -> Result<()> {
        let ec2 = self.ec2();
        let routes = ec2
            .describe_route_tables()
            .filters(filter("vpc-id", &net.vpc))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:DescribeRouteTables",
                    "read the project's route tables".into(),
                )
            })?;
        for t in routes.route_tables() {
            let rt = t.route_table_id().map(str::to_string);
            if part(t.tags()).is_some_and(|p| p.starts_with("routes-")) {
                net.associations.extend(
                    t.associations()
                        .iter()
                        .filter(|a| a.main() != Some(true))
                        .filter_map(|a| a.route_table_association_id().map(str::to_string)),
                );
            }
            match part(t.tags()).as_deref() {
                Some("routes-public") => net.public_routes = rt,
                Some("routes-private") => net.private_routes = rt,
                _ => {}
            }
        }
        Ok(())
    }

    /// The tasks' and the endpoints' security groups.
    async fn read_groups(&self, net: &mut ProjectNetwork) -> Result<()> {
        let ec2 = self.ec2();
        let groups = ec2
            .describe_security_groups()
            .filters(filter("vpc-id", &net.vpc))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:DescribeSecurityGroups",
                    "read the project's security groups".into(),
                )
            })?;
        for g in groups.security_groups() {
            let gid = g.group_id().map(str::to_string);
            match part(g.tags()).as_deref() {
                Some("tasks") => net.tasks_group = gid,
                Some("endpoints") => net.endpoints_group = gid,
                _ => {}
            }
        }
        Ok(())
    }

    /// The live VPC endpoints.
    async fn read_endpoints(&self, net: &mut ProjectNetwork) -> Result<()> {
        let ec2 = self.ec2();
        let endpoints = ec2
            .describe_vpc_endpoints()
            .filters(filter("vpc-id", &net.vpc))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:DescribeVpcEndpoints",
                    "read the project's VPC endpoints".into(),
                )
            })?;
        for e in endpoints.vpc_endpoints() {
            let state = e
                .state()
                .map(|s| s.as_str().to_ascii_lowercase())
                .unwrap_or_default();
            if part(e.tags()).as_deref() == Some("endpoint") && !state.starts_with("delet") {
                net.endpoints.push((
                    e.service_name().unwrap_or_default().to_string(),
                    e.vpc_endpoint_id().unwrap_or_default().to_string(),
                ));
            }
        }
        net.endpoints.sort();
        Ok(())
    }

    /// The region's availability zones that are up (not Local or Wavelength zones), by name.
    pub async fn availability_zones(&self) -> Result<Vec<String>> {
        let out = self
            .ec2()
            .describe_availability_zones()
            .filters(filter("state", "available"))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:DescribeAvailabilityZones",
                    "list the region's availability zones".into(),
                )
            })?;
        let mut zones: Vec<String> = out
            .availability_zones()
            .iter()
            .filter(|z| z.zone_type().is_none_or(|t| t == "availability-zone"))
            .filter_map(|z| z.zone_name().map(str::to_string))
            .collect();
        zones.sort();
        Ok(zones)
    }

    /// A VPC with DNS names on (interface endpoints answer by the services' own names).
    pub async fn create_vpc(&self, cidr: &str, tags: &BTreeMap<String, String>) -> Result<String> {
        let out = self
            .ec2()
            .create_vpc()
            .cidr_block(cidr)
            .tag_specifications(spec(ResourceType::Vpc, tags))
            .send()
            .await
            .map_err(|e| self.net_error(e, "ec2:CreateVpc", format!("create a VPC ({cidr})")))?;
        let id = out
            .vpc()
            .and_then(|v| v.vpc_id())
            .unwrap_or_default()
            .to_string();
        for hostnames in [false, true] {
            let on = AttributeBooleanValue::builder().value(true).build();
            let req = self.ec2().modify_vpc_attribute().vpc_id(&id);
            let req = if hostnames {
                req.enable_dns_hostnames(on)
            } else {
                req.enable_dns_support(on)
            };
            req.send().await.map_err(|e| {
                self.net_error(e, "ec2:ModifyVpcAttribute", format!("turn on DNS in {id}"))
            })?;
        }
        Ok(id)
    }

    pub async fn create_subnet(
        &self,
        vpc: &str,
        cidr: &str,
        zone: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let out = self
            .ec2()
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .tag_specifications(spec(ResourceType::Subnet, tags))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:CreateSubnet",
                    format!("create subnet {cidr} in {zone}"),
                )
            })?;
        Ok(out
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_string())
    }

    /// An internet gateway, attached to the VPC.
    pub async fn create_gateway(
        &self,
        vpc: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let out = self
            .ec2()
            .create_internet_gateway()
            .tag_specifications(spec(ResourceType::InternetGateway, tags))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:CreateInternetGateway",
                    "create an internet gateway".into(),
                )
            })?;
        let id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_string();
        self.ec2()
            .attach_internet_gateway()
            .internet_gateway_id(&id)
            .vpc_id(vpc)
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:AttachInternetGateway",
                    format!("attach {id} to {vpc}"),
                )
            })?;
        Ok(id)
    }

    /// A route table for `subnets`: the default route through `gateway` when given (public),
    /// none otherwise (private: the VPC's own addresses and the endpoints only).
    pub async fn create_routes(
        &self,
        vpc: &str,
        gateway: Option<&str>,
        subnets: &[String],
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let out = self
            .ec2()
            .create_route_table()
            .vpc_id(vpc)
            .tag_specifications(spec(ResourceType::RouteTable, tags))
            .send()
            .await
            .map_err(|e| {
                self.net_error(e, "ec2:CreateRouteTable", "create a route table".into())
            })?;
        let id = out
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_string();
        if let Some(gateway) = gateway {
            self.ec2()
                .create_route()
                .route_table_id(&id)
                .destination_cidr_block("0.0.0.0/0")
                .gateway_id(gateway)
                .send()
                .await
                .map_err(|e| {
                    self.net_error(
                        e,
                        "ec2:CreateRoute",
                        format!("route 0.0.0.0/0 to {gateway}"),
                    )
                })?;
        }
        for subnet in subnets {
            self.ec2()
                .associate_route_table()
                .route_table_id(&id)
                .subnet_id(subnet)
                .send()
                .await
                .map_err(|e| {
                    self.net_error(
                        e,
                        "ec2:AssociateRouteTable",
                        format!("give {subnet} its routes"),
                    )
                })?;
        }
        Ok(id)
    }

    /// A security group: no inbound rule, or HTTPS from `https_from` (the endpoints' group).
    pub async fn create_group(
        &self,
        vpc: &str,
        name: &str,
        description: &str,
        https_from: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let out = self
            .ec2()
            .create_security_group()
            .vpc_id(vpc)
            .group_name(name)
            .description(description)
            .tag_specifications(spec(ResourceType::SecurityGroup, tags))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:CreateSecurityGroup",
                    format!("create security group {name}"),
                )
            })?;
        let id = out.group_id().unwrap_or_default().to_string();
        if let Some(cidr) = https_from {
            let https = IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip(cidr)
                        .description("HTTPS from the VPC")
                        .build(),
                )
                .build();
            self.ec2()
                .authorize_security_group_ingress()
                .group_id(&id)
                .ip_permissions(https)
                .send()
                .await
                .map_err(|e| {
                    self.net_error(
                        e,
                        "ec2:AuthorizeSecurityGroupIngress",
                        format!("allow HTTPS into {name}"),
                    )
                })?;
        }
        Ok(id)
    }

    /// A VPC endpoint: a gateway endpoint on `route_tables`, or an interface endpoint in
    /// `subnets` with private DNS (the service's usual name resolves to it).
    pub async fn create_endpoint(
        &self,
        vpc: &str,
        service: &str,
        gateway: bool,
        attach: &[String],
        group: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let mut req = self
            .ec2()
            .create_vpc_endpoint()
            .vpc_id(vpc)
            .service_name(service)
            .tag_specifications(spec(ResourceType::VpcEndpoint, tags));
        req = if gateway {
            req.vpc_endpoint_type(VpcEndpointType::Gateway)
                .set_route_table_ids(Some(attach.to_vec()))
        } else {
            req.vpc_endpoint_type(VpcEndpointType::Interface)
                .set_subnet_ids(Some(attach.to_vec()))
                .set_security_group_ids(group.map(|g| vec![g.to_string()]))
                .private_dns_enabled(true)
        };
        let out = req.send().await.map_err(|e| {
            self.net_error(
                e,
                "ec2:CreateVpcEndpoint",
                format!("create the endpoint of {service}"),
            )
        })?;
        Ok(out
            .vpc_endpoint()
            .and_then(|e| e.vpc_endpoint_id())
            .unwrap_or_default()
            .to_string())
    }

    /// Sets (or, with `None`, removes) one tag of an EC2 resource.
    pub async fn tag_network(&self, id: &str, key: &str, value: Option<&str>) -> Result<()> {
        let tag = Tag::builder()
            .key(key)
            .set_value(value.map(str::to_string))
            .build();
        let done = if value.is_some() {
            self.ec2()
                .create_tags()
                .resources(id)
                .tags(tag)
                .send()
                .await
                .map(|_| ())
        } else {
            match self
                .ec2()
                .delete_tags()
                .resources(id)
                .tags(tag)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => return Err(self.net_error(e, "ec2:DeleteTags", format!("untag {id}"))),
            }
        };
        done.map_err(|e| self.net_error(e, "ec2:CreateTags", format!("tag {id}")))
    }
}
