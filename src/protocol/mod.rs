//! Wire protocols: pure functions from bytes to [`Command`]s and from
//! [`Reply`]s to bytes. Nothing here touches a socket or the store, so every
//! parser can be unit-tested, fuzzed and benchmarked on plain slices.
//!
//! Two dialects share one port and one command model:
//! - [`line`](mod@line): the seed's newline protocol (`PUT k v\n`, `GET k\n`), plus
//!   `DEL`, `PING`, `QUIT`, `STATS`, `AUTH`;
//! - [`resp`]: RESP2, the cache subset of Redis, chosen when the first byte
//!   a connection sends is `*`; `HELLO 3` switches replies to RESP3.
//!
//! The [`Command`] model carries the command registry ([`REGISTRY`], one
//! [`Spec`] per family: name, arity, flags). Replies are values
//! ([`Reply`]) that the encoder turns into each [`Dialect`]'s bytes, so the
//! engine that executes commands never asks which protocol it speaks.
//!
//! Parsing is two-phase in spirit (as in mini-redis and pelikan): a parser
//! first proves a whole frame is buffered, then borrows its arguments from the
//! buffer. "Need more bytes" is the value [`Parsed::Incomplete`], never an
//! error. Limits (key, value, line, argument count) are enforced while
//! parsing, so nothing unbounded is ever buffered on behalf of a bad client.
//!
//! The server only reads requests, so the one request encoder here is
//! [`encode_command`] (a RESP multibulk), which the tests and benches build
//! their requests with. The load driver's client for the three wire
//! protocols it speaks lives in its own crate, `capkv-bench`.

pub mod arguments;
pub mod line;
pub mod metadata;
pub mod registry;
pub mod resp;

mod command;
mod error;
mod frame;
mod inline;
#[rustfmt::skip]
mod metadata_table;
mod reply;
mod request;
mod strings;
mod table;

pub use command::ObjectSubcommand;
pub use command::{
    AclSubcommand, Args, ArgsIter, ClientSubcommand, Command, CommandId, CommandSubcommand,
    ConfigSubcommand, ExpireCondition, Expiry, Keys, REGISTRY, SetCondition, SetOptions,
    SlowlogSubcommand, TtlUnit,
};
pub use error::{CommandError, ERROR_CODES, MAX_CLIENT_NAME, ProtocolError};
pub use registry::{Flags, Spec};
pub use reply::{InfoSection, Reply, encode_reply};
pub use request::encode_command;
pub use strings::{BitOperation, BitRange, BitRangeError, LcsOptions, StringsError};

/// Which protocol a connection speaks: chosen by its first byte (line or
/// RESP2), and for RESP by `HELLO` (2 or 3). Requests are framed the same
/// in RESP2 and RESP3; only replies differ, and only the encoder knows how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// The seed's newline text protocol.
    Line,
    /// RESP2 (Redis serialization protocol).
    Resp2,
    /// RESP3: RESP2's framing, with nulls (`_`) and maps (`%`).
    Resp3,
}

impl Dialect {
    /// A connection whose first byte is `*` speaks RESP2; anything else is
    /// the line protocol (whose inline commands overlap with Redis's).
    pub fn detect(first_byte: u8) -> Dialect {
        if first_byte == b'*' { Dialect::Resp2 } else { Dialect::Line }
    }

    /// True for RESP2 and RESP3.
    pub fn is_resp(self) -> bool {
        matches!(self, Dialect::Resp2 | Dialect::Resp3)
    }

    /// Parses one request of this dialect from the front of `buf`.
    pub fn parse<'a>(self, buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
        match self {
            Dialect::Line => line::parse(buf, limits),
            Dialect::Resp2 | Dialect::Resp3 => resp::parse(buf, limits),
        }
    }
}

/// Limits enforced while parsing. All lengths are in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest key accepted.
    pub max_key_size: usize,
    /// Longest value accepted (and longest RESP bulk string).
    pub max_value_size: usize,
    /// Longest value a line-protocol `PUT` carries (at most
    /// `max_value_size`). A line has no length header, so a connection
    /// halfway through one holds room for the longest line
    /// ([`Limits::max_line`]); RESP declares its sizes and holds only
    /// what the request needs.
    pub max_line_value: usize,
    /// Most arguments in one RESP multibulk request.
    pub max_args: usize,
    /// Longest RESP inline request (a line without a leading `*`): on the
    /// mixed port one line-protocol request ([`Limits::max_line`]), so an
    /// inline `SET k <value>` of any allowed size fits; on the Redis port
    /// Redis's 64 KiB ([`REDIS_INLINE_MAX`]).
    pub max_inline: usize,
}

/// Redis's cap on an inline request (`PROTO_INLINE_MAX_SIZE`).
pub const REDIS_INLINE_MAX: usize = 64 * 1024;

impl Limits {
    /// Longest line-protocol request line: `PUT ` + key + ` ` + value + `\r\n`.
    pub fn max_line(&self) -> usize {
        self.max_key_size + self.max_line_value + 8
    }
}

impl Default for Limits {
    fn default() -> Self {
        let (max_key_size, max_value_size) = (256, 256 * 1024);
        let max_inline = max_key_size + max_value_size + 8;
        let max_line_value = max_value_size;
        Limits { max_key_size, max_value_size, max_line_value, max_args: 1024 * 1024, max_inline }
    }
}

/// Outcome of one parse attempt over the front of a buffer.
#[derive(Debug, PartialEq)]
pub enum Parsed<'a> {
    /// A whole request was parsed; it used the first `consumed` bytes.
    Command {
        /// The request.
        command: Command<'a>,
        /// Bytes of input it occupied.
        consumed: usize,
    },
    /// A whole request was read but is invalid. Answer `error` and drop the
    /// first `consumed` bytes; the connection stays usable.
    Invalid {
        /// Why it was refused.
        error: CommandError,
        /// Bytes of input it occupied.
        consumed: usize,
    },
    /// The request at the front is over a limit and not yet complete: answer
    /// `error` once, then discard input through the end of the request as it
    /// streams in, without buffering it: `skip` bytes counted from the start
    /// of the buffer (RESP), or, when `skip` is `None` (line protocol),
    /// everything up to and including the next `\n` (which may already be in
    /// the buffer: the parser returns this before a complete over-long line
    /// has arrived, or as soon as the line's start proves it invalid).
    Oversized {
        /// Why it was refused.
        error: CommandError,
        /// Exact bytes to discard (RESP bulk), or `None` for "up to and
        /// including the next newline" (line protocol).
        skip: Option<usize>,
    },
    /// An inline request with an argument that needed unescaping (a quoted
    /// one with backslash escapes, or a quoted part joined to a bare prefix,
    /// as Redis allows): `request` is the same request re-encoded as a
    /// multibulk frame. Parse that and handle what it yields in place of
    /// this, then drop the first `consumed` bytes of input.
    Rewritten {
        /// The request as a complete multibulk frame.
        request: Vec<u8>,
        /// Bytes of input the inline request occupied.
        consumed: usize,
    },
    /// The input cannot be framed at all (RESP only): answer `error`, then
    /// close the connection, as Redis does on a protocol error.
    Fatal {
        /// What was wrong with the framing.
        error: CommandError,
    },
    /// The first `consumed` bytes carry no request (empty lines, RESP `*0`
    /// and `*-1`, which Redis ignores too): drop them and reply nothing.
    Ignored {
        /// Bytes to drop.
        consumed: usize,
    },
    /// More bytes are needed.
    Incomplete,
}

impl<'a> Parsed<'a> {
    /// What parsing a [`Parsed::Rewritten`] request yielded, as the outcome
    /// of the inline request it stands for, which took `consumed` bytes of
    /// input. The frame is complete, so a bulk over a limit is simply an
    /// invalid request, and it holds at least one argument, so it is never
    /// incomplete, empty or rewritten again.
    pub fn in_place_of(self, consumed: usize) -> Parsed<'a> {
        match self {
            Parsed::Command { command, .. } => Parsed::Command { command, consumed },
            Parsed::Invalid { error, .. } | Parsed::Oversized { error, .. } => {
                Parsed::Invalid { error, consumed }
            }
            Parsed::Fatal { error } => Parsed::Fatal { error },
            Parsed::Ignored { .. } | Parsed::Incomplete | Parsed::Rewritten { .. } => {
                Parsed::Ignored { consumed }
            }
        }
    }
}

/// Discarding the rest of an oversized request as it streams in
/// ([`Parsed::Oversized`]), so it is never buffered whole. The server's
/// connections and the test drivers that replay them share this.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Skip {
    /// Not skipping.
    #[default]
    Nothing,
    /// Discard through the next `\n`.
    Line,
    /// Discard this many more bytes.
    Bytes(usize),
}

impl Skip {
    /// The skip that [`Parsed::Oversized`]'s `skip` field asks for.
    pub fn after_oversized(skip: Option<usize>) -> Skip {
        skip.map_or(Skip::Line, Skip::Bytes)
    }

    /// How many bytes at the front of `pending` still belong to the request
    /// being skipped; drop them. Becomes [`Skip::Nothing`] once the whole
    /// request has gone by.
    pub fn consume(&mut self, pending: &[u8]) -> usize {
        match *self {
            Skip::Nothing => 0,
            Skip::Line => match memchr::memchr(b'\n', pending) {
                Some(end) => {
                    *self = Skip::Nothing;
                    end + 1
                }
                None => pending.len(),
            },
            Skip::Bytes(left) => {
                let n = left.min(pending.len());
                *self = if n == left { Skip::Nothing } else { Skip::Bytes(left - n) };
                n
            }
        }
    }
}

#[cfg(test)]
mod skip_tests {
    use super::Skip;

    #[test]
    fn line_skip_ends_after_the_newline() {
        let mut skip = Skip::after_oversized(None);
        assert_eq!(skip.consume(b"aaaa"), 4);
        assert_eq!(skip, Skip::Line);
        assert_eq!(skip.consume(b"aa\nGET k\n"), 3);
        assert_eq!(skip, Skip::Nothing);
        assert_eq!(skip.consume(b"GET k\n"), 0);
    }

    #[test]
    fn byte_skip_counts_across_reads() {
        let mut skip = Skip::after_oversized(Some(5));
        assert_eq!(skip.consume(b"abc"), 3);
        assert_eq!(skip, Skip::Bytes(2));
        assert_eq!(skip.consume(b""), 0);
        assert_eq!(skip.consume(b"de*1\r\n"), 2);
        assert_eq!(skip, Skip::Nothing);
    }
}

#[cfg(test)]
mod proptests;
