//! What restore and inference need from PostgreSQL's catalog, read through `DatabaseClient::query`.
//!
//! This is a small private stand-in for dba-schema's foreign-key graph, which is not published yet; swap
//! it for that once it is.

use std::collections::{BTreeMap, HashMap};

use dba_core::{DatabaseClient, TableName, Value};

use crate::engine::{PkInfo, quoted_list};
use crate::error::BackupError;
use crate::names;
use crate::partitioned::{partitioned, partitioned_keys};
use crate::schema::{BackupSchema, ForeignKey, TableDef};

/// Facts about a table's primary key; without raw SQL a single-column key is assumed to have a default.
/// A composite key counts as generated only on a partitioned table whose key is one generated column plus
/// partition-key columns (PostgreSQL wants the partition key in the primary key): see
/// [`PkInfo::generated_id`]. Any other composite key's columns are remapped references or taken as they are.
pub(crate) async fn pk_info(
    client: &dyn DatabaseClient,
    table: &str,
    def: &TableDef,
) -> Result<PkInfo, BackupError> {
    if !client.capabilities().raw_sql {
        return Ok(PkInfo {
            has_default: !def.has_composite_pk(),
            generated_id: None,
            conflict_columns: None,
            unique_keys: Vec::new(),
        });
    }
    let table = TableName::parse(table)?.to_string();
    let mut has_default = !def.has_composite_pk();
    let mut generated = Vec::new();
    for column in &def.pk {
        let rows = client
            .query(
                "SELECT (a.atthasdef OR a.attidentity <> '') AS has_default FROM pg_attribute a \
                 WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped",
                &[Value::String(table.clone()), Value::String(column.clone())],
            )
            .await?;
        let default = rows
            .first()
            .and_then(|r| r.get("has_default"))
            .and_then(Value::as_bool)
            .ok_or_else(|| {
                BackupError::Schema(format!(
                    "table '{}' has no column '{column}' (its pk)",
                    def.name
                ))
            })?;
        has_default &= default;
        if default {
            generated.push(column.clone());
        }
    }
    let mut info = PkInfo {
        has_default,
        generated_id: None,
        conflict_columns: None,
        unique_keys: unique_keys(client, &table).await?,
    };
    if generated.len() == 1
        && let Some(keys) = partitioned_keys(client, &table).await?
    {
        let id = &generated[0];
        if def.has_composite_pk() {
            let rest_in_key = def.pk.iter().all(|c| c == id || keys.partition.contains(c));
            if rest_in_key && !def.references().any(|r| &r.field == id) {
                info.has_default = true;
                info.generated_id = Some(id.clone());
            }
        } else if keys.primary.len() > 1 && keys.primary.contains(id) {
            // A backup schema keys the table by its generated column alone (as `infer_schema` does);
            // an overwrite must still name the whole primary key, the only unique index there is.
            let columns: Vec<&str> = keys.primary.iter().map(String::as_str).collect();
            info.conflict_columns = Some(quoted_list(&columns));
        }
    }
    Ok(info)
}

/// [`unique_keys`] of `table` given as the SQL name the rest of the crate uses; none without raw SQL.
pub(crate) async fn unique_keys_of(
    client: &dyn DatabaseClient,
    table: &str,
) -> Result<Vec<Vec<String>>, BackupError> {
    if !client.capabilities().raw_sql {
        return Ok(Vec::new());
    }
    unique_keys(client, &TableName::parse(table)?.to_string()).await
}

/// The key columns of each unique index of `table` that refuses a duplicate at once, on every row, by the
/// values a row is written with: valid, not deferred, no predicate, no expression. None at all when the
/// table or one of its partitions has a trigger of its own (one could change the values a row is stored
/// with). See
/// [`PkInfo::unique_keys`].
async fn unique_keys(
    client: &dyn DatabaseClient,
    table: &str,
) -> Result<Vec<Vec<String>>, BackupError> {
    let rows = client
        .query(
            "SELECT ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, o) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n \
             WHERE k.o <= i.indnkeyatts ORDER BY k.o) AS columns \
             FROM pg_index i \
             WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indimmediate AND i.indisvalid \
             AND i.indpred IS NULL AND i.indexprs IS NULL \
             AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE NOT t.tgisinternal \
             AND (t.tgrelid = i.indrelid OR t.tgrelid IN (SELECT relid FROM pg_partition_tree(i.indrelid)))) \
             ORDER BY i.indexrelid",
            &[Value::String(table.to_owned())],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.get("columns").and_then(Value::as_array))
        .map(|columns| {
            columns
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|columns| !columns.is_empty())
        .collect())
}

/// Moves the sequence behind each primary-key column of `def` (serial or identity) past the largest value
/// in the table; never backwards. Does nothing for a column without a sequence. Returns whether a sequence
/// was set.
pub(crate) async fn advance_sequence(
    client: &dyn DatabaseClient,
    table: &str,
    def: &TableDef,
) -> Result<bool, BackupError> {
    if !client.capabilities().raw_sql {
        return Ok(false);
    }
    let parsed = TableName::parse(table)?;
    let table = parsed.to_string();
    let mut set = false;
    for column in &def.pk {
        let seq = client
            .query(
                "SELECT pg_get_serial_sequence($1, $2) AS seq",
                &[Value::String(table.clone()), Value::String(column.clone())],
            )
            .await?;
        let Some(seq) = seq
            .first()
            .and_then(|r| r.get("seq"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let pk = dba_core::Ident::exact(column)?;
        let sql = format!(
            "SELECT setval($1::regclass, GREATEST(m.v, coalesce(pg_sequence_last_value($1::regclass), 0))) AS v \
             FROM (SELECT max({pk})::bigint AS v FROM {table}) m WHERE m.v IS NOT NULL"
        );
        client.query(&sql, &[Value::String(seq.to_owned())]).await?;
        set = true;
    }
    Ok(set)
}

/// What [`infer_schema`] derived, table by table, and what it could not use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InferenceReport {
    /// One line per table: its pk, natural key, user field and references, and where each came from.
    pub tables: Vec<String>,
    /// Tables or references left out, and why.
    pub notes: Vec<String>,
}

// `$1` is a JSON array of the schemas to read.
const COLUMNS_SQL: &str = "SELECT n.nspname AS schema_name, c.relname AS table_name, a.attname AS column_name, \
    a.attnotnull AS not_null \
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
    JOIN pg_attribute a ON a.attrelid = c.oid \
    WHERE n.nspname IN (SELECT json_array_elements_text($1::json)) AND c.relkind IN ('r', 'p') \
    AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped \
    ORDER BY n.nspname, c.relname, a.attnum";

const CONSTRAINTS_SQL: &str = "SELECT con.conname AS name, con.contype::text AS kind, n.nspname AS schema_name, \
    c.relname AS table_name, fn.nspname AS ref_schema, f.relname AS ref_table, \
    ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(n, o) \
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o) AS columns \
    FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_class f ON f.oid = con.confrelid \
    LEFT JOIN pg_namespace fn ON fn.oid = f.relnamespace \
    WHERE n.nspname IN (SELECT json_array_elements_text($1::json)) AND con.contype IN ('p', 'u', 'f') \
    AND con.conparentid = 0 \
    ORDER BY n.nspname, c.relname, con.contype, con.conname";

#[derive(Default)]
struct TableFacts {
    columns: Vec<(String, bool)>,
    pk: Vec<String>,
    uniques: Vec<(String, Vec<String>)>,
    fks: Vec<(String, String, Vec<String>)>,
}

/// Derives a backup schema from the foreign-key graph of the current schema: each table's primary key (of
/// one column or several), a natural key (a unique constraint, preferring one with `slug`, without the user column;
/// else a `slug` column), `user_id` as user field when present, NOT NULL single-column foreign keys as
/// parents and nullable ones as optional references, in dependency order. A foreign key of several columns
/// is accepted when each of its columns has a single-column foreign key of its own (so each is remapped),
/// or when it references a table left out of the result (its values pass through); otherwise the table is
/// refused with an error naming it and the constraint. `tables` limits the result (references to tables
/// left out pass through unchanged). A partitioned table is read through its parent (its partitions are not
/// tables of the result); one whose primary key is a generated column plus partition-key columns is keyed
/// by that column, and a foreign key to it through that whole key is remapped through the generated
/// column's reference (see `partitioned.rs`). Needs raw SQL.
///
/// Reads the connection's current schema; [`infer_schema_in`] takes the schema (and reads others).
pub async fn infer_schema(
    client: &dyn DatabaseClient,
    tables: Option<&[&str]>,
) -> Result<(BackupSchema, InferenceReport), BackupError> {
    infer_schema_in(client, tables, None).await
}

/// [`infer_schema`] over several schemas: `home` (the profile's `schema` setting; `None` for the
/// connection's current schema) and the schema of every qualified name in `tables` (`billing.invoices`).
/// Foreign keys are followed across those schemas; a reference to a table in any other schema passes
/// through unchanged. Unqualified names in `tables` are read in `home`. The result is resolved in `home`
/// ([`BackupSchema::in_schema`]): tables outside it are named `schema.table`.
pub async fn infer_schema_in(
    client: &dyn DatabaseClient,
    tables: Option<&[&str]>,
    home: Option<&str>,
) -> Result<(BackupSchema, InferenceReport), BackupError> {
    if !client.capabilities().raw_sql {
        return Err(BackupError::Schema(
            "cannot infer a backup schema without raw SQL; give one explicitly".into(),
        ));
    }
    let home = match home {
        Some(home) => home.to_owned(),
        None => {
            let rows = client.query("SELECT current_schema() AS s", &[]).await?;
            rows.first()
                .and_then(|r| r.get("s"))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    BackupError::Schema(
                        "the connection has no current schema (an empty search_path); name the schema".into(),
                    )
                })?
        }
    };
    let home_ref = Some(home.as_str());
    let mut wanted_keys: Option<Vec<String>> = None;
    let mut schemas = vec![home.clone()];
    if let Some(list) = tables {
        let mut keys = Vec::new();
        for name in list {
            let parsed = names::parse(name)?;
            if let Some(s) = &parsed.schema
                && !schemas.iter().any(|x| x == s.as_str())
            {
                schemas.push(s.as_str().to_owned());
            }
            keys.push(names::key_of(&parsed, home_ref));
        }
        wanted_keys = Some(keys);
    }
    let key_of = |schema: &str, table: &str| -> Result<String, BackupError> {
        Ok(names::key_of(
            &TableName::exact(Some(schema), table)?,
            home_ref,
        ))
    };
    let schemas_json = Value::String(Value::from(schemas).to_string());
    let mut facts: BTreeMap<String, TableFacts> = BTreeMap::new();
    for row in client
        .query(COLUMNS_SQL, std::slice::from_ref(&schemas_json))
        .await?
    {
        let t = key_of(&str_of(&row, "schema_name"), &str_of(&row, "table_name"))?;
        let not_null = row
            .get("not_null")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        facts
            .entry(t)
            .or_default()
            .columns
            .push((str_of(&row, "column_name"), not_null));
    }
    let mut outside: Vec<String> = Vec::new();
    for row in client
        .query(CONSTRAINTS_SQL, std::slice::from_ref(&schemas_json))
        .await?
    {
        let table = key_of(&str_of(&row, "schema_name"), &str_of(&row, "table_name"))?;
        let Some(f) = facts.get_mut(&table) else {
            continue;
        };
        let columns: Vec<String> = row
            .get("columns")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        match str_of(&row, "kind").as_str() {
            "p" => f.pk = columns,
            "u" => f.uniques.push((str_of(&row, "name"), columns)),
            _ => {
                let target = key_of(&str_of(&row, "ref_schema"), &str_of(&row, "ref_table"))?;
                if !outside.contains(&target) {
                    outside.push(target.clone());
                }
                f.fks.push((str_of(&row, "name"), target, columns));
            }
        }
    }
    // Only references to schemas not read stay outside: their values pass through.
    outside.retain(|t| !facts.contains_key(t));
    let partitions = partitioned(client, &schemas_json, &key_of).await?;
    let mut report = InferenceReport::default();
    let wanted = |name: &str| {
        wanted_keys
            .as_ref()
            .is_none_or(|list| list.iter().any(|k| k == name))
    };
    let included = |name: &str| wanted(name) && facts.get(name).is_some_and(|f| !f.pk.is_empty());
    let mut defs: HashMap<String, TableDef> = HashMap::new();
    for (name, f) in &facts {
        if !wanted(name) {
            continue;
        }
        if f.pk.is_empty() {
            report
                .notes
                .push(format!("{name}: left out, it has no primary key"));
            continue;
        }
        let mut pk: Vec<&str> = f.pk.iter().map(String::as_str).collect();
        if let Some((id, _)) = partitions.by_id.get(name) {
            report.notes.push(format!(
                "{name}: partitioned, keyed by its generated column {id} (its primary key ({}) also holds \
                 the partition key); the destination gives new ids",
                pk.join(", ")
            ));
            pk = vec![id.as_str()];
        }
        let has = |c: &str| f.columns.iter().any(|(n, _)| n == c);
        let user = has("user_id").then(|| "user_id".to_owned());
        let mut candidates: Vec<(String, Vec<String>)> = f
            .uniques
            .iter()
            .map(|(n, cols)| {
                let cols: Vec<String> = cols
                    .iter()
                    .filter(|c| Some(*c) != user.as_ref())
                    .cloned()
                    .collect();
                (n.clone(), cols)
            })
            .filter(|(_, cols)| !cols.is_empty())
            .collect();
        candidates.sort_by_key(|(_, cols)| (!cols.iter().any(|c| c == "slug"), cols.len()));
        let (natural, natural_from) = match candidates.first() {
            Some((n, cols)) => (cols.clone(), format!("unique constraint {n}")),
            None if has("slug") => (vec!["slug".to_owned()], "column slug".to_owned()),
            None if pk.len() > 1 => (
                Vec::new(),
                "none found: rows are matched by their primary key".to_owned(),
            ),
            None => (
                Vec::new(),
                "none found: every row is restored as new".to_owned(),
            ),
        };
        let mut def = TableDef::new(name)
            .pk_columns(&pk)
            .user_field(user.as_deref());
        def.natural_key = natural;
        let mut refs = Vec::new();
        let single = |c: &String| {
            f.fks
                .iter()
                .any(|(_, _, cols)| cols.as_slice() == [c.clone()])
        };
        for (cname, target, cols) in &f.fks {
            let by_id = partitions.references.get(&(name.clone(), cname.clone()));
            if let Some(col) = by_id {
                report.notes.push(format!(
                    "{name}: foreign key {cname} references the partitioned table '{target}' by its generated \
                     key and partition key; {col} is remapped, the other columns are taken as they are"
                ));
            }
            let [col] = by_id.map_or(cols.as_slice(), std::slice::from_ref) else {
                if cols.iter().all(single) {
                    report.notes.push(format!(
                        "{name}: foreign key {cname} has several columns; each is remapped through its own foreign key"
                    ));
                } else if included(target) {
                    return Err(BackupError::Schema(format!(
                        "table '{name}': foreign key {cname} ({}) references '{target}' through several columns, \
                         which dba cannot remap; give each of those columns its own foreign key, give a backup \
                         schema, or leave '{name}' out",
                        cols.join(", ")
                    )));
                } else {
                    report.notes.push(format!(
                        "{name}: foreign key {cname} has several columns and is not remapped ('{target}' is left out)"
                    ));
                }
                continue;
            };
            let not_null = f.columns.iter().any(|(n, nn)| n == col && *nn);
            if not_null {
                def.parents.push(ForeignKey::new(target, col));
            } else {
                def.optional_refs.push(ForeignKey::new(target, col));
            }
            refs.push(format!(
                "{} {target} via {col}",
                if not_null { "parent" } else { "optional ref" }
            ));
        }
        report.tables.push(format!(
            "{name}: pk {}, natural key {} ({natural_from}), user field {}, {}",
            pk.join("+"),
            if def.natural_key.is_empty() {
                "-".to_owned()
            } else {
                def.natural_key.join("+")
            },
            def.user_field.as_deref().unwrap_or("-"),
            if refs.is_empty() {
                "no references".to_owned()
            } else {
                refs.join(", ")
            }
        ));
        defs.insert(name.clone(), def);
    }
    let ordered = order(defs, &mut report)?;
    let names: Vec<String> = ordered.iter().map(|t| t.name.clone()).collect();
    let all = BackupSchema::new(ordered);
    // References to tables outside the result pass through unchanged, like a subset's.
    let mut everything = all.tables.clone();
    for name in facts.keys().chain(&outside) {
        if !names.contains(name) {
            everything.push(TableDef::new(name).natural_key(&[]));
        }
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut full = BackupSchema::new(everything);
    full.tables.sort_by_key(|t| !names.contains(&t.name));
    let schema = if full.tables.len() == all.tables.len() {
        all
    } else {
        full.subset(&refs)?
    };
    Ok((schema.in_schema(home_ref)?, report))
}

/// Topological order, parents first, ties by name; a cycle through optional references is broken by
/// dropping those references (noted), one through required parents is an error.
fn order(
    mut defs: HashMap<String, TableDef>,
    report: &mut InferenceReport,
) -> Result<Vec<TableDef>, BackupError> {
    let mut out: Vec<TableDef> = Vec::new();
    while !defs.is_empty() {
        let placed: Vec<String> = out.iter().map(|t| t.name.clone()).collect();
        let ready = |t: &TableDef, with_optional: bool| {
            t.parents
                .iter()
                .chain(if with_optional {
                    &t.optional_refs[..]
                } else {
                    &[]
                })
                .all(|r| {
                    r.table == t.name || placed.contains(&r.table) || !defs.contains_key(&r.table)
                })
        };
        let mut names: Vec<&String> = defs.keys().collect();
        names.sort();
        let next = names
            .iter()
            .find(|n| ready(&defs[**n], true))
            .or_else(|| names.iter().find(|n| ready(&defs[**n], false)))
            .map(|n| (*n).clone());
        let Some(name) = next else {
            let mut cycle: Vec<&String> = defs.keys().collect();
            cycle.sort();
            return Err(BackupError::Schema(format!(
                "required foreign keys form a cycle among {}",
                cycle
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let mut def = defs.remove(&name).expect("picked from the map");
        let before = def.optional_refs.len();
        def.optional_refs.retain(|r| {
            r.table == def.name || placed.contains(&r.table) || !defs.contains_key(&r.table)
        });
        if def.optional_refs.len() < before {
            report.notes.push(format!(
                "{}: optional references that close a cycle are not remapped",
                def.name
            ));
        }
        out.push(def);
    }
    Ok(out)
}

fn str_of(row: &dba_core::Row, key: &str) -> String {
    row.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
