//! Join tables whose primary key has several columns, through `dba backup`, `dba restore` and `dba sync`.

use dba_testkit::{TestDb, test_path};
use serde_json::json;

use crate::support::{Workdir, fixtures, run, scalar};

/// The join table and the labels as a user writes them in the backup schema.
const SCHEMA: &str = r#"{"tables": [
    {"name": "products"},
    {"name": "tags"},
    {"name": "product_tags", "pk": ["product_id", "tag_id"], "slug_field": null, "user_field": null,
     "parent": [{"table": "products", "field": "product_id"}, {"table": "tags", "field": "tag_id"}]},
    {"name": "tag_labels", "pk": ["tag_id", "lang"], "slug_field": null, "user_field": null,
     "parent": {"table": "tags", "field": "tag_id"}}
]}"#;

/// u1's join rows that point at the right product and tag, with the right weight.
const LINKED: &str = "SELECT count(*) FROM product_tags pt JOIN products p ON p.id = pt.product_id \
    JOIN tags t ON t.id = pt.tag_id WHERE p.user_id = 'u1' AND t.user_id = 'u1' AND \
    (p.slug, t.slug, pt.weight) IN (('hammer', 'red', 1), ('hammer', 'sale', 2), ('saw', 'blue', 3), \
    ('saw', 'sale', 4), ('drill', 'red', 5))";

#[tokio::test]
async fn join_rows_are_restored_and_synced_with_both_key_columns_remapped() {
    let src =
        TestDb::with_fixtures(test_path!("join_src"), &fixtures(), &["tags", "tags_data"]).await;
    let dst = TestDb::with_fixtures(test_path!("join_dst"), &fixtures(), &["tags"]).await;
    // Another user's rows first, so u1's rows get other ids than in the source; and a rule one row breaks.
    let client = dst.client().await;
    client
        .batch_execute(
            "INSERT INTO products (user_id, slug) SELECT 'u9', 'p' || g FROM generate_series(1, 7) g; \
             INSERT INTO tags (user_id, slug) SELECT 'u9', 't' || g FROM generate_series(1, 4) g; \
             ALTER TABLE product_tags ADD CONSTRAINT no_threes CHECK (weight <> 3)",
        )
        .await
        .unwrap();
    let dir = Workdir::with_profiles(
        "join",
        &[("src", src.url()), ("dst", dst.url())],
        "[schema]\nbackup_schema = \"tags-schema.json\"\n",
    );
    dir.write("tags-schema.json", SCHEMA);
    run(dir.dba().args([
        "backup",
        "--profile",
        "src",
        "--user-id",
        "u1",
        "-o",
        "b.json",
    ]))
    .code(0);

    // The bad join row is named by its old key, an object of the key's columns; the rest is restored.
    let doc = run(dir.dba().args([
        "restore",
        "b.json",
        "--profile",
        "dst",
        "--user-id",
        "u1",
        "-y",
        "--continue-on-error",
        "--json",
    ]))
    .code(0)
    .json();
    let joins = &doc["summary"]["product_tags"];
    assert_eq!(
        (&joins["inserted"], &joins["failed"]),
        (&json!(4), &json!(1))
    );
    assert_eq!(
        joins["failure_details"][0]["old_pk"],
        json!({"product_id": 502, "tag_id": 901})
    );
    assert_eq!(doc["summary"]["tag_labels"]["inserted"], 3);
    assert_eq!(scalar(&dst, LINKED).await, 4);
    assert_eq!(
        scalar(&dst, "SELECT min(product_id)::bigint FROM product_tags").await,
        8,
        "the destination's ids"
    );

    // Sync derives the keys from the catalog: the missing row is added, matched by the remapped key.
    client
        .batch_execute("ALTER TABLE product_tags DROP CONSTRAINT no_threes")
        .await
        .unwrap();
    let other = Workdir::with_profiles("join-sync", &[("src", src.url()), ("dst", dst.url())], "");
    let sync = |mode: &'static str| {
        let mut cmd = other.dba();
        cmd.args([
            "sync",
            "--from",
            "src",
            "--profile",
            "dst",
            "--user-id",
            "u1",
            "--tables",
            "products,tags,product_tags,tag_labels",
            "--mode",
            mode,
            "--confirm",
            "--json",
        ]);
        cmd
    };
    let doc = run(&mut sync("insert")).code(0).json();
    assert_eq!(doc["result"]["synced_count"], 1, "{doc}");
    assert_eq!(doc["result"]["skipped_count"], 13, "{doc}");
    assert_eq!(scalar(&dst, LINKED).await, 5);

    // Mirror deletes a join row the source no longer has, by its whole key.
    src.client()
        .await
        .batch_execute("DELETE FROM product_tags WHERE weight = 1")
        .await
        .unwrap();
    let doc = run(&mut sync("mirror")).code(0).json();
    assert_eq!(doc["result"]["deleted_count"], 1, "{doc}");
    assert_eq!(scalar(&dst, LINKED).await, 4);
    assert_eq!(scalar(&dst, "SELECT count(*) FROM product_tags").await, 4);
    other.remove();
    dir.remove();
    src.drop_db().await;
    dst.drop_db().await;
}
