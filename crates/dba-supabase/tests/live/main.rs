//! Live test against a real Supabase project: the shared CRUD contract every backend passes
//! (`dba_testkit::contract`), which asserts refusals where this backend lacks raw SQL and transactions.
//!
//! It needs `SUPABASE_URL`, `SUPABASE_KEY` (a service-role key, so row-level security does not hide
//! rows) and the tables of `tests/fixtures/live.sql` applied in that project. No PostgREST server can
//! be installed where the suite runs, so without the two variables the test prints that it did not run
//! and why, and returns: the one exception to "live tests never skip" (docs/testing.md). The requests
//! themselves are checked offline by `tests/it`.

use std::io::Write;

use dba_supabase::{SupabaseAdapter, SupabaseOptions};
use dba_testkit::contract::ShopTables;

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::test]
async fn crud_contract_on_a_real_project() {
    let (Some(url), Some(key)) = (env("SUPABASE_URL"), env("SUPABASE_KEY")) else {
        // Written to the process's stderr directly, past the test harness's capture, so the skip shows.
        let _ = writeln!(
            std::io::stderr(),
            "dba-supabase live test NOT RUN: SUPABASE_URL and SUPABASE_KEY are not both set, and no \
             PostgREST server can be started here; set them (and apply tests/fixtures/live.sql) to run it"
        );
        return;
    };
    // A small page makes the contract's reads cross page boundaries.
    let db = SupabaseAdapter::new(&url, &key, SupabaseOptions::default().page_size(2)).unwrap();
    if let Err(e) = dba_core::DatabaseClient::test_connection(&db).await {
        panic!("the Supabase project at SUPABASE_URL does not answer: {e}");
    }
    let tables = ShopTables {
        categories: "dba_live_categories",
        items: "dba_live_items",
    };
    dba_testkit::contract::crud_contract(&db, tables).await;
}
