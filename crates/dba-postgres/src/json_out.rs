//! Streamed rows encoded as JSON on the client, byte for byte what `row_to_json(r)::text` gives.
//!
//! `row_to_json` costs the server more than reading the rows does (900,000 rows of the benchmark's comments:
//! 1.96 s against 0.72 s in the binary protocol). For a streamed select, columns of the types below come in
//! binary and are encoded here exactly as PostgreSQL's `datum_to_json` would (the live test
//! `streamed_rows_are_exactly_what_row_to_json_gives` compares the two on edge values): bool, the integers,
//! text, varchar, char, name, json, jsonb, uuid, numeric, date, timestamp, timestamptz when the session's
//! `TimeZone` is UTC (its text carries the session's offset), and arrays of these. Every other type
//! (floats, time, interval, bytea, domains, composites, enums, timestamptz in another zone, …) is
//! converted by the server per column with `to_json(col)::text`, which is the function `row_to_json`
//! applies to each column.

use dba_core::{Columns, Error, ErrorKind, Ident, Result, Row, Value};
use tokio_postgres::types::{FromSql, Type};

use crate::dates::{POSTGRES_EPOCH_JDATE, USECS_PER_DAY};
use crate::escape::any_needs_escape;
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
const DATE: u32 = 1082;
const TIMESTAMP: u32 = 1114;
const TIMESTAMPTZ: u32 = 1184;
const NUMERIC: u32 = 1700;
const UUID: u32 = 2950;
const JSONB: u32 = 3802;

/// The element type of the array types decoded here (`None` for any other type).
fn array_element(oid: u32) -> Option<u32> {
    Some(match oid {
        1000 => BOOL,
        1003 => NAME,
        1016 => INT8,
        1005 => INT2,
        1007 => INT4,
        1009 => TEXT,
        199 => JSON,
        1014 => BPCHAR,
        1015 => VARCHAR,
        1182 => DATE,
        1115 => TIMESTAMP,
        1185 => TIMESTAMPTZ,
        1231 => NUMERIC,
        2951 => UUID,
        3807 => JSONB,
        _ => return None,
    })
}

/// Whether values of the type with this oid are decoded from binary here. `timestamptz` (alone or in an
/// array) only when the session's time zone is UTC: its text carries the session's offset, which the
/// client knows only then.
fn decoded_here(oid: u32, session_utc: bool) -> bool {
    match array_element(oid).unwrap_or(oid) {
        TIMESTAMPTZ => session_utc,
        element => matches!(
            element,
            BOOL | NAME
                | INT8
                | INT2
                | INT4
                | TEXT
                | JSON
                | BPCHAR
                | VARCHAR
                | DATE
                | TIMESTAMP
                | NUMERIC
                | UUID
                | JSONB
        ),
    }
}

/// Encodes the rows of one select (see [`plan`]).
#[derive(Debug)]
pub(crate) struct RowEncoder {
    /// For each column, `"name":` with a leading comma after the first.
    keys: Vec<String>,
    /// A row of every column's name (in order) to null: [`RowEncoder::to_row`] clones it and fills in
    /// the values, so a map's keys are not hashed and placed again for every row.
    template: Row,
    /// For each column, whether the server sends it as JSON text already.
    server_json: Vec<bool>,
    /// The session's time zone is UTC (see [`decoded_here`]).
    session_utc: bool,
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
        template: Row::with_capacity(chosen.len()),
        server_json: Vec::with_capacity(chosen.len()),
        session_utc: shape.session_utc,
    };
    for (i, column) in chosen.into_iter().enumerate() {
        let server_json = !decoded_here(column.type_oid, shape.session_utc);
        projection.push((Ident::exact(&column.name).ok()?, server_json));
        let mut key = String::with_capacity(column.name.len() + 4);
        if i > 0 {
            key.push(',');
        }
        push_json_string(&mut key, &column.name);
        key.push(':');
        encoder.keys.push(key);
        encoder.template.insert(column.name.clone(), Value::Null);
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
            let Some(bytes) = column_bytes(row, i)? else {
                out.push_str("null");
                continue;
            };
            if self.server_json[i] {
                out.push_str(utf8(bytes)?);
            } else {
                push_column(&mut out, row, i, bytes, self.session_utc)?;
            }
        }
        out.push('}');
        Ok(out)
    }

    /// The row as a map, equal to what parsing [`RowEncoder::encode`]'s text gives, built without that
    /// text where a value has a direct form: booleans, integers, strings and uuids are made from their
    /// bytes, json and jsonb parsed from theirs, and the rest (numeric, dates, timestamps, arrays, and the
    /// columns the server converts) parsed from their own JSON text alone. A sync's rows, read from the
    /// source this way, cost the client about half of what writing and parsing whole rows did.
    ///
    /// `scratch` holds a value's text between calls, so that it is allocated once per stream.
    pub(crate) fn to_row(&self, row: &tokio_postgres::Row, scratch: &mut String) -> Result<Row> {
        // The keys cloned with their hashes and places (`plan` refused a column listed twice, so the
        // template has one key per column, in the select's order): inserting them one by one, hashing
        // each key again, cost a 200,000-row sync 6% more client instructions (callgrind).
        let mut map = self.template.clone();
        for (i, slot) in map.values_mut().enumerate() {
            *slot = match column_bytes(row, i)? {
                None => Value::Null,
                Some(bytes) if self.server_json[i] => parse_value(utf8(bytes)?)?,
                Some(bytes) => match direct(row.columns()[i].type_().oid(), bytes)? {
                    Some(value) => value,
                    None => {
                        scratch.clear();
                        push_column(scratch, row, i, bytes, self.session_utc)?;
                        unquoted(scratch).map_or_else(|| parse_value(scratch), Ok)?
                    }
                },
            };
        }
        Ok(map)
    }
}

/// Column `i`'s bytes as they came off the wire (`None` for null).
fn column_bytes(row: &tokio_postgres::Row, i: usize) -> Result<Option<&[u8]>> {
    let value: Option<Raw<'_>> = row
        .try_get(i)
        .map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))?;
    Ok(value.map(|Raw(bytes)| bytes))
}

/// Appends column `i`'s binary value as JSON text, an error naming the column.
fn push_column(
    out: &mut String,
    row: &tokio_postgres::Row,
    i: usize,
    bytes: &[u8],
    session_utc: bool,
) -> Result<()> {
    let column = &row.columns()[i];
    push_binary(out, column.type_().oid(), bytes, session_utc).map_err(|e| {
        e.context(format!(
            "column {} ({} in binary)",
            column.name(),
            column.type_()
        ))
    })
}

/// A JSON string without escapes (a date's or a timestamp's, say) as its value, `None` for any other
/// JSON text.
fn unquoted(text: &str) -> Option<Value> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains(['"', '\\'])).then(|| Value::String(inner.to_owned()))
}

/// One value's JSON text as a value.
fn parse_value(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::new(ErrorKind::Decode, e.to_string()))
}

/// The value of a binary column of type `oid` made straight from its bytes, for the types whose JSON form
/// is a boolean, an integer, a string or a json document (`None` for the rest). Equal to parsing what
/// [`push_binary`] writes: a string's escapes undo themselves, and an integer's text is its own
/// (`arbitrary_precision` keeps a number as its text).
fn direct(oid: u32, bytes: &[u8]) -> Result<Option<Value>> {
    Ok(Some(match oid {
        BOOL => Value::Bool(fixed::<1>(bytes)?[0] != 0),
        INT2 => i16::from_be_bytes(fixed(bytes)?).into(),
        INT4 => i32::from_be_bytes(fixed(bytes)?).into(),
        INT8 => i64::from_be_bytes(fixed(bytes)?).into(),
        TEXT | VARCHAR | BPCHAR | NAME => Value::String(utf8(bytes)?.to_owned()),
        JSON => parse_value(utf8(bytes)?)?,
        JSONB => match bytes.split_first() {
            Some((1, text)) => parse_value(utf8(text)?)?,
            _ => return Ok(None),
        },
        UUID => {
            let mut text = String::with_capacity(36);
            push_uuid(&mut text, fixed(bytes)?);
            Value::String(text)
        }
        _ => return Ok(None),
    }))
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

/// Appends one binary value of type `oid` as `datum_to_json` writes it (`session_utc`: see
/// [`decoded_here`]).
fn push_binary(out: &mut String, oid: u32, bytes: &[u8], session_utc: bool) -> Result<()> {
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
            out.push('"');
            push_uuid(out, fixed(bytes)?);
            out.push('"');
        }
        NUMERIC => push_numeric(out, bytes)?,
        DATE => push_date(out, i32::from_be_bytes(fixed(bytes)?))?,
        TIMESTAMP => push_timestamp(out, i64::from_be_bytes(fixed(bytes)?), false)?,
        TIMESTAMPTZ if session_utc => {
            push_timestamp(out, i64::from_be_bytes(fixed(bytes)?), true)?;
        }
        _ if array_element(oid).is_some() => push_array(out, oid, bytes, session_utc)?,
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

/// A uuid's canonical text: lower-case hex digits in groups of 8, 4, 4, 4 and 12.
fn push_uuid(out: &mut String, b: [u8; 16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
}

/// The digits of a Julian day number as (year, month, day): PostgreSQL's `j2date`, in its unsigned
/// arithmetic, valid for every day number from 0 to `i32::MAX` (years before 1 are 0, -1, … : 1 BC, 2 BC, …).
fn j2date(jd: u32) -> (i64, u32, u32) {
    let mut julian = jd + 32044;
    let mut quad = julian / 146_097;
    let extra = (julian - quad * 146_097) * 4 + 3;
    julian += 60 + quad * 3 + extra / 146_097;
    quad = julian / 1461;
    julian -= quad * 1461;
    let mut y = julian * 4 / 1461;
    julian = if y != 0 {
        (julian + 305) % 365
    } else {
        (julian + 306) % 366
    } + 123;
    y += quad * 4;
    let quad = julian * 2141 / 65536;
    let day = julian - 7834 * quad / 256;
    let month = (quad + 10) % 12 + 1;
    (i64::from(y) - 4800, month, day)
}

/// Appends `value` in decimal, zero-padded to `width` digits (never cut), as `pg_ultostr_zeropad` does.
fn push_padded(out: &mut String, value: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(value);
    for _ in text.len()..width {
        out.push('0');
    }
    out.push_str(text);
}

/// Appends the date of Julian day `jd` as `EncodeDateOnly` writes it in the XSD style (`YYYY-MM-DD`),
/// returning whether it is a BC date (whose ` BC` suffix comes at the very end of the value).
fn push_ymd(out: &mut String, jd: i64) -> Result<bool> {
    let jd = u32::try_from(jd)
        .ok()
        .filter(|&j| j <= i32::MAX.unsigned_abs())
        .ok_or_else(|| Error::new(ErrorKind::Decode, "date out of range"))?;
    let (year, month, day) = j2date(jd);
    let bc = year <= 0;
    let year = if bc { 1 - year } else { year }.unsigned_abs();
    if year < 10_000 {
        // Every date of four-digit years, written at once.
        let mut text = *b"0000-00-00";
        put_two(&mut text[0..2], year / 100);
        put_two(&mut text[2..4], year % 100);
        put_two(&mut text[5..7], month.into());
        put_two(&mut text[8..10], day.into());
        push_ascii(out, &text);
    } else {
        push_padded(out, year, 4);
        out.push('-');
        push_padded(out, month.into(), 2);
        out.push('-');
        push_padded(out, day.into(), 2);
    }
    Ok(bc)
}

/// Writes `value` (under 100) as two decimal digits into `at`.
fn put_two(at: &mut [u8], value: u64) {
    const DIGITS: &[u8; 10] = b"0123456789";
    // Both indexes are under 10 for a value under 100; a larger value is cut to its last two digits.
    let (tens, ones) = ((value / 10 % 10) as usize, (value % 10) as usize);
    at[0] = DIGITS[tens];
    at[1] = DIGITS[ones];
}

/// Appends ASCII text made here (digits and punctuation).
fn push_ascii(out: &mut String, text: &[u8]) {
    out.push_str(std::str::from_utf8(text).unwrap_or_default());
}

/// Appends a binary `date` (days since 2000-01-01) as `datum_to_json` writes it: `"YYYY-MM-DD"`, with
/// ` BC` for years before 1, and `"infinity"`/`"-infinity"`.
fn push_date(out: &mut String, days: i32) -> Result<()> {
    match days {
        i32::MIN => out.push_str("\"-infinity\""),
        i32::MAX => out.push_str("\"infinity\""),
        _ => {
            out.push('"');
            if push_ymd(out, i64::from(days) + POSTGRES_EPOCH_JDATE)? {
                out.push_str(" BC");
            }
            out.push('"');
        }
    }
    Ok(())
}

/// Appends a binary `timestamp` or `timestamptz` (microseconds since 2000-01-01 00:00, UTC for
/// `timestamptz`) as `datum_to_json` writes it: `"YYYY-MM-DDTHH:MM:SS"`, the fraction of a second with no
/// trailing zeros, `+00:00` for a `timestamptz` (`utc`: the session's zone is UTC), ` BC` for years before
/// 1, and `"infinity"`/`"-infinity"`.
fn push_timestamp(out: &mut String, micros: i64, utc: bool) -> Result<()> {
    match micros {
        i64::MIN => out.push_str("\"-infinity\""),
        i64::MAX => out.push_str("\"infinity\""),
        _ => {
            // timestamp2tm: the day, and the time within it, counted from the day's start.
            let (mut date, mut time) = (micros / USECS_PER_DAY, micros % USECS_PER_DAY);
            if time < 0 {
                time += USECS_PER_DAY;
                date -= 1;
            }
            out.push('"');
            let bc = push_ymd(out, date + POSTGRES_EPOCH_JDATE)?;
            let time = time.unsigned_abs();
            let (seconds, fraction) = (time / 1_000_000, time % 1_000_000);
            // A day has fewer than 24 hours: two digits each.
            let mut text = *b"T00:00:00";
            put_two(&mut text[1..3], seconds / 3600);
            put_two(&mut text[4..6], seconds / 60 % 60);
            put_two(&mut text[7..9], seconds % 60);
            push_ascii(out, &text);
            if fraction != 0 {
                // AppendSeconds: six digits, trailing zeros dropped.
                let mut fraction = fraction;
                let mut width = 6;
                while fraction % 10 == 0 {
                    fraction /= 10;
                    width -= 1;
                }
                out.push('.');
                push_padded(out, fraction, width);
            }
            if utc {
                out.push_str("+00:00");
            }
            if bc {
                out.push_str(" BC");
            }
            out.push('"');
        }
    }
    Ok(())
}

/// Appends a binary `numeric` as `numeric_out` writes it (every digit of its display scale, never an
/// exponent), which `datum_to_json` copies as a JSON number; `NaN` and the infinities become the strings
/// `"NaN"`, `"Infinity"` and `"-Infinity"`, as `datum_to_json` writes them.
fn push_numeric(out: &mut String, bytes: &[u8]) -> Result<()> {
    let bad = || Error::new(ErrorKind::Decode, "malformed binary numeric");
    let (head, rest) = bytes.split_first_chunk::<8>().ok_or_else(bad)?;
    let word = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
    let (ndigits, weight, sign, dscale) = (
        usize::from(word(0)),
        i64::from(word(2).cast_signed()),
        word(4),
        usize::from(word(6)),
    );
    match sign {
        0xC000 => {
            out.push_str("\"NaN\"");
            return Ok(());
        }
        0xD000 => {
            out.push_str("\"Infinity\"");
            return Ok(());
        }
        0xF000 => {
            out.push_str("\"-Infinity\"");
            return Ok(());
        }
        0x0000 | 0x4000 => {}
        _ => return Err(bad()),
    }
    if rest.len() != ndigits * 2 {
        return Err(bad());
    }
    let digit = |d: i64| -> Result<u16> {
        let Some(i) = usize::try_from(d).ok().filter(|&i| i < ndigits) else {
            return Ok(0);
        };
        let value = u16::from_be_bytes([rest[2 * i], rest[2 * i + 1]]);
        if value > 9999 {
            return Err(bad());
        }
        Ok(value)
    };
    let push_group = |out: &mut String, value: u16, leading: bool| {
        let mut started = !leading;
        for unit in [1000, 100, 10] {
            let d = value / unit % 10;
            started |= d > 0;
            if started {
                out.push(char::from(b'0' + d as u8));
            }
        }
        out.push(char::from(b'0' + (value % 10) as u8));
    };
    // get_str_from_var: the integer part (suppressing the leading zeros of the first group), then exactly
    // dscale digits after the point.
    if sign == 0x4000 {
        out.push('-');
    }
    let mut d: i64 = 0;
    if weight < 0 {
        d = weight + 1;
        out.push('0');
    } else {
        while d <= weight {
            push_group(out, digit(d)?, d == 0);
            d += 1;
        }
    }
    if dscale > 0 {
        out.push('.');
        let end = out.len() + dscale;
        while out.len() < end {
            push_group(out, digit(d)?, false);
            d += 1;
        }
        out.truncate(end);
    }
    Ok(())
}

/// Appends a binary array of a type [`array_element`] knows as `array_to_json` writes it: nested JSON
/// arrays, one level per dimension (lower bounds are not shown), NULL elements as `null`, `[]` when empty.
fn push_array(out: &mut String, oid: u32, bytes: &[u8], session_utc: bool) -> Result<()> {
    let bad = || Error::new(ErrorKind::Decode, "malformed binary array");
    let int = |at: usize| -> Result<i32> {
        let b = bytes.get(at..at + 4).ok_or_else(bad)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    // PostgreSQL arrays have at most six dimensions (MAXDIM).
    let ndim = usize::try_from(int(0)?)
        .ok()
        .filter(|&n| n <= 6)
        .ok_or_else(bad)?;
    let element = u32::from_be_bytes(int(8)?.to_be_bytes());
    if Some(element) != array_element(oid) {
        return Err(Error::new(
            ErrorKind::Decode,
            "the column's type changed during the read; run it again",
        ));
    }
    let mut dims = Vec::with_capacity(ndim);
    for i in 0..ndim {
        dims.push(usize::try_from(int(12 + 8 * i)?).map_err(|_| bad())?);
    }
    let mut at = 12 + 8 * ndim;
    if dims.is_empty() || dims.contains(&0) {
        out.push_str("[]");
        return Ok(());
    }
    // The elements in order, each a dimension's worth closing and opening brackets around it.
    let mut index = vec![0usize; ndim];
    for _ in 0..ndim {
        out.push('[');
    }
    loop {
        let len = int(at)?;
        at += 4;
        if len < 0 {
            out.push_str("null");
        } else {
            let len = usize::try_from(len).map_err(|_| bad())?;
            let value = bytes.get(at..at + len).ok_or_else(bad)?;
            push_binary(out, element, value, session_utc)?;
            at += len;
        }
        // Advance the index, innermost dimension first.
        let mut level = ndim;
        loop {
            level -= 1;
            index[level] += 1;
            if index[level] < dims[level] {
                out.push(',');
                for _ in level + 1..ndim {
                    out.push('[');
                }
                break;
            }
            index[level] = 0;
            out.push(']');
            if level == 0 {
                return if at == bytes.len() {
                    Ok(())
                } else {
                    Err(bad())
                };
            }
        }
    }
}

/// Appends `text` as a JSON string, escaped exactly as PostgreSQL's `escape_json` does: the two-character
/// escapes for `\b \f \n \r \t " \\`, `\u00XX` (lowercase) for other control characters, and everything else
/// as it is.
pub(crate) fn push_json_string(out: &mut String, text: &str) {
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time while none of them needs an escape (most text has none).
        if let Some(chunk) = bytes.get(i..i + 8)
            && !any_needs_escape(u64::from_le_bytes(chunk.try_into().unwrap_or_default()))
        {
            i += 8;
            continue;
        }
        let byte = bytes[i];
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => {
                i += 1;
                continue;
            }
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
        i += 1;
        start = i;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::{DATE, NUMERIC, TIMESTAMP, TIMESTAMPTZ, push_json_string};

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

    /// The escaping as PostgreSQL's `escape_json` does it, a byte at a time.
    fn escape_json(text: &str) -> String {
        let mut out = String::from("\"");
        for c in text.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }

    #[test]
    fn malformed_binary_values_are_errors() {
        let array = |words: &[i32], tail: &[u8]| -> Vec<u8> {
            let mut bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
            bytes.extend_from_slice(tail);
            bytes
        };
        const INT4_ARRAY: u32 = 1007;
        let cases: Vec<(u32, Vec<u8>)> = vec![
            (INT4_ARRAY, array(&[i32::MAX, 0, 23], &[])),
            (INT4_ARRAY, array(&[7, 0, 23], &[])),
            (INT4_ARRAY, array(&[-1, 0, 23], &[])),
            (INT4_ARRAY, array(&[1, 0, 23, 3, 1, 4, 1], &[])),
            (INT4_ARRAY, array(&[1, 0, 23, 1, 1, 4, 1], &[0])),
            (INT4_ARRAY, array(&[1, 0, 25, 1, 1, 4, 1], &[])),
            (INT4_ARRAY, array(&[1, 0, 23, i32::MAX, 1, 4, 1], &[])),
            (INT4_ARRAY, vec![0, 0, 0]),
            (NUMERIC, vec![0, 1, 0, 0, 0, 0, 0, 0]),
            (NUMERIC, vec![0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10]),
            (NUMERIC, vec![0, 0, 0, 0, 0x12, 0x34, 0, 0]),
            (NUMERIC, vec![0, 0]),
            (DATE, vec![0, 0, 0]),
            (DATE, (-3_000_000_i32).to_be_bytes().to_vec()),
            (TIMESTAMP, (i64::MIN + 1).to_be_bytes().to_vec()),
        ];
        for (oid, bytes) in cases {
            let mut out = String::new();
            assert!(
                super::push_binary(&mut out, oid, &bytes, true).is_err(),
                "{oid} {bytes:?}: {out}"
            );
        }
        // A timestamptz outside a UTC session is never encoded here.
        let mut out = String::new();
        assert!(super::push_binary(&mut out, TIMESTAMPTZ, &0_i64.to_be_bytes(), false).is_err());
    }

    #[test]
    fn every_byte_needing_an_escape_is_found_at_every_offset() {
        let specials = [
            '"',
            '\\',
            '\n',
            '\u{0}',
            '\u{1f}',
            '\u{8}',
            'é',
            '\u{7f}',
            ' ',
            '!',
            '#',
            '[',
            ']',
            '\u{10ffff}',
        ];
        for len in 0..20 {
            for at in 0..len {
                for special in specials {
                    let text: String = (0..len)
                        .map(|i| if i == at { special } else { 'a' })
                        .collect();
                    let mut out = String::new();
                    push_json_string(&mut out, &text);
                    assert_eq!(out, escape_json(&text), "{text:?}");
                }
            }
        }
        let all: String = (0..=0x7f_u8).map(char::from).cycle().take(1000).collect();
        let mut out = String::new();
        push_json_string(&mut out, &all);
        assert_eq!(out, escape_json(&all));
    }
}
