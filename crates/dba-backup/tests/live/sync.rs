//! Sync between two databases: insert-only, upsert, mirror, and the refusal to sync into itself.

use dba_backup::{NoProgress, SyncMode, SyncOptions, compare, sync};
use dba_core::{DatabaseClient, json};
use dba_testkit::test_path;

use crate::{product_texts, scalar, setup, shop_schema};

fn options(mode: SyncMode) -> SyncOptions {
    SyncOptions {
        mode,
        user_id: Some(json!("u1")),
        source_name: "src".into(),
        dest_name: "dst".into(),
        ..SyncOptions::default()
    }
}

#[tokio::test]
async fn insert_only_then_upsert_then_mirror() {
    let (src_db, src) = setup(test_path!("sync_src"), &["shop", "shop_data"]).await;
    let (dst_db, dst) = setup(test_path!("sync_dst"), &["shop"]).await;
    dst.execute(
        "INSERT INTO categories (user_id, slug, name) VALUES ('u1', 'tools', 'Old tools'), ('u1', 'gone', 'Gone')",
        &[],
    )
    .await
    .unwrap();

    let plan = compare(
        &src,
        &dst,
        &shop_schema(),
        &options(SyncMode::InsertOnly),
        &NoProgress,
    )
    .await;
    assert!(plan.success, "{:?}", plan.errors);
    let value = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        value["source_counts"],
        json!({"categories": 2, "products": 3, "reviews": 3})
    );
    assert_eq!(
        value["dest_counts"],
        json!({"categories": 2, "products": 0, "reviews": 0})
    );
    assert_eq!(
        value["sync_plan"]["categories"],
        json!({"new": 1, "update": 0, "skip": 1, "delete": 0})
    );

    let first = sync(
        &src,
        &dst,
        &shop_schema(),
        &options(SyncMode::InsertOnly),
        &NoProgress,
    )
    .await;
    assert!(first.success, "{:?}", first.errors);
    assert_eq!((first.synced_count, first.skipped_count), (7, 1));
    assert_eq!(
        scalar(&dst, "SELECT name FROM categories WHERE slug = 'tools'").await,
        json!("Old tools"),
        "insert-only leaves existing rows alone"
    );
    assert_eq!(product_texts(&dst).await, product_texts(&src).await);

    let second = sync(
        &src,
        &dst,
        &shop_schema(),
        &options(SyncMode::Upsert),
        &NoProgress,
    )
    .await;
    assert!(second.success, "{:?}", second.errors);
    assert_eq!((second.synced_count, second.skipped_count), (8, 0));
    assert_eq!(
        scalar(&dst, "SELECT name FROM categories WHERE slug = 'tools'").await,
        json!("Tools")
    );
    assert_eq!(
        scalar(&dst, "SELECT count(*) AS n FROM products").await,
        json!(3)
    );

    let third = sync(
        &src,
        &dst,
        &shop_schema(),
        &options(SyncMode::Mirror),
        &NoProgress,
    )
    .await;
    assert!(third.success, "{:?}", third.errors);
    assert_eq!(third.deleted_count, 1);
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) AS n FROM categories WHERE slug = 'gone'"
        )
        .await,
        json!(0)
    );

    let direct = SyncOptions {
        fk_aware: false,
        dry_run: true,
        ..options(SyncMode::InsertOnly)
    };
    let dry = sync(&src, &dst, &shop_schema(), &direct, &NoProgress).await;
    assert_eq!(dry.synced_count, 0);
    assert_eq!(
        serde_json::to_value(&dry).unwrap()["sync_plan"]["products"],
        json!({"new": 0, "update": 0, "skip": 3, "delete": 0})
    );

    let itself = sync(
        &src,
        &src,
        &shop_schema(),
        &options(SyncMode::Upsert),
        &NoProgress,
    )
    .await;
    assert!(!itself.success);
    assert_eq!(
        itself.errors,
        ["Failed to compare profiles: refusing to sync a database into itself"]
    );
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn direct_sync_copies_ids_and_advances_sequences() {
    let (src_db, src) = setup(test_path!("direct_src"), &["shop", "shop_data"]).await;
    let (dst_db, dst) = setup(test_path!("direct_dst"), &["shop"]).await;
    let direct = SyncOptions {
        fk_aware: false,
        per_table_transactions: true,
        ..options(SyncMode::InsertOnly)
    };
    let result = sync(&src, &dst, &shop_schema(), &direct, &NoProgress).await;
    assert!(result.success, "{:?}", result.errors);
    assert_eq!(result.synced_count, 8);
    assert_eq!(
        scalar(&dst, "SELECT min(id) AS m FROM products").await,
        scalar(&src, "SELECT min(id) AS m FROM products").await
    );
    dst.execute(
        "INSERT INTO categories (user_id, slug, name) VALUES ('u1', 'after', 'After')",
        &[],
    )
    .await
    .unwrap();
    src_db.drop_db().await;
    dst_db.drop_db().await;
}
