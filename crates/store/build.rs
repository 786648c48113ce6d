//! Recompile the store (and its embedded migrations) whenever a migration
//! file changes. `rerun-if-changed` alone reruns this script, but when its
//! output stays the same cargo may keep the old library, with the old
//! migrations embedded (seen after a merge brought in a new migration): the
//! digest of the files below is part of the output, so it changes with them.
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let dir = Path::new("../../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut all = Vec::new();
    files(dir, &mut all);
    all.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for path in &all {
        path.hash(&mut hasher);
        std::fs::read(path).unwrap_or_default().hash(&mut hasher);
    }
    println!(
        "cargo:rustc-env=SWITCHBOARD_MIGRATIONS_DIGEST={:016x}",
        hasher.finish()
    );
}
