//! What the catalog says about one table: its kind and its columns' types.
//!
//! Read once per streamed select and once per bulk write, to choose the fast paths: a select's
//! columns decoded on the client from the binary protocol (`json_out.rs`) and an insert sent as
//! `COPY FROM STDIN` (`copy.rs`), both of which sit above this module.

use std::pin::pin;

use dba_core::{Error, ErrorKind, Result, TableName};
use futures_util::TryStreamExt;

use crate::exec::{Conn, map_pg_error};
use crate::sql::Statement;
pub(crate) use crate::table_shape::{ColumnShape, TableShape};

const SHAPE_SQL: &str = "SELECT c.relkind::text, c.relhasrules, c.relrowsecurity, a.attname::text, \
     a.atttypid::int8, t.typtype::text, a.attidentity::text, a.attgenerated::text, \
     pg_catalog.current_setting('TimeZone') \
     FROM pg_catalog.pg_class c \
     LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     WHERE c.oid = $1::regclass ORDER BY a.attnum";

/// Whether the time zone named `zone` (as `current_setting('TimeZone')` shows it) is UTC at every date:
/// the zone files that are UTC under another name. Zone names are looked up without regard to case.
fn is_utc_zone(zone: &str) -> bool {
    const UTC: [&str; 10] = [
        "UTC",
        "Etc/UTC",
        "UCT",
        "Etc/UCT",
        "Universal",
        "Etc/Universal",
        "Zulu",
        "Etc/Zulu",
        "GMT",
        "Etc/GMT",
    ];
    UTC.iter().any(|name| name.eq_ignore_ascii_case(zone))
}

/// Reads `table`'s shape; the table is resolved exactly as a statement naming it would be (the name is
/// bound, as quoted SQL, to a `regclass` parameter).
pub(crate) async fn fetch(conn: &Conn<'_>, table: &TableName) -> Result<TableShape> {
    let st = Statement {
        sql: SHAPE_SQL.to_owned().into(),
        params: vec![Some(table.to_string())],
        value_dependent: false,
        number: None,
    };
    let mut rows = pin!(conn.stream(&st).await?);
    let mut shape = TableShape {
        copy_like_insert: false,
        columns: Vec::new(),
        session_utc: false,
    };
    let mut first = true;
    while let Some(row) = rows.try_next().await.map_err(map_pg_error)? {
        let decode = |e: tokio_postgres::Error| {
            Error::new(ErrorKind::Decode, format!("reading the catalog: {e}"))
        };
        if first {
            let kind: String = row.try_get(0).map_err(decode)?;
            let rules: bool = row.try_get(1).map_err(decode)?;
            let row_security: bool = row.try_get(2).map_err(decode)?;
            shape.copy_like_insert = (kind == "r" || kind == "p") && !rules && !row_security;
            let zone: String = row.try_get(8).map_err(decode)?;
            shape.session_utc = is_utc_zone(&zone);
            first = false;
        }
        let Some(name) = row.try_get::<_, Option<String>>(3).map_err(decode)? else {
            continue; // a table with no columns
        };
        let oid: i64 = row.try_get(4).map_err(decode)?;
        let typtype: String = row.try_get(5).map_err(decode)?;
        let identity: String = row.try_get(6).map_err(decode)?;
        let generated: String = row.try_get(7).map_err(decode)?;
        shape.columns.push(ColumnShape {
            name,
            type_oid: u32::try_from(oid).unwrap_or(0),
            typtype: typtype.chars().next().unwrap_or('b'),
            identity_always: identity == "a",
            generated: !generated.is_empty(),
        });
    }
    Ok(shape)
}

#[cfg(test)]
mod tests {
    use super::is_utc_zone;

    #[test]
    fn only_zones_that_are_always_utc_count_as_utc() {
        for zone in ["UTC", "utc", "Etc/UTC", "GMT", "Etc/Universal", "Zulu"] {
            assert!(is_utc_zone(zone), "{zone}");
        }
        for zone in [
            "Europe/London",
            "GMT+1",
            "UTC0",
            "+00",
            "Etc/GMT-0",
            "",
            "posixrules",
        ] {
            assert!(!is_utc_zone(zone), "{zone}");
        }
    }
}
