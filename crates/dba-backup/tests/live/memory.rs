//! A large backup streams: peak memory does not grow with the row count.

use std::sync::atomic::{AtomicU64, Ordering};

use dba_backup::{
    BackupOptions, BackupSchema, Progress, ProgressUpdate, RestoreOptions, TableDef, backup,
    restore,
};
use dba_core::{DatabaseClient, json};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::{TestDb, test_path};

const ROWS: u64 = 200_000;

/// A field of /proc/self/status in KiB (VmRSS: resident now; VmHWM: the kernel's lazily updated peak).
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Records the largest resident size seen at each progress report (every batch), since VmHWM alone is
/// only updated lazily by the kernel.
#[derive(Default)]
struct PeakRss(AtomicU64);

impl Progress for PeakRss {
    fn update(&self, _: &ProgressUpdate<'_>) {
        self.0.fetch_max(status_kib("VmRSS:"), Ordering::Relaxed);
    }
}

impl PeakRss {
    fn peak(&self) -> u64 {
        self.0.load(Ordering::Relaxed).max(status_kib("VmHWM:"))
    }
}

#[tokio::test]
async fn a_large_backup_and_restore_keep_memory_bounded() {
    let src_db = TestDb::create(test_path!("big_src")).await;
    let dst_db = TestDb::create(test_path!("big_dst")).await;
    let src = PostgresAdapter::new(src_db.url(), PostgresOptions::default()).unwrap();
    let dst = PostgresAdapter::new(dst_db.url(), PostgresOptions::default()).unwrap();
    let ddl =
        "CREATE TABLE items (id bigserial PRIMARY KEY, user_id text, slug text UNIQUE, body text)";
    src.execute(ddl, &[]).await.unwrap();
    dst.execute(ddl, &[]).await.unwrap();
    src.execute(
        &format!(
            "INSERT INTO items (user_id, slug, body) SELECT 'u1', 's' || g, repeat(md5(g::text), 8) \
             FROM generate_series(1, {ROWS}) g"
        ),
        &[],
    )
    .await
    .unwrap();
    let schema = BackupSchema::new(vec![TableDef::new("items")]);
    let dir = crate::scratch("big");
    let path = dir.join("big.json");
    let options = BackupOptions {
        user_id: Some(json!("u1")),
        ..BackupOptions::default()
    };

    let before = status_kib("VmHWM:");
    let during_backup = PeakRss::default();
    let report = backup(&src, &schema, &path, &options, &during_backup)
        .await
        .unwrap();
    let after_backup = during_backup.peak();
    assert_eq!(report.counts[0].1, ROWS);
    let file_kib = std::fs::metadata(&path).unwrap().len() / 1024;

    let during_restore = PeakRss::default();
    let summary = restore(
        &dst,
        &schema,
        &path,
        &RestoreOptions::default(),
        &during_restore,
    )
    .await
    .unwrap();
    let after_restore = during_restore.peak();
    assert_eq!(summary.totals().inserted, ROWS);
    eprintln!(
        "file {file_kib} KiB; peak RSS {before} KiB -> {after_backup} KiB after backup (+{}), \
         {after_restore} KiB after restore (+{} over the start)",
        after_backup.saturating_sub(before),
        after_restore.saturating_sub(before)
    );
    // The file is ~60 MB; holding it (or its rows as JSON values, several times larger) would show here.
    assert!(file_kib > 50_000, "{file_kib}");
    assert!(
        after_backup.saturating_sub(before) < 40_000,
        "backup grew the peak by {} KiB",
        after_backup.saturating_sub(before)
    );
    assert!(
        after_restore.saturating_sub(before) < 60_000,
        "restore grew the peak by {} KiB",
        after_restore.saturating_sub(before)
    );
    std::fs::remove_dir_all(dir).unwrap();
    src_db.drop_db().await;
    dst_db.drop_db().await;
}
