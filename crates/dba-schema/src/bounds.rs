//! Expected partition keys and bounds printed by PostgreSQL itself, so that they compare with the live
//! ones by meaning, not by how schema.sql spells them.
//!
//! PostgreSQL keeps a partition's bounds as parsed values and prints them back with
//! `pg_get_expr(relpartbound, oid)`: `FROM ('2024-1-1'::date)` becomes `FROM ('2024-01-01')`, and a key
//! prints as `pg_get_partkeydef` does. So each expected partitioned table is created as a temporary table
//! with its columns and key, inside a transaction that is always rolled back, each of its partitions is
//! created as a temporary partition of it, and both are read back.

use dba_core::{DatabaseClient, Value};

use crate::error::SchemaError;
use crate::model::{Catalog, TableKind};
use crate::parse::quote_ident;
use crate::plan::checked_clause;

/// The temporary tables each rendering creates and rolls back.
const PARENT: &str = "_dba_render_parent";
const CHILD: &str = "_dba_render_partition";

/// Replaces the partition key of every partitioned table of `catalog` and the bounds of its partitions by
/// PostgreSQL's printing of them, where PostgreSQL can create them as the file gives them (the partition
/// key's types known, the bounds valid). What cannot be rendered keeps the file's text, which is then
/// compared in a loose form. Nothing is left behind.
pub(crate) async fn render_partitions(
    client: &dyn DatabaseClient,
    catalog: &mut Catalog,
) -> Result<(), SchemaError> {
    let parents: Vec<String> = catalog
        .tables
        .iter()
        .filter(|(_, t)| t.kind == TableKind::Partitioned && t.partition_key.is_some())
        .map(|(k, _)| k.clone())
        .collect();
    for parent_key in parents {
        let parent = &catalog.tables[&parent_key];
        let key = parent.partition_key.clone().unwrap_or_default();
        let columns: Vec<String> = parent
            .ordered_columns()
            .iter()
            .map(|c| format!("{} {}", quote_ident(&c.name), c.data_type))
            .collect();
        let children: Vec<(String, String)> = catalog
            .tables
            .iter()
            .filter(|(_, t)| t.partition_of.as_deref() == Some(parent_key.as_str()))
            .filter_map(|(k, t)| t.partition_bound.clone().map(|b| (k.clone(), b)))
            .collect();
        // Only a key and bounds that parse as nothing more reach the server (a catalog may be built by hand).
        if checked_clause(
            &parent_key,
            &key,
            &format!("CREATE TABLE t (x int) PARTITION BY {key}"),
        )
        .is_err()
        {
            continue;
        }
        let children: Vec<(String, String)> = children
            .into_iter()
            .filter(|(child, bound)| {
                checked_clause(
                    child,
                    bound,
                    &format!("CREATE TABLE t PARTITION OF p {bound}"),
                )
                .is_ok()
            })
            .collect();
        let tx = client.begin().await?;
        let created = tx
            .execute(
                &format!(
                    "CREATE TEMPORARY TABLE {PARENT} ({}) PARTITION BY {key}",
                    columns.join(", ")
                ),
                &[],
            )
            .await;
        if created.is_err() {
            tx.rollback().await?;
            continue;
        }
        let rows = tx
            .query(
                &format!("SELECT pg_get_partkeydef('pg_temp.{PARENT}'::regclass) AS key"),
                &[],
            )
            .await?;
        let rendered_key = text(rows.first(), "key");
        let mut bounds = Vec::new();
        for (child, bound) in children {
            let sp = tx.begin().await?;
            let made = sp
                .execute(
                    &format!("CREATE TEMPORARY TABLE {CHILD} PARTITION OF {PARENT} {bound}"),
                    &[],
                )
                .await;
            let rendered = match made {
                Ok(_) => sp
                    .query(
                        &format!(
                            "SELECT pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_class c \
                             WHERE c.oid = 'pg_temp.{CHILD}'::regclass"
                        ),
                        &[],
                    )
                    .await
                    .ok()
                    .and_then(|rows| text(rows.first(), "bound")),
                Err(_) => None,
            };
            // Always rolled back: the next partition's bounds are rendered alone, never against this one.
            sp.rollback().await?;
            if let Some(b) = rendered {
                bounds.push((child, b));
            }
        }
        tx.rollback().await?;
        if let Some(parent) = catalog.tables.get_mut(&parent_key) {
            parent.partition_key = rendered_key.or(parent.partition_key.take());
        }
        for (child, bound) in bounds {
            if let Some(t) = catalog.tables.get_mut(&child) {
                t.partition_bound = Some(bound);
            }
        }
    }
    Ok(())
}

fn text(row: Option<&dba_core::Row>, field: &str) -> Option<String> {
    row.and_then(|r| r.get(field))
        .and_then(Value::as_str)
        .map(str::to_owned)
}
