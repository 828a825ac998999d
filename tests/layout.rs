//! The shape of `src/` that `lib.rs` and the book's Layout page (docs/src/layout.md) promise: no
//! import circle between top-level modules, and every top-level module named in `lib.rs`'s map.
//!
//! Pure reading of the source files: `crate::…` paths (plain, and inside `crate::{…}` groups) are
//! collected per top-level module, and the module graph is searched for circles.

use std::collections::{BTreeMap, BTreeSet};
#[path = "common/sources.rs"]
mod sources;

use sources::rust_files;
use std::path::{Path, PathBuf};

/// One `crate::<module>` reference: where it is.
type Uses = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level modules: `src/<name>.rs` and `src/<name>/`, but for the crate roots.
fn top_level_modules(src: &Path) -> BTreeSet<String> {
    std::fs::read_dir(src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            let module = p.is_dir() || p.extension().is_some_and(|e| e == "rs");
            (module && name != "lib" && name != "main").then_some(name)
        })
        .collect()
}

/// `file`'s path under `src`, with `/` between its parts.
fn relative(src: &Path, file: &Path) -> String {
    file.strip_prefix(src)
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

/// The source without `//` comments (doc comments name modules without using them).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first path segments a `crate::` at `rest` names: `crate::a::b` → a, `crate::{a, b::c}` →
/// a and b (groups may nest).
fn named_modules(rest: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest)];
    };
    let (mut depth, mut names, mut start) = (0, Vec::new(), 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                names.push(ident(group[start..i].trim()));
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                names.push(ident(group[start..i].trim()));
                start = i + 1;
            }
            _ => {}
        }
    }
    names.into_iter().filter(|n| !n.is_empty()).collect()
}

/// Which top-level module uses which, with where.
fn uses(src: &Path, modules: &BTreeSet<String>) -> Uses {
    let files = rust_files(src);
    let mut uses = Uses::new();
    for file in files {
        let relative = relative(src, &file);
        let top = relative
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if !modules.contains(&top) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(&file).unwrap());
        for (at, _) in code.match_indices("crate::") {
            let line = code[..at].matches('\n').count() + 1;
            for used in named_modules(&code[at + "crate::".len()..]) {
                if used != top && modules.contains(&used) {
                    uses.entry(top.clone())
                        .or_default()
                        .entry(used)
                        .or_default()
                        .push(format!("src/{relative}:{line}"));
                }
            }
        }
    }
    uses
}

/// A circle through `start`, if any: the modules in order, back to `start`.
fn circle_from(start: &str, uses: &Uses) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, path)) = stack.pop() {
        for next in uses.get(&at).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                let mut circle = path.clone();
                circle.push(start.to_string());
                return Some(circle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_import_circle_between_top_level_modules() {
    let src = src();
    let modules = top_level_modules(&src);
    let uses = uses(&src, &modules);
    let mut circles = BTreeSet::new();
    for module in &modules {
        if let Some(circle) = circle_from(module, &uses) {
            // One line per circle, however many of its modules it was found from.
            let mut key: Vec<String> = circle[..circle.len() - 1].to_vec();
            key.sort();
            if circles.insert(key) {
                let edges: Vec<String> = circle
                    .windows(2)
                    .map(|w| format!("{} → {} ({})", w[0], w[1], uses[&w[0]][&w[1]][0]))
                    .collect();
                eprintln!("import circle: {}", edges.join(", "));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "{} import circle(s) between top-level modules of src/ (listed above); move the shared \
         fact down a layer (names, iam, config) instead of importing upward",
        circles.len()
    );
}

#[test]
fn the_circle_check_finds_a_circle() {
    // The check itself, on a made-up graph: a → b → c → a is found, a → b alone is not.
    let edge = |uses: &mut Uses, from: &str, to: &str| {
        uses.entry(from.into())
            .or_default()
            .insert(to.into(), vec![format!("src/{from}.rs:1")]);
    };
    let mut uses = Uses::new();
    edge(&mut uses, "a", "b");
    edge(&mut uses, "b", "c");
    assert_eq!(circle_from("a", &uses), None);
    edge(&mut uses, "c", "a");
    assert_eq!(
        circle_from("a", &uses),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        named_modules("{aws::{Aws, Identity}, config::Config, error}; rest"),
        vec!["aws", "config", "error"]
    );
    assert_eq!(named_modules("names::family(config)"), vec!["names"]);
}

#[test]
fn lib_rs_names_every_top_level_module() {
    let src = src();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let map: String = lib
        .lines()
        .filter(|l| l.starts_with("//!"))
        .collect::<Vec<_>>()
        .join("\n");
    let missing: Vec<String> = top_level_modules(&src)
        .into_iter()
        .filter(|m| {
            let named = map.contains(&format!("[`{m}`]")) || map.contains(&format!("[`{m}::"));
            !named || !lib.contains(&format!("pub mod {m};"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "src/lib.rs: the module map (its `//!` lines) does not name {missing:?}; add a [`module`] \
         line for each where it sits in the layers"
    );
}

/// The top-level modules in the order `lib.rs`'s map first names them (`[`steps::package`]`
/// counts as `steps`).
fn map_order(lib: &str) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    for line in lib.lines().filter(|l| l.starts_with("//!")) {
        for (at, _) in line.match_indices("[`") {
            let name: String = line[at + 2..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !order.contains(&name) {
                order.push(name);
            }
        }
    }
    order
}

#[test]
fn every_module_uses_only_the_layers_lib_rs_puts_before_it() {
    let src = src();
    let modules = top_level_modules(&src);
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let order = map_order(&lib);
    let rank = |m: &str| order.iter().position(|o| o == m);
    let mut upward = Vec::new();
    for (from, used) in uses(&src, &modules) {
        for (to, at) in used {
            if let (Some(f), Some(t)) = (rank(&from), rank(&to)) {
                if t > f {
                    upward.push(format!("{} uses {to}, named after it in src/lib.rs", at[0]));
                }
            }
        }
    }
    assert!(
        upward.is_empty(),
        "{}\nmove the fact down a layer, or the module in src/lib.rs's map if the layering changed",
        upward.join("\n")
    );
}

/// Where a pause may be written by hand, and why; every other wait is a look under
/// `net::poll::{poll_until, poll_with}` or a backon retry (`.sleep(tokio::time::sleep)`).
const OWN_PAUSES: &[(&str, &str)] = &[
    ("net/poll.rs", "the one wait itself"),
    (
        "registry/upload.rs",
        "a layer upload's pauses restart on progress (from net::registry_backoff)",
    ),
    (
        "build/codebuild/follow.rs",
        "one pause for the log's last lines, not a loop",
    ),
    (
        "local/supervise.rs",
        "the local container's event loop: a ticker in its select",
    ),
    ("steps/package/tests.rs", "a unit test's file clock"),
];

/// The hand-written pauses in `files` outside [`OWN_PAUSES`]: `path:line`.
fn hand_written_pauses(src: &Path, files: &[PathBuf]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let rel = relative(src, file);
        if OWN_PAUSES.iter().any(|(allowed, _)| rel == *allowed) {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(file).unwrap());
        for (n, line) in code.lines().enumerate() {
            let backon_sleeper = line.contains(".sleep(tokio::time::sleep)");
            if line.contains("sleep(") && !backon_sleeper {
                found.push(format!("src/{rel}:{}", n + 1));
            }
        }
    }
    found
}

#[test]
fn every_wait_is_a_look_under_net_poll() {
    let src = src();
    let files = rust_files(&src);
    let found = hand_written_pauses(&src, &files);
    assert!(
        found.is_empty(),
        "hand-written sleeps at {}: wait with net::poll::poll_until / poll_with (or backon for a retry)",
        found.join(", ")
    );
}

#[test]
fn the_pause_check_finds_a_hand_written_sleep() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wait.rs");
    std::fs::write(
        &file,
        "async fn f() {\n    loop {\n        tokio::time::sleep(POLL).await;\n    }\n}\n",
    )
    .unwrap();
    assert_eq!(
        hand_written_pauses(dir.path(), &[file]),
        vec!["src/wait.rs:3".to_string()]
    );
}

/// Clap's types stay in the CLI layer: no module outside `src/cli/` names `clap` (a flag's enum
/// there is turned into the domain's own type).
#[test]
fn clap_is_named_only_in_the_cli_layer() {
    let files = rust_files(&src());
    let cli = src().join("cli");
    let outside: Vec<String> = files
        .iter()
        .filter(|f| !f.starts_with(&cli))
        .filter(|f| {
            let code = code_of(&std::fs::read_to_string(f).unwrap());
            code.contains("clap::") || code.contains("use clap") || code.contains("clap_")
        })
        .map(|f| relative(&src(), f))
        .collect();
    assert!(outside.is_empty(), "clap outside src/cli: {outside:?}");
}

/// Every stderr line is written whole (two processes sharing a CI log must not interleave
/// mid-line): `output::write_stderr` formats first and writes once, where `eprintln!` writes in
/// pieces to an unbuffered stderr.
#[test]
fn stderr_is_written_through_output_only() {
    let files = rust_files(&src());
    let pieces: Vec<String> = files
        .iter()
        .filter(|f| {
            let code = code_of(&std::fs::read_to_string(f).unwrap());
            code.contains("eprintln!(") || code.contains("eprint!(")
        })
        .map(|f| relative(&src(), f))
        .collect();
    assert!(
        pieces.is_empty(),
        "eprintln!/eprint! in {pieces:?}: write with crate::output::write_stderr(format_args!(\"…\\n\"))"
    );
}

/// One file per subcommand: each arm of the dispatcher's table calls `run` of the file named for
/// its command (`Command::Logs(args) => logs::run(…)` and `src/cli/commands/logs.rs`).
#[test]
fn every_subcommand_has_a_file_of_its_own() {
    let dir = src().join("cli/commands");
    let table = std::fs::read_to_string(dir.join("mod.rs")).unwrap();
    let arms: Vec<&str> = table
        .lines()
        .map(str::trim)
        // The table's arms: one command each (`left_by_interrupt`'s join several with `|`).
        .filter(|l| l.starts_with("Command::") && l.contains("=>") && !l.contains('|'))
        .collect();
    assert!(arms.len() > 20, "the dispatcher's table: {arms:?}");
    for arm in arms {
        let variant = arm["Command::".len()..]
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap();
        let file = variant.to_lowercase();
        assert!(
            arm.contains(&format!("=> {file}::run(")),
            "`{arm}` should call {file}::run"
        );
        assert!(
            dir.join(format!("{file}.rs")).is_file(),
            "no {file}.rs for `{arm}`"
        );
    }
}
