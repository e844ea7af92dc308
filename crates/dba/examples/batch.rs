//! Batch writes: `insert_many` and `upsert_many` of many rows, atomic, without a parameter limit.
//!
//! Run: `DATABASE_URL=postgresql://postgres@127.0.0.1/postgres cargo run -p dba --example batch`
//!
//! Works in a scratch database it creates and drops.
#![expect(clippy::print_stdout, reason = "an example shows its results")]

mod common;

use std::time::Instant;

use dba::{DatabaseClient, Filter, Query, Row, json};

fn reading(sensor: u32, value: f64) -> Row {
    json!({"sensor": format!("s-{sensor:05}"), "value": value, "note": "first"})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> Result<(), dba::Error> {
    let db = common::create("dba_example_batch").await?;
    db.execute(
        "CREATE TABLE readings (id bigserial PRIMARY KEY, sensor text UNIQUE NOT NULL, value float8, note text)",
        &[],
    )
    .await?;

    // 50,000 rows: one statement per 10,000 rows, all in one transaction. `false`: return no rows.
    let rows: Vec<Row> = (0..50_000)
        .map(|i| reading(i, f64::from(i) / 10.0))
        .collect();
    let started = Instant::now();
    db.insert_many("readings", &rows, false).await?;
    println!(
        "inserted {} rows in {:?}",
        db.count("readings", &Filter::new()).await?,
        started.elapsed()
    );

    // Upsert on the unique `sensor` column: the first 1,000 exist and are updated, 1,000 are new.
    let changes: Vec<Row> = (49_000..51_000)
        .map(|i| {
            let mut row = reading(i, -1.0);
            row.insert("note".into(), json!("upserted"));
            row
        })
        .collect();
    let returned = db.upsert_many("readings", &changes, "sensor", true).await?;
    println!(
        "upserted {} rows; the last one: {}",
        returned.len(),
        dba::Value::from(returned.last().cloned())
    );

    let total = db.count("readings", &Filter::new()).await?;
    let upserted = db
        .count("readings", &Filter::new().eq("note", "upserted"))
        .await?;
    println!("now {total} rows, {upserted} of them upserted");

    // A batch is atomic: one bad row (a duplicate sensor) and nothing of the batch is written.
    let bad = vec![
        reading(60_000, 1.0),
        reading(60_001, 1.0),
        reading(60_000, 2.0),
    ];
    let err = db
        .insert_many("readings", &bad, false)
        .await
        .expect_err("duplicate sensor");
    println!(
        "bad batch refused ({:?}); rows still {}",
        err.kind(),
        db.count("readings", &Filter::new()).await?
    );

    let top = db
        .select(
            "readings",
            &Query::new()
                .columns("sensor, value")
                .order_by("value DESC")
                .limit(3),
        )
        .await?;
    println!("top 3 by value: {}", dba::Value::from(top));

    common::drop(db, "dba_example_batch").await
}
