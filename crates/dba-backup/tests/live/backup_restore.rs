//! Backup then restore into a second database, with ids remapped, types exact and sequences ahead.

use dba_backup::{
    BackupOptions, NoProgress, RestoreMode, RestoreOptions, backup, restore, validate_backup,
};
use dba_core::{DatabaseClient, json};
use dba_testkit::test_path;

use crate::{checksums, fixtures, product_texts, scalar, scratch, setup, shop_schema};

fn opts(user: &str) -> BackupOptions {
    BackupOptions {
        user_id: Some(json!(user)),
        ..BackupOptions::default()
    }
}

fn restore_opts(mode: RestoreMode) -> RestoreOptions {
    RestoreOptions {
        mode,
        user_id: Some(json!("u1")),
        ..RestoreOptions::default()
    }
}

#[tokio::test]
async fn backup_then_restore_remaps_every_id() {
    let (src_db, src) = setup(test_path!("remap_src"), &["shop", "shop_data"]).await;
    let (dst_db, dst) = setup(test_path!("remap_dst"), &["shop"]).await;
    let dir = scratch("remap");
    let path = dir.join("b.json");
    let report = backup(&src, &shop_schema(), &path, &opts("u1"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        report.counts,
        [
            ("categories".to_owned(), 2),
            ("products".to_owned(), 3),
            ("reviews".to_owned(), 3)
        ]
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let meta = doc["metadata"].as_object().unwrap();
    let keys: Vec<&str> = meta.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "created_at",
            "user_id",
            "backup_type",
            "version",
            "categories_count",
            "products_count",
            "reviews_count"
        ]
    );
    assert!(meta["created_at"].as_str().unwrap().ends_with("+00:00"));
    assert_eq!(meta["version"], "1.1");
    // The counts were written over placeholders once the rows were in.
    assert_eq!(
        [
            &meta["categories_count"],
            &meta["products_count"],
            &meta["reviews_count"]
        ],
        [&json!(2), &json!(3), &json!(3)]
    );
    assert!(validate_backup(&path, &shop_schema()).valid);
    // A gzip backup (rows spooled, metadata first) holds the same document.
    let gz = dir.join("b.json.gz");
    backup(&src, &shop_schema(), &gz, &opts("u1"), &NoProgress)
        .await
        .unwrap();
    let mut gz_text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap()),
        &mut gz_text,
    )
    .unwrap();
    let mut gz_doc: serde_json::Value = serde_json::from_str(&gz_text).unwrap();
    let mut plain_doc = doc.clone();
    for d in [&mut gz_doc, &mut plain_doc] {
        d["metadata"]["created_at"] = json!(null);
    }
    assert_eq!(gz_doc, plain_doc);

    let summary = restore(
        &dst,
        &shop_schema(),
        &path,
        &restore_opts(RestoreMode::Skip),
        &NoProgress,
    )
    .await
    .unwrap();
    let totals = summary.totals();
    assert_eq!((totals.inserted, totals.skipped, totals.failed), (8, 0, 0));
    let s = serde_json::to_value(&summary).unwrap();
    assert_eq!(s["dry_run"], false);
    assert_eq!(
        s["products"],
        json!({"inserted": 3, "updated": 0, "skipped": 0, "failed": 0})
    );

    // The destination generated new ids (its sequences started at 1, the source's at 100/500)…
    assert_eq!(
        scalar(&dst, "SELECT max(id) AS m FROM categories").await,
        json!(2)
    );
    assert_eq!(
        scalar(&dst, "SELECT max(id) AS m FROM products").await,
        json!(3)
    );
    // …every reference points at them, and every typed value came through exactly.
    assert_eq!(product_texts(&dst).await, product_texts(&src).await);
    let reviews_ok = scalar(
        &dst,
        "SELECT count(*) AS n FROM reviews r JOIN products p ON p.id = r.product_id \
         JOIN categories c ON c.id = r.featured_category_id AND c.slug = 'toys' WHERE r.slug = 'r-' || p.slug",
    )
    .await;
    assert_eq!(reviews_ok, json!(3));
    // A later plain insert succeeds: sequences are ahead of the data.
    dst.execute(
        "INSERT INTO categories (user_id, slug, name) VALUES ('u1', 'new', 'New')",
        &[],
    )
    .await
    .unwrap();

    // A second restore finds every row by natural key.
    let again = restore(
        &dst,
        &shop_schema(),
        &path,
        &restore_opts(RestoreMode::Skip),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!((again.totals().inserted, again.totals().skipped), (0, 8));
    std::fs::remove_dir_all(dir).unwrap();
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn keep_ids_moves_sequences_past_the_data() {
    let (src_db, src) = setup(test_path!("keep_src"), &["shop", "shop_data"]).await;
    let (dst_db, dst) = setup(test_path!("keep_dst"), &["shop"]).await;
    let dir = scratch("keep");
    let path = dir.join("b.json.gz");
    backup(&src, &shop_schema(), &path, &opts("u1"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(&std::fs::read(&path).unwrap()[..2], [0x1f, 0x8b], "gzipped");
    let options = RestoreOptions {
        keep_ids: true,
        ..restore_opts(RestoreMode::Skip)
    };
    restore(&dst, &shop_schema(), &path, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        scalar(&dst, "SELECT min(id) AS m FROM categories").await,
        scalar(&src, "SELECT min(id) AS m FROM categories").await
    );
    assert_eq!(product_texts(&dst).await, product_texts(&src).await);
    dst.execute(
        "INSERT INTO categories (user_id, slug, name) VALUES ('u1', 'next', 'Next')",
        &[],
    )
    .await
    .unwrap();
    let rows = dst
        .query(
            "INSERT INTO products (user_id, slug, category_id) SELECT 'u1', 'later', min(id) FROM categories RETURNING id",
            &[],
        )
        .await
        .unwrap();
    assert!(rows[0]["id"].as_i64().unwrap() > 500);
    std::fs::remove_dir_all(dir).unwrap();
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn modes_skip_overwrite_fail_and_dry_run() {
    let (src_db, src) = setup(test_path!("modes_src"), &["shop", "shop_data"]).await;
    let (dst_db, dst) = setup(test_path!("modes_dst"), &["shop"]).await;
    let dir = scratch("modes");
    let path = dir.join("b.json");
    backup(&src, &shop_schema(), &path, &opts("u1"), &NoProgress)
        .await
        .unwrap();

    // A dry run into the empty database counts what a real run does and writes nothing.
    let dry = RestoreOptions {
        dry_run: true,
        ..restore_opts(RestoreMode::Skip)
    };
    let planned = restore(&dst, &shop_schema(), &path, &dry, &NoProgress)
        .await
        .unwrap();
    assert!(planned.dry_run);
    assert_eq!(planned.totals().inserted, 8);
    assert_eq!(
        scalar(&dst, "SELECT count(*) AS n FROM products").await,
        json!(0)
    );
    let real = restore(
        &dst,
        &shop_schema(),
        &path,
        &restore_opts(RestoreMode::Skip),
        &NoProgress,
    )
    .await
    .unwrap();
    let mut planned_json = serde_json::to_value(&planned).unwrap();
    planned_json["dry_run"] = json!(false);
    assert_eq!(planned_json, serde_json::to_value(&real).unwrap());

    // Overwrite puts the backup's values back.
    dst.execute("UPDATE products SET price = 1", &[])
        .await
        .unwrap();
    let over = restore(
        &dst,
        &shop_schema(),
        &path,
        &restore_opts(RestoreMode::Overwrite),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(over.table("products").unwrap().updated, 3);
    assert_eq!(product_texts(&dst).await, product_texts(&src).await);

    // Fail reports every conflict and changes nothing.
    let before = checksums(&dst).await;
    let err = restore(
        &dst,
        &shop_schema(),
        &path,
        &restore_opts(RestoreMode::Fail),
        &NoProgress,
    )
    .await
    .unwrap_err();
    match &err {
        dba_backup::BackupError::Conflicts { conflicts, .. } => assert_eq!(conflicts.len(), 8),
        other => panic!("{other}"),
    }
    assert!(
        err.to_string()
            .starts_with("8 row(s) already exist (mode=fail): categories 'tools'"),
        "{err}"
    );
    assert_eq!(checksums(&dst).await, before);
    let dry_dst = restore(&dst, &shop_schema(), &path, &dry, &NoProgress)
        .await
        .unwrap();
    assert_eq!(dry_dst.totals().skipped, 8);
    std::fs::remove_dir_all(dir).unwrap();
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn restores_a_file_in_the_originals_layout() {
    let (db, pg) = setup(test_path!("python_file"), &["shop"]).await;
    let path = fixtures().join("python_backup.json");
    let report = validate_backup(&path, &shop_schema());
    assert!(report.valid, "{report:?}");
    assert_eq!(
        report.warnings,
        ["Orphaned products 'lost': category_id not in backup"]
    );
    let summary = restore(
        &pg,
        &shop_schema(),
        &path,
        &restore_opts(RestoreMode::Skip),
        &NoProgress,
    )
    .await
    .unwrap();
    let products = summary.table("products").unwrap();
    assert_eq!((products.inserted, products.skipped), (2, 1));
    let rows = pg
        .query(
            "SELECT p.slug, c.slug AS cat, p.price::text AS price, p.made_at::date::text AS day FROM products p \
             JOIN categories c ON c.id = p.category_id ORDER BY p.slug",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&rows).unwrap(),
        json!([
            {"slug": "ball", "cat": "toys", "price": "3.0000000000", "day": null},
            {"slug": "hammer", "cat": "tools", "price": "12.5000000000", "day": "2024-05-01"}
        ])
    );
    assert_eq!(
        scalar(
            &pg,
            "SELECT count(*) AS n FROM reviews WHERE featured_category_id IS NULL"
        )
        .await,
        json!(1),
        "an optional reference to a missing row becomes null"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn a_subset_backup_validates_and_restores_against_its_subset() {
    let (src_db, src) = setup(test_path!("subset_src"), &["shop", "shop_data"]).await;
    let dir = scratch("subset");
    let path = dir.join("cats.json");
    let schema = shop_schema().subset(&["categories"]).unwrap();
    backup(&src, &schema, &path, &opts("u1"), &NoProgress)
        .await
        .unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["metadata"]["tables"], json!(["categories"]));
    let report = validate_backup(&path, &shop_schema());
    assert!(report.valid, "{report:?}");
    let full = validate_backup(
        &path,
        &shop_schema().subset(&["categories", "products"]).unwrap(),
    );
    assert!(full.valid, "the file declares its own tables: {full:?}");
    std::fs::remove_dir_all(dir).unwrap();
    src_db.drop_db().await;
}

#[tokio::test]
async fn a_schema_is_inferred_from_the_foreign_key_graph() {
    let (db, pg) = setup(test_path!("infer"), &["shop"]).await;
    let (schema, report) = dba_backup::infer_schema(&pg, None).await.unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["categories", "products", "reviews"]);
    let reviews = schema.table("reviews").unwrap();
    assert_eq!(
        reviews.parents,
        [dba_backup::ForeignKey::new("products", "product_id")]
    );
    assert_eq!(
        reviews.optional_refs,
        [dba_backup::ForeignKey::new(
            "categories",
            "featured_category_id"
        )]
    );
    assert_eq!(
        schema.table("products").unwrap().natural_key,
        ["category_id", "slug"]
    );
    assert_eq!(
        report.tables[0],
        "categories: pk id, natural key slug (unique constraint categories_user_id_slug_key), \
         user field user_id, no references"
    );
    assert!(
        report.tables[2].contains("natural key slug (column slug)"),
        "{report:?}"
    );
    let (only, _) = dba_backup::infer_schema(&pg, Some(&["reviews"]))
        .await
        .unwrap();
    assert!(only.validate().is_ok() && only.is_external("products"));
    db.drop_db().await;
}

/// A natural key that comes back in a later chunk matches the row this run inserted for it, also on a table
/// that was empty before the run (where the lookup select is skipped for chunks with no such key).
#[tokio::test]
async fn a_natural_key_repeated_in_a_later_chunk_matches_the_row_inserted_for_it() {
    for batch_size in [1, 2, 1000] {
        let (db, pg) = setup(test_path!("repeat"), &["shop"]).await;
        let dir = scratch(&format!("repeat-{batch_size}"));
        let path = dir.join("b.json");
        let file = json!({
            "metadata": {"version": "1.1", "backup_type": "full", "user_id": "u1",
                         "categories_count": 4, "products_count": 1, "reviews_count": 0},
            "categories": [
                {"id": 7, "user_id": "u1", "slug": "tools", "name": "Tools"},
                {"id": 9, "user_id": "u1", "slug": "toys", "name": "Toys"},
                {"id": 10, "user_id": "u1", "slug": "misc", "name": "Misc"},
                {"id": 11, "user_id": "u1", "slug": "tools", "name": "Tools again"}
            ],
            "products": [{"id": 70, "user_id": "u1", "slug": "hammer", "category_id": 11}],
            "reviews": []
        });
        std::fs::write(&path, file.to_string()).unwrap();
        let options = RestoreOptions {
            batch_size,
            ..restore_opts(RestoreMode::Skip)
        };
        let summary = restore(&pg, &shop_schema(), &path, &options, &NoProgress)
            .await
            .unwrap();
        let categories = summary.table("categories").unwrap();
        assert_eq!(
            (categories.inserted, categories.skipped),
            (3, 1),
            "batch size {batch_size}"
        );
        assert_eq!(
            scalar(
                &pg,
                "SELECT c.name FROM products p JOIN categories c ON c.id = p.category_id"
            )
            .await,
            json!("Tools"),
            "batch size {batch_size}: the product follows its category to the row first inserted"
        );
        db.drop_db().await;
    }
}

/// A destination that is not a regular file (here a FIFO; `/dev/null` is the usual one) is refused before
/// anything is read or written: the backup would land by renaming a file over it, replacing the device.
#[tokio::test]
async fn a_backup_never_replaces_a_destination_that_is_not_a_regular_file() {
    use std::os::unix::fs::FileTypeExt;

    let (db, src) = setup(test_path!("fifo_src"), &["shop", "shop_data"]).await;
    let dir = scratch("fifo");
    let fifo = dir.join("out.json");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for target in [fifo.clone(), dir.clone()] {
        let err = backup(&src, &shop_schema(), &target, &opts("u1"), &NoProgress)
            .await
            .expect_err("not a regular file");
        let text = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(text.contains("not a regular file"), "{text}");
    }
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    // Nothing was left beside it.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    db.drop_db().await;
    std::fs::remove_dir_all(dir).unwrap();
}
