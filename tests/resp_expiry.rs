//! TTLs over RESP2 with the `redis` crate: the EXPIRE family and its
//! NX/XX/GT/LT conditions, PERSIST, TTL/PTTL, and keys really expiring.
//!
//! Short TTLs are observed by polling with a deadline ([`eventually`]),
//! never by sleeping a fixed time: the tests wait as long as the expiry
//! takes and no longer, and a slow machine cannot make them flaky.

mod common;
mod resp_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::{Commands, Value};

use common::{TestServer, eventually};
use resp_support::{bulk, connect, run};

/// Generous: expiry is checked on access, so a key is gone as soon as its
/// deadline passes; the limit only bounds a failing test.
const LIMIT: Duration = Duration::from_secs(10);

fn unix_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn ttl(con: &mut redis::Connection, key: &str) -> i64 {
    con.ttl(key).unwrap()
}

fn gone(con: &mut redis::Connection, key: &str) -> bool {
    run(con, &[b"GET", key.as_bytes()]) == Ok(Value::Nil)
}

#[test]
fn ttl_and_pttl_of_missing_persistent_and_expiring_keys() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    assert_eq!(ttl(&mut con, "missing"), -2);
    let pttl: i64 = con.pttl("missing").unwrap();
    assert_eq!(pttl, -2);
    let () = con.set("k", "v").unwrap();
    assert_eq!(ttl(&mut con, "k"), -1);
    let pttl: i64 = con.pttl("k").unwrap();
    assert_eq!(pttl, -1);
    let () = con.pset_ex("k", "v", 1_500).unwrap();
    // TTL rounds to the nearest second, as Redis does: 1.5 s left is 2.
    let t = ttl(&mut con, "k");
    assert!((1..=2).contains(&t), "{t}");
    let pttl: i64 = con.pttl("k").unwrap();
    assert!((1..=1_500).contains(&pttl), "{pttl}");
    assert_eq!(
        run(&mut con, &[b"TTL"]),
        Err("ERR wrong number of arguments for 'ttl' command".into())
    );
    assert_eq!(
        run(&mut con, &[b"PTTL", b"a", b"b"]),
        Err("ERR wrong number of arguments for 'pttl' command".into())
    );
}

#[test]
fn expire_family_sets_deadlines() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let () = con.set("k", "v").unwrap();
    let set: bool = con.expire("k", 100).unwrap();
    assert!(set);
    assert!((99..=100).contains(&ttl(&mut con, "k")));
    assert_eq!(run(&mut con, &[b"PEXPIRE", b"k", b"200000"]), Ok(Value::Int(1)));
    assert!((199..=200).contains(&ttl(&mut con, "k")));
    let at = (unix_secs() + 300).to_string();
    assert_eq!(run(&mut con, &[b"EXPIREAT", b"k", at.as_bytes()]), Ok(Value::Int(1)));
    assert!((298..=301).contains(&ttl(&mut con, "k")));
    let at = ((unix_secs() + 400) * 1000).to_string();
    assert_eq!(run(&mut con, &[b"PEXPIREAT", b"k", at.as_bytes()]), Ok(Value::Int(1)));
    assert!((398..=401).contains(&ttl(&mut con, "k")));
    // PERSIST removes the deadline once.
    assert_eq!(run(&mut con, &[b"PERSIST", b"k"]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"PERSIST", b"k"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"PERSIST", b"missing"]), Ok(Value::Int(0)));
    assert_eq!(ttl(&mut con, "k"), -1);
    // Missing keys get no deadline and are not created.
    for cmd in ["EXPIRE", "PEXPIRE", "EXPIREAT", "PEXPIREAT"] {
        let t = (unix_secs() + 100).to_string();
        assert_eq!(run(&mut con, &[cmd.as_bytes(), b"missing", t.as_bytes()]), Ok(Value::Int(0)));
    }
    assert_eq!(run(&mut con, &[b"EXISTS", b"missing"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("v")));
}

#[test]
fn deadlines_in_the_past_delete_at_once() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let past_secs = (unix_secs() - 10).to_string();
    let past_millis = ((unix_secs() - 10) * 1000).to_string();
    let cases: [(&str, &str); 6] = [
        ("EXPIRE", "0"),
        ("EXPIRE", "-5"),
        ("PEXPIRE", "0"),
        ("PEXPIRE", "-1"),
        ("EXPIREAT", &past_secs),
        ("PEXPIREAT", &past_millis),
    ];
    for (cmd, t) in cases {
        let () = con.set("k", "v").unwrap();
        assert_eq!(run(&mut con, &[cmd.as_bytes(), b"k", t.as_bytes()]), Ok(Value::Int(1)));
        assert_eq!(run(&mut con, &[b"EXISTS", b"k"]), Ok(Value::Int(0)), "{cmd} {t}");
        assert_eq!(ttl(&mut con, "k"), -2);
    }
}

#[test]
fn expire_conditions_nx_xx_gt_lt() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let expire = |con: &mut redis::Connection, t: &str, flags: &[&str]| {
        let mut args: Vec<&[u8]> = vec![b"EXPIRE", b"k", t.as_bytes()];
        args.extend(flags.iter().map(|f| f.as_bytes()));
        run(con, &args)
    };
    let yes = Ok(Value::Int(1));
    let no = Ok(Value::Int(0));
    let () = con.set("k", "v").unwrap();
    // No deadline yet: NX applies, XX and GT do not, LT does (no deadline
    // counts as infinite).
    assert_eq!(expire(&mut con, "100", &["XX"]), no);
    assert_eq!(expire(&mut con, "100", &["GT"]), no);
    assert_eq!(expire(&mut con, "100", &["XX", "LT"]), no);
    assert_eq!(ttl(&mut con, "k"), -1);
    assert_eq!(expire(&mut con, "100", &["NX"]), yes);
    assert_eq!(expire(&mut con, "200", &["NX"]), no);
    assert!((99..=100).contains(&ttl(&mut con, "k")));
    // With a deadline of 100 s.
    assert_eq!(expire(&mut con, "200", &["XX"]), yes);
    assert!((199..=200).contains(&ttl(&mut con, "k")));
    assert_eq!(expire(&mut con, "50", &["GT"]), no);
    assert_eq!(expire(&mut con, "500", &["gt"]), yes);
    assert!((499..=500).contains(&ttl(&mut con, "k")));
    assert_eq!(expire(&mut con, "600", &["LT"]), no);
    assert_eq!(expire(&mut con, "50", &["LT"]), yes);
    assert!((49..=50).contains(&ttl(&mut con, "k")));
    assert_eq!(expire(&mut con, "40", &["XX", "LT"]), yes);
    assert_eq!(expire(&mut con, "400", &["XX", "GT"]), yes);
    assert!((399..=400).contains(&ttl(&mut con, "k")));
    // LT on a key without deadline sets one.
    assert_eq!(run(&mut con, &[b"PERSIST", b"k"]), yes);
    assert_eq!(expire(&mut con, "100", &["LT"]), yes);
    assert!((99..=100).contains(&ttl(&mut con, "k")));
    // The same conditions on the other three commands.
    assert_eq!(run(&mut con, &[b"PEXPIRE", b"k", b"50000", b"GT"]), no);
    assert_eq!(run(&mut con, &[b"PEXPIRE", b"k", b"50000", b"LT"]), yes);
    let later = (unix_secs() + 1000).to_string();
    assert_eq!(run(&mut con, &[b"EXPIREAT", b"k", later.as_bytes(), b"NX"]), no);
    assert_eq!(run(&mut con, &[b"EXPIREAT", b"k", later.as_bytes(), b"GT"]), yes);
    let sooner = ((unix_secs() + 500) * 1000).to_string();
    assert_eq!(run(&mut con, &[b"PEXPIREAT", b"k", sooner.as_bytes(), b"XX"]), yes);
    assert!((498..=501).contains(&ttl(&mut con, "k")));

    // Refused combinations and flags, with Redis's texts.
    let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    assert_eq!(expire(&mut con, "10", &["NX", "XX"]), Err(nx.into()));
    assert_eq!(expire(&mut con, "10", &["GT", "NX"]), Err(nx.into()));
    assert_eq!(
        expire(&mut con, "10", &["GT", "LT"]),
        Err("ERR GT and LT options at the same time are not compatible".into())
    );
    assert_eq!(expire(&mut con, "10", &["FOO"]), Err("ERR Unsupported option FOO".into()));
    assert_eq!(
        expire(&mut con, "abc", &[]),
        Err("ERR value is not an integer or out of range".into())
    );
    assert!((498..=501).contains(&ttl(&mut con, "k")), "refused EXPIREs change nothing");
}

#[test]
fn expire_times_that_overflow_name_their_command() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let () = con.set("k", "v").unwrap();
    let max = b"9223372036854775807";
    for cmd in ["EXPIRE", "PEXPIRE", "EXPIREAT"] {
        assert_eq!(
            run(&mut con, &[cmd.as_bytes(), b"k", max]),
            Err(format!("ERR invalid expire time in '{}' command", cmd.to_lowercase()))
        );
    }
    // Seconds that fit in milliseconds but overflow once now is added.
    assert_eq!(
        run(&mut con, &[b"EXPIRE", b"k", b"9223372036854775"]),
        Err("ERR invalid expire time in 'expire' command".into())
    );
    assert_eq!(ttl(&mut con, "k"), -1);
    // An absolute deadline as far as it goes is accepted.
    assert_eq!(run(&mut con, &[b"PEXPIREAT", b"k", max]), Ok(Value::Int(1)));
    assert!(ttl(&mut con, "k") > 100 * 365 * 86_400);
}

#[test]
fn short_ttls_expire() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    // Every way of giving a key a short TTL.
    assert_eq!(run(&mut con, &[b"SET", b"set_px", b"v", b"PX", b"100"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"SET", b"set_ex", b"v", b"EX", b"1"]), Ok(Value::Okay));
    let at = (SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() + 150).to_string();
    assert_eq!(
        run(&mut con, &[b"SET", b"set_pxat", b"v", b"PXAT", at.as_bytes()]),
        Ok(Value::Okay)
    );
    assert_eq!(run(&mut con, &[b"PSETEX", b"psetex", b"100", b"v"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"SETEX", b"setex", b"1", b"v"]), Ok(Value::Okay));
    for key in ["expire", "pexpire", "getex", "pexpireat"] {
        let () = con.set(key, "v").unwrap();
    }
    assert_eq!(run(&mut con, &[b"EXPIRE", b"expire", b"1"]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"PEXPIRE", b"pexpire", b"100"]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"PEXPIREAT", b"pexpireat", at.as_bytes()]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"GETEX", b"getex", b"PX", b"100"]), Ok(bulk("v")));
    let () = con.set("forever", "v").unwrap();
    let keys = [
        "set_px",
        "set_ex",
        "set_pxat",
        "psetex",
        "setex",
        "expire",
        "pexpire",
        "pexpireat",
        "getex",
    ];
    for key in keys {
        assert!(eventually(LIMIT, || gone(&mut con, key)), "{key} did not expire");
        assert_eq!(ttl(&mut con, key), -2, "{key}");
        assert_eq!(run(&mut con, &[b"EXISTS", key.as_bytes()]), Ok(Value::Int(0)), "{key}");
    }
    assert_eq!(run(&mut con, &[b"GET", b"forever"]), Ok(bulk("v")));
    assert!(
        eventually(LIMIT, || run(&mut con, &[b"DBSIZE"]) == Ok(Value::Int(1))),
        "expired keys leave DBSIZE: {:?}",
        run(&mut con, &[b"DBSIZE"])
    );
}

#[test]
fn expired_keys_behave_as_missing() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let keys = ["incr", "append", "nx", "xx", "expire", "persist", "strlen", "getdel", "mget"];
    for key in keys {
        assert_eq!(run(&mut con, &[b"SET", key.as_bytes(), b"10", b"PX", b"50"]), Ok(Value::Okay));
    }
    for key in keys {
        assert!(eventually(LIMIT, || ttl(&mut con, key) == -2), "{key} did not expire");
    }
    assert_eq!(run(&mut con, &[b"INCR", b"incr"]), Ok(Value::Int(1)), "counts from 0 again");
    assert_eq!(ttl(&mut con, "incr"), -1, "and has no deadline");
    assert_eq!(run(&mut con, &[b"APPEND", b"append", b"x"]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"SET", b"nx", b"new", b"NX"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"SET", b"xx", b"new", b"XX"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"EXPIRE", b"expire", b"100"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"PERSIST", b"persist"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"STRLEN", b"strlen"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"GETDEL", b"getdel"]), Ok(Value::Nil));
    assert_eq!(
        run(&mut con, &[b"MGET", b"mget", b"nx"]),
        Ok(Value::Array(vec![Value::Nil, bulk("new")]))
    );
    assert_eq!(run(&mut con, &[b"DEL", b"mget"]), Ok(Value::Int(0)));
}

#[test]
fn keepttl_and_getex_persist_keep_keys_alive() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    // KEEPTTL keeps a short deadline: the new value still expires.
    assert_eq!(run(&mut con, &[b"SET", b"kept", b"a", b"PX", b"100"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"SET", b"kept", b"b", b"KEEPTTL"]), Ok(Value::Okay));
    assert!(eventually(LIMIT, || gone(&mut con, "kept")));
    // A plain SET over a short TTL makes the key permanent; so does GETEX
    // PERSIST. A key with a short TTL alongside proves time has passed.
    for key in ["reset", "persisted", "witness"] {
        assert_eq!(run(&mut con, &[b"SET", key.as_bytes(), b"a", b"PX", b"100"]), Ok(Value::Okay));
    }
    assert_eq!(run(&mut con, &[b"SET", b"reset", b"b"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"GETEX", b"persisted", b"PERSIST"]), Ok(bulk("a")));
    assert!(eventually(LIMIT, || gone(&mut con, "witness")));
    assert_eq!(run(&mut con, &[b"GET", b"reset"]), Ok(bulk("b")));
    assert_eq!(run(&mut con, &[b"GET", b"persisted"]), Ok(bulk("a")));
    assert_eq!(ttl(&mut con, "reset"), -1);
    assert_eq!(ttl(&mut con, "persisted"), -1);
}

/// Redis's suite: three keys with a 500 ms TTL, nothing reads them, and
/// DBSIZE says 0 within about a second (active expiry, not a read).
#[test]
fn keys_nobody_reads_expire_from_dbsize_and_info_within_about_a_second() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    for key in ["key1", "key2", "key3"] {
        let _: () = redis::cmd("PSETEX").arg(key).arg(500).arg("a").query(&mut con).unwrap();
    }
    let _: () = con.set("kept", "v").unwrap();
    let dbsize = |con: &mut redis::Connection| -> i64 { redis::cmd("DBSIZE").query(con).unwrap() };
    assert_eq!(dbsize(&mut con), 4);
    let start = std::time::Instant::now();
    // Liveness bound only; the test proper is that no read was needed.
    assert!(eventually(Duration::from_secs(5), || dbsize(&mut con) == 1));
    let took = start.elapsed();
    let info: String = redis::cmd("INFO").arg("everything").query(&mut con).unwrap();
    assert!(info.contains("db0:keys=1,expires=0"), "{info}");
    assert!(info.contains("expired_keys:3"), "{info}");
    println!("three 500 ms keys gone from DBSIZE {took:?} after they were set");
}
