//! Redis's glob patterns (`stringmatchlen` in Redis's `util.c`): `*`, `?`,
//! `[abc]`, `[^abc]`, `[a-z]` and `\` escapes, byte for byte, optionally
//! ignoring ASCII case.
//!
//! A crate-level module because more than one layer matches Redis globs:
//! ACL key patterns today, KEYS and SCAN MATCH (client-supplied patterns)
//! later. That is why it is not a port of Redis's recursion, which is
//! exponential on patterns like `a*a*a*a*b`: a `*` here only remembers
//! where it started, and a mismatch resumes one byte later from the last
//! `*` seen. Every other element consumes exactly one byte, so resuming
//! from the last `*` alone finds a match whenever one exists, in
//! `O(pattern * text)` steps at worst.
//!
//! Redis's quirks are kept so that a pattern means here what it means
//! there:
//! - an empty text matches only the empty pattern (`*` does not match
//!   `""`: Redis's loop never runs on an empty string);
//! - an unterminated `[` class ends with the pattern (`[ab` is `[ab]`);
//! - in a class, `a-z` may be written backwards (`z-a`), a `\` escapes the
//!   next byte (compared without folding case, as Redis does), and `]`
//!   right after `[` closes an empty class.
//! - a match that must pass more than [`MAX_STARS`] `*` (runs of `*`
//!   count once; a trailing one does not count) fails, as Redis's
//!   recursion gives up past that depth (`KEYS` with `*?` 50,000 times
//!   matches nothing there, and here, in one pass over the pattern).

/// How many `*` a match may pass: Redis's `nesting` limit.
pub const MAX_STARS: usize = 1000;

/// True when `text` matches the glob `pattern` (see the module docs).
pub fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    if text.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut t) = (0, 0);
    // After the last `*` seen: where the rest of the pattern starts, and
    // the first text byte the `*` has not swallowed yet.
    let mut star: Option<(usize, usize)> = None;
    let mut stars = 0;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
            stars += 1;
            if stars > MAX_STARS {
                return false;
            }
            star = Some((p, t));
            continue;
        }
        if p < pattern.len() {
            let (ok, next) = one(pattern, p, text[t], nocase);
            if ok {
                p = next;
                t += 1;
                continue;
            }
        }
        match star {
            Some((after, swallowed)) => {
                star = Some((after, swallowed + 1));
                p = after;
                t = swallowed + 1;
            }
            None => return false,
        }
    }
    while pattern.get(p) == Some(&b'*') {
        p += 1;
    }
    p == pattern.len()
}

fn same(a: u8, b: u8, nocase: bool) -> bool {
    if nocase { a.eq_ignore_ascii_case(&b) } else { a == b }
}

/// Matches the one-byte element at `pattern[p]` (not `*`) against `c`;
/// returns whether it matched and where the next element starts.
fn one(pattern: &[u8], mut p: usize, c: u8, nocase: bool) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'[' => {
            p += 1;
            let not = pattern.get(p) == Some(&b'^');
            if not {
                p += 1;
            }
            let mut matched = false;
            loop {
                match pattern.get(p) {
                    // Unterminated: the class ends with the pattern.
                    None => return (matched != not, p),
                    Some(b'\\') if p + 1 < pattern.len() => {
                        p += 1;
                        matched |= pattern[p] == c;
                        p += 1;
                    }
                    Some(b']') => return (matched != not, p + 1),
                    Some(&start) if p + 2 < pattern.len() && pattern[p + 1] == b'-' => {
                        let end = pattern[p + 2];
                        let (mut lo, mut hi) = (start.min(end), start.max(end));
                        let mut c = c;
                        if nocase {
                            (lo, hi, c) = (
                                lo.to_ascii_lowercase(),
                                hi.to_ascii_lowercase(),
                                c.to_ascii_lowercase(),
                            );
                        }
                        matched |= (lo..=hi).contains(&c);
                        p += 3;
                    }
                    Some(&x) => {
                        matched |= same(x, c, nocase);
                        p += 1;
                    }
                }
            }
        }
        b'\\' if p + 1 < pattern.len() => (same(pattern[p + 1], c, nocase), p + 2),
        x => (same(x, c, nocase), p + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_STARS, matches};

    /// Redis's depth limit: 1,000 `*` may be passed, the 1,001st fails the
    /// match; a trailing `*` and a run of `*` do not add to the count.
    #[test]
    fn more_than_a_thousand_stars_match_nothing_as_in_redis() {
        let text = vec![b'a'; MAX_STARS + 1];
        let pattern = |stars: usize| b"*a".repeat(stars);
        assert!(matches(&pattern(MAX_STARS), &text[..MAX_STARS], false));
        assert!(!matches(&pattern(MAX_STARS + 1), &text, false));
        let mut trailing = pattern(MAX_STARS);
        trailing.extend_from_slice(b"***");
        assert!(matches(&trailing, &text, false));
        assert!(matches(&b"**a".repeat(MAX_STARS), &text[..MAX_STARS], false));
        // unit/keyspace.tcl: "Regression for pattern matching very long
        // nested loops".
        assert!(!matches(&b"*?".repeat(50_000), &vec![b'a'; 50_000], false));
    }

    fn m(pattern: &str, text: &str) -> bool {
        matches(pattern.as_bytes(), text.as_bytes(), false)
    }

    #[test]
    fn stars_and_questions() {
        assert!(m("*", "anything"));
        assert!(m("a*", "a"));
        assert!(m("a*", "abc"));
        assert!(m("*c", "abc"));
        assert!(m("a*c", "abbbc"));
        assert!(!m("a*c", "abcd"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("h*llo", "hllo"));
        assert!(m("a**b", "ab"));
        assert!(m("user:*:name", "user:1:name"));
        assert!(!m("user:*:name", "user:1:email"));
        assert!(!m("abc", "ab"));
        assert!(!m("ab", "abc"));
    }

    #[test]
    fn redis_quirks() {
        // Redis's loop never runs on an empty string.
        assert!(!m("*", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
        // An unterminated class ends with the pattern.
        assert!(m("[ab", "b"));
        assert!(!m("[", "a"));
        assert!(m("[^", "a"));
        // Empty class: matches nothing; negated: anything.
        assert!(!m("[]x", "x"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"), "ranges may be written backwards");
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        // As in Redis, `a-]` is a range (from `]` to `a`), not `a`, `-`
        // and the end of the class.
        assert!(!m("[a-]", "-"));
        assert!(m("[a-]", "_"));
    }

    #[test]
    fn escapes() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a\\?", "a?"));
        assert!(m("\\", "\\"), "a lone trailing backslash is a literal");
        assert!(m("\\[x]", "[x]"));
    }

    #[test]
    fn case_folding() {
        assert!(matches(b"MAX*", b"maxmemory", true));
        assert!(!matches(b"MAX*", b"maxmemory", false));
        assert!(matches(b"[A-C]x", b"bX", true));
    }

    #[test]
    fn no_exponential_backtracking() {
        let text = vec![b'a'; 4096];
        let pattern = b"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
        let start = std::time::Instant::now();
        assert!(!matches(pattern, &text, false));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    /// The same answers as a direct port of Redis's recursive matcher, on
    /// short inputs over a small alphabet where both finish quickly.
    #[test]
    fn agrees_with_redis_recursion() {
        fn redis(p: &[u8], s: &[u8]) -> bool {
            fn go(mut p: &[u8], mut s: &[u8]) -> bool {
                while !p.is_empty() && !s.is_empty() {
                    match p[0] {
                        b'*' => {
                            while p.len() > 1 && p[1] == b'*' {
                                p = &p[1..];
                            }
                            if p.len() == 1 {
                                return true;
                            }
                            while !s.is_empty() {
                                if go(&p[1..], s) {
                                    return true;
                                }
                                s = &s[1..];
                            }
                            return false;
                        }
                        _ => {
                            let (ok, next) = super::one(p, 0, s[0], false);
                            if !ok {
                                return false;
                            }
                            p = &p[next - 1..];
                            s = &s[1..];
                        }
                    }
                    p = &p[1..];
                    if s.is_empty() {
                        while p.first() == Some(&b'*') {
                            p = &p[1..];
                        }
                        break;
                    }
                }
                p.is_empty() && s.is_empty()
            }
            go(p, s)
        }
        let alphabet = [b'a', b'b', b'*', b'?', b'[', b']', b'^', b'-', b'\\'];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        for _ in 0..20_000 {
            let plen = next(7);
            let slen = next(6);
            let p: Vec<u8> = (0..plen).map(|_| alphabet[next(alphabet.len())]).collect();
            let s: Vec<u8> = (0..slen).map(|_| alphabet[next(3)]).collect();
            assert_eq!(matches(&p, &s, false), redis(&p, &s), "{:?} vs {:?}", p, s);
        }
    }
}
