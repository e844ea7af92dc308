//! `dba validate`: compare the live schema with schema.sql, or with another profile's live schema
//! (`--against`). Exit 1 on drift. Never writes the lock file.

use std::path::PathBuf;

use dba::DatabaseClient;
use dba::schema::{self, IntrospectOptions};
use serde_json::json;

use crate::cli::ValidateArgs;
use crate::cmd::Report;
use crate::ctx::{Ctx, target_name};
use crate::schemacheck;

/// The schema file: the flag, then `[schema] file` of db.toml, then an error.
pub(crate) fn schema_file(
    flag: Option<&PathBuf>,
    config: Option<&dba::config::Config>,
) -> anyhow::Result<PathBuf> {
    match (flag, config) {
        (Some(path), _) => Ok(path.clone()),
        (None, Some(config)) => Ok(config.schema_file()),
        (None, None) => anyhow::bail!(
            "No schema file available. Provide --schema-file or configure schema.file in db.toml"
        ),
    }
}

pub(crate) async fn run(ctx: &Ctx, args: &ValidateArgs) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let config = ctx.config()?;
    let resolved = ctx.resolve(config.as_ref())?;
    let name = target_name(&resolved);

    if let Some(other) = &args.against {
        let other_resolved = ctx.resolve_named(config.as_ref(), other)?;
        out.status(format!(
            "Comparing schema of profile {name} with profile {other}"
        ));
        let reference = ctx.connect(&other_resolved).await?;
        let reader = ctx.reader(&reference, other, args.primary).await;
        let reads: &dyn DatabaseClient = reader.as_ref().map_or(reference.as_ref(), |r| r.client());
        let options =
            IntrospectOptions::default().with_schemas([other_resolved.schema().to_owned()]);
        let reference_catalog = schemacheck::live(reads, &options, other).await;
        drop(reader);
        reference.close().await;
        let reference_catalog = reference_catalog?;
        let client = ctx.connect(&resolved).await?;
        let options = IntrospectOptions::for_expected(&reference_catalog, resolved.schema());
        let reader = ctx.reader(&client, &name, args.primary).await;
        let reads: &dyn DatabaseClient = reader.as_ref().map_or(client.as_ref(), |r| r.client());
        let actual = schemacheck::live(reads, &options, &name).await;
        drop(reader);
        client.close().await;
        let result = schema::validate(&reference_catalog, &actual?);
        return finish(ctx, &name, None, Some(other), &result);
    }

    out.status(format!("Validating schema for profile: {name}"));
    let path = schema_file(args.schema_file.as_ref(), config.as_ref())?;
    let mut expected = schemacheck::read_expected(out, &path, resolved.schema())?;
    let client = ctx.connect(&resolved).await?;
    schemacheck::render_views(out, client.as_ref(), &mut expected.catalog).await?;
    let options = IntrospectOptions::for_expected(&expected.catalog, resolved.schema());
    let reader = ctx.reader(&client, &name, args.primary).await;
    let reads: &dyn DatabaseClient = reader.as_ref().map_or(client.as_ref(), |r| r.client());
    let actual = schemacheck::live(reads, &options, &name).await;
    drop(reader);
    client.close().await;
    let result = schema::validate(&expected.catalog, &actual?);
    finish(ctx, &name, Some(&path), None, &result)
}

fn finish(
    ctx: &Ctx,
    name: &str,
    path: Option<&PathBuf>,
    against: Option<&String>,
    result: &schema::ValidationResult,
) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let fields = json!({
        "profile": name,
        "schema_file": path.map(|p| p.display().to_string()),
        "against": against,
        "valid": result.valid,
        "validation": schemacheck::result_json(result),
    });
    if !result.valid {
        schemacheck::print_drift(out, name, result)?;
        return Ok(Report::failed(fields));
    }
    out.success("Schema is valid")?;
    if !result.extra_tables.is_empty() {
        out.line(format!(
            "  Extra tables: {}",
            result.extra_tables.join(", ")
        ))?;
    }
    schemacheck::print_warnings(out, result)?;
    Ok(Report::ok(fields))
}
