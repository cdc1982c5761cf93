//! Redis inline commands: one request per line, arguments split on spaces,
//! optionally quoted (`SET k "hello world"`), as `sdssplitargs` does.
//!
//! capkv borrows every argument from the read buffer, which works for the
//! arguments whose bytes appear verbatim in the line: bare words, and a
//! whole argument in `"..."` or `'...'` without backslash escapes (the
//! common case, and the only one on the hot path). An argument that needs
//! unescaping (`"a\nb"`, `"\x41"`, `'it\'s'`, or `a"b c"`, a quoted part
//! joined to a bare prefix) is undone by [`unescape`] into a fresh buffer,
//! and the parser hands the connection the whole request re-encoded as a
//! multibulk frame ([`Parsed::Rewritten`](super::Parsed::Rewritten)). That
//! path is rare, so its allocation costs nothing that matters, and every
//! command sees exactly the arguments Redis would. Lines Redis refuses
//! (unterminated quote, closing quote followed by a non-space) are refused
//! identically.

/// One argument found in an inline line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    /// The argument is `line[start..end]` (when `verbatim`).
    pub(crate) start: usize,
    /// End of the argument's bytes.
    pub(crate) end: usize,
    /// Where scanning for the next argument resumes.
    pub(crate) next: usize,
    /// False when the argument needs unescaping or joins quoted and
    /// unquoted parts: its bytes are not a contiguous run of the line.
    pub(crate) verbatim: bool,
}

/// The line cannot be split: Redis's "unbalanced quotes".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unbalanced;

/// C's `isspace`: what `sdssplitargs` skips between arguments and requires
/// after a closing quote.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// What ends an unquoted argument in `sdssplitargs` (NUL too, but callers
/// cut lines at the first NUL, as Redis's C-string handling does).
fn ends_unquoted(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Finds the next argument of `line` at or after `pos`, or `None` at the
/// end of the line. Mirrors `sdssplitargs` state for state so that exactly
/// the same lines are refused.
pub(crate) fn next_token(line: &[u8], pos: usize) -> Result<Option<Token>, Unbalanced> {
    let mut p = pos;
    while p < line.len() && is_space(line[p]) {
        p += 1;
    }
    if p >= line.len() {
        return Ok(None);
    }
    let quote = line[p];
    if quote == b'"' || quote == b'\'' {
        let (close, escaped) = scan_quoted(line, p + 1, quote)?;
        return Ok(Some(Token { start: p + 1, end: close, next: close + 1, verbatim: !escaped }));
    }
    let start = p;
    while p < line.len() {
        match line[p] {
            b if ends_unquoted(b) => break,
            q @ (b'"' | b'\'') => {
                // A quote inside an argument starts a quoted part that is
                // joined to the unquoted prefix: valid for Redis, but the
                // quote characters sit between the bytes.
                let (close, _) = scan_quoted(line, p + 1, q)?;
                return Ok(Some(Token { start, end: close, next: close + 1, verbatim: false }));
            }
            _ => p += 1,
        }
    }
    Ok(Some(Token { start, end: p, next: p, verbatim: true }))
}

/// Scans a quoted part starting just after its opening `quote`. Returns the
/// index of the closing quote and whether an escape was seen.
fn scan_quoted(line: &[u8], mut i: usize, quote: u8) -> Result<(usize, bool), Unbalanced> {
    let mut escaped = false;
    loop {
        let Some(&c) = line.get(i) else { return Err(Unbalanced) };
        if c == b'\\' {
            let next = line.get(i + 1).copied();
            if quote == b'"' && next.is_some() {
                escaped = true;
                let hex = |at: usize| line.get(at).is_some_and(u8::is_ascii_hexdigit);
                i += if next == Some(b'x') && hex(i + 2) && hex(i + 3) { 4 } else { 2 };
                continue;
            }
            if quote == b'\'' && next == Some(b'\'') {
                escaped = true;
                i += 2;
                continue;
            }
            // A lone backslash is literal.
            i += 1;
            continue;
        }
        if c == quote {
            if line.get(i + 1).is_some_and(|&b| !is_space(b)) {
                return Err(Unbalanced);
            }
            return Ok((i, escaped));
        }
        i += 1;
    }
}

/// Appends the bytes `token` (an argument of `line`) stands for to `out`,
/// undoing `sdssplitargs`'s quoting: inside `"..."` the escapes `\xHH`,
/// `\n`, `\r`, `\t`, `\b`, `\a` and `\<byte>` (that byte); inside `'...'`
/// only `\'`.
pub(crate) fn unescape(line: &[u8], token: Token, out: &mut Vec<u8>) {
    let mut i = token.start;
    if token.verbatim {
        out.extend_from_slice(&line[i..token.end]);
        return;
    }
    // Arguments are separated by whitespace, so the byte before one is a
    // quote only when the argument is quoted from its first byte; else a
    // bare prefix runs up to the quote that opens its quoted part.
    let quote = match i.checked_sub(1).map(|q| line[q]) {
        Some(q @ (b'"' | b'\'')) => q,
        _ => {
            while i < token.end && !matches!(line[i], b'"' | b'\'') {
                out.push(line[i]);
                i += 1;
            }
            let q = line.get(i).copied().unwrap_or(b'"');
            i += 1;
            q
        }
    };
    let hex = |at: usize| line.get(at).and_then(|&b| char::from(b).to_digit(16));
    while i < token.end {
        let c = line[i];
        let next = line.get(i + 1).copied();
        if c == b'\\' && quote == b'"' {
            if let (Some(b'x'), Some(high), Some(low)) = (next, hex(i + 2), hex(i + 3)) {
                out.push((high * 16 + low) as u8);
                i += 4;
                continue;
            }
            out.push(match next {
                Some(b'n') => b'\n',
                Some(b'r') => b'\r',
                Some(b't') => b'\t',
                Some(b'b') => 0x08,
                Some(b'a') => 0x07,
                Some(other) => other,
                None => c,
            });
            i += 2;
            continue;
        }
        if c == b'\\' && quote == b'\'' && next == Some(b'\'') {
            out.push(b'\'');
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a whole line: `Err` for unbalanced, `None` for an argument
    /// that is not verbatim.
    fn split(line: &[u8]) -> Result<Vec<Option<&[u8]>>, Unbalanced> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(t) = next_token(line, pos)? {
            out.push(t.verbatim.then(|| &line[t.start..t.end]));
            pos = t.next;
        }
        Ok(out)
    }

    #[test]
    fn plain_words() {
        assert_eq!(split(b"  SET  k\tv  ").unwrap(), [Some(&b"SET"[..]), Some(b"k"), Some(b"v")]);
        assert_eq!(split(b"").unwrap(), Vec::<Option<&[u8]>>::new());
        assert_eq!(split(b" \x0b\x0c ").unwrap(), Vec::<Option<&[u8]>>::new());
        // Vertical tab is skipped between arguments but does not end one.
        assert_eq!(split(b"a\x0bb").unwrap(), [Some(&b"a\x0bb"[..])]);
    }

    #[test]
    fn quoted_words() {
        assert_eq!(
            split(br#"SET "hello world" 'it x' """#).unwrap(),
            [Some(&b"SET"[..]), Some(b"hello world"), Some(b"it x"), Some(b"")]
        );
        // A lone backslash in single quotes is literal.
        assert_eq!(split(br"'a\b'").unwrap(), [Some(&br"a\b"[..])]);
    }

    #[test]
    fn escapes_are_not_verbatim() {
        assert_eq!(split(br#""a\nb" c"#).unwrap(), [None, Some(&b"c"[..])]);
        assert_eq!(split(br#""\x41""#).unwrap(), [None]);
        assert_eq!(split(br"'it\'s'").unwrap(), [None]);
        assert_eq!(split(br#"a"b c" d"#).unwrap(), [None, Some(&b"d"[..])]);
    }

    /// Every argument as `sdssplitargs` would return it.
    fn unescaped(line: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut pos = 0;
        while let Some(t) = next_token(line, pos).unwrap() {
            let mut arg = Vec::new();
            unescape(line, t, &mut arg);
            out.push(arg);
            pos = t.next;
        }
        out
    }

    #[test]
    fn unescapes_like_sdssplitargs() {
        let args = unescaped(br#"SET "a\nb\r\t\b\a" "\x41\x4a\x4" '\'' 'a\b' x"y z" "\"\\q""#);
        let expected: [&[u8]; 7] =
            [b"SET", b"a\nb\r\t\x08\x07", b"AJx4", b"'", br"a\b", b"xy z", br#""\q"#];
        assert_eq!(args, expected);
        // A bare prefix joined to a single-quoted part, and to an empty one.
        assert_eq!(unescaped(br"k'v\'w' a''"), [&b"kv'w"[..], b"a"]);
        // Verbatim arguments come out unchanged.
        assert_eq!(unescaped(br#"GET "k v" plain"#), [&b"GET"[..], b"k v", b"plain"]);
    }

    #[test]
    fn unbalanced_like_redis() {
        assert_eq!(split(br#"GET "abc"#), Err(Unbalanced));
        assert_eq!(split(br#"GET "abc"x"#), Err(Unbalanced));
        assert_eq!(split(br"GET 'abc"), Err(Unbalanced));
        assert_eq!(split(br#"GET "abc\"#), Err(Unbalanced));
        assert_eq!(split(br#"a"b"#), Err(Unbalanced));
    }
}
