//! A real PgBouncer in transaction pool mode, for tests of pooler-safe code.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::config::Host;

use crate::TestDb;
use crate::url::encode;

/// How many ports are tried when PgBouncer exits at startup (e.g. because
/// another process took the port first).
const START_ATTEMPTS: u32 = 3;

/// How long PgBouncer may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where PgBouncer is looked for when it is not on `PATH`.
const FALLBACK_BINARY: &str = "/usr/sbin/pgbouncer";

/// Tells apart the scratch directories of bouncers started by one process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A real PgBouncer in transaction pool mode in front of the test server,
/// started for one test and killed (and its scratch directory removed) on
/// drop.
///
/// It listens on 127.0.0.1 at a free port and forwards the test's database,
/// under the same name, to the admin URL's first host and port. Clients
/// authenticate with `trust`; PgBouncer logs in to the server with the admin
/// URL's user and password. Transaction mode means no named prepared
/// statements across transactions: use unnamed ones (`query_typed`).
#[derive(Debug)]
pub struct PgBouncer {
    child: Child,
    port: u16,
    url: String,
    dir: PathBuf,
    /// Keep `dir` on drop: while starting (a retry reuses it) and when a
    /// test panics (its logs help).
    keep_dir: bool,
}

/// How [`PgBouncer::wait_ready`] ended.
enum Ready {
    Yes,
    Exited(std::process::ExitStatus),
    TimedOut,
}

impl PgBouncer {
    /// Starts `pgbouncer` (from `PATH`, else `/usr/sbin/pgbouncer`) for
    /// `db`, in a scratch directory holding its ini, userlist and log file,
    /// and waits until it accepts connections. Run as root, it passes
    /// `-u postgres` (or `-u nobody`), since PgBouncer refuses to run as root.
    ///
    /// # Panics
    ///
    /// When PgBouncer is not installed ("install it: apt-get install
    /// pgbouncer"), or when it does not accept connections within about 10 s
    /// (the message includes its log).
    pub async fn start(db: &TestDb) -> PgBouncer {
        let binary = find_binary().unwrap_or_else(|| {
            panic!(
                "pgbouncer not found on PATH or at {FALLBACK_BINARY}; \
                 install it: apt-get install pgbouncer"
            )
        });
        let run_as = if running_as_root() {
            Some(unprivileged_user().unwrap_or_else(|| {
                panic!("running as root, but neither user `postgres` nor `nobody` exists to run pgbouncer as")
            }))
        } else {
            None
        };
        let admin = db.admin();
        let (server_host, server_port) = server_address(admin);
        let user = admin.get_user().unwrap_or("postgres").to_owned();
        let password = admin
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned());

        let dir = scratch_dir(run_as.is_some(), db.name());
        let ini = dir.join("pgbouncer.ini");
        let userlist = dir.join("userlist.txt");
        let log = dir.join("pgbouncer.log");
        let stderr = dir.join("stderr.log");
        let quoted = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        fs::write(
            &userlist,
            format!(
                "{} {}\n",
                quoted(&user),
                quoted(password.as_deref().unwrap_or(""))
            ),
        )
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", userlist.display()));

        let mut target = format!(
            "host={server_host} port={server_port} dbname={} user={user}",
            db.name()
        );
        if let Some(password) = &password {
            target.push_str(&format!(" password='{}'", password.replace('\'', "\\'")));
        }

        // The free port can be taken between our probe and PgBouncer's bind;
        // a bouncer that exits early is retried on a new port.
        let mut attempt = 1;
        loop {
            let port = free_port();
            let config = format!(
                "[databases]\n\
                 {name} = {target}\n\
                 \n\
                 [pgbouncer]\n\
                 listen_addr = 127.0.0.1\n\
                 listen_port = {port}\n\
                 unix_socket_dir =\n\
                 auth_type = trust\n\
                 auth_file = {userlist}\n\
                 pool_mode = transaction\n\
                 max_client_conn = 200\n\
                 default_pool_size = 10\n\
                 ignore_startup_parameters = extra_float_digits\n\
                 server_reset_query =\n\
                 logfile = {log}\n",
                name = db.name(),
                userlist = userlist.display(),
                log = log.display(),
            );
            fs::write(&ini, config)
                .unwrap_or_else(|err| panic!("cannot write {}: {err}", ini.display()));
            for file in [&ini, &userlist] {
                // Readable by the unprivileged user pgbouncer switches to.
                set_mode(file, 0o644);
            }

            let stderr_file = fs::File::create(&stderr)
                .unwrap_or_else(|err| panic!("cannot create {}: {err}", stderr.display()));
            let mut command = Command::new(&binary);
            if let Some(user) = &run_as {
                command.arg("-u").arg(user);
            }
            command
                .arg(&ini)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr_file);
            let child = command
                .spawn()
                .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));

            let mut url = format!("postgresql://{}", encode(&user));
            if let Some(password) = &password {
                url.push(':');
                url.push_str(&encode(password));
            }
            url.push_str(&format!("@127.0.0.1:{port}/{}", encode(db.name())));
            let mut bouncer = PgBouncer {
                child,
                port,
                url,
                dir: dir.clone(),
                keep_dir: true,
            };
            match bouncer.wait_ready().await {
                Ready::Yes => {
                    bouncer.keep_dir = false;
                    return bouncer;
                }
                Ready::Exited(_) if attempt < START_ATTEMPTS => {
                    // Dropping `bouncer` keeps the directory for the retry.
                    attempt += 1;
                }
                Ready::Exited(status) => panic!(
                    "pgbouncer exited with {status} before accepting connections \
                     ({attempt} attempts)\n{}",
                    bouncer.logs()
                ),
                Ready::TimedOut => panic!(
                    "pgbouncer did not accept connections on 127.0.0.1:{port} within {:?}\n{}",
                    READY_TIMEOUT,
                    bouncer.logs()
                ),
            }
        }
    }

    /// URL through the bouncer to the test database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port PgBouncer listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Polls the port until PgBouncer accepts a connection, it exits, or
    /// [`READY_TIMEOUT`] passes.
    async fn wait_ready(&mut self) -> Ready {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Ready::Exited(status);
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return Ready::Yes;
            }
            if started.elapsed() > READY_TIMEOUT {
                return Ready::TimedOut;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The log file and stderr, for panic messages.
    fn logs(&self) -> String {
        let read = |name: &str| {
            let path = self.dir.join(name);
            let text =
                fs::read_to_string(&path).unwrap_or_else(|err| format!("(unreadable: {err})"));
            format!("--- {} ---\n{text}", path.display())
        };
        format!("{}\n{}", read("pgbouncer.log"), read("stderr.log"))
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            // Keep the logs of a failing test for inspection.
            eprintln!("pgbouncer files kept in {}", self.dir.display());
        } else if !self.keep_dir {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `pgbouncer` from `PATH`, else [`FALLBACK_BINARY`].
fn find_binary() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("pgbouncer"))
        .chain([PathBuf::from(FALLBACK_BINARY)])
        .find(|path| path.is_file())
}

/// Whether this process runs as root (the owner of `/proc/self`).
pub(crate) fn running_as_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|meta| meta.uid() == 0)
}

/// `postgres` or `nobody`, whichever exists in `/etc/passwd`.
pub(crate) fn unprivileged_user() -> Option<String> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    ["postgres", "nobody"]
        .into_iter()
        .find(|user| {
            passwd
                .lines()
                .any(|line| line.split(':').next() == Some(*user))
        })
        .map(str::to_owned)
}

/// The admin URL's first host and port, in PgBouncer's `host=`/`port=` form.
fn server_address(admin: &tokio_postgres::Config) -> (String, u16) {
    let host = match admin.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(path)) => path.to_string_lossy().into_owned(),
        None => admin
            .get_hostaddrs()
            .first()
            .map_or_else(|| "127.0.0.1".to_owned(), ToString::to_string),
    };
    let port = admin.get_ports().first().copied().unwrap_or(5432);
    (host, port)
}

/// A fresh scratch directory; world-writable when PgBouncer will run as
/// another user (then under `/tmp`, which that user can always reach).
fn scratch_dir(shared: bool, db_name: &str) -> PathBuf {
    let base = if shared {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!(
        "dba-testkit-pgbouncer-{db_name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
    if shared {
        set_mode(&dir, 0o777);
    }
    dir
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|err| panic!("cannot chmod {}: {err}", path.display()));
}

/// A port nothing listens on right now (the OS picks it; the listener is
/// closed again before PgBouncer binds it).
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("the OS should hand out a free loopback port")
}
