//! RESP2 request framing: multibulk requests (`*N\r\n$len\r\narg\r\n...`)
//! and, like Redis, inline commands on the same connection.
//!
//! One pass validates a whole frame without allocating, remembering where
//! the first few arguments are (a `Frame`); the command table (`table.rs`) then
//! builds a [`Command`](super::Command) that borrows from the buffer, with
//! multi-key arguments left as a lazily walked [`Args`](super::Args) over the validated
//! run. An incomplete frame costs a re-walk of its headers on the next call,
//! but bulk data is skipped by length, never scanned.
//!
//! Framing errors are answered and close the connection ([`Parsed::Fatal`]),
//! as in Redis. Where capkv differs:
//! - a multibulk count over [`Limits::max_args`] is an invalid multibulk
//!   length (Redis's bound is `INT_MAX`);
//! - a bulk length over the bulk limit (the larger of the key and value
//!   limits, and at least 64) is refused. When it is the last argument of
//!   its request, the request's total size is known from its header, so the
//!   answer is `-ERR value too large` and the rest of the request is
//!   skipped as it streams in ([`Parsed::Oversized`], the connection stays
//!   usable). Any other position (the sizes of later arguments are unknown)
//!   or a length over 512 MiB (Redis's own default limit) gets Redis's
//!   fatal `invalid bulk length`;
//! - a bulk string not followed by `\r\n` is fatal (Redis skips two bytes
//!   unchecked and desynchronises);
//! - length lines are judged as soon as they cannot be valid (21 bytes
//!   without `\r`) instead of after 64 KiB.

/// Redis's `string2ll`, shared with the store.
use crate::decimal::parse_i64;

use super::error::ProtocolError;
use super::frame::{Frame, HEAD, Layout};
use super::inline::{Token, next_token, unescape};
use super::{CommandError, Limits, Parsed, table};

/// The bulk limit never goes below this, so numbers (20 characters) and
/// option names always frame even under a tiny value limit; longer values
/// are then refused by the command table instead.
const MIN_BULK_LIMIT: usize = 64;

/// Longest bulk string ever skipped rather than refused outright: Redis's
/// default `proto-max-bulk-len`.
const MAX_SKIPPABLE_BULK: i64 = 512 * 1024 * 1024;

/// Longest decimal length line Redis's `string2ll` accepts (`LONG_STR_SIZE`
/// minus one): 20 characters.
const MAX_NUMBER_LEN: usize = 20;

/// Parses one request (multibulk or inline) from the front of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => parse_multibulk(buf, limits),
        Some(_) => parse_inline(buf, limits),
    }
}

/// Why a length line could not be read.
enum LengthError {
    Incomplete,
    Invalid,
}

/// Reads `<number>\r\n` starting at `at`; returns the number and the index
/// just past the `\n`.
#[inline]
fn read_length(buf: &[u8], at: usize) -> Result<(i64, usize), LengthError> {
    let window = &buf[at.min(buf.len())..];
    // Fast path: a non-negative number of up to 18 digits (which cannot
    // overflow), read in the same pass that finds its end. Leading zeros
    // and everything else go to the exact `string2ll` rules below.
    let mut value = 0u64;
    let mut digits = 0;
    while let Some(&d) = window.get(digits).filter(|d| d.is_ascii_digit() && digits < 18) {
        value = value * 10 + u64::from(d - b'0');
        digits += 1;
    }
    if digits > 0
        && (window[0] != b'0' || digits == 1)
        && window.get(digits..digits + 2) == Some(b"\r\n")
    {
        return Ok((value as i64, at + digits + 2));
    }
    let Some(cr) = window.iter().take(MAX_NUMBER_LEN + 1).position(|&b| b == b'\r') else {
        return Err(if window.len() > MAX_NUMBER_LEN {
            LengthError::Invalid
        } else {
            LengthError::Incomplete
        });
    };
    match window.get(cr + 1) {
        None => return Err(LengthError::Incomplete),
        Some(b'\n') => {}
        Some(_) => return Err(LengthError::Invalid),
    }
    match parse_i64(&window[..cr]) {
        Some(n) => Ok((n, at + cr + 2)),
        None => Err(LengthError::Invalid),
    }
}

fn parse_multibulk<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    let fatal = |error: ProtocolError| Parsed::Fatal { error: error.into() };
    let (count, mut pos) = match read_length(buf, 1) {
        Ok(found) => found,
        Err(LengthError::Incomplete) => return Parsed::Incomplete,
        Err(LengthError::Invalid) => return fatal(ProtocolError::InvalidMultibulkLength),
    };
    if count <= 0 {
        // `*0` and `*-1` carry no command; Redis silently drops them.
        return Parsed::Ignored { consumed: pos };
    }
    if count > i64::from(i32::MAX) || count as u64 > limits.max_args as u64 {
        return fatal(ProtocolError::InvalidMultibulkLength);
    }
    let argc = count as usize;
    let bulk_limit = limits.max_value_size.max(limits.max_key_size).max(MIN_BULK_LIMIT);
    let mut head: [&'a [u8]; HEAD] = [&[]; HEAD];
    let mut starts = [0usize; HEAD];
    for i in 0..argc {
        let header = pos;
        match buf.get(pos) {
            None => return Parsed::Incomplete,
            Some(b'$') => {}
            Some(&other) => return fatal(ProtocolError::ExpectedDollar(other)),
        }
        let (len, data) = match read_length(buf, pos + 1) {
            Ok(found) => found,
            Err(LengthError::Incomplete) => return Parsed::Incomplete,
            Err(LengthError::Invalid) => return fatal(ProtocolError::InvalidBulkLength),
        };
        if len < 0 {
            return fatal(ProtocolError::InvalidBulkLength);
        }
        if len as u64 > bulk_limit as u64 {
            if i + 1 == argc && len <= MAX_SKIPPABLE_BULK {
                // The frame ends with this bulk: its size is known now.
                let skip = data + len as usize + 2;
                return Parsed::Oversized { error: CommandError::ValueTooLarge, skip: Some(skip) };
            }
            return fatal(ProtocolError::InvalidBulkLength);
        }
        let end = data + len as usize;
        let Some(terminator) = buf.get(end..end + 2) else { return Parsed::Incomplete };
        if terminator != b"\r\n" {
            return fatal(ProtocolError::MissingBulkCrlf);
        }
        if i < HEAD {
            head[i] = &buf[data..end];
            starts[i] = header;
        }
        pos = end + 2;
    }
    let frame = Frame { raw: &buf[..pos], layout: Layout::Multibulk, argc, head, starts };
    finish(table::dispatch(&frame, limits), pos)
}

/// The fewest bytes the incomplete multibulk request at the front of `buf`
/// is known to need: past the end of a bulk string whose header has
/// arrived but whose bytes have not, else `buf.len()`.
///
/// A connection sizes its read buffer by this instead of by the largest
/// possible request, so under a 1 MiB `--max-value-size` a 4 KiB `SET`
/// holds 5 KiB while it streams in, not a megabyte. Call it only after [`parse`] said
/// [`Parsed::Incomplete`]: the headers seen so far are then valid.
pub fn bytes_needed(buf: &[u8]) -> usize {
    let Ok((count, mut pos)) = read_length(buf, 1) else { return buf.len() };
    for _ in 0..count.max(0) {
        if buf.get(pos) != Some(&b'$') {
            break;
        }
        let Ok((len, data)) = read_length(buf, pos + 1) else { break };
        let end = usize::try_from(len).unwrap_or(0).saturating_add(data + 2);
        if end > buf.len() {
            return end;
        }
        pos = end;
    }
    buf.len()
}

fn parse_inline<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    // Redis caps unterminated inline requests at 64 KiB, as the Redis port
    // does; on the mixed port an inline `SET k <value>` must fit a maximum
    // value, so the cap is the line protocol's (`Limits::max_inline`). A
    // complete line over the cap is refused too, so the outcome never
    // depends on how the bytes were split into reads.
    let max = limits.max_inline;
    let Some(newline) = memchr::memchr(b'\n', buf) else {
        return if buf.len() > max {
            Parsed::Fatal { error: ProtocolError::TooBigInlineRequest.into() }
        } else {
            Parsed::Incomplete
        };
    };
    let consumed = newline + 1;
    if consumed > max {
        return Parsed::Fatal { error: ProtocolError::TooBigInlineRequest.into() };
    }
    let mut line = &buf[..newline];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    // Redis splits the line as a C string: a NUL ends it.
    if let Some(nul) = memchr::memchr(0, line) {
        line = &line[..nul];
    }

    let mut head: [&'a [u8]; HEAD] = [&[]; HEAD];
    let mut starts = [0usize; HEAD];
    let mut argc = 0usize;
    let mut verbatim = true;
    let mut pos = 0;
    loop {
        let token: Token = match next_token(line, pos) {
            Ok(Some(token)) => token,
            Ok(None) => break,
            Err(_) => return Parsed::Fatal { error: ProtocolError::UnbalancedQuotes.into() },
        };
        if argc < HEAD {
            head[argc] = &line[token.start..token.end];
            starts[argc] = pos;
        }
        verbatim &= token.verbatim;
        argc += 1;
        pos = token.next;
    }
    if argc == 0 {
        // Empty and blank lines are keep-alives for Redis; so here.
        return Parsed::Ignored { consumed };
    }
    if argc > limits.max_args {
        return Parsed::Fatal { error: ProtocolError::InvalidMultibulkLength.into() };
    }
    if !verbatim {
        return Parsed::Rewritten { request: multibulk(line, argc), consumed };
    }
    let frame = Frame { raw: line, layout: Layout::Inline, argc, head, starts };
    finish(table::dispatch(&frame, limits), consumed)
}

/// The `argc` arguments of the inline `line`, unescaped and framed as one
/// multibulk request.
fn multibulk(line: &[u8], argc: usize) -> Vec<u8> {
    let mut request = Vec::with_capacity(line.len() + 16 * (argc + 1));
    request.extend_from_slice(format!("*{argc}\r\n").as_bytes());
    let mut arg = Vec::new();
    let mut pos = 0;
    while let Ok(Some(token)) = next_token(line, pos) {
        arg.clear();
        unescape(line, token, &mut arg);
        request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        request.extend_from_slice(&arg);
        request.extend_from_slice(b"\r\n");
        pos = token.next;
    }
    request
}

fn finish(result: Result<super::Command<'_>, CommandError>, consumed: usize) -> Parsed<'_> {
    match result {
        Ok(command) => Parsed::Command { command, consumed },
        Err(error) => Parsed::Invalid { error, consumed },
    }
}

#[cfg(test)]
mod tests;
