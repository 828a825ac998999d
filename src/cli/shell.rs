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
    let fargate = CargoCli::command()
        .find_subcommand("fargate")
        .expect("the fargate subcommand")
        .clone()
        .name(NAME)
        .display_name(NAME)
        .disable_help_subcommand(true);
    named(fargate, NAME)
}

/// Each command's bin name is its path (`cargo-fargate push`): the generators derive the words
/// they complete from it, and the derive names them after cargo's command line.
fn named(cmd: clap::Command, bin: &str) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut cmd = cmd.bin_name(bin);
    for name in names {
        let path = format!("{bin} {name}");
        cmd = cmd.mut_subcommand(&name, |s| named(s, &path));
    }
    cmd
}

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command(), NAME, &mut script);
    if shell == clap_complete::Shell::Bash {
        // clap_complete spells the state of a hyphenated program's subcommands two ways (the
        // loop: `cargo__fargate__subcmd__push`, the case arms: `cargo__subcmd__fargate__…`), so
        // no subcommand's flags would complete (clap-rs/clap#6421): one spelling for both.
        let text = String::from_utf8(script).expect("clap writes UTF-8");
        script = text
            .replace("cargo__subcmd__fargate", "cargo__fargate")
            .into_bytes();
    }
    script
}

/// `cargo-fargate(1)` in roff.
pub fn man() -> Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command())
        .render(&mut page)
        .context("writing the man page")?;
    Ok(page)
}

/// Writes to stdout; a closed pipe (`| head`) is the reader's choice, not an error.
pub fn print(bytes: &[u8]) {
    let _ = std::io::stdout().lock().write_all(bytes);
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
        let page = String::from_utf8(man().unwrap()).unwrap();
        assert!(page.starts_with(".ie"), "{}", &page[..80]);
        assert!(page.contains(".TH cargo-fargate 1"), "{page}");
        for sub in command().get_subcommands() {
            assert!(
                page.contains(&format!("cargo\\-fargate\\-{}(1)", sub.get_name())),
                "{}",
                sub.get_name()
            );
        }
    }
}
