//! SLOWLOG over real TCP: what is logged (newest first, with its
//! arguments, the client's address and name), LEN, RESET, the max-len
//! trim, Redis's argument trimming, and a command that is really slow.

mod common;
mod resp_support;

use redis::Value;

use common::{Client, TestServer};
use resp_support::{ask_text, connect, encode, raw, run};

/// `SLOWLOG GET [count]` as the `redis` crate parses it.
fn entries(con: &mut redis::Connection, count: Option<&str>) -> Vec<Vec<Value>> {
    let mut args: Vec<&[u8]> = vec![b"SLOWLOG", b"GET"];
    if let Some(count) = count {
        args.push(count.as_bytes());
    }
    match run(con, &args).unwrap() {
        Value::Array(entries) => entries
            .into_iter()
            .map(|e| match e {
                Value::Array(fields) => fields,
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("{other:?}"),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("{other:?}"),
    }
}

fn args(entry: &[Value]) -> Vec<String> {
    match &entry[3] {
        Value::Array(args) => args.iter().map(text).collect(),
        other => panic!("{other:?}"),
    }
}

fn len(con: &mut redis::Connection) -> i64 {
    int(&run(con, &[b"SLOWLOG", b"LEN"]).unwrap())
}

#[test]
fn every_command_is_logged_newest_first_with_its_arguments_and_client() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    assert_eq!(
        run(&mut con, &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0"]),
        Ok(Value::Okay)
    );
    assert_eq!(run(&mut con, &[b"SLOWLOG", b"RESET"]), Ok(Value::Okay));
    assert_eq!(run(&mut con, &[b"CLIENT", b"SETNAME", b"tester"]), Ok(Value::Okay));
    run(&mut con, &[b"SET", b"k", b"a value"]).unwrap();
    run(&mut con, &[b"GET", b"k"]).unwrap();
    // A failed command ran too, and is logged.
    assert!(run(&mut con, &[b"INCR", b"k"]).is_err());
    let all = entries(&mut con, Some("-1"));
    let logged: Vec<Vec<String>> = all.iter().map(|e| args(e)).collect();
    let want: Vec<Vec<&str>> = vec![
        vec!["INCR", "k"],
        vec!["GET", "k"],
        vec!["SET", "k", "a value"],
        vec!["CLIENT", "SETNAME", "tester"],
        vec!["SLOWLOG", "RESET"],
    ];
    assert_eq!(logged, want);
    let newest = &all[0];
    assert_eq!(newest.len(), 6);
    assert!(int(&newest[0]) > int(&all[1][0]), "ids grow");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    assert!((int(&newest[1]) - now.as_secs() as i64).abs() < 60, "a Unix time");
    assert!(int(&newest[2]) >= 0);
    assert!(text(&newest[4]).starts_with("127.0.0.1:"), "{}", text(&newest[4]));
    assert_eq!(text(&newest[5]), "tester");
    // Before SETNAME, no name.
    assert_eq!(text(&all[4][5]), "");
    // GET's default count is 10; LEN counts the entries.
    assert_eq!(entries(&mut con, None).len(), 6);
    assert_eq!(entries(&mut con, Some("2")).len(), 2);
    assert_eq!(len(&mut con), 8);
    assert_eq!(run(&mut con, &[b"SLOWLOG", b"RESET"]), Ok(Value::Okay));
    assert_eq!(len(&mut con), 1, "RESET itself is logged after it ran");
}

#[test]
fn max_len_trims_and_long_arguments_are_cut_as_redis_does() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    run(
        &mut con,
        &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"0", b"slowlog-max-len", b"10"],
    )
    .unwrap();
    for _ in 0..100 {
        run(&mut con, &[b"PING"]).unwrap();
    }
    assert_eq!(len(&mut con), 10);
    assert_eq!(entries(&mut con, Some("5")).len(), 5);
    // 33 arguments: 31 kept, the last says how many more.
    let many: Vec<String> = (0..31).map(|i| i.to_string()).collect();
    let mut request: Vec<&[u8]> = vec![b"MSET"];
    let pairs: Vec<String> = many.iter().chain(["x".to_string()].iter()).cloned().collect();
    request.extend(pairs.iter().map(|s| s.as_bytes()));
    run(&mut con, &request).unwrap();
    let logged = args(&entries(&mut con, Some("2"))[0]);
    assert_eq!(logged.len(), 32);
    assert_eq!(logged[30], "29");
    assert_eq!(logged[31], "... (2 more arguments)");
    let long = "A".repeat(129);
    run(&mut con, &[b"SET", b"foo", long.as_bytes()]).unwrap();
    let logged = args(&entries(&mut con, Some("2"))[0]);
    assert_eq!(logged, ["SET", "foo", &format!("{}... (1 more bytes)", "A".repeat(128))]);
    // Passwords never reach the log.
    assert!(run(&mut con, &[b"AUTH", b"secret"]).is_err());
    assert_eq!(args(&entries(&mut con, Some("2"))[0]), ["AUTH", "(redacted)"]);
}

#[test]
fn slower_than_filters_and_negative_disables() {
    let server = TestServer::start(&[]);
    let mut con = connect(&server);
    run(&mut con, &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"1000000"]).unwrap();
    run(&mut con, &[b"SLOWLOG", b"RESET"]).unwrap();
    run(&mut con, &[b"PING"]).unwrap();
    assert_eq!(len(&mut con), 0);
    assert_eq!(
        run(&mut con, &[b"CONFIG", b"GET", b"slowlog-*"]),
        Ok(Value::Array(vec![
            resp_support::bulk("slowlog-log-slower-than"),
            resp_support::bulk("1000000"),
            resp_support::bulk("slowlog-max-len"),
            resp_support::bulk("128"),
        ]))
    );
    run(&mut con, &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-1"]).unwrap();
    run(&mut con, &[b"PING"]).unwrap();
    assert_eq!(len(&mut con), 0);
    assert_eq!(
        run(&mut con, &[b"CONFIG", b"SET", b"slowlog-log-slower-than", b"-2"]),
        Err("ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - \
             argument must be between -1 and 9223372036854775807 inclusive"
            .into())
    );
}

/// KEYS over 200k keys takes well past a millisecond: logged with a
/// threshold of 1000 µs, even pipelined behind other commands.
#[test]
fn a_really_slow_command_is_logged() {
    let server = TestServer::start(&[]);
    let mut c = raw(&server);
    let mut batch = Vec::new();
    for i in 0..200_000 {
        let key = format!("key:{i}");
        batch.extend(encode(&[b"SET", key.as_bytes(), b"v"]));
        if i % 1000 == 999 {
            c.send(&batch);
            batch.clear();
            for _ in 0..1000 {
                assert_eq!(c.line(), b"+OK\r\n");
            }
        }
    }
    assert_eq!(ask_text(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "1000"]), "+OK\r\n");
    let mut pipeline = encode(&[b"GET", b"key:1"]);
    pipeline.extend(encode(&[b"KEYS", b"*"]));
    c.send(&pipeline);
    assert_eq!(c.line(), b"$1\r\n");
    assert_eq!(c.line(), b"v\r\n");
    resp_support::read_reply(&mut c);
    let mut con = connect(&server);
    let logged = entries(&mut con, None);
    let keys = logged.iter().find(|e| args(e) == ["KEYS", "*"]).expect("KEYS * logged");
    assert!(int(&keys[2]) >= 1000, "{} µs", int(&keys[2]));
}

#[test]
fn subcommand_errors_are_redis_texts() {
    let server = TestServer::start(&[]);
    let mut c: Client = raw(&server);
    assert_eq!(
        ask_text(&mut c, &["SLOWLOG", "GET", "-2"]),
        "-ERR count should be greater than or equal to -1\r\n"
    );
    assert_eq!(
        ask_text(&mut c, &["SLOWLOG", "GET", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        ask_text(&mut c, &["SLOWLOG", "GET", "1", "2"]),
        "-ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP.\r\n"
    );
    assert_eq!(
        ask_text(&mut c, &["SLOWLOG", "LEN", "x"]),
        "-ERR wrong number of arguments for 'slowlog|len' command\r\n"
    );
    assert_eq!(
        ask_text(&mut c, &["SLOWLOG", "nope"]),
        "-ERR unknown subcommand 'nope'. Try SLOWLOG HELP.\r\n"
    );
    let help = ask_text(&mut c, &["SLOWLOG", "HELP"]);
    assert!(help.starts_with("*12\r\n+SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+GET [<count>]\r\n"), "{help}");
}
