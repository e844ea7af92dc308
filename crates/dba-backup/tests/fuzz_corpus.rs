//! Every committed fuzz input (`fuzz/corpus/<target>/`, crash reproducers included) through the fuzz
//! target's own check function, so the normal test suite keeps the corpus green without a fuzzer. The
//! checks live in `fuzz/checks/`; see docs/testing.md, "Fuzzing".

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/replay.rs"));

mod backup_validate {
    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/checks/backup_validate.rs"
    ));
}

#[test]
fn backup_validate_corpus_never_panics() {
    run("backup_validate", backup_validate::check);
    backup_validate::cleanup();
}
