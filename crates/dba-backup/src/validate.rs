//! Offline validation of a backup file against a backup schema, with the Python original's messages.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{BackupError, plain};
use crate::format::{FORMAT_VERSION, METADATA_FIELDS, TABLES_KEY, key_text};
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

/// What a validation pass learned besides its report: the tables the file holds and their row counts.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileFacts {
    /// Schema tables present in the file (for a subset backup, the declared subset).
    pub(crate) tables: Vec<String>,
    /// Row counts per table, as counted while reading.
    pub(crate) counts: HashMap<String, u64>,
}

/// Validates the backup at `path` against `schema` without touching a database, reading the file as a
/// stream (one row in memory at a time; the primary keys of referenced tables are kept for the orphan
/// check).
///
/// Errors and warnings use the original's texts (reference §7.4), with its defects fixed: a primary key of
/// `0` is valid, a non-object row or metadata is an error rather than a crash, and a subset backup (whose
/// metadata lists its `tables`) is checked against that subset. Additionally, a `{table}_count` that does not
/// match the rows in the file is an error, and so is a declared table the schema does not know.
pub fn validate_backup(path: &Path, schema: &BackupSchema) -> ValidationReport {
    validate_with_facts(path, schema).0
}

pub(crate) fn validate_with_facts(
    path: &Path,
    schema: &BackupSchema,
) -> (ValidationReport, FileFacts) {
    let mut report = ValidationReport::default();
    let mut facts = FileFacts::default();
    if !path.exists() {
        report
            .errors
            .push(format!("Backup file not found: {}", path.display()));
        return (report.finish(), facts);
    }
    match check(path, schema, &mut report, &mut facts) {
        Ok(()) => {}
        Err(BackupError::Json { reason, .. }) => {
            report.errors.push(format!("Invalid JSON: {reason}"));
            report.warnings.clear();
        }
        Err(e) => report
            .errors
            .push(format!("Unreadable backup: {}", with_causes(&e))),
    }
    (report.finish(), facts)
}

/// An error and its causes joined by `: ` (a truncated gzip file is "i/o error on b.json: incomplete
/// deflate stream", not just "i/o error on b.json").
fn with_causes(err: &BackupError) -> String {
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(err);
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

fn check(
    path: &Path,
    schema: &BackupSchema,
    report: &mut ValidationReport,
    facts: &mut FileFacts,
) -> Result<(), BackupError> {
    let mut file = BackupFile::open(path)?;
    let metadata = if file.seek(METADATA_KEY)? {
        Some(file.read_value()?)
    } else {
        None
    };
    // A subset backup names its tables; every other file must hold every schema table, as in the original.
    let declared: Option<Vec<String>> = metadata
        .as_ref()
        .and_then(|m| m.get(TABLES_KEY))
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect()
        });
    let required: Vec<&TableDef> = schema
        .tables
        .iter()
        .filter(|t| declared.as_ref().is_none_or(|d| d.contains(&t.name)))
        .collect();

    let mut missing = Vec::new();
    if metadata.is_none() {
        missing.push(format!("Missing required key: {METADATA_KEY}"));
    }
    let metadata = metadata.unwrap_or(Value::Null);
    let empty = Map::new();
    let meta = metadata.as_object().unwrap_or(&empty);
    let present: Vec<String> = required.iter().map(|t| t.name.clone()).collect();
    // One pass in file order: each table is checked where it is found; the first missing key turns the
    // result into the original's list of missing keys.
    let mut rows = ValidationReport::default();
    let mut pks: HashMap<String, HashSet<String>> = HashMap::new();
    for t in &required {
        if !file.seek(&t.name)? {
            missing.push(format!("Missing required key: {}", t.name));
            continue;
        }
        if missing.is_empty() {
            check_table(
                &mut file, schema, t, meta, &present, &mut pks, &mut rows, facts,
            )?;
        }
    }
    if !missing.is_empty() {
        report.errors = missing;
        return Ok(());
    }
    // Read on to the end, so that a file cut off after its last table, or with anything after its closing
    // brace, is invalid JSON rather than a valid backup (the remaining values are skipped, not kept).
    while file.next_key()?.is_some() {}
    let Value::Object(meta) = &metadata else {
        report.errors.push(format!(
            "Invalid metadata: expected an object, got {metadata}"
        ));
        return Ok(());
    };
    let version = meta.get("version").unwrap_or(&Value::Null);
    if version.as_str() != Some(FORMAT_VERSION) {
        report.errors.push(format!(
            "Unsupported backup version '{}' (expected '{FORMAT_VERSION}')",
            plain(version)
        ));
    }
    if let Some(d) = &declared {
        for name in d {
            if schema.table(name).is_none() {
                report
                    .errors
                    .push(format!("Backup table '{name}' is not in the backup schema"));
            }
        }
    }
    for key in METADATA_FIELDS {
        if !meta.contains_key(key) {
            report
                .warnings
                .push(format!("Missing metadata field: {key}"));
        }
    }

    report.errors.extend(rows.errors);
    report.warnings.extend(rows.warnings);
    facts.tables = present;
    Ok(())
}

#[expect(
    clippy::too_many_arguments,
    reason = "one private step of one function"
)]
fn check_table(
    file: &mut BackupFile,
    schema: &BackupSchema,
    t: &TableDef,
    meta: &Map<String, Value>,
    present: &[String],
    pks: &mut HashMap<String, HashSet<String>>,
    report: &mut ValidationReport,
    facts: &mut FileFacts,
) -> Result<(), BackupError> {
    if !file.enter_array()? {
        file.read_value()?;
        report
            .errors
            .push(format!("{} must be a list of rows", t.name));
        return Ok(());
    }
    let keep_pks = schema.is_referenced(&t.name);
    let mut own = HashSet::new();
    let mut n = 0u64;
    while let Some(row) = file.next_row()? {
        let index = n;
        n += 1;
        let Value::Object(row) = row else {
            report
                .errors
                .push(format!("{} row {index} is not an object", t.name));
            continue;
        };
        let slug = plain(&t.natural_key_of(&row));
        // Each column of a composite key is checked as a single key is.
        for pk_col in &t.pk {
            match row.get(pk_col) {
                None => report
                    .errors
                    .push(format!("{} row missing '{pk_col}' field: {slug}", t.name)),
                Some(Value::Null) => report
                    .errors
                    .push(format!("{} row has empty '{pk_col}': {slug}", t.name)),
                Some(Value::String(s)) if s.is_empty() => report
                    .errors
                    .push(format!("{} row has empty '{pk_col}': {slug}", t.name)),
                Some(pk) => {
                    if keep_pks {
                        own.insert(key_text(pk));
                    }
                }
            }
        }
        for column in &t.natural_key {
            if !row.contains_key(column) {
                report
                    .errors
                    .push(format!("{} row missing '{column}' field", t.name));
            }
        }
        for parent in &t.parents {
            let Some(v) = row.get(&parent.field).filter(|v| !v.is_null()) else {
                continue;
            };
            if !present.contains(&parent.table) {
                continue;
            }
            let text = key_text(v);
            let known = if parent.table == t.name {
                own.contains(&text)
            } else {
                pks.get(&parent.table)
                    .is_some_and(|set| set.contains(&text))
            };
            if !known {
                report.warnings.push(format!(
                    "Orphaned {} '{slug}': {} not in backup",
                    t.name, parent.field
                ));
            }
        }
    }
    if let Some(declared) = meta.get(&format!("{}_count", t.name))
        && declared.as_u64() != Some(n)
    {
        report.errors.push(format!(
            "{} has {n} rows but metadata {}_count says {declared}",
            t.name, t.name
        ));
    }
    facts.counts.insert(t.name.clone(), n);
    if keep_pks {
        pks.insert(t.name.clone(), own);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
