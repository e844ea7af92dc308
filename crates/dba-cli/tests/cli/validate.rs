//! `dba validate`: exit 1 on drift, never touches the lock.

use dba_testkit::test_path;

use crate::support::{SCHEMA_SECTIONS, Workdir, db, run};

#[tokio::test]
async fn full_is_valid_and_drift_is_reported() {
    let full = db(test_path!("validate_full"), "full").await;
    let drift = db(test_path!("validate_drift"), "drift").await;
    let dir = Workdir::with_profiles(
        "validate",
        &[("full", full.url()), ("drift", drift.url())],
        SCHEMA_SECTIONS,
    );
    dir.write(".db-profile", "full");
    run(dir.dba().arg("validate"))
        .code(0)
        .stdout_has("v Schema is valid");
    run(dir.dba().arg("validate").env("DB_PROFILE", "drift"))
        .code(1)
        .stdout_has("x Connected to profile: drift")
        .stdout_has("  Missing columns (5):")
        .stdout_has("    - items.e");
    assert_eq!(dir.lock().as_deref(), Some("full"));
    let doc = run(dir.dba().args(["validate", "--profile", "drift", "--json"]))
        .code(1)
        .json();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["validation"]["error_count"], 5);
    assert_eq!(doc["validation"]["missing_columns"][0]["table"], "items");
    // Two live databases compared with each other.
    run(dir
        .dba()
        .args(["validate", "--profile", "drift", "--against", "full"]))
    .code(1)
    .stdout_has("    - products.active");
    run(dir
        .dba()
        .args(["validate", "--profile", "full", "--against", "full"]))
    .code(0)
    .stdout_has("Schema is valid");
    dir.remove();
    full.drop_db().await;
    drift.drop_db().await;
}

#[tokio::test]
async fn errors_name_what_to_change() {
    let dir = Workdir::with_profiles(
        "validate-errors",
        &[("full", "postgresql://postgres@127.0.0.1:1/x")],
        "",
    );
    run(dir.dba().arg("validate"))
        .code(1)
        .stderr_has("no database selected")
        .stderr_has("DB_PROFILE");
    run(dir
        .dba()
        .args(["validate", "--profile", "full", "--schema-file", "nope.sql"]))
    .code(1)
    .stderr_has("nope.sql");
    dir.write("bad.sql", "CREATE TABLE t (a int,, b int);");
    run(dir
        .dba()
        .args(["validate", "--profile", "full", "--schema-file", "bad.sql"]))
    .code(1)
    .stderr_has("bad.sql:1:");
    run(dir
        .dba()
        .args(["validate", "--schema-file", "x.sql", "--against", "full"]))
    .code(2);
    dir.remove();
}
