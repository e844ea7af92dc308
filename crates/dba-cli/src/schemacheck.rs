//! Reading the expected schema and introspecting a live one, shared by connect, validate and fix.

use std::path::Path;

use anyhow::Context as _;
use dba::DatabaseClient;
use dba::schema::{self, Catalog, ExpectedSchema, IntrospectOptions, ValidationResult};
use serde_json::{Value, json};

use crate::output::Out;

/// Parses a schema file whose unqualified names are in `profile_schema` (the profile's `schema` setting),
/// listing the statements it skipped with `-v`.
pub(crate) fn read_expected(
    out: &Out,
    path: &Path,
    profile_schema: &str,
) -> anyhow::Result<ExpectedSchema> {
    let expected = schema::read_schema_file_in(path, profile_schema)?;
    print_skipped(out, path, &expected.skipped);
    Ok(expected)
}

/// Lists, with `-v`, the statements of the schema file at `path` that were skipped.
pub(crate) fn print_skipped(out: &Out, path: &Path, skipped: &[schema::SkippedStatement]) {
    for s in skipped {
        out.verbose(format!(
            "{}:{}: skipped {}: {}",
            path.display(),
            s.line,
            s.statement,
            s.reason
        ));
    }
}

/// Lets PostgreSQL render the expected views through `client`, so that they compare by what their queries
/// mean; lists the views it could not render with `-v`.
pub(crate) async fn render_views(
    out: &Out,
    client: &dyn DatabaseClient,
    expected: &mut Catalog,
) -> anyhow::Result<()> {
    let not_rendered = schema::render_views(client, expected)
        .await
        .context("failed to render the expected views")?;
    for (view, reason) in not_rendered {
        out.verbose(format!(
            "view {view} is compared by its text: PostgreSQL could not create it: {reason}"
        ));
    }
    Ok(())
}

/// Introspects the live schema through `client`.
pub(crate) async fn live(
    client: &dyn DatabaseClient,
    options: &IntrospectOptions,
    what: &str,
) -> anyhow::Result<Catalog> {
    schema::introspect(client, options)
        .await
        .with_context(|| format!("failed to read the schema of {what}"))
}

/// The comparison for `--json`.
pub(crate) fn result_json(result: &ValidationResult) -> Value {
    let errors: Vec<String> = result.errors().map(ToString::to_string).collect();
    let warnings: Vec<String> = result.warnings().map(ToString::to_string).collect();
    json!({
        "valid": result.valid,
        "error_count": result.error_count(),
        "missing_tables": result.missing_tables,
        "missing_columns": result.missing_columns.iter()
            .map(|c| json!({"table": c.table, "column": c.column}))
            .collect::<Vec<_>>(),
        "extra_tables": result.extra_tables,
        "errors": errors,
        "warnings": warnings,
        "differences": result.differences,
        "report": result.format_report(),
    })
}

/// The failure block of the original: `x Connected to profile: p`, a blank line,
/// `Schema validation report:` and the report.
pub(crate) fn print_drift(out: &Out, name: &str, result: &ValidationResult) -> std::io::Result<()> {
    out.blank()?;
    out.failure(format!("Connected to profile: {name}"))?;
    out.blank()?;
    out.line("Schema validation report:")?;
    out.line(result.format_report())
}

/// The warnings section of a valid result (extra columns, constraints, indexes), when there is one.
pub(crate) fn print_warnings(out: &Out, result: &ValidationResult) -> std::io::Result<()> {
    let warnings: Vec<String> = result.warnings().map(|d| format!("    - {d}")).collect();
    if warnings.is_empty() {
        return Ok(());
    }
    out.line(format!("  Warnings ({}):", warnings.len()))?;
    for warning in warnings {
        out.line(warning)?;
    }
    Ok(())
}
