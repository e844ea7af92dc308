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
mod dates;
mod escape;
mod exec;
mod health;
mod json_out;
mod lanes;
mod ops;
mod pool;
mod replica;
mod settings;
mod shape;
mod sql;
mod table_shape;
mod tls;
mod transaction;
mod tx_state;

pub use crate::adapter::{PoolStatus, PostgresAdapter};
pub use crate::settings::{PostgresOptions, StatementMode, redact};
pub use crate::tls::SslMode;
pub use crate::transaction::PgTransaction;

#[cfg(test)]
mod layering {
    //! Keeps the modules in one direction: a module names (in code or in doc links) only modules in
    //! lower layers, so a row can be followed downward without looping back.

    /// The modules from the top down; a module may name only modules in later entries.
    const LAYERS: &[&[&str]] = &[
        // The trait impls: the adapter (with its standby) hands out transactions.
        &["adapter", "replica"],
        &["transaction"],
        // Shared trait plumbing.
        &["client_impl"],
        // The operations.
        &["ops"],
        // Bulk paths.
        &["copy", "json_out"],
        // Table shapes from the catalog.
        &["shape"],
        // The statement executor.
        &["exec"],
        // The connection a transaction shares, and those shared by pipelined calls.
        &["tx_state", "lanes"],
        // The pool's connections.
        &["pool"],
        // Leaves.
        &[
            "sql",
            "settings",
            "health",
            "table_shape",
            "escape",
            "dates",
        ],
        &["tls"],
    ];

    /// Edges within one layer that are allowed: the standby is itself an adapter, and the adapter routes
    /// a reader's reads through it.
    const SAME_LAYER: &[(&str, &str)] = &[("adapter", "replica"), ("replica", "adapter")];

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|layer| layer.contains(&module))
    }

    /// The modules `text` names as `crate::<module>`.
    fn named_modules(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            if rest.starts_with('{') {
                let end = rest.find('}').unwrap_or(rest.len());
                for item in rest[1..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    found.push(name);
                }
            } else {
                found.push(
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect(),
                );
            }
        }
        found.retain(|name| !name.is_empty());
        found
    }

    #[test]
    fn grouped_imports_are_read() {
        assert_eq!(
            named_modules("use crate::{copy, json_out};\nlet x = crate::ops::run();"),
            ["copy", "json_out", "ops"]
        );
    }

    #[test]
    fn every_module_names_only_modules_below_it() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut upward = Vec::new();
        let mut seen = 0;
        for entry in std::fs::read_dir(&src).expect("src/ is readable") {
            let path = entry.expect("a directory entry").path();
            let module = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a UTF-8 file name")
                .to_owned();
            if module == "lib" || path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            seen += 1;
            let from = layer_of(&module)
                .unwrap_or_else(|| panic!("src/{module}.rs has no layer in `LAYERS`"));
            let text = std::fs::read_to_string(&path).expect("a module is readable");
            for used in named_modules(&text) {
                if used == module || SAME_LAYER.contains(&(module.as_str(), used.as_str())) {
                    continue;
                }
                let to = layer_of(&used)
                    .unwrap_or_else(|| panic!("src/{module}.rs names unknown module `{used}`"));
                if to <= from {
                    upward.push(format!("{module} -> {used}"));
                }
            }
        }
        upward.sort();
        upward.dedup();
        assert!(
            upward.is_empty(),
            "modules naming a module at or above their layer: {upward:?}"
        );
        // Every layer entry is a file: a renamed module cannot leave its rule behind.
        assert_eq!(seen, LAYERS.iter().map(|l| l.len()).sum::<usize>());
    }
}
