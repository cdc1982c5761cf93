//! `--redis-port`: a port that speaks only Redis's protocol, so telnet,
//! redis-cli and Redis's own test suite see a Redis: RESP from the first
//! byte, inline commands as Redis splits them, blank lines skipped,
//! Redis's 64 KiB inline cap. Exact bytes over real TCP.

mod common;

use std::net::{SocketAddr, TcpListener};

use common::{Client, TestServer};

/// A server with the Redis port on a free loopback port.
fn server() -> (TestServer, SocketAddr) {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let server = TestServer::start(&["--redis-port", &port.to_string()]);
    let redis = server.redis.expect("the Redis port is on");
    (server, redis)
}

#[test]
fn inline_commands_and_blank_lines_are_taken_as_redis_takes_them() {
    let (server, redis) = server();
    let mut c = Client::connect(redis);
    // An empty line before RESP: skipped, one reply.
    assert_eq!(c.ask(b"\r\n*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n");
    assert_eq!(c.ask(b"PING\r\n"), b"+PONG\r\n");
    assert_eq!(c.ask(b"SET greeting 'hello world'\r\n"), b"+OK\r\n");
    assert_eq!(c.ask(b"GET greeting\r\n"), b"$11\r\n");
    assert_eq!(c.line(), b"hello world\r\n");
    // The seed's PUT is not Redis: an unknown command, as Redis says it.
    assert_eq!(
        c.ask(b"PUT k v\n"),
        &b"-ERR unknown command 'PUT', with args beginning with: 'k' 'v' \r\n"[..]
    );
    // The mixed port sees the same store, line protocol and all.
    let mut line = server.connect();
    assert_eq!(line.ask(b"GET greeting\n"), b"hello world\n");
}

#[test]
fn quoted_inline_arguments_are_unescaped_as_redis_unescapes_them() {
    let (_server, redis) = server();
    let mut c = Client::connect(redis);
    assert_eq!(c.ask(b"SET k \"a\\nb\\x41\\\"\"\r\n"), b"+OK\r\n");
    // Read back over RESP: the exact bytes Redis would have stored.
    assert_eq!(c.ask(b"*2\r\n$6\r\nSTRLEN\r\n$1\r\nk\r\n"), b":5\r\n");
    assert_eq!(c.ask(b"GET k\r\n"), b"$5\r\n");
    assert_eq!(c.line(), b"a\n");
    assert_eq!(c.line(), b"bA\"\r\n");
    // A quoted part joined to a bare prefix, and single-quote escapes;
    // then an error in a rewritten request leaves the connection usable.
    assert_eq!(c.ask(b"SET pre\"fix x\" 'it\\'s'\r\n"), b"+OK\r\n");
    assert_eq!(c.ask(b"GET \"prefix x\"\r\n"), b"$4\r\n");
    assert_eq!(c.line(), b"it's\r\n");
    assert_eq!(
        c.ask(b"GET \"a\\tb\" extra\r\n"),
        &b"-ERR wrong number of arguments for 'get' command\r\n"[..]
    );
    assert_eq!(c.ask(b"PING\r\n"), b"+PONG\r\n");
    // Queued in a transaction, it runs with the same unescaped arguments.
    assert_eq!(c.ask(b"MULTI\r\n"), b"+OK\r\n");
    assert_eq!(c.ask(b"SET tx \"1\\t2\"\r\n"), b"+QUEUED\r\n");
    assert_eq!(c.ask(b"INCR \"tx\\x00\"\r\n"), b"+QUEUED\r\n");
    assert_eq!(c.ask(b"EXEC\r\n"), b"*2\r\n");
    assert_eq!(c.line(), b"+OK\r\n");
    assert_eq!(c.line(), b":1\r\n");
    assert_eq!(c.ask(b"GET tx\r\n"), b"$3\r\n");
    assert_eq!(c.line(), b"1\t2\r\n");
}

#[test]
fn unbalanced_quotes_and_oversized_inline_requests_end_the_connection_with_redis_errors() {
    let (_server, redis) = server();
    let mut c = Client::connect(redis);
    assert_eq!(
        c.ask(b"SET \"a b\r\n"),
        &b"-ERR Protocol error: unbalanced quotes in request\r\n"[..]
    );
    assert!(c.closed());

    // 64 KiB and more without a newline: Redis's cap, not the line
    // protocol's (which the mixed port keeps for inline SETs of big values).
    let mut c = Client::connect(redis);
    c.send(&vec![b'a'; 70 * 1024]);
    assert_eq!(c.line(), b"-ERR Protocol error: too big inline request\r\n");
    assert!(c.closed());
}

#[test]
fn zero_turns_the_redis_port_off_and_it_must_differ_from_the_others() {
    let server = TestServer::start(&["--redis-port", "0"]);
    assert!(server.redis.is_none());
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_capkv"))
        .args(["--port", "7180", "--redis-port", "7180", "--max-memory", "64mb"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("--redis-port"));
    assert!(!output.status.success());
}
