//! Values larger than a segment (1 MiB by default), over real TCP: stored
//! in allocations of their own up to `--max-value-size` (16 MiB by
//! default), byte-exact, freed when they die, evicted like any other item
//! under a small budget.

mod common;
mod resp_support;

use std::time::Duration;

use redis::Value;

use common::{BinaryServer, TestServer};
use resp_support::{connect, run};

const MIB: usize = 1 << 20;

/// `len` bytes that differ from position to position (and from `seed`
/// to seed), so a shifted or truncated copy cannot pass for the value.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed).collect()
}

fn data(value: Result<Value, String>) -> Vec<u8> {
    match value {
        Ok(Value::BulkString(bytes)) => bytes,
        other => panic!("not a bulk string: {:?}", other.map(|v| format!("{v:?}").len())),
    }
}

fn int(value: Result<Value, String>) -> i64 {
    match value {
        Ok(Value::Int(n)) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// A numeric field of INFO.
fn info_field(con: &mut redis::Connection, field: &str) -> u64 {
    let info = String::from_utf8(data(run(con, &[b"INFO"]))).unwrap();
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO"))
}

#[test]
fn values_of_1_4_and_16_mib_round_trip_with_default_flags() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    for (i, len) in [MIB, 4 * MIB, 16 * MIB].into_iter().enumerate() {
        let key = format!("big{len}");
        let value = pattern(len, i as u8);
        assert_eq!(run(&mut con, &[b"SET", key.as_bytes(), &value]), Ok(Value::Okay));
        assert!(data(run(&mut con, &[b"GET", key.as_bytes()])) == value, "{len} bytes back");
        assert_eq!(int(run(&mut con, &[b"STRLEN", key.as_bytes()])), len as i64);
        let tail = data(run(&mut con, &[b"GETRANGE", key.as_bytes(), b"-5", b"-1"]));
        assert_eq!(tail, value[len - 5..]);
        let usage = int(run(&mut con, &[b"MEMORY", b"USAGE", key.as_bytes()]));
        assert!(usage as usize >= len && usage as usize <= len + len / 4 + 64, "{usage}");
    }
    // The first is still there after the others.
    assert!(data(run(&mut con, &[b"GET", b"big1048576"])) == pattern(MIB, 0));
    // One byte over the limit: Redis's error for a bulk that large.
    let over = vec![b'x'; 16 * MIB + 1];
    let refused = run(&mut con, &[b"SET", b"over", &over]).unwrap_err();
    assert_eq!(refused, "ERR value too large");
    assert_eq!(run(&mut con, &[b"PING"]), Ok(Value::SimpleString("PONG".into())));
}

#[test]
fn append_setrange_and_setbit_grow_a_value_past_a_segment() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let mut model = Vec::new();
    for round in 0..6u8 {
        let chunk = pattern(300 * 1024, round);
        let len = int(run(&mut con, &[b"APPEND", b"log", &chunk]));
        model.extend_from_slice(&chunk);
        assert_eq!(len as usize, model.len());
    }
    assert!(data(run(&mut con, &[b"GET", b"log"])) == model, "appended past 1 MiB");
    let offset = (3 * MIB).to_string();
    assert_eq!(
        int(run(&mut con, &[b"SETRANGE", b"log", offset.as_bytes(), b"end"])),
        3 * 1048576 + 3
    );
    model.resize(3 * MIB, 0);
    model.extend_from_slice(b"end");
    assert!(data(run(&mut con, &[b"GET", b"log"])) == model, "SETRANGE zero-fills");
    let bit = (4 * MIB * 8 + 7).to_string();
    assert_eq!(int(run(&mut con, &[b"SETBIT", b"log", bit.as_bytes(), b"1"])), 0);
    assert_eq!(int(run(&mut con, &[b"STRLEN", b"log"])), 4 * 1048576 + 1);
    assert_eq!(int(run(&mut con, &[b"GETBIT", b"log", bit.as_bytes()])), 1);
    // COPY and RENAME move the whole value.
    assert_eq!(int(run(&mut con, &[b"COPY", b"log", b"copy"])), 1);
    assert_eq!(run(&mut con, &[b"RENAME", b"copy", b"moved"]), Ok(Value::Okay));
    assert_eq!(data(run(&mut con, &[b"GET", b"moved"])), data(run(&mut con, &[b"GET", b"log"])));
    assert_eq!(run(&mut con, &[b"EXISTS", b"copy"]), Ok(Value::Int(0)));
}

#[test]
fn overwrite_and_del_give_the_memory_back() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    assert_eq!(run(&mut con, &[b"SET", b"small", b"v"]), Ok(Value::Okay));
    let base = info_field(&mut con, "capkv_segment_bytes");
    let big = pattern(8 * MIB, 1);
    assert_eq!(run(&mut con, &[b"SET", b"big", &big]), Ok(Value::Okay));
    let held = info_field(&mut con, "capkv_segment_bytes");
    assert!(held >= base + 8 * MIB as u64, "{held} after {base}");
    assert!(info_field(&mut con, "capkv_item_bytes") >= 8 * MIB as u64);
    assert_eq!(run(&mut con, &[b"SET", b"big", b"small now"]), Ok(Value::Okay));
    assert!(info_field(&mut con, "capkv_segment_bytes") <= base + MIB as u64, "overwritten");
    assert_eq!(run(&mut con, &[b"SET", b"big", &big]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"DEL", b"big"]), Ok(Value::Int(1)));
    assert!(info_field(&mut con, "capkv_segment_bytes") <= base + MIB as u64, "deleted");
    assert!(info_field(&mut con, "capkv_item_bytes") < MIB as u64);
}

/// 40 values of 4 MiB (160 MiB) through a 96 MiB budget: every SET is
/// answered OK, the oldest are evicted, the newest read back, and the
/// process stays near its budget.
#[test]
fn big_values_under_a_small_budget_are_evicted_not_piled_up() {
    let server = BinaryServer::start(&["--max-memory", "96mb", "--shards", "4"]);
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("--max-value-size defaults to"), "the default shrank: {log}");
    let client = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(10)).unwrap();
    con.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut peak = 0;
    for i in 0..40u8 {
        let key = format!("v{i}");
        assert_eq!(run(&mut con, &[b"SET", key.as_bytes(), &pattern(4 * MIB, i)]), Ok(Value::Okay));
        peak = peak.max(server.rss());
    }
    assert!(data(run(&mut con, &[b"GET", b"v39"])) == pattern(4 * MIB, 39));
    let keys = int(run(&mut con, &[b"DBSIZE"]));
    assert!((1..40).contains(&keys), "{keys} keys kept");
    assert!(info_field(&mut con, "evicted_keys") >= 40 - keys as u64);
    assert!(info_field(&mut con, "capkv_segment_bytes") <= 96 * MIB as u64);
    assert!(peak <= 96 * MIB as u64 + 16 * MIB as u64, "peak RSS {peak}");
}

/// A 64 MiB value with the flags that allow it.
#[test]
fn a_larger_limit_with_a_larger_client_buffer() {
    let flags =
        ["--max-value-size", "64mb", "--max-client-buffer", "160mb", "--max-memory", "768mb"];
    let server = TestServer::start(&flags);
    let mut con = connect(&server);
    let value = pattern(64 * MIB, 7);
    assert_eq!(run(&mut con, &[b"SET", b"huge", &value]), Ok(Value::Okay));
    assert!(data(run(&mut con, &[b"GET", b"huge"])) == value);
    assert_eq!(run(&mut con, &[b"PING"]), Ok(Value::SimpleString("PONG".into())));
}
