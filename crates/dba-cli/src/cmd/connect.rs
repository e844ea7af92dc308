//! `dba connect`: really connect, validate the schema when configured, then remember the profile. The work
//! is the facade's [`dba::connect_and_validate_with`]; this module reports it.

use dba::ConnectOptions;
use serde_json::{Value, json};

use crate::cmd::Report;
use crate::counts;
use crate::ctx::{Ctx, target_name};
use crate::schemacheck;

pub(crate) async fn run(ctx: &Ctx) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let config = ctx.config()?;
    out.status("Connecting to database...");
    let options = ConnectOptions::new(&ctx.cwd)
        .profile(ctx.global.profile.clone())
        .env_prefix(ctx.global.env_prefix.clone());
    let started = std::time::Instant::now();
    let mut result = dba::connect_and_validate_with(config.as_ref(), &options).await;
    if let Some(resolved) = &result.resolved {
        ctx.note_resolved(resolved);
    }
    if let Some(path) = &result.schema_file {
        schemacheck::print_skipped(out, path, &result.skipped_statements);
    }
    for (view, reason) in &result.views_not_rendered {
        out.verbose(format!(
            "view {view} is compared by its text: PostgreSQL could not create it: {reason}"
        ));
    }
    if let Some(failure) = result.failure.take() {
        if let Some(client) = result.client.take() {
            client.close().await;
        }
        return Err(failure.into());
    }
    let (Some(resolved), Some(client)) = (result.resolved.as_ref(), result.client.take()) else {
        anyhow::bail!(
            "{}",
            result
                .error
                .unwrap_or_else(|| "the connection failed".to_owned())
        );
    };
    let name = target_name(resolved);
    out.verbose(format!(
        "connected to {name} and checked it in {} ms",
        started.elapsed().as_millis()
    ));
    let schema_file = result.schema_file.as_ref().map(|p| p.display().to_string());
    if let Some(report) = result.schema_report.as_ref().filter(|r| !r.valid) {
        client.close().await;
        schemacheck::print_drift(out, &name, report)?;
        return Ok(Report::failed(json!({
            "profile": resolved.profile,
            "target": name,
            "source": resolved.source.to_string(),
            "schema_file": schema_file,
            "schema_validation": "failed",
            "validation": schemacheck::result_json(report),
            "lock_written": false,
        })));
    }

    let counts = match counts::row_counts(client.as_ref(), resolved.schema()).await {
        Ok(counts) => counts.unwrap_or_default(),
        Err(err) => {
            out.warn(format!("could not count rows: {err}"));
            Vec::new()
        }
    };
    client.close().await;

    out.blank()?;
    match &resolved.profile {
        Some(profile) => out.success(format!("Connected to profile: {profile}"))?,
        None => out.success(format!("Connected to database: {name}"))?,
    }
    match (&result.schema_report, result.skip_reason) {
        (Some(report), _) => {
            out.line("  Schema validation: PASSED")?;
            if !report.extra_tables.is_empty() {
                out.line(format!(
                    "  Extra tables: {}",
                    report.extra_tables.join(", ")
                ))?;
            }
            schemacheck::print_warnings(out, report)?;
        }
        (None, Some(reason)) => {
            out.line(format!(
                "  Connected ({reason} -- schema validation skipped)"
            ))?;
        }
        (None, None) => {}
    }
    counts::print_counts(out, &counts)?;
    if let (Some(old), Some(new)) = (&result.switched_from, &resolved.profile) {
        out.blank()?;
        out.line(format!("Switched from {old} to {new}"))?;
    }

    Ok(Report::ok(json!({
        "profile": resolved.profile,
        "target": name,
        "source": resolved.source.to_string(),
        "schema_file": schema_file,
        "schema_validation": if result.schema_report.is_some() { "passed" } else { "skipped" },
        "skip_reason": result.skip_reason,
        "validation": result.schema_report.as_ref().map_or(Value::Null, schemacheck::result_json),
        "tables": counts::counts_json(&counts),
        "lock_written": result.lock_written,
        "switched_from": result.switched_from,
    })))
}
