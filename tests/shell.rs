//! At home in a shell: completion scripts that a real bash completes with, a man page that `man`
//! renders, and the book's command pages (docs/src/commands*) and the CLI agreeing on every command
//! and flag, both ways.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn cf_ok(args: &[&str]) -> String {
    ok(&cargo_fargate(&repo(), args))
}

/// Completes the words of `line` (the last one being completed) with bash and the script, calling
/// the function the script registers for `cargo-fargate`.
fn bash_complete(script: &std::path::Path, line: &[&str]) -> Vec<String> {
    let text = std::fs::read_to_string(script).unwrap();
    let function = text
        .lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("complete -F ")?;
            rest.split_whitespace()
                .next()
                .filter(|_| rest.contains("cargo-fargate"))
        })
        .expect("a `complete -F` line for cargo-fargate");
    let words = line
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let program = format!(
        "source '{}'\nCOMP_WORDS=({words})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n{function} cargo-fargate '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        line.len() - 1,
        line.join(" "),
        line[line.len() - 1],
        line[line.len() - 2],
    );
    let o = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(o.status.success(), "bash: {}", stderr(&o));
    stdout(&o).lines().map(|l| l.trim().to_string()).collect()
}

#[test]
fn bash_completes_commands_and_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("cargo-fargate.bash");
    std::fs::write(&script, cf_ok(&["completions", "bash"])).unwrap();

    assert_eq!(bash_complete(&script, &["cargo-fargate", "pu"]), ["push"]);
    let flags = bash_complete(&script, &["cargo-fargate", "push", "--reg"]);
    assert!(
        flags.contains(&"--registry-endpoint".to_string()),
        "{flags:?}"
    );
    let values = bash_complete(&script, &["cargo-fargate", "build", "--builder", ""]);
    for builder in ["docker", "host", "codebuild"] {
        assert!(values.contains(&builder.to_string()), "{values:?}");
    }
    let shells = bash_complete(&script, &["cargo-fargate", "completions", ""]);
    for shell in ["bash", "zsh", "fish", "powershell"] {
        assert!(shells.contains(&shell.to_string()), "{shells:?}");
    }
}

#[test]
fn every_shell_gets_a_script_for_every_command() {
    let commands = cli_commands();
    for (shell, marker) in [
        ("zsh", "#compdef cargo-fargate"),
        ("fish", "complete -c cargo-fargate"),
        ("powershell", "Register-ArgumentCompleter"),
        ("bash", "complete -F _cargo__fargate"),
    ] {
        let script = cf_ok(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        for c in commands.keys().filter(|c| *c != "(global)") {
            assert!(script.contains(c.as_str()), "{shell}: no `{c}`");
        }
    }
    let o = cargo_fargate(&repo(), &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("invalid value 'tcsh'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_man_page_renders_and_names_every_command() {
    let page = cf_ok(&["man"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cargo-fargate.1");
    std::fs::write(&file, &page).unwrap();
    let o = Command::new("man")
        .arg("-l")
        .arg(&file)
        .env("MANPAGER", "cat")
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    assert!(o.status.success(), "man: {}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("cargo-fargate"), "{text}");
    for c in cli_commands().keys().filter(|c| *c != "(global)") {
        assert!(text.contains(c.as_str()), "man page without `{c}`:\n{text}");
    }

    let pages = dir.path().join("man1");
    let listed = cf_ok(&["man", "--dir", pages.to_str().unwrap()]);
    for c in cli_commands().keys().filter(|c| *c != "(global)") {
        let page = pages.join(format!("cargo-fargate-{c}.1"));
        assert!(page.is_file(), "no {}", page.display());
        assert!(listed.contains(page.to_str().unwrap()), "{listed}");
    }
}

/// Long flags of a `--help` text's options (`-e, --env <KEY=VALUE>`, `--count <COUNT>`).
fn help_flags(help: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let mut in_options = false;
    for line in help.lines() {
        if line.ends_with(':') && !line.starts_with(' ') {
            in_options = line.starts_with("Options");
            continue;
        }
        let t = line.trim_start();
        if !in_options || !t.starts_with('-') {
            continue;
        }
        // The flag's spec ends where two spaces start its description.
        let spec = t.split("  ").next().unwrap();
        for part in spec.split([',', ' ']).filter(|p| p.starts_with("--")) {
            let flag = part.split(['=', '<', '[', '.']).next().unwrap();
            if flag != "--help" && flag != "--version" {
                flags.insert(flag.to_string());
            }
        }
    }
    flags
}

/// The commands of the CLI, each with its long flags (global ones left out), from `--help`.
fn cli_commands() -> BTreeMap<String, BTreeSet<String>> {
    let top = cf_ok(&["--help"]);
    let global = help_flags(&top);
    let mut commands = BTreeMap::new();
    let mut in_commands = false;
    for line in top.lines() {
        if line.ends_with(':') && !line.starts_with(' ') {
            in_commands = line.starts_with("Commands");
            continue;
        }
        if in_commands {
            if let Some(name) = line.split_whitespace().next() {
                // A description wrapped onto the next line is indented deeper than a command.
                if line.starts_with("  ") && !line.starts_with("   ") {
                    let help = cf_ok(&[name, "--help"]);
                    let mut own = help_flags(&help)
                        .difference(&global)
                        .cloned()
                        .collect::<BTreeSet<_>>();
                    // A command with subcommands (`iam policy`): their flags are the command's row's.
                    for sub in subcommands(&help) {
                        let sub_help = cf_ok(&[name, &sub, "--help"]);
                        own.extend(help_flags(&sub_help).difference(&global).cloned());
                    }
                    commands.insert(name.to_string(), own);
                }
            }
        }
    }
    assert!(commands.contains_key("push"), "{top}");
    commands.insert("(global)".into(), global);
    commands
}

/// The subcommands a `--help` lists under "Commands:" (clap's own `help` left out).
fn subcommands(help: &str) -> Vec<String> {
    let mut subs = Vec::new();
    let mut in_commands = false;
    for line in help.lines() {
        if line.ends_with(':') && !line.starts_with(' ') {
            in_commands = line.starts_with("Commands");
            continue;
        }
        if in_commands && line.starts_with("  ") && !line.starts_with("   ") {
            if let Some(name) = line.split_whitespace().next() {
                if name != "help" {
                    subs.push(name.to_string());
                }
            }
        }
    }
    subs
}

/// The book's command pages as one commands table, in the shape `readme_commands` reads: a row per
/// section of `docs/src/commands/*.md` (its synopsis is the `cargo fargate …` line of its `text`
/// block, its text the whole section), the global flags paragraph of `docs/src/commands.md`, then
/// the README's and every page's text for their `cargo fargate …` examples.
fn book_commands() -> String {
    let src = repo().join("docs/src");
    let mut pages: Vec<_> = std::fs::read_dir(src.join("commands"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    let overview = std::fs::read_to_string(src.join("commands.md")).unwrap();
    let mut table = String::from("\n## Commands\n\n| command | what it does |\n|---|---|\n");
    let mut examples = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for section in text.split("\n## ").skip(1) {
            let synopsis = section
                .lines()
                .find_map(|l| l.strip_prefix("cargo fargate "))
                .unwrap_or_else(|| panic!("{}: a section without its synopsis", page.display()));
            let flat = section.replace('\n', " ");
            table.push_str(&format!("| `{synopsis}` | {flat} |\n"));
        }
        examples.push_str(&text);
    }
    let global = overview
        .split("Flags every command honours:")
        .nth(1)
        .expect("docs/src/commands.md: the global flags paragraph");
    table.push_str("\nFlags every command honours:");
    table.push_str(global.split("\n\n").next().unwrap());
    table.push_str("\n\n## The rest\n\n");
    table + &examples
}

/// The commands table: per command, the synopses of its rows and the rows' whole text;
/// the global flags paragraph as `(global)`.
fn readme_commands(readme: &str) -> BTreeMap<String, (String, String)> {
    let section = readme
        .split("\n## Commands\n")
        .nth(1)
        .expect("a ## Commands section")
        .split("\n## ")
        .next()
        .unwrap();
    let mut rows: BTreeMap<String, (String, String)> = BTreeMap::new();
    let table = section
        .lines()
        .skip_while(|l| !l.starts_with("| command |"))
        .take_while(|l| l.starts_with('|'));
    for line in table.filter(|l| l.starts_with("| `")) {
        let synopsis = line[3..].split('`').next().unwrap();
        let name = synopsis.split_whitespace().next().unwrap().to_string();
        let row = rows.entry(name).or_default();
        row.0.push_str(synopsis);
        row.0.push('\n');
        row.1.push_str(line);
    }
    let global = section
        .split("Flags every command honours:")
        .nth(1)
        .expect("the global flags paragraph")
        .split("\n\n")
        .next()
        .unwrap();
    // Cargo's own flags are named there to tell them apart, and are not ours.
    let ours = global
        .replace("cargo's\n`--", "cargo's `")
        .replace("cargo's `--", "cargo's `");
    rows.insert("(global)".into(), (ours.clone(), ours));
    // "[build flags]" and "[run flags]" stand for the flags the `build` and `run` rows document.
    let expanded: Vec<(String, String)> = rows
        .iter()
        .map(|(name, (synopsis, text))| {
            let mut text = text.clone();
            for (words, row) in [("build flags", "build"), ("run flags", "run")] {
                if synopsis.contains(words) && name != row {
                    text.push_str(&rows[row].1);
                }
            }
            (name.clone(), text)
        })
        .collect();
    for (name, text) in expanded {
        rows.get_mut(&name).unwrap().1 = text;
    }
    rows
}

/// Every `--flag` in a text.
fn flags_in(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices("--") {
        let before = if i == 0 { b' ' } else { bytes[i - 1] };
        let flag: String = text[i + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if !before.is_ascii_alphanumeric() && before != b'-' && flag.len() > 1 {
            flags.insert(format!("--{flag}"));
        }
    }
    flags
}

#[test]
fn the_book_documents_every_command_and_flag_and_no_other() {
    let readme = book_commands();
    let documented = readme_commands(&readme);
    let cli = cli_commands();
    let global = &cli["(global)"];
    let mut problems = Vec::new();

    // CLI → README: every command has a row, every flag is in its command's row (or the global
    // paragraph).
    for (command, flags) in &cli {
        let Some((_, row)) = documented.get(command) else {
            problems.push(format!("the Commands table has no row for `{command}`"));
            continue;
        };
        for flag in flags.difference(&flags_in(row)) {
            problems.push(format!("`{command}` does not document `{flag}`"));
        }
    }

    // README → CLI: every documented command exists, and every flag in its synopsis is its own (or
    // global); every `cargo fargate <command> …` example uses flags that exist.
    for (command, (synopsis, _)) in &documented {
        let Some(own) = cli.get(command) else {
            problems.push(format!(
                "`{command}` is documented but the CLI has no such command"
            ));
            continue;
        };
        for flag in flags_in(synopsis) {
            if !own.contains(&flag) && !global.contains(&flag) {
                problems.push(format!(
                    "`{command}` documents `{flag}`, which it does not take"
                ));
            }
        }
    }
    for example in readme.split("cargo fargate ").skip(1) {
        let line = example
            .split(['`', '\n', '#', '|'])
            .next()
            .unwrap()
            .split(" -- ")
            .next()
            .unwrap();
        let Some(command) = line.split_whitespace().next() else {
            continue;
        };
        let Some(own) = cli.get(command) else {
            continue;
        };
        for flag in flags_in(line) {
            if !own.contains(&flag) && !global.contains(&flag) {
                problems.push(format!(
                    "the example `cargo fargate {line}` uses `{flag}`, which `{command}` does not take"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "docs/src/commands*:\n{}",
        problems.join("\n")
    );
}
