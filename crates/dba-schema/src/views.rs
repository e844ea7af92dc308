//! Expected views rendered by PostgreSQL itself, so that a view is compared by what its query means, not by
//! how schema.sql spells it.
//!
//! PostgreSQL does not keep a view's text: it stores the parsed query and prints it back with
//! `pg_get_viewdef`, qualifying columns, expanding `*`, adding casts and rewriting operators. Comparing the
//! file's text with that print-out, or two sqlparser trees of them, reports drift for views that are the same.
//! So each expected view is created as a temporary view inside a transaction that is always rolled back,
//! printed by the same `pg_get_viewdef`, and its columns read from the catalog: two views are then equal
//! exactly when PostgreSQL prints them the same way, and the columns tell whether `CREATE OR REPLACE VIEW`
//! can turn one into the other.

use std::collections::BTreeMap;

use dba_core::DatabaseClient;

use crate::bounds::render_partitions;
use crate::error::SchemaError;
use crate::introspect::{Fields, VIEW_COLUMNS};
use crate::model::Catalog;
use crate::plan::{checked_query, view_aliases};

/// The temporary view each rendering creates and rolls back.
const PROBE: &str = "_dba_render_view";

/// Renders every view of `catalog` (usually the expected one from schema.sql) through `client`: sets
/// [`View::rendered`](crate::View::rendered) and [`View::columns`](crate::View::columns) of each view
/// PostgreSQL can create as it stands. Call it on the expected catalog before [`validate`](crate::validate)
/// and [`plan_fix`](crate::plan_fix), with the client (and so the search path) the live schema is read with.
///
/// Partition keys and bounds are rendered the same way (each partitioned table created as a temporary
/// table with its partitions, in a transaction that is rolled back): each key and bound PostgreSQL accepts
/// is replaced by its printing (`pg_get_partkeydef`, `pg_get_expr(relpartbound, oid)`); the others keep the
/// file's text.
///
/// Nothing is left behind: each view is created as a temporary view in its own transaction (a savepoint
/// inside one), which is always rolled back. Returns the views that could not be rendered, with the reason
/// (a table they read is missing, the client has no transactions or raw SQL); those are compared by name
/// only.
pub async fn render_views(
    client: &dyn DatabaseClient,
    catalog: &mut Catalog,
) -> Result<BTreeMap<String, String>, SchemaError> {
    let mut not_rendered = BTreeMap::new();
    let caps = client.capabilities();
    if !caps.transactions || !caps.raw_sql {
        for key in catalog.views.keys() {
            not_rendered.insert(
                key.clone(),
                "the client has no transactions or raw SQL".to_owned(),
            );
        }
        return Ok(not_rendered);
    }
    let render_sql = format!(
        "SELECT pg_get_viewdef(c.oid, true) AS definition, {VIEW_COLUMNS} \
         FROM pg_class c WHERE c.oid = 'pg_temp.{PROBE}'::regclass"
    );
    for (key, view) in &mut catalog.views {
        let query = view.definition.trim().trim_end_matches(';').trim_end();
        if let Err(e) = checked_query(key, query) {
            not_rendered.insert(key.clone(), e.to_string());
            continue;
        }
        let tx = client.begin().await?;
        let rendered = match tx
            .execute(
                &format!(
                    "CREATE TEMPORARY VIEW {PROBE}{} AS {query}",
                    view_aliases(view)
                ),
                &[],
            )
            .await
        {
            Ok(_) => tx.query(&render_sql, &[]).await,
            Err(e) => Err(e),
        };
        tx.rollback().await?;
        match rendered {
            Ok(rows) => {
                let Some(row) = rows.first() else {
                    not_rendered.insert(key.clone(), "the view was not found".to_owned());
                    continue;
                };
                let r = Fields::new(row, "render view");
                view.rendered = r.opt("definition");
                view.columns = r.view_columns()?;
            }
            Err(e) => {
                let reason = e.to_string();
                not_rendered.insert(key.clone(), reason);
            }
        }
    }
    render_partitions(client, catalog).await?;
    Ok(not_rendered)
}
