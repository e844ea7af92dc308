//! `connect_and_validate`: the Python original's `ConnectionResult` flow, but it really connects.

use std::path::Path;

use dba_config::{Config, ProcessEnv, Resolver};
use dba_schema::{IntrospectOptions, ValidationResult};

use crate::factory::{Client, connect};

/// The outcome of [`connect_and_validate`], shaped like the Python original's `ConnectionResult`.
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
    /// The connected client, when the connection succeeded.
    pub client: Option<Client>,
}

/// Resolves the profile by the one rule, connects for real (an unreachable server is a failure, never
/// "connected"), validates the live schema against the config's `schema.sql` when `validate_on_connect` is
/// set and the file exists, and — unless `validate_only` — writes the `.db-profile` lock in `lock_dir` only
/// after all of that succeeded.
pub async fn connect_and_validate(
    config_path: Option<&Path>,
    profile: Option<&str>,
    env_prefix: &str,
    validate_only: bool,
    lock_dir: &Path,
) -> ConnectionResult {
    let mut result = ConnectionResult {
        profile_name: profile.map(str::to_owned),
        ..ConnectionResult::default()
    };
    let env = ProcessEnv;
    let config = match Config::discover(config_path, &env) {
        Ok(config) => config,
        Err(e) => return result.fail(e.to_string()),
    };
    let resolved = match Resolver::new()
        .env_prefix(env_prefix)
        .profile(profile)
        .lock_dir(lock_dir)
        .resolve(config.as_ref())
    {
        Ok(resolved) => resolved,
        Err(e) => return result.fail(e.to_string()),
    };
    result.profile_name = resolved.profile.clone();
    let client = match connect(&resolved).await {
        Ok(client) => client,
        Err(e) => return result.fail(format!("Failed to connect to database: {e}")),
    };
    let schema_file = config
        .as_ref()
        .filter(|c| c.validate_on_connect())
        .map(Config::schema_file);
    if let Some(file) = schema_file.filter(|f| f.exists()) {
        let expected = match dba_schema::read_schema_file(&file) {
            Ok(expected) => expected,
            Err(e) => return result.fail(e.to_string()),
        };
        let actual =
            match dba_schema::introspect(client.as_ref(), &IntrospectOptions::default()).await {
                Ok(actual) => actual,
                Err(e) => return result.fail(format!("Failed to connect to database: {e}")),
            };
        let report = dba_schema::validate(&expected.catalog, &actual);
        result.schema_valid = Some(report.valid);
        let errors = report.error_count();
        let valid = report.valid;
        result.schema_report = Some(report);
        if !valid {
            result.client = Some(client);
            return result.fail(format!("Schema validation failed: {errors} errors"));
        }
    }
    if !validate_only
        && let Some(name) = &resolved.profile
        && let Err(e) = dba_config::write_lock(lock_dir, name)
    {
        return result.fail(e.to_string());
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
            .field("connected", &self.client.is_some())
            .finish()
    }
}

impl ConnectionResult {
    fn fail(mut self, error: String) -> ConnectionResult {
        self.success = false;
        self.error = Some(error);
        self
    }
}
