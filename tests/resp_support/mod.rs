//! Helpers shared by the `resp_*` integration tests: a `redis` crate
//! connection to a [`TestServer`], and raw RESP over TCP for the replies
//! the `redis` crate parses away (exact error texts, framing, closing).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use capkv::protocol::encode_command;

use crate::common::{Client, TestServer};

/// Where the tests send their requests: `server`, unless
/// `CAPKV_RESP_TESTS_AGAINST=host:port` names another server. Pointing it at
/// a real `redis-server` (with `--test-threads=1`: the tests flush) checks
/// that the expected replies are Redis's own; the few tests of
/// capkv-specific behaviour (limits, SELECT 1, INFO's `capkv_` fields) are
/// skipped.
pub fn target(server: &TestServer) -> SocketAddr {
    match std::env::var("CAPKV_RESP_TESTS_AGAINST") {
        Ok(addr) => addr.parse().expect("CAPKV_RESP_TESTS_AGAINST=host:port"),
        Err(_) => server.addr,
    }
}

/// True unless the tests run against another server: guards the checks of
/// capkv-specific behaviour.
pub fn is_capkv(server: &TestServer) -> bool {
    target(server) == server.addr
}

/// A blocking `redis` crate connection (the redis-rs client, unchanged).
pub fn connect(server: &TestServer) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{}/", target(server))).expect("client");
    let mut con = client.get_connection_with_timeout(Duration::from_secs(10)).expect("connect");
    con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    if !is_capkv(server) {
        // Another server keeps its keys between tests.
        redis::cmd("FLUSHALL").exec(&mut con).expect("FLUSHALL");
    }
    con
}

/// Runs `args` as one command and returns its reply, or the server's error
/// as `Err("<CODE> <detail>")`.
pub fn run(con: &mut redis::Connection, args: &[&[u8]]) -> Result<redis::Value, String> {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query::<redis::Value>(con).map_err(|e| error_text(&e))
}

/// `<CODE> <detail>` of a server error, as Redis sent it (minus the `-`).
pub fn error_text(error: &redis::RedisError) -> String {
    match (error.code(), error.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => panic!("not a server error: {error:?}"),
    }
}

/// The `redis` crate's value for a bulk string reply.
pub fn bulk(v: &str) -> redis::Value {
    redis::Value::BulkString(v.as_bytes().to_vec())
}

/// The multibulk encoding of one request.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(args, &mut out);
    out
}

/// Reads one whole RESP reply (nested arrays and maps included) as raw bytes.
pub fn read_reply(client: &mut Client) -> Vec<u8> {
    let mut reply = client.line();
    assert!(reply.ends_with(b"\r\n"), "truncated reply {:?}", String::from_utf8_lossy(&reply));
    let number = || -> i64 {
        std::str::from_utf8(&reply[1..reply.len() - 2]).unwrap().parse().expect("length")
    };
    // RESP2 types, and RESP3's (after HELLO 3) as far as Redis sends them.
    match reply[0] {
        b'+' | b'-' | b':' | b'_' | b'#' | b',' | b'(' => {}
        b'$' | b'=' => {
            let n = number();
            if n >= 0 {
                let data = client.exact(n as usize + 2);
                reply.extend_from_slice(&data);
            }
        }
        b'*' | b'%' | b'~' => {
            let n = number() * if reply[0] == b'%' { 2 } else { 1 };
            for _ in 0..n.max(0) {
                let element = read_reply(client);
                reply.extend_from_slice(&element);
            }
        }
        other => panic!("not a RESP reply: {:?}", other as char),
    }
    reply
}

/// Sends one request over raw TCP and returns the raw reply.
pub fn ask(client: &mut Client, args: &[&[u8]]) -> Vec<u8> {
    client.send(&encode(args));
    read_reply(client)
}

/// [`ask`] for text arguments, the reply as (lossy) text, for assertions
/// that print well.
pub fn ask_text(client: &mut Client, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    String::from_utf8_lossy(&ask(client, &args)).into_owned()
}

/// A raw client whose first bytes are a RESP request, so the server has
/// picked the RESP dialect for it.
pub fn raw(server: &TestServer) -> Client {
    let mut client = Client::connect(target(server));
    assert_eq!(ask(&mut client, &[b"PING"]), b"+PONG\r\n");
    client
}
