//! Partitioned tables (readings by range on a date, orders by list of regions): inferred once through
//! their parents, backed up, restored and synced through the parent with rows routed to their partitions,
//! the generated part of each composite key given by the destination and every reference remapped.

use dba_backup::{
    BackupOptions, BackupSchema, NoProgress, RestoreMode, RestoreOptions, SyncMode, SyncOptions,
    backup, infer_schema, restore, sync,
};
use dba_core::{DatabaseClient, Value, json};
use dba_testkit::test_path;

use crate::{scalar, scratch, setup};

/// Rows per partition, and every row by what it means (slugs and codes, never ids).
async fn contents(db: &dyn DatabaseClient) -> Vec<Value> {
    let mut out = Vec::new();
    for sql in [
        "SELECT tableoid::regclass::text AS part, count(*) AS n FROM readings GROUP BY 1 ORDER BY 1",
        "SELECT tableoid::regclass::text AS part, count(*) AS n FROM orders GROUP BY 1 ORDER BY 1",
        "SELECT d.slug, r.taken_on::text, r.value::text FROM readings r JOIN devices d ON d.id = r.device_id \
         ORDER BY 1, 2",
        "SELECT o.code, o.region, d.slug, o.total FROM orders o LEFT JOIN devices d ON d.id = o.device_id \
         ORDER BY 1",
        "SELECT o.code, l.order_region, l.item FROM order_lines l \
         JOIN orders o ON o.id = l.order_id AND o.region = l.order_region ORDER BY 1, 3",
    ] {
        let rows = db.query(sql, &[]).await.unwrap();
        out.push(Value::Array(rows.into_iter().map(Value::Object).collect()));
    }
    out
}

/// Rows of another user first, so the ids the destination gives differ from the source's.
async fn seed(db: &dyn DatabaseClient) {
    for sql in [
        "INSERT INTO devices (user_id, slug) SELECT 'u9', 'other-' || g FROM generate_series(1, 5) g",
        "INSERT INTO readings (device_id, taken_on, value) SELECT min(id), '2024-01-01', 0 FROM devices",
        "INSERT INTO orders (region, user_id, code, total) SELECT 'eu', 'u9', 'O-' || g, 0 \
         FROM generate_series(1, 3) g",
    ] {
        db.execute(sql, &[]).await.unwrap();
    }
}

async fn inferred(db: &dyn DatabaseClient) -> BackupSchema {
    infer_schema(db, None).await.unwrap().0
}

#[tokio::test]
async fn infer_reads_each_partitioned_table_once_through_its_parent() {
    let (db, src) = setup(test_path!("partitioned_infer"), &["partitioned"]).await;
    let (schema, report) = infer_schema(&src, None).await.unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["devices", "orders", "order_lines", "readings"]);
    let readings = schema.table("readings").unwrap();
    assert_eq!(readings.pk, ["id"], "keyed by its generated column");
    let lines = schema.table("order_lines").unwrap();
    assert_eq!(lines.parents.len(), 1);
    assert_eq!(
        (
            lines.parents[0].table.as_str(),
            lines.parents[0].field.as_str()
        ),
        ("orders", "order_id")
    );
    assert!(
        report.notes.iter().any(|n| n.starts_with(
            "order_lines: foreign key order_lines_order_id_order_region_fkey references the partitioned table \
             'orders'"
        )),
        "{:?}",
        report.notes
    );
    db.drop_db().await;
}

#[tokio::test]
async fn backup_and_restore_go_through_the_parent_and_remap_ids_across_partitions() {
    let (src_db, src) = setup(
        test_path!("partitioned_src"),
        &["partitioned", "partitioned_data"],
    )
    .await;
    let (dst_db, dst) = setup(test_path!("partitioned_dst"), &["partitioned"]).await;
    seed(&dst).await;
    let schema = inferred(&src).await;
    let dir = scratch("partitioned");
    let path = dir.join("b.json");
    let report = backup(&src, &schema, &path, &BackupOptions::default(), &NoProgress)
        .await
        .unwrap();
    let counts: Vec<(&str, u64)> = report
        .counts
        .iter()
        .map(|(n, c)| (n.as_str(), *c))
        .collect();
    assert_eq!(
        counts,
        [
            ("devices", 3),
            ("orders", 4),
            ("order_lines", 4),
            ("readings", 5)
        ],
        "every row once, none through a partition"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(doc.get("readings_2024").is_none());

    let summary = restore(
        &dst,
        &schema,
        &path,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    for (table, n) in [
        ("devices", 3),
        ("orders", 4),
        ("order_lines", 4),
        ("readings", 5),
    ] {
        assert_eq!(summary.table(table).unwrap().inserted, n, "{table}");
    }
    // New ids from the destination's sequences, past the seeded rows and unlike the source's…
    assert_eq!(
        scalar(&dst, "SELECT min(id) AS n FROM readings WHERE value > 0").await,
        json!(2)
    );
    assert_eq!(
        scalar(
            &dst,
            "SELECT min(id) AS n FROM orders WHERE user_id <> 'u9'"
        )
        .await,
        json!(4)
    );
    // …every row in the partition its key routes it to, every reference to the right row.
    let mut want = contents(&src).await;
    let got = contents(&dst).await;
    // The seeded rows: one reading in readings_2024 and three orders in orders_eu.
    want[0][0]["n"] = json!(want[0][0]["n"].as_i64().unwrap() + 1);
    assert_eq!(got[0], want[0]);
    assert_eq!(
        got[1],
        json!([{"part": "orders_eu", "n": 5}, {"part": "orders_us", "n": 2}])
    );
    assert_eq!(got[2].as_array().unwrap().len(), 6);
    for (i, what) in [(3, "orders"), (4, "order lines")] {
        let mine: Vec<&Value> = got[i]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| !r["code"].as_str().unwrap().starts_with("O-"))
            .collect();
        let theirs: Vec<&Value> = want[i].as_array().unwrap().iter().collect();
        assert_eq!(mine, theirs, "{what}");
    }

    // Again, skipping what exists: orders and devices match by their natural keys.
    let again = restore(
        &dst,
        &schema,
        &path,
        &RestoreOptions {
            mode: RestoreMode::Skip,
            ..RestoreOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(again.table("devices").unwrap().skipped, 3);
    assert_eq!(again.table("orders").unwrap().skipped, 4);

    // Overwrite updates the matched orders through the whole key (the only unique index allowed).
    src.execute("UPDATE orders SET total = total + 1", &[])
        .await
        .unwrap();
    let path2 = dir.join("b2.json");
    backup(
        &src,
        &schema,
        &path2,
        &BackupOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    let over = restore(
        &dst,
        &schema,
        &path2,
        &RestoreOptions {
            mode: RestoreMode::Overwrite,
            ..RestoreOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(over.table("orders").unwrap().updated, 4);
    assert_eq!(
        scalar(
            &dst,
            "SELECT sum(total) AS n FROM orders WHERE user_id <> 'u9'"
        )
        .await,
        json!(154)
    );
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn sync_goes_through_the_parent() {
    let (src_db, src) = setup(
        test_path!("partitioned_sync_src"),
        &["partitioned", "partitioned_data"],
    )
    .await;
    let (dst_db, dst) = setup(test_path!("partitioned_sync_dst"), &["partitioned"]).await;
    // Enough rows for a batch to go as one COPY through the parent, spread over its three partitions.
    src.execute(
        "INSERT INTO readings (device_id, taken_on, value) \
         SELECT 101 + g % 3, date '2024-06-01' + g, g FROM generate_series(1, 1200) g",
        &[],
    )
    .await
    .unwrap();
    let schema = inferred(&src).await;
    let options = SyncOptions {
        mode: SyncMode::InsertOnly,
        ..SyncOptions::default()
    };
    let result = sync(&src, &dst, &schema, &options, &NoProgress).await;
    assert!(result.success, "{:?}", result.errors);
    assert_eq!(result.synced_count, 1216);
    assert_eq!(contents(&dst).await, contents(&src).await);
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn a_schema_naming_the_whole_key_still_gets_new_ids_for_its_generated_column() {
    let (src_db, src) = setup(
        test_path!("partitioned_whole_key_src"),
        &["partitioned", "partitioned_data"],
    )
    .await;
    let (dst_db, dst) = setup(test_path!("partitioned_whole_key_dst"), &["partitioned"]).await;
    seed(&dst).await;
    let schema = BackupSchema::from_json(
        r#"{"tables": [
            {"name": "devices"},
            {"name": "readings", "pk": ["id", "taken_on"], "slug_field": null, "user_field": null,
             "parent": {"table": "devices", "field": "device_id"}}
        ]}"#,
    )
    .unwrap();
    let path = scratch("partitioned_whole_key").join("b.json");
    backup(&src, &schema, &path, &BackupOptions::default(), &NoProgress)
        .await
        .unwrap();
    let summary = restore(
        &dst,
        &schema,
        &path,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(summary.table("readings").unwrap().inserted, 5);
    // The destination's sequence gave the ids (the seeded reading has 1), the dates were kept.
    assert_eq!(
        scalar(
            &dst,
            "SELECT string_agg(id::text, ',' ORDER BY id) AS ids FROM readings"
        )
        .await,
        json!("1,2,3,4,5,6")
    );
    let (want, got) = (contents(&src).await, contents(&dst).await);
    let mine: Vec<&Value> = got[2]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["slug"].as_str().unwrap().starts_with("other-"))
        .collect();
    assert_eq!(mine, want[2].as_array().unwrap().iter().collect::<Vec<_>>());
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn a_schema_listing_a_partition_with_its_parent_is_refused_before_anything_runs() {
    let (src_db, src) = setup(
        test_path!("partitioned_twice_src"),
        &["partitioned", "partitioned_data"],
    )
    .await;
    let (dst_db, dst) = setup(test_path!("partitioned_twice_dst"), &["partitioned"]).await;
    let schema = BackupSchema::from_json(
        r#"{"tables": [
            {"name": "devices"},
            {"name": "readings", "slug_field": null, "user_field": null,
             "parent": {"table": "devices", "field": "device_id"}},
            {"name": "readings_2024", "slug_field": null, "user_field": null,
             "parent": {"table": "devices", "field": "device_id"}}
        ]}"#,
    )
    .unwrap();
    let message = "table 'readings_2024' is a partition of 'readings', which the backup schema also lists: \
                   its rows would be read and written twice; list the partitioned table only (its rows reach \
                   every partition)";
    let dir = scratch("partitioned_twice");
    let path = dir.join("b.json");
    let err = backup(&src, &schema, &path, &BackupOptions::default(), &NoProgress)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), format!("invalid backup schema: {message}"));
    assert!(!path.exists(), "no file is written");
    let result = sync(&src, &dst, &schema, &SyncOptions::default(), &NoProgress).await;
    assert!(!result.success);
    assert!(result.errors[0].ends_with(message), "{:?}", result.errors);
    assert_eq!(
        scalar(&dst, "SELECT count(*) AS n FROM readings").await,
        json!(0)
    );
    // A partition alone (one year's rows, say) is a table like any other.
    let one_year = BackupSchema::from_json(
        r#"{"tables": [{"name": "devices"},
            {"name": "readings_2024", "pk": "id", "slug_field": null, "user_field": null,
             "parent": {"table": "devices", "field": "device_id"}}]}"#,
    )
    .unwrap();
    let report = backup(
        &src,
        &one_year,
        &path,
        &BackupOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(report.counts[1], ("readings_2024".to_owned(), 3));
    let err = restore(
        &dst,
        &schema,
        &path,
        &RestoreOptions::default(),
        &NoProgress,
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), format!("invalid backup schema: {message}"));
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn a_partitioned_table_in_another_schema_is_inferred_through_its_parent_and_keyed_by_its_id()
{
    let (db, src) = setup(test_path!("partitioned_other_schema"), &["partitioned"]).await;
    // orders, with its partitions, moves to billing; order_lines (public) references it across schemas.
    for sql in [
        "CREATE SCHEMA billing",
        "ALTER TABLE orders SET SCHEMA billing",
        "ALTER TABLE orders_eu SET SCHEMA billing",
        "ALTER TABLE orders_us SET SCHEMA billing",
    ] {
        src.execute(sql, &[]).await.unwrap();
    }
    let tables = ["devices", "billing.orders", "order_lines", "readings"];
    let (schema, _) = dba_backup::infer_schema_in(&src, Some(&tables), Some("public"))
        .await
        .unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["devices", "billing.orders", "order_lines", "readings"]
    );
    let orders = schema.table("billing.orders").unwrap();
    assert_eq!(orders.pk, ["id"], "keyed by its generated column");
    let lines = schema.table("order_lines").unwrap();
    let parents: Vec<(&str, &str)> = lines
        .parents
        .iter()
        .map(|p| (p.table.as_str(), p.field.as_str()))
        .collect();
    assert_eq!(parents, [("billing.orders", "order_id")]);
    db.drop_db().await;
}
