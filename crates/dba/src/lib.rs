//! Async CRUD over JSON rows for PostgreSQL and Supabase, with named profiles, schema checks, drift repair,
//! backup/restore and sync.
//!
//! This is the facade (layer 4): it re-exports the dba crates behind cargo features, so applications depend
//! on `dba` alone, or on `dba-core` plus one backend.
//!
//! ```no_run
//! use dba::{DatabaseClient, Filter, Query, json};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // `./db.toml` (or `DBA_CONFIG`), and the profile the one rule picks: `DB_PROFILE`, the `.db-profile`
//! // lock file, then `DATABASE_URL`. An unreachable database is an error, never "connected".
//! let (resolved, db) = dba::connect_profile(None, None, "").await?;
//! println!("connected to {}", resolved.display_target());
//!
//! let row = json!({"name": "Hammer", "price": "12.50"});
//! let created = db.insert("items", row.as_object().expect("an object")).await?;
//! let cheap = Query::new().filter(Filter::new().lt("price", 20)).order_by("price DESC");
//! let rows = db.select("items", &cheap).await?;
//!
//! let tx = db.begin().await?; // a transaction is itself a client; dropping it rolls back
//! tx.delete("items", &Filter::new().eq("id", created["id"].clone())).await?;
//! tx.commit().await?;
//! # Ok(()) }
//! ```
//!
//! A profile with a standby (`read_url` in db.toml) keeps every call above on the primary; reads that need
//! no fresh write go to the standby only when asked for: `db.reader().await` gives a
//! [`Reader`] whose [`client`](crate::Reader::client) reads there while the standby keeps up
//! (else on the primary, with the reason in [`fallback`](crate::Reader::fallback)) and still writes to the
//! primary.
//!
//! Runnable programs, each in scratch databases it creates and drops, are in `crates/dba/examples/`:
//! `crud`, `transactions`, `batch`, `profiles`, `schema`, `backup_restore` and `sync`
//! (`cargo run -p dba --all-features --example sync`).
//!
//! # Feature flags
//!
//! | feature    | enables                                             | default |
//! |------------|-----------------------------------------------------|---------|
//! | `postgres` | `postgres`: the direct PostgreSQL backend           | yes     |
//! | `config`   | `config`: profiles loaded from `db.toml`            | yes     |
//! | `supabase` | `supabase`: the Supabase (PostgREST) backend        | no      |
//! | `schema`   | `schema`: introspection, validation and fix plans   | no      |
//! | `backup`   | `backup`: backup, restore and sync                  | no      |
//! | `full`     | all of the above                                    | no      |
//!
//! # Architecture invariants
//!
//! - Never depends on `dba-cli`, `clap` or `anyhow`.
//! - Holds no logic beyond re-exports and the profile-to-client factory ([`connect`], [`client`],
//!   [`connect_profile`], [`default_client`]), which builds the backend a profile's `provider` names.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(inline)]
pub use dba_core::*;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[doc(inline)]
pub use dba_postgres as postgres;

#[cfg(feature = "supabase")]
#[cfg_attr(docsrs, doc(cfg(feature = "supabase")))]
#[doc(inline)]
pub use dba_supabase as supabase;

#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
#[doc(inline)]
pub use dba_config as config;

#[cfg(feature = "schema")]
#[cfg_attr(docsrs, doc(cfg(feature = "schema")))]
#[doc(inline)]
pub use dba_schema as schema;

#[cfg(feature = "backup")]
#[cfg_attr(docsrs, doc(cfg(feature = "backup")))]
#[doc(inline)]
pub use dba_backup as backup;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use dba_postgres::PostgresAdapter;

#[cfg(feature = "config")]
mod factory;
#[cfg(all(feature = "config", feature = "schema"))]
mod validate;

#[cfg(all(feature = "config", feature = "schema"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "config", feature = "schema"))))]
pub use crate::validate::{
    ConnectOptions, ConnectionResult, connect_and_validate, connect_and_validate_with,
};

#[cfg(feature = "config")]
#[cfg_attr(docsrs, doc(cfg(feature = "config")))]
pub use crate::factory::{Client, ConnectError, client, connect, connect_profile, default_client};
