//! `dba status`: the selected profile, its source and row counts; exit 1 when the database cannot be reached.

use dba_testkit::test_path;

use crate::support::{SCHEMA_SECTIONS, Workdir, db, run};

#[tokio::test]
async fn shows_the_locked_profile_and_row_counts() {
    let full = db(test_path!("status_locked"), "full").await;
    let dir = Workdir::with_profiles("status-lock", &[("full", full.url())], SCHEMA_SECTIONS);
    dir.write(".db-profile", "full");
    run(dir.dba().arg("status"))
        .code(0)
        .stdout_has("Connection Status")
        .stdout_has("Current profile")
        .stdout_has("full")
        .stdout_has(".db-profile (validated)")
        .stdout_has("the full database")
        .stdout_has("Table Data");
    let doc = run(dir.dba().args(["status", "--json"])).code(0).json();
    assert_eq!(doc["profile"], "full");
    assert_eq!(doc["connected"], true);
    assert_eq!(doc["tables"]["products"], 4);
    dir.remove();
    full.drop_db().await;
}

#[tokio::test]
async fn without_a_profile_says_how_to_pick_one() {
    let dir = Workdir::with_profiles(
        "status-none",
        &[("full", "postgresql://postgres@127.0.0.1:1/x")],
        "",
    );
    run(dir.dba().arg("status"))
        .code(0)
        .stdout_has("No validated profile.")
        .stdout_has("DB_PROFILE=<name> dba connect");
    // An unreachable database is reported, with exit 1 so that scripts notice.
    run(dir.dba().args(["status", "--profile", "full"]))
        .code(1)
        .stdout_has("Connection      │ failed")
        .stderr_has("cannot reach the database");
    let doc = run(dir.dba().args(["status", "--profile", "full", "--json"]))
        .code(1)
        .json();
    assert_eq!(
        (&doc["ok"], &doc["connected"]),
        (&false.into(), &false.into())
    );
    dir.remove();
}

#[tokio::test]
async fn a_lock_without_db_toml_is_a_warning() {
    let dir = Workdir::new("status-noconfig");
    dir.write(".db-profile", "full");
    run(dir.dba().arg("status"))
        .code(0)
        .stdout_has("full")
        .stdout_has("db.toml not found");
    dir.remove();
}
