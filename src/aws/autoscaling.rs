//! Application Auto Scaling for a service (`scale-on`): its scalable target (the service's
//! desired count between min and max) and target-tracking policies, read, put and removed.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};

use super::Aws;
use crate::error::Result;

/// A target-tracking policy as found or wanted.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackingPolicy {
    pub name: String,
    /// ECSServiceAverageCPUUtilization, ECSServiceAverageMemoryUtilization, ALBRequestCountPerTarget.
    pub metric: String,
    pub target: f64,
    /// ALBRequestCountPerTarget's `app/<lb>/<id>/targetgroup/<tg>/<id>`.
    pub resource_label: Option<String>,
}

/// `service/<cluster>/<service>`: how Application Auto Scaling names an ECS service.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

impl Aws {
    /// The service's scalable target: (min, max), if registered.
    pub async fn scalable_target(&self, resource: &str) -> Result<Option<(i32, i32)>> {
        let out = self
            .autoscaling()
            .describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_ids(resource)
            .send()
            .await
            .map_err(self.deployer_error(
                "application-autoscaling:DescribeScalableTargets",
                format!("read the scaling of {resource}"),
            ))?;
        Ok(out
            .scalable_targets()
            .first()
            .map(|t| (t.min_capacity(), t.max_capacity())))
    }

    /// The service's target-tracking policies.
    pub async fn tracking_policies(&self, resource: &str) -> Result<Vec<TrackingPolicy>> {
        let out = self
            .autoscaling()
            .describe_scaling_policies()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource)
            .send()
            .await
            .map_err(self.deployer_error(
                "application-autoscaling:DescribeScalingPolicies",
                format!("read the scaling policies of {resource}"),
            ))?;
        Ok(out
            .scaling_policies()
            .iter()
            .map(|p| {
                let config = p.target_tracking_scaling_policy_configuration();
                let metric = config.and_then(|c| c.predefined_metric_specification());
                TrackingPolicy {
                    name: p.policy_name().to_string(),
                    metric: metric
                        .map(|m| m.predefined_metric_type().as_str().to_string())
                        .unwrap_or_default(),
                    target: config.map(|c| c.target_value()).unwrap_or_default(),
                    resource_label: metric.and_then(|m| m.resource_label()).map(str::to_string),
                }
            })
            .collect())
    }

    /// Registers (or updates) the scalable target, tagged as the stage's.
    pub async fn register_scalable_target(
        &self,
        resource: &str,
        min: u32,
        max: u32,
        tags: &BTreeMap<String, String>,
    ) -> Result<()> {
        self.autoscaling()
            .register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource)
            .min_capacity(min as i32)
            .max_capacity(max as i32)
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(self.deployer_error(
                "application-autoscaling:RegisterScalableTarget",
                format!("scale {resource} between {min} and {max}"),
            ))?;
        Ok(())
    }

    pub async fn put_tracking_policy(&self, resource: &str, p: &TrackingPolicy) -> Result<()> {
        let mut metric = PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::from(p.metric.as_str()));
        if let Some(label) = &p.resource_label {
            metric = metric.resource_label(label);
        }
        let config = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(p.target)
            .predefined_metric_specification(metric.build().map_err(anyhow::Error::from)?)
            .build()
            .map_err(anyhow::Error::from)?;
        self.autoscaling()
            .put_scaling_policy()
            .policy_name(&p.name)
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(config)
            .send()
            .await
            .map_err(self.deployer_error(
                "application-autoscaling:PutScalingPolicy",
                format!("put scaling policy {}", p.name),
            ))?;
        Ok(())
    }

    pub async fn delete_tracking_policy(&self, resource: &str, name: &str) -> Result<()> {
        self.autoscaling()
            .delete_scaling_policy()
            .policy_name(name)
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource)
            .send()
            .await
            .map_err(self.deployer_error(
                "application-autoscaling:DeleteScalingPolicy",
                format!("delete scaling policy {name}"),
            ))?;
        Ok(())
    }

    pub async fn deregister_scalable_target(&self, resource: &str) -> Result<()> {
        self.autoscaling()
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .resource_id(resource)
            .send()
            .await
            .map_err(self.deployer_error(
                "application-autoscaling:DeregisterScalableTarget",
                format!("stop scaling {resource}"),
            ))?;
        Ok(())
    }
}
