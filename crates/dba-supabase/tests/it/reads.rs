//! Select, select_stream and count: query grammar, headers and paging past the server's row cap.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dba_core::{DatabaseClient, Filter, Query, json};
use dba_supabase::SupabaseOptions;
use futures_util::{StreamExt, TryStreamExt};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use crate::{adapter, assert_auth, header, pairs, parsed, query, requests, server};

#[tokio::test]
async fn select_renders_projection_filters_order_and_paging() {
    let server = server().await;
    Mock::given(method("GET"))
        .and(path("/rest/v1/items"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("content-range", "1-2/*")
                .set_body_raw(
                    r#"[{"name":"Hammer","price":12.50},{"name":"Nail","price":0.05}]"#,
                    "application/json",
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default().schema("app"));
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
    let rows = db.select("items", &q).await.unwrap();
    assert_eq!(
        rows,
        vec![
            parsed(r#"{"name": "Hammer", "price": 12.50}"#),
            parsed(r#"{"name": "Nail", "price": 0.05}"#)
        ]
    );
    assert_eq!(
        rows[0]["price"].to_string(),
        "12.50",
        "numbers keep their digits"
    );
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        query(&sent[0]),
        pairs(&[
            ("select", "name,price"),
            ("order", "price.desc.nullslast,name.asc"),
            ("category_id", "not.is.null"),
            ("price", "gte.0.05"),
            ("limit", "2"),
            ("offset", "1"),
        ])
    );
    assert_auth(&sent[0]);
    assert_eq!(header(&sent[0], "accept-profile"), Some("app"));
    assert_eq!(header(&sent[0], "content-profile"), None);
    assert_eq!(header(&sent[0], "prefer"), None);
}

#[tokio::test]
async fn every_operator_and_hostile_names_and_values_are_encoded_not_spliced() {
    let server = server().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[]", "application/json"))
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default());
    let filter = Filter::new()
        .eq("a", 1)
        .neq("b", "x")
        .gt("c", 2)
        .lt("d", 3)
        .lte("e", "2024-01-01T00:00:00+00:00")
        .is_in(
            "name",
            [
                "a,b",
                "c)",
                "(d",
                "e.f",
                "say \"hi\"",
                "back\\slash",
                "&x=1",
            ],
        )
        .is_null("f")
        .eq("g", json!(null))
        .neq("h", json!(null))
        .like("i", "S%")
        .ilike("j", "%s_")
        .eq("x\"; drop table t; --", "1&select=*&or=(a.eq.1)")
        .eq("Mixed Case", "a,b.c(d):e");
    let q = Query::new()
        .columns("\"Mixed Case\", \"select\"")
        .filter(filter)
        .order_by("\"a.b\" ASC NULLS FIRST");
    assert!(
        db.select("public.\"We?ird/Table\"", &q)
            .await
            .unwrap()
            .is_empty()
    );
    let sent = requests(&server).await;
    assert_eq!(sent.len(), 1, "an empty page ends the read");
    assert_eq!(sent[0].url.path(), "/rest/v1/We%3Fird%2FTable");
    assert_eq!(header(&sent[0], "accept-profile"), Some("public"));
    assert_eq!(
        query(&sent[0]),
        pairs(&[
            ("select", r#""Mixed Case","select""#),
            ("order", r#""a.b".asc.nullsfirst"#),
            ("a", "eq.1"),
            ("b", "neq.x"),
            ("c", "gt.2"),
            ("d", "lt.3"),
            ("e", "lte.2024-01-01T00:00:00+00:00"),
            (
                "name",
                r#"in.("a,b","c)","(d","e.f","say \"hi\"","back\\slash","&x=1")"#
            ),
            ("f", "is.null"),
            ("g", "is.null"),
            ("h", "not.is.null"),
            ("i", "like.S*"),
            ("j", "ilike.*s_"),
            (r#""x\"; drop table t; --""#, "eq.1&select=*&or=(a.eq.1)"),
            (r#""Mixed Case""#, "eq.a,b.c(d):e"),
            ("limit", "1000"),
        ])
    );
    // Nothing the caller wrote reached the query string unencoded.
    let raw = sent[0].url.query().unwrap();
    assert!(
        !raw.contains("&select=*") && !raw.contains('"') && !raw.contains(' '),
        "{raw}"
    );
}

#[tokio::test]
async fn a_filter_that_cannot_match_sends_nothing() {
    let server = server().await;
    let db = adapter(&server, SupabaseOptions::default());
    let none = Filter::new().is_in("id", Vec::<i64>::new());
    assert!(
        db.select("items", &Query::new().filter(none.clone()))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.count("items", &none).await.unwrap(), 0);
    assert_eq!(db.delete("items", &none).await.unwrap(), 0);
    assert!(requests(&server).await.is_empty());
}

/// A PostgREST with `max-rows` = `cap` over a table of `total` rows `{"id": n}`, honouring `limit` and
/// `offset` as PostgREST does (the smaller of `limit` and the cap).
struct CappedTable {
    total: u64,
    cap: u64,
    calls: Arc<AtomicUsize>,
}

impl Respond for CappedTable {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let param = |name: &str| {
            request
                .url
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.parse::<u64>().unwrap())
        };
        let offset = param("offset").unwrap_or(0);
        let limit = param("limit").unwrap_or(u64::MAX).min(self.cap);
        let end = (offset + limit).min(self.total);
        let rows: Vec<_> = (offset..end).map(|id| json!({ "id": id })).collect();
        let range = if rows.is_empty() {
            "*/*".to_owned()
        } else {
            format!("{offset}-{}/*", end - 1)
        };
        ResponseTemplate::new(200)
            .insert_header("content-range", range.as_str())
            .set_body_json(rows)
    }
}

async fn capped(total: u64, cap: u64) -> (wiremock::MockServer, Arc<AtomicUsize>) {
    let server = server().await;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/rest/v1/big"))
        .respond_with(CappedTable {
            total,
            cap,
            calls: calls.clone(),
        })
        .mount(&server)
        .await;
    (server, calls)
}

fn ids(rows: &[dba_core::Row]) -> Vec<u64> {
    rows.iter().map(|r| r["id"].as_u64().unwrap()).collect()
}

#[tokio::test]
async fn reads_page_past_a_1000_row_cap() {
    let (server, _) = capped(2500, 1000).await;
    let db = adapter(&server, SupabaseOptions::default());
    let rows = db
        .select("big", &Query::new().order_by("id"))
        .await
        .unwrap();
    assert_eq!(ids(&rows), (0..2500).collect::<Vec<_>>());
    let windows: Vec<_> = requests(&server)
        .await
        .iter()
        .map(|r| query(r)[2..].to_vec())
        .collect();
    assert_eq!(
        windows,
        vec![
            pairs(&[("limit", "1000")]),
            pairs(&[("limit", "1000"), ("offset", "1000")]),
            pairs(&[("limit", "1000"), ("offset", "2000")]),
            // A short page is confirmed, so a cap below the page size cannot end a read early.
            pairs(&[("limit", "500"), ("offset", "2500")]),
        ]
    );
}

#[tokio::test]
async fn a_cap_below_the_page_size_never_truncates() {
    let (server, calls) = capped(2500, 1000).await;
    let db = adapter(&server, SupabaseOptions::default().page_size(5000));
    let rows = db
        .select("big", &Query::new().order_by("id"))
        .await
        .unwrap();
    assert_eq!(ids(&rows), (0..2500).collect::<Vec<_>>());
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // With a limit and an offset, paging stops exactly at the limit.
    let rows = db
        .select("big", &Query::new().order_by("id").offset(10).limit(1500))
        .await
        .unwrap();
    assert_eq!(ids(&rows), (10..1510).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_known_cap_saves_the_confirming_request() {
    let (server, calls) = capped(2500, 1000).await;
    let db = adapter(
        &server,
        SupabaseOptions::default().page_size(5000).max_rows(1000),
    );
    let rows = db
        .select("big", &Query::new().order_by("id"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2500);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn select_stream_pages_lazily() {
    let (server, calls) = capped(2500, 1000).await;
    let db = adapter(&server, SupabaseOptions::default());
    let mut stream = db
        .select_stream("big", &Query::new().order_by("id"))
        .await
        .unwrap();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the first page is read up front"
    );
    for expected in 0..1001 {
        let row = stream.next().await.unwrap().unwrap();
        assert_eq!(row["id"], json!(expected));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one page at a time");
    let rest: Vec<_> = stream.try_collect().await.unwrap();
    assert_eq!(rest.len(), 1499);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn select_one_asks_for_one_row() {
    let (server, calls) = capped(2500, 1000).await;
    let db = adapter(&server, SupabaseOptions::default());
    let one = db
        .select_one("big", &Query::new().order_by("id"))
        .await
        .unwrap();
    assert_eq!(one.unwrap()["id"], json!(0));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        query(&requests(&server).await[0])[2],
        ("limit".into(), "1".into())
    );
}

#[tokio::test]
async fn count_is_exact_from_content_range() {
    let server = server().await;
    Mock::given(method("HEAD"))
        .and(path("/rest/v1/items"))
        .respond_with(ResponseTemplate::new(206).insert_header("content-range", "0-0/4213"))
        .expect(1)
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default().schema("app"));
    let n = db
        .count("items", &Filter::new().eq("status", "open"))
        .await
        .unwrap();
    assert_eq!(n, 4213);
    let sent = requests(&server).await;
    assert_eq!(
        query(&sent[0]),
        pairs(&[("select", "*"), ("status", "eq.open"), ("limit", "1")])
    );
    assert_eq!(header(&sent[0], "prefer"), Some("count=exact"));
    assert_eq!(header(&sent[0], "accept-profile"), Some("app"));
    assert_auth(&sent[0]);
}

#[tokio::test]
async fn count_without_a_total_is_a_decode_error() {
    let server = server().await;
    Mock::given(method("HEAD"))
        .respond_with(ResponseTemplate::new(200).insert_header("content-range", "0-0/*"))
        .mount(&server)
        .await;
    let db = adapter(&server, SupabaseOptions::default());
    let err = db.count("items", &Filter::new()).await.unwrap_err();
    assert_eq!(err.kind(), dba_core::ErrorKind::Decode);
}
