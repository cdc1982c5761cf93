//! The memory promise in small: a 64 MiB budget, 1 GiB written.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use common::{BinaryServer, half_put, write_big_values};

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

/// Fills a 32 MiB budget's cache, so that it lends buffers nothing: they
/// are held to their share (4 MiB).
fn fill_the_cache(addr: std::net::SocketAddr) {
    write_big_values(addr, "fill", 150);
}

/// Clients that ask for big values and never read the replies keep them in
/// their output buffers. Once they hold the buffers' whole share of the
/// budget, every other client would wait for them until the write timeout
/// (five minutes here). They are evicted instead, after a second of not
/// reading while others wait, and a writer gets through.
#[test]
fn clients_that_never_read_are_evicted_when_others_wait() {
    let server = BinaryServer::start(&["--max-memory", "32mb", "--write-timeout", "300s"]);
    fill_the_cache(server.addr);
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
    fill_the_cache(server.addr);
    // 24 half-sent requests, each holding a 256 KiB read buffer.
    let stalled: Vec<TcpStream> =
        (0..24).map(|i| half_put(server.addr, &format!("half{i}"), 100 * 1024)).collect();
    wait_for_full_buffers(server.addr);
    write_big_values(server.addr, "after", 20);
    assert!(stat(server.addr, "evicted_clients") >= 1);
    drop(stalled);
}

/// Sends the rest of a [`half_put`] of a 250 KiB value and reads the
/// answer.
fn finish_put(mut s: TcpStream, sent: usize) -> String {
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&vec![b'h'; 250 * 1024 - sent]).unwrap();
    s.write_all(b"\n").unwrap();
    let mut line = Vec::new();
    BufReader::new(s).read_until(b'\n', &mut line).unwrap();
    String::from_utf8_lossy(&line).into_owned()
}

/// Whether the server has closed `s` (within `limit`).
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(limit)).unwrap();
    let mut byte = [0u8; 1];
    matches!(s.read(&mut byte), Ok(0) | Err(_)) && {
        // A timeout is an error too: tell it apart from a close.
        s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        !matches!(s.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            || e.kind() == std::io::ErrorKind::TimedOut)
    }
}

/// When others wait for buffer memory, the biggest holder goes first, and
/// only as many as cover what is missing: one client halfway through a
/// 2 MiB MSET is evicted, the seven halfway through 250 KiB PUTs keep their
/// connections and finish their requests afterwards.
#[test]
fn eviction_picks_the_biggest_holder() {
    biggest_holder_against_seven_medium(false);
}

/// `CLIENT NO-EVICT on` exempts a connection, as in Redis: the 2 MiB MSET
/// holder keeps its connection and completes its MSET, and the medium
/// holders are evicted in its place.
#[test]
fn client_no_evict_keeps_the_biggest_holder() {
    biggest_holder_against_seven_medium(true);
}

fn biggest_holder_against_seven_medium(no_evict: bool) {
    let server = BinaryServer::start(&["--max-memory", "32mb", "--write-timeout", "2s"]);
    fill_the_cache(server.addr);
    let buffers = || stat(server.addr, "capkv_buffer_bytes");
    let base = buffers();
    // The big one first (and so also the stalest): 6 of 8 values of an
    // 8 x 250 KiB MSET.
    let mut big = TcpStream::connect(server.addr).unwrap();
    if no_evict {
        big.write_all(b"*3\r\n$6\r\nCLIENT\r\n$8\r\nNO-EVICT\r\n$2\r\non\r\n").unwrap();
        let mut ok = [0u8; 5];
        std::io::Read::read_exact(&mut big, &mut ok).unwrap();
        assert_eq!(&ok, b"+OK\r\n");
    }
    let value = vec![b'm'; 250 * 1024];
    big.write_all(b"*17\r\n$4\r\nMSET\r\n").unwrap();
    for i in 0..6 {
        big.write_all(format!("$2\r\nm{i}\r\n${}\r\n", value.len()).as_bytes()).unwrap();
        big.write_all(&value).unwrap();
        big.write_all(b"\r\n").unwrap();
    }
    assert!(
        common::eventually(Duration::from_secs(10), || buffers() >= base + (1500 << 10)),
        "the MSET's buffer never grew: {} bytes",
        buffers()
    );
    let sent = 100 * 1024;
    let medium: Vec<TcpStream> =
        (0..7).map(|i| half_put(server.addr, &format!("half{i}"), sent)).collect();
    assert!(
        common::eventually(Duration::from_secs(10), || buffers() >= base + (3300 << 10)),
        "the PUTs' buffers never grew: {} bytes",
        buffers()
    );
    // A writer now needs more than is left: after the 2 s grace, the MSET
    // goes (or, exempt, medium holders go in its place), and the writer
    // gets through.
    write_big_values(server.addr, "after", 5);
    if no_evict {
        assert!(stat(server.addr, "evicted_clients") >= 1, "nobody made room");
        assert!(!closed_within(&mut big, Duration::from_secs(3)), "the exempt holder was evicted");
        for i in 6..8 {
            big.write_all(format!("$2\r\nm{i}\r\n${}\r\n", value.len()).as_bytes()).unwrap();
            big.write_all(&value).unwrap();
            big.write_all(b"\r\n").unwrap();
        }
        big.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut ok = [0u8; 5];
        std::io::Read::read_exact(&mut big, &mut ok).unwrap();
        assert_eq!(&ok, b"+OK\r\n", "the exempt holder's MSET");
        return;
    }
    assert!(closed_within(&mut big, Duration::from_secs(10)), "the biggest holder was not evicted");
    assert_eq!(stat(server.addr, "evicted_clients"), 1, "only the biggest holder goes");
    for (i, s) in medium.into_iter().enumerate() {
        assert_eq!(finish_put(s, sent), "OK\n", "medium holder {i}");
    }
}

/// An empty cache lends client buffers what it does not use: forty
/// clients halfway through 250 KiB PUTs hold 10 MiB of a 32 MiB budget,
/// past the buffers' 4 MiB share, and a newcomer is served. When the cache
/// then fills, it wants those bytes back: holders are evicted, biggest and
/// stalest first, a second after a writer waits (their own grace is
/// `--write-timeout`), until buffers are back within reach of their share;
/// the rest keep their connections.
#[test]
fn an_empty_cache_lends_buffers_and_takes_the_room_back_when_it_fills() {
    let server = BinaryServer::start(&["--max-memory", "32mb", "--write-timeout", "5s"]);
    let share = 4u64 << 20;
    let sent = 100 * 1024;
    let holders: Vec<TcpStream> =
        (0..40).map(|i| half_put(server.addr, &format!("lent{i}"), sent)).collect();
    let buffers = || stat(server.addr, "capkv_buffer_bytes");
    assert!(
        common::eventually(Duration::from_secs(10), || buffers() > 2 * share),
        "buffers stayed at {} bytes, within their share",
        buffers()
    );
    let mut c = common::Client::connect(server.addr);
    assert_eq!(c.ask(b"PUT small v\n"), b"OK\n");
    assert_eq!(stat(server.addr, "evicted_clients"), 0, "nobody needed the bytes yet");
    fill_the_cache(server.addr);
    assert!(
        common::eventually(Duration::from_secs(20), || buffers() <= share + share / 2 + (1 << 20)),
        "buffers still hold {} bytes of a full cache's room",
        buffers()
    );
    let evicted = stat(server.addr, "evicted_clients");
    assert!((1..40).contains(&evicted), "{evicted} of 40 holders evicted");
    // The newcomer's connection is still served (its key itself may be
    // gone: the fill wrote more than the cache holds).
    assert_eq!(c.ask(b"PUT small v2\n"), b"OK\n");
    assert_eq!(c.ask(b"GET small\n"), b"v2\n");
    drop(holders);
}
