//! SIGTERM against the real binary, over real TCP.
//!
//! What "graceful" means here, precisely:
//! - the process exits 0 and says it drained cleanly;
//! - every reply a client had started to receive arrives whole: each
//!   client parses its replies strictly, and a reply cut short (end of
//!   stream or reset in the middle of it) is a failure; a clean end of
//!   stream between two replies is fine, and no connection is reset;
//! - requests the server had already read are answered before it closes:
//!   a client holding unread replies keeps the process alive until it has
//!   read them all;
//! - once `/readyz` answers 503 `draining`, the client listener is closed:
//!   a new connection is refused, or at least never answered (a `PING`
//!   on it gets no byte back).

mod common;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{BinaryServer, eventually, http_get};

/// Large enough that a reply spans many TCP segments and reads.
const VALUE_LEN: usize = 64 * 1024;

/// Requests a load client writes per `write_all`.
const BATCH: u64 = 8;

/// Request `n` of client `id`: PUT of key `n / 2` for even `n`, GET of it
/// for odd `n`.
fn request(id: usize, n: u64) -> Vec<u8> {
    let key = format!("c{id}k{}", n / 2);
    if n % 2 == 0 {
        let mut r = format!("PUT {key} ").into_bytes();
        r.extend_from_slice(&value(id, n / 2));
        r.push(b'\n');
        r
    } else {
        format!("GET {key}\n").into_bytes()
    }
}

/// The value of key `k` of client `id`: recognisable and unique.
fn value(id: usize, k: u64) -> Vec<u8> {
    let mut v = format!("c{id}k{k}:").into_bytes();
    let fill = b'a' + ((id as u64 * 7 + k) % 26) as u8;
    v.resize(VALUE_LEN, fill);
    v
}

/// How reading one reply went.
enum Read1 {
    /// A complete reply (through its `\n`).
    Reply(Vec<u8>),
    /// End of stream before its first byte: a clean end.
    End,
}

/// Reads one `\n`-terminated reply; anything cut short is an error.
fn read_reply(reader: &mut impl BufRead, what: &str) -> Result<Read1, String> {
    let mut reply = Vec::with_capacity(VALUE_LEN + 1);
    match reader.read_until(b'\n', &mut reply) {
        Ok(0) => Ok(Read1::End),
        Ok(n) if reply.ends_with(b"\n") => {
            debug_assert_eq!(n, reply.len());
            Ok(Read1::Reply(reply))
        }
        Ok(n) => Err(format!("{what}: end of stream {n} bytes into a reply")),
        Err(e) if reply.is_empty() => Err(format!("{what}: {e} between replies")),
        Err(e) => Err(format!("{what}: {e} {} bytes into a reply", reply.len())),
    }
}

/// A client pipelining PUT/GET pairs from one thread and checking the
/// replies in order from another, until the server ends the stream.
/// Returns the number of complete replies.
fn load_client(
    addr: SocketAddr,
    id: usize,
    progress: Arc<AtomicU64>,
) -> JoinHandle<Result<u64, String>> {
    std::thread::spawn(move || {
        let stream = TcpStream::connect(addr).map_err(|e| format!("client {id}: connect: {e}"))?;
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let writer = {
            let (mut stream, done) = (stream.try_clone().unwrap(), done.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !done.load(Ordering::Relaxed) {
                    let batch: Vec<u8> = (n..n + BATCH).flat_map(|n| request(id, n)).collect();
                    // Fails once the server has gone; the reader decides.
                    if stream.write_all(&batch).is_err() {
                        break;
                    }
                    n += BATCH;
                }
            })
        };
        let mut reader = BufReader::with_capacity(VALUE_LEN * 2, stream);
        let mut replies = 0u64;
        let outcome = loop {
            let what = format!("client {id}, reply {replies}");
            match read_reply(&mut reader, &what) {
                Ok(Read1::End) => break Ok(replies),
                Ok(Read1::Reply(reply)) => {
                    let ok = if replies % 2 == 0 {
                        reply == b"OK\n"
                    } else {
                        reply == b"NOTFOUND\n"
                            || reply[..reply.len() - 1] == value(id, replies / 2)[..]
                    };
                    if !ok {
                        let start =
                            String::from_utf8_lossy(&reply[..reply.len().min(40)]).into_owned();
                        break Err(format!(
                            "{what}: wrong reply ({} bytes) {start:?}",
                            reply.len()
                        ));
                    }
                    replies += 1;
                    progress.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => break Err(e),
            }
        };
        done.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        outcome
    })
}

/// True if a new connection to `addr` is served: accepted, and a `PING`
/// on it gets any byte back.
fn served(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return false;
    };
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    if stream.write_all(b"PING\n").is_err() {
        return false;
    }
    let mut byte = [0u8; 1];
    matches!(stream.read(&mut byte), Ok(1..))
}

#[test]
fn sigterm_under_load_answers_what_was_read_and_exits_zero() {
    let mut server = BinaryServer::start_with_metrics(&[
        "--max-memory",
        "256mb",
        // Longer than the test ever holds the drain: the deadline must not
        // be what ends it.
        "--shutdown-timeout",
        "60s",
    ]);
    let (addr, metrics) = (server.addr, server.metrics.unwrap());
    // Ready once the accept loop runs, a moment after the start-up log line.
    let ready = || http_get(metrics, "/readyz") == Some((200, "ready\n".into()));
    assert!(eventually(Duration::from_secs(10), ready), "never ready");

    // A slow reader: many GETs of a large value pipelined, one reply read
    // (so the server is answering them), the rest left unread. The server
    // cannot finish those replies until this client reads: it holds the
    // drain open.
    let slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut slow_reader = BufReader::with_capacity(VALUE_LEN * 2, slow.try_clone().unwrap());
    let mut slow_writer = slow;
    let big = value(99, 0);
    let mut put = b"PUT slow ".to_vec();
    put.extend_from_slice(&big);
    put.push(b'\n');
    slow_writer.write_all(&put).unwrap();
    assert!(
        matches!(read_reply(&mut slow_reader, "slow PUT"), Ok(Read1::Reply(r)) if r == b"OK\n")
    );
    // 1000 replies of 64 KiB: far more than loopback socket buffers hold.
    slow_writer.write_all(&b"GET slow\n".repeat(1000)).unwrap();
    let expect_big = |reply: &[u8]| reply.len() == VALUE_LEN + 1 && reply[..VALUE_LEN] == big[..];
    match read_reply(&mut slow_reader, "slow GET 0") {
        Ok(Read1::Reply(r)) => assert!(expect_big(&r), "first slow GET reply is wrong"),
        Ok(Read1::End) => panic!("slow client: end of stream before any GET reply"),
        Err(e) => panic!("{e}"),
    }

    let progress: Vec<_> = (0..4).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let clients: Vec<_> =
        progress.iter().enumerate().map(|(id, p)| load_client(addr, id, p.clone())).collect();
    let busy = eventually(Duration::from_secs(60), || {
        progress.iter().all(|p| p.load(Ordering::Relaxed) >= 20)
    });
    assert!(busy, "load clients made no progress: {:?}", progress);

    server.signal("-TERM");

    // Readiness flips while the slow client holds the drain open...
    let draining = eventually(Duration::from_secs(10), || {
        http_get(metrics, "/readyz") == Some((503, "draining\n".into()))
    });
    assert!(draining, "/readyz never said draining: {}", server.log.lock().unwrap());
    assert_eq!(http_get(metrics, "/healthz"), Some((200, "ok\n".into())), "alive while draining");
    // ...and from then on no new connection is served.
    for _ in 0..3 {
        assert!(!served(addr), "a connection made after /readyz said draining was served");
    }

    // The load clients end cleanly between two replies.
    for (id, client) in clients.into_iter().enumerate() {
        let replies = client.join().unwrap().unwrap_or_else(|e| panic!("{e}"));
        assert!(replies >= 20, "client {id}: {replies} replies");
        eprintln!("client {id}: {replies} replies");
    }

    // The process waits for the replies it owes the slow client.
    assert!(server.child.try_wait().unwrap().is_none(), "exited with replies unsent");
    let mut slow_replies = 1;
    loop {
        match read_reply(&mut slow_reader, &format!("slow GET {slow_replies}")) {
            Ok(Read1::Reply(r)) => {
                assert!(expect_big(&r), "slow GET {slow_replies}: wrong reply");
                slow_replies += 1;
            }
            Ok(Read1::End) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(slow_replies <= 1000);
    eprintln!("slow: {slow_replies}");
    drop((slow_reader, slow_writer));

    let status = server.wait(Duration::from_secs(30)).expect("capkv did not exit after draining");
    let log = server.log.lock().unwrap().clone();
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("shut down cleanly"), "{log}");
    assert!(!served(addr));
}

#[test]
fn sigterm_when_idle_closes_connections_and_exits_zero() {
    let mut server = BinaryServer::start_with_metrics(&["--max-memory", "64mb"]);
    let mut idle = common::Client::connect(server.addr);
    assert_eq!(idle.ask(b"PING\n"), b"PONG\n");
    server.signal("-TERM");
    // The idle connection is closed (end of stream, not reset)...
    assert!(idle.closed(), "idle connection not closed cleanly");
    drop(idle);
    // ...and the process leaves without waiting for the drain deadline.
    let status = server.wait(Duration::from_secs(5)).expect("capkv did not exit");
    assert_eq!(status.code(), Some(0), "{}", server.log.lock().unwrap());
    match TcpStream::connect(server.addr) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
        Ok(_) => panic!("connected to an exited server"),
    }
}

/// Connections that wait for buffer room, and ones halfway through a
/// request, notice SIGTERM at once: the process exits long before the
/// drain deadline (two minutes here), with their requests unanswered
/// (nothing of them was acknowledged).
#[test]
fn sigterm_ends_connections_waiting_for_buffer_room_at_once() {
    let mut server = BinaryServer::start(&["--max-memory", "32mb", "--shutdown-timeout", "120s"]);
    // A full cache lends buffers nothing: they hold their 4 MiB share.
    common::write_big_values(server.addr, "fill", 150);
    // Forty half-sent 250 KiB PUTs: some hold grown buffers, the rest wait
    // for room.
    let half: Vec<TcpStream> =
        (0..40).map(|i| common::half_put(server.addr, &format!("half{i}"), 100 * 1024)).collect();
    std::thread::sleep(Duration::from_millis(500));
    server.signal("-TERM");
    let status = server.wait(Duration::from_secs(10)).expect("capkv waited for the drain deadline");
    assert_eq!(status.code(), Some(0), "{}", server.log.lock().unwrap());
    drop(half);
}
