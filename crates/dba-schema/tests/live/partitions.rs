//! Declarative partitioning against a live database: keys and bounds as PostgreSQL prints them, partitions
//! never reported as extra tables, drift reported at the parent, and fix creating missing partitioned
//! tables and partitions while never detaching or dropping one.

use dba_core::DatabaseClient;
use dba_schema::{
    ApplyOptions, Catalog, Difference, IntrospectOptions, PlanOptions, StepKind, TableKind, apply,
    introspect, parse_schema_sql, plan_fix, render_views, validate,
};
use dba_testkit::test_path;

use crate::{checksum, fixture_text, setup};

fn expected() -> Catalog {
    parse_schema_sql(&fixture_text("partitions_schema"), "partitions_schema.sql")
        .unwrap()
        .catalog
}

async fn live(client: &dyn DatabaseClient) -> Catalog {
    introspect(client, &IntrospectOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn introspection_reports_keys_bounds_and_every_partition() {
    let (db, adapter) = setup(
        test_path!("partitions_introspected"),
        &["partitions_schema"],
    )
    .await;
    let live = live(&adapter).await;
    let t = &live.tables;
    assert_eq!(t["measurements"].kind, TableKind::Partitioned);
    assert_eq!(
        t["measurements"].partition_key.as_deref(),
        Some("RANGE (taken_on)")
    );
    assert_eq!(t["orders"].partition_key.as_deref(), Some("LIST (region)"));
    assert_eq!(
        t["measurements_2024"].partition_bound.as_deref(),
        Some("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    );
    assert_eq!(
        t["measurements_rest"].partition_bound.as_deref(),
        Some("DEFAULT")
    );
    assert_eq!(
        t["orders_eu"].partition_bound.as_deref(),
        Some("FOR VALUES IN ('eu', 'uk')")
    );
    // A partition that is itself partitioned has both.
    assert_eq!(t["orders_apac"].kind, TableKind::Partitioned);
    assert_eq!(t["orders_apac"].partition_key.as_deref(), Some("HASH (id)"));
    assert_eq!(t["orders_apac"].partition_of.as_deref(), Some("orders"));
    assert_eq!(
        t["orders_apac_1"].partition_bound.as_deref(),
        Some("FOR VALUES WITH (modulus 2, remainder 1)")
    );
    assert_eq!(
        t["orders_apac_1"].partition_of.as_deref(),
        Some("orders_apac")
    );
    assert_eq!(t["measurements"].partition_bound, None);
    assert_eq!(t["devices"].partition_key, None);

    // The file (with a cast in one bound and upper-case MODULUS) and the database it created agree:
    // no difference at all, and no partition counted as an extra table.
    let validation = validate(&expected(), &live);
    assert!(validation.valid, "{}", validation.format_report());
    assert!(
        validation.extra_tables.is_empty(),
        "{:?}",
        validation.extra_tables
    );
    assert!(
        validation.differences.is_empty(),
        "{}",
        validation.format_report()
    );
    db.drop_db().await;
}

#[tokio::test]
async fn drift_is_reported_at_the_parent_and_extra_partitions_only_warn() {
    let (db, adapter) = setup(test_path!("partitions_drift"), &["partitions_drift"]).await;
    let validation = validate(&expected(), &live(&adapter).await);
    assert!(!validation.valid);
    let missing: Vec<(&str, &str)> = validation
        .missing_columns
        .iter()
        .map(|c| (c.table.as_str(), c.column.as_str()))
        .collect();
    assert_eq!(missing, [("measurements", "value")], "once, at the parent");
    assert_eq!(
        validation.missing_tables,
        [
            "measurements_2025",
            "orders",
            "orders_apac",
            "orders_apac_0",
            "orders_apac_1",
            "orders_eu",
            "orders_us"
        ]
    );
    assert!(
        validation.extra_tables.is_empty(),
        "{:?}",
        validation.extra_tables
    );
    let extra: Vec<&Difference> = validation
        .differences
        .iter()
        .filter(|d| matches!(d, Difference::ExtraPartition { .. }))
        .collect();
    assert_eq!(extra.len(), 1, "{}", validation.format_report());
    assert_eq!(
        extra[0].to_string(),
        "measurements_2023: partition of measurements FOR VALUES FROM ('2023-01-01') TO ('2024-01-01') \
         not in the expected schema"
    );
    assert_eq!(
        validation.error_count(),
        8,
        "{}",
        validation.format_report()
    );
    db.drop_db().await;
}

#[tokio::test]
async fn fix_creates_missing_partitioned_tables_and_partitions_and_keeps_every_row() {
    let (db, adapter) = setup(test_path!("partitions_fixed"), &["partitions_drift"]).await;
    let before = checksum(
        &adapter,
        "(SELECT id, device_id, taken_on FROM measurements)",
    )
    .await;
    let before_2023 = checksum(
        &adapter,
        "(SELECT id, device_id, taken_on FROM measurements_2023)",
    )
    .await;
    let expected = expected();
    let plan = plan_fix(&expected, &live(&adapter).await, &PlanOptions::default()).unwrap();
    assert!(plan.not_fixed.is_empty(), "{:?}", plan.not_fixed);
    let script = plan.script();
    assert!(
        script.contains(
            "CREATE TABLE \"public\".\"measurements_2025\" PARTITION OF \"public\".\"measurements\" \
             FOR VALUES FROM ('2025-01-01'::DATE) TO ('2026-01-01')"
        ),
        "{script}"
    );
    assert!(
        script.contains("\n) PARTITION BY LIST (region)"),
        "{script}"
    );
    assert!(
        script.contains(
            "CREATE TABLE \"public\".\"orders_apac\" PARTITION OF \"public\".\"orders\" FOR VALUES IN ('apac') \
             PARTITION BY HASH (id)"
        ),
        "{script}"
    );
    assert!(
        !script.contains("DETACH") && !script.contains("DROP"),
        "{script}"
    );
    assert_eq!(
        plan.steps
            .iter()
            .filter(|s| s.kind == StepKind::CreateTable)
            .count(),
        7
    );

    let report = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.tables_created, 7);
    assert!(
        report.validation.valid,
        "{}",
        report.validation.format_report()
    );
    assert_eq!(
        checksum(
            &adapter,
            "(SELECT id, device_id, taken_on FROM measurements)"
        )
        .await,
        before
    );
    // The partition the file does not name is kept with its rows.
    assert_eq!(
        checksum(
            &adapter,
            "(SELECT id, device_id, taken_on FROM measurements_2023)"
        )
        .await,
        before_2023
    );

    // Rows written through the new parents reach the new partitions.
    for sql in [
        "INSERT INTO measurements (device_id, taken_on, value) VALUES (1, '2025-02-02', 1.5)",
        "INSERT INTO orders (region, total) VALUES ('uk', 1), ('apac', 2), ('apac', 3)",
    ] {
        adapter.execute(sql, &[]).await.unwrap();
    }
    let rows = adapter
        .query(
            "SELECT (SELECT count(*) FROM measurements_2025)::int AS m, \
             (SELECT count(*) FROM orders_eu)::int AS eu, \
             (SELECT count(*) FROM orders_apac_0)::int + (SELECT count(*) FROM orders_apac_1)::int AS apac",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0]["m"], 1);
    assert_eq!(rows[0]["eu"], 1);
    assert_eq!(rows[0]["apac"], 2);
    db.drop_db().await;
}

#[tokio::test]
async fn other_bounds_or_keys_are_errors_that_fix_never_repairs_by_detaching() {
    let (db, adapter) = setup(test_path!("partitions_changed"), &["partitions_schema"]).await;
    let mut expected = expected();
    let m24 = expected.tables.get_mut("measurements_2024").unwrap();
    m24.partition_bound = Some("FOR VALUES FROM ('2024-02-01') TO ('2025-01-01')".to_owned());
    expected.tables.get_mut("orders").unwrap().partition_key = Some("LIST (total)".to_owned());
    let devices = expected.tables.get_mut("devices").unwrap();
    devices.kind = TableKind::Partitioned;
    devices.partition_key = Some("HASH (id)".to_owned());

    let validation = validate(&expected, &live(&adapter).await);
    assert!(!validation.valid);
    let lines: Vec<String> = validation.errors().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "devices: is not a partitioned table, expected partitioned by HASH (id)",
            "measurements_2024: partition of measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01'), \
             expected FOR VALUES FROM ('2024-02-01') TO ('2025-01-01')",
            "orders: partitioned by LIST (region), expected partitioned by LIST (total)",
        ]
    );
    let plan = plan_fix(&expected, &live(&adapter).await, &PlanOptions::default()).unwrap();
    assert!(plan.steps.is_empty(), "{}", plan.script());
    assert_eq!(plan.not_fixed.len(), 3, "{:?}", plan.not_fixed);
    db.drop_db().await;
}

#[tokio::test]
async fn keys_and_bounds_compare_by_what_postgresql_prints() {
    let (db, adapter) = setup(test_path!("partitions_rendered"), &["partitions_schema"]).await;
    // The same key and bounds, spelled otherwise: PostgreSQL prints both as the live ones.
    let text = fixture_text("partitions_schema")
        .replace(
            "PARTITION BY RANGE (taken_on)",
            "PARTITION BY range ( \"taken_on\" )",
        )
        .replace(
            "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
            "FOR VALUES FROM ('2024-1-1') TO (date '2025-01-01')",
        );
    let mut expected = parse_schema_sql(&text, "schema.sql").unwrap().catalog;
    let live = live(&adapter).await;
    let before = validate(&expected, &live);
    assert!(
        before
            .errors()
            .any(|d| matches!(d, Difference::PartitionBound { table, .. } if table == "measurements_2024")),
        "{}",
        before.format_report()
    );

    render_views(&adapter, &mut expected).await.unwrap();
    assert_eq!(
        expected.tables["measurements_2024"]
            .partition_bound
            .as_deref(),
        Some("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    );
    assert_eq!(
        expected.tables["measurements"].partition_key.as_deref(),
        Some("RANGE (taken_on)")
    );
    let after = validate(&expected, &live);
    assert!(after.differences.is_empty(), "{}", after.format_report());
    // Rendering left nothing behind.
    let rows = adapter
        .query(
            "SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE '_dba_render%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows[0]["n"], 0);
    db.drop_db().await;
}

#[tokio::test]
async fn a_new_partition_whose_rows_sit_in_the_default_partition_fails_and_changes_nothing() {
    let (db, adapter) = setup(test_path!("partitions_default_rows"), &["partitions_drift"]).await;
    // A 2025 row lands in the default partition while measurements_2025 does not exist.
    adapter
        .execute(
            "INSERT INTO measurements (device_id, taken_on) VALUES (1, '2025-05-05')",
            &[],
        )
        .await
        .unwrap();
    let before = live(&adapter).await;
    let plan = plan_fix(&expected(), &before, &PlanOptions::default()).unwrap();
    let err = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap_err();
    // The step, then PostgreSQL's reason naming the default partition, as the CLI prints the chain.
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    assert!(
        text.starts_with(
            "fix step 2 (create partition measurements_2025 of measurements) failed; every change was rolled back"
        ) && text.contains("default partition \"measurements_rest\" would be violated by some row"),
        "{text}"
    );
    assert_eq!(live(&adapter).await, before, "rolled back");
    db.drop_db().await;
}
