//! `dba connect`: a real connection, validation on connect, and the lock file.

use dba_testkit::test_path;

use crate::support::{SCHEMA_SECTIONS, Workdir, db, run};

#[tokio::test]
async fn full_database_validates_and_is_remembered() {
    let full = db(test_path!("full_validates"), "full").await;
    let dir = Workdir::with_profiles("connect-full", &[("full", full.url())], SCHEMA_SECTIONS);
    run(dir.dba().arg("connect").env("DB_PROFILE", "full"))
        .code(0)
        .stdout_has("v Connected to profile: full")
        .stdout_has("  Schema validation: PASSED")
        .stdout_has("Table Data")
        .stdout_has("items");
    assert_eq!(dir.lock().as_deref(), Some("full"));
    dir.remove();
    // DATABASE_URL alone, no db.toml: connected, nothing validated, no profile to remember.
    let bare = Workdir::new("connect-url");
    run(bare.dba().arg("connect").env("DATABASE_URL", full.url()))
        .code(0)
        .stdout_has("v Connected to database: ")
        .stdout_has("(no config found -- schema validation skipped)");
    assert_eq!(bare.lock(), None);
    bare.remove();
    full.drop_db().await;
}

#[tokio::test]
async fn drift_database_fails_with_the_report_and_no_lock() {
    let drift = db(test_path!("drift_fails"), "drift").await;
    let dir = Workdir::with_profiles("connect-drift", &[("drift", drift.url())], SCHEMA_SECTIONS);
    run(dir.dba().args(["connect", "--profile", "drift"]))
        .code(1)
        .stdout_has("x Connected to profile: drift")
        .stdout_has("Schema validation report:")
        .stdout_has("Schema validation failed:")
        .stdout_has("  Missing columns (5):")
        .stdout_has("    - items.b")
        .stdout_has("    - products.price")
        .stdout_lacks("v Connected");
    assert_eq!(dir.lock(), None);
    dir.remove();
    drift.drop_db().await;
}

#[tokio::test]
async fn unreachable_server_is_a_failure_and_never_connected() {
    let dir = Workdir::with_profiles(
        "connect-down",
        &[(
            "down",
            "postgresql://app:Hunter2-secret@127.0.0.1:1/nothing",
        )],
        "[schema]\nvalidate_on_connect = false\n",
    );
    let out = run(dir.dba().args(["connect", "--profile", "down", "-v"]));
    out.code(1).stdout_lacks("Connected").stderr_has("error:");
    assert!(!out.stderr.contains("Hunter2-secret"), "{}", out.stderr);
    assert_eq!(dir.lock(), None);
    let out = run(dir.dba().args(["connect", "--profile", "down", "--json"]));
    out.code(1);
    let doc = out.json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["command"], "connect");
    assert!(!out.stdout.contains("Hunter2-secret"));
    // -v shows the connection string, redacted, and status exits 1 (the database cannot be reached).
    let out = run(dir
        .dba()
        .args(["status", "--profile", "down", "-v", "--json"]));
    let doc = out.code(1).json();
    assert_eq!(doc["connected"], false);
    assert!(out.stderr.contains("connection: "), "{}", out.stderr);
    for text in [&out.stdout, &out.stderr] {
        assert!(!text.contains("Hunter2-secret"), "{text}");
    }
    dir.remove();
}

#[tokio::test]
async fn unknown_profile_names_the_available_ones() {
    let dir = Workdir::with_profiles(
        "connect-unknown",
        &[("full", "postgresql://postgres@127.0.0.1:1/x")],
        "",
    );
    run(dir.dba().arg("connect").env("DB_PROFILE", "nope"))
        .code(1)
        .stderr_has("not found")
        .stderr_has("full");
    dir.remove();
}

#[tokio::test]
async fn env_prefix_is_accepted_anywhere_and_switches_are_reported() {
    let full = db(test_path!("env_prefix"), "full").await;
    let dir = Workdir::with_profiles(
        "connect-prefix",
        &[("full", full.url()), ("other", full.url())],
        SCHEMA_SECTIONS,
    );
    dir.write(".db-profile", "other");
    // The original required the global option before the verb; dba takes it anywhere.
    run(dir
        .dba()
        .args(["connect", "--env-prefix", "TEST_"])
        .env("TEST_DB_PROFILE", "full"))
    .code(0)
    .stdout_has("Connected to profile: full")
    .stdout_has("Switched from other to full");
    run(dir
        .dba()
        .args(["--env-prefix", "TEST_", "connect"])
        .env("TEST_DB_PROFILE", "full"))
    .code(0)
    .stdout_lacks("Switched");
    dir.remove();
    full.drop_db().await;
}

#[tokio::test]
async fn missing_schema_file_connects_without_validation() {
    let drift = db(test_path!("no_schema_file"), "drift").await;
    let dir = Workdir::with_profiles(
        "connect-noschema",
        &[("drift", drift.url())],
        "[schema]\nfile = \"missing.sql\"\n",
    );
    run(dir.dba().args(["connect", "--profile", "drift"]))
        .code(0)
        .stdout_has("Connected (schema file not found -- schema validation skipped)");
    assert_eq!(dir.lock().as_deref(), Some("drift"));
    let out = run(dir.dba().args(["connect", "--json"]));
    let doc = out.code(0).json();
    assert_eq!(doc["schema_validation"], "skipped");
    assert_eq!(doc["lock_written"], true);
    assert_eq!(doc["tables"]["items"], 5);
    dir.remove();
    drift.drop_db().await;
}
