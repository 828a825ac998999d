//! `kind = "web"`: ECS Express Mode. ECS makes and manages the load balancer, the HTTPS URL,
//! scaling and canary deploys; we give it the image (pinned by digest), the roles, the network and
//! the sizes, and keep an infrastructure role it acts with.
//!
//! The requests built here are checked against the ECS service model (tests/service_model.rs), the
//! wait is unit-tested over the documented response shapes, and the bench's stand-in for Express
//! Mode (scripts/bench/agent/express.py) carries a deploy and a teardown (tests/setup.rs).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::deploy::{Action, ServiceReport};
use super::request::{self, sorted, Change};
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Result, UserError};
use crate::net::poll::{every, poll_until};
use crate::output::Output;
use crate::steps::register::{Prepared, RegisterReport};
use crate::steps::run::Network;

use crate::iam::infrastructure::{apply_infrastructure_role, plan_infrastructure_role};

/// The Express service's ARN: an ECS service ARN.
pub fn service_arn(config: &Config, partition: &str, region: &str, account: &str) -> String {
    format!(
        "arn:{partition}:ecs:{region}:{account}:service/{}/{}",
        config.names.cluster,
        crate::names::service(config)
    )
}

/// This stage's Express service ARN, in the caller's account and region.
pub async fn stage_service_arn(aws: &Aws, config: &Config) -> Result<String> {
    let identity = aws.identity().await?;
    Ok(service_arn(
        config,
        identity.partition(),
        &aws.region(),
        &identity.account,
    ))
}

/// What Express Mode is given.
pub struct ExpressInput<'a> {
    pub config: &'a Config,
    /// Pinned by digest.
    pub image: &'a str,
    pub execution_role_arn: &'a str,
    pub task_role_arn: &'a str,
    pub infrastructure_role_arn: &'a str,
    pub network: &'a Network,
}

fn configuration(i: &ExpressInput) -> serde_json::Map<String, Value> {
    let c = i.config;
    let mut container = serde_json::Map::new();
    container.insert("image".into(), i.image.into());
    if let Some(port) = c.service.container_port {
        container.insert("containerPort".into(), port.into());
    }
    container.insert(
        "awsLogsConfiguration".into(),
        json!({"logGroup": c.container.log_group, "logStreamPrefix": crate::names::log_stream_prefix(c)}),
    );
    if let Some(command) = &c.container.command {
        container.insert("command".into(), json!(command));
    }
    container.insert(
        "environment".into(),
        Value::Array(
            c.container
                .environment
                .iter()
                .map(|(k, v)| json!({"name": k, "value": v}))
                .collect(),
        ),
    );
    container.insert(
        "secrets".into(),
        Value::Array(
            c.container
                .secrets
                .iter()
                .map(|(k, v)| json!({"name": k, "valueFrom": v}))
                .collect(),
        ),
    );
    let mut m = serde_json::Map::new();
    m.insert("executionRoleArn".into(), i.execution_role_arn.into());
    m.insert("taskRoleArn".into(), i.task_role_arn.into());
    m.insert(
        "healthCheckPath".into(),
        c.service.health_check_path.clone().into(),
    );
    m.insert("primaryContainer".into(), Value::Object(container));
    m.insert(
        "networkConfiguration".into(),
        json!({"subnets": i.network.subnets, "securityGroups": i.network.security_groups}),
    );
    m.insert("cpu".into(), c.size.cpu.to_string().into());
    m.insert("memory".into(), c.size.memory.to_string().into());
    m.insert("cpuArchitecture".into(), c.size.architecture.ecs().into());
    m.insert(
        "scalingTarget".into(),
        json!({"minTaskCount": c.service.desired_count, "maxTaskCount": c.service.max_count}),
    );
    m
}

/// The CreateExpressGatewayService request.
pub fn create_request(i: &ExpressInput) -> Value {
    let mut m = configuration(i);
    m.insert("serviceName".into(), crate::names::service(i.config).into());
    m.insert("cluster".into(), i.config.names.cluster.clone().into());
    m.insert(
        "infrastructureRoleArn".into(),
        i.infrastructure_role_arn.into(),
    );
    m.insert("tags".into(), Value::Array(request::tags(i.config)));
    Value::Object(m)
}

/// The UpdateExpressGatewayService request.
pub fn update_request(i: &ExpressInput, arn: &str) -> Value {
    let mut m = configuration(i);
    m.insert("serviceArn".into(), arn.into());
    Value::Object(m)
}

/// The compared settings of an active configuration (DescribeExpressGatewayService) or a request.
fn projection(v: &Value) -> BTreeMap<&'static str, Value> {
    let sorted_by_name = |v: &Value| {
        let mut items = v.as_array().cloned().unwrap_or_default();
        items.sort_by_key(|i| i["name"].as_str().unwrap_or_default().to_string());
        Value::Array(items)
    };
    let pc = &v["primaryContainer"];
    let mut p = BTreeMap::new();
    for key in [
        "executionRoleArn",
        "taskRoleArn",
        "healthCheckPath",
        "cpu",
        "memory",
        "cpuArchitecture",
    ] {
        p.insert(key, v[key].clone());
    }
    p.insert("image", pc["image"].clone());
    p.insert(
        "containerPort",
        json!(pc["containerPort"].as_i64().unwrap_or(80)),
    );
    p.insert("command", pc["command"].clone());
    p.insert("environment", sorted_by_name(&pc["environment"]));
    p.insert("secrets", sorted_by_name(&pc["secrets"]));
    p.insert("logs", pc["awsLogsConfiguration"].clone());
    p.insert("subnets", sorted(&v["networkConfiguration"]["subnets"]));
    p.insert(
        "securityGroups",
        sorted(&v["networkConfiguration"]["securityGroups"]),
    );
    p.insert("minTaskCount", v["scalingTarget"]["minTaskCount"].clone());
    p.insert("maxTaskCount", v["scalingTarget"]["maxTaskCount"].clone());
    p
}

/// What an update would change on the described Express service.
pub fn changes(described: &Value, request: &Value) -> Vec<Change> {
    let current = described["activeConfigurations"]
        .as_array()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or(Value::Null);
    let (from, to) = (projection(&current), projection(request));
    to.into_iter()
        .filter_map(|(setting, want)| {
            let have = from.get(setting).cloned().unwrap_or(Value::Null);
            (have != want).then_some(Change {
                setting,
                from: have,
                to: want,
            })
        })
        .collect()
}

/// Where an Express service stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpressState {
    /// Still being provisioned (no status yet, or not ACTIVE).
    Pending(String),
    Active {
        url: Option<String>,
    },
    Inactive(String),
}

/// From a DescribeExpressGatewayService `service`.
pub fn express_state(service: &Value) -> ExpressState {
    let code = service["status"]["statusCode"].as_str().unwrap_or_default();
    let reason = service["status"]["statusReason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match code {
        "ACTIVE" => ExpressState::Active { url: url(service) },
        "INACTIVE" | "DRAINING" => ExpressState::Inactive(if reason.is_empty() {
            format!("the service is {code}")
        } else {
            reason
        }),
        other => ExpressState::Pending(if other.is_empty() {
            "provisioning".into()
        } else {
            other.to_string()
        }),
    }
}

/// The public URL of the newest active configuration.
pub fn url(service: &Value) -> Option<String> {
    let configs = service["activeConfigurations"].as_array()?;
    configs.iter().find_map(|c| {
        let paths = c["ingressPaths"].as_array()?;
        let public = paths
            .iter()
            .find(|p| p["accessType"] == "PUBLIC")
            .or_else(|| paths.first())?;
        let endpoint = public["endpoint"].as_str()?;
        Some(if endpoint.starts_with("http") {
            endpoint.to_string()
        } else {
            format!("https://{endpoint}")
        })
    })
}

/// Creates or updates the Express service, then waits until it is ACTIVE and its deployment done.
#[allow(clippy::too_many_arguments)]
pub async fn deploy(
    aws: &Aws,
    config: &Config,
    prepared: &Prepared,
    registered: &RegisterReport,
    network: &Network,
    no_wait: bool,
    limit: Duration,
    out: &Output,
) -> Result<ServiceReport> {
    let identity = aws.identity().await?;
    let infrastructure = apply_infrastructure_role(aws, config, out).await?;
    let roles = |kind| {
        registered
            .roles
            .iter()
            .find(|r| r.kind == kind)
            .map(|r| r.arn.clone())
            .unwrap_or_default()
    };
    let (task_role, execution_role) = (
        roles(crate::iam::roles::Kind::Task),
        roles(crate::iam::roles::Kind::Execution),
    );
    let input = ExpressInput {
        config,
        image: &prepared.image.reference,
        execution_role_arn: &execution_role,
        task_role_arn: &task_role,
        infrastructure_role_arn: &infrastructure,
        network,
    };
    let arn = service_arn(
        config,
        identity.partition(),
        &aws.region(),
        &identity.account,
    );
    let name = crate::names::service(config);
    let current = aws.describe_express_service(&arn).await?;
    let before = aws
        .describe_service(&config.names.cluster, &name)
        .await?
        .and_then(|s| super::wait::primary(&s).and_then(|d| d["id"].as_str().map(str::to_string)));
    let active = current.as_ref().is_some_and(|s| {
        matches!(
            express_state(s),
            ExpressState::Active { .. } | ExpressState::Pending(_)
        )
    });
    let (action, changes, answer) = if !active {
        let created = aws.create_express_service(&create_request(&input)).await?;
        out.status("Created", format_args!("Express Mode service {name}"));
        (Action::Created, Vec::new(), created)
    } else {
        let current = current.expect("active");
        let update = update_request(&input, &arn);
        let changes = changes(&current, &update);
        if changes.is_empty() {
            (Action::Unchanged, changes, current)
        } else {
            let updated = aws.update_express_service(&update).await?;
            out.status("Updated", format_args!("Express Mode service {name}"));
            (Action::Updated, changes, updated)
        }
    };
    let mut report = ServiceReport {
        kind: config.service.kind,
        cluster: config.names.cluster.clone(),
        service: name.clone(),
        arn: answer["serviceArn"].as_str().unwrap_or(&arn).to_string(),
        action,
        changes,
        deployment: None,
        waited: None,
        not_waited: None,
        scaling: None,
        url: url(&answer),
    };
    if no_wait || (action == Action::Unchanged && report.url.is_some()) {
        return Ok(report);
    }
    // Express Mode first provisions (load balancer, target group, scaling), then deploys.
    let started = Instant::now();
    if let Some(url) = provisioned(aws, out, &name, &report.arn, limit).await? {
        report.url = Some(url);
    }
    // Then the ECS deployment it started, as for kind = "service".
    let rest = limit.saturating_sub(started.elapsed());
    follow_deployment(aws, out, config, prepared, before, rest, &mut report).await?;
    if let Some(url) = &report.url {
        out.status("Live", url);
    }
    Ok(report)
}

/// Waits until Express Mode has provisioned the service (ACTIVE): its URL, if it gives one.
async fn provisioned(
    aws: &Aws,
    out: &Output,
    name: &str,
    arn: &str,
    limit: Duration,
) -> Result<Option<String>> {
    out.status(
        "Waiting",
        format_args!(
            "for Express Mode to provision {name} (at most {})",
            humantime::format_duration(limit)
        ),
    );
    let what = format!("Express Mode to provision {name}");
    let deadline = Instant::now() + limit;
    let found = poll_until(&what, deadline, every(crate::steps::run::POLL), || async {
        let described = aws.describe_express_service(arn).await?.ok_or_else(|| {
            UserError::new(format!(
                "Express Mode service {name} went away while it was provisioned"
            ))
            .fix("deploy again")
        })?;
        match express_state(&described) {
            ExpressState::Active { url } => Ok(Some(url)),
            ExpressState::Inactive(why) => Err(anyhow::Error::from(
                UserError::new(format!(
                    "Express Mode service {name} did not become active: {why}"
                ))
                .fix("see `cargo fargate status`, fix the cause and deploy again"),
            )),
            ExpressState::Pending(_) => Ok(None),
        }
    })
    .await?;
    found.map_err(|_| {
        UserError::new(format!(
            "Express Mode service {name} was not active within {}",
            humantime::format_duration(limit)
        ))
        .fix("see `cargo fargate status`; a slow start needs a longer --wait-timeout")
        .into()
    })
}

/// Follows the ECS deployment Express Mode started (when it is new or not yet COMPLETED), as
/// for kind = "service".
async fn follow_deployment(
    aws: &Aws,
    out: &Output,
    config: &Config,
    prepared: &Prepared,
    before: Option<String>,
    limit: Duration,
    report: &mut ServiceReport,
) -> Result<()> {
    let name = crate::names::service(config);
    let Some(service) = aws.describe_service(&config.names.cluster, &name).await? else {
        return Ok(());
    };
    let Some(d) = super::wait::primary(&service) else {
        return Ok(());
    };
    let id = d["id"].as_str().unwrap_or_default().to_string();
    let td = d["taskDefinition"].as_str().unwrap_or_default().to_string();
    if Some(&id) == before.as_ref() && d["rolloutState"] == "COMPLETED" {
        return Ok(());
    }
    report.deployment = Some(id.clone());
    let input = super::wait::WaitInput {
        cluster: &config.names.cluster,
        service: &name,
        deployment: &id,
        task_definition_arn: &td,
        definition: &prepared.definition,
        timeout: limit,
        poll: crate::steps::run::POLL,
    };
    report.waited = Some(super::wait::wait(aws, out, &input).await?);
    Ok(())
}

/// The dry run's step for an Express service.
pub async fn plan_step(
    aws: &Aws,
    config: &Config,
    network: &Network,
) -> Result<super::deploy::PlanLine> {
    let arn = stage_service_arn(aws, config).await?;
    let (role, missing) = plan_infrastructure_role(aws, config).await?;
    let exists = aws
        .describe_express_service(&arn)
        .await?
        .is_some_and(|s| !matches!(express_state(&s), ExpressState::Inactive(_)));
    let s = &config.service;
    Ok(super::deploy::PlanLine {
        changes: true,
        action: format!(
            "{} Express Mode service {} (tasks {}–{}, health check {}, subnets {}, security groups {}); infrastructure role {role}{}",
            if exists { "update" } else { "create" },
            crate::names::service(config),
            s.desired_count,
            s.max_count,
            s.health_check_path,
            network.subnets.join(", "),
            network.security_groups.join(", "),
            if missing { " (to create)" } else { "" },
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input_config() -> Config {
        crate::config::test_config(
            "kind = \"web\"\nports = [8080]\nhealth-check-path = \"/health\"\nmax-count = 3\n[package.metadata.fargate.environment]\nRUST_LOG = \"info\"",
        )
    }

    pub fn sample_requests() -> (Value, Value) {
        let c = input_config();
        let n = Network {
            vpc: "vpc-1".into(),
            subnets: vec!["subnet-0123456789abcdef0".into()],
            security_groups: vec!["sg-0123456789abcdef0".into()],
            assign_public_ip: false,
        };
        let i = ExpressInput {
            config: &c,
            image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/app-dev@sha256:0000000000000000000000000000000000000000000000000000000000000000",
            execution_role_arn: "arn:aws:iam::123456789012:role/app-dev-execution",
            task_role_arn: "arn:aws:iam::123456789012:role/app-dev-task",
            infrastructure_role_arn: "arn:aws:iam::123456789012:role/app-dev-infrastructure",
            network: &n,
        };
        let arn = service_arn(&c, "aws", "us-east-1", "123456789012");
        (create_request(&i), update_request(&i, &arn))
    }

    #[test]
    fn requests_carry_the_image_port_scaling_and_roles() {
        let (create, update) = sample_requests();
        assert_eq!(create["primaryContainer"]["containerPort"], 8080);
        assert_eq!(
            create["scalingTarget"],
            json!({"minTaskCount": 1, "maxTaskCount": 3})
        );
        assert_eq!(create["healthCheckPath"], "/health");
        assert_eq!(create["cpu"], "256");
        assert_eq!(
            update["serviceArn"],
            "arn:aws:ecs:us-east-1:123456789012:service/app-dev/app-dev"
        );
        assert!(update.get("infrastructureRoleArn").is_none());
        // Described as it was asked for: nothing to change.
        let mut active = update.clone();
        active.as_object_mut().unwrap().remove("serviceArn");
        let described =
            json!({"status": {"statusCode": "ACTIVE"}, "activeConfigurations": [active]});
        assert_eq!(changes(&described, &update), vec![]);
    }

    /// DescribeExpressGatewayService answers as the ECS API reference documents them.
    #[test]
    fn express_states_over_documented_shapes() {
        let provisioning = json!({"serviceName": "app-dev", "status": {"statusCode": "ACTIVE"},
            "activeConfigurations": [{"serviceRevisionArn": "arn:aws:ecs:us-east-1:123456789012:service-revision/app-dev/app-dev/1",
                "ingressPaths": [{"accessType": "PUBLIC", "endpoint": "ap-1234.ecs.us-east-1.on.aws"}]}]});
        assert_eq!(
            express_state(&provisioning),
            ExpressState::Active {
                url: Some("https://ap-1234.ecs.us-east-1.on.aws".into())
            }
        );
        let none = json!({"serviceName": "app-dev"});
        assert!(matches!(express_state(&none), ExpressState::Pending(_)));
        let gone = json!({"status": {"statusCode": "INACTIVE", "statusReason": "deleted by user"}});
        assert_eq!(
            express_state(&gone),
            ExpressState::Inactive("deleted by user".into())
        );
        let draining = json!({"status": {"statusCode": "DRAINING"}});
        assert!(matches!(
            express_state(&draining),
            ExpressState::Inactive(_)
        ));
    }
}
