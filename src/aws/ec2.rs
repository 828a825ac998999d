//! EC2, read-only: subnets, VPCs and security groups, to resolve and check a task's network.

use aws_sdk_ec2::types::Filter;

use super::Aws;
use crate::error::{Result, UserError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub vpc_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    pub id: String,
    pub vpc_id: String,
}

fn read_error(what: &str, detail: String) -> anyhow::Error {
    UserError::new(format!("could not read {what}: {detail}"))
        .fix("your credentials need ec2:DescribeSubnets, ec2:DescribeVpcs and ec2:DescribeSecurityGroups")
        .into()
}

impl Aws {
    /// The given subnets (every one must exist), or all of the region's when `ids` is empty.
    pub async fn subnets(&self, ids: &[String]) -> Result<Vec<Subnet>> {
        let mut pages = self
            .ec2()
            .describe_subnets()
            .set_subnet_ids((!ids.is_empty()).then(|| ids.to_vec()))
            .into_paginator()
            .send();
        let mut subnets = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.fail(e, "ec2:DescribeSubnets", |detail| -> anyhow::Error {
                    if detail.contains("NotFound") {
                        UserError::new(format!(
                            "a configured subnet does not exist in this region ({detail})"
                        ))
                        .key("subnets")
                        .fix("use subnet IDs of this account and region (aws ec2 describe-subnets)")
                        .into()
                    } else {
                        read_error("subnets", detail)
                    }
                })
            })?;
            subnets.extend(page.subnets().iter().map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                vpc_id: s.vpc_id().unwrap_or_default().to_string(),
            }));
        }
        Ok(subnets)
    }

    /// The IDs of the region's default VPCs (at most one).
    pub async fn default_vpcs(&self) -> Result<Vec<String>> {
        let out = self
            .ec2()
            .describe_vpcs()
            .filters(Filter::builder().name("is-default").values("true").build())
            .send()
            .await
            .map_err(|e| self.fail(e, "ec2:DescribeVpcs", |m| read_error("VPCs", m)))?;
        Ok(out
            .vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect())
    }

    /// The given security groups (every one must exist).
    pub async fn security_groups(&self, ids: &[String]) -> Result<Vec<SecurityGroup>> {
        let out = self
            .ec2()
            .describe_security_groups()
            .set_group_ids(Some(ids.to_vec()))
            .send()
            .await
            .map_err(|e| self.fail(e, "ec2:DescribeSecurityGroups", |detail| -> anyhow::Error {
                if detail.contains("NotFound") {
                    UserError::new(format!("a configured security group does not exist in this region ({detail})"))
                        .key("security-groups")
                        .fix("use security group IDs of this account and region (aws ec2 describe-security-groups)")
                        .into()
                } else {
                    read_error("security groups", detail)
                }
            }))?;
        Ok(groups(out.security_groups()))
    }

    /// The `default` security group of a VPC.
    pub async fn default_security_group(&self, vpc_id: &str) -> Result<Option<String>> {
        let out = self
            .ec2()
            .describe_security_groups()
            .filters(Filter::builder().name("vpc-id").values(vpc_id).build())
            .filters(
                Filter::builder()
                    .name("group-name")
                    .values("default")
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ec2:DescribeSecurityGroups", |m| {
                    read_error("security groups", m)
                })
            })?;
        Ok(groups(out.security_groups())
            .into_iter()
            .next()
            .map(|g| g.id))
    }
}

fn groups(found: &[aws_sdk_ec2::types::SecurityGroup]) -> Vec<SecurityGroup> {
    found
        .iter()
        .map(|g| SecurityGroup {
            id: g.group_id().unwrap_or_default().to_string(),
            vpc_id: g.vpc_id().unwrap_or_default().to_string(),
        })
        .collect()
}
