//! User-facing errors: one line that says what is wrong, where, and how to fix it.
//!
//! Every error the user can cause is a [`UserError`]; anything else (I/O, AWS, Docker) travels as an
//! `anyhow::Error` with context. `main` prints either on one line and exits non-zero.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in the user's input a problem sits: a file (and line), an env var or a flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File { path: PathBuf, line: Option<usize> },
    Env(String),
    Flag(String),
}

impl Location {
    pub fn file(path: &Path, line: Option<usize>) -> Self {
        Location::File {
            path: path.to_path_buf(),
            line,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File {
                path,
                line: Some(line),
            } => write!(f, "{}:{line}", display_path(path)),
            Location::File { path, line: None } => write!(f, "{}", display_path(path)),
            Location::Env(var) => write!(f, "env {var}"),
            Location::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A path relative to the current directory when it is below it: shorter, and what users typed.
pub fn display_path(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// A problem in what the user gave us, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub location: Option<Location>,
    pub key: Option<String>,
    pub what: String,
    pub fix: Option<String>,
}

impl UserError {
    pub fn new(what: impl Into<String>) -> Self {
        UserError {
            location: None,
            key: None,
            what: what.into(),
            fix: None,
        }
    }
    pub fn at(mut self, location: Location) -> Self {
        self.location = Some(location);
        self
    }
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }
    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        write!(f, "{}", self.what)?;
        if let Some(fix) = &self.fix {
            write!(f, "; {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for UserError {}

/// Exit codes besides a container's own: documented in docs/src/commands.md.
/// Every exit code the tool itself chooses; `run`, `run --local` and `deploy` otherwise exit with
/// the essential container's own code.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// The tool failed (bad input, AWS refused, a fault on the way).
    pub const ERROR: i32 = 1;
    /// Usage: the command line was refused (clap's own code).
    pub const USAGE: i32 = 2;
    /// `diff --exit-code`: the rendered definition differs from the latest revision.
    pub const CHANGED: i32 = 3;
    /// The task was started but could not be observed to its end: its exit code is unknown.
    pub const LOST: i32 = 124;
    /// An essential container never ran (failed to start, image not pulled, …), as `docker run`.
    pub const DID_NOT_RUN: i32 = 125;
    /// Ctrl-C.
    pub const INTERRUPTED: i32 = 130;
}

/// An error that ends the process with a code of its own instead of 1.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub error: anyhow::Error,
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for Exit {}

impl Exit {
    /// `error` ending the command as Ctrl-C does: exit code 130.
    pub fn interrupted(error: impl Into<anyhow::Error>) -> anyhow::Error {
        Exit {
            code: exit::INTERRUPTED,
            error: error.into(),
        }
        .into()
    }
}

/// The exit code an error ends the process with.
pub fn exit_code(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<Exit>().map_or(exit::ERROR, |e| e.code)
}

/// Shorthand for returning a [`UserError`] from a function that returns `anyhow::Result`.
pub type Result<T, E = anyhow::Error> = std::result::Result<T, E>;

/// The closest known name to `given`, for "did you mean".
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    known
        .into_iter()
        .map(|k| (strsim::jaro_winkler(given, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// An error's innermost cause: "dispatch failure" or "error sending request" alone says nothing.
pub fn innermost(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

/// Joins names for a message: "`a`, `b`, `c`".
pub fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{}`", n.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_on_one_line_with_location_key_and_fix() {
        let e = UserError::new("unknown key")
            .at(Location::file(Path::new("/x/Cargo.toml"), Some(12)))
            .key("package.metadata.fargate.cpus")
            .fix("did you mean `cpu`?");
        let s = e.to_string();
        assert_eq!(
            s,
            "/x/Cargo.toml:12: `package.metadata.fargate.cpus`: unknown key; did you mean `cpu`?"
        );
        assert!(!s.contains('\n'));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("cpus", ["cpu", "memory"]), Some("cpu"));
        assert_eq!(did_you_mean("zzz", ["cpu", "memory"]), None);
    }
}
