use super::*;
use crate::protocol::{Dialect, Reply, encode_reply};

fn limits() -> Limits {
    Limits::default()
}

/// Small limits: keys up to 8 bytes, values up to 16, lines up to 32.
fn small() -> Limits {
    Limits { max_key_size: 8, max_value_size: 16, max_line_value: 16, max_args: 8, max_inline: 32 }
}

fn cmd(input: &[u8]) -> (Command<'_>, usize) {
    match parse(input, &limits()) {
        Parsed::Command { command, consumed } => (command, consumed),
        other => panic!("{:?}: expected a command, got {other:?}", String::from_utf8_lossy(input)),
    }
}

fn invalid(input: &[u8], limits: &Limits) -> (String, usize) {
    match parse(input, limits) {
        Parsed::Invalid { error, consumed } => (error.line_text().to_string(), consumed),
        other => panic!("{:?}: expected invalid, got {other:?}", String::from_utf8_lossy(input)),
    }
}

fn oversized(input: &[u8], limits: &Limits) -> String {
    match parse(input, limits) {
        Parsed::Oversized { error, skip: None } => error.line_text().to_string(),
        other => panic!("{:?}: expected oversized, got {other:?}", String::from_utf8_lossy(input)),
    }
}

fn set(key: &[u8], value: &[u8]) -> Command<'static> {
    // Leak-free: tests only pass literals.
    let key: &'static [u8] = Box::leak(key.to_vec().into_boxed_slice());
    let value: &'static [u8] = Box::leak(value.to_vec().into_boxed_slice());
    Command::Set { key, value, options: SetOptions::default() }
}

#[test]
fn put_and_get() {
    assert_eq!(cmd(b"PUT k v\n"), (set(b"k", b"v"), 8));
    assert_eq!(cmd(b"GET k\n"), (Command::Get { key: b"k" }, 6));
}

#[test]
fn put_value_is_rest_of_line_after_one_space() {
    assert_eq!(cmd(b"PUT k hello world\n").0, set(b"k", b"hello world"));
    assert_eq!(cmd(b"PUT k  two\n").0, set(b"k", b" two"));
    assert_eq!(cmd(b"PUT k v \n").0, set(b"k", b"v "));
    // An empty value, as on the seed.
    assert_eq!(cmd(b"PUT k \n").0, set(b"k", b""));
}

#[test]
fn spaces_after_the_command_are_skipped_like_the_seed() {
    assert_eq!(cmd(b"PUT    k v\n").0, set(b"k", b"v"));
    assert_eq!(cmd(b"GET    k\n").0, Command::Get { key: b"k" });
}

#[test]
fn get_key_is_rest_of_line() {
    assert_eq!(cmd(b"GET a b\n").0, Command::Get { key: b"a b" });
    assert_eq!(cmd(b"GET k \n").0, Command::Get { key: b"k " });
}

#[test]
fn crlf_is_dropped() {
    assert_eq!(cmd(b"PUT k v\r\n"), (set(b"k", b"v"), 9));
    assert_eq!(cmd(b"GET k\r\n"), (Command::Get { key: b"k" }, 7));
    assert_eq!(cmd(b"PING\r\n"), (Command::Ping { message: None }, 6));
    // Only one `\r`, only at the end.
    assert_eq!(cmd(b"PUT k v\r\r\n").0, set(b"k", b"v\r"));
    assert_eq!(cmd(b"PUT k a\rb\n").0, set(b"k", b"a\rb"));
}

#[test]
fn command_names_are_case_insensitive() {
    assert_eq!(cmd(b"put k v\n").0, set(b"k", b"v"));
    assert_eq!(cmd(b"gEt k\n").0, Command::Get { key: b"k" });
    assert_eq!(cmd(b"Ping\n").0, Command::Ping { message: None });
    assert_eq!(cmd(b"stats\n").0, Command::Info { sections: Args::empty() });
}

#[test]
fn other_commands() {
    assert_eq!(cmd(b"DEL k\n"), (Command::Del { keys: Args::one(b"k") }, 6));
    assert_eq!(cmd(b"PING\n"), (Command::Ping { message: None }, 5));
    assert_eq!(cmd(b"QUIT\n"), (Command::Quit, 5));
    assert_eq!(cmd(b"STATS\n"), (Command::Info { sections: Args::empty() }, 6));
    assert_eq!(cmd(b"PING  \n").0, Command::Ping { message: None });
}

#[test]
fn keys_and_values_are_binary() {
    assert_eq!(cmd(b"PUT \xff\x00 \x01\t\x02\n").0, set(b"\xff\x00", b"\x01\t\x02"));
}

#[test]
fn empty_lines_are_ignored() {
    assert_eq!(parse(b"\n", &limits()), Parsed::Ignored { consumed: 1 });
    assert_eq!(parse(b"\r\n", &limits()), Parsed::Ignored { consumed: 2 });
    assert_eq!(parse(b"\nGET k\n", &limits()), Parsed::Ignored { consumed: 1 });
}

#[test]
fn incomplete() {
    for input in [&b""[..], b"G", b"GET", b"GET k", b"PUT k v", b"PUT k v\r"] {
        assert_eq!(parse(input, &limits()), Parsed::Incomplete, "{input:?}");
    }
}

#[test]
fn pipeline_consumes_one_line_at_a_time() {
    let input = b"PUT a 1\nGET a\nDEL a\n";
    let (first, n) = cmd(input);
    assert_eq!(first, set(b"a", b"1"));
    let (second, m) = cmd(&input[n..]);
    assert_eq!(second, Command::Get { key: b"a" });
    let (third, k) = cmd(&input[n + m..]);
    assert_eq!(third, Command::Del { keys: Args::one(b"a") });
    assert_eq!(n + m + k, input.len());
}

#[test]
fn unknown_commands() {
    let l = limits();
    assert_eq!(invalid(b"FOO bar\n", &l), ("ERROR unknown command".into(), 8));
    assert_eq!(invalid(b"GETkey\n", &l), ("ERROR unknown command".into(), 7));
    assert_eq!(invalid(b"SET k v\n", &l), ("ERROR unknown command".into(), 8));
    assert_eq!(invalid(b" GET k\n", &l), ("ERROR unknown command".into(), 7));
    assert_eq!(invalid(b"   \n", &l), ("ERROR unknown command".into(), 4));
    assert_eq!(invalid(b"GE\n", &l), ("ERROR unknown command".into(), 3));
    match parse(b"FOO a  b\n", &l) {
        Parsed::Invalid { error, .. } => assert_eq!(
            error.resp_text(),
            "ERR unknown command 'FOO', with args beginning with: 'a' 'b' "
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrong_number_of_arguments() {
    let l = limits();
    let arity = "ERROR wrong number of arguments".to_string();
    assert_eq!(invalid(b"GET\n", &l), (arity.clone(), 4));
    assert_eq!(invalid(b"GET \n", &l), (arity.clone(), 5));
    assert_eq!(invalid(b"GET   \r\n", &l), (arity.clone(), 8));
    assert_eq!(invalid(b"DEL\n", &l), (arity.clone(), 4));
    assert_eq!(invalid(b"PUT\n", &l), (arity.clone(), 4));
    assert_eq!(invalid(b"PUT k\n", &l), (arity.clone(), 6));
    assert_eq!(invalid(b"PUT   \n", &l), (arity.clone(), 7));
    assert_eq!(invalid(b"PING x\n", &l), (arity.clone(), 7));
    assert_eq!(invalid(b"QUIT now\n", &l), (arity.clone(), 9));
    assert_eq!(invalid(b"STATS all\n", &l), (arity, 10));
}

#[test]
fn key_and_value_limits() {
    let l = small();
    assert_eq!(cmd(b"PUT 12345678 1234567890123456\n").0, set(b"12345678", b"1234567890123456"));
    assert_eq!(invalid(b"PUT 123456789 v\n", &l).0, "ERROR key too long");
    assert_eq!(invalid(b"PUT 123456789\n", &l).0, "ERROR key too long");
    assert_eq!(invalid(b"PUT k 12345678901234567\n", &l).0, "ERROR value too large");
    assert_eq!(invalid(b"GET 123456789\n", &l).0, "ERROR key too long");
    assert_eq!(invalid(b"DEL 123456789\n", &l).0, "ERROR key too long");
    // Exactly at the limits, with CRLF.
    assert!(matches!(
        parse(b"PUT 12345678 1234567890123456\r\n", &l),
        Parsed::Command { consumed: 31, .. }
    ));
    // The key check comes first.
    assert_eq!(invalid(b"PUT 123456789 12345678901234567\n", &l).0, "ERROR key too long");
}

#[test]
fn the_seeds_limits_by_default() {
    let l = limits();
    let key = vec![b'k'; 256];
    let mut line = b"GET ".to_vec();
    line.extend_from_slice(&key);
    line.push(b'\n');
    assert!(matches!(parse(&line, &l), Parsed::Command { .. }));
    line.insert(4, b'k');
    assert_eq!(invalid(&line, &l).0, "ERROR key too long");
}

#[test]
fn unterminated_line_at_the_limit_is_oversized() {
    let l = small();
    // 32 bytes without a newline: any completion is over the limit.
    assert_eq!(oversized(b"PUT                             ", &l), "ERROR line too long");
    assert_eq!(oversized(&[b'x'; 40], &l), "ERROR unknown command");
    // The most specific reason the start of the line proves.
    assert_eq!(oversized(b"PUT k 12345678901234567890123456", &l), "ERROR value too large");
    assert_eq!(oversized(b"PUT 123456789012345678901234 v v", &l), "ERROR key too long");
    assert_eq!(oversized(b"GET 1234567890123456789012345678", &l), "ERROR key too long");
    assert_eq!(
        oversized(b"PING                          xy", &l),
        "ERROR wrong number of arguments"
    );
    // One byte short of the limit could still be valid: `GET` + spaces + `k\n`.
    assert_eq!(parse(b"GET                            ", &l), Parsed::Incomplete);
}

#[test]
fn invalid_prefixes_are_refused_before_the_limit() {
    let l = small();
    // Past max_key + 8 = 16 bytes, a prefix that is already wrong is refused
    // without waiting for 32 bytes.
    assert_eq!(oversized(b"GET 1234567890123", &l), "ERROR key too long");
    assert_eq!(oversized(b"FOO 1234567890123", &l), "ERROR unknown command");
    assert_eq!(oversized(b"ABCDEFGHIJKLMNOPQ", &l), "ERROR unknown command");
    assert_eq!(oversized(b"PUT 1234567890123", &l), "ERROR key too long");
    // Not yet provably wrong.
    assert_eq!(parse(b"PUT 1234 12345678", &l), Parsed::Incomplete);
    // A trailing `\r` may be the one dropped before `\n`.
    assert_eq!(parse(b"PUT 12345678\r", &l), Parsed::Incomplete);
    assert_eq!(parse(b"STATS\r", &l), Parsed::Incomplete);
}

#[test]
fn complete_line_over_the_limit_is_invalid_with_the_same_reason() {
    let l = small();
    // Valid apart from its length: refused, so the answer does not depend
    // on whether the newline arrived in the same read.
    let line = b"PUT                            k v\n";
    assert_eq!(invalid(line, &l), ("ERROR line too long".into(), line.len()));
    assert_eq!(oversized(&line[..32], &l), "ERROR line too long");
    let line = b"PUT k 123456789012345678901234567890\n";
    assert_eq!(invalid(line, &l), ("ERROR value too large".into(), line.len()));
    assert_eq!(oversized(&line[..32], &l), "ERROR value too large");
}

#[test]
fn oversized_reason_matches_the_complete_line() {
    // For every line over the limit, the Oversized reason given for its
    // unterminated start equals the Invalid reason for the whole line. What
    // the first 32 bytes cannot prove is "line too long", even when later
    // bytes would have shown more.
    let l = small();
    let lines: &[&[u8]] = &[
        b"PUT k 12345678901234567890123456789",
        b"PUT 1234567890 123456789012345678901234",
        b"GET 123456789012345678901234567890123",
        b"DEL 123456789012345678901234567890123",
        b"FOO 123456789012345678901234567890123",
        b"PING 123456789012345678901234567890123",
        b"QUIT                               x",
        b"PUT 123456789012345678901234567890123",
        b"PUT                                 k v",
    ];
    for line in lines {
        let mut whole = line.to_vec();
        whole.push(b'\n');
        let (complete, consumed) = invalid(&whole, &l);
        assert_eq!(consumed, whole.len());
        for cut in 17..=line.len() {
            match parse(&line[..cut], &l) {
                Parsed::Incomplete => assert!(cut < 32, "{line:?} cut {cut}"),
                Parsed::Oversized { error, skip: None } => {
                    assert_eq!(error.line_text(), complete, "{:?} cut {cut}", line)
                }
                other => panic!("{line:?} cut {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn error_replies_are_the_documented_lines() {
    let mut out = Vec::new();
    for input in [&b"FOO\n"[..], b"GET\n", b"PUT k\n"] {
        if let Parsed::Invalid { error, .. } = parse(input, &limits()) {
            encode_reply(Dialect::Line, &Reply::Error(error), &mut out);
        }
    }
    assert_eq!(
        out,
        b"ERROR unknown command\nERROR wrong number of arguments\nERROR wrong number of arguments\n"
    );
}
