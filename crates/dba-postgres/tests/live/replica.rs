//! A primary with a streaming standby (private clusters): where each call runs, shown by
//! `pg_is_in_recovery()` read through a view; the fallback when the standby is stopped or lags.

use std::time::{Duration, Instant};

use dba_core::{DatabaseClient, Filter, Query, ReadTarget, Reader, json};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::Cluster;
use futures_util::StreamExt;

use crate::row;

/// A primary with database `shop` (a table and a view telling where it is read), and its standby.
async fn pair() -> (Cluster, Cluster) {
    let primary = Cluster::start();
    primary.create_database("shop").await;
    primary
        .client("shop")
        .await
        .batch_execute(
            "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);
             CREATE VIEW where_am_i AS SELECT pg_is_in_recovery() AS standby;",
        )
        .await
        .unwrap();
    let standby = tokio::task::block_in_place(|| primary.start_standby());
    (primary, standby)
}

fn adapter(primary: &Cluster, standby: &Cluster, max_lag: Duration) -> PostgresAdapter {
    PostgresAdapter::new(&primary.url_for("shop"), PostgresOptions::default())
        .unwrap()
        .with_standby(
            &standby.url_for("shop"),
            PostgresOptions::default(),
            max_lag,
        )
        .unwrap()
}

/// Whether `client` reads the view on the standby, through `select`.
async fn on_standby(client: &dyn DatabaseClient) -> bool {
    let rows = client.select("where_am_i", &Query::new()).await.unwrap();
    rows[0]["standby"].as_bool().unwrap()
}

/// Polls `sql` (one boolean) on `cluster` until it is true; fails after a minute.
async fn wait_for(cluster: &Cluster, sql: &str) {
    let client = cluster.admin().await;
    let start = Instant::now();
    loop {
        let done: bool = client.query_one(sql, &[]).await.unwrap().get(0);
        if done {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "gave up waiting for `{sql}`"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn reader(db: &PostgresAdapter) -> Reader {
    db.reader().await.expect("a standby is configured")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_asked_for_go_to_the_standby_and_everything_else_to_the_primary() {
    let (primary, standby) = pair().await;
    let db = adapter(&primary, &standby, Duration::from_secs(30));
    let r = reader(&db).await;
    assert_eq!(r.target(), ReadTarget::Standby, "{r:?}");
    assert_eq!(r.fallback(), None);
    assert!(r.server().contains(&standby.port().to_string()), "{r:?}");
    let reads = r.client();

    // Every read a reader offers runs on the standby.
    assert!(on_standby(reads).await);
    let one = reads.select_one("where_am_i", &Query::new()).await.unwrap();
    assert_eq!(one.unwrap()["standby"], json!(true));
    assert_eq!(
        reads
            .count("where_am_i", &Filter::new().eq("standby", true))
            .await
            .unwrap(),
        1
    );
    let mut stream = reads
        .select_stream("where_am_i", &Query::new())
        .await
        .unwrap();
    assert_eq!(
        stream.next().await.unwrap().unwrap()["standby"],
        json!(true)
    );
    drop(stream);
    let mut stream = reads
        .select_json_stream("where_am_i", &Query::new())
        .await
        .unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap(), r#"{"standby":true}"#);
    drop(stream);
    let rows = reads
        .query("SELECT pg_is_in_recovery() AS standby", &[])
        .await
        .unwrap();
    assert_eq!(rows[0]["standby"], json!(true));

    // A snapshot runs there too, read-only and repeatable-read.
    let snap = reads.begin_snapshot().await.unwrap();
    let rows = snap
        .query(
            "SELECT pg_is_in_recovery() AS standby, current_setting('transaction_isolation') AS iso, \
             current_setting('transaction_read_only') AS ro",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        rows[0],
        row(json!({"standby": true, "iso": "repeatable read", "ro": "on"}))
    );
    snap.rollback().await.unwrap();

    // Writes and transactions through the reader go to the primary.
    let saw = reads
        .insert("items", &row(json!({"name": "saw"})))
        .await
        .unwrap();
    assert_eq!(saw["name"], json!("saw"));
    let tx = reads.begin().await.unwrap();
    assert!(!on_standby(&*tx).await);
    tx.update(
        "items",
        &row(json!({"name": "big saw"})),
        &Filter::new().eq("id", saw["id"].clone()),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        reads
            .execute("DELETE FROM items WHERE name = 'nothing'", &[])
            .await
            .unwrap(),
        0
    );
    let stored = db.select("items", &Query::new()).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["name"], json!("big saw"));

    // The adapter's own calls stay on the primary, and a transaction has no reader.
    assert!(!on_standby(&db).await);
    let tx = db.begin().await.unwrap();
    assert!(tx.reader().await.is_none());
    assert!(!on_standby(&*tx).await);
    tx.rollback().await.unwrap();

    // Without a standby there is no reader; with a read_url that names a primary, reads stay there.
    let plain = PostgresAdapter::new(&primary.url_for("shop"), PostgresOptions::default()).unwrap();
    assert!(plain.reader().await.is_none());
    let wrong = PostgresAdapter::new(&primary.url_for("shop"), PostgresOptions::default())
        .unwrap()
        .with_standby(
            &primary.url_for("shop"),
            PostgresOptions::default(),
            Duration::from_secs(30),
        )
        .unwrap();
    let r = reader(&wrong).await;
    assert_eq!(r.target(), ReadTarget::Primary);
    let why = r.fallback().unwrap();
    assert!(why.contains("is not a standby"), "{why}");
    assert!(!on_standby(r.client()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_standby_moves_reads_to_the_primary_with_a_warning() {
    let (primary, standby) = pair().await;
    let db = adapter(&primary, &standby, Duration::from_secs(30));
    assert_eq!(reader(&db).await.target(), ReadTarget::Standby);

    tokio::task::block_in_place(|| standby.stop());
    let r = reader(&db).await;
    assert_eq!(r.target(), ReadTarget::Primary);
    let why = r.fallback().unwrap();
    assert!(
        why.starts_with(&format!(
            "the standby postgresql://postgres@127.0.0.1:{}/shop cannot be used",
            standby.port()
        )),
        "{why}"
    );
    assert!(why.ends_with("; reading from the primary"), "{why}");
    // Nothing fails: the reads run on the primary.
    assert!(!on_standby(r.client()).await);
    assert_eq!(
        r.client()
            .count("items", &Filter::all_rows())
            .await
            .unwrap(),
        0
    );

    // Once it is back and has caught up, reads go there again.
    tokio::task::block_in_place(|| {
        standby.restart();
        standby.wait_replayed(&primary);
    });
    let r = reader(&db).await;
    assert_eq!(r.target(), ReadTarget::Standby, "{r:?}");
    assert!(on_standby(r.client()).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_lagging_past_max_replica_lag_moves_reads_to_the_primary() {
    let (primary, standby) = pair().await;
    let db = adapter(&primary, &standby, Duration::from_secs(1));
    let s = standby.admin().await;

    // The standby has replayed a transaction; then replay stops, the primary commits (durably, so its WAL
    // position moves past the standby's), and the last replayed commit grows older than the 1 s allowed.
    db.insert("items", &row(json!({"name": "replayed"})))
        .await
        .unwrap();
    tokio::task::block_in_place(|| standby.wait_replayed(&primary));
    s.batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    wait_for(
        &standby,
        "SELECT pg_get_wal_replay_pause_state() = 'paused'",
    )
    .await;
    primary
        .client("shop")
        .await
        .batch_execute(
            "SET synchronous_commit = on; INSERT INTO items (name) VALUES ('written after the pause')",
        )
        .await
        .unwrap();
    wait_for(
        &standby,
        "SELECT now() - pg_last_xact_replay_timestamp() > interval '1.5 s'",
    )
    .await;
    let r = reader(&db).await;
    assert_eq!(r.target(), ReadTarget::Primary);
    let why = r.fallback().unwrap();
    assert!(why.contains("lags behind the primary"), "{why}");
    assert!(
        why.contains("its last replayed transaction committed"),
        "{why}"
    );
    assert!(why.contains("max_replica_lag 1 s"), "{why}");
    // The reader sees the write the standby has not replayed.
    assert_eq!(
        r.client()
            .count("items", &Filter::all_rows())
            .await
            .unwrap(),
        2
    );

    // Replay resumes and catches up. The primary is now idle, so the last replayed commit stays older than
    // the 1 s allowed, but the standby has replayed everything: it is used.
    s.batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    tokio::task::block_in_place(|| standby.wait_replayed(&primary));
    wait_for(
        &standby,
        "SELECT coalesce(now() - pg_last_xact_replay_timestamp() > interval '1.5 s', true)",
    )
    .await;
    let r = reader(&db).await;
    assert_eq!(r.target(), ReadTarget::Standby, "{r:?}");
    assert_eq!(
        r.client()
            .count("items", &Filter::all_rows())
            .await
            .unwrap(),
        2
    );
}
