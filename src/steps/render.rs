//! The task definition: the template (built-in `task-templates/task-definition.json` or the user's
//! `task-template`) filled from the resolved configuration, the pinned image and the roles.
//!
//! The template renders a RegisterTaskDefinition request, which is sent to ECS as is. Undefined
//! placeholders are errors (minijinja's strict mode) naming the placeholder and the template line:
//! nothing is ever silently rendered as an empty string.

mod model;

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::{Location, Result, UserError};
use crate::image::PinnedImage;

pub const BUILTIN_TEMPLATE: &str = include_str!("../../task-templates/task-definition.json");
const BUILTIN_NAME: &str = "task-templates/task-definition.json (built-in)";

/// What the template is filled from.
pub struct RenderInput<'a> {
    pub config: &'a Config,
    pub image: &'a PinnedImage,
    pub task_role_arn: &'a str,
    pub execution_role_arn: &'a str,
    pub region: &'a str,
}

/// The template's variables.
pub fn context(input: &RenderInput) -> Value {
    let c = input.config;
    let environment: Vec<Value> = c
        .container
        .environment
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": value }))
        .collect();
    let secrets: Vec<Value> = c
        .container
        .secrets
        .iter()
        .map(|(name, from)| json!({ "name": name, "valueFrom": from }))
        .collect();
    // The stage's tags: `teardown` and keep-revisions know the revisions by them.
    let tags: Vec<Value> = crate::names::stage_tags(c)
        .iter()
        .map(|(key, value)| json!({ "key": key, "value": value }))
        .collect();
    json!({
        "family": crate::names::family(c),
        "project": c.project,
        "stage": c.stage,
        "region": input.region,
        "container_name": c.project,
        "image": input.image.reference,
        "cpu": c.size.cpu,
        "memory": c.size.memory,
        "architecture": c.size.architecture.ecs(),
        "task_role_arn": input.task_role_arn,
        "execution_role_arn": input.execution_role_arn,
        "environment": environment,
        "secrets": secrets,
        "ports": c.container.ports,
        "command": c.container.command,
        "entrypoint": c.container.entrypoint,
        "stop_timeout": c.container.stop_timeout,
        "health_check": c.container.health_check.as_ref().map(|h| h.ecs()),
        "log_group": c.container.log_group,
        "log_stream_prefix": crate::names::log_stream_prefix(c),
        "tags": tags,
    })
}

/// The template in use: the user's file, or the built-in one.
pub struct Template {
    pub path: Option<PathBuf>,
    pub source: String,
}

impl Template {
    pub fn load(config: &Config) -> Result<Template> {
        match &config.task_template {
            Some(path) => {
                let source = std::fs::read_to_string(path).map_err(|e| {
                    UserError::new(format!("cannot read the task template: {e}"))
                        .at(Location::file(path, None))
                        .key("task-template")
                        .fix("point `task-template` at a readable JSON template file")
                })?;
                Ok(Template {
                    path: Some(path.clone()),
                    source,
                })
            }
            None => Ok(Template {
                path: None,
                source: BUILTIN_TEMPLATE.to_string(),
            }),
        }
    }

    fn location(&self, line: Option<usize>) -> Location {
        match &self.path {
            Some(p) => Location::file(p, line),
            None => Location::file(Path::new(BUILTIN_NAME), line),
        }
    }

    fn error(&self, line: Option<usize>, what: String, fix: &str) -> UserError {
        let mut e = UserError::new(what).at(self.location(line)).fix(fix);
        if self.path.is_some() {
            e = e.key("task-template");
        }
        e
    }
}

/// Renders the task definition: the RegisterTaskDefinition request, nulls and empties dropped.
pub fn render(input: &RenderInput) -> Result<Value> {
    let template = Template::load(input.config)?;
    let value = render_template(&template, &context(input))?;
    check_definition(&template, &value)?;
    Ok(value)
}

pub fn render_template(template: &Template, ctx: &Value) -> Result<Value> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    let fix_syntax = "fix the template syntax (minijinja, like Jinja2)";
    let fail = |err: minijinja::Error, fix: &str| -> anyhow::Error {
        let detail = err
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| err.kind().to_string());
        template.error(err.line(), detail, fix).into()
    };
    env.add_template("task-definition", &template.source)
        .map_err(|e| fail(e, fix_syntax))?;
    let tmpl = env
        .get_template("task-definition")
        .map_err(|e| fail(e, fix_syntax))?;

    // Unknown placeholders first, by name, wherever they sit (even in a branch not taken).
    let known: BTreeSet<&str> = ctx
        .as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let mut unknown: Vec<String> = tmpl
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !known.contains(v.as_str()) && env.globals().all(|(g, _)| g != v))
        .collect();
    unknown.sort();
    if let Some(name) = unknown.first() {
        let line = line_of_word(&template.source, name);
        let names: Vec<String> = known.iter().map(|k| k.to_string()).collect();
        let fix = match crate::error::did_you_mean(name, known.iter().copied()) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!("placeholders: {}", names.join(", ")),
        };
        return Err(template
            .error(line, format!("unknown placeholder `{name}`"), &fix)
            .into());
    }

    let text = tmpl.render(ctx).map_err(|e| {
        let line = e.line();
        let snippet = line
            .and_then(|l| template.source.lines().nth(l - 1))
            .map(|l| format!(" in `{}`", l.trim()))
            .unwrap_or_default();
        let detail = e
            .detail()
            .map(str::to_string)
            .unwrap_or_else(|| e.kind().to_string());
        anyhow::Error::from(template.error(
            line,
            format!("{detail}{snippet}"),
            "use only the documented placeholders and their fields",
        ))
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        template.error(
            None,
            format!(
                "the rendered template is not JSON (line {} of the output: {e})",
                e.line()
            ),
            "check commas and quoting; use `| tojson` for values",
        )
    })?;
    if !value.is_object() {
        return Err(template
            .error(
                None,
                "the rendered template is not a JSON object".into(),
                "render a RegisterTaskDefinition request object",
            )
            .into());
    }
    Ok(drop_empty(value))
}

/// What ECS would refuse (or, on an endpoint that keeps unknown fields, store and diff forever)
/// fails here, before anything is created.
fn check_definition(template: &Template, value: &Value) -> Result<()> {
    model::check(value).map_err(|m| {
        template.error(
            line_of_word(&template.source, &m.field),
            format!("the task definition does not fit ECS: {}", m.what),
            &m.fix,
        )
    })?;
    check_size(value)
}

/// ECS refuses a task definition over 64 KiB; name what makes it big.
fn check_size(definition: &Value) -> Result<()> {
    const LIMIT: usize = 64 * 1024;
    let size = serde_json::to_vec(definition)?.len();
    if size <= LIMIT {
        return Ok(());
    }
    let env: usize = definition["containerDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| serde_json::to_vec(&c["environment"]).map_or(0, |v| v.len()))
        .sum();
    Err(UserError::new(format!(
        "the task definition is {} KiB, over ECS's 64 KiB limit ({} KiB of it is `environment`)",
        size / 1024,
        env / 1024
    ))
    .key("environment")
    .fix("move large values out of `environment`: into SSM parameters named under `secrets`, a file in the image, or S3")
    .into())
}

/// Drops null values, empty lists and empty objects, recursively.
pub fn drop_empty(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, drop_empty(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(drop_empty).collect()),
        other => other,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// The first line (1-based) where `word` appears as a whole identifier.
fn line_of_word(source: &str, word: &str) -> Option<usize> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    source
        .lines()
        .position(|line| {
            line.match_indices(word).any(|(i, _)| {
                let before = line[..i].chars().next_back();
                let after = line[i + word.len()..].chars().next();
                !before.is_some_and(ident) && !after.is_some_and(ident)
            })
        })
        .map(|i| i + 1)
}

/// The main container of a rendered definition: the first one.
pub fn main_container(definition: &Value) -> Option<&Value> {
    definition["containerDefinitions"].as_array()?.first()
}

/// `cargo fargate render`: the task definition that `register` would send.
#[derive(Serialize)]
pub struct RenderReport {
    pub family: String,
    pub image: String,
    pub template: String,
    pub definition: Value,
}

impl fmt::Display for RenderReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string_pretty(&self.definition).map_err(|_| fmt::Error)?;
        writeln!(f, "{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(source: &str) -> Template {
        Template {
            path: Some(PathBuf::from("/p/td.json")),
            source: source.into(),
        }
    }

    #[test]
    fn an_unknown_placeholder_is_named_with_its_line() {
        let t =
            template("{\n  \"family\": {{ family | tojson }},\n  \"x\": {{ famly | tojson }}\n}");
        let e = render_template(&t, &json!({ "family": "f" }))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "/p/td.json:3: `task-template`: unknown placeholder `famly`; did you mean `family`?"
        );
        // Even in a branch that is not taken.
        let t = template("{% if false %}{{ nope }}{% endif %}{}");
        let e = render_template(&t, &json!({})).unwrap_err().to_string();
        assert!(e.contains("unknown placeholder `nope`"), "{e}");
    }

    #[test]
    fn an_undefined_field_is_an_error_not_an_empty_string() {
        let t = template("{\n\"a\": \"{{ tags.nothing }}\"\n}");
        let e = render_template(&t, &json!({ "tags": {} }))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/p/td.json:2: "), "{e}");
        assert!(e.contains("tags.nothing"), "{e}");
    }

    #[test]
    fn nulls_and_empties_are_dropped() {
        let t = template(
            r#"{"a": {{ none | tojson }}, "b": [], "c": {"d": {}}, "e": [1], "f": false}"#,
        );
        let v = render_template(&t, &json!({ "none": null })).unwrap();
        assert_eq!(v, json!({ "e": [1], "f": false }));
    }

    #[test]
    fn output_that_is_not_json_is_reported() {
        let t = template("{ \"a\": {{ x }} }");
        let e = render_template(&t, &json!({ "x": "unquoted" }))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not JSON"), "{e}");
        assert!(e.contains("| tojson"), "{e}");
    }
}
