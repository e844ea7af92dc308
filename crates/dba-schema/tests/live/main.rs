//! Live tests of dba-schema: each test gets its own database from dba-testkit.
#![expect(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test with its location"
)]

mod counting;
mod fix;
mod introspection;
mod partitions;
mod schemas;
mod views;

use std::path::{Path, PathBuf};

use dba_core::DatabaseClient;
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::TestDb;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(format!("{name}.sql"))).unwrap()
}

/// A fresh database with `fixtures` applied, and an adapter on it.
async fn setup(test_path: &str, names: &[&str]) -> (TestDb, PostgresAdapter) {
    let db = TestDb::with_fixtures(test_path, &fixtures(), names).await;
    let adapter = PostgresAdapter::new(db.url(), PostgresOptions::default()).unwrap();
    (db, adapter)
}

/// A checksum of every row of `table`, to prove a failed fix changed nothing.
async fn checksum(client: &dyn DatabaseClient, table: &str) -> String {
    let sql = format!(
        "SELECT count(*)::text || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') AS sum \
         FROM {table} t"
    );
    let rows = client.query(&sql, &[]).await.unwrap();
    rows[0]["sum"].as_str().unwrap().to_owned()
}
