//! Deterministic keys, values and random numbers.
//!
//! Every value is a pure function of (key, version, length): one marker
//! byte `=`, the version in four base-64 digits, then bytes taken from a
//! fixed 4 MiB pool of printable characters at an offset hashed from key
//! and version. A GET reply can therefore be checked byte for byte without
//! remembering what was written, and the values never contain a space,
//! `\r` or `\n`, so they travel over the line protocol too. Large values
//! are sent straight from the pool, never copied.

use std::sync::OnceLock;

/// Bytes of the version header at the front of every value.
pub const HEADER: usize = 5;
/// Characters values are made of (64, so one draw of 6 bits picks one).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/// Size of the shared value pool.
const POOL: usize = 4 << 20;
/// Largest value the generator can produce.
pub const MAX_VALUE: usize = 1 << 20;
/// Versions wrap at this (24 bits in four base-64 digits).
pub const VERSION_MASK: u32 = (1 << 24) - 1;

fn pool() -> &'static [u8] {
    static POOL_BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    POOL_BYTES.get_or_init(|| {
        let mut rng = Rng::new(0x5eed_ca9c);
        let mut bytes = Vec::with_capacity(POOL);
        while bytes.len() < POOL {
            let mut r = rng.next();
            for _ in 0..8 {
                bytes.push(ALPHABET[(r & 63) as usize]);
                r >>= 8;
            }
        }
        bytes
    })
}

/// splitmix64's finaliser: a good 64-bit mix.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small, fast, seedable generator (splitmix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed ^ 0x9e37_79b9_7f4a_7c15))
    }
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The key for index `i`: `prefix` then `i` in decimal, zero-padded to
/// `size`.
pub fn key(prefix: u8, i: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    out.push(prefix);
    let digits = i.to_string();
    let pad = size.saturating_sub(1 + digits.len());
    out.extend(std::iter::repeat_n(b'0', pad));
    out.extend_from_slice(digits.as_bytes());
}

/// The value of `key` at `version`, `len` bytes long, as a header (up to
/// [`HEADER`] bytes) and a body borrowed from the pool.
pub fn value(key: u64, version: u32, len: usize) -> ([u8; HEADER], usize, &'static [u8]) {
    let v = version & VERSION_MASK;
    let mut header = [b'='; HEADER];
    for (i, h) in header[1..].iter_mut().enumerate() {
        *h = ALPHABET[((v >> (18 - 6 * i)) & 63) as usize];
    }
    let head = len.min(HEADER);
    let body = len - head;
    let pool = pool();
    let offset = (mix(key.wrapping_mul(0x100_0000_01b3) ^ u64::from(v)) % (POOL - MAX_VALUE) as u64)
        as usize;
    (header, head, &pool[offset..offset + body])
}

/// The version written in a value's header, if it has one.
pub fn version_of(value: &[u8]) -> Option<u32> {
    if value.len() < HEADER || value[0] != b'=' {
        return None;
    }
    let mut v = 0u32;
    for &c in &value[1..HEADER] {
        let d = ALPHABET.iter().position(|&a| a == c)? as u32;
        v = (v << 6) | d;
    }
    Some(v)
}

/// True when `got` is exactly the value of `key` at `version`, `len` bytes.
pub fn matches(got: &[u8], key: u64, version: u32, len: usize) -> bool {
    if got.len() != len {
        return false;
    }
    let (header, head, body) = value(key, version, len);
    got[..head] == header[..head] && &got[head..] == body
}

/// Zipf-distributed ranks in `1..=n` with exponent `s`, by rejection
/// inversion (Hörmann and Derflinger 1996, as in Apache Commons RNG):
/// O(1) memory and time per draw, exact for any `n`.
#[derive(Debug, Clone)]
pub struct Zipf {
    n: f64,
    s: f64,
    h_x1: f64,
    h_n: f64,
    cut: f64,
}

impl Zipf {
    /// The distribution over `1..=n` (`n >= 1`, `s > 0`).
    pub fn new(n: u64, s: f64) -> Zipf {
        let n = n as f64;
        let mut z = Zipf { n, s, h_x1: 0.0, h_n: 0.0, cut: 0.0 };
        z.h_x1 = z.h_integral(1.5) - 1.0;
        z.h_n = z.h_integral(n + 0.5);
        z.cut = 2.0 - z.h_integral_inverse(z.h_integral(2.5) - z.h(2.0));
        z
    }

    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.s) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let mut t = x * (1.0 - self.s);
        if t < -1.0 {
            t = -1.0;
        }
        (helper1(t) * x).exp()
    }

    /// One rank in `1..=n`.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_n + rng.unit() * (self.h_x1 - self.h_n);
            let x = self.h_integral_inverse(u);
            let k = (x + 0.5).floor().clamp(1.0, self.n);
            if k - x <= self.cut || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }
}

/// `ln(1 + x) / x`, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 { x.ln_1p() / x } else { 1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x)) }
}

/// `(exp(x) - 1) / x`, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fixed_width() {
        let mut k = Vec::new();
        key(b'k', 42, 16, &mut k);
        assert_eq!(k, b"k000000000000042");
        key(b'k', 7, 2, &mut k);
        assert_eq!(k, b"k7");
    }

    #[test]
    fn values_round_trip_and_differ() {
        for len in [0, 1, 5, 6, 10, 100, 4096, 262_144] {
            let (h, head, body) = value(9, 77, len);
            let mut v = h[..head].to_vec();
            v.extend_from_slice(body);
            assert_eq!(v.len(), len);
            assert!(matches(&v, 9, 77, len));
            assert!(!v.contains(&b'\n') && !v.contains(&b' ') && !v.contains(&b'\r'));
            if len >= HEADER {
                assert_eq!(version_of(&v), Some(77));
            }
            if len >= 10 {
                assert!(!matches(&v, 10, 77, len));
                assert!(!matches(&v, 9, 78, len));
                let mut bad = v.clone();
                bad[len - 1] ^= 1;
                assert!(!matches(&bad, 9, 77, len));
            }
        }
        assert_eq!(version_of(&value(1, VERSION_MASK, 10).0), Some(VERSION_MASK));
    }

    #[test]
    fn zipf_matches_the_exact_distribution() {
        let (n, s) = (50u64, 0.99);
        let z = Zipf::new(n, s);
        let mut rng = Rng::new(3);
        let draws = 400_000;
        let mut counts = vec![0u64; n as usize + 1];
        for _ in 0..draws {
            let k = z.sample(&mut rng);
            assert!((1..=n).contains(&k));
            counts[k as usize] += 1;
        }
        let norm: f64 = (1..=n).map(|k| (k as f64).powf(-s)).sum();
        for k in [1u64, 2, 5, 20, 50] {
            let want = (k as f64).powf(-s) / norm;
            let got = counts[k as usize] as f64 / draws as f64;
            assert!((got - want).abs() < 0.1 * want + 0.001, "rank {k}: {got} vs {want}");
        }
    }
}
