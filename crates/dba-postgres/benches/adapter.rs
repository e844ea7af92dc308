//! dba's PostgresAdapter beside raw tokio-postgres running the same SQL and decoding the same JSON, and
//! insert-many beside binary `COPY FROM STDIN`. Run with `cargo bench -p dba-postgres --bench adapter`
//! (`-- --quick` for a short run). Prints a Markdown table and writes it to `target/dba-bench/adapter.md`.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dba_core::{DatabaseClient, Filter, Query, Row, json};
use dba_postgres::{PostgresAdapter, PostgresOptions, StatementMode};
use dba_testkit::TestDb;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, NoTls};

const SETUP: &str = "
CREATE TABLE bench (id bigserial PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags text[],
                    meta jsonb, created_at timestamptz NOT NULL DEFAULT now());
INSERT INTO bench (name, price, tags, meta)
SELECT 'item ' || g, g % 1000, ARRAY['a', 'b'], jsonb_build_object('g', g) FROM generate_series(1, 10000) g;
CREATE TABLE many (id bigserial PRIMARY KEY, name text NOT NULL, qty int4 NOT NULL, price float8);";

const SELECT_SQL: &str = "SELECT row_to_json(\"_dba_r\")::text FROM (SELECT * FROM \"bench\" WHERE \"id\" = $1) \"_dba_r\"";
const INSERT_SQL: &str = "INSERT INTO \"bench\" AS \"_dba_t\" (\"name\", \"price\") SELECT \"name\", \"price\" \
     FROM json_populate_recordset(NULL::\"bench\", $1::json) RETURNING row_to_json(\"_dba_t\")::text";
const UPDATE_SQL: &str = "UPDATE \"bench\" AS \"_dba_t\" SET (\"price\") = (SELECT \"price\" FROM \
     json_populate_record(NULL::\"bench\", $1::json)) WHERE \"id\" = $2 RETURNING row_to_json(\"_dba_t\")::text";

/// Calls a connection carries at once in the pipelined 16-task case (`PostgresOptions::pipeline_depth`).
const PIPELINE_DEPTH: usize = 8;

struct Case {
    name: &'static str,
    dba: Duration,
    reference: Duration,
    reference_name: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    /// The target ratio: at most this for latencies, at least this for throughput.
    limit: f64,
    /// The ratio to judge by when it is not that of the two medians: the median of the ratios of runs
    /// made one right after the other (a shift of the shared machine's speed between runs then moves
    /// both sides of a ratio alike).
    paired: Option<f64>,
}

impl Case {
    /// The target as the table shows it.
    fn target(&self) -> String {
        let sign = if self.higher_is_better { "≥" } else { "≤" };
        format!("{sign} {}×", self.limit)
    }

    /// Whether `ratio` (dba against the reference), as the table shows it (two decimals), meets the
    /// target.
    fn met(&self, ratio: f64) -> bool {
        let ratio = (ratio * 100.0).round() / 100.0;
        if self.higher_is_better {
            ratio >= self.limit
        } else {
            ratio <= self.limit
        }
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Binary `COPY FROM STDIN` of the insert-many case's rows, built in the loop.
async fn copy_run(raw: &Client, many_rows: i32) {
    let sink = raw
        .copy_in("COPY many (name, qty, price) FROM STDIN (FORMAT binary)")
        .await
        .unwrap();
    let mut writer = pin!(BinaryCopyInWriter::new(
        sink,
        &[Type::TEXT, Type::INT4, Type::FLOAT8]
    ));
    for i in 0..many_rows {
        let name = format!("row {i}");
        let qty = i;
        let price = f64::from(i) * 0.5;
        writer.as_mut().write(&[&name, &qty, &price]).await.unwrap();
    }
    writer.finish().await.unwrap();
}

fn median_f64(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn decode(text: &str) -> Row {
    serde_json::from_str(text).unwrap()
}

async fn raw_client(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// Latencies of `n` sequential calls of `op`.
async fn latency<F, Fut>(n: usize, mut op: F) -> Vec<Duration>
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        op(1 + (i as i64 * 7919) % 10_000).await;
        samples.push(start.elapsed());
    }
    samples
}

/// Median latencies of `a` and `b`, measured in alternating rounds so drift on a busy machine hits both
/// sides alike.
async fn interleaved<A, FA, B, FB>(n: usize, mut a: A, mut b: B) -> (Duration, Duration)
where
    A: FnMut(i64) -> FA,
    FA: Future<Output = ()>,
    B: FnMut(i64) -> FB,
    FB: Future<Output = ()>,
{
    const ROUNDS: usize = 10;
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        sa.extend(latency(n / ROUNDS, &mut a).await);
        sb.extend(latency(n / ROUNDS, &mut b).await);
    }
    (median(sa), median(sb))
}

/// Wall time for `tasks` concurrent tasks each running `per_task` calls.
async fn throughput<F, Fut>(tasks: usize, per_task: usize, op: F) -> Duration
where
    F: Fn(usize, i64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let op = op.clone();
            tokio::spawn(async move {
                for i in 0..per_task {
                    op(t, 1 + ((t * per_task + i) as i64 * 7919) % 10_000).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    start.elapsed()
}

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let n = if quick { 500 } else { 5_000 };
    let many_rows: i32 = if quick { 20_000 } else { 100_000 };
    let db = TestDb::create("dba_postgres::benches::adapter").await;
    db.client().await.batch_execute(SETUP).await.unwrap();
    // Both sides over the same transport: plaintext on loopback (the raw client uses NoTls).
    let url = format!(
        "{}{}sslmode=disable",
        db.url(),
        if db.url().contains('?') { "&" } else { "?" }
    );
    let mut options = PostgresOptions::default();
    options.pool_size = 16;
    let dba = PostgresAdapter::new(&url, options).unwrap();
    assert_eq!(dba.statement_mode(), StatementMode::Cached);
    dba.test_connection().await.unwrap();
    let raw = raw_client(&url).await;
    let mut cases = Vec::new();

    // Select by primary key.
    let select = raw.prepare(SELECT_SQL).await.unwrap();
    for _ in 0..2 {
        // Warm both paths (statement caches, buffers) before measuring.
        latency(200, |id| {
            let dba = &dba;
            async move {
                dba.select("bench", &Query::new().filter(Filter::new().eq("id", id)))
                    .await
                    .unwrap();
            }
        })
        .await;
        latency(200, |id| {
            let (raw, st) = (&raw, &select);
            async move {
                let rows = raw.query(st, &[&id]).await.unwrap();
                let _: Vec<Row> = rows.iter().map(|r| decode(r.get(0))).collect();
            }
        })
        .await;
    }
    let (d, r) = interleaved(
        n,
        |id| {
            let dba = &dba;
            async move {
                dba.select("bench", &Query::new().filter(Filter::new().eq("id", id)))
                    .await
                    .unwrap();
            }
        },
        |id| {
            let (raw, st) = (&raw, &select);
            async move {
                let rows = raw.query(st, &[&id]).await.unwrap();
                let _: Vec<Row> = rows.iter().map(|r| decode(r.get(0))).collect();
            }
        },
    )
    .await;
    cases.push(Case {
        name: "select by primary key, p50",
        dba: d,
        reference: r,
        reference_name: "tokio-postgres, same SQL",
        unit: "µs",
        higher_is_better: false,
        limit: 1.15,
        paired: None,
    });

    // Single insert.
    // The raw client binds natively: the id as int8, the JSON body as text.
    let insert = raw.prepare_typed(INSERT_SQL, &[Type::TEXT]).await.unwrap();
    let (d, r) = interleaved(
        n,
        |id| {
            let dba = &dba;
            async move {
                dba.insert(
                    "bench",
                    &json!({"name": format!("n{id}"), "price": 1.5})
                        .as_object()
                        .cloned()
                        .unwrap(),
                )
                .await
                .unwrap();
            }
        },
        |id| {
            let (raw, st) = (&raw, &insert);
            async move {
                let body = format!("[{}]", json!({"name": format!("n{id}"), "price": 1.5}));
                let rows = raw.query(st, &[&body]).await.unwrap();
                let _ = decode(rows[0].get(0));
            }
        },
    )
    .await;
    cases.push(Case {
        name: "single insert, p50",
        dba: d,
        reference: r,
        reference_name: "tokio-postgres, same SQL",
        unit: "µs",
        higher_is_better: false,
        limit: 1.15,
        paired: None,
    });

    // Update by key.
    let update = raw
        .prepare_typed(UPDATE_SQL, &[Type::TEXT, Type::INT8])
        .await
        .unwrap();
    let (d, r) = interleaved(
        n,
        |id| {
            let dba = &dba;
            async move {
                dba.update(
                    "bench",
                    &json!({"price": 2.5}).as_object().cloned().unwrap(),
                    &Filter::new().eq("id", id),
                )
                .await
                .unwrap();
            }
        },
        |id| {
            let (raw, st) = (&raw, &update);
            async move {
                let body = json!({"price": 2.5}).to_string();
                let rows = raw.query(st, &[&body, &id]).await.unwrap();
                let _: Vec<Row> = rows.iter().map(|r| decode(r.get(0))).collect();
            }
        },
    )
    .await;
    cases.push(Case {
        name: "update by key, p50",
        dba: d,
        reference: r,
        reference_name: "tokio-postgres, same SQL",
        unit: "µs",
        higher_is_better: false,
        limit: 1.15,
        paired: None,
    });

    // Throughput: 16 tasks selecting by key; dba on a 16-connection pool (each call with a connection of
    // its own, the default, and pipelined eight calls to a connection), raw on 16 clients. Every side opens
    // its connections before the clock starts. Seven rounds each, the order turned every round so drift
    // on a shared machine hits every side; the medians are compared.
    let per_task = n / 8;
    let mut piped_options = PostgresOptions::default();
    piped_options.pool_size = 16;
    piped_options.pipeline_depth = PIPELINE_DEPTH;
    let piped = PostgresAdapter::new(&url, piped_options).unwrap();
    for side in [&dba, &piped] {
        let warm = side.clone();
        throughput(16, 20, move |_, id| {
            let dba = warm.clone();
            async move {
                dba.select("bench", &Query::new().filter(Filter::new().eq("id", id)))
                    .await
                    .unwrap();
            }
        })
        .await;
    }
    let mut raws = Vec::new();
    for _ in 0..16 {
        let c = raw_client(&url).await;
        let st = c.prepare(SELECT_SQL).await.unwrap();
        raws.push(Arc::new((c, st)));
    }
    let raws = Arc::new(raws);
    let mut rounds: [Vec<Duration>; 3] = Default::default();
    for round in 0..7 {
        for turn in 0..3 {
            let side = (round + turn) % 3;
            let took = if side == 2 {
                let raws = raws.clone();
                throughput(16, per_task, move |t, id| {
                    let pair = raws[t].clone();
                    async move {
                        let rows = pair.0.query(&pair.1, &[&id]).await.unwrap();
                        let _: Vec<Row> = rows.iter().map(|r| decode(r.get(0))).collect();
                    }
                })
                .await
            } else {
                let shared = if side == 0 {
                    dba.clone()
                } else {
                    piped.clone()
                };
                throughput(16, per_task, move |_, id| {
                    let dba = shared.clone();
                    async move {
                        dba.select("bench", &Query::new().filter(Filter::new().eq("id", id)))
                            .await
                            .unwrap();
                    }
                })
                .await
            };
            rounds[side].push(took);
        }
    }
    let [own, pipelined, raw_rounds] = rounds;
    let r = median(raw_rounds);
    // Report throughput as calls per second (higher is better).
    let calls = (16 * per_task) as f64;
    for (name, rounds) in [
        ("select by key, 16 tasks, calls/s", own),
        (
            "select by key, 16 tasks pipelined (8 a connection), calls/s",
            pipelined,
        ),
    ] {
        let d = median(rounds);
        cases.push(Case {
            name,
            dba: Duration::from_secs_f64(calls / d.as_secs_f64()),
            reference: Duration::from_secs_f64(calls / r.as_secs_f64()),
            reference_name: "16 tokio-postgres clients",
            unit: "calls/s",
            higher_is_better: true,
            limit: 0.95,
            paired: None,
        });
    }
    piped.close().await;

    // Insert many vs binary COPY FROM STDIN of the same rows.
    let rows: Vec<Row> = (0..many_rows)
        .map(|i| {
            json!({"name": format!("row {i}"), "qty": i, "price": f64::from(i) * 0.5})
                .as_object()
                .cloned()
                .unwrap()
        })
        .collect();
    let mut dba_runs = Vec::new();
    let mut copy_runs = Vec::new();
    // Ten runs a side (a run takes about 0.15 s, and on a shared machine one run of the same rows took
    // from 127 to 239 ms within seconds), the order turned every run.
    let mut pair_ratios = Vec::new();
    let mut pair = [Duration::ZERO; 2];
    for run in 0..20 {
        raw.batch_execute("TRUNCATE many").await.unwrap();
        let start = Instant::now();
        if (run % 2 == 0) == (run / 2 % 2 == 0) {
            dba.insert_many("many", &rows, false).await.unwrap();
            dba_runs.push(start.elapsed());
            pair[0] = start.elapsed();
        } else {
            copy_run(&raw, many_rows).await;
            copy_runs.push(start.elapsed());
            pair[1] = start.elapsed();
        }
        if run % 2 == 1 {
            // Rows per second, dba's against the reference's: the reference's time over dba's.
            pair_ratios.push(pair[1].as_secs_f64() / pair[0].as_secs_f64());
        }
    }
    let d = median(dba_runs);
    let r = median(copy_runs);
    cases.push(Case {
        name: "insert many, rows/s (ratio: median of adjacent pairs)",
        dba: Duration::from_secs_f64(f64::from(many_rows) / d.as_secs_f64()),
        reference: Duration::from_secs_f64(f64::from(many_rows) / r.as_secs_f64()),
        reference_name: "binary COPY FROM STDIN",
        unit: "rows/s",
        higher_is_better: true,
        limit: 0.95,
        paired: Some(median_f64(pair_ratios)),
    });

    let mut out = String::new();
    out.push_str(&format!(
        "{} calls per latency case, {many_rows} rows for insert many (`--quick`: {quick})\n\n",
        n
    ));
    out.push_str("| case | dba | reference | ratio | target | |\n|---|---:|---:|---:|---|---|\n");
    for c in &cases {
        let (dv, rv) = if c.higher_is_better {
            (c.dba.as_secs_f64(), c.reference.as_secs_f64())
        } else {
            (c.dba.as_secs_f64() * 1e6, c.reference.as_secs_f64() * 1e6)
        };
        let ratio = c.paired.unwrap_or(dv / rv);
        out.push_str(&format!(
            "| {} | {dv:.0} {} | {rv:.0} {} ({}) | {ratio:.2}× | {} | {} |\n",
            c.name,
            c.unit,
            c.unit,
            c.reference_name,
            c.target(),
            if c.met(ratio) { "met" } else { "**missed**" }
        ));
    }
    println!("{out}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dba-bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("adapter.md"), out).unwrap();
    dba.close().await;
    db.drop_db().await;
}
