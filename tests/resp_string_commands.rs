//! The string commands GETRANGE/SUBSTR, SETRANGE, GETSET, MSETNX,
//! INCRBYFLOAT, LCS, SETBIT, GETBIT, BITCOUNT, BITPOS and BITOP over real TCP,
//! with exact reply bytes. Cases are ported from Redis 7.0's test suite
//! (`unit/type/string.tcl`, `unit/type/incr.tcl`, `unit/bitops.tcl`) and
//! were checked against redis-server 7.0.15 with
//! `CAPKV_RESP_TESTS_AGAINST=127.0.0.1:<port> cargo test --test
//! resp_string_commands -- --test-threads=1`.

mod common;
mod resp_support;

use std::sync::Arc;
use std::sync::Barrier;

use common::{Client, TestServer};
use resp_support::{ask, ask_text, is_capkv, raw, target};

fn int(n: i64) -> String {
    format!(":{n}\r\n")
}

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

fn err(text: &str) -> String {
    format!("-{text}\r\n")
}

fn arity(name: &str) -> String {
    err(&format!("ERR wrong number of arguments for '{name}' command"))
}

const NOT_INT: &str = "ERR value is not an integer or out of range";
const SYNTAX: &str = "ERR syntax error";

/// A raw client on a fresh server (or the target), with the keyspace
/// emptied when the target is another server.
fn client(server: &TestServer) -> Client {
    let mut c = raw(server);
    if !is_capkv(server) {
        assert_eq!(ask_text(&mut c, &["FLUSHALL"]), "+OK\r\n");
    }
    c
}

fn get(c: &mut Client, key: &str) -> Vec<u8> {
    ask(c, &[b"GET", key.as_bytes()])
}

fn raw_bulk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn getrange_and_substr() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    // GETRANGE against non-existing key.
    assert_eq!(ask_text(&mut c, &["GETRANGE", "mykey", "0", "-1"]), bulk(""));
    // GETRANGE against string value.
    assert_eq!(ask_text(&mut c, &["SET", "mykey", "Hello World"]), "+OK\r\n");
    let cases = [
        ("0", "3", "Hell"),
        ("0", "-1", "Hello World"),
        ("-4", "-1", "orld"),
        ("5", "3", ""),
        ("5", "5000", " World"),
        ("-5000", "10000", "Hello World"),
        ("0", "-100", "H"),
        ("1", "-100", ""),
        ("-1", "-100", ""),
        ("-100", "-99", "H"),
        ("-100", "-100", "H"),
        ("-100", "-101", ""),
    ];
    for (start, end, want) in cases {
        assert_eq!(
            ask_text(&mut c, &["GETRANGE", "mykey", start, end]),
            bulk(want),
            "{start} {end}"
        );
    }
    // GETRANGE against integer-encoded value.
    ask_text(&mut c, &["SET", "mykey", "1234"]);
    assert_eq!(ask_text(&mut c, &["GETRANGE", "mykey", "0", "2"]), bulk("123"));
    assert_eq!(ask_text(&mut c, &["GETRANGE", "mykey", "3", "5000"]), bulk("4"));
    // GETRANGE with huge ranges, Github issue #1844.
    ask_text(&mut c, &["SET", "foo", "bar"]);
    assert_eq!(ask_text(&mut c, &["GETRANGE", "foo", "0", "4294967297"]), bulk("bar"));
    // Coverage: SUBSTR.
    ask_text(&mut c, &["SET", "key", "abcde"]);
    assert_eq!(ask_text(&mut c, &["SUBSTR", "key", "0", "0"]), bulk("a"));
    assert_eq!(ask_text(&mut c, &["SUBSTR", "key", "0", "3"]), bulk("abcd"));
    assert_eq!(ask_text(&mut c, &["SUBSTR", "key", "-4", "-1"]), bulk("bcde"));
    assert_eq!(ask_text(&mut c, &["SUBSTR", "key", "-1", "-3"]), bulk(""));
    assert_eq!(ask_text(&mut c, &["SUBSTR", "key", "7", "8"]), bulk(""));
    assert_eq!(ask_text(&mut c, &["SUBSTR", "nokey", "0", "1"]), bulk(""));
    // Errors.
    assert_eq!(ask_text(&mut c, &["GETRANGE", "key", "0"]), arity("getrange"));
    assert_eq!(ask_text(&mut c, &["SUBSTR", "key", "0", "1", "2"]), arity("substr"));
    assert_eq!(ask_text(&mut c, &["GETRANGE", "key", "a", "1"]), err(NOT_INT));
    assert_eq!(ask_text(&mut c, &["GETRANGE", "nokey", "0", "x"]), err(NOT_INT));
}

#[test]
fn setrange() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    // SETRANGE against non-existing key.
    assert_eq!(ask_text(&mut c, &["SETRANGE", "mykey", "0", "foo"]), int(3));
    assert_eq!(get(&mut c, "mykey"), raw_bulk(b"foo"));
    ask_text(&mut c, &["DEL", "mykey"]);
    assert_eq!(ask_text(&mut c, &["SETRANGE", "mykey", "0", ""]), int(0));
    assert_eq!(ask_text(&mut c, &["EXISTS", "mykey"]), int(0));
    assert_eq!(ask_text(&mut c, &["SETRANGE", "mykey", "1", "foo"]), int(4));
    assert_eq!(get(&mut c, "mykey"), raw_bulk(b"\0foo"));
    // SETRANGE against string-encoded key.
    for (offset, patch, len, want) in [
        ("0", "b", 3, &b"boo"[..]),
        ("0", "", 3, b"foo"),
        ("1", "b", 3, b"fbo"),
        ("4", "bar", 7, b"foo\0bar"),
    ] {
        ask_text(&mut c, &["SET", "mykey", "foo"]);
        assert_eq!(ask_text(&mut c, &["SETRANGE", "mykey", offset, patch]), int(len));
        assert_eq!(get(&mut c, "mykey"), raw_bulk(want));
    }
    // SETRANGE against integer-encoded key.
    ask_text(&mut c, &["SET", "mykey", "1234"]);
    assert_eq!(ask_text(&mut c, &["SETRANGE", "mykey", "5", "2"]), int(6));
    assert_eq!(get(&mut c, "mykey"), raw_bulk(b"1234\x002"));
    // SETRANGE with out of range offset.
    ask_text(&mut c, &["DEL", "mykey"]);
    let too_big = err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    let offset = (512 * 1024 * 1024 - 4).to_string();
    assert_eq!(ask_text(&mut c, &["SETRANGE", "mykey", &offset, "world"]), too_big);
    ask_text(&mut c, &["SET", "mykey", "hello"]);
    assert_eq!(
        ask_text(&mut c, &["SETRANGE", "mykey", "-1", "world"]),
        err("ERR offset is out of range")
    );
    assert_eq!(ask_text(&mut c, &["SETRANGE", "mykey", &offset, "world"]), too_big);
    // SETRANGE with huge offset.
    for huge in ["9223372036854775807", "2147483647"] {
        assert_eq!(ask_text(&mut c, &["SETRANGE", "K", huge, "A"]), too_big);
    }
    // Nothing to set: no size check, nothing created.
    assert_eq!(ask_text(&mut c, &["SETRANGE", "K", "9223372036854775807", ""]), int(0));
    assert_eq!(ask_text(&mut c, &["SETRANGE", "mykey", "9223372036854775807", ""]), int(5));
    assert_eq!(ask_text(&mut c, &["EXISTS", "K"]), int(0));
    // The TTL is kept.
    ask_text(&mut c, &["SET", "t", "abc", "EX", "100"]);
    assert_eq!(ask_text(&mut c, &["SETRANGE", "t", "1", "X"]), int(3));
    assert_eq!(ask_text(&mut c, &["GET", "t"]), bulk("aXc"));
    assert_ne!(ask_text(&mut c, &["TTL", "t"]), int(-1));
    // Errors.
    assert_eq!(ask_text(&mut c, &["SETRANGE", "k", "0"]), arity("setrange"));
    assert_eq!(ask_text(&mut c, &["SETRANGE", "k", "x", "v"]), err(NOT_INT));
    if is_capkv(&server) {
        // capkv's --max-value-size (16 MiB by default) is the limit.
        let just = (16 << 20) - 1;
        assert_eq!(ask_text(&mut c, &["SETRANGE", "big", &just.to_string(), "x"]), int(16 << 20));
        let just = just.to_string();
        assert_eq!(ask_text(&mut c, &["SETRANGE", "big", &just, "xy"]), too_big);
    }
}

#[test]
fn getset() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    // GETSET (set new value).
    assert_eq!(ask_text(&mut c, &["GETSET", "foo", "xyz"]), "$-1\r\n");
    assert_eq!(ask_text(&mut c, &["GET", "foo"]), bulk("xyz"));
    // GETSET (replace old value).
    ask_text(&mut c, &["SET", "foo", "bar"]);
    assert_eq!(ask_text(&mut c, &["GETSET", "foo", "xyz"]), bulk("bar"));
    assert_eq!(ask_text(&mut c, &["GET", "foo"]), bulk("xyz"));
    // The TTL is cleared, as SET does.
    ask_text(&mut c, &["SET", "foo", "bar", "EX", "100"]);
    assert_eq!(ask_text(&mut c, &["GETSET", "foo", "baz"]), bulk("bar"));
    assert_eq!(ask_text(&mut c, &["TTL", "foo"]), int(-1));
    assert_eq!(ask_text(&mut c, &["GETSET", "foo"]), arity("getset"));
}

#[test]
fn msetnx() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    // MSET/MSETNX wrong number of args.
    assert_eq!(
        ask_text(&mut c, &["MSETNX", "x{t}", "20", "y{t}", "foo bar", "z{t}"]),
        arity("msetnx")
    );
    assert_eq!(ask_text(&mut c, &["MSETNX", "x{t}"]), arity("msetnx"));
    ask_text(&mut c, &["SET", "x{t}", "x"]);
    // MSETNX with already existent key.
    assert_eq!(ask_text(&mut c, &["MSETNX", "x1{t}", "xxx", "y2{t}", "yyy", "x{t}", "20"]), int(0));
    assert_eq!(ask_text(&mut c, &["EXISTS", "x1{t}", "y2{t}"]), int(0));
    // MSETNX with not existing keys.
    assert_eq!(ask_text(&mut c, &["MSETNX", "x1{t}", "xxx", "y2{t}", "yyy"]), int(1));
    assert_eq!(ask_text(&mut c, &["GET", "x1{t}"]), bulk("xxx"));
    assert_eq!(ask_text(&mut c, &["GET", "y2{t}"]), bulk("yyy"));
    // MSETNX with not existing keys - same key twice.
    ask_text(&mut c, &["DEL", "x1{t}"]);
    assert_eq!(ask_text(&mut c, &["MSETNX", "x1{t}", "xxx", "x1{t}", "yyy"]), int(1));
    assert_eq!(ask_text(&mut c, &["GET", "x1{t}"]), bulk("yyy"));
    // MSETNX with already existing keys - same key twice.
    assert_eq!(ask_text(&mut c, &["MSETNX", "x1{t}", "xxx", "x1{t}", "zzz"]), int(0));
    assert_eq!(ask_text(&mut c, &["GET", "x1{t}"]), bulk("yyy"));
    // New keys have no TTL; an expired key counts as missing.
    ask_text(&mut c, &["SET", "gone", "v", "PX", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(ask_text(&mut c, &["MSETNX", "gone", "new", "fresh", "v"]), int(1));
    assert_eq!(ask_text(&mut c, &["TTL", "gone"]), int(-1));
}

/// Concurrent MSETNX on overlapping key sets across shards: in every
/// round exactly one of the two racing clients wins, and the store never
/// holds part of either set.
#[test]
fn msetnx_is_atomic_across_shards() {
    let server = TestServer::start(&["--shards", "16"]);
    const ROUNDS: usize = 400;
    const SIDE: usize = 6;
    // Client 0 sets a0..a5 and the shared key, client 1 the shared key and
    // b0..b5: a dozen keys over 16 shards, so each call locks several.
    let request = |who: usize, round: usize| -> Vec<Vec<u8>> {
        let mut args = vec![b"MSETNX".to_vec()];
        for i in 0..SIDE {
            args.push(format!("r{round}:{}{i}", if who == 0 { 'a' } else { 'b' }).into_bytes());
            args.push(format!("{who}").into_bytes());
        }
        args.push(format!("r{round}:shared").into_bytes());
        args.push(format!("{who}").into_bytes());
        args
    };
    let barrier = Arc::new(Barrier::new(2));
    let addr = target(&server);
    let threads: Vec<_> = (0..2)
        .map(|who| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let mut wins = Vec::with_capacity(ROUNDS);
                for chunk in (0..ROUNDS).collect::<Vec<_>>().chunks(50) {
                    barrier.wait();
                    let mut pipeline = Vec::new();
                    for &round in chunk {
                        let args = request(who, round);
                        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                        pipeline.extend(resp_support::encode(&args));
                    }
                    c.send(&pipeline);
                    for _ in chunk {
                        wins.push(resp_support::read_reply(&mut c) == b":1\r\n");
                    }
                }
                wins
            })
        })
        .collect();
    let wins: Vec<Vec<bool>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let mut c = Client::connect(addr);
    for (round, (&first, &second)) in wins[0].iter().zip(&wins[1]).enumerate() {
        assert!(first != second, "round {round}: exactly one wins");
        let winner = if first { 0 } else { 1 };
        let value = raw_bulk(winner.to_string().as_bytes());
        assert_eq!(get(&mut c, &format!("r{round}:shared")), value);
        for i in 0..SIDE {
            let (mine, theirs) = if winner == 0 { ('a', 'b') } else { ('b', 'a') };
            assert_eq!(get(&mut c, &format!("r{round}:{mine}{i}")), value, "round {round}");
            assert_eq!(
                get(&mut c, &format!("r{round}:{theirs}{i}")),
                b"$-1\r\n",
                "round {round}: the loser wrote nothing"
            );
        }
    }
}

#[test]
fn incrbyfloat() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    // INCRBYFLOAT against non existing key.
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "novar", "1"]), bulk("1"));
    assert_eq!(ask_text(&mut c, &["GET", "novar"]), bulk("1"));
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "novar", "0.25"]), bulk("1.25"));
    assert_eq!(ask_text(&mut c, &["GET", "novar"]), bulk("1.25"));
    // INCRBYFLOAT against key originally set with SET.
    ask_text(&mut c, &["SET", "novar", "1.5"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "novar", "1.5"]), bulk("3"));
    // INCRBYFLOAT over 32bit value.
    ask_text(&mut c, &["SET", "novar", "17179869184"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "novar", "1.5"]), bulk("17179869185.5"));
    // INCRBYFLOAT over 32bit value with over 32bit increment.
    ask_text(&mut c, &["SET", "novar", "17179869184"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "novar", "17179869184"]), bulk("34359738368"));
    // INCRBYFLOAT fails against key with spaces (left, right, both).
    let not_float = err("ERR value is not a valid float");
    for spaced in ["    11", "11    ", " 11 "] {
        ask_text(&mut c, &["SET", "novar", spaced]);
        assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "novar", "1.0"]), not_float, "{spaced:?}");
    }
    // INCRBYFLOAT does not allow NaN or Infinity.
    ask_text(&mut c, &["SET", "foo", "0"]);
    assert_eq!(
        ask_text(&mut c, &["INCRBYFLOAT", "foo", "+inf"]),
        err("ERR increment would produce NaN or Infinity")
    );
    assert_eq!(ask_text(&mut c, &["GET", "foo"]), bulk("0"));
    // INCRBYFLOAT decrement.
    ask_text(&mut c, &["SET", "foo", "1"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "foo", "-1.1"]), bulk("-0.1"));
    // string to double with null terminator.
    ask_text(&mut c, &["SET", "foo", "1"]);
    ask_text(&mut c, &["SETRANGE", "foo", "2", "2"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "foo", "1"]), not_float);
    // No negative zero.
    ask_text(&mut c, &["DEL", "foo"]);
    ask_text(&mut c, &["INCRBYFLOAT", "foo", &(1.0f64 / 41.0).to_string()]);
    ask_text(&mut c, &["INCRBYFLOAT", "foo", &(-1.0f64 / 41.0).to_string()]);
    assert_eq!(ask_text(&mut c, &["GET", "foo"]), bulk("0"));
    // The docs' examples and long double's formatting.
    ask_text(&mut c, &["SET", "mykey", "10.50"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "mykey", "0.1"]), bulk("10.6"));
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "mykey", "-5"]), bulk("5.6"));
    ask_text(&mut c, &["SET", "mykey", "5.0e3"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "mykey", "2.0e2"]), bulk("5200"));
    ask_text(&mut c, &["SET", "mykey", "10"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "mykey", "10.5"]), bulk("20.5"));
    ask_text(&mut c, &["SET", "mykey", "1.1"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "mykey", "0.1"]), bulk("1.2"));
    ask_text(&mut c, &["SET", "mykey", "5000"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "mykey", "0.1"]), bulk("5000.10000000000000009"));
    ask_text(&mut c, &["SET", "mykey", "100"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "mykey", "1e-20"]), bulk("100"));
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "tiny", "-1e-20"]), bulk("0"));
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "zero", "3.0e3"]), bulk("3000"));
    // The TTL is kept.
    ask_text(&mut c, &["SET", "t", "1", "EX", "100"]);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "t", "1"]), bulk("2"));
    assert_ne!(ask_text(&mut c, &["TTL", "t"]), int(-1));
    // Errors.
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "k"]), arity("incrbyfloat"));
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "k", "abc"]), not_float);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "k", "nan"]), not_float);
    assert_eq!(ask_text(&mut c, &["INCRBYFLOAT", "k", "1e5000"]), not_float);
    assert_eq!(ask_text(&mut c, &["EXISTS", "k"]), int(0));
}

const RNA1: &str = "CACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTTCGTCCGGGTGTG";
const RNA2: &str = "ATTAAAGGTTTATACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT";
const RNALCS: &str = "ACCTTCCCAGGTAACAAACCAACCAACTTTCGATCTCTTGTAGATCTGTTCTCTAAACGAACTTTAAAATCTGTGTGGCTGTCACTCGGCTGCATGCTTAGTGCACTCACGCAGTATAATTAATAACTAATTACTGTCGTTGACAGGACACGAGTAACTCGTCTATCTTCTGCAGGCTGCTTACGGTTTCGTCCGTGTTGCAGCCGATCATCAGCACATCTAGGTTT";

/// The `matches` array of LCS IDX, as RESP.
fn matches(ranges: &[[i64; 5]], with_len: bool) -> String {
    let mut out = format!("*{}\r\n", ranges.len());
    for [a0, a1, b0, b1, len] in ranges {
        out += &format!("*{}\r\n", if with_len { 3 } else { 2 });
        out += &format!("*2\r\n{}{}*2\r\n{}{}", int(*a0), int(*a1), int(*b0), int(*b1));
        if with_len {
            out += &int(*len);
        }
    }
    out
}

#[test]
fn lcs() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    ask_text(&mut c, &["SET", "virus1{t}", RNA1]);
    ask_text(&mut c, &["SET", "virus2{t}", RNA2]);
    // LCS basic, LCS len.
    assert_eq!(ask_text(&mut c, &["LCS", "virus1{t}", "virus2{t}"]), bulk(RNALCS));
    assert_eq!(
        ask_text(&mut c, &["LCS", "virus1{t}", "virus2{t}", "LEN"]),
        int(RNALCS.len() as i64)
    );
    // LCS indexes (with match len, and minimum match len).
    let all = [
        [238, 238, 239, 239, 1],
        [236, 236, 238, 238, 1],
        [229, 230, 236, 237, 2],
        [224, 224, 235, 235, 1],
        [1, 222, 13, 234, 222],
    ];
    let len = int(RNALCS.len() as i64);
    let idx = |m: String| format!("*4\r\n{}{m}{}{len}", bulk("matches"), bulk("len"));
    assert_eq!(
        ask_text(&mut c, &["LCS", "virus1{t}", "virus2{t}", "IDX"]),
        idx(matches(&all, false))
    );
    assert_eq!(
        ask_text(&mut c, &["LCS", "virus1{t}", "virus2{t}", "IDX", "WITHMATCHLEN"]),
        idx(matches(&all, true))
    );
    assert_eq!(
        ask_text(
            &mut c,
            &["LCS", "virus1{t}", "virus2{t}", "IDX", "WITHMATCHLEN", "MINMATCHLEN", "5"]
        ),
        idx(matches(&all[4..], true))
    );
    // The docs' example, and missing keys as empty strings.
    ask_text(&mut c, &["SET", "key1", "ohmytext"]);
    ask_text(&mut c, &["SET", "key2", "mynewtext"]);
    assert_eq!(ask_text(&mut c, &["LCS", "key1", "key2"]), bulk("mytext"));
    assert_eq!(
        ask_text(&mut c, &["LCS", "key1", "key2", "idx", "minmatchlen", "-3"]),
        format!(
            "*4\r\n{}{}{}{}",
            bulk("matches"),
            matches(&[[4, 7, 5, 8, 0], [2, 3, 0, 1, 0]], false),
            bulk("len"),
            int(6)
        )
    );
    assert_eq!(ask_text(&mut c, &["LCS", "key1", "nokey"]), bulk(""));
    assert_eq!(ask_text(&mut c, &["LCS", "nokey", "nokey", "LEN"]), int(0));
    // RESP3: IDX is a map.
    assert!(ask_text(&mut c, &["HELLO", "3"]).starts_with('%'));
    assert_eq!(
        ask_text(&mut c, &["LCS", "key1", "key2", "IDX", "MINMATCHLEN", "3", "WITHMATCHLEN"]),
        format!(
            "%2\r\n{}{}{}{}",
            bulk("matches"),
            matches(&[[4, 7, 5, 8, 4]], true),
            bulk("len"),
            int(6)
        )
    );
    // Errors.
    assert_eq!(ask_text(&mut c, &["LCS", "key1"]), arity("lcs"));
    assert_eq!(
        ask_text(&mut c, &["LCS", "key1", "key2", "LEN", "IDX"]),
        err("ERR If you want both the length and indexes, please just use IDX.")
    );
    assert_eq!(ask_text(&mut c, &["LCS", "key1", "key2", "FOO"]), err(SYNTAX));
    assert_eq!(ask_text(&mut c, &["LCS", "key1", "key2", "MINMATCHLEN"]), err(SYNTAX));
    assert_eq!(ask_text(&mut c, &["LCS", "key1", "key2", "MINMATCHLEN", "x"]), err(NOT_INT));
    if is_capkv(&server) {
        // The table is bounded by --max-value-size, as Redis bounds it by
        // proto-max-bulk-len.
        // 2,100 x 2,100 cells of 4 bytes: just over 16 MiB.
        let long = "x".repeat(2100);
        ask_text(&mut c, &["SET", "long", &long]);
        assert_eq!(
            ask_text(&mut c, &["LCS", "long", "long"]),
            err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
        );
    }
}

#[test]
fn setbit_and_getbit() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    // SETBIT against non-existing key.
    assert_eq!(ask_text(&mut c, &["SETBIT", "mykey", "1", "1"]), int(0));
    assert_eq!(get(&mut c, "mykey"), raw_bulk(&[0b0100_0000]));
    // SETBIT against string-encoded key.
    ask_text(&mut c, &["SET", "mykey", "@"]);
    assert_eq!(ask_text(&mut c, &["SETBIT", "mykey", "2", "1"]), int(0));
    assert_eq!(get(&mut c, "mykey"), raw_bulk(&[0b0110_0000]));
    assert_eq!(ask_text(&mut c, &["SETBIT", "mykey", "1", "0"]), int(1));
    assert_eq!(get(&mut c, "mykey"), raw_bulk(&[0b0010_0000]));
    // SETBIT against integer-encoded key.
    ask_text(&mut c, &["SET", "mykey", "1"]);
    assert_eq!(ask_text(&mut c, &["SETBIT", "mykey", "6", "1"]), int(0));
    assert_eq!(get(&mut c, "mykey"), raw_bulk(&[0b0011_0011]));
    assert_eq!(ask_text(&mut c, &["SETBIT", "mykey", "2", "0"]), int(1));
    assert_eq!(get(&mut c, "mykey"), raw_bulk(&[0b0001_0011]));
    // SETBIT with out of range bit offset.
    let offset_err = err("ERR bit offset is not an integer or out of range");
    let four_g = (4u64 * 1024 * 1024 * 1024).to_string();
    assert_eq!(ask_text(&mut c, &["SETBIT", "mykey", &four_g, "1"]), offset_err);
    assert_eq!(ask_text(&mut c, &["SETBIT", "mykey", "-1", "1"]), offset_err);
    assert_eq!(ask_text(&mut c, &["SETBIT", "mykey", "x", "1"]), offset_err);
    // SETBIT with non-bit argument.
    let bit_err = err("ERR bit is not an integer or out of range");
    for bad in ["-1", "2", "10", "20", "x"] {
        assert_eq!(ask_text(&mut c, &["SETBIT", "mykey", "0", bad]), bit_err, "{bad}");
    }
    // SETBIT fuzzing, against a model.
    ask_text(&mut c, &["DEL", "mykey"]);
    let mut model: Vec<u8> = Vec::new();
    let mut seed = 12345u64;
    for _ in 0..300 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let bitnum = (seed >> 33) % (256 * 8);
        let bitval = (seed >> 20) & 1;
        let byte = (bitnum / 8) as usize;
        if model.len() <= byte {
            model.resize(byte + 1, 0);
        }
        let mask = 0x80u8 >> (bitnum % 8);
        let old = model[byte] & mask != 0;
        if bitval == 1 {
            model[byte] |= mask
        } else {
            model[byte] &= !mask
        }
        let reply =
            ask_text(&mut c, &["SETBIT", "mykey", &bitnum.to_string(), &bitval.to_string()]);
        assert_eq!(reply, int(i64::from(old)));
    }
    assert_eq!(get(&mut c, "mykey"), raw_bulk(&model));
    // GETBIT against non-existing key.
    assert_eq!(ask_text(&mut c, &["GETBIT", "nokey", "0"]), int(0));
    // GETBIT against string-encoded key: "`" has its 2nd and 3rd bits set.
    ask_text(&mut c, &["SET", "mykey", "`"]);
    for (offset, bit) in
        [("0", 0), ("1", 1), ("2", 1), ("3", 0), ("8", 0), ("100", 0), ("10000", 0)]
    {
        assert_eq!(ask_text(&mut c, &["GETBIT", "mykey", offset]), int(bit), "{offset}");
    }
    // GETBIT against integer-encoded key: "1" is 00110001.
    ask_text(&mut c, &["SET", "mykey", "1"]);
    for (offset, bit) in [("0", 0), ("1", 0), ("2", 1), ("3", 1), ("8", 0)] {
        assert_eq!(ask_text(&mut c, &["GETBIT", "mykey", offset]), int(bit), "{offset}");
    }
    assert_eq!(ask_text(&mut c, &["GETBIT", "mykey", "-1"]), offset_err);
    assert_eq!(ask_text(&mut c, &["GETBIT", "mykey", &four_g]), offset_err);
    // SETBIT keeps the TTL and writes even an unchanged bit.
    ask_text(&mut c, &["SET", "t", "\x00", "EX", "100"]);
    assert_eq!(ask_text(&mut c, &["SETBIT", "t", "7", "1"]), int(0));
    assert_ne!(ask_text(&mut c, &["TTL", "t"]), int(-1));
    assert_eq!(ask_text(&mut c, &["SETBIT", "new", "0", "0"]), int(0));
    assert_eq!(get(&mut c, "new"), raw_bulk(b"\0"));
    // Arity.
    assert_eq!(ask_text(&mut c, &["SETBIT", "k", "0"]), arity("setbit"));
    assert_eq!(ask_text(&mut c, &["GETBIT", "k"]), arity("getbit"));
    if is_capkv(&server) {
        // Offsets are limited by --max-value-size (16 MiB).
        let last = ((16 << 20) * 8 - 1).to_string();
        let past = ((16 << 20) * 8).to_string();
        assert_eq!(ask_text(&mut c, &["SETBIT", "big", &past, "1"]), offset_err);
        assert_eq!(ask_text(&mut c, &["SETBIT", "big", &last, "1"]), int(0));
        assert_eq!(ask_text(&mut c, &["STRLEN", "big"]), int(16 << 20));
    }
}

#[test]
fn bitcount() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    // BITCOUNT against non-existing key, whatever the range.
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "no-key"]), int(0));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "no-key", "0"]), int(0));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "no-key", "x", "y"]), int(0));
    // BITCOUNT returns 0 with out of range indexes / negative start > end.
    ask_text(&mut c, &["SET", "str", "xxxx"]);
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "str", "4", "10"]), int(0));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "str", "32", "87", "BIT"]), int(0));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "str", "-1", "-2"]), int(0));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "str", "-2", "-3", "FOO"]), int(0));
    // BITCOUNT with start, end.
    ask_text(&mut c, &["SET", "s", "foobar"]);
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s"]), int(26));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "0", "0"]), int(4));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "1", "1"]), int(6));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "1", "1", "BYTE"]), int(6));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "5", "30", "BIT"]), int(17));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "-2", "-1"]), int(7));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "0", "-1", "bit"]), int(26));
    // BITCOUNT syntax error.
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "0"]), err(SYNTAX));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "0", "1", "FOO"]), err(SYNTAX));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "0", "1", "BIT", "x"]), err(SYNTAX));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s", "a", "b"]), err(NOT_INT));
    assert_eq!(ask_text(&mut c, &["BITCOUNT"]), arity("bitcount"));
    // BITCOUNT fast path / regression tests.
    ask_text(&mut c, &["SET", "s", "\u{7f}"]);
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "s"]), int(7));
    ask_text(&mut c, &["SETBIT", "reg", "1", "1"]);
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "reg", "0", "-1", "BIT"]), int(1));
}

#[test]
fn bitpos() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    // BITPOS bit=0/1 with empty key.
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0"]), int(0));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1"]), int(-1));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "x"]), int(-1));
    // BITPOS bit=0 with string less than 1 word works.
    ask_text(&mut c, &["SET", "str", "\u{7f}"]);
    ask(&mut c, &[b"SET", b"str", b"\xff\xf0\x00"]);
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0"]), int(12));
    // BITPOS bit=1 with string less than 1 word works.
    ask(&mut c, &[b"SET", b"str", b"\x00\x0f\x00"]);
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1"]), int(12));
    // BITPOS bit=0 starting at unaligned address / bit=1 unaligned.
    ask(&mut c, &[b"SET", b"str", b"\xff\xff\xff\xff\xf0"]);
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "1"]), int(36));
    ask(&mut c, &[b"SET", b"str", b"\x00\x00\x00\x00\x0f"]);
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "1"]), int(36));
    // BITPOS bit=0 works with intervals.
    ask(&mut c, &[b"SET", b"str", b"\x00\xff\x00"]);
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "0", "-1"]), int(0));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "1", "-1"]), int(16));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "2", "-1"]), int(16));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "2", "200"]), int(16));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "1", "1"]), int(-1));
    // BITPOS bit=1 works with intervals.
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "0", "-1"]), int(8));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "1", "-1"]), int(8));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "2", "-1"]), int(-1));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "2", "200"]), int(-1));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "1", "1"]), int(8));
    // BITPOS with BIT ranges.
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "7", "15", "BIT"]), int(8));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "9", "-1", "BIT"]), int(16));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "8", "15", "BIT"]), int(-1));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "-16", "-9", "bit"]), int(8));
    // BITPOS bit=0 changes behavior if end is given.
    ask(&mut c, &[b"SET", b"str", b"\xff\xff\xff"]);
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0"]), int(24));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "0"]), int(24));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "0", "-1"]), int(-1));
    // Empty ranges; two negative indexes out of range both clamp to 0
    // (BITCOUNT and GETRANGE answer empty instead).
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "0", "2", "1"]), int(-1));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "-13", "-32"]), int(0));
    assert_eq!(ask_text(&mut c, &["BITCOUNT", "str", "-13", "-32"]), int(0));
    ask_text(&mut c, &["SET", "empty", ""]);
    assert_eq!(ask_text(&mut c, &["BITPOS", "empty", "0"]), int(-1));
    // Errors: the bit first (even on a missing key), then the range.
    let bit_arg = err("ERR The bit argument must be 1 or 0.");
    assert_eq!(ask_text(&mut c, &["BITPOS", "nokey", "2"]), bit_arg);
    assert_eq!(ask_text(&mut c, &["BITPOS", "nokey", "x"]), err(NOT_INT));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "x"]), err(NOT_INT));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "0", "x"]), err(NOT_INT));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "0", "x", "FOO"]), err(SYNTAX));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str", "1", "0", "1", "BIT", "x"]), err(SYNTAX));
    assert_eq!(ask_text(&mut c, &["BITPOS", "str"]), arity("bitpos"));
}

#[test]
fn the_line_protocol_does_not_have_them() {
    let server = TestServer::start(&[]);
    if !is_capkv(&server) {
        return;
    }
    let mut c = server.connect();
    assert_eq!(c.ask(b"PUT k hello\n"), b"OK\n");
    for line in [&b"GETRANGE k 0 1\n"[..], b"SETBIT k 0 1\n", b"INCRBYFLOAT k 1\n"] {
        let reply = c.ask(line);
        assert!(reply.starts_with(b"ERROR"), "{:?}", String::from_utf8_lossy(&reply));
    }
    assert_eq!(c.ask(b"GET k\n"), b"hello\n");
}

#[test]
fn bitop() {
    let server = TestServer::start(&[]);
    let mut c = client(&server);
    // BITOP NOT (empty string), then of a known string.
    ask_text(&mut c, &["SET", "s{t}", ""]);
    assert_eq!(ask_text(&mut c, &["BITOP", "NOT", "dest{t}", "s{t}"]), int(0));
    assert_eq!(ask_text(&mut c, &["EXISTS", "dest{t}"]), int(0));
    assert_eq!(ask(&mut c, &[b"SET", b"s{t}", b"\xaa\x00\xff\x55"]), b"+OK\r\n");
    assert_eq!(ask_text(&mut c, &["BITOP", "NOT", "dest{t}", "s{t}"]), int(4));
    assert_eq!(get(&mut c, "dest{t}"), raw_bulk(b"\x55\xff\x00\xaa"));
    // Where dest and target are the same key.
    assert_eq!(ask_text(&mut c, &["BITOP", "not", "s{t}", "s{t}"]), int(4));
    assert_eq!(get(&mut c, "s{t}"), raw_bulk(b"\x55\xff\x00\xaa"));
    // Shorter keys are zero-padded; a missing key is a stream of zeros.
    ask(&mut c, &[b"SET", b"a{t}", b"\x01\x02\xff\xff"]);
    ask(&mut c, &[b"SET", b"b{t}", b"\x01\x02\xff"]);
    assert_eq!(ask_text(&mut c, &["BITOP", "AND", "res1{t}", "a{t}", "b{t}"]), int(4));
    assert_eq!(get(&mut c, "res1{t}"), raw_bulk(b"\x01\x02\xff\x00"));
    assert_eq!(ask_text(&mut c, &["BITOP", "OR", "res2{t}", "a{t}", "b{t}"]), int(4));
    assert_eq!(get(&mut c, "res2{t}"), raw_bulk(b"\x01\x02\xff\xff"));
    assert_eq!(ask_text(&mut c, &["BITOP", "xor", "res3{t}", "a{t}", "b{t}"]), int(4));
    assert_eq!(get(&mut c, "res3{t}"), raw_bulk(b"\x00\x00\x00\xff"));
    assert_eq!(ask_text(&mut c, &["BITOP", "AND", "res4{t}", "no-suchkey{t}", "a{t}"]), int(4));
    assert_eq!(get(&mut c, "res4{t}"), raw_bulk(b"\x00\x00\x00\x00"));
    // The result replaces the destination and drops its TTL.
    ask_text(&mut c, &["SET", "res1{t}", "old", "EX", "100"]);
    assert_eq!(ask_text(&mut c, &["BITOP", "OR", "res1{t}", "b{t}"]), int(3));
    assert_eq!(ask_text(&mut c, &["TTL", "res1{t}"]), int(-1));
    // Every source missing: the destination is deleted.
    assert_eq!(ask_text(&mut c, &["BITOP", "OR", "res1{t}", "x{t}", "y{t}"]), int(0));
    assert_eq!(ask_text(&mut c, &["EXISTS", "res1{t}"]), int(0));
    // Errors, in Redis's order: the operation first, then NOT's arity.
    assert_eq!(ask_text(&mut c, &["BITOP", "NAND", "d{t}", "a{t}"]), err(SYNTAX));
    assert_eq!(
        ask_text(&mut c, &["BITOP", "NOT", "d{t}", "a{t}", "b{t}"]),
        err("ERR BITOP NOT must be called with a single source key.")
    );
    assert_eq!(ask_text(&mut c, &["BITOP", "AND", "d{t}"]), arity("bitop"));
}

/// BITOP reads its sources with all their shards locked: while a writer
/// creates pairs of equal keys with MSETNX (both or neither, atomically),
/// `BITOP AND` over a pair is either nothing (neither written yet) or the
/// value itself, never the zeros of one source read before the pair was
/// written and the other after.
#[test]
fn bitop_reads_its_sources_atomically() {
    let server = TestServer::start(&["--shards", "16"]);
    let addr = target(&server);
    let mut c = Client::connect(addr);
    let writer = std::thread::spawn(move || {
        let mut w = Client::connect(addr);
        for round in 0..300 {
            let v = format!("{round:08}");
            let args = ["MSETNX", &format!("k{round}:a"), &v, &format!("k{round}:b"), &v];
            assert_eq!(ask_text(&mut w, &args), int(1));
        }
    });
    let mut checked = 0;
    while checked < 300 {
        let (a, b) = (format!("k{checked}:a"), format!("k{checked}:b"));
        let reply = ask_text(&mut c, &["BITOP", "AND", "out", &a, &b]);
        let stored = get(&mut c, "out");
        match reply.as_str() {
            ":0\r\n" => assert_eq!(stored, b"$-1\r\n"),
            ":8\r\n" => {
                assert_eq!(stored, raw_bulk(format!("{checked:08}").as_bytes()), "round {checked}");
                checked += 1;
            }
            other => panic!("round {checked}: a half-written pair gave {other:?}"),
        }
    }
    writer.join().unwrap();
}
