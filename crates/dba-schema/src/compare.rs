//! The comparator: pure set logic over two [`Catalog`]s, every drift a typed [`Difference`].
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{
    Catalog, CheckConstraint, ForeignKey, Identity, Index, PrimaryKey, Table, UniqueConstraint,
    View,
};
use crate::normalize::{loose, normalize_type};

mod partitions;

/// How serious a difference is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Reported; does not make the schema invalid.
    Warning,
    /// Makes the schema invalid.
    Error,
}

/// One drift between the expected and the actual schema, beyond missing tables and columns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Difference {
    /// The database has a column the expected schema lacks.
    ExtraColumn {
        /// Table key.
        table: String,
        /// Column name.
        column: String,
    },
    /// The column's type differs.
    ColumnType {
        /// Table key.
        table: String,
        /// Column name.
        column: String,
        /// Expected type.
        expected: String,
        /// Actual type.
        actual: String,
    },
    /// The column's nullability differs.
    Nullability {
        /// Table key.
        table: String,
        /// Column name.
        column: String,
        /// Whether the expected column allows NULL.
        expected_nullable: bool,
    },
    /// The column's default differs (an error when present on one side only).
    Default {
        /// Table key.
        table: String,
        /// Column name.
        column: String,
        /// Expected default.
        expected: Option<String>,
        /// Actual default.
        actual: Option<String>,
    },
    /// Identity generation differs.
    Identity {
        /// Table key.
        table: String,
        /// Column name.
        column: String,
        /// Expected identity.
        expected: Option<Identity>,
        /// Actual identity.
        actual: Option<Identity>,
    },
    /// The generation expression of a stored generated column differs.
    Generated {
        /// Table key.
        table: String,
        /// Column name.
        column: String,
        /// Expected expression.
        expected: Option<String>,
        /// Actual expression.
        actual: Option<String>,
    },
    /// The primary key is missing or has other columns.
    PrimaryKey {
        /// Table key.
        table: String,
        /// Expected key.
        expected: Option<PrimaryKey>,
        /// Actual key.
        actual: Option<PrimaryKey>,
    },
    /// An expected foreign key does not exist (no foreign key on those columns).
    MissingForeignKey {
        /// Table key.
        table: String,
        /// The expected foreign key.
        foreign_key: ForeignKey,
    },
    /// A foreign key on the same columns references something else or has other actions.
    ForeignKeyChanged {
        /// Table key.
        table: String,
        /// Expected.
        expected: ForeignKey,
        /// Actual.
        actual: ForeignKey,
    },
    /// The database has a foreign key the expected schema lacks.
    ExtraForeignKey {
        /// Table key.
        table: String,
        /// The extra foreign key.
        foreign_key: ForeignKey,
    },
    /// An expected UNIQUE constraint does not exist.
    MissingUnique {
        /// Table key.
        table: String,
        /// The expected constraint.
        constraint: UniqueConstraint,
    },
    /// The database has a UNIQUE constraint the expected schema lacks.
    ExtraUnique {
        /// Table key.
        table: String,
        /// The extra constraint.
        constraint: UniqueConstraint,
    },
    /// An expected CHECK constraint does not exist.
    MissingCheck {
        /// Table key.
        table: String,
        /// The expected constraint.
        constraint: CheckConstraint,
    },
    /// A CHECK constraint of the same name has a textually different expression.
    CheckChanged {
        /// Table key.
        table: String,
        /// Expected.
        expected: CheckConstraint,
        /// Actual.
        actual: CheckConstraint,
    },
    /// The database has a CHECK constraint the expected schema lacks.
    ExtraCheck {
        /// Table key.
        table: String,
        /// The extra constraint.
        constraint: CheckConstraint,
    },
    /// An expected index does not exist.
    MissingIndex {
        /// Table key.
        table: String,
        /// The expected index.
        index: Index,
    },
    /// An index of the same name has other columns, uniqueness, method or predicate.
    IndexChanged {
        /// Table key.
        table: String,
        /// Expected.
        expected: Index,
        /// Actual.
        actual: Index,
    },
    /// The database has an index the expected schema lacks.
    ExtraIndex {
        /// Table key.
        table: String,
        /// The extra index.
        index: Index,
    },
    /// An expected view does not exist.
    MissingView {
        /// View key.
        view: String,
    },
    /// A view of the expected name does something else: its query (as PostgreSQL prints it) differs, or it
    /// is materialized on one side only.
    ViewChanged {
        /// View key.
        view: String,
        /// The expected view (rendered by [`render_views`](crate::render_views) when it could be).
        expected: View,
        /// The live view.
        actual: View,
    },
    /// An expected enum type does not exist.
    MissingEnum {
        /// Enum key.
        name: String,
    },
    /// A table is partitioned by another key than expected, or partitioned on one side only (the key as
    /// `pg_get_partkeydef` prints it, `None` for a table that is not partitioned).
    PartitionKey {
        /// Table key.
        table: String,
        /// Expected key, e.g. `RANGE (at)`.
        expected: Option<String>,
        /// Actual key.
        actual: Option<String>,
    },
    /// A partition is attached to another table, with other bounds, or not at all.
    PartitionBound {
        /// Table key (the partition).
        table: String,
        /// The expected parent's key.
        expected_parent: String,
        /// The expected bounds, e.g. `FOR VALUES IN ('eu')`.
        expected: String,
        /// The parent it is attached to, if any.
        actual_parent: Option<String>,
        /// Its bounds (as `pg_get_expr(relpartbound, oid)` prints them), if it is a partition.
        actual: Option<String>,
    },
    /// The database has a partition of an expected partitioned table that the expected schema lacks.
    ExtraPartition {
        /// Table key (the partition).
        table: String,
        /// The parent's key.
        parent: String,
        /// Its bounds.
        bound: String,
    },
    /// An enum's labels differ.
    EnumLabels {
        /// Enum key.
        name: String,
        /// Expected labels.
        expected: Vec<String>,
        /// Actual labels.
        actual: Vec<String>,
    },
}

impl Difference {
    /// Whether this difference makes the schema invalid.
    pub fn severity(&self) -> Severity {
        match self {
            Difference::ExtraColumn { .. }
            | Difference::ExtraForeignKey { .. }
            | Difference::ExtraUnique { .. }
            | Difference::ExtraCheck { .. }
            | Difference::ExtraIndex { .. }
            | Difference::ExtraPartition { .. }
            | Difference::CheckChanged { .. } => Severity::Warning,
            Difference::Default {
                expected, actual, ..
            } if expected.is_some() == actual.is_some() => Severity::Warning,
            _ => Severity::Error,
        }
    }

    /// The table this difference is about, if it is about a table.
    pub fn table(&self) -> Option<&str> {
        match self {
            Difference::ExtraColumn { table, .. }
            | Difference::ColumnType { table, .. }
            | Difference::Nullability { table, .. }
            | Difference::Default { table, .. }
            | Difference::Identity { table, .. }
            | Difference::Generated { table, .. }
            | Difference::PrimaryKey { table, .. }
            | Difference::MissingForeignKey { table, .. }
            | Difference::ForeignKeyChanged { table, .. }
            | Difference::ExtraForeignKey { table, .. }
            | Difference::MissingUnique { table, .. }
            | Difference::ExtraUnique { table, .. }
            | Difference::MissingCheck { table, .. }
            | Difference::CheckChanged { table, .. }
            | Difference::ExtraCheck { table, .. }
            | Difference::MissingIndex { table, .. }
            | Difference::IndexChanged { table, .. }
            | Difference::ExtraIndex { table, .. }
            | Difference::PartitionKey { table, .. }
            | Difference::PartitionBound { table, .. }
            | Difference::ExtraPartition { table, .. } => Some(table),
            Difference::MissingView { .. }
            | Difference::ViewChanged { .. }
            | Difference::MissingEnum { .. }
            | Difference::EnumLabels { .. } => None,
        }
    }
}

fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("none")
}

fn fk_text(fk: &ForeignKey) -> String {
    let mut text = format!(
        "({}) -> {}({}) on delete {} on update {}",
        fk.columns.join(", "),
        fk.referenced_key(),
        fk.referenced_columns.join(", "),
        fk.on_delete.to_lowercase(),
        fk.on_update.to_lowercase()
    );
    if fk.deferrable {
        text.push_str(if fk.initially_deferred {
            " deferrable initially deferred"
        } else {
            " deferrable"
        });
    }
    text
}

fn index_text(index: &Index) -> String {
    let mut text = format!(
        "{}{} using {} ({})",
        if index.unique { "unique " } else { "" },
        index.name,
        index.method,
        index.columns.join(", ")
    );
    if let Some(p) = &index.predicate {
        text.push_str(&format!(" where {p}"));
    }
    text
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::ExtraColumn { table, column } => {
                write!(f, "{table}.{column}: column not in the expected schema")
            }
            Difference::ColumnType {
                table,
                column,
                expected,
                actual,
            } => write!(f, "{table}.{column}: type is {actual}, expected {expected}"),
            Difference::Nullability {
                table,
                column,
                expected_nullable,
            } => {
                if *expected_nullable {
                    write!(f, "{table}.{column}: is NOT NULL, expected nullable")
                } else {
                    write!(f, "{table}.{column}: is nullable, expected NOT NULL")
                }
            }
            Difference::Default {
                table,
                column,
                expected,
                actual,
            } => write!(
                f,
                "{table}.{column}: default is {}, expected {}",
                opt(actual),
                opt(expected)
            ),
            Difference::Identity {
                table,
                column,
                expected,
                actual,
            } => write!(
                f,
                "{table}.{column}: identity is {actual:?}, expected {expected:?}"
            ),
            Difference::Generated {
                table,
                column,
                expected,
                actual,
            } => write!(
                f,
                "{table}.{column}: generated as {}, expected {}",
                opt(actual),
                opt(expected)
            ),
            Difference::PrimaryKey {
                table,
                expected,
                actual,
            } => {
                let cols = |k: &Option<PrimaryKey>| {
                    k.as_ref().map_or_else(
                        || "none".to_owned(),
                        |k| format!("({})", k.columns.join(", ")),
                    )
                };
                write!(
                    f,
                    "{table}: primary key is {}, expected {}",
                    cols(actual),
                    cols(expected)
                )
            }
            Difference::MissingForeignKey { table, foreign_key } => {
                write!(f, "{table}: missing foreign key {}", fk_text(foreign_key))
            }
            Difference::ForeignKeyChanged {
                table,
                expected,
                actual,
            } => write!(
                f,
                "{table}: foreign key {} is {}, expected {}",
                actual.name,
                fk_text(actual),
                fk_text(expected)
            ),
            Difference::ExtraForeignKey { table, foreign_key } => write!(
                f,
                "{table}: foreign key {} not in the expected schema",
                foreign_key.name
            ),
            Difference::MissingUnique { table, constraint } => write!(
                f,
                "{table}: missing unique constraint ({})",
                constraint.columns.join(", ")
            ),
            Difference::ExtraUnique { table, constraint } => write!(
                f,
                "{table}: unique constraint {} not in the expected schema",
                constraint.name
            ),
            Difference::MissingCheck { table, constraint } => write!(
                f,
                "{table}: missing check constraint {} ({})",
                constraint.name, constraint.expression
            ),
            Difference::CheckChanged {
                table,
                expected,
                actual,
            } => write!(
                f,
                "{table}: check constraint {} is ({}), expected ({})",
                actual.name, actual.expression, expected.expression
            ),
            Difference::ExtraCheck { table, constraint } => write!(
                f,
                "{table}: check constraint {} not in the expected schema",
                constraint.name
            ),
            Difference::MissingIndex { table, index } => {
                write!(f, "{table}: missing index {}", index_text(index))
            }
            Difference::IndexChanged {
                table,
                expected,
                actual,
            } => write!(
                f,
                "{table}: index is {}, expected {}",
                index_text(actual),
                index_text(expected)
            ),
            Difference::ExtraIndex { table, index } => {
                write!(
                    f,
                    "{table}: index {} not in the expected schema",
                    index.name
                )
            }
            Difference::PartitionKey { .. }
            | Difference::PartitionBound { .. }
            | Difference::ExtraPartition { .. } => partitions::describe(self, f),
            Difference::MissingView { view } => write!(f, "{view}: missing view"),
            Difference::ViewChanged {
                view,
                expected,
                actual,
            } => {
                let kind = |v: &View| {
                    if v.materialized {
                        "materialized view"
                    } else {
                        "view"
                    }
                };
                if expected.materialized == actual.materialized {
                    write!(
                        f,
                        "{view}: {} is `{}`, expected `{}`",
                        kind(actual),
                        squash(&actual.definition),
                        squash(view_query(expected))
                    )
                } else {
                    write!(
                        f,
                        "{view}: is a {}, expected a {}",
                        kind(actual),
                        kind(expected)
                    )
                }
            }
            Difference::MissingEnum { name } => write!(f, "{name}: missing enum type"),
            Difference::EnumLabels {
                name,
                expected,
                actual,
            } => write!(
                f,
                "{name}: enum labels are ({}), expected ({})",
                actual.join(", "),
                expected.join(", ")
            ),
        }
    }
}

/// A column the database lacks (the Python original's `ColumnDiff`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDiff {
    /// Table key.
    pub table: String,
    /// Column name.
    pub column: String,
    /// `Column '{column}' missing from table '{table}'`.
    pub message: String,
}

/// The result of a comparison, with the Python original's fields first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationResult {
    /// No difference of [`Severity::Error`] (see the module docs).
    pub valid: bool,
    /// Expected tables the database lacks, sorted.
    pub missing_tables: Vec<String>,
    /// Expected columns the database lacks, sorted by table and column.
    pub missing_columns: Vec<ColumnDiff>,
    /// Tables only the database has, sorted (a warning).
    pub extra_tables: Vec<String>,
    /// Every other drift, errors and warnings, in table order.
    pub differences: Vec<Difference>,
}

impl ValidationResult {
    /// Missing tables plus missing columns plus the other differences of [`Severity::Error`]. With only
    /// the original's kinds of drift this is the original's `error_count`.
    pub fn error_count(&self) -> usize {
        self.missing_tables.len() + self.missing_columns.len() + self.errors().count()
    }

    /// The differences that make the schema invalid.
    pub fn errors(&self) -> impl Iterator<Item = &Difference> {
        self.differences
            .iter()
            .filter(|d| d.severity() == Severity::Error)
    }

    /// The differences that are only reported.
    pub fn warnings(&self) -> impl Iterator<Item = &Difference> {
        self.differences
            .iter()
            .filter(|d| d.severity() == Severity::Warning)
    }

    /// The report text. For what the Python original reported it is the original's text exactly: `Schema
    /// valid`, or `Schema validation failed:` with the missing tables, missing columns and the extra tables
    /// warning. The new kinds follow as `  Schema drift (N):` (errors) and `  Warnings (N):` sections; a
    /// valid schema with warnings prints `Schema valid` followed by its warnings.
    pub fn format_report(&self) -> String {
        let warnings: Vec<String> = self.warnings().map(|d| format!("    - {d}")).collect();
        let mut lines: Vec<String> = Vec::new();
        if self.valid {
            lines.push("Schema valid".to_owned());
        } else {
            lines.push("Schema validation failed:".to_owned());
            if !self.missing_tables.is_empty() {
                lines.push(String::new());
                lines.push(format!("  Missing tables ({}):", self.missing_tables.len()));
                lines.extend(self.missing_tables.iter().map(|t| format!("    - {t}")));
            }
            if !self.missing_columns.is_empty() {
                lines.push(String::new());
                lines.push(format!(
                    "  Missing columns ({}):",
                    self.missing_columns.len()
                ));
                lines.extend(
                    self.missing_columns
                        .iter()
                        .map(|c| format!("    - {}.{}", c.table, c.column)),
                );
            }
            if !self.extra_tables.is_empty() {
                lines.push(String::new());
                lines.push(format!(
                    "  Extra tables (warning): {}",
                    self.extra_tables.join(", ")
                ));
            }
            let errors: Vec<String> = self.errors().map(|d| format!("    - {d}")).collect();
            if !errors.is_empty() {
                lines.push(String::new());
                lines.push(format!("  Schema drift ({}):", errors.len()));
                lines.extend(errors);
            }
        }
        if !warnings.is_empty() {
            lines.push(String::new());
            lines.push(format!("  Warnings ({}):", warnings.len()));
            lines.extend(warnings);
        }
        lines.join("\n")
    }
}

/// Compares `actual` (usually a live database) against `expected` (schema.sql or another live database).
///
/// Pure: no I/O. Only tables, their columns, constraints and indexes, views and enums are compared;
/// functions, triggers and sequences are introspected for reports but not compared. A view is compared by
/// whether it is materialized and, when the expected view has [`View::rendered`] (a live catalog's views
/// always have it; schema.sql's get it from [`render_views`](crate::render_views)), by its query as
/// PostgreSQL prints it. An expected view without a rendering is compared by name only, because the file's
/// text and PostgreSQL's print-out of the same query rarely match.
///
/// # What makes a schema invalid
///
/// [`ValidationResult::valid`] is false when any difference of [`Severity::Error`] exists:
/// missing tables and columns (as in the Python original), and drift a user cannot live with: a column type or
/// nullability that differs, a default or identity that is present on one side only, a primary key, foreign
/// key, UNIQUE or CHECK constraint, index, view or enum the expected schema has and the database lacks (or has
/// with different columns, references or labels).
///
/// [`Severity::Warning`]s are reported and never fail validation: extra tables (as in the original), extra
/// columns, constraints and indexes, and textual differences of default and CHECK expressions (PostgreSQL
/// rewrites expressions, so `'a'` and `'a'::text` compare equal but `IN (..)` and `= ANY (ARRAY[..])` do not).
///
/// Constraints are matched by content, not by name, because schema files rarely name them: foreign keys by
/// their columns, UNIQUE constraints by their column list, CHECK constraints by name and then by expression,
/// indexes by name and then by columns.
pub fn validate(expected: &Catalog, actual: &Catalog) -> ValidationResult {
    let mut result = ValidationResult::default();
    for key in expected.tables.keys() {
        if !actual.tables.contains_key(key) {
            result.missing_tables.push(key.clone());
        }
    }
    for (key, table) in &actual.tables {
        let parent_expected = table
            .partition_of
            .as_ref()
            .is_some_and(|p| expected.tables.contains_key(p));
        if !expected.tables.contains_key(key) && !parent_expected {
            result.extra_tables.push(key.clone());
        }
    }
    partitions::compare(expected, actual, &mut result.differences);
    for (key, want) in &expected.tables {
        let Some(have) = actual.tables.get(key) else {
            continue;
        };
        if want.partition_of.is_some() && have.partition_of.is_some() {
            // A partition has its parent's columns, and PostgreSQL copies the parent's keys and indexes to
            // it: drift there is the parent's, reported once at the parent.
            continue;
        }
        for column in want.columns.keys() {
            if !have.columns.contains_key(column) {
                result.missing_columns.push(ColumnDiff {
                    table: key.clone(),
                    column: column.clone(),
                    message: format!("Column '{column}' missing from table '{key}'"),
                });
            }
        }
        compare_table(key, want, have, expected, &mut result.differences);
    }
    for (key, want) in &expected.views {
        match actual.views.get(key) {
            None => result
                .differences
                .push(Difference::MissingView { view: key.clone() }),
            Some(have)
                if want.materialized != have.materialized
                    || want
                        .rendered
                        .as_ref()
                        .is_some_and(|w| squash(w) != squash(&have.definition)) =>
            {
                result.differences.push(Difference::ViewChanged {
                    view: key.clone(),
                    expected: want.clone(),
                    actual: have.clone(),
                });
            }
            Some(_) => {}
        }
    }
    for (key, want) in &expected.enums {
        match actual.enums.get(key) {
            None => result
                .differences
                .push(Difference::MissingEnum { name: key.clone() }),
            Some(have) if have.labels != want.labels => {
                result.differences.push(Difference::EnumLabels {
                    name: key.clone(),
                    expected: want.labels.clone(),
                    actual: have.labels.clone(),
                });
            }
            Some(_) => {}
        }
    }
    result.valid = result.error_count() == 0;
    result
}

/// The query an expected view is shown by: PostgreSQL's rendering when there is one.
fn view_query(view: &View) -> &str {
    view.rendered.as_deref().unwrap_or(&view.definition)
}

/// A query on one line: runs of whitespace outside quotes become one space, and a final `;` goes.
pub(crate) fn squash(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    let mut quote: Option<char> = None;
    let mut space = false;
    for c in query.trim().trim_end_matches(';').trim_end().chars() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => space = true,
            None => {
                if space && !out.is_empty() {
                    out.push(' ');
                }
                space = false;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                }
                out.push(c);
            }
        }
    }
    out
}

fn compare_table(
    key: &str,
    want: &Table,
    have: &Table,
    expected: &Catalog,
    out: &mut Vec<Difference>,
) {
    let t = || key.to_owned();
    for (name, w) in &want.columns {
        let Some(h) = have.columns.get(name) else {
            continue;
        };
        let c = || name.clone();
        if normalize_type(&w.data_type) != normalize_type(&h.data_type) {
            out.push(Difference::ColumnType {
                table: t(),
                column: c(),
                expected: w.data_type.clone(),
                actual: h.data_type.clone(),
            });
        }
        if w.nullable != h.nullable {
            out.push(Difference::Nullability {
                table: t(),
                column: c(),
                expected_nullable: w.nullable,
            });
        }
        if !defaults_match(w.default.as_deref(), h.default.as_deref()) {
            out.push(Difference::Default {
                table: t(),
                column: c(),
                expected: w.default.clone(),
                actual: h.default.clone(),
            });
        }
        if w.identity != h.identity {
            out.push(Difference::Identity {
                table: t(),
                column: c(),
                expected: w.identity,
                actual: h.identity,
            });
        }
        let gen_same = match (&w.generated, &h.generated) {
            (Some(a), Some(b)) => loose(a) == loose(b),
            (a, b) => a.is_none() && b.is_none(),
        };
        if !gen_same {
            out.push(Difference::Generated {
                table: t(),
                column: c(),
                expected: w.generated.clone(),
                actual: h.generated.clone(),
            });
        }
    }
    for name in have.columns.keys() {
        if !want.columns.contains_key(name) {
            out.push(Difference::ExtraColumn {
                table: t(),
                column: name.clone(),
            });
        }
    }
    let pk_cols = |k: &Option<PrimaryKey>| k.as_ref().map(|k| k.columns.clone());
    if pk_cols(&want.primary_key) != pk_cols(&have.primary_key) && want.primary_key.is_some() {
        out.push(Difference::PrimaryKey {
            table: t(),
            expected: want.primary_key.clone(),
            actual: have.primary_key.clone(),
        });
    }
    compare_foreign_keys(key, want, have, expected, out);
    for u in want.unique_constraints.values() {
        if !have
            .unique_constraints
            .values()
            .any(|h| h.columns == u.columns)
        {
            out.push(Difference::MissingUnique {
                table: t(),
                constraint: u.clone(),
            });
        }
    }
    for u in have.unique_constraints.values() {
        if !want
            .unique_constraints
            .values()
            .any(|w| w.columns == u.columns)
        {
            out.push(Difference::ExtraUnique {
                table: t(),
                constraint: u.clone(),
            });
        }
    }
    compare_checks(key, want, have, out);
    compare_indexes(key, want, have, out);
}

/// Defaults match when both are absent, both are sequence defaults, or their loose forms are equal.
fn defaults_match(want: Option<&str>, have: Option<&str>) -> bool {
    match (want, have) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            let seq = |s: &str| s.trim_start().to_lowercase().starts_with("nextval(");
            (seq(a) && seq(b)) || loose(a) == loose(b)
        }
        _ => false,
    }
}

/// The referenced columns of `fk`, with an empty list resolved to the referenced table's primary key.
fn referenced_columns(fk: &ForeignKey, catalog: &Catalog) -> Vec<String> {
    if !fk.referenced_columns.is_empty() {
        return fk.referenced_columns.clone();
    }
    catalog
        .tables
        .get(&fk.referenced_key())
        .and_then(|t| t.primary_key.as_ref())
        .map(|k| k.columns.clone())
        .unwrap_or_default()
}

/// `expected` with an omitted referenced-column list filled in from `catalog`.
pub(crate) fn resolved_fk(fk: &ForeignKey, catalog: &Catalog) -> ForeignKey {
    ForeignKey {
        referenced_columns: referenced_columns(fk, catalog),
        ..fk.clone()
    }
}

fn fk_same(a: &ForeignKey, b: &ForeignKey) -> bool {
    a.columns == b.columns
        && a.referenced_key() == b.referenced_key()
        && a.referenced_columns == b.referenced_columns
        && a.on_delete == b.on_delete
        && a.on_update == b.on_update
        && a.deferrable == b.deferrable
        && a.initially_deferred == b.initially_deferred
}

fn compare_foreign_keys(
    key: &str,
    want: &Table,
    have: &Table,
    expected: &Catalog,
    out: &mut Vec<Difference>,
) {
    let mut matched: Vec<&str> = Vec::new();
    for w in want.foreign_keys.values() {
        let w = resolved_fk(w, expected);
        if let Some(h) = have.foreign_keys.values().find(|h| fk_same(&w, h)) {
            matched.push(&h.name);
        } else if let Some(h) = have
            .foreign_keys
            .values()
            .find(|h| h.columns == w.columns && !matched.contains(&h.name.as_str()))
        {
            matched.push(&h.name);
            out.push(Difference::ForeignKeyChanged {
                table: key.to_owned(),
                expected: w,
                actual: h.clone(),
            });
        } else {
            out.push(Difference::MissingForeignKey {
                table: key.to_owned(),
                foreign_key: w,
            });
        }
    }
    for h in have.foreign_keys.values() {
        if !matched.contains(&h.name.as_str()) {
            out.push(Difference::ExtraForeignKey {
                table: key.to_owned(),
                foreign_key: h.clone(),
            });
        }
    }
}

fn compare_checks(key: &str, want: &Table, have: &Table, out: &mut Vec<Difference>) {
    let mut matched: Vec<&str> = Vec::new();
    for w in want.check_constraints.values() {
        let by_expr = have
            .check_constraints
            .values()
            .find(|h| loose(&h.expression) == loose(&w.expression));
        if let Some(h) = by_expr {
            matched.push(&h.name);
        } else if let Some(h) = have.check_constraints.get(&w.name) {
            matched.push(&h.name);
            out.push(Difference::CheckChanged {
                table: key.to_owned(),
                expected: w.clone(),
                actual: h.clone(),
            });
        } else {
            out.push(Difference::MissingCheck {
                table: key.to_owned(),
                constraint: w.clone(),
            });
        }
    }
    for h in have.check_constraints.values() {
        if !matched.contains(&h.name.as_str()) {
            out.push(Difference::ExtraCheck {
                table: key.to_owned(),
                constraint: h.clone(),
            });
        }
    }
}

fn index_same(a: &Index, b: &Index) -> bool {
    let cols = |i: &Index| i.columns.iter().map(|c| loose(c)).collect::<Vec<_>>();
    a.unique == b.unique
        && a.method == b.method
        && cols(a) == cols(b)
        && a.predicate.as_deref().map(loose) == b.predicate.as_deref().map(loose)
}

fn compare_indexes(key: &str, want: &Table, have: &Table, out: &mut Vec<Difference>) {
    let mut matched: BTreeMap<&str, ()> = BTreeMap::new();
    for w in want.indexes.values() {
        if let Some(h) = have.indexes.get(&w.name) {
            matched.insert(&h.name, ());
            if !index_same(w, h) {
                out.push(Difference::IndexChanged {
                    table: key.to_owned(),
                    expected: w.clone(),
                    actual: h.clone(),
                });
            }
        } else if let Some(h) = have
            .indexes
            .values()
            .find(|h| index_same(w, h) && !want.indexes.contains_key(&h.name))
        {
            matched.insert(&h.name, ());
        } else {
            out.push(Difference::MissingIndex {
                table: key.to_owned(),
                index: w.clone(),
            });
        }
    }
    for h in have.indexes.values() {
        if !matched.contains_key(h.name.as_str()) {
            out.push(Difference::ExtraIndex {
                table: key.to_owned(),
                index: h.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
