//! The shape of a table as the catalog describes it (read by `shape.rs`): plain data, at the bottom of
//! the crate so that a transaction's state (`tx_state.rs`) can keep the one a `COPY` re-read behind its data.

/// One column of a table, in `attnum` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ColumnShape {
    /// The column's name, exactly as stored.
    pub(crate) name: String,
    /// The oid of its type (a domain's own oid, not its base type's).
    pub(crate) type_oid: u32,
    /// `pg_type.typtype`: `b` base, `c` composite, `d` domain, `e` enum, `r` range, `m` multirange.
    pub(crate) typtype: char,
    /// `GENERATED ALWAYS AS IDENTITY`: an `INSERT` must not name it.
    pub(crate) identity_always: bool,
    /// A generated column: nobody may write it.
    pub(crate) generated: bool,
    /// The sequence the column's value is drawn from when an insert leaves it out (as `regclass` text): an
    /// identity column's, or the one of a default that is exactly `nextval` of it (a `serial` column's).
    pub(crate) sequence: Option<String>,
}

/// A table (or view) as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TableShape {
    /// The table's oid.
    pub(crate) oid: u32,
    /// `COPY FROM` behaves exactly as `INSERT` does here: an ordinary or partitioned table with no rewrite
    /// rules and no row-level security (`COPY` ignores rules and refuses row security).
    pub(crate) copy_like_insert: bool,
    /// Every live column, in `attnum` order (the order of `SELECT *`).
    pub(crate) columns: Vec<ColumnShape>,
    /// A `BEFORE INSERT` row trigger (of the table or one of its partitions) may change a row before it is
    /// stored, so a key the client drew for it may not be the one stored.
    pub(crate) before_insert_triggers: bool,
    /// The session's `TimeZone` is UTC under one of its names, so `timestamptz` values are written with
    /// the offset `+00:00` whatever their date.
    pub(crate) session_utc: bool,
}

impl TableShape {
    /// The column named `name`.
    pub(crate) fn column(&self, name: &str) -> Option<&ColumnShape> {
        self.columns.iter().find(|c| c.name == name)
    }
}
