//! Configuration: `[workspace.metadata.fargate]` < its stage < `[package.metadata.fargate]` < its
//! stage < `CARGO_FARGATE_*` env < CLI flags, then built-in defaults for whatever is left.
//!
//! Two steps, as ripgrep does with its flags: [`raw`] layers where every key is optional, merged in
//! precedence order, then [`resolve`] into one typed, validated [`Config`].

pub mod health;
pub mod keys;
pub mod kinds;
pub mod raw;
pub mod resolve;
mod resolver;
pub mod schedule;
pub mod sections;
pub mod service;
pub mod traffic;
pub mod validate;

pub use raw::{Layer, Origin, Setting, Source, Value};
pub use resolve::{Architecture, Config, Role};

use toml_edit::TableLike;

use crate::error::{did_you_mean, list, Location, Result, UserError};
use crate::project::{Manifest, Project};

#[cfg(test)]
mod tests;

/// The stage when none is asked for; it needs no `stages.dev` table.
pub const DEFAULT_STAGE: &str = "dev";

/// Where the stage name came from, for messages.
pub struct StageChoice {
    pub name: String,
    pub location: Option<Location>,
}

/// The `fargate` table below `section.metadata` (section is `package` or `workspace`).
fn fargate_table<'m>(manifest: &'m Manifest, section: &str) -> Result<Option<&'m dyn TableLike>> {
    let item = manifest
        .doc
        .as_table()
        .get(section)
        .and_then(|i| i.as_table_like())
        .and_then(|t| t.get("metadata"))
        .and_then(|i| i.as_table_like())
        .and_then(|t| t.get("fargate"));
    match item {
        None => Ok(None),
        Some(item) => item.as_table_like().map(Some).ok_or_else(|| {
            let line = toml_file(manifest).line_of(item.span());
            UserError::new("must be a table")
                .at(Location::file(&manifest.path, line))
                .key(format!("{section}.metadata.fargate"))
                .fix(format!("write it as [{section}.metadata.fargate]"))
                .into()
        }),
    }
}

/// The manifest as a TOML file whose spans turn into line numbers.
fn toml_file(manifest: &Manifest) -> raw::TomlFile<'_> {
    raw::TomlFile {
        path: &manifest.path,
        text: &manifest.text,
    }
}

/// Reads the file layers of one manifest section: the base and every stage table.
fn file_layers(
    manifest: &Manifest,
    section: &str,
    base: Source,
    stage: impl Fn(String) -> Source,
) -> Result<(Layer, Vec<(String, Layer)>)> {
    let Some(table) = fargate_table(manifest, section)? else {
        return Ok((Layer::default(), Vec::new()));
    };
    let file = toml_file(manifest);
    let path = format!("{section}.metadata.fargate");
    let base = raw::read_table(&file, table, &path, base)?;
    let mut stages = Vec::new();
    for (name, t) in raw::stage_tables(&file, table, &path)? {
        let layer = raw::read_table(
            &file,
            t,
            &format!("{path}.stages.{name}"),
            stage(name.clone()),
        )?;
        stages.push((name, layer));
    }
    Ok((base, stages))
}

/// Loads and resolves the configuration of `stage` for the selected package.
pub fn load(
    project: &Project,
    stage: &StageChoice,
    bin_flag: Option<&str>,
    flags: Layer,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config> {
    let facts = resolve::ProjectFacts {
        package_name: &project.package_name,
        package_dir: &project.package_dir,
        manifest_path: &project.manifest.path,
        bins: &project.bins,
        default_run: project.default_run.as_deref(),
        bin_flag,
    };
    // The workspace section lives in the root manifest, which may be the package's own.
    let ws_manifest = project
        .workspace_manifest
        .as_ref()
        .unwrap_or(&project.manifest);
    resolve_manifests(&project.manifest, ws_manifest, &facts, stage, flags, env)
}

/// [`load`] over manifests already read: the layering and resolution, without cargo.
pub fn resolve_manifests(
    manifest: &Manifest,
    ws_manifest: &Manifest,
    facts: &resolve::ProjectFacts,
    stage: &StageChoice,
    flags: Layer,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Config> {
    validate::stage_name(&stage.name).map_err(|what| {
        let mut e = UserError::new(what);
        e.location = stage.location.clone();
        e
    })?;

    let (ws_base, ws_stages) = file_layers(
        ws_manifest,
        "workspace",
        Source::Workspace,
        Source::WorkspaceStage,
    )?;
    let (pkg_base, pkg_stages) = file_layers(manifest, "package", Source::Package, Source::Stage)?;

    let mut stages: Vec<String> = ws_stages
        .iter()
        .chain(&pkg_stages)
        .map(|(n, _)| n.clone())
        .collect();
    stages.sort();
    stages.dedup();
    if stage.name != DEFAULT_STAGE && !stages.contains(&stage.name) {
        let fix = match did_you_mean(&stage.name, stages.iter().map(String::as_str)) {
            Some(near) => format!("did you mean `{near}`?"),
            None if stages.is_empty() => format!(
                "define it as [package.metadata.fargate.stages.{}] in {}",
                stage.name,
                crate::error::display_path(&manifest.path)
            ),
            None => format!(
                "defined stages: {}; or add [package.metadata.fargate.stages.{}]",
                list(&stages),
                stage.name
            ),
        };
        let mut e = UserError::new(format!("unknown stage `{}`", stage.name)).fix(fix);
        e.location = stage.location.clone();
        return Err(e.into());
    }
    if !stages.contains(&stage.name) {
        stages.push(stage.name.clone());
        stages.sort();
    }

    let pick = |list: Vec<(String, Layer)>| {
        list.into_iter()
            .find(|(n, _)| *n == stage.name)
            .map(|(_, l)| l)
            .unwrap_or_default()
    };
    let merged = ws_base
        .merge(pick(ws_stages))
        .merge(pkg_base)
        .merge(pick(pkg_stages))
        .replace(raw::env_layer(env)?)
        .replace(flags);
    Ok(resolve::resolve(&merged, facts, &stage.name, stages)?)
}

/// A resolved configuration from the body of a `[package.metadata.fargate]` table, for unit tests
/// of the stages that take a [`Config`].
/// (Also used by tests/ through the library, hence not `cfg(test)`.)
#[doc(hidden)]
pub fn test_config(fargate: &str) -> Config {
    let text = format!(
        "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[package.metadata.fargate]\n{fargate}\n"
    );
    let manifest = Manifest::from_text(std::path::Path::new("/p/Cargo.toml"), text).unwrap();
    let bins = vec!["app".to_string()];
    let facts = resolve::ProjectFacts {
        package_name: "app",
        package_dir: std::path::Path::new("/p"),
        manifest_path: std::path::Path::new("/p/Cargo.toml"),
        bins: &bins,
        default_run: None,
        bin_flag: None,
    };
    let stage = StageChoice {
        name: DEFAULT_STAGE.into(),
        location: None,
    };
    resolve_manifests(
        &manifest,
        &manifest,
        &facts,
        &stage,
        Layer::default(),
        |_| None,
    )
    .unwrap()
}
