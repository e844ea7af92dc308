//! Every committed fuzz input (`fuzz/corpus/<target>/`, crash reproducers included) through the fuzz
//! target's own check function, so the normal test suite keeps the corpus green without a fuzzer. The
//! checks live in `fuzz/checks/`; see docs/testing.md, "Fuzzing".

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/replay.rs"));

mod schema_sql {
    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/checks/schema_sql.rs"
    ));
}

#[test]
fn schema_sql_corpus_never_panics() {
    run("schema_sql", schema_sql::check);
}

mod column_defs {
    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/checks/column_defs.rs"
    ));
}

#[test]
fn column_defs_corpus_never_panics() {
    run("column_defs", column_defs::check);
}
