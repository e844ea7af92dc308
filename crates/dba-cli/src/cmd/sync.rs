//! `dba sync --from SOURCE`: copy one user's rows of some tables from another profile into the selected
//! one. Compares and previews by default; writes only with `--confirm` (or an interactive yes).

use anyhow::Context as _;
use dba::DatabaseClient;
use dba::backup::{self, BackupSchema, SyncOptions, SyncResult};
use dba::config::ConfigError;
use serde_json::{Value, json};

use crate::cli::{SyncArgs, SyncMode};
use crate::cmd::Report;
use crate::cmd::backup::{backup_schema_path, require_user_id, split_tables};
use crate::ctx::{Ctx, target_name};
use crate::interrupt;
use crate::output::thousands;
use crate::progress::TableBars;
use crate::prompt::{self, Answer};

pub(crate) async fn run(ctx: &Ctx, args: &SyncArgs) -> anyhow::Result<Report> {
    let out = &ctx.out;
    let config = ctx.config()?;
    let tables: Vec<String> = match (&args.tables, config.as_ref().and_then(|c| c.sync_tables())) {
        (Some(flag), _) => split_tables(flag),
        (None, Some(tables)) if !tables.is_empty() => tables.to_vec(),
        _ => anyhow::bail!(
            "No tables specified. Provide --tables or configure sync.tables in db.toml"
        ),
    };
    let user = require_user_id(args.user_id.as_ref(), config.as_ref())?;
    let dest = match ctx.resolve(config.as_ref()) {
        Ok(dest) => dest,
        Err(err)
            if matches!(
                err.downcast_ref::<ConfigError>(),
                Some(ConfigError::NothingSelected { .. })
            ) =>
        {
            return Err(err.context(format!(
                "No destination profile configured. Run: {}=<name> dba connect",
                ctx.resolver().profile_var()
            )));
        }
        Err(err) => return Err(err),
    };
    let src_name = args.from.clone();
    let dst_name = target_name(&dest);
    if dest.profile.as_deref() == Some(src_name.as_str()) {
        anyhow::bail!("Source and destination are the same profile: {src_name}");
    }
    let source = ctx.resolve_named(config.as_ref(), &src_name)?;

    let source_client = ctx
        .connect(&source)
        .await
        .with_context(|| format!("Failed to connect to source profile '{src_name}'"))?;
    let dest_client = ctx
        .connect(&dest)
        .await
        .with_context(|| format!("Failed to connect to destination profile '{dst_name}'"))?;
    // The source is only read: from its standby when it has one that keeps up. The destination is written,
    // so it is always its primary.
    let source_reader = ctx.reader(&source_client, &src_name, false).await;
    let source_reads: &dyn DatabaseClient = source_reader
        .as_ref()
        .map_or(source_client.as_ref(), |r| r.client());

    let names: Vec<&str> = tables.iter().map(String::as_str).collect();
    // Unqualified names are the destination profile's schema's tables (and the source's, in its own).
    let home = dest.schema().to_owned();
    let schema = match backup_schema_path(None, config.as_ref()) {
        Some(path) => {
            let schema = BackupSchema::from_file(&path)
                .and_then(|s| s.in_schema(Some(&home)))
                .context("Failed to load backup schema")?;
            out.verbose(format!("sync schema: {}", path.display()));
            schema.subset(&names)?
        }
        None => {
            let (schema, report) =
                backup::infer_schema_in(dest_client.as_ref(), Some(&names), Some(&home))
                    .await
                    .context(
                        "cannot derive the tables' keys and references from the destination",
                    )?;
            for line in &report.tables {
                out.verbose(format!("sync schema: {line}"));
            }
            for note in &report.notes {
                out.warn(note);
            }
            schema
        }
    };

    out.status("Comparing profiles...");
    out.line(format!("  Source: {src_name}"))?;
    out.line(format!("  Destination: {dst_name}"))?;
    out.line(format!("  Tables: {}", tables.join(", ")))?;
    let mut options = SyncOptions {
        mode: match args.mode {
            SyncMode::Insert => backup::SyncMode::InsertOnly,
            SyncMode::Upsert => backup::SyncMode::Upsert,
            SyncMode::Mirror => backup::SyncMode::Mirror,
        },
        user_id: Some(Value::from(user.as_str())),
        fk_aware: !args.keep_ids,
        dry_run: true,
        source_name: src_name.clone(),
        dest_name: dst_name.clone(),
        schema: Some(home.clone()),
        source_schema: Some(source.schema().to_owned()),
        ..SyncOptions::default()
    };
    let bars = TableBars::new(out);
    let preview = backup::sync(source_reads, dest_client.as_ref(), &schema, &options, &bars).await;
    bars.finish();
    let mut fields = json!({
        "source": src_name,
        "destination": dst_name,
        "tables": tables,
        "user_id": user,
        "mode": args.mode.as_str(),
        "keep_ids": args.keep_ids,
        "dry_run": args.dry_run,
        "comparison": preview,
        "synced": false,
    });
    if !preview.success {
        source_client.close().await;
        dest_client.close().await;
        anyhow::bail!("{}", errors_text(&preview));
    }
    print_comparison(ctx, &preview, &src_name, &dst_name, args.mode)?;

    let close = async || {
        source_client.close().await;
        dest_client.close().await;
    };
    if args.dry_run {
        close().await;
        out.blank()?;
        out.line("DRY RUN - No changes made.")?;
        return Ok(Report::ok(fields));
    }
    let confirmed = args.confirm
        || prompt::confirm(&format!("Sync these rows from {src_name} into {dst_name}?"))
            == Answer::Yes;
    if !confirmed {
        close().await;
        out.blank()?;
        out.line("To actually sync, add --confirm flag.")?;
        return Ok(Report::ok(fields));
    }

    out.blank()?;
    out.status("Syncing data...");
    options.dry_run = false;
    let bars = TableBars::new(out);
    interrupt::writing();
    let result = backup::sync(source_reads, dest_client.as_ref(), &schema, &options, &bars).await;
    if result.success {
        interrupt::committed();
    }
    bars.finish();
    close().await;
    fields["result"] = serde_json::to_value(&result).unwrap_or(Value::Null);
    if !result.success {
        out.failure(errors_text(&result))?;
        return Ok(Report::failed(fields));
    }
    fields["synced"] = Value::from(true);
    out.success("Sync complete.")?;
    out.line(format!(
        "  Synced: {}  Skipped: {}  Deleted: {}",
        thousands(result.synced_count),
        thousands(result.skipped_count),
        thousands(result.deleted_count)
    ))?;
    Ok(Report::ok(fields))
}

fn errors_text(result: &SyncResult) -> String {
    if result.errors.is_empty() {
        "Unknown error".to_owned()
    } else {
        result.errors.join("; ")
    }
}

fn print_comparison(
    ctx: &Ctx,
    result: &SyncResult,
    src: &str,
    dst: &str,
    mode: SyncMode,
) -> std::io::Result<()> {
    let out = &ctx.out;
    let rows: Vec<Vec<String>> = result
        .source_counts
        .0
        .iter()
        .map(|(table, n)| {
            let dest = result.dest_counts.get(table).copied().unwrap_or(0);
            vec![table.clone(), thousands(*n), thousands(dest)]
        })
        .collect();
    let src_header = format!("{src} (source)");
    let dst_header = format!("{dst} (dest)");
    out.blank()?;
    out.table(
        Some("Data Comparison"),
        Some(&["", &src_header, &dst_header]),
        &rows,
        &[1, 2],
    )?;
    if result.sync_plan.0.is_empty() {
        return Ok(());
    }
    // What this mode will do to each table, as numbers (0 included): insert-only leaves the rows the
    // destination has alone, upsert overwrites them, mirror also deletes the ones the source lacks.
    let (header, right): (&[&str], &[usize]) = match mode {
        SyncMode::Insert => (&["Table", "New", "Left alone"], &[1, 2]),
        SyncMode::Upsert => (&["Table", "New", "Update"], &[1, 2]),
        SyncMode::Mirror => (&["Table", "New", "Update", "Delete"], &[1, 2, 3]),
    };
    let rows: Vec<Vec<String>> = result
        .sync_plan
        .0
        .iter()
        .map(|(table, plan)| {
            let mut row = vec![table.clone(), thousands(plan.new)];
            match mode {
                SyncMode::Insert => row.push(thousands(plan.skip)),
                SyncMode::Upsert => row.push(thousands(plan.update)),
                SyncMode::Mirror => {
                    row.push(thousands(plan.update));
                    row.push(thousands(plan.delete));
                }
            }
            row
        })
        .collect();
    out.blank()?;
    out.table(Some("Sync Plan"), Some(header), &rows, right)?;
    out.line(match mode {
        SyncMode::Insert => "Existing rows are left alone (--mode upsert overwrites them).",
        SyncMode::Upsert => "Source overwrites on collision.",
        SyncMode::Mirror => {
            "Source overwrites on collision; the user's destination rows the source lacks are deleted."
        }
    })
}
