//! ECS: task definitions (registered from the rendered JSON as is), clusters, and tasks.
//!
//! Task definitions and tasks are read as the raw JSON of the API responses ([`RawResponse`]):
//! the shapes the AWS documentation and CLI show, which the pure logic in `register` and `run`
//! works on and is unit-tested against.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, SortOrder, Tag, TaskDefinitionField, TaskDefinitionStatus, TaskField,
    TaskOverride,
};
use serde_json::Value;

use super::{Aws, Found, RawResponse};
use crate::error::{Result, UserError};

/// A registered revision.
#[derive(Debug, Clone)]
pub struct Registered {
    pub arn: String,
    pub revision: i32,
}

/// Which tasks of a cluster to list.
#[derive(Debug, Clone, Copy)]
pub enum TasksOf<'a> {
    Family(&'a str),
    Service(&'a str),
    Cluster,
}

/// What RunTask is asked for.
pub struct RunSpec<'a> {
    pub cluster: &'a str,
    pub task_definition: &'a str,
    pub count: i32,
    pub subnets: &'a [String],
    pub security_groups: &'a [String],
    pub assign_public_ip: bool,
    pub container: &'a str,
    pub command: Option<&'a [String]>,
    pub environment: &'a BTreeMap<String, String>,
    pub started_by: &'a str,
    pub tags: &'a BTreeMap<String, String>,
    /// ECS Exec (`exec = true`).
    pub exec: bool,
    /// RunTask's `clientToken` (up to 64 characters): the SDK's retries send it again, and ECS
    /// answers a repeated token with the tasks its first request started.
    pub client_token: &'a str,
}

/// RunTask was sent but no answer came back (no connection, no answer in time, a proxy's page):
/// tasks may have started. Carries the explained cause.
#[derive(Debug)]
pub struct Unanswered(pub String);

impl std::fmt::Display for Unanswered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unanswered {}

impl Aws {
    /// The latest ACTIVE revision of exactly `family` (not of families sharing its prefix), as the
    /// DescribeTaskDefinition JSON (`taskDefinition`, `tags`).
    pub async fn latest_task_definition(&self, family: &str) -> Result<Option<Value>> {
        // DescribeTaskDefinition on the family alone answers with its latest ACTIVE revision: one
        // call, however many revisions there are.
        let Some(latest) = self.describe_task_definition(family).await? else {
            return Ok(None);
        };
        if latest["taskDefinition"]["status"] == "ACTIVE" {
            return Ok(Some(latest));
        }
        // Some stand-ins (moto) answer with the newest revision even when it was deregistered:
        // then the ACTIVE ones are listed.
        let Some(arn) = self.latest_active_arn(family).await? else {
            return Ok(None);
        };
        self.describe_task_definition(&arn).await
    }

    /// A task definition (`family`, `family:revision` or ARN) with its tags, as ECS describes it;
    /// `None` when there is none.
    pub async fn describe_task_definition(&self, which: &str) -> Result<Option<Value>> {
        let raw = RawResponse::default();
        self.ecs()
            .describe_task_definition()
            .task_definition(which)
            .include(TaskDefinitionField::Tags)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            // ECS says "none" with a ClientException of this text.
            .found(|s| {
                s.is_client_exception()
                    && s.meta()
                        .message()
                        .is_some_and(|m| m.contains("Unable to describe task definition"))
            })
            .map_err(|e| {
                self.fail(e, "ecs:DescribeTaskDefinition", |m| {
                    anyhow::Error::from({
                        UserError::new(format!("could not describe task definition `{which}`: {m}"))
                            .fix("check your credentials and region (cargo fargate doctor)")
                    })
                })
            })?
            .map(|_| raw.json())
            .transpose()
    }

    /// The newest ACTIVE revision's ARN, from the list of the family's revisions.
    async fn latest_active_arn(&self, family: &str) -> Result<Option<String>> {
        let ecs = self.ecs();
        let mut pages = ecs
            .list_task_definitions()
            .family_prefix(family)
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .into_paginator()
            .send();
        let mut latest: Option<(i64, String)> = None;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.fail(e, "ecs:ListTaskDefinitions", |m| {
                    anyhow::Error::from({
                        UserError::new(format!(
                            "could not list task definitions of `{family}`: {}",
                            m
                        ))
                        .fix("check your credentials and region (cargo fargate doctor)")
                    })
                })
            })?;
            for arn in page.task_definition_arns() {
                let Some((fam, rev)) = arn.rsplit('/').next().and_then(|s| s.rsplit_once(':'))
                else {
                    continue;
                };
                let rev: i64 = rev.parse().unwrap_or(0);
                if fam == family && latest.as_ref().is_none_or(|(r, _)| rev > *r) {
                    latest = Some((rev, arn.to_string()));
                }
            }
        }
        Ok(latest.map(|(_, arn)| arn))
    }

    /// Registers the rendered definition, sent as the request body verbatim: every field ECS
    /// accepts works in a user's template, not only the ones this crate knows about.
    pub async fn register_task_definition(&self, definition: &Value) -> Result<Registered> {
        let body = serde_json::to_vec(definition)?;
        let family = definition["family"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let out = self
            .ecs()
            .register_task_definition()
            // Placeholder fields for the typed builder; the body below replaces them.
            .family(&family)
            .customize()
            .mutate_request(move |req| {
                let len = body.len();
                *req.body_mut() = aws_smithy_types::body::SdkBody::from(body.clone());
                req.headers_mut().insert("content-length", len.to_string());
            })
            .send()
            .await
            .map_err(|e| self.fail(e, "ecs:RegisterTaskDefinition", |m| anyhow::Error::from({
                UserError::new(format!(
                    "ECS refused task definition `{family}`: {}",
                    m
                ))
                .fix("check the rendered definition (cargo fargate render) against the ECS RegisterTaskDefinition reference")
            })))?;
        let td = out
            .task_definition()
            .ok_or_else(|| anyhow::anyhow!("ECS returned no task definition"))?;
        Ok(Registered {
            arn: td.task_definition_arn().unwrap_or_default().to_string(),
            revision: td.revision(),
        })
    }

    /// Whether the cluster exists and is ACTIVE.
    pub async fn cluster_exists(&self, name: &str) -> Result<bool> {
        let out = self
            .ecs()
            .describe_clusters()
            .clusters(name)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:DescribeClusters", |m| {
                    anyhow::Error::from({
                        UserError::new(format!("could not read ECS cluster `{name}`: {}", m))
                            .fix("check your credentials and region (cargo fargate doctor)")
                    })
                })
            })?;
        Ok(out
            .clusters()
            .iter()
            .any(|c| c.cluster_name() == Some(name) && c.status() == Some("ACTIVE")))
    }

    pub async fn create_cluster(&self, name: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        let tags: Vec<Tag> = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        self.ecs()
            .create_cluster()
            .cluster_name(name)
            .set_tags((!tags.is_empty()).then_some(tags))
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:CreateCluster", |m| {
                    anyhow::Error::from({
                        UserError::new(format!(
                    "could not create ECS cluster `{name}`: {}",
                    m
                ))
                .fix("your credentials need ecs:CreateCluster, or create the cluster yourself")
                    })
                })
            })?;
        Ok(())
    }

    /// RunTask on Fargate; the response's JSON (`tasks`, `failures`).
    pub async fn run_task(&self, spec: &RunSpec<'_>) -> Result<Value> {
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(spec.subnets.to_vec()))
            .set_security_groups(Some(spec.security_groups.to_vec()))
            .assign_public_ip(if spec.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()?;
        let environment: Vec<KeyValuePair> = spec
            .environment
            .iter()
            .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
            .collect();
        let mut container = ContainerOverride::builder().name(spec.container);
        if let Some(command) = spec.command {
            container = container.set_command(Some(command.to_vec()));
        }
        if !environment.is_empty() {
            container = container.set_environment(Some(environment));
        }
        let tags: Vec<Tag> = spec
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let raw = RawResponse::default();
        self.ecs()
            .run_task()
            .cluster(spec.cluster)
            .task_definition(spec.task_definition)
            .count(spec.count)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(network)
                    .build(),
            )
            .overrides(
                TaskOverride::builder()
                    .container_overrides(container.build())
                    .build(),
            )
            .started_by(spec.started_by)
            .enable_execute_command(spec.exec)
            .set_tags((!tags.is_empty()).then_some(tags))
            .client_token(spec.client_token)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| {
                use super::fault::Fault;
                if matches!(
                    super::fault::classify(&e),
                    Fault::Unreachable(_) | Fault::TimedOut | Fault::NotAws { .. }
                ) {
                    let cause = self.fail(e, "ecs:RunTask", anyhow::Error::msg);
                    let what = cause
                        .downcast_ref::<UserError>()
                        .map_or_else(|| cause.to_string(), |u| u.what.clone());
                    return Unanswered(what).into();
                }
                self.fail(e, "ecs:RunTask", |m| {
                    anyhow::Error::from({
                        UserError::new(format!("ECS refused to run the task: {}", m)).fix(
                            "check the subnets, security groups and roles (cargo fargate render)",
                        )
                    })
                })
            })?;
        raw.json()
    }

    /// DescribeTasks' JSON (`tasks`, `failures`).
    pub async fn describe_tasks(&self, cluster: &str, tasks: &[String]) -> Result<Value> {
        if tasks.is_empty() {
            return Ok(serde_json::json!({ "tasks": [], "failures": [] }));
        }
        let raw = RawResponse::default();
        self.ecs()
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(tasks.to_vec()))
            .include(TaskField::Tags)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:DescribeTasks", |m| {
                    anyhow::anyhow!("describing tasks: {}", m)
                })
            })?;
        raw.json()
    }

    /// Task ARNs of a family in a cluster, by desired status (RUNNING or STOPPED).
    pub async fn list_tasks(
        &self,
        cluster: &str,
        family: &str,
        desired_status: &str,
    ) -> Result<Vec<String>> {
        self.tasks_of(cluster, TasksOf::Family(family), desired_status)
            .await
    }

    /// Task ARNs in a cluster (of a family, of a service, or all), by desired status.
    pub async fn tasks_of(
        &self,
        cluster: &str,
        of: TasksOf<'_>,
        desired_status: &str,
    ) -> Result<Vec<String>> {
        let mut request = self
            .ecs()
            .list_tasks()
            .cluster(cluster)
            .desired_status(desired_status.into());
        let what = match of {
            TasksOf::Family(family) => {
                request = request.family(family);
                format!("{family} in {cluster}")
            }
            TasksOf::Service(service) => {
                request = request.service_name(service);
                format!("service {service}")
            }
            TasksOf::Cluster => format!("cluster {cluster}"),
        };
        let mut pages = request.into_paginator().send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.fail(e, "ecs:ListTasks", |m| {
                    anyhow::anyhow!("listing tasks of {what}: {}", m)
                })
            })?;
            arns.extend(page.task_arns().iter().cloned());
        }
        Ok(arns)
    }

    /// The cluster's tags when it exists and is ACTIVE.
    pub async fn active_cluster_tags(
        &self,
        name: &str,
    ) -> Result<Option<BTreeMap<String, String>>> {
        let out = self
            .ecs()
            .describe_clusters()
            .clusters(name)
            .include(aws_sdk_ecs::types::ClusterField::Tags)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:DescribeClusters", |m| {
                    anyhow::anyhow!("reading cluster {name}: {m}")
                })
            })?;
        Ok(out
            .clusters()
            .iter()
            .find(|c| c.cluster_name() == Some(name) && c.status() == Some("ACTIVE"))
            .map(|c| {
                c.tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                    .collect()
            }))
    }

    pub async fn delete_cluster(&self, name: &str) -> Result<()> {
        self.ecs()
            .delete_cluster()
            .cluster(name)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:DeleteCluster", |m| {
                    anyhow::anyhow!("deleting cluster {name}: {m}")
                })
            })?;
        Ok(())
    }

    pub async fn stop_task(&self, cluster: &str, task: &str, reason: &str) -> Result<()> {
        self.ecs()
            .stop_task()
            .cluster(cluster)
            .task(task)
            .reason(reason)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:StopTask", |m| {
                    anyhow::anyhow!("stopping {task}: {}", m)
                })
            })?;
        Ok(())
    }
}
