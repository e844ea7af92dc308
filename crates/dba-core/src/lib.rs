//! Traits and value types shared by every dba crate.
//!
//! This is the bottom layer (layer 0): it defines *what* a database client can do ([`DatabaseClient`],
//! [`Transaction`]) and the values that cross that boundary: rows as ordered JSON objects ([`Row`]), the
//! filter, projection and ordering model ([`Filter`], [`Query`]), validated identifiers ([`Ident`],
//! [`TableName`]) and the one error type every backend returns ([`Error`], branched on with [`ErrorKind`]).
//! It knows nothing about PostgreSQL's wire protocol, PostgREST, configuration files or the command line.
//!
//! Most users depend on the `dba` facade, which re-exports this crate.
//!
//! ```
//! use dba_core::{Filter, Query};
//! use serde_json::json;
//!
//! let query = Query::new()
//!     .columns("id, name")
//!     .filter(Filter::new().gte("price", json!(10)).is_null("deleted_at"))
//!     .order_by("price DESC NULLS LAST, id")
//!     .limit(20);
//! assert!(query.validate().is_ok());
//! ```
//!
//! # How names are read
//!
//! A string that names *one column the way a row key does* (filter columns, conflict columns, the keys of a
//! row) is the exact column name. A string that is a fragment of SQL syntax (a table reference such as
//! `public.items`, a column list such as `"id, name"`, an order list such as `"d DESC"`) is read the way
//! PostgreSQL reads it: unquoted names fold to lower case, double-quoted names are exact. Either way the
//! result is a validated [`Ident`] that backends always render quoted; no input is ever spliced into SQL.
//!
//! # Architecture invariants
//!
//! - No I/O and no async runtime: the crate compiles without tokio and never names a driver
//!   (`tokio-postgres`, `postgrest`, `reqwest`).
//! - No dependency on any other dba crate.
//! - No backend types in the public API; backends convert their errors into [`Error`].

mod client;
mod error;
mod filter;
mod ident;
pub mod position;
mod query;
mod read;
mod row;

pub use crate::client::{
    Backend, Capabilities, DatabaseClient, JsonStream, PartStream, RowStream, Transaction,
};
pub use crate::error::{BoxError, DbErrorInfo, Error, ErrorKind, Result, chain_text};
pub use crate::filter::{Condition, Filter, Op};
pub use crate::ident::{Ident, TableName};
pub use crate::query::{Columns, Direction, Nulls, OrderBy, Query};
pub use crate::read::{ReadTarget, Reader};
pub use crate::row::{Row, strip_private_keys, value_to_text};
pub use serde_json::{Map, Value, json};
