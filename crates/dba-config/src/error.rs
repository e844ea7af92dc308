//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// Everything loading a config file or resolving a profile can fail with.
///
/// Messages are lowercase fragments that name the file, line, column, key and profile involved. They never
/// contain a password or API key: values of secret keys are not quoted, and connection strings are only ever
/// shown through [`redact_url`](crate::redact_url).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file does not exist. The two-line text is the Python original's, kept for compatibility.
    #[error(
        "Database config not found: {}\nCopy db.toml.example to db.toml and configure your profiles.",
        path.display()
    )]
    NotFound {
        /// The path that was looked up.
        path: PathBuf,
    },
    /// A file could not be read or written.
    #[error("failed to {action} {}", path.display())]
    Io {
        /// What was being done: "read", "write", "remove".
        action: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The config file is not valid TOML.
    #[error("{}:{line}:{column}: invalid TOML: {message}", path.display())]
    Syntax {
        /// The config file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// The parser's description of the problem.
        message: String,
    },
    /// The file is valid TOML but a value is wrong: a wrong type, an unknown provider, a missing key, two keys
    /// that exclude each other, a malformed service file line.
    #[error("{location}: {message}")]
    Invalid {
        /// `file:line:column`, `file:line` or just `file`.
        location: String,
        /// What is wrong, naming the key and the table.
        message: String,
    },
    /// An environment variable the config refers to is not set (or is empty).
    #[error("{location}: environment variable {var} {via} `{key}` in {table} is not set")]
    MissingVariable {
        /// The config file (and position when known).
        location: String,
        /// The variable's name.
        var: String,
        /// "used by" for `${VAR}` indirection, "named by" for `password_env`/`key_env`.
        via: &'static str,
        /// The key whose value needed the variable.
        key: String,
        /// The table holding the key, e.g. `[profiles.prod]`.
        table: String,
    },
    /// A connection string could not be parsed or lacks something required.
    #[error("invalid connection string in {origin}: {reason}")]
    Url {
        /// Where the string came from, e.g. "`url` of [profiles.dev] in db.toml" or "DATABASE_URL".
        origin: String,
        /// What is wrong. Never quotes the string itself.
        reason: String,
    },
    /// A profile name was selected but the config file has no such profile.
    #[error("profile \"{name}\"{} not found in {}; available profiles: {}", from_suffix(from), path.display(), list(available))]
    ProfileNotFound {
        /// The requested name.
        name: String,
        /// Which resolution rule produced the name, if any (for display).
        from: Option<String>,
        /// The config file that was searched.
        path: PathBuf,
        /// The profiles the file does define, sorted.
        available: Vec<String>,
    },
    /// A profile name was selected but no config file was loaded.
    #[error(
        "profile \"{name}\"{} cannot be resolved because no config file was loaded",
        from_suffix(from)
    )]
    NoConfig {
        /// The requested name.
        name: String,
        /// Which resolution rule produced the name, if any.
        from: Option<String>,
    },
    /// Both an explicit profile and an explicit URL were given.
    #[error("both a profile (\"{name}\") and a url were given; pass only one")]
    ProfileAndUrl {
        /// The explicit profile name.
        name: String,
    },
    /// No resolution rule selected a database.
    #[error("no database selected (tried {}); available profiles: {}", tried.join(", "), list(available))]
    NothingSelected {
        /// The rules tried, in order, for display.
        tried: Vec<String>,
        /// The profiles of the loaded config file, sorted (empty when none was loaded).
        available: Vec<String>,
    },
    /// A `service=` name (or `PGSERVICE`) is not defined in any service file.
    #[error(
        "definition of service \"{name}\" not found (searched {})",
        paths(searched)
    )]
    ServiceNotFound {
        /// The service name.
        name: String,
        /// The service files that were read.
        searched: Vec<PathBuf>,
    },
}

/// `Result` with [`ConfigError`] as the default error type.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

fn from_suffix(from: &Option<String>) -> String {
    match from {
        Some(from) => format!(" (from {from})"),
        None => String::new(),
    }
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

fn paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "no service file exists".to_owned();
    }
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
