#![no_main]

include!("../checks/schema_sql.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));
