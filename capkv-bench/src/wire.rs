//! The client side of the three wire protocols the load driver speaks:
//! request encoders and incremental reply parsers, pure functions over
//! bytes like the server's own `capkv::protocol`.
//!
//! `capkv-bench` drives capkv, redis-server and memcached with the same
//! scenarios, so besides capkv's own dialects ([`Wire::Line`], [`Wire::Resp`])
//! this speaks the memcached text protocol ([`Wire::Memcache`]). Only what a
//! cache benchmark needs is here: store, fetch, and the statistics report.
//!
//! Encoders append to a caller's buffer. A store request is split into the
//! bytes before the value ([`set_prefix`]) and after it ([`set_suffix`]) so
//! that a large value can be written straight from where it lives instead
//! of being copied into the request buffer. Any other RESP request is
//! [`capkv::protocol::encode_command`]'s, the encoder the server's tests use.
//!
//! [`parse_reply`] reads one reply from the front of a buffer, given what
//! request it answers (the line protocol and memcached cannot be framed
//! without knowing that), and says how many bytes it used; `Ok(None)` means
//! more bytes are needed.

use capkv::protocol::encode_command;
use memchr::{memchr, memmem};

/// A wire protocol, client side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// capkv's newline protocol (`PUT k v\n`, `GET k\n`, `STATS\n`).
    Line,
    /// RESP2 (`SET`, `GET`, `INFO`).
    Resp,
    /// The memcached text protocol (`set`, `get`, `stats`).
    Memcache,
}

/// What request a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A store (`PUT`/`SET`/`set`).
    Set,
    /// A fetch (`GET`/`get`).
    Get,
    /// A statistics report (`STATS`/`INFO`/`stats`).
    Stats,
    /// A liveness check (`PING`, or memcached's `version`): one line.
    Ping,
}

/// One parsed reply, borrowing from the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientReply<'a> {
    /// The store succeeded.
    Stored,
    /// A fetch found this value.
    Value(&'a [u8]),
    /// A fetch found nothing.
    Miss,
    /// The server refused the request; the text without its line ending.
    Error(&'a [u8]),
    /// A statistics report: its whole text.
    Report(&'a [u8]),
}

/// The reply stream cannot be framed: the connection is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unframeable reply: {0}")]
pub struct FramingError(pub String);

fn framing(what: &str, bytes: &[u8]) -> FramingError {
    let shown = &bytes[..bytes.len().min(64)];
    FramingError(format!("{what}: {:?}", String::from_utf8_lossy(shown)))
}

/// Appends everything of a store request that comes before the value.
pub fn set_prefix(wire: Wire, key: &[u8], value_len: usize, out: &mut Vec<u8>) {
    store_header(wire, key, value_len, None, out);
}

/// [`set_prefix`] for a store that expires after `ttl_ms` (RESP's
/// `SET k v PX n`; memcached's exptime is in whole seconds, so it gets
/// the TTL rounded up to one). The line protocol has no TTL: the key is
/// stored without one (callers refuse that combination).
pub fn set_prefix_ttl(wire: Wire, key: &[u8], value_len: usize, ttl_ms: u32, out: &mut Vec<u8>) {
    store_header(wire, key, value_len, Some(ttl_ms), out);
}

fn store_header(wire: Wire, key: &[u8], value_len: usize, ttl_ms: Option<u32>, out: &mut Vec<u8>) {
    match wire {
        Wire::Line => {
            out.extend_from_slice(b"PUT ");
            out.extend_from_slice(key);
            out.push(b' ');
        }
        Wire::Resp => {
            // `SET k v` or `SET k v PX n` (the PX pair follows the value).
            out.extend_from_slice(if ttl_ms.is_some() { b"*5\r\n" } else { b"*3\r\n" });
            push_bulk(b"SET", out);
            push_bulk(key, out);
            push_bulk_header(value_len, out);
        }
        Wire::Memcache => {
            out.extend_from_slice(b"set ");
            out.extend_from_slice(key);
            out.extend_from_slice(b" 0 ");
            push_unsigned(u64::from(ttl_ms.map_or(0, |ms| ms.div_ceil(1000))), out);
            out.push(b' ');
            push_unsigned(value_len as u64, out);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// What follows the value in a store request.
pub fn set_suffix(wire: Wire) -> &'static [u8] {
    match wire {
        Wire::Line => b"\n",
        Wire::Resp | Wire::Memcache => b"\r\n",
    }
}

/// What follows the value in a store request begun by [`set_prefix_ttl`].
pub fn set_suffix_ttl(wire: Wire, ttl_ms: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(set_suffix(wire));
    if wire == Wire::Resp {
        push_bulk(b"PX", out);
        push_bulk(ttl_ms.to_string().as_bytes(), out);
    }
}

/// Appends a whole store request. On the line protocol the value must not
/// contain `\n` (it could not be framed). The engine writes the prefix, the
/// value and the suffix itself (a large value straight from its pool); the
/// latency clients and the tests want the whole request in one buffer.
pub fn encode_set(wire: Wire, key: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.reserve(key.len() + value.len() + 40);
    set_prefix(wire, key, value.len(), out);
    out.extend_from_slice(value);
    out.extend_from_slice(set_suffix(wire));
}

/// Appends the start of a store request of a `value_len`-byte value and
/// the first `sent` bytes of `value` (`sent <= value_len`, `sent <=
/// value.len()`): a request that stops short, as a slow (or hostile)
/// client sends it. The line protocol's request has no length, so only the
/// missing `\n` leaves it incomplete; RESP and memcached announce
/// `value_len` and the server waits for the rest.
pub fn partial_set(
    wire: Wire,
    key: &[u8],
    value_len: usize,
    value: &[u8],
    sent: usize,
    out: &mut Vec<u8>,
) {
    debug_assert!(sent <= value_len && sent <= value.len());
    set_prefix(wire, key, value_len, out);
    out.extend_from_slice(&value[..sent]);
}

/// Appends a liveness check: `PING` (memcached has none; its `version`
/// is the usual stand-in). The reply is one line ([`Expect::Ping`]).
pub fn encode_ping(wire: Wire, out: &mut Vec<u8>) {
    out.extend_from_slice(match wire {
        Wire::Line => b"PING\n",
        Wire::Resp => b"*1\r\n$4\r\nPING\r\n",
        Wire::Memcache => b"version\r\n",
    });
}

/// Appends a fetch request.
pub fn encode_get(wire: Wire, key: &[u8], out: &mut Vec<u8>) {
    match wire {
        Wire::Line => {
            out.extend_from_slice(b"GET ");
            out.extend_from_slice(key);
            out.push(b'\n');
        }
        Wire::Resp => encode_command(&[&b"GET"[..], key], out),
        Wire::Memcache => {
            out.extend_from_slice(b"get ");
            out.extend_from_slice(key);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Appends `n` in decimal: lengths go into every request, so without a
/// `String` on the way.
fn push_unsigned(n: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends `$<len>\r\n`, the start of a bulk string of `len` bytes.
fn push_bulk_header(len: usize, out: &mut Vec<u8>) {
    out.push(b'$');
    push_unsigned(len as u64, out);
    out.extend_from_slice(b"\r\n");
}

/// Appends one whole bulk string.
fn push_bulk(arg: &[u8], out: &mut Vec<u8>) {
    push_bulk_header(arg.len(), out);
    out.extend_from_slice(arg);
    out.extend_from_slice(b"\r\n");
}

/// Appends a statistics request.
pub fn encode_stats(wire: Wire, out: &mut Vec<u8>) {
    out.extend_from_slice(match wire {
        Wire::Line => b"STATS\n",
        Wire::Resp => b"*1\r\n$4\r\nINFO\r\n",
        Wire::Memcache => b"stats\r\n",
    });
}

/// The first line of `buf` without its `\n` (and `\r`), and the bytes
/// through the `\n`.
fn line(buf: &[u8]) -> Option<(&[u8], usize)> {
    let newline = memchr(b'\n', buf)?;
    let text = &buf[..newline];
    Some((text.strip_suffix(b"\r").unwrap_or(text), newline + 1))
}

fn decimal(text: &[u8]) -> Option<usize> {
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Parses one reply to an `expect` request from the front of `buf`:
/// `Ok(Some((reply, consumed)))`, or `Ok(None)` when more bytes are needed.
pub fn parse_reply(
    wire: Wire,
    expect: Expect,
    buf: &[u8],
) -> Result<Option<(ClientReply<'_>, usize)>, FramingError> {
    match wire {
        Wire::Line => Ok(parse_line(expect, buf)),
        Wire::Resp => parse_resp(buf),
        Wire::Memcache => parse_memcache(expect, buf),
    }
}

fn parse_line(expect: Expect, buf: &[u8]) -> Option<(ClientReply<'_>, usize)> {
    if expect == Expect::Stats && !buf.starts_with(b"ERROR") {
        // `STAT name value` lines, then `END` (a server without STATS,
        // like the seed, answers one ERROR line: the arm below).
        let end = if buf.starts_with(b"END\n") { 0 } else { memmem::find(buf, b"\nEND\n")? + 1 };
        return Some((ClientReply::Report(&buf[..end]), end + 4));
    }
    let (text, consumed) = line(buf)?;
    let reply = if text.starts_with(b"ERROR") {
        ClientReply::Error(text)
    } else {
        match expect {
            Expect::Ping => ClientReply::Report(text),
            Expect::Set if text == b"OK" => ClientReply::Stored,
            Expect::Set => ClientReply::Error(text),
            _ if text == b"NOTFOUND" => ClientReply::Miss,
            // The server strips nothing from a value but the final `\n`.
            _ => ClientReply::Value(&buf[..consumed - 1]),
        }
    };
    Some((reply, consumed))
}

fn parse_resp(buf: &[u8]) -> Result<Option<(ClientReply<'_>, usize)>, FramingError> {
    let Some((text, header)) = line(buf) else { return Ok(None) };
    let Some((&tag, rest)) = text.split_first() else {
        return Err(framing("empty reply line", buf));
    };
    let reply = match tag {
        b'+' if rest == b"OK" => ClientReply::Stored,
        b'+' => ClientReply::Report(rest),
        b'-' => ClientReply::Error(rest),
        b':' => ClientReply::Report(rest),
        b'$' if rest == b"-1" => ClientReply::Miss,
        b'$' => {
            let Some(len) = decimal(rest) else { return Err(framing("bad bulk length", buf)) };
            let Some(end) = header.checked_add(len).filter(|end| end + 2 <= buf.len()) else {
                return Ok(None);
            };
            if &buf[end..end + 2] != b"\r\n" {
                return Err(framing("bulk string without CRLF", buf));
            }
            return Ok(Some((ClientReply::Value(&buf[header..end]), end + 2)));
        }
        _ => return Err(framing("unexpected reply type", buf)),
    };
    Ok(Some((reply, header)))
}

fn parse_memcache(
    expect: Expect,
    buf: &[u8],
) -> Result<Option<(ClientReply<'_>, usize)>, FramingError> {
    if expect == Expect::Stats {
        let end = if buf.starts_with(b"END\r\n") {
            0
        } else {
            match memmem::find(buf, b"\r\nEND\r\n") {
                Some(at) => at + 2,
                None => return Ok(None),
            }
        };
        return Ok(Some((ClientReply::Report(&buf[..end]), end + 5)));
    }
    let Some((text, header)) = line(buf) else { return Ok(None) };
    let is_error =
        text == b"ERROR" || text.starts_with(b"SERVER_ERROR") || text.starts_with(b"CLIENT_ERROR");
    if is_error {
        return Ok(Some((ClientReply::Error(text), header)));
    }
    let reply = match expect {
        Expect::Ping => ClientReply::Report(text),
        Expect::Set if text == b"STORED" => ClientReply::Stored,
        Expect::Set => ClientReply::Error(text),
        _ if text == b"END" => ClientReply::Miss,
        _ => {
            // `VALUE <key> <flags> <bytes> [<cas>]`, data, `END`.
            let mut fields = text.split(|&b| b == b' ');
            if fields.next() != Some(b"VALUE") {
                return Err(framing("unexpected fetch reply", buf));
            }
            let Some(len) = fields.nth(2).and_then(decimal) else {
                return Err(framing("bad VALUE length", buf));
            };
            let end = header + len;
            let Some(trailer) = buf.get(end..end + 7) else { return Ok(None) };
            if trailer != b"\r\nEND\r\n" {
                return Err(framing("VALUE not followed by END", buf));
            }
            return Ok(Some((ClientReply::Value(&buf[header..end]), end + 7)));
        }
    };
    Ok(Some((reply, header)))
}

/// Parses a `CONFIG GET` reply (RESP: an array of name, value, name,
/// value ... bulk strings) from the front of `buf`: the pairs and the bytes
/// used, or `Ok(None)` when more bytes are needed.
#[expect(clippy::type_complexity)]
pub fn parse_config_get(
    buf: &[u8],
) -> Result<Option<(Vec<(String, String)>, usize)>, FramingError> {
    let Some((text, mut at)) = line(buf) else { return Ok(None) };
    let Some(n) = text.strip_prefix(b"*").and_then(decimal) else {
        return Err(framing("CONFIG GET reply is not an array", buf));
    };
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        match parse_resp(&buf[at..])? {
            None => return Ok(None),
            Some((ClientReply::Value(v), used)) => {
                items.push(String::from_utf8_lossy(v).into_owned());
                at += used;
            }
            Some(_) => return Err(framing("CONFIG GET item is not a bulk string", buf)),
        }
    }
    let mut items = items.into_iter();
    let mut pairs = Vec::with_capacity(n / 2);
    while let (Some(k), Some(v)) = (items.next(), items.next()) {
        pairs.push((k, v));
    }
    Ok(Some((pairs, at)))
}

/// The `name value` pairs of a statistics report: `STAT name value` lines
/// (line protocol, memcached) or `name:value` lines (INFO), section headers
/// and blank lines skipped.
pub fn parse_stats(report: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(report);
    text.lines()
        .filter_map(|l| {
            let l = l.trim_end_matches('\r');
            if let Some(rest) = l.strip_prefix("STAT ") {
                let (k, v) = rest.split_once(' ')?;
                Some((k.to_string(), v.to_string()))
            } else if l.starts_with('#') {
                None
            } else {
                let (k, v) = l.split_once(':')?;
                Some((k.to_string(), v.to_string()))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use capkv::protocol::{Command, Dialect, Limits, Parsed, Reply, encode_reply};

    fn parsed_set(buf: &[u8], dialect: Dialect) -> (Vec<u8>, Vec<u8>, usize) {
        let limits = Limits::default();
        let parsed = dialect.parse(buf, &limits);
        match parsed {
            Parsed::Command { command: Command::Set { key, value, .. }, consumed } => {
                (key.to_vec(), value.to_vec(), consumed)
            }
            other => panic!("not a SET: {other:?}"),
        }
    }

    #[test]
    fn the_servers_parsers_read_our_requests() {
        let value = vec![b'v'; 1000];
        for (wire, dialect) in [(Wire::Line, Dialect::Line), (Wire::Resp, Dialect::Resp2)] {
            let mut out = Vec::new();
            encode_set(wire, b"k000000000000001", &value, &mut out);
            let (key, got, consumed) = parsed_set(&out, dialect);
            assert_eq!(
                (key.as_slice(), got.as_slice(), consumed),
                (&b"k000000000000001"[..], &value[..], out.len())
            );
            let mut out = Vec::new();
            encode_get(wire, b"key", &mut out);
            let limits = Limits::default();
            let parsed = dialect.parse(&out, &limits);
            assert_eq!(
                parsed,
                Parsed::Command { command: Command::Get { key: b"key" }, consumed: out.len() }
            );
        }
    }

    #[test]
    fn resp_requests_are_exact_multibulks() {
        let mut out = Vec::new();
        encode_set(Wire::Resp, b"k", b"hello", &mut out);
        encode_get(Wire::Resp, b"key", &mut out);
        encode_command(&[&b"DEL"[..], b"", b"k"], &mut out);
        let want: &[u8] = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n\
            *2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*3\r\n$3\r\nDEL\r\n$0\r\n\r\n$1\r\nk\r\n";
        assert_eq!(out, want);
    }

    #[test]
    fn prefix_value_suffix_is_the_whole_request() {
        for wire in [Wire::Line, Wire::Resp, Wire::Memcache] {
            let mut whole = Vec::new();
            encode_set(wire, b"k", b"hello", &mut whole);
            let mut parts = Vec::new();
            set_prefix(wire, b"k", 5, &mut parts);
            parts.extend_from_slice(b"hello");
            parts.extend_from_slice(set_suffix(wire));
            assert_eq!(whole, parts);
        }
        let mut out = Vec::new();
        encode_set(Wire::Memcache, b"k", b"hello", &mut out);
        assert_eq!(out, b"set k 0 0 5\r\nhello\r\n");
        out.clear();
        encode_get(Wire::Memcache, b"k", &mut out);
        encode_stats(Wire::Memcache, &mut out);
        assert_eq!(out, b"get k\r\nstats\r\n");
    }

    /// Every split point of `stream` yields `None` until the whole reply is
    /// there, then the same reply.
    fn check(wire: Wire, expect: Expect, stream: &[u8], want: ClientReply<'_>) {
        for cut in 0..stream.len() {
            assert_eq!(parse_reply(wire, expect, &stream[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(parse_reply(wire, expect, stream), Ok(Some((want.clone(), stream.len()))));
        let mut more = stream.to_vec();
        more.extend_from_slice(b"+OK\r\n");
        assert_eq!(parse_reply(wire, expect, &more), Ok(Some((want, stream.len()))));
    }

    fn server_reply(dialect: Dialect, reply: Reply<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_reply(dialect, &reply, &mut out);
        out
    }

    #[test]
    fn we_read_the_servers_replies() {
        let value = b"a value\r\nwith CRLF".as_slice();
        let r = |reply| server_reply(Dialect::Resp2, reply);
        check(Wire::Resp, Expect::Set, &r(Reply::Ok), ClientReply::Stored);
        check(Wire::Resp, Expect::Get, &r(Reply::Bulk(value)), ClientReply::Value(value));
        check(Wire::Resp, Expect::Get, &r(Reply::Bulk(b"")), ClientReply::Value(b""));
        check(Wire::Resp, Expect::Get, &r(Reply::Nil), ClientReply::Miss);
        check(
            Wire::Resp,
            Expect::Set,
            &r(Reply::Error(capkv::protocol::CommandError::OutOfMemory)),
            ClientReply::Error(b"OOM command not allowed when used memory > 'maxmemory'."),
        );
        check(
            Wire::Resp,
            Expect::Stats,
            &r(Reply::Bulk(b"# S\r\na:1\r\n")),
            ClientReply::Value(b"# S\r\na:1\r\n"),
        );
        let l = |reply| server_reply(Dialect::Line, reply);
        check(Wire::Line, Expect::Set, &l(Reply::Ok), ClientReply::Stored);
        check(
            Wire::Line,
            Expect::Get,
            &l(Reply::Bulk(b"two words")),
            ClientReply::Value(b"two words"),
        );
        check(Wire::Line, Expect::Get, &l(Reply::Nil), ClientReply::Miss);
        check(
            Wire::Line,
            Expect::Set,
            &l(Reply::Error(capkv::protocol::CommandError::OutOfMemory)),
            ClientReply::Error(b"ERROR out of memory"),
        );
        check(
            Wire::Line,
            Expect::Stats,
            b"STAT a 1\nSTAT b 2\nEND\n",
            ClientReply::Report(b"STAT a 1\nSTAT b 2\n"),
        );
        check(Wire::Line, Expect::Stats, b"END\n", ClientReply::Report(b""));
    }

    #[test]
    fn memcache_replies() {
        let m = Wire::Memcache;
        check(m, Expect::Set, b"STORED\r\n", ClientReply::Stored);
        check(
            m,
            Expect::Set,
            b"SERVER_ERROR out of memory storing object\r\n",
            ClientReply::Error(b"SERVER_ERROR out of memory storing object"),
        );
        check(m, Expect::Get, b"END\r\n", ClientReply::Miss);
        check(m, Expect::Get, b"VALUE k 0 5\r\nhe\r\no\r\nEND\r\n", ClientReply::Value(b"he\r\no"));
        check(m, Expect::Get, b"ERROR\r\n", ClientReply::Error(b"ERROR"));
        check(
            m,
            Expect::Stats,
            b"STAT pid 1\r\nSTAT bytes 2\r\nEND\r\n",
            ClientReply::Report(b"STAT pid 1\r\nSTAT bytes 2\r\n"),
        );
        assert!(parse_reply(m, Expect::Get, b"VALUE k 0 1\r\nxEN").unwrap().is_none());
        assert!(parse_reply(m, Expect::Get, b"VALUE k 0 1\r\nxxxxxxxxx").is_err());
        assert!(parse_reply(m, Expect::Get, b"HUH\r\n").is_err());
    }

    #[test]
    fn resp_framing_errors() {
        assert!(parse_reply(Wire::Resp, Expect::Get, b"$x\r\n").is_err());
        assert!(parse_reply(Wire::Resp, Expect::Get, b"$1\r\nabc\r\n").is_err());
        assert!(parse_reply(Wire::Resp, Expect::Get, b"?\r\n").is_err());
    }

    #[test]
    fn partial_requests_stop_short_exactly() {
        let value = b"0123456789";
        let mut out = Vec::new();
        partial_set(Wire::Line, b"k1", 10, value, 4, &mut out);
        assert_eq!(out, b"PUT k1 0123");
        out.clear();
        partial_set(Wire::Resp, b"k1", 10, value, 8, &mut out);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$10\r\n01234567");
        out.clear();
        partial_set(Wire::Memcache, b"k1", 10, value, 0, &mut out);
        assert_eq!(out, b"set k1 0 0 10\r\n");
        // What the server's parsers make of them: not yet a request.
        let limits = capkv::protocol::Limits::default();
        for (wire, dialect) in [(Wire::Line, Dialect::Line), (Wire::Resp, Dialect::Resp2)] {
            let mut out = Vec::new();
            partial_set(wire, b"k1", 10, value, 9, &mut out);
            assert!(
                matches!(dialect.parse(&out, &limits), Parsed::Incomplete),
                "{wire:?}: {:?}",
                dialect.parse(&out, &limits)
            );
        }
    }

    #[test]
    fn pings_and_their_replies() {
        let mut out = Vec::new();
        for wire in [Wire::Line, Wire::Resp, Wire::Memcache] {
            encode_ping(wire, &mut out);
        }
        assert_eq!(out, b"PING\n*1\r\n$4\r\nPING\r\nversion\r\n");
        let pong = server_reply(Dialect::Resp2, Reply::Pong);
        check(Wire::Resp, Expect::Ping, &pong, ClientReply::Report(b"PONG"));
        let pong = server_reply(Dialect::Line, Reply::Pong);
        check(Wire::Line, Expect::Ping, &pong, ClientReply::Report(b"PONG"));
        check(
            Wire::Memcache,
            Expect::Ping,
            b"VERSION 1.6.21\r\n",
            ClientReply::Report(b"VERSION 1.6.21"),
        );
        check(Wire::Line, Expect::Ping, b"ERROR busy\n", ClientReply::Error(b"ERROR busy"));
    }

    #[test]
    fn config_get_pairs() {
        let reply = b"*2\r\n$18\r\nproto-max-bulk-len\r\n$6\r\n262144\r\n";
        for cut in 0..reply.len() {
            assert_eq!(parse_config_get(&reply[..cut]), Ok(None), "cut at {cut}");
        }
        assert_eq!(
            parse_config_get(reply),
            Ok(Some((vec![("proto-max-bulk-len".into(), "262144".into())], reply.len())))
        );
        assert_eq!(parse_config_get(b"*0\r\n"), Ok(Some((vec![], 4))));
        assert!(parse_config_get(b"-ERR unknown\r\n").is_err());
    }

    #[test]
    fn lengths_in_decimal() {
        let mut out = Vec::new();
        for n in [0, 7, 10, 4096, 262_144, u64::MAX] {
            push_unsigned(n, &mut out);
            out.push(b' ');
        }
        assert_eq!(out, b"0 7 10 4096 262144 18446744073709551615 ");
    }

    #[test]
    fn stats_pairs() {
        let pairs = parse_stats(
            b"# Memory\r\nused_memory:10\r\nmaxmemory:20\r\n\r\n# Stats\r\nevicted_keys:3\r\n",
        );
        assert_eq!(pairs[0], ("used_memory".into(), "10".into()));
        assert_eq!(pairs.len(), 3);
        let pairs = parse_stats(b"STAT curr_items 7\r\nSTAT version 1.6.21\r\n");
        assert_eq!(
            pairs,
            vec![("curr_items".into(), "7".into()), ("version".into(), "1.6.21".into())]
        );
        let db = parse_stats(b"db0:keys=5,expires=0,avg_ttl=0\r\n");
        assert_eq!(db[0].1, "keys=5,expires=0,avg_ttl=0");
    }

    #[test]
    fn stores_with_a_ttl() {
        let mut out = Vec::new();
        set_prefix_ttl(Wire::Resp, b"k", 2, 250, &mut out);
        out.extend_from_slice(b"ab");
        set_suffix_ttl(Wire::Resp, 250, &mut out);
        assert_eq!(out, b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nab\r\n$2\r\nPX\r\n$3\r\n250\r\n");
        out.clear();
        set_prefix_ttl(Wire::Memcache, b"k", 2, 1500, &mut out);
        out.extend_from_slice(b"ab");
        set_suffix_ttl(Wire::Memcache, 1500, &mut out);
        assert_eq!(out, b"set k 0 2 2\r\nab\r\n", "memcached: whole seconds, rounded up");
    }
}
