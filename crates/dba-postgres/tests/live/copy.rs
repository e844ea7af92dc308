//! Bulk inserts through `COPY FROM STDIN`: the same rows as the `INSERT` stores, used only where the two
//! agree, atomic, and failures naming the row.

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

/// How each insert into `table` so far was sent: "COPY" or "INSE".
async fn statements(pg: &PostgresAdapter, table: &str) -> Vec<String> {
    pg.select(
        "stmt_log",
        &Query::new()
            .filter(Filter::new().eq("tbl", json!(table)))
            .order_by("n"),
    )
    .await
    .unwrap()
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
    // JSON arrays into array columns: json_populate_recordset converts them; COPY would not.
    log_statements(&pg, "all_types").await;
    let mut rows = scalar_rows(1_200);
    rows[600].insert("c_int_array".into(), json!([4, null, 6]));
    pg.insert_many("all_types", &rows, false).await.unwrap();
    assert!(
        statements(&pg, "all_types")
            .await
            .iter()
            .all(|s| s == "INSE")
    );
    let stored = pg
        .select(
            "all_types",
            &Query::new().columns("c_int_array").order_by("id"),
        )
        .await
        .unwrap();
    assert_eq!(stored[600]["c_int_array"], json!([4, null, 6]));
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

/// Each bulk write reads the table's shape afresh: a column whose type changed within the transaction (raw
/// SQL) or in another session (after a savepoint rollback let the lock go) is written as its new type.
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
