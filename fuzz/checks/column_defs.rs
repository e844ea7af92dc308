// Shared by the cargo-fuzz target fuzz_targets/column_defs.rs and the corpus regression test that runs in the
// normal test suite (see docs/testing.md, "Fuzzing"). Included with `include!`, so plain comments only.
//
// `dba_schema::parse_column_defs` (the column-defs JSON) and applying the result to a parsed schema.

use dba_schema::{apply_column_defs, parse_column_defs, parse_schema_sql};

const SCHEMA: &str = "CREATE TABLE items (id serial PRIMARY KEY, b text, e boolean, f timestamp);\n\
                      CREATE TABLE products (id int PRIMARY KEY, price int, active boolean);";

pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(defs) = parse_column_defs(text, "fuzz.json") {
        let mut catalog = parse_schema_sql(SCHEMA, "fixed.sql")
            .expect("the fixed schema parses")
            .catalog;
        let _ = apply_column_defs(&mut catalog, &defs);
    }
}
