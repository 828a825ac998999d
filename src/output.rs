//! What the user sees: cargo-style status lines and indicatif bars on a terminal, plain lines off a
//! terminal (CI), JSON lines with `--message-format json`. Results go to stdout, the rest to stderr.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// How to print, from the command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputOptions {
    /// JSON lines instead of text.
    pub json: bool,
    /// -1 quiet, 0 normal, 1+ verbose.
    pub verbosity: i8,
    /// Colour forced on or off; `None`: on a terminal unless `NO_COLOR` is set.
    pub color: Option<bool>,
}

const GREEN: anstyle::Style = anstyle::AnsiColor::Green.on_default().bold();
const YELLOW: anstyle::Style = anstyle::AnsiColor::Yellow.on_default().bold();
const RED: anstyle::Style = anstyle::AnsiColor::Red.on_default().bold();
const DIM: anstyle::Style = anstyle::Style::new().dimmed();

/// Set once stdout's reader is gone (`| head` exited): nothing more is written there.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to stdout; a closed pipe is the reader's choice, not an error: it is remembered, and
/// every later write is skipped ([`Output::stdout_closed`] tells followers to stop).
fn write_stdout(args: std::fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|_| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
    }
}

/// Writes `args` to stderr in one `write` call: stderr is unbuffered, so `eprintln!` would send
/// each piece of the format on its own, and two processes sharing one CI log could interleave
/// mid-line. Every human line the tool writes to stderr goes through here.
pub fn write_stderr(args: std::fmt::Arguments<'_>) {
    let _ = write_whole(&mut std::io::stderr().lock(), args);
}

/// `args` formatted first, then written with one `write_all`.
fn write_whole(to: &mut impl Write, args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    let text = std::fmt::format(args);
    to.write_all(text.as_bytes())?;
    to.flush()
}

#[derive(Clone)]
pub struct Output {
    pub json: bool,
    verbosity: i8,
    color: bool,
    tty: bool,
    /// The CI whose log commands we print (never with JSON).
    ci: Option<crate::ci::Ci>,
}

impl Output {
    pub fn new(options: &OutputOptions) -> Self {
        let tty = std::io::stderr().is_terminal();
        let color = options
            .color
            .unwrap_or_else(|| tty && std::env::var_os("NO_COLOR").is_none());
        Output {
            json: options.json,
            verbosity: options.verbosity,
            color,
            tty,
            ci: if options.json {
                None
            } else {
                crate::ci::detect()
            },
        }
    }

    /// The CI whose output we speak (GitHub Actions, GitLab CI), never with JSON.
    pub fn ci(&self) -> Option<crate::ci::Ci> {
        self.ci
    }

    /// Opens a collapsible group of log lines (a build's, a task's) in CI; nothing elsewhere.
    pub fn group_start(&self, id: &str, title: &str) {
        if let Some(ci) = self.ci {
            write_stdout(format_args!("{}\n", crate::ci::group_start(ci, id, title)));
        }
    }

    /// Closes it.
    pub fn group_end(&self, id: &str) {
        if let Some(ci) = self.ci {
            write_stdout(format_args!("{}\n", crate::ci::group_end(ci, id)));
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
            ci: None,
        }
    }

    fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    /// A step under way, as cargo prints it: `   Packaging hello (42 files)`.
    pub fn status(&self, verb: &str, message: impl Display) {
        if self.json {
            self.event("status", serde_json::json!({ "step": verb.to_ascii_lowercase(), "message": message.to_string() }));
        } else if self.verbosity >= 0 {
            write_stderr(format_args!(
                "{} {message}\n",
                self.paint(GREEN, &format!("{verb:>12}"))
            ));
        }
    }

    /// A phase of a command that waits on AWS (`    Planning deploy`), so a CI log shows life
    /// within a second. Text only: `--message-format json` carries its own events.
    pub fn progress(&self, verb: &str, message: impl Display) {
        if !self.json && self.verbosity >= 0 {
            write_stderr(format_args!(
                "{} {message}\n",
                self.paint(GREEN, &format!("{verb:>12}"))
            ));
        }
    }

    pub fn verbose(&self, message: impl Display) {
        if self.verbosity >= 1 && !self.json {
            write_stderr(format_args!(
                "{} {message}\n",
                self.paint(DIM, &format!("{:>12}", "debug"))
            ));
        }
    }

    pub fn warn(&self, message: impl Display) {
        if self.json {
            self.event(
                "warning",
                serde_json::json!({ "message": message.to_string() }),
            );
        } else {
            write_stderr(format_args!(
                "{} {message}\n",
                self.paint(YELLOW, "warning:")
            ));
        }
    }

    pub fn error(&self, message: impl Display) {
        if self.json {
            self.event(
                "error",
                serde_json::json!({ "message": message.to_string() }),
            );
        }
        write_stderr(format_args!("{} {message}\n", self.paint(RED, "error:")));
    }

    /// One JSON line on stdout: `{"type": kind, ...fields}`.
    pub fn event(&self, kind: &str, fields: serde_json::Value) {
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), kind.into());
        if let serde_json::Value::Object(f) = fields {
            obj.extend(f);
        }
        write_stdout(format_args!("{}\n", serde_json::Value::Object(obj)));
    }

    /// The command's result: its Display on stdout, or one `{"type":"result",...}` JSON line.
    pub fn result<T: Serialize + Display>(&self, result: &T) {
        if self.json {
            self.event(
                "result",
                serde_json::to_value(result).expect("results serialise"),
            );
        } else {
            write_stdout(format_args!("{result}"));
        }
    }

    /// One line of the command's own output (a log line) on stdout.
    pub fn line(&self, text: impl Display) {
        write_stdout(format_args!("{text}\n"));
    }

    /// Whether stdout's reader has gone: a follower (`logs -f`) then has nobody to follow for.
    pub fn stdout_closed(&self) -> bool {
        STDOUT_CLOSED.load(Ordering::Relaxed)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_asked() {
        let mut out = Output::plain();
        assert_eq!(out.paint(GREEN, "Built"), "Built");
        out.color = true;
        let painted = out.paint(RED, "error:");
        assert!(
            painted.starts_with('\x1b') && painted.contains("error:"),
            "{painted:?}"
        );
        assert!(painted.ends_with("\x1b[0m"), "{painted:?}");
    }

    /// Records each `write` call, as the kernel would see it on an unbuffered stderr.
    #[derive(Default)]
    struct Writes(Vec<String>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(String::from_utf8_lossy(buf).into_owned());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stderr_line_is_one_write() {
        let (verb, message) = ("debug", "stage dev of hello from Cargo.toml");
        let mut fragments = Writes::default();
        writeln!(fragments, "{verb:>12} {message}").unwrap();
        assert!(fragments.0.len() > 1, "eprintln!'s way: {:?}", fragments.0);
        let mut whole = Writes::default();
        write_whole(&mut whole, format_args!("{verb:>12} {message}\n")).unwrap();
        assert_eq!(whole.0, [format!("{verb:>12} {message}\n")]);
    }
}
