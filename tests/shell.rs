//! At home in a shell: completion scripts that a real bash completes with, a man page that `man`
//! renders, and the README and the CLI agreeing on every command and flag, both ways.

mod common;

use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn cf_ok(args: &[&str]) -> String {
    ok(&cargo_fargate(&repo(), args))
}

/// Completes the words of `line` (the last one being completed) with bash and the script.
fn bash_complete(script: &std::path::Path, line: &[&str]) -> Vec<String> {
    let words = line
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let program = format!(
        "source '{}'\nCOMP_WORDS=({words})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n_cargo-fargate cargo-fargate '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
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
        ("bash", "complete -F _cargo-fargate"),
    ] {
        let script = cf_ok(&["completions", shell]);
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        for c in commands.keys() {
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
    for c in cli_commands().keys() {
        assert!(text.contains(c.as_str()), "man page without `{c}`:\n{text}");
    }

    let pages = dir.path().join("man1");
    let listed = cf_ok(&["man", "--dir", pages.to_str().unwrap()]);
    for c in cli_commands().keys() {
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
        for part in t.split([',', ' ']).filter(|p| p.starts_with("--")) {
            let flag = part.split(['=', '<', '[']).next().unwrap();
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
                    let own = help_flags(&help)
                        .difference(&global)
                        .cloned()
                        .collect::<BTreeSet<_>>();
                    commands.insert(name.to_string(), own);
                }
            }
        }
    }
    assert!(commands.contains_key("push"), "{top}");
    commands.insert("(global)".into(), global);
    commands
}

/// The README's commands table: per command, the synopses of its rows and the rows' whole text;
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
    for line in section.lines().filter(|l| l.starts_with("| `")) {
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
    let ours: String = global
        .split("cargo's `--")
        .collect::<Vec<_>>()
        .join("cargo's `");
    rows.insert("(global)".into(), (ours.clone(), ours));
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
fn the_readme_documents_every_command_and_flag_and_no_other() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let documented = readme_commands(&readme);
    let cli = cli_commands();
    let global = &cli["(global)"];

    // CLI → README: every command has a row, every flag is in its command's row (or the global
    // paragraph).
    for (command, flags) in &cli {
        let row = documented
            .get(command)
            .unwrap_or_else(|| panic!("README's Commands table has no row for `{command}`"));
        for flag in flags {
            assert!(
                flags_in(&row.1).contains(flag),
                "README: `{command}` does not document `{flag}`"
            );
        }
    }

    // README → CLI: every documented command exists, and every flag in its synopsis is its own (or
    // global); every `cargo fargate <command> …` example uses flags that exist.
    for (command, (synopsis, _)) in &documented {
        let own = cli
            .get(command)
            .unwrap_or_else(|| panic!("README documents `{command}`, which the CLI does not have"));
        for flag in flags_in(synopsis) {
            assert!(
                own.contains(&flag) || global.contains(&flag),
                "README: `{command}` documents `{flag}`, which it does not take"
            );
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
            assert!(
                own.contains(&flag) || global.contains(&flag),
                "README example `cargo fargate {line}`: `{command}` has no `{flag}`"
            );
        }
    }
}
