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

use std::pin::pin;

use bytes::{BufMut, BytesMut};
use dba_core::{Error, Ident, Result, Row, TableName, Value};
use futures_util::SinkExt;

use crate::exec::{Conn, map_pg_error};
use crate::settings::StatementMode;
use crate::shape::TableShape;
use crate::sql;

/// Fewer rows than this are inserted with `INSERT`: the catalog read and the prepare cost two round trips.
pub(crate) const MIN_ROWS: usize = 1_000;

/// Bytes of COPY data sent per message.
const CHUNK: usize = 256 * 1024;

/// For each of `columns`, whether it is json or jsonb, when `rows` can be written to `shape`'s table by
/// `COPY` with the same effect as the `INSERT`; `None` otherwise.
pub(crate) fn plan<'r>(
    shape: &TableShape,
    columns: &[Ident],
    rows: impl Iterator<Item = &'r Row>,
) -> Option<Vec<bool>> {
    if !shape.copy_like_insert || columns.is_empty() {
        return None;
    }
    let mut json = Vec::with_capacity(columns.len());
    for ident in columns {
        let column = shape.column(ident.as_str())?;
        if column.identity_always || column.generated || column.typtype == 'd' {
            return None;
        }
        json.push(column.is_json());
    }
    for row in rows {
        if row.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)) {
            return None;
        }
        for (ident, is_json) in columns.iter().zip(&json) {
            if !is_json
                && matches!(
                    row.get(ident.as_str()),
                    Some(Value::Array(_) | Value::Object(_))
                )
            {
                return None;
            }
        }
    }
    Some(json)
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

/// Sends `rows` (each having exactly `columns`, as the write plan groups them) with `COPY`; `json` is
/// [`plan`]'s answer. An error names the row (1-based).
pub(crate) async fn run<'r>(
    conn: &Conn<'_>,
    table: &TableName,
    columns: &[Ident],
    json: &[bool],
    rows: impl Iterator<Item = &'r Row>,
) -> Result<u64> {
    let sql = sql::copy_from_stdin(table, columns);
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
    for row in rows {
        encode_row(&mut buf, &mut scratch, row, columns, json)?;
        if buf.len() >= CHUNK {
            sink.send(buf.split().freeze()).await.map_err(with_row)?;
        }
    }
    if !buf.is_empty() {
        sink.send(buf.split().freeze()).await.map_err(with_row)?;
    }
    let copied = sink.as_mut().finish().await.map_err(with_row)?;
    if let Some(in_flight) = in_flight {
        in_flight.finished();
    }
    Ok(copied)
}

/// Maps a COPY error, naming the row when the server said which line failed (`COPY t, line 3, …`).
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

/// Appends one row in COPY text format.
fn encode_row(
    buf: &mut BytesMut,
    scratch: &mut Vec<u8>,
    row: &Row,
    columns: &[Ident],
    json: &[bool],
) -> Result<()> {
    for (i, (ident, is_json)) in columns.iter().zip(json).enumerate() {
        if i > 0 {
            buf.put_u8(b'\t');
        }
        match row.get(ident.as_str()).unwrap_or(&Value::Null) {
            Value::Null => buf.put_slice(b"\\N"),
            value if *is_json => {
                scratch.clear();
                serde_json::to_writer(&mut *scratch, value)
                    .map_err(|e| Error::invalid_input(e.to_string()))?;
                push_field(buf, scratch);
            }
            Value::String(s) => push_field(buf, s.as_bytes()),
            // Arbitrary precision keeps a number's own digits, which json_populate_recordset also sees.
            Value::Number(n) => push_field(buf, n.as_str().as_bytes()),
            Value::Bool(b) => buf.put_slice(if *b { b"true" } else { b"false" }),
            Value::Array(_) | Value::Object(_) => {
                return Err(Error::invalid_input(format!(
                    "column {ident}: a JSON array or object cannot be copied"
                )));
            }
        }
    }
    buf.put_u8(b'\n');
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
            &[false, false, false, false, true, true],
        )
        .unwrap();
        assert_eq!(
            std::str::from_utf8(&buf).unwrap(),
            "x\\ty\t1.50\ttrue\t\\N\t\"quoted\"\t{\"k\":[1]}\n"
        );
    }
}
