#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| coffer_vault_fuzz::unlock_key(data));
