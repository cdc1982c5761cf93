//! Passwords are kept only as SHA-256 digests (as Redis keeps them, and
//! as `ACL LIST` shows them), and compared in constant time: comparing
//! digests byte by byte with an early exit would tell a client, through
//! the reply's timing, how many leading bytes of the digest it guessed.
//! Hashing first also makes the comparison's length independent of the
//! password's.

use sha2::{Digest as _, Sha256};

/// A password's SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest(pub [u8; 32]);

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Digest(#{})", self.hex())
    }
}

impl Digest {
    /// The digest of `password`.
    pub fn of(password: &[u8]) -> Digest {
        Digest(Sha256::digest(password).into())
    }

    /// Parses Redis's `#<hash>` form: exactly 64 lower-case hex digits.
    pub fn from_hex(hex: &[u8]) -> Option<Digest> {
        if hex.len() != 64 {
            return None;
        }
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
            *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Digest(out))
    }

    /// The 64 lower-case hex digits.
    pub fn hex(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(s, "{b:02x}");
        }
        s
    }

    /// Equality whose running time does not depend on where the digests
    /// differ: every byte is compared, the differences are OR-ed together
    /// and only the total is tested. `black_box` keeps the optimiser from
    /// turning the loop back into an early exit.
    pub fn ct_eq(&self, other: &Digest) -> bool {
        let mut diff = 0u8;
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            diff |= a ^ b;
        }
        std::hint::black_box(diff) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::Digest;

    #[test]
    fn digest_is_sha256_in_redis_hex() {
        // `echo -n foobared | sha256sum`, the hash Redis's ACL tests use.
        let hex = "1b58ee375b42e41f0e48ef2ff27d10a5b1f6924a9acdcdba7cae868e7adce6bf";
        assert_eq!(Digest::of(b"foobared").hex(), hex);
        assert_eq!(Digest::from_hex(hex.as_bytes()), Some(Digest::of(b"foobared")));
        assert_eq!(Digest::from_hex(hex.to_uppercase().as_bytes()), None, "lower case only");
        assert_eq!(Digest::from_hex(&hex.as_bytes()[1..]), None, "exactly 64 digits");
        assert_eq!(Digest::from_hex(b"zz"), None);
    }

    #[test]
    fn constant_time_equality() {
        let a = Digest::of(b"secret");
        assert!(a.ct_eq(&Digest::of(b"secret")));
        assert!(!a.ct_eq(&Digest::of(b"secreT")));
        // A difference in the first byte and one in the last are both seen.
        let mut first = a;
        first.0[0] ^= 1;
        let mut last = a;
        last.0[31] ^= 0x80;
        assert!(!a.ct_eq(&first));
        assert!(!a.ct_eq(&last));
    }
}
