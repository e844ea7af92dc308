//! Validation of a backup file against a backup schema, with the Python original's messages: offline (the
//! whole file, every problem reported) or while a restore streams the rows (stop at the first problem).

use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::checker::Checker;
use crate::error::BackupError;
use crate::python::Decoder;
use crate::reader::BackupFile;
use crate::schema::{BackupSchema, METADATA_KEY, TableDef};

/// The result of [`validate_backup`], in the original's shape: `{"valid", "errors", "warnings"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ValidationReport {
    /// True when there are no errors (warnings do not count).
    pub valid: bool,
    /// Problems that make the file unrestorable.
    pub errors: Vec<String>,
    /// Problems restore tolerates (missing metadata fields, orphaned rows).
    pub warnings: Vec<String>,
}

impl ValidationReport {
    fn finish(mut self) -> ValidationReport {
        self.valid = self.errors.is_empty();
        self
    }
}

/// Validates the backup at `path` against `schema` without touching a database, reading the file as a
/// stream (one row in memory at a time; the primary keys of referenced tables are kept for the orphan
/// check).
///
/// Errors and warnings use the original's texts (reference §7.4), with its defects fixed: a primary key of
/// `0` is valid, a non-object row or metadata is an error rather than a crash, and a subset backup (whose
/// metadata lists its `tables`) is checked against that subset. Additionally, a `{table}_count` that does not
/// match the rows in the file is an error, and so is a declared table the schema does not know. The bare
/// `NaN`, `Infinity` and `-Infinity` tokens the original writes for non-finite floats are accepted.
pub fn validate_backup(path: &Path, schema: &BackupSchema) -> ValidationReport {
    if !path.exists() {
        return ValidationReport {
            errors: vec![format!("Backup file not found: {}", path.display())],
            ..ValidationReport::default()
        }
        .finish();
    }
    match validate_offline(path, schema) {
        Ok(report) => report.finish(),
        Err(e) => read_failure(&e).finish(),
    }
}

fn validate_offline(path: &Path, schema: &BackupSchema) -> Result<ValidationReport, BackupError> {
    let mut file = BackupFile::open(path)?;
    let metadata = read_metadata(&mut file)?;
    let missing = match &metadata {
        Some(_) => Vec::new(),
        None => vec![format!("Missing required key: {METADATA_KEY}")],
    };
    file.checker = Some(Checker::new(schema, metadata.as_ref(), false));
    let missing = check_rest(&mut file, 0, missing)?;
    Ok(take_checker(&mut file)?.report(missing))
}

/// The report for a file that could not be read to its end: bad JSON, or an i/o error.
pub(crate) fn read_failure(err: &BackupError) -> ValidationReport {
    let text = match err {
        BackupError::Json { reason, .. } => format!("Invalid JSON: {reason}"),
        other => format!("Unreadable backup: {}", dba_core::chain_text(other)),
    };
    ValidationReport {
        errors: vec![text],
        ..ValidationReport::default()
    }
}

/// The metadata object, when the file has one (looked for from the cursor on, then from the start).
pub(crate) fn read_metadata(file: &mut BackupFile) -> Result<Option<Value>, BackupError> {
    if file.seek(METADATA_KEY)? {
        Ok(Some(file.read_value()?))
    } else {
        Ok(None)
    }
}

fn take_checker(file: &mut BackupFile) -> Result<Checker, BackupError> {
    file.checker.take().ok_or_else(|| BackupError::Json {
        path: file.path().to_owned(),
        reason: "reader out of step".into(),
    })
}

/// Checks the required tables from the `from`-th on (first finishing the table the cursor is inside), then
/// reads to the end of the file so that a file cut off after its last table, or with anything after its
/// closing brace, is invalid. Returns the missing keys, `missing` (keys already known to be missing)
/// included; once a key is missing, rows are no longer checked, as in the original.
pub(crate) fn check_rest(
    file: &mut BackupFile,
    from: usize,
    mut missing: Vec<String>,
) -> Result<Vec<String>, BackupError> {
    if file.in_array() {
        while file.next_row()?.is_some() {}
    }
    let names: Vec<TableDef> = match &file.checker {
        Some(c) => c.required().iter().skip(from).cloned().collect(),
        None => Vec::new(),
    };
    for def in &names {
        if !file.seek(&def.name)? {
            missing.push(format!("Missing required key: {}", def.name));
            continue;
        }
        if missing.is_empty() && enter_table(file, def, None)? {
            while file.next_row()?.is_some() {}
        }
    }
    if missing.is_empty() {
        while file.next_key()?.is_some() {}
    }
    Ok(missing)
}

/// Enters the table whose key the cursor is at, so its rows are read (and checked) with
/// [`BackupFile::next_row`]; returns false, with the error noted, when its value is not a list.
pub(crate) fn enter_table(
    file: &mut BackupFile,
    def: &TableDef,
    decoder: Option<Decoder>,
) -> Result<bool, BackupError> {
    if !file.enter_array()? {
        file.read_value()?;
        let path = file.path().to_owned();
        if let Some(c) = &mut file.checker {
            c.table_error(format!("{} must be a list of rows", def.name), &path)?;
        }
        return Ok(false);
    }
    if let Some(c) = &mut file.checker {
        c.begin_table(def, decoder);
    }
    Ok(true)
}

/// Every required key the file lacks, `metadata` first; meaningful once the whole file has been read.
pub(crate) fn missing_keys(file: &BackupFile, checker: &Checker) -> Vec<String> {
    std::iter::once(METADATA_KEY)
        .chain(checker.required().iter().map(|t| t.name.as_str()))
        .filter(|k| !file.has_key(k))
        .map(|k| format!("Missing required key: {k}"))
        .collect()
}

#[cfg(test)]
mod tests;
