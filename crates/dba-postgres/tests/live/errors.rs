//! Every constraint failure maps to the kind callers branch on, with PostgreSQL's fields kept.

use dba_core::{DatabaseClient, ErrorKind, json};
use dba_testkit::test_path;

use crate::{row, setup};

#[tokio::test]
async fn violations_map_to_kinds() {
    let (db, pg) = setup(test_path!("violations_map_to_kinds"), &["shop"]).await;
    pg.insert("categories", &row(json!({"slug": "a", "name": "A"})))
        .await
        .unwrap();

    let unique = pg
        .insert("categories", &row(json!({"slug": "a", "name": "B"})))
        .await
        .unwrap_err();
    assert_eq!(unique.kind(), ErrorKind::UniqueViolation);
    let info = unique.db().unwrap();
    assert_eq!(
        (
            info.code.as_str(),
            info.table.as_deref(),
            info.constraint.as_deref()
        ),
        ("23505", Some("categories"), Some("categories_slug_key"))
    );
    assert_eq!(
        info.detail.as_deref(),
        Some("Key (slug)=(a) already exists.")
    );
    assert!(
        unique
            .to_string()
            .starts_with("unique violation: insert into categories: duplicate key value"),
        "{unique}"
    );

    let fk = pg
        .insert("items", &row(json!({"name": "x", "category_id": 99})))
        .await
        .unwrap_err();
    assert_eq!(fk.kind(), ErrorKind::ForeignKeyViolation);
    assert_eq!(
        fk.db().unwrap().constraint.as_deref(),
        Some("items_category_id_fkey")
    );

    let not_null = pg
        .insert("items", &row(json!({"price": 1})))
        .await
        .unwrap_err();
    assert_eq!(not_null.kind(), ErrorKind::NotNullViolation);
    assert_eq!(not_null.db().unwrap().column.as_deref(), Some("name"));

    let check = pg
        .insert("items", &row(json!({"name": "x", "price": -1})))
        .await
        .unwrap_err();
    assert_eq!(check.kind(), ErrorKind::CheckViolation);

    let bad_value = pg
        .insert(
            "items",
            &row(json!({"name": "x", "created_at": "not-a-time"})),
        )
        .await
        .unwrap_err();
    assert_eq!(bad_value.kind(), ErrorKind::InvalidInput);
    assert!(
        bad_value
            .to_string()
            .contains("invalid input syntax for type timestamp with time zone: \"not-a-time\""),
        "{bad_value}"
    );

    let bad_uuid = pg
        .query("SELECT $1::uuid AS u", &[json!("not-a-uuid")])
        .await
        .unwrap_err();
    assert!(
        bad_uuid
            .to_string()
            .contains("invalid input syntax for type uuid: \"not-a-uuid\""),
        "{bad_uuid}"
    );

    let syntax = pg.execute("SELEC 1", &[]).await.unwrap_err();
    assert_eq!(
        (syntax.kind(), syntax.sqlstate()),
        (ErrorKind::InvalidInput, Some("42601"))
    );

    let missing_column = pg
        .insert("items", &row(json!({"name": "x", "nope": 1})))
        .await
        .unwrap_err();
    assert_eq!(
        (missing_column.kind(), missing_column.sqlstate()),
        (ErrorKind::Database, Some("42703"))
    );

    pg.execute("SET statement_timeout = '50ms'", &[])
        .await
        .unwrap();
    let mut options = dba_postgres::PostgresOptions::default();
    options.statement_timeout = Some(std::time::Duration::from_millis(50));
    let slow = dba_postgres::PostgresAdapter::new(db.url(), options).unwrap();
    let timeout = slow.execute("SELECT pg_sleep(1)", &[]).await.unwrap_err();
    assert_eq!(timeout.kind(), ErrorKind::Timeout, "{timeout}");
    db.drop_db().await;
}
