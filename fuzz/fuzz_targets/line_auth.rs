//! The line protocol fed `AUTH <bytes>` lines, each AUTH checked against a
//! password (see `capkv_fuzz::line_auth`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| capkv_fuzz::line_auth(data));
