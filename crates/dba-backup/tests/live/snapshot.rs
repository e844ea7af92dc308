//! A backup is one snapshot: writes committed while it runs are in the file for every table or for none,
//! on the primary and on a standby (where the statement logs show it ran).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use dba_backup::{BackupOptions, BackupSchema, ProgressUpdate, TableDef, backup};
use dba_core::{DatabaseClient, ReadTarget};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::{Cluster, TestDb, test_path};
use serde_json::Value;

use crate::scratch;

/// Two tables whose row counts only change together: every write adds one row to each.
const PAIRS: &str = "CREATE TABLE a (id serial PRIMARY KEY, n int NOT NULL);
     CREATE TABLE b (id serial PRIMARY KEY, n int NOT NULL);
     INSERT INTO a (n) SELECT g FROM generate_series(1, 2000) g;
     INSERT INTO b (n) SELECT g FROM generate_series(1, 2000) g;";

/// One write: a row in each table, in one transaction (a script is one implicit transaction).
const WRITE_PAIR: &str = "INSERT INTO a (n) VALUES (0); INSERT INTO b (n) VALUES (0)";

fn schema() -> BackupSchema {
    BackupSchema::new(vec![TableDef::new("a"), TableDef::new("b")])
}

/// The rows of `table` in the backup file, and the count its metadata gives.
fn rows_in_file(path: &Path, table: &str) -> (usize, u64) {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let rows = doc[table].as_array().unwrap().len();
    let meta = doc["metadata"][format!("{table}_count")].as_u64().unwrap();
    (rows, meta)
}

/// Writes pairs on `writer` until `stop` is set; returns how many it wrote.
fn keep_writing(writer: PostgresAdapter, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            writer.execute(WRITE_PAIR, &[]).await.unwrap();
            n += 1;
            tokio::task::yield_now().await;
        }
        n
    })
}

/// Backs up `reads` while a task keeps writing pairs on `writer`; once table `a` is in the file, one more
/// pair is committed (and `after_write` runs) before `b` is read, so a backup that read each table at a
/// different moment would hold one row more in `b` than in `a`.
async fn backup_during_writes(
    reads: &dyn DatabaseClient,
    writer: &PostgresAdapter,
    path: &Path,
    after_write: impl Fn() + Send + Sync,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let background = keep_writing(writer.clone(), stop.clone());
    let between = AtomicU64::new(0);
    let runtime = tokio::runtime::Handle::current();
    let hook = |u: &ProgressUpdate<'_>| {
        if u.finished && u.table == "a" {
            tokio::task::block_in_place(|| {
                runtime.block_on(writer.execute(WRITE_PAIR, &[])).unwrap();
                after_write();
            });
            between.fetch_add(1, Ordering::SeqCst);
        }
    };
    let report = backup(reads, &schema(), path, &BackupOptions::default(), &hook)
        .await
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    let written = background.await.unwrap();
    assert_eq!(between.load(Ordering::SeqCst), 1);
    eprintln!("{written} pairs written by the background task during the backup");

    let (a_rows, a_meta) = rows_in_file(path, "a");
    let (b_rows, b_meta) = rows_in_file(path, "b");
    assert_eq!((a_rows as u64, b_rows as u64), (a_meta, b_meta));
    assert_eq!(
        a_rows, b_rows,
        "a and b only grow together, so one snapshot holds as many rows of each"
    );
    assert_eq!(
        report.counts,
        vec![("a".to_owned(), a_meta), ("b".to_owned(), b_meta)]
    );
    // The pair written between the two tables is in the database, not in the file.
    let now = writer
        .count("b", &dba_core::Filter::all_rows())
        .await
        .unwrap();
    assert!(now > b_meta, "{now} rows in b now, {b_meta} in the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_one_snapshot_while_writes_continue() {
    let db = TestDb::create(test_path!("a_backup_is_one_snapshot_while_writes_continue")).await;
    let adapter = PostgresAdapter::new(db.url(), PostgresOptions::default()).unwrap();
    adapter.execute(PAIRS, &[]).await.unwrap();
    let dir = scratch("snapshot-primary");
    let path = dir.join("pairs.json");
    backup_during_writes(&adapter, &adapter, &path, || {}).await;
    adapter.close().await;
    db.drop_db().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_through_a_standby_reader_is_one_snapshot_on_the_standby() {
    let primary = Cluster::start_with_settings("log_statement = 'all'");
    primary.create_database("shop").await;
    let standby = tokio::task::block_in_place(|| {
        primary.start_standby_with_settings("log_statement = 'all'")
    });
    let writer = PostgresAdapter::new(&primary.url_for("shop"), PostgresOptions::default())
        .unwrap()
        .with_standby(
            &standby.url_for("shop"),
            PostgresOptions::default(),
            Duration::from_secs(30),
        )
        .unwrap();
    writer.execute(PAIRS, &[]).await.unwrap();
    tokio::task::block_in_place(|| standby.wait_replayed(&primary));
    let reader = writer.reader().await.unwrap();
    assert_eq!(reader.target(), ReadTarget::Standby, "{reader:?}");

    let dir = scratch("snapshot-standby");
    let path = dir.join("pairs.json");
    // The pair written between the tables reaches the standby before `b` is read there.
    backup_during_writes(reader.client(), &writer, &path, || {
        standby.wait_replayed(&primary)
    })
    .await;

    // The backup's snapshot and its selects ran on the standby, none of them on the primary.
    let selects_b = |log: &str| {
        log.lines()
            .filter(|l| l.contains("SELECT") && l.contains("\"b\""))
            .count()
    };
    let (standby_log, primary_log) = (standby.log(), primary.log());
    assert!(standby_log.contains("REPEATABLE READ, READ ONLY"));
    assert!(selects_b(&standby_log) > 0, "{standby_log}");
    assert!(!primary_log.contains("REPEATABLE READ"));
    assert_eq!(
        selects_b(&primary_log),
        1,
        "only the test's own count of b runs on the primary:\n{primary_log}"
    );
    assert!(
        primary_log.contains("SELECT count(*) FROM \"b\""),
        "{primary_log}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
