//! Property tests across both parsers: canonical commands survive an
//! encode/parse round trip, arbitrary bytes never panic or over-consume, and
//! the outcome of a byte stream never depends on where it was split into
//! reads.

use proptest::collection::vec;
use proptest::prelude::*;

use super::{
    Args, Command, CommandError, CommandSubcommand, ConfigSubcommand, Dialect, ExpireCondition,
    Expiry, Limits, Parsed, Reply, SetCondition, Skip, SlowlogSubcommand, TtlUnit, encode_command,
    encode_reply, line, resp,
};
use super::{BitOperation, ObjectSubcommand};

/// Keys up to 8 bytes, values up to 16, 8 arguments, lines up to 32 bytes.
fn small() -> Limits {
    Limits { max_key_size: 8, max_value_size: 16, max_line_value: 16, max_args: 8, max_inline: 32 }
}

fn frame(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_command(args, &mut out);
    out
}

fn num(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// The canonical argument vector of a command: the one spelling of it that
/// [`canonical`] generates (upper-case names, millisecond expiries, options
/// in a fixed order).
fn to_args(command: &Command<'_>) -> Vec<Vec<u8>> {
    let words = |ws: &[&[u8]]| ws.iter().map(|w| w.to_vec()).collect::<Vec<_>>();
    let with = |mut head: Vec<Vec<u8>>, args: Args<'_>| {
        head.extend(args.iter().map(<[u8]>::to_vec));
        head
    };
    let expiry_args = |expiry: &Expiry| match expiry {
        Expiry::InMillis(ms) => vec![b"PX".to_vec(), num(ms)],
        Expiry::AtUnixMillis(ms) => vec![b"PXAT".to_vec(), num(ms)],
        Expiry::Persist => vec![b"PERSIST".to_vec()],
    };
    match command {
        Command::Get { key } => words(&[b"GET", key]),
        Command::Set { key, value, options } if options.reply_as_int => {
            words(&[b"SETNX", key, value])
        }
        Command::Set { key, value, options } => {
            let mut out = words(&[b"SET", key, value]);
            match options.condition {
                SetCondition::Always => {}
                SetCondition::IfAbsent => out.push(b"NX".to_vec()),
                SetCondition::IfPresent => out.push(b"XX".to_vec()),
            }
            if options.get {
                out.push(b"GET".to_vec());
            }
            if options.keep_ttl {
                out.push(b"KEEPTTL".to_vec());
            }
            if let Some(expiry) = &options.expiry {
                out.extend(expiry_args(expiry));
            }
            out
        }
        Command::Del { keys } => with(words(&[b"DEL"]), *keys),
        Command::GetDel { key } => words(&[b"GETDEL", key]),
        Command::GetEx { key, expiry } => {
            let mut out = words(&[b"GETEX", key]);
            if let Some(expiry) = expiry {
                out.extend(expiry_args(expiry));
            }
            out
        }
        Command::Exists { keys } => with(words(&[b"EXISTS"]), *keys),
        Command::Expire { key, expiry, condition, .. } => {
            let mut out = match expiry {
                Expiry::InMillis(ms) => vec![b"PEXPIRE".to_vec(), key.to_vec(), num(ms)],
                Expiry::AtUnixMillis(ms) => vec![b"PEXPIREAT".to_vec(), key.to_vec(), num(ms)],
                Expiry::Persist => unreachable!("EXPIRE never parses to PERSIST"),
            };
            let flags: &[&[u8]] = match condition {
                ExpireCondition::Always => &[],
                ExpireCondition::IfNoExpiry => &[b"NX"],
                ExpireCondition::IfHasExpiry => &[b"XX"],
                ExpireCondition::IfGreater => &[b"GT"],
                ExpireCondition::IfLess => &[b"LT"],
                ExpireCondition::IfHasExpiryAndLess => &[b"XX", b"LT"],
            };
            out.extend(flags.iter().map(|f| f.to_vec()));
            out
        }
        Command::Persist { key } => words(&[b"PERSIST", key]),
        Command::Ttl { key, unit: TtlUnit::Seconds } => words(&[b"TTL", key]),
        Command::Ttl { key, unit: TtlUnit::Millis } => words(&[b"PTTL", key]),
        Command::MGet { keys } => with(words(&[b"MGET"]), *keys),
        Command::MSet { pairs } => with(words(&[b"MSET"]), *pairs),
        Command::IncrBy { key, delta } => vec![b"INCRBY".to_vec(), key.to_vec(), num(delta)],
        Command::Append { key, value } => words(&[b"APPEND", key, value]),
        Command::StrLen { key } => words(&[b"STRLEN", key]),
        Command::DbSize => words(&[b"DBSIZE"]),
        Command::FlushAll => words(&[b"FLUSHALL"]),
        Command::Ping { message: None } => words(&[b"PING"]),
        Command::Ping { message: Some(m) } => words(&[b"PING", m]),
        Command::Echo { message } => words(&[b"ECHO", message]),
        Command::Select { index } => vec![b"SELECT".to_vec(), num(index)],
        Command::Quit => words(&[b"QUIT"]),
        Command::Info { sections } => with(words(&[b"INFO"]), *sections),
        Command::Config { subcommand: ConfigSubcommand::Get { patterns } } => {
            with(words(&[b"CONFIG", b"GET"]), *patterns)
        }
        Command::Config { subcommand: ConfigSubcommand::Set { pairs } } => {
            with(words(&[b"CONFIG", b"SET"]), *pairs)
        }
        Command::Config { subcommand: ConfigSubcommand::ResetStat } => {
            words(&[b"CONFIG", b"RESETSTAT"])
        }
        Command::Config { subcommand: ConfigSubcommand::Rewrite } => {
            words(&[b"CONFIG", b"REWRITE"])
        }
        Command::SlowLog { subcommand } => match subcommand {
            SlowlogSubcommand::Get { count: Some(10) } => words(&[b"SLOWLOG", b"GET"]),
            SlowlogSubcommand::Get { count: Some(n) } => {
                vec![b"SLOWLOG".to_vec(), b"GET".to_vec(), n.to_string().into_bytes()]
            }
            SlowlogSubcommand::Get { count: None } => words(&[b"SLOWLOG", b"GET", b"-1"]),
            SlowlogSubcommand::Len => words(&[b"SLOWLOG", b"LEN"]),
            SlowlogSubcommand::Reset => words(&[b"SLOWLOG", b"RESET"]),
            SlowlogSubcommand::Help => words(&[b"SLOWLOG", b"HELP"]),
        },
        Command::CommandInfo { subcommand: None, .. } => words(&[b"COMMAND"]),
        Command::CommandInfo { subcommand: Some(subcommand), args } => {
            let name = match subcommand {
                CommandSubcommand::Count => b"COUNT".as_slice(),
                CommandSubcommand::Docs => b"DOCS",
                CommandSubcommand::Info => b"INFO",
                CommandSubcommand::List => b"LIST",
                CommandSubcommand::GetKeys => b"GETKEYS",
                CommandSubcommand::GetKeysAndFlags => b"GETKEYSANDFLAGS",
                CommandSubcommand::Help => b"HELP",
            };
            with(words(&[b"COMMAND", name]), *args)
        }
        Command::Client { subcommand, args } => {
            with(words(&[b"CLIENT", subcommand.name().to_ascii_uppercase().as_bytes()]), *args)
        }
        Command::Hello { version: None, .. } => words(&[b"HELLO"]),
        Command::Hello { version: Some(v), auth: None } => vec![b"HELLO".to_vec(), num(v)],
        Command::Hello { version: Some(v), auth: Some((user, pass)) } => {
            vec![b"HELLO".to_vec(), num(v), b"AUTH".to_vec(), user.to_vec(), pass.to_vec()]
        }
        Command::Auth { username: None, password } => words(&[b"AUTH", password]),
        Command::Auth { username: Some(user), password } => words(&[b"AUTH", user, password]),
        Command::Acl { .. } => words(&[b"ACL", b"WHOAMI"]),
        Command::Multi => words(&[b"MULTI"]),
        Command::Exec => words(&[b"EXEC"]),
        Command::Discard => words(&[b"DISCARD"]),
        Command::Watch { keys } => with(words(&[b"WATCH"]), *keys),
        Command::Unwatch => words(&[b"UNWATCH"]),
        // String commands (GETRANGE ... BITPOS): not generated by
        // `canonical`; their own tests spell them.
        Command::GetRange { key, start, end } => {
            vec![b"GETRANGE".to_vec(), key.to_vec(), num(start), num(end)]
        }
        Command::SetRange { key, offset, value } => {
            vec![b"SETRANGE".to_vec(), key.to_vec(), num(offset), value.to_vec()]
        }
        Command::GetSet { key, value } => words(&[b"GETSET", key, value]),
        Command::MSetNx { pairs } => with(words(&[b"MSETNX"]), *pairs),
        Command::IncrByFloat { key, increment } => words(&[b"INCRBYFLOAT", key, increment]),
        Command::Lcs { key1, key2, .. } => words(&[b"LCS", key1, key2]),
        Command::SetBit { key, offset, bit } => {
            vec![b"SETBIT".to_vec(), key.to_vec(), num(offset), num(u8::from(*bit))]
        }
        Command::GetBit { key, offset } => vec![b"GETBIT".to_vec(), key.to_vec(), num(offset)],
        Command::BitCount { key, .. } => words(&[b"BITCOUNT", key]),
        Command::BitOp { operation, destination, sources } => {
            let operation = match operation {
                BitOperation::And => b"AND".as_slice(),
                BitOperation::Or => b"OR",
                BitOperation::Xor => b"XOR",
                BitOperation::Not => b"NOT",
            };
            with(words(&[b"BITOP", operation, destination]), *sources)
        }
        Command::BitPos { key, bit, .. } => {
            vec![b"BITPOS".to_vec(), key.to_vec(), num(u8::from(*bit))]
        }
        Command::Type { key } => words(&[b"TYPE", key]),
        Command::Touch { keys } => with(words(&[b"TOUCH"]), *keys),
        Command::ExpireTime { key, unit: TtlUnit::Seconds } => words(&[b"EXPIRETIME", key]),
        Command::ExpireTime { key, unit: TtlUnit::Millis } => words(&[b"PEXPIRETIME", key]),
        Command::Time => words(&[b"TIME"]),
        Command::RandomKey => words(&[b"RANDOMKEY"]),
        Command::Rename { key, new_key } => words(&[b"RENAME", key, new_key]),
        Command::RenameNx { key, new_key } => words(&[b"RENAMENX", key, new_key]),
        Command::Copy { source, destination, replace: false } => {
            words(&[b"COPY", source, destination])
        }
        Command::Copy { source, destination, replace: true } => {
            words(&[b"COPY", source, destination, b"REPLACE"])
        }
        Command::Keys { pattern } => words(&[b"KEYS", pattern]),
        Command::Object { subcommand, key } => {
            let name: &[u8] = match subcommand {
                ObjectSubcommand::Encoding => b"ENCODING",
                ObjectSubcommand::Freq => b"FREQ",
                ObjectSubcommand::IdleTime => b"IDLETIME",
                ObjectSubcommand::RefCount => b"REFCOUNT",
                ObjectSubcommand::Help => b"HELP",
            };
            let mut out = words(&[b"OBJECT", name]);
            out.extend(key.map(<[u8]>::to_vec));
            out
        }
        Command::Memory { key: Some(key) } => words(&[b"MEMORY", b"USAGE", key]),
        Command::Memory { key: None } => words(&[b"MEMORY", b"HELP"]),
        Command::Scan { cursor, pattern, count, kind } => {
            let mut out = vec![b"SCAN".to_vec(), num(cursor)];
            if let Some(p) = pattern {
                out.extend([b"MATCH".to_vec(), p.to_vec()]);
            }
            out.extend([b"COUNT".to_vec(), num(count)]);
            if let Some(k) = kind {
                out.extend([b"TYPE".to_vec(), k.to_vec()]);
            }
            out
        }
    }
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=8)
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=16)
}

fn keys() -> impl Strategy<Value = Vec<Vec<u8>>> {
    vec(key(), 1..=6)
}

fn expiry() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop_oneof![
        (1..=i64::MAX).prop_map(|ms| vec![b"PX".to_vec(), num(ms)]),
        (1..=i64::MAX).prop_map(|ms| vec![b"PXAT".to_vec(), num(ms)]),
    ]
}

fn cat(parts: Vec<Vec<Vec<u8>>>) -> Vec<Vec<u8>> {
    parts.into_iter().flatten().collect()
}

fn words(ws: &[&[u8]]) -> Vec<Vec<u8>> {
    ws.iter().map(|w| w.to_vec()).collect()
}

/// Canonical argument vectors of valid commands within [`small`] limits.
fn canonical() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let set = (
        key(),
        value(),
        prop_oneof![Just(vec![]), Just(words(&[b"NX"])), Just(words(&[b"XX"]))],
        any::<bool>(),
        prop_oneof![Just(vec![]), Just(words(&[b"KEEPTTL"])), expiry()],
    )
        .prop_map(|(k, v, cond, get, ttl)| {
            let get = if get { words(&[b"GET"]) } else { vec![] };
            cat(vec![vec![b"SET".to_vec(), k, v], cond, get, ttl])
        });
    let expire = (
        key(),
        prop_oneof![
            (1..=i64::MAX).prop_map(|ms| (b"PEXPIRE".to_vec(), num(ms))),
            any::<i64>().prop_map(|ms| (b"PEXPIREAT".to_vec(), num(ms))),
        ],
        prop_oneof![
            Just(vec![]),
            Just(words(&[b"NX"])),
            Just(words(&[b"XX"])),
            Just(words(&[b"GT"])),
            Just(words(&[b"LT"])),
            Just(words(&[b"XX", b"LT"])),
        ],
    )
        .prop_map(|(k, (name, t), flags)| cat(vec![vec![name, k, t], flags]));
    let getex = (key(), prop_oneof![Just(vec![]), Just(words(&[b"PERSIST"])), expiry()])
        .prop_map(|(k, e)| cat(vec![vec![b"GETEX".to_vec(), k], e]));
    let named = |name: &'static [u8]| move |rest: Vec<Vec<u8>>| cat(vec![words(&[name]), rest]);
    let keyspace = prop_oneof![
        key().prop_map(|k| vec![b"TYPE".to_vec(), k]),
        keys().prop_map(named(b"TOUCH")),
        key().prop_map(|k| vec![b"EXPIRETIME".to_vec(), k]),
        key().prop_map(|k| vec![b"PEXPIRETIME".to_vec(), k]),
        Just(words(&[b"TIME"])),
        Just(words(&[b"RANDOMKEY"])),
        (key(), key()).prop_map(|(a, b)| vec![b"RENAME".to_vec(), a, b]),
        (key(), key()).prop_map(|(a, b)| vec![b"RENAMENX".to_vec(), a, b]),
        (key(), key(), any::<bool>()).prop_map(|(a, b, r)| {
            let mut out = vec![b"COPY".to_vec(), a, b];
            if r {
                out.push(b"REPLACE".to_vec());
            }
            out
        }),
        value().prop_map(|p| vec![b"KEYS".to_vec(), p]),
        (key(), prop_oneof![Just(&b"ENCODING"[..]), Just(&b"FREQ"[..]), Just(&b"REFCOUNT"[..])])
            .prop_map(|(k, sub)| vec![b"OBJECT".to_vec(), sub.to_vec(), k]),
        Just(words(&[b"OBJECT", b"HELP"])),
        key().prop_map(|k| vec![b"MEMORY".to_vec(), b"USAGE".to_vec(), k]),
        Just(words(&[b"MEMORY", b"HELP"])),
        (any::<u64>(), proptest::option::of(value()), 1..=1000usize).prop_map(|(c, p, n)| {
            let mut out = vec![b"SCAN".to_vec(), num(c)];
            if let Some(p) = p {
                out.extend([b"MATCH".to_vec(), p]);
            }
            out.extend([b"COUNT".to_vec(), num(n)]);
            out
        }),
    ];
    prop_oneof![
        key().prop_map(|k| vec![b"GET".to_vec(), k]),
        set,
        (key(), value()).prop_map(|(k, v)| vec![b"SETNX".to_vec(), k, v]),
        keys().prop_map(named(b"DEL")),
        key().prop_map(|k| vec![b"GETDEL".to_vec(), k]),
        getex,
        keys().prop_map(named(b"EXISTS")),
        expire,
        key().prop_map(|k| vec![b"PERSIST".to_vec(), k]),
        key().prop_map(|k| vec![b"TTL".to_vec(), k]),
        key().prop_map(|k| vec![b"PTTL".to_vec(), k]),
        keys().prop_map(named(b"MGET")),
        vec((key(), value()), 1..=3).prop_map(|pairs| {
            cat(vec![words(&[b"MSET"]), pairs.into_iter().flat_map(|(k, v)| [k, v]).collect()])
        }),
        (key(), any::<i64>()).prop_map(|(k, d)| vec![b"INCRBY".to_vec(), k, num(d)]),
        (key(), value()).prop_map(|(k, v)| vec![b"APPEND".to_vec(), k, v]),
        key().prop_map(|k| vec![b"STRLEN".to_vec(), k]),
        Just(words(&[b"DBSIZE"])),
        Just(words(&[b"FLUSHALL"])),
        Just(words(&[b"PING"])),
        value().prop_map(|m| vec![b"PING".to_vec(), m]),
        value().prop_map(|m| vec![b"ECHO".to_vec(), m]),
        any::<i32>().prop_map(|i| vec![b"SELECT".to_vec(), num(i)]),
        Just(words(&[b"QUIT"])),
        vec(value(), 0..=3).prop_map(named(b"INFO")),
        vec(value(), 1..=3).prop_map(|p| cat(vec![words(&[b"CONFIG", b"GET"]), p])),
        Just(words(&[b"CONFIG", b"RESETSTAT"])),
        Just(words(&[b"COMMAND"])),
        Just(words(&[b"COMMAND", b"DOCS"])),
        value().prop_map(|n| vec![b"CLIENT".to_vec(), b"SETNAME".to_vec(), n]),
        Just(words(&[b"HELLO"])),
        Just(words(&[b"HELLO", b"2"])),
        Just(words(&[b"HELLO", b"3"])),
        keyspace,
    ]
}

/// True when `arg` can be written as a bare inline word.
fn bare(arg: &[u8]) -> bool {
    !arg.is_empty() && arg.iter().all(|b| !b" \t\r\n\x0b\x0c\"'\\\0".contains(b))
}

/// `arg` spelled as one inline argument: bare or quoted verbatim when
/// that is possible without escapes (unless `escape`), else in double
/// quotes with `sdssplitargs` escapes.
fn inline_word(arg: &[u8], escape: bool) -> Vec<u8> {
    let has = |set: &[u8]| arg.iter().any(|b| set.contains(b));
    if !escape && bare(arg) {
        return arg.to_vec();
    }
    if !escape && !has(b"\n\0") {
        if !has(b"\"\\") {
            return [&b"\""[..], arg, b"\""].concat();
        }
        if !has(b"'\\") {
            return [&b"'"[..], arg, b"'"].concat();
        }
    }
    let mut word = vec![b'"'];
    for &b in arg {
        match b {
            b'"' | b'\\' => word.extend_from_slice(&[b'\\', b]),
            b'\n' => word.extend_from_slice(b"\\n"),
            b' '..=b'~' => word.push(b),
            _ => word.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    word.push(b'"');
    word
}

/// One observable outcome of feeding bytes to a parser, as a server would
/// act on it.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Command(Vec<Vec<u8>>),
    Error(String),
    Fatal(String),
}

/// Feeds `chunks` one after the other into a buffer and drives `dialect`'s
/// parser the way the server does (including skipping oversized requests),
/// checking the parser's invariants on every call.
fn drive(dialect: Dialect, chunks: &[&[u8]], limits: &Limits) -> Vec<Outcome> {
    let mut buf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut skipping = Skip::Nothing;
    let mut wire = Vec::new();
    // What `resp::bytes_needed` said of the request at the front while it
    // was incomplete: it must never claim more than the request's size.
    let mut needed = 0;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let skipped = skipping.consume(&buf);
            buf.drain(..skipped);
            if buf.is_empty() {
                break;
            }
            let len = buf.len();
            // Resolved as the connection does (`Parsed::in_place_of`).
            let rewritten;
            let mut parsed = dialect.parse(&buf, limits);
            if let Parsed::Rewritten { request, consumed } = parsed {
                rewritten = request;
                parsed = dialect.parse(&rewritten, limits).in_place_of(consumed);
            }
            let size = match parsed {
                Parsed::Command { consumed, .. } | Parsed::Invalid { consumed, .. } => consumed,
                Parsed::Oversized { skip: Some(skip), .. } => skip,
                _ => usize::MAX,
            };
            assert!(needed <= size, "bytes_needed said {needed}, the request took {size}");
            needed = 0;
            let consumed = match parsed {
                Parsed::Command { command, consumed } => {
                    encode_reply(dialect, &Reply::Bulk(to_args(&command)[0].as_slice()), &mut wire);
                    out.push(Outcome::Command(to_args(&command)));
                    consumed
                }
                Parsed::Invalid { error, consumed } => {
                    assert!(!error.closes_connection());
                    out.push(Outcome::Error(text(dialect, &error)));
                    encode_reply(dialect, &Reply::Error(error), &mut wire);
                    consumed
                }
                Parsed::Ignored { consumed } => consumed,
                Parsed::Rewritten { .. } => panic!("in_place_of never yields Rewritten"),
                Parsed::Oversized { error, skip } => {
                    out.push(Outcome::Error(text(dialect, &error)));
                    skipping = match skip {
                        Some(n) => {
                            assert!(n > 0);
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
                    out.push(Outcome::Fatal(error.resp_text().into_owned()));
                    return out;
                }
                Parsed::Incomplete => {
                    if dialect == Dialect::Resp2 && buf[0] == b'*' {
                        needed = resp::bytes_needed(&buf);
                        assert!(needed >= len, "bytes_needed {needed} under the {len} held");
                    }
                    break;
                }
            };
            assert!(consumed > 0 && consumed <= len, "consumed {consumed} of {len}");
            buf.drain(..consumed);
        }
    }
    out
}

/// What a client of `dialect` sees of `error`. (An unknown-command error
/// found from the start of an over-long line quotes fewer arguments than
/// the whole line would; only the RESP text, never sent on the line
/// protocol, differs.)
fn text(dialect: Dialect, error: &CommandError) -> String {
    match dialect {
        Dialect::Line => error.line_text().to_string(),
        Dialect::Resp2 | Dialect::Resp3 => error.resp_text().into_owned(),
    }
}

/// Byte soup biased towards the protocols' own tokens.
fn soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        canonical().prop_map(|args| frame(&args)),
        canonical().prop_map(|args| {
            let mut line = args.iter().filter(|a| bare(a)).cloned().collect::<Vec<_>>().join(&b' ');
            line.extend_from_slice(b"\r\n");
            line
        }),
        vec(any::<u8>(), 0..12),
        prop::sample::select(vec![
            &b"\r\n"[..],
            b"\n",
            b"*",
            b"$",
            b"*1\r\n",
            b"*2\r\n",
            b"*3\r\n",
            b"$3\r\n",
            b"$65\r\n",
            b"$-1\r\n",
            b"*0\r\n",
            b"*-1\r\n",
            b"GET ",
            b"PUT ",
            b"DEL ",
            b"SET ",
            b"PING",
            b"STATS",
            b"QUIT",
            b" ",
            b"  ",
            b"\"",
            b"'",
            b"\\",
            b"\0",
            b"0",
            b"12345678901",
            b"EX",
            b"PX",
            b"NX",
            b"XX",
        ])
        .prop_map(<[u8]>::to_vec),
    ];
    vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

fn lines() -> impl Strategy<Value = Vec<u8>> {
    let word =
        vec(any::<u8>().prop_filter("no space or newline", |b| !b" \r\n".contains(b)), 1..=8);
    let text = vec(any::<u8>().prop_filter("no newline", |&b| b != b'\n'), 0..=20);
    let line = prop_oneof![
        (word.clone(), text.clone()).prop_map(|(k, v)| [&b"PUT "[..], &k, b" ", &v].concat()),
        word.clone().prop_map(|k| [&b"GET "[..], &k].concat()),
        word.prop_map(|k| [&b"DEL "[..], &k].concat()),
        Just(b"PING".to_vec()),
        Just(b"STATS".to_vec()),
        text,
    ];
    vec((line, any::<bool>()), 0..6).prop_map(|ls| {
        ls.into_iter()
            .flat_map(|(l, crlf)| [l, if crlf { b"\r\n".to_vec() } else { b"\n".to_vec() }])
            .flatten()
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // `inline_agrees_with_multibulk` skips arguments inline quoting cannot
        // spell (about 7% of inputs).
        max_global_rejects: 1 << 20,
        ..ProptestConfig::default()
    })]

    #[test]
    fn multibulk_round_trip(args in canonical()) {
        let buf = frame(&args);
        match resp::parse(&buf, &small()) {
            Parsed::Command { command, consumed } => {
                prop_assert_eq!(consumed, buf.len());
                prop_assert_eq!(to_args(&command), args);
            }
            other => prop_assert!(false, "{:?} -> {:?}", args, other),
        }
    }

    #[test]
    fn inline_agrees_with_multibulk(args in canonical(), escape in any::<bool>()) {
        let mut line = args.iter().map(|a| inline_word(a, escape)).collect::<Vec<_>>().join(&b' ');
        line.extend_from_slice(b"\r\n");
        let multibulk = frame(&args);
        // Default limits: with `small`, lines over 32 bytes are refused.
        let limits = Limits::default();
        // What the connection does with an argument that needed unescaping.
        let rewritten;
        let mut a = resp::parse(&line, &limits);
        if let Parsed::Rewritten { request, consumed } = a {
            rewritten = request;
            a = resp::parse(&rewritten, &limits).in_place_of(consumed);
        }
        match (a, resp::parse(&multibulk, &limits)) {
            (Parsed::Command { command: x, consumed }, Parsed::Command { command: y, .. }) => {
                prop_assert_eq!(consumed, line.len());
                prop_assert_eq!(x, y);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn line_round_trip(
        key in vec(any::<u8>().prop_filter("word", |b| !b" \r\n".contains(b)), 1..=256),
        value in vec(any::<u8>().prop_filter("no newline", |&b| b != b'\n'), 0..=300),
        crlf in any::<bool>(),
    ) {
        let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        // A value ending in `\r` loses it on a LF-terminated line.
        prop_assume!(crlf || value.last() != Some(&b'\r'));
        let put = [&b"PUT "[..], &key, b" ", &value, eol].concat();
        match line::parse(&put, &Limits::default()) {
            Parsed::Command { command: Command::Set { key: k, value: v, .. }, consumed } => {
                prop_assert_eq!(consumed, put.len());
                prop_assert_eq!(k, &key[..]);
                prop_assert_eq!(v, &value[..]);
            }
            other => prop_assert!(false, "{:?}", other),
        }
        let get = [&b"GET "[..], &key, eol].concat();
        prop_assert_eq!(
            line::parse(&get, &Limits::default()),
            Parsed::Command { command: Command::Get { key: &key }, consumed: get.len() }
        );
    }

    #[test]
    fn random_bytes_never_break_the_parsers(bytes in vec(any::<u8>(), 0..256)) {
        for limits in [small(), Limits::default()] {
            drive(Dialect::Line, &[&bytes], &limits);
            drive(Dialect::Resp2, &[&bytes], &limits);
            let mut star = b"*".to_vec();
            star.extend_from_slice(&bytes);
            drive(Dialect::Resp2, &[&star], &limits);
        }
    }

    #[test]
    fn resp_outcome_does_not_depend_on_splits(input in soup()) {
        for limits in [small(), Limits::default()] {
            let whole = drive(Dialect::Resp2, &[&input], &limits);
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                prop_assert_eq!(&drive(Dialect::Resp2, &[a, b], &limits), &whole, "cut {}", cut);
            }
        }
    }

    #[test]
    fn line_outcome_does_not_depend_on_splits(input in prop_oneof![lines(), soup()]) {
        for limits in [small(), Limits::default()] {
            let whole = drive(Dialect::Line, &[&input], &limits);
            for cut in 0..=input.len() {
                let (a, b) = input.split_at(cut);
                prop_assert_eq!(&drive(Dialect::Line, &[a, b], &limits), &whole, "cut {}", cut);
            }
        }
    }

    #[test]
    fn byte_at_a_time_matches_whole(input in soup()) {
        for dialect in [Dialect::Line, Dialect::Resp2] {
            let whole = drive(dialect, &[&input], &small());
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            prop_assert_eq!(drive(dialect, &bytes, &small()), whole);
        }
    }
}

#[test]
fn oversized_requests_are_skipped_exactly() {
    // A 40-byte value is refused without being buffered, and the request
    // after it is parsed normally.
    let mut input = frame(&[b"SET".to_vec(), b"k".to_vec(), vec![b'v'; 100]]);
    input.extend_from_slice(&frame(&[b"GET".to_vec(), b"k".to_vec()]));
    let expected = vec![
        Outcome::Error("ERR value too large".into()),
        Outcome::Command(vec![b"GET".to_vec(), b"k".to_vec()]),
    ];
    assert_eq!(drive(Dialect::Resp2, &[&input], &small()), expected);
    let bytes: Vec<&[u8]> = input.chunks(3).collect();
    assert_eq!(drive(Dialect::Resp2, &bytes, &small()), expected);

    let mut input = b"PUT k ".to_vec();
    input.extend_from_slice(&[b'v'; 100]);
    input.extend_from_slice(b"\nGET k\n");
    let expected = vec![
        Outcome::Error("ERROR value too large".into()),
        Outcome::Command(vec![b"GET".to_vec(), b"k".to_vec()]),
    ];
    assert_eq!(drive(Dialect::Line, &[&input], &small()), expected);
    let bytes: Vec<&[u8]> = input.chunks(5).collect();
    assert_eq!(drive(Dialect::Line, &bytes, &small()), expected);
}

#[test]
fn error_variant_is_small() {
    assert!(std::mem::size_of::<CommandError>() <= 24);
    assert!(std::mem::size_of::<Reply<'_>>() <= 32);
}
