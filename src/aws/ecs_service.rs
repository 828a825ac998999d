//! ECS services and Express Mode services, and ECS Exec.
//!
//! Requests are built as the API's JSON (src/service/request.rs, checked against the service model
//! in tests) and sent as the body verbatim, as task definitions are; responses are read as their
//! raw JSON ([`RawResponse`]): the shapes the AWS documentation shows, which the wait logic in
//! src/service/wait.rs works on and is unit-tested against.

use aws_sdk_ecs::types::ExpressGatewayServiceInclude;
use serde_json::Value;

use super::{Aws, RawResponse};
use crate::error::{Result, UserError};

/// Sends a typed request with `body` as its JSON (see [`with_body`]); the answer's `service`, or
/// the failure through [`Aws::fail`] with `otherwise` for the service's own answer.
macro_rules! send_body {
    ($aws:expr, $request:expr, $body:expr, $action:literal, $otherwise:expr) => {{
        let raw = RawResponse::default();
        $request
            .customize()
            .mutate_request(with_body($body))
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| $aws.fail(e, $action, $otherwise))?;
        Ok(raw.json()?["service"].clone())
    }};
}

/// A refused service change: the settings are what to check.
fn refused(what: String) -> anyhow::Error {
    UserError::new(what)
        .fix("check the service settings (cargo fargate deploy --dry-run)")
        .into()
}

/// Replaces a typed request's body with `body` (the placeholders the builder needs are dropped).
fn with_body(
    body: &Value,
) -> impl Fn(&mut aws_sdk_ecs::config::http::HttpRequest) + Send + Sync + 'static {
    let bytes = serde_json::to_vec(body).expect("JSON values serialise");
    move |req| {
        let len = bytes.len();
        *req.body_mut() = aws_smithy_types::body::SdkBody::from(bytes.clone());
        req.headers_mut().insert("content-length", len.to_string());
    }
}

impl Aws {
    /// DescribeServices of one service: its JSON, or None when ECS does not know it (MISSING) or
    /// the cluster does not exist.
    pub async fn describe_service(&self, cluster: &str, service: &str) -> Result<Option<Value>> {
        let raw = RawResponse::default();
        let sent = self
            .ecs()
            .describe_services()
            .cluster(cluster)
            .services(service)
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await;
        if let Err(e) = sent {
            if e.as_service_error()
                .is_some_and(|s| s.is_cluster_not_found_exception())
            {
                return Ok(None);
            }
            return Err(self.fail(e, "ecs:DescribeServices", |m| {
                UserError::new(format!("could not read ECS service `{service}`: {m}"))
                    .fix("check your credentials and region (cargo fargate doctor)")
                    .into()
            }));
        }
        let json = raw.json()?;
        Ok(json["services"].as_array().and_then(|s| s.first()).cloned())
    }

    /// The ARNs of a cluster's services (ListServices: a deleted service is not listed); none
    /// when the cluster does not exist.
    pub async fn cluster_service_arns(&self, cluster: &str) -> Result<Vec<String>> {
        let mut pages = self
            .ecs()
            .list_services()
            .cluster(cluster)
            .into_paginator()
            .send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => arns.extend(page.service_arns().iter().cloned()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_cluster_not_found_exception()) =>
                {
                    return Ok(Vec::new())
                }
                Err(e) => {
                    return Err(self.fail(e, "ecs:ListServices", |m| {
                        anyhow::anyhow!("listing the services of cluster {cluster}: {m}")
                    }))
                }
            }
        }
        Ok(arns)
    }

    /// The services of a cluster that still exist, as ECS describes them (a deleted service
    /// lingers as INACTIVE; it runs nothing); none when the cluster does not exist.
    pub async fn cluster_services(
        &self,
        cluster: &str,
    ) -> Result<Vec<aws_sdk_ecs::types::Service>> {
        let arns = self.cluster_service_arns(cluster).await?;
        let mut services = Vec::new();
        for chunk in arns.chunks(10) {
            let out = self
                .ecs()
                .describe_services()
                .cluster(cluster)
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    self.fail(e, "ecs:DescribeServices", |m| {
                        anyhow::anyhow!("describing the services of cluster {cluster}: {m}")
                    })
                })?;
            services.extend(
                out.services()
                    .iter()
                    .filter(|s| s.status() != Some("INACTIVE"))
                    .cloned(),
            );
        }
        Ok(services)
    }

    /// CreateService with `body` (a CreateService request); the created service's JSON.
    pub async fn create_service(&self, body: &Value) -> Result<Value> {
        let name = body["serviceName"].as_str().unwrap_or_default().to_string();
        // The same request, retried or re-run, creates the service once (ECS_Idempotency).
        let mut body = body.clone();
        body["clientToken"] = super::idempotency_token(&[&body.to_string()], 36).into();
        let body = &body;
        send_body!(
            self,
            self.ecs().create_service().service_name(&name),
            body,
            "ecs:CreateService",
            |m| refused(format!("ECS refused to create service `{name}`: {m}"))
        )
    }

    /// UpdateService with `body` (an UpdateService request); the service's JSON.
    pub async fn update_service(&self, body: &Value) -> Result<Value> {
        let name = body["service"].as_str().unwrap_or_default().to_string();
        send_body!(
            self,
            self.ecs().update_service().service(&name),
            body,
            "ecs:UpdateService",
            |m| refused(format!("ECS refused to update service `{name}`: {m}"))
        )
    }

    /// DeleteService (the service must be scaled to 0 first).
    pub async fn delete_service(&self, cluster: &str, service: &str) -> Result<Value> {
        let raw = RawResponse::default();
        self.ecs()
            .delete_service()
            .cluster(cluster)
            .service(service)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:DeleteService", |m| {
                    anyhow::anyhow!("deleting service {service}: {m}")
                })
            })?;
        Ok(raw.json()?["service"].clone())
    }

    /// Task ARNs of a service, by desired status (RUNNING or STOPPED).
    pub async fn service_tasks(
        &self,
        cluster: &str,
        service: &str,
        desired_status: &str,
    ) -> Result<Vec<String>> {
        self.tasks_of(
            cluster,
            super::ecs::TasksOf::Service(service),
            desired_status,
        )
        .await
    }

    /// CreateExpressGatewayService with `body`; the service's JSON.
    pub async fn create_express_service(&self, body: &Value) -> Result<Value> {
        let name = body["serviceName"].as_str().unwrap_or_default().to_string();
        send_body!(
            self,
            self.ecs()
                .create_express_gateway_service()
                .infrastructure_role_arn("placeholder"),
            body,
            "ecs:CreateExpressGatewayService",
            |m| {
                UserError::new(format!(
                "ECS refused to create Express Mode service `{name}`: {m}"
            ))
            .fix("check the settings (cargo fargate deploy --dry-run); Express Mode is not available in every region")
            .into()
            }
        )
    }

    /// UpdateExpressGatewayService with `body`; the service's JSON.
    pub async fn update_express_service(&self, body: &Value) -> Result<Value> {
        let arn = body["serviceArn"].as_str().unwrap_or_default().to_string();
        send_body!(
            self,
            self.ecs()
                .update_express_gateway_service()
                .service_arn(&arn),
            body,
            "ecs:UpdateExpressGatewayService",
            |m| UserError::new(format!(
                "ECS refused to update Express Mode service {arn}: {m}"
            ))
            .fix("check the settings (cargo fargate deploy --dry-run)")
            .into()
        )
    }

    /// DescribeExpressGatewayService: the service's JSON, None when it does not exist.
    pub async fn describe_express_service(&self, arn: &str) -> Result<Option<Value>> {
        self.read_express_service(arn, false).await
    }

    /// DescribeExpressGatewayService with the service's `tags`; None when it does not exist.
    pub async fn describe_express_service_tagged(&self, arn: &str) -> Result<Option<Value>> {
        self.read_express_service(arn, true).await
    }

    async fn read_express_service(&self, arn: &str, tags: bool) -> Result<Option<Value>> {
        let raw = RawResponse::default();
        let sent = self
            .ecs()
            .describe_express_gateway_service()
            .service_arn(arn)
            .set_include(tags.then(|| vec![ExpressGatewayServiceInclude::Tags]))
            .customize()
            .interceptor(raw.clone())
            .send()
            .await;
        if let Err(e) = sent {
            let code = aws_sdk_ecs::error::ProvideErrorMetadata::code(&e).unwrap_or_default();
            if matches!(
                code,
                "ResourceNotFoundException"
                    | "ServiceNotFoundException"
                    | "ClusterNotFoundException"
            ) {
                return Ok(None);
            }
            return Err(self.fail(e, "ecs:DescribeExpressGatewayService", |m| {
                anyhow::anyhow!("describing Express Mode service {arn}: {m}")
            }));
        }
        Ok(Some(raw.json()?["service"].clone()))
    }

    pub async fn delete_express_service(&self, arn: &str) -> Result<()> {
        self.ecs()
            .delete_express_gateway_service()
            .service_arn(arn)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:DeleteExpressGatewayService", |m| {
                    anyhow::anyhow!("deleting Express Mode service {arn}: {m}")
                })
            })?;
        Ok(())
    }

    /// ExecuteCommand: the session (`session.sessionId`, `streamUrl`, `tokenValue`) the Session
    /// Manager plugin connects with. The token is handed to the plugin only, never printed.
    pub async fn execute_command(
        &self,
        cluster: &str,
        task: &str,
        container: &str,
        command: &str,
    ) -> Result<Value> {
        let raw = RawResponse::default();
        self.ecs()
            .execute_command()
            .cluster(cluster)
            .task(task)
            .container(container)
            .command(command)
            .interactive(true)
            .customize()
            .interceptor(raw.clone())
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:ExecuteCommand", |m| {
                    let fix = if m.contains("execute command") || m.contains("ExecuteCommand") {
                        "set `exec = true` and deploy again: only tasks started after that accept ECS Exec"
                    } else {
                        "check that the task is RUNNING (cargo fargate status) and that your credentials allow ecs:ExecuteCommand"
                    };
                    UserError::new(format!("ECS refused to open a shell in task {task}: {m}"))
                        .fix(fix)
                        .into()
                })
            })?;
        raw.json()
    }
}
