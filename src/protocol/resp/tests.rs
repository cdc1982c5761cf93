use super::*;
use crate::protocol::{
    Args, ClientSubcommand, Command, CommandSubcommand, ConfigSubcommand, ExpireCondition, Expiry,
    SetCondition, SetOptions, TtlUnit, encode_command,
};

fn limits() -> Limits {
    Limits::default()
}

/// Keys up to 8 bytes, values (and bulks) up to 16.
fn small() -> Limits {
    Limits { max_key_size: 8, max_value_size: 16, max_line_value: 16, max_args: 8, max_inline: 32 }
}

fn leak(bytes: Vec<u8>) -> &'static [u8] {
    Box::leak(bytes.into_boxed_slice())
}

/// A multibulk request.
fn frame(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(args, &mut out);
    out
}

/// Arguments as the parser would hand them out.
fn args(items: &[&[u8]]) -> Args<'static> {
    let raw = frame(items);
    let header = raw.iter().position(|&b| b == b'\n').unwrap() + 1;
    Args::resp(&leak(raw)[header..], items.len())
}

/// Parses `args` as one multibulk request with `limits`: the command, or
/// the RESP error text.
fn run_with(items: &[&str], limits: &Limits) -> Result<Command<'static>, String> {
    let bytes: Vec<&[u8]> = items.iter().map(|s| s.as_bytes()).collect();
    let buf = leak(frame(&bytes));
    match parse(buf, limits) {
        Parsed::Command { command, consumed } => {
            assert_eq!(consumed, buf.len());
            Ok(command)
        }
        Parsed::Invalid { error, consumed } => {
            assert_eq!(consumed, buf.len());
            Err(error.resp_text().into_owned())
        }
        other => panic!("{items:?}: {other:?}"),
    }
}

fn run(items: &[&str]) -> Result<Command<'static>, String> {
    run_with(items, &limits())
}

fn err(items: &[&str]) -> String {
    run(items).expect_err("expected an error")
}

fn arity(name: &str) -> String {
    format!("ERR wrong number of arguments for '{name}' command")
}

fn fatal(input: &[u8]) -> String {
    match parse(input, &limits()) {
        Parsed::Fatal { error } => {
            assert!(error.closes_connection());
            error.resp_text().into_owned()
        }
        other => panic!("{:?}: expected fatal, got {other:?}", String::from_utf8_lossy(input)),
    }
}

fn set_with(key: &'static str, value: &'static str, options: SetOptions) -> Command<'static> {
    Command::Set { key: key.as_bytes(), value: value.as_bytes(), options }
}

fn expiry(e: Expiry) -> SetOptions {
    SetOptions { expiry: Some(e), ..SetOptions::default() }
}

// ---- framing ----

#[test]
fn get_frame() {
    let buf = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
    assert_eq!(
        parse(buf, &limits()),
        Parsed::Command { command: Command::Get { key: b"k" }, consumed: buf.len() }
    );
}

#[test]
fn every_prefix_is_incomplete() {
    let buf = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    for cut in 0..buf.len() {
        assert_eq!(parse(&buf[..cut], &limits()), Parsed::Incomplete, "cut {cut}");
    }
}

#[test]
fn pipelined_frames_are_consumed_one_by_one() {
    let mut buf = frame(&[b"SET", b"a", b"1"]);
    let first = buf.len();
    buf.extend_from_slice(&frame(&[b"GET", b"a"]));
    match parse(&buf, &limits()) {
        Parsed::Command { consumed, .. } => assert_eq!(consumed, first),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        parse(&buf[first..], &limits()),
        Parsed::Command { command: Command::Get { key: b"a" }, consumed: buf.len() - first }
    );
}

#[test]
fn bulk_strings_are_binary_safe() {
    let buf = frame(&[b"SET", b"k\r\n\0", b"\r\n$3\r\n"]);
    assert_eq!(
        parse(&buf, &limits()),
        Parsed::Command {
            command: Command::Set {
                key: b"k\r\n\0",
                value: b"\r\n$3\r\n",
                options: SetOptions::default()
            },
            consumed: buf.len()
        }
    );
}

#[test]
fn empty_multibulk_is_ignored() {
    assert_eq!(parse(b"*0\r\n", &limits()), Parsed::Ignored { consumed: 4 });
    assert_eq!(parse(b"*-1\r\n", &limits()), Parsed::Ignored { consumed: 5 });
    assert_eq!(parse(b"*-7\r\nPING\r\n", &limits()), Parsed::Ignored { consumed: 5 });
}

#[test]
fn bad_multibulk_lengths_are_fatal() {
    let text = "ERR Protocol error: invalid multibulk length";
    for input in [
        &b"*abc\r\n"[..],
        b"*\r\n",
        b"*01\r\n",
        b"*+1\r\n",
        b"*-0\r\n",
        b"* 1\r\n",
        b"*1 \r\n",
        b"*1\rx",
        b"*2147483648\r\n",
        b"*123456789012345678901",
    ] {
        assert_eq!(fatal(input), text, "{input:?}");
    }
    // 20 characters may still be a number.
    assert_eq!(parse(b"*12345678901234567890", &limits()), Parsed::Incomplete);
    // Over max_args.
    let mut l = limits();
    l.max_args = 2;
    assert_eq!(
        parse(b"*3\r\n", &l),
        Parsed::Fatal { error: ProtocolError::InvalidMultibulkLength.into() }
    );
}

#[test]
fn non_bulk_elements_are_fatal() {
    assert_eq!(fatal(b"*1\r\n+OK\r\n"), "ERR Protocol error: expected '$', got '+'");
    assert_eq!(fatal(b"*1\r\n*1\r\n$1\r\nx\r\n"), "ERR Protocol error: expected '$', got '*'");
    assert_eq!(fatal(b"*2\r\n$3\r\nGET\r\n:1\r\n"), "ERR Protocol error: expected '$', got ':'");
}

#[test]
fn bad_bulk_lengths_are_fatal() {
    let text = "ERR Protocol error: invalid bulk length";
    for input in [
        &b"*1\r\n$-1\r\n"[..],
        b"*1\r\n$x\r\n",
        b"*1\r\n$01\r\n",
        b"*1\r\n$\r\n",
        b"*1\r\n$3\rxabc\r\n",
        b"*1\r\n$123456789012345678901",
    ] {
        assert_eq!(fatal(input), text, "{input:?}");
    }
}

#[test]
fn bulk_without_crlf_is_fatal() {
    assert_eq!(
        fatal(b"*1\r\n$4\r\nPINGxx"),
        "ERR Protocol error: bulk string not followed by CRLF"
    );
    assert_eq!(parse(b"*1\r\n$4\r\nPING\r", &limits()), Parsed::Incomplete);
}

#[test]
fn oversized_last_bulk_is_skipped() {
    let l = small();
    // `SET k <65 bytes>` (the bulk limit is at least 64): refused as soon
    // as the header is read; the whole request is known to be
    // 4 + 9 + 7 + 5 + 65 + 2 bytes long.
    let head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$65\r\n";
    let expected =
        Parsed::Oversized { error: CommandError::ValueTooLarge, skip: Some(head.len() + 67) };
    assert_eq!(parse(head, &l), expected);
    let mut whole = head.to_vec();
    whole.extend_from_slice(&[b'v'; 65]);
    whole.extend_from_slice(b"\r\n");
    assert_eq!(parse(&whole, &l), expected);
    // Exactly at the limit is fine.
    let ok = frame(&[b"SET", b"k", &[b'v'; 16]]);
    assert!(matches!(parse(&ok, &l), Parsed::Command { .. }));
    // Between the value limit and the bulk limit: framed, then refused.
    let big = frame(&[b"SET", b"k", &[b'v'; 17]]);
    assert_eq!(
        parse(&big, &l),
        Parsed::Invalid { error: CommandError::ValueTooLarge, consumed: big.len() }
    );
    // A larger value limit raises the bulk limit.
    let l = Limits { max_value_size: 100, ..l };
    let ok = frame(&[b"SET", b"k", &[b'v'; 100]]);
    assert!(matches!(parse(&ok, &l), Parsed::Command { .. }));
    let head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$101\r\n";
    assert_eq!(
        parse(head, &l),
        Parsed::Oversized { error: CommandError::ValueTooLarge, skip: Some(head.len() + 103) }
    );
}

#[test]
fn oversized_bulk_not_last_is_fatal() {
    let l = small();
    let head = b"*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$65\r\n";
    assert_eq!(parse(head, &l), Parsed::Fatal { error: ProtocolError::InvalidBulkLength.into() });
    // Beyond Redis's 512 MiB, never skipped.
    let huge = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n";
    assert_eq!(parse(huge, &l), Parsed::Fatal { error: ProtocolError::InvalidBulkLength.into() });
}

// ---- inline commands ----

fn inline(input: &'static [u8]) -> Parsed<'static> {
    parse(input, &limits())
}

#[test]
fn inline_commands() {
    assert_eq!(
        inline(b"PING\r\n"),
        Parsed::Command { command: Command::Ping { message: None }, consumed: 6 }
    );
    assert_eq!(
        inline(b"get k\n"),
        Parsed::Command { command: Command::Get { key: b"k" }, consumed: 6 }
    );
    assert_eq!(
        inline(b"SET k \"hello world\" EX 10\r\n"),
        Parsed::Command {
            command: set_with("k", "hello world", expiry(Expiry::InMillis(10_000))),
            consumed: 27
        }
    );
    assert_eq!(
        inline(b"  DEL a   'b c'\t\"\"  \r\n"),
        Parsed::Command {
            command: Command::Del { keys: args(&[b"a", b"b c", b""]) },
            consumed: 22
        }
    );
}

#[test]
fn inline_and_multibulk_agree() {
    let line: &[u8] = b"MSET a 1 b 2 c 3\r\n";
    let multibulk = frame(&[b"MSET", b"a", b"1", b"b", b"2", b"c", b"3"]);
    let (Parsed::Command { command: x, .. }, Parsed::Command { command: y, .. }) =
        (parse(line, &limits()), parse(&multibulk, &limits()))
    else {
        panic!("both should parse")
    };
    assert_eq!(x, y);
    let Command::MSet { pairs } = x else { panic!() };
    assert_eq!(pairs.iter().collect::<Vec<_>>(), [&b"a"[..], b"1", b"b", b"2", b"c", b"3"]);
}

#[test]
fn inline_blank_lines_are_ignored() {
    assert_eq!(inline(b"\r\n"), Parsed::Ignored { consumed: 2 });
    assert_eq!(inline(b"\n"), Parsed::Ignored { consumed: 1 });
    assert_eq!(inline(b"  \t \r\n"), Parsed::Ignored { consumed: 6 });
}

#[test]
fn inline_quoting() {
    assert_eq!(
        inline(b"SET k \"a\\nb\"\r\n"),
        Parsed::Rewritten {
            request: b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\na\nb\r\n".to_vec(),
            consumed: 14
        }
    );
    assert_eq!(
        inline(b"SET k\"x y\" 'it\\'s'\n"),
        Parsed::Rewritten {
            request: b"*3\r\n$3\r\nSET\r\n$4\r\nkx y\r\n$4\r\nit's\r\n".to_vec(),
            consumed: 19
        }
    );
    assert_eq!(
        inline(b"GET \"abc\r\n"),
        Parsed::Fatal { error: ProtocolError::UnbalancedQuotes.into() }
    );
    assert_eq!(
        inline(b"GET \"a\"b\r\n"),
        Parsed::Fatal { error: ProtocolError::UnbalancedQuotes.into() }
    );
    // Unbalanced anywhere wins over unsupported escapes elsewhere.
    assert_eq!(
        inline(b"SET \"a\\n\" 'b\r\n"),
        Parsed::Fatal { error: ProtocolError::UnbalancedQuotes.into() }
    );
}

#[test]
fn inline_nul_ends_the_line() {
    assert_eq!(
        inline(b"GET k\0 junk\r\n"),
        Parsed::Command { command: Command::Get { key: b"k" }, consumed: 13 }
    );
}

#[test]
fn inline_length_limit() {
    let l = small(); // max_line 32
    let long = [b'a'; 33];
    assert_eq!(
        parse(&long, &l),
        Parsed::Fatal { error: ProtocolError::TooBigInlineRequest.into() }
    );
    assert_eq!(parse(&long[..32], &l), Parsed::Incomplete);
    let mut complete = long.to_vec();
    complete.push(b'\n');
    assert_eq!(
        parse(&complete, &l),
        Parsed::Fatal { error: ProtocolError::TooBigInlineRequest.into() }
    );
    // Key and value limits apply to inline arguments too.
    assert_eq!(
        parse(b"SET k 12345678901234567\r\n", &l),
        Parsed::Invalid { error: CommandError::ValueTooLarge, consumed: 25 }
    );
}

#[test]
fn inline_unknown_command_text() {
    match inline(b"foo a  b\r\n") {
        Parsed::Invalid { error, consumed: 10 } => assert_eq!(
            error.resp_text(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        ),
        other => panic!("{other:?}"),
    }
}

// ---- the command table ----

#[test]
fn unknown_commands() {
    assert_eq!(
        err(&["FOO", "a", "b"]),
        "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
    );
    assert_eq!(err(&["foo"]), "ERR unknown command 'foo', with args beginning with: ");
    assert_eq!(err(&[""]), "ERR unknown command '', with args beginning with: ");
    assert_eq!(
        err(&["averyveryverylongcommandname"]),
        "ERR unknown command 'averyveryverylongcommandname', with args beginning with: "
    );
}

#[test]
fn names_are_case_insensitive() {
    assert_eq!(run(&["get", "k"]), Ok(Command::Get { key: b"k" }));
    assert_eq!(run(&["GeT", "k"]), Ok(Command::Get { key: b"k" }));
    assert_eq!(
        run(&["set", "k", "v", "ex", "1"]),
        Ok(set_with("k", "v", expiry(Expiry::InMillis(1000))))
    );
}

#[test]
fn get_family() {
    assert_eq!(run(&["GET", "k"]), Ok(Command::Get { key: b"k" }));
    assert_eq!(err(&["GET"]), arity("get"));
    assert_eq!(err(&["GET", "a", "b"]), arity("get"));
    assert_eq!(run(&["GETDEL", "k"]), Ok(Command::GetDel { key: b"k" }));
    assert_eq!(err(&["GETDEL"]), arity("getdel"));
    assert_eq!(run(&["GETEX", "k"]), Ok(Command::GetEx { key: b"k", expiry: None }));
    assert_eq!(
        run(&["GETEX", "k", "PERSIST"]),
        Ok(Command::GetEx { key: b"k", expiry: Some(Expiry::Persist) })
    );
    assert_eq!(
        run(&["GETEX", "k", "EX", "5"]),
        Ok(Command::GetEx { key: b"k", expiry: Some(Expiry::InMillis(5000)) })
    );
    assert_eq!(
        run(&["GETEX", "k", "pxat", "5"]),
        Ok(Command::GetEx { key: b"k", expiry: Some(Expiry::AtUnixMillis(5)) })
    );
    assert_eq!(err(&["GETEX", "k", "NX"]), "ERR syntax error");
    assert_eq!(err(&["GETEX", "k", "KEEPTTL"]), "ERR syntax error");
    assert_eq!(err(&["GETEX", "k", "PERSIST", "EX", "5"]), "ERR syntax error");
    assert_eq!(err(&["GETEX", "k", "EX", "5", "PERSIST"]), "ERR syntax error");
    assert_eq!(err(&["GETEX", "k", "EX", "0"]), "ERR invalid expire time in 'getex' command");
    assert_eq!(err(&["GETEX"]), arity("getex"));
}

#[test]
fn set_plain_and_flags() {
    assert_eq!(run(&["SET", "k", "v"]), Ok(set_with("k", "v", SetOptions::default())));
    assert_eq!(err(&["SET", "k"]), arity("set"));
    let nx = SetOptions { condition: SetCondition::IfAbsent, ..SetOptions::default() };
    let xx = SetOptions { condition: SetCondition::IfPresent, ..SetOptions::default() };
    assert_eq!(run(&["SET", "k", "v", "NX"]), Ok(set_with("k", "v", nx)));
    assert_eq!(run(&["SET", "k", "v", "nx", "NX"]), Ok(set_with("k", "v", nx)));
    assert_eq!(run(&["SET", "k", "v", "XX"]), Ok(set_with("k", "v", xx)));
    assert_eq!(err(&["SET", "k", "v", "NX", "XX"]), "ERR syntax error");
    assert_eq!(err(&["SET", "k", "v", "XX", "NX"]), "ERR syntax error");
    let get = SetOptions { get: true, ..SetOptions::default() };
    assert_eq!(run(&["SET", "k", "v", "GET"]), Ok(set_with("k", "v", get)));
    assert_eq!(run(&["SET", "k", "v", "get", "GET"]), Ok(set_with("k", "v", get)));
    let keep = SetOptions { keep_ttl: true, ..SetOptions::default() };
    assert_eq!(run(&["SET", "k", "v", "KEEPTTL"]), Ok(set_with("k", "v", keep)));
    assert_eq!(err(&["SET", "k", "v", "FOO"]), "ERR syntax error");
    assert_eq!(err(&["SET", "k", "v", "PERSIST"]), "ERR syntax error");
    let all = SetOptions {
        expiry: Some(Expiry::InMillis(100)),
        condition: SetCondition::IfPresent,
        get: true,
        ..SetOptions::default()
    };
    assert_eq!(run(&["SET", "k", "v", "GET", "PX", "100", "XX"]), Ok(set_with("k", "v", all)));
}

#[test]
fn set_expiry() {
    assert_eq!(
        run(&["SET", "k", "v", "EX", "10"]),
        Ok(set_with("k", "v", expiry(Expiry::InMillis(10_000))))
    );
    assert_eq!(
        run(&["SET", "k", "v", "PX", "5"]),
        Ok(set_with("k", "v", expiry(Expiry::InMillis(5))))
    );
    assert_eq!(
        run(&["SET", "k", "v", "EXAT", "100"]),
        Ok(set_with("k", "v", expiry(Expiry::AtUnixMillis(100_000))))
    );
    assert_eq!(
        run(&["SET", "k", "v", "PXAT", "7"]),
        Ok(set_with("k", "v", expiry(Expiry::AtUnixMillis(7))))
    );
    // A repeated expiry of the same kind: the last one wins, as in Redis.
    assert_eq!(
        run(&["SET", "k", "v", "EX", "10", "EX", "20"]),
        Ok(set_with("k", "v", expiry(Expiry::InMillis(20_000))))
    );
    // Large but representable: the executor checks `now + ms`.
    assert_eq!(
        run(&["SET", "k", "v", "PX", "9223372036854775807"]),
        Ok(set_with("k", "v", expiry(Expiry::InMillis(i64::MAX as u64))))
    );
    for conflict in [
        &["EX", "10", "PX", "10"][..],
        &["PX", "10", "EX", "10"],
        &["EX", "10", "EXAT", "10"],
        &["PXAT", "10", "EXAT", "10"],
        &["EX", "10", "KEEPTTL"],
        &["KEEPTTL", "PX", "10"],
        &["EX"],
        &["NX", "EX"],
    ] {
        let mut cmd = vec!["SET", "k", "v"];
        cmd.extend_from_slice(conflict);
        assert_eq!(err(&cmd), "ERR syntax error", "{cmd:?}");
    }
    let invalid = "ERR invalid expire time in 'set' command";
    assert_eq!(err(&["SET", "k", "v", "EX", "0"]), invalid);
    assert_eq!(err(&["SET", "k", "v", "PX", "-5"]), invalid);
    assert_eq!(err(&["SET", "k", "v", "EXAT", "0"]), invalid);
    assert_eq!(err(&["SET", "k", "v", "EX", "9223372036854776"]), invalid);
    assert_eq!(err(&["SET", "k", "v", "EXAT", "9223372036854776"]), invalid);
    assert_eq!(err(&["SET", "k", "v", "EX", "abc"]), "ERR value is not an integer or out of range");
    // Options are read before the number, as in Redis.
    assert_eq!(err(&["SET", "k", "v", "EX", "abc", "FOO"]), "ERR syntax error");
}

#[test]
fn set_variants() {
    let setnx = SetOptions {
        condition: SetCondition::IfAbsent,
        reply_as_int: true,
        ..SetOptions::default()
    };
    assert_eq!(run(&["SETNX", "k", "v"]), Ok(set_with("k", "v", setnx)));
    assert_eq!(err(&["SETNX", "k"]), arity("setnx"));
    assert_eq!(
        run(&["SETEX", "k", "10", "v"]),
        Ok(set_with("k", "v", expiry(Expiry::InMillis(10_000))))
    );
    assert_eq!(
        run(&["PSETEX", "k", "10", "v"]),
        Ok(set_with("k", "v", expiry(Expiry::InMillis(10))))
    );
    assert_eq!(err(&["SETEX", "k", "0", "v"]), "ERR invalid expire time in 'setex' command");
    assert_eq!(err(&["PSETEX", "k", "-1", "v"]), "ERR invalid expire time in 'psetex' command");
    assert_eq!(err(&["SETEX", "k", "x", "v"]), "ERR value is not an integer or out of range");
    assert_eq!(err(&["SETEX", "k", "10"]), arity("setex"));
    assert_eq!(err(&["PSETEX", "k", "10", "v", "x"]), arity("psetex"));
}

#[test]
fn multi_key_commands() {
    assert_eq!(run(&["DEL", "a", "b"]), Ok(Command::Del { keys: args(&[b"a", b"b"]) }));
    assert_eq!(run(&["UNLINK", "a"]), Ok(Command::Del { keys: args(&[b"a"]) }));
    assert_eq!(err(&["DEL"]), arity("del"));
    assert_eq!(err(&["unlink"]), arity("unlink"));
    assert_eq!(run(&["EXISTS", "a", "a"]), Ok(Command::Exists { keys: args(&[b"a", b"a"]) }));
    assert_eq!(err(&["EXISTS"]), arity("exists"));
    assert_eq!(
        run(&["MGET", "a", "b", "c"]),
        Ok(Command::MGet { keys: args(&[b"a", b"b", b"c"]) })
    );
    assert_eq!(err(&["MGET"]), arity("mget"));
    assert_eq!(
        run(&["MSET", "a", "1", "b", "2"]),
        Ok(Command::MSet { pairs: args(&[b"a", b"1", b"b", b"2"]) })
    );
    assert_eq!(err(&["MSET", "a", "1", "b"]), arity("mset"));
    assert_eq!(err(&["MSET", "a"]), arity("mset"));
    // Args past the first few are reached by walking the frame.
    let many: Vec<String> = (0..50).map(|i| format!("key{i}")).collect();
    let mut cmd = vec!["DEL"];
    cmd.extend(many.iter().map(String::as_str));
    let Ok(Command::Del { keys }) = run(&cmd) else { panic!() };
    assert_eq!(keys.len(), 50);
    assert!(
        keys.iter().map(|k| std::str::from_utf8(k).unwrap()).eq(many.iter().map(String::as_str))
    );
}

#[test]
fn expire_family() {
    let expire =
        |command, expiry, condition| Command::Expire { key: b"k", expiry, condition, command };
    use ExpireCondition::*;
    assert_eq!(run(&["EXPIRE", "k", "10"]), Ok(expire("expire", Expiry::InMillis(10_000), Always)));
    assert_eq!(
        run(&["PEXPIRE", "k", "1500"]),
        Ok(expire("pexpire", Expiry::InMillis(1500), Always))
    );
    assert_eq!(
        run(&["EXPIREAT", "k", "100"]),
        Ok(expire("expireat", Expiry::AtUnixMillis(100_000), Always))
    );
    assert_eq!(
        run(&["PEXPIREAT", "k", "5"]),
        Ok(expire("pexpireat", Expiry::AtUnixMillis(5), Always))
    );
    // Non-positive relative times are deadlines in the past.
    assert_eq!(run(&["EXPIRE", "k", "0"]), Ok(expire("expire", Expiry::AtUnixMillis(0), Always)));
    assert_eq!(
        run(&["EXPIRE", "k", "-1"]),
        Ok(expire("expire", Expiry::AtUnixMillis(-1000), Always))
    );
    assert_eq!(
        run(&["PEXPIREAT", "k", "-1"]),
        Ok(expire("pexpireat", Expiry::AtUnixMillis(-1), Always))
    );
    assert_eq!(
        run(&["EXPIRE", "k", "10", "NX"]),
        Ok(expire("expire", Expiry::InMillis(10_000), IfNoExpiry))
    );
    assert_eq!(
        run(&["EXPIRE", "k", "10", "xx"]),
        Ok(expire("expire", Expiry::InMillis(10_000), IfHasExpiry))
    );
    assert_eq!(
        run(&["EXPIRE", "k", "10", "GT"]),
        Ok(expire("expire", Expiry::InMillis(10_000), IfGreater))
    );
    assert_eq!(
        run(&["EXPIRE", "k", "10", "LT"]),
        Ok(expire("expire", Expiry::InMillis(10_000), IfLess))
    );
    assert_eq!(
        run(&["EXPIRE", "k", "10", "XX", "GT"]),
        Ok(expire("expire", Expiry::InMillis(10_000), IfGreater))
    );
    assert_eq!(
        run(&["EXPIRE", "k", "10", "LT", "XX"]),
        Ok(expire("expire", Expiry::InMillis(10_000), IfHasExpiryAndLess))
    );
    assert_eq!(
        run(&["EXPIRE", "k", "10", "NX", "NX"]),
        Ok(expire("expire", Expiry::InMillis(10_000), IfNoExpiry))
    );
    let nx = "ERR NX and XX, GT or LT options at the same time are not compatible";
    assert_eq!(err(&["EXPIRE", "k", "10", "NX", "XX"]), nx);
    assert_eq!(err(&["EXPIRE", "k", "10", "GT", "NX"]), nx);
    assert_eq!(
        err(&["EXPIRE", "k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(err(&["EXPIRE", "k", "10", "FOO"]), "ERR Unsupported option FOO");
    assert_eq!(err(&["EXPIRE", "k", "abc"]), "ERR value is not an integer or out of range");
    assert_eq!(err(&["EXPIRE", "k", "abc", "bar"]), "ERR Unsupported option bar");
    assert_eq!(
        err(&["EXPIRE", "k", "9223372036854776"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        err(&["EXPIREAT", "k", "-9223372036854776"]),
        "ERR invalid expire time in 'expireat' command"
    );
    assert_eq!(
        run(&["PEXPIRE", "k", "9223372036854775807"]),
        Ok(expire("pexpire", Expiry::InMillis(i64::MAX as u64), Always))
    );
    assert_eq!(err(&["EXPIRE", "k"]), arity("expire"));
    assert_eq!(err(&["PEXPIREAT", "k"]), arity("pexpireat"));
}

#[test]
fn ttl_and_persist() {
    assert_eq!(run(&["TTL", "k"]), Ok(Command::Ttl { key: b"k", unit: TtlUnit::Seconds }));
    assert_eq!(run(&["PTTL", "k"]), Ok(Command::Ttl { key: b"k", unit: TtlUnit::Millis }));
    assert_eq!(run(&["PERSIST", "k"]), Ok(Command::Persist { key: b"k" }));
    assert_eq!(err(&["TTL"]), arity("ttl"));
    assert_eq!(err(&["PTTL", "a", "b"]), arity("pttl"));
    assert_eq!(err(&["PERSIST"]), arity("persist"));
}

#[test]
fn counters() {
    let incr = |delta| Command::IncrBy { key: b"k", delta };
    assert_eq!(run(&["INCR", "k"]), Ok(incr(1)));
    assert_eq!(run(&["DECR", "k"]), Ok(incr(-1)));
    assert_eq!(run(&["incrby", "k", "5"]), Ok(incr(5)));
    assert_eq!(run(&["INCRBY", "k", "-5"]), Ok(incr(-5)));
    assert_eq!(run(&["DECRBY", "k", "5"]), Ok(incr(-5)));
    assert_eq!(run(&["DECRBY", "k", "9223372036854775807"]), Ok(incr(-i64::MAX)));
    assert_eq!(run(&["INCRBY", "k", "-9223372036854775808"]), Ok(incr(i64::MIN)));
    assert_eq!(err(&["DECRBY", "k", "-9223372036854775808"]), "ERR decrement would overflow");
    for bad in ["+5", "05", " 5", "5 ", "-0", "", "9223372036854775808", "1.5", "0x10", "-"] {
        assert_eq!(
            err(&["INCRBY", "k", bad]),
            "ERR value is not an integer or out of range",
            "{bad:?}"
        );
    }
    assert_eq!(err(&["INCR"]), arity("incr"));
    assert_eq!(err(&["DECR", "a", "b"]), arity("decr"));
    assert_eq!(err(&["INCRBY", "k"]), arity("incrby"));
    assert_eq!(err(&["DECRBY", "k"]), arity("decrby"));
}

#[test]
fn string_commands() {
    assert_eq!(run(&["APPEND", "k", "v"]), Ok(Command::Append { key: b"k", value: b"v" }));
    assert_eq!(err(&["APPEND", "k"]), arity("append"));
    assert_eq!(run(&["STRLEN", "k"]), Ok(Command::StrLen { key: b"k" }));
    assert_eq!(err(&["STRLEN"]), arity("strlen"));
}

#[test]
fn server_commands() {
    assert_eq!(run(&["DBSIZE"]), Ok(Command::DbSize));
    assert_eq!(err(&["DBSIZE", "x"]), arity("dbsize"));
    assert_eq!(run(&["FLUSHALL"]), Ok(Command::FlushAll));
    assert_eq!(run(&["FLUSHALL", "async"]), Ok(Command::FlushAll));
    assert_eq!(run(&["FLUSHDB", "SYNC"]), Ok(Command::FlushAll));
    assert_eq!(err(&["FLUSHALL", "now"]), "ERR syntax error");
    assert_eq!(err(&["FLUSHDB", "sync", "sync"]), "ERR syntax error");
    assert_eq!(run(&["PING"]), Ok(Command::Ping { message: None }));
    assert_eq!(run(&["PING", "hi"]), Ok(Command::Ping { message: Some(b"hi") }));
    assert_eq!(err(&["PING", "a", "b"]), arity("ping"));
    assert_eq!(run(&["ECHO", "hi"]), Ok(Command::Echo { message: b"hi" }));
    assert_eq!(err(&["ECHO"]), arity("echo"));
    assert_eq!(run(&["SELECT", "0"]), Ok(Command::Select { index: 0 }));
    assert_eq!(run(&["SELECT", "5"]), Ok(Command::Select { index: 5 }));
    assert_eq!(run(&["SELECT", "-1"]), Ok(Command::Select { index: -1 }));
    assert_eq!(err(&["SELECT", "x"]), "ERR value is not an integer or out of range");
    assert_eq!(err(&["SELECT", "2147483648"]), "ERR value is not an integer or out of range");
    assert_eq!(err(&["SELECT"]), arity("select"));
    assert_eq!(run(&["QUIT"]), Ok(Command::Quit));
    assert_eq!(run(&["QUIT", "now"]), Ok(Command::Quit));
    assert_eq!(run(&["INFO"]), Ok(Command::Info { sections: Args::empty() }));
    assert_eq!(
        run(&["INFO", "server", "memory"]),
        Ok(Command::Info { sections: args(&[b"server", b"memory"]) })
    );
}

#[test]
fn config_command() {
    assert_eq!(
        run(&["CONFIG", "GET", "save"]),
        Ok(Command::Config { subcommand: ConfigSubcommand::Get { patterns: args(&[b"save"]) } })
    );
    assert_eq!(
        run(&["config", "get", "a", "b"]),
        Ok(Command::Config { subcommand: ConfigSubcommand::Get { patterns: args(&[b"a", b"b"]) } })
    );
    assert_eq!(err(&["CONFIG"]), arity("config"));
    assert_eq!(err(&["CONFIG", "GET"]), arity("config|get"));
    assert_eq!(
        run(&["CONFIG", "SET", "a", "b"]),
        Ok(Command::Config { subcommand: ConfigSubcommand::Set { pairs: args(&[b"a", b"b"]) } })
    );
    assert_eq!(
        run(&["CONFIG", "SET", "a", "b", "c", "d"]),
        Ok(Command::Config {
            subcommand: ConfigSubcommand::Set { pairs: args(&[b"a", b"b", b"c", b"d"]) }
        })
    );
    assert_eq!(err(&["CONFIG", "SET", "a"]), arity("config|set"));
    assert_eq!(err(&["CONFIG", "SET", "a", "b", "c"]), arity("config|set"));
    assert_eq!(
        run(&["CONFIG", "RESETSTAT"]),
        Ok(Command::Config { subcommand: ConfigSubcommand::ResetStat })
    );
    assert_eq!(err(&["CONFIG", "RESETSTAT", "x"]), arity("config|resetstat"));
    assert_eq!(err(&["config", "foo"]), "ERR unknown subcommand 'foo'. Try CONFIG HELP.");
}

#[test]
fn command_command() {
    let sub = |words: &[&str]| match run(words) {
        Ok(Command::CommandInfo { subcommand, args: a }) => (subcommand, a.len()),
        other => panic!("{words:?}: {other:?}"),
    };
    assert_eq!(sub(&["COMMAND"]), (None, 0));
    assert_eq!(sub(&["COMMAND", "DOCS"]), (Some(CommandSubcommand::Docs), 0));
    assert_eq!(sub(&["command", "Docs", "get"]), (Some(CommandSubcommand::Docs), 1));
    assert_eq!(sub(&["COMMAND", "COUNT"]), (Some(CommandSubcommand::Count), 0));
    assert_eq!(sub(&["COMMAND", "INFO", "get", "set"]), (Some(CommandSubcommand::Info), 2));
    assert_eq!(sub(&["COMMAND", "GETKEYS", "get", "k"]), (Some(CommandSubcommand::GetKeys), 2));
    assert_eq!(
        sub(&["COMMAND", "getkeysandflags", "get", "k"]),
        (Some(CommandSubcommand::GetKeysAndFlags), 2)
    );
    assert_eq!(err(&["COMMAND", "COUNT", "x"]), arity("command|count"));
    assert_eq!(err(&["COMMAND", "GETKEYS", "get"]), arity("command|getkeys"));
    assert_eq!(err(&["COMMAND", "HELP", "x"]), arity("command|help"));
    assert_eq!(err(&["command", "bar"]), "ERR unknown subcommand 'bar'. Try COMMAND HELP.");
}

#[test]
fn client_command() {
    assert_eq!(
        run(&["CLIENT", "SETNAME", "me"]),
        Ok(Command::Client { subcommand: ClientSubcommand::SetName, args: args(&[b"me"]) })
    );
    assert_eq!(
        run(&["client", "setinfo", "lib-name", "redis-py"]),
        Ok(Command::Client {
            subcommand: ClientSubcommand::SetInfo,
            args: args(&[b"lib-name", b"redis-py"])
        })
    );
    assert_eq!(
        run(&["CLIENT", "ID"]),
        Ok(Command::Client { subcommand: ClientSubcommand::Id, args: Args::empty() })
    );
    assert_eq!(err(&["CLIENT"]), arity("client"));
    assert_eq!(err(&["CLIENT", "SETNAME"]), arity("client|setname"));
    assert_eq!(err(&["CLIENT", "pause", "x"]), "ERR unknown subcommand 'pause'. Try CLIENT HELP.");
}

#[test]
fn hello_command() {
    assert_eq!(run(&["HELLO"]), Ok(Command::Hello { version: None, auth: None }));
    assert_eq!(run(&["HELLO", "2"]), Ok(Command::Hello { version: Some(2), auth: None }));
    assert_eq!(
        run(&["HELLO", "2", "AUTH", "u", "p", "SETNAME", "n"]),
        Ok(Command::Hello { version: Some(2), auth: Some((b"u".as_slice(), b"p".as_slice())) })
    );
    assert_eq!(run(&["HELLO", "3"]), Ok(Command::Hello { version: Some(3), auth: None }));
    assert_eq!(err(&["HELLO", "1"]), "NOPROTO unsupported protocol version");
    assert_eq!(err(&["HELLO", "4"]), "NOPROTO unsupported protocol version");
    assert_eq!(err(&["HELLO", "x"]), "ERR Protocol version is not an integer or out of range");
    assert_eq!(err(&["HELLO", "2", "AUTH", "u"]), "ERR Syntax error in HELLO option 'AUTH'");
    assert_eq!(err(&["HELLO", "2", "foo"]), "ERR Syntax error in HELLO option 'foo'");
}

#[test]
fn key_and_value_limits() {
    let l = small();
    let long_key = "123456789";
    let big = "12345678901234567";
    assert_eq!(run_with(&["GET", long_key], &l), Err("ERR key too long".into()));
    assert_eq!(run_with(&["SET", long_key, "v"], &l), Err("ERR key too long".into()));
    assert_eq!(run_with(&["DEL", "a", long_key], &l), Err("ERR key too long".into()));
    assert_eq!(run_with(&["MSET", "a", "1", long_key, "2"], &l), Err("ERR key too long".into()));
    assert_eq!(run_with(&["EXPIRE", long_key, "1"], &l), Err("ERR key too long".into()));
    assert_eq!(run_with(&["GET", "12345678"], &l), Ok(Command::Get { key: b"12345678" }));
    // Values over the limit but within the bulk limit (a larger key limit).
    let l = Limits {
        max_key_size: 32,
        max_value_size: 16,
        max_line_value: 16,
        max_args: 8,
        max_inline: 56,
    };
    assert_eq!(run_with(&["SET", "k", big], &l), Err("ERR value too large".into()));
    assert_eq!(run_with(&["APPEND", "k", big], &l), Err("ERR value too large".into()));
    assert_eq!(run_with(&["MSET", "k", big], &l), Err("ERR value too large".into()));
    assert_eq!(run_with(&["SETEX", "k", "1", big], &l), Err("ERR value too large".into()));
    // Redis's own errors come first.
    assert_eq!(
        run_with(&["SET", "k", big, "EX", "0"], &l),
        Err("ERR invalid expire time in 'set' command".into())
    );
}

#[test]
fn bytes_needed_reads_the_declared_sizes_of_an_incomplete_request() {
    let value = vec![b'v'; 1000];
    for trailing in [&[][..], &[&b"EX"[..], b"10"][..]] {
        let mut items: Vec<&[u8]> = vec![b"SET", b"key", &value];
        items.extend_from_slice(trailing);
        let buf = frame(&items);
        let value_header = buf.windows(7).position(|w| w == b"$1000\r\n").unwrap() + 7;
        let value_end = value_header + 1000 + 2;
        for cut in 0..buf.len() {
            let needed = bytes_needed(&buf[..cut]);
            assert!(needed >= cut && needed <= buf.len(), "cut {cut}: {needed}");
            if (value_header..value_end).contains(&cut) {
                assert_eq!(needed, value_end, "cut {cut}");
            }
            if cut < value_header {
                assert!(needed < value_header, "cut {cut}: {needed} before the value's header");
            }
        }
    }
}
