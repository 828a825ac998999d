//! What the import did with each manifest field: carried (and as what), or not carried with the
//! manifest's `file:line` and what to do instead. Nothing is dropped without a line here.

use std::fmt;

use serde::Serialize;

/// One line of the report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Note {
    /// `copilot/api/manifest.yml:12`
    pub at: String,
    /// The manifest field, dotted (`http.alias`, `environments.prod.count.spot`).
    pub field: String,
    /// What it is and why it is not carried (or how it was).
    pub what: String,
    /// What to do instead; empty for a field that was carried.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub instead: String,
}

/// The notes of one import, in the order they were made.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Fields with no equivalent here: each must be handled by hand.
    pub not_carried: Vec<Note>,
    /// Decisions the user should know of (the kind a workload became, a schedule converted).
    pub carried: Vec<Note>,
}

impl Report {
    pub fn skip(
        &mut self,
        at: String,
        field: &str,
        what: impl Into<String>,
        instead: impl Into<String>,
    ) {
        let note = Note {
            at,
            field: field.to_string(),
            what: what.into(),
            instead: instead.into(),
        };
        if !self.not_carried.contains(&note) {
            self.not_carried.push(note);
        }
    }

    pub fn carry(&mut self, at: String, field: &str, what: impl Into<String>) {
        let note = Note {
            at,
            field: field.to_string(),
            what: what.into(),
            instead: String::new(),
        };
        if !self.carried.contains(&note) {
            self.carried.push(note);
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.carried {
            writeln!(f, "  carried  {}: {}: {}", n.at, n.field, n.what)?;
        }
        if self.not_carried.is_empty() {
            return writeln!(f, "every field was carried");
        }
        writeln!(
            f,
            "not carried ({}): handle these by hand",
            self.not_carried.len()
        )?;
        for n in &self.not_carried {
            writeln!(
                f,
                "  {}: {}: {}; instead: {}",
                n.at, n.field, n.what, n.instead
            )?;
        }
        Ok(())
    }
}
