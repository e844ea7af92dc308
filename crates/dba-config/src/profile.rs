//! One `[profiles.<name>]` table and the small enums its keys take.

use std::fmt;
use std::time::Duration;

use crate::redact_url;
use crate::secret::Secret;

/// Which backend a profile talks to (`provider` key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// PostgreSQL over its wire protocol (the default).
    #[default]
    Postgres,
    /// A Supabase project: its REST API for an `https://` URL, or its database for a `postgres://` URL.
    Supabase,
}

impl Provider {
    /// The spelling used in `db.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Postgres => "postgres",
            Provider::Supabase => "supabase",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Provider> {
        match s {
            "postgres" | "postgresql" => Some(Provider::Postgres),
            "supabase" => Some(Provider::Supabase),
            _ => None,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// libpq's `sslmode`.
///
/// tokio-postgres only knows `disable`, `prefer` and `require`, so the rendered connection string carries
/// [`driver_value`](SslMode::driver_value); the client factory must read the full mode from the resolved settings
/// and verify certificates itself for `verify-ca` and `verify-full` (never silently downgrading).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// Plain first, TLS if the server insists.
    Allow,
    /// TLS if the server offers it (libpq's default).
    #[default]
    Prefer,
    /// TLS required, certificate not verified.
    Require,
    /// TLS required, certificate chain verified.
    VerifyCa,
    /// TLS required, certificate chain and host name verified.
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The closest value tokio-postgres accepts: `allow` becomes `prefer`, the verify modes become `require`.
    pub fn driver_value(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow | SslMode::Prefer => "prefer",
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => "require",
        }
    }

    /// Whether the server certificate must be verified.
    pub fn verifies_certificate(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }

    pub(crate) fn parse(s: &str) -> Option<SslMode> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a connection pooler in front of the database hands out server connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PoolerMode {
    /// A server connection per client session (a direct connection behaves like this): named prepared
    /// statements and session state are safe.
    #[default]
    Session,
    /// A server connection per transaction (PgBouncer/Supavisor transaction mode): no named statements, no
    /// session state.
    Transaction,
}

impl PoolerMode {
    /// The spelling used in `db.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolerMode::Session => "session",
            PoolerMode::Transaction => "transaction",
        }
    }
}

impl fmt::Display for PoolerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[profiles.<name>]` table as written in the file.
///
/// String values are kept raw: `${VAR}` references, the `[YOUR-PASSWORD]` placeholder and `password_env`/
/// `key_env` are only looked at when the profile is resolved (see [`Resolver`](crate::Resolver)), so a profile
/// whose variables are unset fails only when it is used. `Debug` redacts the URL, `db_password` and `key`.
#[derive(Clone)]
pub struct Profile {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) provider: Provider,
    pub(crate) url: String,
    pub(crate) read_url: Option<String>,
    pub(crate) max_replica_lag: Option<Duration>,
    pub(crate) db_password: Option<Secret<String>>,
    pub(crate) password_env: Option<String>,
    pub(crate) key: Option<Secret<String>>,
    pub(crate) key_env: Option<String>,
    pub(crate) sslmode: Option<SslMode>,
    pub(crate) sslrootcert: Option<String>,
    pub(crate) pool_size: Option<u32>,
    pub(crate) pipeline_depth: Option<u32>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) statement_timeout: Option<Duration>,
    pub(crate) pooler: Option<PoolerMode>,
    pub(crate) schema: Option<String>,
}

impl Profile {
    /// The profile's name (the `<name>` of `[profiles.<name>]`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `description`, as written (default empty).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// `provider` (default [`Provider::Postgres`]).
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// `url` as written, possibly with `${VAR}` and `[YOUR-PASSWORD]`. It may hold a password: show it only
    /// through [`redact_url`].
    pub fn raw_url(&self) -> &str {
        &self.url
    }

    /// `url` as written with any password replaced by `***`, for display.
    pub fn display_url(&self) -> String {
        redact_url(&self.url)
    }

    /// `read_url` as written: a read-only standby (streaming replica) for reads that need no fresh write.
    /// It may hold a password: show it only through [`redact_url`].
    pub fn raw_read_url(&self) -> Option<&str> {
        self.read_url.as_deref()
    }

    /// `max_replica_lag`, when the profile sets it.
    pub fn max_replica_lag(&self) -> Option<Duration> {
        self.max_replica_lag
    }

    /// `db_password` as written (may contain `${VAR}`).
    pub fn db_password(&self) -> Option<&Secret<String>> {
        self.db_password.as_ref()
    }

    /// `password_env`: the name of the variable holding the password.
    pub fn password_env(&self) -> Option<&str> {
        self.password_env.as_deref()
    }

    /// `key` as written (may contain `${VAR}`): a Supabase API key.
    pub fn key(&self) -> Option<&Secret<String>> {
        self.key.as_ref()
    }

    /// `key_env`: the name of the variable holding the Supabase API key.
    pub fn key_env(&self) -> Option<&str> {
        self.key_env.as_deref()
    }

    /// `sslmode`, when the profile sets it.
    pub fn sslmode(&self) -> Option<SslMode> {
        self.sslmode
    }

    /// `pool_size`, when the profile sets it.
    pub fn pool_size(&self) -> Option<u32> {
        self.pool_size
    }

    /// `pipeline_depth`, when the profile sets it: how many single-statement calls may share one pooled
    /// connection at once.
    pub fn pipeline_depth(&self) -> Option<u32> {
        self.pipeline_depth
    }

    /// `connect_timeout`, when the profile sets it.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// `statement_timeout`, when the profile sets it.
    pub fn statement_timeout(&self) -> Option<Duration> {
        self.statement_timeout
    }

    /// `pooler`, when the profile sets `session` or `transaction` (`None` means detect it).
    pub fn pooler(&self) -> Option<PoolerMode> {
        self.pooler
    }

    /// `schema` as written, when set.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("provider", &self.provider)
            .field("url", &redact_url(&self.url))
            .field("read_url", &self.read_url.as_deref().map(redact_url))
            .field("max_replica_lag", &self.max_replica_lag)
            .field("db_password", &self.db_password)
            .field("password_env", &self.password_env)
            .field("key", &self.key)
            .field("key_env", &self.key_env)
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("pool_size", &self.pool_size)
            .field("pipeline_depth", &self.pipeline_depth)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("pooler", &self.pooler)
            .field("schema", &self.schema)
            .finish()
    }
}

/// `[profiles.dev]`, or `[profiles."my db"]` when the name is not a bare TOML key.
pub(crate) fn table_name(profile: &str) -> String {
    let bare = !profile.is_empty()
        && profile
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        format!("[profiles.{profile}]")
    } else {
        format!("[profiles.{profile:?}]")
    }
}
