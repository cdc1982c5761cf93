//! Transactions (MULTI, EXEC, DISCARD, WATCH, UNWATCH) over real TCP, with
//! the exact bytes Redis 7.0 answers (`CAPKV_RESP_TESTS_AGAINST` runs them
//! against redis-server 7.0.15: all but the capkv-only limits pass there).
//! Where Redis's own suite has a test (`unit/multi.tcl`), the test here
//! follows it and says so.

mod common;
mod resp_support;

use std::time::Duration;

use common::{Client, TestServer, eventually};
use resp_support::{ask_text, encode, is_capkv, raw, read_reply};

fn ask(c: &mut Client, args: &[&str]) -> String {
    ask_text(c, args)
}

const QUEUED: &str = "+QUEUED\r\n";

/// The shard a key lands in under `--shards 16` (the store's rule).
fn shard_of(key: &str) -> u64 {
    ((xxhash_rust::xxh3::xxh3_64(key.as_bytes()) >> 32) * 16) >> 32
}

#[test]
fn commands_are_queued_and_exec_answers_their_replies_in_order() {
    // multi.tcl "MULTI / EXEC basics".
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["SET", "k", "v"]), QUEUED);
    assert_eq!(ask(&mut c, &["INCR", "n"]), QUEUED);
    assert_eq!(ask(&mut c, &["GET", "k"]), QUEUED);
    assert_eq!(ask(&mut c, &["PING"]), QUEUED);
    // Nothing ran yet.
    let mut other = raw(&server);
    assert_eq!(ask(&mut other, &["EXISTS", "k", "n"]), ":0\r\n");
    assert_eq!(ask(&mut c, &["EXEC"]), "*4\r\n+OK\r\n:1\r\n$1\r\nv\r\n+PONG\r\n");
    assert_eq!(ask(&mut other, &["GET", "n"]), "$1\r\n1\r\n");
    // An empty transaction is an empty array.
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["EXEC"]), "*0\r\n");
}

#[test]
fn an_error_while_queueing_discards_the_transaction() {
    // multi.tcl "EXEC fails if there are errors while queueing commands #1"
    // and "If EXEC aborts, the client MULTI state is cleared".
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["SET", "foo1", "bar1"]), QUEUED);
    assert_eq!(
        ask(&mut c, &["NON-EXISTING-COMMAND", "x"]),
        "-ERR unknown command 'NON-EXISTING-COMMAND', with args beginning with: 'x' \r\n"
    );
    assert_eq!(ask(&mut c, &["GET"]), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_eq!(ask(&mut c, &["SET", "foo2", "bar2"]), QUEUED);
    assert_eq!(
        ask(&mut c, &["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(ask(&mut c, &["EXISTS", "foo1", "foo2"]), ":0\r\n");
    assert_eq!(ask(&mut c, &["PING"]), "+PONG\r\n");
    assert_eq!(ask(&mut c, &["EXEC"]), "-ERR EXEC without MULTI\r\n");
}

#[test]
fn runtime_errors_inside_exec_do_not_stop_the_rest() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["SET", "s", "text"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["INCR", "s"]), QUEUED);
    assert_eq!(ask(&mut c, &["SET", "t", "1"]), QUEUED);
    // Argument errors are Redis's runtime errors: queued, answered in EXEC.
    assert_eq!(ask(&mut c, &["SET", "u", "1", "BADOPTION"]), QUEUED);
    assert_eq!(ask(&mut c, &["INCRBY", "t", "x"]), QUEUED);
    assert_eq!(ask(&mut c, &["GET", "t"]), QUEUED);
    assert_eq!(
        ask(&mut c, &["EXEC"]),
        "*5\r\n-ERR value is not an integer or out of range\r\n+OK\r\n-ERR syntax error\r\n\
         -ERR value is not an integer or out of range\r\n$1\r\n1\r\n"
    );
    assert_eq!(ask(&mut c, &["EXISTS", "u"]), ":0\r\n");
}

#[test]
fn discard_drops_the_queue_and_misuse_is_refused() {
    // multi.tcl "DISCARD", "Nested MULTI are not allowed", "WATCH inside
    // MULTI is not allowed".
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["SET", "d", "1"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["DEL", "d"]), QUEUED);
    assert_eq!(ask(&mut c, &["DISCARD"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["GET", "d"]), "$1\r\n1\r\n");
    assert_eq!(ask(&mut c, &["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
    assert_eq!(ask(&mut c, &["EXEC"]), "-ERR EXEC without MULTI\r\n");

    // Neither refusal discards the transaction.
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "-ERR MULTI calls can not be nested\r\n");
    assert_eq!(ask(&mut c, &["WATCH", "x"]), "-ERR WATCH inside MULTI is not allowed\r\n");
    assert_eq!(ask(&mut c, &["PING"]), QUEUED);
    assert_eq!(ask(&mut c, &["EXEC"]), "*1\r\n+PONG\r\n");
}

#[test]
fn a_write_by_another_client_aborts_exec_in_both_protocols() {
    let server = TestServer::start(&[]);
    let (mut c, mut other) = (raw(&server), raw(&server));
    assert_eq!(ask(&mut c, &["WATCH", "k"]), "+OK\r\n");
    assert_eq!(ask(&mut other, &["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["SET", "k", "mine"]), QUEUED);
    assert_eq!(ask(&mut c, &["EXEC"]), "*-1\r\n");
    assert_eq!(ask(&mut other, &["GET", "k"]), "$1\r\n1\r\n");

    // RESP3's null; and the failed EXEC forgot the watch.
    assert!(ask(&mut c, &["HELLO", "3"]).starts_with("%7\r\n"));
    assert_eq!(ask(&mut c, &["WATCH", "k"]), "+OK\r\n");
    assert_eq!(ask(&mut other, &["DEL", "k"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["EXEC"]), "_\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["PING"]), QUEUED);
    assert_eq!(ask(&mut c, &["EXEC"]), "*1\r\n+PONG\r\n");
}

#[test]
fn every_kind_of_change_to_a_watched_key_aborts_exec() {
    // multi.tcl "EXEC fail on WATCHed key modified (1 key of 1 watched)",
    // "(1 key of 5 watched)", "WATCH will consider touched keys target of
    // EXPIRE", "FLUSHALL is able to touch the watched keys": the watcher's
    // own writes count too.
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let changes: &[&[&str]] = &[
        &["SET", "x", "30"],
        &["APPEND", "x", "0"],
        &["INCR", "x"],
        &["EXPIRE", "x", "100"],
        &["DEL", "x"],
        &["RENAME", "x", "y"],
        &["RENAME", "y", "x"],
        &["COPY", "y", "x", "REPLACE"],
        &["SETRANGE", "x", "0", "9"],
        &["FLUSHALL"],
    ];
    for change in changes {
        assert_eq!(ask(&mut c, &["SET", "x", "30"]), "+OK\r\n");
        assert_eq!(ask(&mut c, &["SET", "y", "30"]), "+OK\r\n");
        assert_eq!(ask(&mut c, &["WATCH", "a", "b", "x", "k", "z"]), "+OK\r\n");
        ask(&mut c, change);
        assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
        assert_eq!(ask(&mut c, &["PING"]), QUEUED);
        assert_eq!(ask(&mut c, &["EXEC"]), "*-1\r\n", "after {change:?}");
    }
}

#[test]
fn changes_to_other_keys_do_not_abort_exec() {
    // multi.tcl "EXEC works on WATCHed key not modified", "FLUSHALL does
    // not touch non affected keys"; and exactness within a shard.
    let server = TestServer::start(&[]);
    let (mut c, mut other) = (raw(&server), raw(&server));
    assert_eq!(ask(&mut c, &["SET", "watched", "1"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["WATCH", "watched", "missing"]), "+OK\r\n");
    // Enough keys that many share the watched key's shard.
    let same_shard = (0..400).filter(|i| shard_of(&format!("o{i}")) == shard_of("watched")).count();
    assert!(same_shard > 5, "{same_shard} keys share the shard");
    for i in 0..400 {
        let key = format!("o{i}");
        assert_eq!(ask(&mut other, &["SET", &key, "v"]), "+OK\r\n");
        assert_eq!(ask(&mut other, &["DEL", &key]), ":1\r\n");
    }
    assert_eq!(ask(&mut other, &["GET", "watched"]), "$1\r\n1\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["PING"]), QUEUED);
    assert_eq!(ask(&mut c, &["EXEC"]), "*1\r\n+PONG\r\n");

    // FLUSHALL touches only watched keys that exist.
    assert_eq!(ask(&mut c, &["DEL", "watched"]), ":1\r\n");
    assert_eq!(ask(&mut c, &["WATCH", "watched"]), "+OK\r\n");
    assert_eq!(ask(&mut other, &["SET", "unrelated", "1"]), "+OK\r\n");
    assert_eq!(ask(&mut other, &["FLUSHALL"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["PING"]), QUEUED);
    assert_eq!(ask(&mut c, &["EXEC"]), "*1\r\n+PONG\r\n");
}

#[test]
fn a_watched_key_that_expires_aborts_exec_and_a_stale_one_does_not() {
    // multi.tcl "WATCH will consider touched expired keys" and "WATCH stale
    // keys should not fail EXEC" (there with active expiry off).
    let server = TestServer::start(&[]);
    let (mut c, mut other) = (raw(&server), raw(&server));
    assert_eq!(ask(&mut c, &["SET", "x", "foo", "PX", "150"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["WATCH", "x"]), "+OK\r\n");
    let gone = eventually(Duration::from_secs(5), || ask(&mut other, &["EXISTS", "x"]) == ":0\r\n");
    assert!(gone, "x expired");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["PING"]), QUEUED);
    assert_eq!(ask(&mut c, &["EXEC"]), "*-1\r\n");

    // Expired before WATCH: watched as missing.
    assert_eq!(ask(&mut c, &["SET", "y", "foo", "PX", "1"]), "+OK\r\n");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(ask(&mut c, &["WATCH", "y"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["PING"]), QUEUED);
    assert_eq!(ask(&mut c, &["EXEC"]), "*1\r\n+PONG\r\n");
}

#[test]
fn unwatch_exec_and_discard_forget_the_watched_keys() {
    // multi.tcl "It is possible to UNWATCH", "After successful EXEC key is
    // no longer watched", "DISCARD should UNWATCH all the keys".
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["UNWATCH"]), "+OK\r\n");
    for forget in [&["UNWATCH"][..], &["MULTI", "EXEC"], &["MULTI", "DISCARD"]] {
        assert_eq!(ask(&mut c, &["SET", "x", "30"]), "+OK\r\n");
        assert_eq!(ask(&mut c, &["WATCH", "x"]), "+OK\r\n");
        for command in forget {
            ask(&mut c, &[command]);
        }
        assert_eq!(ask(&mut c, &["SET", "x", "40"]), "+OK\r\n");
        assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
        assert_eq!(ask(&mut c, &["INCR", "x"]), QUEUED);
        assert_eq!(ask(&mut c, &["EXEC"]), "*1\r\n:41\r\n", "after {forget:?}");
    }
}

#[test]
fn no_client_sees_half_a_transaction_across_shards() {
    let server = TestServer::start(&["--shards", "16", "--workers", "2"]);
    let a = "a";
    let b = (0..).map(|i| format!("b{i}")).find(|k| shard_of(k) != shard_of(a)).unwrap();
    let mut writer = raw(&server);
    let mut reader = raw(&server);
    assert_eq!(ask(&mut writer, &["MSET", a, "0", &b, "0"]), "+OK\r\n");
    let rounds = 1500;
    let transaction: Vec<u8> = [
        encode(&[b"MULTI"]),
        encode(&[b"INCR", a.as_bytes()]),
        encode(&[b"INCR", b.as_bytes()]),
        encode(&[b"EXEC"]),
    ]
    .concat();
    let writing = std::thread::spawn(move || {
        for _ in 0..rounds {
            writer.send(&transaction);
            for _ in 0..4 {
                read_reply(&mut writer);
            }
        }
    });
    let batch: Vec<u8> =
        (0..50).flat_map(|_| encode(&[b"MGET", a.as_bytes(), b.as_bytes()])).collect();
    let mut seen = 0;
    while !writing.is_finished() || seen == 0 {
        reader.send(&batch);
        for _ in 0..50 {
            let reply = String::from_utf8(read_reply(&mut reader)).unwrap();
            let values: Vec<&str> =
                reply.split("\r\n").filter(|l| !l.starts_with(['*', '$'])).collect();
            assert_eq!(values[0], values[1], "MGET saw half a transaction: {reply:?}");
            seen += 1;
        }
    }
    writing.join().unwrap();
    assert_eq!(
        ask(&mut reader, &["MGET", a, &b]),
        format!("*2\r\n$4\r\n{rounds}\r\n$4\r\n{rounds}\r\n")
    );
}

#[test]
fn a_queued_transaction_is_bounded_by_the_client_buffer_limit() {
    let server = TestServer::start(&["--max-client-buffer", "64kb", "--max-value-size", "1kb"]);
    if !is_capkv(&server) {
        return;
    }
    let mut c = raw(&server);
    let value = "v".repeat(1000);
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    let mut queued = 0;
    let refusal = loop {
        let reply = ask(&mut c, &["SET", &format!("k{queued}"), &value]);
        if reply != QUEUED {
            break reply;
        }
        queued += 1;
        assert!(queued < 100, "64 KiB of requests were queued without a refusal");
    };
    assert!(queued >= 50, "refused after {queued}");
    assert_eq!(
        refusal,
        "-ERR transaction too large: its queued commands exceed the client buffer limit\r\n"
    );
    assert_eq!(
        ask(&mut c, &["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(ask(&mut c, &["DBSIZE"]), ":0\r\n");
}

#[test]
fn an_exec_reply_past_the_limit_is_replaced_by_an_error_after_every_command_ran() {
    let server = TestServer::start(&["--max-client-buffer", "64kb", "--max-value-size", "1kb"]);
    if !is_capkv(&server) {
        return;
    }
    let mut c = raw(&server);
    let value = "v".repeat(1000);
    assert_eq!(ask(&mut c, &["SET", "big", &value]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    for _ in 0..100 {
        assert_eq!(ask(&mut c, &["GET", "big"]), QUEUED);
    }
    assert_eq!(ask(&mut c, &["SET", "done", "1"]), QUEUED);
    assert_eq!(ask(&mut c, &["GETDEL", "big"]), QUEUED);
    assert_eq!(
        ask(&mut c, &["EXEC"]),
        "-ERR EXEC reply exceeds the client buffer limit; every command ran, their replies \
         are lost\r\n"
    );
    assert_eq!(ask(&mut c, &["MGET", "done", "big"]), "*2\r\n$1\r\n1\r\n$-1\r\n");
}

#[test]
fn transactions_are_counted_and_categorised() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    assert_eq!(ask(&mut c, &["CONFIG", "RESETSTAT"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["MULTI"]), "+OK\r\n");
    assert_eq!(ask(&mut c, &["SET", "k", "v"]), QUEUED);
    assert_eq!(ask(&mut c, &["EXEC"]), "*1\r\n+OK\r\n");
    let stats = ask(&mut c, &["INFO", "commandstats"]);
    for name in ["multi", "exec", "set"] {
        assert!(stats.contains(&format!("cmdstat_{name}:calls=1,")), "{name} in {stats}");
    }
    let category = ask(&mut c, &["ACL", "CAT", "transaction"]);
    for name in ["multi", "exec", "discard", "watch", "unwatch"] {
        assert!(category.contains(&format!("\r\n{name}\r\n")), "{name} in {category}");
    }
}

#[test]
fn redis_py_style_pipelines_work_with_the_redis_crate() {
    let server = TestServer::start(&[]);
    let mut con = resp_support::connect(&server);
    let (set, n, v): (String, i64, String) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("k")
        .arg("v")
        .cmd("INCR")
        .arg("n")
        .cmd("GET")
        .arg("k")
        .query(&mut con)
        .unwrap();
    assert_eq!((set.as_str(), n, v.as_str()), ("OK", 1, "v"));
}
