//! A private PostgreSQL cluster for one test: tests that restart or stop the
//! server, or need TLS, cannot share the suite's server.
//!
//! A focused re-implementation of what `xtask/src/cluster.rs` does for the
//! whole suite (the testkit cannot depend on xtask): find the server
//! programs, `initdb` with trust authentication into a fresh directory (as
//! the `postgres` user when run as root), listen on 127.0.0.1 at a free
//! port, and stop and delete everything on drop.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_postgres::Client;

use crate::pgbouncer::{running_as_root, unprivileged_user};

/// The programs a cluster needs, all in one directory.
const PROGRAMS: &[&str] = &["initdb", "pg_ctl", "postgres", "pg_basebackup", "psql"];

/// How long [`Cluster::start_standby`] and [`Cluster::wait_replayed`] wait for their condition before
/// failing the test (a deadline for a broken setup, not a timing assumption: they return as soon as the
/// condition holds).
const REPLICATION_DEADLINE: Duration = Duration::from_secs(120);

const INSTALL_HINT: &str = "install the PostgreSQL server programs (initdb, pg_ctl, postgres): \
     Debian/Ubuntu `sudo apt-get install postgresql`, Fedora `sudo dnf install postgresql-server`, \
     macOS `brew install postgresql@17`";

/// How many ports are tried when the server cannot bind the one picked.
const START_ATTEMPTS: u32 = 3;

/// Tells apart the clusters of one process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A private PostgreSQL server for one test, stopped and deleted on drop
/// (also when the test panics; the end of the server log is printed then).
///
/// The superuser is `postgres` with trust authentication for local and
/// 127.0.0.1 connections; the server listens only on 127.0.0.1. Its methods
/// block (they run `pg_ctl`): in an async test call them from
/// `tokio::task::block_in_place` on a multi-thread runtime when other tasks
/// must keep running meanwhile.
#[derive(Debug)]
pub struct Cluster {
    bindir: PathBuf,
    dir: PathBuf,
    port: u16,
    user: Option<String>,
}

impl Cluster {
    /// Creates and starts a cluster without TLS.
    ///
    /// # Panics
    ///
    /// When the server programs are not installed (the message says how to
    /// install them), or `initdb` or the server fails (with their output).
    pub fn start() -> Cluster {
        Cluster::create(None, "")
    }

    /// Creates and starts a cluster without TLS, with `settings` (lines of
    /// `postgresql.conf`, such as `shared_preload_libraries =
    /// 'pg_stat_statements'`) added to its configuration.
    ///
    /// # Panics
    ///
    /// As [`Cluster::start`], and when the server refuses a setting.
    pub fn start_with_settings(settings: &str) -> Cluster {
        Cluster::create(None, settings)
    }

    /// Creates and starts a cluster with `ssl = on`, serving `cert_pem` (the
    /// server certificate, optionally followed by its chain) and `key_pem`
    /// (written with mode 0600, owned by the server's user, as PostgreSQL
    /// requires). Plain connections stay allowed, so the test decides.
    ///
    /// # Panics
    ///
    /// As [`Cluster::start`], and when the server refuses the key or
    /// certificate.
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Cluster {
        Cluster::create(Some((cert_pem, key_pem)), "")
    }

    fn create(tls: Option<(&str, &str)>, extra: &str) -> Cluster {
        let bindir = find_bindir().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server programs found (looked in `pg_config --bindir`, \
                 /usr/lib/postgresql/*/bin and PATH); {INSTALL_HINT}"
            )
        });
        let user = running_as_root().then(|| {
            unprivileged_user().unwrap_or_else(|| {
                panic!("running as root, but neither user `postgres` nor `nobody` exists to run PostgreSQL as")
            })
        });
        let dir = scratch_dir();
        let cluster = Cluster {
            bindir,
            dir,
            port: 0,
            user,
        };
        if let Some(user) = &cluster.user {
            chown(&cluster.dir, user);
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&cluster.data()),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        let mut settings = format!(
            "\n# dba-testkit\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 100\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            cluster.dir.display()
        );
        if let Some((cert, key)) = tls {
            let cert_file = cluster.data().join("server.crt");
            let key_file = cluster.data().join("server.key");
            write(&cert_file, cert, 0o644);
            write(&key_file, key, 0o600);
            if let Some(user) = &cluster.user {
                chown(&cert_file, user);
                chown(&key_file, user);
            }
            settings
                .push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        settings.push_str(extra);
        settings.push('\n');
        let conf = cluster.data().join("postgresql.conf");
        let mut text = fs::read_to_string(&conf)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", conf.display()));
        text.push_str(&settings);
        write(&conf, &text, 0o600);
        if let Some(user) = &cluster.user {
            chown(&conf, user);
        }
        let mut cluster = cluster;
        cluster.start_on_free_port();
        cluster
    }

    /// Starts a streaming standby of this cluster (its primary): `pg_basebackup -R -X stream` into a fresh
    /// directory, `hot_standby = on`, its own port and socket directory. Returns once the standby answers
    /// read-only queries (`pg_is_in_recovery()`) and its WAL receiver is streaming
    /// (`pg_stat_wal_receiver`). Stopped and deleted on drop, like any cluster.
    ///
    /// The primary needs nothing set up by hand: `initdb`'s defaults (`wal_level = replica`,
    /// `max_wal_senders = 10`, a trusted `host replication all 127.0.0.1/32` line) allow it.
    ///
    /// # Panics
    ///
    /// When `pg_basebackup` or the standby fails, or it does not stream within two minutes.
    pub fn start_standby(&self) -> Cluster {
        self.start_standby_with_settings("")
    }

    /// [`Cluster::start_standby`] with `settings` (lines of `postgresql.conf`, such as `log_statement =
    /// 'all'`) added to the standby's configuration.
    ///
    /// # Panics
    ///
    /// As [`Cluster::start_standby`].
    pub fn start_standby_with_settings(&self, settings: &str) -> Cluster {
        let dir = scratch_dir();
        if let Some(user) = &self.user {
            chown(&dir, user);
        }
        let mut standby = Cluster {
            bindir: self.bindir.clone(),
            dir,
            port: 0,
            user: self.user.clone(),
        };
        let port = self.port.to_string();
        standby.run(
            "pg_basebackup",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                path_str(&standby.data()),
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
            ],
        );
        // The primary's postgresql.conf came along; lines added later win over its socket directory.
        let conf = standby.data().join("postgresql.conf");
        let mut text = fs::read_to_string(&conf)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", conf.display()));
        text.push_str(&format!(
            "\n# dba-testkit standby\nunix_socket_directories = '{}'\nhot_standby = on\n\
             hot_standby_feedback = on\nwal_receiver_status_interval = 1s\n{settings}\n",
            standby.dir.display()
        ));
        write(&conf, &text, 0o600);
        if let Some(user) = &standby.user {
            chown(&conf, user);
        }
        standby.start_on_free_port();
        standby.wait_until(
            "the standby to answer in recovery",
            "SELECT pg_is_in_recovery()",
            "t",
        );
        standby.wait_until(
            "the standby to stream from the primary",
            "SELECT status FROM pg_stat_wal_receiver",
            "streaming",
        );
        standby
    }

    /// Waits until this standby has replayed everything its `primary` had committed when the call began:
    /// a transaction that writes WAL (a temporary table) and commits with `synchronous_commit = on` flushes
    /// the primary's WAL (test clusters commit asynchronously, and a commit that wrote nothing else is not
    /// flushed), then `pg_last_wal_replay_lsn()` must reach the primary's `pg_current_wal_flush_lsn()`.
    ///
    /// # Panics
    ///
    /// When that does not happen within two minutes (replay paused, the standby stopped).
    pub fn wait_replayed(&self, primary: &Cluster) {
        let (ok, out) = primary.command(
            "psql",
            &[
                "-X",
                "-q",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                "SET synchronous_commit = on",
                "-c",
                "CREATE TEMP TABLE dba_testkit_flush ()",
                "-c",
                "SELECT pg_current_wal_flush_lsn()",
            ],
        );
        let lsn = out.lines().last().unwrap_or_default().trim().to_owned();
        if !ok || lsn.is_empty() {
            panic!(
                "cannot read the primary's WAL position on port {}:\n{out}",
                primary.port
            );
        }
        self.wait_until(
            "the standby to replay the primary's WAL",
            &format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn"),
            "t",
        );
    }

    /// Runs `sql` on the `postgres` database with `psql` and returns its unaligned, tuples-only output
    /// (trimmed). For blocking checks outside async code; async tests usually use [`Cluster::admin`].
    ///
    /// # Panics
    ///
    /// When `psql` fails.
    pub fn psql(&self, sql: &str) -> String {
        let (ok, out) = self.try_psql(sql);
        if !ok {
            panic!("psql on port {} failed for `{sql}`:\n{out}", self.port);
        }
        out.trim().to_owned()
    }

    fn try_psql(&self, sql: &str) -> (bool, String) {
        let port = self.port.to_string();
        self.command(
            "psql",
            &[
                "-X",
                "-q",
                "-A",
                "-t",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
        )
    }

    /// Polls `sql` until its output is `expected`, failing after [`REPLICATION_DEADLINE`].
    fn wait_until(&self, what: &str, sql: &str, expected: &str) {
        let start = std::time::Instant::now();
        loop {
            let (ok, out) = self.try_psql(sql);
            if ok && out.trim() == expected {
                return;
            }
            if start.elapsed() > REPLICATION_DEADLINE {
                panic!(
                    "gave up waiting for {what} on port {} (`{sql}` gave {:?})\n{}",
                    self.port,
                    out.trim(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Picks a free port and starts the server, retrying with another port
    /// when the one picked was taken in between.
    fn start_on_free_port(&mut self) {
        let mut attempt = 1;
        loop {
            self.port = free_port();
            match self.pg_ctl_start() {
                Ok(()) => return,
                Err(_) if attempt < START_ATTEMPTS => attempt += 1,
                Err(msg) => panic!("{msg}"),
            }
        }
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let port = format!("-p {}", self.port);
        let out = self.command(
            "pg_ctl",
            &[
                "start",
                "-D",
                path_str(&self.data()),
                "-w",
                "-t",
                "60",
                "-l",
                path_str(&self.log_file()),
                "-o",
                &port,
            ],
        );
        if out.0 {
            Ok(())
        } else {
            Err(format!(
                "cannot start the test cluster in {}: {}\n{}",
                self.dir.display(),
                out.1,
                self.log_tail()
            ))
        }
    }

    /// `postgresql://postgres@127.0.0.1:<port>/postgres`.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The URL of database `dbname` on this cluster (a plain name, not
    /// percent-encoded).
    pub fn url_for(&self, dbname: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{dbname}", self.port)
    }

    /// The port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's directory (data directory, socket and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A superuser client on the `postgres` database, without TLS; its
    /// connection task runs on the current runtime.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    pub async fn admin(&self) -> Client {
        self.client("postgres").await
    }

    /// A superuser client on `dbname`, without TLS.
    ///
    /// # Panics
    ///
    /// When the server does not answer.
    pub async fn client(&self, dbname: &str) -> Client {
        let url = self.url_for(dbname);
        let mut config: tokio_postgres::Config = url
            .parse()
            .unwrap_or_else(|err| panic!("bad cluster URL {url}: {err}"));
        config.connect_timeout(Duration::from_secs(5));
        crate::connect(&config, &url)
            .await
            .unwrap_or_else(|msg| panic!("{msg}"))
    }

    /// Creates database `name` and returns its URL.
    ///
    /// # Panics
    ///
    /// When the statement fails.
    pub async fn create_database(&self, name: &str) -> String {
        let sql = format!("CREATE DATABASE {}", crate::url::quote_ident(name));
        self.admin()
            .await
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|err| panic!("`{sql}` failed: {err}"));
        self.url_for(name)
    }

    /// Stops the server (`pg_ctl stop -m fast`: sessions are terminated and
    /// their transactions rolled back) and starts it again on the same port.
    /// Returns once it accepts connections.
    ///
    /// # Panics
    ///
    /// When either step fails.
    pub fn restart(&self) {
        self.stop();
        self.pg_ctl_start().unwrap_or_else(|msg| panic!("{msg}"));
    }

    /// Stops the server (fast mode) and waits until it is down; a later
    /// [`Cluster::restart`] starts it again.
    ///
    /// # Panics
    ///
    /// When `pg_ctl stop` fails while the server runs.
    pub fn stop(&self) {
        if !self.data().join("postmaster.pid").exists() {
            return;
        }
        self.run(
            "pg_ctl",
            &[
                "stop",
                "-D",
                path_str(&self.data()),
                "-m",
                "fast",
                "-w",
                "-t",
                "60",
            ],
        );
    }

    /// The server log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        format!("--- end of {} ---\n{tail}", self.log_file().display())
    }

    /// Runs a server program (as the server's user), panicking with its
    /// output when it fails.
    fn run(&self, program: &str, args: &[&str]) {
        let (ok, output) = self.command(program, args);
        if !ok {
            panic!(
                "`{program} {}` failed in the test cluster {}:\n{output}\n{}",
                args.join(" "),
                self.dir.display(),
                self.log_tail()
            );
        }
    }

    /// Runs a server program as the server's user; its output goes to a
    /// file, never a pipe (a server started by `pg_ctl` would keep a pipe
    /// open).
    fn command(&self, program: &str, args: &[&str]) -> (bool, String) {
        let binary = self.bindir.join(program);
        let mut command = match &self.user {
            Some(user) => {
                let mut c = Command::new(find_runuser());
                c.arg("-u").arg(user).arg("--").arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        let out_file = self.dir.join(format!("{program}.out"));
        let out = fs::File::create(&out_file)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", out_file.display()));
        let err = out
            .try_clone()
            .unwrap_or_else(|err| panic!("cannot dup a file handle: {err}"));
        let status = command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .status()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", binary.display()));
        (
            status.success(),
            fs::read_to_string(&out_file).unwrap_or_default(),
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test cluster on port {}:\n{}", self.port, self.log_tail());
        }
        if self.data().join("postmaster.pid").exists() {
            let _ = self.command(
                "pg_ctl",
                &[
                    "stop",
                    "-D",
                    path_str(&self.data()),
                    "-m",
                    "immediate",
                    "-w",
                ],
            );
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The directory with `initdb`, `pg_ctl` and `postgres`: `pg_config
/// --bindir`, else the newest `/usr/lib/postgresql/<version>/bin`, else PATH.
fn find_bindir() -> Option<PathBuf> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    let mut versions: Vec<(Vec<u32>, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let key = name.split('.').map(|p| p.parse().unwrap_or(0)).collect();
            (key, entry.path().join("bin"))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    let path = std::env::var_os("PATH").unwrap_or_default();
    from_pg_config
        .into_iter()
        .chain(versions.into_iter().map(|(_, dir)| dir))
        .chain(std::env::split_paths(&path))
        .find(|dir| PROGRAMS.iter().all(|p| dir.join(p).is_file()))
}

/// `runuser`, which PATH often lacks outside a login shell.
fn find_runuser() -> PathBuf {
    ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("runuser"))
}

/// A fresh directory under /tmp (which the server's user can reach when we
/// run as root) or the temp dir.
fn scratch_dir() -> PathBuf {
    let base = if running_as_root() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = base.join(format!(
        "dba-testkit-cluster-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|err| panic!("cannot chmod {}: {err}", dir.display()));
    dir
}

fn write(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|err| panic!("cannot chmod {}: {err}", path.display()));
}

/// Gives `path` to `user` (its uid and gid from /etc/passwd).
fn chown(path: &Path, user: &str) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let ids = passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&user)).then(|| {
            let id = |i: usize| fields.get(i).and_then(|v| v.parse::<u32>().ok());
            (id(2), id(3))
        })
    });
    let Some((Some(uid), gid)) = ids else {
        panic!("user {user} not found in /etc/passwd");
    };
    std::os::unix::fs::chown(path, Some(uid), gid)
        .unwrap_or_else(|err| panic!("cannot chown {} to {user}: {err}", path.display()));
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test cluster paths are UTF-8")
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("the OS should hand out a free loopback port")
}
