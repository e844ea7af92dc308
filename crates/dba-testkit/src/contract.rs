//! The CRUD contract every backend passes, so every backend proves the same behaviour.
//!
//! It runs on the two tables of the `shop` fixture (`crates/dba-postgres/tests/fixtures/shop.sql`, or
//! the `dba_live_*` copy in `crates/dba-supabase/tests/fixtures/live.sql` that a Supabase project holds).
//! Where a backend lacks a capability (raw SQL, transactions), the contract asserts the refusal instead. "Every row" deletes use a filter that matches
//! every row, because Supabase's `pg_safeupdate` refuses a DELETE without WHERE.

#![expect(
    clippy::unwrap_used,
    reason = "the contract is test code: a failed unwrap is a failed test with its location"
)]

use dba_core::{DatabaseClient, ErrorKind, Filter, Query, Row, Transaction, Value, json};
use futures_util::TryStreamExt;

/// The tables the contract runs on.
#[derive(Clone, Copy, Debug)]
pub struct ShopTables {
    /// `categories (id identity, slug unique, name)`.
    pub categories: &'static str,
    /// `items (id serial, category_id, name, price numeric(10,2) >= 0, tags text[], meta jsonb, ...)`.
    pub items: &'static str,
}

/// The tables of the `shop` fixture.
pub const SHOP: ShopTables = ShopTables {
    categories: "categories",
    items: "items",
};

fn row(value: Value) -> Row {
    value.as_object().cloned().expect("a JSON object")
}

/// A row from JSON text, keeping numbers exactly as written (`12.50` stays `12.50`).
fn parsed(text: &str) -> Row {
    serde_json::from_str(text).expect("a JSON object")
}

/// A nested transaction to run one failing statement in, when the client has transactions.
async fn scoped(db: &dyn DatabaseClient) -> Option<Box<dyn Transaction>> {
    if db.capabilities().transactions {
        Some(db.begin().await.unwrap())
    } else {
        None
    }
}

/// The client a scoped statement runs on.
fn on<'a>(
    db: &'a dyn DatabaseClient,
    scope: &'a Option<Box<dyn Transaction>>,
) -> &'a dyn DatabaseClient {
    match scope {
        Some(tx) => tx.as_ref(),
        None => db,
    }
}

/// Runs the contract on `db`; panics with the failed assertion.
pub async fn crud_contract(db: &dyn DatabaseClient, tables: ShopTables) {
    let ShopTables { categories, items } = tables;
    let every = Filter::new().is_not_null("id");
    db.delete(items, &every).await.unwrap();
    db.delete(categories, &every).await.unwrap();

    // Insert returns the stored row with defaults, in column order; `_` keys are dropped.
    let cat = db
        .insert(
            categories,
            &row(json!({"slug": "tools", "name": "Tools", "_note": "x"})),
        )
        .await
        .unwrap();
    let cat_id = cat["id"].clone();
    assert_eq!(cat.keys().collect::<Vec<_>>(), ["id", "slug", "name"]);
    let first = db
        .insert(
            items,
            &row(
                json!({"category_id": cat_id, "name": "Hammer", "price": 12.5, "tags": ["a", "b"]}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(first["tags"], json!(["a", "b"]));
    assert_eq!(first["meta"], json!(null));
    assert!(first["created_at"].is_string());

    // Insert many returns every row in order; rows with different columns keep their defaults.
    let many = db
        .insert_many(
            items,
            &[
                row(json!({"name": "Saw", "price": 30, "category_id": cat_id})),
                row(json!({"name": "Nail", "price": "0.05", "category_id": cat_id, "meta": {"pack": 100}})),
                row(json!({"name": "Glue", "price": null})),
                row(json!({"name": "Tape", "tags": ["x"], "deleted_at": "2024-01-02T03:04:05+00:00"})),
            ],
            true,
        )
        .await
        .unwrap();
    let names: Vec<_> = many.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Saw", "Nail", "Glue", "Tape"]);
    assert_eq!(
        many[0]["tags"],
        json!([]),
        "absent columns keep their defaults"
    );
    assert_eq!(many[1]["meta"], json!({"pack": 100}));
    // Only the keys asked for come back.
    let keys = db
        .insert_many_returning(
            categories,
            &[row(json!({"slug": "paint", "name": "Paint"}))],
            "id, slug",
        )
        .await
        .unwrap();
    assert_eq!(keys[0].keys().collect::<Vec<_>>(), ["id", "slug"]);
    assert_eq!(
        db.delete(categories, &Filter::new().eq("slug", "paint"))
            .await
            .unwrap(),
        1
    );

    // Select: projection, filters, multi-column order with nulls placement, limit and offset.
    let q = Query::new()
        .columns("name, price")
        .filter(
            Filter::new()
                .is_not_null("category_id")
                .gte("price", json!(0.05)),
        )
        .order_by("price DESC NULLS LAST, name")
        .limit(2)
        .offset(1);
    assert_eq!(
        db.select(items, &q).await.unwrap(),
        vec![
            parsed(r#"{"name": "Hammer", "price": 12.50}"#),
            parsed(r#"{"name": "Nail", "price": 0.05}"#)
        ]
    );
    let nulls_first = db
        .select(
            items,
            &Query::new()
                .columns("name")
                .order_by("price ASC NULLS FIRST, name"),
        )
        .await
        .unwrap();
    assert_eq!(nulls_first[0]["name"], json!("Glue"));
    assert_eq!(nulls_first.len(), 5, "reads page past the page size");
    let filtered = db
        .select(
            items,
            &Query::new().columns("name").filter(
                Filter::new()
                    .is_in("name", ["Saw", "Tape", "Nope, really (no)"])
                    .neq("name", "Tape")
                    .like("name", "S%")
                    .ilike("name", "s%"),
            ),
        )
        .await
        .unwrap();
    assert_eq!(filtered, vec![row(json!({"name": "Saw"}))]);
    let lt = db
        .select(
            items,
            &Query::new().columns("name").filter(
                Filter::new()
                    .lt("price", 1)
                    .lte("price", "0.05")
                    .gt("price", 0),
            ),
        )
        .await
        .unwrap();
    assert_eq!(lt, vec![row(json!({"name": "Nail"}))]);
    let by_map = Filter::from_json(&json!({"category_id": null, "name": "Glue"})).unwrap();
    assert_eq!(db.count(items, &by_map).await.unwrap(), 1);

    // Select one and count.
    let saw = db
        .select_one(items, &Query::new().filter(Filter::new().eq("name", "Saw")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saw["price"].to_string(), "30.00");
    assert!(
        db.select_one(
            items,
            &Query::new().filter(Filter::new().eq("name", "None"))
        )
        .await
        .unwrap()
        .is_none()
    );
    assert_eq!(db.count(items, &Filter::new()).await.unwrap(), 5);

    // Streaming select sees every row.
    let streamed: Vec<_> = db
        .select_stream(items, &Query::new().order_by("id"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(streamed.len(), 5);
    // As JSON text, the same rows.
    let texts: Vec<String> = db
        .select_json_stream(items, &Query::new().order_by("id"))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let reparsed: Vec<Row> = texts
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    assert_eq!(reparsed, streamed);

    // Update returns every updated row; `_` keys are dropped; the original's form reports no match.
    let updated = db
        .update(
            items,
            &row(json!({"price": 1, "_meta": "ignored"})),
            &Filter::new().is_null("category_id"),
        )
        .await
        .unwrap();
    assert_eq!(updated.len(), 2);
    let one: dba_core::Value = serde_json::from_str("1.00").unwrap();
    assert!(updated.iter().all(|r| r["price"] == one));
    let err = db
        .update_first(
            items,
            &row(json!({"price": 2})),
            &Filter::new().eq("name", "Nope"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoRowsMatched);
    assert_eq!(
        db.update_first(
            items,
            &row(json!({"name": "Big Saw"})),
            &Filter::new().eq("name", "Saw")
        )
        .await
        .unwrap()["name"],
        json!("Big Saw")
    );

    // Unfiltered writes are refused unless explicit.
    assert_eq!(
        db.update(items, &row(json!({"price": 0})), &Filter::new())
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        db.delete(items, &Filter::new()).await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );

    // Constraint violations have the same kinds as on Postgres. Each failing statement runs in its own
    // nested transaction where the client has them, so the contract also holds inside a transaction.
    let scope = scoped(db).await;
    let dup = on(db, &scope)
        .insert(categories, &row(json!({"slug": "tools", "name": "Again"})))
        .await
        .unwrap_err();
    assert_eq!(dup.kind(), ErrorKind::UniqueViolation, "{dup}");
    drop(scope);
    let scope = scoped(db).await;
    let check = on(db, &scope)
        .insert(items, &row(json!({"name": "Bad", "price": -1})))
        .await
        .unwrap_err();
    assert_eq!(check.kind(), ErrorKind::CheckViolation, "{check}");
    drop(scope);
    let scope = scoped(db).await;
    let missing = on(db, &scope)
        .select("dba_live_nope", &Query::new())
        .await
        .unwrap_err();
    assert_eq!(missing.sqlstate(), Some("42P01"), "{missing}");
    drop(scope);

    // Upsert on chosen conflict columns, single and many.
    let up = db
        .upsert(
            categories,
            &row(json!({"slug": "tools", "name": "Hand tools"})),
            "slug",
        )
        .await
        .unwrap();
    assert_eq!(
        (up["id"].clone(), up["name"].clone()),
        (cat_id.clone(), json!("Hand tools"))
    );
    let ups = db
        .upsert_many(
            categories,
            &[
                row(json!({"slug": "tools", "name": "Tools again"})),
                row(json!({"slug": "garden", "name": "Garden"})),
            ],
            "slug",
            true,
        )
        .await
        .unwrap();
    assert_eq!(ups.len(), 2);
    assert_eq!(ups[0]["id"], cat_id);
    assert_eq!(db.count(categories, &Filter::new()).await.unwrap(), 2);

    if db.capabilities().raw_sql {
        // Raw SQL: parameters, and rows back as JSON.
        let sql = format!("UPDATE {items} SET price = price + $1 WHERE name = $2");
        assert_eq!(
            db.execute(&sql, &[json!(1), json!("Tape")]).await.unwrap(),
            1
        );
        let sql = format!(
            "SELECT name, price FROM {items} WHERE price > $1 ORDER BY price DESC LIMIT 1;"
        );
        assert_eq!(
            db.query(&sql, &[json!(10)]).await.unwrap(),
            vec![parsed(r#"{"name": "Big Saw", "price": 30.00}"#)]
        );
        let sql = format!("INSERT INTO {categories} (slug, name) VALUES ($1, $2) RETURNING slug");
        assert_eq!(
            db.query(&sql, &[json!("x"), json!("X")]).await.unwrap(),
            vec![row(json!({"slug": "x"}))]
        );
        assert_eq!(
            db.delete(categories, &Filter::new().eq("slug", "x"))
                .await
                .unwrap(),
            1
        );
    } else {
        // Raw SQL is refused, as the capabilities say.
        assert_eq!(
            db.execute("SELECT 1", &[]).await.unwrap_err().kind(),
            ErrorKind::Unsupported
        );
        assert_eq!(
            db.query("SELECT 1", &[]).await.unwrap_err().kind(),
            ErrorKind::Unsupported
        );
    }
    if !db.capabilities().transactions {
        assert_eq!(
            db.begin().await.err().unwrap().kind(),
            ErrorKind::Unsupported
        );
    }

    // Delete returns how many rows went.
    assert_eq!(
        db.delete(items, &Filter::new().eq("name", "Tape"))
            .await
            .unwrap(),
        1
    );
    assert_eq!(db.delete(items, &every).await.unwrap(), 4);
    assert_eq!(db.delete(categories, &every).await.unwrap(), 2);
    db.test_connection().await.unwrap();
}
