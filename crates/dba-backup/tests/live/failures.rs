//! A restore that fails in the middle leaves the destination exactly as it was, or, when asked to
//! continue, commits exactly what it counts.

use dba_backup::{BackupError, BackupOptions, NoProgress, RestoreOptions, backup, restore};
use dba_core::{DatabaseClient, json};
use dba_testkit::test_path;

use crate::{checksums, scalar, scratch, setup, shop_schema};

#[tokio::test]
async fn a_failure_in_the_middle_commits_nothing() {
    let (src_db, src) = setup(test_path!("fail_src"), &["shop", "shop_data"]).await;
    let (dst_db, dst) = setup(test_path!("fail_dst"), &["shop"]).await;
    // Existing data the failed restore must not disturb, and a rule the backup's "saw" breaks.
    dst.execute(
        "INSERT INTO categories (user_id, slug, name) VALUES ('u9', 'keep', 'Keep'); \
         ALTER TABLE products ADD CONSTRAINT no_saws CHECK (slug <> 'saw')",
        &[],
    )
    .await
    .unwrap();
    let dir = scratch("fail");
    let path = dir.join("b.json");
    let options = BackupOptions {
        user_id: Some(json!("u1")),
        ..BackupOptions::default()
    };
    backup(&src, &shop_schema(), &path, &options, &NoProgress)
        .await
        .unwrap();
    let before = checksums(&dst).await;
    // One row per batch: each batch is written while the next is read and prepared, and the failure
    // surfaces while the rows after it are already prepared.
    for batch_size in [1, 1000] {
        failure_in_the_middle(&dst, &path, &before, batch_size).await;
    }
    std::fs::remove_dir_all(dir).unwrap();
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

async fn failure_in_the_middle(
    dst: &dba_postgres::PostgresAdapter,
    path: &std::path::Path,
    before: &[String],
    batch_size: usize,
) {
    let err = restore(
        dst,
        &shop_schema(),
        path,
        &RestoreOptions {
            batch_size,
            ..RestoreOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap_err();
    let BackupError::RowFailed(failed) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        (failed.table.as_str(), &failed.natural_key),
        ("products", &Some(json!("saw")))
    );
    let text = err.to_string();
    assert!(text.starts_with("products row 1 (pk "), "{text}");
    // The database's reason is in the message once, not repeated as a separate cause.
    assert!(text.contains(failed.error.message()), "{text}");
    assert!(std::error::Error::source(&err).is_none(), "{err:?}");
    assert!(
        text.contains("key 'saw'") && text.ends_with("nothing was committed"),
        "{text}"
    );
    assert_eq!(
        checksums(dst).await,
        before,
        "the destination is unchanged (batch size {batch_size})"
    );

    // Continuing past bad rows: the bad row and its review fail/skip, the rest is committed and counted.
    let options = RestoreOptions {
        continue_on_error: true,
        batch_size,
        ..RestoreOptions::default()
    };
    let summary = restore(dst, &shop_schema(), path, &options, &NoProgress)
        .await
        .unwrap();
    let products = summary.table("products").unwrap();
    assert_eq!((products.inserted, products.failed), (2, 1));
    assert_eq!(products.failure_details[0].row_index, 1);
    assert!(products.failure_details[0].error.contains("no_saws"));
    let reviews = summary.table("reviews").unwrap();
    assert_eq!((reviews.inserted, reviews.skipped), (2, 1));
    assert_eq!(
        scalar(dst, "SELECT count(*) AS n FROM products").await,
        json!(2)
    );
    assert_eq!(
        scalar(dst, "SELECT count(*) AS n FROM reviews").await,
        json!(2)
    );
    assert_eq!(
        scalar(dst, "SELECT count(*) AS n FROM categories").await,
        json!(3)
    );
    // Back to the state before, for the next batch size.
    dst.execute(
        "DELETE FROM reviews; DELETE FROM products; DELETE FROM categories WHERE slug <> 'keep'",
        &[],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_invalid_file_is_refused_before_any_write() {
    let (db, pg) = setup(test_path!("invalid_file"), &["shop"]).await;
    let dir = scratch("invalid");
    let path = dir.join("bad.json");
    std::fs::write(
        &path,
        r#"{"metadata": {"version": "1.0"}, "categories": [{"slug": "x"}], "products": [], "reviews": []}"#,
    )
    .unwrap();
    let err = restore(
        &pg,
        &shop_schema(),
        &path,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "invalid backup file {}: Unsupported backup version '1.0' (expected '1.1'); categories row missing 'id' field: x (row 0, line 1)",
            path.display()
        )
    );
    std::fs::remove_dir_all(dir).unwrap();
    db.drop_db().await;
}
