//! `dba restore`: confirmation, dry runs, modes, new ids, and bad rows.

use dba_testkit::test_path;

use crate::support::{SCHEMA_SECTIONS, Workdir, backed_up_pair, db, run, scalar};

const PAIRS: &str = "SELECT count(*) FROM products p JOIN categories c ON c.id = p.category_id \
                     WHERE p.user_id = 'u1' AND c.user_id = 'u1' AND \
                     (p.slug, c.slug) IN (('hammer', 'tools'), ('saw', 'tools'), ('rake', 'garden'))";

#[tokio::test]
async fn restores_with_new_ids_and_remapped_references() {
    let (full, empty, dir) = backed_up_pair(
        test_path!("restore_src"),
        test_path!("restore_dst"),
        "restore",
    )
    .await;

    // No terminal and no --yes: stop at once, naming the flag; nothing written.
    run(dir
        .dba()
        .args(["restore", "b.json", "--profile", "empty", "--user-id", "u1"]))
    .code(1)
    .stderr_has("--yes");
    assert_eq!(scalar(&empty, "SELECT count(*) FROM products").await, 0);

    run(dir.dba().args([
        "restore",
        "b.json",
        "--profile",
        "empty",
        "--user-id",
        "u1",
        "--dry-run",
    ]))
    .code(0)
    .stdout_has("DRY RUN - No changes made.")
    .stdout_has("Restore Results");
    assert_eq!(scalar(&empty, "SELECT count(*) FROM products").await, 0);

    run(dir
        .dba()
        .args(["restore", "b.json", "--profile", "empty", "-y"])
        .env("APP_USER", "u1"))
    .code(0)
    .stdout_has("v Restore complete.")
    .stdout_has("  Mode: skip")
    .stdout_has("Restore Results");
    assert_eq!(scalar(&empty, PAIRS).await, 3);
    // The destination assigned ids after its own rows; the originals would have collided.
    assert_eq!(
        scalar(
            &empty,
            "SELECT min(id)::bigint FROM categories WHERE user_id = 'u1'"
        )
        .await,
        3
    );

    // Again: every row exists, so skip mode skips all of them; fail mode refuses and commits nothing.
    let doc = run(dir.dba().args([
        "restore",
        "b.json",
        "--profile",
        "empty",
        "--user-id",
        "u1",
        "-y",
        "--json",
    ]))
    .code(0)
    .json();
    assert_eq!(doc["summary"]["categories"]["skipped"], 2);
    assert_eq!(doc["summary"]["products"]["skipped"], 3);
    run(dir.dba().args([
        "restore",
        "b.json",
        "--profile",
        "empty",
        "--user-id",
        "u1",
        "-y",
        "-m",
        "fail",
    ]))
    .code(1)
    .stderr_has("Restore failed")
    .stderr_has("already exist");
    run(dir.dba().args([
        "restore",
        "b.json",
        "--profile",
        "empty",
        "--user-id",
        "u1",
        "--yes",
        "--mode",
        "overwrite",
    ]))
    .code(0)
    .stdout_has("  Mode: overwrite");
    dir.remove();
    full.drop_db().await;
    empty.drop_db().await;
}

#[tokio::test]
async fn keep_ids_and_bad_rows() {
    let full = db(test_path!("restore_keep_src"), "full").await;
    let empty = db(test_path!("restore_keep_dst"), "empty").await;
    let dir = Workdir::with_profiles(
        "restore-keep",
        &[("full", full.url()), ("empty", empty.url())],
        SCHEMA_SECTIONS,
    );
    run(dir.dba().args([
        "backup",
        "--profile",
        "full",
        "--user-id",
        "u2",
        "-o",
        "u2.json",
    ]))
    .code(0);
    // u2's category has id 3 in the source, which is free in the destination.
    run(dir.dba().args([
        "restore",
        "u2.json",
        "--profile",
        "empty",
        "--user-id",
        "u2",
        "-y",
        "--keep-ids",
    ]))
    .code(0);
    assert_eq!(
        scalar(
            &empty,
            "SELECT id::bigint FROM categories WHERE slug = 'kitchen'"
        )
        .await,
        3
    );

    // A row the database rejects (a NULL name): rolled back as a whole by default...
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path.join("u2.json")).unwrap()).unwrap();
    file["categories"][0]["slug"] = "bad".into();
    file["categories"][0]["name"] = serde_json::Value::Null;
    file["categories"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": 77, "slug": "good", "name": "Good", "user_id": "u2"}));
    file["metadata"]["categories_count"] = 2.into();
    dir.write("bad-row.json", &file.to_string());
    run(dir.dba().args([
        "restore",
        "bad-row.json",
        "--profile",
        "empty",
        "--user-id",
        "u2",
        "-y",
    ]))
    .code(1)
    .stderr_has("Restore failed");
    assert_eq!(
        scalar(
            &empty,
            "SELECT count(*) FROM categories WHERE slug = 'good'"
        )
        .await,
        0
    );
    // ...and recorded and skipped with --continue-on-error.
    run(dir.dba().args([
        "restore",
        "bad-row.json",
        "--profile",
        "empty",
        "--user-id",
        "u2",
        "-y",
        "--continue-on-error",
    ]))
    .code(0)
    .stdout_has("Failed rows in categories:")
    .stdout_has("row 0");
    assert_eq!(
        scalar(
            &empty,
            "SELECT count(*) FROM categories WHERE slug = 'good'"
        )
        .await,
        1
    );
    run(dir.dba().args([
        "restore",
        "nope.json",
        "--profile",
        "empty",
        "--user-id",
        "u2",
        "-y",
    ]))
    .code(1)
    .stderr_has("Backup file not found: nope.json");
    dir.remove();
    full.drop_db().await;
    empty.drop_db().await;
}
