//! `dba sync --from`: preview by default, modes, and the original's error texts.

use dba_testkit::{TestDb, test_path};
use serde_json::json;

use crate::support::{SCHEMA_SECTIONS, Workdir, db, fixtures, run, scalar};

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
    sync_from(dir, &["-f", "full"], mode)
}

/// [`sync_in`] with the given source (and table) arguments.
fn sync_from(dir: &Workdir, source: &[&str], mode: &str) -> serde_json::Value {
    let doc = run(dir.dba().arg("sync").args(source).args([
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

/// The tags fixture's tables as a backup schema, with a settings table keyed by user and key.
const JOIN_SCHEMA: &str = r#"{"tables": [
    {"name": "products"},
    {"name": "tags"},
    {"name": "product_tags", "pk": ["product_id", "tag_id"], "slug_field": null, "user_field": null,
     "parent": [{"table": "products", "field": "product_id"}, {"table": "tags", "field": "tag_id"}]},
    {"name": "tag_labels", "pk": ["tag_id", "lang"], "slug_field": null, "user_field": null,
     "parent": {"table": "tags", "field": "tag_id"}},
    {"name": "settings", "pk": ["user_id", "key"], "slug_field": null}
]}"#;

/// One plan entry as JSON.
fn entry(new: u64, update: u64, skip: u64, delete: u64) -> serde_json::Value {
    json!({"new": new, "update": update, "skip": skip, "delete": delete})
}

#[tokio::test]
async fn the_plan_counts_what_each_mode_does_to_composite_keys_and_join_tables() {
    let full = TestDb::with_fixtures(
        test_path!("sync_plan_joins_src"),
        &fixtures(),
        &["tags", "tags_data"],
    )
    .await;
    let empty =
        TestDb::with_fixtures(test_path!("sync_plan_joins_dst"), &fixtures(), &["tags"]).await;
    let settings = "CREATE TABLE settings (user_id text NOT NULL, key text NOT NULL, value text, \
                    PRIMARY KEY (user_id, key));";
    let src = full.client().await;
    src.batch_execute(&format!(
        "{settings} INSERT INTO settings VALUES ('u1', 'a', '1'), ('u1', 'b', '2'), ('u1', 'c', '3'), \
         ('u2', 'a', 'x')"
    ))
    .await
    .unwrap();
    // Another user's rows first (so u1's ids differ from the source's), and 2 of u1's 3 settings.
    let dst = empty.client().await;
    dst.batch_execute(&format!(
        "{settings} INSERT INTO settings VALUES ('u1', 'a', 'old'), ('u1', 'b', 'old'), ('u9', 'z', 'z'); \
         INSERT INTO products (user_id, slug) SELECT 'u9', 'p' || g FROM generate_series(1, 7) g; \
         INSERT INTO tags (user_id, slug) SELECT 'u9', 't' || g FROM generate_series(1, 4) g; \
         INSERT INTO product_tags (product_id, tag_id, weight) SELECT p.id, t.id, 9 FROM products p, tags t \
         WHERE p.slug = 'p1' AND t.slug = 't1'"
    ))
    .await
    .unwrap();
    let dir = Workdir::with_profiles(
        "sync-plan-joins",
        &[("full", full.url()), ("empty", empty.url())],
        "[schema]\nbackup_schema = \"tags-schema.json\"\n",
    );
    dir.write("tags-schema.json", JOIN_SCHEMA);
    dir.write(".db-profile", "empty");
    let source = [
        "-f",
        "full",
        "--tables",
        "products,tags,product_tags,tag_labels,settings",
    ];

    // u2's join rows (and u1's row to u2's tag) are not synced, nor counted.
    let first = sync_from(&dir, &source, "insert");
    let comparison = &first["comparison"];
    assert_eq!(comparison["source_counts"]["product_tags"], 5, "{first:#}");
    assert_eq!(comparison["dest_counts"]["product_tags"], 0, "{first:#}");
    assert_eq!(comparison["sync_plan"]["product_tags"], entry(5, 0, 0, 0));
    assert_eq!(comparison["sync_plan"]["settings"], entry(1, 0, 2, 0));

    // Nothing changed: every join row matches through its remapped parents; nothing to delete.
    let again = sync_from(&dir, &source, "mirror");
    assert_eq!(
        again["comparison"]["sync_plan"]["product_tags"],
        entry(0, 5, 0, 0)
    );
    assert_eq!(
        again["comparison"]["sync_plan"]["tag_labels"],
        entry(0, 3, 0, 0)
    );
    assert_eq!(
        again["comparison"]["sync_plan"]["settings"],
        entry(0, 3, 0, 0)
    );

    // One join row removed and one product renamed in the source; a setting only the destination has.
    src.batch_execute(
        "DELETE FROM product_tags WHERE weight = 1; UPDATE products SET slug = 'saw2' WHERE slug = 'saw'",
    )
    .await
    .unwrap();
    dst.batch_execute("INSERT INTO settings VALUES ('u1', 'd', 'extra')")
        .await
        .unwrap();
    let out = run(dir.dba().arg("sync").args(source).args(["--user-id", "u1"]));
    out.code(0);
    let row = out
        .stdout
        .lines()
        .rfind(|l| l.contains("product_tags"))
        .unwrap();
    let cells: Vec<&str> = row
        .split('│')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells, ["product_tags", "2", "2"], "{}", out.stdout);
    assert!(!out.stdout.contains("product_tags *"), "{}", out.stdout);

    let insert = sync_from(&dir, &source, "insert");
    assert_eq!(
        insert["comparison"]["sync_plan"]["products"],
        entry(1, 0, 2, 0)
    );
    assert_eq!(
        insert["comparison"]["sync_plan"]["product_tags"],
        entry(2, 0, 2, 0)
    );
    let upsert = sync_from(&dir, &source, "upsert");
    assert_eq!(
        upsert["comparison"]["sync_plan"]["product_tags"],
        entry(0, 4, 0, 0)
    );
    assert_eq!(
        upsert["comparison"]["sync_plan"]["settings"],
        entry(0, 3, 0, 0)
    );
    let mirror = sync_from(&dir, &source, "mirror");
    let plan = &mirror["comparison"]["sync_plan"];
    assert_eq!(plan["products"], entry(0, 3, 0, 1));
    assert_eq!(plan["product_tags"], entry(0, 4, 0, 3));
    assert_eq!(plan["tag_labels"], entry(0, 3, 0, 0));
    assert_eq!(plan["settings"], entry(0, 3, 0, 1));
    assert_eq!(
        scalar(&empty, "SELECT count(*) FROM product_tags WHERE weight = 9").await,
        1,
        "u9's join row is kept"
    );
    assert_eq!(
        scalar(&empty, "SELECT count(*) FROM settings WHERE user_id = 'u9'").await,
        1
    );
    dir.remove();
    full.drop_db().await;
    empty.drop_db().await;
}
