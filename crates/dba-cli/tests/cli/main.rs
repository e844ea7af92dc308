//! End-to-end tests of the `dba` binary: the real executable against real PostgreSQL databases (one per
//! test, from `dba-testkit`), run in a temporary working directory holding db.toml, with an explicit
//! environment. The "full" and "drift" fixtures are the Python original's live scenarios.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

mod backup;
mod composite;
mod connect;
mod corpus;
mod errors;
mod fix;
mod injection;
mod interrupt;
mod offline;
mod partitions;
mod positions;
mod profile_schema;
mod profiles;
mod replica;
mod restore;
mod schemas;
mod secrets;
mod status;
mod support;
mod sync;
mod validate;
