//! Live tests of backup, restore and sync: each test gets its own databases from dba-testkit.
#![expect(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test with its location"
)]

mod backup_restore;
mod composite;
mod failures;
mod keyed;
mod memory;
mod partitioned;
mod python_files;
mod schemas;
mod single_pass;
mod snapshot;
mod sync;
mod unique_index;

use std::path::{Path, PathBuf};

use dba_backup::{BackupSchema, TableDef};
use dba_core::{DatabaseClient, Value};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::TestDb;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fresh database with `fixtures` applied, and an adapter on it.
async fn setup(test_path: &str, names: &[&str]) -> (TestDb, PostgresAdapter) {
    let db = TestDb::with_fixtures(test_path, &fixtures(), names).await;
    let adapter = PostgresAdapter::new(db.url(), PostgresOptions::default()).unwrap();
    (db, adapter)
}

/// The shop's backup schema, as the original's JSON would describe it.
fn shop_schema() -> BackupSchema {
    BackupSchema::new(vec![
        TableDef::new("categories"),
        TableDef::new("products").parent("categories", "category_id"),
        TableDef::new("reviews")
            .parent("products", "product_id")
            .optional_ref("categories", "featured_category_id"),
    ])
}

/// A scratch directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dba-backup-live-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The md5 of a table's contents, to prove a database did not change.
async fn checksum(db: &dyn DatabaseClient, table: &str) -> String {
    let sql = format!(
        "SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS sum FROM {table} t"
    );
    let rows = db.query(&sql, &[]).await.unwrap();
    rows[0]["sum"].as_str().unwrap().to_owned()
}

async fn checksums(db: &dyn DatabaseClient) -> Vec<String> {
    let mut out = Vec::new();
    for t in ["categories", "products", "reviews"] {
        out.push(checksum(db, t).await);
    }
    out
}

/// One scalar from a query.
async fn scalar(db: &dyn DatabaseClient, sql: &str) -> Value {
    let rows = db.query(sql, &[]).await.unwrap();
    rows[0].values().next().cloned().unwrap()
}

/// Every product of u1 with its category's slug and each typed column as PostgreSQL prints it.
async fn product_texts(db: &dyn DatabaseClient) -> Vec<Value> {
    let rows = db
        .query(
            "SELECT p.slug, c.slug AS category, p.price::text, p.tags::text, p.meta::text, p.data::text, \
             p.uid::text, p.feeling::text, p.span::text, p.made_at::text, p.day::text \
             FROM products p JOIN categories c ON c.id = p.category_id WHERE p.user_id = 'u1' ORDER BY p.slug",
            &[],
        )
        .await
        .unwrap();
    rows.into_iter().map(Value::Object).collect()
}
