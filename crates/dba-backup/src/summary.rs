//! The restore summary, in the Python original's shape.

use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One row that could not be written, as in the original's `failure_details`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowFailure {
    /// The row's index in the backup (or source stream), from 0.
    pub row_index: u64,
    /// The row's primary key in the backup (`"<unknown>"` when it had none); for a composite key, an object
    /// of its columns (`{"product_id": 502, "tag_id": 901}`).
    pub old_pk: Value,
    /// Why it failed.
    pub error: String,
}

/// What happened to one table: every row is counted exactly once, as what was committed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableSummary {
    /// Rows inserted (in a dry run: rows a real run would insert).
    pub inserted: u64,
    /// Existing rows overwritten.
    pub updated: u64,
    /// Rows left alone: existing rows under `mode=skip`, and rows whose required parent is missing.
    pub skipped: u64,
    /// Rows that failed (only when continuing past bad rows; otherwise the restore fails as a whole).
    pub failed: u64,
    /// One entry per failed row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failure_details: Vec<RowFailure>,
}

/// The result of a restore: `{"dry_run": …, "<table>": {inserted, updated, skipped, failed,
/// failure_details?}, …}` when serialized, as the original returns it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RestoreSummary {
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Per table, in schema order.
    pub tables: Vec<(String, TableSummary)>,
}

impl RestoreSummary {
    /// The summary of `table`.
    pub fn table(&self, table: &str) -> Option<&TableSummary> {
        self.tables.iter().find(|(n, _)| n == table).map(|(_, s)| s)
    }

    pub(crate) fn table_mut(&mut self, table: &str) -> &mut TableSummary {
        let i = match self.tables.iter().position(|(n, _)| n == table) {
            Some(i) => i,
            None => {
                self.tables
                    .push((table.to_owned(), TableSummary::default()));
                self.tables.len() - 1
            }
        };
        &mut self.tables[i].1
    }

    /// Sums over every table.
    pub fn totals(&self) -> TableSummary {
        let mut t = TableSummary::default();
        for (_, s) in &self.tables {
            t.inserted += s.inserted;
            t.updated += s.updated;
            t.skipped += s.skipped;
            t.failed += s.failed;
        }
        t
    }
}

impl Serialize for RestoreSummary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.tables.len() + 1))?;
        map.serialize_entry("dry_run", &self.dry_run)?;
        for (name, table) in &self.tables {
            map.serialize_entry(name, table)?;
        }
        map.end()
    }
}
