//! Bulk inserts sent as `COPY … FROM STDIN`, with exactly the effect of the `json_populate_recordset` insert.
//!
//! Parsing the JSON parameter costs the server half of what `COPY` needs for the whole load (90,000 rows:
//! 614 ms of 1,657 ms; `COPY` took 1,206 ms). `COPY`'s text format hands each field to the column type's
//! input function, which is what `json_populate_recordset` does with a JSON string, number or boolean; into
//! a json or jsonb column it stores the value's JSON text (a string keeps its quotes). So a batch goes
//! through `COPY` only where that equivalence holds:
//! - the table is one where `COPY` behaves as `INSERT` ([`TableShape::copy_like_insert`]);
//! - no written column is a domain, generated, or `GENERATED ALWAYS AS IDENTITY` (which `INSERT` refuses);
//! - no JSON array or object goes to a column other than json or jsonb (`json_populate_recordset` converts
//!   those to PostgreSQL arrays and composites);
//! - no key or string anywhere in a row holds U+0000, which `json_populate_recordset` refuses (`COPY` would
//!   store it in a json column).
//!
//! The first two are the table's and are decided before anything is sent ([`plan`]); the others are the
//! rows', and each row is checked while it is encoded ([`run`]), so the `COPY` starts at once and the server
//! stores rows while the client encodes the next. A row that fails them, or whose written columns are not
//! the first row's, ends the `COPY`: it and every row after it go by `INSERT` (as [`run`]'s caller plans
//! them), in the same transaction, so the whole insert stays atomic and every row is stored as the
//! `INSERT` stores it.
//!
//! Rows, defaults, constraints and row-level triggers behave exactly as with the `INSERT`; statement-level
//! triggers fire once per `COPY` instead of once per 10,000-row `INSERT` statement.
//!
//! `COPY` needs a prepared statement, so it runs only inside a transaction: with unnamed statements (behind
//! a transaction-mode pooler) the statement is closed before the transaction ends, on the same server
//! connection; in cached mode the connection keeps it.
//!
//! Rows go in binary format when every column is text, varchar, json, jsonb, boolean, smallint, integer,
//! bigint, double precision, uuid, date, timestamp or timestamptz and the row's values have a binary form
//! that stores exactly what the type's input function stores from the value's text
//! ([`encode_binary_field`]): a JSON boolean for a boolean; a number written as an integer in range for an
//! integer column (not `1.0`, `1e3` or a string, which the server parses or refuses itself); a finite
//! number for double precision that does not round to zero from a nonzero value (both sides round decimal
//! text correctly; float8in refuses overflow and underflow to zero); a canonical 8-4-4-4-12 string for a
//! uuid; an ISO 8601 date or timestamp whose meaning does not depend on the session (a year from 1 to
//! 9999, seconds written, at most six digits of fraction, and for timestamptz a numeric offset: see
//! [`crate::dates`]); any scalar for text (its own text) and any value for json (its JSON text). At the
//! first row with any other value the binary `COPY` is finished and that row and the rest go in text
//! format, in a second `COPY`, so the server parses them as before. Binary spares the server the parsing.

use std::pin::{Pin, pin};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use dba_core::{Error, ErrorKind, Ident, PartStream, Result, Row, TableName, Value};
use futures_util::future::join;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use tokio_postgres::CopyInSink;
use tokio_postgres::types::Type;

use crate::dates;
use crate::exec::{Conn, map_pg_error};
use crate::settings::StatementMode;
use crate::shape::{self, ColumnShape, TableShape};
use crate::sql;

/// Fewer rows than this are inserted with `INSERT`: the catalog read and the prepare cost two round trips.
pub(crate) const MIN_ROWS: usize = 1_000;

/// Bytes of COPY data sent per message: small enough that the server parses the first rows of a batch while
/// the client encodes the rest.
const CHUNK: usize = 64 * 1024;

/// How one column's values are sent. The binary forms are produced only from values whose meaning the
/// client can decide exactly as the type's input function would (see [`encode_binary_field`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// text or varchar: the value's own text (a string's characters, a number's digits, `true`/`false`).
    Text,
    /// json: the value's JSON text.
    Json,
    /// jsonb: the value's JSON text behind jsonb's version byte.
    Jsonb,
    /// boolean, from a JSON boolean.
    Bool,
    /// smallint, integer, bigint, from a JSON number written as an integer in range.
    Int2,
    Int4,
    Int8,
    /// double precision, from a JSON number that is finite and not rounded to zero.
    Float8,
    /// uuid, from a string in the canonical 8-4-4-4-12 hexadecimal form.
    Uuid,
    /// date, from a string `YYYY-MM-DD` (see [`crate::dates`]).
    Date,
    /// timestamp, from a string `YYYY-MM-DDTHH:MM:SS[.ffffff]` without an offset.
    Timestamp,
    /// timestamptz, from the same string with a numeric offset (`+00:00`, as dba writes them).
    Timestamptz,
    /// An array of a built-in scalar type (see [`Kind::of`]): a JSON array of scalars is written as the
    /// array literal of its elements' texts ([`array_literal`]); text format only.
    ScalarArray,
    /// Anything else: text format only.
    Other,
}

impl Kind {
    fn of(column: &ColumnShape) -> Kind {
        match Type::from_oid(column.type_oid) {
            Some(Type::TEXT | Type::VARCHAR) => Kind::Text,
            Some(Type::JSON) => Kind::Json,
            Some(Type::JSONB) => Kind::Jsonb,
            Some(Type::BOOL) => Kind::Bool,
            Some(Type::INT2) => Kind::Int2,
            Some(Type::INT4) => Kind::Int4,
            Some(Type::INT8) => Kind::Int8,
            Some(Type::FLOAT8) => Kind::Float8,
            Some(Type::UUID) => Kind::Uuid,
            Some(Type::DATE) => Kind::Date,
            Some(Type::TIMESTAMP) => Kind::Timestamp,
            Some(Type::TIMESTAMPTZ) => Kind::Timestamptz,
            // Arrays whose element input reads an element's text as json_populate_recordset hands it
            // over (its unquoted string, its number's digits, `true`/`false`); not json or jsonb elements
            // (which get their JSON text), composites or domains.
            Some(
                Type::BOOL_ARRAY
                | Type::INT2_ARRAY
                | Type::INT4_ARRAY
                | Type::INT8_ARRAY
                | Type::FLOAT4_ARRAY
                | Type::FLOAT8_ARRAY
                | Type::NUMERIC_ARRAY
                | Type::TEXT_ARRAY
                | Type::VARCHAR_ARRAY
                | Type::UUID_ARRAY
                | Type::DATE_ARRAY
                | Type::TIMESTAMP_ARRAY
                | Type::TIMESTAMPTZ_ARRAY,
            ) => Kind::ScalarArray,
            _ => Kind::Other,
        }
    }

    /// Whether the kind has a binary form at all.
    fn has_binary(self) -> bool {
        !matches!(self, Kind::ScalarArray | Kind::Other)
    }

    fn is_json(self) -> bool {
        matches!(self, Kind::Json | Kind::Jsonb)
    }

    /// Whether `value` has a binary form that stores exactly what the column type's input function stores
    /// from the text the `INSERT` would hand it (what [`encode_binary_field`] writes); anything else goes in
    /// text format and is parsed by the server.
    #[cfg(test)]
    fn binary_ok(self, value: &Value) -> bool {
        matches!(
            encode_binary_field(&mut BytesMut::new(), &mut Vec::new(), self, value),
            Ok(Fit::Written)
        )
    }
}

/// A JSON number's text as float8 input reads it, when that is certain: finite (float8in refuses what
/// overflows) and not rounded to zero from a nonzero value (float8in refuses an underflow to zero).
/// Both sides round the decimal text correctly, so the value is the same double.
fn float8(text: &str) -> Option<f64> {
    let v: f64 = text.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    if v == 0.0 {
        let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
        if mantissa.bytes().any(|b| matches!(b, b'1'..=b'9')) {
            return None;
        }
    }
    Some(v)
}

/// The 16 bytes of a uuid written in the canonical form (any case), the form `uuid_in` reads first.
fn uuid(text: &str) -> Option<[u8; 16]> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut n = 0;
    let mut i = 0;
    while i < 36 {
        if matches!(i, 8 | 13 | 18 | 23) {
            if bytes[i] != b'-' {
                return None;
            }
            i += 1;
            continue;
        }
        let hi = hex(bytes[i])?;
        let lo = hex(bytes[i + 1])?;
        out[n] = (hi << 4) | lo;
        n += 1;
        i += 2;
    }
    Some(out)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// How a batch is sent: each column's kind, and whether every column has a binary form.
#[derive(Debug)]
pub(crate) struct CopyPlan {
    kinds: Vec<Kind>,
    /// What the table was when the plan was made, checked again behind each `COPY` (see [`run`]).
    types: Assumed,
    /// Every column's kind has a binary form, so the rows start in binary format.
    binary: bool,
    /// The shape the plan was made from, when the transaction kept it from an earlier `COPY` into the
    /// table: read under the lock the transaction still holds, so only the name's table is checked
    /// behind the data (see [`finish`]).
    kept: Option<TableShape>,
}

/// How `shape`'s table can take `columns` by `COPY` with the same effect as the `INSERT`; `None` when it
/// cannot. The values are checked while they are encoded ([`run`]). `kept`: the transaction kept the
/// shape from an earlier `COPY` into the table (see [`CopyPlan::kept`]).
pub(crate) fn plan(shape: &TableShape, columns: &[Ident], kept: bool) -> Option<CopyPlan> {
    if !shape.copy_like_insert || columns.is_empty() || i16::try_from(columns.len()).is_err() {
        return None;
    }
    let mut kinds = Vec::with_capacity(columns.len());
    for ident in columns {
        let column = shape.column(ident.as_str())?;
        if column.identity_always || column.generated || column.typtype == 'd' {
            return None;
        }
        kinds.push(Kind::of(column));
    }
    let types = column_types(shape, columns)?;
    let binary = kinds.iter().all(|k| k.has_binary());
    Some(CopyPlan {
        kinds,
        types,
        binary,
        kept: kept.then(|| shape.clone()),
    })
}

/// What the plan assumes of `shape` for `columns` (see [`Assumed`]); `None` when a column is missing.
fn column_types(shape: &TableShape, columns: &[Ident]) -> Option<Assumed> {
    let types = columns
        .iter()
        .map(|c| {
            shape
                .column(c.as_str())
                .map(|s| (s.type_oid, s.typtype, s.identity_always, s.generated))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Assumed {
        copy_like_insert: shape.copy_like_insert,
        types,
    })
}

/// What a [`CopyPlan`] assumed of the table: whether `COPY` behaves as `INSERT` there (no rules, no row
/// security) and, per column, its type oid, `typtype`, `GENERATED ALWAYS AS IDENTITY` and generated flags.
#[derive(Debug, PartialEq, Eq)]
struct Assumed {
    copy_like_insert: bool,
    types: Vec<(u32, char, bool, bool)>,
}

/// A null for a column a row does not have.
static NULL: Value = Value::Null;

/// Puts `row`'s values of `columns` in `out`, in order: by position when the row's keys are exactly
/// `columns` in order (as rows built alike are), by name otherwise. `false` when the row's written columns
/// (its keys not starting with `_`) are not `columns`, or a key, or a value of a key not written, holds
/// U+0000 (the `INSERT` sends the whole row, and refuses that): such a row is not copied.
fn row_values<'r>(row: &'r Row, columns: &[Ident], out: &mut Vec<&'r Value>) -> bool {
    out.clear();
    if row.len() == columns.len() && row.keys().zip(columns).all(|(k, c)| k == c.as_str()) {
        out.extend(row.values());
        return true;
    }
    let mut written = 0;
    for (key, value) in row {
        if key.contains('\0') {
            return false;
        }
        if key.starts_with('_') {
            if holds_nul(value) {
                return false;
            }
        } else {
            if !columns.iter().any(|c| c.as_str() == key) {
                return false;
            }
            written += 1;
        }
    }
    if written != columns.len() {
        return false;
    }
    out.extend(columns.iter().map(|c| row.get(c.as_str()).unwrap_or(&NULL)));
    true
}

/// Whether a string anywhere in `value` (an object's keys included) holds U+0000.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// The binary COPY header: signature, flags, header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// The format of one `COPY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Binary,
    Text,
}

/// Whether a row was encoded in the format asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fit {
    /// Encoded.
    Written,
    /// A value has no exact binary form: the row goes in text format.
    NotBinary,
    /// `COPY` would not store what the `INSERT` stores (a JSON array or object for a column other than
    /// json or jsonb, U+0000 anywhere, other columns): the row and the rest go by `INSERT`.
    NotCopy,
}

/// Encodes one row in `format` behind what `buf` holds; on anything but [`Fit::Written`], `buf` is left
/// as it was.
fn encode<'r>(
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
    values: &mut Vec<&'r Value>,
    row: &'r Row,
    columns: &[Ident],
    kinds: &[Kind],
    format: Format,
) -> Result<Fit> {
    if !row_values(row, columns, values) {
        return Ok(Fit::NotCopy);
    }
    let start = buf.len();
    let fit = match format {
        Format::Binary => encode_binary_row(buf, scratch, values, columns, kinds),
        Format::Text => encode_row(buf, scratch, values, kinds),
    };
    if !matches!(fit, Ok(Fit::Written)) {
        buf.truncate(start);
    }
    fit
}

/// Encodes rows from `rows[*next]` on in `format` until `buf` holds a message's worth, the rows end, or a
/// row does not fit `format` (returned; `*next` is then that row).
#[expect(
    clippy::too_many_arguments,
    reason = "the encoder's state, passed by the one caller"
)]
fn fill<'r>(
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
    values: &mut Vec<&'r Value>,
    rows: &'r [Row],
    next: &mut usize,
    columns: &[Ident],
    kinds: &[Kind],
    format: Format,
) -> Result<Fit> {
    while buf.len() < CHUNK && *next < rows.len() {
        let fit = encode(buf, scratch, values, &rows[*next], columns, kinds, format)?;
        if fit != Fit::Written {
            return Ok(fit);
        }
        *next += 1;
    }
    Ok(Fit::Written)
}

/// Sends `rows` (the written columns of the first one being `columns`) with `COPY` into `table`, checking
/// each value as it is encoded, and returns how many rows, from the first, were sent: the caller inserts
/// the rest (a row `COPY` would store otherwise than the `INSERT`, see [`Fit::NotCopy`], and every row
/// after it) with `INSERT`. Rows go in binary format while every value has an exact binary form; at the
/// first that does not, that `COPY` is finished and the rest go in text format in a second one. Runs
/// inside the caller's transaction, which keeps the whole insert atomic. An error names the row (1-based,
/// counted in `rows`).
pub(crate) async fn run(
    conn: &Conn<'_>,
    table: &TableName,
    columns: &[Ident],
    plan: &CopyPlan,
    rows: &[Row],
) -> Result<usize> {
    let mut format = if plan.binary {
        Format::Binary
    } else {
        Format::Text
    };
    let mut scratch = Vec::new();
    let mut values = Vec::with_capacity(columns.len());
    let mut start = 0;
    while start < rows.len() {
        // The first row decides whether this COPY starts at all.
        let mut buf = BytesMut::with_capacity(CHUNK + CHUNK / 4);
        if format == Format::Binary {
            buf.put_slice(BINARY_HEADER);
        }
        let first = encode(
            &mut buf,
            &mut scratch,
            &mut values,
            &rows[start],
            columns,
            &plan.kinds,
            format,
        )?;
        match first {
            Fit::Written => {}
            Fit::NotBinary => {
                format = Format::Text;
                continue;
            }
            Fit::NotCopy => return Ok(start),
        }
        let mut encoder = Encoder {
            buf,
            scratch: &mut scratch,
            values: &mut values,
            rows,
            next: start + 1,
        };
        let stop = copy_one(conn, table, columns, plan, format, start, &mut encoder).await?;
        start = encoder.next;
        match stop {
            Fit::Written => {}
            Fit::NotBinary => format = Format::Text,
            Fit::NotCopy => return Ok(start),
        }
    }
    Ok(start)
}

/// The rows being encoded for one `COPY` and where it stands.
struct Encoder<'s, 'r> {
    buf: BytesMut,
    scratch: &'s mut Vec<u8>,
    values: &'s mut Vec<&'r Value>,
    rows: &'r [Row],
    /// The first row not yet encoded.
    next: usize,
}

impl Encoder<'_, '_> {
    fn fill(&mut self, columns: &[Ident], kinds: &[Kind], format: Format) -> Result<Fit> {
        fill(
            &mut self.buf,
            self.scratch,
            self.values,
            self.rows,
            &mut self.next,
            columns,
            kinds,
            format,
        )
    }
}

/// Runs one `COPY` in `format` of the rows `encoder` holds from `start` (the first already encoded) until
/// they end or one does not fit `format`, which is returned.
async fn copy_one(
    conn: &Conn<'_>,
    table: &TableName,
    columns: &[Ident],
    plan: &CopyPlan,
    format: Format,
    start: usize,
    encoder: &mut Encoder<'_, '_>,
) -> Result<Fit> {
    let mut sql = sql::copy_from_stdin(table, columns);
    if format == Format::Binary {
        sql.push_str(" (FORMAT binary)");
    }
    // Dropped half done (even while waiting to start), the COPY aborts the transaction on the server:
    // until it completes, the transaction counts as aborted, so a later commit is refused rather than
    // reported as done.
    let in_flight = conn.tx.map(crate::tx_state::TxShared::in_flight);
    // The first message is encoded while the server answers the COPY's start.
    let (sink, mut stop) = join(open(conn, &sql), async {
        encoder.fill(columns, &plan.kinds, format)
    })
    .await;
    let sink = sink.map_err(map_pg_error)?;
    let mut sink = pin!(sink);
    loop {
        let stop_here = stop?;
        if stop_here != Fit::Written || encoder.next == encoder.rows.len() {
            stop = Ok(stop_here);
            break;
        }
        sink.send(encoder.buf.split().freeze())
            .await
            .map_err(|e| with_row(e, start))?;
        stop = encoder.fill(columns, &plan.kinds, format);
    }
    if format == Format::Binary {
        encoder.buf.put_i16(-1);
    }
    sink.send(encoder.buf.split().freeze())
        .await
        .map_err(|e| with_row(e, start))?;
    finish(conn, table, columns, plan, sink, start).await?;
    if let Some(in_flight) = in_flight {
        in_flight.finished();
    }
    stop
}

/// Starts `COPY` statement `sql`. COPY needs a prepared statement: in cached mode the connection keeps it
/// (a COPY is planned afresh on every run, so a kept one cannot go stale), which saves a round trip per
/// batch.
async fn open(
    conn: &Conn<'_>,
    sql: &str,
) -> std::result::Result<CopyInSink<bytes::Bytes>, tokio_postgres::Error> {
    if conn.mode == StatementMode::Cached {
        let statement = conn.client.prepare_cached(sql).await?;
        conn.client.copy_in(&statement).await
    } else {
        conn.client.copy_in(sql).await
    }
}

/// Ends a `COPY` whose data is all sent, checking the table is still what `plan` assumed (an error names
/// the row the server failed on, counted from `rows[start]`).
async fn finish(
    conn: &Conn<'_>,
    table: &TableName,
    columns: &[Ident],
    plan: &CopyPlan,
    mut sink: Pin<&mut CopyInSink<bytes::Bytes>>,
    start: usize,
) -> Result<()> {
    // A shape read before the COPY took its lock on the table may be stale: a column whose type changed
    // in between would have been encoded for its old type (in binary, its bytes read as another type), and
    // a column made `GENERATED ALWAYS` or a rule or row security added in between would have been
    // bypassed (which the `INSERT` would not do). It is read once more behind the COPY, in the same round
    // trip, while the COPY's lock keeps the table as it is. A shape kept under the lock the transaction
    // holds cannot be stale; what can change is the table the name finds (another session may create one
    // earlier in `search_path`), so only that is read behind the COPY.
    let after = match &plan.kept {
        Some(kept) => {
            let (copied, found) = join(sink.as_mut().finish(), shape::resolve(conn, table)).await;
            copied.map_err(|e| with_row(e, start))?;
            (found? == kept.oid).then(|| kept.clone())
        }
        None => {
            let (copied, after) = join(sink.as_mut().finish(), shape::fetch(conn, table)).await;
            copied.map_err(|e| with_row(e, start))?;
            Some(after?).filter(|after| column_types(after, columns).as_ref() == Some(&plan.types))
        }
    };
    let Some(after) = after else {
        // The transaction stays marked aborted (the in-flight mark is not lifted), so it cannot commit.
        return Err(Error::new(
            ErrorKind::TransactionAborted,
            format!(
                "{} changed (a column's type or generation, its rules or row security) while rows were \
                 copied into it; nothing was kept",
                table.display_name()
            ),
        ));
    };
    if let Some(tx) = conn.tx {
        // Read under the COPY's lock, which the transaction holds from now on: the next batch plans from it.
        tx.keep_shape(table.to_string(), after);
    }
    Ok(())
}

/// Sends the rows of `first` and of every part `parts` yields after it with `COPY` into `table` (see
/// `DatabaseClient::insert_parts`), encoding each message while the server stores the one before, and
/// returns how many rows were stored. Rows go in binary format while every value has an exact binary form
/// (as in [`run`]); at the first that does not, that `COPY` is finished and the rest go in text format in
/// a second one, in the same transaction. A row `COPY` would store otherwise than the `INSERT`
/// ([`Fit::NotCopy`]) fails the whole insert: the caller, which rolls back, writes the parts another way.
pub(crate) async fn run_parts(
    conn: &Conn<'_>,
    table: &TableName,
    columns: &[Ident],
    plan: &CopyPlan,
    first: Arc<Vec<Row>>,
    parts: &mut PartStream,
) -> Result<u64> {
    let mut format = if plan.binary {
        Format::Binary
    } else {
        Format::Text
    };
    let cannot_copy = |row: usize| {
        Error::invalid_input(format!(
            "row {row} cannot be copied as an insert would store it"
        ))
    };
    let mut scratch = Vec::new();
    let mut stored = 0_usize;
    let mut part = Some(first);
    // Where the current part resumes after a switch to text format.
    let mut from = 0;
    loop {
        let mut sql = sql::copy_from_stdin(table, columns);
        let mut buf = BytesMut::with_capacity(CHUNK + CHUNK / 4);
        if format == Format::Binary {
            sql.push_str(" (FORMAT binary)");
            buf.put_slice(BINARY_HEADER);
            // As in `run`, the first row decides whether the binary COPY starts at all.
            if let Some(row) = part.as_ref().and_then(|rows| rows.get(from)) {
                let start = buf.len();
                match encode(
                    &mut buf,
                    &mut scratch,
                    &mut Vec::with_capacity(columns.len()),
                    row,
                    columns,
                    &plan.kinds,
                    format,
                )? {
                    Fit::Written => buf.truncate(start),
                    Fit::NotBinary => {
                        format = Format::Text;
                        continue;
                    }
                    Fit::NotCopy => return Err(cannot_copy(stored + 1)),
                }
            }
        }
        // As in `copy_one`: a COPY dropped half done leaves the transaction aborted.
        let in_flight = conn.tx.map(crate::tx_state::TxShared::in_flight);
        let sink = open(conn, &sql).await.map_err(map_pg_error)?;
        let mut sink = pin!(sink);
        // The server counts lines from this COPY's first row.
        let copy_start = stored;
        let mut switched = false;
        while let Some(rows) = part.take() {
            let mut values = Vec::with_capacity(columns.len());
            let mut at = from;
            while let Some(row) = rows.get(at) {
                match encode(
                    &mut buf,
                    &mut scratch,
                    &mut values,
                    row,
                    columns,
                    &plan.kinds,
                    format,
                )? {
                    Fit::Written => {}
                    // Only binary format refuses a value that text format takes.
                    Fit::NotBinary if format == Format::Binary => break,
                    Fit::NotBinary | Fit::NotCopy => return Err(cannot_copy(stored + 1)),
                }
                at += 1;
                stored += 1;
                if buf.len() >= CHUNK {
                    sink.send(buf.split().freeze())
                        .await
                        .map_err(|e| with_row(e, copy_start))?;
                }
            }
            drop(values);
            if at < rows.len() {
                // A value without an exact binary form: this row and the rest go in text format.
                (from, part, switched) = (at, Some(rows), true);
                break;
            }
            drop(rows);
            from = 0;
            part = parts.next().await;
        }
        if format == Format::Binary {
            buf.put_i16(-1);
        }
        send_rest(conn, table, columns, plan, sink, buf, in_flight, copy_start).await?;
        if !switched {
            return Ok(stored as u64);
        }
        format = Format::Text;
    }
}

/// Sends what `buf` still holds, ends the `COPY` ([`finish`]) and lifts the transaction's in-flight mark
/// (see [`copy_one`]); an error names the row the server failed on, counted from `rows[start]`.
#[expect(
    clippy::too_many_arguments,
    reason = "the COPY's state, passed by its two callers"
)]
async fn send_rest(
    conn: &Conn<'_>,
    table: &TableName,
    columns: &[Ident],
    plan: &CopyPlan,
    mut sink: Pin<&mut CopyInSink<bytes::Bytes>>,
    mut buf: BytesMut,
    in_flight: Option<crate::tx_state::InFlight<'_>>,
    start: usize,
) -> Result<()> {
    sink.send(buf.split().freeze())
        .await
        .map_err(|e| with_row(e, start))?;
    finish(conn, table, columns, plan, sink, start).await?;
    if let Some(in_flight) = in_flight {
        in_flight.finished();
    }
    Ok(())
}

/// The keys [`run_keyed`] draws, in order, from the sequence named by `$1` (as `regclass` text).
const DRAW_KEYS: &str =
    "SELECT pg_catalog.nextval($1::regclass) FROM pg_catalog.generate_series(1, $2::int8)";

/// Inserts `rows`, which leave out `columns[0]` (the key) and name `columns[1..]`, with one `COPY` in text
/// format, each row's key drawn first from `sequence` (the one the key's default draws from: see
/// [`ColumnShape::sequence`]), as the `INSERT` would draw it; returns the keys, in the rows' order. `None`,
/// before any key is drawn, when a row cannot be copied as the `INSERT` would store it ([`Fit::NotCopy`]):
/// every row is encoded before the keys are drawn. Runs inside the caller's transaction.
pub(crate) async fn run_keyed(
    conn: &Conn<'_>,
    table: &TableName,
    columns: &[Ident],
    plan: &CopyPlan,
    rows: &[Row],
    sequence: &str,
) -> Result<Option<Vec<i64>>> {
    let (Some((_, rest)), Some((_, kinds))) = (columns.split_first(), plan.kinds.split_first())
    else {
        return Ok(None);
    };
    if rest.is_empty() {
        return Ok(None);
    }
    // Each row's fields after the key, and where they end.
    let mut body = BytesMut::with_capacity(rows.len() * 64);
    let mut ends = Vec::with_capacity(rows.len());
    let mut scratch = Vec::new();
    let mut values = Vec::with_capacity(rest.len());
    for row in rows {
        body.put_u8(b'\t');
        if encode(
            &mut body,
            &mut scratch,
            &mut values,
            row,
            rest,
            kinds,
            Format::Text,
        )? != Fit::Written
        {
            return Ok(None);
        }
        ends.push(body.len());
    }
    drop(values);
    let draw = sql::Statement {
        sql: DRAW_KEYS.to_owned().into(),
        params: vec![Some(sequence.to_owned()), Some(rows.len().to_string())],
        value_dependent: false,
        number: None,
    };
    let drawn = pin!(conn.stream(&draw).await?);
    let keys: Vec<i64> = drawn
        .map(|row| {
            row.and_then(|row| row.try_get::<_, i64>(0))
                .map_err(map_pg_error)
        })
        .try_collect()
        .await?;
    if keys.len() != rows.len() {
        return Err(Error::new(
            ErrorKind::Decode,
            format!("{} keys drawn for {} rows", keys.len(), rows.len()),
        ));
    }
    let sql = sql::copy_from_stdin(table, columns);
    // As in `copy_one`: a COPY dropped half done leaves the transaction aborted.
    let in_flight = conn.tx.map(crate::tx_state::TxShared::in_flight);
    let sink = open(conn, &sql).await.map_err(map_pg_error)?;
    let mut sink = pin!(sink);
    let mut buf = BytesMut::with_capacity(CHUNK + CHUNK / 4);
    let mut number = itoa::Buffer::new();
    let mut start = 0;
    for (key, end) in keys.iter().zip(ends) {
        buf.put_slice(number.format(*key).as_bytes());
        buf.put_slice(&body[start..end]);
        start = end;
        if buf.len() >= CHUNK {
            sink.send(buf.split().freeze())
                .await
                .map_err(|e| with_row(e, 0))?;
        }
    }
    send_rest(conn, table, columns, plan, sink, buf, in_flight, 0).await?;
    Ok(Some(keys))
}

/// Maps a COPY error, naming the row when the server said which line failed (`COPY t, line 3, …`; in
/// binary format the line is the row's number too), counted from the COPY's first row, `rows[start]`.
fn with_row(e: tokio_postgres::Error, start: usize) -> Error {
    let line = e
        .as_db_error()
        .and_then(|db| db.where_())
        .and_then(|w| w.split(", line ").nth(1))
        .and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse::<usize>().ok()
        });
    let mapped = map_pg_error(e);
    match line {
        Some(n) => mapped.context(format!("row {}", start + n)),
        _ => mapped,
    }
}

fn json_text(scratch: &mut Vec<u8>, value: &Value) -> Result<()> {
    scratch.clear();
    serde_json::to_writer(&mut *scratch, value).map_err(|e| Error::invalid_input(e.to_string()))
}

/// Appends one row in COPY text format.
fn encode_row(
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
    values: &[&Value],
    kinds: &[Kind],
) -> Result<Fit> {
    for (i, (value, kind)) in values.iter().zip(kinds).enumerate() {
        if i > 0 {
            buf.put_u8(b'\t');
        }
        match value {
            Value::Null => buf.put_slice(b"\\N"),
            value if kind.is_json() => {
                if holds_nul(value) {
                    return Ok(Fit::NotCopy);
                }
                json_text(scratch, value)?;
                push_field(buf, scratch);
            }
            Value::String(s) if s.contains('\0') => return Ok(Fit::NotCopy),
            Value::String(s) => push_field(buf, s.as_bytes()),
            // Arbitrary precision keeps a number's own digits, which json_populate_recordset also sees.
            Value::Number(n) => push_field(buf, n.as_str().as_bytes()),
            Value::Bool(b) => buf.put_slice(if *b { b"true" } else { b"false" }),
            Value::Array(items) if *kind == Kind::ScalarArray => {
                if !array_literal(scratch, items) {
                    return Ok(Fit::NotCopy);
                }
                push_field(buf, scratch);
            }
            // json_populate_recordset converts these to PostgreSQL arrays and composites.
            Value::Array(_) | Value::Object(_) => return Ok(Fit::NotCopy),
        }
    }
    buf.put_u8(b'\n');
    Ok(Fit::Written)
}

/// Writes a JSON array of scalars in `out` as the array literal json_populate_recordset's conversion
/// amounts to: each element quoted (a backslash before `"` and `\\`), so the element type's input function
/// gets exactly the element's text (a string's characters, a number's digits, `true` or `false`), and a
/// JSON null as `NULL`. `false` for an element that is an array or an object (more dimensions, or
/// composites, are left to the `INSERT`) or a string holding U+0000.
fn array_literal(out: &mut Vec<u8>, items: &[Value]) -> bool {
    let quoted = |out: &mut Vec<u8>, text: &[u8]| {
        out.push(b'"');
        for &b in text {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    };
    out.clear();
    out.push(b'{');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match item {
            Value::Null => out.extend_from_slice(b"NULL"),
            Value::String(s) if s.contains('\0') => return false,
            Value::String(s) => quoted(out, s.as_bytes()),
            Value::Number(n) => quoted(out, n.as_str().as_bytes()),
            Value::Bool(b) => quoted(out, if *b { b"true" } else { b"false" }),
            Value::Array(_) | Value::Object(_) => return false,
        }
    }
    out.push(b'}');
    true
}

/// Appends one row in COPY binary format, as far as its values have an exact binary form
/// ([`encode_binary_field`]).
fn encode_binary_row(
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
    values: &[&Value],
    columns: &[Ident],
    kinds: &[Kind],
) -> Result<Fit> {
    let fields = i16::try_from(values.len())
        .map_err(|_| Error::invalid_input("too many columns for one COPY row"))?;
    buf.put_i16(fields);
    for (i, (value, kind)) in values.iter().zip(kinds).enumerate() {
        match encode_binary_field(buf, scratch, *kind, value) {
            Ok(Fit::Written) => {}
            Ok(other) => return Ok(other),
            Err(e) => return Err(e.context(format!("column {}", columns[i]))),
        }
    }
    Ok(Fit::Written)
}

/// Appends one value in COPY binary format when its binary form stores exactly what the column type's
/// input function stores from the text the `INSERT` would hand it ([`Fit::Written`]); otherwise says why
/// not and leaves `buf` as it was.
fn encode_binary_field(
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
    kind: Kind,
    value: &Value,
) -> Result<Fit> {
    let put_bytes = |buf: &mut BytesMut, bytes: &[u8]| -> Result<()> {
        let len = i32::try_from(bytes.len())
            .map_err(|_| Error::invalid_input("a value over 2 GB cannot be copied"))?;
        buf.put_i32(len);
        buf.put_slice(bytes);
        Ok(())
    };
    match (kind, value) {
        (_, Value::Null) => buf.put_i32(-1),
        (Kind::Json | Kind::Jsonb, v) if holds_nul(v) => return Ok(Fit::NotCopy),
        (Kind::Json, v) => {
            json_text(scratch, v)?;
            put_bytes(buf, scratch)?;
        }
        (Kind::Jsonb, v) => {
            scratch.clear();
            scratch.push(1);
            serde_json::to_writer(&mut *scratch, v)
                .map_err(|e| Error::invalid_input(e.to_string()))?;
            put_bytes(buf, scratch)?;
        }
        (Kind::ScalarArray, _) => return Ok(Fit::NotBinary),
        (_, Value::Array(_) | Value::Object(_)) => return Ok(Fit::NotCopy),
        (_, Value::String(s)) if s.contains('\0') => return Ok(Fit::NotCopy),
        (Kind::Text, Value::String(s)) => put_bytes(buf, s.as_bytes())?,
        (Kind::Text, Value::Number(n)) => put_bytes(buf, n.as_str().as_bytes())?,
        (Kind::Text, Value::Bool(b)) => put_bytes(buf, if *b { b"true" } else { b"false" })?,
        (Kind::Bool, Value::Bool(b)) => {
            buf.put_i32(1);
            buf.put_u8(u8::from(*b));
        }
        (Kind::Int2, Value::Number(n)) => match n.as_str().parse::<i16>() {
            Ok(v) => {
                buf.put_i32(2);
                buf.put_i16(v);
            }
            Err(_) => return Ok(Fit::NotBinary),
        },
        (Kind::Int4, Value::Number(n)) => match n.as_str().parse::<i32>() {
            Ok(v) => {
                buf.put_i32(4);
                buf.put_i32(v);
            }
            Err(_) => return Ok(Fit::NotBinary),
        },
        (Kind::Int8, Value::Number(n)) => match n.as_str().parse::<i64>() {
            Ok(v) => {
                buf.put_i32(8);
                buf.put_i64(v);
            }
            Err(_) => return Ok(Fit::NotBinary),
        },
        (Kind::Float8, Value::Number(n)) => match float8(n.as_str()) {
            Some(v) => {
                buf.put_i32(8);
                buf.put_f64(v);
            }
            None => return Ok(Fit::NotBinary),
        },
        (Kind::Uuid, Value::String(s)) => match uuid(s) {
            Some(v) => {
                buf.put_i32(16);
                buf.put_slice(&v);
            }
            None => return Ok(Fit::NotBinary),
        },
        (Kind::Date, Value::String(s)) => match dates::date(s) {
            Some(days) => {
                buf.put_i32(4);
                buf.put_i32(days);
            }
            None => return Ok(Fit::NotBinary),
        },
        (Kind::Timestamp | Kind::Timestamptz, Value::String(s)) => {
            match dates::timestamp(s, kind == Kind::Timestamptz) {
                Some(micros) => {
                    buf.put_i32(8);
                    buf.put_i64(micros);
                }
                None => return Ok(Fit::NotBinary),
            }
        }
        _ => return Ok(Fit::NotBinary),
    }
    Ok(Fit::Written)
}

/// Appends one field, escaping what COPY's text format treats specially: backslash, newline, carriage
/// return and tab (the delimiter).
fn push_field(buf: &mut BytesMut, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none is a control character or a backslash (most text has none;
        // the test also stops at quotes, which are then passed over one by one).
        if let Some(chunk) = bytes.get(i..i + 8)
            && !crate::escape::any_needs_escape(u64::from_le_bytes(
                chunk.try_into().unwrap_or_default(),
            ))
        {
            i += 8;
            continue;
        }
        let escape: &[u8] = match bytes[i] {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => {
                i += 1;
                continue;
            }
        };
        buf.put_slice(&bytes[start..i]);
        buf.put_slice(escape);
        i += 1;
        start = i;
    }
    buf.put_slice(&bytes[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_escape_backslash_newline_return_and_tab_only() {
        let mut buf = BytesMut::new();
        push_field(&mut buf, "a\\b\nc\rd\te\"f'g\\N".as_bytes());
        assert_eq!(&buf[..], b"a\\\\b\\nc\\rd\\te\"f'g\\\\N");
    }

    /// Each special byte is escaped wherever it falls in the eight-byte steps, and nothing else is.
    #[test]
    fn fields_escape_at_every_offset() {
        let escape = |text: &str| {
            text.replace('\\', "\\\\")
                .replace('\n', "\\n")
                .replace('\r', "\\r")
                .replace('\t', "\\t")
        };
        for len in 0..20 {
            for at in 0..len {
                for special in [
                    '\\', '\n', '\r', '\t', '"', '\u{1}', '\u{1f}', 'é', '\u{7f}', ' ',
                ] {
                    let text: String = (0..len)
                        .map(|i| if i == at { special } else { 'a' })
                        .collect();
                    let mut buf = BytesMut::new();
                    push_field(&mut buf, text.as_bytes());
                    assert_eq!(&buf[..], escape(&text).as_bytes(), "{text:?}");
                }
            }
        }
        let all: String = (0..=0x7f_u8).map(char::from).cycle().take(1000).collect();
        let mut buf = BytesMut::new();
        push_field(&mut buf, all.as_bytes());
        assert_eq!(&buf[..], escape(&all).as_bytes());
    }

    #[test]
    fn rows_become_copy_text_lines() {
        let row: Row = serde_json::from_str(
            r#"{"s": "x\ty", "n": 1.50, "b": true, "z": null, "j": "quoted", "o": {"k": [1]}}"#,
        )
        .unwrap();
        let columns: Vec<Ident> = ["s", "n", "b", "z", "j", "o"]
            .iter()
            .map(|c| Ident::exact(c).unwrap())
            .collect();
        let mut buf = BytesMut::new();
        let kinds = [
            Kind::Text,
            Kind::Other,
            Kind::Other,
            Kind::Other,
            Kind::Json,
            Kind::Jsonb,
        ];
        let fit = encode(
            &mut buf,
            &mut Vec::new(),
            &mut Vec::new(),
            &row,
            &columns,
            &kinds,
            Format::Text,
        )
        .unwrap();
        assert_eq!(fit, Fit::Written);
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            "x\\ty\t1.50\ttrue\t\\N\t\"quoted\"\t{\"k\":[1]}\n"
        );
    }

    fn number(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn only_values_the_input_function_reads_the_same_way_go_in_binary() {
        for (kind, text) in [
            (Kind::Int2, "32767"),
            (Kind::Int2, "-32768"),
            (Kind::Int4, "-0"),
            (Kind::Int8, "-9223372036854775808"),
            (Kind::Float8, "0.1"),
            (Kind::Float8, "-0.0"),
            (Kind::Float8, "1.7976931348623157e308"),
            (Kind::Float8, "5e-324"),
            (Kind::Float8, "0e-999"),
            (Kind::Text, "1.50"),
        ] {
            assert!(kind.binary_ok(&number(text)), "{kind:?} {text}");
        }
        for (kind, text) in [
            (Kind::Int2, "32768"),
            (Kind::Int4, "1.0"),
            (Kind::Int4, "1e3"),
            (Kind::Int4, "\"12\""),
            (Kind::Int8, "9223372036854775808"),
            (Kind::Float8, "1e309"),
            (Kind::Float8, "-1e309"),
            (Kind::Float8, "1e-400"),
            (Kind::Float8, "\"1.5\""),
            (Kind::Bool, "1"),
            (Kind::Bool, "\"true\""),
            (Kind::Uuid, "\"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}\""),
            (Kind::Uuid, "\"a0eebc999c0b4ef8bb6d6bb9bd380a11\""),
            (Kind::Uuid, "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g\""),
            (Kind::Text, "[1]"),
            (Kind::Other, "1"),
        ] {
            assert!(!kind.binary_ok(&number(text)), "{kind:?} {text}");
        }
        assert_eq!(
            uuid("A0EEBC99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            Some([
                0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38,
                0x0a, 0x11
            ])
        );
    }

    #[test]
    fn rows_become_copy_binary_tuples() {
        let row: Row = serde_json::from_str(
            r#"{"i": 7, "f": 0.5, "b": false, "t": "é", "j": {"k": 1}, "n": null}"#,
        )
        .unwrap();
        let columns: Vec<Ident> = ["i", "f", "b", "t", "j", "n"]
            .iter()
            .map(|c| Ident::exact(c).unwrap())
            .collect();
        let mut buf = BytesMut::new();
        let kinds = [
            Kind::Int4,
            Kind::Float8,
            Kind::Bool,
            Kind::Text,
            Kind::Jsonb,
            Kind::Int8,
        ];
        let fit = encode(
            &mut buf,
            &mut Vec::new(),
            &mut Vec::new(),
            &row,
            &columns,
            &kinds,
            Format::Binary,
        )
        .unwrap();
        assert_eq!(fit, Fit::Written);
        let mut expected: Vec<u8> = vec![0, 6, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 8];
        expected.extend_from_slice(&0.5f64.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 2, 0xc3, 0xa9]);
        expected.extend_from_slice(&[0, 0, 0, 8, 1]);
        expected.extend_from_slice(br#"{"k":1}"#);
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&buf[..], &expected[..]);
    }

    fn columns(names: &[&str]) -> Vec<Ident> {
        names.iter().map(|c| Ident::exact(c).unwrap()).collect()
    }

    fn fit(row: &str, names: &[&str], kinds: &[Kind], format: Format) -> (Fit, usize) {
        let row: Row = serde_json::from_str(row).unwrap();
        let mut buf = BytesMut::from(&b"kept"[..]);
        let fit = encode(
            &mut buf,
            &mut Vec::new(),
            &mut Vec::new(),
            &row,
            &columns(names),
            kinds,
            format,
        )
        .unwrap();
        (fit, buf.len())
    }

    #[test]
    fn a_row_is_checked_while_it_is_encoded_and_leaves_nothing_when_it_does_not_fit() {
        let both = [Format::Binary, Format::Text];
        let (i, t, j) = (Kind::Int4, Kind::Text, Kind::Json);
        // Fits both formats: by position, or by name with `_` keys ignored.
        for format in both {
            assert_eq!(
                fit(r#"{"a": 1, "b": "x"}"#, &["a", "b"], &[i, t], format).0,
                Fit::Written
            );
            assert_eq!(
                fit(
                    r#"{"_m": [1], "b": "x", "a": 1}"#,
                    &["a", "b"],
                    &[i, t],
                    format
                )
                .0,
                Fit::Written
            );
        }
        // No exact binary form: text only.
        assert_eq!(
            fit(r#"{"a": "1"}"#, &["a"], &[i], Format::Binary),
            (Fit::NotBinary, 4)
        );
        assert_eq!(
            fit(r#"{"a": "1"}"#, &["a"], &[i], Format::Text).0,
            Fit::Written
        );
        assert_eq!(
            fit(r#"{"a": 1.0}"#, &["a"], &[i], Format::Binary),
            (Fit::NotBinary, 4)
        );
        // What COPY would store otherwise than the INSERT, or other columns: neither format.
        for format in both {
            for (row, names, kinds) in [
                (r#"{"a": 1, "b": [1]}"#, &["a", "b"][..], &[i, t][..]),
                (r#"{"a": 1, "b": {"k": 1}}"#, &["a", "b"], &[i, t]),
                (r#"{"a": 1, "b": "x\u0000"}"#, &["a", "b"], &[i, t]),
                (r#"{"a": 1, "b": {"k\u0000": 1}}"#, &["a", "b"], &[i, j]),
                (r#"{"a": 1, "b": ["\u0000"]}"#, &["a", "b"], &[i, j]),
                (r#"{"a": 1, "_x\u0000": 1, "b": 2}"#, &["a", "b"], &[i, i]),
                (r#"{"a": 1}"#, &["a", "b"], &[i, t]),
                (r#"{"a": 1, "b": 2, "c": 3}"#, &["a", "b"], &[i, i]),
                (r#"{"b": 1, "c": 2}"#, &["a", "b"], &[i, i]),
            ] {
                assert_eq!(
                    fit(row, names, kinds, format),
                    (Fit::NotCopy, 4),
                    "{row} {format:?}"
                );
            }
        }
    }
}
