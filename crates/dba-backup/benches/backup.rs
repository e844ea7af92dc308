//! Backup, restore (ids remapped) and sync of a three-table hierarchy with mixed types, beside
//! `pg_dump --data-only`, loading that dump with `psql`, and a `COPY TO | COPY FROM` pipe, with the peak
//! memory of dba's own process. Run with `cargo bench -p dba-backup --bench backup` (1,000,000 rows;
//! `-- --quick` for 100,000). Prints a Markdown table and writes it to `target/dba-bench/backup.md`.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dba_backup::{BackupOptions, BackupSchema, NoProgress, RestoreOptions, SyncOptions};
use dba_core::{DatabaseClient, Value};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::TestDb;

const SCHEMA: &str = "
CREATE TABLE authors (id bigserial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL, name text NOT NULL,
                      joined timestamptz NOT NULL, UNIQUE (user_id, slug));
CREATE TABLE posts (id bigserial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL,
                    author_id bigint NOT NULL REFERENCES authors (id), title text NOT NULL, score numeric(12, 4),
                    tags text[], published boolean, UNIQUE (user_id, slug));
CREATE TABLE comments (id bigserial PRIMARY KEY, user_id text NOT NULL, slug text NOT NULL,
                       post_id bigint NOT NULL REFERENCES posts (id), body text NOT NULL, meta jsonb,
                       created_at timestamptz NOT NULL, UNIQUE (user_id, slug));";

const BACKUP_SCHEMA: &str = r#"{"tables": [
  {"name": "authors", "pk": "id", "slug_field": "slug", "user_field": "user_id"},
  {"name": "posts", "pk": "id", "slug_field": "slug", "user_field": "user_id", "parent": {"table": "authors", "field": "author_id"}},
  {"name": "comments", "pk": "id", "slug_field": "slug", "user_field": "user_id", "parent": {"table": "posts", "field": "post_id"}}
]}"#;

/// Fills the hierarchy with `rows` rows in all: 1% authors, 9% posts, 90% comments.
fn fill(rows: u64) -> String {
    let (authors, posts) = (rows / 100, rows * 9 / 100);
    let comments = rows - authors - posts;
    format!(
        "INSERT INTO authors (user_id, slug, name, joined)
           SELECT 'u1', 'a' || g, 'Author ' || g, '2024-01-01'::timestamptz + g * interval '1 minute'
           FROM generate_series(1, {authors}) g;
         INSERT INTO posts (user_id, slug, author_id, title, score, tags, published)
           SELECT 'u1', 'p' || g, 1 + g % {authors}, 'Post number ' || g, g / 7.0, ARRAY['x', 'y' || g % 10], g % 2 = 0
           FROM generate_series(1, {posts}) g;
         INSERT INTO comments (user_id, slug, post_id, body, meta, created_at)
           SELECT 'u1', 'c' || g, 1 + g % {posts}, repeat('comment text ', 3) || g,
                  jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g % 7)), now() - g * interval '1 second'
           FROM generate_series(1, {comments}) g;"
    )
}

/// Peak resident memory of this process while `run` is in flight, sampled every 2 ms.
struct Peak {
    stop: Arc<AtomicBool>,
    peak_kib: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

impl Peak {
    fn start() -> Peak {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(rss_kib()));
        let (s, p) = (stop.clone(), peak_kib.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Peak {
            stop,
            peak_kib,
            thread,
        }
    }

    fn finish(self) -> f64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.peak_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }
}

fn bin(name: &str) -> String {
    let dir = Command::new("pg_config").arg("--bindir").output().ok();
    let path = dir.map(|o| format!("{}/{name}", String::from_utf8_lossy(&o.stdout).trim()));
    path.filter(|p| Path::new(p).exists())
        .unwrap_or_else(|| name.to_owned())
}

fn timed_shell(script: &str) -> Duration {
    let start = Instant::now();
    let out = Command::new("bash")
        .args(["-o", "pipefail", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

fn plain(url: &str) -> String {
    format!(
        "{url}{}sslmode=disable",
        if url.contains('?') { "&" } else { "?" }
    )
}

async fn empty_db(name: &str) -> (TestDb, PostgresAdapter, String) {
    let db = TestDb::create(name).await;
    db.client().await.batch_execute(SCHEMA).await.unwrap();
    let url = plain(db.url());
    let pg = PostgresAdapter::new(&url, PostgresOptions::default()).unwrap();
    (db, pg, url)
}

/// The allocator the `dba` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // As the `dba` command does: the work runs as a task on the runtime's workers, not on the thread
    // blocked in `block_on`, so rows arriving from a connection's task need no cross-thread wake-up.
    tokio::spawn(run()).await.unwrap();
}

async fn run() {
    let quick = std::env::args().any(|a| a == "--quick");
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let rows: u64 = if quick { 100_000 } else { 1_000_000 };
    let schema = BackupSchema::from_json(BACKUP_SCHEMA).unwrap();
    let dir = std::env::temp_dir().join(format!("dba-bench-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (pg_dump, psql) = (bin("pg_dump"), bin("psql"));
    let options = BackupOptions {
        user_id: Some(Value::from("u1")),
        ..BackupOptions::default()
    };

    // Peak memory at half the rows, to show it stays flat when the count doubles.
    let (half_db, half_pg, _) = empty_db("dba_backup::benches::half").await;
    half_db
        .client()
        .await
        .batch_execute(&fill(rows / 2))
        .await
        .unwrap();
    let peak = Peak::start();
    dba_backup::backup(
        &half_pg,
        &schema,
        &dir.join("half.json"),
        &options,
        &NoProgress,
    )
    .await
    .unwrap();
    let half_peak = peak.finish();
    half_pg.close().await;
    half_db.drop_db().await;

    let (src_db, src, src_url) = empty_db("dba_backup::benches::source").await;
    src_db
        .client()
        .await
        .batch_execute(&fill(rows))
        .await
        .unwrap();
    src_db
        .client()
        .await
        .batch_execute("VACUUM ANALYZE")
        .await
        .unwrap();
    // Backup is cheap enough to repeat: three runs each, alternating, medians compared. Peak memory is
    // the first run's, as at half the rows.
    let backup_file = dir.join("backup.json");
    let dump_file = dir.join("dump.sql");
    let mut backup_runs = Vec::new();
    let mut dump_runs = Vec::new();
    let mut backup_peak = 0.0_f64;
    for run in 0..3 {
        let peak = Peak::start();
        let start = Instant::now();
        dba_backup::backup(&src, &schema, &backup_file, &options, &NoProgress)
            .await
            .unwrap();
        backup_runs.push(start.elapsed());
        let peak = peak.finish();
        if run == 0 {
            backup_peak = peak;
        }
        dump_runs.push(timed_shell(&format!(
            "{pg_dump} --data-only -t authors -t posts -t comments -d '{src_url}' -f '{}'",
            dump_file.display()
        )));
    }
    backup_runs.sort();
    dump_runs.sort();
    let (dba_backup_time, dump_time) = (backup_runs[1], dump_runs[1]);

    let (dst_db, dst, _) = empty_db("dba_backup::benches::restore").await;
    if std::env::var_os("DBA_BENCH_PHASES").is_some() {
        let start = Instant::now();
        let report = dba_backup::validate_backup(&backup_file, &schema);
        println!(
            "phase: validate {:.0} ms (valid {})",
            ms(start.elapsed()),
            report.valid
        );
        let start = Instant::now();
        let dry = RestoreOptions {
            dry_run: true,
            ..RestoreOptions::default()
        };
        dba_backup::restore(&dst, &schema, &backup_file, &dry, &NoProgress)
            .await
            .unwrap();
        println!("phase: dry-run restore {:.0} ms", ms(start.elapsed()));
    }
    let peak = Peak::start();
    let start = Instant::now();
    let summary = dba_backup::restore(
        &dst,
        &schema,
        &backup_file,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    let dba_restore_time = start.elapsed();
    let restore_peak = peak.finish();
    drop(summary);
    assert_eq!(
        dst.count("comments", &dba_core::Filter::new())
            .await
            .unwrap(),
        rows - rows / 100 - rows * 9 / 100
    );
    let (load_db, _load, load_url) = empty_db("dba_backup::benches::load").await;
    let load_time = timed_shell(&format!(
        "{psql} -X -q -v ON_ERROR_STOP=1 -d '{load_url}' -f '{}'",
        dump_file.display()
    ));

    let (sync_db, sync_dst, _) = empty_db("dba_backup::benches::sync").await;
    let sync_options = SyncOptions {
        user_id: Some(Value::from("u1")),
        ..SyncOptions::default()
    };
    let start = Instant::now();
    let result = dba_backup::sync(&src, &sync_dst, &schema, &sync_options, &NoProgress).await;
    let dba_sync_time = start.elapsed();
    assert!(result.success, "{:?}", result.errors);
    let (pipe_db, _pipe, pipe_url) = empty_db("dba_backup::benches::pipe").await;
    let pipe_time = timed_shell(&["authors", "posts", "comments"].map(|t| {
        format!("{psql} -X -q -d '{src_url}' -c 'COPY {t} TO STDOUT' | {psql} -X -q -d '{pipe_url}' -c 'COPY {t} FROM STDIN'")
    }).join(" && "));

    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let mut out = format!(
        "{rows} rows: 1% authors, 9% posts (numeric, text[], boolean), 90% comments (jsonb, timestamptz)\n\n"
    );
    out.push_str("| case | dba | reference | ratio | target |\n|---|---:|---:|---:|---|\n");
    out.push_str(&format!(
        "| backup, wall time (median of 3) | {:.0} ms | {:.0} ms (`pg_dump --data-only`) | {:.2}× | ≤ 2× |\n",
        ms(dba_backup_time),
        ms(dump_time),
        ratio(dba_backup_time, dump_time)
    ));
    out.push_str(&format!(
        "| backup, peak memory | {backup_peak:.0} MiB ({half_peak:.0} MiB at {} rows) | | | ≤ 100 MiB, flat when rows double |\n",
        rows / 2
    ));
    out.push_str(&format!(
        "| restore with id remapping, wall time (one run) | {:.0} ms | {:.0} ms (`psql -f` of the dump, no remapping) | {:.2}× | ≤ 3× |\n",
        ms(dba_restore_time), ms(load_time), ratio(dba_restore_time, load_time)
    ));
    out.push_str(&format!(
        "| restore, peak memory | {restore_peak:.0} MiB | | | ≤ 150 MiB |\n"
    ));
    out.push_str(&format!(
        "| sync (remapping, insert new; one run) | {:.0} ms | {:.0} ms (`COPY TO \\| COPY FROM` pipe) | {:.2}× | ≤ 2× |\n",
        ms(dba_sync_time), ms(pipe_time), ratio(dba_sync_time, pipe_time)
    ));
    println!("{out}");
    let bench_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dba-bench");
    std::fs::create_dir_all(&bench_dir).unwrap();
    std::fs::write(bench_dir.join("backup.md"), out).unwrap();

    for pg in [&src, &dst, &sync_dst] {
        pg.close().await;
    }
    for db in [src_db, dst_db, load_db, sync_db, pipe_db] {
        db.drop_db().await;
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
