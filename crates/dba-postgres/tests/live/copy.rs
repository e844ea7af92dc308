//! Bulk inserts through `COPY FROM STDIN`: the same rows as the `INSERT` stores, used only where the two
//! agree, atomic, and failures naming the row.

use std::sync::Arc;

use dba_core::{DatabaseClient, Filter, Query, Row, Value, json};
use dba_postgres::{PostgresAdapter, PostgresOptions, StatementMode};
use dba_testkit::test_path;

use crate::{row, setup, without_id};

/// Records the top-level statement of every insert into `table`, so a test sees whether COPY ran.
async fn log_statements(pg: &PostgresAdapter, table: &str) {
    pg.execute(
        &format!(
            "CREATE TABLE IF NOT EXISTS stmt_log (n serial, tbl text, stmt text);
             CREATE OR REPLACE FUNCTION log_stmt() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO stmt_log (tbl, stmt) VALUES (TG_TABLE_NAME, left(current_query(), 4)); RETURN NULL; END $$;
             CREATE TRIGGER log_stmt AFTER INSERT ON \"{table}\" FOR EACH STATEMENT EXECUTE FUNCTION log_stmt();"
        ),
        &[],
    )
    .await
    .unwrap();
}

/// The rows `log` holds for `table`, in the order they were logged.
async fn logged(pg: &PostgresAdapter, log: &str, table: &str) -> Vec<Row> {
    pg.select(
        log,
        &Query::new()
            .filter(Filter::new().eq("tbl", json!(table)))
            .order_by("n"),
    )
    .await
    .unwrap()
}

/// How each insert into `table` so far was sent: "COPY" or "INSE".
async fn statements(pg: &PostgresAdapter, table: &str) -> Vec<String> {
    logged(pg, "stmt_log", table)
        .await
        .into_iter()
        .map(|r| r["stmt"].as_str().unwrap().to_owned())
        .collect()
}

/// Rows with every scalar type, text that COPY must escape, and json values of every JSON kind.
fn scalar_rows(n: usize) -> Vec<Row> {
    (0..n)
        .map(|i| {
            let mut r = row(json!({
                "c_smallint": i % 30_000,
                "c_integer": i,
                "c_bigint": 9_223_372_036_854_775_807_i64 - i as i64,
                "c_real": 1.5,
                "c_double": 0.1,
                "c_boolean": i % 2 == 0,
                "c_text": format!("tab\there, newline\nthere, return\r, backslash \\ and \\N, quote \" ' #{i}"),
                "c_varchar": "short",
                "c_char": "ab",
                "c_citext": "MiXeD",
                "c_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
                "c_date": "2024-02-29",
                "c_timestamptz": "2024-01-02T03:04:05.123456+02:00",
                "c_interval": "1 year 2 mons",
                "c_json": [{"k": "v\tw"}, i, null],
                "c_jsonb": match i % 4 { 0 => json!("a bare string \\ with \t tab"), 1 => json!(i), 2 => json!(true), _ => json!({"n": i}) },
                "c_bytea": "\\xdeadbeef00",
                "c_inet": "192.168.0.1/24",
                "c_enum": "happy",
                "c_int_array": "{1,NULL,3}",
                "c_text_array": "{\"a,b\",c}",
            }));
            r.insert(
                "c_numeric".into(),
                serde_json::from_str("1234567890123456789012345678.0123456789").unwrap(),
            );
            if i % 7 == 0 {
                r.insert("c_text".into(), Value::Null);
            }
            if i % 3 == 1 {
                // JSON arrays for array columns: their elements' texts, quoted in the array literal.
                r.insert("c_int_array".into(), json!([1, null, i, "42"]));
                r.insert(
                    "c_text_array".into(),
                    json!(["a,b", "q\"uote", "back\\slash", null, "NULL", "", " spaced ", "{}", 1.50, true, i]),
                );
            }
            r
        })
        .collect()
}

#[tokio::test]
async fn copy_stores_exactly_what_insert_stores() {
    let (db, pg) = setup(
        test_path!("copy_stores_exactly_what_insert_stores"),
        &["types"],
    )
    .await;
    pg.execute(
        "CREATE TABLE all_types_2 (LIKE all_types INCLUDING DEFAULTS)",
        &[],
    )
    .await
    .unwrap();
    log_statements(&pg, "all_types").await;
    log_statements(&pg, "all_types_2").await;
    let rows = scalar_rows(2_500);
    // Through COPY (no rows returned, enough of them) and through INSERT (rows returned).
    assert!(
        pg.insert_many("all_types", &rows, false)
            .await
            .unwrap()
            .is_empty()
    );
    let inserted = pg.insert_many("all_types_2", &rows, true).await.unwrap();
    assert_eq!(inserted.len(), rows.len());
    assert_eq!(statements(&pg, "all_types").await, ["COPY"]);
    assert!(
        statements(&pg, "all_types_2")
            .await
            .iter()
            .all(|s| s == "INSE")
    );

    let by_id = Query::new().order_by("id");
    let copied: Vec<Row> = pg.select("all_types", &by_id).await.unwrap();
    let expected: Vec<Row> = pg.select("all_types_2", &by_id).await.unwrap();
    assert_eq!(copied.len(), rows.len());
    for (i, (c, e)) in copied.into_iter().zip(expected).enumerate() {
        assert_eq!(without_id(c), without_id(e), "row {i}");
    }
    db.drop_db().await;
}

#[tokio::test]
async fn copy_is_used_only_where_it_matches_insert() {
    let (db, pg) = setup(
        test_path!("copy_is_used_only_where_it_matches_insert"),
        &["types"],
    )
    .await;
    // A JSON array of arrays into an array column: json_populate_recordset makes it two-dimensional;
    // COPY takes only flat arrays of scalars.
    log_statements(&pg, "all_types").await;
    let mut rows = scalar_rows(1_200);
    rows[600].insert("c_int_array".into(), json!([[4, null], [6, 7]]));
    pg.insert_many("all_types", &rows, false).await.unwrap();
    // The rows before it go by COPY; it and the rest by INSERT, in the same transaction.
    assert_eq!(statements(&pg, "all_types").await, ["COPY", "INSE"]);
    let stored = pg
        .select(
            "all_types",
            &Query::new().columns("c_int_array").order_by("id"),
        )
        .await
        .unwrap();
    assert_eq!(stored[600]["c_int_array"], json!([[4, null], [6, 7]]));
    assert_eq!(stored[0]["c_int_array"], json!([1, null, 3]));

    // A rule rewrites an INSERT but not a COPY; a GENERATED ALWAYS identity refuses an INSERT naming it.
    pg.execute(
        "CREATE TABLE ruled (id int, v text);
         CREATE TABLE ruled_audit (v text);
         CREATE RULE audit AS ON INSERT TO ruled DO ALSO INSERT INTO ruled_audit VALUES (NEW.v);
         CREATE TABLE always (id int GENERATED ALWAYS AS IDENTITY, v text);",
        &[],
    )
    .await
    .unwrap();
    let plain: Vec<Row> = (0..1_000)
        .map(|i| row(json!({"id": i, "v": format!("v{i}")})))
        .collect();
    pg.insert_many("ruled", &plain, false).await.unwrap();
    assert_eq!(
        pg.count("ruled_audit", &Filter::new()).await.unwrap(),
        1_000
    );
    let err = pg
        .insert_many("always", &plain, false)
        .await
        .expect_err("an INSERT may not name a GENERATED ALWAYS column");
    assert!(err.to_string().contains("cannot insert"), "{err}");
    assert_eq!(pg.count("always", &Filter::new()).await.unwrap(), 0);
    db.drop_db().await;
}

#[tokio::test]
async fn a_failed_copy_names_the_row_and_stores_nothing() {
    for mode in [StatementMode::Cached, StatementMode::Unnamed] {
        let (db, _) = setup(
            test_path!("a_failed_copy_names_the_row_and_stores_nothing"),
            &["types"],
        )
        .await;
        let mut options = PostgresOptions::default();
        options.statement_mode = mode;
        let pg = PostgresAdapter::new(db.url(), options).unwrap();
        let mut rows = scalar_rows(25_000);
        rows[12_345].insert("c_integer".into(), json!("not a number"));
        let err = pg
            .insert_many("all_types", &rows, false)
            .await
            .expect_err("a bad value fails the insert");
        let text = err.to_string();
        assert!(text.contains("insert into all_types"), "{text}");
        assert!(text.contains("row 12346"), "{text}");
        assert!(text.contains("not a number"), "{text}");
        assert_eq!(pg.count("all_types", &Filter::new()).await.unwrap(), 0);

        // Inside a transaction, a COPY rolls back with it.
        rows[12_345].insert("c_integer".into(), json!(1));
        let tx = pg.begin().await.unwrap();
        tx.insert_many("all_types", &rows, false).await.unwrap();
        assert_eq!(tx.count("all_types", &Filter::new()).await.unwrap(), 25_000);
        tx.rollback().await.unwrap();
        assert_eq!(pg.count("all_types", &Filter::new()).await.unwrap(), 0);
        pg.close().await;
        db.drop_db().await;
    }
}

/// A bulk write reads the table's shape afresh unless the transaction kept it from its last `COPY` into the
/// table and ran nothing since: a column whose type changed within the transaction (raw SQL) or in another
/// session (after a savepoint rollback let the lock go) is written as its new type.
#[tokio::test]
async fn copy_writes_a_column_as_its_current_type() {
    let (db, pg) = setup(test_path!("copy_writes_a_column_as_its_current_type"), &[]).await;
    pg.execute("CREATE TABLE t (n int, v text)", &[])
        .await
        .unwrap();
    let rows = |from: i32| -> Vec<Row> {
        (from..from + 1_000)
            .map(|n| row(json!({"n": n, "v": "s"})))
            .collect()
    };
    let stored_v = |n: i32| {
        let pg = &pg;
        async move {
            pg.select("t", &Query::new().filter(Filter::new().eq("n", json!(n))))
                .await
                .unwrap()[0]["v"]
                .clone()
        }
    };

    // Raw SQL in the transaction changes the column to jsonb: the next COPY must quote the string.
    let tx = pg.begin().await.unwrap();
    tx.insert_many("t", &rows(0), false).await.unwrap();
    tx.execute(
        "ALTER TABLE t ALTER COLUMN v TYPE jsonb USING to_jsonb(v)",
        &[],
    )
    .await
    .unwrap();
    tx.insert_many("t", &rows(1_000), false).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stored_v(1).await, json!("s"));
    assert_eq!(stored_v(1_001).await, json!("s"));

    // A savepoint rolled back releases the lock; another session changes the column back to text.
    let tx = pg.begin().await.unwrap();
    let sp = tx.begin().await.unwrap();
    sp.insert_many("t", &rows(2_000), false).await.unwrap();
    sp.rollback().await.unwrap();
    pg.execute(
        "ALTER TABLE t ALTER COLUMN v TYPE text USING v #>> '{}'",
        &[],
    )
    .await
    .unwrap();
    tx.insert_many("t", &rows(3_000), false).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(stored_v(3_001).await, json!("s"));
    assert_eq!(pg.count("t", &Filter::new()).await.unwrap(), 3_000);
    db.drop_db().await;
}

/// Dropped half done, a COPY aborts the transaction on the server; the commit must then fail, not report
/// success for a transaction that was rolled back.
#[tokio::test]
async fn a_copy_dropped_half_done_makes_the_commit_fail() {
    let (db, pg) = setup(
        test_path!("a_copy_dropped_half_done_makes_the_commit_fail"),
        &[],
    )
    .await;
    pg.execute("CREATE TABLE t (n int); CREATE TABLE u (n int)", &[])
        .await
        .unwrap();
    let rows: Vec<Row> = (0..1_000).map(|n| row(json!({"n": n}))).collect();
    let tx = pg.begin().await.unwrap();
    tx.insert("u", &row(json!({"n": 1}))).await.unwrap();
    // Another session's SHARE lock holds the COPY at its start until the caller gives up on it.
    let blocker = pg.begin().await.unwrap();
    blocker
        .execute("LOCK TABLE t IN SHARE MODE", &[])
        .await
        .unwrap();
    let cut = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        tx.insert_many("t", &rows, false),
    )
    .await;
    assert!(cut.is_err(), "the insert was meant to be cut short");
    blocker.rollback().await.unwrap();
    let err = tx
        .commit()
        .await
        .expect_err("the server rolled the transaction back");
    assert!(err.to_string().contains("commit refused"), "{err}");
    assert_eq!(pg.count("u", &Filter::new()).await.unwrap(), 0);
    assert_eq!(pg.count("t", &Filter::new()).await.unwrap(), 0);
    db.drop_db().await;
}

/// json_populate_recordset refuses U+0000 in any string; COPY would store it in a json column, so such rows
/// keep the INSERT and its error.
#[tokio::test]
async fn a_nul_character_keeps_the_insert_and_its_error() {
    let (db, pg) = setup(
        test_path!("a_nul_character_keeps_the_insert_and_its_error"),
        &[],
    )
    .await;
    pg.execute("CREATE TABLE t (n int, j json)", &[])
        .await
        .unwrap();
    let mut rows: Vec<Row> = (0..1_000)
        .map(|n| row(json!({"n": n, "j": {"k": "v"}})))
        .collect();
    rows[500].insert("j".into(), json!({"k": "a\u{0}b"}));
    let err = pg
        .insert_many("t", &rows, false)
        .await
        .expect_err("U+0000 is refused as json_populate_recordset refuses it");
    assert!(err.to_string().contains("insert into t"), "{err}");
    assert_eq!(pg.count("t", &Filter::new()).await.unwrap(), 0);
    db.drop_db().await;
}

/// Records whether each COPY into `table` ran in binary format ("binary") or text format ("text"), and
/// how many rows it stored.
async fn log_copy_formats(pg: &PostgresAdapter, table: &str) {
    pg.execute(
        &format!(
            "CREATE TABLE IF NOT EXISTS fmt_log (n serial, tbl text, fmt text, rows int8);
             CREATE OR REPLACE FUNCTION log_fmt() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO fmt_log (tbl, fmt, rows) VALUES (TG_TABLE_NAME,
               CASE WHEN current_query() LIKE '%FORMAT binary%' THEN 'binary' ELSE 'text' END,
               (SELECT count(*) FROM stored)); RETURN NULL; END $$;
             CREATE TRIGGER log_fmt AFTER INSERT ON \"{table}\" REFERENCING NEW TABLE AS stored
               FOR EACH STATEMENT EXECUTE FUNCTION log_fmt();"
        ),
        &[],
    )
    .await
    .unwrap();
}

/// The format and the rows stored of each COPY into `table` so far.
async fn copies(pg: &PostgresAdapter, table: &str) -> Vec<(String, i64)> {
    logged(pg, "fmt_log", table)
        .await
        .into_iter()
        .map(|r| {
            (
                r["fmt"].as_str().unwrap().to_owned(),
                r["rows"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// The format of each COPY into `table` so far.
async fn copy_formats(pg: &PostgresAdapter, table: &str) -> Vec<String> {
    copies(pg, table)
        .await
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

const EDGE_TABLE: &str =
    "(id bigserial PRIMARY KEY, i2 int2, i4 int4, i8 int8, f8 float8, b boolean,
    t text, v varchar(12), j json, jb jsonb, u uuid, d date, ts timestamp, tz timestamptz)";

/// Creates `table` and its twin `by_insert` with [`EDGE_TABLE`]'s columns.
async fn edge_tables(pg: &PostgresAdapter, table: &str) {
    pg.execute(
        &format!("CREATE TABLE {table} {EDGE_TABLE}; CREATE TABLE by_insert {EDGE_TABLE};"),
        &[],
    )
    .await
    .unwrap();
}

/// Asserts that `copied` holds `n` rows and, in key order, the same values as `inserted`, as the server
/// renders them (`row_to_json`).
async fn assert_same_rows(pg: &PostgresAdapter, copied: &str, inserted: &str, n: usize) {
    let by_id = Query::new().order_by("id");
    let copied = pg.select(copied, &by_id).await.unwrap();
    let inserted = pg.select(inserted, &by_id).await.unwrap();
    assert_eq!(copied.len(), n);
    for (i, (c, e)) in copied.into_iter().zip(inserted).enumerate() {
        assert_eq!(without_id(c), without_id(e), "row {i}");
    }
}

/// Edge values of every type COPY sends in binary, as JSON text (numbers keep their digits).
fn edge_rows(n: usize) -> Vec<Row> {
    let i2 = ["0", "-0", "32767", "-32768", "1"];
    let i4 = ["2147483647", "-2147483648", "0", "-1", "42"];
    let i8 = [
        "9223372036854775807",
        "-9223372036854775808",
        "0",
        "-0",
        "7",
    ];
    let f8 = [
        "0.1",
        "-0.0",
        "0",
        "1.7976931348623157e308",
        "-1.7976931348623157e308",
        "5e-324",
        "4.9406564584124654e-324",
        "2.2250738585072014e-308",
        "2.2250738585072011e-308",
        "1e-310",
        "123456789012345678901234567890",
        "0.30000000000000004",
        "9007199254740993",
        "1E22",
        "2.5e+3",
        "0e-999",
        "1",
        "-123.456e-7",
    ];
    let texts = [
        json!("plain"),
        json!("tab\t, newline\n, return\r, backslash \\ and \\N"),
        json!("ünïcödé 😀"),
        json!(""),
        json!(12.50),
        json!(true),
    ];
    let jsons = [
        json!("a bare string"),
        json!(1.000),
        json!({"b": [1, 2.50, "x"], "a": null}),
        json!([]),
        json!(false),
    ];
    let uuids = [
        json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        json!("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
        json!("00000000-0000-0000-0000-000000000000"),
        json!("ffffffff-ffff-ffff-ffff-ffffffffffff"),
    ];
    let dates = [
        "2000-01-01",
        "1999-12-31",
        "2024-02-29",
        "0001-01-01",
        "9999-12-31",
        "1900-03-01",
        "0099-06-15",
    ];
    let timestamps = [
        "2000-01-01T00:00:00",
        "1999-12-31 23:59:59.999999",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59.999999",
        "2024-02-29T12:34:56.5",
        "1970-01-01T00:00:00.000001",
        "0099-06-15T01:02:03.04",
    ];
    // Offsets east and west, with minutes and seconds, to the server's limit of 15:59:59.
    let zoned = [
        "2000-01-01T00:00:00+00:00",
        "2000-01-01T05:30:00+05:30",
        "1999-12-31T21:00:00-03",
        "1900-01-01T00:00:00+00:53:28",
        "0001-01-01T00:00:00+15:59:59",
        "9999-12-31T23:59:59.999999-15:59:59",
        "2024-02-29T12:00:00.123-08:00",
        "2026-12-04 13:46:12.654321+01:00",
    ];
    let num = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
    (0..n)
        .map(|k| {
            let mut r = row(json!({
                "i2": num(i2[k % i2.len()]),
                "i4": num(i4[k % i4.len()]),
                "i8": num(i8[k % i8.len()]),
                "f8": num(f8[k % f8.len()]),
                "b": k % 3 == 0,
                "t": texts[k % texts.len()].clone(),
                "v": format!("v{}", k % 1000),
                "j": jsons[k % jsons.len()].clone(),
                "jb": jsons[(k + 1) % jsons.len()].clone(),
                "u": uuids[k % uuids.len()].clone(),
                "d": dates[k % dates.len()],
                "ts": timestamps[k % timestamps.len()],
                "tz": zoned[k % zoned.len()],
            }));
            if k % 11 == 0 {
                let column = [
                    "i2", "i4", "i8", "f8", "b", "t", "v", "j", "jb", "u", "d", "ts", "tz",
                ][k % 13];
                r.insert(column.into(), Value::Null);
            }
            r
        })
        .collect()
}

/// The binary COPY stores exactly what the `INSERT` (json_populate_recordset) stores, on edge values of
/// every type it encodes; compared as the server itself renders them (`row_to_json`).
#[tokio::test]
async fn binary_copy_stores_what_insert_stores_on_edge_values() {
    let (db, pg) = setup(
        test_path!("binary_copy_stores_what_insert_stores_on_edge_values"),
        &[],
    )
    .await;
    edge_tables(&pg, "by_copy").await;
    log_copy_formats(&pg, "by_copy").await;
    let rows = edge_rows(2_000);
    pg.insert_many("by_copy", &rows, false).await.unwrap();
    assert_eq!(
        pg.insert_many("by_insert", &rows, true)
            .await
            .unwrap()
            .len(),
        2_000
    );
    assert_eq!(copy_formats(&pg, "by_copy").await, ["binary"]);
    assert_same_rows(&pg, "by_copy", "by_insert", 2_000).await;
    db.drop_db().await;
}

/// A value whose binary form is not certain (a string for an integer, a number for a boolean, a uuid in
/// braces) finishes the binary COPY and sends it and the rest of the batch in text format, so the server
/// parses it as the `INSERT` would; a value the server refuses still fails the batch naming the row.
#[tokio::test]
async fn values_without_an_exact_binary_form_keep_the_text_format() {
    let (db, pg) = setup(
        test_path!("values_without_an_exact_binary_form_keep_the_text_format"),
        &[],
    )
    .await;
    pg.execute(&format!("CREATE TABLE t {EDGE_TABLE}"), &[])
        .await
        .unwrap();
    log_copy_formats(&pg, "t").await;
    let base = edge_rows(1_000);
    for (column, value) in [
        ("i4", json!(" 12")),
        ("b", json!(1)),
        ("b", json!("yes")),
        ("u", json!("{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}")),
        ("f8", json!("1.5")),
        // No offset: the server reads it in the session's time zone.
        ("tz", json!("2024-01-01T00:00:00")),
        // An offset into a timestamp: the server ignores it.
        ("ts", json!("2024-01-01T00:00:00+05:00")),
        ("tz", json!("infinity")),
        ("d", json!("2024-01-01 BC")),
        ("ts", json!("2024-01-01T24:00:00")),
    ] {
        let mut rows = base.clone();
        rows[500].insert(column.into(), value.clone());
        pg.insert_many("t", &rows, false).await.unwrap();
        let stored = pg
            .query(
                &format!("SELECT \"{column}\" FROM t ORDER BY id DESC OFFSET 499 LIMIT 1"),
                &[],
            )
            .await
            .unwrap();
        let expected = pg
            .query(
                &format!("SELECT \"{column}\" FROM json_populate_record(NULL::t, $1::json)"),
                &[json!({ column: value })],
            )
            .await
            .unwrap();
        assert_eq!(stored, expected, "{column} = {value}");
    }
    assert_eq!(copy_formats(&pg, "t").await, ["binary", "text"].repeat(10));

    // Values the server refuses: the error names the row and the reason, as before, and nothing is kept.
    for (column, value, reason) in [
        (
            "f8",
            json!(serde_json::from_str::<Value>("1e-400").unwrap()),
            "out of range",
        ),
        (
            "f8",
            json!(serde_json::from_str::<Value>("1e400").unwrap()),
            "out of range",
        ),
        ("i2", json!(32768), "out of range"),
        ("i4", json!(1.0), "invalid input syntax"),
        ("v", json!("thirteen char"), "too long"),
    ] {
        let mut rows = base.clone();
        rows[700].insert(column.into(), value.clone());
        let err = pg
            .insert_many("t", &rows, false)
            .await
            .expect_err("the server refuses the value");
        let text = err.to_string();
        assert!(text.contains("row 701"), "{column} = {value}: {text}");
        assert!(text.contains(reason), "{column} = {value}: {text}");
    }
    assert_eq!(pg.count("t", &Filter::new()).await.unwrap(), 10_000);
    db.drop_db().await;
}

/// A column whose type changes between the shape read and the COPY taking its lock (another session
/// holds the table, alters it and commits while the COPY waits) would have its values encoded for the old
/// type: the insert fails and keeps nothing instead.
#[tokio::test]
async fn a_type_changed_while_the_copy_waits_fails_the_insert() {
    copy_while_the_table_changes(
        test_path!("a_type_changed_while_the_copy_waits_fails_the_insert"),
        "CREATE TABLE t (n int8, v text)",
        "ALTER TABLE t ALTER COLUMN n TYPE float8",
    )
    .await;
}

/// A column made `GENERATED ALWAYS AS IDENTITY` while the `COPY` waits: `COPY` would store the given values
/// (as `OVERRIDING SYSTEM VALUE` would), which the `INSERT` refuses, so the insert fails instead.
#[tokio::test]
async fn an_identity_added_while_the_copy_waits_fails_the_insert() {
    copy_while_the_table_changes(
        test_path!("an_identity_added_while_the_copy_waits_fails_the_insert"),
        "CREATE TABLE t (n int8 NOT NULL, v text)",
        "ALTER TABLE t ALTER COLUMN n ADD GENERATED ALWAYS AS IDENTITY",
    )
    .await;
}

/// Runs `alter` on the table `create` makes while an `insert_many` of 1,000 rows waits for its lock, and
/// expects the insert to fail keeping nothing.
async fn copy_while_the_table_changes(name: &str, create: &str, alter: &str) {
    let (db, pg) = setup(name, &[]).await;
    pg.execute(create, &[]).await.unwrap();
    let rows: Vec<Row> = (1..=1_000)
        .map(|n| row(json!({"n": n, "v": "s"})))
        .collect();
    let other = pg.begin().await.unwrap();
    other
        .execute("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", &[])
        .await
        .unwrap();
    let insert = pg.insert_many("t", &rows, false);
    let change = async {
        // Once the COPY waits for the lock, its shape has been read: change the table under it.
        loop {
            let waiting = pg
                .query(
                    "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 't'::regclass",
                    &[],
                )
                .await
                .unwrap();
            if waiting[0]["n"] != json!(0) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        other.execute(alter, &[]).await.unwrap();
        other.commit().await.unwrap();
    };
    let (inserted, ()) = futures_util::future::join(insert, change).await;
    let err = inserted.expect_err("the rows were encoded for the table as it was");
    assert!(err.to_string().contains("changed ("), "{err}");
    assert_eq!(pg.count("t", &Filter::new()).await.unwrap(), 0);
    db.drop_db().await;
}

/// A transaction keeps the shape its last `COPY` into a table read, for the next batch: another session
/// cannot alter the table meanwhile, but it can create one that the same unqualified name then finds
/// first (here in the schema named after the user, which `search_path` puts before `public`). The next
/// batch's `COPY` goes there, encoded for the kept shape (`n` as int8, now float8: its binary bytes would
/// read as another number); its own re-read of the shape fails the insert instead, and keeps nothing.
#[tokio::test]
async fn a_table_the_name_finds_first_after_a_kept_shape_fails_the_insert() {
    let (db, pg) = setup(
        test_path!("a_table_the_name_finds_first_after_a_kept_shape_fails_the_insert"),
        &[],
    )
    .await;
    pg.execute("CREATE TABLE t (n int8, v text)", &[])
        .await
        .unwrap();
    let rows = |from: i64| -> Vec<Row> {
        (from..from + 1_000)
            .map(|n| row(json!({"n": n, "v": "s"})))
            .collect()
    };
    let tx = pg.begin().await.unwrap();
    let sp = tx.begin().await.unwrap();
    sp.insert_many("t", &rows(1), false).await.unwrap();
    sp.commit().await.unwrap();
    let user = pg.query("SELECT current_user AS u", &[]).await.unwrap()[0]["u"]
        .as_str()
        .unwrap()
        .to_owned();
    pg.execute(
        &format!("CREATE SCHEMA \"{user}\"; CREATE TABLE \"{user}\".t (n float8, v text)"),
        &[],
    )
    .await
    .unwrap();
    let sp = tx.begin().await.unwrap();
    let err = sp
        .insert_many("t", &rows(1_001), false)
        .await
        .expect_err("the rows were encoded for the table the kept shape describes");
    assert!(err.to_string().contains("changed ("), "{err}");
    // The savepoint's rollback takes the COPY back; the first batch stays.
    drop(sp);
    tx.commit().await.unwrap();
    assert_eq!(pg.count("public.t", &Filter::new()).await.unwrap(), 1_000);
    assert_eq!(
        pg.count(&format!("\"{user}\".t"), &Filter::new())
            .await
            .unwrap(),
        0
    );
    db.drop_db().await;
}

/// A row `COPY` cannot carry as the `INSERT` would (other columns, a JSON array for a text column) is
/// found while the rows stream: the rows before it go by `COPY`, it and the rest by `INSERT`, in order,
/// absent columns keeping their defaults; a failure in the rest keeps nothing.
#[tokio::test]
async fn rows_copy_cannot_carry_go_by_insert_after_the_copy() {
    let (db, pg) = setup(
        test_path!("rows_copy_cannot_carry_go_by_insert_after_the_copy"),
        &[],
    )
    .await;
    pg.execute(
        "CREATE TABLE t (id serial PRIMARY KEY, n int NOT NULL, v text DEFAULT 'default')",
        &[],
    )
    .await
    .unwrap();
    log_statements(&pg, "t").await;
    log_copy_formats(&pg, "t").await;
    let mut rows: Vec<Row> = (0..3_000)
        .map(|n| row(json!({"n": n, "v": format!("v{n}")})))
        .collect();
    rows[1_000] = row(json!({"n": 1_000}));
    rows[2_000].insert("_note".into(), json!("ignored"));
    pg.insert_many("t", &rows, false).await.unwrap();
    // Row 1,000 has its own INSERT (other columns), the rest share one.
    assert_eq!(statements(&pg, "t").await, ["COPY", "INSE", "INSE"]);
    // (The format log takes every statement without `FORMAT binary`, the INSERTs too, for text.)
    assert_eq!(copy_formats(&pg, "t").await, ["binary", "text", "text"]);
    let stored = pg.select("t", &Query::new().order_by("id")).await.unwrap();
    assert_eq!(stored.len(), 3_000);
    for (i, r) in stored.iter().enumerate() {
        assert_eq!(r["n"], json!(i), "row {i}");
        let v = if i == 1_000 {
            json!("default")
        } else {
            json!(format!("v{i}"))
        };
        assert_eq!(r["v"], v, "row {i}");
    }

    // The rest fails: the rows already copied are not kept either.
    rows[2_500].insert("n".into(), Value::Null);
    let err = pg
        .insert_many("t", &rows, false)
        .await
        .expect_err("a null for a NOT NULL column");
    assert!(err.to_string().contains("insert into t"), "{err}");
    assert!(err.to_string().contains("not-null"), "{err}");
    assert_eq!(pg.count("t", &Filter::new()).await.unwrap(), 3_000);

    // In the caller's transaction, a later row's key the client refuses (empty) fails after the rows
    // before it were copied: the transaction can no longer commit them.
    let mut bad = rows[..2_000].to_vec();
    bad[1_500] = row(json!({"": 1, "n": 1}));
    let tx = pg.begin().await.unwrap();
    tx.insert_many("t", &bad, false)
        .await
        .expect_err("an empty column name");
    assert!(tx.commit().await.is_err(), "a part of the insert committed");
    assert_eq!(pg.count("t", &Filter::new()).await.unwrap(), 3_000);

    // A U+0000 in the value of a key not written (`_…`) is refused by the `INSERT`, so by the insert.
    let mut nul = rows[..2_000].to_vec();
    nul[1_500].insert("_note".into(), json!("a\u{0}b"));
    let err = pg
        .insert_many("t", &nul, false)
        .await
        .expect_err("the INSERT refuses U+0000 anywhere in the row");
    assert!(err.to_string().contains("insert into t"), "{err}");
    assert_eq!(pg.count("t", &Filter::new()).await.unwrap(), 3_000);
    db.drop_db().await;
}

/// The parts of one stream of rows.
fn parts(
    rows: &[Row],
    size: usize,
) -> impl futures_util::Stream<Item = Arc<Vec<Row>>> + Unpin + use<> {
    let parts: Vec<Arc<Vec<Row>>> = rows.chunks(size).map(|c| Arc::new(c.to_vec())).collect();
    futures_util::stream::iter(parts)
}

/// Rows arriving in parts go through one `COPY`, every part stored exactly as `INSERT` would; a row a
/// `COPY` cannot take fails the whole write, which a savepoint then takes back; a table `COPY` would not
/// write as `INSERT` does is refused before anything is sent.
#[tokio::test]
async fn parts_go_through_one_copy() {
    let (db, pg) = setup(test_path!("parts_go_through_one_copy"), &["types"]).await;
    log_statements(&pg, "all_types").await;
    let rows = scalar_rows(2_500);
    let tx = pg.begin().await.unwrap();
    let stored = tx
        .insert_parts("all_types", &mut parts(&rows, 300))
        .await
        .unwrap();
    assert_eq!(stored, Some(2_500));
    tx.commit().await.unwrap();
    assert_eq!(statements(&pg, "all_types").await, ["COPY"]);
    let copied = pg
        .select("all_types", &Query::new().order_by("id"))
        .await
        .unwrap();
    pg.insert_many("all_types", &rows, true).await.unwrap();
    let inserted = pg
        .select("all_types", &Query::new().order_by("id"))
        .await
        .unwrap();
    assert_eq!(
        copied.into_iter().map(without_id).collect::<Vec<_>>(),
        inserted[2_500..]
            .iter()
            .cloned()
            .map(without_id)
            .collect::<Vec<_>>()
    );

    // A JSON object for an array column, in the fourth part: COPY would not store it as INSERT does.
    let mut rows = scalar_rows(1_200);
    rows[1_000].insert("c_int_array".into(), json!([{"n": 4}]));
    let tx = pg.begin().await.unwrap();
    let sp = tx.begin().await.unwrap();
    let err = sp
        .insert_parts("all_types", &mut parts(&rows, 300))
        .await
        .expect_err("the row cannot be copied");
    assert!(err.to_string().contains("insert into all_types"), "{err}");
    sp.rollback().await.unwrap();
    // The savepoint took back the rows before it; the transaction goes on.
    assert_eq!(tx.count("all_types", &Filter::new()).await.unwrap(), 5_000);
    tx.commit().await.unwrap();

    // A rule rewrites an INSERT but not a COPY.
    pg.execute(
        "CREATE TABLE ruled (id int, v text);
         CREATE TABLE ruled_audit (v text);
         CREATE RULE audit AS ON INSERT TO ruled DO ALSO INSERT INTO ruled_audit VALUES (NEW.v);",
        &[],
    )
    .await
    .unwrap();
    let plain: Vec<Row> = (0..10)
        .map(|i| row(json!({"id": i, "v": format!("v{i}")})))
        .collect();
    assert_eq!(
        pg.insert_parts("ruled", &mut parts(&plain, 3))
            .await
            .unwrap(),
        None
    );
    assert_eq!(pg.count("ruled", &Filter::new()).await.unwrap(), 0);
    db.drop_db().await;
}

/// Parts go in binary format while every value has an exact binary form (stored as the `INSERT` stores
/// them); at the first value without one, in a later part, that `COPY` is finished and the rest go in
/// text format, and a value the server refuses after the switch is named by its row in all the parts.
#[tokio::test]
async fn parts_switch_from_binary_to_text_at_the_first_value_without_a_binary_form() {
    let (db, pg) = setup(
        test_path!("parts_switch_from_binary_to_text_at_the_first_value_without_a_binary_form"),
        &[],
    )
    .await;
    edge_tables(&pg, "t").await;
    log_copy_formats(&pg, "t").await;
    let mut rows = edge_rows(2_000);
    // No offset: only the server can read it, in the session's time zone.
    rows[1_100].insert("tz".into(), json!("2024-01-01T00:00:00"));
    let tx = pg.begin().await.unwrap();
    let stored = tx.insert_parts("t", &mut parts(&rows, 300)).await.unwrap();
    assert_eq!(stored, Some(2_000));
    tx.commit().await.unwrap();
    let switched = [("binary".to_owned(), 1_100), ("text".to_owned(), 900)];
    assert_eq!(copies(&pg, "t").await, switched);
    pg.insert_many("by_insert", &rows, true).await.unwrap();
    assert_same_rows(&pg, "t", "by_insert", 2_000).await;

    // Refused by the server in the text COPY, which starts at row 1,101: named by its place in all parts.
    rows[1_500].insert("i2".into(), json!(32768));
    let tx = pg.begin().await.unwrap();
    let err = tx
        .insert_parts("t", &mut parts(&rows, 300))
        .await
        .expect_err("the server refuses the value");
    let text = err.to_string();
    assert!(text.contains("row 1501"), "{text}");
    assert!(text.contains("out of range"), "{text}");
    tx.rollback().await.unwrap();
    assert_eq!(pg.count("t", &Filter::new()).await.unwrap(), 2_000);

    // The first row without a binary form: no binary COPY is started at all.
    let mut rows = edge_rows(1_000);
    rows[0].insert("d".into(), json!("2024-01-01 BC"));
    let tx = pg.begin().await.unwrap();
    let stored = tx.insert_parts("t", &mut parts(&rows, 300)).await.unwrap();
    assert_eq!(stored, Some(1_000));
    tx.commit().await.unwrap();
    let mut expected = switched.to_vec();
    expected.push(("text".to_owned(), 1_000));
    assert_eq!(copies(&pg, "t").await, expected);
    db.drop_db().await;
}

/// Rows whose key the destination generates: `insert_many_keyed` draws the keys from the column's own
/// sequence and sends the rows by `COPY`, storing what `insert_many_returning` stores, with the same keys;
/// it declines, sending nothing, wherever a drawn key might not be the one stored.
#[tokio::test]
async fn keys_drawn_before_a_copy_are_the_keys_an_insert_would_get() {
    let (db, pg) = setup(
        test_path!("keys_drawn_before_a_copy_are_the_keys_an_insert_would_get"),
        &[],
    )
    .await;
    pg.execute(
        "CREATE TABLE keyed (id bigserial PRIMARY KEY, n int NOT NULL, tags text[], v text DEFAULT 'd');
         CREATE TABLE twin (LIKE keyed INCLUDING DEFAULTS);
         CREATE SEQUENCE twin_seq; ALTER TABLE twin ALTER id SET DEFAULT nextval('twin_seq');
         CREATE TABLE ident (id int GENERATED BY DEFAULT AS IDENTITY, n int);
         CREATE TABLE offset_key (id bigserial, n int);
         ALTER TABLE offset_key ALTER id SET DEFAULT nextval('offset_key_id_seq') + 1;
         CREATE TABLE trig (id serial, n int);
         CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN NEW.id := NEW.id + 1000; RETURN NEW; END $$;
         CREATE TRIGGER bump BEFORE INSERT ON trig FOR EACH ROW EXECUTE FUNCTION bump();
         CREATE TABLE parted (id bigserial, n int) PARTITION BY RANGE (n);
         CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (1000);
         CREATE TABLE parted_high PARTITION OF parted FOR VALUES FROM (1000) TO (100000);
         CREATE TRIGGER bump BEFORE INSERT ON parted_high FOR EACH ROW EXECUTE FUNCTION bump();",
        &[],
    )
    .await
    .unwrap();
    log_statements(&pg, "keyed").await;
    let rows: Vec<Row> = (0..2_500)
        .map(|n| row(json!({"n": n, "tags": ["x", format!("y{n}"), null], "v": format!("v{n}")})))
        .collect();
    let tx = pg.begin().await.unwrap();
    let keys = tx
        .insert_many_keyed("keyed", &rows, "id")
        .await
        .unwrap()
        .expect("a bigserial key is drawn");
    let twins = tx.insert_many_returning("twin", &rows, "id").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(statements(&pg, "keyed").await, ["COPY"]);
    // The keys the insert got from its own (fresh) sequence, in the same order.
    assert_eq!(keys, twins);
    assert_eq!(keys[0], row(json!({"id": 1})));
    let by_id = Query::new().order_by("id");
    let copied = pg.select("keyed", &by_id).await.unwrap();
    let inserted = pg.select("twin", &by_id).await.unwrap();
    assert_eq!(copied, inserted);
    assert_eq!(copied[7]["tags"], json!(["x", "y7", null]));

    // An identity column's sequence is drawn from too.
    let plain: Vec<Row> = (0..1_000).map(|n| row(json!({"n": n}))).collect();
    let tx = pg.begin().await.unwrap();
    let keys = tx.insert_many_keyed("ident", &plain, "id").await.unwrap();
    assert_eq!(keys.map(|k| k.len()), Some(1_000));
    // Declined, nothing sent: a default that is not exactly `nextval`, a trigger that may change the
    // key (on the table or on a partition), too few rows, a row naming the key.
    for table in ["offset_key", "trig", "parted"] {
        assert_eq!(
            tx.insert_many_keyed(table, &plain, "id").await.unwrap(),
            None,
            "{table}"
        );
        assert_eq!(tx.count(table, &Filter::new()).await.unwrap(), 0, "{table}");
    }
    assert_eq!(
        tx.insert_many_keyed("keyed", &plain[..999], "id")
            .await
            .unwrap(),
        None
    );
    let mut named = plain.clone();
    named[500].insert("id".into(), json!(99_999));
    assert_eq!(
        tx.insert_many_keyed("keyed", &named, "id").await.unwrap(),
        None
    );
    // A row COPY would not store as the INSERT does: declined before a key is drawn.
    let mut nested = rows.clone();
    nested[2_000].insert("tags".into(), json!([["a"], ["b"]]));
    assert_eq!(
        tx.insert_many_keyed("keyed", &nested, "id").await.unwrap(),
        None
    );
    let next = tx
        .query("SELECT nextval('keyed_id_seq') AS k", &[])
        .await
        .unwrap();
    assert_eq!(next[0]["k"], json!(2_501));
    tx.rollback().await.unwrap();
    // Outside a transaction the adapter declines (COPY's statement must stay on one server connection).
    assert_eq!(
        pg.insert_many_keyed("keyed", &plain, "id").await.unwrap(),
        None
    );

    // A failure names the row, and the transaction cannot commit what went before.
    let mut bad = plain.clone();
    bad[700].insert("n".into(), json!("seven hundred"));
    let tx = pg.begin().await.unwrap();
    let err = tx
        .insert_many_keyed("keyed", &bad, "id")
        .await
        .expect_err("not an integer");
    assert!(err.to_string().contains("insert into keyed"), "{err}");
    assert!(err.to_string().contains("701"), "{err}");
    assert!(tx.commit().await.is_err());
    assert_eq!(pg.count("keyed", &Filter::new()).await.unwrap(), 2_500);
    db.drop_db().await;
}
