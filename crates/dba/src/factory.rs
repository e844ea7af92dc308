//! The profile-to-client factory: a resolved profile becomes the backend its provider names.

use std::path::Path;
use std::sync::Arc;

use dba_config::{Config, ConfigError, Connection, ProcessEnv, Resolved, Resolver};
use dba_core::DatabaseClient;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The configuration could not be read or resolved.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The backend refused the settings or the database did not answer. The message names the profile
    /// only; the reason is the [`source`](std::error::Error::source), so a chain printer (`{:#}` of anyhow)
    /// shows it once.
    #[error("profile {profile}")]
    Client {
        /// The profile (or `DATABASE_URL`) the client was built for.
        profile: String,
        /// What went wrong.
        #[source]
        source: dba_core::Error,
    },
    /// The schema file could not be read or parsed (the message names the file, line and column).
    #[cfg(feature = "schema")]
    #[error(transparent)]
    Schema(Box<dba_schema::SchemaError>),
    /// The live schema could not be read.
    #[cfg(feature = "schema")]
    #[error("failed to read the schema of {profile}")]
    Introspect {
        /// The profile (or `DATABASE_URL`) whose schema was read.
        profile: String,
        /// What went wrong.
        #[source]
        source: Box<dba_schema::SchemaError>,
    },
    /// The profile names a backend this build does not include.
    #[error(
        "profile {profile} uses the {provider} backend, but dba was built without the `{feature}` feature"
    )]
    BackendDisabled {
        /// The profile.
        profile: String,
        /// The provider it names.
        provider: &'static str,
        /// The cargo feature that adds it.
        feature: &'static str,
    },
}

/// A shared client chosen at run time.
pub type Client = Arc<dyn DatabaseClient>;

/// Builds the client a resolved profile names, without connecting (the first call connects).
pub fn client(resolved: &Resolved) -> Result<Client, ConnectError> {
    let profile = resolved
        .profile
        .clone()
        .unwrap_or_else(|| resolved.source.to_string());
    match &resolved.connection {
        Connection::Postgres(settings) => postgres_client(&profile, settings),
        Connection::Supabase(settings) => supabase_client(&profile, settings),
        _ => Err(ConnectError::BackendDisabled {
            profile,
            provider: "unknown",
            feature: "full",
        }),
    }
}

/// Builds the client and proves the database answers; an unreachable server is an error, never a
/// "connected".
pub async fn connect(resolved: &Resolved) -> Result<Client, ConnectError> {
    let client = client(resolved)?;
    client
        .test_connection()
        .await
        .map_err(|source| ConnectError::Client {
            profile: resolved
                .profile
                .clone()
                .unwrap_or_else(|| resolved.source.to_string()),
            source,
        })?;
    Ok(client)
}

/// Loads the config (`explicit` path, else `DBA_CONFIG`, else `./db.toml`; a missing default file is fine
/// when the URL comes from the environment), resolves the profile by the one rule, and connects.
pub async fn connect_profile(
    config_path: Option<&Path>,
    profile: Option<&str>,
    env_prefix: &str,
) -> Result<(Resolved, Client), ConnectError> {
    let env = ProcessEnv;
    let config = Config::discover(config_path, &env)?;
    let resolved = Resolver::new()
        .env_prefix(env_prefix)
        .profile(profile)
        .resolve(config.as_ref())?;
    let client = connect(&resolved).await?;
    Ok((resolved, client))
}

static DEFAULT: tokio::sync::OnceCell<Client> = tokio::sync::OnceCell::const_new();

/// A process-wide client for the profile the environment selects (the one rule, default config file),
/// built on first use and shared afterwards. Use [`connect_profile`] for a fresh one.
pub async fn default_client() -> Result<Client, ConnectError> {
    DEFAULT
        .get_or_try_init(|| async { connect_profile(None, None, "").await.map(|(_, c)| c) })
        .await
        .cloned()
}

#[cfg(feature = "postgres")]
fn postgres_client(
    profile: &str,
    settings: &dba_config::PostgresSettings,
) -> Result<Client, ConnectError> {
    use dba_postgres::PostgresAdapter;

    let client_error = |source| ConnectError::Client {
        profile: profile.to_owned(),
        source,
    };
    let adapter = PostgresAdapter::new(
        settings.conninfo.expose(),
        postgres_options(profile, settings)?,
    )
    .map_err(client_error)?;
    // A standby gets the same pool, timeout, TLS and schema settings; only the reads a caller asks for
    // through `reader()` go there.
    let adapter = match &settings.read_replica {
        Some(standby) => adapter
            .with_standby(
                standby.conninfo.expose(),
                postgres_options(profile, standby)?,
                settings.max_replica_lag,
            )
            .map_err(client_error)?,
        None => adapter,
    };
    Ok(Arc::new(adapter))
}

/// The adapter options a profile's PostgreSQL settings give.
#[cfg(feature = "postgres")]
fn postgres_options(
    profile: &str,
    settings: &dba_config::PostgresSettings,
) -> Result<dba_postgres::PostgresOptions, ConnectError> {
    use dba_config::PoolerMode;
    use dba_postgres::{PostgresOptions, SslMode, StatementMode};

    let mut options = PostgresOptions::default();
    options.pool_size = usize::try_from(settings.pool_size).unwrap_or(options.pool_size);
    options.pipeline_depth =
        usize::try_from(settings.pipeline_depth).unwrap_or(options.pipeline_depth);
    if !settings.connect_timeout.is_zero() {
        options.connect_timeout = settings.connect_timeout;
    }
    options.statement_timeout = settings.statement_timeout;
    options.statement_mode = match settings.pooler {
        PoolerMode::Transaction => StatementMode::Unnamed,
        _ => StatementMode::Auto,
    };
    if settings.schema != dba_config::DEFAULT_SCHEMA {
        options.schema = Some(settings.schema.clone());
    }
    // Both crates spell modes as libpq does, so the text form maps one to the other.
    options.ssl_mode =
        Some(
            SslMode::parse(settings.sslmode.as_str()).map_err(|source| ConnectError::Client {
                profile: profile.to_owned(),
                source,
            })?,
        );
    options.ssl_root_cert = settings.ssl_root_cert.clone();
    Ok(options)
}

#[cfg(not(feature = "postgres"))]
fn postgres_client(
    profile: &str,
    _settings: &dba_config::PostgresSettings,
) -> Result<Client, ConnectError> {
    Err(ConnectError::BackendDisabled {
        profile: profile.to_owned(),
        provider: "postgres",
        feature: "postgres",
    })
}

#[cfg(feature = "supabase")]
fn supabase_client(
    profile: &str,
    settings: &dba_config::SupabaseSettings,
) -> Result<Client, ConnectError> {
    use dba_supabase::{SupabaseAdapter, SupabaseOptions};

    let mut options = SupabaseOptions::default();
    if settings.schema != dba_config::DEFAULT_SCHEMA {
        options = options.schema(settings.schema.clone());
    }
    if !settings.connect_timeout.is_zero() {
        options = options.connect_timeout(settings.connect_timeout);
    }
    if let Some(timeout) = settings.statement_timeout.filter(|t| !t.is_zero()) {
        options = options.request_timeout(timeout);
    }
    let adapter =
        SupabaseAdapter::new(&settings.url, settings.key.expose(), options).map_err(|source| {
            ConnectError::Client {
                profile: profile.to_owned(),
                source,
            }
        })?;
    Ok(Arc::new(adapter))
}

#[cfg(not(feature = "supabase"))]
fn supabase_client(
    profile: &str,
    _settings: &dba_config::SupabaseSettings,
) -> Result<Client, ConnectError> {
    Err(ConnectError::BackendDisabled {
        profile: profile.to_owned(),
        provider: "supabase",
        feature: "supabase",
    })
}
