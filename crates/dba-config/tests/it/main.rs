//! Offline integration tests of dba-config: fixture files and the secret-leak matrix.

mod fixtures;
mod no_panic;
mod secrets;
