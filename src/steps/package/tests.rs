//! The archive's contents, determinism and atomic writes, on real trees in a temp dir.

use super::*;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(
        r,
        "Cargo.toml",
        "[workspace]\nmembers = [\"app\", \"lib\"]\n",
    );
    write(r, "Cargo.lock", "# lock\n");
    write(
        r,
        "app/Cargo.toml",
        "[package]\nname = \"app\"\n[dependencies]\nlib = { path = \"../lib\" }\n",
    );
    write(r, "app/src/main.rs", "fn main() {}\n");
    write(r, "lib/src/lib.rs", "pub fn f() {}\n");
    write(r, ".gitignore", "*.log\nscratch/\n");
    write(r, "debug.log", "noise\n");
    write(r, "scratch/notes.txt", "x\n");
    write(r, ".env", "SECRET=1\n");
    write(r, ".env.production", "SECRET=2\n");
    write(r, "certs/server.pem", "-----BEGIN\n");
    write(r, "app/.aws/credentials", "[default]\n");
    write(r, "deploy/id_rsa", "key\n");
    write(r, "target/debug/app", "binary\n");
    write(r, ".git/config", "[core]\n");
    dir
}

fn input(root: &Path) -> PackageInput {
    PackageInput::tree(root, vec![root.join("target")], root.join("out.zip"))
}

fn names(entries: &[Entry]) -> Vec<&str> {
    entries.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn includes_sources_and_path_deps_and_leaves_out_ignored_and_secrets() {
    let dir = tree();
    let (entries, left_out) = collect(&input(dir.path())).unwrap();
    assert_eq!(
        names(&entries),
        [
            ".gitignore",
            "Cargo.lock",
            "Cargo.toml",
            "app/Cargo.toml",
            "app/src/main.rs",
            "lib/src/lib.rs"
        ]
    );
    let out: Vec<&str> = left_out.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(
        out,
        [
            ".env",
            ".env.production",
            "app/.aws/credentials",
            "certs/server.pem",
            "deploy/id_rsa"
        ]
    );
}

#[test]
fn allow_lets_a_listed_secret_in() {
    let dir = tree();
    let mut i = input(dir.path());
    i.allow = vec!["certs/*.pem".into()];
    let (entries, left_out) = collect(&i).unwrap();
    assert!(names(&entries).contains(&"certs/server.pem"));
    assert!(!left_out.iter().any(|l| l.path == "certs/server.pem"));
}

#[test]
fn dockerignore_is_anchored_at_the_root_and_lock_is_forced_in() {
    let dir = tree();
    write(
        dir.path(),
        ".dockerignore",
        "lib/src\n*.toml\n!app/Cargo.toml\n",
    );
    write(dir.path(), ".gitignore", "Cargo.lock\n*.log\nscratch/\n");
    let (entries, _) = collect(&input(dir.path())).unwrap();
    // `*.toml` matches the root only (as docker does), so app/Cargo.toml stays either way.
    assert_eq!(
        names(&entries),
        [
            ".dockerignore",
            ".gitignore",
            "Cargo.lock",
            "app/Cargo.toml",
            "app/src/main.rs"
        ]
    );
}

#[test]
fn same_tree_gives_the_same_bytes() {
    let dir = tree();
    let (entries, _) = collect(&input(dir.path())).unwrap();
    let a = write_zip(&entries, io::Cursor::new(Vec::new()), |_| {})
        .unwrap()
        .into_inner();
    // Touch every file: new mtimes must not change the archive.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for e in &entries {
        let text = std::fs::read(&e.path).unwrap();
        std::fs::write(&e.path, text).unwrap();
    }
    let b = write_zip(&entries, io::Cursor::new(Vec::new()), |_| {})
        .unwrap()
        .into_inner();
    assert_eq!(a, b);
    // And a content change does change it.
    write(dir.path(), "app/src/main.rs", "fn main() { println!(); }\n");
    let c = write_zip(&entries, io::Cursor::new(Vec::new()), |_| {})
        .unwrap()
        .into_inner();
    assert_ne!(a, c);
}

#[test]
fn run_is_atomic_and_reuses_an_identical_archive() {
    let dir = tree();
    let i = input(dir.path());
    let first = run(&i, &Output::plain()).unwrap();
    assert!(!first.unchanged);
    assert_eq!(first.files, 6);
    let second = run(&i, &Output::plain()).unwrap();
    assert!(second.unchanged);
    assert_eq!(first.sha256, second.sha256);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
    // The archive reads back with the expected names and fixed modes.
    let mut zip = zip::ZipArchive::new(File::open(&first.path).unwrap()).unwrap();
    assert_eq!(zip.len(), 6);
    let f = zip.by_name("app/src/main.rs").unwrap();
    assert_eq!(f.unix_mode().unwrap() & 0o777, 0o644);
}
