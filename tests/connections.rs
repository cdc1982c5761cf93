//! Connections over real TCP: an idle connection holds no buffer, and a
//! newcomer is served while other clients hold every buffer byte.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use capkv::server::space::{FLUSH_AT, READ_SPACE};
use common::{Client, TestServer};

/// The buffer bytes a server with `workers` worker threads holds when no
/// connection holds any: each worker's space, at most.
fn worker_spaces(workers: usize) -> usize {
    workers * (READ_SPACE + FLUSH_AT)
}

#[test]
fn idle_connections_hold_no_buffer() {
    let server = TestServer::start(&["--workers", "2"]);
    let mut clients: Vec<Client> = (0..200).map(|_| server.connect()).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        let put = format!("PUT key{i} {}\n", "v".repeat(100));
        assert_eq!(c.ask(put.as_bytes()), b"OK\n");
        assert_eq!(
            c.ask(format!("GET key{i}\n").as_bytes()),
            format!("{}\n", "v".repeat(100)).as_bytes()
        );
    }
    // Every reply has been read: nothing is left with any connection.
    let budget = &server.shared.engine.budget;
    let settled = || budget.buffer_bytes() <= worker_spaces(2);
    assert!(
        common::eventually(Duration::from_secs(10), settled),
        "200 idle connections hold {} buffer bytes, more than two workers' spaces ({})",
        budget.buffer_bytes(),
        worker_spaces(2)
    );
    // A big reply grows the worker's output for one round only.
    let mut big = server.connect();
    let value = "x".repeat(200 * 1024);
    assert_eq!(big.ask(format!("PUT big {value}\n").as_bytes()), b"OK\n");
    big.send(b"GET big\n");
    assert_eq!(big.exact(value.len() + 1).len(), value.len() + 1);
    assert!(
        common::eventually(Duration::from_secs(10), settled),
        "after a big reply: {} buffer bytes",
        budget.buffer_bytes()
    );
    drop(clients);
}

/// Hundreds of clients each send most of a maximum-size PUT and stop,
/// holding more than the whole buffer share: a new client must still get
/// its answers, at once, on both protocols.
#[test]
fn a_newcomer_is_served_while_others_hold_every_buffer_byte() {
    // 32 MiB budget: buffers may hold 4 MiB, a few dozen large requests.
    let server = TestServer::start(&["--max-memory", "32mb", "--max-value-size", "256kb"]);
    let part = vec![b'x'; 200 * 1024];
    let holders: Vec<TcpStream> = (0..300)
        .map(|i| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.set_nonblocking(true).unwrap();
            // Whatever the kernel takes; the rest is not needed.
            let _ = s.write(format!("PUT held{i} ").as_bytes());
            let _ = s.write(&part);
            s
        })
        .collect();
    // Let the server take in what it can of them.
    let budget = &server.shared.engine.budget;
    let cap = budget.buffer_cap() as usize;
    common::eventually(Duration::from_secs(10), || budget.buffer_bytes() + (1 << 20) > cap);

    for round in 0..3 {
        let mut c = server.connect();
        assert_eq!(c.ask(b"PING\n"), b"PONG\n", "line PING, round {round}");
        assert_eq!(c.ask(b"PUT small v\n"), b"OK\n", "line PUT, round {round}");
        assert_eq!(c.ask(b"GET small\n"), b"v\n", "line GET, round {round}");
        let mut r = server.connect();
        assert_eq!(r.ask(b"*1\r\n$4\r\nPING\r\n"), b"+PONG\r\n", "RESP PING, round {round}");
    }
    drop(holders);
}
