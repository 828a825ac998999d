//! ECS reads and writes of `keep-revisions`: a family's ACTIVE revisions, what services use, a
//! revision's tags, deregistration.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ecs::types::{SortOrder, TaskDefinitionField, TaskDefinitionStatus};

use super::Aws;
use crate::error::Result;

impl Aws {
    /// ACTIVE revisions of exactly `family` (not of families sharing its prefix), newest first.
    pub async fn active_revisions(&self, family: &str) -> Result<Vec<(i64, String)>> {
        let mut pages = self
            .ecs()
            .list_task_definitions()
            .family_prefix(family)
            .status(TaskDefinitionStatus::Active)
            .sort(SortOrder::Desc)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                self.fail(e, "ecs:ListTaskDefinitions", |m| {
                    anyhow::anyhow!("listing task definitions of {family}: {m}")
                })
            })?;
            for arn in page.task_definition_arns() {
                if let Some((fam, rev)) = arn.rsplit('/').next().and_then(|s| s.rsplit_once(':')) {
                    if fam == family {
                        found.push((rev.parse().unwrap_or(0), arn.to_string()));
                    }
                }
            }
        }
        found.sort_by_key(|r| std::cmp::Reverse(r.0));
        Ok(found)
    }

    /// Every task definition a service of the cluster uses: its own, and each deployment's (a
    /// rollout in progress, or one a circuit breaker may roll back to). None when the cluster
    /// does not exist.
    pub async fn revisions_used_by_services(&self, cluster: &str) -> Result<BTreeSet<String>> {
        let mut used = BTreeSet::new();
        for s in self.cluster_services(cluster).await? {
            used.extend(s.task_definition().map(str::to_string));
            for d in s.deployments() {
                used.extend(d.task_definition().map(str::to_string));
            }
        }
        Ok(used)
    }

    /// A revision's tags.
    pub async fn task_definition_tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let out = self
            .ecs()
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:DescribeTaskDefinition", |m| {
                    anyhow::anyhow!("describing {arn}: {m}")
                })
            })?;
        Ok(out
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    pub async fn deregister_task_definition(&self, arn: &str) -> Result<()> {
        self.ecs()
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| {
                self.fail(e, "ecs:DeregisterTaskDefinition", |m| {
                    anyhow::anyhow!("deregistering {arn}: {m}")
                })
            })?;
        Ok(())
    }
}
