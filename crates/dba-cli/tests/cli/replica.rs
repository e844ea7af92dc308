//! Profiles with a standby (`read_url`): backup and validate read there unless `--primary`, say so with
//! `-v`, fall back to the primary with a warning; restore, fix and sync never send a write to it.

use dba_testkit::{Cluster, TestDb, test_path};

use crate::support::{SCHEMA_SECTIONS, Workdir, fixtures, run};

/// The statements the server logged (`log_statement = 'all'`), one per entry.
fn logged_statements(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("LOG:  ")?;
            if let Some(sql) = rest.strip_prefix("statement: ") {
                return Some(sql.to_owned());
            }
            let rest = rest.strip_prefix("execute ")?;
            Some(rest.split_once(": ")?.1.to_owned())
        })
        .collect()
}

/// Whether a statement writes (data or schema).
fn writes(sql: &str) -> bool {
    let upper = sql.trim_start().to_uppercase();
    [
        "INSERT", "UPDATE", "DELETE", "MERGE", "CREATE", "ALTER", "DROP", "TRUNCATE", "COPY",
        "GRANT", "COMMENT",
    ]
    .iter()
    .any(|w| upper.starts_with(w))
        || upper.contains("INSERT INTO")
        || upper.contains("DELETE FROM")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_validate_read_the_standby_and_writes_never_reach_it() {
    let primary = Cluster::start_with_settings("log_statement = 'all'");
    let app = TestDb::with_fixtures_on(
        &primary.url(),
        test_path!("replica_app"),
        &fixtures(),
        &["full"],
    )
    .await;
    let copy = TestDb::with_fixtures_on(
        &primary.url(),
        test_path!("replica_copy"),
        &fixtures(),
        &["empty"],
    )
    .await;
    let drift = TestDb::with_fixtures_on(
        &primary.url(),
        test_path!("replica_drift"),
        &fixtures(),
        &["drift"],
    )
    .await;
    let standby = tokio::task::block_in_place(|| {
        primary.start_standby_with_settings("log_statement = 'all'")
    });
    let dir = Workdir::with_profiles("replica", &[], "");
    let mut toml = String::new();
    // The standby's password (trust authentication ignores it) must never be printed.
    for (name, db) in [("app", &app), ("copy", &copy), ("drift", &drift)] {
        toml.push_str(&format!(
            "[profiles.{name}]\nurl = \"{}\"\nread_url = \"postgresql://postgres:Stb%21pw@127.0.0.1:{}/{}\"\n\n",
            db.url(),
            standby.port(),
            db.name()
        ));
    }
    toml.push_str(SCHEMA_SECTIONS);
    dir.write("db.toml", &toml);
    let standby_at = format!("host='127.0.0.1' port='{}'", standby.port());

    // backup: from the standby, in one snapshot there; --primary forces the primary.
    let out = run(dir.dba().args([
        "backup",
        "--profile",
        "app",
        "--user-id",
        "u1",
        "-o",
        "b.json",
        "-v",
    ]));
    out.code(0)
        .stdout_has("  categories: backed up (2 rows)")
        .stderr_has(&format!("reading app from the standby: {standby_at}"))
        .stderr_has("password=***");
    assert!(!out.stderr.contains("Stb!pw") && !out.stdout.contains("Stb!pw"));
    assert!(standby.log().contains("REPEATABLE READ, READ ONLY"));
    assert!(!primary.log().contains("REPEATABLE READ"));
    run(dir.dba().args([
        "backup",
        "--profile",
        "app",
        "--user-id",
        "u1",
        "-o",
        "p.json",
        "-v",
        "--primary",
    ]))
    .code(0)
    .stderr_has("reading app from the primary (--primary)");
    assert!(primary.log().contains("REPEATABLE READ, READ ONLY"));
    assert_eq!(dir.read("b.json").len(), dir.read("p.json").len());

    // validate: the live schema introspected on the standby, or the primary with --primary.
    run(dir.dba().args(["validate", "--profile", "app", "-v"]))
        .code(0)
        .stdout_has("Schema is valid")
        .stderr_has(&format!("reading app from the standby: {standby_at}"));
    run(dir
        .dba()
        .args(["validate", "--profile", "app", "-v", "--primary"]))
    .code(0)
    .stderr_has("reading app from the primary (--primary)");

    // restore, sync (whose source is read on the standby) and fix write on the primary only.
    run(dir.dba().args([
        "restore",
        "b.json",
        "--profile",
        "copy",
        "--user-id",
        "u1",
        "--yes",
    ]))
    .code(0)
    .stdout_has("Restore complete.");
    run(dir.dba().args([
        "sync",
        "--from",
        "app",
        "--profile",
        "copy",
        "--user-id",
        "u2",
        "--confirm",
        "-v",
    ]))
    .code(0)
    .stdout_has("Sync complete.")
    .stderr_has("reading app from the standby");
    let fix = run(dir
        .dba()
        .args(["fix", "--profile", "drift", "--confirm", "--json"])
        .env("APP_USER", "u1"))
    .json();
    assert_eq!(fix["applied"], true, "{fix}");

    let on_standby = logged_statements(&standby.log());
    assert!(
        on_standby.iter().any(|s| s.contains("SELECT")),
        "the standby served reads"
    );
    let written: Vec<&String> = on_standby.iter().filter(|s| writes(s)).collect();
    assert!(
        written.is_empty(),
        "writes sent to the standby: {written:#?}"
    );
    assert!(!standby.log().contains("read-only transaction"));
    let on_primary = logged_statements(&primary.log());
    assert!(
        on_primary.iter().any(|s| writes(s)),
        "the writes ran on the primary"
    );
    // What the commands wrote reached the standby by replication.
    tokio::task::block_in_place(|| standby.wait_replayed(&primary));
    let count = "SELECT count(*) FROM categories";
    let replicated: i64 = standby
        .client(copy.name())
        .await
        .query_one(count, &[])
        .await
        .unwrap()
        .get(0);
    let on_primary_rows: i64 = copy
        .client()
        .await
        .query_one(count, &[])
        .await
        .unwrap()
        .get(0);
    assert!(on_primary_rows > 0);
    assert_eq!(replicated, on_primary_rows);

    // A stopped standby: the reads go to the primary with a warning, and nothing fails.
    tokio::task::block_in_place(|| standby.stop());
    run(dir.dba().args([
        "backup",
        "--profile",
        "app",
        "--user-id",
        "u1",
        "-o",
        "c.json",
    ]))
    .code(0)
    .stderr_has(&format!("warning: the standby {standby_at}"))
    .stderr_has("reading from the primary");
    run(dir.dba().args(["validate", "--profile", "app"]))
        .code(0)
        .stderr_has("cannot be used");
    dir.remove();
}

#[test]
fn primary_is_a_flag_of_backup_and_validate_only() {
    let dir = Workdir::new("replica-flags");
    run(dir
        .dba()
        .args(["backup", "--validate", "b.json", "--primary"]))
    .code(2);
    run(dir.dba().args(["restore", "b.json", "--primary"])).code(2);
    dir.remove();
}
