//! `dba connect`: really connect, validate the schema when configured, then remember the profile.

use dba::config::{lock, read_lock};
use dba::schema;
use serde_json::{Value, json};

use crate::cmd::Report;
use crate::counts;
use crate::ctx::{Ctx, schema_of, target_name};
use crate::schemacheck;

pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let previous = read_lock(&ctx.cwd)?;
    let config = ctx.config()?;
    let resolved = ctx.resolve(config.as_ref())?;
    let name = target_name(&resolved);
    out.status("Connecting to database...");

    // Decide on validation before connecting, so a bad schema file fails fast.
    let mut expected = None;
    let skip_reason = match &config {
        None => Some("no config found"),
        Some(config) if !config.validate_on_connect() => {
            Some("schema validation disabled in config")
        }
        Some(config) => {
            let path = config.schema_file();
            if path.exists() {
                expected = Some((
                    path.clone(),
                    schemacheck::read_expected(out, &path, &schema_of(&resolved))?,
                ));
                None
            } else {
                out.verbose(format!("schema file {} does not exist", path.display()));
                Some("schema file not found")
            }
        }
    };

    let client = ctx.connect(&resolved).await?;
    let mut validation = None;
    if let Some((path, expected)) = &mut expected {
        schemacheck::render_views(out, client.as_ref(), &mut expected.catalog).await?;
        let schemas = schemacheck::schemas_for(Some(&expected.catalog), &schema_of(&resolved));
        let actual = schemacheck::live(client.as_ref(), schemas, &name).await?;
        let result = schema::validate(&expected.catalog, &actual);
        if !result.valid {
            schemacheck::print_drift(out, &name, &result)?;
            client.close().await;
            return Ok(Report::failed(json!({
                "profile": resolved.profile,
                "target": name,
                "source": resolved.source.to_string(),
                "schema_file": path.display().to_string(),
                "schema_validation": "failed",
                "validation": schemacheck::result_json(&result),
                "lock_written": false,
            })));
        }
        validation = Some(result);
    }

    let counts = match counts::row_counts(client.as_ref(), &schema_of(&resolved)).await {
        Ok(counts) => counts.unwrap_or_default(),
        Err(err) => {
            out.warn(format!("could not count rows: {err}"));
            Vec::new()
        }
    };
    client.close().await;

    // Only now, after a real connection and a passing validation, is the profile remembered.
    let mut lock_written = false;
    if let Some(profile) = &resolved.profile {
        lock::write_lock(&ctx.cwd, profile)?;
        lock_written = true;
    }

    out.blank()?;
    match &resolved.profile {
        Some(profile) => out.success(format!("Connected to profile: {profile}"))?,
        None => out.success(format!("Connected to database: {name}"))?,
    }
    match (&validation, skip_reason) {
        (Some(result), _) => {
            out.line("  Schema validation: PASSED")?;
            if !result.extra_tables.is_empty() {
                out.line(format!(
                    "  Extra tables: {}",
                    result.extra_tables.join(", ")
                ))?;
            }
            schemacheck::print_warnings(out, result)?;
        }
        (None, Some(reason)) => {
            out.line(format!(
                "  Connected ({reason} -- schema validation skipped)"
            ))?;
        }
        (None, None) => {}
    }
    counts::print_counts(out, &counts)?;
    let switched_from = match (&previous, &resolved.profile) {
        (Some(old), Some(new)) if old != new => {
            out.blank()?;
            out.line(format!("Switched from {old} to {new}"))?;
            Some(old.clone())
        }
        _ => None,
    };

    Ok(Report::ok(json!({
        "profile": resolved.profile,
        "target": name,
        "source": resolved.source.to_string(),
        "schema_file": expected.as_ref().map(|(p, _)| p.display().to_string()),
        "schema_validation": if validation.is_some() { "passed" } else { "skipped" },
        "skip_reason": skip_reason,
        "validation": validation.as_ref().map_or(Value::Null, schemacheck::result_json),
        "tables": counts::counts_json(&counts),
        "lock_written": lock_written,
        "switched_from": switched_from,
    })))
}
