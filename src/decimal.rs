//! Decimal integers as Redis reads them. The one parser for every place
//! capkv turns bytes into an `i64`: RESP length headers and integer
//! arguments (`protocol`), and the stored values `INCR` works on (`store`).
//! Pure: no allocation, no I/O, no dependency on the rest of the crate.

/// Longest accepted text: `-9223372036854775808` is 20 characters.
const MAX_LEN: usize = 20;

/// Redis's `string2ll`: an optional `-`, then `0` alone or a digit 1-9
/// followed by digits, at most 20 characters, no `+`, no spaces, no leading
/// zeros, no `-0`, within `i64`.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > MAX_LEN {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut value = u64::from(first - b'0');
    for &d in rest {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        // `i64::MIN` has magnitude `i64::MAX + 1`.
        if value > i64::MAX as u64 + 1 {
            return None;
        }
        Some((value as i64).wrapping_neg())
    } else {
        i64::try_from(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_i64_matches_redis_rules() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in
            [&b""[..], b"-", b"+1", b" 1", b"1 ", b"01", b"-0", b"9223372036854775808", b"1a"]
        {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn parse_i64_is_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b"-01",
            b"1a",
            b" 1",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"123456789012345678901",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }
}
