//! Partitioned tables through the CLI: `dba validate` reports a missing partitioned table and a missing
//! partition (never a partition as an extra table), `dba fix --confirm` creates them, and `dba backup` /
//! `dba restore` go through the parents with rows routed to their partitions and new ids.

use dba_testkit::{TestDb, test_path};
use serde_json::json;

use crate::support::{Workdir, fixtures, run, scalar};

const BACKUP_SCHEMA: &str = r#"{"tables": [
    {"name": "devices", "user_field": null},
    {"name": "readings", "slug_field": null, "user_field": null,
     "parent": {"table": "devices", "field": "device_id"}},
    {"name": "orders", "slug_field": "code", "user_field": null,
     "optional_refs": [{"table": "devices", "field": "device_id"}]}
]}"#;

/// Readings per partition and what each means, by device slug and date.
const READINGS: &str = "SELECT string_agg(r.tableoid::regclass::text || ':' || d.slug || ':' || r.taken_on, ',' \
    ORDER BY r.taken_on) FROM readings r JOIN devices d ON d.id = r.device_id";

#[tokio::test]
async fn validate_fix_backup_and_restore_through_partitioned_tables() {
    let src = TestDb::with_fixtures(
        test_path!("partitions_src"),
        &fixtures(),
        &["partitions_drift"],
    )
    .await;
    let dst = TestDb::with_fixtures(
        test_path!("partitions_dst"),
        &fixtures(),
        &["partitions_schema"],
    )
    .await;
    let dir = Workdir::with_profiles(
        "partitions",
        &[("src", src.url()), ("dst", dst.url())],
        "[schema]\nfile = \"partitions.sql\"\nbackup_schema = \"partitions-backup.json\"\n",
    );
    std::fs::copy(
        fixtures().join("partitions_schema.sql"),
        dir.path.join("partitions.sql"),
    )
    .unwrap();
    dir.write("partitions-backup.json", BACKUP_SCHEMA);

    let doc = run(dir.dba().args(["validate", "--profile", "src", "--json"]))
        .code(1)
        .json();
    let validation = &doc["validation"];
    assert_eq!(
        validation["missing_tables"],
        json!(["orders", "orders_eu", "orders_us", "readings_2025"]),
        "{doc}"
    );
    assert_eq!(validation["extra_tables"], json!([]), "{doc}");

    let doc = run(dir.dba().args([
        "fix",
        "--profile",
        "src",
        "--confirm",
        "--no-backup",
        "--json",
    ]))
    .code(0)
    .json();
    assert_eq!(doc["valid_after"], true, "{doc}");
    run(dir.dba().args(["validate", "--profile", "src"]))
        .code(0)
        .stdout_lacks("readings_2024");

    // Rows in every partition, written through the parents.
    src.client()
        .await
        .batch_execute(
            "INSERT INTO readings (device_id, taken_on, value) VALUES (1, '2025-06-01', 3.5); \
             INSERT INTO orders (region, code, device_id) VALUES ('uk', 'A-1', 2), ('us', 'A-2', NULL)",
        )
        .await
        .unwrap();
    let doc = run(dir.dba().args([
        "backup",
        "--profile",
        "src",
        "--user-id",
        "u1",
        "-o",
        "b.json",
        "--json",
    ]))
    .code(0)
    .json();
    assert_eq!(
        doc["tables"],
        json!({"devices": 2, "readings": 3, "orders": 2}),
        "{doc}"
    );

    // The destination already has a device and a reading, so every id it gives differs from the source's.
    dst.client()
        .await
        .batch_execute(
            "INSERT INTO devices (slug) VALUES ('other'); \
             INSERT INTO readings (device_id, taken_on, value) VALUES (1, '2024-01-01', 0)",
        )
        .await
        .unwrap();
    let doc = run(dir.dba().args([
        "restore",
        "b.json",
        "--profile",
        "dst",
        "--user-id",
        "u1",
        "-y",
        "--json",
    ]))
    .code(0)
    .json();
    for (table, n) in [("devices", 2), ("readings", 3), ("orders", 2)] {
        assert_eq!(doc["summary"][table]["inserted"], n, "{table}: {doc}");
    }
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) FROM readings WHERE id > 1 AND device_id > 1"
        )
        .await,
        3,
        "new ids, remapped devices"
    );
    let want = text(&src, READINGS).await;
    assert_eq!(
        want,
        "readings_2024:probe-a:2024-03-01,readings_2025:probe-a:2025-06-01,readings_rest:probe-b:2030-01-01"
    );
    assert_eq!(
        text(&dst, READINGS).await,
        format!("readings_2024:other:2024-01-01,{want}")
    );
    assert_eq!(
        scalar(
            &dst,
            "SELECT count(*) FROM orders_eu o JOIN devices d ON d.id = o.device_id \
             WHERE o.code = 'A-1' AND d.slug = 'probe-b'"
        )
        .await,
        1
    );
    dir.remove();
    src.drop_db().await;
    dst.drop_db().await;
}

/// One text from a query.
async fn text(db: &TestDb, sql: &str) -> String {
    let row = db.client().await.query_one(sql, &[]).await.unwrap();
    row.get(0)
}
