//! At home in a shell: completion scripts and man pages, generated from the clap definitions the
//! parser uses (clap_complete, clap_mangen), so they cannot drift from the flags.
//!
//! Both describe `cargo-fargate`, the program cargo runs for `cargo fargate`. zsh's own cargo
//! completion calls `_cargo-fargate` for `cargo fargate …`; in bash, fish and PowerShell a script
//! for `cargo` would replace cargo's own, so theirs complete `cargo-fargate …` (same commands).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;
use serde::Serialize;

use super::CargoCli;
use crate::error::Result;

const NAME: &str = "cargo-fargate";

/// The `fargate` subcommand as a program of its own: `cargo-fargate <command> …`.
pub fn command() -> clap::Command {
    let mut cargo = CargoCli::command();
    cargo.build();
    cargo
        .find_subcommand("fargate")
        .expect("the fargate subcommand")
        .clone()
        .name(NAME)
        .bin_name(NAME)
        .display_name(NAME)
}

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    clap_complete::generate(shell, &mut command(), NAME, out);
}

/// Writes `cargo-fargate(1)` to `out`.
pub fn man(out: &mut dyn Write) -> Result<()> {
    clap_mangen::Man::new(command())
        .render(out)
        .context("writing the man page")
}

/// What `man --dir` wrote.
#[derive(Debug, Serialize)]
pub struct ManPages {
    pub dir: PathBuf,
    pub pages: Vec<String>,
}

impl fmt::Display for ManPages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for page in &self.pages {
            writeln!(f, "{}", self.dir.join(page).display())?;
        }
        Ok(())
    }
}

/// Writes `cargo-fargate.1` and one `cargo-fargate-<command>.1` per command into `dir`.
pub fn man_pages(dir: &Path) -> Result<ManPages> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(command(), dir)
        .with_context(|| format!("writing man pages to {}", dir.display()))?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(NAME) && n.ends_with(".1"))
        .collect();
    pages.sort();
    Ok(ManPages {
        dir: dir.to_path_buf(),
        pages,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_names_every_command() {
        let mut page = Vec::new();
        man(&mut page).unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(page.starts_with(".ie"), "{}", &page[..80]);
        assert!(page.contains(".TH cargo-fargate 1"), "{page}");
        for sub in command().get_subcommands() {
            assert!(
                page.contains(&format!("{NAME}\\-{}", sub.get_name())),
                "{}",
                sub.get_name()
            );
        }
    }
}
