//! `connect_and_validate`: the Python original's `ConnectionResult` flow, but it really connects.

use std::path::{Path, PathBuf};

use dba_config::{Config, ProcessEnv, Resolved, Resolver};
use dba_schema::{ExpectedSchema, IntrospectOptions, SkippedStatement, ValidationResult};

use crate::factory::{Client, ConnectError, connect};

/// The outcome of [`connect_and_validate`], shaped like the Python original's `ConnectionResult`, plus what
/// a caller needs to report it (the `dba connect` command is one).
#[derive(Default)]
#[non_exhaustive]
pub struct ConnectionResult {
    /// Connected, and the schema matched when it was checked.
    pub success: bool,
    /// The profile that was resolved, when one was.
    pub profile_name: Option<String>,
    /// `Some(valid)` when the schema was checked, `None` in connection-only mode.
    pub schema_valid: Option<bool>,
    /// The validation report, when the schema was checked.
    pub schema_report: Option<ValidationResult>,
    /// What went wrong, in the original's words where it had them.
    pub error: Option<String>,
    /// Why it went wrong, as a typed error, when it was not schema drift (drift is in `schema_report`).
    pub failure: Option<ConnectError>,
    /// The connected client, when the connection succeeded.
    pub client: Option<Client>,
    /// The database the one rule selected, and why, when resolution succeeded.
    pub resolved: Option<Resolved>,
    /// The schema file the live schema was validated against, when it was.
    pub schema_file: Option<PathBuf>,
    /// Why the schema was not validated: `no config found`, `schema validation disabled in config` or
    /// `schema file not found` (the original's reasons).
    pub skip_reason: Option<&'static str>,
    /// Statements of the schema file that do not contribute to the expected schema, with why.
    pub skipped_statements: Vec<SkippedStatement>,
    /// The expected views PostgreSQL could not render (they are compared by name only), with the reason.
    pub views_not_rendered: std::collections::BTreeMap<String, String>,
    /// Whether the `.db-profile` lock was written.
    pub lock_written: bool,
    /// The profile the lock named before, when writing it switched to another one.
    pub switched_from: Option<String>,
}

/// Which database [`connect_and_validate_with`] connects to, and where its lock lives.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectOptions {
    /// The profile to use, beating every other rule.
    pub profile: Option<String>,
    /// The prefix of `DB_PROFILE` and `DATABASE_URL` (`MC_` reads `MC_DB_PROFILE`).
    pub env_prefix: String,
    /// The folder of the `.db-profile` lock, read by the profile rule and written after success.
    pub lock_dir: PathBuf,
    /// Check only: never write the lock.
    pub validate_only: bool,
}

impl ConnectOptions {
    /// No explicit profile, no prefix, the lock in `lock_dir`, which is written after success.
    pub fn new(lock_dir: impl Into<PathBuf>) -> ConnectOptions {
        ConnectOptions {
            profile: None,
            env_prefix: String::new(),
            lock_dir: lock_dir.into(),
            validate_only: false,
        }
    }

    /// The profile to use, beating every other rule.
    pub fn profile(mut self, profile: Option<impl Into<String>>) -> ConnectOptions {
        self.profile = profile.map(Into::into);
        self
    }

    /// The prefix of `DB_PROFILE` and `DATABASE_URL`.
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> ConnectOptions {
        self.env_prefix = prefix.into();
        self
    }

    /// Check only: never write the lock.
    pub fn validate_only(mut self, validate_only: bool) -> ConnectOptions {
        self.validate_only = validate_only;
        self
    }
}

/// Loads the config (`config_path`, else `DBA_CONFIG`, else `./db.toml`) and runs
/// [`connect_and_validate_with`].
pub async fn connect_and_validate(
    config_path: Option<&Path>,
    profile: Option<&str>,
    env_prefix: &str,
    validate_only: bool,
    lock_dir: &Path,
) -> ConnectionResult {
    let options = ConnectOptions::new(lock_dir)
        .profile(profile)
        .env_prefix(env_prefix)
        .validate_only(validate_only);
    match Config::discover(config_path, &ProcessEnv) {
        Ok(config) => connect_and_validate_with(config.as_ref(), &options).await,
        Err(e) => ConnectionResult {
            profile_name: profile.map(str::to_owned),
            ..ConnectionResult::default()
        }
        .fail(e.into()),
    }
}

/// Resolves the profile by the one rule, reads `[schema] file` when `validate_on_connect` is set and the
/// file exists (a file that does not parse is a failure naming the file, line and column, before any
/// connection), connects for real (an unreachable server is a failure, never "connected"), validates the
/// live schema of the schemas the file names (else the profile's) and, unless `validate_only`, writes the
/// `.db-profile` lock only after all of that succeeded. Without a config there is nothing to validate.
pub async fn connect_and_validate_with(
    config: Option<&Config>,
    options: &ConnectOptions,
) -> ConnectionResult {
    let mut result = ConnectionResult {
        profile_name: options.profile.clone(),
        ..ConnectionResult::default()
    };
    let previous = match dba_config::read_lock(&options.lock_dir) {
        Ok(previous) => previous,
        Err(e) => return result.fail(e.into()),
    };
    let resolved = match Resolver::new()
        .env_prefix(options.env_prefix.clone())
        .profile(options.profile.clone())
        .lock_dir(options.lock_dir.clone())
        .resolve(config)
    {
        Ok(resolved) => resolved,
        Err(e) => return result.fail(e.into()),
    };
    result.profile_name = resolved.profile.clone();
    let target = resolved.display_target();
    let profile_schema = resolved.schema().to_owned();
    result.resolved = Some(resolved);

    let mut expected: Option<ExpectedSchema> = None;
    match config {
        None => result.skip_reason = Some("no config found"),
        Some(config) if !config.validate_on_connect() => {
            result.skip_reason = Some("schema validation disabled in config");
        }
        Some(config) => {
            let file = config.schema_file();
            if file.exists() {
                match dba_schema::read_schema_file_in(&file, &profile_schema) {
                    Ok(schema) => {
                        result.skipped_statements = schema.skipped.clone();
                        expected = Some(schema);
                        result.schema_file = Some(file);
                    }
                    Err(e) => return result.fail(ConnectError::Schema(Box::new(e))),
                }
            } else {
                result.skip_reason = Some("schema file not found");
            }
        }
    }

    let Some(resolved) = &result.resolved else {
        return result;
    };
    let client = match connect(resolved).await {
        Ok(client) => client,
        Err(e) => return result.fail(e),
    };
    if let Some(expected) = &mut expected {
        // PostgreSQL renders the expected views, so they compare by what their queries mean.
        match dba_schema::render_views(client.as_ref(), &mut expected.catalog).await {
            Ok(not_rendered) => result.views_not_rendered = not_rendered,
            Err(source) => {
                client.close().await;
                return result.fail(ConnectError::Introspect {
                    profile: target,
                    source: Box::new(source),
                });
            }
        }
        let options = IntrospectOptions::for_expected(&expected.catalog, &profile_schema);
        let actual = match dba_schema::introspect(client.as_ref(), &options).await {
            Ok(actual) => actual,
            Err(source) => {
                client.close().await;
                return result.fail(ConnectError::Introspect {
                    profile: target,
                    source: Box::new(source),
                });
            }
        };
        let report = dba_schema::validate(&expected.catalog, &actual);
        let valid = report.valid;
        let errors = report.error_count();
        result.schema_valid = Some(valid);
        result.schema_report = Some(report);
        if !valid {
            result.client = Some(client);
            result.error = Some(format!("Schema validation failed: {errors} errors"));
            return result;
        }
    }
    if !options.validate_only
        && let Some(name) = result.profile_name.clone()
    {
        if let Err(e) = dba_config::write_lock(&options.lock_dir, &name) {
            client.close().await;
            return result.fail(e.into());
        }
        result.lock_written = true;
        result.switched_from = previous.filter(|old| *old != name);
    }
    result.success = true;
    result.client = Some(client);
    result
}

impl std::fmt::Debug for ConnectionResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionResult")
            .field("success", &self.success)
            .field("profile_name", &self.profile_name)
            .field("schema_valid", &self.schema_valid)
            .field("schema_report", &self.schema_report)
            .field("error", &self.error)
            .field("failure", &self.failure)
            .field("connected", &self.client.is_some())
            .field("resolved", &self.resolved)
            .field("schema_file", &self.schema_file)
            .field("skip_reason", &self.skip_reason)
            .field("skipped_statements", &self.skipped_statements)
            .field("views_not_rendered", &self.views_not_rendered)
            .field("lock_written", &self.lock_written)
            .field("switched_from", &self.switched_from)
            .finish()
    }
}

impl ConnectionResult {
    /// A failure other than drift: the original's words in `error`, the typed reason in `failure`.
    fn fail(mut self, failure: ConnectError) -> ConnectionResult {
        let text = dba_core::chain_text(&failure);
        self.success = false;
        self.error = Some(match &failure {
            ConnectError::Client { .. } | ConnectError::Introspect { .. } => {
                format!("Failed to connect to database: {text}")
            }
            _ => text,
        });
        self.failure = Some(failure);
        self
    }
}
