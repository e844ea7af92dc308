//! Shared test plumbing: a temporary working directory with db.toml, the `dba` command with a clean
//! environment, and the fixture databases.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use dba_testkit::TestDb;

/// The fixtures folder.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A database built from the named fixtures.
pub(crate) async fn db(test_path: &str, fixture: &str) -> TestDb {
    TestDb::with_fixtures(test_path, &fixtures(), &[fixture]).await
}

/// A temporary working directory for one test, removed by [`Workdir::remove`] when the test passes.
pub(crate) struct Workdir {
    pub(crate) path: PathBuf,
}

impl Workdir {
    /// An empty folder named after the test.
    pub(crate) fn new(name: &str) -> Workdir {
        let path = std::env::temp_dir().join(format!("dba-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Workdir { path }
    }

    /// A folder with `db.toml` listing `profiles` (name, url) plus the given extra TOML, and the schema
    /// fixtures (schema.sql, column-defs.json, backup-schema.json).
    pub(crate) fn with_profiles(name: &str, profiles: &[(&str, &str)], extra: &str) -> Workdir {
        let dir = Workdir::new(name);
        let mut toml = String::new();
        for (profile, url) in profiles {
            toml.push_str(&format!(
                "[profiles.{profile}]\nurl = \"{url}\"\ndescription = \"the {profile} database\"\n\n"
            ));
        }
        toml.push_str(extra);
        dir.write("db.toml", &toml);
        for file in ["schema.sql", "column-defs.json", "backup-schema.json"] {
            std::fs::copy(fixtures().join(file), dir.path.join(file)).unwrap();
        }
        dir
    }

    pub(crate) fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path.join(file), text).unwrap();
    }

    pub(crate) fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.path.join(file)).unwrap()
    }

    pub(crate) fn lock(&self) -> Option<String> {
        std::fs::read_to_string(self.path.join(".db-profile")).ok()
    }

    /// `dba` running in this folder with an environment that cannot leak in from the test runner.
    pub(crate) fn dba(&self) -> Command {
        let mut cmd = Command::cargo_bin("dba").unwrap();
        cmd.current_dir(&self.path)
            .env_remove("DB_PROFILE")
            .env_remove("DATABASE_URL")
            .env_remove("DBA_CONFIG")
            .env_remove("APP_USER")
            .env_remove("TEST_DB_PROFILE")
            .env_remove("PGSERVICE")
            .env_remove("PGPASSWORD")
            .env("NO_COLOR", "1");
        cmd
    }

    /// The same command as a plain process, for tests that must signal it while it runs.
    pub(crate) fn spawn(&self, args: &[&str]) -> std::process::Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("dba"))
            .args(args)
            .current_dir(&self.path)
            .env_remove("DB_PROFILE")
            .env_remove("DATABASE_URL")
            .env_remove("DBA_CONFIG")
            .env_remove("APP_USER")
            .env_remove("TEST_DB_PROFILE")
            .env_remove("PGSERVICE")
            .env_remove("PGPASSWORD")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    pub(crate) fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// The db.toml sections the verbs read besides profiles.
/// Profiles `full` (the `full` fixture, at `src_path`) and `empty` (the `empty` fixture, at `dst_path`) in a
/// work folder `name` with [`SCHEMA_SECTIONS`], and user u1's rows of `full` backed up to `b.json` there.
pub(crate) async fn backed_up_pair(
    src_path: &str,
    dst_path: &str,
    name: &str,
) -> (TestDb, TestDb, Workdir) {
    let full = db(src_path, "full").await;
    let empty = db(dst_path, "empty").await;
    let dir = Workdir::with_profiles(
        name,
        &[("full", full.url()), ("empty", empty.url())],
        SCHEMA_SECTIONS,
    );
    run(dir.dba().args([
        "backup",
        "--profile",
        "full",
        "--user-id",
        "u1",
        "-o",
        "b.json",
    ]))
    .code(0);
    (full, empty, dir)
}

pub(crate) const SCHEMA_SECTIONS: &str = "[schema]\nfile = \"schema.sql\"\n\
    column_defs = \"column-defs.json\"\nbackup_schema = \"backup-schema.json\"\n\n\
    [sync]\ntables = [\"categories\", \"products\"]\n\n[defaults]\nuser_id_env = \"APP_USER\"\n";

/// The output of a finished command, as text.
pub(crate) struct Output {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// Runs `cmd` and captures everything (never asserting, so tests can check failure paths).
pub(crate) fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

impl Output {
    /// Asserts the exit code, showing both streams when it differs.
    pub(crate) fn code(&self, expected: i32) -> &Output {
        assert_eq!(
            self.code, expected,
            "exit code {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    pub(crate) fn stdout_has(&self, text: &str) -> &Output {
        assert!(
            self.stdout.contains(text),
            "stdout lacks {text:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub(crate) fn stderr_has(&self, text: &str) -> &Output {
        assert!(
            self.stderr.contains(text),
            "stderr lacks {text:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    pub(crate) fn stdout_lacks(&self, text: &str) -> &Output {
        assert!(
            !self.stdout.contains(text),
            "stdout has {text:?}\n--- stdout\n{}",
            self.stdout
        );
        self
    }

    /// The one JSON document on stdout.
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", self.stdout))
    }
}

/// One value from the test database.
pub(crate) async fn scalar(db: &TestDb, sql: &str) -> i64 {
    let client = db.client().await;
    let row = client.query_one(sql, &[]).await.unwrap();
    row.get::<_, i64>(0)
}

/// Every column of every table in `public` and every row, as one digest: equal before and after means
/// nothing was created, dropped, altered or written.
pub(crate) async fn checksum(db: &TestDb) -> String {
    let client = db.client().await;
    let mut all = String::new();
    for row in client
        .query(
            "SELECT table_name::text, string_agg(column_name || ' ' || data_type || ' ' || is_nullable || ' ' \
             || coalesce(column_default, ''), ', ' ORDER BY ordinal_position) \
             FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
    {
        let table: String = row.get(0);
        let columns: String = row.get(1);
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let rows: String = client
            .query_one(
                &format!(
                    "SELECT coalesce(md5(string_agg(to_jsonb(t)::text, '|' ORDER BY to_jsonb(t)::text)), '') \
                     FROM {quoted} t"
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        all.push_str(&format!("{table}({columns}): {rows}\n"));
    }
    all
}
