//! The one error type every backend returns, and the kinds callers branch on.

use std::fmt;

/// A boxed error from a backend driver, kept as the `source()` of [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, independent of the backend. Branch on this with [`Error::kind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A row that was required does not exist.
    NotFound,
    /// An update or delete that must touch a row matched none.
    NoRowsMatched,
    /// A unique or primary-key constraint was violated (SQLSTATE 23505).
    UniqueViolation,
    /// A foreign-key constraint was violated (SQLSTATE 23503).
    ForeignKeyViolation,
    /// A NOT NULL constraint was violated (SQLSTATE 23502).
    NotNullViolation,
    /// A CHECK constraint was violated (SQLSTATE 23514).
    CheckViolation,
    /// The input was refused before or by the database: a bad name, a malformed value
    /// (SQLSTATE class 22), a syntax error (42601) or an unfiltered write.
    InvalidInput,
    /// The connection could not be made or was lost.
    Connection,
    /// A timeout expired: connecting, waiting for a pooled connection, or a statement timeout.
    Timeout,
    /// This backend cannot do what was asked (see [`Capabilities`](crate::Capabilities)).
    Unsupported,
    /// The transaction was rolled back, by the caller or because an earlier statement failed.
    TransactionAborted,
    /// Any other database error; see [`Error::db`] for its SQLSTATE.
    Database,
    /// A value the database returned could not be decoded.
    Decode,
}

impl ErrorKind {
    /// The kind for a PostgreSQL SQLSTATE code (PostgREST reports the same codes).
    pub fn from_sqlstate(code: &str) -> ErrorKind {
        match code {
            "23505" => ErrorKind::UniqueViolation,
            "23503" => ErrorKind::ForeignKeyViolation,
            "23502" => ErrorKind::NotNullViolation,
            "23514" => ErrorKind::CheckViolation,
            "42601" | "42804" | "42883" => ErrorKind::InvalidInput,
            "57014" => ErrorKind::Timeout,
            "40001" | "40P01" | "25P02" => ErrorKind::TransactionAborted,
            "57P01" | "57P02" | "57P03" => ErrorKind::Connection,
            c if c.starts_with("22") => ErrorKind::InvalidInput,
            c if c.starts_with("08") => ErrorKind::Connection,
            _ => ErrorKind::Database,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::NoRowsMatched => "no rows matched",
            ErrorKind::UniqueViolation => "unique violation",
            ErrorKind::ForeignKeyViolation => "foreign-key violation",
            ErrorKind::NotNullViolation => "not-null violation",
            ErrorKind::CheckViolation => "check violation",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Connection => "connection error",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::TransactionAborted => "transaction aborted",
            ErrorKind::Database => "database error",
            ErrorKind::Decode => "decode error",
        })
    }
}

/// The fields a database reports with an error (PostgreSQL's ErrorResponse, PostgREST's error body).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DbErrorInfo {
    /// The SQLSTATE code, e.g. `23505`.
    pub code: String,
    /// The primary message.
    pub message: String,
    /// The optional detail line.
    pub detail: Option<String>,
    /// The optional hint.
    pub hint: Option<String>,
    /// The schema of the object involved.
    pub schema: Option<String>,
    /// The table involved.
    pub table: Option<String>,
    /// The column involved.
    pub column: Option<String>,
    /// The constraint involved.
    pub constraint: Option<String>,
}

impl DbErrorInfo {
    /// Error details with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> DbErrorInfo {
        DbErrorInfo {
            code: code.into(),
            message: message.into(),
            ..DbErrorInfo::default()
        }
    }
}

/// Everything a [`DatabaseClient`](crate::DatabaseClient) call can fail with.
///
/// The message names the object involved (table, row filter, column) and never contains a password or key.
pub struct Error {
    kind: ErrorKind,
    message: String,
    db: Option<Box<DbErrorInfo>>,
    source: Option<BoxError>,
}

impl Error {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            db: None,
            source: None,
        }
    }

    /// Refused input.
    pub fn invalid_input(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// An operation this backend cannot perform.
    pub fn unsupported(backend: &str, operation: &str) -> Error {
        Error::new(
            ErrorKind::Unsupported,
            format!("the {backend} backend does not support {operation}"),
        )
    }

    /// A connection failure, keeping the driver's error as the source.
    pub fn connection(message: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::new(ErrorKind::Connection, message).with_source(source)
    }

    /// An error reported by the database, its kind taken from the SQLSTATE.
    pub fn database(info: DbErrorInfo) -> Error {
        let kind = ErrorKind::from_sqlstate(&info.code);
        let mut message = info.message.clone();
        if let Some(detail) = &info.detail {
            message.push_str(": ");
            message.push_str(detail);
        }
        message.push_str(&format!(" (SQLSTATE {})", info.code));
        Error {
            kind,
            message,
            db: Some(Box::new(info)),
            source: None,
        }
    }

    /// Keeps `source` as this error's cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Error {
        self.source = Some(source.into());
        self
    }

    /// Prefixes the message with context, e.g. the table a statement targeted.
    pub fn context(mut self, context: impl fmt::Display) -> Error {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without the kind prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The database's own report, when the database raised the error.
    pub fn db(&self) -> Option<&DbErrorInfo> {
        self.db.as_deref()
    }

    /// The SQLSTATE code, when the database raised the error.
    pub fn sqlstate(&self) -> Option<&str> {
        self.db.as_deref().map(|db| db.code.as_str())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Error");
        s.field("kind", &self.kind).field("message", &self.message);
        if let Some(db) = &self.db {
            s.field("db", db);
        }
        if let Some(source) = &self.source {
            s.field("source", &source.to_string());
        }
        s.finish()
    }
}

/// An error and its causes joined by `: `, each once: a cause whose text is already part of what is written
/// is left out, and so is an empty one.
///
/// [`Error`] carries a driver's whole chain in its message (a driver's own text often hides the cause) and
/// keeps the driver's error as its source, whose parts would otherwise be written a second time:
/// `cannot connect: error connecting to server: Connection refused (os error 111)`, once.
pub fn chain_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut cause = Some(err);
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_named_once() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let err = Error::connection(
            "cannot connect to PostgreSQL: Connection refused (os error 111)",
            refused,
        );
        assert_eq!(
            chain_text(&err),
            "connection error: cannot connect to PostgreSQL: Connection refused (os error 111)"
        );
        let plain = std::io::Error::other("disk full");
        let wrapped = Error::new(ErrorKind::Database, "write failed").with_source(plain);
        assert_eq!(
            chain_text(&wrapped),
            "database error: write failed: disk full"
        );
    }

    #[test]
    fn sqlstates_map_to_kinds() {
        for (code, kind) in [
            ("23505", ErrorKind::UniqueViolation),
            ("23503", ErrorKind::ForeignKeyViolation),
            ("23502", ErrorKind::NotNullViolation),
            ("23514", ErrorKind::CheckViolation),
            ("22P02", ErrorKind::InvalidInput),
            ("08006", ErrorKind::Connection),
            ("57014", ErrorKind::Timeout),
            ("42P01", ErrorKind::Database),
        ] {
            assert_eq!(ErrorKind::from_sqlstate(code), kind, "{code}");
        }
    }

    #[test]
    fn database_errors_carry_their_fields() {
        let mut info = DbErrorInfo::new(
            "23505",
            "duplicate key value violates unique constraint \"t_pkey\"",
        );
        info.detail = Some("Key (id)=(1) already exists.".into());
        info.table = Some("t".into());
        let err = Error::database(info).context("insert into t");
        assert_eq!(err.kind(), ErrorKind::UniqueViolation);
        assert_eq!(err.sqlstate(), Some("23505"));
        assert_eq!(
            err.to_string(),
            "unique violation: insert into t: duplicate key value violates unique constraint \"t_pkey\": \
             Key (id)=(1) already exists. (SQLSTATE 23505)"
        );
        assert_eq!(err.db().and_then(|d| d.table.as_deref()), Some("t"));
    }
}
