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

/// Sums a per-table plan field over the tables.
fn plan_sum(doc: &serde_json::Value, key: &str) -> u64 {
    doc["comparison"]["sync_plan"]
        .as_object()
        .unwrap()
        .values()
        .map(|entry| entry[key].as_u64().unwrap())
        .sum()
}

/// Runs a confirmed sync in `mode` and checks that its plan counted exactly what it then did.
fn sync_in(dir: &Workdir, mode: &str) -> serde_json::Value {
    let doc = run(dir.dba().args([
        "sync",
        "-f",
        "full",
        "--user-id",
        "u1",
        "--mode",
        mode,
        "--confirm",
        "--json",
    ]))
    .code(0)
    .json();
    let result = &doc["result"];
    assert_eq!(
        plan_sum(&doc, "new") + plan_sum(&doc, "update"),
        result["synced_count"].as_u64().unwrap(),
        "{mode}: {doc:#}"
    );
    assert_eq!(
        plan_sum(&doc, "skip"),
        result["skipped_count"].as_u64().unwrap(),
        "{mode}: {doc:#}"
    );
    assert_eq!(
        plan_sum(&doc, "delete"),
        result["deleted_count"].as_u64().unwrap(),
        "{mode}: {doc:#}"
    );
    doc
}

#[tokio::test]
async fn the_plan_counts_what_each_mode_does() {
    let full = db(test_path!("sync_plan_src"), "full").await;
    let empty = db(test_path!("sync_plan_dst"), "empty").await;
    let dir = Workdir::with_profiles(
        "sync-plan",
        &[("full", full.url()), ("empty", empty.url())],
        SCHEMA_SECTIONS,
    );
    dir.write(".db-profile", "empty");
    let first = sync_in(&dir, "insert");
    assert_eq!(
        first["comparison"]["sync_plan"],
        serde_json::json!({
            "categories": {"new": 2, "update": 0, "skip": 0, "delete": 0},
            "products": {"new": 3, "update": 0, "skip": 0, "delete": 0},
        })
    );
    // One row only the source has, one only the destination has.
    full.client()
        .await
        .batch_execute(
            "INSERT INTO products (slug, name, category_id, user_id) VALUES ('drill', 'Drill', 1, 'u1')",
        )
        .await
        .unwrap();
    empty
        .client()
        .await
        .batch_execute(
            "INSERT INTO products (slug, name, category_id, user_id) \
             SELECT 'extra', 'Extra', id, 'u1' FROM categories WHERE slug = 'tools'",
        )
        .await
        .unwrap();

    // Insert-only: the rows the destination has are left alone, and the table says so in numbers.
    let out = run(dir.dba().args(["sync", "-f", "full", "--user-id", "u1"]));
    out.code(0);
    let header = out
        .stdout
        .lines()
        .find(|l| l.contains("Left alone"))
        .unwrap();
    assert!(!header.contains("Update"), "{}", out.stdout);
    let row = out
        .stdout
        .lines()
        .rfind(|l| l.contains("products"))
        .unwrap();
    let cells: Vec<&str> = row
        .split('│')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells, ["products", "1", "3"], "{}", out.stdout);
    assert!(!out.stdout.contains(" - "), "{}", out.stdout);
    let insert = sync_in(&dir, "insert");
    assert_eq!(
        insert["comparison"]["sync_plan"]["products"],
        serde_json::json!({"new": 1, "update": 0, "skip": 3, "delete": 0})
    );

    // Upsert overwrites them; mirror also deletes the row the source lacks.
    let upsert = sync_in(&dir, "upsert");
    assert_eq!(
        upsert["comparison"]["sync_plan"]["products"],
        serde_json::json!({"new": 0, "update": 4, "skip": 0, "delete": 0})
    );
    let mirror = sync_in(&dir, "mirror");
    assert_eq!(
        mirror["comparison"]["sync_plan"]["products"],
        serde_json::json!({"new": 0, "update": 4, "skip": 0, "delete": 1})
    );
    assert_eq!(
        scalar(&empty, "SELECT count(*) FROM products WHERE slug = 'extra'").await,
        0
    );
    dir.remove();
    full.drop_db().await;
    empty.drop_db().await;
}
