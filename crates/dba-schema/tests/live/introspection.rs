//! Introspection of a fixture with every kind of object, against the schema.sql reader and itself.

use std::sync::atomic::AtomicUsize;

use dba_core::DatabaseClient;
use dba_schema::{
    CATALOG_QUERIES, Identity, IntrospectOptions, TableKind, introspect, parse_schema_sql, validate,
};
use dba_testkit::test_path;

use crate::counting::Counting;
use crate::{fixture_text, setup};

#[tokio::test]
async fn every_object_is_introspected_in_a_fixed_number_of_queries() {
    let (db, adapter) = setup(test_path!("every_object"), &["every_object"]).await;
    let counting = Counting {
        inner: &adapter,
        queries: AtomicUsize::new(0),
    };
    let options = IntrospectOptions::default().with_schemas(["public", "app"]);
    let live = introspect(&counting, &options).await.unwrap();
    assert_eq!(counting.count(), CATALOG_QUERIES);

    // Tables, partitioned ones and partitions included; default exclusions kept.
    let keys: Vec<&str> = live.tables.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "app.Audit Log",
            "categories",
            "events",
            "events_2024",
            "orders",
            "pairs",
            "products",
            "returns"
        ]
    );
    assert_eq!(live.tables["events"].kind, TableKind::Partitioned);
    assert_eq!(
        live.tables["events_2024"].partition_of.as_deref(),
        Some("events")
    );
    assert_eq!(
        live.tables["app.Audit Log"].columns["Who"].data_type,
        "character varying(20)"
    );

    // Columns: exact types, nullability, defaults, identity, generated.
    let products = &live.tables["products"];
    let c = &products.columns;
    assert_eq!(c["price"].data_type, "numeric(10,2)");
    assert!(!c["price"].nullable);
    assert_eq!(c["price"].default.as_deref(), Some("0"));
    assert_eq!(c["tags"].data_type, "text[]");
    assert_eq!(c["feeling"].data_type, "mood");
    assert_eq!(c["created_at"].data_type, "timestamp with time zone");
    assert_eq!(c["id"].identity, Some(Identity::Always));
    assert!(c["double_price"].generated.is_some());
    assert!(c["double_price"].default.is_none());
    assert_eq!(
        live.tables["pairs"].columns["label"].data_type,
        "character(3)"
    );
    assert!(
        live.tables["categories"].columns["id"]
            .default
            .as_deref()
            .unwrap()
            .starts_with("nextval('categories_id_seq'")
    );

    // Keys: composite FK keeps every referenced column, actions and deferrability.
    let pair = &products.foreign_keys["products_pair_fkey"];
    assert_eq!(pair.columns, ["pa", "pb"]);
    assert_eq!(pair.referenced_columns, ["a", "b"]);
    assert_eq!(pair.on_update, "SET NULL");
    assert_eq!(pair.on_delete, "NO ACTION");
    assert!(pair.deferrable && pair.initially_deferred);
    assert_eq!(
        products.foreign_keys["products_category_id_fkey"].on_delete,
        "CASCADE"
    );
    assert_eq!(
        live.tables["pairs"].primary_key.as_ref().unwrap().columns,
        ["a", "b"]
    );
    assert_eq!(
        live.tables["categories"].unique_constraints["categories_slug_key"].columns,
        ["slug"]
    );

    // CHECK constraints exist, and one name on two tables stays two constraints.
    assert!(
        products
            .check_constraints
            .contains_key("products_price_check")
    );
    assert!(
        products
            .check_constraints
            .contains_key("products_tag_check")
    );
    let orders = &live.tables["orders"];
    let returns = &live.tables["returns"];
    assert_eq!(
        orders.check_constraints["shared_check"].expression,
        "id > 0"
    );
    assert_eq!(
        returns.check_constraints["shared_check"].expression,
        "id < 1000000"
    );
    assert_eq!(
        orders.foreign_keys["shared_fk"].referenced_table,
        "products"
    );
    assert_eq!(orders.foreign_keys["shared_fk"].columns, ["product_id"]);
    assert_eq!(returns.foreign_keys["shared_fk"].referenced_table, "orders");
    assert_eq!(returns.foreign_keys["shared_fk"].columns, ["order_id"]);

    // Indexes: expression-only and partial ones keep their text; constraint indexes are not listed.
    let cents = &products.indexes["products_cents"];
    assert_eq!(cents.columns, ["(price * 100::numeric)"]);
    let partial = &products.indexes["products_price_partial"];
    assert_eq!(partial.columns, ["price", "created_at"]);
    assert_eq!(partial.predicate.as_deref(), Some("price > 100::numeric"));
    assert!(live.tables["categories"].indexes["categories_name_ci"].unique);
    assert!(
        !live.tables["categories"]
            .indexes
            .contains_key("categories_pkey")
    );

    // Triggers keep every event; functions keep overloads apart.
    let trigger = &products.triggers["products_audit"];
    assert_eq!(trigger.events, ["INSERT", "UPDATE", "DELETE"]);
    assert_eq!(
        (trigger.timing.as_str(), trigger.level.as_str()),
        ("AFTER", "ROW")
    );
    assert_eq!(trigger.function, "audit");
    assert!(live.functions.contains_key("area(r integer)"));
    assert!(live.functions.contains_key("area(w integer, h integer)"));
    assert_eq!(live.functions["audit()"].result, "trigger");
    assert_eq!(live.functions["audit()"].language, "plpgsql");

    // Views, enums, sequences.
    assert!(!live.views["expensive"].materialized);
    assert!(live.views["category_counts"].materialized);
    assert_eq!(live.enums["mood"].labels, ["sad", "ok", "happy"]);
    assert_eq!(live.sequences["invoice_no"].start, 1000);
    assert_eq!(live.sequences["invoice_no"].increment, 5);
    assert_eq!(
        live.sequences["categories_id_seq"].owned_by.as_deref(),
        Some("categories.id")
    );
    assert_eq!(
        live.sequences["products_id_seq"].owned_by.as_deref(),
        Some("products.id")
    );

    // The same file read by the parser matches the live database exactly, and live-to-live is valid.
    let mut expected = parse_schema_sql(&fixture_text("every_object"), "every_object.sql").unwrap();
    // The file creates schema_migrations to prove introspection skips it; the comparison must too.
    expected.catalog.tables.remove("schema_migrations");
    let result = validate(&expected.catalog, &live);
    assert!(result.valid, "{}", result.format_report());
    assert_eq!(result.format_report(), "Schema valid");
    let again = validate(&live, &introspect(&adapter, &options).await.unwrap());
    assert_eq!(again.format_report(), "Schema valid");

    // Caller exclusions extend the defaults; one schema only by default.
    let public_only = introspect(&adapter, &IntrospectOptions::default().exclude("pairs"))
        .await
        .unwrap();
    assert!(!public_only.tables.contains_key("pairs"));
    assert!(!public_only.tables.contains_key("schema_migrations"));
    assert!(!public_only.tables.contains_key("app.Audit Log"));

    adapter.close().await;
    db.drop_db().await;
}
