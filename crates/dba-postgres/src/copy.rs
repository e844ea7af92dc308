//! Bulk inserts sent as `COPY … FROM STDIN`, with exactly the effect of the `json_populate_recordset` insert.
//!
//! Parsing the JSON parameter costs the server half of what `COPY` needs for the whole load (90,000 rows:
//! 614 ms of 1,657 ms; `COPY` took 1,206 ms). `COPY`'s text format hands each field to the column type's
//! input function, which is what `json_populate_recordset` does with a JSON string, number or boolean; into
//! a json or jsonb column it stores the value's JSON text (a string keeps its quotes). So a batch goes
//! through `COPY` only when that equivalence holds:
//! - the table is one where `COPY` behaves as `INSERT` ([`TableShape::copy_like_insert`]);
//! - no written column is a domain, generated, or `GENERATED ALWAYS AS IDENTITY` (which `INSERT` refuses);
//! - no JSON array or object goes to a column other than json or jsonb (`json_populate_recordset` converts
//!   those to PostgreSQL arrays and composites);
//! - no key or string anywhere in a row holds U+0000, which `json_populate_recordset` refuses (`COPY` would
//!   store it in a json column).
//!
//! Rows, defaults, constraints and row-level triggers behave exactly as with the `INSERT`; statement-level
//! triggers fire once for the `COPY` instead of once per 10,000-row `INSERT` statement.
//!
//! Anything else keeps the `INSERT`. `COPY` needs a prepared statement, so it runs only inside a
//! transaction: with unnamed statements (behind a transaction-mode pooler) the statement is closed before
//! the transaction ends, on the same server connection; in cached mode the connection keeps it.
//!
//! The batch goes in binary format when every column is text, varchar, json, jsonb, boolean, smallint,
//! integer, bigint, double precision or uuid and every value has a binary form that stores exactly what
//! the type's input function stores from the value's text ([`Kind::binary_ok`]): a JSON boolean for a
//! boolean; a number written as an integer in range for an integer column (not `1.0`, `1e3` or a string,
//! which the server parses or refuses itself); a finite number for double precision that does not round
//! to zero from a nonzero value (both sides round decimal text correctly; float8in refuses overflow and
//! underflow to zero); a canonical 8-4-4-4-12 string for a uuid; any scalar for text (its own text) and
//! any value for json (its JSON text). Anything else sends the batch in text format, so the server parses
//! every value as before. Binary spares the server the parsing.

use std::pin::pin;

use bytes::{BufMut, BytesMut};
use dba_core::{Error, ErrorKind, Ident, Result, Row, TableName, Value};
use futures_util::SinkExt;
use futures_util::future::join;
use tokio_postgres::types::Type;

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
/// client can decide exactly as the type's input function would (see [`Kind::binary_ok`]).
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
            _ => Kind::Other,
        }
    }

    fn is_json(self) -> bool {
        matches!(self, Kind::Json | Kind::Jsonb)
    }

    /// Whether `value` has a binary form that stores exactly what the column type's input function stores
    /// from the text the `INSERT` would hand it; anything else goes in text format and is parsed by the
    /// server.
    fn binary_ok(self, value: &Value) -> bool {
        match (self, value) {
            (_, Value::Null) | (Kind::Json | Kind::Jsonb, _) | (Kind::Bool, Value::Bool(_)) => true,
            (Kind::Text, v) => !matches!(v, Value::Array(_) | Value::Object(_)),
            (Kind::Int2, Value::Number(n)) => n.as_str().parse::<i16>().is_ok(),
            (Kind::Int4, Value::Number(n)) => n.as_str().parse::<i32>().is_ok(),
            (Kind::Int8, Value::Number(n)) => n.as_str().parse::<i64>().is_ok(),
            (Kind::Float8, Value::Number(n)) => float8(n.as_str()).is_some(),
            (Kind::Uuid, Value::String(s)) => uuid(s).is_some(),
            _ => false,
        }
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

/// How a batch is sent: each column's kind, and whether every value has an exact binary form.
#[derive(Debug)]
pub(crate) struct CopyPlan {
    kinds: Vec<Kind>,
    /// What the table was when the plan was made, checked again behind the `COPY` (see [`run`]).
    types: Assumed,
    binary: bool,
}

/// How `rows` can be written to `shape`'s table by `COPY` with the same effect as the `INSERT`; `None`
/// when they cannot. Binary format when every column is of a [`Kind`] with a binary form and every value
/// has one, text format otherwise.
pub(crate) fn plan<'r>(
    shape: &TableShape,
    columns: &[Ident],
    rows: impl Iterator<Item = &'r Row>,
) -> Option<CopyPlan> {
    if !shape.copy_like_insert || columns.is_empty() {
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
    let mut binary = !kinds.contains(&Kind::Other);
    for row in rows {
        if row.keys().any(|k| k.contains('\0')) {
            return None;
        }
        let mut refused = false;
        for_each_field(row, columns, |i, value| {
            if refused || holds_nul(value) {
                refused = true;
                return;
            }
            let kind = kinds[i];
            if !kind.is_json() && matches!(value, Value::Array(_) | Value::Object(_)) {
                refused = true;
                return;
            }
            binary = binary && kind.binary_ok(value);
        });
        if refused {
            return None;
        }
    }
    Some(CopyPlan {
        kinds,
        types,
        binary,
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

/// Calls `f` with each of `columns`' values in `row` (null when absent), by position when the row's keys
/// are exactly `columns` in order (as rows built alike are), by name otherwise.
fn for_each_field(row: &Row, columns: &[Ident], mut f: impl FnMut(usize, &Value)) {
    if row.len() == columns.len() && row.keys().zip(columns).all(|(k, c)| k == c.as_str()) {
        for (i, value) in row.values().enumerate() {
            f(i, value);
        }
    } else {
        for (i, ident) in columns.iter().enumerate() {
            f(i, row.get(ident.as_str()).unwrap_or(&Value::Null));
        }
    }
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

/// Sends `rows` (each having exactly `columns`, as the write plan groups them) with `COPY`, as
/// [`plan`] decided. An error names the row (1-based).
pub(crate) async fn run<'r>(
    conn: &Conn<'_>,
    table: &TableName,
    columns: &[Ident],
    plan: &CopyPlan,
    rows: impl Iterator<Item = &'r Row>,
) -> Result<u64> {
    let mut sql = sql::copy_from_stdin(table, columns);
    if plan.binary {
        sql.push_str(" (FORMAT binary)");
    }
    // Dropped half done (even while waiting to start), the COPY aborts the transaction on the server:
    // until it completes, the transaction counts as aborted, so a later commit is refused rather than
    // reported as done.
    let in_flight = conn.tx.map(crate::tx_state::TxShared::in_flight);
    // COPY needs a prepared statement. In cached mode the connection keeps it (a COPY is planned afresh on
    // every run, so a kept one cannot go stale), which saves a round trip per batch.
    let sink = if conn.mode == StatementMode::Cached {
        match conn.client.prepare_cached(&sql).await {
            Ok(statement) => conn.client.copy_in::<_, bytes::Bytes>(&statement).await,
            Err(e) => Err(e),
        }
    } else {
        conn.client.copy_in::<_, bytes::Bytes>(sql.as_str()).await
    }
    .map_err(map_pg_error)?;
    let mut sink = pin!(sink);
    let mut buf = BytesMut::with_capacity(CHUNK + CHUNK / 4);
    let mut scratch = Vec::new();
    if plan.binary {
        buf.put_slice(BINARY_HEADER);
    }
    for row in rows {
        if plan.binary {
            encode_binary_row(&mut buf, &mut scratch, row, columns, &plan.kinds)?;
        } else {
            encode_row(&mut buf, &mut scratch, row, columns, &plan.kinds)?;
        }
        if buf.len() >= CHUNK {
            sink.send(buf.split().freeze()).await.map_err(with_row)?;
        }
    }
    if plan.binary {
        buf.put_i16(-1);
    }
    if !buf.is_empty() {
        sink.send(buf.split().freeze()).await.map_err(with_row)?;
    }
    // The shape was read before the COPY took its lock on the table: a column whose type changed in
    // between would have been encoded for its old type (in binary, its bytes read as another type), and a
    // column made `GENERATED ALWAYS` or a rule or row security added in between would have been bypassed
    // (which the `INSERT` would not do). Read once more behind the COPY, in the same round trip, while
    // the COPY's lock keeps the table as it is.
    let (copied, after) = join(sink.as_mut().finish(), shape::fetch(conn, table)).await;
    let copied = copied.map_err(with_row)?;
    if column_types(&after?, columns).as_ref() != Some(&plan.types) {
        // The transaction stays marked aborted (the in-flight mark is not lifted), so it cannot commit.
        return Err(Error::new(
            ErrorKind::TransactionAborted,
            format!(
                "{} changed (a column's type or generation, its rules or row security) while rows were \
                 copied into it; nothing was kept",
                table.display_name()
            ),
        ));
    }
    if let Some(in_flight) = in_flight {
        in_flight.finished();
    }
    Ok(copied)
}

/// Maps a COPY error, naming the row when the server said which line failed (`COPY t, line 3, …`; in
/// binary format the line is the row's number too).
fn with_row(e: tokio_postgres::Error) -> Error {
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
        Some(n) => mapped.context(format!("row {n}")),
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
    row: &Row,
    columns: &[Ident],
    kinds: &[Kind],
) -> Result<()> {
    let mut result = Ok(());
    for_each_field(row, columns, |i, value| {
        if result.is_err() {
            return;
        }
        if i > 0 {
            buf.put_u8(b'\t');
        }
        match value {
            Value::Null => buf.put_slice(b"\\N"),
            value if kinds[i].is_json() => match json_text(scratch, value) {
                Ok(()) => push_field(buf, scratch),
                Err(e) => result = Err(e),
            },
            Value::String(s) => push_field(buf, s.as_bytes()),
            // Arbitrary precision keeps a number's own digits, which json_populate_recordset also sees.
            Value::Number(n) => push_field(buf, n.as_str().as_bytes()),
            Value::Bool(b) => buf.put_slice(if *b { b"true" } else { b"false" }),
            Value::Array(_) | Value::Object(_) => {
                result = Err(Error::invalid_input(format!(
                    "column {}: a JSON array or object cannot be copied",
                    columns[i]
                )));
            }
        }
    });
    result?;
    buf.put_u8(b'\n');
    Ok(())
}

/// Appends one row in COPY binary format; every value passed [`Kind::binary_ok`].
fn encode_binary_row(
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
    row: &Row,
    columns: &[Ident],
    kinds: &[Kind],
) -> Result<()> {
    let fields = i16::try_from(columns.len())
        .map_err(|_| Error::invalid_input("too many columns for one COPY row"))?;
    buf.put_i16(fields);
    let mut result = Ok(());
    for_each_field(row, columns, |i, value| {
        if result.is_err() {
            return;
        }
        if let Err(e) = encode_binary_field(buf, scratch, kinds[i], value) {
            result = Err(e.context(format!("column {}", columns[i])));
        }
    });
    result
}

fn encode_binary_field(
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
    kind: Kind,
    value: &Value,
) -> Result<()> {
    let not_exact = || Error::invalid_input(format!("{value} has no exact binary form"));
    let put_bytes = |buf: &mut BytesMut, bytes: &[u8]| -> Result<()> {
        let len = i32::try_from(bytes.len())
            .map_err(|_| Error::invalid_input("a value over 2 GB cannot be copied"))?;
        buf.put_i32(len);
        buf.put_slice(bytes);
        Ok(())
    };
    match (kind, value) {
        (_, Value::Null) => buf.put_i32(-1),
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
        (Kind::Text, Value::String(s)) => put_bytes(buf, s.as_bytes())?,
        (Kind::Text, Value::Number(n)) => put_bytes(buf, n.as_str().as_bytes())?,
        (Kind::Text, Value::Bool(b)) => put_bytes(buf, if *b { b"true" } else { b"false" })?,
        (Kind::Bool, Value::Bool(b)) => {
            buf.put_i32(1);
            buf.put_u8(u8::from(*b));
        }
        (Kind::Int2, Value::Number(n)) => {
            let v: i16 = n.as_str().parse().map_err(|_| not_exact())?;
            buf.put_i32(2);
            buf.put_i16(v);
        }
        (Kind::Int4, Value::Number(n)) => {
            let v: i32 = n.as_str().parse().map_err(|_| not_exact())?;
            buf.put_i32(4);
            buf.put_i32(v);
        }
        (Kind::Int8, Value::Number(n)) => {
            let v: i64 = n.as_str().parse().map_err(|_| not_exact())?;
            buf.put_i32(8);
            buf.put_i64(v);
        }
        (Kind::Float8, Value::Number(n)) => {
            let v = float8(n.as_str()).ok_or_else(not_exact)?;
            buf.put_i32(8);
            buf.put_f64(v);
        }
        (Kind::Uuid, Value::String(s)) => {
            let v = uuid(s).ok_or_else(not_exact)?;
            buf.put_i32(16);
            buf.put_slice(&v);
        }
        _ => return Err(not_exact()),
    }
    Ok(())
}

/// Appends one field, escaping what COPY's text format treats specially: backslash, newline, carriage
/// return and tab (the delimiter).
fn push_field(buf: &mut BytesMut, bytes: &[u8]) {
    let mut start = 0;
    for (i, byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            _ => continue,
        };
        buf.put_slice(&bytes[start..i]);
        buf.put_slice(escape);
        start = i + 1;
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
        encode_row(
            &mut buf,
            &mut Vec::new(),
            &row,
            &columns,
            &[
                Kind::Text,
                Kind::Other,
                Kind::Other,
                Kind::Other,
                Kind::Json,
                Kind::Jsonb,
            ],
        )
        .unwrap();
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
        encode_binary_row(&mut buf, &mut Vec::new(), &row, &columns, &kinds).unwrap();
        let mut expected: Vec<u8> = vec![0, 6, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 8];
        expected.extend_from_slice(&0.5f64.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 2, 0xc3, 0xa9]);
        expected.extend_from_slice(&[0, 0, 0, 8, 1]);
        expected.extend_from_slice(br#"{"k":1}"#);
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(&buf[..], &expected[..]);
    }
}
