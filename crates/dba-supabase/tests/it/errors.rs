//! Error kinds from PostgREST bodies, HTTP statuses and the transport; honest capabilities.

use std::time::Duration;

use dba_core::{Capabilities, DatabaseClient, ErrorKind, Filter, Query, json};
use dba_supabase::{SupabaseAdapter, SupabaseOptions};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::{KEY, adapter, requests, row, server};

async fn answering(status: u16, body: &str) -> (wiremock::MockServer, SupabaseAdapter) {
    let server = server().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(
            ResponseTemplate::new(status).set_body_raw(body.to_owned(), "application/json"),
        )
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default());
    (server, db)
}

#[tokio::test]
async fn a_unique_violation_is_the_same_kind_as_on_postgres() {
    let (_server, db) = answering(
        409,
        r#"{"code":"23505","details":"Key (slug)=(tools) already exists.","hint":null,"message":"duplicate key value violates unique constraint \"categories_slug_key\""}"#,
    )
    .await;
    let err = db
        .insert("categories", &row(json!({"slug": "tools", "name": "T"})))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UniqueViolation);
    assert_eq!(err.sqlstate(), Some("23505"));
    assert_eq!(
        err.to_string(),
        "unique violation: insert into categories: duplicate key value violates unique constraint \
         \"categories_slug_key\": Key (slug)=(tools) already exists. (SQLSTATE 23505)"
    );
    assert!(!format!("{err:?}").contains(KEY));
}

#[tokio::test]
async fn constraint_violations_keep_their_kinds() {
    for (code, kind) in [
        ("23503", ErrorKind::ForeignKeyViolation),
        ("23502", ErrorKind::NotNullViolation),
        ("23514", ErrorKind::CheckViolation),
        ("22P02", ErrorKind::InvalidInput),
        ("57014", ErrorKind::Timeout),
        ("42501", ErrorKind::Database),
    ] {
        let body = format!(r#"{{"code":"{code}","message":"m","details":null,"hint":null}}"#);
        let (_server, db) = answering(400, &body).await;
        let err = db
            .update(
                "items",
                &row(json!({"price": -1})),
                &Filter::new().eq("id", 1),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{code}");
        assert_eq!(err.sqlstate(), Some(code));
    }
}

#[tokio::test]
async fn a_missing_table_is_42p01() {
    let (_server, db) = answering(
        404,
        r#"{"code":"PGRST205","details":null,"hint":"Perhaps you meant the table 'public.items'","message":"Could not find the table 'public.itemz' in the schema cache"}"#,
    )
    .await;
    let err = db.select("itemz", &Query::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Database);
    assert_eq!(err.sqlstate(), Some("42P01"));
    assert!(err.to_string().contains("select from itemz"), "{err}");
    let err = db
        .select_stream("itemz", &Query::new())
        .await
        .err()
        .unwrap();
    assert_eq!(err.sqlstate(), Some("42P01"), "a stream fails up front");
}

#[tokio::test]
async fn a_refused_key_is_an_authentication_error() {
    let (_server, db) = answering(
        401,
        r#"{"message":"Invalid API key","hint":"Double check your Supabase `anon` or `service_role` API key."}"#,
    )
    .await;
    let err = db.count("items", &Filter::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    let err = db.test_connection().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(
        err.to_string().contains("authentication failed (HTTP 401"),
        "{err}"
    );
    assert!(err.to_string().contains("Invalid API key"), "{err}");
    assert!(!err.to_string().contains(KEY) && !format!("{err:?}").contains(KEY));
}

#[tokio::test]
async fn a_singular_miss_is_not_found() {
    let (_server, db) = answering(
        406,
        r#"{"code":"PGRST116","details":"The result contains 0 rows","hint":null,"message":"JSON object requested, multiple (or no) rows returned"}"#,
    )
    .await;
    let err = db.select("items", &Query::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn a_slow_server_is_a_timeout() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw("[]", "application/json")
                .set_delay(Duration::from_secs(5)),
        )
        .mount(&server)
        .await;
    let db = adapter(
        &server,
        SupabaseOptions::default().request_timeout(Duration::from_millis(200)),
    );
    let err = db.select("items", &Query::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        err.to_string()
            .contains("no response from PostgREST within 200ms"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_a_connection_error() {
    // Bind a port, then free it, so nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let db = SupabaseAdapter::new(
        &format!("http://127.0.0.1:{port}"),
        KEY,
        SupabaseOptions::default(),
    )
    .unwrap();
    let err = db.select("items", &Query::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(!format!("{err:?}").contains(KEY));
}

#[tokio::test]
async fn capabilities_are_honest_and_raw_sql_is_refused_without_a_request() {
    let server = server().await;
    let db = adapter(&server, SupabaseOptions::default());
    assert_eq!(db.capabilities(), Capabilities::REST);
    assert_eq!(db.backend(), dba_core::Backend::Supabase);
    let err = db.execute("DELETE FROM items", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert_eq!(
        err.to_string(),
        "unsupported: the Supabase backend does not support raw SQL (execute)"
    );
    let err = db.query("SELECT 1", &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    let err = db.begin().await.err().unwrap();
    assert_eq!(
        err.to_string(),
        "unsupported: the Supabase backend does not support transactions (begin)"
    );
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn test_connection_then_close() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/rest/v1/"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("{}", "application/openapi+json"))
        .expect(1)
        .mount(&server)
        .await;
    let db = SupabaseAdapter::connect(&server.uri(), KEY).await.unwrap();
    db.close().await;
    let err = db.select("items", &Query::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert_eq!(
        db.test_connection().await.unwrap_err().kind(),
        ErrorKind::Connection
    );
    assert_eq!(requests(&server).await.len(), 1);
}

#[tokio::test]
async fn an_access_token_replaces_the_key_as_bearer() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[]", "application/json"))
        .mount(&server)
        .await;
    let db = adapter(
        &server,
        SupabaseOptions::default().access_token("user.jwt.token"),
    );
    db.select("items", &Query::new()).await.unwrap();
    let sent = requests(&server).await;
    let h = |n: &str| sent[0].headers.get(n).unwrap().to_str().unwrap().to_owned();
    assert_eq!(h("apikey"), KEY);
    assert_eq!(h("authorization"), "Bearer user.jwt.token");
}
