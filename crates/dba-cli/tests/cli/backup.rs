//! `dba backup` and `dba backup --validate`.

use dba_testkit::test_path;

use crate::support::{SCHEMA_SECTIONS, Workdir, db, run};

#[tokio::test]
async fn backs_up_one_users_rows_and_validates_the_file() {
    let full = db(test_path!("backup_full"), "full").await;
    let dir = Workdir::with_profiles("backup", &[("full", full.url())], SCHEMA_SECTIONS);
    run(dir.dba().args([
        "backup",
        "--profile",
        "full",
        "--user-id",
        "u1",
        "-o",
        "b.json",
    ]))
    .code(0)
    .stdout_has("v Backup saved to: b.json")
    .stdout_has("  categories: backed up (2 rows)")
    .stdout_has("  products: backed up (3 rows)");
    let file: serde_json::Value = serde_json::from_str(&dir.read("b.json")).unwrap();
    assert_eq!(file["metadata"]["version"], "1.1");
    assert_eq!(file["metadata"]["user_id"], "u1");
    assert_eq!(file["categories"].as_array().unwrap().len(), 2);
    run(dir.dba().args(["backup", "--validate", "b.json"]))
        .code(0)
        .stdout_has("v Backup is valid: b.json");

    // The user id from the variable named by [defaults] user_id_env, the default path under backups/.
    let doc = run(dir
        .dba()
        .args(["backup", "--profile", "full", "--json"])
        .env("APP_USER", "u2"))
    .code(0)
    .json();
    let path = doc["path"].as_str().unwrap();
    assert!(path.contains("/backups/backup-full-"), "{path}");
    assert_eq!(doc["tables"]["categories"], 1);
    assert_eq!(doc["tables"]["products"], 1);

    // --tables: a subset backup.
    run(dir.dba().args([
        "backup",
        "--profile",
        "full",
        "--user-id",
        "u1",
        "--tables",
        "categories",
        "-o",
        "cats.json",
    ]))
    .code(0)
    .stdout_has("categories: backed up (2 rows)")
    .stdout_lacks("products");
    dir.remove();
    full.drop_db().await;
}

#[tokio::test]
async fn invalid_files_and_missing_settings_fail() {
    let dir = Workdir::with_profiles(
        "backup-errors",
        &[("x", "postgresql://postgres@127.0.0.1:1/x")],
        SCHEMA_SECTIONS,
    );
    dir.write(
        "bad.json",
        "{\"metadata\": {\"version\": \"9\"}, \"categories\": [], \"products\": [{\"slug\": \"p\"}]}",
    );
    run(dir.dba().args(["backup", "--validate", "bad.json"]))
        .code(1)
        .stdout_has("x Backup is invalid: bad.json")
        .stdout_has("Errors:")
        .stdout_has("Unsupported backup version");
    run(dir.dba().args(["backup", "--profile", "x"]))
        .code(1)
        .stderr_has("No user ID available. Set APP_USER or pass --user-id");
    run(dir
        .dba()
        .args(["backup", "--profile", "x", "--user-id", "u1"]))
    .code(1)
    .stderr_has("Failed to connect");
    run(dir.dba().args([
        "backup",
        "--validate",
        "b.json",
        "--backup-schema",
        "nope.json",
    ]))
    .code(1)
    .stderr_has("Backup schema file not found: nope.json");
    let bare = Workdir::new("backup-bare");
    bare.write("db.toml", "[profiles.x]\nurl = \"postgresql://h/db\"\n");
    run(bare.dba().args(["backup", "--validate", "b.json"]))
        .code(1)
        .stderr_has("No backup schema available. Provide --backup-schema");
    run(bare
        .dba()
        .args(["backup", "--profile", "x", "--backup-schema", "none.json"]))
    .code(1)
    .stderr_has("Backup schema file not found");
    run(bare
        .dba()
        .args(["backup", "--validate", "b.json", "--user-id", "u"]))
    .code(2);
    bare.remove();
    dir.remove();
}
