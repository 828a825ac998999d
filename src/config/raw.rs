//! The raw layer: every key optional, each value tagged with where it came from.
//!
//! Layers are read from `[workspace.metadata.fargate]`, `[package.metadata.fargate]`, their
//! `stages.<name>` tables, `CARGO_FARGATE_*` env vars and CLI flags, then merged in precedence order.
//! A flag the user did not pass is simply absent, so it never overrides the file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;
use toml_edit::{Item, TableLike, Value as TomlValue};

use super::keys::{self, KeyDef, Kind};
use crate::error::{did_you_mean, list, Location, UserError};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Str(String),
    Int(i64),
    /// `Kind::Number`: an integer or a decimal (percentages such as `canary-percent = 2.5`).
    Float(f64),
    Bool(bool),
    StrList(Vec<String>),
    IntList(Vec<i64>),
    StrMap(BTreeMap<String, String>),
}

/// Which layer a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    Workspace,
    WorkspaceStage(String),
    Package,
    Stage(String),
    Env(String),
    Flag(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub source: Source,
    pub location: Option<Location>,
}

impl Origin {
    /// Where the value was set, as an error points at it: its file:line, env var or flag (a
    /// default was set nowhere).
    pub fn where_set(&self) -> Option<crate::error::Location> {
        use crate::error::Location;
        self.location.clone().or_else(|| match &self.source {
            Source::Env(var) => Some(Location::Env(var.clone())),
            Source::Flag(flag) => Some(Location::Flag(flag.clone())),
            _ => None,
        })
    }
}

impl Origin {
    pub fn default_value() -> Self {
        Origin {
            source: Source::Default,
            location: None,
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.source {
            Source::Default => return write!(f, "default"),
            Source::Env(var) => return write!(f, "env {var}"),
            Source::Flag(flag) => return write!(f, "flag {flag}"),
            Source::Workspace => "[workspace.metadata.fargate]".to_string(),
            Source::WorkspaceStage(s) => format!("[workspace.metadata.fargate.stages.{s}]"),
            Source::Package => "[package.metadata.fargate]".to_string(),
            Source::Stage(s) => format!("[package.metadata.fargate.stages.{s}]"),
        };
        match &self.location {
            Some(location) => write!(f, "{location} {what}"),
            None => write!(f, "{what}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Setting {
    pub value: Value,
    pub origin: Origin,
}

/// One source's settings, keyed by the dotted key name.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub settings: BTreeMap<&'static str, Setting>,
    /// Where each entry of a table setting (`environment.APP_ENV`) came from, when known; an entry
    /// missing here came with its setting's origin.
    pub origins: BTreeMap<&'static str, BTreeMap<String, Origin>>,
}

/// How a table entry written `{ unset = true }` travels from its layer to the merge that removes
/// the inherited entry (never a value a table keeps).
const UNSET: &str = "\u{0}cargo-fargate:unset";

impl Layer {
    /// Lays `over` on top of `self`, each of its keys replacing the whole value (tables too): what
    /// an env var or a flag says is the value, not an addition.
    pub fn replace(mut self, over: Layer) -> Layer {
        for name in over.settings.keys() {
            self.origins.remove(name);
        }
        self.settings.extend(over.settings);
        self.origins.extend(over.origins);
        self.merge(Layer::default())
    }

    /// Lays `over` on top of `self`: its keys win, except tables (`environment`, `secrets`, `tags`),
    /// which merge entry by entry; an entry `{ unset = true }` removes an inherited one.
    pub fn merge(mut self, over: Layer) -> Layer {
        let Layer {
            settings,
            mut origins,
        } = over;
        for (name, top) in settings {
            let top_origins = origins.remove(name).unwrap_or_default();
            let mut keys = BTreeMap::new();
            let value = match (self.settings.get(name), top.value) {
                (
                    Some(Setting {
                        value: Value::StrMap(base),
                        origin,
                    }),
                    Value::StrMap(entries),
                ) => {
                    let mut merged = base.clone();
                    let base_origins = self.origins.get(name).cloned().unwrap_or_default();
                    for k in base.keys() {
                        keys.insert(k.clone(), base_origins.get(k).unwrap_or(origin).clone());
                    }
                    for (k, v) in entries {
                        keys.insert(
                            k.clone(),
                            top_origins.get(&k).unwrap_or(&top.origin).clone(),
                        );
                        merged.insert(k, v);
                    }
                    Value::StrMap(merged)
                }
                (_, Value::StrMap(entries)) => {
                    for k in entries.keys() {
                        keys.insert(k.clone(), top_origins.get(k).unwrap_or(&top.origin).clone());
                    }
                    Value::StrMap(entries)
                }
                (_, other) => other,
            };
            if keys.is_empty() {
                self.origins.remove(name);
            } else {
                self.origins.insert(name, keys);
            }
            self.settings.insert(
                name,
                Setting {
                    value,
                    origin: top.origin,
                },
            );
        }
        // Removals were applied above; what is left of them removes nothing. Every entry left has
        // its origin (its setting's, when its layer had none of its own).
        for (name, setting) in self.settings.iter_mut() {
            if let Value::StrMap(m) = &mut setting.value {
                m.retain(|_, v| v != UNSET);
                let keys = self.origins.entry(name).or_default();
                keys.retain(|k, _| m.contains_key(k));
                for k in m.keys() {
                    keys.entry(k.clone())
                        .or_insert_with(|| setting.origin.clone());
                }
            }
        }
        self
    }
}

/// A TOML file kept with its text, so that spans can be turned into line numbers.
pub struct TomlFile<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl TomlFile<'_> {
    pub fn line_of(&self, span: Option<std::ops::Range<usize>>) -> Option<usize> {
        span.map(|s| {
            self.text[..s.start.min(self.text.len())]
                .matches('\n')
                .count()
                + 1
        })
    }
    fn location(&self, span: Option<std::ops::Range<usize>>) -> Location {
        Location::file(self.path, self.line_of(span))
    }
}

/// Reads the keys of one `fargate` table (stages excluded) into a layer.
/// `table_path` is the dotted path of the table, for messages.
pub fn read_table(
    file: &TomlFile,
    table: &dyn TableLike,
    table_path: &str,
    source: Source,
) -> Result<Layer, UserError> {
    let mut layer = Layer::default();
    read_into(file, table, table_path, "", &source, &mut layer)?;
    Ok(layer)
}

fn read_into(
    file: &TomlFile,
    table: &dyn TableLike,
    table_path: &str,
    prefix: &str,
    source: &Source,
    layer: &mut Layer,
) -> Result<(), UserError> {
    for (key, item) in table.iter() {
        let span = key_span(table, key).or_else(|| item.span());
        let location = file.location(span.clone());
        let full = if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        };
        let shown = format!("{table_path}.{key}");
        if prefix.is_empty() && key == "stages" {
            continue; // read by the caller, per stage
        }
        if let Some(def) = keys::find(&full) {
            let value = from_toml(def, item)
                .map_err(|what| UserError::new(what).at(location.clone()).key(&shown))?;
            if let (Value::StrMap(m), Some(t)) = (&value, item.as_table_like()) {
                let entries = m
                    .keys()
                    .map(|k| {
                        let at = file.location(key_span(t, k).or_else(|| span.clone()));
                        let origin = Origin {
                            source: source.clone(),
                            location: Some(at),
                        };
                        (k.clone(), origin)
                    })
                    .collect();
                layer.origins.insert(def.name, entries);
            }
            layer.settings.insert(
                def.name,
                Setting {
                    value,
                    origin: Origin {
                        source: source.clone(),
                        location: Some(location),
                    },
                },
            );
        } else if prefix.is_empty() && keys::SECTIONS.contains(&key) {
            let sub = item.as_table_like().ok_or_else(|| {
                UserError::new("must be a table")
                    .at(location.clone())
                    .key(&shown)
                    .fix(format!("write it as [{shown}]"))
            })?;
            read_into(file, sub, &shown, &full, source, layer)?;
        } else {
            let known = keys::names_under(prefix);
            let fix = match did_you_mean(key, known.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("known keys here: {}", list(known.iter())),
            };
            return Err(UserError::new("unknown key")
                .at(location)
                .key(shown)
                .fix(fix));
        }
    }
    Ok(())
}

/// Converts a TOML item to the key's kind, or says what was expected.
fn from_toml(def: &KeyDef, item: &Item) -> Result<Value, String> {
    let wrong = || format!("expected {}", def.kind.describe());
    let value = item.as_value();
    match def.kind {
        Kind::Str => value
            .and_then(TomlValue::as_str)
            .map(|s| Value::Str(s.to_string()))
            .ok_or_else(wrong),
        Kind::Int => value
            .and_then(TomlValue::as_integer)
            .map(Value::Int)
            .ok_or_else(wrong),
        Kind::Number => value
            .and_then(|v| v.as_float().or_else(|| v.as_integer().map(|i| i as f64)))
            .map(Value::Float)
            .ok_or_else(wrong),
        Kind::Bool => value
            .and_then(TomlValue::as_bool)
            .map(Value::Bool)
            .ok_or_else(wrong),
        Kind::Choice(_) if def.name == "architecture" && value.is_some_and(|v| v.is_array()) => {
            let array = value.and_then(TomlValue::as_array).ok_or_else(wrong)?;
            architectures(array.iter().map(|v| v.as_str().unwrap_or("")))
        }
        Kind::Choice(options) => {
            let s = value.and_then(TomlValue::as_str).ok_or_else(wrong)?;
            choice(s, options)
        }
        Kind::StrList => {
            let array = value.and_then(TomlValue::as_array).ok_or_else(wrong)?;
            array
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(wrong))
                .collect::<Result<_, _>>()
                .map(Value::StrList)
        }
        Kind::IntList => {
            let array = value.and_then(TomlValue::as_array).ok_or_else(wrong)?;
            array
                .iter()
                .map(|v| v.as_integer().ok_or_else(wrong))
                .collect::<Result<_, _>>()
                .map(Value::IntList)
        }
        Kind::StrMap => {
            let table = item.as_table_like().ok_or_else(wrong)?;
            let mut map = BTreeMap::new();
            for (k, v) in table.iter() {
                // `KEY = { unset = true }`: the inherited entry is removed (see Layer::merge).
                if let Some(t) = v.as_table_like() {
                    if t.len() == 1 && t.get("unset").and_then(Item::as_bool) == Some(true) {
                        map.insert(k.to_string(), UNSET.to_string());
                        continue;
                    }
                    return Err(format!(
                        "`{k}`: expected a string, or `{{ unset = true }}` to remove an inherited `{k}`"
                    ));
                }
                // Environment values such as `PORT = 8080` are meant as strings.
                let s = match v.as_value() {
                    Some(TomlValue::String(s)) => s.value().to_string(),
                    Some(TomlValue::Integer(i)) => i.value().to_string(),
                    Some(TomlValue::Float(f)) => f.value().to_string(),
                    Some(TomlValue::Boolean(b)) => b.value().to_string(),
                    _ => return Err(format!("`{k}`: expected a string")),
                };
                map.insert(k.to_string(), s);
            }
            Ok(Value::StrMap(map))
        }
    }
}

/// `architecture = ["x86_64", "arm64"]` (or `x86_64,arm64` in the environment): `both`; one of them
/// alone: that one.
fn architectures<'a>(items: impl Iterator<Item = &'a str>) -> Result<Value, String> {
    let mut seen: Vec<&str> = Vec::new();
    for a in items {
        if !["x86_64", "arm64"].contains(&a) {
            return Err(format!(
                "`{a}` is not `x86_64` or `arm64` (an array names the image's platforms)"
            ));
        }
        if !seen.contains(&a) {
            seen.push(a);
        }
    }
    match seen[..] {
        [] => Err("an empty array names no platform: use `x86_64`, `arm64` or both".into()),
        [one] => Ok(Value::Str(one.to_string())),
        _ => Ok(Value::Str("both".into())),
    }
}

fn choice(s: &str, options: &'static [&'static str]) -> Result<Value, String> {
    if options.contains(&s) {
        return Ok(Value::Str(s.to_string()));
    }
    let hint = match did_you_mean(s, options.iter().copied()) {
        Some(near) => format!(" (did you mean `{near}`?)"),
        None => String::new(),
    };
    Err(format!(
        "`{s}` is not {}{hint}",
        keys::Kind::Choice(options).describe()
    ))
}

/// Parses an env var's text for a key: lists are comma-separated, tables `K=V,K=V`.
pub fn from_env_text(def: &KeyDef, text: &str) -> Result<Value, String> {
    let items = || text.split(',').map(str::trim).filter(|s| !s.is_empty());
    match def.kind {
        Kind::Str => Ok(Value::Str(text.to_string())),
        Kind::Int => text
            .trim()
            .parse()
            .map(Value::Int)
            .map_err(|_| format!("`{text}` is not an integer")),
        Kind::Number => text
            .trim()
            .parse()
            .map(Value::Float)
            .map_err(|_| format!("`{text}` is not a number")),
        Kind::Bool => match text.trim() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not true or false")),
        },
        Kind::Choice(_) if def.name == "architecture" && text.contains(',') => {
            architectures(items())
        }
        Kind::Choice(options) => choice(text.trim(), options),
        Kind::StrList => Ok(Value::StrList(items().map(str::to_string).collect())),
        Kind::IntList => items()
            .map(|s| s.parse().map_err(|_| format!("`{s}` is not an integer")))
            .collect::<Result<_, _>>()
            .map(Value::IntList),
        Kind::StrMap => items()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| format!("`{kv}` is not KEY=VALUE"))
            })
            .collect::<Result<_, _>>()
            .map(Value::StrMap),
    }
}

/// The `CARGO_FARGATE_*` layer. `lookup` is `std::env::var` in production, a map in tests.
pub fn env_layer(lookup: impl Fn(&str) -> Option<String>) -> Result<Layer, UserError> {
    let mut layer = Layer::default();
    for def in keys::KEYS {
        let var = def.env_var();
        if let Some(text) = lookup(&var) {
            let value = from_env_text(def, &text)
                .map_err(|what| UserError::new(what).at(Location::Env(var.clone())))?;
            layer.settings.insert(
                def.name,
                Setting {
                    value,
                    origin: Origin {
                        source: Source::Env(var),
                        location: None,
                    },
                },
            );
        }
    }
    Ok(layer)
}

/// Stage tables of one `fargate` table: name → (table, line of its header).
pub fn stage_tables<'t>(
    file: &TomlFile,
    table: &'t dyn TableLike,
    table_path: &str,
) -> Result<Vec<(String, &'t dyn TableLike)>, UserError> {
    let Some(item) = table.get("stages") else {
        return Ok(Vec::new());
    };
    let location = file.location(key_span(table, "stages"));
    let stages = item.as_table_like().ok_or_else(|| {
        UserError::new("must be a table of stages")
            .at(location.clone())
            .key(format!("{table_path}.stages"))
            .fix(format!("write each stage as [{table_path}.stages.<name>]"))
    })?;
    let mut out = Vec::new();
    for (name, item) in stages.iter() {
        let location = file.location(key_span(stages, name));
        let shown = format!("{table_path}.stages.{name}");
        super::validate::stage_name(name)
            .map_err(|what| UserError::new(what).at(location.clone()).key(&shown))?;
        let t = item.as_table_like().ok_or_else(|| {
            UserError::new("must be a table")
                .at(location)
                .key(&shown)
                .fix(format!("write it as [{shown}]"))
        })?;
        out.push((name.to_string(), t));
    }
    Ok(out)
}

fn key_span(table: &dyn TableLike, key: &str) -> Option<std::ops::Range<usize>> {
    table.get_key_value(key).and_then(|(k, _)| k.span())
}
