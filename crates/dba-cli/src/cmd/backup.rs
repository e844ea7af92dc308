//! `dba backup`: back up one user's rows of the backup-schema tables, or check a backup file offline
//! (`--validate FILE`). Also the pre-fix backup of `dba fix`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use dba::backup::{self, BackupOptions, BackupSchema};
use dba::config::Config;
use dba::{DatabaseClient, TableName};
use serde_json::{Value, json};

use crate::cli::BackupArgs;
use crate::cmd::Report;
use crate::ctx::{Ctx, target_name};
use crate::progress::TableBars;

/// The backup-schema path: the flag, then `[schema] backup_schema`, then `None`.
pub(crate) fn backup_schema_path(
    flag: Option<&PathBuf>,
    config: Option<&Config>,
) -> Option<PathBuf> {
    flag.cloned()
        .or_else(|| config.and_then(Config::backup_schema))
}

/// Loads the backup schema, with the original's three error texts.
pub(crate) fn load_backup_schema(
    flag: Option<&PathBuf>,
    config: Option<&Config>,
) -> anyhow::Result<(PathBuf, BackupSchema)> {
    let Some(path) = backup_schema_path(flag, config) else {
        anyhow::bail!(
            "No backup schema available. Provide --backup-schema or configure schema.backup_schema in db.toml"
        );
    };
    if !path.exists() {
        anyhow::bail!("Backup schema file not found: {}", path.display());
    }
    let schema = BackupSchema::from_file(&path).context("Failed to load backup schema")?;
    Ok((path, schema))
}

/// The user id: `--user-id`, then the variable named by `[defaults] user_id_env` (empty counts as unset).
pub(crate) fn user_id(flag: Option<&String>, config: Option<&Config>) -> Option<String> {
    if let Some(id) = flag.filter(|id| !id.is_empty()) {
        return Some(id.clone());
    }
    let var = config.and_then(Config::user_id_env)?;
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// The user id, or the original's error naming the flag and the config key.
pub(crate) fn require_user_id(
    flag: Option<&String>,
    config: Option<&Config>,
) -> anyhow::Result<String> {
    if let Some(id) = user_id(flag, config) {
        return Ok(id);
    }
    match config.and_then(Config::user_id_env) {
        Some(var) => anyhow::bail!("No user ID available. Set {var} or pass --user-id"),
        None => anyhow::bail!(
            "No user ID available. Provide --user-id or configure defaults.user_id_env in db.toml"
        ),
    }
}

/// `--tables a,b` as a list: split on `,`, each item trimmed.
pub(crate) fn split_tables(tables: &str) -> Vec<String> {
    tables.split(',').map(|t| t.trim().to_owned()).collect()
}

pub(crate) async fn run(ctx: &Ctx, args: &BackupArgs) -> anyhow::Result<Report> {
    let config = ctx.config()?;
    if let Some(file) = &args.validate {
        return validate(ctx, args, config.as_ref(), file);
    }
    let out = &ctx.out;
    let (schema_path, mut schema) =
        load_backup_schema(args.backup_schema.as_ref(), config.as_ref())?;
    let user = require_user_id(args.user_id.as_ref(), config.as_ref())?;
    let resolved = ctx.resolve(config.as_ref())?;
    // Unqualified names are the profile's schema's tables; others are named schema.table from here on.
    let home = resolved.schema().to_owned();
    schema = schema
        .in_schema(Some(&home))
        .context("Failed to load backup schema")?;
    if let Some(tables) = &args.tables {
        let names = split_tables(tables);
        let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
        let keys: Vec<String> = names.iter().map(|n| schema.key_for(n)).collect();
        for def in &schema.tables {
            if !keys.contains(&def.name) {
                continue;
            }
            for reference in &def.parents {
                if !keys.contains(&reference.table) {
                    out.warn(format!(
                        "Table '{}' has parent '{}' which is not in --tables list; its references are kept as they are",
                        def.name, reference.table
                    ));
                }
            }
        }
        schema = schema.subset(&wanted)?;
    }
    let name = target_name(&resolved);
    let client = ctx.connect(&resolved).await.context("Failed to connect")?;
    let path = match &args.output {
        Some(path) => path.clone(),
        None => backup::default_backup_path(
            &ctx.cwd.join("backups"),
            resolved.profile.as_deref().unwrap_or("database"),
            false,
        ),
    };
    out.status("Creating backup...");
    let options = BackupOptions {
        user_id: Some(Value::from(user.as_str())),
        schema: Some(home),
        ..BackupOptions::default()
    };
    let reader = ctx.reader(&client, &name, args.primary).await;
    let reads: &dyn DatabaseClient = reader.as_ref().map_or(client.as_ref(), |r| r.client());
    let bars = TableBars::new(out);
    let result = backup::backup(reads, &schema, &path, &options, &bars).await;
    drop(reader);
    bars.finish();
    client.close().await;
    let report = result.context("Backup failed")?;
    out.success(format!("Backup saved to: {}", report.path.display()))?;
    for (table, rows) in &report.counts {
        out.line(format!("  {table}: backed up ({rows} rows)"))?;
    }
    Ok(Report::ok(json!({
        "profile": name,
        "backup_schema": schema_path.display().to_string(),
        "user_id": user,
        "path": report.path.display().to_string(),
        "tables": report.counts.iter().map(|(t, n)| (t.clone(), json!(n))).collect::<serde_json::Map<_, _>>(),
    })))
}

/// `backup --validate FILE`: offline, no user id needed.
fn validate(
    ctx: &Ctx,
    args: &BackupArgs,
    config: Option<&Config>,
    file: &Path,
) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let (schema_path, schema) = load_backup_schema(args.backup_schema.as_ref(), config)?;
    // Offline, but the file names tables relative to the profile's schema when one is selected (quietly:
    // no profile is needed to check a file).
    let home = ctx.resolver().resolve(config).map_or_else(
        |_| dba::config::DEFAULT_SCHEMA.to_owned(),
        |r| r.schema().to_owned(),
    );
    let schema = schema
        .in_schema(Some(&home))
        .context("Failed to load backup schema")?;
    let report = backup::validate_backup(file, &schema);
    if report.valid {
        out.success(format!("Backup is valid: {}", file.display()))?;
    } else {
        out.failure(format!("Backup is invalid: {}", file.display()))?;
    }
    if !report.errors.is_empty() {
        out.line("Errors:")?;
        for error in &report.errors {
            out.line(format!("  - {error}"))?;
        }
    }
    if !report.warnings.is_empty() {
        out.line("Warnings:")?;
        for warning in &report.warnings {
            out.line(format!("  - {warning}"))?;
        }
    }
    let fields = json!({
        "file": file.display().to_string(),
        "backup_schema": schema_path.display().to_string(),
        "valid": report.valid,
        "errors": report.errors,
        "warnings": report.warnings,
    });
    Ok(if report.valid {
        Report::ok(fields)
    } else {
        Report::failed(fields)
    })
}

/// The pre-fix backup of the original (§5.7): only the configured backup schema, only with a user id; a
/// missing piece is a warning and the fix goes on (no fix step can lose rows, so the backup is a
/// convenience, not a safety net). A failing backup aborts the fix. Tables the fix is about to create are
/// left out, since they cannot be backed up yet. Returns the file written.
pub(crate) async fn pre_fix_backup(
    ctx: &Ctx,
    config: Option<&Config>,
    client: &dyn DatabaseClient,
    profile: &str,
    home: &str,
    existing_tables: &[String],
) -> anyhow::Result<Option<PathBuf>> {
    let out = &ctx.out;
    let Some(path) = backup_schema_path(None, config) else {
        out.warn("No backup_schema configured -- skipping auto-backup");
        return Ok(None);
    };
    let schema = match BackupSchema::from_file(&path) {
        Ok(schema) => schema,
        Err(err) => {
            out.warn(format!(
                "Failed to load backup schema: {} -- skipping auto-backup",
                crate::exit::render(&err.into())
            ));
            return Ok(None);
        }
    };
    let Some(user) = user_id(None, config) else {
        out.warn("No user_id available -- skipping auto-backup");
        return Ok(None);
    };
    let schema = match schema.in_schema(Some(home)) {
        Ok(schema) => schema,
        Err(err) => {
            out.warn(format!(
                "Failed to load backup schema: {} -- skipping auto-backup",
                crate::exit::render(&err.into())
            ));
            return Ok(None);
        }
    };
    // The catalog keys tables as `name` in public and `schema.name` elsewhere; the backup schema keys
    // them relative to the profile's schema.
    let existing: Vec<String> = existing_tables
        .iter()
        .filter_map(|k| {
            let (schema_name, table) = k.split_once('.').unwrap_or(("public", k));
            TableName::exact(Some(schema_name), table).ok()
        })
        .map(|t| schema.key_for(&t.to_string()))
        .collect();
    let present: Vec<&str> = schema
        .tables
        .iter()
        .map(|t| t.name.as_str())
        .filter(|t| existing.iter().any(|e| e == t))
        .collect();
    let schema = if present.len() == schema.tables.len() {
        schema
    } else {
        schema.subset(&present)?
    };
    let file = ctx.cwd.join("backups").join(format!(
        "pre-fix-{profile}-{}.json",
        crate::output::timestamp()
    ));
    out.status("Creating pre-fix backup...");
    let options = BackupOptions {
        user_id: Some(Value::from(user)),
        schema: Some(home.to_owned()),
        ..BackupOptions::default()
    };
    let bars = TableBars::new(out);
    let result = backup::backup(client, &schema, &file, &options, &bars).await;
    bars.finish();
    match result {
        Ok(report) => {
            out.status(format!("Backup saved to: {}", report.path.display()));
            Ok(Some(report.path))
        }
        Err(err) => Err(anyhow::Error::new(err)
            .context("Auto-backup failed")
            .context("Aborting fix -- backup must succeed before applying changes")),
    }
}
