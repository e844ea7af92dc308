//! Pure SQL building: every identifier quoted, every value a `$n` parameter sent as text.
//!
//! Rows travel as JSON in both directions, converted by PostgreSQL itself: reads wrap the select in
//! `row_to_json(...)::text` (keys in column order, exact types), writes pass the row as one JSON parameter to
//! `json_populate_record(set)`, which parses each field with the column type's own input function. That is
//! how PostgREST works, so the Postgres and Supabase backends agree on how a row looks. Streamed reads use
//! [`select_projected`] instead, and bulk inserts may go through `COPY` (`copy.rs`); both produce the
//! same rows.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

use dba_core::value_to_text;
use dba_core::{
    Columns, Condition, Direction, Error, Filter, Ident, Nulls, Op, OrderBy, Query, Result, Row,
    TableName, Value,
};

/// The alias a write target gets so `RETURNING row_to_json(alias)` can name the whole row.
const TARGET: &str = "\"_dba_t\"";
/// The alias of a read's inner select.
const READ: &str = "\"_dba_r\"";

/// One statement and its text parameters (`None` is SQL NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) sql: SqlText,
    pub(crate) params: Vec<Option<String>>,
    /// Never cached by the connection: the best plan depends on the values (an `IN` list, a LIKE pattern;
    /// a cached generic plan can fall back to a sequential scan), or the result types follow the table's
    /// current column types (a streamed select).
    pub(crate) value_dependent: bool,
    /// The number a [`SelectCache`] gave this SQL text: the same text has the same number for the
    /// adapter's whole life, so a connection keeps the statement prepared for it by number.
    pub(crate) number: Option<u64>,
}

/// A statement's SQL text: built for it, or shared with the [`SelectCache`] that keeps it (so a select
/// of a kept shape does not copy its text).
#[derive(Debug, Clone)]
pub(crate) enum SqlText {
    /// Built for this statement.
    Built(String),
    /// Kept by a [`SelectCache`].
    Kept(Arc<str>),
}

impl SqlText {
    /// Appends `text` (to a copy of a kept text).
    pub(crate) fn push_str(&mut self, text: &str) {
        match self {
            SqlText::Built(built) => built.push_str(text),
            SqlText::Kept(kept) => {
                let mut built = String::with_capacity(kept.len() + text.len());
                built.push_str(kept);
                built.push_str(text);
                *self = SqlText::Built(built);
            }
        }
    }

    /// Appends `c` (see [`SqlText::push_str`]).
    pub(crate) fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            SqlText::Built(text) => text,
            SqlText::Kept(text) => text,
        }
    }
}

impl From<String> for SqlText {
    fn from(text: String) -> SqlText {
        SqlText::Built(text)
    }
}

impl std::ops::Deref for SqlText {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for SqlText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Write for SqlText {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.push_str(text);
        Ok(())
    }
}

impl PartialEq for SqlText {
    fn eq(&self, other: &SqlText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for SqlText {}

impl PartialEq<str> for SqlText {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for SqlText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for SqlText {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl Statement {
    fn new() -> Statement {
        Statement {
            sql: SqlText::Built(String::with_capacity(128)),
            params: Vec::new(),
            value_dependent: false,
            number: None,
        }
    }

    /// Binds `value` and returns its placeholder.
    fn bind(&mut self, value: Option<String>) -> Placeholder {
        self.params.push(value);
        Placeholder(self.params.len())
    }
}

/// A bound parameter's placeholder, `$n`, written without an allocation of its own.
#[derive(Clone, Copy, Debug)]
struct Placeholder(usize);

impl std::fmt::Display for Placeholder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("$")?;
        f.write_str(itoa::Buffer::new().format(self.0))
    }
}

/// `SELECT row_to_json(r)::text FROM (SELECT … FROM t WHERE … ORDER BY … LIMIT … OFFSET …) r`.
pub(crate) fn select(table: &TableName, query: &Query) -> Result<Statement> {
    let mut st = Statement::new();
    st.sql.push_str("SELECT row_to_json(");
    st.sql.push_str(READ);
    st.sql.push_str(")::text FROM (");
    push_select(&mut st, table, query)?;
    st.sql.push_str(") ");
    st.sql.push_str(READ);
    Ok(st)
}

/// How many select shapes a [`SelectCache`] keeps; shapes past this are built every time.
const SELECT_CACHE_SHAPES: usize = 512;

/// The [`select`] statements built so far, kept by shape: the table as the caller spelled it, the
/// projection, and each condition's column, operator and kind of value (null, array or object, other),
/// the sort keys and whether a limit and an offset are given. The SQL text depends on nothing else, so a
/// query of a kept shape reuses its SQL and binds its own values (taken as [`push_condition`] takes
/// them); the table name is not parsed again and no name is quoted again. The text never depends on the
/// database, so nothing in it can go stale: what the names resolve to is the server's business, as
/// before.
pub(crate) struct SelectCache {
    shapes: RwLock<HashMap<u64, CachedSelect, BuildHasherDefault<PassThrough>>>,
}

/// One kept shape (see [`SelectCache`]) and its statement.
struct CachedSelect {
    table: Box<str>,
    columns: Columns,
    conditions: Vec<(Box<str>, Op, u8)>,
    order: Vec<OrderBy>,
    limit: bool,
    offset: bool,
    sql: Arc<str>,
    params: usize,
    value_dependent: bool,
    number: u64,
}

impl CachedSelect {
    fn matches(&self, table: &str, query: &Query) -> bool {
        *self.table == *table
            && self.columns == query.columns
            && self.order == query.order
            && self.limit == query.limit.is_some()
            && self.offset == query.offset.is_some()
            && self.conditions.len() == query.filter.conditions().len()
            && self.conditions.iter().zip(query.filter.conditions()).all(
                |((column, op, kind), c)| {
                    **column == *c.column && *op == c.op && *kind == value_kind(&c.value)
                },
            )
    }

    /// The kept statement with `query`'s values bound, in the order [`select`] binds them.
    fn statement(&self, query: &Query) -> Statement {
        let mut params = Vec::with_capacity(self.params);
        params.extend(query.filter.conditions().iter().filter_map(condition_param));
        if let Some(limit) = query.limit {
            params.push(Some(limit.to_string()));
        }
        if let Some(offset) = query.offset {
            params.push(Some(offset.to_string()));
        }
        Statement {
            sql: SqlText::Kept(Arc::clone(&self.sql)),
            params,
            value_dependent: self.value_dependent,
            number: Some(self.number),
        }
    }
}

/// What about a condition's value decides its SQL: null (`IS NULL` for `=`), an array or object (read
/// through the column's type), anything else.
fn value_kind(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Array(_) | Value::Object(_) => 1,
        _ => 2,
    }
}

impl SelectCache {
    pub(crate) fn new() -> SelectCache {
        SelectCache {
            shapes: RwLock::new(HashMap::default()),
        }
    }

    /// The [`select`] of `table` (as the caller spelled it) for `query`: the kept statement of its shape
    /// with the query's values, or the one `build` makes, which is then kept. A kept shape still has its
    /// query validated, so a query that [`select`] refuses is refused here too.
    pub(crate) fn select(
        &self,
        table: &str,
        query: &Query,
        build: impl FnOnce() -> Result<Statement>,
    ) -> Result<Statement> {
        let key = shape_hash(table, query);
        {
            let shapes = self.shapes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(kept) = shapes.get(&key)
                && kept.matches(table, query)
            {
                query.validate()?;
                return Ok(kept.statement(query));
            }
        }
        let mut st = build()?;
        let mut shapes = self.shapes.write().unwrap_or_else(PoisonError::into_inner);
        // Shapes are never removed, so the count so far numbers each one once.
        let number = shapes.len() as u64;
        if shapes.len() < SELECT_CACHE_SHAPES
            && let std::collections::hash_map::Entry::Vacant(slot) = shapes.entry(key)
        {
            st.number = Some(number);
            slot.insert(CachedSelect {
                table: table.into(),
                columns: query.columns.clone(),
                conditions: query
                    .filter
                    .conditions()
                    .iter()
                    .map(|c| (c.column.as_str().into(), c.op, value_kind(&c.value)))
                    .collect(),
                order: query.order.clone(),
                limit: query.limit.is_some(),
                offset: query.offset.is_some(),
                sql: Arc::from(st.sql.as_str()),
                params: st.params.len(),
                value_dependent: st.value_dependent,
                number,
            });
        }
        Ok(st)
    }
}

/// A cheap hash of a select's shape (see [`SelectCache`]); a kept shape is compared in full before use,
/// so a collision costs only a rebuild.
fn shape_hash(table: &str, query: &Query) -> u64 {
    let mut h = ShapeHasher(0);
    table.hash(&mut h);
    match &query.columns {
        Columns::All => h.write_u64(0),
        Columns::List(list) => {
            h.write_u64(list.len() as u64 + 1);
            for column in list {
                column.as_str().hash(&mut h);
            }
        }
    }
    for c in query.filter.conditions() {
        c.column.hash(&mut h);
        c.op.hash(&mut h);
        h.write_u64(u64::from(value_kind(&c.value)));
    }
    for key in &query.order {
        key.column.as_str().hash(&mut h);
        let nulls = match key.nulls {
            Nulls::Default => 0,
            Nulls::First => 1,
            Nulls::Last => 2,
        };
        h.write_u64(u64::from(key.direction == Direction::Desc) | nulls << 1);
    }
    h.write_u64(u64::from(query.limit.is_some()) | u64::from(query.offset.is_some()) << 1);
    h.0
}

/// A multiply-rotate hash (FxHash's step), a word at a time: the shapes hashed are the caller's own
/// names, and a collision only costs a rebuild.
struct ShapeHasher(u64);

impl ShapeHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for ShapeHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(word) ^ (rest.len() as u64) << 59);
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The hasher of a map keyed by [`shape_hash`]es: the key is already a hash.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// `SELECT "a", to_json("b")::text, … FROM (SELECT … FROM t WHERE …) r`: the same rows as [`select`], one
/// column each, converted to JSON text by the server only where `projection` says so (the rest are decoded
/// on the client).
pub(crate) fn select_projected(
    table: &TableName,
    query: &Query,
    projection: &[(Ident, bool)],
) -> Result<Statement> {
    let mut st = Statement::new();
    // Its result types are the table's column types: a statement cached by the connection would fail
    // ("cached plan must not change result type") once a column's type changed, so it is never cached.
    st.value_dependent = true;
    st.sql.push_str("SELECT ");
    for (i, (column, server_json)) in projection.iter().enumerate() {
        if i > 0 {
            st.sql.push_str(", ");
        }
        if *server_json {
            let _ = write!(st.sql, "to_json({READ}.{column})::text");
        } else {
            let _ = write!(st.sql, "{READ}.{column}");
        }
    }
    st.sql.push_str(" FROM (");
    push_select(&mut st, table, query)?;
    st.sql.push_str(") ");
    st.sql.push_str(READ);
    Ok(st)
}

/// `SELECT … FROM t WHERE … ORDER BY … LIMIT … OFFSET …`, the inner select of every read.
fn push_select(st: &mut Statement, table: &TableName, query: &Query) -> Result<()> {
    query.validate()?;
    st.sql.push_str("SELECT ");
    match &query.columns {
        Columns::All => st.sql.push('*'),
        Columns::List(list) => push_list(&mut st.sql, list),
    }
    let _ = write!(st.sql, " FROM {table}");
    push_where(st, table, &query.filter)?;
    if !query.order.is_empty() {
        st.sql.push_str(" ORDER BY ");
        for (i, key) in query.order.iter().enumerate() {
            if i > 0 {
                st.sql.push_str(", ");
            }
            let _ = write!(st.sql, "{}", key.column);
            if key.direction == Direction::Desc {
                st.sql.push_str(" DESC");
            }
            match key.nulls {
                Nulls::Default => {}
                Nulls::First => st.sql.push_str(" NULLS FIRST"),
                Nulls::Last => st.sql.push_str(" NULLS LAST"),
            }
        }
    }
    if let Some(limit) = query.limit {
        let p = st.bind(Some(limit.to_string()));
        let _ = write!(st.sql, " LIMIT {p}::bigint");
    }
    if let Some(offset) = query.offset {
        let p = st.bind(Some(offset.to_string()));
        let _ = write!(st.sql, " OFFSET {p}::bigint");
    }
    Ok(())
}

/// `COPY t (cols) FROM STDIN`, text format.
pub(crate) fn copy_from_stdin(table: &TableName, columns: &[Ident]) -> String {
    let mut sql = format!("COPY {table} (");
    push_list(&mut sql, columns);
    sql.push_str(") FROM STDIN");
    sql
}

/// `SELECT count(*) FROM t WHERE …`.
pub(crate) fn count(table: &TableName, filter: &Filter) -> Result<Statement> {
    let mut st = Statement::new();
    let _ = write!(st.sql, "SELECT count(*) FROM {table}");
    push_where(&mut st, table, filter)?;
    Ok(st)
}

/// The columns of a row to write, `_`-prefixed keys dropped, each a validated identifier.
pub(crate) fn write_columns(row: &Row) -> Result<Vec<Ident>> {
    row.keys()
        .filter(|k| !k.starts_with('_'))
        .map(|k| Ident::exact(k))
        .collect()
}

/// `INSERT INTO t AS _dba_t (cols) SELECT cols FROM json_populate_recordset(NULL::t, $1::json) …`.
///
/// `columns` must be the written columns of every row in `rows_json` (see [`write_columns`]); absent
/// columns keep their defaults because only listed columns are inserted. With no columns at all the
/// statement inserts one row of defaults and `rows_json` is not used.
pub(crate) fn insert(
    table: &TableName,
    columns: &[Ident],
    rows_json: String,
    on_conflict: Option<&[Ident]>,
    returning: Returning<'_>,
) -> Statement {
    let mut st = Statement::new();
    let _ = write!(st.sql, "INSERT INTO {table} AS {TARGET} ");
    if columns.is_empty() {
        // Every column takes its default; the caller repeats this once per row.
        st.sql.push_str("DEFAULT VALUES");
    } else {
        st.sql.push('(');
        push_list(&mut st.sql, columns);
        st.sql.push_str(") SELECT ");
        push_list(&mut st.sql, columns);
        let p = st.bind(Some(rows_json));
        let _ = write!(
            st.sql,
            " FROM json_populate_recordset(NULL::{table}, {p}::json)"
        );
    }
    if let Some(conflict) = on_conflict {
        st.sql.push_str(" ON CONFLICT (");
        push_list(&mut st.sql, conflict);
        st.sql.push_str(") DO UPDATE SET ");
        let keys: BTreeSet<&Ident> = conflict.iter().collect();
        let mut set: Vec<&Ident> = columns.iter().filter(|c| !keys.contains(c)).collect();
        if set.is_empty() {
            // Nothing to change, but DO UPDATE (not DO NOTHING) so the existing row is returned.
            set = conflict.iter().collect();
        }
        for (i, c) in set.iter().enumerate() {
            if i > 0 {
                st.sql.push_str(", ");
            }
            let _ = write!(st.sql, "{c} = EXCLUDED.{c}");
        }
    }
    match returning {
        Returning::Nothing => {}
        Returning::Row => {
            let _ = write!(st.sql, " RETURNING row_to_json({TARGET})::text");
        }
        Returning::Columns(list) => {
            // Only these columns come back; their names travel as bound values, never as SQL text.
            st.sql.push_str(" RETURNING json_build_object(");
            for (i, c) in list.iter().enumerate() {
                let p = st.bind(Some(c.as_str().to_owned()));
                let _ = write!(
                    st.sql,
                    "{}{p}::text, {TARGET}.{c}",
                    if i > 0 { ", " } else { "" }
                );
            }
            st.sql.push_str(")::text");
        }
    }
    st
}

/// What a write returns.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Returning<'a> {
    /// Nothing (the row count only).
    Nothing,
    /// Every column of each written row.
    Row,
    /// These columns of each written row.
    Columns(&'a [Ident]),
}

/// `UPDATE t AS _dba_t SET (cols) = (SELECT cols FROM json_populate_record(NULL::t, $1::json)) WHERE … RETURNING …`.
pub(crate) fn update(table: &TableName, data: &Row, filter: &Filter) -> Result<Statement> {
    filter.check_write(&format!("update of {}", table.display_name()))?;
    let columns = write_columns(data)?;
    if columns.is_empty() {
        return Err(Error::invalid_input(format!(
            "update of {}: no columns to set",
            table.display_name()
        )));
    }
    let mut st = Statement::new();
    let _ = write!(st.sql, "UPDATE {table} AS {TARGET} SET (");
    push_list(&mut st.sql, &columns);
    st.sql.push_str(") = (SELECT ");
    push_list(&mut st.sql, &columns);
    let json = serde_json::to_string(data).map_err(|e| Error::invalid_input(e.to_string()))?;
    let p = st.bind(Some(json));
    let _ = write!(
        st.sql,
        " FROM json_populate_record(NULL::{table}, {p}::json))"
    );
    push_where(&mut st, table, filter)?;
    let _ = write!(st.sql, " RETURNING row_to_json({TARGET})::text");
    Ok(st)
}

/// `DELETE FROM t WHERE …`.
pub(crate) fn delete(table: &TableName, filter: &Filter) -> Result<Statement> {
    filter.check_write(&format!("delete from {}", table.display_name()))?;
    let mut st = Statement::new();
    let _ = write!(st.sql, "DELETE FROM {table}");
    push_where(&mut st, table, filter)?;
    Ok(st)
}

/// Wraps one raw statement so its rows come back as JSON text:
/// `WITH _dba_q AS (<sql>) SELECT row_to_json(_dba_q)::text FROM _dba_q`.
pub(crate) fn wrap_query(sql: &str) -> String {
    let body = sql.trim_end().trim_end_matches(';').trim_end();
    // The newline ends a trailing `--` comment before the closing parenthesis.
    format!("WITH \"_dba_q\" AS (\n{body}\n) SELECT row_to_json(\"_dba_q\")::text FROM \"_dba_q\"")
}

fn push_list(sql: &mut impl std::fmt::Write, list: &[Ident]) {
    for (i, ident) in list.iter().enumerate() {
        if i > 0 {
            let _ = sql.write_str(", ");
        }
        let _ = write!(sql, "{ident}");
    }
}

fn push_where(st: &mut Statement, table: &TableName, filter: &Filter) -> Result<()> {
    for (i, condition) in filter.conditions().iter().enumerate() {
        st.sql.push_str(if i == 0 { " WHERE " } else { " AND " });
        push_condition(st, table, condition)?;
    }
    Ok(())
}

fn push_condition(st: &mut Statement, table: &TableName, condition: &Condition) -> Result<()> {
    let column = condition.validate()?;
    let value = &condition.value;
    let op = match (condition.op, value.is_null()) {
        (Op::IsNull, _) | (Op::Eq, true) => {
            let _ = write!(st.sql, "{column} IS NULL");
            return Ok(());
        }
        (Op::IsNotNull, _) | (Op::Neq, true) => {
            let _ = write!(st.sql, "{column} IS NOT NULL");
            return Ok(());
        }
        (Op::In, _) => {
            st.value_dependent = true;
            let p = st.bind(condition_param(condition).flatten());
            let _ = write!(st.sql, "{column} = ANY({p})");
            return Ok(());
        }
        (Op::Eq, _) => "=",
        (Op::Neq, _) => "<>",
        (Op::Gt, _) => ">",
        (Op::Gte, _) => ">=",
        (Op::Lt, _) => "<",
        (Op::Lte, _) => "<=",
        (Op::Like, _) => {
            st.value_dependent = true;
            "LIKE"
        }
        (Op::ILike, _) => {
            st.value_dependent = true;
            "ILIKE"
        }
        (other, _) => {
            return Err(Error::invalid_input(format!(
                "unsupported filter operator {other:?}"
            )));
        }
    };
    let p = st.bind(condition_param(condition).flatten());
    if value.is_array() || value.is_object() {
        // An array or object may be a PostgreSQL array, a composite or json: convert it exactly as a
        // write would, through the column's own type.
        let _ = write!(
            st.sql,
            "{column} {op} (json_populate_record(NULL::{table}, {p}::json)).{column}"
        );
        return Ok(());
    }
    let _ = write!(st.sql, "{column} {op} {p}");
    Ok(())
}

/// The value a condition binds (`Some(None)` is a bound SQL NULL), or `None` when it binds nothing
/// (`IS NULL`, `IS NOT NULL`). Both [`push_condition`] and a [`SelectCache`] hit take the value from here.
fn condition_param(condition: &Condition) -> Option<Option<String>> {
    let value = &condition.value;
    match (condition.op, value.is_null()) {
        (Op::IsNull | Op::IsNotNull, _) | (Op::Eq | Op::Neq, true) => None,
        (Op::In, _) => {
            let items = value.as_array().map(Vec::as_slice).unwrap_or_default();
            Some(Some(array_literal(items)))
        }
        _ if value.is_array() || value.is_object() => {
            let mut wrapper = serde_json::Map::new();
            wrapper.insert(condition.column.clone(), value.clone());
            Some(Some(Value::Object(wrapper).to_string()))
        }
        _ => Some(value_to_text(value)),
    }
}

/// A PostgreSQL array literal (`{"a","b\"c",NULL}`) for one text parameter, whatever the element type:
/// the server parses each element with the column type's input function.
pub(crate) fn array_literal(items: &[Value]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match value_to_text(item) {
            None => out.push_str("NULL"),
            Some(text) => {
                out.push('"');
                for c in text.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests;
