//! Fix plans applied to live databases: additive repairs keep every row, foreign key and view; a failing
//! step or a failed verification leaves the database exactly as it was.

use dba_core::DatabaseClient;
use dba_schema::{
    ApplyOptions, Catalog, Column, Difference, Hazard, IntrospectOptions, PlanOptions, SchemaError,
    StepKind, apply, introspect, parse_column_defs, parse_schema_sql, plan_fix, validate,
};
use dba_testkit::test_path;

use crate::{checksum, fixture_text, setup};

fn drift_schema() -> Catalog {
    parse_schema_sql(&fixture_text("drift_schema"), "drift_schema.sql")
        .unwrap()
        .catalog
}

async fn live(client: &dyn DatabaseClient) -> Catalog {
    introspect(client, &IntrospectOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_original_scenario_ends_valid_with_every_row_key_and_view() {
    let (db, adapter) = setup(test_path!("original_scenario"), &["drift"]).await;
    let before_items = checksum(&adapter, "(SELECT id, a, code FROM items)").await;
    let before_products = checksum(&adapter, "(SELECT id, cat_id, name FROM products)").await;
    let before_reviews = checksum(&adapter, "reviews").await;

    let expected = drift_schema();
    let actual = live(&adapter).await;
    let validation = validate(&expected, &actual);
    assert_eq!(
        validation.missing_columns.len(),
        5,
        "{}",
        validation.format_report()
    );

    // The original's column-defs JSON still works and overrides schema.sql.
    let defs = parse_column_defs(
        r#"{"items.b": "TEXT", "items.f": "TEXT NOT NULL DEFAULT ''"}"#,
        "column-defs.json",
    )
    .unwrap();
    let options = PlanOptions {
        column_defs: defs,
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &actual, &options).unwrap();
    assert!(
        plan.steps.iter().all(|s| s.kind == StepKind::AddColumn),
        "{}",
        plan.script()
    );
    assert_eq!(plan.fix_count(), 5);
    assert_eq!(plan.tables_to_back_up(), ["items", "products"]);

    let report = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.columns_added, 5);
    assert!(report.remaining.is_empty());
    assert!(
        report.validation.valid,
        "{}",
        report.validation.format_report()
    );

    // Every row, every foreign key and the dependent view are still there.
    assert_eq!(
        checksum(&adapter, "(SELECT id, a, code FROM items)").await,
        before_items
    );
    assert_eq!(
        checksum(&adapter, "(SELECT id, cat_id, name FROM products)").await,
        before_products
    );
    assert_eq!(checksum(&adapter, "reviews").await, before_reviews);
    let after = live(&adapter).await;
    let fk = &after.tables["products"].foreign_keys["products_cat_id_fkey"];
    assert_eq!(fk.referenced_table, "categories");
    assert!(
        after.tables["reviews"]
            .foreign_keys
            .contains_key("reviews_item_id_fkey")
    );
    assert!(after.views.contains_key("item_codes"));
    let rows = adapter
        .query(
            "SELECT count(*)::int AS n, count(*) FILTER (WHERE f = '')::int AS empty FROM items",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (rows[0]["n"].as_i64(), rows[0]["empty"].as_i64()),
        (Some(5), Some(5))
    );
    assert!(validate(&plan.target, &after).valid);

    adapter.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_not_null_column_without_default_stays_nullable_while_rows_lack_a_value() {
    let (db, adapter) = setup(test_path!("not_null_needs_value"), &["drift"]).await;
    let plan = plan_fix(
        &drift_schema(),
        &live(&adapter).await,
        &PlanOptions::default(),
    )
    .unwrap();
    let report = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        report.remaining,
        [Difference::Nullability {
            table: "items".into(),
            column: "f".into(),
            expected_nullable: false
        }]
    );
    assert!(!report.validation.valid);
    assert!(
        report
            .validation
            .format_report()
            .contains("items.f: is nullable, expected NOT NULL")
    );
    let after = live(&adapter).await;
    assert!(after.tables["items"].columns["f"].nullable);

    // On an empty table the same step makes the column NOT NULL.
    adapter
        .execute("CREATE TABLE empty_t (id int)", &[])
        .await
        .unwrap();
    let expected = parse_schema_sql("CREATE TABLE empty_t (id int, v text NOT NULL);", "s.sql")
        .unwrap()
        .catalog;
    let mut actual = live(&adapter).await;
    actual.tables.retain(|k, _| k == "empty_t");
    let plan = plan_fix(&expected, &actual, &PlanOptions::default()).unwrap();
    let report = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(report.remaining.is_empty());
    assert!(!live(&adapter).await.tables["empty_t"].columns["v"].nullable);

    adapter.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_type_change_is_refused_unless_opted_in_and_then_keeps_every_row() {
    let (db, adapter) = setup(test_path!("type_change"), &["drift"]).await;
    let expected = parse_schema_sql(
        &fixture_text("drift_schema").replace("stars INT", "stars BIGINT"),
        "schema.sql",
    )
    .unwrap()
    .catalog;
    let before = checksum(&adapter, "reviews").await;

    let plan = plan_fix(&expected, &live(&adapter).await, &PlanOptions::default()).unwrap();
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| s.kind == StepKind::AlterColumnType)
    );
    let refused: Vec<&str> = plan.not_fixed.iter().map(|n| n.subject.as_str()).collect();
    assert_eq!(refused, ["reviews.stars: type is integer, expected bigint"]);
    // Applying the additive part works and leaves the refused drift in place.
    let report = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(report.remaining.len(), 2, "{:?}", report.remaining);

    // Opting in also plans SET NOT NULL on items.f, which needs every row to have a value first.
    adapter
        .execute("UPDATE items SET f = 'filled'", &[])
        .await
        .unwrap();
    let opted = PlanOptions {
        max_hazard: Hazard::Rewrite,
        ..PlanOptions::default()
    };
    let plan = plan_fix(&expected, &live(&adapter).await, &opted).unwrap();
    let kinds: Vec<StepKind> = plan.steps.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [StepKind::SetNotNullIfNoNulls, StepKind::AlterColumnType]
    );
    assert_eq!(plan.steps[1].hazard, Hazard::Rewrite);
    apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();
    let after = live(&adapter).await;
    assert_eq!(after.tables["reviews"].columns["stars"].data_type, "bigint");
    assert_eq!(checksum(&adapter, "reviews").await, before);
    assert!(
        after.tables["reviews"]
            .foreign_keys
            .contains_key("reviews_item_id_fkey")
    );

    adapter.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_failing_step_leaves_the_database_exactly_as_before() {
    let (db, adapter) = setup(test_path!("failing_step"), &["drift"]).await;
    // items.code holds a duplicate, so the UNIQUE constraint (step 4) fails after three columns were added.
    let expected = parse_schema_sql(
        &fixture_text("drift_schema").replace("code TEXT,", "code TEXT UNIQUE,"),
        "schema.sql",
    )
    .unwrap()
    .catalog;
    let before = live(&adapter).await;
    let sums = [
        checksum(&adapter, "items").await,
        checksum(&adapter, "products").await,
        checksum(&adapter, "reviews").await,
    ];
    let plan = plan_fix(&expected, &before, &PlanOptions::default()).unwrap();
    let failing = plan
        .steps
        .iter()
        .position(|s| s.description == "add unique constraint items_code_key to items")
        .unwrap();
    assert!(failing >= 3, "{}", plan.script());

    let err = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap_err();
    let SchemaError::StepFailed {
        number,
        table,
        source,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!((*number, table.as_deref()), (failing + 1, Some("items")));
    assert_eq!(source.sqlstate(), Some("23505"));
    assert!(
        err.to_string()
            .contains("(add unique constraint items_code_key to items) failed"),
        "{err}"
    );

    assert_eq!(live(&adapter).await, before);
    let after = [
        checksum(&adapter, "items").await,
        checksum(&adapter, "products").await,
        checksum(&adapter, "reviews").await,
    ];
    assert_eq!(after, sums);

    adapter.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_failed_verification_rolls_everything_back() {
    let (db, adapter) = setup(test_path!("failed_verification"), &["drift"]).await;
    let before = live(&adapter).await;
    let mut plan = plan_fix(&drift_schema(), &before, &PlanOptions::default()).unwrap();
    assert!(plan.has_fixes());
    // A target the steps cannot reach: verification must refuse to commit.
    plan.target.tables.get_mut("items").unwrap().columns.insert(
        "z".into(),
        Column {
            name: "z".into(),
            position: 99,
            data_type: "text".into(),
            nullable: true,
            ..Column::default()
        },
    );
    let err = apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SchemaError::VerificationFailed { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("column items.z is still missing"),
        "{err}"
    );
    assert_eq!(live(&adapter).await, before);

    adapter.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn a_missing_table_with_serial_columns_is_created_with_its_sequence() {
    let (db, adapter) = setup(test_path!("missing_serial_table"), &[]).await;
    let expected = parse_schema_sql(
        "CREATE TABLE tags (id SERIAL PRIMARY KEY, name TEXT NOT NULL);",
        "schema.sql",
    )
    .unwrap()
    .catalog;
    let plan = plan_fix(&expected, &live(&adapter).await, &PlanOptions::default()).unwrap();
    apply(&plan, &adapter, &ApplyOptions::default())
        .await
        .unwrap();
    assert!(validate(&expected, &live(&adapter).await).valid);
    let row = adapter
        .insert("tags", dba_core::json!({"name": "x"}).as_object().unwrap())
        .await
        .unwrap();
    assert_eq!(row["id"], dba_core::json!(1), "the serial default works");
    db.drop_db().await;
}
