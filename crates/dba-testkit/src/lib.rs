//! Database-per-test support for dba's live PostgreSQL tests.
//!
//! Every live test gets a fresh database named after the test
//! (`dba_test_<16 hex digits of FNV-1a(test path)>`), so tests run in
//! parallel, and under nextest in separate processes, without sharing state.
//! A passing test drops its database as its last step; a failing one leaves
//! it behind for inspection, and the next run of the same test replaces it.
//! [`TestDb::create`] never sweeps other tests' databases.
//!
//! The admin connection comes from [`URL_VAR`] (`DBA_TEST_DATABASE_URL`),
//! falling back to [`DEFAULT_URL`]. Nothing skips: a test that cannot reach
//! PostgreSQL panics with a message naming the URL (password masked), so a
//! run can never pass by testing nothing. `cargo xtask test` provides a
//! server when none is running.
//!
//! SQL fixtures live in `crates/<crate>/tests/fixtures/<name>.sql` and are
//! applied by name, in the order given ([`TestDb::with_fixtures`]).
//! [`PgBouncer`] puts a real PgBouncer in transaction pool mode in front of a
//! test's database, for tests of pooler-safe behaviour. [`Cluster`] starts a
//! private PostgreSQL server for one test, for tests that restart or stop
//! the server or need it to serve TLS.
//!
//! # Layer
//!
//! Dev-only, outside the layer stack: crates use it only under
//! `[dev-dependencies]`, which `cargo xtask coupling-check` enforces, and it
//! is never published.
//!
//! # Must never depend on
//!
//! Any dba crate other than `dba-core` (it sits beside the stack, not in it,
//! so every backend and the crates above can use it in their tests without a
//! cycle; coupling-check allows it layer 0 only). It needs `dba-core` for the
//! shared CRUD [`contract`] that every backend runs; its other dependencies
//! are `tokio`, `tokio-postgres`, `futures-util` and `serde_json`.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() {
//! use dba_testkit::{TestDb, test_path};
//!
//! let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
//! let db = TestDb::with_fixtures(test_path!("insert_then_select"), dir, &["users"]).await;
//! let client = db.client().await;
//! // … act and assert against db.url() or db.config() …
//! db.drop_db().await; // reached only when the test passed
//! # }
//! ```

use std::error::Error as StdError;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls};

mod cluster;
pub mod contract;
mod pgbouncer;
mod url;

pub use cluster::Cluster;
pub use pgbouncer::PgBouncer;

/// Environment variable holding an admin URL whose role may create databases.
pub const URL_VAR: &str = "DBA_TEST_DATABASE_URL";

/// The admin URL used when [`URL_VAR`] is unset.
pub const DEFAULT_URL: &str = "postgresql://postgres@127.0.0.1:5432/postgres";

/// How long the admin connection may take before a test fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times `CREATE`/`DROP DATABASE` is tried while another session
/// holds the template (SQLSTATE 55006, common when many test processes start
/// at once). PostgreSQL itself waits up to 5 s per attempt before failing.
const OBJECT_IN_USE_ATTEMPTS: u32 = 5;

/// The admin URL: [`URL_VAR`] when set and not empty, else [`DEFAULT_URL`].
pub fn admin_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => DEFAULT_URL.to_owned(),
    }
}

/// Expands to `concat!(module_path!(), "::", $name)`: the path that names a
/// test's database in [`TestDb::create`].
#[macro_export]
macro_rules! test_path {
    ($name:literal) => {
        concat!(module_path!(), "::", $name)
    };
}

/// A freshly created database owned by one test.
///
/// Created by [`TestDb::create`]; dropped by [`TestDb::drop_db`], which a test
/// calls as its last step so that only passing tests clean up.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    config: Config,
    admin: Config,
    /// The admin URL with its password masked, for messages.
    admin_shown: String,
}

impl TestDb {
    /// Creates the database named from `test_path` (`dba_test_<16 hex
    /// FNV-1a>`): `DROP DATABASE IF EXISTS .. WITH (FORCE)`, then `CREATE
    /// DATABASE`, so a leftover from an earlier run is replaced.
    ///
    /// Pass [`test_path!`]`("test_name")`. Never skips.
    ///
    /// # Panics
    ///
    /// When the admin URL does not parse or PostgreSQL cannot be reached (the
    /// message names the URL with its password masked), or when the role may
    /// not create databases.
    pub async fn create(test_path: &str) -> TestDb {
        TestDb::create_on(&admin_url(), test_path).await
    }

    /// Like [`TestDb::create`], on the server of `admin_url` (a private
    /// [`Cluster`]'s, say) instead of the one [`admin_url()`] names.
    ///
    /// # Panics
    ///
    /// As [`TestDb::create`].
    pub async fn create_on(admin_url: &str, test_path: &str) -> TestDb {
        let (admin, admin_shown) = parse_admin(admin_url).unwrap_or_else(|msg| panic!("{msg}"));
        let client = connect_admin(&admin, &admin_shown)
            .await
            .unwrap_or_else(|msg| panic!("{msg}"));
        let name = url::db_name(test_path);
        let quoted = url::quote_ident(&name);
        // Separate statements: PostgreSQL refuses DROP/CREATE DATABASE inside
        // the implicit transaction of a multi-statement batch.
        for sql in [
            format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"),
            format!("CREATE DATABASE {quoted}"),
        ] {
            execute_retrying(&client, &sql).await.unwrap_or_else(|err| {
                panic!("`{sql}` failed on {admin_shown} (for test {test_path}): {err}")
            });
        }
        let mut config = admin.clone();
        config.dbname(&name);
        let url = url::build_url(&admin, &name);
        TestDb {
            name,
            url,
            config,
            admin,
            admin_shown,
        }
    }

    /// Like [`TestDb::create`], then applies the fixtures `names` from `dir`
    /// (see [`TestDb::apply_fixtures`]).
    ///
    /// # Panics
    ///
    /// As [`TestDb::create`] and [`TestDb::apply_fixtures`].
    pub async fn with_fixtures(test_path: &str, dir: &Path, names: &[&str]) -> TestDb {
        TestDb::with_fixtures_on(&admin_url(), test_path, dir, names).await
    }

    /// Like [`TestDb::with_fixtures`], on the server of `admin_url` (see
    /// [`TestDb::create_on`]).
    ///
    /// # Panics
    ///
    /// As [`TestDb::create`] and [`TestDb::apply_fixtures`].
    pub async fn with_fixtures_on(
        admin_url: &str,
        test_path: &str,
        dir: &Path,
        names: &[&str],
    ) -> TestDb {
        let db = TestDb::create_on(admin_url, test_path).await;
        db.apply_fixtures(dir, names).await;
        db
    }

    /// Runs each `dir/<name>.sql` with `batch_execute` on the test's database,
    /// in the order given (so list parents before children).
    ///
    /// # Panics
    ///
    /// When a file cannot be read or its SQL fails; the message names the file.
    pub async fn apply_fixtures(&self, dir: &Path, names: &[&str]) {
        if names.is_empty() {
            return;
        }
        let client = self.client().await;
        for name in names {
            let path = dir.join(format!("{name}.sql"));
            let sql = std::fs::read_to_string(&path)
                .unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()));
            client.batch_execute(&sql).await.unwrap_or_else(|err| {
                panic!(
                    "fixture {} failed on database {}: {}",
                    path.display(),
                    self.name,
                    describe(&err)
                )
            });
        }
    }

    /// Connection URL (`postgresql://...`) for the test's own database, with
    /// the admin URL's user, password, hosts and ports.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name, `dba_test_<16 hex digits>`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection settings for the test's own database.
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// A plain client connected to the test's database, for assertions; its
    /// connection task is spawned on the current runtime.
    ///
    /// # Panics
    ///
    /// When the connection fails; the message names the URL (password masked).
    pub async fn client(&self) -> Client {
        let mut config = self.config();
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        connect(&config, &url::mask_password(&self.url))
            .await
            .unwrap_or_else(|msg| panic!("{msg}"))
    }

    /// Drops the database (`WITH (FORCE)`, closing open connections). Call it
    /// as the test's last step, so only a passing test cleans up.
    ///
    /// # Panics
    ///
    /// When PostgreSQL cannot be reached or the drop fails.
    pub async fn drop_db(self) {
        let client = connect_admin(&self.admin, &self.admin_shown)
            .await
            .unwrap_or_else(|msg| panic!("{msg}"));
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            url::quote_ident(&self.name)
        );
        execute_retrying(&client, &sql)
            .await
            .unwrap_or_else(|err| panic!("`{sql}` failed on {}: {err}", self.admin_shown));
    }

    /// The admin settings this database was created with (for [`PgBouncer`]).
    fn admin(&self) -> &Config {
        &self.admin
    }
}

/// Parses the admin URL; the `Err` names it with the password masked.
fn parse_admin(admin_url: &str) -> Result<(Config, String), String> {
    let shown = url::mask_password(admin_url);
    let config = Config::from_str(admin_url).map_err(|err| {
        format!(
            "cannot parse the test admin URL {shown} (from {URL_VAR}, else the default): {}",
            describe(&err)
        )
    })?;
    Ok((config, shown))
}

/// Connects to the admin database with a short connect timeout, so an
/// unreachable server fails fast; the `Err` names the URL (password masked)
/// and says how to point the tests at a server.
async fn connect_admin(admin: &Config, shown: &str) -> Result<Client, String> {
    let mut config = admin.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    connect(&config, shown).await.map_err(|msg| {
        format!(
            "{msg}\nlive tests need PostgreSQL: set {URL_VAR} to an admin URL whose role may \
             create databases (default {DEFAULT_URL}), or run `cargo xtask test`, which starts \
             a disposable server"
        )
    })
}

/// Connects without TLS and spawns the connection task.
async fn connect(config: &Config, shown: &str) -> Result<Client, String> {
    let (client, connection) = config
        .connect(NoTls)
        .await
        .map_err(|err| format!("cannot reach PostgreSQL at {shown}: {}", describe(&err)))?;
    tokio::spawn(async move {
        // Errors surface on the client's next call; nothing to report here.
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs one statement, retrying while another session holds the object
/// (SQLSTATE 55006, e.g. "source database "template1" is being accessed by
/// other users" when many test processes create databases at once).
async fn execute_retrying(client: &Client, sql: &str) -> Result<(), String> {
    let mut attempt = 1;
    loop {
        match client.batch_execute(sql).await {
            Ok(()) => return Ok(()),
            Err(err)
                if err.code() == Some(&SqlState::OBJECT_IN_USE)
                    && attempt < OBJECT_IN_USE_ATTEMPTS =>
            {
                // Spread the retries of concurrent processes apart.
                let jitter = u64::from(std::process::id() % 50);
                tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt) + jitter)).await;
                attempt += 1;
            }
            Err(err) => return Err(describe(&err)),
        }
    }
}

/// An error with its whole source chain, plus the server's detail and hint.
fn describe(err: &tokio_postgres::Error) -> String {
    if let Some(db) = err.as_db_error() {
        let mut out = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
        if let Some(detail) = db.detail() {
            out.push_str(&format!("; detail: {detail}"));
        }
        if let Some(hint) = db.hint() {
            out.push_str(&format!("; hint: {hint}"));
        }
        return out;
    }
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests;
