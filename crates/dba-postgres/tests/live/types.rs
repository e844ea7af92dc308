//! Exact types: each value reads to JSON and writes back from that same JSON unchanged.

use dba_core::{DatabaseClient, Query, Row, Value, json};
use dba_testkit::test_path;

use crate::{row, setup, without_id};

fn sample() -> Row {
    let mut r = row(json!({
        "c_smallint": -32768,
        "c_integer": 2147483647,
        "c_bigint": 9223372036854775807_i64,
        "c_real": 1.5,
        "c_double": 0.1,
        "c_boolean": true,
        "c_text": "quote ' and \" and \\ and ünïcode and ${x} and :abc",
        "c_varchar": "short",
        "c_char": "ab",
        "c_citext": "MiXeD",
        "c_uuid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "c_date": "2024-02-29",
        "c_time": "23:59:59.999999",
        "c_timestamp": "2024-01-02T03:04:05.123456",
        "c_timestamptz": "2024-01-02T03:04:05.123456+02:00",
        "c_interval": "1 year 2 mons 3 days 04:05:06.789",
        "c_json": {"b": 1, "a": [true, null, "x"]},
        "c_jsonb": "a bare JSON string",
        "c_bytea": "\\xdeadbeef00",
        "c_inet": "192.168.0.1/24",
        "c_cidr": "10.0.0.0/8",
        "c_macaddr": "08:00:2b:01:02:03",
        "c_enum": "happy",
        "c_domain": 42,
        "c_int_array": [1, null, 3],
        "c_text_array": ["a,b", "c\"d", null, "{}", ""],
        "c_int_matrix": [[1, 2], [3, null]],
        "c_enum_array": ["sad", "ok"],
    }));
    // Numbers with more digits than an f64 holds must survive untouched.
    r.insert(
        "c_numeric".into(),
        serde_json::from_str("1234567890123456789012345678.0123456789").unwrap(),
    );
    r.insert(
        "c_numeric_free".into(),
        serde_json::from_str("-0.000000000000000000000000000001").unwrap(),
    );
    r.insert(
        "c_numeric_array".into(),
        serde_json::from_str("[1.10, 99999999999999999999.5]").unwrap(),
    );
    r
}

#[tokio::test]
async fn every_type_round_trips_exactly() {
    let (db, pg) = setup(test_path!("every_type_round_trips_exactly"), &["types"]).await;
    pg.execute("SET TIME ZONE 'UTC'", &[]).await.unwrap();
    let first = pg.insert("all_types", &sample()).await.unwrap();

    // What PostgreSQL stored, as JSON.
    assert_eq!(
        first["c_numeric"].to_string(),
        "1234567890123456789012345678.0123456789"
    );
    assert_eq!(
        first["c_numeric_free"].to_string(),
        "-0.000000000000000000000000000001"
    );
    assert_eq!(
        first["c_numeric_array"].to_string(),
        "[1.10,99999999999999999999.5]"
    );
    assert_eq!(first["c_bigint"], json!(9223372036854775807_i64));
    assert_eq!(first["c_char"], json!("ab   "));
    assert_eq!(first["c_jsonb"], json!("a bare JSON string"));
    assert_eq!(first["c_json"], json!({"b": 1, "a": [true, null, "x"]}));
    assert_eq!(first["c_bytea"], json!("\\xdeadbeef00"));
    assert_eq!(first["c_int_matrix"], json!([[1, 2], [3, null]]));
    assert_eq!(
        first["c_text_array"],
        json!(["a,b", "c\"d", null, "{}", ""])
    );
    assert_eq!(first["c_citext"], json!("MiXeD"));
    let keys: Vec<_> = first.keys().take(3).cloned().collect();
    assert_eq!(
        keys,
        ["id", "c_smallint", "c_integer"],
        "keys keep column order"
    );

    // Written back from that same JSON, it reads back identical.
    let second = pg
        .insert("all_types", &without_id(first.clone()))
        .await
        .unwrap();
    assert_eq!(without_id(second.clone()), without_id(first.clone()));

    // And an update from the read JSON changes nothing.
    let filter = dba_core::Filter::new().eq("id", second["id"].clone());
    let updated = pg
        .update("all_types", &without_id(second.clone()), &filter)
        .await
        .unwrap();
    assert_eq!(updated, vec![second.clone()]);

    // Every value also works as a filter on its own column.
    for (column, value) in without_id(first.clone()) {
        if matches!(
            column.as_str(),
            "c_json" | "c_jsonb" | "c_double" | "c_real"
        ) {
            // json has no equality operator; a bare string compared with jsonb must be sent as JSON text
            // (see jsonb_filters_take_json_text); floats are compared in floats_keep_nan_and_infinities.
            continue;
        }
        let n = pg
            .count(
                "all_types",
                &dba_core::Filter::new().eq(&column, value.clone()),
            )
            .await
            .unwrap();
        assert_eq!(n, 2, "filter on {column} = {value}");
    }
    db.drop_db().await;
}

#[tokio::test]
async fn floats_keep_nan_and_infinities() {
    let (db, pg) = setup(test_path!("floats_keep_nan_and_infinities"), &["types"]).await;
    for special in ["NaN", "Infinity", "-Infinity"] {
        let stored = pg.insert("all_types", &row(json!({"c_double": special, "c_real": special, "c_numeric_free": if special == "NaN" { json!("NaN") } else { Value::Null }}))).await.unwrap();
        assert_eq!(stored["c_double"], json!(special));
        assert_eq!(stored["c_real"], json!(special));
        let again = pg
            .insert("all_types", &without_id(stored.clone()))
            .await
            .unwrap();
        assert_eq!(without_id(again), without_id(stored));
    }
    let doubles = pg
        .select(
            "all_types",
            &Query::new()
                .columns("c_double")
                .filter(dba_core::Filter::new().eq("c_double", "NaN")),
        )
        .await
        .unwrap();
    assert_eq!(doubles.len(), 2);
    let tiny = pg
        .insert(
            "all_types",
            &row(json!({"c_double": 5e-324, "c_real": 3.4028235e38})),
        )
        .await
        .unwrap();
    let again = pg
        .insert("all_types", &without_id(tiny.clone()))
        .await
        .unwrap();
    assert_eq!(without_id(again), without_id(tiny));
    db.drop_db().await;
}

#[tokio::test]
async fn jsonb_columns_take_any_json_value_without_a_column_list() {
    let (db, pg) = setup(
        test_path!("jsonb_columns_take_any_json_value_without_a_column_list"),
        &["types"],
    )
    .await;
    for value in [
        json!([1, 2]),
        json!({"k": {"nested": [null]}}),
        json!("string"),
        json!(12.5),
        json!(true),
        json!(null),
    ] {
        let stored = pg
            .insert(
                "all_types",
                &row(json!({"c_jsonb": value.clone(), "c_json": value.clone()})),
            )
            .await
            .unwrap();
        assert_eq!(stored["c_jsonb"], value);
        assert_eq!(stored["c_json"], value);
    }
    db.drop_db().await;
}

#[tokio::test]
async fn jsonb_filters_take_json_text() {
    let (db, pg) = setup(test_path!("jsonb_filters_take_json_text"), &["types"]).await;
    pg.insert("all_types", &row(json!({"c_jsonb": "s"})))
        .await
        .unwrap();
    pg.insert("all_types", &row(json!({"c_jsonb": {"a": [1]}})))
        .await
        .unwrap();
    let f = |v: Value| dba_core::Filter::new().eq("c_jsonb", v);
    assert_eq!(
        pg.count("all_types", &f(json!({"a": [1]}))).await.unwrap(),
        1
    );
    assert_eq!(pg.count("all_types", &f(json!("\"s\""))).await.unwrap(), 1);
    db.drop_db().await;
}

/// Streamed selects encode bool, integer, text, json, jsonb, uuid, numeric, date, timestamp and (in a UTC
/// session) timestamptz columns and arrays of them on the client; the text must be byte for byte what
/// `row_to_json` gives, for every type and edge value.
#[tokio::test]
async fn streamed_rows_are_exactly_what_row_to_json_gives() {
    use futures_util::TryStreamExt;

    let (db, pg) = setup(
        test_path!("streamed_rows_are_exactly_what_row_to_json_gives"),
        &["types"],
    )
    .await;
    pg.insert("all_types", &sample()).await.unwrap();
    pg.execute("INSERT INTO all_types DEFAULT VALUES", &[])
        .await
        .unwrap();
    pg.execute(
        "CREATE TABLE edges (id int PRIMARY KEY, t text, v varchar(9), b char(4), n name, u uuid, j json, \
         jb jsonb, i2 int2, i4 int4, i8 int8, ok bool, \"Odd \"\"key\"\"\t\\\" text)",
        &[],
    )
    .await
    .unwrap();
    pg.execute(
        "INSERT INTO edges VALUES \
         (1, (SELECT string_agg(chr(c), '') FROM generate_series(1, 127) c), 'é\"\\/', 'ab', 'nm', \
          '00000000-0000-0000-0000-000000000000', '  {\"a\" :  [1,2] }  ', '{\"b\": {\"c\": [\"\\u00e9\\n\", 1.50]}}', \
          -32768, -2147483648, -9223372036854775808, false, ''), \
         (2, '', '', '', '', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\"s\"', '\"s\"', 32767, 2147483647, \
          9223372036854775807, true, 'x'), \
         (3, NULL, NULL, NULL, NULL, NULL, 'null', 'null', NULL, NULL, NULL, NULL, NULL)",
        &[],
    )
    .await
    .unwrap();
    // Dates, times, numerics and arrays, at the ends of their ranges and around the epochs.
    pg.execute(
        "CREATE TABLE times (id int PRIMARY KEY, d date, ts timestamp, tz timestamptz, n numeric, \
         n4 numeric(12, 4), ta text[], ia int4[], ba bool[], ja jsonb[], na numeric[], da date[], \
         tsa timestamp[], tza timestamptz[], ua uuid[], ca char(2)[], i8a int8[], va varchar[])",
        &[],
    )
    .await
    .unwrap();
    pg.execute(
        "INSERT INTO times VALUES \
         (1, '4713-11-24 BC', '4713-11-24 00:00:00 BC', '4713-11-24 00:00:00+00 BC', 'NaN', 0, \
          '{}', '{{1,2,3},{4,NULL,6}}', '{t,f,NULL}', ARRAY['{\"a\": 1}'::jsonb, NULL, '\"s\"'], \
          '{NaN,Infinity,-Infinity,0,-1.5}', '{infinity,-infinity,2000-01-01}', \
          '{infinity,-infinity,1999-12-31 23:59:59.999999}', '{infinity,-infinity,1970-01-01 00:00:00.5+00}', \
          '{00000000-0000-0000-0000-000000000000,NULL}', '{a,\"b \"}', '{-9223372036854775808}', \
          '{\"\\\\\\\"\",\"\"}'), \
         (2, '5874897-12-31', '294276-12-31 23:59:59.999999', '294276-12-31 23:59:59.999999+00', \
          'Infinity', 99999999.9999, '{\"x\",\"y 1\",NULL,\"\\\"q\\\"\"}', \
          '[0:1][-2:-1]={{1,2},{3,4}}', '{}', '{}', \
          '{1e-30,123456789012345678901234567890.123456789,0.0001,10000,100000000}', '{}', '{}', '{}', \
          '{}', '{}', '{}', '{}'), \
         (3, '0001-01-01', '0001-12-31 23:59:59.5 BC', '1969-12-31 23:59:59.999999+00', '-Infinity', \
          -0.0001, NULL, '[5:6]={7,8}', NULL, NULL, '{-0.00,1.000}', '{0001-01-01 BC,10000-01-01}', \
          '{2000-01-01 00:00:00.000001,1999-12-31 23:59:59.00001}', '{2024-02-29 12:34:56.7-05:30}', \
          NULL, NULL, NULL, NULL), \
         (4, 'infinity', 'infinity', 'infinity', 0, NULL, '{{\"a\"},{\"b\"}}', '{{{1}},{{2}}}', NULL, \
          NULL, '{0.1,-123.45600}', NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
         (5, '-infinity', '-infinity', '-infinity', -12345678901234567890.0000000001, 1, NULL, \
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
         (6, '2000-01-01', '2000-01-01 00:00:00', '2000-01-01 00:00:00+00', 0.000000000000000000001, \
          NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), \
         (7, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
          NULL, NULL)",
        &[],
    )
    .await
    .unwrap();
    for (table, columns) in [
        ("all_types", "*"),
        ("edges", "*"),
        ("edges", "u, t, \"Odd \"\"key\"\"\t\\\", jb, ok"),
        ("times", "*"),
    ] {
        let query = dba_core::Query::new().columns(columns).order_by("id");
        let streamed: Vec<String> = pg
            .select_json_stream(table, &query)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let expected: Vec<String> = pg
            .query(
                &format!(
                    "SELECT row_to_json(r)::text AS j FROM (SELECT {columns} FROM {table} ORDER BY id) r"
                ),
                &[],
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| r["j"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(streamed, expected, "{table} ({columns})");
        let expected_rows = match table {
            "all_types" => 2,
            "times" => 7,
            _ => 3,
        };
        assert_eq!(streamed.len(), expected_rows);

        // Streamed rows parse to exactly what a plain select returns.
        let rows: Vec<Row> = pg
            .select_stream(table, &query)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        assert_eq!(rows, pg.select(table, &query).await.unwrap());
        // …and in the same key order, with each number spelled as the text gives it (the maps' equality
        // ignores the order; `arbitrary_precision` keeps a number's text).
        let as_text = |row: &Row| serde_json::to_string(row).unwrap();
        let reparsed: Vec<String> = streamed
            .iter()
            .map(|text| as_text(&serde_json::from_str(text).unwrap()))
            .collect();
        assert_eq!(
            rows.iter().map(as_text).collect::<Vec<_>>(),
            reparsed,
            "{table} ({columns})"
        );
    }

    // timestamptz carries the session's offset: outside UTC the server writes it, in a zone with offsets
    // in seconds before 1900 and a daylight-saving rule after.
    let tx = pg.begin().await.unwrap();
    for zone in ["Europe/Amsterdam", "UTC", "Etc/UTC", "GMT"] {
        tx.execute(&format!("SET LOCAL TimeZone = '{zone}'"), &[])
            .await
            .unwrap();
        let query = dba_core::Query::new().columns("tz, tza").order_by("id");
        let streamed: Vec<String> = tx
            .select_json_stream("times", &query)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let expected: Vec<String> = tx
            .query(
                "SELECT row_to_json(r)::text AS j FROM (SELECT tz, tza FROM times ORDER BY id) r",
                &[],
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| r["j"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(streamed, expected, "TimeZone {zone}");
    }
    tx.rollback().await.unwrap();

    // A listed column the table lacks is the server's own error, naming the table.
    let err = pg
        .select_json_stream("edges", &dba_core::Query::new().columns("nope"))
        .await
        .err()
        .expect("an unknown column fails");
    assert!(err.to_string().contains("select from edges"), "{err}");
    assert!(err.to_string().contains("nope"), "{err}");
    db.drop_db().await;
}

/// A streamed select's result types follow the table's columns, so it is never a cached statement: after a
/// column's type changes, the next stream on the same connection works.
#[tokio::test]
async fn a_stream_works_after_a_column_type_changes() {
    use futures_util::TryStreamExt;

    let (db, _) = setup(
        test_path!("a_stream_works_after_a_column_type_changes"),
        &[],
    )
    .await;
    let mut options = dba_postgres::PostgresOptions::default();
    options.pool_size = 1;
    let pg = dba_postgres::PostgresAdapter::new(db.url(), options).unwrap();
    pg.execute(
        "CREATE TABLE cp (n int4, v text); INSERT INTO cp VALUES (1, 'a')",
        &[],
    )
    .await
    .unwrap();
    let read = || async {
        pg.select_json_stream("cp", &dba_core::Query::new())
            .await
            .unwrap()
            .try_collect::<Vec<String>>()
            .await
    };
    assert_eq!(read().await.unwrap(), [r#"{"n":1,"v":"a"}"#]);
    pg.execute(
        "ALTER TABLE cp ALTER n TYPE int8, ALTER v TYPE jsonb USING to_jsonb(v)",
        &[],
    )
    .await
    .unwrap();
    assert_eq!(read().await.unwrap(), [r#"{"n":1,"v":"a"}"#]);
    db.drop_db().await;
}
