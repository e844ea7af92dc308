//! `dba fix`: plan the repair of schema drift, preview it, and apply it in one verified transaction with
//! `--confirm` (or an interactive yes). Additive steps only, unless `--allow-hazard` raises the ceiling.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use dba::schema::{
    self, ApplyOptions, Catalog, Difference, FixPlan, FixReport, Hazard, IntrospectOptions,
    PlanOptions, StepKind, ValidationResult,
};
use dba::{DatabaseClient, Filter, TableName};
use serde_json::{Value, json};

use crate::cli::{FixArgs, HazardLevel};
use crate::cmd::{Report, backup};
use crate::ctx::{Ctx, target_name};
use crate::interrupt;
use crate::prompt::{self, Answer};
use crate::sqlname::{sql_name, sql_table};
use crate::{progress, schemacheck};

pub(crate) async fn run(ctx: &Ctx, args: &FixArgs) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let config = ctx.config()?;
    let resolved = ctx.resolve(config.as_ref())?;
    let name = target_name(&resolved);
    out.status(format!("Analyzing schema for profile: {name}"));

    let schema_path =
        crate::cmd::validate::schema_file(args.schema_file.as_ref(), config.as_ref())?;
    let mut expected = schemacheck::read_expected(out, &schema_path, resolved.schema())?;
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
    let introspect = IntrospectOptions::for_expected(&expected.catalog, resolved.schema());
    let actual = schemacheck::live(client.as_ref(), &introspect, &name).await?;
    let max_hazard = args.allow_hazard.map_or(Hazard::None, HazardLevel::hazard);
    let options = PlanOptions {
        max_hazard,
        column_defs,
        introspect,
    };
    let plan = schema::plan_fix(&expected.catalog, &actual, &options)?;
    let opt_ins = opt_ins(&expected.catalog, &actual, &options, &plan);
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
    let empty = empty_not_null(ctx, client.as_ref(), &plan, &before).await;
    print_preview(ctx, &plan, &before, &empty, &opt_ins)?;
    if !plan.has_fixes() {
        client.close().await;
        out.blank()?;
        if opt_ins.is_empty() {
            out.failure(
                "No fix can be planned: what differs must be repaired by hand (see above)",
            )?;
        } else {
            out.failure("No fix can be planned without a hazard opt-in (see above)")?;
        }
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
        if let Some(path) = backup::pre_fix_backup(
            ctx,
            config.as_ref(),
            client.as_ref(),
            &name,
            resolved.schema(),
            &existing,
        )
        .await?
        {
            fields["backup"] = Value::from(path.display().to_string());
        }
    }
    let spinner = progress::spinner(out, "applying fix plan");
    interrupt::writing();
    let applied = schema::apply(&plan, client.as_ref(), &ApplyOptions::default()).await;
    spinner.finish_and_clear();
    let report = match applied {
        Ok(report) => {
            interrupt::committed();
            report
        }
        Err(err) => {
            client.close().await;
            out.failure(format!("Fix failed: {}", crate::exit::render(&err.into())))?;
            out.line(
                "  Nothing was changed: the whole fix ran in one transaction and was rolled back.",
            )?;
            fields["error"] = Value::from("fix failed; rolled back");
            return Ok(Report::failed(fields));
        }
    };
    let left = remaining(ctx, client.as_ref(), &plan, &report, &opt_ins).await;
    client.close().await;
    fields["applied"] = Value::from(true);
    // From the validation after the fix: a table or column left missing counts as much as any drift.
    let complete = report.is_complete() && left.is_empty();
    fields["valid_after"] = Value::from(complete);
    fields["result"] = json!({
        "steps_applied": report.steps_applied,
        "tables_created": report.tables_created,
        "columns_added": report.columns_added,
        "remaining": left.iter().map(|item| item.what.clone()).collect::<Vec<_>>(),
        "needs_value": left.iter().filter_map(|r| match (&r.column, r.without_value) {
            (Some((table, column)), Some(rows)) => Some(json!({
                "table": table,
                "column": column,
                "rows_without_value": rows,
            })),
            _ => None,
        }).collect::<Vec<_>>(),
        "validation": schemacheck::result_json(&report.validation),
    });
    if complete {
        out.success("Schema fix complete!")?;
        print_counts(ctx, &report)?;
        return Ok(Report::ok(fields));
    }
    // The fix was committed, but the database still differs: exit 1 so that scripts notice, and say what
    // is left and what to do.
    out.failure(format!(
        "Schema fix applied, but {} difference(s) remain",
        left.len()
    ))?;
    print_counts(ctx, &report)?;
    for item in &left {
        out.line(format!("  - {}", item.text()))?;
    }
    let next = next_steps(ctx, args, &plan, &left);
    out.blank()?;
    out.line("Next:")?;
    for (i, step) in next.iter().enumerate() {
        out.line(format!("  {}. {step}", i + 1))?;
    }
    fields["next_steps"] = json!(next);
    Ok(Report::failed(fields))
}

fn print_counts(ctx: &Ctx, report: &FixReport) -> std::io::Result<()> {
    let out = &ctx.out;
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
    Ok(())
}

/// Something a committed fix left as it was.
struct Left {
    /// What it is: a difference's text, `table m is missing`, `column t.c is missing`.
    what: String,
    /// The table key and column, for a NOT NULL column that rows leave without a value.
    column: Option<(String, String)>,
    /// How many rows hold NULL in that column (`None` when none do, or they could not be counted).
    without_value: Option<u64>,
    /// Why the plan left it alone, when it did.
    reason: Option<String>,
    /// The `--allow-hazard` level that would plan it, when one would.
    opt_in: Option<Hazard>,
}

impl Left {
    fn text(&self) -> String {
        match (&self.column, self.without_value) {
            (Some((table, column)), Some(rows)) => format!(
                "{table}.{column}: {rows} row(s) have no value, so the column is still nullable (expected NOT NULL)"
            ),
            _ => match &self.reason {
                Some(reason) => format!("{}: {reason}", self.what),
                None => self.what.clone(),
            },
        }
    }
}

/// The `--allow-hazard` level that would plan each item `plan` leaves alone (by its subject), found by
/// planning again at the higher levels; items no level plans are absent.
fn opt_ins(
    expected: &Catalog,
    actual: &Catalog,
    options: &PlanOptions,
    plan: &FixPlan,
) -> BTreeMap<String, Hazard> {
    let mut helped = BTreeMap::new();
    for level in [Hazard::Lock, Hazard::Rewrite] {
        if level <= options.max_hazard || plan.not_fixed.is_empty() {
            continue;
        }
        let higher = PlanOptions {
            max_hazard: level,
            ..options.clone()
        };
        let Ok(higher) = schema::plan_fix(expected, actual, &higher) else {
            continue;
        };
        for item in &plan.not_fixed {
            if !higher.not_fixed.iter().any(|n| n.subject == item.subject) {
                helped.entry(item.subject.clone()).or_insert(level);
            }
        }
    }
    helped
}

/// What still differs after the fix, from the validation after it: tables and columns still missing, then
/// the other differences, with the plan's reason and the rows lacking a value counted for each NOT NULL
/// column that stayed nullable.
async fn remaining(
    ctx: &Ctx,
    client: &dyn DatabaseClient,
    plan: &FixPlan,
    report: &FixReport,
    opt_ins: &BTreeMap<String, Hazard>,
) -> Vec<Left> {
    let not_fixed = |subject: &str, difference: Option<&Difference>| {
        let found = plan.not_fixed.iter().find(|n| match difference {
            Some(d) => n.difference.as_ref() == Some(d),
            None => n.difference.is_none() && n.subject == subject,
        });
        (
            found.map(|n| n.reason.clone()),
            found.and_then(|n| opt_ins.get(&n.subject).copied()),
        )
    };
    let mut left = Vec::new();
    for table in &report.validation.missing_tables {
        let (reason, opt_in) = not_fixed(table, None);
        left.push(Left {
            what: format!("table {table} is missing"),
            column: None,
            without_value: None,
            reason,
            opt_in,
        });
    }
    for missing in &report.validation.missing_columns {
        let (reason, opt_in) = not_fixed(&format!("{}.{}", missing.table, missing.column), None);
        left.push(Left {
            what: format!("column {}.{} is missing", missing.table, missing.column),
            column: None,
            without_value: None,
            reason,
            opt_in,
        });
    }
    for difference in report.validation.errors() {
        let (reason, opt_in) = not_fixed("", Some(difference));
        let mut item = Left {
            what: difference.to_string(),
            column: None,
            without_value: None,
            reason,
            opt_in,
        };
        if let Difference::Nullability {
            table,
            column,
            expected_nullable: false,
        } = difference
            && let Some(t) = plan.target.tables.get(table)
        {
            // Only rows without a value keep SET NOT NULL from succeeding; otherwise the plan's reason
            // (a hazard not opted into) is what is left to say.
            item.without_value = null_rows(ctx, client, t, column)
                .await
                .filter(|rows| *rows > 0);
            if item.without_value.is_some() {
                item.column = Some((table.clone(), column.clone()));
                item.opt_in = Some(Hazard::Lock);
            }
        }
        left.push(item);
    }
    left
}

/// How many rows of `table` hold NULL in `column` (`None`, with a warning, when they cannot be counted).
async fn null_rows(
    ctx: &Ctx,
    client: &dyn DatabaseClient,
    table: &schema::Table,
    column: &str,
) -> Option<u64> {
    let counted = match TableName::exact(Some(&table.schema), &table.name) {
        Ok(name) => {
            client
                .count(&name.to_string(), &Filter::new().is_null(column))
                .await
        }
        Err(err) => Err(err),
    };
    match counted {
        Ok(rows) => Some(rows),
        Err(err) => {
            ctx.out.warn(format!(
                "could not count the NULLs in {}.{column}: {err}",
                table.key()
            ));
            None
        }
    }
}

/// The columns expected NOT NULL that existing rows leave empty, with how many rows: `SET NOT NULL` on them
/// fails, so the preview says to fill them first.
async fn empty_not_null(
    ctx: &Ctx,
    client: &dyn DatabaseClient,
    plan: &FixPlan,
    before: &ValidationResult,
) -> BTreeMap<(String, String), u64> {
    let mut empty = BTreeMap::new();
    for difference in before.errors() {
        if let Difference::Nullability {
            table,
            column,
            expected_nullable: false,
        } = difference
            && let Some(t) = plan.target.tables.get(table)
            && let Some(rows) = null_rows(ctx, client, t, column).await
            && rows > 0
        {
            empty.insert((table.clone(), column.clone()), rows);
        }
    }
    empty
}

/// The steps that bring the database the rest of the way: fill the rows without a value, repair by hand
/// what no opt-in plans, then run the fix again with the hazard that plans the rest.
fn next_steps(ctx: &Ctx, args: &FixArgs, plan: &FixPlan, left: &[Left]) -> Vec<String> {
    let mut steps = Vec::new();
    let mut rerun: Option<Hazard> = None;
    for item in left {
        if let (Some((table, column)), Some(rows)) = (&item.column, item.without_value) {
            let target = plan
                .target
                .tables
                .get(table)
                .map_or_else(|| sql_name(table), sql_table);
            let sql_column = sql_name(column);
            steps.push(format!(
                "Fill {table}.{column} in the {rows} row(s) without a value, e.g. \
                 UPDATE {target} SET {sql_column} = <value> WHERE {sql_column} IS NULL"
            ));
        } else if item.opt_in.is_none() {
            steps.push(format!("Repair by hand: {}", item.text()));
        }
        rerun = rerun.max(item.opt_in);
    }
    if let Some(level) = rerun {
        let given = args.allow_hazard.map_or(Hazard::None, HazardLevel::hazard);
        steps.push(format!(
            "Run: {}",
            rerun_command(ctx, args, level.max(given))
        ));
    }
    steps
}

/// `dba fix --confirm --allow-hazard <level>` with the flags this run was given that choose what is fixed
/// and where (profile, config, env prefix, schema file, column-defs, --no-backup), shell-quoted.
fn rerun_command(ctx: &Ctx, args: &FixArgs, level: Hazard) -> String {
    let level = if level >= Hazard::Rewrite {
        "rewrite"
    } else {
        "lock"
    };
    let mut words: Vec<String> = ["dba", "fix", "--confirm", "--allow-hazard", level]
        .map(str::to_owned)
        .to_vec();
    let global = &ctx.global;
    let mut flag = |name: &str, value: String| {
        words.push(name.to_owned());
        words.push(value);
    };
    if let Some(profile) = &global.profile {
        flag("--profile", profile.clone());
    }
    if let Some(config) = &global.config {
        flag("--config", config.display().to_string());
    }
    if !global.env_prefix.is_empty() {
        flag("--env-prefix", global.env_prefix.clone());
    }
    if let Some(path) = &args.schema_file {
        flag("--schema-file", path.display().to_string());
    }
    if let Some(path) = &args.column_defs {
        flag("--column-defs", path.display().to_string());
    }
    if args.no_backup {
        words.push("--no-backup".to_owned());
    }
    // Quoting fails only on a NUL byte, which no command-line argument can hold.
    shlex::try_join(words.iter().map(String::as_str)).unwrap_or_else(|_| words.join(" "))
}

/// The original's preview: `Schema Differences`, then the numbered `Execution Plan:`, plus what the plan
/// leaves alone and why.
fn print_preview(
    ctx: &Ctx,
    plan: &FixPlan,
    before: &ValidationResult,
    empty: &BTreeMap<(String, String), u64>,
    opt_ins: &BTreeMap<String, Hazard>,
) -> std::io::Result<()> {
    let out = &ctx.out;
    let mut rows = Vec::new();
    for table in &before.missing_tables {
        rows.push(vec![
            table.clone(),
            "NEW TABLE".to_owned(),
            String::new(),
            "missing table".to_owned(),
        ]);
    }
    for missing in &before.missing_columns {
        rows.push(vec![
            missing.table.clone(),
            missing.column.clone(),
            column_type(&plan.target, &missing.table, &missing.column),
            "missing column".to_owned(),
        ]);
    }
    for difference in before.errors() {
        let (table, column, what) = split_difference(difference);
        let data_type = plan
            .target
            .tables
            .get(&table)
            .and_then(|t| t.columns.get(&column))
            .map(|c| c.data_type.clone())
            .unwrap_or_default();
        rows.push(vec![table, column, data_type, what]);
    }
    out.blank()?;
    out.table(
        Some("Schema Differences"),
        Some(&["Table", "Column", "Type", "Difference"]),
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
            if step.kind == StepKind::SetNotNullIfNoNulls
                && let Some(((table, column), rows)) = empty.iter().find(|((t, c), _)| {
                    step.description == format!("set not null on {t}.{c} unless a row is null")
                })
            {
                out.line(format!(
                    "     {rows} row(s) of {table}.{column} have no value: the column stays nullable until \
                     they are filled; the rest of the fix still applies"
                ))?;
            }
        }
    }
    if !plan.not_fixed.is_empty() {
        out.blank()?;
        out.line(format!("Not fixed ({}):", plan.not_fixed.len()))?;
        for item in &plan.not_fixed {
            let rows = match &item.difference {
                Some(Difference::Nullability {
                    table,
                    column,
                    expected_nullable: false,
                }) => empty.get(&(table.clone(), column.clone())),
                _ => None,
            };
            match rows {
                Some(rows) => out.line(format!(
                    "  - {}: {rows} row(s) have no value: fill them, then pass --allow-hazard lock",
                    item.subject
                ))?,
                None => out.line(format!("  - {}: {}", item.subject, item.reason))?,
            }
        }
        // Only an opt-in that would plan one of them is worth suggesting.
        match opt_ins.values().max() {
            Some(Hazard::Lock) => out.line(
                "  Pass --allow-hazard lock to plan steps that alter existing objects.",
            )?,
            Some(_) => out.line(
                "  Pass --allow-hazard rewrite to plan steps that alter existing objects or rewrite a table.",
            )?,
            None => out.line("  No --allow-hazard opt-in plans these: they need repairing by hand.")?,
        }
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

/// A difference as (table, column, what differs): `items.b: is nullable, expected NOT NULL` becomes
/// (`items`, `b`, `is nullable, expected NOT NULL`); one about the table as a whole has no column.
fn split_difference(difference: &Difference) -> (String, String, String) {
    let text = difference.to_string();
    let table = difference.table().unwrap_or("").to_owned();
    if !table.is_empty() {
        if let Some((column, what)) = text
            .strip_prefix(&format!("{table}."))
            .and_then(|rest| rest.split_once(": "))
        {
            return (table, column.to_owned(), what.to_owned());
        }
        if let Some(what) = text.strip_prefix(&format!("{table}: ")) {
            return (table, String::new(), what.to_owned());
        }
    }
    (table, String::new(), text)
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
        "columns_left_missing": plan.columns_left_missing.iter().map(|c| json!({
            "table": c.table,
            "column": c.column,
        })).collect::<Vec<_>>(),
        "script": plan.script(),
    })
}
