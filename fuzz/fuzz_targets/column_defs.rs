#![no_main]

include!("../checks/column_defs.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));
