//! Hostile names and values through every method: refused or quoted, the database untouched, and only the
//! intended statements reach the server.

use dba_core::{DatabaseClient, Filter, Query, Value, json};
use dba_testkit::test_path;

use crate::{row, setup};

const HOSTILE_TABLES: &[&str] = &[
    "canary; DROP TABLE canary",
    "canary--",
    "canary/*",
    "public.canary; DELETE FROM canary",
    "\"canary\"; DROP TABLE canary; --\"",
    "(SELECT 1)",
    "canary WHERE 1=1",
    "pg_sleep(1)",
    "",
];

const HOSTILE_NAMES: &[&str] = &[
    "1=1 OR id",
    "id\"; DROP TABLE canary; --",
    "id) OR (1=1",
    "id; DELETE FROM canary",
    "name' OR '1'='1",
    "*",
    "id -- comment",
];

const HOSTILE_LISTS: &[&str] = &[
    "id, (SELECT 1)",
    "id; DROP TABLE canary",
    "count(*) as cnt",
    "id DESC; DROP TABLE canary",
    "id, pg_sleep(1)",
];

fn hostile_values() -> Vec<Value> {
    vec![
        json!("'; DROP TABLE canary; --"),
        json!("1 OR 1=1"),
        json!("$1"),
        json!("\\'; DELETE FROM canary; --"),
        json!(["a'); DROP TABLE canary; --", "}{\"", null]),
        json!({"k": "'); DROP TABLE canary; --"}),
    ]
}

async fn canary_intact(pg: &dyn DatabaseClient) {
    assert_eq!(
        pg.count("canary", &Filter::new()).await.unwrap(),
        3,
        "canary rows"
    );
    let tables = pg
        .query(
            "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(tables[0]["n"], json!(5), "no table created or dropped");
}

#[tokio::test]
async fn hostile_input_never_reaches_sql_text() {
    let (db, pg) = setup(
        test_path!("hostile_input_never_reaches_sql_text"),
        &["shop", "tamper_log"],
    )
    .await;
    let r = row(json!({"name": "x"}));

    for table in HOSTILE_TABLES {
        assert!(
            pg.select(table, &Query::new()).await.is_err(),
            "select {table:?}"
        );
        assert!(pg.count(table, &Filter::new()).await.is_err());
        assert!(pg.insert(table, &r).await.is_err());
        assert!(
            pg.insert_many(table, std::slice::from_ref(&r), false)
                .await
                .is_err()
        );
        assert!(pg.update(table, &r, &Filter::all_rows()).await.is_err());
        assert!(pg.upsert(table, &r, "id").await.is_err());
        assert!(
            pg.upsert_many(table, std::slice::from_ref(&r), "id", false)
                .await
                .is_err()
        );
        assert!(pg.delete(table, &Filter::all_rows()).await.is_err());
        assert!(pg.select_stream(table, &Query::new()).await.is_err());
    }
    for name in HOSTILE_NAMES {
        // As exact column names they are quoted: the column does not exist, so PostgreSQL refuses them.
        let filter = Filter::new().eq(name, 1);
        assert_eq!(
            pg.select("canary", &Query::new().filter(filter.clone()))
                .await
                .unwrap_err()
                .sqlstate(),
            Some("42703"),
            "{name:?}"
        );
        assert_eq!(
            pg.delete("canary", &filter).await.unwrap_err().sqlstate(),
            Some("42703")
        );
        assert_eq!(
            pg.update(
                "canary",
                &row(json!({*name: 1})),
                &Filter::new().eq("id", 1)
            )
            .await
            .unwrap_err()
            .sqlstate(),
            Some("42703")
        );
        assert!(pg.insert("canary", &row(json!({*name: 1}))).await.is_err());
        assert!(
            pg.upsert("canary", &row(json!({"id": 9})), name)
                .await
                .is_err()
        );
        // In column and order lists they are refused before anything is sent (`*` alone means all).
        if *name != "*" {
            assert!(
                pg.select("canary", &Query::new().columns(name))
                    .await
                    .is_err(),
                "{name:?}"
            );
        }
        assert!(
            pg.select("canary", &Query::new().order_by(name))
                .await
                .is_err()
        );
    }
    for list in HOSTILE_LISTS {
        assert!(
            pg.select("canary", &Query::new().columns(list))
                .await
                .is_err(),
            "{list:?}"
        );
        assert!(
            pg.select("canary", &Query::new().order_by(list))
                .await
                .is_err(),
            "{list:?}"
        );
        assert!(
            pg.upsert("canary", &row(json!({"id": 9})), list)
                .await
                .is_err()
        );
    }
    // Hostile values are stored and compared literally.
    for value in hostile_values() {
        let text = if value.is_string() {
            value.clone()
        } else {
            json!(value.to_string())
        };
        let stored = pg
            .insert("items", &row(json!({"name": text.clone()})))
            .await
            .unwrap();
        assert_eq!(stored["name"], text);
        assert_eq!(
            pg.count("items", &Filter::new().eq("name", text.clone()))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            pg.count("items", &Filter::new().is_in("name", [text.clone()]))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            pg.count(
                "items",
                &Filter::new().like("name", &like_literal(text.as_str().unwrap()))
            )
            .await
            .unwrap(),
            1
        );
        pg.update(
            "items",
            &row(json!({"name": text.clone()})),
            &Filter::new().eq("name", text.clone()),
        )
        .await
        .unwrap();
        pg.upsert(
            "items",
            &row(json!({"id": stored["id"], "name": text.clone()})),
            "id",
        )
        .await
        .unwrap();
        assert_eq!(
            pg.delete("items", &Filter::new().eq("name", text.clone()))
                .await
                .unwrap(),
            1
        );
    }
    canary_intact(&pg).await;

    // Only the intended statements ran: triggers log any DML on canary and any DDL at all.
    let log = pg.query("SELECT what FROM tamper_log", &[]).await.unwrap();
    assert!(log.is_empty(), "unintended statements ran: {log:?}");
    db.drop_db().await;
}

/// A LIKE pattern matching `text` literally (backslash is LIKE's escape character).
fn like_literal(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
