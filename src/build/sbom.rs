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

use crate::config::{Architecture, Config};
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
    write_for(project, config, config.size.architecture)
}

/// The SBOM of the image of `arch`: its dependencies are those of that target. For the task's
/// architecture, `<project>-<stage>.cdx.json`; another platform of a multi-platform image gets
/// `<project>-<stage>-<arch>.cdx.json`.
pub fn write_for(project: &Project, config: &Config, arch: Architecture) -> Result<Sbom> {
    let target = arch.rust_target();
    let metadata = metadata(project, config, target)?;
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
    let graph = Graph::of(&metadata, resolve, &root.id);
    let mut crates = Vec::new();
    let mut components = Vec::new();
    for id in graph.seen.iter().filter(|id| **id != &root.id) {
        let p = graph.packages[*id];
        crates.push(Crate {
            name: p.name.to_string(),
            version: p.version.to_string(),
            source: p.source.as_ref().map(|s| s.repr.clone()),
        });
        components.push(graph.component(id, Classification::Library));
    }
    crates.sort();
    components.sort_by_key(|c| c.bom_ref.clone());
    let mut root_component = graph.component(&root.id, Classification::Application);
    root_component.properties = Some(Properties(vec![
        Property::new("cargo:bin", &config.bin),
        Property::new("cargo:target", target),
        Property::new("cargo:profile", &config.build.cargo_profile),
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
        dependencies: Some(Dependencies(graph.dependencies())),
        ..Bom::default()
    };
    let dir = project.target_dir.join("fargate").join("sbom");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let suffix = match arch == config.size.architecture {
        true => String::new(),
        false => format!("-{}", arch.as_config()),
    };
    let path = dir.join(format!(
        "{}-{}{suffix}.cdx.json",
        config.project, config.stage
    ));
    let mut bytes = Vec::new();
    bom.output_as_json(&mut bytes, SpecVersion::V1_5)
        .map_err(|e| anyhow::anyhow!("writing the SBOM: {e}"))?;
    write_file(&path, &bytes)?;
    Ok(Sbom { path, crates })
}

/// `cargo metadata` of the package for `target` and the configured features.
fn metadata(project: &Project, config: &Config, target: &str) -> Result<cargo_metadata::Metadata> {
    let mut cmd = MetadataCommand::new();
    cmd.manifest_path(&project.manifest.path)
        .other_options(vec!["--filter-platform".to_string(), target.to_string()]);
    if let Ok(cargo) = std::env::var("CARGO") {
        cmd.cargo_path(cargo);
    }
    if !config.build.features.is_empty() {
        cmd.features(CargoOpt::SomeFeatures(config.build.features.clone()));
    }
    Ok(cmd.exec().map_err(|e| {
        UserError::new(format!(
            "cargo metadata failed, so no SBOM can be written: {e}"
        ))
        .fix("run `cargo metadata` in the package to see why, fix it, then run again")
    })?)
}

/// The crates the binary is built from: the root's normal dependencies, transitively.
struct Graph<'m> {
    packages: BTreeMap<&'m PackageId, &'m cargo_metadata::Package>,
    nodes: BTreeMap<&'m PackageId, &'m cargo_metadata::Node>,
    seen: BTreeSet<&'m PackageId>,
    edges: BTreeMap<&'m PackageId, Vec<&'m PackageId>>,
}

impl<'m> Graph<'m> {
    fn of(
        metadata: &'m cargo_metadata::Metadata,
        resolve: &'m cargo_metadata::Resolve,
        root: &'m PackageId,
    ) -> Graph<'m> {
        let nodes: BTreeMap<&PackageId, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
        let mut seen: BTreeSet<&PackageId> = BTreeSet::from([root]);
        let mut queue = VecDeque::from([root]);
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
        let packages = metadata.packages.iter().map(|p| (&p.id, p)).collect();
        Graph {
            packages,
            nodes,
            seen,
            edges,
        }
    }

    fn reference(&self, id: &PackageId) -> String {
        let p = self.packages[id];
        format!("pkg:cargo/{}@{}", p.name, p.version)
    }

    fn component(&self, id: &PackageId, kind: Classification) -> Component {
        let p = self.packages[id];
        let version = p.version.to_string();
        let mut c = Component::new(kind, &p.name, &version, Some(self.reference(id)));
        c.purl = Purl::new("cargo", &p.name, &version).ok();
        let mut props = Vec::new();
        if let Some(source) = &p.source {
            props.push(Property::new("cargo:source", &source.repr));
        }
        if let Some(node) = self.nodes.get(id) {
            if !node.features.is_empty() {
                let features: Vec<String> = node.features.iter().map(|f| f.to_string()).collect();
                props.push(Property::new("cargo:features", &features.join(",")));
            }
        }
        if !props.is_empty() {
            c.properties = Some(Properties(props));
        }
        c
    }

    fn dependencies(&self) -> Vec<Dependency> {
        self.seen
            .iter()
            .map(|id| {
                let mut deps: Vec<String> = self
                    .edges
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(|d| self.reference(d))
                    .collect();
                deps.sort();
                deps.dedup();
                Dependency {
                    dependency_ref: self.reference(id),
                    dependencies: deps,
                }
            })
            .collect()
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().expect("the SBOM path has a parent");
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, bytes)?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
