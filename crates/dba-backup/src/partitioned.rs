//! Foreign keys to partitioned tables, for [`infer_schema`](crate::infer_schema).
//!
//! PostgreSQL wants a partitioned table's primary key, and so any key a foreign key references, to hold
//! the partition key: `orders (id bigserial, region text, PRIMARY KEY (id, region)) PARTITION BY LIST
//! (region)` is referenced through `(order_id, order_region)`. When the referenced key is one generated
//! column plus partition-key columns, the restore gives such a table new ids by that column alone
//! (`PkInfo::generated_id`), so the referencing column of the generated one is remapped and the others,
//! which hold partition-key values the restore copies, pass through.

use std::collections::HashMap;

use dba_core::{DatabaseClient, TableName, Value};

use crate::error::BackupError;
use crate::schema::BackupSchema;

/// A partitioned table's primary key and the plain columns of its partition key.
pub(crate) struct PartitionedKeys {
    /// The primary-key columns, in order.
    pub(crate) primary: Vec<String>,
    /// The partition-key columns (expressions left out).
    pub(crate) partition: Vec<String>,
}

const KEYS_SQL: &str = "SELECT \
    ARRAY(SELECT a.attname::text FROM pg_constraint k CROSS JOIN LATERAL unnest(k.conkey) WITH ORDINALITY u(n, o) \
          JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n \
          WHERE k.conrelid = p.partrelid AND k.contype = 'p' ORDER BY u.o) AS pk_columns, \
    ARRAY(SELECT a.attname::text FROM unnest(p.partattrs::int2[]) k(n) \
          JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = k.n) AS key_columns \
    FROM pg_partitioned_table p WHERE p.partrelid = $1::regclass";

/// The keys of `table` (a quoted name) when it is a partitioned table; `None` for any other table.
pub(crate) async fn partitioned_keys(
    client: &dyn DatabaseClient,
    table: &str,
) -> Result<Option<PartitionedKeys>, BackupError> {
    let rows = client
        .query(KEYS_SQL, &[Value::String(table.to_owned())])
        .await?;
    Ok(rows.first().map(|row| PartitionedKeys {
        primary: texts(row, "pk_columns"),
        partition: texts(row, "key_columns"),
    }))
}

fn texts(row: &dba_core::Row, key: &str) -> Vec<String> {
    row.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The partitioned tables (not partitions) of the schemas in `$1` (a JSON array), with their primary key,
/// partition key and the primary-key columns that have a default or identity.
const TABLES_SQL: &str = "SELECT n.nspname AS schema_name, c.relname AS table_name, \
    ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY u(n, o) \
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.n ORDER BY u.o) AS pk_columns, \
    ARRAY(SELECT a.attname::text FROM unnest(p.partattrs::int2[]) u(n) \
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = u.n) AS key_columns, \
    ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = ANY (k.conkey) \
          AND (a.atthasdef OR a.attidentity <> '')) AS generated \
    FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    JOIN pg_constraint k ON k.conrelid = c.oid AND k.contype = 'p' \
    WHERE n.nspname IN (SELECT json_array_elements_text($1::json)) AND NOT c.relispartition";

/// Every foreign key of the schemas in `$1` (a JSON array) to a partitioned table, with its columns and the
/// referenced ones.
const REFERENCES_SQL: &str = "SELECT n.nspname AS schema_name, c.relname AS table_name, con.conname AS name, \
    fn.nspname AS ref_schema, f.relname AS ref_table, \
    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o) \
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns, \
    ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(n, o) \
          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o) AS ref_columns \
    FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class f ON f.oid = con.confrelid \
    JOIN pg_namespace fn ON fn.oid = f.relnamespace \
    WHERE n.nspname IN (SELECT json_array_elements_text($1::json)) AND con.contype = 'f' \
    AND con.conparentid = 0 AND f.relkind = 'p'";

/// What [`infer_schema`](crate::infer_schema) keys differently because of partitioning.
#[derive(Default)]
pub(crate) struct Partitioned {
    /// Partitioned tables whose primary key is one generated column plus partition-key columns, with that
    /// column and the whole key: the backup schema keys them by the generated column alone.
    pub(crate) by_id: HashMap<String, (String, Vec<String>)>,
    /// Foreign keys (by referencing table and constraint name) to such a table through its whole primary
    /// key: the referencing column of the generated one, which is remapped.
    pub(crate) references: HashMap<(String, String), String>,
}

/// Reads [`Partitioned`] for the schemas in `schemas` (a JSON array as a string value), naming tables by
/// `key_of(schema, table)` as the inference does.
pub(crate) async fn partitioned(
    client: &dyn DatabaseClient,
    schemas: &Value,
    key_of: &(dyn Fn(&str, &str) -> Result<String, BackupError> + Sync),
) -> Result<Partitioned, BackupError> {
    let mut out = Partitioned::default();
    let text =
        |row: &dba_core::Row, key: &str| row.get(key).and_then(Value::as_str).map(str::to_owned);
    for row in client
        .query(TABLES_SQL, std::slice::from_ref(schemas))
        .await?
    {
        let (Some(schema), Some(table)) = (text(&row, "schema_name"), text(&row, "table_name"))
        else {
            continue;
        };
        let table = key_of(&schema, &table)?;
        let (pk, key) = (texts(&row, "pk_columns"), texts(&row, "key_columns"));
        let Ok([id]) = <[String; 1]>::try_from(texts(&row, "generated")) else {
            continue;
        };
        if pk.len() > 1 && pk.iter().all(|c| *c == id || key.contains(c)) {
            out.by_id.insert(table, (id, pk));
        }
    }
    for row in client
        .query(REFERENCES_SQL, std::slice::from_ref(schemas))
        .await?
    {
        let (Some(schema), Some(table), Some(name), Some(ref_schema), Some(ref_table)) = (
            text(&row, "schema_name"),
            text(&row, "table_name"),
            text(&row, "name"),
            text(&row, "ref_schema"),
            text(&row, "ref_table"),
        ) else {
            continue;
        };
        let (table, target) = (key_of(&schema, &table)?, key_of(&ref_schema, &ref_table)?);
        let Some((id, pk)) = out.by_id.get(&target) else {
            continue;
        };
        let (columns, refs) = (texts(&row, "columns"), texts(&row, "ref_columns"));
        let whole_key = refs.len() == pk.len() && pk.iter().all(|c| refs.contains(c));
        if let (true, Some(at)) = (whole_key, refs.iter().position(|c| c == id))
            && let Some(column) = columns.get(at)
        {
            out.references.insert((table, name), column.clone());
        }
    }
    Ok(out)
}

/// Pairs (partition, ancestor) among the listed tables, each a quoted name in a JSON array.
const LISTED_PAIRS_SQL: &str = "SELECT l.ord::int AS partition, p.ord::int AS ancestor \
    FROM jsonb_array_elements_text($1::jsonb) WITH ORDINALITY l(name, ord) \
    CROSS JOIN jsonb_array_elements_text($1::jsonb) WITH ORDINALITY p(name, ord) \
    WHERE to_regclass(l.name) IS NOT NULL AND to_regclass(p.name) IS NOT NULL \
    AND to_regclass(l.name) <> to_regclass(p.name) \
    AND to_regclass(p.name) IN (SELECT a.relid FROM pg_partition_ancestors(to_regclass(l.name)) a) \
    ORDER BY 1, 2";

/// Refuses a backup schema that lists a partition together with its parent (or an ancestor): reading or
/// writing through both would back up, restore or sync its rows twice. Without raw SQL nothing is checked.
pub(crate) async fn refuse_partition_with_parent(
    client: &dyn DatabaseClient,
    schema: &BackupSchema,
) -> Result<(), BackupError> {
    if !client.capabilities().raw_sql || schema.tables.len() < 2 {
        return Ok(());
    }
    // A name that does not parse is left to the operation itself to report.
    let listed: Vec<&str> = schema
        .tables
        .iter()
        .map(|t| t.name.as_str())
        .filter(|n| TableName::parse(n).is_ok())
        .collect();
    // Each as SQL names it: qualified with the schema's home, so the search path plays no part.
    let quoted: Vec<Value> = listed
        .iter()
        .map(|n| Value::String(schema.sql_name(n)))
        .collect();
    let names = Value::Array(quoted).to_string();
    let rows = client
        .query(LISTED_PAIRS_SQL, &[Value::String(names)])
        .await?;
    let Some(row) = rows.first() else {
        return Ok(());
    };
    let name = |field: &str| {
        row.get(field)
            .and_then(Value::as_u64)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| listed.get(i.wrapping_sub(1)))
            .map_or_else(String::new, |n| (*n).to_owned())
    };
    Err(BackupError::Schema(format!(
        "table '{}' is a partition of '{}', which the backup schema also lists: its rows would be read and \
         written twice; list the partitioned table only (its rows reach every partition)",
        name("partition"),
        name("ancestor")
    )))
}
