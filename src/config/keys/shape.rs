//! What a key is (its name, shape, default and doc) and the lookups over the table; the table
//! itself stays in `keys.rs`, where the book's configuration reference is generated from.

use super::KEYS;

/// The shape a key's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    /// An integer or a decimal.
    Number,
    Bool,
    StrList,
    IntList,
    /// A table of string → string (environment, secrets, tags).
    StrMap,
    /// One of a fixed set of strings.
    Choice(&'static [&'static str]),
}

impl Kind {
    pub fn describe(self) -> String {
        match self {
            Kind::Str => "a string".into(),
            Kind::Int => "an integer".into(),
            Kind::Number => "a number".into(),
            Kind::Bool => "true or false".into(),
            Kind::StrList => "an array of strings".into(),
            Kind::IntList => "an array of integers".into(),
            Kind::StrMap => "a table of strings".into(),
            Kind::Choice(options) => format!("one of {}", crate::error::list(options.iter())),
        }
    }
}

pub struct KeyDef {
    /// Dotted for keys in a sub-table, e.g. `lifecycle.keep-last`.
    pub name: &'static str,
    pub kind: Kind,
    /// The built-in default as shown to users (placeholders in braces).
    pub default: &'static str,
    pub doc: &'static str,
}

impl KeyDef {
    /// `CARGO_FARGATE_LIFECYCLE_KEEP_LAST` for `lifecycle.keep-last`.
    pub fn env_var(&self) -> String {
        format!(
            "CARGO_FARGATE_{}",
            self.name.replace(['-', '.'], "_").to_ascii_uppercase()
        )
    }
}

pub fn find(name: &str) -> Option<&'static KeyDef> {
    KEYS.iter().find(|k| k.name == name)
}

/// Known names directly below `prefix` ("" for the top level), for "did you mean".
pub fn names_under(prefix: &str) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = KEYS
        .iter()
        .filter_map(|k| match prefix {
            "" => Some(k.name.split('.').next().unwrap()),
            p => k
                .name
                .strip_prefix(p)
                .and_then(|rest| rest.strip_prefix('.')),
        })
        .collect();
    if prefix.is_empty() {
        names.push("stages");
    }
    names.dedup();
    names
}
