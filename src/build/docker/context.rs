//! The build context the docker builder sends (and the CodeBuild source zip holds): the project's
//! files (filtered like the source archive), a skeleton of its manifests with stub sources for the
//! dependency layer, and the template Dockerfile, written as a tar on a thread of its own while the
//! engine reads it.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;

use crate::build::{DockerfileSource, Plan};
use crate::error::{display_path, Result};
use crate::project::Project;

/// Where the skeleton and the template Dockerfile sit inside the context.
const SKELETON: &str = ".cargo-fargate/skeleton";
pub(super) const TEMPLATE_PATH: &str = ".cargo-fargate/Dockerfile";

/// A stub source for a target of this kind: enough for cargo to build the dependency graph.
pub(super) fn stub(kind: &str) -> &'static str {
    match kind {
        "lib" | "rlib" | "dylib" | "cdylib" | "staticlib" | "proc-macro" => "",
        _ => "fn main() {}\n",
    }
}

/// Bytes of the build context in flight at most: the channel between the thread writing the tar
/// and the engine's request holds this many pieces of `PIECE` bytes.
const PIECES_IN_FLIGHT: usize = 8;
const PIECE: usize = 256 << 10;

/// What goes into the build context, gathered before it is written: the project's files (read
/// while they are sent), the skeleton (manifests, lockfile, stub sources; small) and the template
/// Dockerfile.
pub struct BuildContext {
    entries: Vec<crate::steps::package::Entry>,
    /// (name in the context, content), sorted.
    small: Vec<(String, Vec<u8>)>,
}

impl BuildContext {
    pub fn new(project: &Project, plan: &Plan) -> Result<BuildContext> {
        let sources = &plan.sources;
        let root = &project.workspace_root;
        // The workspace at its place in the context (`examples/`, or the top).
        let at = match sources.workspace_path().as_str() {
            "." => String::new(),
            ws => format!("{ws}/"),
        };
        let mut skeleton: Vec<(String, Vec<u8>)> = Vec::new();
        let rel = |p: &Path| {
            p.components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        };
        for name in [
            "Cargo.toml",
            "Cargo.lock",
            ".cargo/config.toml",
            ".cargo/config",
            "rust-toolchain.toml",
            "rust-toolchain",
        ] {
            if let Ok(data) = std::fs::read(root.join(name)) {
                skeleton.push((format!("{at}{name}"), data));
            }
        }
        for member in &project.members {
            let data = std::fs::read(root.join(&member.manifest))
                .with_context(|| format!("reading {}", member.manifest.display()))?;
            skeleton.push((format!("{at}{}", rel(&member.manifest)), data));
            for (kind, src) in &member.targets {
                skeleton.push((format!("{at}{}", rel(src)), stub(kind).as_bytes().to_vec()));
            }
        }
        // Path dependencies outside the workspace root: stubbed like members (cargo rebuilds them
        // over the stubs with the real sources), beside the manifests they inherit from.
        for member in sources.outside.iter().map(|o| &o.member) {
            let data = std::fs::read(sources.root.join(&member.manifest))
                .with_context(|| format!("reading {}", member.manifest.display()))?;
            skeleton.push((rel(&member.manifest), data));
            for (kind, src) in &member.targets {
                skeleton.push((rel(src), stub(kind).as_bytes().to_vec()));
            }
        }
        for manifest in &sources.manifests {
            let data = std::fs::read(manifest)
                .with_context(|| format!("reading {}", manifest.display()))?;
            skeleton.push((sources.name(manifest), data));
        }
        skeleton.sort_by(|a, b| a.0.cmp(&b.0));
        skeleton.dedup_by(|a, b| a.0 == b.0);
        let mut small: Vec<(String, Vec<u8>)> = skeleton
            .into_iter()
            .map(|(name, data)| (format!("{SKELETON}/{name}"), data))
            .collect();
        if dockerfile_in_context(project, plan) == TEMPLATE_PATH {
            small.push((
                TEMPLATE_PATH.into(),
                plan.dockerfile_text.clone().into_bytes(),
            ));
        }
        Ok(BuildContext {
            entries: plan.entries.clone(),
            small,
        })
    }

    /// The project's bytes in the context (tar headers aside).
    pub fn size(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum::<u64>()
            + self.small.iter().map(|(_, d)| d.len() as u64).sum::<u64>()
    }

    /// Writes the context as a tar with fixed owners, modes and timestamps into `out`, reading
    /// each file as it goes: a read buffer in memory, never a whole file.
    pub fn write(&self, out: impl Write) -> Result<()> {
        let mut tar = tar::Builder::new(out);
        let header = |size: u64, mode: u32| {
            let mut header = tar::Header::new_gnu();
            header.set_size(size);
            header.set_mode(mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            header
        };
        for e in &self.entries {
            let file = std::fs::File::open(&e.path)
                .with_context(|| format!("reading {}", e.path.display()))?;
            let size = file
                .metadata()
                .with_context(|| format!("reading {}", e.path.display()))?
                .len();
            let mut h = header(size, if e.executable { 0o755 } else { 0o644 });
            tar.append_data(&mut h, &e.name, Exactly::new(file, size, &e.path))
                .with_context(|| format!("adding {} to the build context", e.name))?;
        }
        for (name, data) in &self.small {
            let mut h = header(data.len() as u64, 0o644);
            tar.append_data(&mut h, name, data.as_slice())
                .with_context(|| format!("adding {name} to the build context"))?;
        }
        tar.into_inner()?.flush()?;
        Ok(())
    }

    /// Starts writing the context on a thread of its own; its pieces arrive on the receiver while
    /// it is written (at most `PIECES_IN_FLIGHT` wait). A file that cannot be read ends the pieces
    /// with that error, and the build with it.
    pub(super) fn spawn_writer(self) -> tokio::sync::mpsc::Receiver<std::io::Result<Vec<u8>>> {
        let (to, from) = tokio::sync::mpsc::channel(PIECES_IN_FLIGHT);
        std::thread::spawn(move || {
            let pipe = Pipe {
                piece: Vec::with_capacity(PIECE),
                to: to.clone(),
            };
            if let Err(e) = self.write(pipe) {
                let _ = to.blocking_send(Err(std::io::Error::other(format!("{e:#}"))));
            }
        });
        from
    }
}

/// A file's first `size` bytes (its size when the tar header was written), and an error instead of
/// a short entry when it shrank meanwhile.
struct Exactly<'a> {
    file: std::io::Take<std::fs::File>,
    path: &'a Path,
}

impl<'a> Exactly<'a> {
    fn new(file: std::fs::File, size: u64, path: &'a Path) -> Self {
        Exactly {
            file: file.take(size),
            path,
        }
    }
}

impl Read for Exactly<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        if n == 0 && self.file.limit() > 0 && !buf.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("{} shrank while it was sent", display_path(self.path)),
            ));
        }
        Ok(n)
    }
}

/// Writes into a channel in pieces of `PIECE` bytes: the tar is made on a thread of its own and
/// sent while it is made, never held whole.
struct Pipe {
    piece: Vec<u8>,
    to: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>,
}

impl Pipe {
    fn send(&mut self) -> std::io::Result<()> {
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(PIECE));
        self.to
            .blocking_send(Ok(piece))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the build stopped"))
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = buf.len().min(PIECE - self.piece.len());
        self.piece.extend_from_slice(&buf[..n]);
        if self.piece.len() == PIECE {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.piece.is_empty() {
            self.send()?;
        }
        Ok(())
    }
}

/// What the build context holds besides the project's files: the skeleton under
/// `.cargo-fargate/skeleton/` and, with the template, the Dockerfile (also the CodeBuild source zip's).
pub fn generated(project: &Project, plan: &Plan) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(BuildContext::new(project, plan)?.small)
}

/// The Dockerfile's path inside the context: the template's, or the user's relative to the
/// context root (a Dockerfile outside the context is sent in the template's place).
pub fn dockerfile_in_context(_project: &Project, plan: &Plan) -> String {
    match &plan.dockerfile {
        DockerfileSource::Template => TEMPLATE_PATH.into(),
        DockerfileSource::User { path } => match std::fs::canonicalize(path)
            .unwrap_or_else(|_| path.clone())
            .strip_prefix(&plan.sources.root)
        {
            Ok(rel) => rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/"),
            Err(_) => TEMPLATE_PATH.into(),
        },
    }
}
