//! Shared drivers for the fuzz targets: the protocol parsers ([`check`]),
//! the ACL file parser ([`acl_file`]) and the line protocol's AUTH path
//! ([`line_auth`]).
//!
//! Each input is parsed like a connection would be: bytes arrive in reads,
//! complete requests are consumed, invalid ones answered, oversized ones
//! skipped as they stream in, fatal ones end the stream. Every reply is
//! encoded. Invariants checked on every step:
//! - `consumed` and `skip` make progress and never exceed what they claim;
//! - `Fatal` only on RESP, line-style skipping (`skip: None`) only on the
//!   line protocol, and only protocol errors close a connection;
//! - argument lists walk to exactly their advertised length;
//! - the outcomes do not depend on how the input was cut into reads.

use capkv::protocol::{
    Command, CommandError, ConfigSubcommand, Dialect, Limits, Parsed, Reply, Skip, encode_reply,
    resp,
};

/// Entry point for both targets. The first byte picks the limits and the
/// read size; the rest is the byte stream.
pub fn check(dialect: Dialect, data: &[u8]) {
    let Some((&control, input)) = data.split_first() else { return };
    let limits = if control & 0x80 == 0 {
        Limits { max_key_size: 8, max_value_size: 16, max_args: 8, max_inline: 32 }
    } else {
        Limits::default()
    };
    let read_size = usize::from(control & 0x7f).max(1);
    let whole = drive(dialect, &[input], &limits);
    let reads: Vec<&[u8]> = input.chunks(read_size).collect();
    let chunked = drive(dialect, &reads, &limits);
    assert_eq!(whole, chunked, "outcome depends on read boundaries");
}

/// Runs a connection over `reads`; returns what the client would observe.
pub fn drive(dialect: Dialect, reads: &[&[u8]], limits: &Limits) -> Vec<String> {
    let mut buf: Vec<u8> = Vec::new();
    let mut outcomes = Vec::new();
    let mut wire = Vec::new();
    let mut skipping = Skip::Nothing;
    for read in reads {
        buf.extend_from_slice(read);
        loop {
            let skipped = skipping.consume(&buf);
            buf.drain(..skipped);
            if buf.is_empty() {
                break;
            }
            let len = buf.len();
            // Resolved as the connection does.
            let rewritten;
            let mut parsed = dialect.parse(&buf, limits);
            if let Parsed::Rewritten { request, consumed } = parsed {
                assert!(dialect != Dialect::Line, "only RESP inline requests are rewritten");
                rewritten = request;
                parsed = dialect.parse(&rewritten, limits).in_place_of(consumed);
            }
            let consumed = match parsed {
                Parsed::Command { command, consumed } => {
                    walk_args(&command);
                    reply_to(dialect, &command, &mut wire);
                    outcomes.push(format!("{command:?}"));
                    consumed
                }
                Parsed::Invalid { error, consumed } => {
                    assert!(!error.closes_connection());
                    outcomes.push(seen(dialect, &error));
                    encode_reply(dialect, &Reply::Error(error), &mut wire);
                    consumed
                }
                Parsed::Ignored { consumed } => consumed,
                Parsed::Rewritten { .. } => panic!("in_place_of never yields Rewritten"),
                Parsed::Oversized { error, skip } => {
                    assert!(!error.closes_connection());
                    outcomes.push(seen(dialect, &error));
                    encode_reply(dialect, &Reply::Error(error), &mut wire);
                    skipping = match skip {
                        Some(n) => {
                            assert!(n > 0 && dialect == Dialect::Resp2);
                            Skip::Bytes(n)
                        }
                        None => {
                            assert_eq!(dialect, Dialect::Line);
                            Skip::Line
                        }
                    };
                    continue;
                }
                Parsed::Fatal { error } => {
                    assert_eq!(dialect, Dialect::Resp2);
                    assert!(error.closes_connection());
                    outcomes.push(seen(dialect, &error));
                    encode_reply(dialect, &Reply::Error(error), &mut wire);
                    return outcomes;
                }
                Parsed::Incomplete => {
                    if dialect == Dialect::Resp2 && buf[0] == b'*' {
                        assert!(resp::bytes_needed(&buf) >= len, "bytes_needed under what is held");
                    }
                    break;
                }
            };
            assert!(consumed > 0 && consumed <= len, "consumed {consumed} of {len}");
            buf.drain(..consumed);
        }
    }
    outcomes
}

/// What the client sees of an error. On the line protocol only the line
/// text is ever sent.
fn seen(dialect: Dialect, error: &CommandError) -> String {
    match dialect {
        Dialect::Line => error.line_text().to_string(),
        Dialect::Resp2 | Dialect::Resp3 => error.resp_text().into_owned(),
    }
}

/// Walks every argument list of `command` to its end.
fn walk_args(command: &Command<'_>) {
    let lists = match command {
        Command::Del { keys } | Command::Exists { keys } | Command::MGet { keys } => vec![*keys],
        Command::MSet { pairs } => {
            assert_eq!(pairs.len() % 2, 0);
            vec![*pairs]
        }
        Command::Info { sections } => vec![*sections],
        Command::Config { subcommand: ConfigSubcommand::Get { patterns } } => vec![*patterns],
        Command::Client { args, .. } => vec![*args],
        _ => vec![],
    };
    for args in lists {
        assert_eq!(args.iter().count(), args.len());
    }
}

/// Encodes a plausible reply for `command`, exercising every reply shape.
fn reply_to(dialect: Dialect, command: &Command<'_>, out: &mut Vec<u8>) {
    let reply = match command {
        Command::Get { key } | Command::GetDel { key } => Reply::Bulk(key),
        Command::Set { value, .. } | Command::Append { value, .. } => {
            encode_reply(dialect, &Reply::Bulk(value), out);
            Reply::Ok
        }
        Command::Del { keys } => Reply::Deleted(keys.len() as u64),
        Command::MGet { keys } => {
            encode_reply(dialect, &Reply::Array(keys.len()), out);
            for key in keys.iter() {
                encode_reply(dialect, &Reply::Bulk(key), out);
            }
            Reply::Nil
        }
        Command::IncrBy { delta, .. } => Reply::Int(*delta),
        Command::Ping { message: None } => Reply::Pong,
        Command::Ping { message: Some(m) } | Command::Echo { message: m } => Reply::Bulk(m),
        Command::Info { .. } => Reply::Bulk(b"# Server\r\n"),
        Command::Quit => Reply::Status("OK"),
        _ => Reply::Int(0),
    };
    encode_reply(dialect, &reply, out);
}

/// The ACL file parser over arbitrary bytes: it never panics, and a file
/// it accepts describes each user (`ACL LIST`) in rules that parse back
/// to the same user.
pub fn acl_file(data: &[u8]) {
    let Ok(users) = capkv::acl::parse_users("fuzz.acl", data) else { return };
    for user in &users {
        let line = format!("user x {}", user.describe());
        let again = capkv::acl::parse_users("again.acl", line.as_bytes())
            .unwrap_or_else(|e| panic!("{line:?} does not parse back: {e}"));
        let again = &again[0];
        assert_eq!(again.commands, user.commands, "{line}");
        assert_eq!(again.all_commands, user.all_commands, "{line}");
        assert_eq!((again.enabled, again.nopass), (user.enabled, user.nopass), "{line}");
        assert_eq!(again.passwords, user.passwords, "{line}");
        assert_eq!(again.all_keys, user.all_keys, "{line}");
        if user.patterns.iter().all(|p| std::str::from_utf8(p).is_ok()) {
            assert_eq!(again.patterns, user.patterns, "{line}");
        }
        // Key patterns are client-facing globs: they must answer quickly
        // and never panic, whatever they are.
        for pattern in &user.patterns {
            capkv::glob::matches(pattern, data, false);
            capkv::glob::matches(pattern, b"user:1000:session", true);
        }
    }
}

/// The line protocol's AUTH path: `AUTH <bytes>` lines parsed as a
/// connection would parse them, and every AUTH that parses checked
/// against a server whose password is `secret`: only the password
/// `secret`, for no user name or `default`, authenticates, and an
/// unauthenticated session is refused everything but AUTH, QUIT and PING.
pub fn line_auth(data: &[u8]) {
    use std::sync::OnceLock;
    static ACCESS: OnceLock<capkv::acl::Access> = OnceLock::new();
    let access = ACCESS.get_or_init(|| {
        let config = capkv::acl::AuthConfig {
            requirepass: Some("secret".into()),
            ..Default::default()
        };
        capkv::acl::Access::load(&config).expect("a password")
    });
    let mut input = b"AUTH ".to_vec();
    input.extend_from_slice(data);
    input.push(b'\n');
    check(Dialect::Line, &[&[0x80u8][..], &input].concat());
    let limits = Limits::default();
    let mut rest = &input[..];
    while !rest.is_empty() {
        let consumed = match capkv::protocol::line::parse(rest, &limits) {
            Parsed::Command { command, consumed } => {
                let mut session = None;
                let allowed = access.authorize(&mut session, true, &command);
                if let Command::Auth { username, password } = command {
                    assert!(allowed.is_ok(), "AUTH is always allowed");
                    let ok = access.authenticate(username, password).is_some();
                    let expected =
                        password == b"secret" && matches!(username, None | Some(b"default"));
                    assert_eq!(ok, expected, "{username:?} {password:?}");
                } else if !matches!(command, Command::Quit | Command::Ping { .. }) {
                    assert_eq!(allowed, Err(CommandError::NoAuth));
                }
                consumed
            }
            Parsed::Invalid { consumed, .. }
            | Parsed::Ignored { consumed }
            | Parsed::Rewritten { consumed, .. } => consumed,
            Parsed::Oversized { .. } | Parsed::Fatal { .. } | Parsed::Incomplete => break,
        };
        rest = &rest[consumed..];
    }
}
