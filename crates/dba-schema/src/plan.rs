//! Fix plans: pure values listing ordered SQL steps, each with the hazard it carries.
//!
//! The default plan is additive and never loses a row: missing enums, then missing tables in foreign-key order
//! (foreign keys that close a cycle are added afterwards with `ALTER TABLE ... ADD CONSTRAINT`), then missing
//! columns, then missing primary keys, UNIQUE, CHECK and foreign-key constraints and indexes, then missing
//! views. A missing `NOT NULL` column without a default is added nullable and made `NOT NULL` only if no row
//! is NULL (a step that checks first), so existing rows stay valid; otherwise the plan's verification allows
//! that one difference to remain and reports it as needing a value.
//!
//! Steps that alter existing objects (a column's type, nullability or default, a changed foreign key, primary
//! key or index) appear only when [`PlanOptions::max_hazard`] opts into their hazard. No step ever drops a
//! table, drops a column or uses `CASCADE`; a type change is `ALTER COLUMN ... TYPE ... USING`, which rewrites
//! the table in place and keeps its rows, foreign keys and (if PostgreSQL allows the change) views.
//!
//! Every identifier is rendered double-quoted. Expressions (defaults, CHECKs, generated columns, index keys
//! and predicates) come from a parsed schema file, parsed column-defs or the database's own catalog, and are
//! parsed again with sqlparser before they are placed in a step.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::column_defs::apply_column_defs;
use crate::compare::{ColumnDiff, Difference, Severity, resolved_fk, validate};
use crate::error::SchemaError;
use crate::introspect::IntrospectOptions;
use crate::model::{
    Catalog, CheckConstraint, Column, ForeignKey, Identity, Index, PrimaryKey, Table, TableKind,
    UniqueConstraint, View,
};
use crate::parse::quote_ident;

/// What running a step can cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hazard {
    /// Creates a new object; nothing existing is touched.
    None,
    /// Takes a lock on an existing table (and may scan it), without rewriting it.
    Lock,
    /// Rewrites an existing table (a type change).
    Rewrite,
    /// Deletes data. No planned step carries it; it exists so callers can state a ceiling.
    DataLoss,
}

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hazard::None => "none",
            Hazard::Lock => "takes a lock",
            Hazard::Rewrite => "rewrites a table",
            Hazard::DataLoss => "deletes data",
        })
    }
}

/// What a step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StepKind {
    /// `CREATE TYPE ... AS ENUM`.
    CreateEnum,
    /// `CREATE TABLE`.
    CreateTable,
    /// `ALTER TABLE ... ADD COLUMN`.
    AddColumn,
    /// Sets NOT NULL on a column only if no row holds NULL (on an existing column: opt-in).
    SetNotNullIfNoNulls,
    /// `ALTER TABLE ... ADD CONSTRAINT` (primary key, unique, check, foreign key).
    AddConstraint,
    /// `ALTER TABLE ... DROP CONSTRAINT` of a constraint that is re-added in the next step (opt-in).
    DropConstraint,
    /// `CREATE INDEX`.
    CreateIndex,
    /// `DROP INDEX` of an index that is re-created in the next step (opt-in).
    DropIndex,
    /// `ALTER COLUMN ... TYPE ... USING` (opt-in).
    AlterColumnType,
    /// `ALTER COLUMN ... SET NOT NULL` unchecked. No longer planned: [`StepKind::SetNotNullIfNoNulls`]
    /// checks for NULLs first.
    SetNotNull,
    /// `ALTER COLUMN ... DROP NOT NULL` (opt-in).
    DropNotNull,
    /// `ALTER COLUMN ... SET DEFAULT` (opt-in).
    SetDefault,
    /// `ALTER COLUMN ... DROP DEFAULT` (opt-in).
    DropDefault,
    /// `CREATE VIEW` or `CREATE MATERIALIZED VIEW`.
    CreateView,
    /// `CREATE OR REPLACE VIEW` of a view whose query changed (opt-in).
    ReplaceView,
}

/// One step of a plan: one SQL statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What it does.
    pub kind: StepKind,
    /// The table it targets (its key), if any.
    pub table: Option<String>,
    /// The view it creates or replaces (its key), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// A human description naming the table and column, e.g. `add column items.b character varying(100)`
    /// (an added column's description ends with its definition as the step creates it).
    pub description: String,
    /// What running it can cost.
    pub hazard: Hazard,
    /// The statement, with every identifier quoted.
    pub sql: String,
}

/// A difference the plan leaves alone, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotFixed {
    /// What it is about: a table key, `table.column`, or the difference's text.
    pub subject: String,
    /// Why the plan does not fix it (for example, the hazard to opt into).
    pub reason: String,
    /// The difference, when it is one of [`Difference`]'s kinds.
    pub difference: Option<Difference>,
}

/// Options of [`plan_fix`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanOptions {
    /// The highest hazard a step that alters an existing object may carry; [`Hazard::None`] (the default)
    /// plans no such step. Additive steps are always planned.
    pub max_hazard: Hazard,
    /// Column-defs (`"table.column"` to a definition), which override schema.sql's columns.
    pub column_defs: BTreeMap<String, String>,
    /// The scope re-introspected when the plan is verified.
    pub introspect: IntrospectOptions,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            max_hazard: Hazard::None,
            column_defs: BTreeMap::new(),
            introspect: IntrospectOptions::default(),
        }
    }
}

/// A plan: ordered steps plus what it cannot fix. Pure data; [`apply`](crate::apply) runs it.
#[derive(Clone, Debug, PartialEq)]
pub struct FixPlan {
    /// The steps in execution order.
    pub steps: Vec<Step>,
    /// Differences the plan leaves alone.
    pub not_fixed: Vec<NotFixed>,
    /// The schema the plan aims at (expected, with column-defs applied); verification compares against it.
    pub target: Catalog,
    /// Error differences allowed to remain after the plan ran (the not-fixed ones, and NOT NULL columns that
    /// still hold NULLs).
    pub may_remain: Vec<Difference>,
    /// Missing tables the plan does not create.
    pub tables_left_missing: Vec<String>,
    /// Missing columns of existing tables the plan does not add (adding them needs a hazard not opted into).
    pub columns_left_missing: Vec<ColumnDiff>,
    /// The scope re-introspected for verification.
    pub introspect: IntrospectOptions,
}

impl FixPlan {
    /// Whether there is anything to run.
    pub fn has_fixes(&self) -> bool {
        !self.steps.is_empty()
    }

    /// How many steps there are.
    pub fn fix_count(&self) -> usize {
        self.steps.len()
    }

    /// Existing tables the plan alters: what a caller should back up before applying it.
    pub fn tables_to_back_up(&self) -> Vec<String> {
        let created: BTreeSet<&str> = self
            .steps
            .iter()
            .filter(|s| s.kind == StepKind::CreateTable)
            .filter_map(|s| s.table.as_deref())
            .collect();
        let touched: BTreeSet<String> = self
            .steps
            .iter()
            .filter_map(|s| s.table.as_deref())
            .filter(|t| !created.contains(t))
            .map(str::to_owned)
            .collect();
        touched.into_iter().collect()
    }

    /// The steps as one script, one statement per line group, for a dry run.
    pub fn script(&self) -> String {
        self.steps
            .iter()
            .map(|s| format!("-- {} (hazard: {})\n{};\n", s.description, s.hazard, s.sql))
            .collect()
    }
}

fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

fn list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Parses `text` as exactly one SQL expression, so nothing but an expression reaches a step.
fn checked_expr<'a>(table: &str, text: &'a str) -> Result<&'a str, SchemaError> {
    let dialect = PostgreSqlDialect {};
    let error = |message: String| SchemaError::InvalidExpression {
        table: table.to_owned(),
        expression: text.to_owned(),
        message,
    };
    let mut parser = Parser::new(&dialect)
        .try_with_sql(text)
        .map_err(|e| error(e.to_string()))?;
    parser.parse_expr().map_err(|e| error(e.to_string()))?;
    if parser.peek_token().token != sqlparser::tokenizer::Token::EOF {
        return Err(error("more than one expression".to_owned()));
    }
    Ok(text)
}

/// The `serial` shorthand a column stands for: an integer type whose default takes the next value of the
/// `{table}_{column}_seq` sequence that `serial` creates. Rendering it back as `serial` creates that sequence;
/// spelled out, the `nextval` default would name a sequence that does not exist yet.
fn serial_type(c: &Column) -> Option<&'static str> {
    let default = c.default.as_deref()?.trim();
    let sequence = default
        .strip_prefix("nextval('")?
        .strip_suffix("'::regclass)")?
        .trim_matches('"');
    if !sequence.ends_with(&format!("_{}_seq", c.name)) {
        return None;
    }
    match c.data_type.as_str() {
        "integer" => Some("serial"),
        "bigint" => Some("bigserial"),
        "smallint" => Some("smallserial"),
        _ => None,
    }
}

fn column_sql(table: &str, c: &Column, with_not_null: bool) -> Result<String, SchemaError> {
    Ok(format!(
        "{} {}",
        quote_ident(&c.name),
        column_definition(table, c, with_not_null)?
    ))
}

/// A column's definition as a step creates it, without its name: `character varying(100)`,
/// `boolean DEFAULT false`, `serial`.
fn column_definition(table: &str, c: &Column, with_not_null: bool) -> Result<String, SchemaError> {
    if let Some(serial) = serial_type(c).filter(|_| c.identity.is_none() && c.generated.is_none()) {
        return Ok(serial.to_owned());
    }
    let mut sql = c.data_type.clone();
    match c.identity {
        Some(Identity::Always) => sql.push_str(" GENERATED ALWAYS AS IDENTITY"),
        Some(Identity::ByDefault) => sql.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
        None => {}
    }
    if let Some(g) = &c.generated {
        sql.push_str(&format!(
            " GENERATED ALWAYS AS ({}) STORED",
            checked_expr(table, g)?
        ));
    } else if let Some(d) = &c.default
        && c.identity.is_none()
    {
        sql.push_str(&format!(" DEFAULT {}", checked_expr(table, d)?));
    }
    if with_not_null && !c.nullable && c.identity.is_none() {
        sql.push_str(" NOT NULL");
    }
    Ok(sql)
}

fn pk_sql(pk: &PrimaryKey) -> String {
    format!(
        "CONSTRAINT {} PRIMARY KEY ({})",
        quote_ident(&pk.name),
        list(&pk.columns)
    )
}

fn unique_sql(u: &UniqueConstraint) -> String {
    format!(
        "CONSTRAINT {} UNIQUE ({})",
        quote_ident(&u.name),
        list(&u.columns)
    )
}

fn check_sql(table: &str, c: &CheckConstraint) -> Result<String, SchemaError> {
    Ok(format!(
        "CONSTRAINT {} CHECK ({})",
        quote_ident(&c.name),
        checked_expr(table, &c.expression)?
    ))
}

fn fk_sql(fk: &ForeignKey) -> String {
    let mut sql = format!(
        "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {}",
        quote_ident(&fk.name),
        list(&fk.columns),
        qualified(&fk.referenced_schema, &fk.referenced_table)
    );
    if !fk.referenced_columns.is_empty() {
        sql.push_str(&format!(" ({})", list(&fk.referenced_columns)));
    }
    for (what, action) in [("DELETE", &fk.on_delete), ("UPDATE", &fk.on_update)] {
        let action = match action.as_str() {
            "RESTRICT" | "CASCADE" | "SET NULL" | "SET DEFAULT" => action.as_str(),
            _ => "NO ACTION",
        };
        sql.push_str(&format!(" ON {what} {action}"));
    }
    if fk.deferrable {
        sql.push_str(if fk.initially_deferred {
            " DEFERRABLE INITIALLY DEFERRED"
        } else {
            " DEFERRABLE"
        });
    }
    sql
}

fn index_sql(table: &Table, index: &Index) -> Result<String, SchemaError> {
    let key = table.key();
    let columns = index
        .columns
        .iter()
        .map(|c| checked_expr(&key, c).map(|c| format!("({c})")))
        .collect::<Result<Vec<_>, _>>()?;
    let method = if index
        .method
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        index.method.as_str()
    } else {
        "btree"
    };
    let mut sql = format!(
        "CREATE {}INDEX {} ON {} USING {method} ({})",
        if index.unique { "UNIQUE " } else { "" },
        quote_ident(&index.name),
        qualified(&table.schema, &table.name),
        columns.join(", ")
    );
    if let Some(p) = &index.predicate {
        sql.push_str(&format!(" WHERE {}", checked_expr(&key, p)?));
    }
    Ok(sql)
}

/// Orders `keys` so referenced tables come first; back edges of cycles are returned as deferred.
fn fk_order(keys: &[String], target: &Catalog) -> Vec<String> {
    fn visit(
        key: &str,
        target: &Catalog,
        set: &BTreeSet<&str>,
        state: &mut BTreeMap<String, u8>,
        out: &mut Vec<String>,
    ) {
        if state.get(key).is_some() {
            return;
        }
        state.insert(key.to_owned(), 1);
        if let Some(t) = target.tables.get(key) {
            for fk in t.foreign_keys.values() {
                let r = fk.referenced_key();
                if r != key && set.contains(r.as_str()) {
                    visit(&r, target, set, state, out);
                }
            }
        }
        state.insert(key.to_owned(), 2);
        out.push(key.to_owned());
    }
    let set: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let mut state = BTreeMap::new();
    let mut out = Vec::new();
    for key in keys {
        visit(key, target, &set, &mut state, &mut out);
    }
    out
}

fn step(kind: StepKind, table: &str, description: String, hazard: Hazard, sql: String) -> Step {
    Step {
        kind,
        table: Some(table.to_owned()),
        view: None,
        description,
        hazard,
        sql,
    }
}

/// Sets NOT NULL on `column` of `key` (rendered `name`) only if no row holds NULL there, so the rest of the
/// fix still lands; otherwise the column stays nullable and the difference remains.
fn set_not_null_unless_null(key: &str, name: &str, column: &str) -> Step {
    let sql = format!(
        "IF NOT EXISTS (SELECT 1 FROM {name} WHERE {col} IS NULL) THEN \
         ALTER TABLE {name} ALTER COLUMN {col} SET NOT NULL; END IF;",
        col = quote_ident(column)
    );
    let mut tag = "$dba$".to_owned();
    while sql.contains(&tag) {
        tag.insert(tag.len() - 1, '_');
    }
    step(
        StepKind::SetNotNullIfNoNulls,
        key,
        format!("set not null on {key}.{column} unless a row is null"),
        Hazard::Lock,
        format!("DO {tag} BEGIN {sql} END {tag}"),
    )
}

/// Plans the repair of `actual` towards `expected` (see the module docs for what is planned and in which
/// order). Pure: reads only its arguments.
pub fn plan_fix(
    expected: &Catalog,
    actual: &Catalog,
    options: &PlanOptions,
) -> Result<FixPlan, SchemaError> {
    let mut target = expected.clone();
    apply_column_defs(&mut target, &options.column_defs)?;
    let validation = validate(&target, actual);
    let mut plan = FixPlan {
        steps: Vec::new(),
        not_fixed: Vec::new(),
        target: Catalog::default(),
        may_remain: Vec::new(),
        tables_left_missing: Vec::new(),
        columns_left_missing: Vec::new(),
        introspect: options.introspect.clone(),
    };
    let mut later: Vec<Step> = Vec::new();
    let mut alterations: Vec<Step> = Vec::new();
    let mut constraints: Vec<Step> = Vec::new();
    let mut indexes: Vec<Step> = Vec::new();
    let mut views: Vec<Step> = Vec::new();

    for d in &validation.differences {
        if let Difference::MissingEnum { name } = d
            && let Some(e) = target.enums.get(name)
        {
            let labels: Vec<String> = e.labels.iter().map(|l| literal(l)).collect();
            plan.steps.push(Step {
                kind: StepKind::CreateEnum,
                table: None,
                view: None,
                description: format!("create enum {name}"),
                hazard: Hazard::None,
                sql: format!(
                    "CREATE TYPE {} AS ENUM ({})",
                    qualified(&e.schema, &e.name),
                    labels.join(", ")
                ),
            });
        }
    }

    // Missing tables, parents first; foreign keys to tables not yet there are added afterwards.
    let mut creatable = Vec::new();
    let mut partitions = Vec::new();
    for key in &validation.missing_tables {
        if target.tables[key].partition_of.is_some() {
            partitions.push(key.clone());
        } else {
            creatable.push(key.clone());
        }
    }
    let mut present: BTreeSet<String> = actual.tables.keys().cloned().collect();
    for key in fk_order(&creatable, &target) {
        let table = &target.tables[&key];
        let mut parts = Vec::new();
        for c in table.ordered_columns() {
            parts.push(column_sql(&key, c, true)?);
        }
        if let Some(pk) = &table.primary_key {
            parts.push(pk_sql(pk));
        }
        for u in table.unique_constraints.values() {
            parts.push(unique_sql(u));
        }
        for c in table.check_constraints.values() {
            parts.push(check_sql(&key, c)?);
        }
        for fk in table.foreign_keys.values() {
            let fk = resolved_fk(fk, &target);
            let r = fk.referenced_key();
            if r == key || present.contains(&r) {
                parts.push(fk_sql(&fk));
            } else {
                later.push(step(
                    StepKind::AddConstraint,
                    &key,
                    format!("add foreign key {} to {key}", fk.name),
                    Hazard::Lock,
                    format!(
                        "ALTER TABLE {} ADD {}",
                        qualified(&table.schema, &table.name),
                        fk_sql(&fk)
                    ),
                ));
            }
        }
        plan.steps.push(step(
            StepKind::CreateTable,
            &key,
            format!("create table {key}"),
            Hazard::None,
            format!(
                "CREATE TABLE {} (\n    {}\n){}",
                qualified(&table.schema, &table.name),
                parts.join(",\n    "),
                partition_by_sql(&key, table)?
            ),
        ));
        for index in table.indexes.values() {
            indexes.push(step(
                StepKind::CreateIndex,
                &key,
                format!("create index {} on {key}", index.name),
                Hazard::None,
                index_sql(table, index)?,
            ));
        }
        present.insert(key);
    }
    partition_steps(
        &partitions,
        [&target, actual],
        &mut present,
        &mut plan,
        &mut indexes,
    )?;
    plan.steps.append(&mut later);

    // Missing columns of existing tables.
    let mut not_null_later = Vec::new();
    for missing in &validation.missing_columns {
        let table = &target.tables[&missing.table];
        let c = &table.columns[&missing.column];
        let name = qualified(&table.schema, &table.name);
        let needs_value =
            !c.nullable && c.default.is_none() && c.identity.is_none() && c.generated.is_none();
        let definition = column_definition(&missing.table, c, !needs_value)?;
        // Computing a value for every existing row (stored generated, identity, serial) rewrites the table.
        let hazard = if c.generated.is_some() || c.identity.is_some() || serial_type(c).is_some() {
            Hazard::Rewrite
        } else {
            Hazard::Lock
        };
        if hazard > options.max_hazard.max(Hazard::Lock) {
            plan.columns_left_missing.push(missing.clone());
            plan.not_fixed.push(NotFixed {
                subject: format!("{}.{}", missing.table, c.name),
                reason: format!(
                    "adding it computes a value for every row and {hazard}: opt into that hazard to fix it"
                ),
                difference: None,
            });
            continue;
        }
        plan.steps.push(step(
            StepKind::AddColumn,
            &missing.table,
            format!("add column {}.{} {definition}", missing.table, c.name),
            hazard,
            format!(
                "ALTER TABLE {name} ADD COLUMN {} {definition}",
                quote_ident(&c.name)
            ),
        ));
        if needs_value {
            not_null_later.push(set_not_null_unless_null(&missing.table, &name, &c.name));
            plan.may_remain.push(Difference::Nullability {
                table: missing.table.clone(),
                column: c.name.clone(),
                expected_nullable: false,
            });
        }
    }
    plan.steps.append(&mut not_null_later);

    for d in validation
        .differences
        .iter()
        .filter(|d| d.severity() == Severity::Error)
    {
        let Some(key) = d.table() else {
            if let Difference::MissingView { view } = d {
                let v = &target.views[view];
                checked_query(view, &v.definition)?;
                views.push(Step {
                    kind: StepKind::CreateView,
                    table: None,
                    view: Some(view.clone()),
                    description: format!("create view {view}"),
                    hazard: Hazard::None,
                    sql: format!(
                        "CREATE {}VIEW {}{} AS {}",
                        if v.materialized { "MATERIALIZED " } else { "" },
                        qualified(&v.schema, &v.name),
                        view_aliases(v),
                        v.definition.trim().trim_end_matches(';')
                    ),
                });
            } else if let Difference::ViewChanged {
                view,
                expected,
                actual,
            } = d
            {
                match replace_view(view, expected, actual)? {
                    Ok(step) if step.hazard <= options.max_hazard => views.push(step),
                    Ok(step) => plan.not_fixed.push(not_fixed(
                        d,
                        &format!(
                            "alters an existing object and {}: opt into that hazard to fix it",
                            step.hazard
                        ),
                    )),
                    Err(reason) => plan.not_fixed.push(not_fixed(d, &reason)),
                }
            } else if !matches!(d, Difference::MissingEnum { .. }) {
                plan.not_fixed
                    .push(not_fixed(d, "not repaired automatically"));
            }
            continue;
        };
        let table = &target.tables[key];
        let name = qualified(&table.schema, &table.name);
        let alter = |kind, description: String, hazard, sql: String| {
            step(kind, key, description, hazard, sql)
        };
        match d {
            Difference::MissingForeignKey { foreign_key, .. } => constraints.push(alter(
                StepKind::AddConstraint,
                format!("add foreign key {} to {key}", foreign_key.name),
                Hazard::Lock,
                format!("ALTER TABLE {name} ADD {}", fk_sql(foreign_key)),
            )),
            Difference::MissingUnique { constraint, .. } => constraints.push(alter(
                StepKind::AddConstraint,
                format!("add unique constraint {} to {key}", constraint.name),
                Hazard::Lock,
                format!("ALTER TABLE {name} ADD {}", unique_sql(constraint)),
            )),
            Difference::MissingCheck { constraint, .. } => constraints.push(alter(
                StepKind::AddConstraint,
                format!("add check constraint {} to {key}", constraint.name),
                Hazard::Lock,
                format!("ALTER TABLE {name} ADD {}", check_sql(key, constraint)?),
            )),
            Difference::MissingIndex { index, .. } => indexes.push(alter(
                StepKind::CreateIndex,
                format!("create index {} on {key}", index.name),
                Hazard::Lock,
                index_sql(table, index)?,
            )),
            Difference::PrimaryKey {
                expected: Some(pk),
                actual: None,
                ..
            } => constraints.insert(
                0,
                alter(
                    StepKind::AddConstraint,
                    format!("add primary key to {key}"),
                    Hazard::Lock,
                    format!("ALTER TABLE {name} ADD {}", pk_sql(pk)),
                ),
            ),
            _ => {
                let steps = alteration(d, key, &name, table)?;
                let hazard = steps.iter().map(|s| s.hazard).max().unwrap_or(Hazard::None);
                if steps.is_empty() {
                    plan.not_fixed
                        .push(not_fixed(d, "not repaired automatically"));
                } else if hazard > options.max_hazard {
                    plan.not_fixed.push(not_fixed(
                        d,
                        &format!(
                            "alters an existing object and {hazard}: opt into that hazard to fix it"
                        ),
                    ));
                } else {
                    if let Difference::Nullability {
                        expected_nullable: false,
                        ..
                    } = d
                    {
                        // The step leaves the column nullable while a row holds NULL.
                        plan.may_remain.push(d.clone());
                    }
                    alterations.extend(steps);
                }
            }
        }
    }
    plan.steps.append(&mut alterations);
    plan.steps.append(&mut constraints);
    plan.steps.append(&mut indexes);
    plan.steps.append(&mut views);
    plan.may_remain
        .extend(plan.not_fixed.iter().filter_map(|n| n.difference.clone()));
    plan.target = target;
    Ok(plan)
}

/// ` PARTITION BY <key>` for a partitioned table, checked to be nothing but a partition key; empty for
/// any other table.
fn partition_by_sql(key: &str, table: &Table) -> Result<String, SchemaError> {
    match (&table.kind, &table.partition_key) {
        (TableKind::Partitioned, Some(by)) => {
            checked_clause(
                key,
                by,
                &format!("CREATE TABLE t (x int) PARTITION BY {by}"),
            )?;
            Ok(format!(" PARTITION BY {by}"))
        }
        (TableKind::Partitioned, None) => Err(SchemaError::InvalidExpression {
            table: key.to_owned(),
            expression: String::new(),
            message: "a partitioned table without a partition key".to_owned(),
        }),
        _ => Ok(String::new()),
    }
}

/// Parses `sql` (a statement built around `clause`) and requires exactly one statement, so a partition key
/// or bound from a catalog built by hand cannot carry anything else into a step.
pub(crate) fn checked_clause(table: &str, clause: &str, sql: &str) -> Result<(), SchemaError> {
    match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
        Ok(statements) if statements.len() == 1 => Ok(()),
        Ok(_) => Err(SchemaError::InvalidExpression {
            table: table.to_owned(),
            expression: clause.to_owned(),
            message: "more than one statement".to_owned(),
        }),
        Err(e) => Err(SchemaError::InvalidExpression {
            table: table.to_owned(),
            expression: clause.to_owned(),
            message: e.to_string(),
        }),
    }
}

/// Creates the missing partitions `keys`, each after its parent (created by this plan or already there),
/// with the indexes the file declares on it; the parent's keys and indexes reach it by themselves. A
/// partition whose parent is neither there nor created stays missing, with the reason. Never detaches or
/// drops anything.
fn partition_steps(
    keys: &[String],
    [target, actual]: [&Catalog; 2],
    present: &mut BTreeSet<String>,
    plan: &mut FixPlan,
    indexes: &mut Vec<Step>,
) -> Result<(), SchemaError> {
    let mut pending: Vec<&String> = keys.iter().collect();
    while !pending.is_empty() {
        let (ready, waiting): (Vec<&String>, Vec<&String>) = pending.iter().partition(|k| {
            target.tables[k.as_str()]
                .partition_of
                .as_ref()
                .is_some_and(|p| present.contains(p))
        });
        if ready.is_empty() {
            for key in waiting {
                let parent = target.tables[key.as_str()]
                    .partition_of
                    .clone()
                    .unwrap_or_default();
                plan.tables_left_missing.push(key.clone());
                plan.not_fixed.push(NotFixed {
                    subject: key.clone(),
                    reason: format!(
                        "its parent {parent} is neither in the database nor created by this plan"
                    ),
                    difference: None,
                });
            }
            break;
        }
        for key in ready {
            let table = &target.tables[key.as_str()];
            let parent_key = table.partition_of.clone().unwrap_or_default();
            let Some(parent) = target
                .tables
                .get(&parent_key)
                .or_else(|| actual.tables.get(&parent_key))
            else {
                continue;
            };
            let bound = table.partition_bound.clone().unwrap_or_default();
            checked_clause(
                key,
                &bound,
                &format!("CREATE TABLE t PARTITION OF p {bound}"),
            )?;
            plan.steps.push(step(
                StepKind::CreateTable,
                key,
                format!("create partition {key} of {parent_key}"),
                Hazard::None,
                format!(
                    "CREATE TABLE {} PARTITION OF {} {bound}{}",
                    qualified(&table.schema, &table.name),
                    qualified(&parent.schema, &parent.name),
                    partition_by_sql(key, table)?
                ),
            ));
            for index in table.indexes.values() {
                indexes.push(step(
                    StepKind::CreateIndex,
                    key,
                    format!("create index {} on {key}", index.name),
                    Hazard::None,
                    index_sql(table, index)?,
                ));
            }
            present.insert(key.clone());
        }
        pending = waiting;
    }
    Ok(())
}

/// The step that makes the live view `actual` the `expected` one, or why there is none: PostgreSQL replaces
/// a view in place only when the existing columns keep their names, types and order (new ones may follow),
/// and never a materialized view.
fn replace_view(
    key: &str,
    expected: &View,
    actual: &View,
) -> Result<Result<Step, String>, SchemaError> {
    if expected.materialized || actual.materialized {
        return Ok(Err(
            "a materialized view cannot be replaced in place: drop it and create it again by hand"
                .to_owned(),
        ));
    }
    let kept = actual.columns.len() <= expected.columns.len()
        && actual
            .columns
            .iter()
            .zip(&expected.columns)
            .all(|(a, e)| a == e);
    // Unknown columns (a view that could not be rendered) are left for PostgreSQL to check: if it refuses,
    // the step fails and the whole fix rolls back.
    if !kept && !expected.columns.is_empty() {
        let list = |v: &View| {
            v.columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.data_type))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Ok(Err(format!(
            "its columns change from ({}) to ({}), which CREATE OR REPLACE VIEW cannot do (existing \
             columns must keep their names, types and order): drop the view and create it again by hand",
            list(actual),
            list(expected)
        )));
    }
    let query = expected.definition.trim().trim_end_matches(';');
    checked_query(key, query)?;
    Ok(Ok(Step {
        kind: StepKind::ReplaceView,
        table: None,
        view: Some(key.to_owned()),
        description: format!("replace view {key}"),
        hazard: Hazard::Lock,
        sql: format!(
            "CREATE OR REPLACE VIEW {}{} AS {query}",
            qualified(&expected.schema, &expected.name),
            view_aliases(expected)
        ),
    }))
}

/// ` ("a", "b")` when the view names its columns after its name, else nothing.
pub(crate) fn view_aliases(view: &View) -> String {
    if view.aliases.is_empty() {
        String::new()
    } else {
        format!(" ({})", list(&view.aliases))
    }
}

pub(crate) fn checked_query(view: &str, text: &str) -> Result<(), SchemaError> {
    let sql = format!(
        "SELECT * FROM ({}) AS _dba_view",
        text.trim().trim_end_matches(';')
    );
    match Parser::parse_sql(&PostgreSqlDialect {}, &sql) {
        Ok(statements) if statements.len() == 1 => Ok(()),
        Ok(_) => Err(SchemaError::InvalidExpression {
            table: view.to_owned(),
            expression: text.to_owned(),
            message: "more than one statement".to_owned(),
        }),
        Err(e) => Err(SchemaError::InvalidExpression {
            table: view.to_owned(),
            expression: text.to_owned(),
            message: e.to_string(),
        }),
    }
}

fn not_fixed(d: &Difference, reason: &str) -> NotFixed {
    NotFixed {
        subject: d.to_string(),
        reason: reason.to_owned(),
        difference: Some(d.clone()),
    }
}

/// The steps that change an existing object to match; empty when there is no safe way.
fn alteration(
    d: &Difference,
    key: &str,
    name: &str,
    table: &Table,
) -> Result<Vec<Step>, SchemaError> {
    let s =
        |kind, description: String, hazard, sql: String| step(kind, key, description, hazard, sql);
    Ok(match d {
        Difference::ColumnType {
            column, expected, ..
        } => {
            let col = quote_ident(column);
            vec![s(
                StepKind::AlterColumnType,
                format!("change type of {key}.{column} to {expected}"),
                Hazard::Rewrite,
                format!(
                    "ALTER TABLE {name} ALTER COLUMN {col} TYPE {expected} USING {col}::{expected}"
                ),
            )]
        }
        Difference::Nullability {
            column,
            expected_nullable,
            ..
        } => {
            if *expected_nullable {
                vec![s(
                    StepKind::DropNotNull,
                    format!("drop not null on {key}.{column}"),
                    Hazard::Lock,
                    format!(
                        "ALTER TABLE {name} ALTER COLUMN {} DROP NOT NULL",
                        quote_ident(column)
                    ),
                )]
            } else {
                // Checked first, as for an added column: a row holding NULL would fail the whole fix.
                vec![set_not_null_unless_null(key, name, column)]
            }
        }
        Difference::Default {
            column, expected, ..
        } => match expected {
            Some(e) => vec![s(
                StepKind::SetDefault,
                format!("set default of {key}.{column}"),
                Hazard::Lock,
                format!(
                    "ALTER TABLE {name} ALTER COLUMN {} SET DEFAULT {}",
                    quote_ident(column),
                    checked_expr(key, e)?
                ),
            )],
            None => vec![s(
                StepKind::DropDefault,
                format!("drop default of {key}.{column}"),
                Hazard::Lock,
                format!(
                    "ALTER TABLE {name} ALTER COLUMN {} DROP DEFAULT",
                    quote_ident(column)
                ),
            )],
        },
        Difference::PrimaryKey {
            expected: Some(pk),
            actual: Some(old),
            ..
        } => vec![
            s(
                StepKind::DropConstraint,
                format!("drop primary key {} of {key}", old.name),
                Hazard::Lock,
                format!(
                    "ALTER TABLE {name} DROP CONSTRAINT {}",
                    quote_ident(&old.name)
                ),
            ),
            s(
                StepKind::AddConstraint,
                format!("add primary key to {key}"),
                Hazard::Lock,
                format!("ALTER TABLE {name} ADD {}", pk_sql(pk)),
            ),
        ],
        Difference::ForeignKeyChanged {
            expected, actual, ..
        } => vec![
            s(
                StepKind::DropConstraint,
                format!("drop foreign key {} of {key}", actual.name),
                Hazard::Lock,
                format!(
                    "ALTER TABLE {name} DROP CONSTRAINT {}",
                    quote_ident(&actual.name)
                ),
            ),
            s(
                StepKind::AddConstraint,
                format!("add foreign key {} to {key}", expected.name),
                Hazard::Lock,
                format!("ALTER TABLE {name} ADD {}", fk_sql(expected)),
            ),
        ],
        Difference::IndexChanged {
            expected, actual, ..
        } => vec![
            s(
                StepKind::DropIndex,
                format!("drop index {} of {key}", actual.name),
                Hazard::Lock,
                format!("DROP INDEX {}", qualified(&table.schema, &actual.name)),
            ),
            s(
                StepKind::CreateIndex,
                format!("create index {} on {key}", expected.name),
                Hazard::Lock,
                index_sql(table, expected)?,
            ),
        ],
        _ => Vec::new(),
    })
}

#[cfg(test)]
mod tests;
