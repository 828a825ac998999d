//! `keep-revisions`: after a deploy registers, older ACTIVE revisions of the stage's family beyond
//! the newest N are deregistered — only those cargo-fargate registered (tagged `managed-by =
//! cargo-fargate`), and never one a service of the cluster or the stage's schedule still uses.
//! Deregistered revisions stay describable (INACTIVE) and running tasks keep running.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::aws::Aws;
use crate::config::Config;
use crate::error::Result;
use crate::names::MANAGED_TAG;
use crate::output::Output;

#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub keep: u32,
    /// `family:revision` of each revision deregistered now.
    pub deregistered: Vec<String>,
    /// Old revisions kept because something uses them, with what.
    pub in_use: Vec<String>,
    /// Old revisions kept because cargo-fargate did not register them.
    pub not_ours: Vec<String>,
}

/// Which revisions to deregister: past the newest `keep`, not in use, tagged as ours. `revisions`
/// is newest first; `tags` holds the tags of the old ones.
pub fn choose(
    revisions: &[(i64, String)],
    keep: u32,
    in_use: &BTreeSet<String>,
    tags: &BTreeMap<String, BTreeMap<String, String>>,
) -> PruneReport {
    let mut report = PruneReport {
        keep,
        ..PruneReport::default()
    };
    if keep == 0 {
        return report;
    }
    for (_, arn) in revisions.iter().skip(keep as usize) {
        let short = arn.rsplit('/').next().unwrap_or(arn).to_string();
        if in_use.contains(arn) {
            report.in_use.push(short);
        } else if tags
            .get(arn)
            .and_then(|t| t.get(MANAGED_TAG.0))
            .map(String::as_str)
            != Some(MANAGED_TAG.1)
        {
            report.not_ours.push(short);
        } else {
            report.deregistered.push(short);
        }
    }
    report
}

/// Deregisters the stage's old revisions (see the module doc); `keep-revisions = 0` keeps all.
pub async fn prune(aws: &Aws, config: &Config, out: &Output) -> Result<PruneReport> {
    let keep = config.keep_revisions;
    let family = crate::names::family(config);
    let revisions = aws.active_revisions(&family).await?;
    if keep == 0 || revisions.len() <= keep as usize {
        return Ok(PruneReport {
            keep,
            ..PruneReport::default()
        });
    }
    // Deregistering is housekeeping after the deploy succeeded: when what is in use cannot be
    // told (e.g. no scheduler:GetSchedule permission), nothing is deregistered and it says why.
    let in_use = async {
        let mut in_use = aws
            .revisions_used_by_services(&config.names.cluster)
            .await?;
        if let Some(found) = aws.get_schedule(&crate::names::schedule(config)).await? {
            in_use.insert(found.spec.task_definition_arn);
        }
        Ok::<_, anyhow::Error>(in_use)
    };
    let in_use = match in_use.await {
        Ok(in_use) => in_use,
        Err(e) => {
            out.warn(format_args!(
                "keep-revisions: no old revision deregistered, as the ones in use could not be listed: {e:#}"
            ));
            return Ok(PruneReport {
                keep,
                ..PruneReport::default()
            });
        }
    };
    let mut tags = BTreeMap::new();
    for (_, arn) in revisions.iter().skip(keep as usize) {
        if !in_use.contains(arn) {
            tags.insert(arn.clone(), aws.task_definition_tags(arn).await?);
        }
    }
    let report = choose(&revisions, keep, &in_use, &tags);
    let by_short: BTreeMap<&str, &str> = revisions
        .iter()
        .map(|(_, arn)| (arn.rsplit('/').next().unwrap_or(arn), arn.as_str()))
        .collect();
    for short in &report.deregistered {
        aws.deregister_task_definition(by_short[short.as_str()])
            .await?;
        out.status(
            "Deregistered",
            format_args!("{short} (keep-revisions = {keep})"),
        );
    }
    for short in &report.in_use {
        out.verbose(format_args!(
            "kept {short}: a service or the schedule uses it"
        ));
    }
    Ok(report)
}

impl fmt::Display for PruneReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} deregistered", self.deregistered.len())?;
        if !self.deregistered.is_empty() {
            write!(f, " ({})", self.deregistered.join(", "))?;
        }
        if !self.in_use.is_empty() {
            write!(f, "; kept in use: {}", self.in_use.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(rev: i64) -> String {
        format!("arn:aws:ecs:eu-west-1:1:task-definition/app-dev:{rev}")
    }

    #[test]
    fn keeps_the_newest_those_in_use_and_those_not_ours() {
        let revisions: Vec<(i64, String)> = (1..=7).rev().map(|r| (r, arn(r))).collect();
        let in_use: BTreeSet<String> = [arn(2)].into_iter().collect();
        let ours: BTreeMap<String, String> =
            [(MANAGED_TAG.0.to_string(), MANAGED_TAG.1.to_string())]
                .into_iter()
                .collect();
        let mut tags: BTreeMap<String, BTreeMap<String, String>> =
            (1..=7).map(|r| (arn(r), ours.clone())).collect();
        tags.insert(arn(3), BTreeMap::new());
        let r = choose(&revisions, 3, &in_use, &tags);
        assert_eq!(r.deregistered, ["app-dev:4", "app-dev:1"]);
        assert_eq!(r.in_use, ["app-dev:2"]);
        assert_eq!(r.not_ours, ["app-dev:3"]);
        // Fewer than N: nothing; 0: pruning is off.
        assert!(choose(&revisions, 7, &in_use, &tags)
            .deregistered
            .is_empty());
        assert!(choose(&revisions, 0, &in_use, &tags)
            .deregistered
            .is_empty());
    }
}
