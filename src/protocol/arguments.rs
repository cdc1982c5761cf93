//! A request's arguments re-read from its raw bytes, for the rare paths
//! that need them as a list (the slowlog): a parsed
//! [`Command`](super::Command) borrows its arguments from the input but
//! keeps no list of them.

use super::Dialect;
use super::command::Args;
use super::inline::next_token;

/// The first `most` arguments of the request that `raw` holds whole (as
/// the parser accepted it), and how many it has in all.
///
/// Inline arguments are their bytes between the quotes, escapes not
/// undone; a line-protocol request is its command, key and the rest of
/// the line (the value, spaces included).
pub fn request_args(dialect: Dialect, raw: &[u8], most: usize) -> (Vec<&[u8]>, usize) {
    if dialect.is_resp() && raw.first() == Some(&b'*') {
        let digits = raw[1..].iter().take_while(|d| d.is_ascii_digit()).count();
        let argc = std::str::from_utf8(&raw[1..1 + digits])
            .ok()
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        let body = raw.get(1 + digits + 2..).unwrap_or_default();
        return (Args::resp(body, argc).iter().take(most).collect(), argc);
    }
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if !dialect.is_resp() {
        let args: Vec<&[u8]> = line.splitn(3, |&b| b == b' ').take(most).collect();
        let argc = args.len();
        return (args, argc);
    }
    let (mut args, mut argc, mut at) = (Vec::new(), 0, 0);
    while let Ok(Some(token)) = next_token(line, at) {
        if args.len() < most {
            args.push(&line[token.start..token.end]);
        }
        argc += 1;
        at = token.next;
    }
    (args, argc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::encode_command;

    #[test]
    fn arguments_of_each_dialect() {
        let mut raw = Vec::new();
        encode_command(&["SET", "k", "a b"], &mut raw);
        let want: Vec<&[u8]> = vec![b"SET", b"k", b"a b"];
        assert_eq!(request_args(Dialect::Resp2, &raw, 32), (want, 3));
        assert_eq!(request_args(Dialect::Resp2, &raw, 1), (vec![&b"SET"[..]], 3));
        let inline = b"set k \"a b\"\r\n";
        assert_eq!(request_args(Dialect::Resp3, inline, 32).1, 3);
        assert_eq!(request_args(Dialect::Resp3, inline, 32).0[2], b"a b");
        let line = b"PUT k a value with spaces\r\n";
        let want: Vec<&[u8]> = vec![b"PUT", b"k", b"a value with spaces"];
        assert_eq!(request_args(Dialect::Line, line, 32), (want, 3));
    }
}
