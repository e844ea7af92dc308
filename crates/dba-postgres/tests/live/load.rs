//! Load: 64 concurrent tasks × 5,000 mixed operations on one adapter with a pool of 10. No operation may
//! fail, no connection may leak (checked in pg_stat_activity), and memory must stay bounded.
//!
//! `DBA_LOAD_OPS_PER_TASK` scales the operations per task (default 5,000, the number); the long
//! run is `cargo xtask soak`, which runs the same workload for minutes.

#[path = "../../examples/soak/workload.rs"]
#[allow(
    dead_code,
    reason = "shared with the soak example, which uses all of it"
)]
mod workload;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dba_core::{DatabaseClient, Filter};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::{TestDb, admin_url, test_path};

use workload::{Budget, Stats};

const TASKS: usize = 64;
const POOL: usize = 10;
const DEFAULT_OPS_PER_TASK: u64 = 5_000;
/// Generous: the workload holds no more than a few rows per task.
const MAX_RSS_GROWTH: u64 = 200 * 1024 * 1024;

fn ops_per_task() -> u64 {
    std::env::var("DBA_LOAD_OPS_PER_TASK")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_OPS_PER_TASK)
}

#[tokio::test(flavor = "multi_thread")]
async fn many_tasks_share_a_small_pool_without_errors_leaks_or_growth() {
    load(test_path!("load"), 1, ops_per_task()).await;
}

/// The same workload with pipelined calls (eight to a connection): the selects, counts, updates,
/// deletes and single inserts share connections while the transactions and batches take their own,
/// and the pool runs full, so calls crowd the lanes open.
#[tokio::test(flavor = "multi_thread")]
async fn many_tasks_pipelined_on_a_small_pool_without_errors_or_leaks() {
    load(test_path!("load_pipelined"), 8, ops_per_task() / 5).await;
}

async fn load(test_path: &str, pipeline_depth: usize, per_task: u64) {
    let db = TestDb::create(test_path).await;
    // The pool and the client are under test, not the disk: commits need not wait for the WAL flush.
    let setup = format!(
        "ALTER DATABASE {} SET synchronous_commit = off; {}",
        db.name(),
        workload::SETUP_SQL
    );
    db.client().await.batch_execute(&setup).await.unwrap();
    let mut options = PostgresOptions::default();
    options.pool_size = POOL;
    options.pipeline_depth = pipeline_depth;
    let adapter = PostgresAdapter::new(db.url(), options).unwrap();
    // Watches pg_stat_activity from the admin database, so it is not counted itself.
    let observer = PostgresAdapter::new(&admin_url(), PostgresOptions::default()).unwrap();
    let seeded = adapter.count("load_items", &Filter::new()).await.unwrap();

    let baseline = workload::rss_bytes();
    let peak = Arc::new(std::sync::atomic::AtomicU64::new(baseline));
    let sampler = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                peak.fetch_max(workload::rss_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    workload::run(&adapter, TASKS, Budget::Ops(per_task), &stats).await;
    let elapsed = started.elapsed();
    sampler.abort();
    peak.fetch_max(workload::rss_bytes(), Ordering::Relaxed);

    let ops = stats.ops.load(Ordering::Relaxed);
    let errors = stats.errors.load(Ordering::Relaxed);
    eprintln!(
        "load: {ops} operations in {elapsed:.1?} ({:.0}/s), {errors} errors, RSS {} -> peak {} MiB",
        ops as f64 / elapsed.as_secs_f64(),
        baseline / (1 << 20),
        peak.load(Ordering::Relaxed) / (1 << 20)
    );
    assert_eq!(errors, 0, "{:?}", stats.first_errors.lock().unwrap());
    // Each task's operations, plus its final clean-up delete when it still held rows.
    assert!(ops >= TASKS as u64 * per_task, "{ops}");

    // No leaked connections: at most the pool, every one idle.
    let status = adapter.pool_status();
    assert!(status.size <= POOL, "{status:?}");
    assert_eq!(status.available, status.size, "{status:?}");
    assert_eq!(status.lanes, 0, "every lane drained: {status:?}");
    // Pipelined, the calls of one statement shared connections; without, none did.
    if pipeline_depth > 1 {
        assert!(
            status.shared_calls > 0,
            "no call shared a connection: {status:?}"
        );
    } else {
        assert_eq!(status.shared_calls, 0, "{status:?}");
    }
    let (open, idle) = workload::sessions(&observer, db.name()).await.unwrap();
    assert!(
        open <= POOL as u64,
        "{open} sessions open on a pool of {POOL}"
    );
    assert_eq!(open, idle, "every pooled session must be idle");
    // The workload removes what it inserted: the table is as seeded.
    assert_eq!(
        adapter.count("load_items", &Filter::new()).await.unwrap(),
        seeded
    );

    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    assert!(
        growth < MAX_RSS_GROWTH,
        "resident memory grew by {} MiB",
        growth / (1 << 20)
    );
    adapter.close().await;
    observer.close().await;
    db.drop_db().await;
}

/// A caller that finds every pooled connection busy waits for one to be freed (within the wait timeout)
/// instead of failing: a checkout first takes a free connection without waiting, and only then waits.
#[tokio::test(flavor = "multi_thread")]
async fn a_caller_waits_for_a_busy_pool_to_free_a_connection() {
    let db = TestDb::create(test_path!("busy_pool")).await;
    let mut options = PostgresOptions::default();
    options.pool_size = 1;
    let adapter = PostgresAdapter::new(db.url(), options).unwrap();
    let tx = adapter.begin().await.unwrap();
    let other = adapter.clone();
    let waiting = tokio::spawn(async move { other.query("SELECT 1 AS one", &[]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the pool's one connection is busy");
    assert_eq!(adapter.pool_status().waiting, 1);
    tx.commit().await.unwrap();
    let rows = waiting.await.unwrap().unwrap();
    assert_eq!(rows[0]["one"], 1);
    adapter.close().await;
    db.drop_db().await;
}
