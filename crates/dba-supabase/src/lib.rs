//! The Supabase backend for dba: the `dba-core` client trait over PostgREST.
//!
//! Layer 1 (beside `dba-postgres`). It is the only crate that may name `postgrest` or an HTTP client.
//!
//! ```no_run
//! # async fn demo() -> dba_core::Result<()> {
//! use dba_core::{DatabaseClient, Filter, Query};
//! use dba_supabase::{SupabaseAdapter, SupabaseOptions};
//!
//! let db = SupabaseAdapter::new("https://abcdefgh.supabase.co", "service-role-key", SupabaseOptions::default())?;
//! let query = Query::new()
//!     .columns("id, name")
//!     .filter(Filter::new().is_in("status", ["open", "late, very"]).is_null("deleted_at"))
//!     .order_by("created_at DESC NULLS LAST, id");
//! let rows = db.select("orders", &query).await?; // every matching row, past the 1,000-row cap
//! # Ok(()) }
//! ```
//!
//! How it talks to PostgREST:
//! - **Requests are built with the `postgrest` crate** (URL, `select`, `order`, filters, `on_conflict`,
//!   method, body, the `Accept-Profile`/`Content-Profile` schema headers), on the `reqwest` client it uses,
//!   with rustls for TLS. Where postgrest cannot express something, the finished reqwest request is
//!   amended directly: `limit`/`offset` and `columns` query parameters, a `Prefer` header replacing
//!   postgrest's own (`count=exact`, `missing=default`, `return=minimal`), and the HEAD method for counts.
//!   postgrest's `limit()`/`range()` are not used (they panic on 0 and use the `Range` header).
//! - **Names and values are encoded, never spliced** into the query grammar: names are double-quoted
//!   when they are not plain words, `in.(…)` elements are always quoted, and reqwest percent-encodes the
//!   whole query string (see the `render` module's docs for the exact rules).
//! - **Reads page** with `limit`/`offset` until a short page proves the end (see
//!   [`SupabaseOptions::max_rows`]); `select_stream` holds one page at a time.
//! - **Counts are exact**: `Prefer: count=exact` and the total of `Content-Range`, for `count` and for the
//!   rows `delete` removed.
//! - **Writes**: insert and upsert send one JSON array with `columns=` and `Prefer: missing=default`, so a
//!   key a row lacks gets its column default, as on the Postgres backend; keys starting with `_` are
//!   dropped; unfiltered update and delete are refused unless the filter is `Filter::all_rows()`.
//! - **Errors** map to the same [`ErrorKind`](dba_core::ErrorKind)s as the Postgres backend (PostgREST
//!   passes SQLSTATEs on); authentication failures are `Connection` errors; a request timeout is
//!   `Timeout`, any other transport failure `Connection`.
//!
//! Differences from the Postgres backend a caller may notice:
//! - No transactions and no raw SQL: `begin`, `execute` and `query` fail with
//!   [`ErrorKind::Unsupported`](dba_core::ErrorKind::Unsupported); ask
//!   [`capabilities`](dba_core::DatabaseClient::capabilities) first.
//! - A read that needs several pages is several statements: rows written between them may be missed or
//!   seen twice, and without an order the server's scan order decides the pages, so order large reads by
//!   a unique key.
//! - `upsert_many` sends one request per run of rows with the same keys; each request is atomic, the
//!   call as a whole is not when the rows' keys differ. `insert_many` is always one atomic request.
//! - PostgREST reads `*` in a `like`/`ilike` pattern as `%`, so a literal `*` cannot be matched.
//!
//! # Architecture invariants
//!
//! - Depends only on `dba-core` among dba crates; never on `dba-postgres`, `dba-config` or anything above.
//! - Never names `tokio-postgres` or `deadpool-postgres`.
//! - Reports its capabilities honestly: no transactions and no raw SQL.
//! - The API key never appears in `Debug` output or error messages.

mod adapter;
mod client_impl;
mod errors;
mod options;
mod paging;
mod render;

pub use crate::adapter::SupabaseAdapter;
pub use crate::options::SupabaseOptions;
