#![no_main]

include!("../checks/idents.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));
