//! Soak: the load test's mixed workload (64 tasks on one adapter with a pool of 10) for a fixed time,
//! sampling memory and the adapter's sessions in pg_stat_activity every second. Stops by itself.
//!
//! Run it with `cargo xtask soak [--minutes N]` (default 2), which finds or starts a PostgreSQL. By hand:
//! `DBA_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres DBA_SOAK_SECONDS=60 cargo run -p
//! dba-postgres --example soak`. It works in a scratch database `dba_soak` that it creates and drops, and
//! exits non-zero when an operation failed, a connection leaked or the pool was exceeded.
#![expect(clippy::print_stdout, reason = "an example reports on stdout")]

#[allow(
    dead_code,
    reason = "shared with the load test, which counts operations instead"
)]
mod workload;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use dba_core::{DatabaseClient, Filter};
use dba_postgres::{PostgresAdapter, PostgresOptions};

use workload::{Budget, Stats};

const TASKS: usize = 64;
const POOL: usize = 10;
const DB: &str = "dba_soak";

#[tokio::main]
async fn main() -> ExitCode {
    match soak().await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The admin URL with its database replaced by `db`.
fn with_database(admin: &str, db: &str) -> String {
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn soak() -> dba_core::Result<bool> {
    let seconds: u64 = std::env::var("DBA_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let admin_url = std::env::var("DBA_TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgresql://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = PostgresAdapter::connect(&admin_url).await?;
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"), &[])
        .await?;
    admin.execute(&format!("CREATE DATABASE {DB}"), &[]).await?;
    let mut options = PostgresOptions::default();
    options.pool_size = POOL;
    let adapter = PostgresAdapter::new(&with_database(&admin_url, DB), options)?;
    adapter.execute(workload::SETUP_SQL, &[]).await?;
    let seeded = adapter.count("load_items", &Filter::new()).await?;

    println!("soak: {TASKS} tasks on a pool of {POOL} for {seconds} s");
    let stats = Arc::new(Stats::default());
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let baseline = workload::rss_bytes();
    let work = {
        let adapter = adapter.clone();
        let stats = Arc::clone(&stats);
        tokio::spawn(
            async move { workload::run(&adapter, TASKS, Budget::Until(end), &stats).await },
        )
    };
    let (mut peak_rss, mut peak_sessions) = (baseline, 0);
    let mut last_report = started;
    while !work.is_finished() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        peak_rss = peak_rss.max(workload::rss_bytes());
        let (open, _) = workload::sessions(&admin, DB).await?;
        peak_sessions = peak_sessions.max(open);
        if last_report.elapsed() >= Duration::from_secs(30) {
            last_report = Instant::now();
            println!(
                "soak: {:>4} s  {} operations, {} errors, RSS {} MiB, {open} sessions",
                started.elapsed().as_secs(),
                stats.ops.load(Ordering::Relaxed),
                stats.errors.load(Ordering::Relaxed),
                peak_rss / (1 << 20)
            );
        }
    }
    work.await
        .map_err(|e| dba_core::Error::invalid_input(format!("the workload panicked: {e}")))?;
    let elapsed = started.elapsed();
    let status = adapter.pool_status();
    let (open, idle) = workload::sessions(&admin, DB).await?;
    let rows = adapter.count("load_items", &Filter::new()).await?;
    let ops = stats.ops.load(Ordering::Relaxed);
    let errors = stats.errors.load(Ordering::Relaxed);

    println!("soak: done in {:.1} s", elapsed.as_secs_f64());
    println!(
        "  operations        {ops} ({:.0}/s)",
        ops as f64 / elapsed.as_secs_f64()
    );
    println!("  errors            {errors}");
    for e in stats
        .first_errors
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default()
    {
        println!("    {e}");
    }
    println!(
        "  memory (VmRSS)    {} MiB at start, {} MiB peak",
        baseline / (1 << 20),
        peak_rss / (1 << 20)
    );
    println!(
        "  sessions          {peak_sessions} peak, {open} open at the end ({idle} idle), pool {POOL}"
    );
    println!(
        "  pool              {} open, {} available, {} waiting",
        status.size, status.available, status.waiting
    );
    println!("  rows              {rows} at the end, {seeded} seeded");

    adapter.close().await;
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"), &[])
        .await?;
    let ok = errors == 0
        && peak_sessions <= POOL as u64
        && open == idle
        && status.size <= POOL
        && rows == seeded;
    if !ok {
        println!("soak: FAILED (errors, a leaked or busy connection, or rows left behind)");
    }
    Ok(ok)
}
