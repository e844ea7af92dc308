//! The Supabase backend against an in-process HTTP server that checks the exact requests PostgREST
//! expects (paths, query grammar, headers, bodies) and answers as PostgREST documents.
#![expect(
    clippy::unwrap_used,
    reason = "a failed unwrap in a test is a failed test with its location"
)]

mod errors;
mod reads;
mod writes;

use dba_core::{Row, Value};
use dba_supabase::{SupabaseAdapter, SupabaseOptions};
use wiremock::{MockServer, Request};

const KEY: &str = "test-service-key";

async fn server() -> MockServer {
    MockServer::start().await
}

fn adapter(server: &MockServer, options: SupabaseOptions) -> SupabaseAdapter {
    SupabaseAdapter::new(&server.uri(), KEY, options).unwrap()
}

/// Every request the server received, in order.
async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

/// The decoded query parameters of a request, in order.
fn query(request: &Request) -> Vec<(String, String)> {
    request
        .url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).map(|v| v.to_str().unwrap())
}

/// Checks the headers every request carries: the key twice, and JSON accepted.
fn assert_auth(request: &Request) {
    assert_eq!(header(request, "apikey"), Some(KEY));
    assert_eq!(
        header(request, "authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(header(request, "accept"), Some("application/json"));
}

fn row(value: Value) -> Row {
    value.as_object().cloned().expect("a JSON object")
}

/// A row from JSON text, keeping numbers exactly as written (`12.50` stays `12.50`).
fn parsed(text: &str) -> Row {
    serde_json::from_str(text).expect("a JSON object")
}
