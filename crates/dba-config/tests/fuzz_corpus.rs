//! Every committed fuzz input (`fuzz/corpus/<target>/`, crash reproducers included) through the fuzz
//! target's own check function, so the normal test suite keeps the corpus green without a fuzzer. The
//! checks live in `fuzz/checks/`; see docs/testing.md, "Fuzzing".

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/replay.rs"));

mod config {
    include!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/checks/config.rs"
    ));
}

#[test]
fn config_corpus_never_panics() {
    run("config", config::check);
}
