//! `cargo xtask test`: the one command that runs every check and every test.

use std::ffi::OsString;
use std::process::Command;

use anyhow::{Result, bail};

use crate::cluster::{self, Cluster, Probe};
use crate::{cargo, coupling, project_root};

/// The variable the live tests read their admin URL from.
const URL_VAR: &str = "DBA_TEST_DATABASE_URL";

/// What `cargo xtask test` was asked to do.
#[derive(Debug)]
pub(crate) struct Options {
    /// Start a disposable cluster even when a server answers.
    pub(crate) fresh_cluster: bool,
    /// Extra arguments for the test runner (nextest or `cargo test`).
    pub(crate) runner_args: Vec<String>,
}

/// The database the tests run against, kept alive until the tests end.
pub(crate) enum Database {
    Existing(String),
    Disposable(Cluster),
}

impl Database {
    pub(crate) fn url(&self) -> &str {
        match self {
            Database::Existing(url) => url,
            Database::Disposable(cluster) => cluster.url(),
        }
    }
}

pub(crate) fn run(options: Options) -> Result<()> {
    let pgbouncer_dir = cluster::require_pgbouncer()?;
    let database = database(options.fresh_cluster)?;
    let url = database.url().to_owned();
    println!("xtask: testing against {}", cluster::redact(&url));

    // pgbouncer may live in an sbin directory outside an ordinary user's PATH.
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path =
        std::env::join_paths(std::iter::once(pgbouncer_dir).chain(std::env::split_paths(&path)))?;
    let path = path.to_string_lossy().into_owned();
    let envs = [(URL_VAR, url.as_str()), ("PATH", path.as_str())];

    let locked: &[&str] = if std::env::var_os("CI").is_some() {
        &["--locked"]
    } else {
        &[]
    };
    let extra: Vec<&str> = options.runner_args.iter().map(String::as_str).collect();

    step("cargo fmt --all --check", || {
        cargo(&["fmt", "--all", "--check"], &envs)
    })?;
    step(
        "cargo clippy --workspace --all-targets --all-features -- -D warnings",
        || {
            let args = [
                &["clippy", "--workspace", "--all-targets", "--all-features"],
                locked,
                &["--", "-D", "warnings"],
            ];
            cargo(&args.concat(), &envs)
        },
    )?;
    step("cargo xtask coupling-check", || {
        coupling::run(&project_root().join("Cargo.toml"))
    })?;
    if has_nextest() {
        let profile: &[&str] = if std::env::var_os("CI").is_some() {
            &["--profile", "ci"]
        } else {
            &[]
        };
        let args = [
            &["nextest", "run", "--workspace", "--all-features"],
            locked,
            profile,
            &extra,
        ]
        .concat();
        step(&format!("cargo {}", args.join(" ")), || cargo(&args, &envs))?;
    } else {
        let args = [&["test", "--workspace", "--all-features"], locked, &extra].concat();
        step(&format!("cargo {}", args.join(" ")), || cargo(&args, &envs))?;
    }
    // nextest does not run doctests.
    let args = [&["test", "--workspace", "--doc", "--all-features"], locked].concat();
    step(&format!("cargo {}", args.join(" ")), || cargo(&args, &envs))?;

    drop(database);
    println!("xtask: all checks and tests passed");
    Ok(())
}

/// Picks the server: a forced disposable cluster, the URL from the
/// environment (which must answer), the default URL, or else a disposable
/// cluster.
pub(crate) fn database(fresh_cluster: bool) -> Result<Database> {
    if fresh_cluster {
        return start_cluster();
    }
    // An empty value counts as unset, as in dba-testkit.
    if let Some(url) = std::env::var_os(URL_VAR).filter(|url| !url.is_empty()) {
        let url = url
            .into_string()
            .map_err(|_| anyhow::anyhow!("{URL_VAR} is not valid UTF-8"))?;
        return match cluster::probe(&url) {
            Probe::Answers => Ok(Database::Existing(url)),
            Probe::Refuses(reason) => bail!(
                "{URL_VAR}={} refuses the connection: {reason}",
                cluster::redact(&url)
            ),
            Probe::Silent => bail!(
                "nothing answers at {URL_VAR}={}; start that server, or unset {URL_VAR} to let xtask \
                 start a disposable cluster",
                cluster::redact(&url)
            ),
        };
    }
    match cluster::probe(cluster::DEFAULT_URL) {
        Probe::Answers => Ok(Database::Existing(cluster::DEFAULT_URL.to_owned())),
        Probe::Refuses(reason) => {
            println!(
                "xtask: {} answers but refuses us ({reason})",
                cluster::DEFAULT_URL
            );
            start_cluster()
        }
        Probe::Silent => {
            println!("xtask: nothing answers at {}", cluster::DEFAULT_URL);
            start_cluster()
        }
    }
}

fn start_cluster() -> Result<Database> {
    println!("xtask: starting a disposable PostgreSQL cluster");
    let cluster = Cluster::start()?;
    println!(
        "xtask: disposable cluster at {} (data in {})",
        cluster.url(),
        cluster.dir()
    );
    Ok(Database::Disposable(cluster))
}

fn step(name: &str, action: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("xtask: == {name}");
    action()
}

fn has_nextest() -> bool {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    Command::new(cargo)
        .args(["nextest", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
