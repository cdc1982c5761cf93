//! Replies as values, and their encoding per dialect.
//!
//! The executor never writes bytes itself: it hands [`Reply`] values to
//! [`encode_reply`], which appends the dialect's wire form to the output
//! buffer. Variants are semantic where the dialects differ (a deletion count
//! is `:1` in RESP but `OK` on the line protocol).

use super::{CommandError, Dialect};

/// One reply (or, for arrays, the header of one).
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<'a> {
    /// RESP `+OK`; line `OK`.
    Ok,
    /// RESP `+PONG`; line `PONG`.
    Pong,
    /// A status line: RESP `+text`; line `text`.
    Status(&'a str),
    /// A value: RESP bulk string; line: the bytes then `\n`.
    Bulk(&'a [u8]),
    /// A missing value: RESP `$-1`; line `NOTFOUND`.
    Nil,
    /// RESP `:n`; line: the decimal number.
    Int(i64),
    /// Keys deleted: RESP `:n`; line `OK` if n > 0 else `NOTFOUND`.
    Deleted(u64),
    /// Header of an array of `n` replies that follow: RESP `*n`; line: nothing.
    Array(usize),
    /// A multi-line report (INFO / STATS): RESP bulk string; line: the text
    /// as-is (it already ends with its own terminator line).
    Report(&'a [u8]),
    /// An error: RESP `-<Redis text>`; line `ERROR <reason>`.
    Error(CommandError),
}

/// Appends the wire form of `reply` in `dialect` to `out`.
pub fn encode_reply(dialect: Dialect, reply: &Reply<'_>, out: &mut Vec<u8>) {
    let _ = (dialect, reply, out);
    todo!("protocol helper implements this")
}
