//! `dba fix`: plan the repair of schema drift, preview it, and apply it in one verified transaction with
//! `--confirm` (or an interactive yes). Additive steps only, unless `--allow-hazard` raises the ceiling.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use dba::schema::{
    self, ApplyOptions, Catalog, FixPlan, Hazard, IntrospectOptions, PlanOptions, StepKind,
    ValidationResult,
};
use serde_json::{Value, json};

use crate::cli::{FixArgs, HazardLevel};
use crate::cmd::{Report, backup};
use crate::ctx::{Ctx, schema_of, target_name};
use crate::prompt::{self, Answer};
use crate::{progress, schemacheck};

pub(crate) async fn run(ctx: &Ctx, args: &FixArgs) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let config = ctx.config()?;
    let resolved = ctx.resolve(config.as_ref())?;
    let name = target_name(&resolved);
    out.status(format!("Analyzing schema for profile: {name}"));

    let schema_path =
        crate::cmd::validate::schema_file(args.schema_file.as_ref(), config.as_ref())?;
    let mut expected = schemacheck::read_expected(out, &schema_path, &schema_of(&resolved))?;
    let defs_path: Option<PathBuf> = args
        .column_defs
        .clone()
        .or_else(|| config.as_ref().and_then(|c| c.column_defs()));
    let column_defs: BTreeMap<String, String> = match &defs_path {
        Some(path) => schema::read_column_defs(path).context("Error reading column definitions")?,
        None => BTreeMap::new(),
    };

    let client = ctx.connect(&resolved).await?;
    schemacheck::render_views(out, client.as_ref(), &mut expected.catalog).await?;
    let schemas = schemacheck::schemas_for(Some(&expected.catalog), &schema_of(&resolved));
    let actual = schemacheck::live(client.as_ref(), schemas.clone(), &name).await?;
    let max_hazard = args.allow_hazard.map_or(Hazard::None, HazardLevel::hazard);
    let options = PlanOptions {
        max_hazard,
        column_defs,
        introspect: IntrospectOptions::default().with_schemas(schemas),
    };
    let plan = schema::plan_fix(&expected.catalog, &actual, &options)?;
    let before = schema::validate(&plan.target, &actual);
    let mut fields = json!({
        "profile": name,
        "schema_file": schema_path.display().to_string(),
        "column_defs": defs_path.as_ref().map(|p| p.display().to_string()),
        "allow_hazard": args.allow_hazard.map(HazardLevel::as_str),
        "valid": before.valid,
        "validation": schemacheck::result_json(&before),
        "plan": plan_json(&plan),
        "applied": false,
    });

    if before.valid && !plan.has_fixes() {
        client.close().await;
        out.success("Schema is valid - no fixes needed")?;
        return Ok(Report::ok(fields));
    }
    print_preview(ctx, &plan, &before)?;
    if !plan.has_fixes() {
        client.close().await;
        out.blank()?;
        out.failure("No fix can be planned without a hazard opt-in (see above)")?;
        return Ok(Report::failed(fields));
    }

    let confirmed = args.confirm
        || match prompt::confirm(&format!("Apply {} step(s) to {name}?", plan.fix_count())) {
            Answer::Yes => true,
            Answer::No | Answer::NoTerminal => false,
        };
    if !confirmed {
        client.close().await;
        out.blank()?;
        out.line("To apply fixes, add --confirm flag.")?;
        return Ok(Report::ok(fields));
    }

    out.blank()?;
    out.status("Applying fixes...");
    if !args.no_backup {
        let existing: Vec<String> = actual.tables.keys().cloned().collect();
        if let Some(path) =
            backup::pre_fix_backup(ctx, config.as_ref(), client.as_ref(), &name, &existing).await?
        {
            fields["backup"] = Value::from(path.display().to_string());
        }
    }
    let spinner = progress::spinner(out, "applying fix plan");
    let applied = schema::apply(&plan, client.as_ref(), &ApplyOptions::default()).await;
    spinner.finish_and_clear();
    client.close().await;
    let report = match applied {
        Ok(report) => report,
        Err(err) => {
            out.failure(format!("Fix failed: {}", crate::exit::render(&err.into())))?;
            out.line(
                "  Nothing was changed: the whole fix ran in one transaction and was rolled back.",
            )?;
            fields["error"] = Value::from("fix failed; rolled back");
            return Ok(Report::failed(fields));
        }
    };
    out.success("Schema fix complete!")?;
    if report.tables_created > 0 {
        out.line(format!("  Tables created: {}", report.tables_created))?;
    }
    if report.columns_added > 0 {
        out.line(format!("  Columns added: {}", report.columns_added))?;
    }
    let other = report
        .steps_applied
        .saturating_sub(report.tables_created + report.columns_added);
    if other > 0 {
        out.line(format!("  Other steps: {other}"))?;
    }
    if !report.remaining.is_empty() {
        out.line(format!("  Still differing ({}):", report.remaining.len()))?;
        for difference in &report.remaining {
            out.line(format!("    - {difference}"))?;
        }
        out.warn("the schema still differs from the schema file; `dba validate` exits 1 until it matches");
    }
    fields["applied"] = Value::from(true);
    let still_drifting = !report.remaining.is_empty();
    fields["result"] = json!({
        "steps_applied": report.steps_applied,
        "tables_created": report.tables_created,
        "columns_added": report.columns_added,
        "remaining": report.remaining.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "validation": schemacheck::result_json(&report.validation),
    });
    // The fix was committed, so this exits 0 as the original did; `validate` reports what still differs.
    fields["valid_after"] = Value::from(!still_drifting);
    Ok(Report::ok(fields))
}

/// The original's preview: `Schema Differences`, then the numbered `Execution Plan:`, plus what the plan
/// leaves alone and why.
fn print_preview(ctx: &Ctx, plan: &FixPlan, before: &ValidationResult) -> std::io::Result<()> {
    let out = &ctx.out;
    let mut rows = Vec::new();
    for table in &before.missing_tables {
        rows.push(vec![table.clone(), "NEW TABLE".to_owned(), String::new()]);
    }
    for missing in &before.missing_columns {
        rows.push(vec![
            missing.table.clone(),
            missing.column.clone(),
            column_type(&plan.target, &missing.table, &missing.column),
        ]);
    }
    for difference in before.errors() {
        rows.push(vec![
            difference.table().unwrap_or("").to_owned(),
            difference.to_string(),
            "DRIFT".to_owned(),
        ]);
    }
    out.blank()?;
    out.table(
        Some("Schema Differences"),
        Some(&["Table", "Column", "Type"]),
        &rows,
        &[],
    )?;
    if plan.has_fixes() {
        out.blank()?;
        out.line("Execution Plan:")?;
        for (i, step) in plan.steps.iter().enumerate() {
            let hazard = if step.hazard == Hazard::None {
                String::new()
            } else {
                format!("  [{}]", step.hazard)
            };
            out.line(format!("  {}. {}{hazard}", i + 1, step_text(step)))?;
        }
    }
    if !plan.not_fixed.is_empty() {
        out.blank()?;
        out.line(format!("Not fixed ({}):", plan.not_fixed.len()))?;
        for item in &plan.not_fixed {
            out.line(format!("  - {}: {}", item.subject, item.reason))?;
        }
        out.line("  Pass --allow-hazard lock or --allow-hazard rewrite to plan steps that alter existing objects.")?;
    }
    Ok(())
}

/// A step in the original's words where it had them (`CREATE TABLE t`, `ALTER TABLE t ADD COLUMN c`).
fn step_text(step: &schema::Step) -> String {
    let table = step.table.as_deref().unwrap_or("");
    match step.kind {
        StepKind::CreateTable => format!("CREATE TABLE {table}"),
        StepKind::AddColumn => {
            let prefix = format!("add column {table}.");
            match step.description.strip_prefix(&prefix) {
                Some(column) => format!("ALTER TABLE {table} ADD COLUMN {column}"),
                None => step.description.clone(),
            }
        }
        _ => step.description.clone(),
    }
}

/// The planned column's type, plus ` (FK)` when a foreign key covers it, as the original showed it.
fn column_type(target: &Catalog, table: &str, column: &str) -> String {
    let Some(t) = target.tables.get(table) else {
        return String::new();
    };
    let mut text = t
        .columns
        .get(column)
        .map(|c| c.data_type.clone())
        .unwrap_or_default();
    if t.foreign_keys
        .values()
        .any(|fk| fk.columns.iter().any(|c| c == column))
    {
        text.push_str(" (FK)");
    }
    text
}

fn plan_json(plan: &FixPlan) -> Value {
    json!({
        "steps": plan.steps,
        "not_fixed": plan.not_fixed,
        "tables_left_missing": plan.tables_left_missing,
        "script": plan.script(),
    })
}
