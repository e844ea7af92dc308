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

/// Per table: its kind, rules, row security, the session's time zone and whether a `BEFORE INSERT` row
/// trigger (`tgtype` bits row, before, insert) sits on it or a partition; per column: name, type, identity,
/// generation and the sequence an insert that leaves it out draws it from (an identity column's, or that of
/// a default which is exactly `nextval` of a sequence, compared as the catalog prints both).
const SHAPE_SQL: &str = "SELECT c.relkind::text, c.relhasrules, c.relrowsecurity, a.attname::text, \
     a.atttypid::int8, t.typtype::text, a.attidentity::text, a.attgenerated::text, \
     pg_catalog.current_setting('TimeZone'), c.oid::int8, trig.before_insert, \
     CASE WHEN a.attidentity IN ('a', 'd') \
          THEN pg_catalog.pg_get_serial_sequence(c.oid::regclass::text, a.attname::text) \
          WHEN ad.oid IS NOT NULL \
          THEN (SELECT dep.refobjid::regclass::text FROM pg_catalog.pg_depend dep \
                WHERE dep.classid = 'pg_catalog.pg_attrdef'::regclass AND dep.objid = ad.oid \
                  AND dep.refclassid = 'pg_catalog.pg_class'::regclass \
                  AND pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) \
                      = pg_catalog.format('nextval(%L::regclass)', dep.refobjid::regclass) \
                LIMIT 1) END \
     FROM pg_catalog.pg_class c \
     CROSS JOIN LATERAL (SELECT \
         EXISTS (SELECT 1 FROM pg_catalog.pg_trigger tg \
                 WHERE tg.tgrelid = c.oid AND NOT tg.tgisinternal AND (tg.tgtype & 7) = 7) \
         OR (c.relkind = 'p' AND EXISTS (SELECT 1 FROM pg_catalog.pg_partition_tree(c.oid) p \
                 JOIN pg_catalog.pg_trigger tg ON tg.tgrelid = p.relid \
                 WHERE NOT tg.tgisinternal AND (tg.tgtype & 7) = 7))) AS trig(before_insert) \
     LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
     LEFT JOIN pg_catalog.pg_type t ON t.oid = a.atttypid \
     LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum \
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
        oid: 0,
        columns: Vec::new(),
        before_insert_triggers: false,
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
            let oid: i64 = row.try_get(9).map_err(decode)?;
            shape.oid = u32::try_from(oid).unwrap_or(0);
            shape.before_insert_triggers = row.try_get(10).map_err(decode)?;
            first = false;
        }
        let Some(name) = row.try_get::<_, Option<String>>(3).map_err(decode)? else {
            continue; // a table with no columns
        };
        let oid: i64 = row.try_get(4).map_err(decode)?;
        let typtype: String = row.try_get(5).map_err(decode)?;
        let identity: String = row.try_get(6).map_err(decode)?;
        let generated: String = row.try_get(7).map_err(decode)?;
        let sequence: Option<String> = row.try_get(11).map_err(decode)?;
        shape.columns.push(ColumnShape {
            name,
            type_oid: u32::try_from(oid).unwrap_or(0),
            typtype: typtype.chars().next().unwrap_or('b'),
            identity_always: identity == "a",
            generated: !generated.is_empty(),
            sequence,
        });
    }
    Ok(shape)
}

/// The oid of the table `table` names now, resolved as a statement naming it would resolve it.
pub(crate) async fn resolve(conn: &Conn<'_>, table: &TableName) -> Result<u32> {
    let st = Statement {
        sql: "SELECT $1::regclass::oid::int8".to_owned().into(),
        params: vec![Some(table.to_string())],
        value_dependent: false,
        number: None,
    };
    let oid = conn.scalar_i64(&st).await?;
    Ok(u32::try_from(oid).unwrap_or(0))
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
