//! The engine driven without sockets: requests are parsed from inline text,
//! executed against a real store, and the reply bytes compared exactly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Engine, Flow, Output, Session, Settings};
use crate::memory::Budget;
use crate::metrics::LocalCounters;
use crate::protocol::{Command, Dialect, Expiry, Limits, Parsed};
use crate::store::{Clock, Store, StoreConfig};

/// An engine over a small store whose clock the test moves.
fn engine() -> (Engine, Arc<AtomicU64>) {
    let clock = Arc::new(AtomicU64::new(1_000_000));
    let store = Arc::new(Store::new(&StoreConfig {
        shards: 2,
        segment_size: 64 * 1024,
        segment_quota: 16,
        index_partitions: 2,
        max_value_size: 64 * 1024,
        retain_fraction: 0.5,
        clock: Clock::Manual(clock.clone()),
    }));
    let budget = Arc::new(Budget::new(64 << 20, store));
    let settings = Settings {
        port: 7171,
        bind: "127.0.0.1".into(),
        max_value_size: 64 * 1024,
        hard_limit: None,
        workers: 1,
        max_client_buffer: 1 << 20,
        budget_bounds: crate::memory::Bounds {
            min: 16 << 20,
            max: 1 << 30,
            max_reason: "the test's".into(),
            auto: 64 << 20,
        },
        max_clients_ceiling: 1000,
        live: Arc::new(super::Live::new(10, None)),
    };
    (Engine::new(budget, settings), clock)
}

/// An output that refuses to grow past `cap` bytes.
struct Capped {
    bytes: Vec<u8>,
    cap: usize,
}

impl Output for Capped {
    fn try_room(&mut self, extra: usize) -> bool {
        self.bytes.len() + extra <= self.cap
    }

    fn bytes_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

/// One client: its session and its counters.
struct Conn {
    session: Session,
    counters: LocalCounters,
}

impl Conn {
    fn new(id: u64, dialect: Dialect) -> Conn {
        Conn { session: Session::new(id, dialect), counters: LocalCounters::default() }
    }
}

/// Parses `request` (one line, inline syntax) in the session's dialect.
fn parse<'a>(session: &Session, request: &'a [u8]) -> Command<'a> {
    match session.dialect.parse(request, &Limits::default()) {
        Parsed::Command { command, .. } => command,
        other => panic!("{:?} did not parse: {other:?}", String::from_utf8_lossy(request)),
    }
}

/// Runs one request into `out`.
fn run_into(engine: &Engine, c: &mut Conn, request: &str, out: &mut impl Output) -> Flow {
    let line = format!("{request}\r\n");
    let command = parse(&c.session, line.as_bytes());
    engine.execute(&command, &mut c.session, &mut c.counters, out)
}

/// Runs one request; returns the flow and the reply bytes as text.
fn run(engine: &Engine, c: &mut Conn, request: &str) -> (Flow, String) {
    let mut out = Vec::new();
    let flow = run_into(engine, c, request, &mut out);
    (flow, String::from_utf8_lossy(&out).into_owned())
}

/// The reply to one request that must continue the connection.
fn reply(engine: &Engine, c: &mut Conn, request: &str) -> String {
    let (flow, text) = run(engine, c, request);
    assert_eq!(flow, Flow::Continue, "{request}");
    text
}

fn resp2() -> Conn {
    Conn::new(7, Dialect::Resp2)
}

#[test]
fn set_get_del_in_every_dialect() {
    let (engine, _) = engine();
    let mut s = resp2();
    assert_eq!(reply(&engine, &mut s, "SET k hello"), "+OK\r\n");
    assert_eq!(reply(&engine, &mut s, "GET k"), "$5\r\nhello\r\n");
    assert_eq!(reply(&engine, &mut s, "GET missing"), "$-1\r\n");
    let mut line = Conn::new(8, Dialect::Line);
    assert_eq!(reply(&engine, &mut line, "GET k"), "hello\n");
    assert_eq!(reply(&engine, &mut line, "PUT k2 a b"), "OK\n");
    assert_eq!(reply(&engine, &mut line, "GET missing"), "NOTFOUND\n");
    assert_eq!(reply(&engine, &mut line, "DEL k2"), "OK\n");
    assert_eq!(reply(&engine, &mut line, "DEL k2"), "NOTFOUND\n");
    let mut resp3 = Conn::new(9, Dialect::Resp3);
    assert_eq!(reply(&engine, &mut resp3, "GET missing"), "_\r\n");
    assert_eq!(reply(&engine, &mut s, "DEL k k missing"), ":1\r\n");
}

#[test]
fn set_options_and_conditions() {
    let (engine, _) = engine();
    let mut s = resp2();
    assert_eq!(reply(&engine, &mut s, "SET k v1 NX"), "+OK\r\n");
    assert_eq!(reply(&engine, &mut s, "SET k v2 NX"), "$-1\r\n");
    assert_eq!(reply(&engine, &mut s, "SET k v3 XX GET"), "$2\r\nv1\r\n");
    assert_eq!(reply(&engine, &mut s, "SET absent v XX"), "$-1\r\n");
    assert_eq!(reply(&engine, &mut s, "SETNX k v4"), ":0\r\n");
    assert_eq!(reply(&engine, &mut s, "SETNX fresh v4"), ":1\r\n");
    assert_eq!(reply(&engine, &mut s, "GET k"), "$2\r\nv3\r\n");
}

#[test]
fn expiry_follows_the_clock() {
    let (engine, clock) = engine();
    let mut s = resp2();
    assert_eq!(reply(&engine, &mut s, "SET k v PX 1500"), "+OK\r\n");
    assert_eq!(reply(&engine, &mut s, "PTTL k"), ":1500\r\n");
    assert_eq!(reply(&engine, &mut s, "TTL k"), ":2\r\n");
    assert_eq!(reply(&engine, &mut s, "PERSIST k"), ":1\r\n");
    assert_eq!(reply(&engine, &mut s, "TTL k"), ":-1\r\n");
    assert_eq!(reply(&engine, &mut s, "EXPIRE k 10 GT"), ":0\r\n");
    assert_eq!(reply(&engine, &mut s, "EXPIRE k 10"), ":1\r\n");
    clock.fetch_add(10_000, Ordering::Relaxed);
    assert_eq!(reply(&engine, &mut s, "GET k"), "$-1\r\n");
    assert_eq!(reply(&engine, &mut s, "TTL k"), ":-2\r\n");
    // A deadline in the past deletes the key.
    assert_eq!(reply(&engine, &mut s, "SET k v"), "+OK\r\n");
    assert_eq!(reply(&engine, &mut s, "EXPIRE k -1"), ":1\r\n");
    assert_eq!(reply(&engine, &mut s, "EXISTS k"), ":0\r\n");
}

#[test]
fn counters_and_their_errors() {
    let (engine, _) = engine();
    let mut s = resp2();
    assert_eq!(reply(&engine, &mut s, "INCR n"), ":1\r\n");
    assert_eq!(reply(&engine, &mut s, "INCRBY n 41"), ":42\r\n");
    assert_eq!(reply(&engine, &mut s, "DECRBY n 2"), ":40\r\n");
    assert_eq!(reply(&engine, &mut s, "SET big 9223372036854775807"), "+OK\r\n");
    assert_eq!(
        reply(&engine, &mut s, "INCR big"),
        "-ERR increment or decrement would overflow\r\n"
    );
    assert_eq!(reply(&engine, &mut s, "SET word abc"), "+OK\r\n");
    assert_eq!(
        reply(&engine, &mut s, "INCR word"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(reply(&engine, &mut s, "APPEND word def"), ":6\r\n");
    assert_eq!(reply(&engine, &mut s, "STRLEN word"), ":6\r\n");
    // Failed calls are counted as failures of their family.
    let incr = s.counters.failed[crate::protocol::CommandId::IncrBy.slot()];
    assert_eq!(incr, 2);
}

#[test]
fn mget_counts_hits_and_misses() {
    let (engine, _) = engine();
    let mut s = resp2();
    assert_eq!(reply(&engine, &mut s, "MSET a 1 b 22"), "+OK\r\n");
    assert_eq!(reply(&engine, &mut s, "MGET a nope b"), "*3\r\n$1\r\n1\r\n$-1\r\n$2\r\n22\r\n");
    assert_eq!((s.counters.hits, s.counters.misses), (2, 1));
    let mut resp3 = Conn::new(1, Dialect::Resp3);
    assert_eq!(reply(&engine, &mut resp3, "MGET nope"), "*1\r\n_\r\n");
}

#[test]
fn no_room_means_nothing_done() {
    let (engine, _) = engine();
    let mut s = resp2();
    let value = "x".repeat(1000);
    assert_eq!(reply(&engine, &mut s, &format!("SET k {value}")), "+OK\r\n");

    // GET with too little room: asks for enough, writes nothing.
    let mut out = Capped { bytes: Vec::new(), cap: 100 };
    match run_into(&engine, &mut s, "GET k", &mut out) {
        Flow::NeedRoom(n) => assert!(n >= 1000 + 7, "asked for {n}"),
        other => panic!("{other:?}"),
    }
    assert!(out.bytes.is_empty());
    assert_eq!((s.counters.hits, s.counters.ok[0]), (0, 0), "counted when it reruns");

    // SET ... GET must not write when the old value cannot be sent.
    match run_into(&engine, &mut s, "SET k new GET", &mut out) {
        Flow::NeedRoom(n) => assert!(n >= 1000),
        other => panic!("{other:?}"),
    }
    assert!(out.bytes.is_empty());
    assert_eq!(reply(&engine, &mut s, "GET k"), format!("$1000\r\n{value}\r\n"));

    // MGET asks for the whole reply at once.
    match run_into(&engine, &mut s, "MGET k k", &mut out) {
        Flow::NeedRoom(n) => assert!(n >= 2000, "asked for {n}"),
        other => panic!("{other:?}"),
    }
    assert!(out.bytes.is_empty());

    // Given the room, the same request goes through.
    let mut out = Capped { bytes: Vec::new(), cap: 2000 };
    assert_eq!(run_into(&engine, &mut s, "GET k", &mut out), Flow::Continue);
    assert_eq!(out.bytes.len(), 1000 + 9);
}

#[test]
fn a_failed_command_leaves_no_partial_reply() {
    let (engine, _) = engine();
    let mut s = resp2();
    assert_eq!(reply(&engine, &mut s, "SET k v"), "+OK\r\n");
    // GETEX writes the value, then finds the deadline overflows.
    let command = Command::GetEx { key: b"k", expiry: Some(Expiry::InMillis(u64::MAX)) };
    let mut out = Vec::new();
    assert_eq!(engine.execute(&command, &mut s.session, &mut s.counters, &mut out), Flow::Continue);
    assert_eq!(out, b"-ERR invalid expire time in 'getex' command\r\n");
}

#[test]
fn hello_switches_the_protocol_and_answers_in_it() {
    let (engine, _) = engine();
    let mut s = resp2();
    let text = reply(&engine, &mut s, "HELLO 3");
    assert_eq!(s.session.dialect, Dialect::Resp3);
    assert!(text.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{text}");
    assert!(text.contains("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:7\r\n"), "{text}");
    assert_eq!(reply(&engine, &mut s, "CLIENT GETNAME"), "_\r\n");
    let text = reply(&engine, &mut s, "HELLO 2");
    assert_eq!(s.session.dialect, Dialect::Resp2);
    assert!(text.starts_with("*14\r\n"), "{text}");
    assert_eq!(reply(&engine, &mut s, "CLIENT GETNAME"), "$-1\r\n");
}

#[test]
fn client_and_command_subcommands() {
    let (engine, _) = engine();
    let mut s = resp2();
    assert_eq!(reply(&engine, &mut s, "CLIENT SETNAME worker-1"), "+OK\r\n");
    assert_eq!(reply(&engine, &mut s, "CLIENT GETNAME"), "$8\r\nworker-1\r\n");
    assert_eq!(reply(&engine, &mut s, "CLIENT ID"), ":7\r\n");
    let count = crate::protocol::metadata::COMMANDS.len();
    assert_eq!(reply(&engine, &mut s, "COMMAND COUNT"), format!(":{count}\r\n"));
    assert_eq!(reply(&engine, &mut s, "COMMAND DOCS nosuch"), "*0\r\n");
    assert_eq!(
        reply(&engine, &mut s, "CONFIG GET maxclients"),
        "*2\r\n$10\r\nmaxclients\r\n$2\r\n10\r\n"
    );
    let mut resp3 = Conn::new(1, Dialect::Resp3);
    assert_eq!(reply(&engine, &mut resp3, "COMMAND DOCS nosuch"), "%0\r\n");
    assert!(reply(&engine, &mut resp3, "COMMAND DOCS").starts_with(&format!("%{count}\r\n")));
}

#[test]
fn quit_closes_after_its_reply() {
    let (engine, _) = engine();
    assert_eq!(run(&engine, &mut resp2(), "QUIT"), (Flow::Close, "+OK\r\n".into()));
    let mut line = Conn::new(1, Dialect::Line);
    assert_eq!(run(&engine, &mut line, "QUIT"), (Flow::Close, String::new()));
}

#[test]
fn info_sections_in_both_dialects() {
    let (engine, _) = engine();
    let mut s = resp2();
    assert_eq!(reply(&engine, &mut s, "SET k v"), "+OK\r\n");
    // Counters reach INFO once the connection merges them.
    engine.stats.merge(&mut s.counters);
    let text = reply(&engine, &mut s, "INFO");
    assert!(text.contains("# Server\r\nredis_version:"), "{text}");
    assert!(text.contains("db0:keys=1,expires=0"), "{text}");
    assert!(!text.contains("# Commandstats"), "default set has no commandstats");
    let text = reply(&engine, &mut s, "INFO commandstats");
    assert!(text.contains("cmdstat_set:calls=1,"), "{text}");
    assert!(!text.contains("# Server"), "{text}");
    let mut line = Conn::new(1, Dialect::Line);
    let text = reply(&engine, &mut line, "STATS");
    assert!(text.starts_with("STAT redis_version "), "{text}");
    assert!(text.contains("STAT cmdstat_set calls=1,"), "{text}");
    assert!(text.ends_with("\nEND\n"), "{text}");
}

#[test]
fn info_shows_live_and_dead_bytes() {
    let (engine, _) = engine();
    let mut s = resp2();
    // Same length: in place; longer: the old item (2-byte header, key,
    // value) is dead.
    for cmd in ["SET k v", "SET k w", "SET k vv"] {
        assert_eq!(reply(&engine, &mut s, cmd), "+OK\r\n");
    }
    let text = reply(&engine, &mut s, "INFO");
    for field in [
        "\r\ncapkv_item_bytes:5\r\n",
        "\r\ncapkv_dead_bytes:4\r\n",
        "\r\ncapkv_overwrites_in_place:1\r\n",
        "\r\ncapkv_cleaned_segments:0\r\n",
    ] {
        assert!(text.contains(field), "{field:?} missing in {text}");
    }
    assert!(text.contains("\r\ncapkv_live_fraction:0.000\r\n"), "5 bytes of 64 KiB: {text}");
    let shard = text.lines().find(|l| l.contains(",dead_bytes=4,")).expect("the key's shard");
    assert!(shard.starts_with("capkv_shard") && shard.contains(":live_bytes=5,"), "{shard}");
    assert!(shard.ends_with(",segment_bytes=65536,live_fraction=0.000"), "{shard}");
}
