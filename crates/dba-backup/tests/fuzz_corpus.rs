//! Every committed fuzz input (`fuzz/corpus/<target>/`, crash reproducers included) through the fuzz
//! target's own check function, so the normal test suite keeps the corpus green without a fuzzer. The
//! checks live in `fuzz/checks/`; see docs/testing.md, "Fuzzing".

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// The corpus files of one fuzz target, sorted.
fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
}

/// Runs `check` on every corpus file of `target`, naming each file that panics.
fn run(target: &str, check: fn(&[u8])) {
    let mut panicked = Vec::new();
    for path in corpus(target) {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| check(&data))).is_err() {
            panicked.push(path.display().to_string());
        }
    }
    assert!(panicked.is_empty(), "these inputs panicked: {panicked:#?}");
}

mod backup_validate {
    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/checks/backup_validate.rs"
    ));
}

#[test]
fn backup_validate_corpus_never_panics() {
    run("backup_validate", backup_validate::check);
    backup_validate::cleanup();
}
