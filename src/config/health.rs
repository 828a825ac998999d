//! `[health-check]`: the container's own health check, rendered as the container definition's
//! `healthCheck` (ECS runs it in the container; a service replaces a task whose essential container
//! turns UNHEALTHY, and `dependsOn` HEALTHY waits for it).
//!
//! The command is exec form by default (`["CMD", ...]`), because the minimal `scratch` runtime has
//! no shell and no curl: the usual checker is the app's own binary with an argument, e.g.
//! `command = ["/app/web-service", "--health"]`. A command that starts with `CMD-SHELL` is kept as
//! it is (it needs a shell in the image).

use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::raw::{Layer, Origin, Value};
use super::resolve::{shown_key, Entry};
use crate::error::{Location, UserError};

/// ECS's limits (API ContainerDefinition.healthCheck) and defaults.
const INTERVAL: (i64, std::ops::RangeInclusive<i64>) = (30, 5..=300);
const TIMEOUT: (i64, std::ops::RangeInclusive<i64>) = (5, 2..=60);
const RETRIES: (i64, std::ops::RangeInclusive<i64>) = (3, 1..=10);
const START_PERIOD: (i64, std::ops::RangeInclusive<i64>) = (0, 0..=300);

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthCheck {
    /// As ECS takes it: `CMD` or `CMD-SHELL` first.
    pub command: Vec<String>,
    pub interval: u32,
    pub timeout: u32,
    pub retries: u32,
    pub start_period: u32,
}

impl HealthCheck {
    /// The container definition's `healthCheck`.
    pub fn ecs(&self) -> serde_json::Value {
        json!({
            "command": self.command,
            "interval": self.interval,
            "timeout": self.timeout,
            "retries": self.retries,
            "startPeriod": self.start_period,
        })
    }
}

fn error(manifest: &Path, key: &'static str, origin: &Origin, what: String) -> UserError {
    let mut e = UserError::new(what).key(shown_key(key, &origin.source));
    e.location = origin
        .where_set()
        .or_else(|| Some(Location::file(manifest, None)));
    e
}

/// Resolves `health-check.*`; None without a command (the other keys alone mean nothing).
pub fn resolve(
    layer: &Layer,
    manifest: &Path,
) -> Result<(Option<HealthCheck>, Vec<Entry>), UserError> {
    let mut entries = Vec::new();
    let get = |key: &str| {
        layer
            .settings
            .get(key)
            .map(|s| (s.value.clone(), s.origin.clone()))
    };
    let command = match get("health-check.command") {
        Some((Value::StrList(words), origin)) => {
            entries.push(Entry {
                key: "health-check.command",
                value: json!(words),
                origin: origin.clone(),
            });
            Some((words, origin))
        }
        _ => None,
    };
    let mut int = |key: &'static str, (default, range): (i64, std::ops::RangeInclusive<i64>)| {
        let (value, origin) = match get(key) {
            Some((Value::Int(i), o)) => (i, o),
            _ => (default, Origin::default_value()),
        };
        entries.push(Entry {
            key,
            value: value.into(),
            origin: origin.clone(),
        });
        if !range.contains(&value) {
            return Err(error(
                manifest,
                key,
                &origin,
                format!(
                    "{value} is out of range; ECS takes {}–{}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok((value as u32, origin))
    };
    let (interval, _) = int("health-check.interval", INTERVAL)?;
    let (timeout, timeout_origin) = int("health-check.timeout", TIMEOUT)?;
    let (retries, _) = int("health-check.retries", RETRIES)?;
    let (start_period, _) = int("health-check.start-period", START_PERIOD)?;
    let Some((words, origin)) = command else {
        return Ok((None, entries));
    };
    let first = words.first().cloned().unwrap_or_default();
    let command = match first.as_str() {
        "" => return Err(error(
            manifest,
            "health-check.command",
            &origin,
            "the health check command is empty".into(),
        )
        .fix(
            "give the checker and its arguments, e.g. command = [\"/app/my-app\", \"--health\"]",
        )),
        "CMD-SHELL" | "CMD" if words.len() < 2 => {
            return Err(error(
                manifest,
                "health-check.command",
                &origin,
                format!("`{first}` needs the command after it"),
            )
            .fix(
                "e.g. command = [\"/app/my-app\", \"--health\"] (exec form, works without a shell)",
            ))
        }
        "CMD-SHELL" | "CMD" => words,
        _ => std::iter::once("CMD".to_string()).chain(words).collect(),
    };
    if timeout >= interval {
        return Err(error(
            manifest,
            "health-check.timeout",
            &timeout_origin,
            format!("a timeout of {timeout}s does not fit in the interval of {interval}s"),
        )
        .fix("make health-check.timeout shorter than health-check.interval"));
    }
    Ok((
        Some(HealthCheck {
            command,
            interval,
            timeout,
            retries,
            start_period,
        }),
        entries,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(words: &[&str]) -> HealthCheck {
        HealthCheck {
            command: words.iter().map(|w| w.to_string()).collect(),
            interval: 30,
            timeout: 5,
            retries: 3,
            start_period: 0,
        }
    }

    #[test]
    fn renders_ecs_health_check() {
        let h = check(&["CMD", "/app/x", "--health"]);
        assert_eq!(
            h.ecs(),
            json!({"command": ["CMD", "/app/x", "--health"], "interval": 30, "timeout": 5,
                   "retries": 3, "startPeriod": 0})
        );
    }
}
