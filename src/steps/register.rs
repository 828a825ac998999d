//! Registering: a new revision only when the rendered definition differs from the latest ACTIVE
//! one. Both sides are normalised first (what ECS adds on its own, ordering, empty values), and the
//! same normal form gives `cargo fargate diff` its unified diff.

use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};
use similar::TextDiff;

use crate::aws::image::ImageCheck;
use crate::aws::logs::LogGroupState;
use crate::aws::Aws;
use crate::config::Config;
use crate::error::Result;
use crate::iam::roles::{self, RoleState};
use crate::image::PinnedImage;
use crate::output::Output;
use crate::steps::render::{drop_empty, RenderInput};

/// Fields ECS reports about a revision that are not part of what was registered.
pub const READ_ONLY: &[&str] = &[
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
];

/// The latest ACTIVE revision, normalised.
#[derive(Debug, Clone)]
pub struct Latest {
    pub arn: String,
    pub revision: i64,
    pub definition: Value,
}

/// The canonical form of a rendered definition: sorted keys, no empties, environment, secrets and
/// tags sorted.
pub fn normalise(definition: &Value) -> Value {
    let mut v = drop_empty(definition.clone());
    if let Some(containers) = v
        .get_mut("containerDefinitions")
        .and_then(Value::as_array_mut)
    {
        for c in containers {
            for key in ["environment", "secrets"] {
                sort_by(c.get_mut(key), "name");
            }
        }
    }
    sort_by(v.get_mut("tags"), "key");
    sorted(v)
}

/// The canonical form of a DescribeTaskDefinition response (`taskDefinition` + `tags`), judged
/// against what was rendered: read-only fields go, and so do fields ECS fills with a default
/// (`false`, `0`, `""`) that the rendered definition does not set.
pub fn normalise_registered(described: &Value, rendered: &Value) -> Value {
    let mut td = described["taskDefinition"].clone();
    if let Some(obj) = td.as_object_mut() {
        for key in READ_ONLY {
            obj.remove(*key);
        }
        if let Some(tags) = described.get("tags") {
            obj.insert("tags".into(), tags.clone());
        }
    }
    let td = normalise(&td);
    strip_defaults(td, &normalise(rendered))
}

fn sort_by(list: Option<&mut Value>, field: &str) {
    if let Some(Value::Array(items)) = list {
        items.sort_by(|a, b| {
            a[field]
                .as_str()
                .unwrap_or_default()
                .cmp(b[field].as_str().unwrap_or_default())
        });
    }
}

fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn is_default(v: &Value) -> bool {
    match v {
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

fn strip_defaults(remote: Value, rendered: &Value) -> Value {
    match (remote, rendered) {
        (Value::Object(map), Value::Object(want)) => Value::Object(
            map.into_iter()
                .filter_map(|(k, v)| match want.get(&k) {
                    Some(w) => Some((k, strip_defaults(v, w))),
                    None if is_default(&v) => None,
                    None => Some((k, strip_defaults(v, &Value::Null))),
                })
                .collect(),
        ),
        (Value::Object(map), _) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !is_default(v))
                .map(|(k, v)| (k, strip_defaults(v, &Value::Null)))
                .collect(),
        ),
        (Value::Array(items), Value::Array(want)) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| strip_defaults(v, want.get(i).unwrap_or(&Value::Null)))
                .collect(),
        ),
        (Value::Array(items), _) => Value::Array(
            items
                .into_iter()
                .map(|v| strip_defaults(v, &Value::Null))
                .collect(),
        ),
        (other, _) => other,
    }
}

/// A unified diff of two normalised definitions; empty when they are equal.
pub fn unified_diff(old: &Value, new: &Value, old_label: &str, new_label: &str) -> String {
    let old = pretty(old);
    let new = pretty(new);
    TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

fn pretty(v: &Value) -> String {
    if v.is_null() {
        return String::new();
    }
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialise");
    s.push('\n');
    s
}

/// The latest ACTIVE revision of `family`, normalised against `rendered`.
pub async fn latest(aws: &Aws, family: &str, rendered: &Value) -> Result<Option<Latest>> {
    Ok(latest_of(
        aws.latest_task_definition(family).await?,
        rendered,
    ))
}

/// [`latest`] of a revision already read (`DescribeTaskDefinition`'s answer).
pub fn latest_of(described: Option<Value>, rendered: &Value) -> Option<Latest> {
    let described = described?;
    let td = &described["taskDefinition"];
    Some(Latest {
        arn: td["taskDefinitionArn"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        revision: td["revision"].as_i64().unwrap_or_default(),
        definition: normalise_registered(&described, rendered),
    })
}

/// What `register` (and `run`, which registers first) did with the task definition.
#[derive(Debug, Clone, Serialize)]
pub struct Registration {
    pub family: String,
    pub arn: String,
    pub revision: i64,
    /// False when the latest revision already matched and was reused.
    pub registered: bool,
    pub previous_revision: Option<i64>,
}

/// Registers the rendered definition unless the latest ACTIVE revision is the same. `known`: the
/// latest revision when the caller already read it (`None`: read it now).
pub async fn ensure(
    aws: &Aws,
    rendered: &Value,
    known: Option<Option<Latest>>,
) -> Result<Registration> {
    let family = rendered["family"].as_str().unwrap_or_default().to_string();
    let latest = match known {
        Some(latest) => latest,
        None => latest(aws, &family, rendered).await?,
    };
    if let Some(l) = &latest {
        if l.definition == normalise(rendered) {
            return Ok(Registration {
                family,
                arn: l.arn.clone(),
                revision: l.revision,
                registered: false,
                previous_revision: Some(l.revision),
            });
        }
    }
    let r = aws.register_task_definition(rendered).await?;
    Ok(Registration {
        family,
        arn: r.arn,
        revision: r.revision as i64,
        registered: true,
        previous_revision: latest.map(|l| l.revision),
    })
}

/// Everything checked and rendered; nothing created yet.
pub struct Prepared {
    pub image: PinnedImage,
    pub roles: roles::Plan,
    pub definition: Value,
    /// The deploy's plan found the log group as configured: [`apply`] does not ask again.
    pub log_group_ready: bool,
}

/// Renders the definition from what the caller checked: the image (`check`: how it was found) and
/// the roles' plan. Pure: nothing is asked of AWS, nothing is created.
pub fn prepare(
    config: &Config,
    image: PinnedImage,
    check: ImageCheck,
    roles: roles::Plan,
    region: &str,
    out: &Output,
) -> Result<Prepared> {
    match check {
        ImageCheck::Found => out.verbose(format_args!("image {} is in ECR", image.reference)),
        ImageCheck::NotEcr => out.warn(format_args!(
            "{} is not in ECR, so it was not checked; the execution role must be able to pull it",
            image.repository
        )),
    }
    let definition = crate::steps::render::render(&RenderInput {
        config,
        image: &image,
        task_role_arn: &roles.task.arn,
        execution_role_arn: &roles.execution.arn,
        region,
    })?;
    Ok(Prepared {
        image,
        roles,
        definition,
        log_group_ready: false,
    })
}

/// Makes the roles and the log group, then registers the definition if it changed.
/// An existing log group's retention is changed only when the group is this stage's (the rule
/// teardown keeps it by) or adopted: `Err` names it, before any change; `Ok(Some(arn))`: adopt it
/// (tag it) first; `Ok(None)`: nothing to ask (missing, ours, or its retention already right).
pub async fn check_log_group(aws: &Aws, config: &Config, name: &str) -> Result<Option<String>> {
    Ok(inspect_log_group(aws, config, name).await?.adopt)
}

/// The log group as the plan sees it: whether the register step writes to it, and whom to adopt.
pub struct LogGroupCheck {
    /// Missing, or its retention differs: CreateLogGroup / PutRetentionPolicy follow.
    pub writes: bool,
    pub adopt: Option<String>,
}

/// [`check_log_group`], also saying whether the register step will write to the group.
pub async fn inspect_log_group(aws: &Aws, config: &Config, name: &str) -> Result<LogGroupCheck> {
    let Some(found) = aws.log_group(name).await? else {
        return Ok(LogGroupCheck {
            writes: true,
            adopt: None,
        });
    };
    if found.retention_days == Some(config.container.log_retention_days as i32) {
        return Ok(LogGroupCheck {
            writes: false,
            adopt: None,
        });
    }
    let tags = aws.log_group_tags(&found.arn).await?;
    let changes = format!(
        "setting its retention from {} to {} days",
        found
            .retention_days
            .map_or("never expire".to_string(), |d| d.to_string()),
        config.container.log_retention_days
    );
    let adopt = crate::iam::may_update(config, &format!("log group `{name}`"), &tags, &changes)?;
    Ok(LogGroupCheck {
        writes: true,
        adopt: adopt.then_some(found.arn),
    })
}

pub async fn apply(
    aws: &Aws,
    config: &Config,
    prepared: &Prepared,
    latest: Option<Option<Latest>>,
    out: &Output,
) -> Result<RegisterReport> {
    // Before the first change: someone else's log group is refused here.
    let adopt_log_group = match prepared.log_group_ready {
        true => None,
        false => check_log_group(aws, config, &config.container.log_group).await?,
    };
    let roles = roles::apply(aws, &prepared.roles).await?;
    for r in roles.iter().filter(|r| r.created || !r.changes.is_empty()) {
        out.status(
            if r.created { "Created" } else { "Updated" },
            format_args!("{r} ({})", r.how()),
        );
    }
    let tags = crate::names::stage_tags(config);
    if let Some(arn) = adopt_log_group {
        aws.tag_log_group(&arn, &tags).await?;
        out.status(
            "Adopted",
            format_args!(
                "log group {} (tagged as this stage's)",
                config.container.log_group
            ),
        );
    }
    let log_group = match prepared.log_group_ready {
        true => crate::aws::logs::LogGroupState {
            name: config.container.log_group.clone(),
            created: false,
            retention_updated: false,
        },
        false => {
            aws.ensure_log_group(
                &config.container.log_group,
                config.container.log_retention_days,
                &tags,
            )
            .await?
        }
    };
    if log_group.created {
        out.status(
            "Created",
            format_args!(
                "log group {} ({} days)",
                log_group.name, config.container.log_retention_days
            ),
        );
    }
    let task_definition = ensure(aws, &prepared.definition, latest).await?;
    if task_definition.registered {
        out.status(
            "Registered",
            format_args!("{}:{}", task_definition.family, task_definition.revision),
        );
    }
    Ok(RegisterReport {
        image: prepared.image.reference.clone(),
        task_definition,
        roles,
        log_group,
    })
}

/// `cargo fargate register`.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterReport {
    pub image: String,
    pub task_definition: Registration,
    pub roles: Vec<RoleState>,
    pub log_group: LogGroupState,
}

impl fmt::Display for RegisterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let td = &self.task_definition;
        if td.registered {
            writeln!(f, "registered {}:{}", td.family, td.revision)?;
        } else {
            writeln!(
                f,
                "unchanged  {}:{} (no new revision)",
                td.family, td.revision
            )?;
        }
        writeln!(f, "arn        {}", td.arn)?;
        writeln!(f, "image      {}", self.image)?;
        for r in &self.roles {
            writeln!(f, "{r} ({})", r.how())?;
        }
        let lg = &self.log_group;
        let how = if lg.created {
            "created"
        } else if lg.retention_updated {
            "retention updated"
        } else {
            "up to date"
        };
        writeln!(f, "{:<10} {} ({how})", "log group", lg.name)
    }
}

/// `cargo fargate diff`.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub family: String,
    pub latest_revision: Option<i64>,
    pub changed: bool,
    pub diff: String,
}

impl fmt::Display for DiffReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.changed, self.latest_revision) {
            (false, Some(rev)) => writeln!(f, "no changes against {}:{rev}", self.family),
            _ => write!(f, "{}", self.diff),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rendered() -> Value {
        json!({
            "family": "app-dev",
            "cpu": "256",
            "memory": "512",
            "networkMode": "awsvpc",
            "containerDefinitions": [{
                "name": "app",
                "image": "r/app@sha256:00",
                "essential": true,
                "memory": 512,
                "environment": [{"name": "B", "value": "1"}, {"name": "A", "value": "2"}],
                "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}]
            }],
            "tags": [{"key": "team", "value": "x"}]
        })
    }

    /// What DescribeTaskDefinition returns for it: read-only fields, defaults, empties, reordering.
    fn described() -> Value {
        json!({
            "taskDefinition": {
                "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/app-dev:3",
                "revision": 3,
                "status": "ACTIVE",
                "compatibilities": ["EC2", "FARGATE"],
                "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.task-iam-role"}],
                "registeredAt": "2025-01-01T00:00:00Z",
                "family": "app-dev",
                "cpu": "256",
                "memory": "512",
                "networkMode": "awsvpc",
                "volumes": [],
                "placementConstraints": [],
                "enableFaultInjection": false,
                "containerDefinitions": [{
                    "name": "app",
                    "image": "r/app@sha256:00",
                    "cpu": 0,
                    "essential": true,
                    "memory": 512,
                    "environment": [{"name": "A", "value": "2"}, {"name": "B", "value": "1"}],
                    "mountPoints": [],
                    "volumesFrom": [],
                    "systemControls": [],
                    "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}]
                }]
            },
            "tags": [{"key": "team", "value": "x"}]
        })
    }

    #[test]
    fn what_ecs_adds_is_not_a_difference() {
        assert_eq!(
            normalise_registered(&described(), &rendered()),
            normalise(&rendered())
        );
    }

    #[test]
    fn a_real_change_is_one_and_shows_in_the_diff() {
        let mut changed = rendered();
        changed["containerDefinitions"][0]["image"] = json!("r/app@sha256:11");
        let old = normalise_registered(&described(), &changed);
        assert_ne!(old, normalise(&changed));
        let d = unified_diff(&old, &normalise(&changed), "app-dev:3", "rendered");
        assert!(d.starts_with("--- app-dev:3\n+++ rendered\n"), "{d}");
        assert!(d.contains("-      \"image\": \"r/app@sha256:00\""), "{d}");
        assert!(d.contains("+      \"image\": \"r/app@sha256:11\""), "{d}");
        // A setting removed from the configuration is a change too, even a `false` one.
        let mut removed = rendered();
        removed["containerDefinitions"][0]
            .as_object_mut()
            .unwrap()
            .remove("environment");
        assert_ne!(
            normalise_registered(&described(), &removed),
            normalise(&removed)
        );
        let mut tags = described();
        tags["tags"] = json!([]);
        assert_ne!(
            normalise_registered(&tags, &rendered()),
            normalise(&rendered())
        );
    }

    #[test]
    fn no_previous_revision_diffs_against_nothing() {
        let d = unified_diff(&Value::Null, &normalise(&rendered()), "(none)", "rendered");
        assert!(d.lines().filter(|l| l.starts_with('+')).count() > 10, "{d}");
    }
}
