//! Drives the RESP parser (multibulk and inline) the way the server does,
//! over arbitrary bytes cut into arbitrary reads.
#![no_main]

use capkv::protocol::Dialect;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| capkv_fuzz::check(Dialect::Resp2, data));
