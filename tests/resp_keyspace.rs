//! The keyspace commands (TYPE, TOUCH, EXPIRETIME, PEXPIRETIME, TIME,
//! RANDOMKEY, RENAME, RENAMENX, COPY, KEYS, SCAN) over real TCP, with the
//! exact bytes Redis 7.0 answers. Where Redis's own suite has a test
//! (`unit/keyspace.tcl`, `unit/expire.tcl`, `unit/scan.tcl`), the test
//! here is a port of it and says so.

mod common;
mod resp_support;

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use redis::Value;

use common::{Client, TestServer};
use resp_support::{ask_text, bulk, connect, is_capkv, raw, run};

fn arity(name: &str) -> String {
    format!("-ERR wrong number of arguments for '{name}' command\r\n")
}

fn ask(c: &mut Client, args: &[&str]) -> String {
    ask_text(c, args)
}

/// The keys of a KEYS reply (or SCAN page), sorted.
fn sorted(value: Value) -> Vec<String> {
    let Value::Array(items) = value else { panic!("not an array: {value:?}") };
    let mut keys: Vec<String> = items
        .into_iter()
        .map(|v| match v {
            Value::BulkString(b) => String::from_utf8(b).unwrap(),
            other => panic!("not a bulk string: {other:?}"),
        })
        .collect();
    keys.sort();
    keys
}

/// One SCAN call: the next cursor and the keys.
fn scan_page(con: &mut redis::Connection, args: &[&str]) -> (u64, Vec<String>) {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let Ok(Value::Array(mut parts)) = run(con, &args) else { panic!("SCAN reply") };
    assert_eq!(parts.len(), 2);
    let keys = sorted(parts.pop().unwrap());
    let Value::BulkString(cursor) = parts.pop().unwrap() else { panic!("cursor is a bulk") };
    (String::from_utf8(cursor).unwrap().parse().unwrap(), keys)
}

/// A whole SCAN with `options` after the cursor, every key as often as it
/// came back.
fn full_scan(con: &mut redis::Connection, options: &[&str]) -> Vec<String> {
    let mut cursor = 0u64;
    let mut keys = Vec::new();
    loop {
        let c = cursor.to_string();
        let mut args = vec!["SCAN", c.as_str()];
        args.extend_from_slice(options);
        let (next, page) = scan_page(con, &args);
        keys.extend(page);
        if next == 0 {
            return keys;
        }
        cursor = next;
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn type_touch_and_arity() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["TYPE", "k"]), "+none\r\n");
    assert_eq!(ask(&mut c, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["TYPE", "k"]), "+string\r\n");
    assert_eq!(ask(&mut c, &["SET", "n", "12"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["type", "n"]), "+string\r\n");
    // TOUCH counts the keys that exist, repeats included (Redis loops over
    // its arguments).
    assert_eq!(ask(&mut c, &["TOUCH", "k", "missing", "n", "k"]), ":3\r\n");
    assert_eq!(ask(&mut c, &["TOUCH", "missing"]), ":0\r\n");
    assert_eq!(ask(&mut c, &["TYPE"]), arity("type"));
    assert_eq!(ask(&mut c, &["TYPE", "a", "b"]), arity("type"));
    assert_eq!(ask(&mut c, &["TOUCH"]), arity("touch"));
    assert_eq!(ask(&mut c, &["TIME", "x"]), arity("time"));
    assert_eq!(ask(&mut c, &["RANDOMKEY", "x"]), arity("randomkey"));
    assert_eq!(ask(&mut c, &["EXPIRETIME"]), arity("expiretime"));
    assert_eq!(ask(&mut c, &["PEXPIRETIME", "a", "b"]), arity("pexpiretime"));
    assert_eq!(ask(&mut c, &["RENAME", "a"]), arity("rename"));
    assert_eq!(ask(&mut c, &["RENAMENX", "a", "b", "c"]), arity("renamenx"));
    assert_eq!(ask(&mut c, &["COPY", "a"]), arity("copy"));
    assert_eq!(ask(&mut c, &["KEYS"]), arity("keys"));
    assert_eq!(ask(&mut c, &["KEYS", "a", "b"]), arity("keys"));
    assert_eq!(ask(&mut c, &["SCAN"]), arity("scan"));
}

/// `unit/expire.tcl`: "EXPIRETIME returns absolute expiration time in
/// seconds", "PEXPIRETIME returns absolute expiration time in
/// milliseconds", "EXPIRETIME/PEXPIRETIME return -1 if key has no
/// expire", "... return -2 if key does not exist".
#[test]
fn expiretime_and_pexpiretime() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let abs = (now_secs() + 100).to_string();
    assert_eq!(ask(&mut c, &["SET", "foo", "bar", "EXAT", &abs]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["EXPIRETIME", "foo"]), format!(":{abs}\r\n"));
    assert_eq!(ask(&mut c, &["PEXPIRETIME", "foo"]), format!(":{abs}000\r\n"));
    let ms = now_secs() * 1000 + 100_000 + 499;
    assert_eq!(ask(&mut c, &["SET", "foo", "bar", "PXAT", &ms.to_string()]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["PEXPIRETIME", "foo"]), format!(":{ms}\r\n"));
    // Seconds are rounded to the nearest, as TTL's are.
    assert_eq!(ask(&mut c, &["EXPIRETIME", "foo"]), format!(":{}\r\n", ms / 1000));
    assert_eq!(ask(&mut c, &["PEXPIREAT", "foo", &(ms + 1).to_string()]), ":1\r\n");
    assert_eq!(ask(&mut c, &["EXPIRETIME", "foo"]), format!(":{}\r\n", ms / 1000 + 1));
    assert_eq!(ask(&mut c, &["SET", "foo", "bar"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["EXPIRETIME", "foo"]), ":-1\r\n");
    assert_eq!(ask(&mut c, &["PEXPIRETIME", "foo"]), ":-1\r\n");
    assert_eq!(ask(&mut c, &["DEL", "foo"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["EXPIRETIME", "foo"]), ":-2\r\n");
    assert_eq!(ask(&mut c, &["PEXPIRETIME", "foo"]), ":-2\r\n");
}

#[test]
fn time_is_seconds_and_microseconds() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let before = now_secs();
    let Ok(Value::Array(parts)) = run(&mut con, &[b"TIME"]) else { panic!("TIME reply") };
    let numbers: Vec<u64> = parts
        .into_iter()
        .map(|p| match p {
            Value::BulkString(b) => String::from_utf8(b).unwrap().parse().unwrap(),
            other => panic!("TIME answers bulk strings, got {other:?}"),
        })
        .collect();
    assert_eq!(numbers.len(), 2);
    assert!((before..=before + 1).contains(&numbers[0]), "{numbers:?}");
    assert!(numbers[1] < 1_000_000);
}

/// `unit/keyspace.tcl`: "RANDOMKEY", "RANDOMKEY against empty DB",
/// "RANDOMKEY regression 1".
#[test]
fn randomkey() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["RANDOMKEY"]), "$-1\r\n");
    assert_eq!(ask(&mut c, &["SET", "x", "10"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["DEL", "x"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["RANDOMKEY"]), "$-1\r\n");
    assert_eq!(ask(&mut c, &["SET", "foo", "x"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["SET", "bar", "y"]), "+OK\r\n");
    let mut seen = HashSet::new();
    for _ in 0..100 {
        seen.insert(ask(&mut c, &["RANDOMKEY"]));
    }
    let want: HashSet<String> = ["$3\r\nfoo\r\n", "$3\r\nbar\r\n"].map(String::from).into();
    assert_eq!(seen, want);
    // Every key expired: nil, not a loop.
    assert_eq!(ask(&mut c, &["FLUSHALL"]), "+OK\r\n");
    for i in 0..200 {
        assert_eq!(ask(&mut c, &["SET", &format!("e{i}"), "v", "PX", "1"]), "+OK\r\n");
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    let mut answers = 0;
    while ask(&mut c, &["RANDOMKEY"]) != "$-1\r\n" {
        answers += 1;
        assert!(answers < 100, "RANDOMKEY returned an expired key");
    }
    // RESP3 nil.
    assert!(ask(&mut c, &["HELLO", "3"]).starts_with('%'));
    assert_eq!(ask(&mut c, &["RANDOMKEY"]), "_\r\n");
}

/// `unit/keyspace.tcl`: "RENAME basic usage", "RENAME source key should no
/// longer exist", "RENAME against already existing key", "RENAMENX basic
/// usage", "RENAMENX against already existing key" (and "(2)"), "RENAME
/// against non existing source key", "RENAME where source and dest key are
/// the same (existing)" / "(non existing)", "RENAMENX where source and dest
/// key are the same (existing)", "RENAME with volatile key, should move the
/// TTL as well", "... should not inherit TTL of target key".
#[test]
fn rename_and_renamenx() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["SET", "mykey", "hello"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["RENAME", "mykey", "mykey1"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["RENAME", "mykey1", "mykey2"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["GET", "mykey2"]), "$5\r\nhello\r\n");
    assert_eq!(ask(&mut c, &["EXISTS", "mykey", "mykey1"]), ":0\r\n");

    assert_eq!(ask(&mut c, &["SET", "mykey", "a"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["SET", "mykey2", "b"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["RENAME", "mykey2", "mykey"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["GET", "mykey"]), "$1\r\nb\r\n");
    assert_eq!(ask(&mut c, &["EXISTS", "mykey2"]), ":0\r\n");

    assert_eq!(ask(&mut c, &["DEL", "mykey", "mykey2"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["SET", "mykey", "foobar"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["RENAMENX", "mykey", "mykey2"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["GET", "mykey2"]), "$6\r\nfoobar\r\n");
    assert_eq!(ask(&mut c, &["EXISTS", "mykey"]), ":0\r\n");
    assert_eq!(ask(&mut c, &["SET", "mykey", "foo"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["SET", "mykey2", "bar"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["RENAMENX", "mykey", "mykey2"]), ":0\r\n");
    assert_eq!(ask(&mut c, &["MGET", "mykey", "mykey2"]), "*2\r\n$3\r\nfoo\r\n$3\r\nbar\r\n");

    assert_eq!(ask(&mut c, &["RENAME", "nokey", "foobar"]), "-ERR no such key\r\n");
    assert_eq!(ask(&mut c, &["RENAMENX", "nokey", "foobar"]), "-ERR no such key\r\n");
    assert_eq!(ask(&mut c, &["EXISTS", "foobar"]), ":0\r\n");
    assert_eq!(ask(&mut c, &["RENAME", "mykey", "mykey"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["RENAMENX", "mykey", "mykey"]), ":0\r\n");
    assert_eq!(ask(&mut c, &["GET", "mykey"]), "$3\r\nfoo\r\n");
    assert_eq!(ask(&mut c, &["DEL", "mykey"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["RENAME", "mykey", "mykey"]), "-ERR no such key\r\n");

    // The TTL moves with the value; the target's own TTL does not stay.
    assert_eq!(ask(&mut c, &["DEL", "mykey", "mykey2"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["SET", "mykey", "foo"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["EXPIRE", "mykey", "100"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["RENAME", "mykey", "mykey2"]), "+OK\r\n");
    let ttl = ask(&mut c, &["TTL", "mykey2"]);
    assert!(ttl == ":100\r\n" || ttl == ":99\r\n", "{ttl}");
    assert_eq!(ask(&mut c, &["DEL", "mykey", "mykey2"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["SET", "mykey", "foo"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["SET", "mykey2", "bar"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["EXPIRE", "mykey2", "100"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["RENAME", "mykey", "mykey2"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["TTL", "mykey2"]), ":-1\r\n");
    // An expired source is missing.
    assert_eq!(ask(&mut c, &["SET", "gone", "v", "PX", "1"]), "+OK\r\n");
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(ask(&mut c, &["RENAME", "gone", "x"]), "-ERR no such key\r\n");
}

/// `unit/keyspace.tcl`: "COPY basic usage for string", "COPY for string
/// does not copy data to no-integer DB", "COPY can copy key expire metadata
/// as well", "COPY does not create an expire if it does not exist"; the
/// DB-10 tests become the single-database errors.
#[test]
fn copy() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["COPY", "missing", "dst"]), ":0\r\n");
    assert_eq!(ask(&mut c, &["SET", "mykey", "foobar"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["GET", "mynewkey"]), "$6\r\nfoobar\r\n");
    assert_eq!(ask(&mut c, &["DBSIZE"]), ":2\r\n");
    // The copy is independent of its source.
    assert_eq!(ask(&mut c, &["SET", "mynewkey", "hoge"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["GET", "mykey"]), "$6\r\nfoobar\r\n");
    // No REPLACE: an existing destination stays.
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey"]), ":0\r\n");
    assert_eq!(ask(&mut c, &["GET", "mynewkey"]), "$4\r\nhoge\r\n");
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey", "DB", "0", "REPLACE"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["GET", "mynewkey"]), "$6\r\nfoobar\r\n");
    // Errors, in Redis's order.
    let range = "-ERR DB index is out of range\r\n";
    let not_int = "-ERR value is not an integer or out of range\r\n";
    let syntax = "-ERR syntax error\r\n";
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey", "DB", "notanumber"]), not_int);
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey", "DB", "10"]), range);
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey", "db", "-1", "FOO"]), range);
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey", "DB"]), syntax);
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey", "FOO"]), syntax);
    assert_eq!(
        ask(&mut c, &["COPY", "mykey", "mykey"]),
        "-ERR source and destination objects are the same\r\n"
    );
    // The deadline is copied; none is created.
    assert_eq!(ask(&mut c, &["SET", "mykey", "foobar", "EX", "100"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey", "REPLACE"]), ":1\r\n");
    let ttl = ask(&mut c, &["TTL", "mynewkey"]);
    assert!(ttl == ":100\r\n" || ttl == ":99\r\n", "{ttl}");
    assert_eq!(ask(&mut c, &["SET", "mykey", "foobar"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["COPY", "mykey", "mynewkey", "replace"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["TTL", "mynewkey"]), ":-1\r\n");
    assert_eq!(ask(&mut c, &["GET", "mynewkey"]), "$6\r\nfoobar\r\n");
}

/// Keys moving forward along a chain, `k0 -> k1 -> ... `, one RENAME at a
/// time, while other clients ask `EXISTS` of the whole chain in one
/// command. EXISTS reads its keys one after the other (it is not a
/// snapshot across shards), so what it may count depends on the direction
/// it reads in, and each direction catches one way a rename could fail:
/// - read *with* the move (`k0` first), it meets the key at least once: a
///   rename that showed neither name for a moment could be missed;
/// - read *against* the move, it meets the key at most once: a rename that
///   showed both names for a moment could be counted twice.
///
/// (A reader against the move may legitimately miss the key, one with it
/// may legitimately count it twice.) The chain's names fall in every shard.
#[test]
fn concurrent_renames_never_show_both_or_neither_name() {
    let server = TestServer::start(&[]);
    let addr = resp_support::target(&server);
    const CHAINS: usize = 3;
    const LENGTH: usize = 300;
    let name = |chain: usize, i: usize| format!("chain{chain}:{i}");
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut threads = Vec::new();
    for chain in 0..CHAINS {
        let mut c = Client::connect(addr);
        assert_eq!(ask(&mut c, &["SET", &name(chain, 0), "v"]), "+OK\r\n");
        let done_w = done.clone();
        threads.push(std::thread::spawn(move || {
            for i in 0..LENGTH - 1 {
                assert_eq!(
                    ask(&mut c, &["RENAME", &name(chain, i), &name(chain, i + 1)]),
                    "+OK\r\n"
                );
            }
            done_w.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            0
        }));
        for with_the_move in [true, false] {
            let done_r = done.clone();
            threads.push(std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut names: Vec<String> = (0..LENGTH).map(|i| name(chain, i)).collect();
                if !with_the_move {
                    names.reverse();
                }
                let mut args = vec!["EXISTS"];
                args.extend(names.iter().map(String::as_str));
                let mut looks = 0;
                while done_r.load(std::sync::atomic::Ordering::SeqCst) < CHAINS {
                    let reply = ask(&mut c, &args);
                    let seen: i64 = reply.trim_start_matches(':').trim_end().parse().unwrap();
                    if with_the_move {
                        assert!(seen >= 1, "chain {chain}: a rename showed neither name");
                    } else {
                        assert!(seen <= 1, "chain {chain}: a rename showed both names");
                    }
                    looks += 1;
                }
                looks
            }));
        }
    }
    let looks: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(looks > 0);
    let mut c = Client::connect(addr);
    assert_eq!(ask(&mut c, &["DBSIZE"]), format!(":{CHAINS}\r\n"));
    for chain in 0..CHAINS {
        assert_eq!(ask(&mut c, &["GET", &name(chain, LENGTH - 1)]), "$1\r\nv\r\n");
    }
}

/// Clients renaming one key back and forth between two names in different
/// shards, and copying it: the value is never lost or duplicated.
#[test]
fn concurrent_rename_ping_pong_keeps_one_key() {
    let server = TestServer::start(&[]);
    let addr = resp_support::target(&server);
    let mut c = Client::connect(addr);
    assert_eq!(ask(&mut c, &["SET", "ping", "v"]), "+OK\r\n");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let (from, to) = if t % 2 == 0 { ("ping", "pong") } else { ("pong", "ping") };
                let mut moved = 0;
                for _ in 0..500 {
                    match ask(&mut c, &["RENAME", from, to]).as_str() {
                        "+OK\r\n" => moved += 1,
                        "-ERR no such key\r\n" => {}
                        other => panic!("RENAME answered {other:?}"),
                    }
                    let copied = ask(&mut c, &["COPY", from, "copy", "REPLACE"]);
                    assert!(copied == ":1\r\n" || copied == ":0\r\n", "{copied}");
                }
                moved
            })
        })
        .collect();
    let moved: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(moved > 0);
    assert_eq!(ask(&mut c, &["EXISTS", "ping", "pong"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["GET", "copy"]), "$1\r\nv\r\n");
}

/// `unit/keyspace.tcl`: "KEYS with pattern", "KEYS to get all keys",
/// "KEYS with hashtag", "DEL all keys", "KEYS * two times with long key,
/// Github issue #1208".
#[test]
fn keys_with_patterns() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    for key in ["key_x", "key_y", "key_z", "foo_a", "foo_b", "foo_c"] {
        assert_eq!(run(&mut con, &[b"SET", key.as_bytes(), b"hello"]), Ok(Value::Okay));
    }
    assert_eq!(sorted(run(&mut con, &[b"KEYS", b"foo*"]).unwrap()), ["foo_a", "foo_b", "foo_c"]);
    assert_eq!(
        sorted(run(&mut con, &[b"KEYS", b"*"]).unwrap()),
        ["foo_a", "foo_b", "foo_c", "key_x", "key_y", "key_z"]
    );
    assert_eq!(run(&mut con, &[b"DBSIZE"]), Ok(Value::Int(6)));
    for key in ["{a}x", "{a}y", "{a}z", "{b}a", "{b}b", "{b}c"] {
        assert_eq!(run(&mut con, &[b"SET", key.as_bytes(), b"hello"]), Ok(Value::Okay));
    }
    assert_eq!(sorted(run(&mut con, &[b"KEYS", b"{a}*"]).unwrap()), ["{a}x", "{a}y", "{a}z"]);
    assert_eq!(sorted(run(&mut con, &[b"KEYS", b"*{b}*"]).unwrap()), ["{b}a", "{b}b", "{b}c"]);
    assert_eq!(sorted(run(&mut con, &[b"KEYS", b"key_[xy]"]).unwrap()), ["key_x", "key_y"]);
    assert_eq!(sorted(run(&mut con, &[b"KEYS", b"?oo_\\a"]).unwrap()), ["foo_a"]);
    assert_eq!(sorted(run(&mut con, &[b"KEYS", b"nomatch*"]).unwrap()), Vec::<String>::new());
    for key in sorted(run(&mut con, &[b"KEYS", b"*"]).unwrap()) {
        assert_eq!(run(&mut con, &[b"DEL", key.as_bytes()]), Ok(Value::Int(1)));
    }
    assert_eq!(run(&mut con, &[b"DBSIZE"]), Ok(Value::Int(0)));
    let long = "dlskeriewrioeuwqoirueioqwrueoqwrueqw";
    assert_eq!(run(&mut con, &[b"SET", long.as_bytes(), b"test"]), Ok(Value::Okay));
    let mut c = raw(&server);
    let want = format!("*1\r\n${}\r\n{long}\r\n", long.len());
    assert_eq!(ask(&mut c, &["KEYS", "*"]), want);
    assert_eq!(ask(&mut c, &["KEYS", "*"]), want);
    // Expired keys are not listed.
    assert_eq!(ask(&mut c, &["SET", "short", "v", "PX", "1"]), "+OK\r\n");
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(ask(&mut c, &["KEYS", "*"]), want);
}

/// A KEYS reply larger than `--max-client-buffer` is refused with an
/// error instead of growing the buffer past its cap, and the connection
/// stays usable; one that fits is whole. A SCAN page stops short of it.
#[test]
fn keys_respects_the_client_buffer_cap() {
    let server = TestServer::start(&["--max-value-size", "1kb", "--max-client-buffer", "64kb"]);
    if !is_capkv(&server) {
        return;
    }
    let mut c = raw(&server);
    for batch in 0..50 {
        let mut args = vec!["MSET".to_string()];
        for i in 0..100 {
            args.push(format!("key:{batch}:{i}:padding-padding"));
            args.push("v".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(ask(&mut c, &args), "+OK\r\n");
    }
    let small = ask(&mut c, &["KEYS", "key:1:*"]);
    assert!(small.starts_with("*100\r\n"), "{}", &small[..20]);
    let too_large = "-ERR reply would exceed --max-client-buffer; use SCAN\r\n";
    assert_eq!(ask(&mut c, &["KEYS", "*"]), too_large);
    // A SCAN page with a huge COUNT ends early instead, at a cursor that
    // goes on.
    let mut con = connect(&server);
    let (cursor, keys) = scan_page(&mut con, &["SCAN", "0", "COUNT", "100000"]);
    assert!(cursor != 0 && !keys.is_empty() && keys.len() < 5000, "{} keys", keys.len());
    assert_eq!(full_scan(&mut con, &["COUNT", "100000"]).len(), 5000);
    assert_eq!(ask(&mut c, &["DBSIZE"]), ":5000\r\n");
    assert_eq!(full_scan(&mut con, &["COUNT", "500"]).len(), 5000);
}

/// `unit/scan.tcl`: "SCAN basic", "SCAN COUNT", "SCAN MATCH", "SCAN TYPE",
/// "SCAN with expired keys" (without DEBUG: the keys expire by time).
#[test]
fn scan_basic_count_match_type() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    for batch in 0..10 {
        let mut cmd = redis::cmd("MSET");
        for i in 0..100 {
            cmd.arg(format!("key:{}", batch * 100 + i)).arg("v");
        }
        let () = cmd.query(&mut con).unwrap();
    }
    let keys = full_scan(&mut con, &[]);
    assert_eq!(keys.len(), 1000);
    assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 1000);
    for count in ["1", "5", "100", "5000"] {
        let keys = full_scan(&mut con, &["COUNT", count]);
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), 1000, "COUNT {count}");
    }
    let mut ones = full_scan(&mut con, &["MATCH", "key:1??"]);
    ones.sort();
    let want: Vec<String> = (100..200).map(|i| format!("key:{i}")).collect();
    let mut want_sorted = want.clone();
    want_sorted.sort();
    assert_eq!(ones, want_sorted);
    assert_eq!(full_scan(&mut con, &["TYPE", "string"]).len(), 1000);
    assert_eq!(full_scan(&mut con, &["type", "STRING", "MATCH", "key:1??"]).len(), 100);
    assert_eq!(full_scan(&mut con, &["TYPE", "list"]).len(), 0);
    assert_eq!(full_scan(&mut con, &["TYPE", "string1"]).len(), 0);
    // Keys that expired are not returned.
    for i in 0..100 {
        let key = format!("exp:{i}");
        assert_eq!(run(&mut con, &[b"SET", key.as_bytes(), b"v", b"PX", b"1"]), Ok(Value::Okay));
    }
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(full_scan(&mut con, &["COUNT", "50"]).len(), 1000);
}

#[test]
fn scan_errors() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let syntax = "-ERR syntax error\r\n";
    assert_eq!(ask(&mut c, &["SCAN", "abc"]), "-ERR invalid cursor\r\n");
    assert_eq!(ask(&mut c, &["SCAN", "1a"]), "-ERR invalid cursor\r\n");
    assert_eq!(ask(&mut c, &["SCAN", " 1"]), "-ERR invalid cursor\r\n");
    assert_eq!(ask(&mut c, &["SCAN", "18446744073709551616"]), "-ERR invalid cursor\r\n");
    assert_eq!(ask(&mut c, &["SCAN", "0", "COUNT"]), syntax);
    assert_eq!(ask(&mut c, &["SCAN", "0", "COUNT", "0"]), syntax);
    assert_eq!(ask(&mut c, &["SCAN", "0", "COUNT", "-1"]), syntax);
    assert_eq!(
        ask(&mut c, &["SCAN", "0", "COUNT", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(ask(&mut c, &["SCAN", "0", "MATCH"]), syntax);
    assert_eq!(ask(&mut c, &["SCAN", "0", "FOO", "bar"]), syntax);
    // The empty store: a complete scan in one call.
    assert_eq!(ask(&mut c, &["SCAN", "0"]), "*2\r\n$1\r\n0\r\n*0\r\n");
    assert_eq!(ask(&mut c, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["SCAN", "0", "COUNT", "1000"]), "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n");
}

/// `unit/scan.tcl`: "SCAN guarantees check under write load": every key
/// present for the whole scan comes back, while writes between the calls
/// add enough keys to grow the index several times.
#[test]
fn scan_guarantees_under_write_load() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let mut cmd = redis::cmd("MSET");
    for i in 0..1000 {
        cmd.arg(format!("old:{i}")).arg("v");
    }
    let () = cmd.query(&mut con).unwrap();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut cursor = 0u64;
    let mut added = 0;
    loop {
        let c = cursor.to_string();
        let (next, keys) = scan_page(&mut con, &["SCAN", &c, "COUNT", "20"]);
        for k in keys {
            *seen.entry(k).or_default() += 1;
        }
        if added < 20_000 {
            let mut cmd = redis::cmd("MSET");
            for _ in 0..400 {
                cmd.arg(format!("new:{added}")).arg("v");
                added += 1;
            }
            let () = cmd.query(&mut con).unwrap();
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    for i in 0..1000 {
        let key = format!("old:{i}");
        assert!(seen.contains_key(&key), "{key} was never returned");
    }
    if is_capkv(&server) {
        // capkv's cursor is stronger than Redis's promise: no repeats.
        assert!(seen.values().all(|&n| n == 1));
    }
    assert_eq!(run(&mut con, &[b"GET", b"old:7"]), Ok(bulk("v")));
}

#[test]
fn object_encoding_freq_idletime_refcount_help() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let long44 = "a".repeat(44);
    let long45 = "a".repeat(45);
    for (value, want) in [
        ("12345", "int"),
        ("-9223372036854775808", "int"),
        ("9223372036854775808", "embstr"),
        ("012", "embstr"),
        ("+1", "embstr"),
        ("", "embstr"),
        ("hello", "embstr"),
        (long44.as_str(), "embstr"),
        (long45.as_str(), "raw"),
    ] {
        assert_eq!(ask(&mut c, &["SET", "foo", value]), "+OK\r\n");
        let got = ask(&mut c, &["OBJECT", "ENCODING", "foo"]);
        assert_eq!(got, format!("${}\r\n{want}\r\n", want.len()), "value {value:?}");
    }
    assert_eq!(ask(&mut c, &["OBJECT", "ENCODING", "missing"]), "$-1\r\n");
    assert_eq!(ask(&mut c, &["OBJECT", "FREQ", "missing"]), "$-1\r\n");
    assert_eq!(ask(&mut c, &["OBJECT", "REFCOUNT", "missing"]), "$-1\r\n");
    assert_eq!(ask(&mut c, &["OBJECT", "IDLETIME", "missing"]), "$-1\r\n");
    if is_capkv(&server) {
        // FREQ is the index's use counter (0 to 3); OBJECT itself does not
        // count as a use.
        assert_eq!(ask(&mut c, &["SET", "f", "v"]), "+OK\r\n");
        assert_eq!(ask(&mut c, &["OBJECT", "FREQ", "f"]), ":0\r\n");
        assert_eq!(ask(&mut c, &["OBJECT", "FREQ", "f"]), ":0\r\n");
        assert_eq!(ask(&mut c, &["GET", "f"]), "$1\r\nv\r\n");
        assert_eq!(ask(&mut c, &["OBJECT", "FREQ", "f"]), ":1\r\n");
        assert_eq!(ask(&mut c, &["TOUCH", "f"]), ":1\r\n");
        assert_eq!(ask(&mut c, &["OBJECT", "FREQ", "f"]), ":2\r\n");
        for _ in 0..5 {
            ask(&mut c, &["GET", "f"]);
        }
        assert_eq!(ask(&mut c, &["OBJECT", "FREQ", "f"]), ":3\r\n");
        assert_eq!(
            ask(&mut c, &["OBJECT", "IDLETIME", "f"]),
            "-ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that \
             when switching between policies at runtime LRU and LFU data will take some time to \
             adjust.\r\n"
        );
        assert_eq!(ask(&mut c, &["OBJECT", "REFCOUNT", "f"]), ":1\r\n");
    }
    let help = ask(&mut c, &["OBJECT", "HELP"]);
    assert!(
        help.starts_with(
            "*15\r\n+OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n\
             +ENCODING <key>\r\n"
        ),
        "{help}"
    );
    assert!(help.ends_with("+HELP\r\n+    Prints this help.\r\n"), "{help}");
    assert_eq!(ask(&mut c, &["OBJECT"]), arity("object"));
    assert_eq!(ask(&mut c, &["OBJECT", "ENCODING"]), arity("object|encoding"));
    assert_eq!(ask(&mut c, &["OBJECT", "FREQ", "a", "b"]), arity("object|freq"));
    assert_eq!(ask(&mut c, &["OBJECT", "HELP", "x"]), arity("object|help"));
    assert_eq!(
        ask(&mut c, &["object", "foo", "k"]),
        "-ERR unknown subcommand 'foo'. Try OBJECT HELP.\r\n"
    );
}

#[test]
fn memory_usage_and_help() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["MEMORY", "USAGE", "k"]), "$-1\r\n");
    assert_eq!(ask(&mut c, &["SET", "k", "v"]), "+OK\r\n");
    if is_capkv(&server) {
        // The item (2-byte header, key, value) plus its 8-byte index slot.
        assert_eq!(ask(&mut c, &["MEMORY", "USAGE", "k"]), ":12\r\n");
        assert_eq!(ask(&mut c, &["MEMORY", "USAGE", "k", "SAMPLES", "0"]), ":12\r\n");
        // A deadline adds its 6 bytes.
        assert_eq!(ask(&mut c, &["EXPIRE", "k", "100"]), ":1\r\n");
        assert_eq!(ask(&mut c, &["MEMORY", "USAGE", "k"]), ":18\r\n");
        // A 200-byte value: a 2-byte length.
        let value = "x".repeat(200);
        assert_eq!(ask(&mut c, &["SET", "k", &value]), "+OK\r\n");
        assert_eq!(ask(&mut c, &["MEMORY", "USAGE", "k"]), ":212\r\n");
    }
    let syntax = "-ERR syntax error\r\n";
    assert_eq!(ask(&mut c, &["MEMORY", "USAGE", "k", "SAMPLES"]), syntax);
    assert_eq!(ask(&mut c, &["MEMORY", "USAGE", "k", "SAMPLES", "-1"]), syntax);
    assert_eq!(ask(&mut c, &["MEMORY", "USAGE", "k", "FOO", "1"]), syntax);
    assert_eq!(
        ask(&mut c, &["MEMORY", "USAGE", "missing", "SAMPLES", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(ask(&mut c, &["MEMORY"]), arity("memory"));
    assert_eq!(ask(&mut c, &["MEMORY", "USAGE"]), arity("memory|usage"));
    assert_eq!(ask(&mut c, &["MEMORY", "HELP", "x"]), arity("memory|help"));
    let help = ask(&mut c, &["MEMORY", "HELP"]);
    assert!(
        help.starts_with(
            "*14\r\n+MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n\
             +DOCTOR\r\n"
        ),
        "{help}"
    );
    assert!(
        help.contains("+    sampled up to <count> times (default: 5, 0 means sample all).\r\n")
    );
    assert!(help.ends_with("+HELP\r\n+    Prints this help.\r\n"), "{help}");
}
