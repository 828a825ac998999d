//! What one run may override of the task definition: plain environment variables and the command,
//! within RunTask's size limit.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::Config;
use crate::error::{Location, UserError};

/// `--env KEY=VALUE` overrides: plain variables only (a secret's name is refused).
pub fn parse_env_overrides(
    values: &[String],
    config: &Config,
) -> Result<BTreeMap<String, String>, UserError> {
    let mut env = BTreeMap::new();
    for v in values {
        let at = || Location::Flag("--env".into());
        let (k, val) = v.split_once('=').ok_or_else(|| {
            UserError::new(format!("`{v}` is not KEY=VALUE"))
                .at(at())
                .fix("write --env NAME=value")
        })?;
        crate::config::validate::env_name(k).map_err(|e| UserError::new(e).at(at()))?;
        crate::config::validate::process_string(&format!("the value of `{k}`"), val)
            .map_err(|e| UserError::new(e).at(at()))?;
        if config.container.secrets.contains_key(k) {
            return Err(UserError::new(format!(
                "`{k}` is a secret; it cannot be overridden with a plain value"
            ))
            .at(at())
            .fix("change the secret's value where it is stored, or use another name"));
        }
        env.insert(k.to_string(), val.to_string());
    }
    Ok(env)
}

/// RunTask refuses overrides over 8192 characters of JSON (the whole `overrides` structure).
pub fn check_override_size(
    container: &str,
    command: &[String],
    environment: &BTreeMap<String, String>,
) -> Result<(), UserError> {
    const LIMIT: usize = 8192;
    let env: Vec<Value> = environment
        .iter()
        .map(|(k, v)| serde_json::json!({"name": k, "value": v}))
        .collect();
    let overrides = serde_json::json!({"containerOverrides": [{"name": container, "command": command, "environment": env}]});
    let size = overrides.to_string().len();
    if size <= LIMIT {
        return Ok(());
    }
    Err(UserError::new(format!(
        "the overrides of this run are {size} characters of JSON, over RunTask's limit of {LIMIT}"
    ))
    .at(Location::Flag(if command.iter().map(String::len).sum::<usize>() > environment.values().map(String::len).sum::<usize>() { "-- COMMAND".into() } else { "--env".into() }))
    .fix("pass less with -e / -- COMMAND: put large values in `environment` or `secrets` (they are in the task definition, not the overrides)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_over_8_kib_are_refused_naming_the_flag() {
        let small = BTreeMap::from([("A".to_string(), "1".to_string())]);
        assert!(check_override_size("app", &[], &small).is_ok());
        let big = BTreeMap::from([("A".to_string(), "x".repeat(9000))]);
        let e = check_override_size("app", &[], &big)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("flag --env: the overrides of this run are"),
            "{e}"
        );
    }

    #[test]
    fn env_overrides_are_plain_variables_only() {
        let c = crate::config::test_config("[package.metadata.fargate.secrets]\nDB = \"/app/db\"");
        let env = parse_env_overrides(&["A=1".into(), "B=x=y".into()], &c).unwrap();
        assert_eq!(env["B"], "x=y");
        let e = parse_env_overrides(&["DB=plain".into()], &c)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("flag --env: `DB` is a secret"), "{e}");
        assert!(parse_env_overrides(&["NOEQUALS".into()], &c).is_err());
        assert!(parse_env_overrides(&["1A=x".into()], &c).is_err());
    }
}
