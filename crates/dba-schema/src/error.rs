//! The one error type of the crate.

use std::path::PathBuf;

/// Everything reading, introspecting, comparing or repairing a schema can fail with.
///
/// Messages are lowercase and name the file, line, table or step involved; the underlying cause (an I/O error,
/// a database error) is kept as the `source()`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The schema file does not exist.
    #[error("schema file not found: {}", path.display())]
    FileNotFound {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// A file exists but could not be read.
    #[error("failed to read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file is not UTF-8 text.
    #[error(
        "{}:{line}:{column}: {}",
        path.display(),
        if *utf16 { "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8" }
        else { "not valid UTF-8" }
    )]
    NotUtf8 {
        /// The file.
        path: PathBuf,
        /// 1-based line of the first invalid byte.
        line: u64,
        /// 1-based column (in characters) of the first invalid byte.
        column: u64,
        /// Whether the file starts with a UTF-16 byte order mark.
        utf16: bool,
    },
    /// A statement that dba must understand (a `CREATE TABLE`) is malformed.
    #[error("{file}:{line}:{column}: malformed {statement}: {message}")]
    Parse {
        /// The file (or label) the SQL came from.
        file: String,
        /// 1-based line of the error.
        line: u64,
        /// 1-based column (in characters) of the error.
        column: u64,
        /// Which statement kind failed, e.g. `create table`.
        statement: String,
        /// The parser's message.
        message: String,
    },
    /// The schema file holds no `CREATE TABLE` at all.
    #[error("no create table statements found in {file}")]
    NoTables {
        /// The file (or label) the SQL came from.
        file: String,
    },
    /// A column definition (from column-defs JSON or schema.sql) is not valid SQL for one column.
    #[error("invalid column definition for {table}.{column}: {message}")]
    ColumnDefinition {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// What is wrong with it.
        message: String,
    },
    /// An expression meant for a fix step is not exactly one SQL expression.
    #[error("invalid expression for {table}: {expression:?}: {message}")]
    InvalidExpression {
        /// The table (or view) it belongs to.
        table: String,
        /// The expression text.
        expression: String,
        /// The parser's message.
        message: String,
    },
    /// The column-defs JSON file is not an object of strings.
    #[error("{file}:{line}:{column}: invalid column definitions: {message}")]
    ColumnDefs {
        /// The file (or label).
        file: String,
        /// 1-based line of the error.
        line: u64,
        /// 1-based column (in characters) of the error.
        column: u64,
        /// What is wrong with it, naming the key when a value is wrong.
        message: String,
    },
    /// A catalog query returned something dba could not read.
    #[error("unexpected result from the {query} catalog query: {message}")]
    Catalog {
        /// Which query.
        query: &'static str,
        /// What was unexpected.
        message: String,
    },
    /// A database call failed outside of a fix step.
    #[error("database request failed")]
    Database(#[from] dba_core::Error),
    /// A step of a fix plan failed; the transaction was rolled back and nothing changed.
    #[error("fix step {number} ({description}) failed; every change was rolled back")]
    StepFailed {
        /// 1-based position of the step in the plan.
        number: usize,
        /// What the step does, naming its table and column.
        description: String,
        /// The table the step targets, if any.
        table: Option<String>,
        /// The database's error.
        #[source]
        source: dba_core::Error,
    },
    /// After every step ran, the schema still did not match; the transaction was rolled back.
    #[error("fix verification failed, every change was rolled back: {summary}")]
    VerificationFailed {
        /// The differences that remained, one per line.
        summary: String,
    },
    /// The client cannot run a fix (no transactions or no raw SQL).
    #[error("this client cannot {operation}: it lacks transactions or raw SQL")]
    Unsupported {
        /// What was attempted.
        operation: &'static str,
    },
}
