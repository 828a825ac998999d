//! The JSON output contract (docs/src/json.md): each command, run for real on the bench with
//! `--message-format json`, writes one result that its schema in `docs/src/json/` accepts —
//! checked by check-jsonschema from the bench venv — and the schemas are closed: the same result
//! with one field more is refused. One deploy of `examples/hello` serves every command. The shapes
//! the command pages write (`JSON: {"type":"result","project",…}`) name the schemas' fields.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Every command with a schema: `docs/src/json/<name>.schema.json`.
const SCHEMAS: &[&str] = &[
    "deploy",
    "deploy-dry-run",
    "run",
    "status",
    "ps",
    "logs",
    "teardown",
    "iam-policy",
    "doctor",
];

fn schema(name: &str) -> PathBuf {
    repo().join(format!("docs/src/json/{name}.schema.json"))
}

fn check_jsonschema() -> Command {
    Command::new(Path::new(&env_var("BENCH_VENV")).join("bin/check-jsonschema"))
}

/// check-jsonschema's complaint about `value` against the command's schema, if any.
fn violations(name: &str, value: &Value) -> Option<String> {
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(value).unwrap()).unwrap();
    let o = check_jsonschema()
        .arg("--schemafile")
        .arg(schema(name))
        .arg(file.path())
        .output()
        .expect("check-jsonschema runs (scripts/bench.sh installs it in the venv)");
    (!o.status.success()).then(|| format!("{}{}", stdout(&o), stderr(&o)))
}

/// The result line of a run, whatever its exit code (doctor exits 1 on a failed check).
fn result_line(o: &Output) -> Value {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|v| v["type"] == "result")
        .unwrap_or_else(|| panic!("no JSON result in:\n{}{}", stdout(o), stderr(o)))
}

/// The result checked against its schema, and the same with a field more refused by it.
fn check(problems: &mut Vec<String>, name: &str, result: &Value) {
    if let Ok(dir) = std::env::var("JSON_CONTRACT_SAMPLES") {
        let path = Path::new(&dir).join(format!("{name}.json"));
        std::fs::write(path, serde_json::to_vec_pretty(result).unwrap()).unwrap();
    }
    if let Some(why) = violations(name, result) {
        problems.push(format!(
            "{name}: the result does not match its schema:\n{why}\n{result:#}"
        ));
    }
    let mut drifted = result.clone();
    drifted["undocumented_field"] = Value::from(1);
    if violations(name, &drifted).is_none() {
        problems.push(format!("{name}: the schema accepts an undocumented field"));
    }
}

/// `cargo fargate <args> --message-format json` on the bench as project `name`, in the tests' VPC.
fn cf(dir: &Path, name: &str, args: &[&str]) -> Output {
    // The format flag goes before a `--`, after which the words are the container's.
    let at = args.iter().position(|a| *a == "--").unwrap_or(args.len());
    let mut with_format = args.to_vec();
    with_format.splice(at..at, ["--message-format", "json"]);
    let mut cmd = bench_command(dir, &format!("{name}-dev"), &with_format);
    cmd.env("CARGO_FARGATE_NAME", name)
        .env("CARGO_FARGATE_SUBNETS", &net().subnet)
        .env("CARGO_FARGATE_SECURITY_GROUPS", &net().sg);
    cmd.output().unwrap()
}

fn succeeded(o: &Output, what: &str) -> Value {
    assert!(o.status.success(), "{what}: {}{}", stdout(o), stderr(o));
    result_line(o)
}

#[test]
fn every_schema_is_a_valid_json_schema_and_documented() {
    let page = std::fs::read_to_string(repo().join("docs/src/json.md")).unwrap();
    let mut on_disk: Vec<String> = std::fs::read_dir(repo().join("docs/src/json"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = SCHEMAS.iter().map(|s| format!("{s}.schema.json")).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "docs/src/json/ against this test's SCHEMAS"
    );
    for name in SCHEMAS {
        let link = format!("(json/{name}.schema.json)");
        assert!(
            page.contains(&link),
            "docs/src/json.md does not link {link}"
        );
        let o = check_jsonschema()
            .arg("--check-metaschema")
            .arg(schema(name))
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}{}", stdout(&o), stderr(&o));
    }
}

#[test]
fn every_command_writes_the_result_its_schema_describes() {
    let dir = copy_fixture(&repo().join("examples/hello"));
    let dir = dir.path();
    let name = unique("jc");
    let mut problems = Vec::new();

    check(
        &mut problems,
        "doctor",
        &result_line(&cf(dir, &name, &["doctor"])),
    );
    let policy = cf(dir, &name, &["iam", "policy", "--for", "deployer"]);
    check(
        &mut problems,
        "iam-policy",
        &succeeded(&policy, "iam policy"),
    );
    // Nothing to grant: no policy (never an empty document), and the role's trust with --trust.
    let task = cf(dir, &name, &["iam", "policy", "--for", "task", "--trust"]);
    let task = succeeded(&task, "iam policy --for task --trust");
    assert!(task["trust"].is_object(), "{task}");
    check(&mut problems, "iam-policy", &task);
    let plan = cf(dir, &name, &["deploy", "--dry-run"]);
    check(
        &mut problems,
        "deploy-dry-run",
        &succeeded(&plan, "deploy --dry-run"),
    );

    let deployed = succeeded(&cf(dir, &name, &["deploy"]), "deploy");
    check(&mut problems, "deploy", &deployed);
    let image = deployed["image_uri"].as_str().expect("deploy's image_uri");
    let ran = cf(
        dir,
        &name,
        &["run", "--image", image, "--", "from the contract"],
    );
    check(&mut problems, "run", &succeeded(&ran, "run"));

    check(
        &mut problems,
        "status",
        &succeeded(&cf(dir, &name, &["status"]), "status"),
    );
    check(
        &mut problems,
        "ps",
        &succeeded(&cf(dir, &name, &["ps", "--all"]), "ps"),
    );
    check(
        &mut problems,
        "logs",
        &succeeded(&cf(dir, &name, &["logs"]), "logs"),
    );

    let dry = cf(dir, &name, &["teardown", "--dry-run", "--force"]);
    check(
        &mut problems,
        "teardown",
        &succeeded(&dry, "teardown --dry-run"),
    );
    let removed = cf(dir, &name, &["teardown", "--yes", "--force"]);
    check(&mut problems, "teardown", &succeeded(&removed, "teardown"));

    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A shape as the command pages write it: `{"a","b":{"c"},"d":[{"e"}],"f":"x"|"y","g":{…}}`.
#[derive(Debug)]
enum Shape {
    /// A field without a nested shape, with the literal values it lists (`"ok"|"warn"`).
    Leaf(BTreeSet<String>),
    Object(BTreeMap<String, Shape>),
    ArrayOf(Box<Shape>),
}

fn parse_string(text: &[char], i: &mut usize) -> String {
    *i += 1;
    let start = *i;
    while text[*i] != '"' {
        *i += 1;
    }
    *i += 1;
    text[start..*i - 1].iter().collect()
}

/// The value after `:` (or an array's element): an object, an array, literals, or anything else
/// (`{…}`, `[arn…]`) as a leaf.
fn parse_value(text: &[char], i: &mut usize) -> Shape {
    match text[*i] {
        '{' if text[*i + 1] == '"' => parse_object(text, i),
        '[' => {
            *i += 1;
            let element = parse_value(text, i);
            while text[*i] != ']' {
                *i += 1;
            }
            *i += 1;
            match element {
                Shape::Object(_) => Shape::ArrayOf(Box::new(element)),
                _ => Shape::Leaf(BTreeSet::new()),
            }
        }
        '"' => {
            let mut values = BTreeSet::from([parse_string(text, i)]);
            while text[*i] == '|' {
                *i += 1;
                values.insert(parse_string(text, i));
            }
            Shape::Leaf(values)
        }
        _ => {
            let mut depth = 0;
            while depth > 0 || !matches!(text[*i], ',' | '}' | ']') {
                match text[*i] {
                    '{' | '[' => depth += 1,
                    '}' | ']' => depth -= 1,
                    _ => {}
                }
                *i += 1;
            }
            Shape::Leaf(BTreeSet::new())
        }
    }
}

fn parse_object(text: &[char], i: &mut usize) -> Shape {
    let mut fields = BTreeMap::new();
    *i += 1;
    loop {
        let key = parse_string(text, i);
        let value = if text[*i] == ':' {
            *i += 1;
            parse_value(text, i)
        } else {
            Shape::Leaf(BTreeSet::new())
        };
        fields.insert(key, value);
        *i += 1;
        if text[*i - 1] == '}' {
            return Shape::Object(fields);
        }
    }
}

/// The `n`th result shape (`{"type":"result",…}`) a command page writes.
fn documented(page: &str, n: usize) -> Shape {
    let text = std::fs::read_to_string(repo().join("docs/src/commands").join(page)).unwrap();
    let at = text
        .match_indices("`{\"type\":\"result\"")
        .nth(n)
        .unwrap_or_else(|| panic!("{page}: no result shape number {n}"))
        .0;
    let chars: Vec<char> = text[at + 1..].chars().collect();
    parse_object(&chars, &mut 0)
}

/// Where `doc` and the schema disagree: a documented field the schema does not allow, a field the
/// schema requires that is not documented, literal values that differ from the schema's enum.
fn disagreements(at: &str, doc: &Shape, schema: &Value, out: &mut Vec<String>) {
    match doc {
        Shape::Object(fields) => {
            let props = schema["properties"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (key, shape) in fields {
                match props.get(key) {
                    None => out.push(format!("{at}.{key} is documented but not in the schema")),
                    Some(sub) => disagreements(&format!("{at}.{key}"), shape, sub, out),
                }
            }
            for key in schema["required"].as_array().into_iter().flatten() {
                let key = key.as_str().unwrap();
                if !fields.contains_key(key) {
                    out.push(format!(
                        "{at}.{key} is required by the schema but not documented"
                    ));
                }
            }
        }
        Shape::ArrayOf(element) => {
            disagreements(&format!("{at}[]"), element, &schema["items"], out)
        }
        Shape::Leaf(values) if values.len() > 1 => {
            let allowed: BTreeSet<String> = schema["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            if &allowed != values {
                out.push(format!(
                    "{at}: documented {values:?}, the schema allows {allowed:?}"
                ));
            }
        }
        Shape::Leaf(_) => {}
    }
}

#[test]
fn the_command_pages_document_the_schemas_fields() {
    let load = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(schema(name)).unwrap()).unwrap()
    };
    let status = load("status");
    // (schema, the schema's part, command page, which of the page's result shapes)
    let pairs = [
        ("deploy", load("deploy"), "deploy.md", 0),
        ("deploy-dry-run", load("deploy-dry-run"), "deploy.md", 1),
        ("run", load("run"), "run.md", 0),
        (
            "status (schedule)",
            status["oneOf"][1].clone(),
            "status.md",
            0,
        ),
        ("status", status["oneOf"][0].clone(), "status.md", 1),
        ("ps", load("ps"), "ps.md", 0),
        ("logs", load("logs"), "logs.md", 0),
        ("teardown", load("teardown"), "teardown.md", 0),
        ("iam-policy", load("iam-policy"), "iam.md", 0),
        ("doctor", load("doctor"), "doctor.md", 0),
    ];
    let mut problems = Vec::new();
    for (name, schema, page, n) in pairs {
        disagreements(name, &documented(page, n), &schema, &mut problems);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
