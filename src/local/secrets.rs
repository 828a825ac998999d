//! The container's `secrets`, resolved as ECS would resolve them — but with the user's credentials
//! instead of the execution role's — and handed to the container as environment variables. Values
//! are never printed: errors name the variable and where it comes from, never what it holds.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::aws::secrets::{SecretValue, SecretVersion};
use crate::aws::Aws;
use crate::config::Config;
use crate::error::{Result, UserError};

/// Where a secret's value lives, as ECS reads a `valueFrom`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// An SSM parameter, by name or ARN.
    Parameter(String),
    /// A Secrets Manager secret: its ARN, and ECS's optional `:json-key:version-stage:version-id`.
    Secret {
        arn: String,
        json_key: Option<String>,
        version: SecretVersion,
    },
}

/// Reads a `valueFrom`: a Secrets Manager ARN (`arn:…:secretsmanager:…:secret:name[-suffix]`, then
/// optionally `:json-key:version-stage:version-id`, any of them empty), else an SSM parameter.
pub fn parse(value_from: &str) -> SecretRef {
    let parts: Vec<&str> = value_from.split(':').collect();
    if parts.len() >= 7 && parts[0] == "arn" && parts[2] == "secretsmanager" && parts[5] == "secret"
    {
        let part = |i: usize| {
            parts
                .get(i)
                .filter(|p| !p.is_empty())
                .map(|p| p.to_string())
        };
        return SecretRef::Secret {
            arn: parts[..7].join(":"),
            json_key: part(7),
            version: SecretVersion {
                stage: part(8),
                id: part(9),
            },
        };
    }
    SecretRef::Parameter(value_from.to_string())
}

/// The `secrets` of a container definition: variable name → `valueFrom`.
pub fn of_container(container: &Value) -> BTreeMap<String, String> {
    container["secrets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| {
            Some((
                s["name"].as_str()?.to_string(),
                s["valueFrom"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// One key of a JSON secret, as ECS injects it: a string as is, anything else as JSON text.
pub fn json_key(text: &str, key: &str) -> Result<String, &'static str> {
    let value: Value = serde_json::from_str(text).map_err(|_| "is not a JSON object")?;
    let object = value.as_object().ok_or("is not a JSON object")?;
    match object.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err("has no such JSON key"),
    }
}

/// Resolves every secret; the first that cannot be read is an error naming it.
pub async fn resolve(
    aws: &Aws,
    config: &Config,
    secrets: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (name, from) in secrets {
        let missing = |what: String, fix: &str| -> anyhow::Error {
            config
                .key_error("secrets", format!("`{name}`: {what}"))
                .fix(format!("{fix}, or fix `secrets.{name}`"))
                .into()
        };
        let value = match parse(from) {
            SecretRef::Parameter(parameter) => aws
                .parameter_value(&parameter)
                .await?
                .ok_or_else(|| {
                    missing(
                        format!(
                            "SSM parameter `{parameter}` does not exist in {}",
                            crate::aws::ssm::arn_region(&parameter)
                                .map(str::to_string)
                                .unwrap_or_else(|| aws.region())
                        ),
                        "create it (aws ssm put-parameter --type SecureString)",
                    )
                })?,
            SecretRef::Secret {
                arn,
                json_key: key,
                version,
            } => match aws.secret_value(&arn, &version).await? {
                None => {
                    return Err(missing(
                        format!("Secrets Manager secret `{arn}` (or that version of it) does not exist"),
                        "create it (aws secretsmanager create-secret)",
                    ))
                }
                Some(SecretValue::Binary) => {
                    return Err(UserError::new(format!(
                        "secret `{name}`: `{arn}` holds binary data; ECS hands only text secrets to containers"
                    ))
                    .fix("store the value as a SecretString")
                    .into())
                }
                Some(SecretValue::Text(text)) => match key {
                    None => text,
                    Some(key) => json_key(&text, &key).map_err(|why| {
                        missing(
                            format!("the value of `{arn}` {why} (`{key}` was asked for)"),
                            "store a JSON object with that key",
                        )
                    })?,
                },
            },
        };
        values.insert(name.clone(), value);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_from_is_read_as_ecs_reads_it() {
        assert_eq!(
            parse("/app/db-url"),
            SecretRef::Parameter("/app/db-url".into())
        );
        let ssm_arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/app/db-url";
        assert_eq!(parse(ssm_arn), SecretRef::Parameter(ssm_arn.into()));
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:app/db-AbCdEf";
        assert_eq!(
            parse(arn),
            SecretRef::Secret {
                arn: arn.into(),
                json_key: None,
                version: SecretVersion::default()
            }
        );
        assert_eq!(
            parse(&format!("{arn}:password::")),
            SecretRef::Secret {
                arn: arn.into(),
                json_key: Some("password".into()),
                version: SecretVersion::default()
            }
        );
        assert_eq!(
            parse(&format!("{arn}::AWSPREVIOUS:")),
            SecretRef::Secret {
                arn: arn.into(),
                json_key: None,
                version: SecretVersion {
                    stage: Some("AWSPREVIOUS".into()),
                    id: None
                }
            }
        );
        assert_eq!(
            parse(&format!("{arn}:user::0f1e2d")),
            SecretRef::Secret {
                arn: arn.into(),
                json_key: Some("user".into()),
                version: SecretVersion {
                    stage: None,
                    id: Some("0f1e2d".into())
                }
            }
        );
    }

    #[test]
    fn a_json_key_is_picked_without_showing_the_value() {
        let text = r#"{"user":"app","port":5432}"#;
        assert_eq!(json_key(text, "user").unwrap(), "app");
        assert_eq!(json_key(text, "port").unwrap(), "5432");
        assert_eq!(json_key(text, "password"), Err("has no such JSON key"));
        assert_eq!(json_key("hunter2", "password"), Err("is not a JSON object"));
    }

    #[test]
    fn a_container_definitions_secrets_are_read() {
        let c = serde_json::json!({"secrets": [
            {"name": "DB", "valueFrom": "/app/db"},
            {"name": "KEY", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbCdEf"}
        ]});
        let s = of_container(&c);
        assert_eq!(s.len(), 2);
        assert_eq!(s["DB"], "/app/db");
    }
}
