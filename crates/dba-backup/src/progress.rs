//! Progress reporting: the library never prints; callers (the CLI's bars) observe through this trait.

/// What is being done to a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Rows are read from the database and written to a backup file.
    Backup,
    /// Rows are written to the destination (restore, or the write side of a sync).
    Restore,
    /// Natural keys are compared between source and destination.
    Compare,
    /// Destination rows the source no longer has are deleted (sync in mirror mode).
    Delete,
    /// The destination's transaction is being committed (restore, sync): from here an interruption may
    /// leave the work committed. Reported once per transaction, with an empty table name and `done` the rows
    /// written in it.
    Commit,
}

/// One progress report: `done` rows of `table` so far, out of `total` when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressUpdate<'a> {
    /// What is being done.
    pub phase: Phase,
    /// The table.
    pub table: &'a str,
    /// Rows handled so far in this table.
    pub done: u64,
    /// The table's row count, when known up front.
    pub total: Option<u64>,
    /// True on the table's last report.
    pub finished: bool,
}

/// Receives progress reports; called from the task running the operation, so keep it cheap.
///
/// Any `Fn(&ProgressUpdate<'_>) + Send + Sync` closure is a `Progress`.
pub trait Progress: Send + Sync {
    /// Called at the start of each table, after each batch, and when the table is finished.
    fn update(&self, update: &ProgressUpdate<'_>);

    /// Whether reports should carry a table's `total`. Counting a table costs a query (a scan), so backup
    /// counts only for an observer that shows totals; the default says yes.
    fn wants_totals(&self) -> bool {
        true
    }
}

impl<F: Fn(&ProgressUpdate<'_>) + Send + Sync> Progress for F {
    fn update(&self, update: &ProgressUpdate<'_>) {
        self(update);
    }
}

/// A [`Progress`] that ignores every report.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&self, _: &ProgressUpdate<'_>) {}

    fn wants_totals(&self) -> bool {
        false
    }
}
