//! Elastic Load Balancing v2: the Application Load Balancer, target group and listeners `setup`
//! makes for `load-balancer = …`, found by name and checked to be ours by their tags; and a given
//! target group read (never changed) for `doctor`.

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, Certificate, ForwardActionConfig, LoadBalancerSchemeEnum,
    LoadBalancerTypeEnum, Matcher, ProtocolEnum, RedirectActionConfig,
    RedirectActionStatusCodeEnum, RuleCondition, Tag, TargetGroupAttribute, TargetGroupTuple,
    TargetTypeEnum,
};

use super::{Aws, HttpResponse, SdkError};
use crate::error::{Result, UserError};

/// A load balancer as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundBalancer {
    pub arn: String,
    pub dns_name: String,
    pub internal: bool,
    pub tags: BTreeMap<String, String>,
}

/// A target group's settings that decide how fast a deploy moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetGroupSettings {
    pub arn: String,
    pub name: String,
    pub port: i32,
    pub health_check_path: String,
    pub interval: i32,
    pub timeout: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub deregistration_delay: i32,
    pub load_balancers: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// A listener: (ARN, port, protocol).
pub type Listener = (String, i32, String);

/// A listener rule that forwards: its ARN and (target group ARN, weight) per target group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardRule {
    pub arn: String,
    pub weights: Vec<(String, i32)>,
}

fn forward_rule(rule: &aws_sdk_elasticloadbalancingv2::types::Rule) -> ForwardRule {
    let weights = rule
        .actions()
        .iter()
        .filter_map(|a| a.forward_config())
        .flat_map(|f| f.target_groups())
        .map(|t| {
            (
                t.target_group_arn().unwrap_or_default().to_string(),
                t.weight().unwrap_or(1),
            )
        })
        .collect();
    ForwardRule {
        arn: rule.rule_arn().unwrap_or_default().to_string(),
        weights,
    }
}

/// What a new target group is made with.
pub struct NewTargetGroup<'a> {
    pub name: &'a str,
    pub vpc: &'a str,
    pub port: u16,
    pub health_check_path: &'a str,
    pub interval: i32,
    pub timeout: i32,
    pub healthy_threshold: i32,
    pub unhealthy_threshold: i32,
    pub deregistration_delay: u32,
}

fn tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn not_found(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("LoadBalancerNotFound" | "TargetGroupNotFound" | "ListenerNotFound")
    )
}

impl Aws {
    /// Explains a failed call `action` made to do `what`: the deployer policy allows it, for
    /// `setup` (or for `deploy`, Application Auto Scaling's calls, which share this).
    pub(super) fn deployer_error<E>(
        &self,
        action: &'static str,
        what: String,
    ) -> impl FnOnce(SdkError<E, HttpResponse>) -> anyhow::Error + '_
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let command = if action.starts_with("application-autoscaling:") {
            "deploy"
        } else {
            "setup"
        };
        move |e| {
            self.fail(e, action, |m| {
                UserError::new(format!("could not {what}: {m}"))
                    .fix(format!("your credentials need {action} (`cargo fargate iam policy --for deployer` lists what {command} needs)"))
                    .into()
            })
        }
    }

    /// `call`'s answer; None when what it reads or deletes is not there.
    fn unless_missing<T, E>(
        &self,
        call: std::result::Result<T, SdkError<E, HttpResponse>>,
        action: &'static str,
        what: String,
    ) -> Result<Option<T>>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match call {
            Ok(o) => Ok(Some(o)),
            Err(e) if not_found(e.code()) => Ok(None),
            Err(e) => Err(self.deployer_error(action, what)(e)),
        }
    }

    async fn elb_tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let out = self
            .elb()
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:DescribeTags",
                format!("read the tags of {arn}"),
            ))?;
        Ok(out
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    /// The load balancer of this name, if any.
    pub async fn find_load_balancer(&self, name: &str) -> Result<Option<FoundBalancer>> {
        let out = self.unless_missing(
            self.elb()
                .describe_load_balancers()
                .names(name)
                .send()
                .await,
            "elasticloadbalancing:DescribeLoadBalancers",
            format!("read load balancer {name}"),
        )?;
        let Some(lb) = out.as_ref().and_then(|o| o.load_balancers().first()) else {
            return Ok(None);
        };
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        Ok(Some(FoundBalancer {
            tags: self.elb_tags(&arn).await?,
            dns_name: lb.dns_name().unwrap_or_default().to_string(),
            internal: lb.scheme() == Some(&LoadBalancerSchemeEnum::Internal),
            arn,
        }))
    }

    /// A target group by name or by ARN, with its attributes and tags.
    pub async fn find_target_group(
        &self,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<Option<TargetGroupSettings>> {
        let shown = name.or(arn).unwrap_or_default().to_string();
        let call = self
            .elb()
            .describe_target_groups()
            .set_names(name.map(|n| vec![n.to_string()]))
            .set_target_group_arns(arn.map(|a| vec![a.to_string()]))
            .send()
            .await;
        let out = self.unless_missing(
            call,
            "elasticloadbalancing:DescribeTargetGroups",
            format!("read target group {shown}"),
        )?;
        let Some(tg) = out.as_ref().and_then(|o| o.target_groups().first()) else {
            return Ok(None);
        };
        let arn = tg.target_group_arn().unwrap_or_default().to_string();
        let attributes = self
            .elb()
            .describe_target_group_attributes()
            .target_group_arn(&arn)
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                format!("read the attributes of target group {shown}"),
            ))?;
        let delay = attributes
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value()?.parse().ok())
            .unwrap_or(300);
        Ok(Some(TargetGroupSettings {
            name: tg.target_group_name().unwrap_or_default().to_string(),
            port: tg.port().unwrap_or_default(),
            health_check_path: tg.health_check_path().unwrap_or("/").to_string(),
            interval: tg.health_check_interval_seconds().unwrap_or(30),
            timeout: tg.health_check_timeout_seconds().unwrap_or(5),
            healthy_threshold: tg.healthy_threshold_count().unwrap_or(5),
            unhealthy_threshold: tg.unhealthy_threshold_count().unwrap_or(2),
            deregistration_delay: delay,
            load_balancers: tg.load_balancer_arns().to_vec(),
            tags: self.elb_tags(&arn).await?,
            arn,
        }))
    }

    pub async fn listeners(&self, load_balancer: &str) -> Result<Vec<Listener>> {
        let out = self
            .elb()
            .describe_listeners()
            .load_balancer_arn(load_balancer)
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:DescribeListeners",
                format!("read the listeners of {load_balancer}"),
            ))?;
        Ok(out
            .listeners()
            .iter()
            .map(|l| {
                (
                    l.listener_arn().unwrap_or_default().to_string(),
                    l.port().unwrap_or_default(),
                    l.protocol()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect())
    }

    /// An Application Load Balancer: (ARN, DNS name).
    pub async fn create_load_balancer(
        &self,
        name: &str,
        internal: bool,
        subnets: &[String],
        group: &str,
        tag_map: &BTreeMap<String, String>,
    ) -> Result<(String, String)> {
        let out = self
            .elb()
            .create_load_balancer()
            .name(name)
            .r#type(LoadBalancerTypeEnum::Application)
            .scheme(if internal {
                LoadBalancerSchemeEnum::Internal
            } else {
                LoadBalancerSchemeEnum::InternetFacing
            })
            .set_subnets(Some(subnets.to_vec()))
            .security_groups(group)
            .set_tags(Some(tags(tag_map)))
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:CreateLoadBalancer",
                format!("create load balancer {name}"),
            ))?;
        let lb = out.load_balancers().first();
        Ok((
            lb.and_then(|l| l.load_balancer_arn())
                .unwrap_or_default()
                .to_string(),
            lb.and_then(|l| l.dns_name())
                .unwrap_or_default()
                .to_string(),
        ))
    }

    /// A target group of IP targets (Fargate tasks) with its health check and deregistration delay.
    pub async fn create_target_group(
        &self,
        tg: &NewTargetGroup<'_>,
        tag_map: &BTreeMap<String, String>,
    ) -> Result<String> {
        let out = self
            .elb()
            .create_target_group()
            .name(tg.name)
            .protocol(ProtocolEnum::Http)
            .port(tg.port.into())
            .vpc_id(tg.vpc)
            .target_type(TargetTypeEnum::Ip)
            .health_check_path(tg.health_check_path)
            .health_check_interval_seconds(tg.interval)
            .health_check_timeout_seconds(tg.timeout)
            .healthy_threshold_count(tg.healthy_threshold)
            .unhealthy_threshold_count(tg.unhealthy_threshold)
            .matcher(Matcher::builder().http_code("200").build())
            .set_tags(Some(tags(tag_map)))
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:CreateTargetGroup",
                format!("create target group {}", tg.name),
            ))?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .unwrap_or_default()
            .to_string();
        self.set_deregistration_delay(&arn, tg.deregistration_delay)
            .await?;
        Ok(arn)
    }

    pub async fn set_deregistration_delay(&self, arn: &str, seconds: u32) -> Result<()> {
        self.elb()
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .attributes(
                TargetGroupAttribute::builder()
                    .key("deregistration_delay.timeout_seconds")
                    .value(seconds.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                format!("set the deregistration delay of {arn}"),
            ))?;
        Ok(())
    }

    /// The health check: (path, interval, timeout, healthy threshold, unhealthy threshold).
    pub async fn set_health_check(
        &self,
        arn: &str,
        check: (&str, i32, i32, i32, i32),
    ) -> Result<()> {
        let (path, interval, timeout, healthy, unhealthy) = check;
        self.elb()
            .modify_target_group()
            .target_group_arn(arn)
            .health_check_path(path)
            .health_check_interval_seconds(interval)
            .health_check_timeout_seconds(timeout)
            .healthy_threshold_count(healthy)
            .unhealthy_threshold_count(unhealthy)
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:ModifyTargetGroup",
                format!("set the health check of {arn}"),
            ))?;
        Ok(())
    }

    /// A listener forwarding to `target_group`, or (without one) redirecting HTTP to HTTPS.
    pub async fn create_listener(
        &self,
        load_balancer: &str,
        port: i32,
        certificate: Option<&str>,
        target_group: Option<&str>,
        tag_map: &BTreeMap<String, String>,
    ) -> Result<String> {
        let action = match target_group {
            Some(tg) => Action::builder()
                .r#type(ActionTypeEnum::Forward)
                .target_group_arn(tg)
                .build(),
            None => Action::builder()
                .r#type(ActionTypeEnum::Redirect)
                .redirect_config(
                    RedirectActionConfig::builder()
                        .protocol("HTTPS")
                        .port("443")
                        .status_code(RedirectActionStatusCodeEnum::Http301)
                        .build(),
                )
                .build(),
        };
        let out = self
            .elb()
            .create_listener()
            .load_balancer_arn(load_balancer)
            .port(port)
            .protocol(if certificate.is_some() {
                ProtocolEnum::Https
            } else {
                ProtocolEnum::Http
            })
            .set_certificates(
                certificate.map(|c| vec![Certificate::builder().certificate_arn(c).build()]),
            )
            .default_actions(action)
            .set_tags(Some(tags(tag_map)))
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:CreateListener",
                format!("create the listener on port {port}"),
            ))?;
        Ok(out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .unwrap_or_default()
            .to_string())
    }

    /// Removes a load balancer of ours; ELB deletes its listeners with it.
    pub async fn delete_load_balancer(&self, arn: &str) -> Result<()> {
        let call = self.elb().delete_load_balancer().load_balancer_arn(arn);
        self.unless_missing(
            call.send().await,
            "elasticloadbalancing:DeleteLoadBalancer",
            format!("delete load balancer {arn}"),
        )?;
        Ok(())
    }

    pub async fn delete_target_group(&self, arn: &str) -> Result<()> {
        let call = self.elb().delete_target_group().target_group_arn(arn);
        self.unless_missing(
            call.send().await,
            "elasticloadbalancing:DeleteTargetGroup",
            format!("delete target group {arn}"),
        )?;
        Ok(())
    }

    /// The listener's rule of `priority` (the production rule a traffic-shifting deployment moves).
    pub async fn rule_at(&self, listener: &str, priority: i32) -> Result<Option<ForwardRule>> {
        let out = self
            .elb()
            .describe_rules()
            .listener_arn(listener)
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:DescribeRules",
                format!("read the rules of listener {listener}"),
            ))?;
        let wanted = priority.to_string();
        Ok(out
            .rules()
            .iter()
            .find(|r| r.priority() == Some(wanted.as_str()))
            .map(forward_rule))
    }

    /// One rule's forward weights, as ECS moves them during a deployment.
    pub async fn rule(&self, arn: &str) -> Result<ForwardRule> {
        let out = self
            .elb()
            .describe_rules()
            .rule_arns(arn)
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:DescribeRules",
                format!("read listener rule {arn}"),
            ))?;
        Ok(out
            .rules()
            .first()
            .map(forward_rule)
            .unwrap_or(ForwardRule {
                arn: arn.to_string(),
                weights: Vec::new(),
            }))
    }

    /// The production rule: every path forwarded to `primary` (weight 100) and `alternate` (0),
    /// the weights ECS moves during a blue-green, canary or linear deployment.
    pub async fn create_production_rule(
        &self,
        listener: &str,
        priority: i32,
        (primary, alternate): (&str, &str),
        tag_map: &BTreeMap<String, String>,
    ) -> Result<String> {
        let forward = ForwardActionConfig::builder()
            .target_groups(
                TargetGroupTuple::builder()
                    .target_group_arn(primary)
                    .weight(100)
                    .build(),
            )
            .target_groups(
                TargetGroupTuple::builder()
                    .target_group_arn(alternate)
                    .weight(0)
                    .build(),
            )
            .build();
        let out = self
            .elb()
            .create_rule()
            .listener_arn(listener)
            .priority(priority)
            .conditions(
                RuleCondition::builder()
                    .field("path-pattern")
                    .values("/*")
                    .build(),
            )
            .actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .forward_config(forward)
                    .build(),
            )
            .set_tags(Some(tags(tag_map)))
            .send()
            .await
            .map_err(self.deployer_error(
                "elasticloadbalancing:CreateRule",
                format!("create the production rule of listener {listener}"),
            ))?;
        Ok(out
            .rules()
            .first()
            .and_then(|r| r.rule_arn())
            .unwrap_or_default()
            .to_string())
    }
}
