//! Live tests of the PostgreSQL backend: each test gets its own database from dba-testkit.
#![expect(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test with its location"
)]

mod copy;
mod crud;
mod errors;
mod injection;
mod load;
mod pipeline;
mod pooler;
mod replica;
mod schemas;
mod tls;
mod transactions;
mod types;

use std::path::{Path, PathBuf};

use dba_core::{Row, Value};
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

/// `r` without its `id` (which differs between two inserts of the same row).
fn without_id(mut r: Row) -> Row {
    r.shift_remove("id");
    r
}

fn row(value: Value) -> Row {
    value.as_object().cloned().expect("a JSON object")
}
