//! Introspection of 1,000 tables × 20 columns beside `pg_dump --schema-only` of the same database.
//! Run with `cargo bench -p dba-schema --bench introspect` (`-- --quick` for 200 tables). Prints a Markdown
//! table and writes it to `target/dba-bench/introspect.md`.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use dba_core::DatabaseClient;
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_schema::{IntrospectOptions, introspect};
use dba_testkit::TestDb;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// `pg_dump` from PATH, else from `pg_config --bindir`.
fn pg_dump() -> String {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .map(|o| format!("{}/pg_dump", String::from_utf8_lossy(&o.stdout).trim()));
    match from_pg_config {
        Some(path) if std::path::Path::new(&path).exists() => path,
        _ => "pg_dump".to_owned(),
    }
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let tables = if quick { 200 } else { 1_000 };
    let db = TestDb::create("dba_schema::benches::introspect").await;
    let admin = db.client().await;
    // Each table: a primary key, 19 more columns of mixed types, a foreign key to the previous table, a
    // unique constraint, a check and an index — what a real schema holds.
    for chunk in (0..tables).collect::<Vec<_>>().chunks(100) {
        let mut sql = String::new();
        for &t in chunk {
            let _ = write!(sql, "CREATE TABLE t{t} (id bigserial PRIMARY KEY");
            if t > 0 {
                let _ = write!(sql, ", parent_id bigint REFERENCES t{} (id)", t - 1);
            } else {
                sql.push_str(", parent_id bigint");
            }
            for c in 0..18 {
                let (ty, default) = [
                    ("text", "'x'"),
                    ("integer", "0"),
                    ("numeric(12,2)", "0"),
                    ("timestamptz", "now()"),
                    ("boolean", "false"),
                    ("jsonb", "'{}'"),
                ][c % 6];
                if c % 5 == 0 {
                    let _ = write!(sql, ", c{c} {ty} NOT NULL DEFAULT {default}");
                } else {
                    let _ = write!(sql, ", c{c} {ty}");
                }
            }
            let _ = write!(
                sql,
                ", UNIQUE (c0, c1), CHECK (c1 > 0)); CREATE INDEX ON t{t} (c3);"
            );
        }
        admin.batch_execute(&sql).await.unwrap();
    }
    let url = format!(
        "{}{}sslmode=disable",
        db.url(),
        if db.url().contains('?') { "&" } else { "?" }
    );
    let pg = PostgresAdapter::new(&url, PostgresOptions::default()).unwrap();
    pg.test_connection().await.unwrap();
    let options = IntrospectOptions::default();
    let catalog = introspect(&pg, &options).await.unwrap();
    assert_eq!(catalog.tables.len(), tables);

    let pg_dump = pg_dump();
    let (mut dba_runs, mut dump_runs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let start = Instant::now();
        let catalog = introspect(&pg, &options).await.unwrap();
        dba_runs.push(start.elapsed());
        assert_eq!(catalog.tables.len(), tables);
        let start = Instant::now();
        let out = Command::new(&pg_dump)
            .args(["--schema-only", "-d", &url, "-f", "/dev/null"])
            .output()
            .unwrap();
        dump_runs.push(start.elapsed());
        assert!(
            out.status.success(),
            "pg_dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (d, r) = (median(dba_runs), median(dump_runs));
    let out = format!(
        "{tables} tables × 20 columns (primary key, foreign key, unique, check, index each), median of 5\n\n\
         | case | dba | reference | ratio | target |\n|---|---:|---:|---:|---|\n\
         | introspect (9 catalog queries) | {:.0} ms | {:.0} ms (`pg_dump --schema-only`) | {:.2}× | ≤ 1× |\n",
        d.as_secs_f64() * 1e3,
        r.as_secs_f64() * 1e3,
        d.as_secs_f64() / r.as_secs_f64()
    );
    println!("{out}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dba-bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("introspect.md"), out).unwrap();
    pg.close().await;
    db.drop_db().await;
}
