//! Backup, restore (ids remapped) and sync of a three-table hierarchy with mixed types, beside
//! `pg_dump --data-only`, loading that dump with `psql`, and a `COPY TO | COPY FROM` pipe, with the peak
//! memory of each dba operation, at several sizes, smallest first: 100,000 and 1,000,000 rows by default,
//! `-- --quick` for 10,000 and 100,000, `-- --large` to add 10,000,000. Run with
//! `cargo bench -p dba-backup --bench backup [-- --quick | --large]`.
//!
//! Each dba operation runs in a fresh process (this program, started again with `--child`), so its peak
//! memory is the kernel's high-water mark of a process that did only that, as the `dba` binary would, and
//! nothing left over from an earlier, larger case counts against it. Each size's databases and files are
//! removed before the next size, so disk use stays at one size's worth; the largest total seen (database
//! sizes plus files, sampled after each step) is reported.
//!
//! Writes `target/dba-bench/backup.md` (the headline table at 1,000,000 rows, or 100,000 under
//! `--quick`, and the scaling table) and `target/dba-bench/backup.json` (every measurement, which
//! `cargo xtask bench` plots).
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::unwrap_used, reason = "a benchmark aborts on any failure")]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use dba_backup::{BackupOptions, BackupSchema, NoProgress, RestoreOptions, SyncOptions};
use dba_core::{DatabaseClient, Value};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::TestDb;
use serde_json::json;

/// The tables without their keys and constraints, which [`CONSTRAINTS`] adds: the source is filled
/// first and constrained afterwards (one index build and one foreign-key check per constraint instead of
/// one per row: 1,000,000 rows filled in 3.5 s instead of 8.3 s), the other databases get both at once.
const TABLES: &str = "
CREATE TABLE authors (id bigserial, user_id text NOT NULL, slug text NOT NULL, name text NOT NULL,
                      joined timestamptz NOT NULL);
CREATE TABLE posts (id bigserial, user_id text NOT NULL, slug text NOT NULL, author_id bigint NOT NULL,
                    title text NOT NULL, score numeric(12, 4), tags text[], published boolean);
CREATE TABLE comments (id bigserial, user_id text NOT NULL, slug text NOT NULL, post_id bigint NOT NULL,
                       body text NOT NULL, meta jsonb, created_at timestamptz NOT NULL);";

/// The same constraints, with the same names, as `PRIMARY KEY`, `UNIQUE` and `REFERENCES` written inline.
const CONSTRAINTS: &str = "
ALTER TABLE authors ADD PRIMARY KEY (id), ADD UNIQUE (user_id, slug);
ALTER TABLE posts ADD PRIMARY KEY (id), ADD UNIQUE (user_id, slug),
                  ADD FOREIGN KEY (author_id) REFERENCES authors (id);
ALTER TABLE comments ADD PRIMARY KEY (id), ADD UNIQUE (user_id, slug),
                     ADD FOREIGN KEY (post_id) REFERENCES posts (id);";

/// Each table's columns of [`TABLES`] but its key, to be kept in step with it: the pipe that measures the
/// server's share of a remapping sync (see [`sync_case`]) copies these, so the destination draws every key
/// from its sequence, as it must when dba remaps references to the keys the destination assigns.
const DRAWN_KEY_COLUMNS: [(&str, &str); 3] = [
    ("authors", "user_id, slug, name, joined"),
    (
        "posts",
        "user_id, slug, author_id, title, score, tags, published",
    ),
    ("comments", "user_id, slug, post_id, body, meta, created_at"),
];

const BACKUP_SCHEMA: &str = r#"{"tables": [
  {"name": "authors", "pk": "id", "slug_field": "slug", "user_field": "user_id"},
  {"name": "posts", "pk": "id", "slug_field": "slug", "user_field": "user_id", "parent": {"table": "authors", "field": "author_id"}},
  {"name": "comments", "pk": "id", "slug_field": "slug", "user_field": "user_id", "parent": {"table": "posts", "field": "post_id"}}
]}"#;

/// Targets (issue 17): ratios to the reference, peak memory, and time per row at the largest size
/// against the one before it.
const BACKUP_RATIO: f64 = 1.1;
const RESTORE_RATIO: f64 = 1.3;
const SYNC_RATIO: f64 = 1.2;
const BACKUP_PEAK_MIB: f64 = 32.0;
const RESTORE_PEAK_MIB: f64 = 64.0;
const LINEAR_RATIO: f64 = 1.1;
/// Peak memory counts as flat when the largest size's exceeds the one before it by at most this share of
/// its limit (3.2 MiB for backup, 6.4 MiB for restore): with ten times the rows, anything kept per row
/// would show far more, while the allocator's mapped pages differ by a few MiB from one run to the next
/// (a ratio of the peaks flagged 14 -> 16 MiB as growth).
const FLAT_SHARE: f64 = 0.1;

/// Rows of each table for `rows` rows in all: 1% authors, 9% posts, 90% comments.
fn split(rows: u64) -> (u64, u64, u64) {
    let (authors, posts) = (rows / 100, rows * 9 / 100);
    (authors, posts, rows - authors - posts)
}

/// Fills the unconstrained tables with `rows` rows in all, set-based.
fn fill(rows: u64) -> String {
    let (authors, posts, comments) = split(rows);
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

/// A fresh database with the tables and their constraints.
async fn empty_db(name: &str) -> (TestDb, String) {
    let db = TestDb::create(name).await;
    db.client()
        .await
        .batch_execute(&format!("{TABLES}{CONSTRAINTS}"))
        .await
        .unwrap();
    let url = plain(db.url());
    (db, url)
}

async fn count_comments(db: &TestDb) -> u64 {
    let row = db
        .client()
        .await
        .query_one("SELECT count(*) FROM comments", &[])
        .await
        .unwrap();
    u64::try_from(row.get::<_, i64>(0)).unwrap()
}

/// The allocator the `dba` binary uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    // As the `dba` command does: the work runs as a task on the runtime's workers, not on the thread
    // blocked in `block_on`, so rows arriving from a connection's task need no cross-thread wake-up.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let child = args[at + 1..].to_vec();
        tokio::spawn(child_main(child)).await.unwrap();
    } else {
        tokio::spawn(run(args)).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------------
// The child: one dba operation, then its time and this process's peak resident memory on stdout.

/// What a child reports: the operation's wall time, the process's CPU time and its peak memory.
struct Measured {
    seconds: f64,
    cpu_seconds: f64,
    peak_mib: f64,
}

/// User plus system CPU time of this process, all threads, from `/proc/self/stat` (in USER_HZ ticks,
/// 100 per second on Linux): less noisy than wall time on a shared machine.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name in parentheses: utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

/// The kernel's high-water mark of this process's resident memory (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    kib as f64 / 1024.0
}

/// `backup URL FILE`, `restore URL FILE` or `sync SOURCE_URL DESTINATION_URL`.
async fn child_main(args: Vec<String>) {
    let schema = BackupSchema::from_json(BACKUP_SCHEMA).unwrap();
    let user = Some(Value::from("u1"));
    let [op, a, b] = args.as_slice() else {
        panic!("usage: backup --child backup|restore|sync URL FILE|URL")
    };
    let pg = PostgresAdapter::new(a, PostgresOptions::default()).unwrap();
    let start = Instant::now();
    match op.as_str() {
        "backup" => {
            let options = BackupOptions {
                user_id: user,
                ..BackupOptions::default()
            };
            dba_backup::backup(&pg, &schema, Path::new(b), &options, &NoProgress)
                .await
                .unwrap();
        }
        "restore" => {
            if std::env::var_os("DBA_BENCH_PHASES").is_some() {
                restore_phases(&pg, &schema, Path::new(b)).await;
            }
            let start = Instant::now();
            dba_backup::restore(
                &pg,
                &schema,
                Path::new(b),
                &RestoreOptions::default(),
                &NoProgress,
            )
            .await
            .unwrap();
            report(start.elapsed());
            pg.close().await;
            return;
        }
        "sync" => {
            let dst = PostgresAdapter::new(b, PostgresOptions::default()).unwrap();
            let options = SyncOptions {
                user_id: user,
                ..SyncOptions::default()
            };
            let result = dba_backup::sync(&pg, &dst, &schema, &options, &NoProgress).await;
            assert!(result.success, "{:?}", result.errors);
            dst.close().await;
        }
        other => panic!("unknown child operation {other}"),
    }
    report(start.elapsed());
    pg.close().await;
}

fn report(elapsed: Duration) {
    println!(
        "{}",
        json!({"seconds": elapsed.as_secs_f64(), "cpu_seconds": cpu_seconds(), "peak_mib": peak_rss_mib()})
    );
}

/// With `DBA_BENCH_PHASES` set: how long validating the file and a dry-run restore take, on stderr.
async fn restore_phases(pg: &PostgresAdapter, schema: &BackupSchema, file: &Path) {
    let start = Instant::now();
    let report = dba_backup::validate_backup(file, schema);
    eprintln!(
        "phase: validate {:.0} ms (valid {})",
        start.elapsed().as_secs_f64() * 1e3,
        report.valid
    );
    let start = Instant::now();
    let dry = RestoreOptions {
        dry_run: true,
        ..RestoreOptions::default()
    };
    dba_backup::restore(pg, schema, file, &dry, &NoProgress)
        .await
        .unwrap();
    eprintln!(
        "phase: dry-run restore {:.0} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
}

/// Runs this program again as a child doing `op`, and reads what it measured.
fn child(op: &str, a: &str, b: &str) -> Measured {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["--child", op, a, b])
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the {op} child failed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("the {op} child wrote {line:?}: {e}"));
    Measured {
        seconds: v["seconds"].as_f64().unwrap(),
        cpu_seconds: v["cpu_seconds"].as_f64().unwrap(),
        peak_mib: v["peak_mib"].as_f64().unwrap(),
    }
}

// ---------------------------------------------------------------------------------------------------
// The parent: every size, every case, and the report.

/// One case at one size: dba's time, client CPU time and peak memory beside the reference's time.
struct Case {
    dba: f64,
    dba_cpu: f64,
    reference: f64,
    /// The reference doing the server's share of dba's work, where measured (see [`sync_case`]).
    floor: Option<f64>,
    peak_mib: f64,
    runs: usize,
}

/// Everything measured at one size.
struct SizeResult {
    rows: u64,
    fill_seconds: f64,
    backup: Case,
    restore: Case,
    sync: Case,
}

/// Where the bench keeps its files, the programs it compares with, and the disk it has used.
struct Bench {
    dir: PathBuf,
    pg_dump: String,
    psql: String,
    /// The databases this bench creates (whether alive or not), for the disk samples.
    names: Vec<String>,
    peak_disk: u64,
}

impl Drop for Bench {
    /// Removes the bench's files even when a case panics: at 10,000,000 rows they take gigabytes.
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Bench {
    /// Bytes on disk now: the size of each of this bench's databases that exists, plus its files.
    async fn sample_disk(&mut self, db: &TestDb) {
        let row = db
            .client()
            .await
            .query_one(
                "SELECT coalesce(sum(pg_database_size(datname)), 0)::int8 FROM pg_database \
                 WHERE datname = ANY($1)",
                &[&self.names],
            )
            .await
            .unwrap();
        let databases = u64::try_from(row.get::<_, i64>(0)).unwrap();
        let files: u64 = std::fs::read_dir(&self.dir)
            .unwrap()
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        self.peak_disk = self.peak_disk.max(databases + files);
    }

    /// Counts `db` in the disk samples from now on.
    fn track(&mut self, db: &TestDb) {
        if !self.names.iter().any(|n| n == db.name()) {
            self.names.push(db.name().to_owned());
        }
    }

    async fn create(&mut self, name: &str) -> (TestDb, String) {
        let (db, url) = empty_db(name).await;
        self.track(&db);
        (db, url)
    }
}

/// The source at `rows` rows: filled unconstrained, then constrained and analysed. Returns it, its URL
/// and the seconds that took.
async fn source(bench: &mut Bench, rows: u64) -> (TestDb, String, f64) {
    let start = Instant::now();
    let db = TestDb::create("dba_backup::benches::source").await;
    bench.track(&db);
    let client = db.client().await;
    client.batch_execute(TABLES).await.unwrap();
    client.batch_execute(&fill(rows)).await.unwrap();
    // Building the indexes sorts every row: more memory than the default 64 MB, fewer passes on disk.
    client
        .batch_execute(&format!("SET maintenance_work_mem = '256MB';{CONSTRAINTS}"))
        .await
        .unwrap();
    client.batch_execute("VACUUM ANALYZE").await.unwrap();
    // The fill's dirty pages written now, not by a checkpoint during the measurements: at 10,000,000 rows
    // that checkpoint wrote gigabytes beside the first backups, whose time per row read 1.22x that at
    // 1,000,000 (after a checkpoint: 1.04x, pg_dump's 0.96x).
    client.batch_execute("CHECKPOINT").await.unwrap();
    let url = plain(db.url());
    (db, url, start.elapsed().as_secs_f64())
}

/// Backup beside `pg_dump --data-only`, `runs` times each, alternating which goes first; medians compared, the highest
/// peak memory kept. Leaves the backup and the dump in the bench's folder.
async fn backup_case(bench: &mut Bench, src: &TestDb, src_url: &str, runs: usize) -> Case {
    let backup_file = bench.dir.join("backup.json");
    let dump_file = bench.dir.join("dump.sql");
    let mut samples = Samples::default();
    for run in 0..runs {
        for dba_side in sides(run) {
            if dba_side {
                samples.dba(child("backup", src_url, backup_file.to_str().unwrap()));
            } else {
                samples.reference(timed_shell(&format!(
                    "{} --data-only -t authors -t posts -t comments -d '{src_url}' -f '{}'",
                    bench.pg_dump,
                    dump_file.display()
                )));
            }
        }
        bench.sample_disk(src).await;
    }
    samples.case()
}

/// Restore of the backup with ids remapped beside `psql -f` of the dump, `runs` times each, alternating
/// which goes first, each into a fresh database dropped afterwards; medians compared, the highest peak
/// memory kept. Removes both files.
async fn restore_case(bench: &mut Bench, src: &TestDb, rows: u64, runs: usize) -> Case {
    let backup_file = bench.dir.join("backup.json");
    let dump_file = bench.dir.join("dump.sql");
    let mut samples = Samples::default();
    for run in 0..runs {
        for dba_side in sides(run) {
            if dba_side {
                let (dst, dst_url) = bench.create("dba_backup::benches::restore").await;
                samples.dba(child("restore", &dst_url, backup_file.to_str().unwrap()));
                assert_eq!(count_comments(&dst).await, split(rows).2);
                bench.sample_disk(src).await;
                dst.drop_db().await;
            } else {
                let (load, load_url) = bench.create("dba_backup::benches::load").await;
                samples.reference(timed_shell(&format!(
                    "{} -X -q -v ON_ERROR_STOP=1 -d '{load_url}' -f '{}'",
                    bench.psql,
                    dump_file.display()
                )));
                bench.sample_disk(src).await;
                load.drop_db().await;
            }
        }
    }
    std::fs::remove_file(&backup_file).unwrap();
    std::fs::remove_file(&dump_file).unwrap();
    samples.case()
}

/// Sync into an empty database beside a `COPY TO | COPY FROM` pipe per table, and beside the same pipe
/// with every table's columns but its key (the destination draws each row's key from its sequence, as
/// the remapping sync has it do: the server-side share of the work measured with psql), `runs` times
/// each, the order turned each run; medians compared, the highest peak memory kept.
async fn sync_case(bench: &mut Bench, src: &TestDb, src_url: &str, rows: u64, runs: usize) -> Case {
    let mut samples = Samples::default();
    for run in 0..runs {
        for side in (0..3).map(|i| (i + run) % 3) {
            let (dst, dst_url) = bench.create("dba_backup::benches::sync").await;
            let psql = &bench.psql;
            match side {
                0 => samples.dba(child("sync", src_url, &dst_url)),
                1 => samples.reference(timed_shell(&["authors", "posts", "comments"].map(|t| {
                    format!("{psql} -X -q -d '{src_url}' -c 'COPY {t} TO STDOUT' | {psql} -X -q -d '{dst_url}' -c 'COPY {t} FROM STDIN'")
                }).join(" && "))),
                _ => samples.floor(timed_shell(&DRAWN_KEY_COLUMNS.map(|(t, columns)| {
                    format!("{psql} -X -q -d '{src_url}' -c 'COPY {t} ({columns}) TO STDOUT' | {psql} -X -q -d '{dst_url}' -c 'COPY {t} ({columns}) FROM STDIN'")
                }).join(" && "))),
            }
            assert_eq!(count_comments(&dst).await, split(rows).2);
            bench.sample_disk(src).await;
            dst.drop_db().await;
        }
    }
    samples.case()
}

/// Which side goes first in run `run`: dba in even runs, the reference in odd ones, so neither always
/// meets the machine (its caches, the host's other guests) in the state the other left.
fn sides(run: usize) -> [bool; 2] {
    if run.is_multiple_of(2) {
        [true, false]
    } else {
        [false, true]
    }
}

/// The runs of one case, gathered into a [`Case`] of medians.
#[derive(Default)]
struct Samples {
    dba: Vec<f64>,
    cpu: Vec<f64>,
    reference: Vec<f64>,
    floor: Vec<f64>,
    peak: f64,
}

impl Samples {
    fn dba(&mut self, m: Measured) {
        self.dba.push(m.seconds);
        self.cpu.push(m.cpu_seconds);
        self.peak = self.peak.max(m.peak_mib);
    }

    fn reference(&mut self, elapsed: Duration) {
        self.reference.push(elapsed.as_secs_f64());
    }

    /// A run of the reference doing only the server's share of dba's work (see [`sync_case`]).
    fn floor(&mut self, elapsed: Duration) {
        self.floor.push(elapsed.as_secs_f64());
    }

    fn case(self) -> Case {
        Case {
            runs: self.dba.len(),
            dba: median(self.dba),
            dba_cpu: median(self.cpu),
            reference: median(self.reference),
            floor: (!self.floor.is_empty()).then(|| median(self.floor)),
            peak_mib: self.peak,
        }
    }
}

/// Every case at `rows` rows; drops the source afterwards.
async fn one_size(bench: &mut Bench, rows: u64) -> SizeResult {
    println!("backup bench: filling {rows} rows");
    let (src, src_url, fill_seconds) = source(bench, rows).await;
    bench.sample_disk(&src).await;
    println!("backup bench: {rows} rows filled in {fill_seconds:.1} s");
    // Three backups at every size (about 10 s each at 10,000,000 rows): one run's time per row there
    // swung by a fifth with the machine. Restore and sync three times up to 1,000,000 rows, where one
    // run's ratio swung from 0.9x to 1.25x within the hour on a shared machine; once at 10,000,000 rows,
    // where each side takes minutes.
    let backup = backup_case(bench, &src, &src_url, 3).await;
    let runs = if rows < 10_000_000 { 3 } else { 1 };
    let restore = restore_case(bench, &src, rows, runs).await;
    let sync = sync_case(bench, &src, &src_url, rows, runs).await;
    src.drop_db().await;
    let result = SizeResult {
        rows,
        fill_seconds,
        backup,
        restore,
        sync,
    };
    for (name, c) in result.cases() {
        println!(
            "backup bench: {rows} rows, {name}: dba {:.2} s (client CPU {:.2} s), reference {:.2} s, {:.2}×, \
             peak {:.0} MiB{}",
            c.dba,
            c.dba_cpu,
            c.reference,
            c.dba / c.reference,
            c.peak_mib,
            c.floor
                .map(|f| format!(", server's share {f:.2} s"))
                .unwrap_or_default()
        );
    }
    result
}

/// One case of a size's results.
type Pick = fn(&SizeResult) -> &Case;

impl SizeResult {
    fn cases(&self) -> [(&'static str, &Case); 3] {
        [
            ("backup", &self.backup),
            ("restore", &self.restore),
            ("sync", &self.sync),
        ]
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

async fn run(args: Vec<String>) {
    let started = Instant::now();
    let quick = args.iter().any(|a| a == "--quick");
    let large = args.iter().any(|a| a == "--large");
    assert!(!(quick && large), "--quick and --large exclude each other");
    let (sizes, headline): (&[u64], u64) = if quick {
        (&[10_000, 100_000], 100_000)
    } else if large {
        (&[100_000, 1_000_000, 10_000_000], 1_000_000)
    } else {
        (&[100_000, 1_000_000], 1_000_000)
    };
    let dir = std::env::temp_dir().join(format!("dba-bench-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut bench = Bench {
        dir,
        pg_dump: bin("pg_dump"),
        psql: bin("psql"),
        names: Vec::new(),
        peak_disk: 0,
    };
    let mut results = Vec::new();
    for &rows in sizes {
        results.push(one_size(&mut bench, rows).await);
    }
    std::fs::remove_dir_all(&bench.dir).unwrap();
    let peak_disk = bench.peak_disk;
    drop(bench);
    let seconds = started.elapsed().as_secs_f64();

    let mut out = headline_table(&results, headline);
    out.push('\n');
    out.push_str(&scaling_table(&results));
    let _ = write!(
        out,
        "\nThis bench took {:.1} min and used up to {:.2} GB of disk (its databases and files, sampled after \
         each step; each size's are removed before the next).\n",
        seconds / 60.0,
        peak_disk as f64 / 1e9
    );
    println!("{out}");
    let bench_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/dba-bench");
    std::fs::create_dir_all(&bench_dir).unwrap();
    std::fs::write(bench_dir.join("backup.md"), out).unwrap();
    let report = json!({
        "headline_rows": headline,
        "wall_seconds": seconds,
        "peak_disk_bytes": peak_disk,
        "references": {"backup": "pg_dump --data-only", "restore": "psql -f of the dump", "sync": "COPY TO | COPY FROM"},
        "server_share": {"sync": "COPY TO | COPY FROM of every column but the key, the destination drawing each key"},
        "sizes": results.iter().map(|r| {
            let mut cases = serde_json::Map::new();
            for (name, c) in r.cases() {
                cases.insert(name.to_owned(), json!({
                    "dba_seconds": c.dba, "dba_cpu_seconds": c.dba_cpu, "reference_seconds": c.reference, "server_share_seconds": c.floor, "dba_peak_mib": c.peak_mib, "runs": c.runs,
                }));
            }
            json!({"rows": r.rows, "fill_seconds": r.fill_seconds, "cases": cases})
        }).collect::<Vec<_>>(),
    });
    std::fs::write(
        bench_dir.join("backup.json"),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
}

// ---------------------------------------------------------------------------------------------------
// The report.

/// Whether `value` is at most `limit` as the table shows it, to `decimals` decimals, so a row never reads
/// 1.10× against ≤ 1.1× and missed.
fn at_most(value: f64, limit: f64, decimals: i32) -> bool {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale <= limit
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

/// Thousands separated by commas: 1,000,000.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Peak memory at every size, the largest first named, and whether it stays under `limit` and flat.
fn peaks(results: &[SizeResult], pick: Pick, limit: f64) -> (String, bool) {
    let text = results
        .iter()
        .map(|r| format!("{:.0} MiB at {}", pick(r).peak_mib, grouped(r.rows)))
        .collect::<Vec<_>>()
        .join(", ");
    let under = results.iter().all(|r| at_most(pick(r).peak_mib, limit, 0));
    let flat = match results {
        [.., before, last] => at_most(
            pick(last).peak_mib - pick(before).peak_mib,
            FLAT_SHARE * limit,
            1,
        ),
        _ => true,
    };
    (text, under && flat)
}

fn headline_table(results: &[SizeResult], headline: u64) -> String {
    let r = results.iter().find(|r| r.rows == headline).unwrap();
    let ms = |s: f64| s * 1e3;
    let mut out = format!(
        "{} rows: 1% authors, 9% posts (numeric, text[], boolean), 90% comments (jsonb, timestamptz); \
         each dba operation in a fresh process\n\n\
         | case | dba | reference | ratio | target | |\n|---|---:|---:|---:|---|---|\n",
        grouped(headline)
    );
    let rows: [(&str, &Case, &str, f64); 3] = [
        (
            "backup, wall time",
            &r.backup,
            "`pg_dump --data-only`",
            BACKUP_RATIO,
        ),
        (
            "restore with id remapping, wall time",
            &r.restore,
            "`psql -f` of the dump, no remapping",
            RESTORE_RATIO,
        ),
        (
            "sync (remapping, insert new), wall time",
            &r.sync,
            "`COPY TO \\| COPY FROM` pipe",
            SYNC_RATIO,
        ),
    ];
    for (name, c, reference, limit) in rows {
        let ratio = c.dba / c.reference;
        let _ = writeln!(
            out,
            "| {name} ({}) | {:.0} ms | {:.0} ms ({reference}) | {ratio:.2}× | ≤ {limit}× | {} |",
            runs_label(c.runs),
            ms(c.dba),
            ms(c.reference),
            verdict(at_most(ratio, limit, 2))
        );
    }
    if let Some(floor) = r.sync.floor {
        let _ = writeln!(
            out,
            "| sync's server-side share: the pipe without the keys, each drawn by the destination ({}) | | \
             {:.0} ms (the pipe of every column but the key) | {:.2}× the pipe; dba {:.2}× this | | |",
            runs_label(r.sync.runs),
            ms(floor),
            floor / r.sync.reference,
            r.sync.dba / floor
        );
    }
    let (text, met) = peaks(results, |r| &r.backup, BACKUP_PEAK_MIB);
    let _ = writeln!(
        out,
        "| backup, peak memory | {text} | | | ≤ {BACKUP_PEAK_MIB:.0} MiB, flat | {} |",
        verdict(met)
    );
    let (text, met) = peaks(results, |r| &r.restore, RESTORE_PEAK_MIB);
    let _ = writeln!(
        out,
        "| restore, peak memory | {text} | | | ≤ {RESTORE_PEAK_MIB:.0} MiB, flat | {} |",
        verdict(met)
    );
    out
}

/// How a case's time was taken: "median of 3" or "one run".
fn runs_label(runs: usize) -> String {
    if runs == 1 {
        "one run".to_owned()
    } else {
        format!("median of {runs}")
    }
}

/// How each case's time was taken at each size, e.g. "backup the median of 3 runs; restore and sync the
/// median of 3 runs at 100,000 and 1,000,000 rows, one run at 10,000,000".
fn runs_note(results: &[SizeResult]) -> String {
    let mut parts = Vec::new();
    for (name, pick) in [
        ("backup", (|r| &r.backup) as Pick),
        ("restore and sync", |r| &r.restore),
    ] {
        let mut by_runs: Vec<(usize, Vec<String>)> = Vec::new();
        for r in results {
            let runs = pick(r).runs;
            match by_runs.iter_mut().find(|(n, _)| *n == runs) {
                Some((_, sizes)) => sizes.push(grouped(r.rows)),
                None => by_runs.push((runs, vec![grouped(r.rows)])),
            }
        }
        let text = if let [(runs, _)] = by_runs.as_slice() {
            runs_label(*runs)
        } else {
            by_runs
                .iter()
                .map(|(runs, sizes)| {
                    format!("{} at {} rows", runs_label(*runs), sizes.join(" and "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        parts.push(format!("{name}: {text}"));
    }
    parts.join("; ")
}

/// Time per row at each size, for dba and the reference, and the ratio of time per row at the largest
/// size against the one before it.
fn scaling_table(results: &[SizeResult]) -> String {
    let [.., before, last] = results else {
        return String::new();
    };
    let mut out = format!(
        "Scaling: time per row at each size ({}; fill: set-based `INSERT … SELECT generate_series`, then the \
         constraints, then `VACUUM ANALYZE` and a `CHECKPOINT`). Linear means the time per row at {} rows is at most \
         {LINEAR_RATIO}× that at {}{}; flat memory means at most a tenth of the limit more ({:.1} MiB for \
         backup, {:.1} MiB for restore).\n\n| case |",
        runs_note(results),
        grouped(last.rows),
        grouped(before.rows),
        if last.rows < 10_000_000 {
            " (the target is stated for 10,000,000 rows against 1,000,000: `--large`)"
        } else {
            ""
        },
        FLAT_SHARE * BACKUP_PEAK_MIB,
        FLAT_SHARE * RESTORE_PEAK_MIB,
    );
    for r in results {
        let _ = write!(out, " {} rows |", grouped(r.rows));
    }
    let _ = writeln!(
        out,
        " {} vs {}: time per row, memory | target | |",
        grouped(last.rows),
        grouped(before.rows)
    );
    out.push_str("|---|");
    out.push_str(&"---:|".repeat(results.len() + 1));
    out.push_str("---|---|\n");
    let cases: [(&str, &str, Pick); 3] = [
        ("backup", "pg_dump", |r| &r.backup),
        ("restore", "psql -f", |r| &r.restore),
        ("sync", "COPY pipe", |r| &r.sync),
    ];
    let us = |seconds: f64, rows: u64| seconds * 1e6 / rows as f64;
    for (name, reference, pick) in cases {
        for (side, dba) in [("dba", true), (reference, false)] {
            let time = |r: &SizeResult| {
                let c = pick(r);
                us(if dba { c.dba } else { c.reference }, r.rows)
            };
            let _ = write!(out, "| {name}, {side} |");
            for r in results {
                let _ = write!(out, " {:.2} µs |", time(r));
            }
            let ratio = time(last) / time(before);
            if dba {
                let _ = writeln!(
                    out,
                    " {ratio:.2}× | ≤ {LINEAR_RATIO}× | {} |",
                    verdict(at_most(ratio, LINEAR_RATIO, 2))
                );
            } else {
                let _ = writeln!(out, " {ratio:.2}× | | |");
            }
        }
    }
    for (name, pick, limit) in [
        (
            "backup, peak memory",
            (|r| &r.backup) as Pick,
            BACKUP_PEAK_MIB,
        ),
        ("restore, peak memory", |r| &r.restore, RESTORE_PEAK_MIB),
        ("sync, peak memory", |r| &r.sync, f64::INFINITY),
    ] {
        let _ = write!(out, "| {name} |");
        for r in results {
            let _ = write!(out, " {:.0} MiB |", pick(r).peak_mib);
        }
        // Rounded before printing, and `+ 0.0` turns a negative zero positive: a change under half a MiB
        // reads "+0 MiB", not "-0 MiB".
        let grown = (pick(last).peak_mib - pick(before).peak_mib).round() + 0.0;
        if limit.is_finite() {
            let (_, met) = peaks(results, pick, limit);
            let _ = writeln!(
                out,
                " {grown:+.0} MiB | ≤ {limit:.0} MiB, flat | {} |",
                verdict(met)
            );
        } else {
            let _ = writeln!(out, " {grown:+.0} MiB | | |");
        }
    }
    let _ = write!(out, "| fill |");
    for r in results {
        let _ = write!(out, " {:.1} s |", r.fill_seconds);
    }
    out.push_str(" | | |\n");
    out
}
