//! The size rules of `src/` (docs/src/layout.md): each file one job, under 600 lines (the tests
//! too); no function over 100 lines. Pure reading of the source files.
//!
//! A function's length is counted from its `fn` line to the line that closes its body, matching
//! braces outside string literals, character literals and `//` comments: rough, but it finds
//! every long function rustfmt'd code has (raw strings with braces would confuse it; src/ has none
//! that matter).

#[path = "common/sources.rs"]
mod sources;

use sources::rust_files;
use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 100;

fn files_under(dir: &str) -> Vec<PathBuf> {
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
}

fn src_files() -> Vec<PathBuf> {
    files_under("src")
}

/// The line without string and character literals and without a `//` comment.
fn code(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                // Skip to the closing quote (escapes included).
                while let Some(d) = chars.next() {
                    match d {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
                out.push_str("\"\"");
            }
            // A character literal ('{', '\n'); a lifetime ('a) has no closing quote near.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                let close = if rest.starts_with('\\') {
                    rest.chars().nth(2) == Some('\'')
                } else {
                    rest.chars().nth(1) == Some('\'')
                };
                if close {
                    let n = if rest.starts_with('\\') { 3 } else { 2 };
                    for _ in 0..n {
                        chars.next();
                    }
                    out.push_str("''");
                } else {
                    out.push(c);
                }
            }
            '/' if chars.peek() == Some(&'/') => break,
            _ => out.push(c),
        }
    }
    out
}

/// The name of the function a line starts, if it starts one.
fn fn_name(line: &str) -> Option<String> {
    let mut words = line.split_whitespace().peekable();
    while let Some(w) = words.peek() {
        if w.starts_with("pub") || ["async", "const", "unsafe", "extern"].contains(w) {
            words.next();
        } else {
            break;
        }
    }
    let name = words.next().filter(|w| *w == "fn").and(words.next())?;
    Some(
        name.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect(),
    )
}

/// (first line, length, name) of every function in `text` longer than `max` lines.
fn long_functions(text: &str, max: usize) -> Vec<(usize, usize, String)> {
    let lines: Vec<String> = text.lines().map(code).collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = fn_name(&lines[i]) else {
            i += 1;
            continue;
        };
        let (mut depth, mut started, mut j) = (0i32, false, i);
        while j < lines.len() {
            for c in lines[j].chars() {
                match c {
                    '{' => {
                        depth += 1;
                        started = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (started && depth <= 0) || (!started && lines[j].trim_end().ends_with(';')) {
                break;
            }
            j += 1;
        }
        if started && j - i + 1 > max {
            found.push((i + 1, j - i + 1, name));
        }
        // Nested functions are inside the outer one's count.
        i = if started { j + 1 } else { i + 1 };
    }
    found
}

/// The tests keep to the same file size (their scenario functions may run longer: one story each).
#[test]
fn every_file_in_src_and_tests_is_under_600_lines() {
    let long: Vec<String> = src_files()
        .into_iter()
        .chain(files_under("tests"))
        .collect::<Vec<_>>()
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > MAX_FILE_LINES).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(
        long.is_empty(),
        "files over {MAX_FILE_LINES} lines: {}; split each by concern into a submodule",
        long.join(", ")
    );
}

#[test]
fn no_function_in_src_is_over_100_lines() {
    let mut long = Vec::new();
    for p in src_files() {
        let text = std::fs::read_to_string(&p).unwrap();
        for (line, n, name) in long_functions(&text, MAX_FN_LINES) {
            long.push(format!("{}:{line} {name} ({n} lines)", p.display()));
        }
    }
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines: {}; cut each into steps with names of their own",
        long.join(", ")
    );
}

#[test]
fn the_function_count_finds_a_long_function_and_ignores_braces_in_strings() {
    let body = "    let x = 1;\n".repeat(101);
    let text = format!(
        "pub async fn long() {{\n{body}}}\n\nfn short() {{\n    let s = \"}}}}{{\"; let c = '}}'; // }}\n}}\n"
    );
    let found = long_functions(&text, MAX_FN_LINES);
    assert_eq!(found, vec![(1, 103, "long".to_string())]);
    assert!(long_functions(&text, 200).is_empty());
}
