//! Insert, update, upsert and delete: methods, Prefer headers, columns, bodies and refusals.

use dba_core::{DatabaseClient, ErrorKind, Filter, Value, json};
use dba_supabase::SupabaseOptions;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::{adapter, assert_auth, header, pairs, query, requests, row, server};

fn body(request: &wiremock::Request) -> Value {
    serde_json::from_slice(&request.body).unwrap()
}

#[tokio::test]
async fn insert_many_sends_one_array_with_columns_and_defaults_for_missing_keys() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/rest/v1/items"))
        .respond_with(ResponseTemplate::new(201).set_body_raw(
            r#"[{"id":1,"name":"Saw","price":30.00,"tags":[]},{"id":2,"name":"Nail","price":0.05,"tags":["x"]}]"#,
            "application/json",
        ))
        .expect(1)
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default().schema("app"));
    let rows = db
        .insert_many(
            "items",
            &[
                row(json!({"name": "Saw", "price": 30, "_meta": "dropped"})),
                row(json!({"name": "Nail", "tags": ["x"], "price": "0.05"})),
            ],
            true,
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["price"].to_string(), "0.05");
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_auth(&sent[0]);
    assert_eq!(query(&sent[0]), pairs(&[("columns", "name,price,tags")]));
    assert_eq!(
        header(&sent[0], "prefer"),
        Some("return=representation,missing=default")
    );
    assert_eq!(header(&sent[0], "content-profile"), Some("app"));
    assert_eq!(header(&sent[0], "accept-profile"), None);
    assert_eq!(header(&sent[0], "content-type"), Some("application/json"));
    assert_eq!(
        body(&sent[0]),
        json!([{"name": "Saw", "price": 30}, {"name": "Nail", "tags": ["x"], "price": "0.05"}])
    );
}

#[tokio::test]
async fn insert_returns_the_stored_row_and_minimal_returns_nothing() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/rest/v1/categories"))
        .respond_with(ResponseTemplate::new(201).set_body_raw(
            r#"[{"id":7,"slug":"tools","name":"Tools"}]"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default());
    let stored = db
        .insert(
            "categories",
            &row(json!({"slug": "tools", "name": "Tools", "_note": "x"})),
        )
        .await
        .unwrap();
    assert_eq!(
        stored,
        row(json!({"id": 7, "slug": "tools", "name": "Tools"}))
    );
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        ["id", "slug", "name"],
        "column order is kept"
    );
    assert!(
        db.insert_many("categories", &[], true)
            .await
            .unwrap()
            .is_empty()
    );
    let none = db
        .insert_many(
            "categories",
            &[row(json!({"slug": "a", "name": "A"}))],
            false,
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2, "an empty insert sends nothing");
    assert_eq!(body(&sent[0]), json!([{"slug": "tools", "name": "Tools"}]));
    assert_eq!(
        header(&sent[1], "prefer"),
        Some("return=minimal,missing=default")
    );
}

#[tokio::test]
async fn update_patches_filtered_rows_and_refuses_unfiltered_ones() {
    let server = server().await;
    Mock::given(method("PATCH"))
        .and(path("/rest/v1/items"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"[{"id":3,"price":1.00},{"id":4,"price":1.00}]"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default().schema("app"));
    let updated = db
        .update(
            "items",
            &row(json!({"price": 1, "_meta": "ignored"})),
            &Filter::new().is_null("category_id").lt("id", 10),
        )
        .await
        .unwrap();
    assert_eq!(updated.len(), 2);
    let err = db
        .update("items", &row(json!({"price": 0})), &Filter::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(
        err.to_string(),
        "invalid input: refusing update of items without a filter; pass Filter::all_rows() to touch every row"
    );
    let err = db
        .update(
            "items",
            &row(json!({"_only": 1})),
            &Filter::new().eq("id", 1),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    db.update("items", &row(json!({"price": 2})), &Filter::all_rows())
        .await
        .unwrap();
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2, "refused updates send nothing");
    assert_auth(&sent[0]);
    assert_eq!(
        query(&sent[0]),
        pairs(&[("category_id", "is.null"), ("id", "lt.10")])
    );
    assert_eq!(header(&sent[0], "prefer"), Some("return=representation"));
    assert_eq!(header(&sent[0], "content-profile"), Some("app"));
    assert_eq!(body(&sent[0]), json!({"price": 1}));
    assert!(query(&sent[1]).is_empty(), "all_rows sends no filter");
}

#[tokio::test]
async fn update_first_reports_no_rows_matched() {
    let server = server().await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[]", "application/json"))
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default());
    let err = db
        .update_first(
            "items",
            &row(json!({"price": 2})),
            &Filter::new().eq("name", "Nope"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoRowsMatched);
}

#[tokio::test]
async fn upsert_merges_on_the_chosen_columns() {
    let server = server().await;
    Mock::given(method("POST"))
        .and(path("/rest/v1/categories"))
        .respond_with(ResponseTemplate::new(201).set_body_raw(
            r#"[{"id":7,"slug":"tools","name":"Hand tools"}]"#,
            "application/json",
        ))
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default());
    let up = db
        .upsert(
            "categories",
            &row(json!({"slug": "tools", "name": "Hand tools"})),
            "slug, \"Tenant Id\"",
        )
        .await
        .unwrap();
    assert_eq!(up["id"], json!(7));
    // Rows with different keys go in separate requests, so each updates only its own columns.
    db.upsert_many(
        "categories",
        &[
            row(json!({"slug": "a", "name": "A"})),
            row(json!({"slug": "b", "name": "B"})),
            row(json!({"slug": "c"})),
        ],
        "slug",
        false,
    )
    .await
    .unwrap();
    let err = db
        .upsert("categories", &row(json!({"slug": "x"})), "*")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 3);
    assert_eq!(
        query(&sent[0]),
        pairs(&[
            ("on_conflict", "slug,\"Tenant Id\""),
            ("columns", "slug,name")
        ])
    );
    assert_eq!(
        header(&sent[0], "prefer"),
        Some("return=representation,resolution=merge-duplicates,missing=default")
    );
    assert_auth(&sent[0]);
    assert_eq!(
        body(&sent[1]),
        json!([{"slug": "a", "name": "A"}, {"slug": "b", "name": "B"}])
    );
    assert_eq!(
        header(&sent[1], "prefer"),
        Some("return=minimal,resolution=merge-duplicates,missing=default")
    );
    assert_eq!(
        query(&sent[2]),
        pairs(&[("on_conflict", "slug"), ("columns", "slug")])
    );
    assert_eq!(body(&sent[2]), json!([{"slug": "c"}]));
}

#[tokio::test]
async fn delete_counts_what_went_and_refuses_unfiltered_deletes() {
    let server = server().await;
    Mock::given(method("DELETE"))
        .and(path("/rest/v1/items"))
        .respond_with(ResponseTemplate::new(204).insert_header("content-range", "*/3"))
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default().schema("app"));
    let n = db
        .delete(
            "items",
            &Filter::new().eq("name", "Tape").is_in("id", [1, 2, 3]),
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    let err = db.delete("items", &Filter::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(db.delete("items", &Filter::all_rows()).await.unwrap(), 3);
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 2);
    assert_auth(&sent[0]);
    assert_eq!(
        query(&sent[0]),
        pairs(&[("name", "eq.Tape"), ("id", "in.(\"1\",\"2\",\"3\")")])
    );
    assert_eq!(
        header(&sent[0], "prefer"),
        Some("return=minimal,count=exact")
    );
    assert_eq!(header(&sent[0], "content-profile"), Some("app"));
    assert!(query(&sent[1]).is_empty());
}
