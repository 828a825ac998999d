//! Removing the project's network (`teardown` of the last stage that uses it), dependents first.

use std::time::{Duration, Instant};

use aws_sdk_ec2::error::ProvideErrorMetadata;

use super::ProjectNetwork;
use crate::aws::Aws;
use crate::error::Result;
use crate::net::poll::{every, poll_until};

/// How long teardown waits for the network's dependencies (endpoint and task interfaces) to go.
pub(super) const DELETE_PATIENCE: Duration = Duration::from_secs(300);

impl Aws {
    /// Removes every part of the project's network, dependents first. EC2 refuses to delete a
    /// subnet or group while an interface is still in it (endpoints and stopped tasks let go of
    /// theirs within minutes), so `DependencyViolation` is waited out for a bounded time.
    pub async fn delete_network(&self, net: &ProjectNetwork) -> Result<()> {
        let ec2 = self.ec2();
        if !net.endpoints.is_empty() {
            let ids: Vec<String> = net.endpoints.iter().map(|(_, id)| id.clone()).collect();
            ec2.delete_vpc_endpoints()
                .set_vpc_endpoint_ids(Some(ids))
                .send()
                .await
                .map_err(|e| {
                    self.net_error(
                        e,
                        "ec2:DeleteVpcEndpoints",
                        "delete the VPC endpoints".into(),
                    )
                })?;
        }
        let deadline = Instant::now() + DELETE_PATIENCE;
        for group in [&net.endpoints_group, &net.tasks_group]
            .into_iter()
            .flatten()
        {
            self.delete_group_by(group, deadline).await?;
        }
        for association in &net.associations {
            ec2.disassociate_route_table()
                .association_id(association)
                .send()
                .await
                .map_err(|e| {
                    let what = format!("undo route table association {association}");
                    self.net_error(e, "ec2:DisassociateRouteTable", what)
                })?;
        }
        for (_, subnet) in net.public_subnets.iter().chain(&net.private_subnets) {
            patient(
                deadline,
                || async {
                    ec2.delete_subnet()
                        .subnet_id(subnet)
                        .send()
                        .await
                        .map(|_| ())
                },
                |e| self.net_error(e, "ec2:DeleteSubnet", format!("delete subnet {subnet}")),
            )
            .await?;
        }
        self.delete_routing(net).await?;
        patient(
            deadline,
            || async { ec2.delete_vpc().vpc_id(&net.vpc).send().await.map(|_| ()) },
            |e| self.net_error(e, "ec2:DeleteVpc", format!("delete VPC {}", net.vpc)),
        )
        .await
    }

    /// The route tables and the internet gateway, once no subnet uses them.
    async fn delete_routing(&self, net: &ProjectNetwork) -> Result<()> {
        let ec2 = self.ec2();
        for table in [&net.public_routes, &net.private_routes]
            .into_iter()
            .flatten()
        {
            ec2.delete_route_table()
                .route_table_id(table)
                .send()
                .await
                .map_err(|e| {
                    self.net_error(
                        e,
                        "ec2:DeleteRouteTable",
                        format!("delete route table {table}"),
                    )
                })?;
        }
        if let Some(gateway) = &net.gateway {
            ec2.detach_internet_gateway()
                .internet_gateway_id(gateway)
                .vpc_id(&net.vpc)
                .send()
                .await
                .map_err(|e| {
                    self.net_error(e, "ec2:DetachInternetGateway", format!("detach {gateway}"))
                })?;
            ec2.delete_internet_gateway()
                .internet_gateway_id(gateway)
                .send()
                .await
                .map_err(|e| {
                    self.net_error(e, "ec2:DeleteInternetGateway", format!("delete {gateway}"))
                })?;
        }
        Ok(())
    }
}

/// Runs `call` until it succeeds, retrying `DependencyViolation` every 5 s until `deadline`; past
/// it, the last refusal is the error.
pub(super) async fn patient<E, F, Fut>(
    deadline: Instant,
    call: F,
    fail: impl Fn(
        aws_sdk_ec2::error::SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
    ) -> anyhow::Error,
) -> Result<()>
where
    E: ProvideErrorMetadata,
    F: Fn() -> Fut,
    Fut: std::future::Future<
        Output = std::result::Result<
            (),
            aws_sdk_ec2::error::SdkError<E, aws_sdk_sts::config::http::HttpResponse>,
        >,
    >,
{
    let refused = std::sync::Mutex::new(None);
    let done = poll_until(
        "EC2 to let go of the network interfaces",
        deadline,
        every(Duration::from_secs(5)),
        || async {
            match call().await {
                Ok(()) => Ok(Some(())),
                Err(e) if e.code() == Some("DependencyViolation") => {
                    *refused.lock().expect("not poisoned") = Some(fail(e));
                    Ok(None)
                }
                Err(e) => Err(fail(e)),
            }
        },
    )
    .await?;
    done.map_err(|timed_out| {
        let last = refused.lock().expect("not poisoned").take();
        last.unwrap_or_else(|| timed_out.into())
    })
}
