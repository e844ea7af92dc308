// Shared by the cargo-fuzz target fuzz_targets/backup_validate.rs and the corpus regression test that runs in the
// normal test suite (see docs/testing.md, "Fuzzing"). Included with `include!`, so plain comments only.
//
// The backup reader and validator through the public API, `dba_backup::validate_backup` (the pull reader
// is crate-private and reads a path, so each input is written to a temporary file first; gzip input is
// detected by its magic bytes like any backup).
//
// Input: the backup file's bytes, or `<backup-schema JSON>` + `SEPARATOR` + the file's bytes to fuzz
// `BackupSchema::from_json` and validation against that schema too.

use std::path::PathBuf;
use std::sync::OnceLock;

use dba_backup::{BackupSchema, TableDef, validate_backup};

const SEPARATOR: &[u8] = b"\n%%BACKUP%%\n";

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = PathBuf::from("/dev/shm");
        let dir = if dir.is_dir() { dir } else { std::env::temp_dir() };
        dir.join(format!("dba-fuzz-backup-{}.json", std::process::id()))
    })
}

fn default_schema() -> BackupSchema {
    BackupSchema::new(vec![
        TableDef::new("categories"),
        TableDef::new("products").parent("categories", "category_id"),
        TableDef::new("reviews")
            .natural_key(&["user_id", "product_id"])
            .parent("products", "product_id"),
    ])
}

pub(crate) fn check(data: &[u8]) {
    let split = data
        .windows(SEPARATOR.len())
        .position(|w| w == SEPARATOR);
    let (schema, body) = match split {
        Some(at) => {
            let Ok(text) = std::str::from_utf8(&data[..at]) else {
                return;
            };
            let Ok(schema) = BackupSchema::from_json(text) else {
                return;
            };
            (schema, &data[at + SEPARATOR.len()..])
        }
        None => (default_schema(), data),
    };
    std::fs::write(path(), body).expect("write the temporary backup file");
    let report = validate_backup(path(), &schema);
    let _ = format!("{report:?}");
}

// Removes this process's temporary backup file (the regression test calls it; a fuzzer run leaves one
// small file in /dev/shm).
#[allow(dead_code)]
pub(crate) fn cleanup() {
    let _ = std::fs::remove_file(path());
}
