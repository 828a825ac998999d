//! The image's SBOM: the crates from Cargo.lock that the binary is built from — the package's normal
//! dependencies, transitively, for the target and features it is built with (`cargo metadata
//! --filter-platform`; dev-dependencies and other platforms' dependencies are left out) — as
//! CycloneDX 1.5 JSON made with `cyclonedx-bom`. Deterministic (no serial number or timestamp), so
//! the same lockfile gives the same document and the same artifact digest.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Context;
use cargo_metadata::{CargoOpt, DependencyKind, MetadataCommand, PackageId};
use cyclonedx_bom::external_models::uri::Purl;
use cyclonedx_bom::models::bom::{Bom, SpecVersion};
use cyclonedx_bom::models::component::{Classification, Component, Components};
use cyclonedx_bom::models::dependency::{Dependencies, Dependency};
use cyclonedx_bom::models::metadata::Metadata;
use cyclonedx_bom::models::property::{Properties, Property};

use crate::config::Config;
use crate::error::{Result, UserError};
use crate::project::Project;

/// The media type of the SBOM blob (and the artifact type of its manifest).
pub const MEDIA_CYCLONEDX: &str = "application/vnd.cyclonedx+json";

/// One crate in the SBOM.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Crate {
    pub name: String,
    pub version: String,
    /// `registry+https://…`, `git+…`, or None for a path crate of the workspace.
    pub source: Option<String>,
}

/// A written SBOM.
#[derive(Debug, Clone)]
pub struct Sbom {
    pub path: PathBuf,
    pub crates: Vec<Crate>,
}

/// Writes `target/fargate/sbom/<project>-<stage>.cdx.json` for the project's binary.
pub fn write(project: &Project, config: &Config) -> Result<Sbom> {
    let target = config.architecture.rust_target();
    let mut cmd = MetadataCommand::new();
    cmd.manifest_path(&project.manifest.path)
        .other_options(vec!["--filter-platform".to_string(), target.to_string()]);
    if let Ok(cargo) = std::env::var("CARGO") {
        cmd.cargo_path(cargo);
    }
    if !config.features.is_empty() {
        cmd.features(CargoOpt::SomeFeatures(config.features.clone()));
    }
    let metadata = cmd.exec().map_err(|e| {
        UserError::new(format!(
            "cargo metadata failed, so no SBOM can be written: {e}"
        ))
        .fix("run `cargo metadata` in the package to see why, fix it, then run again")
    })?;
    let resolve = metadata
        .resolve
        .as_ref()
        .context("cargo metadata returned no dependency graph")?;
    let root = metadata
        .packages
        .iter()
        .find(|p| p.manifest_path.as_std_path() == project.manifest.path)
        .or_else(|| {
            metadata
                .packages
                .iter()
                .find(|p| p.name.as_str() == project.package_name)
        })
        .context("cargo metadata does not list the package")?;

    let nodes: BTreeMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
    let mut seen: BTreeSet<&PackageId> = BTreeSet::from([&root.id]);
    let mut queue = VecDeque::from([&root.id]);
    let mut edges: BTreeMap<&PackageId, Vec<&PackageId>> = BTreeMap::new();
    while let Some(id) = queue.pop_front() {
        let Some(node) = nodes.get(id) else { continue };
        for dep in &node.deps {
            if !dep
                .dep_kinds
                .iter()
                .any(|k| k.kind == DependencyKind::Normal)
            {
                continue;
            }
            edges.entry(id).or_default().push(&dep.pkg);
            if seen.insert(&dep.pkg) {
                queue.push_back(&dep.pkg);
            }
        }
    }
    let packages: BTreeMap<&PackageId, _> = metadata.packages.iter().map(|p| (&p.id, p)).collect();
    let reference = |id: &PackageId| -> String {
        let p = packages[id];
        format!("pkg:cargo/{}@{}", p.name, p.version)
    };

    let component = |id: &PackageId, kind: Classification| -> Component {
        let p = packages[id];
        let mut c = Component::new(kind, &p.name, &p.version.to_string(), Some(reference(id)));
        c.purl = Purl::new("cargo", &p.name, &p.version.to_string()).ok();
        let mut props = Vec::new();
        if let Some(source) = &p.source {
            props.push(Property::new("cargo:source", &source.repr));
        }
        if let Some(node) = nodes.get(id) {
            if !node.features.is_empty() {
                let features: Vec<String> = node.features.iter().map(|f| f.to_string()).collect();
                props.push(Property::new("cargo:features", &features.join(",")));
            }
        }
        if !props.is_empty() {
            c.properties = Some(Properties(props));
        }
        c
    };

    let mut crates = Vec::new();
    let mut components = Vec::new();
    for id in seen.iter().filter(|id| **id != &root.id) {
        let p = packages[*id];
        crates.push(Crate {
            name: p.name.to_string(),
            version: p.version.to_string(),
            source: p.source.as_ref().map(|s| s.repr.clone()),
        });
        components.push(component(id, Classification::Library));
    }
    crates.sort();
    components.sort_by_key(|c| c.bom_ref.clone());
    let dependencies = seen
        .iter()
        .map(|id| {
            let mut deps: Vec<String> = edges
                .get(id)
                .into_iter()
                .flatten()
                .map(|d| reference(d))
                .collect();
            deps.sort();
            deps.dedup();
            Dependency {
                dependency_ref: reference(id),
                dependencies: deps,
            }
        })
        .collect();

    let mut root_component = component(&root.id, Classification::Application);
    root_component.properties = Some(Properties(vec![
        Property::new("cargo:bin", &config.bin),
        Property::new("cargo:target", target),
        Property::new("cargo:profile", &config.cargo_profile),
    ]));
    let bom = Bom {
        serial_number: None,
        metadata: Some(Metadata {
            timestamp: None,
            tools: None,
            authors: None,
            component: Some(root_component),
            manufacture: None,
            supplier: None,
            licenses: None,
            properties: None,
            lifecycles: None,
        }),
        components: Some(Components(components)),
        dependencies: Some(Dependencies(dependencies)),
        ..Bom::default()
    };
    let dir = project.target_dir.join("fargate").join("sbom");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{}-{}.cdx.json", config.project, config.stage));
    let mut bytes = Vec::new();
    bom.output_as_json(&mut bytes, SpecVersion::V1_5)
        .map_err(|e| anyhow::anyhow!("writing the SBOM: {e}"))?;
    write_file(&path, &bytes)?;
    Ok(Sbom { path, crates })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("the SBOM path has a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
