//! One workload manifest (with one environment's overrides laid on it) → the configuration keys
//! of its stage. Every top-level field is matched here: carried, or reported with its line.

use std::collections::BTreeMap;

use serde_json::{json, Value as J};

use super::environment::Network;
use super::report::Report;
use super::schedule::{self, Converted};
use super::yaml::{Data, File, Node};

/// Configuration keys of a stage, as JSON values (compared across environments, then written).
pub type Keys = BTreeMap<String, J>;

/// The kind of stage a Copilot workload type becomes, and why; `None` for a type with none.
pub fn kind_of(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "Load Balanced Web Service" => (
            "web",
            "kind = \"web\": ECS Express Mode, an HTTPS URL on an AWS-managed load balancer",
        ),
        "Request-Driven Web Service" => (
            "web",
            "kind = \"web\": ECS Express Mode (an HTTPS URL) instead of App Runner",
        ),
        "Backend Service" => (
            "service",
            "kind = \"service\": an ECS service with no load balancer",
        ),
        "Worker Service" => (
            "service",
            "kind = \"service\": an ECS service (its queue subscription is not carried)",
        ),
        "Scheduled Job" => (
            "task",
            "kind = \"task\" with `schedule`: EventBridge Scheduler runs the task",
        ),
        _ => return None,
    })
}

/// What opens a `${VAR}`, as an escape (0x7b is the opening brace) so that a reader counting
/// braces finds this file's functions their true length.
const INTERPOLATION: &str = "$\x7b";
/// A `${VAR}` left after the Copilot names are filled in.
const DEPLOY_TIME: &str = "a `${VAR}` Copilot fills in from the deploying shell's environment";

/// What the mapping needs besides the manifest.
pub struct Context<'a> {
    pub file: &'a File,
    pub kind: &'static str,
    /// The environment's imported VPC, when the stage is an environment's.
    pub network: Option<&'a Network>,
}

/// Maps the fields of `root` (the workload, overrides applied) to keys.
pub fn map(cx: &Context, root: &Node, report: &mut Report) -> Keys {
    let mut keys = Keys::new();
    keys.insert("kind".into(), json!(cx.kind));
    let mut placement = ("public".to_string(), None);
    for (field, line, node) in root.entries() {
        let at = cx.file.at(*line);
        match field.as_str() {
            "name" | "type" | "environments" => {}
            "cpu" | "memory" => int(&mut keys, field, node, &at, field, report),
            "exec" => match node.as_bool() {
                Some(b) => {
                    keys.insert("exec".into(), json!(b));
                }
                None => report.skip(at, field, "ECS Exec settings beyond on/off", "set `exec = true`; the managed task role gets the SSM messages permissions"),
            },
            "platform" => platform(&mut keys, node, &at, report),
            "count" => count(cx, &mut keys, node, report),
            "variables" => variables(cx, &mut keys, node, report),
            "secrets" => secrets(cx, &mut keys, node, report),
            "entrypoint" | "command" => argv(&mut keys, field, node, &at, report),
            "image" => image(cx, &mut keys, node, report),
            "http" => http(cx, &mut keys, node, report),
            "network" => placement = network(cx, &mut keys, node, report),
            "deployment" => deployment(cx, &mut keys, node, report),
            "on" => on(cx, &mut keys, node, report),
            "retries" => report.skip(at, field, "the job's retries on failure", "cargo-fargate runs a scheduled job once per trigger; retry inside the binary, or re-run with `cargo fargate run`"),
            "timeout" => report.skip(at, field, "the job's time limit", "stop the work inside the binary after that long (a scheduled task runs until it exits)"),
            "storage" => report.skip(at, field, "volumes and EFS mounts", "write a task template with the volumes and set `task-template`"),
            "logging" => report.skip(at, field, "a FireLens log router sidecar", "logs go to CloudWatch Logs (`log-group`); keep FireLens in a `task-template`"),
            "sidecars" => report.skip(at, field, "sidecar containers", "write a task template with the extra containers and set `task-template`"),
            "publish" => report.skip(at, field, "SNS topics the workload publishes to", "create the topics with your infrastructure code and pass their ARNs in `environment`"),
            "subscribe" => report.skip(at, field, "an SQS queue subscribed to SNS topics", "create the queue with your infrastructure code, pass its URL in `environment` and grant it with `task-role-policy-files`"),
            "taskdef_overrides" => report.skip(at, field, "raw task definition overrides", "write them into a task template and set `task-template`"),
            "observability" => report.skip(at, field, "X-Ray tracing", "add the X-Ray daemon as a sidecar in a `task-template`"),
            "nlb" => report.skip(at, field, "a Network Load Balancer", "create the NLB and target group yourself, then `kind = \"service\"` with `target-group-arn`"),
            _ => report.skip(at, field, "a field this import does not know", "set the matching key by hand (`cargo fargate config` lists them)"),
        }
    }
    if let Some(net) = cx.network {
        net.apply(&mut keys, &placement.0, placement.1, report);
    }
    keys
}

fn int(keys: &mut Keys, key: &str, node: &Node, at: &str, field: &str, report: &mut Report) {
    match node.as_int() {
        Some(v) => {
            keys.insert(key.into(), json!(v));
        }
        None => report.skip(
            at.into(),
            field,
            "not a whole number",
            format!("set `{key}` by hand"),
        ),
    }
}

fn platform(keys: &mut Keys, node: &Node, at: &str, report: &mut Report) {
    let (os, arch) = match (
        node.as_str(),
        node.get("osfamily"),
        node.get("architecture"),
    ) {
        (Some(s), _, _) => s.split_once('/').unwrap_or((s, "")),
        (None, Some(o), Some(a)) => (o.as_str().unwrap_or(""), a.as_str().unwrap_or("")),
        _ => ("", ""),
    };
    let arch = match (os.to_ascii_lowercase().as_str(), arch) {
        ("linux", "arm64" | "arm") => "arm64",
        ("linux", "x86_64" | "amd64") => "x86_64",
        _ => {
            return report.skip(
                at.into(),
                "platform",
                "a platform other than linux/x86_64 or linux/arm64",
                "cargo-fargate runs Linux tasks; set `architecture`",
            );
        }
    };
    keys.insert("architecture".into(), json!(arch));
}

fn count(cx: &Context, keys: &mut Keys, node: &Node, report: &mut Report) {
    if let Some(n) = node.as_int() {
        keys.insert("desired-count".into(), json!(n));
        return;
    }
    for (field, line, v) in node.entries() {
        let at = cx.file.at(*line);
        let dotted = format!("count.{field}");
        match field.as_str() {
            "range" => {
                let bounds = match (v.as_str(), v.get("min"), v.get("max")) {
                    (Some(r), _, _) => r.split_once('-').and_then(|(a, b)| {
                        Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?))
                    }),
                    (None, Some(a), Some(b)) => a.as_int().zip(b.as_int()),
                    _ => None,
                };
                let Some((min, max)) = bounds else {
                    report.skip(
                        at,
                        &dotted,
                        "not a `MIN-MAX` range",
                        "set `desired-count` (and `max-count` for kind = \"web\")",
                    );
                    continue;
                };
                keys.insert("desired-count".into(), json!(min));
                if cx.kind == "web" {
                    keys.insert("max-count".into(), json!(max));
                } else {
                    report.skip(at.clone(), &dotted, format!("scaling between {min} and {max} tasks"), "cargo-fargate keeps `desired-count`; register an Application Auto Scaling target on the service for the range");
                }
                if v.get("spot_from").is_some() {
                    report.skip(
                        at,
                        "count.range.spot_from",
                        "Fargate Spot above a task count",
                        "cargo-fargate runs on Fargate (on-demand); no equivalent",
                    );
                }
            }
            "cpu_percentage" | "memory_percentage" | "requests" | "response_time"
            | "queue_delay" | "cooldown" => {
                let instead = if cx.kind == "web" {
                    "Express Mode scales on CPU with its own target; tune it on the Express service if needed"
                } else {
                    "add an Application Auto Scaling target-tracking policy on the service"
                };
                report.skip(at, &dotted, "an autoscaling target", instead);
            }
            "spot" => report.skip(
                at,
                &dotted,
                "tasks on Fargate Spot",
                "cargo-fargate runs on Fargate (on-demand); no equivalent",
            ),
            _ => report.skip(
                at,
                &dotted,
                "a count setting this import does not know",
                "set `desired-count` by hand",
            ),
        }
    }
}

fn variables(cx: &Context, keys: &mut Keys, node: &Node, report: &mut Report) {
    let mut env = serde_json::Map::new();
    for (name, line, v) in node.entries() {
        match v.scalar_text() {
            Some(text) if text.contains(INTERPOLATION) => report.skip(
                cx.file.at(*line),
                &format!("variables.{name}"),
                DEPLOY_TIME,
                "write the value in `environment`",
            ),
            Some(text) => {
                env.insert(name.clone(), json!(text));
            }
            None => report.skip(
                cx.file.at(*line),
                &format!("variables.{name}"),
                "a value from a CloudFormation export (`from_cfn`)",
                "look the value up once and write it in `environment`",
            ),
        }
    }
    if !env.is_empty() {
        keys.insert("environment".into(), J::Object(env));
    }
}

fn secrets(cx: &Context, keys: &mut Keys, node: &Node, report: &mut Report) {
    let mut out = serde_json::Map::new();
    for (name, line, v) in node.entries() {
        let at = cx.file.at(*line);
        let field = format!("secrets.{name}");
        let reference = match (v.as_str(), v.get("secretsmanager"), v.get("from_cfn")) {
            (Some(ssm), _, _) => Some(ssm.to_string()),
            (None, Some(sm), _) => match sm.as_str() {
                Some(arn) if arn.starts_with("arn:") => Some(arn.to_string()),
                _ => {
                    report.skip(at, &field, "a Secrets Manager secret given by name", "write the secret's full ARN (`arn:aws:secretsmanager:…:secret:…`) in `secrets`");
                    continue;
                }
            },
            (None, None, Some(_)) => {
                report.skip(
                    at,
                    &field,
                    "a secret from a CloudFormation export (`from_cfn`)",
                    "write the parameter's name or the secret's ARN in `secrets`",
                );
                continue;
            }
            _ => None,
        };
        if reference
            .as_ref()
            .is_some_and(|r| r.contains(INTERPOLATION))
        {
            report.skip(
                at,
                &field,
                DEPLOY_TIME,
                "write the parameter's name or the secret's ARN in `secrets`",
            );
            continue;
        }
        match reference.filter(|r| crate::config::validate::secret_reference(r).is_ok()) {
            Some(r) => {
                out.insert(name.clone(), json!(r));
            }
            None => report.skip(
                at,
                &field,
                "not an SSM parameter name or a Secrets Manager ARN",
                "write the parameter's name or the secret's ARN in `secrets`",
            ),
        }
    }
    if !out.is_empty() {
        keys.insert("secrets".into(), J::Object(out));
    }
}

fn argv(keys: &mut Keys, field: &str, node: &Node, at: &str, report: &mut Report) {
    let words: Option<Vec<String>> = match &node.value {
        Data::Str(s) if !s.contains(['"', '\'', '\\']) => {
            Some(s.split_whitespace().map(String::from).collect())
        }
        Data::Seq(items) => items.iter().map(Node::scalar_text).collect(),
        _ => None,
    };
    match words {
        Some(w) if w.iter().any(|w| w.contains(INTERPOLATION)) => report.skip(
            at.into(),
            field,
            DEPLOY_TIME,
            format!("write the value in `{field}`"),
        ),
        Some(w) => {
            keys.insert(field.into(), json!(w));
        }
        None => report.skip(
            at.into(),
            field,
            "a quoted command line",
            format!("write `{field}` as an array of arguments"),
        ),
    }
}

fn image(cx: &Context, keys: &mut Keys, node: &Node, report: &mut Report) {
    for (field, line, v) in node.entries() {
        let at = cx.file.at(*line);
        let dotted = format!("image.{field}");
        match field.as_str() {
            // The Dockerfile and context pick the package (see `super::package`).
            "build" => {
                for (sub, line, _) in v.entries() {
                    if !matches!(sub.as_str(), "dockerfile" | "context") {
                        report.skip(cx.file.at(*line), &format!("image.build.{sub}"), "a Docker build option", "cargo-fargate builds from the package (its Dockerfile or the built-in template); put it in the Dockerfile");
                    }
                }
            }
            "port" => match v.as_int() {
                Some(p) => {
                    keys.insert("ports".into(), json!([p]));
                }
                None => report.skip(at, &dotted, "not a port number", "set `ports`"),
            },
            "location" => report.skip(at, &dotted, "a prebuilt image", "cargo-fargate builds the image from the cargo package; drop it"),
            "healthcheck" => report.skip(at, &dotted, "the container's health check", "write it in a task template (`healthCheck` of the container) and set `task-template`"),
            _ => report.skip(at, &dotted, "an image setting with no equivalent", "write it in a task template and set `task-template`"),
        }
    }
}

fn http(cx: &Context, keys: &mut Keys, node: &Node, report: &mut Report) {
    if cx.kind != "web" {
        return report.skip(
            cx.file.at(node.line),
            "http",
            "an internal load balancer",
            "create the target group yourself and set `target-group-arn` and `container-port`",
        );
    }
    for (field, line, v) in node.entries() {
        let at = cx.file.at(*line);
        let dotted = format!("http.{field}");
        match field.as_str() {
            "path" if v.as_str() == Some("/") => {}
            "healthcheck" => {
                if let Some(p) = v.as_str() {
                    keys.insert("health-check-path".into(), json!(p));
                }
                for (sub, line, hv) in v.entries() {
                    let at = cx.file.at(*line);
                    match (sub.as_str(), hv) {
                        ("path", p) if p.as_str().is_some() => {
                            keys.insert("health-check-path".into(), json!(p.as_str()));
                        }
                        ("grace_period", g) => match g.as_str().and_then(|s| humantime::parse_duration(s).ok()) {
                            Some(d) => {
                                keys.insert("health-check-grace-period".into(), json!(d.as_secs()));
                            }
                            None => report.skip(at, "http.healthcheck.grace_period", "not a duration", "set `health-check-grace-period` in seconds"),
                        },
                        _ => report.skip(at, &format!("http.healthcheck.{sub}"), "a load balancer health check setting", "Express Mode manages the target group's health check (only its path is set: `health-check-path`)"),
                    }
                }
            }
            "alias" | "hosted_zone" => report.skip(
                at,
                &dotted,
                "a custom domain",
                "point your domain (CNAME) at the URL `cargo fargate status` prints",
            ),
            _ => report.skip(
                at,
                &dotted,
                "a load balancer setting",
                "Express Mode serves the whole service at its URL; route in the application",
            ),
        }
    }
}

/// Reads `network`; returns the placement (`public`/`private`) and explicit subnets, if any.
fn network(
    cx: &Context,
    keys: &mut Keys,
    node: &Node,
    report: &mut Report,
) -> (String, Option<Vec<String>>) {
    let mut placement = ("public".to_string(), None);
    for (field, line, v) in node.entries() {
        let at = cx.file.at(*line);
        match field.as_str() {
            "vpc" => {
                for (sub, line, sv) in v.entries() {
                    let at = cx.file.at(*line);
                    match sub.as_str() {
                        "placement" => match (sv.as_str(), sv.get("subnets")) {
                            (Some(p @ ("public" | "private")), _) => placement.0 = p.to_string(),
                            (None, Some(list)) => placement.1 = ids(list),
                            _ => report.skip(
                                at,
                                "network.vpc.placement",
                                "a placement this import does not know",
                                "set `subnets`",
                            ),
                        },
                        "security_groups" => {
                            let list = sv.get("groups").unwrap_or(sv);
                            match ids(list) {
                                Some(g) => {
                                    keys.insert("security-groups".into(), json!(g));
                                }
                                None => report.skip(
                                    at.clone(),
                                    "network.vpc.security_groups",
                                    "security groups from CloudFormation exports",
                                    "set `security-groups` to their IDs",
                                ),
                            }
                            if sv.get("deny_default").is_some() {
                                report.skip(at, "network.vpc.security_groups.deny_default", "Copilot's environment security group", "cargo-fargate adds no group of its own: only `security-groups` apply");
                            }
                        }
                        _ => report.skip(
                            at,
                            &format!("network.vpc.{sub}"),
                            "a network setting this import does not know",
                            "set `subnets`/`security-groups`",
                        ),
                    }
                }
            }
            "connect" => report.skip(
                at,
                "network.connect",
                "Service Connect (service discovery aliases)",
                "reach the service through its load balancer or Cloud Map registered by hand",
            ),
            _ => report.skip(
                at,
                &format!("network.{field}"),
                "a network setting this import does not know",
                "set `subnets`/`security-groups`",
            ),
        }
    }
    placement
}

/// A list of plain IDs (`[sg-1, sg-2]`), or `None` when one is not a string.
fn ids(list: &Node) -> Option<Vec<String>> {
    match &list.value {
        Data::Seq(items) => items.iter().map(|i| i.as_str().map(String::from)).collect(),
        _ => None,
    }
}

fn deployment(cx: &Context, keys: &mut Keys, node: &Node, report: &mut Report) {
    for (field, line, v) in node.entries() {
        let at = cx.file.at(*line);
        match (field.as_str(), v.as_str()) {
            ("rolling", Some("recreate")) => {
                keys.insert("min-healthy-percent".into(), json!(0));
                keys.insert("max-percent".into(), json!(100));
            }
            ("rolling", Some("default")) => {}
            _ => report.skip(at, &format!("deployment.{field}"), "a deployment setting with no equivalent", "see `min-healthy-percent`/`max-percent`; alarms-based rollback: `cargo fargate rollback`"),
        }
    }
}

fn on(cx: &Context, keys: &mut Keys, node: &Node, report: &mut Report) {
    for (field, line, v) in node.entries() {
        let at = cx.file.at(*line);
        if field != "schedule" {
            report.skip(
                at,
                &format!("on.{field}"),
                "a trigger other than a schedule",
                "run it with `cargo fargate run`",
            );
            continue;
        }
        let text = v.scalar_text().unwrap_or_default();
        match schedule::convert(&text) {
            Ok(Converted::Expression(e)) => {
                report.carry(at, "on.schedule", format!("`{text}` (UTC) → schedule = \"{e}\""));
                keys.insert("schedule".into(), json!(e));
            }
            Ok(Converted::Never) => report.skip(at, "on.schedule", "`none`: a job that runs only when asked", "run it with `cargo fargate run --stage …` (`deploy` of a stage without `schedule` runs the task once)"),
            Err(e) => report.skip(at, "on.schedule", e, "write `schedule` as `cron(…)` or `rate(…)`"),
        }
    }
}
