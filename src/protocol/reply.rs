//! Replies as values, and their encoding per dialect.
//!
//! The engine never writes bytes itself: it hands [`Reply`] values to
//! [`encode_reply`], which appends the dialect's wire form to the output
//! buffer. Variants are semantic where the dialects differ, and the
//! encoder alone knows the difference:
//! - a deletion count is `:1` in RESP but `OK` on the line protocol;
//! - a missing value is `$-1` in RESP2, `_` in RESP3 (chosen per
//!   connection with `HELLO 3`, as redis-py 8 does by default) and
//!   `NOTFOUND` on the line protocol;
//! - a map is a flat array of keys and values in RESP2 and `%` in RESP3;
//! - INFO is one bulk string of the requested sections in RESP, and the
//!   line protocol's STATS (memcached's `stats`) is every field as a
//!   `STAT name value` line, then `END`.

use std::fmt::Write as _;

use super::{CommandError, Dialect};

/// One reply (or, for arrays and maps, the header of one).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<'a> {
    /// RESP `+OK`; line `OK`.
    Ok,
    /// RESP `+PONG`; line `PONG`.
    Pong,
    /// The answer to QUIT: RESP `+OK`; line: nothing (the seed just closes).
    Goodbye,
    /// A status line: RESP `+text`; line `text`.
    Status(&'a str),
    /// A value: RESP bulk string; line: the bytes then `\n`.
    Bulk(&'a [u8]),
    /// A missing value: RESP2 `$-1`, RESP3 `_`; line `NOTFOUND`.
    Nil,
    /// RESP `:n`; line: the decimal number.
    Int(i64),
    /// Keys deleted: RESP `:n`; line `OK` if n > 0 else `NOTFOUND`.
    Deleted(u64),
    /// Header of an array of `n` replies that follow: RESP `*n`; line: nothing.
    Array(usize),
    /// No array at all (an EXEC that a WATCH aborted): RESP2 `*-1`, RESP3
    /// `_`; line `NOTFOUND`.
    NilArray,
    /// Header of a map of `n` key-value pairs (`2n` replies follow): RESP3
    /// `%n`, RESP2 `*2n`; line: nothing.
    Map(usize),
    /// Header of a set of `n` replies that follow: RESP3 `~n`, RESP2 `*n`;
    /// line: nothing.
    Set(usize),
    /// INFO / STATS: RESP a bulk string of the selected sections; line
    /// every field of every section (see the module docs).
    Info(&'a [InfoSection]),
    /// An error: RESP `-<Redis text>`; line `ERROR <reason>`.
    Error(CommandError),
}

/// One INFO section: a title and its `name:value` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoSection {
    /// `Server`, `Memory`, ... (`# Server` in RESP).
    pub title: &'static str,
    /// Field names and values, in order.
    pub fields: Vec<(String, String)>,
    /// Whether the request asked for this section (RESP shows only these).
    pub selected: bool,
}

impl Reply<'_> {
    /// An upper bound of the encoded size in any dialect, for reserving
    /// room before encoding.
    pub fn size_bound(&self) -> usize {
        match self {
            // At least the line protocol's error for a value it cannot frame.
            Reply::Bulk(v) => v.len().max(96) + 32,
            Reply::Status(s) => s.len() + 8,
            Reply::Error(_) => 640,
            Reply::Info(sections) => {
                32 + sections
                    .iter()
                    .map(|s| {
                        s.title.len()
                            + 8
                            + s.fields.iter().map(|(k, v)| k.len() + v.len() + 8).sum::<usize>()
                    })
                    .sum::<usize>()
            }
            _ => 32,
        }
    }
}

/// Appends the wire form of `reply` in `dialect` to `out`.
///
/// GET replies are the hottest path of the server, so bulk strings reserve
/// their whole size once and format the length header without going through
/// `core::fmt` (see `push_unsigned`).
#[inline]
pub fn encode_reply(dialect: Dialect, reply: &Reply<'_>, out: &mut Vec<u8>) {
    match dialect {
        Dialect::Resp2 => encode_resp(reply, false, out),
        Dialect::Resp3 => encode_resp(reply, true, out),
        Dialect::Line => encode_line(reply, out),
    }
}

fn encode_resp(reply: &Reply<'_>, resp3: bool, out: &mut Vec<u8>) {
    match reply {
        Reply::Bulk(value) => push_bulk(value, out),
        Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
        Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Reply::Ok | Reply::Goodbye => out.extend_from_slice(b"+OK\r\n"),
        Reply::Pong => out.extend_from_slice(b"+PONG\r\n"),
        Reply::Status(text) => {
            out.reserve(text.len() + 3);
            out.push(b'+');
            // A status line cannot carry CR or LF; the executor's texts never
            // do, and mapping them keeps the stream framed if one ever did.
            out.extend(text.bytes().map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }));
            out.extend_from_slice(b"\r\n");
        }
        Reply::Int(n) => push_header(b':', *n, out),
        Reply::Deleted(n) => push_header_unsigned(b':', *n, out),
        Reply::Array(n) => push_header_unsigned(b'*', *n as u64, out),
        Reply::Map(n) if resp3 => push_header_unsigned(b'%', *n as u64, out),
        Reply::Map(n) => push_header_unsigned(b'*', 2 * *n as u64, out),
        Reply::Set(n) if resp3 => push_header_unsigned(b'~', *n as u64, out),
        Reply::Set(n) => push_header_unsigned(b'*', *n as u64, out),
        Reply::Info(sections) => {
            let mut text = String::with_capacity(reply.size_bound());
            for section in sections.iter().filter(|s| s.selected) {
                if !text.is_empty() {
                    text.push_str("\r\n");
                }
                let _ = write!(text, "# {}\r\n", section.title);
                for (k, v) in &section.fields {
                    let _ = write!(text, "{k}:{v}\r\n");
                }
            }
            push_bulk(text.as_bytes(), out);
        }
        Reply::Error(error) => error.write_resp(out),
    }
}

fn encode_line(reply: &Reply<'_>, out: &mut Vec<u8>) {
    match reply {
        Reply::Bulk(value) => {
            // The line protocol cannot frame a value containing `\n` (the
            // seed could never store one; RESP can): sent as-is, the client
            // would read its second line as the next reply, and every reply
            // after it one request late. One error line keeps it in step;
            // every other value goes out byte for byte as the seed sends it.
            if memchr::memchr(b'\n', value).is_some() {
                return CommandError::ValueHasNewline.write_line(out);
            }
            out.reserve(value.len() + 1);
            out.extend_from_slice(value);
            out.push(b'\n');
        }
        Reply::Nil | Reply::NilArray => out.extend_from_slice(b"NOTFOUND\n"),
        Reply::Ok => out.extend_from_slice(b"OK\n"),
        Reply::Goodbye => {}
        Reply::Pong => out.extend_from_slice(b"PONG\n"),
        Reply::Status(text) => {
            out.reserve(text.len() + 1);
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        }
        Reply::Int(n) => {
            push_decimal(*n, out);
            out.push(b'\n');
        }
        Reply::Deleted(n) => {
            out.extend_from_slice(if *n > 0 { b"OK\n" } else { b"NOTFOUND\n" });
        }
        // The line protocol has no arrays; nothing produces one for it.
        Reply::Array(_) | Reply::Map(_) | Reply::Set(_) => {}
        Reply::Info(sections) => {
            let mut text = String::with_capacity(reply.size_bound());
            for (k, v) in sections.iter().flat_map(|s| &s.fields) {
                let _ = writeln!(text, "STAT {k} {v}");
            }
            text.push_str("END\n");
            out.extend_from_slice(text.as_bytes());
        }
        Reply::Error(error) => error.write_line(out),
    }
}

/// `$<len>\r\n<bytes>\r\n`, with one reservation for the whole reply.
#[inline]
fn push_bulk(value: &[u8], out: &mut Vec<u8>) {
    // 1 (`$`) + 20 (digits) + 2 + 2.
    out.reserve(value.len() + 25);
    out.push(b'$');
    push_unsigned(value.len() as u64, out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `<tag><n>\r\n` for a signed number.
fn push_header(tag: u8, n: i64, out: &mut Vec<u8>) {
    out.push(tag);
    push_decimal(n, out);
    out.extend_from_slice(b"\r\n");
}

/// `<tag><n>\r\n` for an unsigned number.
fn push_header_unsigned(tag: u8, n: u64, out: &mut Vec<u8>) {
    out.push(tag);
    push_unsigned(n, out);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal. `i64::MIN` has no positive counterpart, hence
/// `unsigned_abs`.
pub(crate) fn push_decimal(n: i64, out: &mut Vec<u8>) {
    if n < 0 {
        out.push(b'-');
    }
    push_unsigned(n.unsigned_abs(), out);
}

/// Appends `n` in decimal.
///
/// Measured against `write!(out, "{n}")` in `benches/protocol.rs`
/// (`encode/bulk_100` vs `encode/bulk_100_fmt`). Up to four digits (every
/// key length, and most value lengths) the digits are appended as one
/// fixed-size array, which compiles to a capacity check and direct stores
/// instead of a `memcpy` call of unknown length; longer numbers take the
/// general loop.
#[inline]
pub(crate) fn push_unsigned(n: u64, out: &mut Vec<u8>) {
    let digit = |d: u64| b'0' + (d % 10) as u8;
    if n < 10 {
        out.push(digit(n));
    } else if n < 100 {
        out.extend_from_slice(&[digit(n / 10), digit(n)]);
    } else if n < 1000 {
        out.extend_from_slice(&[digit(n / 100), digit(n / 10), digit(n)]);
    } else if n < 10_000 {
        out.extend_from_slice(&[digit(n / 1000), digit(n / 100), digit(n / 10), digit(n)]);
    } else {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut n = n;
        while n > 0 {
            at -= 1;
            digits[at] = digit(n);
            n /= 10;
        }
        out.extend_from_slice(&digits[at..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ProtocolError;

    fn resp(reply: Reply<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_reply(Dialect::Resp2, &reply, &mut out);
        out
    }

    fn resp3(reply: Reply<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_reply(Dialect::Resp3, &reply, &mut out);
        out
    }

    fn section(title: &'static str, fields: &[(&str, &str)], selected: bool) -> InfoSection {
        let fields = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        InfoSection { title, fields, selected }
    }

    fn line(reply: Reply<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        encode_reply(Dialect::Line, &reply, &mut out);
        out
    }

    #[test]
    fn resp_encoding() {
        assert_eq!(resp(Reply::Ok), b"+OK\r\n");
        assert_eq!(resp(Reply::Pong), b"+PONG\r\n");
        assert_eq!(resp(Reply::Status("QUEUED")), b"+QUEUED\r\n");
        assert_eq!(resp(Reply::Status("a\r\nb")), b"+a  b\r\n");
        assert_eq!(resp(Reply::Bulk(b"abc")), b"$3\r\nabc\r\n");
        assert_eq!(resp(Reply::Bulk(b"")), b"$0\r\n\r\n");
        assert_eq!(resp(Reply::Bulk(b"a\r\nb")), b"$4\r\na\r\nb\r\n");
        assert_eq!(resp(Reply::Nil), b"$-1\r\n");
        assert_eq!(resp(Reply::Int(5)), b":5\r\n");
        assert_eq!(resp(Reply::Int(0)), b":0\r\n");
        assert_eq!(resp(Reply::Int(-2)), b":-2\r\n");
        assert_eq!(resp(Reply::Int(i64::MIN)), b":-9223372036854775808\r\n");
        assert_eq!(resp(Reply::Int(i64::MAX)), b":9223372036854775807\r\n");
        assert_eq!(resp(Reply::Deleted(0)), b":0\r\n");
        assert_eq!(resp(Reply::Deleted(3)), b":3\r\n");
        assert_eq!(resp(Reply::Array(2)), b"*2\r\n");
        assert_eq!(resp(Reply::Array(0)), b"*0\r\n");
        assert_eq!(resp3(Reply::Nil), b"_\r\n");
        assert_eq!(resp(Reply::NilArray), b"*-1\r\n");
        assert_eq!(resp3(Reply::NilArray), b"_\r\n");
        assert_eq!(resp3(Reply::Map(7)), b"%7\r\n");
        assert_eq!(resp(Reply::Map(7)), b"*14\r\n");
        assert_eq!(resp(Reply::Goodbye), b"+OK\r\n");
        let server = section("Server", &[("x", "1")], true);
        let other = section("Other", &[("y", "2")], false);
        assert_eq!(resp(Reply::Info(&[server, other])), b"$15\r\n# Server\r\nx:1\r\n\r\n");
        assert_eq!(resp(Reply::Error(CommandError::Syntax)), b"-ERR syntax error\r\n");
        assert_eq!(
            resp(Reply::Error(CommandError::OutOfMemory)),
            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n"
        );
        assert_eq!(
            resp(Reply::Error(ProtocolError::InvalidBulkLength.into())),
            b"-ERR Protocol error: invalid bulk length\r\n"
        );
    }

    #[test]
    fn line_encoding() {
        assert_eq!(line(Reply::Ok), b"OK\n");
        assert_eq!(line(Reply::Pong), b"PONG\n");
        assert_eq!(line(Reply::Status("QUEUED")), b"QUEUED\n");
        assert_eq!(line(Reply::Bulk(b"hello world")), b"hello world\n");
        assert_eq!(line(Reply::Bulk(b"")), b"\n");
        assert_eq!(line(Reply::Nil), b"NOTFOUND\n");
        assert_eq!(line(Reply::Goodbye), b"");
        assert_eq!(line(Reply::Map(2)), b"");
        assert_eq!(line(Reply::Int(42)), b"42\n");
        assert_eq!(line(Reply::Int(-7)), b"-7\n");
        assert_eq!(line(Reply::Deleted(1)), b"OK\n");
        assert_eq!(line(Reply::Deleted(0)), b"NOTFOUND\n");
        assert_eq!(line(Reply::Array(3)), b"");
        let keys = section("Keyspace", &[("keys", "1")], false);
        assert_eq!(line(Reply::Info(&[keys])), b"STAT keys 1\nEND\n");
        assert_eq!(line(Reply::Error(CommandError::KeyTooLong)), b"ERROR key too long\n");
        assert_eq!(
            line(Reply::Error(CommandError::unknown_command(b"FOO", []))),
            b"ERROR unknown command\n"
        );
    }

    #[test]
    fn encoding_appends() {
        let mut out = b"+OK\r\n".to_vec();
        encode_reply(Dialect::Resp2, &Reply::Bulk(b"v"), &mut out);
        assert_eq!(out, b"+OK\r\n$1\r\nv\r\n");
    }

    #[test]
    fn decimal_formatting_matches_std() {
        let mut samples = vec![0u64, 1, 9, 10, 11, 99, 100, 101, 999, 1000, u64::MAX, u64::MAX - 1];
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            samples.extend([next - 1, next, next + 1]);
            p = next;
        }
        for n in samples {
            let mut out = Vec::new();
            push_unsigned(n, &mut out);
            assert_eq!(out, n.to_string().as_bytes());
        }
        for n in [i64::MIN, i64::MIN + 1, -100, -10, -9, -1, 0, 1, i64::MAX] {
            let mut out = Vec::new();
            push_decimal(n, &mut out);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    #[test]
    fn bulk_encoding_agrees_with_the_redis_crate() {
        // The `redis` crate's own command encoder writes bulk strings the
        // same way a server does.
        let value = vec![b'x'; 100];
        let mut ours = Vec::new();
        encode_reply(Dialect::Resp2, &Reply::Bulk(&value), &mut ours);
        let theirs = redis::cmd("X").arg(&value[..]).get_packed_command();
        // `*2\r\n$1\r\nX\r\n` then the argument.
        assert!(theirs.ends_with(&ours));
    }
}
