//! Reading the merged layer key by key: each lookup typed, defaulted, recorded with its origin (for
//! `cargo fargate config`) and, when it is wrong, turned into an error located where it was set.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::raw::{Layer, Origin, Source, Value};
use super::resolve::{shown_key, Entry};
use crate::error::UserError;

/// Reads settings off the merged layer, recording each lookup for `cargo fargate config`.
pub(super) struct Resolver<'a> {
    pub(super) layer: &'a Layer,
    pub(super) entries: Vec<Entry>,
    pub(super) manifest: &'a Path,
}

impl<'a> Resolver<'a> {
    pub(super) fn setting(&self, key: &'static str) -> Option<(Value, Origin)> {
        self.layer
            .settings
            .get(key)
            .map(|s| (s.value.clone(), s.origin.clone()))
    }

    pub(super) fn record(&mut self, key: &'static str, value: impl Serialize, origin: Origin) {
        let value = serde_json::to_value(value).expect("config values serialise");
        self.entries.push(Entry { key, value, origin });
    }

    /// An error about `key`, located where its value came from.
    pub(super) fn error(&self, key: &'static str, origin: &Origin, what: String) -> UserError {
        let mut e = UserError::new(what).key(shown_key(key, &origin.source));
        e.location = origin.where_set().or_else(|| {
            (origin.source == Source::Default)
                .then(|| crate::error::Location::file(self.manifest, None))
        });
        e
    }

    pub(super) fn string(&mut self, key: &'static str) -> Option<(String, Origin)> {
        match self.setting(key) {
            Some((Value::Str(s), o)) => Some((s, o)),
            _ => None,
        }
    }

    pub(super) fn str_or(
        &mut self,
        key: &'static str,
        default: impl FnOnce() -> String,
    ) -> (String, Origin) {
        let (value, origin) = self
            .string(key)
            .unwrap_or_else(|| (default(), Origin::default_value()));
        self.record(key, &value, origin.clone());
        (value, origin)
    }

    pub(super) fn opt_str(&mut self, key: &'static str) -> Option<(String, Origin)> {
        let found = self.string(key);
        match &found {
            Some((v, o)) => self.record(key, v, o.clone()),
            None => self.record(key, serde_json::Value::Null, Origin::default_value()),
        }
        found
    }

    pub(super) fn int(&mut self, key: &'static str, default: i64) -> (i64, Origin) {
        let (value, origin) = match self.setting(key) {
            Some((Value::Int(i), o)) => (i, o),
            _ => (default, Origin::default_value()),
        };
        self.record(key, value, origin.clone());
        (value, origin)
    }

    pub(super) fn uint(
        &mut self,
        key: &'static str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<u32, UserError> {
        Ok(self.uint_at(key, default, range)?.0)
    }

    /// [`Resolver::uint`], with where the value came from.
    pub(super) fn uint_at(
        &mut self,
        key: &'static str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<(u32, Origin), UserError> {
        let (value, origin) = self.int(key, default);
        if !range.contains(&value) {
            return Err(self.error(
                key,
                &origin,
                format!(
                    "{value} is out of range; use {}–{}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok((value as u32, origin))
    }

    /// An integer, when it is set (recorded as null when not).
    pub(super) fn opt_int(&mut self, key: &'static str) -> Option<(i64, Origin)> {
        match self.setting(key) {
            Some((Value::Int(i), o)) => {
                self.record(key, i, o.clone());
                Some((i, o))
            }
            _ => {
                self.record(key, serde_json::Value::Null, Origin::default_value());
                None
            }
        }
    }

    pub(super) fn bool(&mut self, key: &'static str, default: bool) -> bool {
        let (value, origin) = match self.setting(key) {
            Some((Value::Bool(b), o)) => (b, o),
            _ => (default, Origin::default_value()),
        };
        self.record(key, value, origin);
        value
    }

    pub(super) fn list(&mut self, key: &'static str, default: &[&str]) -> (Vec<String>, Origin) {
        let (value, origin) = match self.setting(key) {
            Some((Value::StrList(l), o)) => (l, o),
            _ => (
                default.iter().map(|s| s.to_string()).collect(),
                Origin::default_value(),
            ),
        };
        self.record(key, &value, origin.clone());
        (value, origin)
    }

    pub(super) fn opt_list(&mut self, key: &'static str) -> Option<Vec<String>> {
        match self.setting(key) {
            Some((Value::StrList(l), o)) => {
                self.record(key, &l, o);
                Some(l)
            }
            _ => {
                self.record(key, serde_json::Value::Null, Origin::default_value());
                None
            }
        }
    }

    pub(super) fn int_list(&mut self, key: &'static str) -> (Vec<i64>, Origin) {
        let (value, origin) = match self.setting(key) {
            Some((Value::IntList(l), o)) => (l, o),
            _ => (Vec::new(), Origin::default_value()),
        };
        self.record(key, &value, origin.clone());
        (value, origin)
    }

    pub(super) fn map(&mut self, key: &'static str) -> (BTreeMap<String, String>, Origin) {
        let (value, origin) = match self.setting(key) {
            Some((Value::StrMap(m), o)) => (m, o),
            _ => (BTreeMap::new(), Origin::default_value()),
        };
        self.record(key, &value, origin.clone());
        (value, origin)
    }

    /// An optional file path, relative to the package, that must exist.
    pub(super) fn opt_file(
        &mut self,
        key: &'static str,
        dir: &Path,
        what: &str,
    ) -> Result<Option<PathBuf>, UserError> {
        let Some((f, origin)) = self.opt_str(key) else {
            return Ok(None);
        };
        let path = dir.join(&f);
        self.check(key, &origin, existing(&path, &f, what))?;
        Ok(Some(path))
    }

    /// Like `check`, for a key whose default is made from `name` (`{project}-{stage}`): when the
    /// user did not set the key, the complaint is about `name`, which is what they can shorten.
    pub(super) fn check_derived(
        &self,
        key: &'static str,
        origin: &Origin,
        name_origin: &Origin,
        check: Result<(), String>,
    ) -> Result<(), UserError> {
        if origin.source != Source::Default {
            return self.check(key, origin, check);
        }
        check.map_err(|what| {
            self.error(
                "name",
                name_origin,
                format!("the default `{key}` made from the project name: {what}"),
            )
            .fix(format!("shorten `name`, or set `{key}` yourself"))
        })
    }

    /// Runs `check` on a value and turns its complaint into a located error.
    pub(super) fn check(
        &self,
        key: &'static str,
        origin: &Origin,
        check: Result<(), String>,
    ) -> Result<(), UserError> {
        check.map_err(|what| self.error(key, origin, what))
    }
}

pub(super) fn existing(path: &Path, given: &str, what: &str) -> Result<(), String> {
    path.is_file().then_some(()).ok_or_else(|| {
        format!("{what} `{given}` does not exist (paths are relative to the package)")
    })
}
