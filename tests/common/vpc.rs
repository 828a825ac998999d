//! The tests' VPC helpers, in one place: the tests' own VPC, and the account's default VPC (found
//! by EC2's `is-default` filter) with one of its subnets.

use serde_json::Value;

use super::{aws, aws_try, unique};

/// A VPC of the tests' own with DNS hostnames on (moto's RunTask needs them), one subnet, one
/// security group: the "account's own VPC" a run is pointed at.
pub struct Net {
    pub vpc: String,
    pub subnet: String,
    pub sg: String,
}

pub fn net() -> &'static Net {
    static NET: std::sync::OnceLock<Net> = std::sync::OnceLock::new();
    NET.get_or_init(|| {
        let vpc = aws(&["ec2", "create-vpc", "--cidr-block", "10.77.0.0/16"])["Vpc"]["VpcId"]
            .as_str()
            .unwrap()
            .to_string();
        aws_try(&[
            "ec2",
            "modify-vpc-attribute",
            "--vpc-id",
            &vpc,
            "--enable-dns-hostnames",
            "{\"Value\":true}",
        ]);
        let subnet = aws(&[
            "ec2",
            "create-subnet",
            "--vpc-id",
            &vpc,
            "--cidr-block",
            "10.77.1.0/24",
        ])["Subnet"]["SubnetId"]
            .as_str()
            .unwrap()
            .to_string();
        let sg = aws(&[
            "ec2",
            "create-security-group",
            "--group-name",
            &unique("cf-test-"),
            "--description",
            "cargo-fargate tests",
            "--vpc-id",
            &vpc,
        ])["GroupId"]
            .as_str()
            .unwrap()
            .to_string();
        Net { vpc, subnet, sg }
    })
}

/// The default VPC's ID, asked through `aws` (the bench's account, or another one's).
pub fn default_vpc_in(aws: impl Fn(&[&str]) -> Value) -> String {
    let vpcs = aws(&[
        "ec2",
        "describe-vpcs",
        "--filters",
        "Name=is-default,Values=true",
    ]);
    vpcs["Vpcs"][0]["VpcId"]
        .as_str()
        .expect("moto's default VPC")
        .to_string()
}

/// A subnet of the default VPC: what a run must refuse unless `--allow-default-vpc`.
pub fn default_vpc_subnet() -> String {
    let vpc = default_vpc_in(aws);
    aws(&[
        "ec2",
        "describe-subnets",
        "--filters",
        &format!("Name=vpc-id,Values={vpc}"),
    ])["Subnets"][0]["SubnetId"]
        .as_str()
        .expect("a subnet in the default VPC")
        .to_string()
}
