//! The string and key commands over RESP2 with the `redis` crate (redis-rs,
//! sync API), each with its options, against a real server on port 0.
//! Expected replies are Redis 7's (checked side by side against
//! redis-server 7.0.15 while writing these tests).

mod common;
mod resp_support;

use redis::{Commands, Value};

use common::TestServer;
use resp_support::{bulk, connect, is_capkv, run};

#[test]
fn get_and_set_plain() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let missing: Option<String> = con.get("k").unwrap();
    assert_eq!(missing, None);
    let () = con.set("k", "v").unwrap();
    let v: String = con.get("k").unwrap();
    assert_eq!(v, "v");
    let () = con.set("k", "").unwrap();
    let v: String = con.get("k").unwrap();
    assert_eq!(v, "", "empty values are values");
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v1"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("v1")));
}

#[test]
fn set_nx_xx_get() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    // NX: only when absent; refusal is a nil reply.
    assert_eq!(run(&mut con, &[b"SET", b"k", b"a", b"NX"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"SET", b"k", b"b", b"NX"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("a")));
    // XX: only when present.
    assert_eq!(run(&mut con, &[b"SET", b"k", b"c", b"XX"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"SET", b"other", b"c", b"xx"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"EXISTS", b"other"]), Ok(Value::Int(0)));
    // GET: the previous value (or nil), whether or not the write happens.
    assert_eq!(run(&mut con, &[b"SET", b"k", b"d", b"GET"]), Ok(bulk("c")));
    assert_eq!(run(&mut con, &[b"SET", b"new", b"x", b"GET"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"GET", b"new"]), Ok(bulk("x")));
    assert_eq!(run(&mut con, &[b"SET", b"k", b"e", b"NX", b"GET"]), Ok(bulk("d")));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("d")), "NX GET did not write");
    assert_eq!(run(&mut con, &[b"SET", b"k", b"f", b"XX", b"GET"]), Ok(bulk("d")));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("f")));
    assert_eq!(run(&mut con, &[b"SET", b"gone", b"f", b"XX", b"GET"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"EXISTS", b"gone"]), Ok(Value::Int(0)));
    // Conflicting or unknown options.
    let syntax = Err("ERR syntax error".to_string());
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"NX", b"XX"]), syntax);
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"FOO"]), syntax);
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"EX"]), syntax);
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"EX", b"10", b"PX", b"100"]), syntax);
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"KEEPTTL", b"EX", b"10"]), syntax);
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("f")), "refused SETs write nothing");
}

#[test]
fn set_expiry_options() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let secs = now.as_secs() as i64;
    let ttl = |con: &mut redis::Connection| -> i64 { con.ttl("k").unwrap() };
    let pttl = |con: &mut redis::Connection| -> i64 { con.pttl("k").unwrap() };

    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"EX", b"100"]), Ok(Value::Okay));
    assert!((99..=100).contains(&ttl(&mut con)));
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"PX", b"100000"]), Ok(Value::Okay));
    assert!((99_000..=100_000).contains(&pttl(&mut con)));
    let at = (secs + 200).to_string();
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"EXAT", at.as_bytes()]), Ok(Value::Okay));
    assert!((198..=201).contains(&ttl(&mut con)), "{}", ttl(&mut con));
    let at = ((secs + 300) * 1000).to_string();
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"PXAT", at.as_bytes()]), Ok(Value::Okay));
    assert!((298..=301).contains(&ttl(&mut con)));
    // KEEPTTL keeps the deadline; a plain SET clears it.
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v2", b"KEEPTTL"]), Ok(Value::Okay));
    assert!((298..=301).contains(&ttl(&mut con)));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("v2")));
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v3"]), Ok(Value::Okay));
    assert_eq!(ttl(&mut con), -1);
    // Repeating the same option is allowed; the last one wins.
    assert_eq!(run(&mut con, &[b"SET", b"k", b"v", b"EX", b"10", b"EX", b"20"]), Ok(Value::Okay));
    assert!((19..=20).contains(&ttl(&mut con)));
    // Options combine with NX/XX/GET and are case-insensitive.
    assert_eq!(
        run(&mut con, &[b"set", b"k", b"v4", b"xx", b"get", b"px", b"50000"]),
        Ok(bulk("v"))
    );
    assert!((49_000..=50_000).contains(&pttl(&mut con)));
    // Invalid times.
    for (opt, t) in [("EX", "0"), ("EX", "-1"), ("PX", "0"), ("EXAT", "0"), ("PXAT", "-5")] {
        assert_eq!(
            run(&mut con, &[b"SET", b"k", b"v", opt.as_bytes(), t.as_bytes()]),
            Err("ERR invalid expire time in 'set' command".into()),
            "SET {opt} {t}"
        );
    }
    for huge in [&b"EX"[..], b"PX", b"EXAT"] {
        assert_eq!(
            run(&mut con, &[b"SET", b"k", b"v", huge, b"9223372036854775807"]),
            Err("ERR invalid expire time in 'set' command".into())
        );
    }
    assert_eq!(
        run(&mut con, &[b"SET", b"k", b"v", b"EX", b"ten"]),
        Err("ERR value is not an integer or out of range".into())
    );
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("v4")));
}

#[test]
fn setnx_setex_psetex() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let set: bool = con.set_nx("k", "a").unwrap();
    assert!(set);
    assert_eq!(run(&mut con, &[b"SETNX", b"k", b"b"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("a")));

    let () = con.set_ex("k", "b", 100).unwrap();
    let ttl: i64 = con.ttl("k").unwrap();
    assert!((99..=100).contains(&ttl));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("b")));
    assert_eq!(run(&mut con, &[b"PSETEX", b"k", b"100000", b"c"]), Ok(Value::Okay));
    let pttl: i64 = con.pttl("k").unwrap();
    assert!((99_000..=100_000).contains(&pttl));
    assert_eq!(run(&mut con, &[b"GET", b"k"]), Ok(bulk("c")));
    // SETNX does not touch the deadline of a key it refuses.
    assert_eq!(run(&mut con, &[b"SETNX", b"k", b"d"]), Ok(Value::Int(0)));
    let pttl: i64 = con.pttl("k").unwrap();
    assert!(pttl > 0);

    for (cmd, t) in [("SETEX", "0"), ("SETEX", "-5"), ("PSETEX", "0")] {
        let expected = format!("ERR invalid expire time in '{}' command", cmd.to_lowercase());
        assert_eq!(run(&mut con, &[cmd.as_bytes(), b"k", t.as_bytes(), b"v"]), Err(expected));
    }
    assert_eq!(
        run(&mut con, &[b"SETEX", b"k", b"abc", b"v"]),
        Err("ERR value is not an integer or out of range".into())
    );
    assert_eq!(
        run(&mut con, &[b"SETEX", b"k", b"10"]),
        Err("ERR wrong number of arguments for 'setex' command".into())
    );
}

#[test]
fn getdel_and_getex() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let () = con.set("k", "v").unwrap();
    assert_eq!(run(&mut con, &[b"GETDEL", b"k"]), Ok(bulk("v")));
    assert_eq!(run(&mut con, &[b"GETDEL", b"k"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"EXISTS", b"k"]), Ok(Value::Int(0)));

    let () = con.set("g", "v").unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let ttl = |con: &mut redis::Connection| -> i64 { con.ttl("g").unwrap() };
    // No option: a plain GET that leaves the TTL alone.
    assert_eq!(run(&mut con, &[b"GETEX", b"g"]), Ok(bulk("v")));
    assert_eq!(ttl(&mut con), -1);
    assert_eq!(run(&mut con, &[b"GETEX", b"g", b"EX", b"100"]), Ok(bulk("v")));
    assert!((99..=100).contains(&ttl(&mut con)));
    assert_eq!(run(&mut con, &[b"GETEX", b"g", b"PX", b"200000"]), Ok(bulk("v")));
    assert!((199..=200).contains(&ttl(&mut con)));
    let at = (now.as_secs() + 300).to_string();
    assert_eq!(run(&mut con, &[b"GETEX", b"g", b"EXAT", at.as_bytes()]), Ok(bulk("v")));
    assert!((298..=301).contains(&ttl(&mut con)));
    let at = ((now.as_secs() + 400) * 1000).to_string();
    assert_eq!(run(&mut con, &[b"GETEX", b"g", b"PXAT", at.as_bytes()]), Ok(bulk("v")));
    assert!((398..=401).contains(&ttl(&mut con)));
    assert_eq!(run(&mut con, &[b"GETEX", b"g", b"PERSIST"]), Ok(bulk("v")));
    assert_eq!(ttl(&mut con), -1);
    // A missing key: nil, and nothing is created.
    assert_eq!(run(&mut con, &[b"GETEX", b"missing", b"EX", b"10"]), Ok(Value::Nil));
    assert_eq!(run(&mut con, &[b"EXISTS", b"missing"]), Ok(Value::Int(0)));
    // Options SET has and GETEX has not, or conflicting ones.
    let syntax = Err("ERR syntax error".to_string());
    for opts in [&[&b"KEEPTTL"[..]][..], &[b"NX"], &[b"GET"], &[b"EX", b"10", b"PERSIST"], &[b"EX"]]
    {
        let mut args: Vec<&[u8]> = vec![b"GETEX", b"g"];
        args.extend_from_slice(opts);
        assert_eq!(run(&mut con, &args), syntax, "{opts:?}");
    }
    assert_eq!(
        run(&mut con, &[b"GETEX", b"g", b"EX", b"0"]),
        Err("ERR invalid expire time in 'getex' command".into())
    );
    assert_eq!(ttl(&mut con), -1, "refused GETEX changes nothing");
}

#[test]
fn del_unlink_exists() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let () = con.mset(&[("a", "1"), ("b", "2"), ("c", "3")]).unwrap();
    let n: i64 = con.exists(&["a", "b", "a", "missing"]).unwrap();
    assert_eq!(n, 3, "EXISTS counts repeats");
    let n: i64 = con.del(&["a", "missing"]).unwrap();
    assert_eq!(n, 1);
    assert_eq!(run(&mut con, &[b"DEL", b"a"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"UNLINK", b"b", b"c", b"b"]), Ok(Value::Int(2)));
    assert_eq!(run(&mut con, &[b"EXISTS", b"a", b"b", b"c"]), Ok(Value::Int(0)));
    for cmd in ["DEL", "UNLINK", "EXISTS"] {
        assert_eq!(
            run(&mut con, &[cmd.as_bytes()]),
            Err(format!("ERR wrong number of arguments for '{}' command", cmd.to_lowercase()))
        );
    }
}

#[test]
fn mget_mset() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    assert_eq!(run(&mut con, &[b"MSET", b"a", b"1", b"b", b"2", b"a", b"3"]), Ok(Value::Okay));
    let values: Vec<Option<String>> = con.mget(&["a", "missing", "b"]).unwrap();
    assert_eq!(values, [Some("3".into()), None, Some("2".into())], "later pairs win");
    assert_eq!(run(&mut con, &[b"MGET", b"b"]), Ok(Value::Array(vec![bulk("2")])));
    // MSET clears deadlines, as SET does.
    assert_eq!(run(&mut con, &[b"EXPIRE", b"a", b"100"]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"MSET", b"a", b"4"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"TTL", b"a"]), Ok(Value::Int(-1)));
    let arity = |c: &str| Err(format!("ERR wrong number of arguments for '{c}' command"));
    assert_eq!(run(&mut con, &[b"MSET", b"a", b"1", b"b"]), arity("mset"));
    assert_eq!(run(&mut con, &[b"MSET"]), arity("mset"));
    assert_eq!(run(&mut con, &[b"MGET"]), arity("mget"));
    // A large MGET, in order.
    let pairs: Vec<(String, String)> =
        (0..500).map(|i| (format!("key:{i}"), format!("value:{i}"))).collect();
    let () = con.mset(&pairs).unwrap();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
    let values: Vec<String> = con.mget(&keys).unwrap();
    assert!(values.iter().eq(pairs.iter().map(|(_, v)| v)));
}

#[test]
fn incr_family() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    let n: i64 = con.incr("i", 1).unwrap();
    assert_eq!(n, 1, "a missing key counts from 0");
    assert_eq!(run(&mut con, &[b"INCR", b"i"]), Ok(Value::Int(2)));
    assert_eq!(run(&mut con, &[b"DECR", b"i"]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"INCRBY", b"i", b"10"]), Ok(Value::Int(11)));
    assert_eq!(run(&mut con, &[b"DECRBY", b"i", b"3"]), Ok(Value::Int(8)));
    assert_eq!(run(&mut con, &[b"INCRBY", b"i", b"-10"]), Ok(Value::Int(-2)));
    assert_eq!(run(&mut con, &[b"DECRBY", b"i", b"-5"]), Ok(Value::Int(3)));
    assert_eq!(run(&mut con, &[b"DECR", b"fresh"]), Ok(Value::Int(-1)));
    assert_eq!(run(&mut con, &[b"GET", b"i"]), Ok(bulk("3")), "stored as decimal text");
    // INCR keeps the deadline (Redis overwrites in place).
    assert_eq!(run(&mut con, &[b"EXPIRE", b"i", b"100"]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"INCR", b"i"]), Ok(Value::Int(4)));
    let ttl: i64 = con.ttl("i").unwrap();
    assert!((99..=100).contains(&ttl));

    let not_int = Err("ERR value is not an integer or out of range".to_string());
    let overflow = Err("ERR increment or decrement would overflow".to_string());
    assert_eq!(run(&mut con, &[b"INCRBY", b"i", b"abc"]), not_int);
    assert_eq!(run(&mut con, &[b"INCRBY", b"i", b"1.5"]), not_int);
    assert_eq!(
        run(&mut con, &[b"DECRBY", b"i", b"-9223372036854775808"]),
        Err("ERR decrement would overflow".into())
    );
    for bad in ["abc", " 1", "01", "1.5", "-0", "", "99999999999999999999"] {
        let () = con.set("s", bad).unwrap();
        assert_eq!(run(&mut con, &[b"INCR", b"s"]), not_int, "INCR on {bad:?}");
    }
    let () = con.set("s", "9223372036854775807").unwrap();
    assert_eq!(run(&mut con, &[b"INCR", b"s"]), overflow);
    assert_eq!(run(&mut con, &[b"INCRBY", b"s", b"-1"]), Ok(Value::Int(i64::MAX - 1)));
    let () = con.set("s", "-9223372036854775808").unwrap();
    assert_eq!(run(&mut con, &[b"DECR", b"s"]), overflow);
    assert_eq!(run(&mut con, &[b"GET", b"s"]), Ok(bulk("-9223372036854775808")));
}

#[test]
fn append_strlen() {
    let server = TestServer::start(&["--max-value-size", "1kb"]);
    let mut con = connect(&server);
    let n: i64 = con.append("a", "hello").unwrap();
    assert_eq!(n, 5, "APPEND creates a missing key");
    assert_eq!(run(&mut con, &[b"APPEND", b"a", b" world"]), Ok(Value::Int(11)));
    assert_eq!(run(&mut con, &[b"GET", b"a"]), Ok(bulk("hello world")));
    assert_eq!(run(&mut con, &[b"STRLEN", b"a"]), Ok(Value::Int(11)));
    assert_eq!(run(&mut con, &[b"STRLEN", b"missing"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"APPEND", b"a", b""]), Ok(Value::Int(11)));
    // APPEND keeps the deadline.
    assert_eq!(run(&mut con, &[b"EXPIRE", b"a", b"100"]), Ok(Value::Int(1)));
    assert_eq!(run(&mut con, &[b"APPEND", b"a", b"!"]), Ok(Value::Int(12)));
    let ttl: i64 = con.ttl("a").unwrap();
    assert!((99..=100).contains(&ttl));
    // Numbers stay strings underneath.
    let () = con.set("n", "5").unwrap();
    assert_eq!(run(&mut con, &[b"APPEND", b"n", b"5"]), Ok(Value::Int(2)));
    assert_eq!(run(&mut con, &[b"INCR", b"n"]), Ok(Value::Int(56)));
    // Growing past capkv's value limit is refused and changes nothing.
    if !is_capkv(&server) {
        return;
    }
    let big = vec![b'x'; 1000];
    assert_eq!(run(&mut con, &[b"APPEND", b"big", &big]), Ok(Value::Int(1000)));
    assert_eq!(
        run(&mut con, &[b"APPEND", b"big", &big]),
        Err("ERR string exceeds maximum allowed size (proto-max-bulk-len)".into())
    );
    assert_eq!(run(&mut con, &[b"STRLEN", b"big"]), Ok(Value::Int(1000)));
}

#[test]
fn dbsize_flushall_flushdb() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    assert_eq!(run(&mut con, &[b"DBSIZE"]), Ok(Value::Int(0)));
    let pairs: Vec<(String, String)> = (0..100).map(|i| (format!("k{i}"), i.to_string())).collect();
    let () = con.mset(&pairs).unwrap();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 100);
    assert_eq!(run(&mut con, &[b"FLUSHALL"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"DBSIZE"]), Ok(Value::Int(0)));
    assert_eq!(run(&mut con, &[b"GET", b"k1"]), Ok(Value::Nil));
    for flush in [&[&b"FLUSHDB"[..]][..], &[b"FLUSHDB", b"ASYNC"], &[b"flushall", b"sync"]] {
        let () = con.mset(&pairs).unwrap();
        assert_eq!(run(&mut con, flush), Ok(Value::Okay), "{flush:?}");
        assert_eq!(run(&mut con, &[b"DBSIZE"]), Ok(Value::Int(0)), "{flush:?}");
    }
    assert_eq!(run(&mut con, &[b"FLUSHDB", b"FOO"]), Err("ERR syntax error".into()));
    assert_eq!(
        run(&mut con, &[b"DBSIZE", b"x"]),
        Err("ERR wrong number of arguments for 'dbsize' command".into())
    );
    // The store works as before after a flush.
    let () = con.set("after", "1").unwrap();
    assert_eq!(run(&mut con, &[b"DBSIZE"]), Ok(Value::Int(1)));
}
