//! `dba restore FILE`: restore a backup into the selected profile, in one transaction. Asks first unless
//! `--yes` or `--dry-run`; without a terminal it never waits for an answer.

use anyhow::Context as _;
use dba::backup::{self, RestoreOptions, RestoreSummary};
use serde_json::{Value, json};

use crate::cli::{RestoreArgs, RestoreMode};
use crate::cmd::Report;
use crate::cmd::backup::{load_backup_schema, require_user_id};
use crate::ctx::{Ctx, target_name};
use crate::interrupt;
use crate::output::thousands;
use crate::progress::TableBars;
use crate::prompt::{self, Answer};

pub(crate) async fn run(ctx: &Ctx, args: &RestoreArgs) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let config = ctx.config()?;
    let (schema_path, schema) = load_backup_schema(args.backup_schema.as_ref(), config.as_ref())?;
    let user = require_user_id(args.user_id.as_ref(), config.as_ref())?;
    let file = &args.backup_path;
    if !file.exists() {
        anyhow::bail!("Backup file not found: {}", file.display());
    }
    let resolved = ctx.resolve(config.as_ref())?;
    let name = target_name(&resolved);
    let mode = args.mode.as_str();

    if !args.yes && !args.dry_run {
        match prompt::confirm(&format!(
            "Restore from {} into {name} with mode={mode}?",
            file.display()
        )) {
            Answer::Yes => {}
            Answer::No => {
                out.line("Aborted.")?;
                return Ok(Report::failed(json!({
                    "profile": name,
                    "file": file.display().to_string(),
                    "aborted": true,
                })));
            }
            Answer::NoTerminal => anyhow::bail!(
                "restore needs confirmation and stdin is not a terminal: pass --yes to restore, or --dry-run to preview"
            ),
        }
    }

    let client = ctx.connect(&resolved).await.context("Failed to connect")?;
    out.status(if args.dry_run {
        "Previewing restore (dry run)..."
    } else {
        "Restoring data..."
    });
    let options = RestoreOptions {
        mode: match args.mode {
            RestoreMode::Skip => backup::RestoreMode::Skip,
            RestoreMode::Overwrite => backup::RestoreMode::Overwrite,
            RestoreMode::Fail => backup::RestoreMode::Fail,
        },
        dry_run: args.dry_run,
        user_id: Some(Value::from(user.as_str())),
        keep_ids: args.keep_ids,
        continue_on_error: args.continue_on_error,
        schema: Some(resolved.schema().to_owned()),
        ..RestoreOptions::default()
    };
    let bars = TableBars::new(out);
    if !args.dry_run {
        interrupt::writing();
    }
    let result = backup::restore(client.as_ref(), &schema, file, &options, &bars).await;
    if result.as_ref().is_ok_and(|s| !s.dry_run) {
        interrupt::committed();
    }
    bars.finish();
    client.close().await;
    let summary = result.context("Restore failed")?;

    if summary.dry_run {
        out.line("DRY RUN - No changes made.")?;
    } else {
        out.success("Restore complete.")?;
    }
    out.line(format!("  Mode: {mode}"))?;
    print_summary(ctx, &summary)?;
    let failed = summary.totals().failed;
    if failed > 0 {
        out.warn(format!(
            "{failed} row(s) failed and were left out (--continue-on-error); everything else was committed"
        ));
    }
    Ok(Report::ok(json!({
        "profile": name,
        "file": file.display().to_string(),
        "backup_schema": schema_path.display().to_string(),
        "user_id": user,
        "mode": mode,
        "dry_run": summary.dry_run,
        "keep_ids": args.keep_ids,
        "continue_on_error": args.continue_on_error,
        "summary": summary,
        "failed_rows": failed,
    })))
}

fn print_summary(ctx: &Ctx, summary: &RestoreSummary) -> std::io::Result<()> {
    let out = &ctx.out;
    let rows: Vec<Vec<String>> = summary
        .tables
        .iter()
        .map(|(table, s)| {
            vec![
                table.clone(),
                thousands(s.inserted),
                thousands(s.updated),
                thousands(s.skipped),
                thousands(s.failed),
            ]
        })
        .collect();
    out.table(
        Some("Restore Results"),
        Some(&["Table", "Inserted", "Updated", "Skipped", "Failed"]),
        &rows,
        &[1, 2, 3, 4],
    )?;
    for (table, s) in &summary.tables {
        if s.failure_details.is_empty() {
            continue;
        }
        out.line(format!("  Failed rows in {table}:"))?;
        for failure in &s.failure_details {
            let pk = match &failure.old_pk {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.line(format!(
                "    row {} (pk={pk}): {}",
                failure.row_index, failure.error
            ))?;
        }
    }
    Ok(())
}
