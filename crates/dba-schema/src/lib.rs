//! Schema tooling for dba: live introspection, the expected schema from `schema.sql`, comparison, and fix
//! plans that repair drift without losing a row.
//!
//! Layer 2. It talks to the database only through the `dba-core` client trait.
//!
//! - [`introspect`] reads a live database's [`Catalog`] from `pg_catalog` in [`CATALOG_QUERIES`] queries,
//!   for one or several schemas ([`IntrospectOptions`]).
//! - [`read_schema_file`] / [`parse_schema_sql`] read the expected [`Catalog`] from `schema.sql` with
//!   sqlparser's PostgreSQL dialect ([`read_schema_file_in`] / [`parse_schema_sql_in`] when unqualified
//!   names belong to a profile's schema other than `public`); [`read_column_defs`] reads the original's
//!   column-defs JSON. Parse errors name the file, line and column (in characters). For a live-to-live
//!   diff, introspect both databases.
//! - [`render_views`] lets PostgreSQL print the expected views' queries (in a rolled-back transaction), so
//!   that views compare by what they do rather than by how the file spells them.
//! - [`validate`] compares two catalogs (pure) into a [`ValidationResult`] that keeps the Python original's
//!   fields and report text and adds typed [`Difference`]s; [`validate`] documents which differences make a
//!   schema invalid (type and nullability drift do; textual default differences are warnings).
//! - [`plan_fix`] turns the drift into a [`FixPlan`] (pure): ordered [`Step`]s, each with its [`Hazard`];
//!   additive by default, alterations only when opted into. [`apply`] runs it in one transaction, verifies
//!   by re-introspecting, and rolls back on any failure. Backing up first is the caller's job:
//!   [`FixPlan::tables_to_back_up`] names the existing tables a plan touches.
//!
//! ```
//! use dba_schema::{PlanOptions, parse_schema_sql, plan_fix, validate};
//!
//! let expected = parse_schema_sql(
//!     "CREATE TABLE items (id serial PRIMARY KEY, name varchar(20) NOT NULL, price numeric(10,2) DEFAULT 0);",
//!     "schema.sql",
//! )?
//! .catalog;
//! let live = parse_schema_sql("CREATE TABLE items (id integer PRIMARY KEY DEFAULT nextval('items_id_seq'::regclass), \
//!     name character varying(20) NOT NULL);", "live")?
//! .catalog;
//! let result = validate(&expected, &live);
//! assert!(!result.valid);
//! assert_eq!(result.format_report(), "Schema validation failed:\n\n  Missing columns (1):\n    - items.price");
//! let plan = plan_fix(&expected, &live, &PlanOptions::default())?;
//! assert_eq!(
//!     plan.steps[0].sql,
//!     "ALTER TABLE \"public\".\"items\" ADD COLUMN \"price\" numeric(10,2) DEFAULT 0"
//! );
//! # Ok::<(), dba_schema::SchemaError>(())
//! ```
//!
//! # Architecture invariants
//!
//! - Never names a driver (`tokio-postgres`, `postgrest`, `reqwest`) in its normal dependencies; backends
//!   appear only as dev-dependencies for live tests.
//! - Never depends on `dba-backup`, the facade or the CLI.
//! - Comparison and fix planning are pure values; applying a plan is a separate, transactional step.
//! - No fix step drops a table or a column, and none uses `CASCADE`.

mod apply;
mod bounds;
mod column_defs;
mod compare;
mod error;
mod introspect;
mod model;
mod normalize;
mod parse;
mod plan;
mod views;

pub use crate::apply::{ApplyOptions, FixReport, apply};
pub use crate::column_defs::{apply_column_defs, parse_column_defs, read_column_defs};
pub use crate::compare::{ColumnDiff, Difference, Severity, ValidationResult, validate};
pub use crate::error::SchemaError;
pub use crate::introspect::{
    CATALOG_QUERIES, DEFAULT_EXCLUDED_TABLES, IntrospectOptions, introspect,
};
pub use crate::model::{
    Catalog, CheckConstraint, Column, DEFAULT_SCHEMA, EnumType, ForeignKey, Function, Identity,
    Index, PrimaryKey, Sequence, Table, TableKind, Trigger, UniqueConstraint, View, ViewColumn,
    object_key,
};
pub use crate::normalize::{loose, normalize_type};
pub use crate::parse::{
    ExpectedSchema, SkippedStatement, parse_schema_sql, parse_schema_sql_in, read_schema_file,
    read_schema_file_in,
};
pub use crate::plan::{FixPlan, Hazard, NotFixed, PlanOptions, Step, StepKind, plan_fix};
pub use crate::views::render_views;
