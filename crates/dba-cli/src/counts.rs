//! Row counts per table, shown by `connect` and `status` (the original's `Table Data` table).

use dba::{DatabaseClient, TableName, Value, json};
use serde_json::Map;

use crate::output::{Out, thousands};

/// Tables the original never counts.
const EXCLUDED: [&str; 3] = ["schema_migrations", "pg_stat_statements", "spatial_ref_sys"];

/// `(table, rows)` for every base table of `schema`, sorted by name, in two round trips. `None` when the
/// backend cannot list tables (the REST API).
pub(crate) async fn row_counts(
    client: &dyn DatabaseClient,
    schema: &str,
) -> dba::Result<Option<Vec<(String, u64)>>> {
    if !client.capabilities().raw_sql {
        return Ok(None);
    }
    let tables = client
        .query(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name",
            &[Value::from(schema)],
        )
        .await?;
    let names: Vec<String> = tables
        .iter()
        .filter_map(|row| row.get("name").and_then(Value::as_str))
        .filter(|name| !EXCLUDED.contains(name))
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return Ok(Some(Vec::new()));
    }
    // One statement for all tables; every name is quoted by TableName, never spliced raw.
    let mut parts = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let table = TableName::exact(Some(schema), name)?;
        parts.push(format!(
            "SELECT {i} AS i, count(*)::bigint AS n FROM {table}"
        ));
    }
    let rows = client.query(&parts.join(" UNION ALL "), &[]).await?;
    let mut counts = vec![0_u64; names.len()];
    for row in rows {
        let i = number(row.get("i")).and_then(|i| usize::try_from(i).ok());
        let n = number(row.get("n"));
        if let (Some(i), Some(n)) = (i, n)
            && let Some(slot) = counts.get_mut(i)
        {
            *slot = n;
        }
    }
    Ok(Some(names.into_iter().zip(counts).collect()))
}

fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(n) => n.as_u64().or_else(|| n.to_string().parse().ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Prints the `Table Data` table (nothing when there are no tables).
pub(crate) fn print_counts(out: &Out, counts: &[(String, u64)]) -> std::io::Result<()> {
    if counts.is_empty() {
        return Ok(());
    }
    let rows: Vec<Vec<String>> = counts
        .iter()
        .map(|(table, n)| vec![table.clone(), thousands(*n)])
        .collect();
    out.blank()?;
    out.table(Some("Table Data"), Some(&["Table", "Rows"]), &rows, &[1])
}

/// The counts as a JSON object `{table: rows}`.
pub(crate) fn counts_json(counts: &[(String, u64)]) -> Value {
    let mut map = Map::new();
    for (table, n) in counts {
        map.insert(table.clone(), json!(n));
    }
    Value::Object(map)
}
