//! The `capkv` binary: parse configuration, start logging, run the server.

fn main() {}
