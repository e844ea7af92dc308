//! Streamed rows encoded as JSON on the client, byte for byte what `row_to_json(r)::text` gives.
//!
//! `row_to_json` costs the server more than reading the rows does (900,000 rows of the benchmark's comments:
//! 1.96 s against 0.72 s in the binary protocol). For a streamed select, columns of the types below come in
//! binary and are encoded here exactly as PostgreSQL's `datum_to_json` would (the live test
//! `client_side_json_matches_row_to_json` compares the two on edge values); every other type (numeric, floats,
//! dates and times, arrays, bytea, domains, composites, enums, …) is converted by the server per column with
//! `to_json(col)::text`, which is the function `row_to_json` applies to each column.

use dba_core::{Columns, Error, ErrorKind, Ident, Result};
use tokio_postgres::types::{FromSql, Type};

use crate::shape::TableShape;

const BOOL: u32 = 16;
const NAME: u32 = 19;
const INT8: u32 = 20;
const INT2: u32 = 21;
const INT4: u32 = 23;
const TEXT: u32 = 25;
const JSON: u32 = 114;
const BPCHAR: u32 = 1042;
const VARCHAR: u32 = 1043;
const UUID: u32 = 2950;
const JSONB: u32 = 3802;

/// Whether values of the type with this oid are decoded from binary here.
fn decoded_here(oid: u32) -> bool {
    matches!(
        oid,
        BOOL | NAME | INT8 | INT2 | INT4 | TEXT | JSON | BPCHAR | VARCHAR | UUID | JSONB
    )
}

/// Encodes the rows of one select (see [`plan`]).
#[derive(Debug)]
pub(crate) struct RowEncoder {
    /// For each column, `"name":` with a leading comma after the first.
    keys: Vec<String>,
    /// For each column, whether the server sends it as JSON text already.
    server_json: Vec<bool>,
}

/// The select list for `columns` of a table shaped as `shape` (each column with whether the server
/// converts it to JSON) and the encoder for its rows. `None` when a listed column is not in the table or
/// is listed twice, or the table has no columns: the caller then uses `row_to_json`, so the server reports
/// the error exactly as before.
pub(crate) fn plan(
    shape: &TableShape,
    columns: &Columns,
) -> Option<(Vec<(Ident, bool)>, RowEncoder)> {
    let chosen: Vec<&crate::shape::ColumnShape> = match columns {
        Columns::All => shape.columns.iter().collect(),
        Columns::List(list) => {
            let mut chosen = Vec::with_capacity(list.len());
            for ident in list {
                let column = shape.column(ident.as_str())?;
                if chosen
                    .iter()
                    .any(|c: &&crate::shape::ColumnShape| c.name == column.name)
                {
                    return None;
                }
                chosen.push(column);
            }
            chosen
        }
    };
    if chosen.is_empty() {
        return None;
    }
    let mut projection = Vec::with_capacity(chosen.len());
    let mut encoder = RowEncoder {
        keys: Vec::with_capacity(chosen.len()),
        server_json: Vec::with_capacity(chosen.len()),
    };
    for (i, column) in chosen.into_iter().enumerate() {
        let server_json = !decoded_here(column.type_oid);
        projection.push((Ident::exact(&column.name).ok()?, server_json));
        let mut key = String::with_capacity(column.name.len() + 4);
        if i > 0 {
            key.push(',');
        }
        push_json_string(&mut key, &column.name);
        key.push(':');
        encoder.keys.push(key);
        encoder.server_json.push(server_json);
    }
    Some((projection, encoder))
}

/// A column's bytes as they came off the wire, whatever its type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _ty: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

impl RowEncoder {
    /// The row as JSON object text.
    pub(crate) fn encode(&self, row: &tokio_postgres::Row) -> Result<String> {
        let mut out = String::with_capacity(64 * self.keys.len());
        out.push('{');
        for (i, key) in self.keys.iter().enumerate() {
            out.push_str(key);
            let value: Option<Raw<'_>> = row
                .try_get(i)
                .map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))?;
            let Some(Raw(bytes)) = value else {
                out.push_str("null");
                continue;
            };
            if self.server_json[i] {
                out.push_str(utf8(bytes)?);
            } else {
                let column = &row.columns()[i];
                push_binary(&mut out, column.type_().oid(), bytes).map_err(|e| {
                    e.context(format!(
                        "column {} ({} in binary)",
                        column.name(),
                        column.type_()
                    ))
                })?;
            }
        }
        out.push('}');
        Ok(out)
    }
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| {
        Error::new(
            ErrorKind::Decode,
            format!("expected {N} bytes, got {}", bytes.len()),
        )
    })
}

/// Appends one binary value of type `oid` as `datum_to_json` writes it.
fn push_binary(out: &mut String, oid: u32, bytes: &[u8]) -> Result<()> {
    let mut digits = itoa::Buffer::new();
    match oid {
        BOOL => out.push_str(if fixed::<1>(bytes)?[0] != 0 {
            "true"
        } else {
            "false"
        }),
        INT2 => out.push_str(digits.format(i16::from_be_bytes(fixed(bytes)?))),
        INT4 => out.push_str(digits.format(i32::from_be_bytes(fixed(bytes)?))),
        INT8 => out.push_str(digits.format(i64::from_be_bytes(fixed(bytes)?))),
        TEXT | VARCHAR | BPCHAR | NAME => push_json_string(out, utf8(bytes)?),
        // json's binary form is its text, which row_to_json copies as it is.
        JSON => out.push_str(utf8(bytes)?),
        // jsonb's binary form is a version byte and then jsonb_out's text.
        JSONB => match bytes.split_first() {
            Some((1, text)) => out.push_str(utf8(text)?),
            _ => {
                return Err(Error::new(
                    ErrorKind::Decode,
                    "unsupported jsonb binary version",
                ));
            }
        },
        UUID => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let b: [u8; 16] = fixed(bytes)?;
            out.push('"');
            for (i, byte) in b.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push('-');
                }
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            out.push('"');
        }
        // The plan asked for this column in binary because the catalog gave one of the types above; the
        // column's type changed between the two statements.
        _ => {
            return Err(Error::new(
                ErrorKind::Decode,
                "the column's type changed during the read; run it again",
            ));
        }
    }
    Ok(())
}

/// Appends `text` as a JSON string, escaped exactly as PostgreSQL's `escape_json` does: the two-character
/// escapes for `\b \f \n \r \t " \\`, `\u00XX` (lowercase) for other control characters, and everything else
/// as it is.
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&text[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::push_json_string;

    #[test]
    fn strings_are_escaped_as_postgres_escape_json_does() {
        let mut out = String::new();
        push_json_string(
            &mut out,
            "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}i\u{1f}j\u{7f}ké/",
        );
        assert_eq!(
            out,
            "\"a\\\"b\\\\c\\nd\\re\\tf\\bg\\fh\\u0001i\\u001fj\u{7f}ké/\""
        );
    }
}
