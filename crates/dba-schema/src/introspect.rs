//! Live introspection from `pg_catalog` in a fixed number of queries, whatever the number of tables.
//!
//! Each query covers every requested schema at once (the schema list is bound as one JSON parameter), so
//! introspecting 1,000 tables costs the same [`CATALOG_QUERIES`] round trips as introspecting one. Objects
//! owned by extensions are left out. Compared with the Python original: CHECK constraints are included,
//! constraints are keyed per table (two tables may use one constraint name), composite foreign keys keep
//! every referenced column, a trigger keeps every event, overloaded functions stay apart, expression and
//! partial indexes keep their expressions and predicate, types keep lengths, precision and array brackets,
//! privileges do not hide objects (pg_catalog, not information_schema), and caller exclusions extend the
//! defaults.

use std::collections::BTreeSet;

use dba_core::{DatabaseClient, Row, Value};

use crate::error::SchemaError;
use crate::model::{
    Catalog, CheckConstraint, Column, EnumType, ForeignKey, Function, Identity, Index, PrimaryKey,
    Sequence, Table, TableKind, Trigger, UniqueConstraint, View, ViewColumn, object_key,
};

/// How many catalog queries [`introspect`] runs, independent of the number of objects.
pub const CATALOG_QUERIES: usize = 9;

/// Tables every introspection skips, as in the Python original.
pub const DEFAULT_EXCLUDED_TABLES: [&str; 3] =
    ["schema_migrations", "pg_stat_statements", "spatial_ref_sys"];

/// Which schemas to read and which tables to leave out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntrospectOptions {
    /// Exact schema names; `["public"]` by default.
    pub schemas: Vec<String>,
    /// Exact table names to skip in every schema; [`DEFAULT_EXCLUDED_TABLES`] by default.
    pub excluded_tables: BTreeSet<String>,
}

impl Default for IntrospectOptions {
    fn default() -> Self {
        IntrospectOptions {
            schemas: vec!["public".to_owned()],
            excluded_tables: DEFAULT_EXCLUDED_TABLES
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        }
    }
}

impl IntrospectOptions {
    /// Reads these schemas instead of `public`.
    pub fn with_schemas<I: IntoIterator<Item = S>, S: Into<String>>(mut self, schemas: I) -> Self {
        self.schemas = schemas.into_iter().map(Into::into).collect();
        self
    }

    /// Reads the schemas `expected` names (its tables', views' and enums'), or `default_schema` (a profile's
    /// `schema` setting) when it names none: the scope to compare a schema file with.
    pub fn for_expected(expected: &Catalog, default_schema: &str) -> Self {
        let mut schemas: BTreeSet<String> = expected
            .tables
            .values()
            .map(|t| t.schema.clone())
            .chain(expected.views.values().map(|v| v.schema.clone()))
            .chain(expected.enums.values().map(|e| e.schema.clone()))
            .collect();
        if schemas.is_empty() {
            schemas.insert(default_schema.to_owned());
        }
        IntrospectOptions::default().with_schemas(schemas)
    }

    /// Also skips `table` (the defaults stay excluded).
    pub fn exclude(mut self, table: impl Into<String>) -> Self {
        self.excluded_tables.insert(table.into());
        self
    }
}

/// The names and types of the columns of the view `c`, in order.
pub(crate) const VIEW_COLUMNS: &str = "\
    ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 \
          AND NOT a.attisdropped ORDER BY a.attnum) AS column_names, \
    ARRAY(SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = c.oid \
          AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS column_types";

const IN_SCHEMAS: &str = "IN (SELECT jsonb_array_elements_text($1::jsonb))";

fn not_extension(catalog: &str, oid: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM pg_depend x WHERE x.classid = '{catalog}'::regclass \
         AND x.objid = {oid} AND x.deptype = 'e')"
    )
}

/// Reads every table, column, constraint, index, trigger, function, view, enum and sequence of the
/// requested schemas through `client`, in [`CATALOG_QUERIES`] queries.
pub async fn introspect(
    client: &dyn DatabaseClient,
    options: &IntrospectOptions,
) -> Result<Catalog, SchemaError> {
    let schemas = Value::Array(options.schemas.iter().cloned().map(Value::String).collect());
    let params = [Value::String(schemas.to_string())];
    let mut catalog = Catalog::default();
    let excluded = |name: &str| options.excluded_tables.contains(name);

    let rel = "c.relkind IN ('r', 'p')";
    let tables_sql = format!(
        "SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind, \
         pn.nspname AS parent_schema, pc.relname AS parent_name, \
         CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key, \
         CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS partition_bound \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND c.relispartition \
         LEFT JOIN pg_class pc ON pc.oid = i.inhparent \
         LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace \
         WHERE {rel} AND n.nspname {IN_SCHEMAS} AND {} ORDER BY 1, 2",
        not_extension("pg_class", "c.oid")
    );
    for row in client.query(&tables_sql, &params).await? {
        let r = Fields::new(&row, "tables");
        let (schema, name) = (r.text("schema")?, r.text("name")?);
        if excluded(&name) {
            continue;
        }
        let mut table = Table::new(&schema, &name);
        if r.text("kind")? == "p" {
            table.kind = TableKind::Partitioned;
        }
        if let (Some(s), Some(n)) = (r.opt("parent_schema"), r.opt("parent_name")) {
            table.partition_of = Some(object_key(&s, &n));
        }
        table.partition_key = r.opt("partition_key");
        table.partition_bound = r.opt("partition_bound");
        catalog.tables.insert(table.key(), table);
    }

    let from_tables = format!(
        "JOIN pg_class c ON c.oid = {{}} JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE {rel} AND n.nspname {IN_SCHEMAS}"
    );
    let columns_sql = format!(
        "SELECT n.nspname AS schema, c.relname AS table, a.attname AS name, a.attnum::int AS position, \
         format_type(a.atttypid, a.atttypmod) AS data_type, NOT a.attnotnull AS nullable, \
         CASE WHEN a.attgenerated = '' THEN pg_get_expr(d.adbin, d.adrelid) END AS default_expr, \
         CASE WHEN a.attgenerated <> '' THEN pg_get_expr(d.adbin, d.adrelid) END AS generated, \
         a.attidentity::text AS identity \
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         {} AND a.attnum > 0 AND NOT a.attisdropped",
        from_tables.replace("{}", "a.attrelid")
    );
    for row in client.query(&columns_sql, &params).await? {
        let r = Fields::new(&row, "columns");
        let Some(table) = catalog.tables.get_mut(&r.table_key()?) else {
            continue;
        };
        let identity = match r.text("identity")?.as_str() {
            "a" => Some(Identity::Always),
            "d" => Some(Identity::ByDefault),
            _ => None,
        };
        let column = Column {
            name: r.text("name")?,
            position: u32::try_from(r.int("position")?).unwrap_or(0),
            data_type: r.text("data_type")?,
            nullable: r.flag("nullable")?,
            default: r.opt("default_expr"),
            identity,
            generated: r.opt("generated"),
        };
        table.columns.insert(column.name.clone(), column);
    }

    let names = |key: &str, rel: &str| {
        format!(
            "ARRAY(SELECT a.attname FROM unnest(k.{key}) WITH ORDINALITY u(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = k.{rel} AND a.attnum = u.attnum ORDER BY u.ord)"
        )
    };
    let constraints_sql = format!(
        "SELECT n.nspname AS schema, c.relname AS table, k.conname AS name, k.contype::text AS type, \
         {} AS columns, fn.nspname AS ref_schema, fc.relname AS ref_table, {} AS ref_columns, \
         k.confdeltype::text AS on_delete, k.confupdtype::text AS on_update, \
         k.condeferrable AS deferrable, k.condeferred AS deferred, \
         CASE WHEN k.contype = 'c' THEN pg_get_expr(k.conbin, k.conrelid, true) END AS expression \
         FROM pg_constraint k LEFT JOIN pg_class fc ON fc.oid = k.confrelid \
         LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace \
         {} AND k.contype IN ('p', 'f', 'u', 'c')",
        names("conkey", "conrelid"),
        names("confkey", "confrelid"),
        from_tables.replace("{}", "k.conrelid")
    );
    for row in client.query(&constraints_sql, &params).await? {
        let r = Fields::new(&row, "constraints");
        let Some(table) = catalog.tables.get_mut(&r.table_key()?) else {
            continue;
        };
        let name = r.text("name")?;
        let columns = r.list("columns")?;
        match r.text("type")?.as_str() {
            "p" => table.primary_key = Some(PrimaryKey { name, columns }),
            "u" => {
                table
                    .unique_constraints
                    .insert(name.clone(), UniqueConstraint { name, columns });
            }
            "c" => {
                let expression = r.text("expression")?;
                table
                    .check_constraints
                    .insert(name.clone(), CheckConstraint { name, expression });
            }
            _ => {
                let fk = ForeignKey {
                    name: name.clone(),
                    columns,
                    referenced_schema: r.text("ref_schema")?,
                    referenced_table: r.text("ref_table")?,
                    referenced_columns: r.list("ref_columns")?,
                    on_delete: action(&r.text("on_delete")?),
                    on_update: action(&r.text("on_update")?),
                    deferrable: r.flag("deferrable")?,
                    initially_deferred: r.flag("deferred")?,
                };
                table.foreign_keys.insert(name, fk);
            }
        }
    }

    let indexes_sql = format!(
        "SELECT n.nspname AS schema, c.relname AS table, ic.relname AS name, i.indisunique AS is_unique, \
         am.amname AS method, \
         ARRAY(SELECT pg_get_indexdef(i.indexrelid, g, true) FROM generate_series(1, i.indnkeyatts::int) g \
               ORDER BY g) AS columns, \
         pg_get_expr(i.indpred, i.indrelid, true) AS predicate, pg_get_indexdef(i.indexrelid) AS definition \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam \
         {} AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid \
         AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))",
        from_tables.replace("{}", "i.indrelid")
    );
    for row in client.query(&indexes_sql, &params).await? {
        let r = Fields::new(&row, "indexes");
        let Some(table) = catalog.tables.get_mut(&r.table_key()?) else {
            continue;
        };
        let index = Index {
            name: r.text("name")?,
            columns: r.list("columns")?,
            unique: r.flag("is_unique")?,
            method: r.text("method")?,
            predicate: r.opt("predicate"),
            definition: r.text("definition")?,
        };
        table.indexes.insert(index.name.clone(), index);
    }

    let triggers_sql = format!(
        "SELECT n.nspname AS schema, c.relname AS table, t.tgname AS name, t.tgtype::int AS type, \
         t.tgfoid::regproc::text AS function, pg_get_triggerdef(t.oid, true) AS definition \
         FROM pg_trigger t {} AND NOT t.tgisinternal",
        from_tables.replace("{}", "t.tgrelid")
    );
    for row in client.query(&triggers_sql, &params).await? {
        let r = Fields::new(&row, "triggers");
        let Some(table) = catalog.tables.get_mut(&r.table_key()?) else {
            continue;
        };
        let bits = r.int("type")?;
        let trigger = Trigger {
            name: r.text("name")?,
            timing: if bits & 64 != 0 {
                "INSTEAD OF"
            } else if bits & 2 != 0 {
                "BEFORE"
            } else {
                "AFTER"
            }
            .to_owned(),
            events: [
                (4, "INSERT"),
                (16, "UPDATE"),
                (8, "DELETE"),
                (32, "TRUNCATE"),
            ]
            .iter()
            .filter(|(bit, _)| bits & bit != 0)
            .map(|(_, e)| (*e).to_owned())
            .collect(),
            level: if bits & 1 != 0 { "ROW" } else { "STATEMENT" }.to_owned(),
            function: r.text("function")?,
            definition: r.text("definition")?,
        };
        table.triggers.insert(trigger.name.clone(), trigger);
    }

    let functions_sql = format!(
        "SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS arguments, \
         pg_get_function_result(p.oid) AS result, p.prokind::text AS kind, l.lanname AS language, \
         CASE WHEN p.prokind IN ('f', 'p') THEN pg_get_functiondef(p.oid) END AS definition \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang \
         WHERE n.nspname {IN_SCHEMAS} AND {}",
        not_extension("pg_proc", "p.oid")
    );
    for row in client.query(&functions_sql, &params).await? {
        let r = Fields::new(&row, "functions");
        let function = Function {
            schema: r.text("schema")?,
            name: r.text("name")?,
            arguments: r.text("arguments")?,
            result: r.opt("result").unwrap_or_default(),
            kind: match r.text("kind")?.as_str() {
                "p" => "procedure",
                "a" => "aggregate",
                "w" => "window",
                _ => "function",
            }
            .to_owned(),
            language: r.text("language")?,
            definition: r.opt("definition"),
        };
        let key = format!(
            "{}({})",
            object_key(&function.schema, &function.name),
            function.arguments
        );
        catalog.functions.insert(key, function);
    }

    let views_sql = format!(
        "SELECT n.nspname AS schema, c.relname AS name, c.relkind = 'm' AS materialized, \
         pg_get_viewdef(c.oid, true) AS definition, {VIEW_COLUMNS} \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('v', 'm') AND n.nspname {IN_SCHEMAS} AND {}",
        not_extension("pg_class", "c.oid")
    );
    for row in client.query(&views_sql, &params).await? {
        let r = Fields::new(&row, "views");
        let view = View {
            schema: r.text("schema")?,
            name: r.text("name")?,
            materialized: r.flag("materialized")?,
            definition: r.text("definition")?,
            aliases: Vec::new(),
            rendered: r.opt("definition"),
            columns: r.view_columns()?,
        };
        catalog
            .views
            .insert(object_key(&view.schema, &view.name), view);
    }

    let enums_sql = format!(
        "SELECT n.nspname AS schema, t.typname AS name, \
         ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels \
         FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
         WHERE t.typtype = 'e' AND n.nspname {IN_SCHEMAS} AND {}",
        not_extension("pg_type", "t.oid")
    );
    for row in client.query(&enums_sql, &params).await? {
        let r = Fields::new(&row, "enums");
        let e = EnumType {
            schema: r.text("schema")?,
            name: r.text("name")?,
            labels: r.list("labels")?,
        };
        catalog.enums.insert(object_key(&e.schema, &e.name), e);
    }

    let sequences_sql = format!(
        "SELECT n.nspname AS schema, c.relname AS name, format_type(s.seqtypid, NULL) AS data_type, \
         s.seqstart::text AS start, s.seqincrement::text AS increment, \
         tn.nspname AS owner_schema, tc.relname AS owner_table, ta.attname AS owner_column \
         FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid \
           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0 \
         LEFT JOIN pg_class tc ON tc.oid = d.refobjid \
         LEFT JOIN pg_namespace tn ON tn.oid = tc.relnamespace \
         LEFT JOIN pg_attribute ta ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid \
         WHERE n.nspname {IN_SCHEMAS} AND {}",
        not_extension("pg_class", "c.oid")
    );
    for row in client.query(&sequences_sql, &params).await? {
        let r = Fields::new(&row, "sequences");
        let owned_by = match (
            r.opt("owner_schema"),
            r.opt("owner_table"),
            r.opt("owner_column"),
        ) {
            (Some(s), Some(t), Some(c)) => Some(format!("{}.{c}", object_key(&s, &t))),
            _ => None,
        };
        let s = Sequence {
            schema: r.text("schema")?,
            name: r.text("name")?,
            data_type: r.text("data_type")?,
            start: r.int_text("start")?,
            increment: r.int_text("increment")?,
            owned_by,
        };
        catalog.sequences.insert(object_key(&s.schema, &s.name), s);
    }
    Ok(catalog)
}

fn action(code: &str) -> String {
    match code {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
    .to_owned()
}

/// Typed access to one catalog row, with errors naming the query and field.
pub(crate) struct Fields<'a> {
    row: &'a Row,
    query: &'static str,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(row: &'a Row, query: &'static str) -> Fields<'a> {
        Fields { row, query }
    }

    fn error(&self, field: &str, what: &str) -> SchemaError {
        SchemaError::Catalog {
            query: self.query,
            message: format!("field {field} is not {what}"),
        }
    }

    pub(crate) fn opt(&self, field: &str) -> Option<String> {
        self.row
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    fn text(&self, field: &str) -> Result<String, SchemaError> {
        self.opt(field).ok_or_else(|| self.error(field, "text"))
    }

    fn flag(&self, field: &str) -> Result<bool, SchemaError> {
        self.row
            .get(field)
            .and_then(Value::as_bool)
            .ok_or_else(|| self.error(field, "a boolean"))
    }

    fn int(&self, field: &str) -> Result<i64, SchemaError> {
        self.row
            .get(field)
            .and_then(Value::as_i64)
            .ok_or_else(|| self.error(field, "an integer"))
    }

    fn int_text(&self, field: &str) -> Result<i64, SchemaError> {
        self.text(field)?
            .parse()
            .map_err(|_| self.error(field, "an integer"))
    }

    fn list(&self, field: &str) -> Result<Vec<String>, SchemaError> {
        match self.row.get(field) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| self.error(field, "a text array"))
                })
                .collect(),
            Some(Value::Null) | None => Ok(Vec::new()),
            Some(_) => Err(self.error(field, "a text array")),
        }
    }

    pub(crate) fn view_columns(&self) -> Result<Vec<ViewColumn>, SchemaError> {
        let names = self.list("column_names")?;
        let types = self.list("column_types")?;
        Ok(names
            .into_iter()
            .zip(types)
            .map(|(name, data_type)| ViewColumn { name, data_type })
            .collect())
    }

    fn table_key(&self) -> Result<String, SchemaError> {
        Ok(object_key(&self.text("schema")?, &self.text("table")?))
    }
}
