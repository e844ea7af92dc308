//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

use serde_json::Value;

/// Everything backup, validation, restore and sync can fail with.
///
/// Messages are lowercase fragments naming the file, table and row involved; the cause, when there is one,
/// is the error's `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// A file could not be read, written, synced or renamed.
    #[error("i/o error on {}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A file is not valid JSON (or not the JSON shape expected).
    #[error("invalid JSON in {}: {reason}", path.display())]
    Json {
        /// The file involved.
        path: PathBuf,
        /// What the parser reported, with its position.
        reason: String,
    },
    /// `key` lies behind the cursor in a file that can be read only once (a pipe): its metadata must come
    /// first and its tables in the backup schema's order, as both tools write them.
    #[error(
        "'{key}' comes earlier in {}, which is not a regular file (a pipe?) and is read only once: the \
         metadata must come first and the tables in the backup schema's order, as both tools write them; \
         restore from a regular file instead",
        path.display()
    )]
    ReadOnce {
        /// The file involved.
        path: PathBuf,
        /// The key that lies behind.
        key: String,
    },
    /// The backup schema is inconsistent.
    #[error("invalid backup schema: {0}")]
    Schema(String),
    /// The backup file failed offline validation (the errors of [`crate::validate_backup`]).
    #[error("invalid backup file {}: {}", path.display(), errors.join("; "))]
    InvalidBackup {
        /// The backup file.
        path: PathBuf,
        /// The validation errors, with the Python original's texts.
        errors: Vec<String>,
    },
    /// Caller metadata tried to set a key the format reserves.
    #[error("metadata key {key:?} is reserved by the backup format")]
    ReservedMetadataKey {
        /// The offending key.
        key: String,
    },
    /// `mode=fail` found rows that already exist; nothing was committed.
    #[error("{} row(s) already exist (mode=fail): {}", conflicts.len(), render_conflicts(conflicts))]
    Conflicts {
        /// Every conflict found, in table and row order.
        conflicts: Vec<Conflict>,
        /// Rows already written before the first conflict (only on the non-atomic path; 0 otherwise).
        written: u64,
    },
    /// A row could not be written; on the atomic path nothing was committed.
    #[error(transparent)]
    RowFailed(Box<FailedRow>),
    /// The destination has no transactions and the caller did not accept a non-atomic run.
    #[error(
        "the destination client has no transactions; refusing a non-atomic {0} (set `allow_non_atomic` to accept partial writes on failure)"
    )]
    NotAtomic(&'static str),
    /// Source and destination of a sync are the same database.
    #[error("refusing to sync a database into itself")]
    SameDatabase,
    /// A backend call failed.
    #[error(transparent)]
    Database(#[from] dba_core::Error),
}

/// The row a restore or sync stopped at, and why.
#[derive(Debug, thiserror::Error)]
#[error(
    "{table} row {row_index} (pk {old_pk}{}) failed: {reason}; {outcome}",
    key_suffix(natural_key)
)]
pub struct FailedRow {
    /// The table.
    pub table: String,
    /// The row's index in the backup (or source stream), from 0.
    pub row_index: u64,
    /// The row's primary key in the backup (an object of its columns for a composite key).
    pub old_pk: Value,
    /// The row's natural key, when the table has one.
    pub natural_key: Option<Value>,
    /// The database's reason.
    pub reason: String,
    /// What became of the destination.
    pub outcome: String,
    /// The database error, for its kind and SQLSTATE. It is not this error's `source()`: the message
    /// already carries its text (`reason`), and a chain printer would print it twice.
    pub error: dba_core::Error,
}

/// One row that already exists in the destination under `mode=fail`.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// The table.
    pub table: String,
    /// The row's index in the backup.
    pub row_index: u64,
    /// The row's primary key in the backup (an object of its columns for a composite key).
    pub old_pk: Value,
    /// The key that matched: the natural key (`slug`, or an object for a composite one), or, for a table
    /// without one matched by its composite primary key, an object of the key's columns as in the
    /// destination.
    pub natural_key: Value,
}

fn render_conflicts(conflicts: &[Conflict]) -> String {
    const SHOWN: usize = 20;
    let mut parts: Vec<String> = conflicts
        .iter()
        .take(SHOWN)
        .map(|c| format!("{} '{}'", c.table, plain(&c.natural_key)))
        .collect();
    if conflicts.len() > SHOWN {
        parts.push(format!("and {} more", conflicts.len() - SHOWN));
    }
    parts.join(", ")
}

fn key_suffix(key: &Option<Value>) -> String {
    match key {
        Some(k) => format!(", key '{}'", plain(k)),
        None => String::new(),
    }
}

/// A value as the Python original prints it in messages: strings without quotes, the rest as JSON.
pub(crate) fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}
