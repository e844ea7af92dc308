//! The Python original's encodings of values JSON has no form for, decoded for the destination columns
//! whose type calls for them.
//!
//! The original wrote rows with `json.dump(..., default=str)`, so a `bytes` value (bytea) became the text of
//! its `repr` (`"b'\\xde\\xad'"`) and a `timedelta` (interval, months already folded into days by the
//! driver) its `str` (`"-1 day, 23:00:00"`). Such a text is decoded only when the destination column is
//! bytea or interval (or an array of either, a domain over either included); a text column holding `b'x'`
//! keeps its text. Non-finite floats (bare `NaN`, `Infinity`) are handled by the reader, numeric,
//! timestamps and uuid strings are read by PostgreSQL as they are.

use dba_core::{DatabaseClient, TableName, Value};
use serde_json::Map;

use crate::error::BackupError;

/// The columns of one destination table whose values may need decoding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decoder {
    columns: Vec<(String, Kind)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Bytea,
    Interval,
}

/// The bytea and interval columns of a table (or arrays of them), domains resolved to their base type.
const COLUMNS_SQL: &str = "SELECT a.attname AS name, \
    CASE WHEN b.typcategory = 'A' THEN e.typname ELSE b.typname END::text AS base \
    FROM pg_attribute a \
    JOIN pg_type t ON t.oid = a.atttypid \
    JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END \
    LEFT JOIN pg_type e0 ON e0.oid = b.typelem AND b.typcategory = 'A' \
    LEFT JOIN pg_type e ON e.oid = CASE WHEN e0.typtype = 'd' THEN e0.typbasetype ELSE e0.oid END \
    WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped \
    AND (CASE WHEN b.typcategory = 'A' THEN e.typname ELSE b.typname END) IN ('bytea', 'interval') \
    ORDER BY a.attnum";

impl Decoder {
    /// The decoder for `def`'s table in `client`, or `None` when no column needs one or the client cannot
    /// read the catalog (a REST backend: values are then sent as the file holds them).
    pub(crate) async fn for_table(
        client: &dyn DatabaseClient,
        table: &str,
    ) -> Result<Option<Decoder>, BackupError> {
        if !client.capabilities().raw_sql {
            return Ok(None);
        }
        let table = TableName::parse(table)?.to_string();
        let rows = client.query(COLUMNS_SQL, &[Value::String(table)]).await?;
        let columns: Vec<(String, Kind)> = rows
            .iter()
            .filter_map(|r| {
                let name = r.get("name")?.as_str()?.to_owned();
                let kind = match r.get("base")?.as_str()? {
                    "bytea" => Kind::Bytea,
                    "interval" => Kind::Interval,
                    _ => return None,
                };
                Some((name, kind))
            })
            .collect();
        Ok((!columns.is_empty()).then_some(Decoder { columns }))
    }

    /// Rewrites the values of `row` written in the original's encodings into PostgreSQL's input forms.
    /// The error names the column and what is wrong with its value.
    pub(crate) fn decode(&self, row: &mut Map<String, Value>) -> Result<(), String> {
        for (column, kind) in &self.columns {
            if let Some(value) = row.get_mut(column) {
                decode_value(*kind, value).map_err(|why| format!("'{column}' {why}"))?;
            }
        }
        Ok(())
    }
}

fn decode_value(kind: Kind, value: &mut Value) -> Result<(), String> {
    match value {
        Value::String(text) => {
            let decoded = match kind {
                Kind::Bytea => bytea_from_repr(text)?,
                Kind::Interval => interval_from_timedelta(text),
            };
            if let Some(decoded) = decoded {
                *text = decoded;
            }
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| decode_value(kind, v)),
        _ => Ok(()),
    }
}

/// `b'..'` or `b".."` (Python's `repr(bytes)`) as PostgreSQL's hex form `\x..`; `None` for any other text
/// (dba's own `\x..`), an error for a text that starts like a repr but is not one.
fn bytea_from_repr(text: &str) -> Result<Option<String>, String> {
    let bytes = text.as_bytes();
    let quote = match bytes {
        [b'b', q @ (b'\'' | b'"'), ..] => *q,
        _ => return Ok(None),
    };
    let bad = |why: String| format!("is not a Python bytes literal ({why}): {text:?}");
    let inner = match &bytes[2..] {
        [inner @ .., last] if *last == quote => inner,
        _ => return Err(bad("no closing quote".into())),
    };
    let mut out = String::with_capacity(2 + inner.len() * 2);
    out.push_str("\\x");
    let mut push = |b: u8| out.push_str(&format!("{b:02x}"));
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        i += 1;
        if b == quote {
            return Err(bad("an unescaped quote inside".into()));
        }
        if b != b'\\' {
            if !(0x20..=0x7e).contains(&b) {
                return Err(bad(format!("byte 0x{b:02x} is not printable ASCII")));
            }
            push(b);
            continue;
        }
        let Some(&escape) = inner.get(i) else {
            return Err(bad("a lone backslash at the end".into()));
        };
        i += 1;
        match escape {
            b'\\' | b'\'' | b'"' => push(escape),
            b'n' => push(b'\n'),
            b'r' => push(b'\r'),
            b't' => push(b'\t'),
            b'x' => {
                let hex = inner
                    .get(i..i + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| bad("\\x without two hex digits".into()))?;
                i += 2;
                push(hex);
            }
            other => return Err(bad(format!("unknown escape \\{}", other as char))),
        }
    }
    Ok(Some(out))
}

const MICROS_PER_DAY: i128 = 86_400_000_000;

/// `timedelta.max.days` in Python.
const MAX_TIMEDELTA_DAYS: i128 = 999_999_999;

/// `[-]D day[s], H:MM:SS[.ffffff]` (Python's `str(timedelta)` with days) as a PostgreSQL interval whose
/// days and time have the same sign, as PostgreSQL itself computes a negative interval (`-1 day, 23:00:00`
/// is `-01:00:00`); `None` for any other text, which PostgreSQL reads as it is (the time-only form
/// `H:MM:SS[.ffffff]` means the same to both).
fn interval_from_timedelta(text: &str) -> Option<String> {
    let (days, time) = text.split_once(", ")?;
    let days: i128 = days
        .strip_suffix(" days")
        .or_else(|| days.strip_suffix(" day"))?
        .parse()
        .ok()
        // Python's timedelta holds at most 999,999,999 days; a larger count is no timedelta (and would
        // overflow the sum below), so PostgreSQL reads the text as it is and refuses it, naming the row.
        .filter(|d: &i128| d.abs() <= MAX_TIMEDELTA_DAYS)?;
    let (hms, micros) = match time.split_once('.') {
        Some((hms, frac)) if frac.len() == 6 && frac.bytes().all(|b| b.is_ascii_digit()) => {
            (hms, frac.parse::<i128>().ok()?)
        }
        Some(_) => return None,
        None => (time, 0),
    };
    let mut parts = hms.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |t: &str, max_len: usize, below: i128| -> Option<i128> {
        let ok = !t.is_empty() && t.len() <= max_len && t.bytes().all(|b| b.is_ascii_digit());
        let v: i128 = if ok { t.parse().ok()? } else { return None };
        (v < below).then_some(v)
    };
    let (h, m, s) = (digits(h, 2, 24)?, digits(m, 2, 60)?, digits(s, 2, 60)?);
    if parts.next().is_some() {
        return None;
    }
    let total = days * MICROS_PER_DAY + ((h * 60 + m) * 60 + s) * 1_000_000 + micros;
    let (sign, magnitude) = if total < 0 {
        ("-", -total)
    } else {
        ("", total)
    };
    let whole_days = magnitude / MICROS_PER_DAY;
    let rest = magnitude % MICROS_PER_DAY;
    let seconds = rest / 1_000_000;
    let time = format!(
        "{sign}{:02}:{:02}:{:02}.{:06}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        rest % 1_000_000
    );
    Some(if whole_days == 0 {
        time
    } else {
        format!("{sign}{whole_days} days {time}")
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn python_bytes_reprs_become_hex() {
        for (repr, hex) in [
            (r"b'\xde\xad\xbe\xef\x00\xff'", r"\xdeadbeef00ff"),
            ("b''", r"\x"),
            (r"b'abc\n'", r"\x6162630a"),
            (r#"b"it's""#, r"\x69742773"),
            (r#"b'it\'s "q"'"#, r"\x6974277320227122"),
            (r"b'\\ \t\r'", r"\x5c20090d"),
        ] {
            assert_eq!(
                bytea_from_repr(repr).unwrap().as_deref(),
                Some(hex),
                "{repr}"
            );
        }
        assert_eq!(bytea_from_repr(r"\xdead").unwrap(), None, "dba's own form");
        assert_eq!(bytea_from_repr("plain").unwrap(), None);
        for bad in [
            r"b'\q'",
            "b'abc",
            r"b'\x4'",
            "b'caf\u{e9}'",
            r"b'a'b'",
            r"b'\'",
        ] {
            let err = bytea_from_repr(bad).unwrap_err();
            assert!(
                err.starts_with("is not a Python bytes literal ("),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn python_timedeltas_become_intervals_with_one_sign() {
        for (text, interval) in [
            ("428 days, 4:05:06", "428 days 04:05:06.000000"),
            ("-3 days, 0:00:00", "-3 days -00:00:00.000000"),
            ("1 day, 0:00:00.000001", "1 days 00:00:00.000001"),
            ("-1 day, 23:00:00", "-01:00:00.000000"),
            ("-2 days, 22:59:59.500000", "-1 days -01:00:00.500000"),
            // timedelta.min and timedelta.max.
            (
                "-999999999 days, 0:00:00",
                "-999999999 days -00:00:00.000000",
            ),
            (
                "999999999 days, 23:59:59.999999",
                "999999999 days 23:59:59.999999",
            ),
        ] {
            assert_eq!(
                interval_from_timedelta(text).as_deref(),
                Some(interval),
                "{text}"
            );
        }
        for other in [
            "0:00:01.500000",
            "01:00:00",
            "1 day 02:00:00",
            "-01:00:00",
            "P1D",
            "1 day, 24:00:00",
            "1 day, 1:00:00.5",
            "1 day, 1:00",
            "x days, 1:00:00",
            // Past timedelta's range: no timedelta, and no overflow (PostgreSQL refuses the text itself).
            "1000000000 days, 0:00:00",
            "10000000000000000000000000000000000000 days, 0:00:00",
            "41538374868278621028243970633760768 days, 1:00:00",
        ] {
            assert_eq!(interval_from_timedelta(other), None, "{other}");
        }
    }

    #[test]
    fn only_the_columns_whose_type_calls_for_it_are_decoded_arrays_included() {
        let decoder = Decoder {
            columns: vec![
                ("data".into(), Kind::Bytea),
                ("blobs".into(), Kind::Bytea),
                ("span".into(), Kind::Interval),
            ],
        };
        let mut row = json!({
            "data": "b'\\x00'", "blobs": [["b'a'", null], ["b''", "b'\\n'"]], "span": "-1 day, 23:00:00",
            "note": "b'x'", "other": "-1 day, 23:00:00"
        });
        decoder.decode(row.as_object_mut().unwrap()).unwrap();
        assert_eq!(
            row,
            json!({
                "data": "\\x00", "blobs": [["\\x61", null], ["\\x", "\\x0a"]],
                "span": "-01:00:00.000000", "note": "b'x'", "other": "-1 day, 23:00:00"
            })
        );
        let mut bad = json!({"data": "b'\\z'"});
        let err = decoder.decode(bad.as_object_mut().unwrap()).unwrap_err();
        assert_eq!(
            err,
            r#"'data' is not a Python bytes literal (unknown escape \z): "b'\\z'""#
        );
    }
}
