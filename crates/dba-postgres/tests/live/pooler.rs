//! Through a real PgBouncer in transaction mode, and over TLS.

use dba_core::{DatabaseClient, ErrorKind, json};
use dba_postgres::{PostgresAdapter, PostgresOptions, StatementMode};
use dba_testkit::{PgBouncer, TestDb, test_path};

use crate::row;

#[tokio::test]
async fn the_contract_passes_through_pgbouncer_in_transaction_mode() {
    let db = TestDb::with_fixtures(
        test_path!("the_contract_passes_through_pgbouncer_in_transaction_mode"),
        &crate::fixtures(),
        &["shop"],
    )
    .await;
    let bouncer = PgBouncer::start(&db).await;
    // `pgbouncer=true` (or port 6543) switches auto mode to unnamed statements.
    let url = format!(
        "{}{}pgbouncer=true",
        bouncer.url(),
        if bouncer.url().contains('?') {
            "&"
        } else {
            "?"
        }
    );
    let mut options = PostgresOptions::default();
    options.pool_size = 4;
    let pg = PostgresAdapter::new(&url, options).unwrap();
    assert_eq!(pg.statement_mode(), StatementMode::Unnamed);
    dba_testkit::contract::crud_contract(&pg, dba_testkit::contract::SHOP).await;
    // Transactions and savepoints pin one server connection for their duration, so they work too.
    let tx = pg.begin().await.unwrap();
    tx.insert("categories", &row(json!({"slug": "b", "name": "B"})))
        .await
        .unwrap();
    let sp = tx.begin().await.unwrap();
    sp.insert("categories", &row(json!({"slug": "c", "name": "C"})))
        .await
        .unwrap();
    sp.rollback().await.unwrap();
    tx.commit().await.unwrap();
    let slugs = pg
        .query("SELECT slug FROM categories WHERE slug IN ('b', 'c')", &[])
        .await
        .unwrap();
    assert_eq!(slugs, vec![row(json!({"slug": "b"}))]);
    // Many concurrent callers through a small pool.
    let mut tasks = Vec::new();
    for i in 0..32 {
        let pg = pg.clone();
        tasks.push(tokio::spawn(async move {
            pg.query("SELECT $1::int AS i", &[json!(i)]).await.unwrap()[0]["i"].clone()
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), json!(i));
    }
    drop(bouncer);
    db.drop_db().await;
}

#[tokio::test]
async fn tls_modes_never_fall_back_to_plaintext() {
    let db = TestDb::create(test_path!("tls_modes_never_fall_back_to_plaintext")).await;
    let plain = PostgresAdapter::new(
        &with_param(db.url(), "sslmode=disable"),
        PostgresOptions::default(),
    )
    .unwrap();
    let ssl_on = plain
        .query("SELECT current_setting('ssl') AS ssl", &[])
        .await
        .unwrap()[0]["ssl"]
        == json!("on");
    let require = PostgresAdapter::new(
        &with_param(db.url(), "sslmode=require"),
        PostgresOptions::default(),
    )
    .unwrap();
    let verify_full = PostgresAdapter::new(
        &with_param(db.url(), "sslmode=verify-full"),
        PostgresOptions::default(),
    )
    .unwrap();
    if ssl_on {
        // Encrypted, as the server itself reports.
        let rows = require
            .query(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(rows[0]["ssl"], json!(true));
        // The server's certificate is not signed by a trusted root: verify-full must refuse, not downgrade.
        assert_eq!(
            verify_full.test_connection().await.unwrap_err().kind(),
            ErrorKind::Connection
        );
    } else {
        // No TLS on this server: require and verify-full refuse rather than fall back to plaintext.
        assert_eq!(
            require.test_connection().await.unwrap_err().kind(),
            ErrorKind::Connection
        );
        assert_eq!(
            verify_full.test_connection().await.unwrap_err().kind(),
            ErrorKind::Connection
        );
    }
    let rows = plain
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0]["ssl"], json!(false));
    plain.close().await;
    db.drop_db().await;
}

fn with_param(url: &str, param: &str) -> String {
    format!("{url}{}{param}", if url.contains('?') { "&" } else { "?" })
}

#[tokio::test]
async fn session_settings_are_not_sent_to_a_transaction_pooler() {
    let db = TestDb::create(test_path!(
        "session_settings_are_not_sent_to_a_transaction_pooler"
    ))
    .await;
    let bouncer = PgBouncer::start(&db).await;
    let mut options = PostgresOptions::default();
    options.statement_mode = StatementMode::Unnamed;
    options.schema = Some("app".to_owned());
    options.statement_timeout = Some(std::time::Duration::from_secs(5));
    // PgBouncer refuses an `options` startup parameter; the adapter does not send one behind a pooler.
    let pg = PostgresAdapter::new(bouncer.url(), options).unwrap();
    pg.test_connection().await.unwrap();
    drop(bouncer);
    db.drop_db().await;
}
