//! Layering and validation over in-memory manifests (pure logic: no cargo, no files).

use std::collections::HashMap;
use std::path::Path;

use super::*;
use crate::project::Manifest;

const WS: &str = r#"
[workspace]
members = ["app"]

[workspace.metadata.fargate]
region = "eu-west-1"
cpu = 1024
memory = 2048
tags = { team = "platform" }

[workspace.metadata.fargate.stages.prod]
region = "eu-central-1"
"#;

const APP: &str = r#"
[package]
name = "my_app"
version = "0.1.0"

[package.metadata.fargate]
memory = 4096
subnets = ["subnet-0123abcd"]

[package.metadata.fargate.environment]
RUST_LOG = "info"
PORT = 8080

[package.metadata.fargate.stages.dev]

[package.metadata.fargate.stages.prod]
cpu = 2048
memory = 8192

[package.metadata.fargate.lifecycle]
keep-last = 5
"#;

fn manifest(path: &str, text: &str) -> Manifest {
    Manifest::from_text(Path::new(path), text.to_string()).unwrap()
}

fn facts<'a>(bins: &'a [String]) -> resolve::ProjectFacts<'a> {
    resolve::ProjectFacts {
        package_name: "my_app",
        package_dir: Path::new("/ws/app"),
        manifest_path: Path::new("/ws/app/Cargo.toml"),
        bins,
        default_run: None,
        bin_flag: None,
    }
}

fn stage(name: &str) -> StageChoice {
    StageChoice {
        name: name.into(),
        location: Some(Location::Flag("--stage".into())),
    }
}

fn resolve_with(app: &str, stage_name: &str, flags: Layer, env: &[(&str, &str)]) -> Result<Config> {
    let bins = vec!["my_app".to_string()];
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    resolve_manifests(
        &manifest("/ws/app/Cargo.toml", app),
        &manifest("/ws/Cargo.toml", WS),
        &facts(&bins),
        &stage(stage_name),
        flags,
        |k| env.get(k).cloned(),
    )
}

fn flag(key: &'static str, value: &str) -> Layer {
    let mut l = Layer::default();
    l.settings.insert(
        key,
        Setting {
            value: Value::Str(value.into()),
            origin: Origin {
                source: Source::Flag(format!("--{key}")),
                location: None,
            },
        },
    );
    l
}

fn err(app: &str, stage_name: &str) -> String {
    resolve_with(app, stage_name, Layer::default(), &[])
        .unwrap_err()
        .to_string()
}

#[test]
fn defaults_and_names() {
    let c = resolve_with(
        "[package]\nname = \"my_app\"\n",
        "dev",
        Layer::default(),
        &[],
    )
    .unwrap();
    assert_eq!(c.project, "my-app");
    assert_eq!(c.names.cluster, "my-app-dev");
    assert_eq!(c.names.repository, "my-app-dev");
    assert_eq!(c.container.log_group, "/ecs/my-app-dev");
    assert_eq!(c.roles.task, Role::Managed("my-app-dev-task".into()));
    assert_eq!(
        c.roles.execution,
        Role::Managed("my-app-dev-execution".into())
    );
    assert_eq!(c.size.architecture, Architecture::X86_64);
    // The workspace table is the base for every member.
    assert_eq!((c.size.cpu, c.size.memory), (1024, 2048));
    assert_eq!(c.region.as_deref(), Some("eu-west-1"));
    assert_eq!(c.lifecycle.keep_last, 10);
}

#[test]
fn precedence_stage_over_package_over_workspace() {
    let dev = resolve_with(APP, "dev", Layer::default(), &[]).unwrap();
    assert_eq!(
        (dev.size.cpu, dev.size.memory),
        (1024, 4096),
        "package memory over workspace, workspace cpu kept"
    );
    assert_eq!(
        dev.container.environment.get("PORT").map(String::as_str),
        Some("8080")
    );
    assert_eq!(
        dev.container.tags.get("team").map(String::as_str),
        Some("platform")
    );
    assert_eq!(dev.lifecycle.keep_last, 5);
    let prod = resolve_with(APP, "prod", Layer::default(), &[]).unwrap();
    assert_eq!((prod.size.cpu, prod.size.memory), (2048, 8192));
    assert_eq!(
        prod.region.as_deref(),
        Some("eu-central-1"),
        "workspace stage over workspace base"
    );
    assert_eq!(prod.names.cluster, "my-app-prod");
    assert_eq!(prod.stages, ["dev", "prod"]);
}

#[test]
fn env_over_stage_and_flag_over_env() {
    let c = resolve_with(
        APP,
        "prod",
        Layer::default(),
        &[
            ("CARGO_FARGATE_MEMORY", "16384"),
            ("CARGO_FARGATE_REGION", "us-east-2"),
        ],
    )
    .unwrap();
    assert_eq!(c.size.memory, 16384);
    assert_eq!(c.region.as_deref(), Some("us-east-2"));
    let c = resolve_with(
        APP,
        "prod",
        flag("region", "ap-south-1"),
        &[("CARGO_FARGATE_REGION", "us-east-2")],
    )
    .unwrap();
    assert_eq!(c.region.as_deref(), Some("ap-south-1"));
    let e = c.entries.iter().find(|e| e.key == "region").unwrap();
    assert_eq!(e.origin.to_string(), "flag --region");
    let e = c.entries.iter().find(|e| e.key == "memory").unwrap();
    assert_eq!(
        e.origin.to_string(),
        "/ws/app/Cargo.toml:18 [package.metadata.fargate.stages.prod]"
    );
}

#[test]
fn env_lists_and_maps() {
    let c = resolve_with(
        APP,
        "dev",
        Layer::default(),
        &[
            ("CARGO_FARGATE_SECURITY_GROUPS", "sg-0123abcd, sg-4567abcd"),
            ("CARGO_FARGATE_TAGS", "a=1,b=2"),
        ],
    )
    .unwrap();
    assert_eq!(c.network.security_groups, ["sg-0123abcd", "sg-4567abcd"]);
    assert_eq!(
        c.container.tags.len(),
        2,
        "env replaces the table, as every layer does"
    );
    let e = resolve_with(
        APP,
        "dev",
        Layer::default(),
        &[("CARGO_FARGATE_CPU", "lots")],
    )
    .unwrap_err()
    .to_string();
    assert_eq!(e, "env CARGO_FARGATE_CPU: `lots` is not an integer");
}

#[test]
fn unknown_key_has_location_and_suggestion() {
    let e = err(
        "[package]\nname = \"x\"\n\n[package.metadata.fargate]\ncpus = 512\n",
        "dev",
    );
    assert_eq!(
        e,
        "/ws/app/Cargo.toml:5: `package.metadata.fargate.cpus`: unknown key; did you mean `cpu`?"
    );
    let e = err(
        "[package]\nname = \"x\"\n[package.metadata.fargate.lifecycle]\nkeep-lst = 5\n",
        "dev",
    );
    assert!(e.contains(":4: `package.metadata.fargate.lifecycle.keep-lst`: unknown key; did you mean `keep-last`?"), "{e}");
    let e = err(
        "[package]\nname = \"x\"\n[package.metadata.fargate.stages.prod]\nmemroy = 1\n",
        "prod",
    );
    assert!(e.contains(":4: `package.metadata.fargate.stages.prod.memroy`: unknown key; did you mean `memory`?"), "{e}");
}

#[test]
fn type_errors_name_the_expected_kind() {
    let e = err(
        "[package]\nname = \"x\"\n[package.metadata.fargate]\ncpu = \"big\"\n",
        "dev",
    );
    assert_eq!(
        e,
        "/ws/app/Cargo.toml:4: `package.metadata.fargate.cpu`: expected an integer"
    );
    let e = err(
        "[package]\nname = \"x\"\n[package.metadata.fargate]\narchitecture = \"arm\"\n",
        "dev",
    );
    assert!(
        e.contains("`arm` is not one of `x86_64`, `arm64`, `both` (did you mean `arm64`?)"),
        "{e}"
    );
    // An array of platforms: both of them make one image index; one alone is that one.
    let c = |v: &str| {
        resolve_with(
            &format!(
                "[package]\nname = \"my_app\"\n[package.metadata.fargate]\narchitecture = {v}\n"
            ),
            "dev",
            Layer::default(),
            &[],
        )
        .unwrap()
    };
    let both = c("[\"arm64\", \"x86_64\"]");
    assert_eq!(
        both.size.image_architectures,
        [Architecture::X86_64, Architecture::Arm64]
    );
    assert_eq!(both.size.architecture, Architecture::X86_64);
    assert_eq!(
        c("[\"arm64\"]").size.image_architectures,
        [Architecture::Arm64]
    );
    let e = err(
        "[package]\nname = \"x\"\n[package.metadata.fargate]\narchitecture = [\"arm\"]\n",
        "dev",
    );
    assert!(e.contains("`arm` is not `x86_64` or `arm64`"), "{e}");
}

#[test]
fn cpu_memory_table_is_enforced_where_the_value_was_set() {
    let e = err("[package]\nname = \"x\"\n[package.metadata.fargate.stages.prod]\ncpu = 1024\nmemory = 1024\n", "prod");
    assert_eq!(
        e,
        "/ws/app/Cargo.toml:5: `package.metadata.fargate.stages.prod.memory`: 1024 MiB is not valid with cpu 1024; Fargate allows 2048–8192 MiB in steps of 1024"
    );
    let e = err(
        "[package]\nname = \"x\"\n[package.metadata.fargate]\ncpu = 300\n",
        "dev",
    );
    assert!(
        e.contains(":4: `package.metadata.fargate.cpu`: 300 is not a Fargate cpu size"),
        "{e}"
    );
}

#[test]
fn unknown_and_invalid_stages() {
    let e = err(APP, "prd");
    assert_eq!(e, "flag --stage: unknown stage `prd`; did you mean `prod`?");
    let e = err(APP, "Prod");
    assert!(
        e.starts_with("flag --stage: stage name `Prod` is invalid"),
        "{e}"
    );
    let e = err(
        "[package]\nname = \"x\"\n[package.metadata.fargate.stages.Bad]\n",
        "dev",
    );
    assert!(
        e.contains(":3: `package.metadata.fargate.stages.Bad`: stage name `Bad` is invalid"),
        "{e}"
    );
}

#[test]
fn resource_names_are_checked() {
    let e = err(
        "[package]\nname = \"x\"\n[package.metadata.fargate]\nrepository = \"My_Repo\"\n",
        "dev",
    );
    assert!(e.contains(":4: `package.metadata.fargate.repository`: `My_Repo` is not a valid ECR repository name"), "{e}");
    let e = err(
        "[package]\nname = \"x\"\n[package.metadata.fargate.secrets]\nDB = \"arn:aws:s3:::nope\"\n",
        "dev",
    );
    assert!(
        e.contains(
            "`package.metadata.fargate.secrets`: `DB`: `arn:aws:s3:::nope` is not an SSM parameter"
        ),
        "{e}"
    );
    let e = err("[package]\nname = \"x\"\n[package.metadata.fargate]\nname = \"a-very-long-project-name-that-goes-on-and-on-forever\"\n", "dev");
    assert!(e.contains("is not a valid IAM role name"), "{e}");
}

#[test]
fn secrets_never_double_as_environment() {
    let e = err("[package]\nname = \"x\"\n[package.metadata.fargate]\nenvironment = { DB = \"x\" }\nsecrets = { DB = \"/app/db\" }\n", "dev");
    assert!(
        e.contains("`DB` is both a secret and a plain environment variable"),
        "{e}"
    );
}

#[test]
fn placeholders_in_names() {
    let c = resolve_with("[package]\nname = \"x\"\n[package.metadata.fargate]\ncluster = \"shared-{stage}\"\nrepository = \"team/{project}\"\n", "dev", Layer::default(), &[]).unwrap();
    assert_eq!(c.names.cluster, "shared-dev");
    assert_eq!(c.names.repository, "team/my-app");
}

#[test]
fn every_key_has_an_env_var_and_a_readme_entry() {
    // The book's reference, generated from the table (tests/book.rs keeps it current).
    let readme = include_str!("../../docs/src/reference/config.md");
    for k in keys::KEYS {
        assert!(k.env_var().starts_with("CARGO_FARGATE_"));
        assert!(
            readme.contains(&format!("| `{}` |", k.name)),
            "docs/src/reference/config.md lacks key `{}`",
            k.name
        );
    }
}

const WS_TABLES: &str = r#"
[workspace]
members = ["app"]

[workspace.metadata.fargate.environment]
APP_ENV = "dev"
REGION_HINT = "eu"
LEGACY = "1"

[workspace.metadata.fargate.stages.prod.environment]
APP_ENV = "prod"
"#;

const APP_TABLES: &str = r#"
[package]
name = "my_app"
version = "0.1.0"

[package.metadata.fargate.environment]
RUST_LOG = "info"
LEGACY = { unset = true }

[package.metadata.fargate.stages.prod.environment]
RUST_LOG = "warn"
"#;

fn resolve_tables(stage_name: &str, env: &[(&str, &str)]) -> Result<Config> {
    let bins = vec!["my_app".to_string()];
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    resolve_manifests(
        &manifest("/ws/app/Cargo.toml", APP_TABLES),
        &manifest("/ws/Cargo.toml", WS_TABLES),
        &facts(&bins),
        &stage(stage_name),
        Layer::default(),
        |k| env.get(k).cloned(),
    )
}

/// Each entry of a merged table, with where it came from.
fn table(c: &Config, key: &str) -> Vec<(String, String, String)> {
    let map = match key {
        "environment" => &c.container.environment,
        _ => &c.container.tags,
    };
    map.iter()
        .map(|(k, v)| {
            let origin = c.table_origins[key][k].to_string();
            (k.clone(), v.clone(), origin)
        })
        .collect()
}

fn row(k: &str, v: &str, origin: &str) -> (String, String, String) {
    (k.into(), v.into(), origin.into())
}

#[test]
fn tables_merge_entry_by_entry_and_unset_removes_an_inherited_entry() {
    let dev = resolve_tables("dev", &[]).unwrap();
    assert_eq!(
        table(&dev, "environment"),
        [
            row(
                "APP_ENV",
                "dev",
                "/ws/Cargo.toml:6 [workspace.metadata.fargate]"
            ),
            row(
                "REGION_HINT",
                "eu",
                "/ws/Cargo.toml:7 [workspace.metadata.fargate]"
            ),
            row(
                "RUST_LOG",
                "info",
                "/ws/app/Cargo.toml:7 [package.metadata.fargate]"
            ),
        ]
    );
    let prod = resolve_tables("prod", &[]).unwrap();
    assert_eq!(
        table(&prod, "environment"),
        [
            row(
                "APP_ENV",
                "prod",
                "/ws/Cargo.toml:11 [workspace.metadata.fargate.stages.prod]"
            ),
            row(
                "REGION_HINT",
                "eu",
                "/ws/Cargo.toml:7 [workspace.metadata.fargate]"
            ),
            row(
                "RUST_LOG",
                "warn",
                "/ws/app/Cargo.toml:11 [package.metadata.fargate.stages.prod]"
            ),
        ]
    );
    // An env var is the whole value: it replaces the table, entries and origins alike.
    let c = resolve_tables("prod", &[("CARGO_FARGATE_ENVIRONMENT", "ONLY=1")]).unwrap();
    assert_eq!(
        table(&c, "environment"),
        [row("ONLY", "1", "env CARGO_FARGATE_ENVIRONMENT")]
    );
}

#[test]
fn unset_of_an_entry_nothing_defines_is_harmless_and_other_tables_are_refused() {
    let layer = |text: &str| {
        let m = manifest("/ws/app/Cargo.toml", text);
        let file = raw::TomlFile {
            path: &m.path,
            text: &m.text,
        };
        let t = m.doc["package"]["metadata"]["fargate"]
            .as_table_like()
            .unwrap();
        raw::read_table(&file, t, "package.metadata.fargate", Source::Package)
    };
    let l = layer("[package.metadata.fargate.environment]\nGONE = { unset = true }\n").unwrap();
    let merged = Layer::default().merge(l);
    assert_eq!(
        merged.settings["environment"].value,
        Value::StrMap(Default::default())
    );
    let e = layer("[package.metadata.fargate.environment]\nBAD = { unset = false }\n").unwrap_err();
    assert!(e.to_string().contains("{ unset = true }"), "{e}");
}
