//! The project's network on the bench, in a fresh moto account that has only its default VPC
//! (what every new AWS account has): `setup` makes the project's VPC, `deploy` runs
//! examples/hello in it (never the default one), a second `setup` changes nothing, stages share
//! it, `network = "private"` adds private subnets and endpoints, and `teardown` of the last stage
//! removes it all while a VPC of the user's stays. Checked through awscli.

mod common;

use std::path::Path;
use std::process::Output;

use common::*;
use serde_json::Value;

/// Credentials of a new moto account (moto's AssumeRole into another account's ARN switches
/// accounts): its EC2 has the default VPC and nothing else.
struct Account {
    id: String,
    env: Vec<(String, String)>,
}

fn fresh_account() -> Account {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let id = format!("{:012}", 200_000_000_000u128 + nanos % 700_000_000_000);
    let creds = aws(&[
        "sts",
        "assume-role",
        "--role-arn",
        &format!("arn:aws:iam::{id}:role/admin"),
        "--role-session-name",
        "network-test",
    ])["Credentials"]
        .clone();
    let s = |k: &str| creds[k].as_str().unwrap().to_string();
    Account {
        id,
        env: vec![
            ("AWS_ACCESS_KEY_ID".into(), s("AccessKeyId")),
            ("AWS_SECRET_ACCESS_KEY".into(), s("SecretAccessKey")),
            ("AWS_SESSION_TOKEN".into(), s("SessionToken")),
        ],
    }
}

/// The bench's own account: the registry takes only its ECR login, so deploys run here.
fn bench_account() -> Account {
    Account {
        id: "123456789012".into(),
        env: Vec::new(),
    }
}

impl Account {
    fn aws(&self, args: &[&str]) -> Value {
        let bin = std::path::PathBuf::from(env_var("BENCH_VENV")).join("bin/aws");
        let o = std::process::Command::new(bin)
            .args(args)
            .args(["--output", "json"])
            .envs(bench())
            .envs(self.env.iter().cloned())
            .output()
            .unwrap();
        assert!(o.status.success(), "aws {args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
    }

    /// `cargo fargate <args>` for `name`'s `stage` in this account, no `subnets` configured.
    fn cf(
        &self,
        dir: &Path,
        name: &str,
        stage: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Output {
        let all = [args, &["--stage", stage, "--message-format", "json"]].concat();
        let mut cmd = bench_command(dir, &format!("{name}-{stage}"), &all);
        cmd.env("CARGO_FARGATE_NAME", name)
            .env_remove("CARGO_FARGATE_REPOSITORY")
            .env_remove("CARGO_FARGATE_SUBNETS")
            .envs(self.env.iter().cloned())
            .envs(env.iter().copied());
        cmd.output().unwrap()
    }

    /// The IDs under `key`/`id` that `describe` finds with the project's tag.
    fn ours(&self, describe: &str, key: &str, id: &str, project: &str) -> Vec<String> {
        let filter = format!("Name=tag:cargo-fargate:project,Values={project}");
        self.aws(&["ec2", describe, "--filters", &filter])[key]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["State"].as_str().is_none_or(|s| !s.starts_with("delet")))
            .map(|v| v[id].as_str().unwrap().to_string())
            .collect()
    }

    fn default_vpc(&self) -> String {
        default_vpc_in(|args| self.aws(args))
    }
}

fn actions(plan: &Value) -> Vec<(String, String)> {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["resource"].as_str().unwrap().into(),
                s["action"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn a_fresh_account_gets_the_projects_network_and_teardown_of_the_last_stage_removes_it() {
    let acct = fresh_account();
    let name = unique("net");
    let dir = stage_fixture();
    let default_vpc = acct.default_vpc();
    // A VPC of the user's own, which nothing may touch.
    let users = acct.aws(&["ec2", "create-vpc", "--cidr-block", "10.9.0.0/16"])["Vpc"]["VpcId"]
        .as_str()
        .unwrap()
        .to_string();

    // Before setup, deploy says what to run.
    let e = one_line_error(
        &acct.cf(dir.path(), &name, "dev", &[], &["deploy", "--dry-run"]),
        "subnets",
    );
    assert!(e.contains("cargo fargate setup"), "{e}");

    let plan = json_result(&acct.cf(dir.path(), &name, "dev", &[], &["setup", "--dry-run"]));
    assert_eq!(
        actions(&plan)[0],
        ("network".into(), "create".into()),
        "{plan}"
    );
    let cost = plan["steps"][0]["cost"].as_str().unwrap();
    assert!(cost.contains("$3.65/month per running task"), "{cost}");
    assert!(
        acct.ours("describe-vpcs", "Vpcs", "VpcId", &name)
            .is_empty(),
        "the dry run made a VPC"
    );

    let first = json_result(&acct.cf(dir.path(), &name, "dev", &[], &["setup"]));
    assert_eq!(first["steps"][0]["action"], "create", "{first}");
    let vpcs = acct.ours("describe-vpcs", "Vpcs", "VpcId", &name);
    assert_eq!(vpcs.len(), 1, "{vpcs:?}");
    let vpc = vpcs[0].clone();
    assert_ne!(vpc, default_vpc);
    let subnets = acct.aws(&[
        "ec2",
        "describe-subnets",
        "--filters",
        &format!("Name=vpc-id,Values={vpc}"),
    ]);
    let zones: std::collections::BTreeSet<&str> = subnets["Subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["AvailabilityZone"].as_str().unwrap())
        .collect();
    assert_eq!(zones.len(), 2, "{subnets}");
    assert_eq!(
        acct.ours(
            "describe-internet-gateways",
            "InternetGateways",
            "InternetGatewayId",
            &name
        )
        .len(),
        1
    );
    let groups = acct.aws(&[
        "ec2",
        "describe-security-groups",
        "--filters",
        "Name=tag:cargo-fargate:network,Values=tasks",
        &format!("Name=vpc-id,Values={vpc}"),
    ]);
    assert_eq!(
        groups["SecurityGroups"][0]["IpPermissions"],
        serde_json::json!([]),
        "{groups}"
    );
    assert!(acct
        .ours(
            "describe-vpc-endpoints",
            "VpcEndpoints",
            "VpcEndpointId",
            &name
        )
        .is_empty());

    // Idempotent.
    let second = json_result(&acct.cf(dir.path(), &name, "dev", &[], &["setup"]));
    assert_eq!(second["changed"], 0, "{second}");

    // A second stage shares it; its teardown keeps it for the first.
    let prod = json_result(&acct.cf(dir.path(), &name, "prod", &[], &["setup"]));
    assert_eq!(prod["steps"][0]["action"], "update", "{prod}");
    assert_eq!(
        acct.ours("describe-vpcs", "Vpcs", "VpcId", &name),
        std::slice::from_ref(&vpc)
    );
    let down = json_result(&acct.cf(
        dir.path(),
        &name,
        "prod",
        &[],
        &["teardown", "--yes", "--force"],
    ));
    let kept = down["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["resource"] == "network")
        .unwrap();
    assert_eq!(kept["action"], "keep", "{down}");
    assert!(kept["note"].as_str().unwrap().contains("dev"), "{down}");
    assert_eq!(
        acct.ours("describe-vpcs", "Vpcs", "VpcId", &name),
        std::slice::from_ref(&vpc)
    );

    // The last stage's teardown removes every part, and nothing of the user's.
    let down = json_result(&acct.cf(
        dir.path(),
        &name,
        "dev",
        &[],
        &["teardown", "--yes", "--force"],
    ));
    assert!(
        down["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["resource"] == "network" && i["action"] == "remove"),
        "{down}"
    );
    for (describe, key, id) in [
        ("describe-vpcs", "Vpcs", "VpcId"),
        ("describe-subnets", "Subnets", "SubnetId"),
        (
            "describe-internet-gateways",
            "InternetGateways",
            "InternetGatewayId",
        ),
        ("describe-route-tables", "RouteTables", "RouteTableId"),
        ("describe-security-groups", "SecurityGroups", "GroupId"),
    ] {
        assert_eq!(
            acct.ours(describe, key, id, &name),
            Vec::<String>::new(),
            "{describe}"
        );
    }
    let left = acct.aws(&["ec2", "describe-vpcs"]);
    let left: Vec<&str> = left["Vpcs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["VpcId"].as_str().unwrap())
        .collect();
    assert!(
        left.contains(&users.as_str()) && left.contains(&default_vpc.as_str()),
        "{left:?}"
    );
    let _ = acct.id;
}

#[test]
fn the_task_runs_in_the_projects_vpc_with_a_public_ip() {
    let acct = bench_account();
    let name = unique("dnet");
    let dir = stage_fixture();
    json_result(&acct.cf(dir.path(), &name, "dev", &[], &["setup"]));
    let vpc = acct.ours("describe-vpcs", "Vpcs", "VpcId", &name);
    assert_eq!(vpc.len(), 1, "{vpc:?}");

    let plan = json_result(&acct.cf(dir.path(), &name, "dev", &[], &["deploy", "--dry-run"]));
    let run = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "run")
        .unwrap();
    assert!(run["action"].as_str().unwrap().contains(&vpc[0]), "{plan}");
    assert!(
        run["action"].as_str().unwrap().contains("$0.005/hour"),
        "{plan}"
    );

    let deployed = acct.cf(dir.path(), &name, "dev", &[], &["deploy"]);
    let result = json_result(&deployed);
    assert_eq!(result["exit_code"], 0, "{result}");
    assert_eq!(result["run"]["network"]["vpc"], vpc[0].as_str(), "{result}");
    assert_eq!(result["run"]["network"]["assign_public_ip"], true);
    assert!(stdout(&deployed).contains("Hello"), "{}", stdout(&deployed));

    // doctor asks the same question as deploy, and agrees.
    let doctor = json_result(&acct.cf(dir.path(), &name, "dev", &[], &["doctor"]));
    let subnets = doctor["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "subnets")
        .unwrap();
    assert_eq!(subnets["status"], "ok", "{doctor}");
    assert!(
        subnets["message"].as_str().unwrap().contains(&vpc[0]),
        "{doctor}"
    );

    json_result(&acct.cf(
        dir.path(),
        &name,
        "dev",
        &[],
        &["teardown", "--yes", "--force"],
    ));
    assert!(acct
        .ours("describe-vpcs", "Vpcs", "VpcId", &name)
        .is_empty());
}

#[test]
fn a_private_network_has_endpoints_and_no_public_ip() {
    let acct = bench_account();
    let name = unique("pnet");
    let dir = stage_fixture();
    let private = [("CARGO_FARGATE_NETWORK", "private")];

    let plan = json_result(&acct.cf(dir.path(), &name, "dev", &private, &["setup", "--dry-run"]));
    let cost = plan["steps"][0]["cost"].as_str().unwrap();
    assert!(
        cost.contains("$73.00/month") && cost.contains("no public IPv4"),
        "{cost}"
    );
    json_result(&acct.cf(dir.path(), &name, "dev", &private, &["setup"]));
    let endpoints = acct.aws(&[
        "ec2",
        "describe-vpc-endpoints",
        "--filters",
        &format!("Name=tag:cargo-fargate:project,Values={name}"),
    ]);
    let mut services: Vec<&str> = endpoints["VpcEndpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["ServiceName"]
                .as_str()
                .unwrap()
                .rsplit('.')
                .next()
                .unwrap()
        })
        .collect();
    services.sort();
    assert_eq!(
        services,
        ["api", "dkr", "logs", "s3", "secretsmanager", "ssm"],
        "{endpoints}"
    );
    assert_eq!(
        json_result(&acct.cf(dir.path(), &name, "dev", &private, &["setup"]))["changed"],
        0
    );

    let result = json_result(&acct.cf(dir.path(), &name, "dev", &private, &["deploy"]));
    assert_eq!(result["exit_code"], 0, "{result}");
    assert_eq!(
        result["run"]["network"]["assign_public_ip"], false,
        "{result}"
    );
    let subnet = result["run"]["network"]["subnets"][0]
        .as_str()
        .unwrap()
        .to_string();
    let tier = acct.aws(&["ec2", "describe-subnets", "--subnet-ids", &subnet]);
    let tags = tags_of(&tier["Subnets"][0]["Tags"], "Key", "Value");
    assert_eq!(
        tags.get("cargo-fargate:network").map(String::as_str),
        Some("private")
    );

    json_result(&acct.cf(
        dir.path(),
        &name,
        "dev",
        &private,
        &["teardown", "--yes", "--force"],
    ));
    assert!(acct
        .ours(
            "describe-vpc-endpoints",
            "VpcEndpoints",
            "VpcEndpointId",
            &name
        )
        .is_empty());
    assert!(acct
        .ours("describe-vpcs", "Vpcs", "VpcId", &name)
        .is_empty());
}

#[test]
fn configured_subnets_win_over_the_projects_network() {
    let name = unique("cnet");
    let dir = stage_fixture();
    let plan = json_result(&cfg(dir.path(), &name, "dev", &["setup", "--dry-run"]));
    assert!(actions(&plan).iter().all(|(r, _)| r != "network"), "{plan}");
}

#[test]
fn a_range_or_zone_count_that_does_not_fit_is_one_line_and_nothing_is_made() {
    let acct = bench_account();
    let name = unique("bnet");
    let dir = stage_fixture();
    for (env, needle) in [
        (
            ("CARGO_FARGATE_NETWORK_CIDR", "10.0.0.0/8"),
            "is not an IPv4 CIDR from /16 to /24",
        ),
        (
            ("CARGO_FARGATE_NETWORK_CIDR", "10.0.0.1/16"),
            "has host bits set: its network is 10.0.0.0/16",
        ),
        (
            ("CARGO_FARGATE_ZONES", "9"),
            "9 zones: the project's network spans 2 to 4",
        ),
        (
            ("CARGO_FARGATE_ZONES", "4"),
            "availability zone(s) up; the project's network spans 4",
        ),
    ] {
        let o = acct.cf(
            dir.path(),
            &name,
            "dev",
            &[env],
            &["setup", "--region", "ap-southeast-3"],
        );
        let e = one_line_error(&o, needle);
        let key = if env.0.ends_with("ZONES") {
            "zones"
        } else {
            "network-cidr"
        };
        assert!(e.contains(key), "{e}");
    }
    assert!(acct
        .ours("describe-vpcs", "Vpcs", "VpcId", &name)
        .is_empty());
    // Another range: its subnets are sixteenths of it.
    let r = json_result(&acct.cf(
        dir.path(),
        &name,
        "dev",
        &[("CARGO_FARGATE_NETWORK_CIDR", "10.20.0.0/22")],
        &["setup", "--dry-run"],
    ));
    assert_eq!(r["steps"][0]["action"], "create", "{r}");
}
