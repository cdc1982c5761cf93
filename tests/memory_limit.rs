//! The memory promise in small: a 64 MiB budget, 1 GiB written.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::BinaryServer;

const BUDGET: u64 = 64 << 20;
/// What RSS may exceed the budget by: the governor acts every 10 ms, and
/// the kernel counts a few pages the allocator does not (page tables,
/// thread stacks touched after start).
const SLACK: u64 = 8 << 20;

#[test]
fn one_gib_through_a_64mb_budget() {
    let server = BinaryServer::start(&["--max-memory", "64mb"]);
    let peak = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), server.child.id());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let status =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let rss = status
                    .lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .unwrap_or(0)
                    * 1024;
                peak.fetch_max(rss, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };

    let value = [b'v'; 100];
    let total: u64 = 1 << 30;
    let keys = total / (16 + 100);
    let stream = TcpStream::connect(server.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let sender = std::thread::spawn(move || {
        let mut batch = Vec::with_capacity(1 << 20);
        for i in 0..keys {
            batch.extend_from_slice(format!("PUT k{i:015} ").as_bytes());
            batch.extend_from_slice(&value);
            batch.push(b'\n');
            if batch.len() >= 1 << 20 {
                writer.write_all(&batch).unwrap();
                batch.clear();
            }
        }
        writer.write_all(&batch).unwrap();
        writer
    });
    let mut line = Vec::new();
    for i in 0..keys {
        line.clear();
        reader.read_until(b'\n', &mut line).unwrap();
        assert_eq!(line, b"OK\n", "write {i} of {keys}");
    }
    let mut writer = sender.join().unwrap();

    // The newest keys are all still there, with their exact values.
    for i in keys - 1000..keys {
        writer.write_all(format!("GET k{i:015}\n").as_bytes()).unwrap();
    }
    for i in keys - 1000..keys {
        line.clear();
        reader.read_until(b'\n', &mut line).unwrap();
        assert_eq!(&line[..100], &value[..], "key {i}");
    }
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    eprintln!("peak RSS {} MiB for a {} MiB budget", peak >> 20, BUDGET >> 20);
    assert!(peak <= BUDGET + SLACK, "peak RSS {peak} over budget {BUDGET} + slack {SLACK}");
    assert!(peak >= BUDGET / 2, "the cache used its budget: peak {peak}");
}

/// Hundreds of clients each halfway through a large PUT, more than the
/// buffer share of the budget can hold at once: every one must still be
/// answered (no client may hold half a request while waiting for more
/// memory, or they all wait on each other forever).
#[test]
fn clients_halfway_through_big_requests_all_finish() {
    let server = BinaryServer::start(&["--max-memory", "64mb"]);
    let clients = 400;
    let value = vec![b'x'; 200 * 1024];
    let halfway = Arc::new(std::sync::Barrier::new(clients));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (addr, value, halfway) = (server.addr, value.clone(), halfway.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    let stream = TcpStream::connect(addr).unwrap();
                    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
                    let mut writer = stream.try_clone().unwrap();
                    let mut reader = BufReader::new(stream);
                    let (first, rest) = value.split_at(value.len() / 2);
                    writer.write_all(format!("PUT big{i} ").as_bytes()).unwrap();
                    writer.write_all(first).unwrap();
                    halfway.wait();
                    writer.write_all(rest).unwrap();
                    writer.write_all(b"\n").unwrap();
                    let mut line = Vec::new();
                    reader.read_until(b'\n', &mut line).unwrap();
                    assert_eq!(String::from_utf8_lossy(&line), "OK\n", "client {i}");
                })
                .unwrap()
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// One field of the line protocol's STATS.
fn stat(addr: std::net::SocketAddr, name: &str) -> u64 {
    let mut client = common::Client::connect(addr);
    client.send(b"STATS\n");
    loop {
        let line = String::from_utf8(client.line()).unwrap();
        assert_ne!(line, "END\n", "STATS has no {name}");
        let mut parts = line.trim_end().splitn(3, ' ');
        if parts.nth(1) == Some(name) {
            return parts.next().unwrap().parse().unwrap();
        }
    }
}

/// Waits until buffers hold most of their share of a 32 MiB budget (4 MiB).
fn wait_for_full_buffers(addr: std::net::SocketAddr) {
    let full = || stat(addr, "capkv_buffer_bytes") > 3 << 20;
    assert!(common::eventually(Duration::from_secs(30), full), "buffers never filled");
}

/// Stores `count` values of 250 KiB over one connection, each answered
/// before the next is sent; panics if an answer takes over 30 s.
fn write_big_values(addr: std::net::SocketAddr, prefix: &str, count: usize) {
    let value = vec![b'v'; 250 * 1024];
    let mut client = common::Client::connect(addr);
    for i in 0..count {
        client.send(format!("PUT {prefix}{i} ").as_bytes());
        client.send(&value);
        assert_eq!(client.ask(b"\n"), b"OK\n", "{prefix}{i}");
    }
}

/// Clients that ask for big values and never read the replies keep them in
/// their output buffers. Once they hold the buffers' whole share of the
/// budget, every other client would wait for them until the write timeout
/// (five minutes here). They are evicted instead, after a second of not
/// reading while others wait, and a writer gets through.
#[test]
fn clients_that_never_read_are_evicted_when_others_wait() {
    let server = BinaryServer::start(&["--max-memory", "32mb", "--write-timeout", "300s"]);
    write_big_values(server.addr, "big", 1);
    // 24 x 250 KiB of replies held is more than the 4 MiB buffer share.
    let never_read: Vec<TcpStream> = (0..24)
        .map(|_| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(&b"GET big0\n".repeat(64)).unwrap();
            s
        })
        .collect();
    wait_for_full_buffers(server.addr);
    write_big_values(server.addr, "after", 20);
    // A non-reader waiting for room holds no buffer, so writers may get
    // through before anyone is evicted; the non-readers still wait on each
    // other, and those that hold replies are evicted for it.
    let evicted = || stat(server.addr, "evicted_clients") >= 1;
    assert!(common::eventually(Duration::from_secs(10), evicted));
    drop(never_read);
}

/// The same for clients that stop sending halfway through a big request:
/// when others wait for their memory, they are evicted after
/// `--write-timeout` (the longer grace: a client starved of CPU pauses
/// like that too).
#[test]
fn clients_stalled_halfway_through_a_request_are_evicted_when_others_wait() {
    let server = BinaryServer::start(&["--max-memory", "32mb", "--write-timeout", "2s"]);
    // 24 half-sent requests, each holding a 256 KiB read buffer.
    let stalled: Vec<TcpStream> = (0..24)
        .map(|i| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(format!("PUT half{i} ").as_bytes()).unwrap();
            s.write_all(&[b'h'; 100 * 1024]).unwrap();
            s
        })
        .collect();
    wait_for_full_buffers(server.addr);
    write_big_values(server.addr, "after", 20);
    assert!(stat(server.addr, "evicted_clients") >= 1);
    drop(stalled);
}
