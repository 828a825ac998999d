//! The book under `docs/`: its configuration reference is the key table of `src/config/keys.rs`
//! rendered (so the two cannot drift), every page `SUMMARY.md` names exists and every page is
//! named there, every relative link (and its `#anchor`) in the book and the README resolves, and
//! `mdbook build` builds it.
//!
//! `BLESS=1 cargo test --test book` rewrites `docs/src/reference/config.md` from the table.

use cargo_fargate::config::keys::{KeyDef, KEYS};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn book_src() -> PathBuf {
    repo().join("docs/src")
}

/// `|` would end a table cell, inside code spans too.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A default as shown: a single word in code; otherwise its `{placeholder}…` runs in code.
fn default_cell(default: &str) -> String {
    if !default.contains(' ') {
        return format!("`{}`", cell(default));
    }
    let mut out = String::new();
    let mut rest = default;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let run = &rest[open..];
        let close = run.find('}').map_or(run.len(), |c| c + 1);
        let tail = run[close..]
            .find([' ', ',', ')', ';'])
            .map_or(run.len(), |t| close + t);
        out.push_str(&format!("`{}`", &run[..tail]));
        rest = &run[tail..];
    }
    out.push_str(rest);
    cell(&out)
}

/// A doc string's mentions of book pages (`docs/src/x.md`) become links relative to the reference.
fn doc_cell(doc: &str) -> String {
    let mut out = String::new();
    let mut rest = doc;
    while let Some(at) = rest.find("docs/src/") {
        out.push_str(&rest[..at]);
        let path = &rest[at + "docs/src/".len()..];
        let end = path.find(".md").map_or(0, |e| e + 3);
        let page = &path[..end];
        out.push_str(&format!("[{page}](../{page})"));
        rest = &path[end..];
    }
    out.push_str(rest);
    cell(&out)
}

fn row(key: &KeyDef) -> String {
    format!(
        "| `{}` | {} | {} | `{}` | {} |\n",
        key.name,
        cell(&key.kind.describe()),
        default_cell(key.default),
        key.env_var(),
        doc_cell(key.doc)
    )
}

/// The configuration reference, rendered from the key table.
fn reference() -> String {
    let mut md = String::from(
        "# Every configuration key\n\n\
         <!-- Generated from the key table in src/config/keys.rs by tests/book.rs; do not edit.\n     \
         Regenerate with: BLESS=1 cargo test --test book -->\n\n\
         Keys go in `[package.metadata.fargate]` (or `[workspace.metadata.fargate]`, or a\n\
         `stages.<name>` table of either); dotted keys are in a sub-table (`lifecycle.keep-last` is\n\
         `keep-last` in `[package.metadata.fargate.lifecycle]`). The env var sets the key for one run\n\
         (lists comma-separated, tables `K=V,K=V`); precedence and validation are described in\n\
         [Configuration](../configuration.md). `cargo fargate config` prints every key's resolved\n\
         value and where it came from.\n\n\
         | key | type | default | env var | meaning |\n\
         |---|---|---|---|---|\n",
    );
    for key in KEYS {
        md.push_str(&row(key));
    }
    md
}

#[test]
fn the_configuration_reference_is_the_key_table() {
    let path = book_src().join("reference/config.md");
    let rendered = reference();
    if std::env::var_os("BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &rendered).unwrap();
        return;
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == rendered,
        "{} differs from the key table in src/config/keys.rs: \
         run `BLESS=1 cargo test --test book` to regenerate it",
        path.display()
    );
}

fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            markdown_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "md") {
            found.push(path);
        }
    }
}

/// Every `](target)` of a markdown text, outside fenced code blocks.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for (at, _) in line.match_indices("](") {
            let target = &line[at + 2..];
            if let Some(end) = target.find(')') {
                found.push(target[..end].to_string());
            }
        }
    }
    found
}

/// The anchors mdBook (and GitHub) give a page's headings: lower case, spaces as `-`, punctuation
/// but `-` and `_` dropped.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut found = BTreeSet::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#').trim();
        let anchor: String = heading
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_ascii_lowercase()),
                _ => None,
            })
            .collect();
        found.insert(anchor);
    }
    found
}

/// Problems with the relative links of one markdown file.
fn broken_links(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut problems = Vec::new();
    for link in links(&text) {
        if link.contains("://") || link.starts_with("mailto:") {
            continue;
        }
        let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
        let target = if path.is_empty() {
            file.to_path_buf()
        } else {
            file.parent().unwrap().join(path)
        };
        if !target.exists() {
            problems.push(format!("{}: `{link}`: no such file", file.display()));
            continue;
        }
        let is_markdown = target.extension().is_some_and(|e| e == "md");
        if !anchor.is_empty() && is_markdown {
            let page = std::fs::read_to_string(&target).unwrap();
            if !anchors(&page).contains(anchor) {
                problems.push(format!("{}: `{link}`: no such heading", file.display()));
            }
        }
    }
    problems
}

#[test]
fn every_page_is_in_the_summary_and_every_link_resolves() {
    let src = book_src();
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).unwrap();
    let listed: BTreeSet<PathBuf> = links(&summary).iter().map(|l| src.join(l)).collect();
    let mut pages = Vec::new();
    markdown_files(&src, &mut pages);
    let mut problems = Vec::new();
    for page in &listed {
        if !page.exists() {
            problems.push(format!(
                "SUMMARY.md names {}, which does not exist",
                page.display()
            ));
        }
    }
    for page in &pages {
        if !listed.contains(page) && !page.ends_with("SUMMARY.md") {
            problems.push(format!("{} is not in SUMMARY.md", page.display()));
        }
        problems.extend(broken_links(page));
    }
    problems.extend(broken_links(&repo().join("README.md")));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// mdbook: `MDBOOK`, else the project-local one `scripts/book.sh` installs, else PATH's.
fn mdbook() -> PathBuf {
    if let Some(path) = std::env::var_os("MDBOOK") {
        return path.into();
    }
    let local = repo().join(".bench/tools/bin/mdbook");
    if local.exists() {
        return local;
    }
    PathBuf::from("mdbook")
}

#[test]
fn the_book_builds() {
    let out = std::env::temp_dir().join(format!("cargo-fargate-book-{}", std::process::id()));
    let result = Command::new(mdbook())
        .arg("build")
        .arg(repo().join("docs"))
        .arg("--dest-dir")
        .arg(&out)
        .output();
    let output = match result {
        Ok(output) => output,
        Err(e) => panic!(
            "mdbook could not be started ({e}): run `scripts/book.sh install` (scripts/test.sh does)"
        ),
    };
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "mdbook build docs failed:\n{log}");
    assert!(
        !log.contains("[WARN]") && !log.contains("WARN "),
        "mdbook warned:\n{log}"
    );
    for page in [
        "index.html",
        "commands/deploy.html",
        "reference/config.html",
        "json.html",
    ] {
        assert!(out.join(page).exists(), "the built book has no {page}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
