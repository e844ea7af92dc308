//! Schema-qualified names reach exactly the table they name: the same table name in several schemas,
//! names that differ only by case, and dots inside quoted names are never confused.

use dba_core::{DatabaseClient, Filter, Query, Row, Value, json};
use dba_postgres::{PostgresAdapter, PostgresOptions};
use dba_testkit::test_path;

use crate::{row, setup};

/// Each name as a caller writes it, and the table it must reach, as `schema.table` with exact parts.
const NAMES: [(&str, &str, &str); 8] = [
    ("items", "public", "items"),
    ("billing.items", "billing", "items"),
    ("BILLING.Items", "billing", "items"),
    (r#""Billing"."Items""#, "Billing", "Items"),
    (r#""Billing".items"#, "Billing", "items"),
    (r#""my.schema".t"#, "my.schema", "t"),
    (r#"my."schema.t""#, "my", "schema.t"),
    (r#""billing.items""#, "public", "billing.items"),
];

/// The owners stored in the table with these exact parts, read through the fixture's `owners_of`, which
/// quotes them on the server (`format('%I.%I')`), independent of the client's quoting.
async fn owners(pg: &PostgresAdapter, schema: &str, table: &str) -> Vec<Value> {
    let sql = "SELECT o AS owner FROM public.owners_of($1, $2) o";
    pg.query(sql, &[json!(schema), json!(table)])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r["owner"].clone())
        .collect()
}

#[tokio::test]
async fn qualified_mixed_case_and_dotted_names_reach_their_own_table() {
    let (db, pg) = setup(test_path!("qualified_names"), &["schemas"]).await;
    // Every operation through every name: insert, insert_many, upsert_many, update, delete, select,
    // count and the streamed select.
    for (i, (name, _, _)) in NAMES.iter().enumerate() {
        pg.insert(name, &row(json!({"owner": format!("{i} one")})))
            .await
            .unwrap();
        let two = [
            row(json!({"owner": format!("{i} two")})),
            row(json!({"owner": format!("{i} gone")})),
        ];
        pg.insert_many(name, &two, false).await.unwrap();
        pg.upsert_many(
            name,
            &[row(json!({"owner": format!("{i} one")}))],
            "owner",
            false,
        )
        .await
        .unwrap();
        let renamed = pg
            .update(
                name,
                &row(json!({"owner": format!("{i} three")})),
                &Filter::new().eq("owner", format!("{i} two")),
            )
            .await
            .unwrap();
        assert_eq!(renamed.len(), 1, "{name}");
        let gone = pg
            .delete(name, &Filter::new().eq("owner", format!("{i} gone")))
            .await
            .unwrap();
        assert_eq!(gone, 1, "{name}");
    }
    // `billing.items` and `BILLING.Items` are one table; every other name is its own.
    for (name, schema, table) in NAMES {
        let stored = owners(&pg, schema, table).await;
        let selected: Vec<Value> = pg
            .select(name, &Query::new().columns("owner").order_by("owner"))
            .await
            .unwrap()
            .into_iter()
            .map(|r: Row| r["owner"].clone())
            .collect();
        assert_eq!(selected, stored, "{name}");
        assert_eq!(
            pg.count(name, &Filter::new()).await.unwrap(),
            stored.len() as u64,
            "{name}"
        );
        let mut streamed = pg
            .select_json_stream(name, &Query::new().columns("owner").order_by("owner"))
            .await
            .unwrap();
        let mut n = 0;
        while let Some(text) = std::future::poll_fn(|cx| streamed.as_mut().poll_next(cx)).await {
            let value: Value = serde_json::from_str(&text.unwrap()).unwrap();
            assert_eq!(value["owner"], stored[n], "{name}");
            n += 1;
        }
        assert_eq!(n, stored.len(), "{name}");
    }
    let expect = |owners: &[&str]| owners.iter().map(|o| json!(o)).collect::<Vec<_>>();
    assert_eq!(
        owners(&pg, "public", "items").await,
        expect(&["0 one", "0 three"])
    );
    assert_eq!(
        owners(&pg, "billing", "items").await,
        expect(&["1 one", "1 three", "2 one", "2 three"])
    );
    assert_eq!(
        owners(&pg, "Billing", "Items").await,
        expect(&["3 one", "3 three"])
    );
    assert_eq!(
        owners(&pg, "Billing", "items").await,
        expect(&["4 one", "4 three"])
    );
    assert_eq!(
        owners(&pg, "my.schema", "t").await,
        expect(&["5 one", "5 three"])
    );
    assert_eq!(
        owners(&pg, "my", "schema.t").await,
        expect(&["6 one", "6 three"])
    );
    assert_eq!(
        owners(&pg, "public", "billing.items").await,
        expect(&["7 one", "7 three"])
    );
    pg.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn unqualified_names_follow_the_schema_option_and_qualified_ones_do_not() {
    let (db, pg) = setup(test_path!("schema_option"), &["schemas"]).await;
    let mut options = PostgresOptions::default();
    options.schema = Some("Billing".to_owned());
    let in_billing = PostgresAdapter::new(db.url(), options).unwrap();
    in_billing
        .insert("items", &row(json!({"owner": "via option"})))
        .await
        .unwrap();
    in_billing
        .insert("public.items", &row(json!({"owner": "qualified"})))
        .await
        .unwrap();
    assert_eq!(owners(&pg, "Billing", "items").await, [json!("via option")]);
    assert_eq!(owners(&pg, "public", "items").await, [json!("qualified")]);
    assert_eq!(owners(&pg, "billing", "items").await, Vec::<Value>::new());
    in_billing.close().await;
    pg.close().await;
    db.drop_db().await;
}

#[tokio::test]
async fn the_schema_option_is_an_exact_name() {
    let (db, pg) = setup(test_path!("schema_option_exact"), &["schemas"]).await;
    for (schema, expected) in [
        ("my.schema", "my.schema"),
        ("Billing", "Billing"),
        ("billing", "billing"),
    ] {
        let mut options = PostgresOptions::default();
        options.schema = Some(schema.to_owned());
        let scoped = PostgresAdapter::new(db.url(), options).unwrap();
        let rows = scoped
            .query("SELECT current_schema() AS s", &[])
            .await
            .unwrap();
        assert_eq!(rows[0]["s"], json!(expected), "{schema}");
        scoped.close().await;
    }
    pg.close().await;
    db.drop_db().await;
}
