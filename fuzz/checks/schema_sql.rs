// Shared by the cargo-fuzz target fuzz_targets/schema_sql.rs and the corpus regression test that runs in the
// normal test suite (see docs/testing.md, "Fuzzing"). Included with `include!`, so plain comments only.
//
// `dba_schema::parse_schema_sql` on any UTF-8 text, then the pure functions that consume its result.
// Errors are fine; a panic (or a stack overflow) is a bug.

use dba_schema::{Catalog, PlanOptions, loose, normalize_type, parse_schema_sql, plan_fix, validate};

pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = normalize_type(text);
    let _ = loose(text);
    if let Ok(expected) = parse_schema_sql(text, "fuzz.sql") {
        let empty = Catalog::default();
        let _ = validate(&expected.catalog, &empty);
        let _ = validate(&empty, &expected.catalog);
        // Not `validate(x, x).valid`: the actual side is meant to come from the catalog, where implied
        // references (`REFERENCES t` with no columns) are already resolved, so a parsed one can differ.
        let _ = validate(&expected.catalog, &expected.catalog);
        let _ = plan_fix(&expected.catalog, &empty, &PlanOptions::default());
        let _ = format!("{expected:?}");
    }
}
