//! The one request encoder the library keeps: any command as a RESP
//! multibulk. The server never sends requests; the tests, the criterion
//! benches, the property tests and the load driver (`capkv-bench`, its own
//! crate with its own wire client) all build RESP requests with this, so
//! every one of them frames a request the same way.

use super::reply::push_unsigned;

/// Appends any command as a RESP multibulk request: `*<n>`, then `$<len>`
/// and the bytes of each argument.
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    out.push(b'*');
    push_unsigned(args.len() as u64, out);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        let arg = arg.as_ref();
        out.push(b'$');
        push_unsigned(arg.len() as u64, out);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::encode_command;

    #[test]
    fn requests_are_exact_multibulks() {
        let mut out = Vec::new();
        encode_command(&[&b"GET"[..], b"key"], &mut out);
        encode_command(&[&b"DEL"[..], b"", b"k"], &mut out);
        encode_command(&["SET", "k", "0123456789"], &mut out);
        encode_command::<&[u8]>(&[], &mut out);
        let want: &[u8] = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n\
            *3\r\n$3\r\nDEL\r\n$0\r\n\r\n$1\r\nk\r\n\
            *3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\n0123456789\r\n\
            *0\r\n";
        assert_eq!(out, want);
    }
}
