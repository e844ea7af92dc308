//! `dba fix`: preview by default, additive repair with --confirm, no row lost.

use dba_testkit::test_path;

use crate::support::{SCHEMA_SECTIONS, Workdir, db, run, scalar};

#[tokio::test]
async fn full_needs_no_fix() {
    let full = db(test_path!("fix_full"), "full").await;
    let dir = Workdir::with_profiles("fix-full", &[("full", full.url())], SCHEMA_SECTIONS);
    run(dir.dba().args([
        "fix",
        "--profile",
        "full",
        "--schema-file",
        "schema.sql",
        "--column-defs",
        "column-defs.json",
    ]))
    .code(0)
    .stdout_has("v Schema is valid - no fixes needed");
    dir.remove();
    full.drop_db().await;
}

#[tokio::test]
async fn drift_is_previewed_then_repaired_without_losing_rows() {
    let drift = db(test_path!("fix_drift"), "drift").await;
    let dir = Workdir::with_profiles("fix-drift", &[("drift", drift.url())], SCHEMA_SECTIONS);
    // Preview: no terminal on stdin, so it never asks and changes nothing.
    run(dir.dba().arg("fix").env("DB_PROFILE", "drift"))
        .code(0)
        .stdout_has("Schema Differences")
        .stdout_has("Execution Plan:")
        // Each column as it will be created (b is added nullable, then made NOT NULL if no row is NULL).
        .stdout_has("ALTER TABLE items ADD COLUMN b character varying(100)  [takes a lock]")
        .stdout_has("ALTER TABLE items ADD COLUMN e boolean DEFAULT false")
        .stdout_has("To apply fixes, add --confirm flag.");
    run(dir.dba().args(["validate", "--profile", "drift"])).code(1);

    let doc = run(dir
        .dba()
        .args(["fix", "--profile", "drift", "--confirm", "--json"])
        .env("APP_USER", "u1"))
    .code(1)
    .json();
    assert_eq!(doc["applied"], true);
    assert_eq!(doc["valid_after"], false);
    assert_eq!(
        doc["result"]["needs_value"],
        serde_json::json!([{"table": "items", "column": "b", "rows_without_value": 5}])
    );
    assert_eq!(doc["result"]["columns_added"], 5);
    // The pre-fix backup of the original (backup_schema and a user id are configured).
    let backup = doc["backup"].as_str().unwrap();
    assert!(backup.contains("backups/pre-fix-drift-"), "{backup}");
    assert!(std::path::Path::new(backup).exists());
    // Every row is still there (the original dropped and recreated both tables).
    assert_eq!(scalar(&drift, "SELECT count(*) FROM items").await, 5);
    assert_eq!(scalar(&drift, "SELECT count(*) FROM products").await, 2);
    // items.b cannot be NOT NULL while the old rows hold NULL: the only drift left.
    let out = run(dir.dba().args(["validate", "--profile", "drift"]));
    out.code(1)
        .stdout_has("items.b: is nullable, expected NOT NULL");
    assert!(!out.stdout.contains("Missing columns"), "{}", out.stdout);
    dir.remove();
    drift.drop_db().await;
}

#[tokio::test]
async fn confirm_without_backup_config_warns_and_goes_on() {
    let drift = db(test_path!("fix_nobackup"), "drift").await;
    let dir = Workdir::with_profiles("fix-nobackup", &[("drift", drift.url())], "");
    run(dir.dba().args([
        "fix",
        "--profile",
        "drift",
        "--column-defs",
        "column-defs.json",
        "--confirm",
    ]))
    .code(1)
    .stderr_has("No backup_schema configured -- skipping auto-backup")
    .stdout_has("  Columns added: 5");
    // What is left (items.b NOT NULL while old rows hold NULL) needs a hazard opt-in...
    run(dir
        .dba()
        .args(["fix", "--profile", "drift", "--confirm", "--no-backup"]))
    .code(1)
    .stdout_has("Not fixed (1):")
    .stdout_has("--allow-hazard");
    // ...and even then the database refuses it, so the whole fix rolls back.
    run(dir.dba().args([
        "fix",
        "--profile",
        "drift",
        "--confirm",
        "--no-backup",
        "--allow-hazard",
        "lock",
    ]))
    .code(1)
    .stdout_has("x Fix failed:")
    .stdout_has("rolled back");
    dir.remove();
    drift.drop_db().await;
}

#[tokio::test]
async fn an_applied_fix_that_leaves_drift_says_what_is_left_and_exits_1() {
    let drift = db(test_path!("fix_leaves_drift"), "drift").await;
    let dir = Workdir::with_profiles(
        "fix-leaves-drift",
        &[("drift", drift.url())],
        SCHEMA_SECTIONS,
    );
    let out = run(dir
        .dba()
        .args(["fix", "--profile", "drift", "--confirm", "--no-backup"]));
    out.code(1)
        .stdout_has("x Schema fix applied, but 1 difference(s) remain")
        .stdout_has("  Columns added: 5")
        .stdout_has(
            "  - items.b: 5 row(s) have no value, so the column is still nullable (expected NOT NULL)",
        )
        .stdout_has("  1. Fill items.b in the 5 row(s) without a value")
        .stdout_has("  2. Run: dba fix --confirm --allow-hazard lock --profile drift")
        .stdout_lacks("Schema fix complete!");
    assert_eq!(scalar(&drift, "SELECT count(*) FROM items").await, 5);

    // The preview of what is left puts the difference in its own column.
    let out = run(dir.dba().args(["fix", "--profile", "drift"]));
    out.code(1)
        .stdout_has("Difference")
        .stdout_has("is nullable, expected NOT NULL")
        .stdout_lacks("DRIFT");
    let row = out
        .stdout
        .lines()
        .find(|l| l.contains("is nullable, expected NOT NULL"))
        .unwrap();
    let cells: Vec<&str> = row
        .split('│')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        [
            "items",
            "b",
            "character varying(100)",
            "is nullable, expected NOT NULL"
        ]
    );
    // ...and says that the rows need values before the hazard opt-in can help.
    out.stdout_has(
        "  - items.b: is nullable, expected NOT NULL: 5 row(s) have no value: fill them, then pass \
         --allow-hazard lock",
    );
    run(dir
        .dba()
        .args(["fix", "--profile", "drift", "--allow-hazard", "lock"]))
    .code(0)
    .stdout_has("  1. set not null on items.b  [takes a lock]")
    .stdout_has(
        "     5 row(s) of items.b have no value: this step would fail and the whole fix roll back; \
         fill them first",
    );

    // Following the advice finishes the job.
    drift
        .client()
        .await
        .batch_execute("UPDATE items SET b = 'filled' WHERE b IS NULL")
        .await
        .unwrap();
    run(dir.dba().args([
        "fix",
        "--confirm",
        "--allow-hazard",
        "lock",
        "--profile",
        "drift",
        "--no-backup",
    ]))
    .code(0)
    .stdout_has("v Schema fix complete!");
    run(dir.dba().args(["validate", "--profile", "drift"])).code(0);
    assert_eq!(scalar(&drift, "SELECT count(*) FROM items").await, 5);
    dir.remove();
    drift.drop_db().await;
}

#[tokio::test]
async fn bad_inputs_fail_with_the_file_named() {
    let dir = Workdir::with_profiles(
        "fix-errors",
        &[("x", "postgresql://postgres@127.0.0.1:1/x")],
        "",
    );
    run(dir
        .dba()
        .args(["fix", "--profile", "x", "--schema-file", "missing.sql"]))
    .code(1)
    .stderr_has("missing.sql");
    dir.write("defs.json", "{\"items.b\": 3}");
    run(dir
        .dba()
        .args(["fix", "--profile", "x", "--column-defs", "defs.json"]))
    .code(1)
    .stderr_has("Error reading column definitions")
    .stderr_has("defs.json");
    run(dir.dba().args(["fix", "--allow-hazard", "everything"])).code(2);
    dir.remove();
}

#[tokio::test]
async fn drift_left_for_want_of_a_hazard_opt_in_is_named_with_its_reason() {
    let drift = db(test_path!("fix_leaves_hazard"), "drift").await;
    // No row of categories.name is NULL: only the hazard opt-in is missing, not values.
    drift
        .client()
        .await
        .batch_execute("ALTER TABLE categories ALTER COLUMN name DROP NOT NULL")
        .await
        .unwrap();
    let dir = Workdir::with_profiles(
        "fix-leaves-hazard",
        &[("drift", drift.url())],
        SCHEMA_SECTIONS,
    );
    let out = run(dir
        .dba()
        .args(["fix", "--profile", "drift", "--confirm", "--no-backup"]));
    out.code(1)
        .stdout_has("x Schema fix applied, but 2 difference(s) remain")
        .stdout_has(
            "  - categories.name: is nullable, expected NOT NULL: alters an existing object and takes \
             a lock: opt into that hazard to fix it",
        )
        .stdout_has("  - items.b: 5 row(s) have no value")
        .stdout_has("  2. Run: dba fix --confirm --allow-hazard lock --profile drift")
        .stdout_lacks("categories.name: 0 row(s)")
        .stdout_lacks("Fill categories.name");
    dir.remove();
    drift.drop_db().await;
}
