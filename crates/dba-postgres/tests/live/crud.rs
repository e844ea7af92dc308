//! The contract on a direct adapter, plus scripts, schema-qualified and mixed-case names, batches and
//! the pool.

use dba_core::{DatabaseClient, ErrorKind, Filter, Query, Row, json};
use dba_postgres::{PostgresAdapter, PostgresOptions, StatementMode};
use dba_testkit::test_path;

use crate::{row, setup};

#[tokio::test]
async fn crud_contract_on_the_adapter() {
    let (db, pg) = setup(test_path!("crud_contract_on_the_adapter"), &["shop"]).await;
    assert_eq!(pg.statement_mode(), StatementMode::Cached);
    dba_testkit::contract::crud_contract(&pg, dba_testkit::contract::SHOP).await;
    // An empty batch is no statement at all; an explicit "all rows" delete says how many went.
    assert!(pg.insert_many("items", &[], true).await.unwrap().is_empty());
    let two = [row(json!({"name": "a"})), row(json!({"name": "b"}))];
    pg.insert_many("items", &two, false).await.unwrap();
    assert_eq!(pg.delete("items", &Filter::all_rows()).await.unwrap(), 2);
    pg.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn crud_contract_with_unnamed_statements() {
    let db = dba_testkit::TestDb::with_fixtures(
        test_path!("crud_contract_with_unnamed_statements"),
        &crate::fixtures(),
        &["shop"],
    )
    .await;
    let mut options = PostgresOptions::default();
    options.statement_mode = StatementMode::Unnamed;
    let pg = PostgresAdapter::new(db.url(), options).unwrap();
    dba_testkit::contract::crud_contract(&pg, dba_testkit::contract::SHOP).await;
    db.drop_db().await;
}

#[tokio::test]
async fn scripts_qualified_and_quoted_names() {
    let (db, pg) = setup(test_path!("scripts_qualified_and_quoted_names"), &["shop"]).await;
    // A multi-statement script with a `:word` inside a literal (the original's text() pitfall).
    pg.execute("CREATE SCHEMA app; CREATE TABLE app.notes (id int PRIMARY KEY, body text DEFAULT ' :abc'); INSERT INTO app.notes (id) VALUES (1);", &[])
        .await
        .unwrap();
    let notes = pg.select("app.notes", &Query::new()).await.unwrap();
    assert_eq!(notes, vec![row(json!({"id": 1, "body": " :abc"}))]);
    pg.insert(
        "\"Mixed Case\"",
        &row(json!({"Id": 1, "select": "reserved word"})),
    )
    .await
    .unwrap();
    let mixed = pg
        .select(
            "public.\"Mixed Case\"",
            &Query::new()
                .columns("\"Id\", \"select\"")
                .order_by("\"Id\" DESC"),
        )
        .await
        .unwrap();
    assert_eq!(
        mixed,
        vec![row(json!({"Id": 1, "select": "reserved word"}))]
    );
    // Unquoted names fold to lower case, as in PostgreSQL.
    assert_eq!(pg.count("CANARY", &Filter::new()).await.unwrap(), 3);
    let err = pg.select("\"Canary\"", &Query::new()).await.unwrap_err();
    assert_eq!(err.sqlstate(), Some("42P01"));
    db.drop_db().await;
}

#[tokio::test]
async fn batches_of_100000_rows_in_one_call() {
    let (db, pg) = setup(test_path!("batches_of_100000_rows_in_one_call"), &["shop"]).await;
    let rows: Vec<Row> = (0..100_000)
        .map(|i| row(json!({"name": format!("item {i}"), "price": i % 100})))
        .collect();
    let inserted = pg.insert_many("items", &rows, true).await.unwrap();
    assert_eq!(inserted.len(), 100_000);
    assert_eq!(inserted[99_999]["name"], json!("item 99999"));
    let upserts: Vec<Row> = inserted
        .iter()
        .map(|r| row(json!({"id": r["id"], "name": r["name"], "price": 7})))
        .collect();
    let returned = pg
        .upsert_many("items", &upserts, "id", false)
        .await
        .unwrap();
    assert!(returned.is_empty());
    assert_eq!(
        pg.count("items", &Filter::new().eq("price", 7))
            .await
            .unwrap(),
        100_000
    );
    // A failure in the last batch rolls back the earlier ones: the call is atomic.
    let mut bad: Vec<Row> = (0..25_000)
        .map(|i| row(json!({"name": format!("more {i}")})))
        .collect();
    bad.push(row(json!({"name": null})));
    let err = pg.insert_many("items", &bad, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotNullViolation);
    assert_eq!(pg.count("items", &Filter::new()).await.unwrap(), 100_000);
    db.drop_db().await;
}

#[tokio::test]
async fn pool_status_and_close() {
    let (db, pg) = setup(test_path!("pool_status_and_close"), &["shop"]).await;
    pg.test_connection().await.unwrap();
    let status = pg.pool_status();
    assert_eq!((status.max_size, status.size, status.available), (10, 1, 1));
    let debug = format!("{pg:?}");
    assert!(debug.contains("PostgresAdapter"), "{debug}");
    pg.close().await;
    assert_eq!(
        pg.test_connection().await.unwrap_err().kind(),
        ErrorKind::Connection
    );
    db.drop_db().await;
}

#[tokio::test]
async fn unreachable_server_is_a_connection_error() {
    let mut options = PostgresOptions::default();
    options.connect_timeout = std::time::Duration::from_secs(2);
    let pg =
        PostgresAdapter::new("postgresql://postgres:S3cr3t@127.0.0.1:1/none", options).unwrap();
    let err = pg.test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(!format!("{err} {err:?} {pg:?}").contains("S3cr3t"));
    let err = PostgresAdapter::connect("postgresql://postgres@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("connection error: cannot connect to PostgreSQL"),
        "{err}"
    );
}
