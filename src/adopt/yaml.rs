//! Copilot's YAML read into a small owned tree that keeps each node's line, so that every field
//! the import cannot carry is reported as `file:line` (saphyr's marked nodes give the lines).

use std::path::{Path, PathBuf};

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

use crate::error::{display_path, Location, Result, UserError};

/// One YAML node and the line (1-based) it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub line: usize,
    pub value: Data,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order, each with its own line.
    Map(Vec<(String, usize, Node)>),
    /// A node with a tag that is not YAML's own (CloudFormation's `!Ref`, `!Sub`, …).
    Tagged(String, Box<Node>),
}

/// A YAML file read whole: its path (for messages) and its first document.
pub struct File {
    pub path: PathBuf,
    pub root: Node,
}

impl File {
    /// Reads and parses `path`; a file that is not YAML is one error line with its position.
    pub fn read(path: &Path) -> Result<File> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UserError::new(format!("cannot read it: {e}"))
                .at(Location::file(path, None))
                .fix("check the file's permissions")
        })?;
        File::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<File> {
        let docs = MarkedYaml::load_from_str(text).map_err(|e| {
            UserError::new(format!("not YAML: {}", e.info()))
                .at(Location::file(path, Some(e.marker().line())))
                .fix("fix the YAML syntax (Copilot would refuse this manifest too)")
        })?;
        let root = docs.first().map(convert).unwrap_or(Node {
            line: 1,
            value: Data::Null,
        });
        if !matches!(root.value, Data::Map(_)) {
            return Err(
                UserError::new("not a manifest: its top level is not a mapping")
                    .at(Location::file(path, Some(root.line)))
                    .fix("a Copilot manifest is a mapping of fields (`name:`, `type:`, …)")
                    .into(),
            );
        }
        Ok(File {
            path: path.to_path_buf(),
            root,
        })
    }

    /// `file:line` of a node, for the report.
    pub fn at(&self, line: usize) -> String {
        format!("{}:{line}", display_path(&self.path))
    }
}

fn convert(node: &MarkedYaml) -> Node {
    let line = node.span.start.line().max(1);
    let value = match &node.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(text, _, _) => Data::Str(text.to_string()),
        YamlData::Sequence(items) => Data::Seq(items.iter().map(convert).collect()),
        YamlData::Mapping(map) => Data::Map(
            map.iter()
                .map(|(k, v)| (key_text(k), k.span.start.line().max(1), convert(v)))
                .collect(),
        ),
        YamlData::Tagged(tag, inner) => Data::Tagged(
            format!("{}{}", tag.handle, tag.suffix),
            Box::new(convert(inner)),
        ),
        YamlData::Alias(_) | YamlData::BadValue => Data::Null,
    };
    Node { line, value }
}

fn scalar(s: &Scalar) -> Data {
    match s {
        Scalar::Null => Data::Null,
        Scalar::Boolean(b) => Data::Bool(*b),
        Scalar::Integer(i) => Data::Int(*i),
        Scalar::FloatingPoint(f) => Data::Float(f.into_inner()),
        Scalar::String(s) => Data::Str(s.to_string()),
    }
}

fn key_text(k: &MarkedYaml) -> String {
    match convert(k).value {
        Data::Str(s) => s,
        other => Node {
            line: 0,
            value: other,
        }
        .scalar_text()
        .unwrap_or_default(),
    }
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| v)
    }

    /// The entries of a mapping (none for anything else).
    pub fn entries(&self) -> &[(String, usize, Node)] {
        match &self.value {
            Data::Map(m) => m,
            _ => &[],
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Data::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match &self.value {
            Data::Int(i) => Some(*i),
            Data::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Data::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// A scalar as the text a variable would hold (`8080`, `true`, `info`).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Data::Str(s) => Some(s.clone()),
            Data::Int(i) => Some(i.to_string()),
            Data::Float(f) => Some(f.to_string()),
            Data::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// Whether anything below holds a tag or a CloudFormation function (`Ref`, `Fn::…`): then it
    /// is not plain data.
    pub fn has_intrinsics(&self) -> bool {
        match &self.value {
            Data::Tagged(..) => true,
            Data::Seq(items) => items.iter().any(Node::has_intrinsics),
            Data::Map(m) => m
                .iter()
                .any(|(k, _, v)| k == "Ref" || k.starts_with("Fn::") || v.has_intrinsics()),
            _ => false,
        }
    }

    /// Plain data as JSON (for an IAM policy document).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Data::Null => J::Null,
            Data::Bool(b) => J::Bool(*b),
            Data::Int(i) => J::from(*i),
            Data::Float(f) => J::from(*f),
            Data::Str(s) => J::String(s.clone()),
            Data::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Data::Map(m) => J::Object(m.iter().map(|(k, _, v)| (k.clone(), v.to_json())).collect()),
            Data::Tagged(_, inner) => inner.to_json(),
        }
    }

    /// Every `${NAME}` of `vars` replaced in the strings below (Copilot's
    /// `${COPILOT_ENVIRONMENT_NAME}` and `${COPILOT_APPLICATION_NAME}`).
    pub fn substitute(&self, vars: &[(&str, &str)]) -> Node {
        let value = match &self.value {
            Data::Str(s) => Data::Str(
                vars.iter()
                    .fold(s.clone(), |s, (k, v)| s.replace(&format!("${{{k}}}"), v)),
            ),
            Data::Seq(items) => Data::Seq(items.iter().map(|i| i.substitute(vars)).collect()),
            Data::Map(m) => Data::Map(
                m.iter()
                    .map(|(k, l, v)| (k.clone(), *l, v.substitute(vars)))
                    .collect(),
            ),
            Data::Tagged(t, inner) => Data::Tagged(t.clone(), Box::new(inner.substitute(vars))),
            other => other.clone(),
        };
        Node {
            line: self.line,
            value,
        }
    }

    /// Copilot's environment override: `over` laid on `self`, mappings merged key by key, anything
    /// else replaced.
    pub fn overlay(&self, over: &Node) -> Node {
        match (&self.value, &over.value) {
            (Data::Map(base), Data::Map(top)) => {
                let mut merged = base.clone();
                for (k, line, v) in top {
                    match merged.iter_mut().find(|(bk, _, _)| bk == k) {
                        Some(slot) => *slot = (k.clone(), *line, slot.2.overlay(v)),
                        None => merged.push((k.clone(), *line, v.clone())),
                    }
                }
                Node {
                    line: self.line,
                    value: Data::Map(merged),
                }
            }
            _ => over.clone(),
        }
    }
}
