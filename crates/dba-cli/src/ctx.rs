//! What every command shares: the global options, the output, the config file and the one profile rule.

use std::path::PathBuf;

use anyhow::Context as _;
use dba::config::{Config, ConfigError, Connection, ProcessEnv, Resolved, Resolver, Source};

use crate::cli::GlobalArgs;
use crate::output::Out;
use crate::redact;

/// The shared state of one run.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) global: GlobalArgs,
    pub(crate) out: Out,
    pub(crate) cwd: PathBuf,
}

impl Ctx {
    pub(crate) fn new(global: GlobalArgs) -> anyhow::Result<Ctx> {
        let out = Out::new(global.json, global.verbose);
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        Ok(Ctx { global, out, cwd })
    }

    /// The config file: `--config`/`DBA_CONFIG` (must exist), else `./db.toml` (may be missing).
    pub(crate) fn config(&self) -> anyhow::Result<Option<Config>> {
        let config = Config::discover(self.global.config.as_deref(), &ProcessEnv)?;
        match &config {
            Some(config) => {
                self.out
                    .verbose(format!("config: {}", config.path().display()));
                for warning in config.warnings() {
                    self.out.warn(warning);
                }
            }
            None => self
                .out
                .verbose("config: no db.toml in the current directory"),
        }
        Ok(config)
    }

    /// The config file, which this command cannot do without.
    pub(crate) fn require_config(&self) -> anyhow::Result<Config> {
        match self.config()? {
            Some(config) => Ok(config),
            None => Err(ConfigError::NotFound {
                path: Config::locate(self.global.config.as_deref()),
            }
            .into()),
        }
    }

    /// The resolver of the one profile rule, configured from the global options.
    pub(crate) fn resolver(&self) -> Resolver {
        Resolver::new()
            .env_prefix(self.global.env_prefix.clone())
            .profile(self.global.profile.clone())
            .lock_dir(self.cwd.clone())
    }

    /// Resolves the database this command works on.
    pub(crate) fn resolve(&self, config: Option<&Config>) -> anyhow::Result<Resolved> {
        let resolved = self.resolver().resolve(config)?;
        self.note_resolved(&resolved);
        Ok(resolved)
    }

    /// Resolves a profile named on the command line (sync's source, validate's `--against`).
    pub(crate) fn resolve_named(
        &self,
        config: Option<&Config>,
        name: &str,
    ) -> anyhow::Result<Resolved> {
        let resolver = Resolver::new()
            .env_prefix(self.global.env_prefix.clone())
            .profile(Some(name))
            .lock_dir(self.cwd.clone());
        let resolved = resolver.resolve(config)?;
        self.note_resolved(&resolved);
        Ok(resolved)
    }

    /// Registers the resolved secrets for redaction and reports the choice (warnings, and with `-v`).
    pub(crate) fn note_resolved(&self, resolved: &Resolved) {
        redact::register_resolved(resolved);
        for warning in &resolved.warnings {
            self.out.warn(warning);
        }
        self.out.verbose(format!(
            "database: {} (chosen by {})",
            resolved.display_target(),
            resolved.source
        ));
        if let Connection::Postgres(pg) = &resolved.connection {
            self.out.verbose(format!("connection: {}", pg.redacted()));
            if let Some(standby) = &pg.read_replica {
                self.out.verbose(format!(
                    "standby: {} (max_replica_lag {} s)",
                    standby.redacted(),
                    pg.max_replica_lag.as_secs_f64()
                ));
            }
        }
    }

    /// Where this command's reads that need no fresh write run: the standby's reader when the profile
    /// has a standby that keeps up and `primary` (`--primary`) is not set, else `None` (read from the
    /// client). Says which with `-v`; a standby passed over is a warning, never an error.
    pub(crate) async fn reader(
        &self,
        client: &dba::Client,
        name: &str,
        primary: bool,
    ) -> Option<dba::Reader> {
        if primary {
            self.out
                .verbose(format!("reading {name} from the primary (--primary)"));
            return None;
        }
        let Some(reader) = client.reader().await else {
            self.out.verbose(format!(
                "reading {name} from the primary (no read_url in the profile)"
            ));
            return None;
        };
        if let Some(why) = reader.fallback() {
            self.out.warn(why);
        }
        self.out.verbose(format!(
            "reading {name} from the {}: {}",
            reader.target(),
            reader.server()
        ));
        Some(reader)
    }

    /// Builds the client and proves the database answers.
    pub(crate) async fn connect(&self, resolved: &Resolved) -> anyhow::Result<dba::Client> {
        let started = std::time::Instant::now();
        let client = dba::connect(resolved).await?;
        self.out.verbose(format!(
            "connected to {} in {} ms",
            resolved.display_target(),
            started.elapsed().as_millis()
        ));
        Ok(client)
    }
}

/// The profile name for messages: the profile, or the redacted URL.
pub(crate) fn target_name(resolved: &Resolved) -> String {
    resolved.display_target()
}

/// How the resolution rule's choice is described in `status`.
pub(crate) fn source_label(source: &Source) -> String {
    match source {
        Source::ExplicitProfile => "--profile".to_owned(),
        Source::ExplicitUrl => "explicit url".to_owned(),
        Source::EnvProfile { var } => format!("{var} (environment)"),
        Source::LockFile { .. } => ".db-profile (validated)".to_owned(),
        Source::EnvUrl { var } => format!("{var} (environment)"),
        _ => source.to_string(),
    }
}
