//! `dba fix`: preview by default, additive repair with --confirm, no row lost.

use dba_testkit::{TestDb, test_path};

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
    // ...and even then the column stays nullable while rows lack a value; the fix says so and exits 1.
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
    .stdout_has("x Schema fix applied, but 1 difference(s) remain")
    .stdout_has("  - items.b: 5 row(s) have no value")
    .stdout_lacks("Fix failed");
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
    .stdout_has("  1. set not null on items.b unless a row is null  [takes a lock]")
    .stdout_has(
        "     5 row(s) of items.b have no value: the column stays nullable until they are filled; the \
         rest of the fix still applies",
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

/// A database holding `sql`, and a folder whose db.toml names it as profile `p` (no backup schema).
async fn live(test_path: &str, name: &str, sql: &str) -> (TestDb, Workdir) {
    let db = TestDb::create(test_path).await;
    db.client().await.batch_execute(sql).await.unwrap();
    let dir = Workdir::new(name);
    dir.write(
        "db.toml",
        &format!("[profiles.p]\nurl = \"{}\"\n", db.url()),
    );
    (db, dir)
}

#[tokio::test]
async fn a_column_or_view_left_as_it_was_is_not_a_complete_fix() {
    let (live_db, dir) = live(
        test_path!("fix_left_missing"),
        "fix-left-missing",
        "CREATE TABLE items (id serial PRIMARY KEY);
         INSERT INTO items DEFAULT VALUES; INSERT INTO items DEFAULT VALUES;
         CREATE MATERIALIZED VIEW totals AS SELECT count(*) AS n FROM items;",
    )
    .await;
    // `total` is computed for every existing row, which rewrites the table: planned only with
    // --allow-hazard rewrite. No opt-in replaces a materialized view.
    dir.write(
        "schema.sql",
        "CREATE TABLE items (id serial PRIMARY KEY, note text, \
         total int GENERATED ALWAYS AS (id * 2) STORED);\n\
         CREATE MATERIALIZED VIEW totals AS SELECT count(*) + 1 AS n FROM items;\n",
    );
    let fix = |extra: &[&str]| {
        let mut cmd = dir.dba();
        cmd.args(["fix", "--profile", "p", "--confirm", "--no-backup"])
            .args(extra);
        run(&mut cmd)
    };
    let out = fix(&[]);
    out.code(1)
        .stdout_has("Not fixed (2):")
        .stdout_has("  Pass --allow-hazard rewrite to plan steps")
        .stdout_has("x Schema fix applied, but 2 difference(s) remain")
        .stdout_has(
            "  - column items.total is missing: adding it computes a value for every row and rewrites a \
             table: opt into that hazard to fix it",
        )
        .stdout_has("  - totals: ")
        .stdout_has("  1. Repair by hand: totals: ")
        .stdout_has("  2. Run: dba fix --confirm --allow-hazard rewrite --profile p --no-backup")
        .stdout_lacks("Schema fix complete!");

    // The same in JSON (the column added above is taken away again so that there is a step to apply).
    live_db
        .client()
        .await
        .batch_execute("ALTER TABLE items DROP COLUMN note")
        .await
        .unwrap();
    let doc = fix(&["--json"]).code(1).json();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["applied"], true);
    assert_eq!(doc["valid_after"], false);
    assert_eq!(doc["result"]["validation"]["valid"], false);
    assert_eq!(doc["result"]["columns_added"], 1);
    assert_eq!(
        doc["plan"]["columns_left_missing"],
        serde_json::json!([{"table": "items", "column": "total"}])
    );
    let remaining = doc["result"]["remaining"].as_array().unwrap();
    assert_eq!(remaining.len(), 2, "{remaining:?}");
    assert_eq!(remaining[0], "column items.total is missing");

    // With the opt-in the column is added with its values; the view still needs a hand, and no opt-in is
    // suggested for it.
    let out = fix(&["--allow-hazard", "rewrite"]);
    out.code(1)
        .stdout_has("x Schema fix applied, but 1 difference(s) remain")
        .stdout_has("  No --allow-hazard opt-in plans these: they need repairing by hand.")
        .stdout_has("  1. Repair by hand: totals: ")
        .stdout_lacks("Run: dba fix")
        .stdout_lacks("Pass --allow-hazard");
    assert_eq!(
        scalar(&live_db, "SELECT sum(total - 2 * id) + count(*) FROM items").await,
        2
    );
    dir.remove();
    live_db.drop_db().await;
}

#[tokio::test]
async fn the_next_step_keeps_the_flags_given_and_quotes_the_names() {
    let (live_db, dir) = live(
        test_path!("fix_next_flags"),
        "fix-next-flags",
        "CREATE SCHEMA \"Sales\";
         CREATE TABLE \"Sales\".\"Order Items\" (id int PRIMARY KEY);
         INSERT INTO \"Sales\".\"Order Items\" VALUES (1), (2), (3);",
    )
    .await;
    std::fs::create_dir_all(dir.path.join("conf dir")).unwrap();
    dir.write("conf dir/db.toml", &dir.read("db.toml"));
    dir.write("db.toml", "");
    dir.write(
        "my schema.sql",
        "CREATE TABLE \"Sales\".\"Order Items\" (id int PRIMARY KEY, \"order\" text NOT NULL);\n",
    );
    dir.write("defs.json", "{}");
    let args = [
        "--config",
        "conf dir/db.toml",
        "--env-prefix",
        "MC_",
        "--profile",
        "p",
        "fix",
        "--schema-file",
        "my schema.sql",
        "--column-defs",
        "defs.json",
        "--confirm",
        "--no-backup",
    ];
    let doc = run(dir.dba().args(args).arg("--json")).code(1).json();
    let next: Vec<&str> = doc["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        next,
        [
            "Fill Sales.Order Items.order in the 3 row(s) without a value, e.g. UPDATE \
             \"Sales\".\"Order Items\" SET \"order\" = <value> WHERE \"order\" IS NULL",
            "Run: dba fix --confirm --allow-hazard lock --profile p --config 'conf dir/db.toml' \
             --env-prefix MC_ --schema-file 'my schema.sql' --column-defs defs.json --no-backup",
        ]
    );
    // Following the advice as printed finishes the job: the UPDATE is valid SQL, the command runs as is.
    let update = next[0]
        .split_once("e.g. ")
        .unwrap()
        .1
        .replace("<value>", "'x'");
    live_db.client().await.batch_execute(&update).await.unwrap();
    let words = shlex::split(next[1].strip_prefix("Run: dba ").unwrap()).unwrap();
    run(dir.dba().args(&words))
        .code(0)
        .stdout_has("v Schema fix complete!");
    dir.remove();
    live_db.drop_db().await;
}

#[tokio::test]
async fn set_not_null_on_a_column_with_null_rows_leaves_it_and_lands_the_rest() {
    let (live_db, dir) = live(
        test_path!("fix_set_not_null_nulls"),
        "fix-set-not-null-nulls",
        "CREATE TABLE items (id int PRIMARY KEY, name text);
         INSERT INTO items VALUES (1, 'a'), (2, NULL);",
    )
    .await;
    dir.write(
        "schema.sql",
        "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, b text);\n",
    );
    // The preview says the column stays nullable, not that the whole fix would fail.
    run(dir
        .dba()
        .args(["fix", "--profile", "p", "--allow-hazard", "lock"]))
    .code(0)
    .stdout_has("set not null on items.name unless a row is null  [takes a lock]")
    .stdout_has(
        "     1 row(s) of items.name have no value: the column stays nullable until they are filled; \
         the rest of the fix still applies",
    );
    let confirm = [
        "fix",
        "--profile",
        "p",
        "--allow-hazard",
        "lock",
        "--confirm",
        "--no-backup",
    ];
    let doc = run(dir.dba().args(confirm).arg("--json")).code(1).json();
    assert_eq!(doc["applied"], true);
    assert_eq!(doc["valid_after"], false);
    assert_eq!(doc["result"]["columns_added"], 1);
    assert_eq!(
        doc["result"]["needs_value"],
        serde_json::json!([{"table": "items", "column": "name", "rows_without_value": 1}])
    );
    assert_eq!(
        doc["next_steps"],
        serde_json::json!([
            "Fill items.name in the 1 row(s) without a value, e.g. UPDATE items SET name = <value> \
             WHERE name IS NULL",
            "Run: dba fix --confirm --allow-hazard lock --profile p --no-backup",
        ])
    );
    // The rest of the fix landed: b is there, and every row too.
    assert_eq!(
        scalar(
            &live_db,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'b'"
        )
        .await,
        1
    );
    assert_eq!(scalar(&live_db, "SELECT count(*) FROM items").await, 2);

    live_db
        .client()
        .await
        .batch_execute("UPDATE items SET name = 'filled' WHERE name IS NULL")
        .await
        .unwrap();
    run(dir.dba().args(confirm))
        .code(0)
        .stdout_has("v Schema fix complete!");
    dir.remove();
    live_db.drop_db().await;
}
