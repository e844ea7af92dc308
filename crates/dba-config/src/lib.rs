//! Connection profiles for dba: `db.toml`, the `.db-profile` lock file and the one rule that resolves which
//! database a command talks to.
//!
//! Layer 0 (beside `dba-core`). This crate reads configuration; it never opens a database connection.
//!
//! # Architecture invariants
//!
//! - No database driver, no HTTP client and no async runtime: resolving a profile is pure file and
//!   environment work.
//! - No dependency on any other dba crate; the facade turns a resolved profile into a client.
//! - Secrets read from the environment never appear in `Debug` output or error messages.
//!
//! # Overview
//!
//! A `db.toml` (the Python `db-adapter`'s format, unchanged, plus additions; full reference on [`Config`]):
//!
//! ```toml
//! [profiles.dev]
//! url = "postgresql://app@localhost:5432/app"
//!
//! [profiles.prod]
//! url = "postgresql://postgres.abcd:[YOUR-PASSWORD]@aws-0-eu-west-1.pooler.supabase.com:6543/postgres"
//! password_env = "PROD_DB_PASSWORD"
//! provider = "supabase"
//! sslmode = "verify-full"
//!
//! [schema]
//! file = "schema.sql"
//! ```
//!
//! The config file is the one given explicitly (`--config`), else the one named by `DBA_CONFIG`, else
//! `./db.toml` ([`Config::locate`]). The database is then chosen by one rule ([`Resolver`]) for the library and
//! every CLI command: an explicit profile or URL, then `{prefix}DB_PROFILE`, then the `.db-profile` lock file,
//! then `{prefix}DATABASE_URL`, then an error listing what was tried and which profiles exist.
//!
//! ```
//! use dba_config::{Config, Connection, MapEnv, PoolerMode, Resolver};
//!
//! let text = r#"
//! [profiles.prod]
//! url = "postgresql://postgres.abcd:[YOUR-PASSWORD]@pooler.example.com:6543/postgres"
//! password_env = "PROD_DB_PASSWORD"
//! "#;
//! let config = Config::from_str_with_env(text, "db.toml".as_ref(), &MapEnv::new())?;
//! let env = MapEnv::new().with("PROD_DB_PASSWORD", "S3cr3t!pw");
//! let resolved = Resolver::new()
//!     .with_env(env)
//!     .profile(Some("prod"))
//!     .resolve(Some(&config))?;
//! let Connection::Postgres(pg) = &resolved.connection else { unreachable!() };
//! assert_eq!(pg.pooler, PoolerMode::Transaction); // port 6543
//! assert!(pg.conninfo.expose().contains("password='S3cr3t!pw'"));
//! assert!(!format!("{resolved:?}").contains("S3cr3t"));
//! # Ok::<(), dba_config::ConfigError>(())
//! ```
//!
//! The [lock file](lock) is written only by callers, after a connect that really reached the database.

mod config;
mod conninfo;
mod env;
mod error;
mod libpq;
pub mod lock;
mod profile;
mod resolve;
mod secret;
#[cfg(test)]
mod test_support;

pub use crate::config::{CONFIG_ENV_VAR, Config, DEFAULT_CONFIG_FILE};
pub use crate::env::{Env, MapEnv, ProcessEnv};
pub use crate::error::{ConfigError, Result};
pub use crate::lock::{LOCK_FILE, clear_lock, lock_path, read_lock, write_lock};
pub use crate::profile::{PoolerMode, Profile, Provider, SslMode};
pub use crate::resolve::{
    Connection, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_REPLICA_LAG, DEFAULT_POOL_SIZE,
    DEFAULT_SCHEMA, PostgresSettings, Resolved, Resolver, Source, SupabaseSettings,
    TRANSACTION_POOLER_PORT,
};
pub use crate::secret::{
    PASSWORD_PLACEHOLDER, Secret, apply_password_placeholder, percent_encode, redact_url,
};
