//! The ACL file parser over arbitrary bytes, and what it accepts
//! described and parsed back (see `capkv_fuzz::acl_file`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| capkv_fuzz::acl_file(data));
