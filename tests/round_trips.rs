//! What a deploy of an unchanged project asks AWS, counted by the bench's request recorder
//! (scripts/bench/agent/record.py): only what its plan needs, each read once, no permission
//! simulation when the run is its one change (never retried either: tests/faults.rs). A round
//! trip added to the no-op deploy fails here; on AWS each costs 30–150 ms (BENCHMARKS.md, Latency).

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The records of `key` from index `from` on.
fn records_since(key: &str, from: usize) -> Vec<Value> {
    recorder(&format!("/_bench/record?key={key}"), None)
        .as_array()
        .unwrap()[from..]
        .to_vec()
}

#[test]
fn a_no_op_deploy_asks_each_read_once_and_changes_nothing_but_the_run() {
    let stage = Stage::new("noop", "hello", "docker", &[]);
    ok(&stage.run(&["deploy", "--detach"]));
    let before = records_since(&stage.key, 0).len();

    let r = stage.json(&["deploy", "--detach"]);
    assert_eq!(r["up_to_date"], true, "{r}");
    assert_eq!(r["task_definition"]["registered"], false, "{r}");
    let records = records_since(&stage.key, before);
    let listing: Vec<String> = records
        .iter()
        .map(|r| format!("{} {}", r["action"], r["resource"]))
        .collect();

    // No request asked twice (same action, resource and context), but the simulation's, which is
    // one request per resource it checks, each recorded against the principal.
    let mut asked: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        *asked
            .entry(format!(
                "{} {} {}",
                r["action"], r["resource"], r["context"]
            ))
            .or_default() += 1;
    }
    for (what, n) in &asked {
        if !what.contains("iam:SimulatePrincipalPolicy") {
            assert_eq!(*n, 1, "{what} asked {n} times:\n{listing:#?}");
        }
    }
    // Its one change is the run, which cannot be left half-done: nothing to simulate first (the
    // dry run simulates it; tests/faults.rs: a denial stops a deploy that would create things).
    let simulations = records
        .iter()
        .filter(|r| r["action"] == "iam:SimulatePrincipalPolicy")
        .count();
    assert_eq!(simulations, 0, "{listing:#?}");

    // Nothing is written but the run.
    let actions: BTreeSet<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for write in [
        "ecr:CreateRepository",
        "ecr:PutLifecyclePolicy",
        "ecr:PutImage",
        "ecr:InitiateLayerUpload",
        "ecs:RegisterTaskDefinition",
        "ecs:CreateCluster",
        "iam:CreateRole",
        "iam:PutRolePolicy",
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
    ] {
        assert!(!actions.contains(write), "{write}:\n{listing:#?}");
    }
    assert!(actions.contains("ecs:RunTask"), "{listing:#?}");
    // The plan's needs, counted today: grows only with a reason (update the figure and say why).
    assert!(
        records.len() <= MAX_NO_OP_REQUESTS,
        "{} requests (at most {MAX_NO_OP_REQUESTS}):\n{listing:#?}",
        records.len()
    );
}

/// Measured: identity; the registry login; cluster; subnets, VPC and security groups; repository
/// and its lifecycle policy; the log group; the latest task definition; the two roles with their
/// attached and inline policies (7); RunTask (+ the ecs:TagResource it is authorized as). No
/// revision registered, so none pruned. 19 records, 18 requests.
const MAX_NO_OP_REQUESTS: usize = 19;
