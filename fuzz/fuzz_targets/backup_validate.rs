#![no_main]

include!("../checks/backup_validate.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));
