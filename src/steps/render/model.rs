//! The rendered task definition checked against ECS's own RegisterTaskDefinition model (members,
//! types, required members, enum values; generated from botocore by scripts/gen-ecs-model.py), so a
//! template field ECS does not know fails here, naming it, instead of being rejected by ECS — or,
//! on endpoints that keep unknown fields, making every run register a new revision.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Model {
    root: String,
    shapes: BTreeMap<String, Shape>,
}

#[derive(Deserialize)]
struct Shape {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    members: BTreeMap<String, String>,
    #[serde(default)]
    required: Vec<String>,
    member: Option<String>,
    value: Option<String>,
    #[serde(rename = "enum", default)]
    variants: Vec<String>,
}

fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        serde_json::from_str(include_str!("ecs-register-task-definition.json"))
            .expect("the bundled ECS model is valid JSON")
    })
}

/// A field that does not fit the model: where (`containerDefinitions[0].foo`), the field's own
/// name (to find it in a template), what is wrong and a suggestion.
#[derive(Debug, PartialEq, Eq)]
pub struct Misfit {
    pub path: String,
    pub field: String,
    pub what: String,
    pub fix: String,
}

/// The first place where `definition` does not fit ECS's RegisterTaskDefinition request.
pub fn check(definition: &Value) -> Result<(), Misfit> {
    let m = model();
    walk(m, &m.root, definition, "", "")
}

fn walk(m: &Model, shape: &str, value: &Value, path: &str, field: &str) -> Result<(), Misfit> {
    let s = &m.shapes[shape];
    let misfit = |what: String, fix: String| Misfit {
        path: if path.is_empty() {
            "(top)".into()
        } else {
            path.to_string()
        },
        field: field.to_string(),
        what,
        fix,
    };
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (s.kind.as_str(), value) {
        ("structure", Value::Object(map)) => walk_structure(m, s, map, path, field),
        ("list", Value::Array(items)) => {
            let member = s.member.as_deref().unwrap_or_default();
            for (i, item) in items.iter().enumerate() {
                walk(m, member, item, &format!("{path}[{i}]"), field)?;
            }
            Ok(())
        }
        ("map", Value::Object(map)) => {
            let inner = s.value.as_deref().unwrap_or_default();
            for (k, v) in map {
                walk(m, inner, v, &at(k), field)?;
            }
            Ok(())
        }
        ("string", Value::String(text)) => {
            if !s.variants.is_empty() && !s.variants.iter().any(|v| v == text) {
                return Err(misfit(
                    format!("`{path}` is `{text}`, which ECS does not accept"),
                    format!("use one of {}", crate::error::list(&s.variants)),
                ));
            }
            Ok(())
        }
        ("integer" | "long", Value::Number(n)) if n.is_i64() => Ok(()),
        ("boolean", Value::Bool(_)) => Ok(()),
        ("double" | "float", Value::Number(_)) => Ok(()),
        ("timestamp", Value::Number(_) | Value::String(_)) => Ok(()),
        ("blob", Value::String(_)) => Ok(()),
        (kind, other) => {
            let (wanted, got) = mismatch(kind, other);
            Err(misfit(
                format!("`{path}` must be {wanted}, not {got}"),
                format!("write {wanted} there (`| tojson` renders a value as JSON)"),
            ))
        }
    }
}

/// Each field of an object: one ECS knows, of the right shape; and the required ones there.
fn walk_structure(
    m: &Model,
    s: &Shape,
    map: &serde_json::Map<String, Value>,
    path: &str,
    field: &str,
) -> Result<(), Misfit> {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    for (key, v) in map {
        let Some(member) = s.members.get(key) else {
            let fix = match crate::error::did_you_mean(key, s.members.keys().map(String::as_str)) {
                Some(near) => {
                    format!("did you mean `{near}`? (field names are case-sensitive)")
                }
                None => format!("ECS knows: {}", crate::error::list(s.members.keys())),
            };
            return Err(Misfit {
                path: at(key),
                field: key.clone(),
                what: format!(
                    "`{}` is not a field ECS's RegisterTaskDefinition accepts",
                    at(key)
                ),
                fix,
            });
        };
        walk(m, member, v, &at(key), key)?;
    }
    if let Some(missing) = s.required.iter().find(|r| !map.contains_key(*r)) {
        return Err(Misfit {
            path: if path.is_empty() {
                "(top)".into()
            } else {
                path.to_string()
            },
            field: field.to_string(),
            what: format!("`{}` is required by ECS", at(missing)),
            fix: format!("add `{missing}`"),
        });
    }
    Ok(())
}

/// What a shape of `kind` wants and what `other` is, in words.
fn mismatch(kind: &str, other: &Value) -> (&'static str, &'static str) {
    let wanted = match kind {
        "structure" | "map" => "an object",
        "list" => "a list",
        "integer" | "long" => "a whole number",
        "boolean" => "true or false",
        "string" => "a string",
        _ => "a number",
    };
    let got = match other {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    (wanted, got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn minimal() -> Value {
        json!({"family": "app-dev", "containerDefinitions": [{"name": "app", "image": "x@sha256:1", "essential": true,
               "environment": [{"name": "A", "value": "1"}], "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/app"}}}],
               "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc", "cpu": "256", "memory": "512",
               "tags": [{"key": "k", "value": "v"}]})
    }

    #[test]
    fn a_valid_definition_fits() {
        assert_eq!(check(&minimal()), Ok(()));
    }

    #[test]
    fn unknown_fields_types_enums_and_required_members_are_named() {
        let mut d = minimal();
        d["containerDefinitions"][0]["essentail"] = json!(true);
        let e = check(&d).unwrap_err();
        assert_eq!(e.path, "containerDefinitions[0].essentail");
        assert_eq!(e.field, "essentail");
        assert!(e.fix.contains("`essential`"), "{e:?}");

        let mut d = minimal();
        d["containerDefinitions"][0]["essential"] = json!("yes");
        assert!(check(&d)
            .unwrap_err()
            .what
            .contains("must be true or false"));

        let mut d = minimal();
        d["networkMode"] = json!("vpc");
        assert!(check(&d).unwrap_err().fix.contains("`awsvpc`"));

        let mut d = minimal();
        d.as_object_mut().unwrap().remove("family");
        assert!(check(&d).unwrap_err().what.contains("`family` is required"));
    }
}
