//! CONFIG SET of what changes live, over real TCP: `maxmemory` moves the
//! budget (the cache is evicted down to a lower one under load and grows
//! into a higher one), `maxclients` refuses newcomers past it and keeps
//! who is connected, `timeout` closes idle connections, and a CONFIG SET
//! of several pairs applies all of them or none.

mod common;
mod resp_support;

use std::time::Duration;

use common::{BinaryServer, Client, TestServer, eventually};
use resp_support::{ask_text, encode, raw};

const MIB: u64 = 1 << 20;

/// One INFO field, as a number.
fn info_field(c: &mut Client, name: &str) -> u64 {
    let text = resp_support::ask_text(c, &["INFO", "all"]);
    let prefix = format!("{name}:");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{name}"));
    line[prefix.len()..].trim().parse().unwrap_or_else(|_| panic!("{line}"))
}

fn info_text(c: &mut Client, name: &str) -> String {
    let text = resp_support::ask_text(c, &["INFO", "memory"]);
    let prefix = format!("{name}:");
    let line = text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("{name}"));
    line[prefix.len()..].trim().to_string()
}

/// Writes `count` values of `size` bytes under `prefix`, pipelined in
/// batches of 100.
fn fill(c: &mut Client, prefix: &str, count: usize, size: usize) {
    let value = vec![b'v'; size];
    for batch in (0..count).collect::<Vec<_>>().chunks(100) {
        let mut request = Vec::new();
        for i in batch {
            let key = format!("{prefix}:{i}");
            request.extend(encode(&[b"SET", key.as_bytes(), &value]));
        }
        c.send(&request);
        for _ in batch {
            let line = c.line();
            assert!(line == b"+OK\r\n" || line.starts_with(b"-OOM"), "{line:?}");
        }
    }
}

fn config_get(c: &mut Client, name: &str) -> String {
    let reply = ask_text(c, &["CONFIG", "GET", name]);
    reply.lines().nth(4).unwrap_or_default().to_string()
}

/// A process of its own: the governor measures the whole process, and
/// the other tests' servers share this one.
#[test]
fn lowering_maxmemory_evicts_down_to_it_under_load_and_raising_lets_the_cache_grow() {
    // 1 MiB values: the 16 MiB default would need a 129 MiB budget at
    // least (an eighth of it holds the largest request).
    let server = BinaryServer::start(&["--max-memory", "256mb", "--max-value-size", "1mb"]);
    let mut c = Client::connect(server.addr);
    assert_eq!(ask_text(&mut c, &["PING"]), "+PONG\r\n");
    fill(&mut c, "a", 1600, 100 * 1024);
    let before = info_field(&mut c, "capkv_segment_bytes");
    assert!(before > 120 * MIB, "the store holds {before} bytes of segments");

    // Lowered while another client keeps writing.
    let addr = server.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut w = Client::connect(addr);
            let mut round = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                fill(&mut w, &format!("w{round}"), 100, 10 * 1024);
                round += 1;
            }
        })
    };
    assert_eq!(ask_text(&mut c, &["CONFIG", "SET", "maxmemory", "64MB"]), "+OK\r\n");
    assert_eq!(config_get(&mut c, "maxmemory"), (64 * MIB).to_string());
    assert_eq!(info_text(&mut c, "maxmemory"), (64 * MIB).to_string());
    assert_eq!(info_text(&mut c, "maxmemory_human"), "64.00M");
    assert!(
        eventually(Duration::from_secs(10), || {
            info_field(&mut c, "capkv_segment_bytes") <= 64 * MIB
        }),
        "segments did not shrink under the new budget"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    let dbsize = |c: &mut Client| {
        ask_text(c, &["DBSIZE"]).trim_start_matches(':').trim().parse::<u64>().unwrap()
    };
    let small = dbsize(&mut c);
    assert!(info_field(&mut c, "capkv_segment_bytes") <= 64 * MIB);
    assert!(info_field(&mut c, "evicted_keys") > 0);

    // Raised: the cache grows past the old limit again.
    assert_eq!(ask_text(&mut c, &["CONFIG", "SET", "maxmemory", "200mb"]), "+OK\r\n");
    fill(&mut c, "b", 1200, 100 * 1024);
    assert!(
        eventually(Duration::from_secs(10), || {
            info_field(&mut c, "capkv_segment_bytes") > 80 * MIB
        }),
        "the cache did not grow into the raised budget"
    );
    assert!(dbsize(&mut c) > small);
}

#[test]
fn maxmemory_values_and_bounds_are_checked_and_multi_pair_set_is_all_or_nothing() {
    let server = TestServer::start(&["--max-memory", "256mb", "--max-value-size", "1mb"]);
    let mut c = raw(&server);
    let failed = |name: &str, why: &str| {
        format!("-ERR CONFIG SET failed (possibly related to argument '{name}') - {why}\r\n")
    };
    for bad in ["abc", "-1", "1.5gb", "10tb", "64 mb"] {
        assert_eq!(
            ask_text(&mut c, &["CONFIG", "SET", "maxmemory", bad]),
            failed("maxmemory", "argument must be a memory value"),
            "{bad}"
        );
    }
    let too_small = ask_text(&mut c, &["CONFIG", "SET", "maxmemory", "1mb"]);
    assert!(too_small.contains("maxmemory must be at least"), "{too_small}");
    // With the default 16 MiB values, an eighth of the budget must hold one.
    let default = TestServer::start(&["--max-memory", "256mb"]);
    let mut d = raw(&default);
    let refused = ask_text(&mut d, &["CONFIG", "SET", "maxmemory", "100mb"]);
    assert!(refused.contains("must be at least 128.") && refused.contains("--max-value-size"));
    let too_big = ask_text(&mut c, &["CONFIG", "SET", "maxmemory", "100gb"]);
    assert!(too_big.contains("at most 8.00G (this machine's RAM"), "{too_big}");
    // The first pair is good, the second is not: neither is applied.
    assert_eq!(
        ask_text(&mut c, &["CONFIG", "SET", "timeout", "5", "maxmemory", "x"]),
        failed("maxmemory", "argument must be a memory value")
    );
    assert_eq!(config_get(&mut c, "timeout"), "0");
    assert_eq!(
        ask_text(&mut c, &["CONFIG", "SET", "timeout", "5", "port", "1"]),
        failed("port", "can't set immutable config (capkv takes it from its start-up flags)")
    );
    assert_eq!(config_get(&mut c, "timeout"), "0");
    assert_eq!(
        ask_text(&mut c, &["CONFIG", "SET", "timeout", "-1"]),
        failed("timeout", "argument must be between 0 and 2147483647 inclusive")
    );
    assert_eq!(
        ask_text(&mut c, &["CONFIG", "SET", "maxclients", "many"]),
        failed("maxclients", "argument couldn't be parsed into an integer")
    );
    assert_eq!(
        ask_text(&mut c, &["CONFIG", "SET", "maxclients", "0"]),
        failed("maxclients", "argument must be between 1 and 4294967295 inclusive")
    );
    let fds = ask_text(&mut c, &["CONFIG", "SET", "maxclients", "4000000000"]);
    assert!(
        fds.contains(
            "The operating system is not able to handle the specified number of clients, try with"
        ),
        "{fds}"
    );
    // All of them at once: every pair applied.
    assert_eq!(
        ask_text(
            &mut c,
            &["CONFIG", "SET", "timeout", "7", "maxmemory", "100mb", "maxclients", "50"]
        ),
        "+OK\r\n"
    );
    assert_eq!(config_get(&mut c, "timeout"), "7");
    assert_eq!(config_get(&mut c, "maxmemory"), (100 * MIB).to_string());
    assert_eq!(config_get(&mut c, "maxclients"), "50");
    assert_eq!(info_field(&mut c, "maxclients"), 50);
    // maxmemory 0: capkv picks the budget itself (a quarter of the 8 GiB
    // the harness says the machine has), as it does without --max-memory.
    assert_eq!(ask_text(&mut c, &["CONFIG", "SET", "maxmemory", "0"]), "+OK\r\n");
    assert_eq!(config_get(&mut c, "maxmemory"), (2u64 << 30).to_string());
}

#[test]
fn prometheus_shows_the_new_budget() {
    let server =
        TestServer::start_with_metrics(&["--max-memory", "256mb", "--max-value-size", "1mb"]);
    let mut c = raw(&server);
    assert_eq!(ask_text(&mut c, &["CONFIG", "SET", "maxmemory", "100mb"]), "+OK\r\n");
    let (status, body) = common::http_get(server.metrics.unwrap(), "/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains(&format!("capkv_memory_budget_bytes {}", 100 * MIB)), "{body}");
}

#[test]
fn lowering_maxclients_refuses_newcomers_and_keeps_who_is_connected() {
    let server = TestServer::start(&[]);
    let mut admin = raw(&server);
    let mut other = raw(&server);
    assert_eq!(ask_text(&mut admin, &["CONFIG", "SET", "maxclients", "1"]), "+OK\r\n");
    let mut refused = Client::connect(server.addr);
    assert_eq!(refused.line(), b"-ERR max number of clients reached\r\n");
    assert!(refused.closed());
    // Both existing connections keep working.
    assert_eq!(ask_text(&mut admin, &["PING"]), "+PONG\r\n");
    assert_eq!(ask_text(&mut other, &["PING"]), "+PONG\r\n");
    assert_eq!(ask_text(&mut admin, &["CONFIG", "SET", "maxclients", "3"]), "+OK\r\n");
    let mut third = raw(&server);
    assert_eq!(ask_text(&mut third, &["PING"]), "+PONG\r\n");
    let mut fourth = Client::connect(server.addr);
    assert_eq!(fourth.line(), b"-ERR max number of clients reached\r\n");
}

#[test]
fn config_set_timeout_closes_idle_connections() {
    let server = TestServer::start(&[]);
    // Idle since before the timeout existed: it waits without a timer,
    // and must be woken to start one.
    let mut idle = raw(&server);
    let mut admin = raw(&server);
    assert_eq!(ask_text(&mut admin, &["CONFIG", "SET", "timeout", "1"]), "+OK\r\n");
    assert_eq!(config_get(&mut admin, "timeout"), "1");
    idle.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    assert!(idle.closed(), "the idle connection was not closed");
    // Back to never: a connection idle past a second stays open.
    let mut kept = raw(&server);
    let mut admin = raw(&server);
    assert_eq!(ask_text(&mut admin, &["CONFIG", "SET", "timeout", "0"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(ask_text(&mut kept, &["PING"]), "+PONG\r\n");
}
