//! The load balancer's security group in the project's VPC, and the one rule that opens the
//! tasks' group to it (and to nothing else).

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};

use super::delete::{patient, DELETE_PATIENCE};
use super::{filter, tag_map};
use crate::aws::Aws;
use crate::error::Result;

fn from_group(source: &str, port: u16) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port.into())
        .to_port(port.into())
        .user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(source)
                .description("cargo-fargate: from the stage's load balancer")
                .build(),
        )
        .build()
}

impl Aws {
    /// A security group of this name in `vpc`: (ID, tags).
    pub async fn find_group(
        &self,
        vpc: &str,
        name: &str,
    ) -> Result<Option<(String, BTreeMap<String, String>)>> {
        let out = self
            .ec2()
            .describe_security_groups()
            .filters(filter("vpc-id", vpc))
            .filters(filter("group-name", name))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:DescribeSecurityGroups",
                    format!("read security group {name}"),
                )
            })?;
        Ok(out.security_groups().first().map(|g| {
            (
                g.group_id().unwrap_or_default().to_string(),
                tag_map(g.tags()),
            )
        }))
    }

    /// Whether `group` lets `source` in on `port`.
    pub async fn allows_from(&self, group: &str, source: &str, port: u16) -> Result<bool> {
        let out = self
            .ec2()
            .describe_security_groups()
            .group_ids(group)
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:DescribeSecurityGroups",
                    format!("read security group {group}"),
                )
            })?;
        Ok(out
            .security_groups()
            .iter()
            .flat_map(|g| g.ip_permissions())
            .any(|p| {
                p.from_port() == Some(port.into())
                    && p.user_id_group_pairs()
                        .iter()
                        .any(|u| u.group_id() == Some(source))
            }))
    }

    /// The load balancer's group: `ports` open to `cidr` (the internet, or the VPC for an internal one).
    pub async fn create_open_group(
        &self,
        vpc: &str,
        name: &str,
        ports: &[u16],
        cidr: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let description = "cargo-fargate: the stage's load balancer";
        let id = self
            .create_group(vpc, name, description, None, tags)
            .await?;
        let rules = ports.iter().map(|p| {
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port((*p).into())
                .to_port((*p).into())
                .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
                .build()
        });
        self.ec2()
            .authorize_security_group_ingress()
            .group_id(&id)
            .set_ip_permissions(Some(rules.collect()))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:AuthorizeSecurityGroupIngress",
                    format!("open {name} to {cidr}"),
                )
            })?;
        Ok(id)
    }

    /// Lets `source` (the load balancer's group) into `group` (the tasks') on `port`.
    pub async fn allow_from(&self, group: &str, source: &str, port: u16) -> Result<()> {
        self.ec2()
            .authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(from_group(source, port))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:AuthorizeSecurityGroupIngress",
                    format!("let {source} into {group}"),
                )
            })?;
        Ok(())
    }

    /// Takes the rule back (before the load balancer's group is deleted).
    pub async fn revoke_from(&self, group: &str, source: &str, port: u16) -> Result<()> {
        self.ec2()
            .revoke_security_group_ingress()
            .group_id(group)
            .ip_permissions(from_group(source, port))
            .send()
            .await
            .map_err(|e| {
                self.net_error(
                    e,
                    "ec2:RevokeSecurityGroupIngress",
                    format!("close {group} to {source}"),
                )
            })?;
        Ok(())
    }

    /// Deletes a group, waiting out the load balancer's interfaces letting go of it.
    pub async fn delete_group(&self, group: &str) -> Result<()> {
        self.delete_group_by(group, Instant::now() + DELETE_PATIENCE)
            .await
    }

    /// Deletes a group, retrying while interfaces still use it until `deadline`.
    pub(super) async fn delete_group_by(&self, group: &str, deadline: Instant) -> Result<()> {
        let ec2 = self.ec2();
        patient(
            deadline,
            || async {
                ec2.delete_security_group()
                    .group_id(group)
                    .send()
                    .await
                    .map(|_| ())
            },
            |e| {
                self.net_error(
                    e,
                    "ec2:DeleteSecurityGroup",
                    format!("delete security group {group}"),
                )
            },
        )
        .await
    }
}
