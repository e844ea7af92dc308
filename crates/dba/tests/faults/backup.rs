//! A restore and a sync of 2,000 categories and 20,000 products, stopped once the categories are written
//! (uncommitted) and the products wait for a lock.

use std::sync::Mutex;

use dba::backup::{
    BackupOptions, BackupSchema, Phase, ProgressUpdate, RestoreOptions, SyncOptions, TableDef,
    backup, restore, sync,
};
use dba::postgres::{PostgresAdapter, PostgresOptions};

use crate::{
    DB, Fault, assert_connection_lost, assert_pool_sane, checksums, count, hold, inject, lab,
};

const TABLES: &str = "
CREATE TABLE categories (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, UNIQUE (user_id, slug));
CREATE TABLE products (id serial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, price numeric(8,2),
    category_id int NOT NULL REFERENCES categories (id), UNIQUE (user_id, slug));";

/// The destination's own rows, which must survive every fault unchanged.
const DEST_ROWS: &str = "
INSERT INTO categories (user_id, slug) SELECT 'u0', 'c' || g FROM generate_series(1, 10) g;
INSERT INTO products (user_id, slug, price, category_id)
    SELECT 'u0', 'p' || g, g / 100.0, 1 + g % 10 FROM generate_series(1, 100) g;";

const SOURCE_ROWS: &str = "
INSERT INTO categories (user_id, slug) SELECT 'u1', 'c' || g FROM generate_series(1, 2000) g;
INSERT INTO products (user_id, slug, price, category_id)
    SELECT 'u1', 'p' || g, g / 100.0, 1 + g % 2000 FROM generate_series(1, 20000) g;";

const SOURCE_DB: &str = "source";
const WATCHED: [&str; 2] = ["categories", "products"];

fn schema() -> BackupSchema {
    BackupSchema::new(vec![
        TableDef::new("categories"),
        TableDef::new("products").parent("categories", "category_id"),
    ])
}

/// The private cluster with the destination [`DB`] and a source database, and adapters on both.
async fn two_databases() -> (dba_testkit::Cluster, PostgresAdapter, PostgresAdapter) {
    let (cluster, dest) = lab(&format!("{TABLES}{DEST_ROWS}")).await;
    let url = cluster.create_database(SOURCE_DB).await;
    cluster
        .client(SOURCE_DB)
        .await
        .batch_execute(&format!("{TABLES}{SOURCE_ROWS}"))
        .await
        .unwrap();
    let source = PostgresAdapter::new(&url, PostgresOptions::default()).unwrap();
    (cluster, source, dest)
}

/// Rows written per table, as the progress callback reported them.
#[derive(Default)]
struct Written(Mutex<Vec<(String, u64)>>);

impl Written {
    fn record(&self, u: &ProgressUpdate<'_>) {
        if u.phase == Phase::Restore {
            self.0.lock().unwrap().push((u.table.to_owned(), u.done));
        }
    }

    fn most(&self, table: &str) -> u64 {
        let seen = self.0.lock().unwrap();
        seen.iter()
            .filter(|(t, _)| t == table)
            .map(|(_, n)| *n)
            .max()
            .unwrap_or(0)
    }
}

async fn restore_survives(fault: Fault) {
    let (cluster, source, dest) = two_databases().await;
    let file = std::env::temp_dir().join(format!(
        "dba-faults-restore-{}-{fault:?}.json",
        std::process::id()
    ));
    backup(
        &source,
        &schema(),
        &file,
        &BackupOptions::default(),
        &dba::backup::NoProgress,
    )
    .await
    .unwrap();
    let before = checksums(&cluster, DB, &WATCHED).await;

    let tables = schema();
    let written = Written::default();
    let progress = |u: &ProgressUpdate<'_>| written.record(u);
    let holder = hold(&cluster, DB, "LOCK TABLE products IN SHARE MODE").await;
    let options = RestoreOptions::default();
    let (result, ()) = tokio::join!(
        restore(&dest, &tables, &file, &options, &progress),
        inject(&cluster, DB, fault, holder)
    );
    // The fault came in the middle: every category was written (uncommitted), no product.
    assert_eq!(
        (written.most("categories"), written.most("products")),
        (2000, 0)
    );
    let err = result.expect_err("the restore must fail when its session ends");
    let dba::backup::BackupError::Database(source_err) = &err else {
        panic!("expected a database error, got {err:?}");
    };
    assert_connection_lost(source_err);
    // The very next call on the same adapter works (its pool was full of connections the fault killed).
    assert_eq!(count(&dest, "products").await, 100);
    assert_eq!(checksums(&cluster, DB, &WATCHED).await, before);

    // And it restores the whole file.
    let summary = restore(&dest, &schema(), &file, &options, &dba::backup::NoProgress)
        .await
        .unwrap();
    assert_eq!(summary.table("products").unwrap().inserted, 20_000);
    assert_eq!(count(&dest, "categories").await, 2010);
    assert_eq!(count(&dest, "products").await, 20_100);
    assert_pool_sane(&dest);
    let _ = std::fs::remove_file(&file);
}

async fn sync_survives(fault: Fault) {
    let (cluster, source, dest) = two_databases().await;
    let before = checksums(&cluster, DB, &WATCHED).await;
    let tables = schema();
    let written = Written::default();
    let progress = |u: &ProgressUpdate<'_>| written.record(u);
    let options = SyncOptions::default();
    let holder = hold(&cluster, DB, "LOCK TABLE products IN SHARE MODE").await;
    let (result, ()) = tokio::join!(
        sync(&source, &dest, &tables, &options, &progress),
        inject(&cluster, DB, fault, holder)
    );
    assert_eq!(
        (written.most("categories"), written.most("products")),
        (2000, 0)
    );
    assert!(!result.success, "{result:?}");
    assert_eq!(result.synced_count, 0, "{result:?}");
    let [error] = result.errors.as_slice() else {
        panic!("expected one error: {result:?}");
    };
    assert!(error.starts_with("Sync failed: "), "{error}");
    assert!(
        !error.contains(" row "),
        "a lost connection is no row's fault: {error}"
    );
    assert!(
        error.contains("terminating connection due to administrator command")
            || error.contains("the connection to the server was closed"),
        "unclear error: {error}"
    );
    // The very next calls on the same adapters work.
    assert_eq!(count(&dest, "products").await, 100);
    assert_eq!(count(&source, "products").await, 20_000);
    assert_eq!(checksums(&cluster, DB, &WATCHED).await, before);

    // And they sync everything.
    let result = sync(
        &source,
        &dest,
        &schema(),
        &options,
        &dba::backup::NoProgress,
    )
    .await;
    assert!(result.success, "{result:?}");
    assert_eq!(result.synced_count, 22_000);
    assert_eq!(count(&dest, "products").await, 20_100);
    assert_pool_sane(&source);
    assert_pool_sane(&dest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_with_its_session_terminated() {
    restore_survives(Fault::Terminate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_with_the_server_restarted() {
    restore_survives(Fault::Restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_with_its_session_terminated() {
    sync_survives(Fault::Terminate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_with_the_server_restarted() {
    sync_survives(Fault::Restart).await;
}
