//! `dba sync --from`: preview by default, modes, and the original's error texts.

use dba_testkit::test_path;

use crate::support::{SCHEMA_SECTIONS, Workdir, db, run, scalar};

#[tokio::test]
async fn previews_then_copies_one_users_rows() {
    let full = db(test_path!("sync_src"), "full").await;
    let empty = db(test_path!("sync_dst"), "empty").await;
    let dir = Workdir::with_profiles(
        "sync",
        &[("full", full.url()), ("empty", empty.url())],
        SCHEMA_SECTIONS,
    );
    dir.write(".db-profile", "empty");
    run(dir
        .dba()
        .args(["sync", "--from", "full", "--user-id", "u1"]))
    .code(0)
    .stdout_has("  Source: full")
    .stdout_has("  Destination: empty")
    .stdout_has("  Tables: categories, products")
    .stdout_has("Data Comparison")
    .stdout_has("Sync Plan")
    .stdout_has("To actually sync, add --confirm flag.");
    run(dir.dba().args([
        "sync",
        "-f",
        "full",
        "--user-id",
        "u1",
        "--confirm",
        "--dry-run",
    ]))
    .code(0)
    .stdout_has("DRY RUN - No changes made.");
    assert_eq!(scalar(&empty, "SELECT count(*) FROM products").await, 0);

    run(dir
        .dba()
        .args(["sync", "-f", "full", "--confirm"])
        .env("APP_USER", "u1"))
    .code(0)
    .stdout_has("v Sync complete.");
    assert_eq!(
        scalar(&empty, "SELECT count(*) FROM products WHERE user_id = 'u1'").await,
        3
    );
    assert_eq!(
        scalar(
            &empty,
            "SELECT count(*) FROM products p JOIN categories c ON c.id = p.category_id \
             WHERE p.slug = 'rake' AND c.slug = 'garden'"
        )
        .await,
        1
    );

    // Mirror: a destination row the source lacks is deleted; --tables limits the run.
    let client = empty.client().await;
    client
        .batch_execute("INSERT INTO products (slug, name, category_id, user_id) SELECT 'extra', 'Extra', id, 'u1' FROM categories WHERE slug = 'tools'")
        .await
        .unwrap();
    let doc = run(dir.dba().args([
        "sync",
        "-f",
        "full",
        "--user-id",
        "u1",
        "--tables",
        "categories,products",
        "--mode",
        "mirror",
        "--confirm",
        "--json",
    ]))
    .code(0)
    .json();
    assert_eq!(doc["synced"], true);
    assert_eq!(doc["result"]["deleted_count"], 1);
    assert_eq!(
        scalar(&empty, "SELECT count(*) FROM products WHERE slug = 'extra'").await,
        0
    );
    dir.remove();
    full.drop_db().await;
    empty.drop_db().await;
}

#[tokio::test]
async fn errors_match_the_original() {
    let dir = Workdir::with_profiles(
        "sync-errors",
        &[
            ("full", "postgresql://postgres@127.0.0.1:1/a"),
            ("other", "postgresql://postgres@127.0.0.1:1/b"),
        ],
        "",
    );
    run(dir
        .dba()
        .args(["sync", "--from", "full", "--user-id", "abc"]))
    .code(1)
    .stderr_has("No tables specified. Provide --tables or configure sync.tables in db.toml");
    run(dir
        .dba()
        .args(["sync", "--from", "full", "--tables", "items"]))
    .code(1)
    .stderr_has(
        "No user ID available. Provide --user-id or configure defaults.user_id_env in db.toml",
    );
    run(dir.dba().args([
        "sync",
        "--from",
        "full",
        "--tables",
        "items",
        "--user-id",
        "abc",
    ]))
    .code(1)
    .stderr_has("No destination profile configured");
    dir.write(".db-profile", "full");
    run(dir.dba().args([
        "sync",
        "--from",
        "full",
        "--tables",
        "items",
        "--user-id",
        "abc",
    ]))
    .code(1)
    .stderr_has("Source and destination are the same profile: full");
    run(dir
        .dba()
        .args(["sync", "--tables", "items", "--user-id", "abc"]))
    .code(2);
    run(dir.dba().args([
        "sync",
        "--from",
        "other",
        "--tables",
        "items",
        "--user-id",
        "abc",
        "--mode",
        "merge",
    ]))
    .code(2);
    run(dir.dba().args([
        "sync",
        "--from",
        "other",
        "--tables",
        "items",
        "--user-id",
        "abc",
    ]))
    .code(1)
    .stderr_has("Failed to connect to source profile 'other'");
    dir.remove();
}
