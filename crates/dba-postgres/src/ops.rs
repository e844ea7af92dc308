//! The client operations, written once over a [`Conn`] and shared by the adapter and its transactions.

use dba_core::{
    Columns, Error, ErrorKind, Filter, Ident, JsonStream, Query, Result, Row, RowStream, TableName,
    Value, value_to_text,
};
use futures_util::{StreamExt, TryStreamExt};

use crate::exec::{Conn, Handle, map_pg_error, parse_row};
use crate::health::LossClock;
use crate::json_out::RowEncoder;
use crate::settings::StatementMode;
use crate::sql::{self, Returning, Statement};
use crate::{copy, json_out, shape};

/// Rows per statement in a batch: large enough that round trips do not matter, small enough that one
/// JSON parameter stays a few megabytes.
pub(crate) const BATCH_ROWS: usize = 10_000;

pub(crate) fn table(name: &str) -> Result<TableName> {
    TableName::parse(name)
        .map_err(|e| Error::invalid_input(format!("table name {name:?}: {}", e.message())))
}

/// Selects through `selects`, which keeps the statement of each shape of select (see
/// [`sql::SelectCache`]).
pub(crate) async fn select(
    conn: &Conn<'_>,
    selects: &sql::SelectCache,
    table_name: &str,
    query: &Query,
) -> Result<Vec<Row>> {
    let st = selects.select(table_name, query, || {
        sql::select(&table(table_name)?, query)
    })?;
    conn.rows(&st).await.map_err(|e| {
        // The name parsed when the statement was built.
        let name = table(table_name).map_or_else(|_| table_name.to_owned(), |t| t.display_name());
        e.context(format!("select from {name}"))
    })
}

/// Starts a select whose rows are decoded as they arrive; the handle (a pooled connection or the
/// transaction it runs on) is held until the stream is dropped.
pub(crate) async fn select_stream(
    handle: Handle,
    mode: StatementMode,
    losses: LossClock,
    table_name: &str,
    query: &Query,
) -> Result<RowStream> {
    stream_select(handle, mode, losses, table_name, query).await
}

/// Like [`select_stream`], yielding each row as the JSON object text `row_to_json` gives.
pub(crate) async fn select_json_stream(
    handle: Handle,
    mode: StatementMode,
    losses: LossClock,
    table_name: &str,
    query: &Query,
) -> Result<JsonStream> {
    stream_select(handle, mode, losses, table_name, query).await
}

/// What a streamed select yields for each row: a map ([`Row`]) or its JSON object text (`String`).
trait Streamed: Sized + Send + 'static {
    /// A row whose columns [`json_out`] encodes (`scratch`: room kept between the rows of a stream).
    fn encoded(
        encoder: &RowEncoder,
        row: &tokio_postgres::Row,
        scratch: &mut String,
    ) -> Result<Self>;
    /// A row the server encoded with `row_to_json`, as its text.
    fn from_text(text: String) -> Result<Self>;
}

impl Streamed for Row {
    fn encoded(
        encoder: &RowEncoder,
        row: &tokio_postgres::Row,
        scratch: &mut String,
    ) -> Result<Row> {
        encoder.to_row(row, scratch)
    }

    fn from_text(text: String) -> Result<Row> {
        parse_row(&text)
    }
}

impl Streamed for String {
    fn encoded(encoder: &RowEncoder, row: &tokio_postgres::Row, _: &mut String) -> Result<String> {
        encoder.encode(row)
    }

    fn from_text(text: String) -> Result<String> {
        Ok(text)
    }
}

/// The select of `table_name` as a stream of rows (see [`Streamed`]), every error naming the table; a
/// connection lost mid-stream is noted in `losses`.
///
/// Streams are the bulk reads (backup, sync), so the table's shape is read first and the columns whose
/// types [`json_out`] encodes come in binary; the rest are converted by the server.
async fn stream_select<T: Streamed>(
    handle: Handle,
    mode: StatementMode,
    losses: LossClock,
    table_name: &str,
    query: &Query,
) -> Result<std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<T>> + Send + 'static>>> {
    let t = table(table_name)?;
    query.validate()?;
    let what = format!("select from {}", t.display_name());
    let (stream, encoder) = async {
        let conn = handle.conn(mode);
        let shape = shape::fetch(&conn, &t).await?;
        let (st, encoder) = match json_out::plan(&shape, &query.columns) {
            Some((projection, encoder)) => (
                sql::select_projected(&t, query, &projection)?,
                Some(encoder),
            ),
            None => (sql::select(&t, query)?, None),
        };
        Ok::<_, Error>((conn.stream(&st).await?, encoder))
    }
    .await
    .map_err(|e| e.context(what.clone()))?;
    let mut scratch = String::new();
    let stream = stream.map_err(map_pg_error).map(move |row| {
        let _held = &handle;
        let item = row.and_then(|r| match &encoder {
            Some(encoder) => T::encoded(encoder, &r, &mut scratch),
            None => r
                .try_get::<_, String>(0)
                .map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))
                .and_then(T::from_text),
        });
        losses.note(item.map_err(|e| e.context(what.clone())))
    });
    Ok(Box::pin(stream))
}

pub(crate) async fn count(conn: &Conn<'_>, table_name: &str, filter: &Filter) -> Result<u64> {
    let t = table(table_name)?;
    let n = conn
        .scalar_i64(&sql::count(&t, filter)?)
        .await
        .map_err(|e| e.context(format!("count {}", t.display_name())))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(crate) async fn update(
    conn: &Conn<'_>,
    table_name: &str,
    data: &Row,
    filter: &Filter,
) -> Result<Vec<Row>> {
    let t = table(table_name)?;
    conn.rows(&sql::update(&t, data, filter)?)
        .await
        .map_err(|e| e.context(format!("update {}", t.display_name())))
}

pub(crate) async fn delete(conn: &Conn<'_>, table_name: &str, filter: &Filter) -> Result<u64> {
    let t = table(table_name)?;
    conn.affected(&sql::delete(&t, filter)?)
        .await
        .map_err(|e| e.context(format!("delete from {}", t.display_name())))
}

pub(crate) async fn execute(conn: &Conn<'_>, sql_text: &str, params: &[Value]) -> Result<u64> {
    if params.is_empty() {
        return conn.script(sql_text).await;
    }
    conn.affected(&raw(sql_text.to_owned(), params)).await
}

pub(crate) async fn query(conn: &Conn<'_>, sql_text: &str, params: &[Value]) -> Result<Vec<Row>> {
    conn.rows(&raw(sql::wrap_query(sql_text), params)).await
}

fn raw(sql_text: String, params: &[Value]) -> Statement {
    Statement {
        sql: sql_text.into(),
        params: params.iter().map(value_to_text).collect(),
        value_dependent: false,
        number: None,
    }
}

/// Parses the column list a write returns; it must name at least one column.
pub(crate) fn returning_columns(text: &str) -> Result<Vec<Ident>> {
    match Columns::parse(text) {
        Ok(Columns::List(list)) => Ok(list),
        Ok(Columns::All) => Err(Error::invalid_input(
            "returning columns must be named, not `*`",
        )),
        Err(e) => Err(Error::invalid_input(format!(
            "returning {text:?}: {}",
            e.message()
        ))),
    }
}

/// Parses an `on_conflict` column list; it must name at least one column.
pub(crate) fn conflict_columns(on_conflict: &str) -> Result<Vec<Ident>> {
    match Columns::parse(on_conflict) {
        Ok(Columns::List(list)) => Ok(list),
        Ok(Columns::All) => Err(Error::invalid_input(
            "on_conflict must name columns, not `*`",
        )),
        Err(e) => Err(Error::invalid_input(format!(
            "on_conflict {on_conflict:?}: {}",
            e.message()
        ))),
    }
}

/// One statement's worth of rows to write; its SQL and JSON are built only when it is sent, so the client
/// serializes the next batch while the server works on the previous one.
pub(crate) struct Batch<'a> {
    table: &'a TableName,
    columns: Vec<Ident>,
    rows: &'a [Row],
    on_conflict: Option<&'a [Ident]>,
    returning: Returning<'a>,
}

impl Batch<'_> {
    fn statement(&self) -> Result<Statement> {
        let json = if self.columns.is_empty() {
            String::new()
        } else {
            serde_json::to_string(self.rows).map_err(|e| Error::invalid_input(e.to_string()))?
        };
        Ok(sql::insert(
            self.table,
            &self.columns,
            json,
            self.on_conflict,
            self.returning,
        ))
    }
}

/// The batches that write `rows`: consecutive rows with the same columns share a statement (at most
/// [`BATCH_ROWS`] rows each), so absent columns keep their defaults and order is preserved. Rows with no
/// columns at all become one `DEFAULT VALUES` statement each.
///
/// A plain insert returning nothing of at least [`copy::MIN_ROWS`] rows is one batch of the first row's
/// columns, unchecked: it goes through [`run_copy_plan`], which checks each row while encoding it and
/// plans the rows `COPY` does not take with [`statement_plan`].
pub(crate) fn write_plan<'a>(
    table: &'a TableName,
    rows: &'a [Row],
    on_conflict: Option<&'a [Ident]>,
    returning: Returning<'a>,
) -> Result<Vec<Batch<'a>>> {
    if on_conflict.is_none()
        && matches!(returning, Returning::Nothing)
        && rows.len() >= copy::MIN_ROWS
    {
        let columns = sql::write_columns(&rows[0])?;
        if !columns.is_empty() {
            return Ok(vec![Batch {
                table,
                columns,
                rows,
                on_conflict,
                returning,
            }]);
        }
    }
    statement_plan(table, rows, on_conflict, returning)
}

/// The `INSERT` statements that write `rows`, as [`write_plan`] describes them.
fn statement_plan<'a>(
    table: &'a TableName,
    rows: &'a [Row],
    on_conflict: Option<&'a [Ident]>,
    returning: Returning<'a>,
) -> Result<Vec<Batch<'a>>> {
    let mut plan = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let columns = sql::write_columns(&rows[start])?;
        let mut end = start + 1;
        while end < rows.len() && end - start < BATCH_ROWS && same_columns(&rows[end], &columns) {
            end += 1;
        }
        if columns.is_empty() {
            end = start + 1;
        }
        plan.push(Batch {
            table,
            columns,
            rows: &rows[start..end],
            on_conflict,
            returning,
        });
        start = end;
    }
    Ok(plan)
}

fn same_columns(row: &Row, columns: &[Ident]) -> bool {
    // Rows built alike have the same keys in the same order: one comparison per key.
    let mut keys = row.keys().filter(|k| !k.starts_with('_'));
    if columns
        .iter()
        .all(|c| keys.next().is_some_and(|k| k == c.as_str()))
        && keys.next().is_none()
    {
        return true;
    }
    let mut n = 0;
    for key in row.keys().filter(|k| !k.starts_with('_')) {
        if !columns.iter().any(|c| c.as_str() == key) {
            return false;
        }
        n += 1;
    }
    n == columns.len()
}

/// Runs a write plan on one connection, collecting returned rows when asked. The statements are pipelined:
/// each is sent as soon as it is built, and the connection answers them in order. The caller makes the plan
/// atomic.
pub(crate) async fn run_plan(
    conn: &Conn<'_>,
    plan: &[Batch<'_>],
    returning: bool,
    what: &str,
) -> Result<Vec<Row>> {
    if may_copy(plan, returning) {
        return run_copy_plan(conn, plan)
            .await
            .map(|()| Vec::new())
            .map_err(|e| e.context(what));
    }
    let sends = plan.iter().map(|batch| async move {
        let st = batch.statement()?;
        if returning {
            conn.rows(&st).await
        } else {
            conn.affected(&st).await.map(|_| Vec::new())
        }
    });
    let results = futures_util::future::try_join_all(sends)
        .await
        .map_err(|e| e.context(what))?;
    Ok(results.into_iter().flatten().collect())
}

/// Whether `plan` may go through `COPY` (see [`copy`]): one batch of a plain insert returning nothing, of
/// at least [`copy::MIN_ROWS`] rows, as [`write_plan`] makes it. The caller runs such a plan inside a
/// transaction.
pub(crate) fn may_copy(plan: &[Batch<'_>], returning: bool) -> bool {
    let [only] = plan else {
        return false;
    };
    !returning
        && !only.columns.is_empty()
        && only.on_conflict.is_none()
        && matches!(only.returning, Returning::Nothing)
        && only.rows.len() >= copy::MIN_ROWS
}

/// Inserts rows arriving in parts with one `COPY`, or two where a value without an exact binary form
/// switches it to text format (see `DatabaseClient::insert_parts`): `None`, before
/// anything is sent, when the table or the first row's columns rule `COPY` out.
pub(crate) async fn insert_parts(
    conn: &Conn<'_>,
    table_name: &str,
    parts: &mut dba_core::PartStream,
) -> Result<Option<u64>> {
    let t = table(table_name)?;
    let Some(first) = parts.next().await else {
        return Ok(Some(0));
    };
    let Some(row) = first.first() else {
        return Ok(None);
    };
    let columns = sql::write_columns(row)?;
    let what = || format!("insert into {}", t.display_name());
    let (shape, kept) = shape_for_copy(conn, &t)
        .await
        .map_err(|e| e.context(what()))?;
    let Some(plan) = copy::plan(&shape, &columns, kept) else {
        return Ok(None);
    };
    copy::run_parts(conn, &t, &columns, &plan, first, parts)
        .await
        .map(Some)
        .map_err(|e| e.context(what()))
}

/// Inserts `rows`, which leave out the one column `key` names, with their keys drawn first and sent with
/// one `COPY` (see `DatabaseClient::insert_many_keyed`); each returned row holds its key. `None`, before
/// anything is sent, outside a transaction (`COPY` needs its prepared statement to stay on one server
/// connection), for fewer than [`copy::MIN_ROWS`] rows, rows whose columns differ, and a key that is not
/// an integer drawn from a sequence of its own, on a table a `BEFORE INSERT` row trigger could change rows
/// of, or where `COPY` would not store what the `INSERT` stores.
pub(crate) async fn insert_keyed(
    conn: &Conn<'_>,
    table_name: &str,
    rows: &[Row],
    key: &str,
) -> Result<Option<Vec<Row>>> {
    let t = table(table_name)?;
    let [key] = &returning_columns(key)?[..] else {
        return Ok(None);
    };
    if conn.tx.is_none() || rows.len() < copy::MIN_ROWS {
        return Ok(None);
    }
    let written = sql::write_columns(&rows[0])?;
    if written.is_empty()
        || written.contains(key)
        || !rows[1..].iter().all(|row| same_columns(row, &written))
    {
        return Ok(None);
    }
    let what = || format!("insert into {}", t.display_name());
    let (shape, kept) = shape_for_copy(conn, &t)
        .await
        .map_err(|e| e.context(what()))?;
    let Some(sequence) = shape.column(key.as_str()).and_then(|c| {
        (matches!(c.type_oid, INT2 | INT4 | INT8) && !shape.before_insert_triggers)
            .then(|| c.sequence.clone())
            .flatten()
    }) else {
        return Ok(None);
    };
    let mut columns = Vec::with_capacity(written.len() + 1);
    columns.push(key.clone());
    columns.extend(written);
    let Some(plan) = copy::plan(&shape, &columns, kept) else {
        return Ok(None);
    };
    let keys = copy::run_keyed(conn, &t, &columns, &plan, rows, &sequence)
        .await
        .map_err(|e| e.context(what()))?;
    Ok(keys.map(|keys| {
        keys.into_iter()
            .map(|k| Row::from_iter([(key.as_str().to_owned(), Value::from(k))]))
            .collect()
    }))
}

/// The oids of smallint, integer and bigint: the key types [`insert_keyed`] draws.
const INT2: u32 = 21;
const INT4: u32 = 23;
const INT8: u32 = 20;

/// The shape a `COPY` into `table` plans from: the one kept from the previous batch's `COPY` into the
/// table in this transaction, when nothing ran since (`true`), else read now.
async fn shape_for_copy(conn: &Conn<'_>, table: &TableName) -> Result<(shape::TableShape, bool)> {
    match conn.tx.and_then(|tx| tx.kept_shape(&table.to_string())) {
        Some(shape) => Ok((shape, true)),
        None => Ok((shape::fetch(conn, table).await?, false)),
    }
}

/// Runs a plan [`may_copy`] accepted: `COPY` for as many rows as [`copy::run`] takes (all of them, unless
/// the table or a row rules it out), then `INSERT` statements for the rest (pipelined, as [`run_plan`]
/// sends them), in the caller's transaction.
async fn run_copy_plan(conn: &Conn<'_>, plan: &[Batch<'_>]) -> Result<()> {
    let [only] = plan else {
        return Ok(());
    };
    let (shape, kept) = shape_for_copy(conn, only.table).await?;
    let copied = match copy::plan(&shape, &only.columns, kept) {
        Some(copy_plan) => {
            copy::run(conn, only.table, &only.columns, &copy_plan, only.rows).await?
        }
        None => 0,
    };
    let rest = &only.rows[copied..];
    if rest.is_empty() {
        return Ok(());
    }
    let tail = async {
        let tail = statement_plan(only.table, rest, None, Returning::Nothing)?;
        let sends = tail.iter().map(|batch| async move {
            let st = batch.statement()?;
            conn.affected(&st).await
        });
        futures_util::future::try_join_all(sends).await
    };
    if let Err(e) = tail.await {
        // The rows before `copied` are stored: the insert is atomic only if the caller's transaction now
        // cannot commit, whatever failed (a later row's bad key fails here, on the client, after the COPY).
        if copied > 0
            && let Some(tx) = conn.tx
        {
            tx.aborted.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        return Err(e);
    }
    Ok(())
}
