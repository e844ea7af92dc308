//! Tables whose primary key has several columns (a join table `product_tags(product_id, tag_id)`): backup,
//! restore and sync with both key columns remapped to the destination's ids.

use dba_backup::{
    BackupError, BackupOptions, BackupSchema, NoProgress, RestoreMode, RestoreOptions, SyncMode,
    SyncOptions, backup, compare, infer_schema, restore, sync, validate_backup,
};
use dba_core::{DatabaseClient, Value, json};
use dba_testkit::test_path;

use crate::{checksum, scalar, scratch, setup};

/// The backup schema of the `tags` fixture, as a user writes it in JSON.
fn tags_schema() -> BackupSchema {
    BackupSchema::from_json(
        r#"{"tables": [
            {"name": "products"},
            {"name": "tags"},
            {"name": "product_tags", "pk": ["product_id", "tag_id"], "slug_field": null, "user_field": null,
             "parent": [{"table": "products", "field": "product_id"}, {"table": "tags", "field": "tag_id"}]},
            {"name": "tag_labels", "pk": ["tag_id", "lang"], "slug_field": null, "user_field": null,
             "parent": {"table": "tags", "field": "tag_id"}}
        ]}"#,
    )
    .unwrap()
}

const TABLES: [&str; 4] = ["products", "tags", "product_tags", "tag_labels"];

/// Another user's rows first, so the ids the destination gives u1's rows differ from the source's.
async fn seed(db: &dyn DatabaseClient) {
    db.execute(
        "INSERT INTO products (user_id, slug) SELECT 'u9', 'p' || g FROM generate_series(1, 7) g; \
         INSERT INTO tags (user_id, slug) SELECT 'u9', 't' || g FROM generate_series(1, 4) g; \
         INSERT INTO product_tags (product_id, tag_id, weight) \
         SELECT p.id, t.id, 9 FROM products p, tags t WHERE p.slug = 'p1' AND t.slug = 't1'; \
         INSERT INTO tag_labels (tag_id, lang, label) SELECT id, 'en', 'T1' FROM tags WHERE slug = 't1'",
        &[],
    )
    .await
    .unwrap();
}

/// Every join row between u1's products and tags, by the slugs its key columns point at.
async fn links(db: &dyn DatabaseClient) -> Vec<Value> {
    rows(
        db,
        "SELECT p.slug AS product, t.slug AS tag, pt.weight FROM product_tags pt \
         JOIN products p ON p.id = pt.product_id JOIN tags t ON t.id = pt.tag_id \
         WHERE p.user_id = 'u1' AND t.user_id = 'u1' ORDER BY 1, 2",
    )
    .await
}

/// Every label of u1's tags, by tag slug.
async fn labels(db: &dyn DatabaseClient) -> Vec<Value> {
    rows(
        db,
        "SELECT t.slug, l.lang, l.label FROM tag_labels l JOIN tags t ON t.id = l.tag_id \
         WHERE t.user_id = 'u1' ORDER BY 1, 2",
    )
    .await
}

async fn rows(db: &dyn DatabaseClient, sql: &str) -> Vec<Value> {
    let rows = db.query(sql, &[]).await.unwrap();
    rows.into_iter().map(Value::Object).collect()
}

async fn sums(db: &dyn DatabaseClient) -> Vec<String> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(checksum(db, t).await);
    }
    out
}

fn counts(summary: &dba_backup::RestoreSummary, table: &str) -> (u64, u64, u64, u64) {
    let t = summary.table(table).unwrap();
    (t.inserted, t.updated, t.skipped, t.failed)
}

fn restore_opts(mode: RestoreMode) -> RestoreOptions {
    RestoreOptions {
        mode,
        user_id: Some(json!("u1")),
        ..RestoreOptions::default()
    }
}

async fn backup_u1(src: &dyn DatabaseClient, path: &std::path::Path) {
    let options = BackupOptions {
        user_id: Some(json!("u1")),
        ..BackupOptions::default()
    };
    let report = backup(src, &tags_schema(), path, &options, &NoProgress)
        .await
        .unwrap();
    // The join rows are scoped through their parents: u2's rows and the row to u2's tag are left out.
    let expected: Vec<(String, u64)> = [
        ("products", 3),
        ("tags", 3),
        ("product_tags", 5),
        ("tag_labels", 3),
    ]
    .iter()
    .map(|(n, c)| ((*n).to_owned(), *c))
    .collect();
    assert_eq!(report.counts, expected);
}

#[tokio::test]
async fn backup_then_restore_remaps_both_key_columns() {
    let (src_db, src) = setup(test_path!("composite_src"), &["tags", "tags_data"]).await;
    let (dst_db, dst) = setup(test_path!("composite_dst"), &["tags"]).await;
    let (empty_db, empty) = setup(test_path!("composite_empty"), &["tags"]).await;
    seed(&dst).await;
    let dir = scratch("composite");
    let path = dir.join("b.json");
    backup_u1(&src, &path).await;
    let report = validate_backup(&path, &tags_schema());
    assert!(report.valid, "{:?}", report.errors);
    // The file holds the source's keys, both columns of each, as the original would write any row.
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        doc["product_tags"][2],
        json!({"product_id": 502, "tag_id": 901, "weight": 3})
    );
    assert_eq!(doc["metadata"]["product_tags_count"], 5);

    // A dry run into an empty database counts every row as new and writes nothing.
    let dry = RestoreOptions {
        dry_run: true,
        ..restore_opts(RestoreMode::Skip)
    };
    let summary = restore(&empty, &tags_schema(), &path, &dry, &NoProgress)
        .await
        .unwrap();
    assert_eq!(counts(&summary, "product_tags"), (5, 0, 0, 0));
    assert_eq!(counts(&summary, "tag_labels"), (3, 0, 0, 0));
    assert_eq!(
        scalar(&empty, "SELECT count(*) AS n FROM product_tags").await,
        json!(0)
    );

    let summary = restore(
        &dst,
        &tags_schema(),
        &path,
        &restore_opts(RestoreMode::Skip),
        &NoProgress,
    )
    .await
    .unwrap();
    for (table, n) in [
        ("products", 3),
        ("tags", 3),
        ("product_tags", 5),
        ("tag_labels", 3),
    ] {
        assert_eq!(counts(&summary, table), (n, 0, 0, 0), "{table}");
    }
    // Both key columns point at the rows the destination created (ids after the seeded ones)…
    assert_eq!(
        rows(
            &dst,
            "SELECT min(product_id) AS p, max(product_id) AS pmax, min(tag_id) AS t, max(tag_id) AS tmax \
             FROM product_tags WHERE weight < 9"
        )
        .await,
        [json!({"p": 8, "pmax": 10, "t": 5, "tmax": 7})]
    );
    // …and to the right ones: the same products and tags as in the source, with the same weights.
    assert_eq!(links(&dst).await, links(&src).await);
    assert_eq!(links(&dst).await.len(), 5);
    // A key column that is not a reference is taken as it is.
    assert_eq!(labels(&dst).await, labels(&src).await);
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) AS n FROM product_tags WHERE weight = 9"
        )
        .await,
        json!(1),
        "the other user's join row is untouched"
    );

    // The same run again: every row exists, by its remapped key.
    let again = restore(
        &dst,
        &tags_schema(),
        &path,
        &restore_opts(RestoreMode::Skip),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(counts(&again, "product_tags"), (0, 0, 5, 0));
    assert_eq!(counts(&again, "tag_labels"), (0, 0, 3, 0));
    let dry_again = restore(&dst, &tags_schema(), &path, &dry, &NoProgress)
        .await
        .unwrap();
    assert_eq!(counts(&dry_again, "product_tags"), (0, 0, 5, 0));

    // Overwrite puts the backup's values back on the rows matched by key.
    dst.execute(
        "UPDATE product_tags SET weight = 0 WHERE weight < 9; UPDATE tag_labels SET label = '?'",
        &[],
    )
    .await
    .unwrap();
    let over = restore(
        &dst,
        &tags_schema(),
        &path,
        &restore_opts(RestoreMode::Overwrite),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(counts(&over, "product_tags"), (0, 5, 0, 0));
    assert_eq!(counts(&over, "tag_labels"), (0, 3, 0, 0));
    assert_eq!(links(&dst).await, links(&src).await);
    assert_eq!(labels(&dst).await, labels(&src).await);
    assert_eq!(
        scalar(
            &dst,
            "SELECT label FROM tag_labels l JOIN tags t ON t.id = l.tag_id WHERE t.slug = 't1'"
        )
        .await,
        json!("?"),
        "the other user's label is not overwritten"
    );

    // With a natural key configured, rows are matched by it and overwrite keeps the existing row's key.
    let mut by_label = tags_schema();
    by_label.tables[3].natural_key = vec!["label".to_owned()];
    dst.execute(
        "UPDATE tag_labels SET lang = 'xx' WHERE label = 'Rouge'",
        &[],
    )
    .await
    .unwrap();
    let over = restore(
        &dst,
        &by_label,
        &path,
        &restore_opts(RestoreMode::Overwrite),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(counts(&over, "tag_labels"), (0, 3, 0, 0));
    assert_eq!(
        rows(
            &dst,
            "SELECT l.lang, l.label FROM tag_labels l JOIN tags t ON t.id = l.tag_id \
                    WHERE t.user_id = 'u1' ORDER BY 2"
        )
        .await,
        [
            json!({"lang": "en", "label": "Blue"}),
            json!({"lang": "en", "label": "Red"}),
            json!({"lang": "xx", "label": "Rouge"})
        ]
    );
    dst.execute(
        "UPDATE tag_labels SET lang = 'fr' WHERE label = 'Rouge'",
        &[],
    )
    .await
    .unwrap();

    // Fail mode reports each existing join row by its key in the destination.
    let before = sums(&dst).await;
    let err = restore(
        &dst,
        &tags_schema(),
        &path,
        &restore_opts(RestoreMode::Fail),
        &NoProgress,
    )
    .await
    .unwrap_err();
    let BackupError::Conflicts { conflicts, .. } = &err else {
        panic!("{err}")
    };
    let joins: Vec<&Value> = conflicts
        .iter()
        .filter(|c| c.table == "product_tags")
        .map(|c| &c.natural_key)
        .collect();
    assert_eq!(joins.len(), 5);
    assert_eq!(joins[2], &json!({"product_id": 9, "tag_id": 6}));
    assert_eq!(conflicts.len(), 14);
    assert_eq!(sums(&dst).await, before);

    std::fs::remove_dir_all(dir).unwrap();
    src_db.drop_db().await;
    dst_db.drop_db().await;
    empty_db.drop_db().await;
}

#[tokio::test]
async fn keep_ids_keeps_both_key_columns() {
    let (src_db, src) = setup(test_path!("composite_keep_src"), &["tags", "tags_data"]).await;
    let (dst_db, dst) = setup(test_path!("composite_keep_dst"), &["tags"]).await;
    let dir = scratch("composite-keep");
    let path = dir.join("b.json");
    backup_u1(&src, &path).await;
    let options = RestoreOptions {
        keep_ids: true,
        ..restore_opts(RestoreMode::Skip)
    };
    let summary = restore(&dst, &tags_schema(), &path, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(counts(&summary, "product_tags"), (5, 0, 0, 0));
    let pairs = "SELECT product_id, tag_id, weight FROM product_tags \
                 WHERE product_id IN (501, 502, 503) AND tag_id IN (900, 901, 902) ORDER BY 1, 2";
    assert_eq!(rows(&dst, pairs).await, rows(&src, pairs).await);
    assert_eq!(links(&dst).await, links(&src).await);
    // The sequences behind the kept ids moved past them.
    dst.execute(
        "INSERT INTO products (user_id, slug) VALUES ('u1', 'new'); \
         INSERT INTO tags (user_id, slug) VALUES ('u1', 'new')",
        &[],
    )
    .await
    .unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn an_invalid_join_row_rolls_everything_back() {
    let (src_db, src) = setup(test_path!("composite_fail_src"), &["tags", "tags_data"]).await;
    let (dst_db, dst) = setup(test_path!("composite_fail_dst"), &["tags"]).await;
    seed(&dst).await;
    dst.execute(
        "ALTER TABLE product_tags ADD CONSTRAINT no_threes CHECK (weight <> 3)",
        &[],
    )
    .await
    .unwrap();
    let dir = scratch("composite-fail");
    let path = dir.join("b.json");
    backup_u1(&src, &path).await;
    let before = sums(&dst).await;
    let err = restore(
        &dst,
        &tags_schema(),
        &path,
        &restore_opts(RestoreMode::Skip),
        &NoProgress,
    )
    .await
    .unwrap_err();
    let BackupError::RowFailed(failed) = &err else {
        panic!("{err}")
    };
    // Named by its old composite key, as in the backup.
    assert_eq!(
        (failed.table.as_str(), failed.row_index, &failed.old_pk),
        (
            "product_tags",
            2,
            &json!({"product_id": 502, "tag_id": 901})
        )
    );
    let text = err.to_string();
    assert!(
        text.starts_with(r#"product_tags row 2 (pk {"product_id":502,"tag_id":901}) failed: "#)
            && text.contains("no_threes")
            && text.ends_with("nothing was committed"),
        "{text}"
    );
    assert_eq!(sums(&dst).await, before, "the destination is unchanged");

    // Continuing past it: the summary names the row by its old key, an object of its columns.
    let options = RestoreOptions {
        continue_on_error: true,
        ..restore_opts(RestoreMode::Skip)
    };
    let summary = restore(&dst, &tags_schema(), &path, &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(counts(&summary, "product_tags"), (4, 0, 0, 1));
    let value = serde_json::to_value(&summary).unwrap();
    assert_eq!(
        value["product_tags"]["failure_details"][0]["old_pk"],
        json!({"product_id": 502, "tag_id": 901})
    );
    assert_eq!(value["product_tags"]["failure_details"][0]["row_index"], 2);
    assert_eq!(links(&dst).await.len(), 4);
    std::fs::remove_dir_all(dir).unwrap();
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

fn sync_options(mode: SyncMode) -> SyncOptions {
    SyncOptions {
        mode,
        user_id: Some(json!("u1")),
        ..SyncOptions::default()
    }
}

#[tokio::test]
async fn sync_remaps_join_rows_in_every_mode() {
    let (src_db, src) = setup(test_path!("composite_sync_src"), &["tags", "tags_data"]).await;
    let (dst_db, dst) = setup(test_path!("composite_sync_dst"), &["tags"]).await;
    seed(&dst).await;
    let schema = tags_schema();

    let first = sync(
        &src,
        &dst,
        &schema,
        &sync_options(SyncMode::InsertOnly),
        &NoProgress,
    )
    .await;
    assert!(first.success, "{:?}", first.errors);
    // u2's join rows (and the one to u2's tag) are outside u1's scope: neither written nor counted.
    assert_eq!((first.synced_count, first.skipped_count), (14, 0));
    assert_eq!(links(&dst).await, links(&src).await);
    assert_eq!(labels(&dst).await, labels(&src).await);
    assert_eq!(
        scalar(
            &dst,
            "SELECT min(product_id) AS m FROM product_tags WHERE weight < 9"
        )
        .await,
        json!(8),
        "the destination's own ids"
    );

    // Insert-only leaves existing join rows alone.
    src.execute("UPDATE product_tags SET weight = 40 WHERE weight = 4", &[])
        .await
        .unwrap();
    let second = sync(
        &src,
        &dst,
        &schema,
        &sync_options(SyncMode::InsertOnly),
        &NoProgress,
    )
    .await;
    assert!(second.success, "{:?}", second.errors);
    assert_eq!((second.synced_count, second.skipped_count), (0, 14));
    assert_ne!(links(&dst).await, links(&src).await);

    // Upsert overwrites them, matched by the remapped key.
    let third = sync(
        &src,
        &dst,
        &schema,
        &sync_options(SyncMode::Upsert),
        &NoProgress,
    )
    .await;
    assert!(third.success, "{:?}", third.errors);
    assert_eq!((third.synced_count, third.skipped_count), (14, 0));
    assert_eq!(links(&dst).await, links(&src).await);

    // Mirror deletes the join rows the source no longer has, by their full key, within u1's scope only.
    src.execute(
        "DELETE FROM product_tags WHERE weight = 1; DELETE FROM tag_labels WHERE lang = 'fr'",
        &[],
    )
    .await
    .unwrap();
    let fourth = sync(
        &src,
        &dst,
        &schema,
        &sync_options(SyncMode::Mirror),
        &NoProgress,
    )
    .await;
    assert!(fourth.success, "{:?}", fourth.errors);
    assert_eq!(fourth.deleted_count, 2);
    assert_eq!(links(&dst).await, links(&src).await);
    assert_eq!(labels(&dst).await, labels(&src).await);
    assert_eq!(links(&dst).await.len(), 4);
    assert_eq!(
        rows(
            &dst,
            "SELECT count(*) AS n FROM product_tags WHERE weight = 9"
        )
        .await,
        [json!({"n": 1})],
        "the other user's join row is kept"
    );
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) AS n FROM tag_labels WHERE label = 'T1'"
        )
        .await,
        json!(1),
        "the other user's label is kept"
    );

    // One transaction per table carries the remapped ids across; a run with nothing new changes nothing.
    let per_table = SyncOptions {
        per_table_transactions: true,
        ..sync_options(SyncMode::Mirror)
    };
    let before = sums(&dst).await;
    let fifth = sync(&src, &dst, &schema, &per_table, &NoProgress).await;
    assert!(fifth.success, "{:?}", fifth.errors);
    assert_eq!((fifth.synced_count, fifth.deleted_count), (12, 0));
    assert_eq!(sums(&dst).await, before);
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn inference_derives_composite_keys_and_refuses_what_it_cannot_remap() {
    let (db, pg) = setup(test_path!("composite_infer"), &["tags"]).await;
    let (schema, report) = infer_schema(&pg, None).await.unwrap();
    let joins = schema.table("product_tags").unwrap();
    assert_eq!(joins.pk, ["product_id", "tag_id"]);
    assert!(joins.natural_key.is_empty() && joins.user_field.is_none());
    let parents: Vec<&str> = joins.parents.iter().map(|p| p.table.as_str()).collect();
    assert_eq!(parents, ["products", "tags"]);
    assert_eq!(schema.table("tag_labels").unwrap().pk, ["tag_id", "lang"]);
    assert!(
        report.tables.iter().any(|l| l.starts_with(
            "product_tags: pk product_id+tag_id, natural key - (none found: rows are matched by their primary key)"
        )),
        "{:?}",
        report.tables
    );

    // A foreign key to the join table's composite key, with nothing to remap its columns: refused.
    pg.execute(
        "CREATE TABLE votes (id serial PRIMARY KEY, p int NOT NULL, t bigint NOT NULL, \
         CONSTRAINT votes_link FOREIGN KEY (p, t) REFERENCES product_tags)",
        &[],
    )
    .await
    .unwrap();
    let err = infer_schema(&pg, None).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid backup schema: table 'votes': foreign key votes_link (p, t) references 'product_tags' \
         through several columns, which dba cannot remap; give each of those columns its own foreign key, \
         give a backup schema, or leave 'votes' out"
    );
    // Left out of the result, the join table's keys pass through unchanged.
    let (_, report) = infer_schema(&pg, Some(&["products", "tags", "votes"]))
        .await
        .unwrap();
    assert!(
        report.notes.iter().any(|n| n.contains("votes_link")),
        "{:?}",
        report.notes
    );
    // With a foreign key of its own on each column, each is remapped and the composite one stays true.
    pg.execute(
        "ALTER TABLE votes ADD FOREIGN KEY (p) REFERENCES products, ADD FOREIGN KEY (t) REFERENCES tags",
        &[],
    )
    .await
    .unwrap();
    let (schema, report) = infer_schema(&pg, None).await.unwrap();
    let votes: Vec<&str> = schema
        .table("votes")
        .unwrap()
        .parents
        .iter()
        .map(|p| p.field.as_str())
        .collect();
    assert_eq!(votes, ["p", "t"]);
    assert!(
        report
            .notes
            .contains(&"votes: foreign key votes_link has several columns; each is remapped through its own foreign key".to_owned()),
        "{:?}",
        report.notes
    );
    db.drop_db().await;
}

#[test]
fn validation_checks_every_key_column() {
    let dir = scratch("composite-validate");
    let path = dir.join("b.json");
    std::fs::write(
        &path,
        r#"{"metadata": {"created_at": "x", "user_id": "u1", "backup_type": "full", "version": "1.1"},
            "products": [{"id": 1, "slug": "a"}], "tags": [{"id": 2, "slug": "b"}],
            "product_tags": [{"product_id": 1, "tag_id": 2}, {"product_id": 1}, {"product_id": 1, "tag_id": null}],
            "tag_labels": [{"tag_id": 2, "lang": ""}, {"tag_id": 3, "lang": "en"}]}"#,
    )
    .unwrap();
    let report = validate_backup(&path, &tags_schema());
    assert_eq!(
        report.errors,
        [
            "product_tags row missing 'tag_id' field: unknown",
            "product_tags row has empty 'tag_id': unknown",
            "tag_labels row has empty 'lang': unknown",
        ]
    );
    assert_eq!(
        report.warnings,
        ["Orphaned tag_labels 'unknown': tag_id not in backup"]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn direct_sync_copies_join_rows_within_the_users_scope() {
    let (src_db, src) = setup(test_path!("composite_direct_src"), &["tags", "tags_data"]).await;
    let (dst_db, dst) = setup(test_path!("composite_direct_dst"), &["tags"]).await;
    let direct = |mode| SyncOptions {
        fk_aware: false,
        ..sync_options(mode)
    };
    let first = sync(
        &src,
        &dst,
        &tags_schema(),
        &direct(SyncMode::InsertOnly),
        &NoProgress,
    )
    .await;
    assert!(first.success, "{:?}", first.errors);
    assert_eq!((first.synced_count, first.skipped_count), (14, 0));
    // The source's keys as they are, and none of another user's join rows.
    let pairs = "SELECT product_id, tag_id, weight FROM product_tags ORDER BY 1, 2";
    assert_eq!(
        rows(&dst, pairs).await,
        rows(
            &src,
            "SELECT product_id, tag_id, weight FROM product_tags \
             WHERE product_id IN (501, 502, 503) AND tag_id IN (900, 901, 902) ORDER BY 1, 2"
        )
        .await
    );
    src.execute("DELETE FROM product_tags WHERE weight = 1", &[])
        .await
        .unwrap();
    let mirror = sync(
        &src,
        &dst,
        &tags_schema(),
        &direct(SyncMode::Mirror),
        &NoProgress,
    )
    .await;
    assert!(mirror.success, "{:?}", mirror.errors);
    assert_eq!(mirror.deleted_count, 1);
    assert_eq!(links(&dst).await, links(&src).await);
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

/// Syncs in `mode` and checks that the plan counted exactly what the run then did; returns the plan
/// (`sync_plan`, `source_counts` and `dest_counts`) as JSON.
async fn planned_sync(
    src: &dyn DatabaseClient,
    dst: &dyn DatabaseClient,
    schema: &BackupSchema,
    mode: SyncMode,
) -> Value {
    planned_sync_with(src, dst, schema, &sync_options(mode)).await
}

/// [`planned_sync`] with the given options.
async fn planned_sync_with(
    src: &dyn DatabaseClient,
    dst: &dyn DatabaseClient,
    schema: &BackupSchema,
    options: &SyncOptions,
) -> Value {
    let mode = options.mode;
    let plan = compare(src, dst, schema, options, &NoProgress).await;
    assert!(plan.success, "{:?}", plan.errors);
    let result = sync(src, dst, schema, options, &NoProgress).await;
    assert!(result.success, "{:?}", result.errors);
    assert_eq!(result.sync_plan, plan.sync_plan, "{mode:?}");
    let sum = |f: fn(&dba_backup::PlanEntry) -> u64| -> u64 {
        plan.sync_plan.0.iter().map(|(_, e)| f(e)).sum()
    };
    let doc = serde_json::to_value(&plan).unwrap();
    assert_eq!(
        (
            sum(|e| e.new + e.update),
            sum(|e| e.skip),
            sum(|e| e.delete)
        ),
        (
            result.synced_count,
            result.skipped_count,
            result.deleted_count
        ),
        "{mode:?}: plan {:#} against the run's synced, skipped, deleted",
        doc["sync_plan"]
    );
    json!({
        "plan": doc["sync_plan"],
        "source": doc["source_counts"],
        "dest": doc["dest_counts"],
    })
}

/// One plan entry as JSON.
fn entry(new: u64, update: u64, skip: u64, delete: u64) -> Value {
    json!({"new": new, "update": update, "skip": skip, "delete": delete})
}

#[tokio::test]
async fn the_plan_counts_what_each_mode_does_to_join_tables() {
    let (src_db, src) = setup(test_path!("plan_joins_src"), &["tags", "tags_data"]).await;
    let (dst_db, dst) = setup(test_path!("plan_joins_dst"), &["tags"]).await;
    seed(&dst).await;
    let schema = tags_schema();

    // u2's join rows in the source (and u1's row to u2's tag) are outside u1's scope, as the sync
    // leaves them out; u9's rows in the destination are not counted either.
    let first = planned_sync(&src, &dst, &schema, SyncMode::InsertOnly).await;
    assert_eq!(
        first["source"],
        json!({"products": 3, "tags": 3, "product_tags": 5, "tag_labels": 3})
    );
    assert_eq!(
        first["dest"],
        json!({"products": 0, "tags": 0, "product_tags": 0, "tag_labels": 0})
    );
    assert_eq!(first["plan"]["product_tags"], entry(5, 0, 0, 0));
    assert_eq!(first["plan"]["tag_labels"], entry(3, 0, 0, 0));

    // Nothing changed: every row matches through its remapped parents, nothing is deleted.
    let again = planned_sync(&src, &dst, &schema, SyncMode::Mirror).await;
    assert_eq!(
        again["dest"],
        json!({"products": 3, "tags": 3, "product_tags": 5, "tag_labels": 3})
    );
    for (table, n) in [
        ("products", 3),
        ("tags", 3),
        ("product_tags", 5),
        ("tag_labels", 3),
    ] {
        assert_eq!(again["plan"][table], entry(0, n, 0, 0), "{table}");
    }

    // One join row removed and one product renamed in the source: the renamed product is new, so are
    // its two join rows; the rest exists.
    src.execute(
        "DELETE FROM product_tags WHERE weight = 1; UPDATE products SET slug = 'saw2' WHERE slug = 'saw'",
        &[],
    )
    .await
    .unwrap();
    let insert = planned_sync(&src, &dst, &schema, SyncMode::InsertOnly).await;
    assert_eq!(insert["plan"]["products"], entry(1, 0, 2, 0));
    assert_eq!(insert["plan"]["product_tags"], entry(2, 0, 2, 0));
    assert_eq!(insert["plan"]["tag_labels"], entry(0, 0, 3, 0));

    let upsert = planned_sync(&src, &dst, &schema, SyncMode::Upsert).await;
    assert_eq!(upsert["plan"]["products"], entry(0, 3, 0, 0));
    assert_eq!(upsert["plan"]["product_tags"], entry(0, 4, 0, 0));

    // Mirror deletes the old product and the three join rows no source row leads to (the removed one
    // and the old product's two), and nothing of u9's.
    let mirror = planned_sync(&src, &dst, &schema, SyncMode::Mirror).await;
    assert_eq!(mirror["dest"]["product_tags"], json!(7));
    assert_eq!(mirror["plan"]["products"], entry(0, 3, 0, 1));
    assert_eq!(mirror["plan"]["product_tags"], entry(0, 4, 0, 3));
    assert_eq!(mirror["plan"]["tag_labels"], entry(0, 3, 0, 0));
    assert_eq!(links(&dst).await, links(&src).await);
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) AS n FROM product_tags WHERE weight = 9"
        )
        .await,
        json!(1),
        "u9's join row is kept"
    );

    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn the_plan_translates_a_natural_key_holding_a_parent_reference() {
    let (src_db, src) = setup(test_path!("plan_keyed_src"), &["tags", "tags_data"]).await;
    let (dst_db, dst) = setup(test_path!("plan_keyed_dst"), &["tags"]).await;
    seed(&dst).await;
    // The labels' natural key holds the tag reference: compared through the destination's ids.
    let keyed = BackupSchema::from_json(
        r#"{"tables": [
            {"name": "products"},
            {"name": "tags"},
            {"name": "tag_labels", "pk": ["tag_id", "lang"], "slug_field": ["tag_id", "lang"],
             "user_field": null, "parent": {"table": "tags", "field": "tag_id"}}
        ]}"#,
    )
    .unwrap();
    planned_sync(&src, &dst, &keyed, SyncMode::InsertOnly).await;
    src.execute("DELETE FROM tag_labels WHERE lang = 'fr'", &[])
        .await
        .unwrap();
    let labelled = planned_sync(&src, &dst, &keyed, SyncMode::Mirror).await;
    assert_eq!(labelled["plan"]["tag_labels"], entry(0, 2, 0, 1));
    assert_eq!(labels(&dst).await, labels(&src).await);
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn the_plan_matches_a_composite_key_without_references() {
    let (src_db, src) = setup(test_path!("plan_settings_src"), &["tags"]).await;
    let (dst_db, dst) = setup(test_path!("plan_settings_dst"), &["tags"]).await;
    let table = "CREATE TABLE settings (user_id text NOT NULL, key text NOT NULL, value text, \
                 PRIMARY KEY (user_id, key));";
    src.execute(
        &format!(
            "{table} INSERT INTO settings VALUES ('u1', 'a', '1'), ('u1', 'b', '2'), ('u1', 'c', '3'), \
             ('u2', 'a', 'x')"
        ),
        &[],
    )
    .await
    .unwrap();
    dst.execute(
        &format!("{table} INSERT INTO settings VALUES ('u1', 'a', 'old'), ('u1', 'b', 'old'), ('u9', 'z', 'z')"),
        &[],
    )
    .await
    .unwrap();
    let schema = BackupSchema::from_json(
        r#"{"tables": [{"name": "settings", "pk": ["user_id", "key"], "slug_field": null}]}"#,
    )
    .unwrap();

    let insert = planned_sync(&src, &dst, &schema, SyncMode::InsertOnly).await;
    assert_eq!(insert["plan"]["settings"], entry(1, 0, 2, 0));
    assert_eq!(insert["source"]["settings"], json!(3));
    assert_eq!(insert["dest"]["settings"], json!(2));

    dst.execute(
        "DELETE FROM settings WHERE key = 'c'; INSERT INTO settings VALUES ('u1', 'd', 'extra')",
        &[],
    )
    .await
    .unwrap();
    let upsert = planned_sync(&src, &dst, &schema, SyncMode::Upsert).await;
    assert_eq!(upsert["plan"]["settings"], entry(1, 2, 0, 0));
    let mirror = planned_sync(&src, &dst, &schema, SyncMode::Mirror).await;
    assert_eq!(mirror["plan"]["settings"], entry(0, 3, 0, 1));
    assert_eq!(
        rows(
            &dst,
            "SELECT user_id, key, value FROM settings ORDER BY 1, 2"
        )
        .await,
        [
            json!({"user_id": "u1", "key": "a", "value": "1"}),
            json!({"user_id": "u1", "key": "b", "value": "2"}),
            json!({"user_id": "u1", "key": "c", "value": "3"}),
            json!({"user_id": "u9", "key": "z", "value": "z"}),
        ]
    );
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn the_plan_counts_what_a_direct_sync_does_to_join_tables() {
    let (src_db, src) = setup(test_path!("plan_direct_src"), &["tags", "tags_data"]).await;
    let (dst_db, dst) = setup(test_path!("plan_direct_dst"), &["tags"]).await;
    let direct = |mode| SyncOptions {
        fk_aware: false,
        ..sync_options(mode)
    };
    let schema = tags_schema();
    // Copied as they are, only u1's join rows: u2's are neither planned nor counted.
    let first = planned_sync_with(&src, &dst, &schema, &direct(SyncMode::InsertOnly)).await;
    assert_eq!(first["source"]["product_tags"], json!(5));
    assert_eq!(first["plan"]["product_tags"], entry(5, 0, 0, 0));
    src.execute("DELETE FROM product_tags WHERE weight = 1", &[])
        .await
        .unwrap();
    let mirror = planned_sync_with(&src, &dst, &schema, &direct(SyncMode::Mirror)).await;
    assert_eq!(mirror["plan"]["product_tags"], entry(0, 4, 0, 1));
    assert_eq!(mirror["plan"]["tag_labels"], entry(0, 3, 0, 0));
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn the_plan_counts_a_repeated_natural_key_under_a_new_parent_as_the_sync_does() {
    let (src_db, src) = setup(test_path!("plan_repeat_src"), &["tags", "tags_data"]).await;
    let (dst_db, dst) = setup(test_path!("plan_repeat_dst"), &["tags"]).await;
    let notes = "CREATE TABLE notes (id serial PRIMARY KEY, tag_id bigint NOT NULL REFERENCES tags (id), \
                 slug text NOT NULL);";
    src.execute(
        &format!(
            "{notes} INSERT INTO notes (tag_id, slug) SELECT id, 'x' FROM tags WHERE slug = 'red'; \
             INSERT INTO notes (tag_id, slug) SELECT id, 'x' FROM tags WHERE slug = 'red'; \
             INSERT INTO notes (tag_id, slug) SELECT id, 'x' FROM tags WHERE slug = 'blue'"
        ),
        &[],
    )
    .await
    .unwrap();
    dst.execute(notes, &[]).await.unwrap();
    let schema = BackupSchema::from_json(
        r#"{"tables": [
            {"name": "tags"},
            {"name": "notes", "user_field": null, "parent": {"table": "tags", "field": "tag_id"}}
        ]}"#,
    )
    .unwrap();
    // Both tags are new; the second 'x' of the red tag finds the first once it is inserted.
    let first = planned_sync(&src, &dst, &schema, SyncMode::InsertOnly).await;
    assert_eq!(first["plan"]["notes"], entry(2, 0, 1, 0));
    src_db.drop_db().await;
    dst_db.drop_db().await;
}
