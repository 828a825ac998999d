//! Copilot environments (`copilot/environments/<env>/manifest.yml`): each becomes a stage; the VPC
//! an environment imports gives the stage's subnets.

use serde_json::json;

use super::report::Report;
use super::workload::Keys;
use super::yaml::{File, Node};

/// The subnets of an environment's imported VPC (empty when Copilot made the VPC).
#[derive(Debug, Default)]
pub struct Network {
    pub public: Vec<String>,
    pub private: Vec<String>,
    /// `file:line` of the environment's `network`, for the notes.
    pub at: String,
    pub imported: bool,
}

/// One environment: its name and network.
pub struct Environment {
    pub name: String,
    pub network: Network,
}

/// Reads an environment manifest; every field it cannot carry is reported.
pub fn read(name: &str, file: &File, report: &mut Report) -> Environment {
    let mut network = Network {
        at: file.at(file.root.line),
        ..Network::default()
    };
    for (field, line, node) in file.root.entries() {
        let at = file.at(*line);
        match field.as_str() {
            "name" | "type" => {}
            "network" => vpc(file, node, &mut network, report),
            "http" => report.skip(at, "http", "the environment's load balancers (certificates, ingress)", "a kind = \"web\" stage gets an AWS-managed HTTPS load balancer; others: `target-group-arn`"),
            "cdn" => report.skip(at, "cdn", "a CloudFront distribution", "put CloudFront in front of the URL with your infrastructure code"),
            "observability" => report.skip(at, "observability", "Container Insights", "turn it on for the cluster: `aws ecs update-cluster-settings`"),
            _ => report.skip(at, field, "an environment setting this import does not know", "set the matching key by hand"),
        }
    }
    if !network.imported {
        report.skip(
            network.at.clone(),
            "network",
            "a VPC Copilot creates for the environment",
            "give the stage the subnets of an existing VPC: `subnets` (and `security-groups`)",
        );
    }
    Environment {
        name: name.to_string(),
        network,
    }
}

fn vpc(file: &File, node: &Node, net: &mut Network, report: &mut Report) {
    for (field, line, v) in node.entries() {
        let at = file.at(*line);
        if field != "vpc" {
            report.skip(
                at,
                &format!("network.{field}"),
                "a network setting this import does not know",
                "set `subnets`",
            );
            continue;
        }
        net.at = at.clone();
        for (sub, line, sv) in v.entries() {
            let at = file.at(*line);
            match sub.as_str() {
                "id" => net.imported = true,
                "subnets" => {
                    for (side, line, list) in sv.entries() {
                        let ids: Vec<String> = match &list.value {
                            super::yaml::Data::Seq(items) => items
                                .iter()
                                .filter_map(|i| i.get("id")?.as_str().map(String::from))
                                .collect(),
                            _ => Vec::new(),
                        };
                        match side.as_str() {
                            "public" if !ids.is_empty() => net.public = ids,
                            "private" if !ids.is_empty() => net.private = ids,
                            _ => report.skip(file.at(*line), &format!("network.vpc.subnets.{side}"), "subnets Copilot creates (CIDR blocks, no IDs)", "create them with your infrastructure code and set `subnets` to their IDs"),
                        }
                    }
                }
                _ => report.skip(
                    at,
                    &format!("network.vpc.{sub}"),
                    "a VPC setting Copilot creates the VPC with",
                    "cargo-fargate uses an existing VPC: set `subnets` to its subnet IDs",
                ),
            }
        }
    }
}

impl Network {
    /// Sets `subnets` (and `assign-public-ip` for public placement) from the imported VPC.
    pub fn apply(
        &self,
        keys: &mut Keys,
        placement: &str,
        explicit: Option<Vec<String>>,
        report: &mut Report,
    ) {
        if let Some(subnets) = explicit {
            keys.insert("subnets".into(), json!(subnets));
            return;
        }
        let ids = if placement == "private" {
            &self.private
        } else {
            &self.public
        };
        if ids.is_empty() {
            if self.imported {
                report.skip(
                    self.at.clone(),
                    "network.vpc.subnets",
                    format!("the environment has no {placement} subnets"),
                    "set `subnets`",
                );
            }
            return;
        }
        keys.insert("subnets".into(), json!(ids));
        if placement == "public" {
            keys.insert("assign-public-ip".into(), json!(true));
        }
    }
}
