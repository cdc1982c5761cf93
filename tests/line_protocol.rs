//! The seed's line protocol over real TCP, exact bytes.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Client, TestServer};

#[test]
fn put_get_del_ping() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    assert_eq!(c.ask(b"GET missing\n"), b"NOTFOUND\n");
    assert_eq!(c.ask(b"PUT key value\n"), b"OK\n");
    assert_eq!(c.ask(b"GET key\n"), b"value\n");
    assert_eq!(c.ask(b"PUT key other value\n"), b"OK\n");
    assert_eq!(c.ask(b"GET key\n"), b"other value\n", "spaces inside values are kept");
    assert_eq!(c.ask(b"PUT key  two  spaces \n"), b"OK\n");
    assert_eq!(c.ask(b"GET key\n"), b" two  spaces \n", "value is everything after one space");
    assert_eq!(c.ask(b"PUT empty \n"), b"OK\n");
    assert_eq!(c.ask(b"GET empty\n"), b"\n", "empty values are allowed");
    assert_eq!(c.ask(b"DEL key\n"), b"OK\n");
    assert_eq!(c.ask(b"DEL key\n"), b"NOTFOUND\n");
    assert_eq!(c.ask(b"GET key\n"), b"NOTFOUND\n");
    assert_eq!(c.ask(b"PING\n"), b"PONG\n");
}

#[test]
fn crlf_and_lowercase() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    assert_eq!(c.ask(b"put k v\r\n"), b"OK\n");
    assert_eq!(c.ask(b"GET k\n"), b"v\n", "the trailing CR is not part of the value");
    assert_eq!(c.ask(b"get k\r\n"), b"v\n");
    assert_eq!(c.ask(b"Get k\n"), b"v\n");
    assert_eq!(c.ask(b"ping\r\n"), b"PONG\n");
    assert_eq!(c.ask(b"del k\r\n"), b"OK\n");
}

#[test]
fn every_error_reason_and_the_connection_stays_usable() {
    let server = TestServer::start(&["--max-key-size", "8", "--max-value-size", "16"]);
    let mut c = server.connect();
    let cases: &[(&[u8], &[u8])] = &[
        (b"FROB x\n", b"ERROR unknown command\n"),
        (b"GET\n", b"ERROR wrong number of arguments\n"),
        (b"PUT k\n", b"ERROR wrong number of arguments\n"),
        (b"PUT\n", b"ERROR wrong number of arguments\n"),
        (b"DEL\n", b"ERROR wrong number of arguments\n"),
        (b"GET 123456789\n", b"ERROR key too long\n"),
        (b"PUT 123456789 v\n", b"ERROR key too long\n"),
        (b"PUT k 12345678901234567\n", b"ERROR value too large\n"),
    ];
    for (request, reply) in cases {
        assert_eq!(
            String::from_utf8_lossy(&c.ask(request)),
            String::from_utf8_lossy(reply),
            "request {:?}",
            String::from_utf8_lossy(request)
        );
        assert_eq!(
            c.ask(b"PING\n"),
            b"PONG\n",
            "usable after {:?}",
            String::from_utf8_lossy(request)
        );
    }
    assert_eq!(c.ask(b"PUT k 1234567890123456\n"), b"OK\n", "exactly at the limit is fine");
}

#[test]
fn overlong_line_is_refused_and_skipped_as_it_streams() {
    let server = TestServer::start(&["--max-value-size", "1kb"]);
    let mut c = server.connect();
    // 5 MB without a newline, in pieces: must be answered once and skipped.
    c.send(b"PUT big ");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..80 {
        c.send(&chunk);
    }
    c.send(b"\nPUT after ok\nGET after\n");
    let first = c.line();
    assert!(first.starts_with(b"ERROR "), "{:?}", String::from_utf8_lossy(&first));
    assert_eq!(c.line(), b"OK\n");
    assert_eq!(c.line(), b"ok\n");
    let buffers = server.shared.engine.budget.buffer_bytes();
    assert!(buffers < 1 << 20, "the line was never buffered whole: {buffers} buffer bytes");
}

#[test]
fn quit_closes_without_reply() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    c.send(b"PUT a b\nQUIT\nGET a\n");
    assert_eq!(c.line(), b"OK\n");
    assert!(c.closed());
}

#[test]
fn stats_reports_budget_and_usage() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    assert_eq!(c.ask(b"PUT a b\n"), b"OK\n");
    c.send(b"STATS\n");
    let mut fields = HashMap::new();
    loop {
        let line = String::from_utf8(c.line()).unwrap();
        if line == "END\n" {
            break;
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        assert_eq!(parts.next(), Some("STAT"), "{line}");
        fields.insert(parts.next().unwrap().to_string(), parts.next().unwrap_or("").to_string());
    }
    assert_eq!(fields["maxmemory"], (256u64 << 20).to_string());
    assert_eq!(fields["db0"], "keys=1,expires=0,avg_ttl=0");
    for name in
        ["capkv_item_bytes", "capkv_index_bytes", "capkv_buffer_bytes", "capkv_segment_quota"]
    {
        assert!(fields.contains_key(name), "{name} missing");
    }
    assert!(fields["capkv_item_bytes"].parse::<u64>().unwrap() >= 3);
}

#[test]
fn hundred_thousand_pipelined_commands_in_order() {
    let server = TestServer::start(&[]);
    let mut c = server.connect();
    let mut burst = Vec::new();
    for i in 0..50_000 {
        burst.extend_from_slice(format!("PUT key{i} value{i}\n").as_bytes());
        burst.extend_from_slice(format!("GET key{}\n", i / 2).as_bytes());
    }
    // Write from another thread so neither side blocks on full buffers.
    let mut writer = c.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&burst).unwrap());
    for i in 0..50_000 {
        assert_eq!(c.line(), b"OK\n", "reply to PUT {i}");
        assert_eq!(c.line(), format!("value{}\n", i / 2).as_bytes(), "reply to GET {}", i / 2);
    }
    sender.join().unwrap();
}

#[test]
fn thousand_concurrent_connections_never_see_foreign_values() {
    let server = TestServer::start(&[]);
    let addr = server.addr;
    let threads: Vec<_> = (0..1000)
        .map(|t| {
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let stream = TcpStream::connect(addr).unwrap();
                    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut writer = stream;
                    let mut line = String::new();
                    for i in 0..50u32 {
                        // 20 keys shared by everyone; values say whose key.
                        let key = (t * 7 + i) % 20;
                        let request = match i % 3 {
                            0 => format!("PUT k{key} k{key}:t{t}:i{i}\n"),
                            1 => format!("GET k{key}\n"),
                            _ => format!("DEL k{key}\n"),
                        };
                        writer.write_all(request.as_bytes()).unwrap();
                        line.clear();
                        reader.read_line(&mut line).unwrap();
                        match i % 3 {
                            0 => assert_eq!(line, "OK\n"),
                            1 => assert!(
                                line == "NOTFOUND\n" || line.starts_with(&format!("k{key}:t")),
                                "GET k{key} answered {line:?}"
                            ),
                            _ => assert!(line == "OK\n" || line == "NOTFOUND\n", "{line:?}"),
                        }
                    }
                })
                .unwrap()
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(server.shared.engine.stats.snapshot().connections_total, 1000);
}

#[test]
fn connection_limit_refuses_with_an_error() {
    let server = TestServer::start(&["--max-connections", "2"]);
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.ask(b"PING\n"), b"PONG\n");
    assert_eq!(b.ask(b"PING\n"), b"PONG\n");
    let mut c = Client::connect(server.addr);
    assert_eq!(c.line(), b"-ERR max number of clients reached\r\n");
    assert!(c.closed());
    drop(a);
    // The slot frees up once the server sees the close.
    assert!(common::eventually(Duration::from_secs(5), || {
        let mut d = Client::connect(server.addr);
        d.send(b"PING\n");
        d.line() == b"PONG\n"
    }));
}

#[test]
fn idle_connections_are_closed() {
    let server = TestServer::start(&["--idle-timeout", "200ms"]);
    let mut c = server.connect();
    assert_eq!(c.ask(b"PING\n"), b"PONG\n");
    assert!(c.closed(), "closed after being idle");
}

/// A value written over RESP may hold a newline, which one line cannot
/// carry: the line client gets one error line, never the value's second
/// line as the reply to its next request.
#[test]
fn a_value_with_a_newline_is_refused_in_one_line_and_the_stream_stays_in_step() {
    let server = TestServer::start(&[]);
    let mut resp = server.connect();
    resp.send(b"*3\r\n$3\r\nSET\r\n$2\r\nnl\r\n$7\r\nab\ncd\r\n\r\n");
    assert_eq!(resp.line(), b"+OK\r\n");
    let mut line = server.connect();
    line.send(b"GET nl\nPUT after ok\nGET after\n");
    assert_eq!(
        line.line(),
        &b"ERROR value contains a newline and cannot be sent as one line; read it over RESP\n"[..]
    );
    assert_eq!(line.line(), b"OK\n");
    assert_eq!(line.line(), b"ok\n");
    // A carriage return alone is framed fine (the line ends at `\n`).
    resp.send(b"*3\r\n$3\r\nSET\r\n$2\r\ncr\r\n$3\r\na\rb\r\n");
    assert_eq!(resp.line(), b"+OK\r\n");
    assert_eq!(line.ask(b"GET cr\n"), b"a\rb\n");
}
