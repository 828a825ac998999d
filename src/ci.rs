//! CI-native output, decided by the variables each CI sets: under GitHub Actions
//! (`GITHUB_ACTIONS=true`) errors become `::error file=…,line=…::` annotations on the file and
//! line they name, long logs go in `::group::`s and a deploy's summary is appended to the job
//! summary (`GITHUB_STEP_SUMMARY`); under GitLab CI (`GITLAB_CI=true`) long logs go in collapsible
//! sections. Nothing changes elsewhere, nor with `--message-format json`.

use std::io::Write;
use std::path::Path;

use crate::error::{Location, UserError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    GitHub,
    GitLab,
}

/// The CI this runs in, if it is one whose output we speak.
pub fn detect() -> Option<Ci> {
    let set = |v: &str| std::env::var(v).is_ok_and(|v| v == "true");
    if set("GITHUB_ACTIONS") {
        Some(Ci::GitHub)
    } else if set("GITLAB_CI") {
        Some(Ci::GitLab)
    } else {
        None
    }
}

/// A workflow command's message: `%`, CR and LF escaped as the runner reads them.
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: also `:` and `,`.
fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The `::error` line for `err`: at the file and line a configuration error names (relative to
/// the workspace, as GitHub resolves it), else without a place.
pub fn error_annotation(err: &anyhow::Error, message: &str) -> String {
    let place = err
        .chain()
        .find_map(|e| e.downcast_ref::<UserError>())
        .and_then(|u| match &u.location {
            Some(Location::File { path, line }) => Some((path.clone(), *line)),
            _ => None,
        });
    let mut props = Vec::new();
    if let Some((path, line)) = place {
        let workspace = std::env::var("GITHUB_WORKSPACE").unwrap_or_default();
        let shown = path
            .strip_prefix(Path::new(&workspace))
            .ok()
            .filter(|_| !workspace.is_empty())
            .unwrap_or(&path);
        props.push(format!(
            "file={}",
            escape_property(&shown.to_string_lossy())
        ));
        if let Some(line) = line {
            props.push(format!("line={line}"));
        }
    }
    props.push("title=cargo fargate".into());
    format!("::error {}::{}", props.join(","), escape_data(message))
}

/// The line that opens a collapsible group of log lines titled `title`.
pub fn group_start(ci: Ci, id: &str, title: &str) -> String {
    match ci {
        Ci::GitHub => format!("::group::{}", escape_data(title)),
        Ci::GitLab => format!(
            "\x1b[0Ksection_start:{}:{id}[collapsed=true]\r\x1b[0K{title}",
            now()
        ),
    }
}

/// The line that closes it.
pub fn group_end(ci: Ci, id: &str) -> String {
    match ci {
        Ci::GitHub => "::endgroup::".into(),
        Ci::GitLab => format!("\x1b[0Ksection_end:{}:{id}\r\x1b[0K", now()),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Appends Markdown to the job summary (GitHub Actions' `GITHUB_STEP_SUMMARY` file), if there is one.
pub fn append_summary(markdown: &str) -> std::io::Result<()> {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(markdown.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_annotation_points_at_the_file_and_line() {
        let e: anyhow::Error = UserError::new("bad cpu\nreally")
            .at(Location::file(Path::new("/w/app/Cargo.toml"), Some(12)))
            .into();
        let a = error_annotation(&e, "Cargo.toml:12: bad cpu, 100%");
        assert!(
            a.starts_with("::error file=/w/app/Cargo.toml,line=12,title=cargo fargate::"),
            "{a}"
        );
        assert!(a.ends_with("bad cpu, 100%25"), "{a}");
        let plain: anyhow::Error = anyhow::anyhow!("x");
        assert_eq!(
            error_annotation(&plain, "x"),
            "::error title=cargo fargate::x"
        );
        assert_eq!(group_start(Ci::GitHub, "build", "Build"), "::group::Build");
        assert!(group_start(Ci::GitLab, "build", "Build").contains("section_start:"));
    }
}
