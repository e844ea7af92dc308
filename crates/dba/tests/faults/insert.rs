//! A batch insert of 50,000 rows (five statements in one transaction), stopped while its fourth statement
//! waits at row 30,000.

use dba::{DatabaseClient, Row, json};

use crate::{
    DB, Fault, assert_connection_lost, assert_pool_sane, checksum, count, hold, inject, lab,
};

const SETUP: &str = "
CREATE TABLE items (id serial PRIMARY KEY, n int NOT NULL, payload text NOT NULL);
INSERT INTO items (n, payload) SELECT g, 'existing ' || g FROM generate_series(1, 100) g;
-- Row 30,000 of a batch waits for advisory lock 4242 while a test holds it.
CREATE FUNCTION gate() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NEW; END $$;
CREATE TRIGGER gate BEFORE INSERT ON items FOR EACH ROW WHEN (NEW.n = 30000) EXECUTE FUNCTION gate();";

const ROWS: i64 = 50_000;

fn rows() -> Vec<Row> {
    (1..=ROWS)
        .map(|n| {
            json!({"n": n, "payload": format!("row {n} {}", "x".repeat(40))})
                .as_object()
                .cloned()
                .unwrap()
        })
        .collect()
}

async fn batch_insert_survives(fault: Fault) {
    let (cluster, adapter) = lab(SETUP).await;
    let before = checksum(&cluster, DB, "items").await;
    let rows = rows();

    let holder = hold(&cluster, DB, "SELECT pg_advisory_xact_lock(4242)").await;
    let (result, ()) = tokio::join!(
        adapter.insert_many("items", &rows, false),
        inject(&cluster, DB, fault, holder)
    );
    let err = result.expect_err("the insert must fail when its session ends");
    assert_connection_lost(&err);
    // The very next call on the same adapter works (its pool was full of connections the fault killed).
    assert_eq!(count(&adapter, "items").await, 100);
    assert_eq!(checksum(&cluster, DB, "items").await, before);
    adapter.insert_many("items", &rows, false).await.unwrap();
    assert_eq!(count(&adapter, "items").await, 100 + ROWS as u64);
    assert_pool_sane(&adapter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_insert_with_its_session_terminated() {
    batch_insert_survives(Fault::Terminate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_insert_with_the_server_restarted() {
    batch_insert_survives(Fault::Restart).await;
}
