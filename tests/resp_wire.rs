//! RESP2 on the wire: exact bytes of errors (which the `redis` crate
//! parses away), binary-safe keys and values, the two protocols sharing
//! one store, large pipelines, and framing errors.

mod common;
mod resp_support;

use std::io::Write;

use redis::{Commands, Value};

use common::TestServer;
use resp_support::{ask, ask_text, connect, encode, is_capkv, raw, read_reply, run};

#[test]
fn error_texts_are_redis_byte_for_byte() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let cases: &[(&[&str], &str)] = &[
        (&["GET"], "-ERR wrong number of arguments for 'get' command\r\n"),
        (&["get", "a", "b"], "-ERR wrong number of arguments for 'get' command\r\n"),
        (&["SET", "k"], "-ERR wrong number of arguments for 'set' command\r\n"),
        (&["MSET", "a", "1", "b"], "-ERR wrong number of arguments for 'mset' command\r\n"),
        (&["FOO", "a", "b"], "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"),
        (&["foo"], "-ERR unknown command 'foo', with args beginning with: \r\n"),
        (&["SET", "k", "v", "BAR"], "-ERR syntax error\r\n"),
        (&["INCRBY", "k", "x"], "-ERR value is not an integer or out of range\r\n"),
        (&["SET", "k", "v", "EX", "0"], "-ERR invalid expire time in 'set' command\r\n"),
        (&["EXPIRE", "k", "1", "BAZ"], "-ERR Unsupported option BAZ\r\n"),
        (&["CONFIG", "FOO"], "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n"),
        (&["HELLO", "4"], "-NOPROTO unsupported protocol version\r\n"),
    ];
    for (args, reply) in cases {
        assert_eq!(ask_text(&mut c, args), *reply, "{args:?}");
    }
    // After every error the connection goes on.
    assert_eq!(ask_text(&mut c, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(
        ask_text(&mut c, &["INCR", "k"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(ask_text(&mut c, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(ask_text(&mut c, &["GET", "missing"]), "$-1\r\n");
    assert_eq!(ask_text(&mut c, &["DEL", "k", "missing"]), ":1\r\n");
    assert_eq!(ask_text(&mut c, &["MGET", "k", "x"]), "*2\r\n$-1\r\n$-1\r\n");
    if is_capkv(&server) {
        assert_eq!(ask_text(&mut c, &["SELECT", "1"]), "-ERR DB index is out of range\r\n");
    }
}

#[test]
fn framing_errors_answer_and_close() {
    let server = TestServer::start(&[]);
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n+PING\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
    ];
    for (bytes, reply) in cases {
        let mut c = raw(&server);
        c.send(bytes);
        assert_eq!(String::from_utf8_lossy(&c.line()), *reply);
        assert!(c.closed(), "closed after {:?}", String::from_utf8_lossy(bytes));
    }
    // `*0` and `*-1` carry no command and get no reply; inline commands
    // work on a RESP connection, as in Redis.
    let mut c = raw(&server);
    c.send(b"*0\r\n*-1\r\nSET inline value\r\n\r\nGET inline\r\n");
    assert_eq!(c.line(), b"+OK\r\n");
    assert_eq!(read_reply(&mut c), b"$5\r\nvalue\r\n");
    assert_eq!(ask(&mut c, &[b"PING"]), b"+PONG\r\n");
}

#[test]
fn binary_keys_and_values() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let every_byte: Vec<u8> = (0..=255).collect();
    let cases: Vec<(&[u8], &[u8])> = vec![
        (b"all-bytes", &every_byte),
        (b"newline", b"a\nb\n"),
        (b"crlf", b"\r\n\r\n"),
        (b"nul", b"\0"),
        (b"nuls", b"a\0b\0\0"),
        (b"empty", b""),
        (b"\0key\r\nwith spaces\xff", b"v"),
        (&every_byte, b"key of all bytes"),
    ];
    for (key, value) in &cases {
        let () = con.set(*key, *value).unwrap();
    }
    for (key, value) in &cases {
        let got: Vec<u8> = con.get(*key).unwrap();
        assert_eq!(&got, value, "key {key:?}");
        let len: usize = con.strlen(*key).unwrap();
        assert_eq!(len, value.len());
    }
    // Through MGET, GETDEL, APPEND and a raw bulk reply too.
    let keys: Vec<&[u8]> = cases.iter().map(|(k, _)| *k).collect();
    let values: Vec<Vec<u8>> = con.mget(&keys).unwrap();
    assert!(values.iter().eq(cases.iter().map(|(_, v)| v.to_vec()).collect::<Vec<_>>().iter()));
    let mut c = raw(&server);
    let mut expected = b"$256\r\n".to_vec();
    expected.extend_from_slice(&every_byte);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(ask(&mut c, &[b"GET", b"all-bytes"]), expected);
    assert_eq!(run(&mut con, &[b"APPEND", b"nul", b"\0\n"]), Ok(Value::Int(3)));
    assert_eq!(run(&mut con, &[b"GETDEL", b"nul"]), Ok(Value::BulkString(b"\0\0\n".to_vec())));
}

#[test]
fn values_cross_between_the_two_protocols() {
    let server = TestServer::start(&[]);
    if !is_capkv(&server) {
        return; // The line protocol is capkv's.
    }
    let mut con = connect(&server);
    // Written over RESP, read over the line protocol: the bytes as they are,
    // then the line protocol's `\n`; a value with `\n` in it, which one
    // line cannot frame, is one error line.
    let () = con.set("plain", "hello world").unwrap();
    let () = con.set("multi", "a\nb").unwrap();
    let () = con.set("binary", b"\0\xff\r".as_slice()).unwrap();
    let () = con.set_ex("ttl", "soon", 100).unwrap();
    let mut line = server.connect();
    assert_eq!(line.ask(b"GET plain\n"), b"hello world\n");
    assert!(line.ask(b"GET multi\n").starts_with(b"ERROR value contains a newline"));
    line.send(b"GET binary\n");
    assert_eq!(line.exact(4), b"\0\xff\r\n");
    assert_eq!(line.ask(b"GET ttl\n"), b"soon\n");
    // Written over the line protocol, read over RESP.
    assert_eq!(line.ask(b"PUT spaced  two spaces \n"), b"OK\n");
    assert_eq!(line.ask(b"PUT crlf value\r\n"), b"OK\n");
    let v: String = con.get("spaced").unwrap();
    assert_eq!(v, " two spaces ");
    let v: String = con.get("crlf").unwrap();
    assert_eq!(v, "value", "the line protocol drops a trailing CR");
    let ttl: i64 = con.ttl("spaced").unwrap();
    assert_eq!(ttl, -1);
    // Deleted on one side, gone on the other.
    assert_eq!(line.ask(b"DEL plain\n"), b"OK\n");
    let v: Option<String> = con.get("plain").unwrap();
    assert_eq!(v, None);
    let n: i64 = con.del("spaced").unwrap();
    assert_eq!(n, 1);
    assert_eq!(line.ask(b"GET spaced\n"), b"NOTFOUND\n");
}

#[test]
fn pipeline_of_ten_thousand_commands() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    const N: usize = 10_000;
    let mut pipe = redis::pipe();
    for i in 0..N {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(format!("value:{i}")).ignore();
    }
    let () = pipe.query(&mut con).unwrap();
    let mut pipe = redis::pipe();
    for i in 0..N {
        pipe.cmd("GET").arg(format!("key:{i}"));
    }
    let values: Vec<String> = pipe.query(&mut con).unwrap();
    assert_eq!(values.len(), N);
    assert!(values.iter().enumerate().all(|(i, v)| *v == format!("value:{i}")));
    assert_eq!(run(&mut con, &[b"DBSIZE"]), Ok(Value::Int(N as i64)));

    // Mixed commands, answers in order, errors in their place.
    let mut pipe = redis::pipe();
    for i in 0..N {
        match i % 5 {
            0 => pipe.cmd("INCR").arg("counter"),
            1 => pipe.cmd("SET").arg(format!("t:{i}")).arg(i).arg("EX").arg(100),
            2 => pipe.cmd("TTL").arg(format!("t:{}", i - 1)),
            3 => pipe.cmd("EXISTS").arg(format!("key:{i}")).arg("nope"),
            _ => pipe.cmd("DEL").arg(format!("key:{i}")),
        };
    }
    let replies: Vec<Value> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.len(), N);
    for (i, reply) in replies.iter().enumerate() {
        let ok = match i % 5 {
            0 => *reply == Value::Int((i / 5 + 1) as i64),
            1 => *reply == Value::Okay,
            2 => matches!(reply, Value::Int(99..=100)),
            _ => *reply == Value::Int(1),
        };
        assert!(ok, "reply {i}: {reply:?}");
    }
}

#[test]
fn pipeline_larger_than_the_socket_buffers_both_ways() {
    // 10,000 writes of 2 KiB each that answer with the previous value:
    // ~20 MB each way. The client writes the whole pipeline before
    // reading a reply (as redis-rs and redis-benchmark -P do), so the
    // server must keep reading while its replies wait to be read.
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    const N: usize = 10_000;
    let value = vec![b'v'; 2048];
    let () = con.set("k", value.as_slice()).unwrap();
    let mut pipe = redis::pipe();
    for _ in 0..N {
        pipe.cmd("SET").arg("k").arg(value.as_slice()).arg("GET");
    }
    let replies: Vec<Vec<u8>> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.len(), N);
    assert!(replies.iter().all(|r| *r == value));
}

#[test]
fn raw_pipeline_in_one_write() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let mut batch = Vec::new();
    for i in 0..10_000 {
        batch.extend_from_slice(&encode(&[b"SET", format!("k{i}").as_bytes(), b"x"]));
        batch.extend_from_slice(&encode(&[b"GET", format!("k{i}").as_bytes()]));
    }
    c.stream.write_all(&batch).unwrap();
    for i in 0..10_000 {
        assert_eq!(c.line(), b"+OK\r\n", "reply {i}");
        assert_eq!(read_reply(&mut c), b"$1\r\nx\r\n", "reply {i}");
    }
}

#[test]
fn capkv_limits_answer_and_keep_the_connection() {
    let server = TestServer::start(&["--max-key-size", "16", "--max-value-size", "1kb"]);
    if !is_capkv(&server) {
        return;
    }
    let mut c = raw(&server);
    let long_key = "k".repeat(17);
    assert_eq!(ask_text(&mut c, &["GET", &long_key]), "-ERR key too long\r\n");
    let big = "x".repeat(1025);
    assert_eq!(ask_text(&mut c, &["SET", "k", &big]), "-ERR value too large\r\n");
    let fits = "x".repeat(1024);
    assert_eq!(ask_text(&mut c, &["SET", "k", &fits]), "+OK\r\n");
    // A much larger value is skipped as it streams in.
    let huge = "x".repeat(1 << 20);
    assert_eq!(ask_text(&mut c, &["SET", "k2", &huge]), "-ERR value too large\r\n");
    assert_eq!(ask_text(&mut c, &["STRLEN", "k"]), ":1024\r\n");
    assert_eq!(ask_text(&mut c, &["EXISTS", "k2"]), ":0\r\n");
}
