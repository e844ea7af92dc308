//! The `db.toml` file.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::env::{Env, ProcessEnv};
use crate::error::{ConfigError, Result};
use crate::profile::Profile;

mod parse;

/// Environment variable naming the config file when no explicit path is given.
pub const CONFIG_ENV_VAR: &str = "DBA_CONFIG";

/// The config file used when neither an explicit path nor [`CONFIG_ENV_VAR`] is given.
pub const DEFAULT_CONFIG_FILE: &str = "db.toml";

/// A loaded `db.toml`: connection profiles plus the schema, sync and defaults sections.
///
/// The format is the Python `db-adapter`'s, unchanged, plus the additions marked *new* below. Files written for
/// the original load as they are.
///
/// # Example
///
/// ```toml
/// [profiles.dev]
/// url = "postgresql://app@localhost:5432/app"
/// description = "local database"
///
/// [profiles.prod]                                   # Supabase database through the transaction pooler
/// provider = "supabase"
/// url = "postgresql://postgres.abcd:[YOUR-PASSWORD]@aws-0-eu-west-1.pooler.supabase.com:6543/postgres"
/// password_env = "PROD_DB_PASSWORD"
/// sslmode = "verify-full"
/// statement_timeout = "30s"
///
/// [profiles.api]                                    # Supabase REST API
/// provider = "supabase"
/// url = "https://abcd.supabase.co"
/// key_env = "SUPABASE_KEY"
///
/// [schema]
/// file = "schema.sql"
/// validate_on_connect = true
/// column_defs = "column-defs.json"
/// backup_schema = "backup-schema.json"
///
/// [sync]
/// tables = ["users", "posts"]
///
/// [defaults]
/// user_id_env = "APP_USER_ID"
/// ```
///
/// # Where the file comes from
///
/// [`Config::locate`]: an explicit path (the CLI's `--config`), else the `DBA_CONFIG` environment variable, else
/// `db.toml` in the current directory. [`Config::discover`] loads it, treating a missing *default* file as "no
/// config" so that `DATABASE_URL` alone still works.
///
/// # `[profiles.<name>]`
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `url` | string | **required** | `postgres://`/`postgresql://` URL or libpq `key=value` string; for a Supabase REST profile the `https://` project URL |
/// | `description` | string | `""` | shown by `status` and `profiles` |
/// | `db_password` | string | none | fills the `[YOUR-PASSWORD]` placeholder |
/// | `provider` | `"postgres"` \| `"supabase"` | `"postgres"` | which client the factory builds (*now enforced*) |
/// | `password_env` | string | none | *new*: name of the variable holding the password; excludes `db_password` |
/// | `key_env` | string | none | *new*: name of the variable holding the Supabase API key |
/// | `key` | string | none | *new*: the Supabase API key itself (use `"${VAR}"`); excludes `key_env` |
/// | `sslmode` | libpq mode | URL's, then `PGSSLMODE`, then `prefer` | *new*: `disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full` |
/// | `sslrootcert` | path | URL's, then `PGSSLROOTCERT` | *new*: CA bundle for the verify modes |
/// | `pool_size` | integer 1–1000 | 5 | *new*: maximum pooled connections |
/// | `pipeline_depth` | integer 1–64 | 1 | *new*: single-statement calls that may share one pooled connection at once, pipelined (PostgreSQL, direct connections only) |
/// | `connect_timeout` | duration | URL's, then 10 s | *new* |
/// | `statement_timeout` | duration | none | *new*: per-statement limit (0 disables) |
/// | `pooler` | `"auto"` \| `"session"` \| `"transaction"` | `"auto"` | *new*: `auto` means transaction mode on port 6543 (Supabase's transaction pooler), session mode otherwise |
/// | `schema` | string | `"public"` | *new*: the schema the tools work in |
/// | `read_url` | string | none | *new*: a read-only standby (streaming replica), resolved like `url` with the profile's password and settings; reads that ask for it go there |
/// | `max_replica_lag` | duration | 30 s | *new*: how far the standby may lag before those reads go to the primary |
///
/// A duration is whole seconds (`30`) or a string with a unit: `"500ms"`, `"30s"`, `"5m"`/`"5min"`, `"1h"`.
///
/// A profile with `provider = "supabase"` and a `postgres://` URL is a Postgres connection to a Supabase
/// database (what the original tool always built). With an `http://`/`https://` URL it is a REST client and
/// needs `key_env` or `key`. A `postgres` profile with an `https://` URL is an error.
///
/// # `[schema]`, `[sync]`, `[defaults]`
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `[schema] file` | path | `"schema.sql"` | expected schema for connect, validate, fix |
/// | `[schema] validate_on_connect` | bool | `true` | validate the schema on connect |
/// | `[schema] column_defs` | path | none | JSON mapping `"table.column"` to a definition, for fix |
/// | `[schema] backup_schema` | path | none | backup schema JSON for backup, restore, fix and sync |
/// | `[sync] tables` | array of strings | none | default table list for sync |
/// | `[defaults] user_id_env` | string | none | *name* of the variable holding the user id |
///
/// Relative paths resolve against the folder of the config file (*changed*: the original used the working
/// directory). All sections are optional.
///
/// # Secrets and the environment
///
/// - **`${VAR}`** in a free-text string value (`url`, `read_url`, `description`, `db_password`, `key`, `schema`,
///   `sslrootcert`, the paths and table names) is replaced by the variable's value. `$${` writes a literal `${`;
///   any other `$` is literal. An unset or empty variable is an error naming the variable, the key, the table
///   and the file. Values of the `[schema]`/`[sync]` sections are expanded when the file is loaded; a
///   profile's values are expanded when that profile is resolved, so an unused profile never fails for lack of
///   its variables. Keyword values (`provider`, `sslmode`, `pooler`) and variable names (`password_env`,
///   `key_env`, `user_id_env`) are taken literally.
/// - **`[YOUR-PASSWORD]`**, the original's rule: when the profile has a password (`db_password` or
///   `password_env`) and the URL contains the literal `[YOUR-PASSWORD]`, every occurrence is replaced by the
///   password percent-encoded like Python's `quote(pw, safe="")`. A password written in the URL is never
///   overridden. *Changed*: a placeholder with no password is an error instead of a literal that fails to log
///   in; and a profile password with no placeholder fills the URL's password when the URL has none.
/// - **libpq conventions** fill what the connection string leaves open: `service=` (or `PGSERVICE`) from
///   `pg_service.conf`, then `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`,
///   `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT`, then `~/.pgpass` (see [`Resolver`](crate::Resolver)).
///
/// # Strictness
///
/// Malformed TOML is an error naming the file, line and column. A wrong type, an unknown `provider`, `sslmode`
/// or `pooler`, a profile without `url`, or `db_password` together with `password_env` is an error naming the
/// key and table. Unknown keys and sections are not errors but [warnings](Config::warnings) naming them, so a
/// typo such as `urll` does not go unnoticed.
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) path: PathBuf,
    pub(crate) profiles: BTreeMap<String, Profile>,
    pub(crate) schema_file: String,
    pub(crate) validate_on_connect: bool,
    pub(crate) column_defs: Option<String>,
    pub(crate) backup_schema: Option<String>,
    pub(crate) sync_tables: Option<Vec<String>>,
    pub(crate) user_id_env: Option<String>,
    pub(crate) warnings: Vec<String>,
}

impl Config {
    /// Reads and parses the file at `path`, expanding `${VAR}` from the process environment.
    ///
    /// A missing file is [`ConfigError::NotFound`], whose text is the original's two lines.
    pub fn load(path: &Path) -> Result<Config> {
        Config::load_with_env(path, &ProcessEnv)
    }

    /// Like [`load`](Config::load), reading variables from `env`.
    pub fn load_with_env(path: &Path, env: &dyn Env) -> Result<Config> {
        let bytes = fs::read(path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => ConfigError::NotFound {
                path: path.to_owned(),
            },
            _ => ConfigError::Io {
                action: "read",
                path: path.to_owned(),
                source,
            },
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let utf16 =
                e.as_bytes().starts_with(&[0xff, 0xfe]) || e.as_bytes().starts_with(&[0xfe, 0xff]);
            let valid = e.utf8_error().valid_up_to();
            let before = std::str::from_utf8(&e.as_bytes()[..valid]).unwrap_or_default();
            let (line, column) = parse::line_col(before, valid);
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: if utf16 {
                    "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8"
                } else {
                    "the file is not valid UTF-8"
                }
                .to_owned(),
            }
        })?;
        Config::from_str_with_env(&text, path, env)
    }

    /// Parses `text` as if read from `path` (used in messages and to resolve relative paths), expanding `${VAR}`
    /// from the process environment.
    pub fn from_str(text: &str, path: &Path) -> Result<Config> {
        Config::from_str_with_env(text, path, &ProcessEnv)
    }

    /// Like [`from_str`](Config::from_str), reading variables from `env`.
    pub fn from_str_with_env(text: &str, path: &Path, env: &dyn Env) -> Result<Config> {
        parse::parse(text, path, env)
    }

    /// The config file to use: `explicit` (the CLI's `--config`), else the file named by `DBA_CONFIG`, else
    /// `db.toml` in the current directory.
    pub fn locate(explicit: Option<&Path>) -> PathBuf {
        Config::locate_with_env(explicit, &ProcessEnv).0
    }

    /// Like [`locate`](Config::locate), reading `DBA_CONFIG` from `env`; the flag is true when the result is
    /// the default `db.toml` rather than a path someone asked for.
    pub fn locate_with_env(explicit: Option<&Path>, env: &dyn Env) -> (PathBuf, bool) {
        if let Some(path) = explicit {
            return (path.to_owned(), false);
        }
        match env.non_empty(CONFIG_ENV_VAR) {
            Some(path) => (PathBuf::from(path), false),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), true),
        }
    }

    /// Locates and loads the config file. A missing file is an error when it was asked for (explicit path or
    /// `DBA_CONFIG`) and `Ok(None)` when it is the default `db.toml`, so that `DATABASE_URL` alone can work.
    pub fn discover(explicit: Option<&Path>, env: &dyn Env) -> Result<Option<Config>> {
        let (path, is_default) = Config::locate_with_env(explicit, env);
        match Config::load_with_env(&path, env) {
            Ok(config) => Ok(Some(config)),
            Err(ConfigError::NotFound { .. }) if is_default => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The file this config was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder relative paths resolve against: the config file's folder.
    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new(""))
    }

    /// Warnings found while loading, one per unknown key or section, e.g.
    /// `db.toml:4:1: unknown key "urll" in [profiles.dev]`.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// All profiles, ordered by name.
    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    /// The profile names, sorted.
    pub fn profile_names(&self) -> Vec<String> {
        self.profiles.keys().cloned().collect()
    }

    /// The profile called `name`, or [`ConfigError::ProfileNotFound`] listing the available ones.
    pub fn profile(&self, name: &str) -> Result<&Profile> {
        self.profiles
            .get(name)
            .ok_or_else(|| ConfigError::ProfileNotFound {
                name: name.to_owned(),
                from: None,
                path: self.path.clone(),
                available: self.profile_names(),
            })
    }

    /// `[schema] file`, resolved against the config file's folder (default `schema.sql`).
    pub fn schema_file(&self) -> PathBuf {
        self.base_dir().join(&self.schema_file)
    }

    /// `[schema] validate_on_connect` (default `true`).
    pub fn validate_on_connect(&self) -> bool {
        self.validate_on_connect
    }

    /// `[schema] column_defs`, resolved against the config file's folder.
    pub fn column_defs(&self) -> Option<PathBuf> {
        self.column_defs.as_ref().map(|p| self.base_dir().join(p))
    }

    /// `[schema] backup_schema`, resolved against the config file's folder.
    pub fn backup_schema(&self) -> Option<PathBuf> {
        self.backup_schema.as_ref().map(|p| self.base_dir().join(p))
    }

    /// `[sync] tables`.
    pub fn sync_tables(&self) -> Option<&[String]> {
        self.sync_tables.as_deref()
    }

    /// `[defaults] user_id_env`: the *name* of the variable holding the user id.
    pub fn user_id_env(&self) -> Option<&str> {
        self.user_id_env.as_deref()
    }
}

#[cfg(test)]
mod tests;
