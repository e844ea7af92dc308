//! The mixed workload shared by the load test (`tests/live/load.rs`) and the soak run (`cargo xtask
//! soak`): concurrent tasks on one adapter doing selects by key, inserts, updates, deletes, counts and
//! transactions with a savepoint, each task touching only rows it inserted when it writes.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use dba_core::{DatabaseClient, Filter, Query, Row, Value};
use dba_postgres::PostgresAdapter;

/// The table the workload uses, with 10,000 seed rows over 1,000 keys.
pub(crate) const SETUP_SQL: &str = "
CREATE TABLE load_items (id bigserial PRIMARY KEY, k int NOT NULL, v text NOT NULL);
CREATE INDEX load_items_k ON load_items (k);
INSERT INTO load_items (k, v) SELECT g % 1000, 'seed ' || g FROM generate_series(1, 10000) g;";

/// How long each task runs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Budget {
    /// This many operations per task.
    Ops(u64),
    /// Until this instant.
    Until(Instant),
}

/// What the tasks did, shared between them.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Operations that succeeded.
    pub(crate) ops: AtomicU64,
    /// Operations that failed.
    pub(crate) errors: AtomicU64,
    /// The first few errors, for the report.
    pub(crate) first_errors: Mutex<Vec<String>>,
}

impl Stats {
    fn record(&self, result: dba_core::Result<()>) {
        match result {
            Ok(()) => {
                self.ops.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_errors.lock()
                    && first.len() < 5
                {
                    first.push(e.to_string());
                }
            }
        }
    }
}

/// A small xorshift generator: deterministic per task, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn row(k: u64, v: String) -> Row {
    let mut row = Row::new();
    row.insert("k".to_owned(), Value::from(k));
    row.insert("v".to_owned(), Value::String(v));
    row
}

fn id_of(row: &Row) -> dba_core::Result<Value> {
    row.get("id")
        .cloned()
        .ok_or_else(|| dba_core::Error::invalid_input("insert returned no id"))
}

/// Runs `tasks` concurrent tasks on `adapter` until `budget` runs out, counting into `stats`.
pub(crate) async fn run(
    adapter: &PostgresAdapter,
    tasks: usize,
    budget: Budget,
    stats: &Arc<Stats>,
) {
    let mut set = tokio::task::JoinSet::new();
    for task in 0..tasks {
        let adapter = adapter.clone();
        let stats = Arc::clone(stats);
        set.spawn(async move { one_task(&adapter, task as u64, budget, &stats).await });
    }
    while let Some(joined) = set.join_next().await {
        if let Err(e) = joined {
            stats.record(Err(dba_core::Error::invalid_input(format!(
                "a task panicked: {e}"
            ))));
        }
    }
}

async fn one_task(adapter: &PostgresAdapter, task: u64, budget: Budget, stats: &Stats) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (task + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    // Ids of rows this task inserted and has not deleted: the only rows it updates or deletes.
    let mut mine: Vec<Value> = Vec::new();
    let mut done = 0_u64;
    loop {
        match budget {
            Budget::Ops(n) if done >= n => break,
            Budget::Until(end) if Instant::now() >= end => break,
            _ => {}
        }
        done += 1;
        let key = rng.below(1000);
        let result = match rng.below(100) {
            0..=34 => {
                let query = Query::new().filter(Filter::new().eq("k", key)).limit(5);
                adapter.select("load_items", &query).await.map(drop)
            }
            35..=54 => match adapter
                .insert("load_items", &row(key, format!("task {task} op {done}")))
                .await
            {
                Ok(r) => id_of(&r).map(|id| mine.push(id)),
                Err(e) => Err(e),
            },
            55..=69 => match mine.last() {
                Some(id) => adapter
                    .update(
                        "load_items",
                        &row(key, format!("updated by {task}")),
                        &Filter::new().eq("id", id.clone()),
                    )
                    .await
                    .map(drop),
                None => adapter.count("load_items", &Filter::new()).await.map(drop),
            },
            70..=79 => match mine.pop() {
                Some(id) => adapter
                    .delete("load_items", &Filter::new().eq("id", id))
                    .await
                    .map(drop),
                None => adapter.count("load_items", &Filter::new()).await.map(drop),
            },
            80..=91 => adapter
                .count("load_items", &Filter::new().eq("k", key))
                .await
                .map(drop),
            _ => transaction(adapter, task, key, &mut mine).await,
        };
        stats.record(result);
    }
    // Leave the table as seeded plus what survived: delete this task's rows in one go.
    if !mine.is_empty() {
        stats.record(
            adapter
                .delete("load_items", &Filter::new().is_in("id", mine))
                .await
                .map(drop),
        );
    }
}

/// A transaction: insert a row, then in a savepoint insert another and roll the savepoint back; commit.
async fn transaction(
    adapter: &PostgresAdapter,
    task: u64,
    key: u64,
    mine: &mut Vec<Value>,
) -> dba_core::Result<()> {
    let tx = adapter.begin().await?;
    let kept = tx
        .insert("load_items", &row(key, format!("tx of {task}")))
        .await?;
    let savepoint = tx.begin().await?;
    savepoint
        .insert("load_items", &row(key, format!("rolled back by {task}")))
        .await?;
    savepoint.rollback().await?;
    tx.commit().await?;
    mine.push(id_of(&kept)?);
    Ok(())
}

/// This process's resident memory in bytes, from /proc/self/status.
pub(crate) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Sessions of the adapter (application_name `dba`) on `db`: (all, idle), read through `observer`.
pub(crate) async fn sessions(observer: &PostgresAdapter, db: &str) -> dba_core::Result<(u64, u64)> {
    let rows = observer
        .query(
            "SELECT count(*)::bigint AS all, count(*) FILTER (WHERE state = 'idle')::bigint AS idle \
             FROM pg_stat_activity WHERE datname = $1 AND application_name = 'dba' AND pid <> pg_backend_pid()",
            &[Value::from(db)],
        )
        .await?;
    let get = |name: &str| {
        rows.first()
            .and_then(|r| r.get(name))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok((get("all"), get("idle")))
}
