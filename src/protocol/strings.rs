//! The string commands' own argument types and error texts (GETRANGE ...
//! BITPOS), kept out of the shared command and error lists so that one
//! variant there ([`CommandError::Strings`](super::CommandError::Strings))
//! covers them all.

/// A string command's refusal, with Redis 7's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringsError {
    /// SETRANGE with a negative offset.
    OffsetOutOfRange,
    /// SETBIT/GETBIT offset not an integer, negative, or past the largest
    /// value (`--max-value-size`, Redis's `proto-max-bulk-len`).
    BitOffset,
    /// SETBIT with a bit that is not 0 or 1.
    BitValue,
    /// BITPOS with a bit that is not 0 or 1.
    BitArgument,
    /// INCRBYFLOAT on a value, or with an increment, that is not a float.
    NotAFloat,
    /// INCRBYFLOAT whose result is not finite.
    NanOrInfinity,
    /// LCS with both LEN and IDX.
    LcsLenAndIdx,
    /// LCS whose table would be larger than `--max-value-size`.
    LcsTooLarge,
    /// BITOP NOT with more than one source key.
    BitOpNotArity,
}

impl StringsError {
    /// The RESP error text (without `-` and CRLF).
    pub fn resp_text(self) -> &'static str {
        match self {
            StringsError::OffsetOutOfRange => "ERR offset is out of range",
            StringsError::BitOffset => "ERR bit offset is not an integer or out of range",
            StringsError::BitValue => "ERR bit is not an integer or out of range",
            StringsError::BitArgument => "ERR The bit argument must be 1 or 0.",
            StringsError::NotAFloat => "ERR value is not a valid float",
            StringsError::NanOrInfinity => "ERR increment would produce NaN or Infinity",
            StringsError::LcsLenAndIdx => {
                "ERR If you want both the length and indexes, please just use IDX."
            }
            StringsError::LcsTooLarge => {
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
            }
            StringsError::BitOpNotArity => "ERR BITOP NOT must be called with a single source key.",
        }
    }

    /// The line-protocol error line (never sent today: the line protocol
    /// has none of these commands).
    pub fn line_text(self) -> &'static str {
        match self {
            StringsError::OffsetOutOfRange | StringsError::BitOffset => "ERROR offset out of range",
            StringsError::BitValue | StringsError::BitArgument => "ERROR bit must be 0 or 1",
            StringsError::NotAFloat => "ERROR not a float",
            StringsError::NanOrInfinity => "ERROR result not finite",
            StringsError::LcsLenAndIdx => "ERROR incompatible options",
            StringsError::LcsTooLarge => "ERROR out of memory",
            StringsError::BitOpNotArity => "ERROR wrong number of arguments",
        }
    }
}

/// BITOP's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOperation {
    /// Bitwise AND; a missing or shorter source counts as zero bytes.
    And,
    /// Bitwise OR.
    Or,
    /// Bitwise XOR.
    Xor,
    /// Bitwise NOT of the single source.
    Not,
}

/// The range argument of BITCOUNT or BITPOS, parsed but not yet clamped
/// (that needs the value's length). Redis looks the key up before it
/// parses these arguments, so a missing key answers 0 (or BITPOS's
/// default) whatever they are: the parser keeps their error in a
/// [`BitRangeError`] for the executor to answer only when the key exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitRange {
    /// No range: the whole value.
    Whole,
    /// BITCOUNT with `start` and `end` both negative and `start > end`:
    /// Redis answers 0 before looking at the BYTE|BIT argument.
    Empty,
    /// A range. `end` is `None` for BITPOS without one (the value is then
    /// taken as padded with zero bits on the right).
    Span {
        /// First index (byte or bit), negative from the end.
        start: i64,
        /// Last index, inclusive.
        end: Option<i64>,
        /// `BIT`: the indexes count bits, not bytes.
        bits: bool,
    },
}

/// A BITCOUNT/BITPOS range argument Redis would refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitRangeError {
    /// `value is not an integer or out of range`.
    NotAnInteger,
    /// `syntax error` (too many arguments, or neither BYTE nor BIT).
    Syntax,
}

/// `LCS` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LcsOptions {
    /// `LEN`: reply with the length only.
    pub len: bool,
    /// `IDX`: reply with the matching ranges.
    pub idx: bool,
    /// `MINMATCHLEN n` (negative counts as 0): ranges shorter are left out.
    pub min_match_len: u64,
    /// `WITHMATCHLEN`: each range with its length.
    pub with_match_len: bool,
}

#[cfg(test)]
mod tests {
    use super::super::CommandError;
    use super::*;

    #[test]
    fn texts_are_redis_7s() {
        // As redis-server 7.0.15 sends them.
        let cases: &[(StringsError, &[u8])] = &[
            (StringsError::OffsetOutOfRange, b"-ERR offset is out of range\r\n"),
            (StringsError::BitOffset, b"-ERR bit offset is not an integer or out of range\r\n"),
            (StringsError::BitValue, b"-ERR bit is not an integer or out of range\r\n"),
            (StringsError::BitArgument, b"-ERR The bit argument must be 1 or 0.\r\n"),
            (StringsError::NotAFloat, b"-ERR value is not a valid float\r\n"),
            (StringsError::NanOrInfinity, b"-ERR increment would produce NaN or Infinity\r\n"),
            (
                StringsError::LcsLenAndIdx,
                b"-ERR If you want both the length and indexes, please just use IDX.\r\n",
            ),
            (
                StringsError::LcsTooLarge,
                b"-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n",
            ),
            (
                StringsError::BitOpNotArity,
                b"-ERR BITOP NOT must be called with a single source key.\r\n",
            ),
        ];
        for &(error, want) in cases {
            let mut out = Vec::new();
            CommandError::Strings(error).write_resp(&mut out);
            assert_eq!(out, want, "{error:?}");
            assert!(CommandError::Strings(error).line_text().starts_with("ERROR "));
            assert!(!CommandError::Strings(error).closes_connection());
        }
    }
}
