//! Finding a PostgreSQL to test against, or starting a disposable cluster.
//!
//! xtask cannot catch Ctrl-C with std alone, so a small `sh` supervisor owns
//! the cluster's whole life: it creates, starts, stops and deletes it, and it
//! cleans up when xtask closes its stdin, when xtask dies (the pipe closes),
//! or when it receives SIGINT, SIGTERM or SIGHUP itself.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// Where `cargo xtask test` looks when `DBA_TEST_DATABASE_URL` is unset.
pub(crate) const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

/// The server programs a disposable cluster needs.
const SERVER_PROGRAMS: &[&str] = &["initdb", "pg_ctl", "postgres"];

const INSTALL_HINT: &str = "\
install the PostgreSQL server programs (initdb, pg_ctl, postgres), for example
  Debian/Ubuntu: sudo apt-get install postgresql
  Fedora:        sudo dnf install postgresql-server
  macOS:         brew install postgresql@17
or point DBA_TEST_DATABASE_URL at a running server";

/// What a connection attempt to a URL found.
#[derive(Debug)]
pub(crate) enum Probe {
    /// A server accepted the connection and answered `select 1`.
    Answers,
    /// Something listens there but `psql` could not use it (the reason).
    Refuses(String),
    /// Nothing listens there.
    Silent,
}

/// Checks whether `url` answers: with `psql` when it is installed, else with
/// a bare TCP connection to the URL's host and port.
pub(crate) fn probe(url: &str) -> Probe {
    let (host, port) = host_and_port(url);
    let listening = (host.as_str(), port)
        .to_socket_addrs()
        .map(|mut addrs| {
            addrs.any(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(3)).is_ok())
        })
        .unwrap_or(false);
    if !listening {
        return Probe::Silent;
    }
    let Some(psql) = find_program("psql") else {
        return Probe::Answers;
    };
    let output = Command::new(psql)
        .args(["-X", "-w", "-Atc", "select 1", url])
        .env("PGCONNECT_TIMEOUT", "5")
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => Probe::Answers,
        Ok(out) => Probe::Refuses(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        Err(err) => Probe::Refuses(format!("cannot run psql: {err}")),
    }
}

/// Host and port of a `postgres://` or `postgresql://` URL, with libpq's
/// defaults (`localhost`, 5432) for whatever it leaves out.
fn host_and_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    // Only the first host of a multi-host URL is probed.
    let host_port = host_port.split(',').next().unwrap_or("");
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let host = if host.is_empty() { "localhost" } else { host };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(5432);
    (host.to_owned(), port)
}

/// `url` with any password replaced by `***`, for messages.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// The admin URL of a disposable cluster listening on `port`.
fn cluster_url(port: u16) -> String {
    format!("postgresql://postgres@127.0.0.1:{port}/postgres")
}

/// `program` on PATH, or in the sbin directories that PATH often lacks for
/// ordinary users (Debian installs `pgbouncer` in /usr/sbin).
pub(crate) fn find_program(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The directory holding the PostgreSQL server programs, preferring the one
/// `pg_config` names, then the newest under /usr/lib/postgresql, then PATH.
fn find_server_bindir() -> Result<PathBuf> {
    let pg_config = find_program("pg_config").and_then(|pg_config| {
        let out = Command::new(pg_config)
            .arg("--bindir")
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let dir = String::from_utf8(out.stdout).ok()?;
        out.status.success().then(|| PathBuf::from(dir.trim()))
    });
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| entries.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let candidates = candidate_bindirs(pg_config, debian, std::env::split_paths(&path).collect());
    candidates
        .into_iter()
        .find(|dir| SERVER_PROGRAMS.iter().all(|p| dir.join(p).is_file()))
        .with_context(|| {
            format!("no PostgreSQL server programs found and nothing answers;\n{INSTALL_HINT}")
        })
}

/// The search order for server programs. `versions` are the entries of
/// /usr/lib/postgresql (`.../15`, `.../17`), tried newest first.
fn candidate_bindirs(
    pg_config: Option<PathBuf>,
    mut versions: Vec<PathBuf>,
    path: Vec<PathBuf>,
) -> Vec<PathBuf> {
    let version_key = |dir: &PathBuf| -> Vec<u32> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        name.split('.')
            .map(|part| part.parse().unwrap_or(0))
            .collect()
    };
    versions.sort_by_key(|dir| std::cmp::Reverse(version_key(dir)));
    pg_config
        .into_iter()
        .chain(versions.into_iter().map(|dir| dir.join("bin")))
        .chain(path)
        .collect()
}

/// The user to run the server as: PostgreSQL refuses to run as root, so
/// root hands it to `postgres` when that user exists, else to `nobody`.
fn server_user() -> Result<Option<String>> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .context("cannot run `id -u`")?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Ok(None);
    }
    let postgres_exists = Command::new("id")
        .args(["-u", "postgres"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    Ok(Some(
        if postgres_exists {
            "postgres"
        } else {
            "nobody"
        }
        .to_owned(),
    ))
}

/// A free TCP port on the loopback interface.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(listener.local_addr()?.port())
}

/// The supervisor. Arguments: server bindir, port, user to run the server as
/// (empty for the current one). It prints `ready <dir>` once the server
/// accepts connections, then waits for EOF on stdin; every way out runs
/// `cleanup`, which stops the server and deletes its directory.
const SUPERVISOR: &str = r#"
set -eu
bindir=$1 port=$2 user=$3
PATH=$PATH:/usr/sbin:/sbin
as_user() {
    if [ -z "$user" ]; then "$@"
    elif command -v runuser >/dev/null; then runuser -u "$user" -- "$@"
    else su -s /bin/sh -c 'exec "$0" "$@"' -- "$user" "$@"
    fi
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/dba-test-cluster.XXXXXX")
cleanup() {
    trap '' INT TERM HUP
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_user "$bindir/pg_ctl" stop -D "$dir/data" -m immediate -w >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    echo "xtask: stopped and deleted the disposable cluster in $dir" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
if [ -n "$user" ]; then chown "$user" "$dir"; fi
cd "$dir"
if ! as_user "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-locale \
    >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    exit 1
fi
if ! as_user "$bindir/pg_ctl" start -D "$dir/data" -w -t 60 -l "$dir/data/server.log" \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=200 -c fsync=off" \
    >/dev/null 2>&1; then
    cat "$dir/data/server.log" >&2 || true
    exit 1
fi
echo "ready $dir"
read -r _ || true
"#;

/// A running disposable cluster; dropping it stops and deletes it.
#[derive(Debug)]
pub(crate) struct Cluster {
    supervisor: Child,
    stdin: Option<ChildStdin>,
    url: String,
    dir: String,
}

impl Cluster {
    /// Initializes and starts a cluster in a fresh temporary directory.
    pub(crate) fn start() -> Result<Cluster> {
        let bindir = find_server_bindir()?;
        let user = server_user()?;
        let port = free_port()?;
        let mut supervisor = Command::new("sh")
            .args(["-c", SUPERVISOR, "dba-test-cluster"])
            .arg(&bindir)
            .arg(port.to_string())
            .arg(user.as_deref().unwrap_or(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("cannot run sh to supervise the disposable cluster")?;
        let stdin = supervisor.stdin.take();
        let mut line = String::new();
        if let Some(stdout) = supervisor.stdout.take() {
            BufReader::new(stdout)
                .read_line(&mut line)
                .context("cannot read from the cluster supervisor")?;
        }
        let Some(dir) = line.trim_end().strip_prefix("ready ") else {
            drop(stdin);
            let _ = supervisor.wait();
            bail!(
                "could not start a disposable PostgreSQL cluster with {} (see above)",
                bindir.display()
            );
        };
        let dir = dir.to_owned();
        Ok(Cluster {
            supervisor,
            stdin,
            url: cluster_url(port),
            dir,
        })
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    pub(crate) fn dir(&self) -> &str {
        &self.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // EOF on its stdin tells the supervisor to stop and delete the cluster.
        drop(self.stdin.take());
        let _ = self.supervisor.wait();
    }
}

/// Ensures `pgbouncer` is installed (the live tests of dba-postgres start
/// one) and returns its directory.
pub(crate) fn require_pgbouncer() -> Result<PathBuf> {
    let Some(pgbouncer) = find_program("pgbouncer") else {
        bail!(
            "pgbouncer is not installed; the live tests need it\n  \
             Debian/Ubuntu: sudo apt-get install pgbouncer\n  macOS: brew install pgbouncer"
        );
    };
    Ok(pgbouncer
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::cluster::{DEFAULT_URL, candidate_bindirs, cluster_url, host_and_port, redact};

    #[test]
    fn bindirs_prefer_pg_config_then_newest_debian_then_path() {
        let found = candidate_bindirs(
            Some(PathBuf::from("/opt/pg/bin")),
            [
                "/usr/lib/postgresql/9.6",
                "/usr/lib/postgresql/17",
                "/usr/lib/postgresql/13",
            ]
            .map(PathBuf::from)
            .to_vec(),
            vec![PathBuf::from("/usr/local/bin"), PathBuf::from("/usr/bin")],
        );
        let expected = [
            "/opt/pg/bin",
            "/usr/lib/postgresql/17/bin",
            "/usr/lib/postgresql/13/bin",
            "/usr/lib/postgresql/9.6/bin",
            "/usr/local/bin",
            "/usr/bin",
        ]
        .map(PathBuf::from);
        assert_eq!(found, expected);
    }

    #[test]
    fn bindirs_without_pg_config() {
        let found = candidate_bindirs(None, Vec::new(), vec![PathBuf::from("/usr/bin")]);
        assert_eq!(found, [PathBuf::from("/usr/bin")]);
    }

    #[test]
    fn host_and_port_of_urls() {
        assert_eq!(host_and_port(DEFAULT_URL), ("127.0.0.1".to_owned(), 5432));
        assert_eq!(
            host_and_port("postgres://u:p@db.example:6543/x?sslmode=require"),
            ("db.example".to_owned(), 6543)
        );
        assert_eq!(
            host_and_port("postgresql://[::1]:5433/x"),
            ("::1".to_owned(), 5433)
        );
        assert_eq!(
            host_and_port("postgresql:///x"),
            ("localhost".to_owned(), 5432)
        );
        assert_eq!(
            host_and_port("postgresql://a:5440,b:5441/x"),
            ("a".to_owned(), 5440)
        );
    }

    #[test]
    fn cluster_urls_use_the_postgres_superuser_on_loopback() {
        assert_eq!(
            cluster_url(54321),
            "postgresql://postgres@127.0.0.1:54321/postgres"
        );
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:1/d"),
            "postgres://u:***@h:1/d"
        );
        assert_eq!(redact(DEFAULT_URL), DEFAULT_URL);
        assert_eq!(
            redact("postgres://u:p@ss@h/d?x=y"),
            "postgres://u:***@h/d?x=y"
        );
    }
}
