//! What the user sees: cargo-style status lines and indicatif bars on a terminal, plain lines off a
//! terminal (CI), JSON lines with `--message-format json`. Results go to stdout, the rest to stderr.

use std::fmt::Display;
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::cli::{ColorChoice, GlobalArgs, MessageFormat};

#[derive(Clone)]
pub struct Output {
    pub json: bool,
    verbosity: i8,
    color: bool,
    tty: bool,
}

impl Output {
    pub fn new(args: &GlobalArgs) -> Self {
        let tty = std::io::stderr().is_terminal();
        let color = match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && std::env::var_os("NO_COLOR").is_none(),
        };
        let verbosity = if args.quiet { -1 } else { args.verbose as i8 };
        Output {
            json: args.message_format == MessageFormat::Json,
            verbosity,
            color,
            tty,
        }
    }

    /// For tests: plain, no colour.
    #[cfg(test)]
    pub fn plain() -> Self {
        Output {
            json: false,
            verbosity: 0,
            color: false,
            tty: false,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A step under way, as cargo prints it: `   Packaging hello (42 files)`.
    pub fn status(&self, verb: &str, message: impl Display) {
        if self.json {
            self.event("status", serde_json::json!({ "step": verb.to_ascii_lowercase(), "message": message.to_string() }));
        } else if self.verbosity >= 0 {
            eprintln!("{} {message}", self.paint("1;32", &format!("{verb:>12}")));
        }
    }

    pub fn verbose(&self, message: impl Display) {
        if self.verbosity >= 1 && !self.json {
            eprintln!("{} {message}", self.paint("2", &format!("{:>12}", "debug")));
        }
    }

    pub fn warn(&self, message: impl Display) {
        if self.json {
            self.event(
                "warning",
                serde_json::json!({ "message": message.to_string() }),
            );
        } else {
            eprintln!("{} {message}", self.paint("1;33", "warning:"));
        }
    }

    pub fn error(&self, message: impl Display) {
        if self.json {
            self.event(
                "error",
                serde_json::json!({ "message": message.to_string() }),
            );
        }
        eprintln!("{} {message}", self.paint("1;31", "error:"));
    }

    /// One JSON line on stdout: `{"type": kind, ...fields}`.
    pub fn event(&self, kind: &str, fields: serde_json::Value) {
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), kind.into());
        if let serde_json::Value::Object(f) = fields {
            obj.extend(f);
        }
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", serde_json::Value::Object(obj));
    }

    /// The command's result: its Display on stdout, or one `{"type":"result",...}` JSON line.
    pub fn result<T: Serialize + Display>(&self, result: &T) {
        if self.json {
            self.event(
                "result",
                serde_json::to_value(result).expect("results serialise"),
            );
        } else {
            // A closed pipe (`| head`) is the reader's choice, not an error.
            let _ = write!(std::io::stdout().lock(), "{result}");
        }
    }

    /// A bar on a terminal; hidden off one and in JSON mode (plain status lines carry the news).
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if !self.tty || self.json || self.verbosity < 0 {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12.cyan.bold} [{bar:30}] {bytes}/{total_bytes} {wide_msg}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        bar
    }

    /// A spinner with a changing message (the current build step) on a terminal; hidden elsewhere.
    pub fn spinner(&self, what: &str) -> ProgressBar {
        if !self.tty || self.json || self.verbosity < 0 {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12.cyan.bold} {spinner} {elapsed} {wide_msg}")
                .expect("valid template"),
        );
        bar.set_prefix(what.to_string());
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    /// True when step-by-step lines should be printed (not on a terminal, where a spinner shows them).
    pub fn plain_progress(&self) -> bool {
        !self.tty && !self.json && self.verbosity >= 0
    }

    /// Whether progress (a remote build's log lines) is printed: not with --quiet, not in JSON.
    pub fn shows_progress(&self) -> bool {
        !self.json && self.verbosity >= 0
    }

    pub fn is_verbose(&self) -> bool {
        self.verbosity >= 1
    }
}
