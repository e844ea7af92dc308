//! The PostgreSQL backend for dba: the `dba-core` client trait over a deadpool-postgres pool.
//!
//! Layer 1 (beside `dba-supabase`). It is the only library crate that names `tokio-postgres` or
//! `deadpool-postgres`.
//!
//! How it talks to PostgreSQL:
//! - **Rows are JSON, converted by the server.** Reads run `row_to_json(...)::text`; writes pass rows as
//!   one JSON parameter to `json_populate_record(set)`. Every type keeps its exact value (numeric digits,
//!   timestamps with offsets, bytea, arrays, json and jsonb, enums, domains) with no client-side type table.
//! - **Bulk paths that give the same result faster.** Streamed selects encode bool, integer, text, json,
//!   jsonb and uuid columns on the client from the binary protocol, byte for byte as `row_to_json` would
//!   (the server converts the other types per column). `insert_many` of 1,000 rows or more that returns
//!   nothing goes through `COPY FROM STDIN` where that stores what `json_populate_recordset` would.
//! - **Values are bound as text**, parsed by the column type's own input function; identifiers are always
//!   quoted. No input is ever spliced into SQL text.
//! - **Batches are one statement** per 10,000 rows (no 65,535-parameter limit), atomic across statements.
//! - **Pooler-proof.** [`StatementMode::Unnamed`] sends Parse/Bind/Execute with an unnamed statement in one
//!   round trip, and is chosen automatically behind a transaction-mode pooler (port 6543 or
//!   `pgbouncer=true`).
//! - **A read-only standby on request.** [`PostgresAdapter::with_standby`] adds a streaming replica; only
//!   the reads asked for through [`reader`](dba_core::DatabaseClient::reader) go there, and only while it
//!   keeps within the lag allowed (else they go to the primary, with the reason). Writes and transactions
//!   always run on the primary.
//! - **TLS by rustls** for every libpq `sslmode`; `require`, `verify-ca` and `verify-full` never fall back to
//!   plaintext.
//!
//! ```no_run
//! # async fn demo() -> dba_core::Result<()> {
//! use dba_core::{DatabaseClient, Filter, Query, Transaction, json};
//! use dba_postgres::{PostgresAdapter, PostgresOptions, StatementMode};
//!
//! let mut options = PostgresOptions::default();
//! options.statement_mode = StatementMode::Unnamed; // e.g. behind PgBouncer in transaction mode
//! let db = PostgresAdapter::new("postgresql://app@localhost/shop?sslmode=verify-full", options)?;
//! let tx = db.begin().await?;
//! let row = json!({"name": "Saw", "price": "30.00"});
//! let saw = tx.insert("items", row.as_object().expect("an object")).await?;
//! tx.commit().await?;
//! let same = db.select_one("items", &Query::new().filter(Filter::new().eq("id", saw["id"].clone()))).await?;
//! assert_eq!(same, Some(saw));
//! # Ok(()) }
//! ```
//!
//! # Architecture invariants
//!
//! - Depends only on `dba-core` among dba crates; never on `dba-supabase`, `dba-config` or anything above.
//! - Never names `postgrest`, `reqwest`, `clap` or `anyhow`.
//! - No public item exposes a tokio-postgres or deadpool type.

mod adapter;
mod client_impl;
mod copy;
mod exec;
mod health;
mod json_out;
mod ops;
mod replica;
mod settings;
mod shape;
mod sql;
mod tls;
mod transaction;

pub use crate::adapter::{PoolStatus, PostgresAdapter};
pub use crate::settings::{PostgresOptions, StatementMode, redact};
pub use crate::tls::SslMode;
pub use crate::transaction::PgTransaction;
