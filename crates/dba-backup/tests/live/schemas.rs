//! Several schemas: qualified tables backed up, restored and synced in their schema, a table name shared by
//! two schemas never confused, and foreign keys across schemas remapped.

use dba_backup::{
    BackupOptions, BackupSchema, NoProgress, RestoreOptions, SyncMode, SyncOptions, TableDef,
    backup, infer_schema_in, restore, sync, validate_backup,
};
use dba_core::{DatabaseClient, Value, json};
use dba_testkit::test_path;

use crate::{scratch, setup};

/// The five tables of `schemas.sql`, named as a profile whose schema is `public` names them.
fn two_schemas() -> BackupSchema {
    BackupSchema::new(vec![
        TableDef::new("customers"),
        TableDef::new("items"),
        TableDef::new("billing.items"),
        TableDef::new("billing.invoices")
            .parent("customers", "customer_id")
            .optional_ref("billing.items", "item_id"),
        TableDef::new("payments")
            .parent("billing.invoices", "invoice_id")
            .optional_ref("public.items", "item_id"),
    ])
}

fn backup_opts(home: &str) -> BackupOptions {
    BackupOptions {
        user_id: Some(json!("u1")),
        schema: Some(home.to_owned()),
        ..BackupOptions::default()
    }
}

fn restore_opts(home: &str) -> RestoreOptions {
    RestoreOptions {
        user_id: Some(json!("u1")),
        schema: Some(home.to_owned()),
        ..RestoreOptions::default()
    }
}

/// Every row of u1 joined across both schemas by slug, so ids do not matter: each invoice with its
/// customer and billing item, each payment with its invoice and public item.
async fn joined(db: &dyn DatabaseClient) -> Vec<Value> {
    let rows = db
        .query(
            "SELECT i.slug, c.slug AS customer, bi.slug AS item, bi.price::text AS price, \
             NULL AS invoice, NULL AS label FROM billing.invoices i \
             JOIN customers c ON c.id = i.customer_id LEFT JOIN billing.items bi ON bi.id = i.item_id \
             WHERE i.user_id = 'u1' \
             UNION ALL SELECT p.slug, NULL, pi.slug, NULL, i.slug, pi.label FROM payments p \
             JOIN billing.invoices i ON i.id = p.invoice_id LEFT JOIN items pi ON pi.id = p.item_id \
             WHERE p.user_id = 'u1' ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    rows.into_iter().map(Value::Object).collect()
}

/// Rows of another user first, so the destination assigns ids that differ from the source's.
async fn shift_ids(db: &dyn DatabaseClient) {
    db.execute(
        "INSERT INTO customers (user_id, slug) SELECT 'u9', 'c' || g FROM generate_series(1, 5) g; \
         INSERT INTO items (user_id, slug, label) SELECT 'u9', 'i' || g, 'x' FROM generate_series(1, 7) g; \
         INSERT INTO billing.items (user_id, slug, price) SELECT 'u9', 'b' || g, 0 FROM generate_series(1, 3) g",
        &[],
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn same_name_tables_in_two_schemas_are_backed_up_and_restored_apart() {
    let (src_db, src) = setup(test_path!("two_src"), &["schemas", "schemas_data"]).await;
    let (dst_db, dst) = setup(test_path!("two_dst"), &["schemas"]).await;
    shift_ids(&dst).await;
    let path = scratch("two-schemas").join("b.json");
    let report = backup(
        &src,
        &two_schemas(),
        &path,
        &backup_opts("public"),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(
        report.counts,
        [
            ("customers".to_owned(), 2),
            ("items".to_owned(), 2),
            ("billing.items".to_owned(), 2),
            ("billing.invoices".to_owned(), 3),
            ("payments".to_owned(), 3),
        ]
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "metadata",
            "customers",
            "items",
            "billing.items",
            "billing.invoices",
            "payments"
        ]
    );
    assert_eq!(doc["metadata"]["items_count"], 2);
    assert_eq!(doc["metadata"]["billing.items_count"], 2);
    assert_eq!(doc["metadata"]["billing.invoices_count"], 3);
    // Each items key holds its own schema's rows.
    assert!(
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("label").is_some())
    );
    assert!(
        doc["billing.items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("price").is_some())
    );
    let resolved = two_schemas().in_schema(Some("public")).unwrap();
    assert!(validate_backup(&path, &resolved).valid);

    let summary = restore(
        &dst,
        &two_schemas(),
        &path,
        &restore_opts("public"),
        &NoProgress,
    )
    .await
    .unwrap();
    let tables: Vec<(&str, u64)> = summary
        .tables
        .iter()
        .map(|(t, s)| (t.as_str(), s.inserted))
        .collect();
    assert_eq!(
        tables,
        [
            ("customers", 2),
            ("items", 2),
            ("billing.items", 2),
            ("billing.invoices", 3),
            ("payments", 3)
        ]
    );
    // Every reference, public -> billing and billing -> public, points at the row it pointed at before,
    // although every id changed.
    assert_eq!(joined(&dst).await, joined(&src).await);
    assert_eq!(joined(&src).await.len(), 6);
    let moved = dst
        .query(
            "SELECT count(*) AS n FROM billing.invoices i JOIN customers c ON c.id = i.customer_id \
             WHERE c.id > 5",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(moved[0]["n"], 3, "invoices point at the remapped customers");
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn unqualified_names_resolve_in_the_given_schema() {
    let (src_db, src) = setup(test_path!("home_src"), &["schemas", "schemas_data"]).await;
    let (dst_db, dst) = setup(test_path!("home_dst"), &["schemas"]).await;
    shift_ids(&dst).await;
    // The same tables seen from a profile whose schema is billing: `items` is billing.items now.
    let from_billing = BackupSchema::new(vec![
        TableDef::new("public.customers"),
        TableDef::new("public.items"),
        TableDef::new("items"),
        TableDef::new("invoices")
            .parent("public.customers", "customer_id")
            .optional_ref("items", "item_id"),
        TableDef::new("public.payments")
            .parent("invoices", "invoice_id")
            .optional_ref("public.items", "item_id"),
    ]);
    let path = scratch("home-billing").join("b.json");
    let report = backup(
        &src,
        &from_billing,
        &path,
        &backup_opts("billing"),
        &NoProgress,
    )
    .await
    .unwrap();
    let names: Vec<&str> = report.counts.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        names,
        [
            "public.customers",
            "public.items",
            "items",
            "invoices",
            "public.payments"
        ]
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(
        doc["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("price").is_some())
    );
    assert!(
        doc["public.items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.get("label").is_some())
    );
    restore(
        &dst,
        &from_billing,
        &path,
        &restore_opts("billing"),
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(joined(&dst).await, joined(&src).await);
    // Without a schema the names are the connection's business: its search_path is public, where there
    // is no `invoices`.
    let err = restore(
        &dst,
        &from_billing,
        &path,
        &RestoreOptions {
            user_id: Some(json!("u1")),
            ..RestoreOptions::default()
        },
        &NoProgress,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"relation "invoices" does not exist"#),
        "{err}"
    );
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn two_names_for_one_table_are_refused() {
    let schema = BackupSchema::new(vec![TableDef::new("items"), TableDef::new("public.items")]);
    let err = schema.in_schema(Some("public")).unwrap_err().to_string();
    assert!(
        err.contains("'items' and 'public.items' are the same table"),
        "{err}"
    );
    // The same spelling twice is the familiar message.
    let twice = BackupSchema::new(vec![TableDef::new("items"), TableDef::new("items")]);
    let err = twice.in_schema(Some("public")).unwrap_err().to_string();
    assert!(err.contains("table 'items' is listed twice"), "{err}");
    // In another schema they are two tables.
    let keys: Vec<String> = schema
        .in_schema(Some("app"))
        .unwrap()
        .tables
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(keys, ["items", "public.items"]);
}

#[tokio::test]
async fn inference_follows_foreign_keys_across_the_schemas_asked_for() {
    let (db, client) = setup(test_path!("infer"), &["schemas"]).await;
    let all = [
        "customers",
        "items",
        "billing.items",
        "billing.invoices",
        "payments",
    ];
    let (schema, _) = infer_schema_in(&client, Some(&all), Some("public"))
        .await
        .unwrap();
    let expected = two_schemas().in_schema(Some("public")).unwrap();
    assert_eq!(schema.tables.len(), expected.tables.len());
    for t in &expected.tables {
        assert_eq!(schema.table(&t.name), Some(t), "{}", t.name);
    }
    // From billing, public's tables are the qualified ones.
    let (schema, _) = infer_schema_in(
        &client,
        Some(&["invoices", "public.customers", "items"]),
        Some("billing"),
    )
    .await
    .unwrap();
    let invoices = schema.table("invoices").unwrap();
    assert_eq!(invoices.parents[0].table, "public.customers");
    assert_eq!(invoices.optional_refs[0].table, "items");
    assert!(schema.table("public.customers").is_some());
    // Asked for public only, the reference to billing.invoices passes through unchanged.
    let (schema, _) = infer_schema_in(&client, None, Some("public"))
        .await
        .unwrap();
    let names: Vec<&str> = schema.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["customers", "items", "payments"]);
    assert_eq!(
        schema.table("payments").unwrap().parents[0].table,
        "billing.invoices"
    );
    assert!(schema.is_external("billing.invoices"));
    schema.validate().unwrap();
    db.drop_db().await;
}

#[tokio::test]
async fn sync_plans_and_copies_same_name_tables_apart() {
    let (src_db, src) = setup(test_path!("sync_src"), &["schemas", "schemas_data"]).await;
    let (dst_db, dst) = setup(test_path!("sync_dst"), &["schemas"]).await;
    shift_ids(&dst).await;
    // The destination has one of public's items already, none of billing's.
    dst.execute(
        "INSERT INTO items (user_id, slug, label) VALUES ('u1', 'a', 'public a')",
        &[],
    )
    .await
    .unwrap();
    let options = SyncOptions {
        mode: SyncMode::InsertOnly,
        user_id: Some(json!("u1")),
        schema: Some("public".to_owned()),
        ..SyncOptions::default()
    };
    let result = sync(&src, &dst, &two_schemas(), &options, &NoProgress).await;
    assert!(result.success, "{:?}", result.errors);
    assert_eq!(result.sync_plan.get("items").unwrap().new, 1);
    assert_eq!(result.sync_plan.get("items").unwrap().skip, 1);
    assert_eq!(result.sync_plan.get("billing.items").unwrap().new, 2);
    assert_eq!(result.sync_plan.get("billing.items").unwrap().skip, 0);
    let plan = serde_json::to_value(&result.sync_plan).unwrap();
    let keys: Vec<&str> = plan
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "customers",
            "items",
            "billing.items",
            "billing.invoices",
            "payments"
        ]
    );
    assert_eq!(joined(&dst).await, joined(&src).await);
    src_db.drop_db().await;
    dst_db.drop_db().await;
}

#[tokio::test]
async fn a_qualified_reference_to_an_unqualified_table_is_checked_once_resolved() {
    let json = r#"{"tables": [
        {"name": "items"},
        {"name": "payments", "parent": {"table": "app.items", "field": "item_id"}}
    ]}"#;
    // Loading cannot tell whether `app.items` is `items`: that depends on the profile's schema.
    let schema = BackupSchema::from_json(json).unwrap();
    let resolved = schema.in_schema(Some("app")).unwrap();
    resolved.validate().unwrap();
    assert_eq!(
        resolved.table("payments").unwrap().parents[0].table,
        "items"
    );
    let err = schema
        .in_schema(Some("public"))
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("table 'payments' references 'app.items', which is not in the schema"),
        "{err}"
    );
    // A name that matches nothing is refused on load, as before.
    let err = BackupSchema::from_json(&json.replace("app.items", "app.other"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("which is not in the schema"), "{err}");
}

#[tokio::test]
async fn unqualified_names_keep_their_spelling_as_keys() {
    let (db, client) = setup(test_path!("spelling"), &["schemas", "schemas_data"]).await;
    // The Python original keyed a table as its backup schema spelled it, and PostgreSQL folded the name.
    let schema = BackupSchema::new(vec![TableDef::new("Customers").natural_key(&["slug"])]);
    let path = scratch("spelling").join("b.json");
    let report = backup(&client, &schema, &path, &backup_opts("public"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.counts, [("Customers".to_owned(), 2)]);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(doc["metadata"]["Customers_count"], 2);
    assert_eq!(doc["Customers"].as_array().unwrap().len(), 2);
    // The same table under another spelling is refused, naming both.
    let twice = BackupSchema::new(vec![
        TableDef::new("Customers"),
        TableDef::new("public.customers"),
    ]);
    let err = twice.in_schema(Some("public")).unwrap_err().to_string();
    assert!(
        err.contains("'Customers' and 'public.customers' are the same table"),
        "{err}"
    );
    db.drop_db().await;
}

#[tokio::test]
async fn sync_reads_the_source_in_its_schema_and_writes_the_destination_in_its_own() {
    let (src_db, src) = setup(test_path!("sync_homes_src"), &["schemas", "schemas_data"]).await;
    let (dst_db, dst) = setup(test_path!("sync_homes_dst"), &["schemas"]).await;
    dst.execute(
        "CREATE SCHEMA app; CREATE TABLE app.customers (LIKE public.customers INCLUDING ALL)",
        &[],
    )
    .await
    .unwrap();
    let options = SyncOptions {
        user_id: Some(json!("u1")),
        schema: Some("app".to_owned()),
        source_schema: Some("public".to_owned()),
        ..SyncOptions::default()
    };
    let schema = BackupSchema::new(vec![TableDef::new("customers")]);
    let result = sync(&src, &dst, &schema, &options, &NoProgress).await;
    assert!(result.success, "{:?}", result.errors);
    assert_eq!(result.synced_count, 2);
    let count = |sql: &'static str| {
        let dst = &dst;
        async move { dst.query(sql, &[]).await.unwrap()[0]["n"].clone() }
    };
    assert_eq!(count("SELECT count(*) AS n FROM app.customers").await, 2);
    assert_eq!(count("SELECT count(*) AS n FROM public.customers").await, 0);
    src_db.drop_db().await;
    dst_db.drop_db().await;
}
