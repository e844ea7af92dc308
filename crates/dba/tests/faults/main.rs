//! Faults in the middle of long operations, each on a private cluster (`dba_testkit::Cluster`): a restore, a
//! fix, a sync and a batch insert are stopped half-way by `pg_terminate_backend` on their session, or by a
//! restart of the server. Each must fail with a connection error, leave every table exactly as before (by
//! checksum), and the next call on the same adapter must succeed once the server is back.
//!
//! "Half-way" is made deterministic without sleeps: a second session holds a lock the operation needs only
//! after it has written part of its work (a table lock on the second table, or an advisory lock taken by a
//! trigger on row 30,000 of a batch); the fault is injected once `pg_stat_activity` shows the operation's
//! session waiting for that lock.
#![allow(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test with its location"
)]

mod backup;
mod fix;
mod insert;

use std::time::{Duration, Instant};

use dba::postgres::{PostgresAdapter, PostgresOptions};
use dba::{DatabaseClient, Error, ErrorKind};
use dba_testkit::Cluster;
use tokio_postgres::Client;

/// The fault injected while the operation waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// `pg_terminate_backend` on the operation's session, from an admin connection.
    Terminate,
    /// `pg_ctl stop -m fast` then start: every session ends, the server comes back on the same port.
    Restart,
}

/// The database the operations write to, on each test's private cluster.
const DB: &str = "faults";

/// A private cluster with database [`DB`] set up by `sql`, and an adapter on it.
async fn lab(sql: &str) -> (Cluster, PostgresAdapter) {
    // Prepared transactions hold the lock that stops an operation half-way (see `hold`).
    let cluster = Cluster::start_with_settings("max_prepared_transactions = 4");
    let url = cluster.create_database(DB).await;
    cluster.client(DB).await.batch_execute(sql).await.unwrap();
    let adapter = PostgresAdapter::new(&url, PostgresOptions::default()).unwrap();
    fill_pool(&adapter).await;
    (cluster, adapter)
}

/// Opens every connection the pool may hold, so a restart leaves it full of dead ones.
async fn fill_pool(adapter: &PostgresAdapter) {
    let max = adapter.pool_status().max_size;
    let mut sleeps = tokio::task::JoinSet::new();
    for _ in 0..max {
        let adapter = adapter.clone();
        sleeps.spawn(async move { adapter.query("SELECT pg_sleep(0.1)", &[]).await });
    }
    while let Some(result) = sleeps.join_next().await {
        result.unwrap().unwrap();
    }
    assert_eq!(adapter.pool_status().size, max);
}

/// The name of the prepared transaction that holds the lock.
const HOLD: &str = "dba_faults_hold";

/// Runs `lock_sql` on `db` in a transaction it prepares (PREPARE TRANSACTION), so the operation blocks on the
/// lock until [`inject`] rolls it back.
///
/// A prepared transaction, not an open session: a fast shutdown ends every session, and a session holding
/// the lock could end first and let the operation's session take the lock and run on before its own end
/// (a restart test then saw its fault land after the step it meant to stop). A prepared transaction keeps
/// its locks across the restart, so the operation's session always dies waiting.
async fn hold(cluster: &Cluster, db: &str, lock_sql: &str) -> Client {
    let holder = cluster.client(db).await;
    holder
        .batch_execute(&format!("BEGIN; {lock_sql}; PREPARE TRANSACTION '{HOLD}'"))
        .await
        .unwrap();
    holder
}

/// Rolls back the prepared transaction of [`hold`], releasing its lock.
async fn release(client: &Client) {
    client
        .batch_execute(&format!("ROLLBACK PREPARED '{HOLD}'"))
        .await
        .unwrap();
}

/// Waits until a session of the adapter (application_name `dba`) on `db` waits for a lock; returns its pid.
async fn blocked_session(cluster: &Cluster, db: &str) -> i32 {
    let admin = cluster.admin().await;
    let started = Instant::now();
    loop {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'dba' \
                 AND wait_event_type = 'Lock'",
                &[&db],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the operation never blocked on the held lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Injects `fault` into the session of `db` blocked behind `holder`, then releases the held lock.
async fn inject(cluster: &Cluster, db: &str, fault: Fault, holder: Client) {
    let pid = blocked_session(cluster, db).await;
    match fault {
        Fault::Terminate => {
            let admin = cluster.admin().await;
            let done: bool = admin
                .query_one("SELECT pg_terminate_backend($1)", &[&pid])
                .await
                .unwrap()
                .get(0);
            assert!(done, "pg_terminate_backend({pid}) found no session");
            release(&holder).await;
        }
        Fault::Restart => {
            // The runtime's other worker keeps the connections' tasks running meanwhile.
            tokio::task::block_in_place(|| cluster.restart());
            // The holder's session died with the server; the prepared transaction did not.
            drop(holder);
            release(&cluster.client(db).await).await;
        }
    }
}

/// The md5 of a table's contents, read on a fresh connection.
async fn checksum(cluster: &Cluster, db: &str, table: &str) -> String {
    let sql = format!(
        "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {table} t"
    );
    cluster
        .client(db)
        .await
        .query_one(&sql, &[])
        .await
        .unwrap()
        .get(0)
}

async fn checksums(cluster: &Cluster, db: &str, tables: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for table in tables {
        out.push(checksum(cluster, db, table).await);
    }
    out
}

/// The error a session ended under the operation's feet must be: a connection error that says why.
fn assert_connection_lost(err: &Error) {
    assert_eq!(err.kind(), ErrorKind::Connection, "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("terminating connection due to administrator command")
            || text.contains("the connection to the server was closed"),
        "unclear error: {text}"
    );
}

/// A count through the adapter: the first call after the fault, which must work on the same pool.
async fn count(adapter: &PostgresAdapter, table: &str) -> u64 {
    adapter.count(table, &dba::Filter::new()).await.unwrap()
}

/// The pool must be usable as is: no error, and no more connections than it may hold.
fn assert_pool_sane(adapter: &PostgresAdapter) {
    let status = adapter.pool_status();
    assert!(status.size <= status.max_size, "{status:?}");
}
