//! The one rule that decides which database a command talks to, and the settings a client needs for it.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::conninfo::{self, DRIVER_KEYS, Form, Params};
use crate::env::{Env, ExpandError, ProcessEnv, expand};
use crate::error::{ConfigError, Result};
use crate::libpq;
use crate::lock::{lock_path, read_lock};
use crate::profile::{PoolerMode, Profile, Provider, SslMode, table_name};
use crate::secret::{PASSWORD_PLACEHOLDER, Secret, apply_password_placeholder, redact_url};

/// Pool size when a profile does not set `pool_size` (the original's `pool_size=5`).
pub const DEFAULT_POOL_SIZE: u32 = 5;

/// Connect timeout when neither the profile, the URL nor `PGCONNECT_TIMEOUT` sets one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How far a profile's standby (`read_url`) may lag behind the primary before reads that asked for it go to the
/// primary instead, when the profile does not set `max_replica_lag`.
pub const DEFAULT_MAX_REPLICA_LAG: Duration = Duration::from_secs(30);

/// The schema used when a profile does not set `schema`.
pub const DEFAULT_SCHEMA: &str = "public";

/// The port of Supabase's transaction-mode pooler; `pooler = "auto"` switches to transaction mode on it.
pub const TRANSACTION_POOLER_PORT: &str = "6543";

/// Which resolution rule chose the database.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A profile name given by the caller (`--profile`, a function argument).
    ExplicitProfile,
    /// A URL given by the caller (`--url`, a function argument).
    ExplicitUrl,
    /// The `{prefix}DB_PROFILE` variable.
    EnvProfile {
        /// The variable's name.
        var: String,
    },
    /// The `.db-profile` lock file.
    LockFile {
        /// The lock file's path.
        path: PathBuf,
    },
    /// The `{prefix}DATABASE_URL` variable.
    EnvUrl {
        /// The variable's name.
        var: String,
    },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::ExplicitProfile => f.write_str("explicit profile"),
            Source::ExplicitUrl => f.write_str("explicit url"),
            Source::EnvProfile { var } | Source::EnvUrl { var } => f.write_str(var),
            Source::LockFile { path } => write!(f, "lock file {}", path.display()),
        }
    }
}

/// A resolved database: which rule chose it, and everything a client factory needs.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Resolved {
    /// The rule that chose the database.
    pub source: Source,
    /// The profile's name, when a profile was chosen (not for a URL).
    pub profile: Option<String>,
    /// The profile's description (empty for a URL).
    pub description: String,
    /// The profile's provider ([`Provider::Postgres`] for a URL).
    pub provider: Provider,
    /// How to connect.
    pub connection: Connection,
    /// Non-fatal findings, such as an ignored connection parameter or a `.pgpass` with loose permissions.
    pub warnings: Vec<String>,
}

impl Resolved {
    /// The schema unqualified table names are read in: the profile's `schema` setting (default `public`).
    pub fn schema(&self) -> &str {
        match &self.connection {
            Connection::Postgres(pg) => &pg.schema,
            Connection::Supabase(sb) => &sb.schema,
        }
    }

    /// The target for display, with secrets redacted: the profile name, or the redacted connection string.
    pub fn display_target(&self) -> String {
        match (&self.profile, &self.connection) {
            (Some(name), _) => name.clone(),
            (None, Connection::Postgres(pg)) => pg.redacted(),
            (None, Connection::Supabase(sb)) => redact_url(&sb.url),
        }
    }
}

/// How to reach the database.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Connection {
    /// The PostgreSQL wire protocol (also a Supabase database reached by a `postgres://` URL).
    Postgres(PostgresSettings),
    /// Supabase's REST API.
    Supabase(SupabaseSettings),
}

/// Everything needed to build a PostgreSQL client. `Debug` shows the connection string as `***`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PostgresSettings {
    /// The final libpq `key='value'` string, password included, ready for tokio-postgres' `Config::from_str`.
    /// It carries only keywords tokio-postgres accepts, and `sslmode` as [`SslMode::driver_value`].
    pub conninfo: Secret<String>,
    /// The full TLS mode. For `verify-ca`/`verify-full` the factory must verify the certificate itself.
    pub sslmode: SslMode,
    /// CA certificates for the verify modes (`sslrootcert`: profile, URL, then `PGSSLROOTCERT`).
    pub ssl_root_cert: Option<PathBuf>,
    /// Maximum pooled connections.
    pub pool_size: u32,
    /// How many single-statement calls may share one pooled connection at once, their statements
    /// pipelined (`pipeline_depth`, default 1: a connection per call).
    pub pipeline_depth: u32,
    /// Connect timeout; zero means none.
    pub connect_timeout: Duration,
    /// Per-statement limit, to be applied with `SET statement_timeout` (not put in the connection string,
    /// because transaction-mode poolers reject startup options).
    pub statement_timeout: Option<Duration>,
    /// Session or transaction pooling (transaction: no named prepared statements, no session state).
    pub pooler: PoolerMode,
    /// The schema the tools work in.
    pub schema: String,
    /// The read-only standby (`read_url`), resolved like the primary (`${VAR}`, the profile's password,
    /// `sslmode`, pool and timeouts, libpq defaults), for reads that need no fresh write. `None` without
    /// `read_url`.
    pub read_replica: Option<Box<PostgresSettings>>,
    /// How far the standby may lag before such reads go to the primary (`max_replica_lag`, default
    /// [`DEFAULT_MAX_REPLICA_LAG`]).
    pub max_replica_lag: Duration,
}

impl PostgresSettings {
    /// The connection string with the password replaced by `***`, for display.
    pub fn redacted(&self) -> String {
        redact_url(self.conninfo.expose())
    }
}

/// Everything needed to build a Supabase REST client. `Debug` shows the key as `***`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SupabaseSettings {
    /// The project URL, without a trailing `/`, e.g. `https://abcd.supabase.co`.
    pub url: String,
    /// The API key.
    pub key: Secret<String>,
    /// The schema (PostgREST `Accept-Profile`).
    pub schema: String,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Request timeout, when set (`statement_timeout`).
    pub statement_timeout: Option<Duration>,
}

/// Resolves which database to use, the same way for the library and every CLI command:
///
/// 1. an explicit profile ([`profile`](Resolver::profile)) or URL ([`url`](Resolver::url)); both at once is an
///    error;
/// 2. the profile named by `{prefix}DB_PROFILE` (prefix pasted unchanged: `MC_` gives `MC_DB_PROFILE`);
/// 3. the profile named in the `.db-profile` lock file in [`lock_dir`](Resolver::lock_dir);
/// 4. the URL in `{prefix}DATABASE_URL` (the Heroku/Railway/Render convention);
/// 5. otherwise [`ConfigError::NothingSelected`], listing what was tried and the profiles that exist.
///
/// Empty variables count as unset. A name that the config does not define is an error (it does not fall through
/// to the next rule). For a PostgreSQL connection, what the connection string leaves open is filled the libpq
/// way: `service=`/`PGSERVICE` from `pg_service.conf` (`PGSERVICEFILE` or `~/.pg_service.conf`, then
/// `$PGSYSCONFDIR/pg_service.conf`), then `PGHOST`, `PGHOSTADDR`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
/// `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT`, `PGAPPNAME`, `PGOPTIONS`; then host
/// `localhost` and the user from `USER`; then a password from `.pgpass` (`PGPASSFILE` or `~/.pgpass`, read only
/// when its mode is 0600 or stricter; the first host is matched).
///
/// Resolution reads files and the environment and never connects.
///
/// ```
/// use dba_config::{Config, Connection, MapEnv, Resolver, Source};
///
/// let config = Config::from_str_with_env(
///     "[profiles.dev]\nurl = \"postgresql://app:[YOUR-PASSWORD]@localhost/app\"\npassword_env = \"DEV_PW\"\n",
///     "db.toml".as_ref(),
///     &MapEnv::new(),
/// )?;
/// let env = MapEnv::new().with("DB_PROFILE", "dev").with("DEV_PW", "p@ss");
/// let resolved = Resolver::new().with_env(env).lock_dir("/nonexistent").resolve(Some(&config))?;
/// assert_eq!(resolved.source, Source::EnvProfile { var: "DB_PROFILE".into() });
/// let Connection::Postgres(pg) = &resolved.connection else { unreachable!() };
/// assert_eq!(pg.conninfo.expose(), "host='localhost' user='app' password='p@ss' dbname='app' sslmode='prefer' connect_timeout='10'");
/// assert_eq!(format!("{:?}", pg.conninfo), "***");
/// # Ok::<(), dba_config::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Resolver {
    env: Arc<dyn Env + Send + Sync>,
    env_prefix: String,
    profile: Option<String>,
    url: Option<String>,
    lock_dir: PathBuf,
}

impl Default for Resolver {
    fn default() -> Resolver {
        Resolver::new()
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("env_prefix", &self.env_prefix)
            .field("profile", &self.profile)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("lock_dir", &self.lock_dir)
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver reading the process environment, with no prefix, no explicit choice and the lock file in the
    /// current directory.
    pub fn new() -> Resolver {
        Resolver {
            env: Arc::new(ProcessEnv),
            env_prefix: String::new(),
            profile: None,
            url: None,
            lock_dir: PathBuf::from("."),
        }
    }

    /// Reads variables from `env` instead of the process environment.
    #[must_use]
    pub fn with_env(mut self, env: impl Env + Send + Sync + 'static) -> Resolver {
        self.env = Arc::new(env);
        self
    }

    /// Sets the prefix of `DB_PROFILE` and `DATABASE_URL` (the CLI's `--env-prefix`).
    #[must_use]
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Resolver {
        self.env_prefix = prefix.into();
        self
    }

    /// Chooses a profile explicitly; `None` or an empty name leaves the choice to the other rules.
    #[must_use]
    pub fn profile(mut self, name: Option<impl Into<String>>) -> Resolver {
        self.profile = name.map(Into::into).filter(|n| !n.is_empty());
        self
    }

    /// Chooses a connection URL explicitly; `None` or an empty URL leaves the choice to the other rules.
    #[must_use]
    pub fn url(mut self, url: Option<impl Into<String>>) -> Resolver {
        self.url = url.map(Into::into).filter(|u| !u.is_empty());
        self
    }

    /// Sets the folder of the `.db-profile` lock file (default: the current directory at resolution time).
    #[must_use]
    pub fn lock_dir(mut self, dir: impl Into<PathBuf>) -> Resolver {
        self.lock_dir = dir.into();
        self
    }

    /// `{prefix}DB_PROFILE`.
    pub fn profile_var(&self) -> String {
        format!("{}DB_PROFILE", self.env_prefix)
    }

    /// `{prefix}DATABASE_URL`.
    pub fn url_var(&self) -> String {
        format!("{}DATABASE_URL", self.env_prefix)
    }

    /// Applies the resolution rule (see [`Resolver`]) and builds the connection settings.
    pub fn resolve(&self, config: Option<&Config>) -> Result<Resolved> {
        if let (Some(name), Some(_)) = (&self.profile, &self.url) {
            return Err(ConfigError::ProfileAndUrl { name: name.clone() });
        }
        if let Some(name) = &self.profile {
            return self.resolve_named(config, name, Source::ExplicitProfile);
        }
        if let Some(url) = &self.url {
            return self.resolve_url(url, Source::ExplicitUrl);
        }
        let profile_var = self.profile_var();
        if let Some(name) = self.env.non_empty(&profile_var) {
            return self.resolve_named(config, &name, Source::EnvProfile { var: profile_var });
        }
        if let Some(name) = read_lock(&self.lock_dir)? {
            return self.resolve_named(
                config,
                &name,
                Source::LockFile {
                    path: lock_path(&self.lock_dir),
                },
            );
        }
        let url_var = self.url_var();
        if let Some(url) = self.env.non_empty(&url_var) {
            return self.resolve_url(&url, Source::EnvUrl { var: url_var });
        }
        Err(ConfigError::NothingSelected {
            tried: vec![
                "an explicit profile or url".to_owned(),
                profile_var,
                format!("lock file {}", lock_path(&self.lock_dir).display()),
                url_var,
            ],
            available: config.map(Config::profile_names).unwrap_or_default(),
        })
    }

    /// Resolves the profile `name` of `config` directly (for example sync's source profile).
    pub fn resolve_profile(&self, config: &Config, name: &str) -> Result<Resolved> {
        self.resolve_named(Some(config), name, Source::ExplicitProfile)
    }

    fn resolve_named(
        &self,
        config: Option<&Config>,
        name: &str,
        source: Source,
    ) -> Result<Resolved> {
        let from = (source != Source::ExplicitProfile).then(|| source.to_string());
        let Some(config) = config else {
            return Err(ConfigError::NoConfig {
                name: name.to_owned(),
                from,
            });
        };
        let profile = config
            .profiles
            .get(name)
            .ok_or_else(|| ConfigError::ProfileNotFound {
                name: name.to_owned(),
                from,
                path: config.path.clone(),
                available: config.profile_names(),
            })?;
        ProfileResolution {
            config,
            profile,
            env: &*self.env,
        }
        .resolve(source)
    }

    fn resolve_url(&self, url: &str, source: Source) -> Result<Resolved> {
        let origin = match &source {
            Source::EnvUrl { var } => var.clone(),
            _ => "the explicit url".to_owned(),
        };
        let mut warnings = Vec::new();
        let pg = postgres_settings(url, &origin, None, None, &*self.env, &mut warnings)?;
        Ok(Resolved {
            source,
            profile: None,
            description: String::new(),
            provider: Provider::Postgres,
            connection: Connection::Postgres(pg),
            warnings,
        })
    }
}

struct ProfileResolution<'a> {
    config: &'a Config,
    profile: &'a Profile,
    env: &'a dyn Env,
}

impl ProfileResolution<'_> {
    fn table(&self) -> String {
        table_name(&self.profile.name)
    }

    fn file(&self) -> String {
        self.config.path.display().to_string()
    }

    /// Expands `${VAR}` in one of the profile's values.
    fn expand(&self, key: &str, raw: &str) -> Result<String> {
        expand(raw, self.env).map_err(|e| match e {
            ExpandError::Missing(var) => ConfigError::MissingVariable {
                location: self.file(),
                var,
                via: "used by",
                key: key.to_owned(),
                table: self.table(),
            },
            ExpandError::Unterminated => ConfigError::Invalid {
                location: self.file(),
                message: format!(
                    "`{key}` in {} has a `${{` without a closing `}}` (write `$${{` for a literal `${{`)",
                    self.table()
                ),
            },
            ExpandError::EmptyName => ConfigError::Invalid {
                location: self.file(),
                message: format!("`{key}` in {} has an empty `${{}}`", self.table()),
            },
        })
    }

    /// The value of the variable named by `key` (`password_env`, `key_env`).
    fn named_var(&self, key: &str, var: &str) -> Result<String> {
        self.env
            .non_empty(var)
            .ok_or_else(|| ConfigError::MissingVariable {
                location: self.file(),
                var: var.to_owned(),
                via: "named by",
                key: key.to_owned(),
                table: self.table(),
            })
    }

    fn resolve(&self, source: Source) -> Result<Resolved> {
        let p = self.profile;
        let url = self.expand("url", &p.url)?;
        let origin = format!("`url` of {} in {}", self.table(), self.file());
        let mut warnings = Vec::new();
        let connection = match conninfo::form(&url) {
            Form::Http if p.provider == Provider::Supabase => {
                if p.read_url.is_some() {
                    return Err(ConfigError::Invalid {
                        location: self.file(),
                        message: format!(
                            "{} sets `read_url`, but a Supabase REST profile has no standby to read from; \
                             use a postgres:// `url` to read from a replica",
                            self.table()
                        ),
                    });
                }
                Connection::Supabase(self.supabase(&url)?)
            }
            _ => {
                let password = match (&p.db_password, &p.password_env) {
                    (Some(pw), _) => Some(self.expand("db_password", pw.expose())?),
                    (None, Some(var)) => Some(self.named_var("password_env", var)?),
                    (None, None) => None,
                };
                let password = password.filter(|pw| !pw.is_empty());
                let mut pg = postgres_settings(
                    &url,
                    &origin,
                    password.clone(),
                    Some(p),
                    self.env,
                    &mut warnings,
                )?;
                self.apply_profile(&mut pg)?;
                if let Some(raw) = &p.read_url {
                    let read_url = self.expand("read_url", raw)?;
                    let origin = format!("`read_url` of {} in {}", self.table(), self.file());
                    let mut standby = postgres_settings(
                        &read_url,
                        &origin,
                        password,
                        Some(p),
                        self.env,
                        &mut warnings,
                    )?;
                    self.apply_profile(&mut standby)?;
                    pg.read_replica = Some(Box::new(standby));
                }
                if let Some(lag) = p.max_replica_lag {
                    pg.max_replica_lag = lag;
                }
                Connection::Postgres(pg)
            }
        };
        Ok(Resolved {
            source,
            profile: Some(p.name.clone()),
            description: p.description.clone(),
            provider: p.provider,
            connection,
            warnings,
        })
    }

    /// Applies the profile's `sslrootcert` and `schema`, which the connection string cannot carry.
    fn apply_profile(&self, pg: &mut PostgresSettings) -> Result<()> {
        let p = self.profile;
        if let Some(cert) = &p.sslrootcert {
            pg.ssl_root_cert = Some(
                self.config
                    .base_dir()
                    .join(self.expand("sslrootcert", cert)?),
            );
        }
        if let Some(schema) = &p.schema {
            pg.schema = self.expand("schema", schema)?;
        }
        Ok(())
    }

    fn supabase(&self, url: &str) -> Result<SupabaseSettings> {
        let p = self.profile;
        let key = match (&p.key, &p.key_env) {
            (Some(key), _) => self.expand("key", key.expose())?,
            (None, Some(var)) => self.named_var("key_env", var)?,
            (None, None) => {
                return Err(ConfigError::Invalid {
                    location: self.file(),
                    message: format!(
                        "{} has a Supabase project url but neither `key_env` nor `key` for its API key",
                        self.table()
                    ),
                });
            }
        };
        let schema = match &p.schema {
            Some(schema) => self.expand("schema", schema)?,
            None => DEFAULT_SCHEMA.to_owned(),
        };
        Ok(SupabaseSettings {
            url: url.trim().trim_end_matches('/').to_owned(),
            key: Secret::new(key),
            schema,
            connect_timeout: p.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            statement_timeout: p.statement_timeout.filter(|d| !d.is_zero()),
        })
    }
}

/// Builds PostgreSQL settings from a connection string (after `${VAR}` expansion).
fn postgres_settings(
    text: &str,
    origin: &str,
    password: Option<String>,
    profile: Option<&Profile>,
    env: &dyn Env,
    warnings: &mut Vec<String>,
) -> Result<PostgresSettings> {
    let url_error = |reason: String| ConfigError::Url {
        origin: origin.to_owned(),
        reason,
    };
    let no_password = || {
        url_error(format!(
            "it contains {PASSWORD_PLACEHOLDER} but the profile sets neither `db_password` nor `password_env`"
        ))
    };
    let has_placeholder = text.contains(PASSWORD_PLACEHOLDER);
    let mut params = match conninfo::form(text) {
        Form::Url => {
            let text = if has_placeholder {
                apply_password_placeholder(text, Some(password.as_deref().ok_or_else(no_password)?))
            } else {
                text.to_owned()
            };
            conninfo::parse_url(&text).map_err(url_error)?
        }
        Form::KeyValue => {
            let mut params = conninfo::parse_conninfo(text).map_err(url_error)?;
            if has_placeholder {
                let pw = password.as_deref().ok_or_else(no_password)?;
                for value in params.values_mut() {
                    *value = value.replace(PASSWORD_PLACEHOLDER, pw);
                }
            }
            params
        }
        Form::Http => {
            return Err(url_error(
                "an http(s) url needs a profile with provider = \"supabase\"; expected postgres://, \
                 postgresql:// or key=value pairs"
                    .to_owned(),
            ));
        }
        Form::OtherScheme(scheme) => {
            return Err(url_error(format!(
                "unsupported scheme {scheme:?}; expected postgres://, postgresql:// or key=value pairs"
            )));
        }
    };
    if !has_placeholder && let Some(pw) = password {
        params.entry("password".to_owned()).or_insert(pw);
    }
    libpq::apply_defaults(&mut params, env)?;
    params
        .entry("host".to_owned())
        .or_insert_with(|| "localhost".to_owned());
    if !params.contains_key("user") {
        let user = env.non_empty("USER").or_else(|| env.non_empty("USERNAME"));
        params.insert(
            "user".to_owned(),
            user.ok_or_else(|| {
                url_error("no user name: set one in the url, PGUSER or USER".to_owned())
            })?,
        );
    }
    if let Some(port) = params.get("port") {
        for part in port.split(',').filter(|p| !p.is_empty()) {
            conninfo::check_port(part).map_err(url_error)?;
        }
    }
    if !params.contains_key("password")
        && let Some(pw) = libpq::pgpass_password(&params, env, warnings)
    {
        params.insert("password".to_owned(), pw);
    }
    let sslmode = match (profile.and_then(|p| p.sslmode), params.get("sslmode")) {
        (Some(mode), _) => mode,
        (None, Some(raw)) => SslMode::parse(raw).ok_or_else(|| {
            url_error(format!(
                "invalid sslmode {raw:?}; expected disable, allow, prefer, require, verify-ca or verify-full"
            ))
        })?,
        (None, None) => SslMode::default(),
    };
    params.insert("sslmode".to_owned(), sslmode.driver_value().to_owned());
    let connect_timeout = match (
        profile.and_then(|p| p.connect_timeout),
        params.get("connect_timeout"),
    ) {
        (Some(timeout), _) => timeout,
        (None, Some(raw)) => raw
            .trim()
            .parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| url_error("invalid connect_timeout: expected whole seconds".to_owned()))?,
        (None, None) => DEFAULT_CONNECT_TIMEOUT,
    };
    // tokio-postgres takes whole seconds; round up so a sub-second timeout does not become "none".
    let secs = connect_timeout.as_secs() + u64::from(connect_timeout.subsec_nanos() > 0);
    params.insert("connect_timeout".to_owned(), secs.to_string());
    let ssl_root_cert = params.remove("sslrootcert").map(PathBuf::from);
    let pooler = profile
        .and_then(|p| p.pooler)
        .unwrap_or_else(|| auto_pooler(&params));
    let ignored: Vec<String> = params
        .keys()
        .filter(|k| !DRIVER_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    for key in ignored {
        params.remove(&key);
        warnings.push(format!("ignored connection parameter `{key}` in {origin}"));
    }
    Ok(PostgresSettings {
        conninfo: Secret::new(conninfo::render(&params)),
        sslmode,
        ssl_root_cert,
        pool_size: profile
            .and_then(|p| p.pool_size)
            .unwrap_or(DEFAULT_POOL_SIZE),
        pipeline_depth: profile.and_then(|p| p.pipeline_depth).unwrap_or(1),
        connect_timeout,
        statement_timeout: profile
            .and_then(|p| p.statement_timeout)
            .filter(|d| !d.is_zero()),
        pooler,
        schema: DEFAULT_SCHEMA.to_owned(),
        read_replica: None,
        max_replica_lag: DEFAULT_MAX_REPLICA_LAG,
    })
}

fn auto_pooler(params: &Params) -> PoolerMode {
    let on_pooler_port = params
        .get("port")
        .is_some_and(|ports| ports.split(',').any(|p| p == TRANSACTION_POOLER_PORT));
    if on_pooler_port {
        PoolerMode::Transaction
    } else {
        PoolerMode::Session
    }
}

#[cfg(test)]
mod tests;
