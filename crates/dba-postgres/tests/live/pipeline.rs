//! Pipelined calls (`PostgresOptions::pipeline_depth`): calls that share pooled connections each get
//! their own answer and fail alone, share a few connections rather than waiting for one, never run on a
//! transaction's connection, give their connections back, and leave a connection past its lifetime.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use dba_core::{DatabaseClient, Filter, Query, json};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::{TestDb, test_path};

use crate::row;

/// 800 items, one per call of the first test (16 tasks × 50), and two views naming the backend a
/// statement ran on (one of them slow).
const SETUP: &str = "
CREATE TABLE items (id bigint PRIMARY KEY, name text NOT NULL,
                    hits int NOT NULL DEFAULT 0 CHECK (hits >= 0));
INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series(1, 800) g;
CREATE VIEW who AS SELECT pg_backend_pid() AS pid;
CREATE VIEW slow AS SELECT pg_backend_pid() AS pid, pg_sleep(0.3) IS NULL AS slept;";

fn options(pool: usize, depth: usize) -> PostgresOptions {
    let mut options = PostgresOptions::default();
    options.pool_size = pool;
    options.pipeline_depth = depth;
    options
}

/// A fresh database with [`SETUP`] applied, and an adapter on it with `options`.
async fn setup_with(test_path: &str, options: PostgresOptions) -> (TestDb, PostgresAdapter) {
    let db = TestDb::create(test_path).await;
    db.client().await.batch_execute(SETUP).await.unwrap();
    let adapter = PostgresAdapter::new(db.url(), options).unwrap();
    (db, adapter)
}

async fn setup(test_path: &str, pool: usize, depth: usize) -> (TestDb, PostgresAdapter) {
    setup_with(test_path, options(pool, depth)).await
}

/// How many sessions of the test's database `condition` (on `pg_stat_activity`) holds for.
async fn sessions(watcher: &tokio_postgres::Client, condition: &str) -> i64 {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND {condition}"
    );
    watcher.query_one(&sql, &[]).await.unwrap().get(0)
}

/// Waits (at most 10 s) until `condition` holds for `n` sessions.
async fn until_sessions(watcher: &tokio_postgres::Client, condition: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = sessions(watcher, condition).await;
        if found == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{found} sessions where {condition}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `tasks` tasks each selecting the backend it runs on, without a pause, until `until`; each gives the
/// backends it saw.
fn keep_busy(
    pg: &PostgresAdapter,
    tasks: usize,
    until: Instant,
) -> Vec<tokio::task::JoinHandle<HashSet<i64>>> {
    (0..tasks)
        .map(|_| {
            let pg = pg.clone();
            tokio::spawn(async move {
                let mut pids = HashSet::new();
                while Instant::now() < until {
                    pids.insert(backend(&pg, "who").await);
                }
                pids
            })
        })
        .collect()
}

/// The backend `db` runs a select on.
async fn backend(db: &dyn DatabaseClient, view: &str) -> i64 {
    let rows = db.select(view, &Query::new()).await.unwrap();
    rows[0]["pid"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_calls_each_get_their_own_answer_on_a_few_connections() {
    let (db, pg) = setup(test_path!("pipelined_answers"), 16, 8).await;
    let mut tasks = Vec::new();
    for t in 0..16_i64 {
        let pg = pg.clone();
        tasks.push(tokio::spawn(async move {
            let mut pids = HashSet::new();
            for i in 0..50_i64 {
                let id = 1 + t * 50 + i;
                let by_id = Filter::new().eq("id", id);
                let rows = pg
                    .select("items", &Query::new().filter(by_id.clone()))
                    .await
                    .unwrap();
                assert_eq!(rows.len(), 1);
                assert_eq!(rows[0]["name"], format!("item {id}"));
                let updated = pg
                    .update("items", &row(json!({"hits": t + 1})), &by_id)
                    .await
                    .unwrap();
                assert_eq!(updated[0]["id"], id);
                assert_eq!(updated[0]["hits"], t + 1);
                assert_eq!(pg.count("items", &by_id).await.unwrap(), 1);
                if i % 5 == 0 {
                    // A failing statement fails alone: the check refuses it, the next call succeeds.
                    let refused = pg
                        .update("items", &row(json!({"hits": -1})), &by_id)
                        .await
                        .unwrap_err();
                    assert_eq!(refused.db().unwrap().code, "23514", "{refused}");
                    let bad = pg
                        .select(
                            "items",
                            &Query::new().filter(Filter::new().eq("id", "not a number")),
                        )
                        .await
                        .unwrap_err();
                    assert_eq!(bad.db().unwrap().code, "22P02", "{bad}");
                }
                pids.insert(backend(&pg, "who").await);
            }
            pids
        }));
    }
    let mut pids = HashSet::new();
    for task in tasks {
        pids.extend(task.await.unwrap());
    }
    // A lane is opened only when every open one carries 8 calls, so 16 tasks never need more than two.
    assert!(pids.len() <= 2, "{} backends: {pids:?}", pids.len());
    let status = pg.pool_status();
    assert!(status.size <= 2, "{status:?}");
    assert_eq!(status.available, status.size, "every connection is back");
    assert_eq!(status.lanes, 0, "every lane drained: {status:?}");
    // 16 tasks on at most two connections: nearly every one of the 3,520 calls sat beside another (only
    // a call opening a lane did not).
    assert!(status.shared_calls > 3_520 / 2, "{status:?}");
    // Every update landed once, on its own row.
    let sums = pg
        .query(
            "SELECT count(*) FILTER (WHERE hits = (id - 1) / 50 + 1) AS right FROM items",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(sums[0]["right"], 800);
    pg.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_pool_is_shared_rather_than_waited_for() {
    let (db, pg) = setup(test_path!("pipelined_full_pool"), 2, 4).await;
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let pg = pg.clone();
        tasks.push(tokio::spawn(async move { backend(&pg, "slow").await }));
    }
    // Twelve calls of 0.3 s on two connections take 1.8 s: wait until both connections run one.
    until_sessions(&db.client().await, "wait_event = 'PgSleep'", 2).await;
    let status = pg.pool_status();
    assert_eq!(status.waiting, 0, "no call waits for the pool: {status:?}");
    assert_eq!(status.size, 2, "{status:?}");
    assert_eq!(status.lanes, 2, "both connections carry calls: {status:?}");
    assert!(tasks.iter().all(|t| !t.is_finished()));
    let mut pids = HashSet::new();
    for task in tasks {
        pids.insert(task.await.unwrap());
    }
    assert_eq!(pids.len(), 2, "{pids:?}");
    pg.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_never_shares_its_connection() {
    let (db, pg) = setup(test_path!("pipelined_transaction"), 4, 8).await;
    let tx = pg.begin().await.unwrap();
    tx.insert("items", &row(json!({"id": 9999, "name": "uncommitted"})))
        .await
        .unwrap();
    let tx_pid = backend(&*tx, "who").await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let pg = pg.clone();
        tasks.push(tokio::spawn(async move {
            let seen = pg
                .select("items", &Query::new().filter(Filter::new().eq("id", 9999)))
                .await
                .unwrap();
            (seen.len(), backend(&pg, "who").await)
        }));
    }
    for task in tasks {
        let (seen, pid) = task.await.unwrap();
        assert_eq!(seen, 0, "the transaction's row is not visible outside it");
        assert_ne!(
            pid, tx_pid,
            "a pipelined call ran on the transaction's connection"
        );
    }
    assert_eq!(
        tx.count("items", &Filter::new().eq("id", 9999))
            .await
            .unwrap(),
        1
    );
    tx.rollback().await.unwrap();
    assert_eq!(
        pg.count("items", &Filter::new().eq("id", 9999))
            .await
            .unwrap(),
        0
    );
    pg.close().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lane_past_its_lifetime_takes_no_new_calls() {
    let mut options = options(4, 16);
    options.max_lifetime = Some(Duration::from_millis(300));
    let (db, pg) = setup_with(test_path!("pipelined_lifetime"), options).await;
    // Sixteen tasks keep one lane busy without a pause for 1.5 s (it never drains, so the pool never
    // sees it back): only its lifetime can retire it.
    let tasks = keep_busy(&pg, 16, Instant::now() + Duration::from_millis(1500));
    let mut pids = HashSet::new();
    for task in tasks {
        pids.extend(task.await.unwrap());
    }
    assert!(
        pids.len() >= 3,
        "connections of 0.3 s over 1.5 s of calls: {pids:?}"
    );
    pg.close().await;
    db.drop_db().await;
}

/// The hazard the guide names: a pipelined update waiting for a transaction's row lock holds up the call
/// queued behind it on its connection, here the transaction's own task's select; `statement_timeout`
/// ends the wait (the update fails as canceled, the select is answered, the transaction commits).
#[tokio::test(flavor = "multi_thread")]
async fn a_statement_timeout_ends_a_lock_wait_that_holds_up_a_lane() {
    let mut options = options(4, 8);
    options.statement_timeout = Some(Duration::from_millis(1500));
    let (db, pg) = setup_with(test_path!("pipelined_lock_wait"), options).await;
    let tx = pg.begin().await.unwrap();
    let by_id = Filter::new().eq("id", 1);
    tx.update("items", &row(json!({"hits": 1})), &by_id)
        .await
        .unwrap();
    let waiting = {
        let pg = pg.clone();
        let by_id = by_id.clone();
        tokio::spawn(async move { pg.update("items", &row(json!({"hits": 2})), &by_id).await })
    };
    // The update waits for the lock (seen by the server); the select then joins its lane, the only one
    // open, behind it.
    let watcher = db.client().await;
    until_sessions(&watcher, "wait_event_type = 'Lock'", 1).await;
    let waiter: i32 = watcher
        .query_one(
            "SELECT pid FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // The select runs on the update's connection, so it is answered only once the update gave up.
    assert_eq!(backend(&pg, "who").await, i64::from(waiter));
    assert_eq!(
        sessions(&watcher, "wait_event_type = 'Lock'").await,
        0,
        "the select was not queued behind the update"
    );
    let canceled = waiting.await.unwrap().unwrap_err();
    assert_eq!(canceled.db().unwrap().code, "57014", "{canceled}");
    tx.commit().await.unwrap();
    let one = pg
        .select("items", &Query::new().filter(by_id))
        .await
        .unwrap();
    assert_eq!(one[0]["hits"], 1);
    pg.close().await;
    db.drop_db().await;
}

/// Lanes kept busy do not keep the pool: a transaction asked for while every connection of the pool is a
/// busy lane gets one (new calls go to the busiest lane while it waits, so another drains).
#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_gets_a_connection_from_a_pool_full_of_busy_lanes() {
    let mut options = options(2, 4);
    options.wait_timeout = Some(Duration::from_secs(3));
    let (db, pg) = setup_with(test_path!("pipelined_drain"), options).await;
    let tasks = keep_busy(&pg, 12, Instant::now() + Duration::from_secs(5));
    // Both connections are lanes (crowded beyond their depth by twelve tasks).
    let deadline = Instant::now() + Duration::from_secs(10);
    while pg.pool_status().size < 2 || pg.pool_status().available > 0 {
        assert!(Instant::now() < deadline, "{:?}", pg.pool_status());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let tx = pg.begin().await.unwrap();
    assert!(backend(&*tx, "who").await > 0);
    tx.commit().await.unwrap();
    for task in tasks {
        task.await.unwrap();
    }
    pg.close().await;
    db.drop_db().await;
}
