//! The byte layout of one item inside a segment.
//!
//! ```text
//! +----------------------+-------------+------------------+-----+-------+
//! | varint(klen<<1 | t)  | varint(vlen)| expiry: u48 LE   | key | value |
//! | 1 byte if klen < 64  | 1 byte <128 | only when t == 1 |     |       |
//! +----------------------+-------------+------------------+-----+-------+
//! ```
//!
//! Why variable-length: at 16-byte keys and 100-byte values the whole header
//! is 2 bytes, where a fixed header (pelikan's is 5 bytes plus 8-byte
//! alignment) would cost 5 to 12. Items are not aligned: the bytes are read
//! and written explicitly, never cast to a struct, so alignment buys nothing.
//! The expiry (Unix milliseconds, 48 bits: good for 8,000 years) is only
//! present on items that were written with a deadline; an expiry of 0 means
//! "persisted after having had a deadline" and is treated as none.
//!
//! There is no "deleted" flag: an item is live exactly when the index still
//! points at it, so deletes and overwrites never touch segment memory.
//!
//! An overwrite whose new item is no longer than the old one, and at most
//! a few bytes shorter, is written over the old one in place
//! ([`write_exact`]): the value-length varint is padded with redundant
//! continuation bytes (`0x85 0x00` also reads as 5) so the item keeps its
//! exact length and the segment stays a gap-free run of items. A varint
//! may take up to 10 bytes, so a value may shrink by up to `10 -
//! varint_len(vlen)` bytes (8 at 100-byte values): counters and
//! fixed-format values, the overwrites that repeat most, always fit.

/// Bytes of the optional expiry field.
pub const EXPIRY_LEN: usize = 6;

/// Largest expiry representable (Unix milliseconds).
pub const MAX_EXPIRY_MS: u64 = (1 << 48) - 1;

/// Decoded header of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Key length in bytes.
    pub key_len: usize,
    /// Value length in bytes.
    pub value_len: usize,
    /// `Some(ms)` when the item carries an expiry field (0 = no deadline).
    pub expiry: Option<u64>,
    /// Length of the header itself (varints and expiry).
    pub header_len: usize,
}

impl Header {
    /// Total bytes of the item: header, key and value.
    pub fn item_len(&self) -> usize {
        self.header_len + self.key_len + self.value_len
    }

    /// Offset of the key, relative to the item start.
    pub fn key_start(&self) -> usize {
        self.header_len
    }

    /// Offset of the value, relative to the item start.
    pub fn value_start(&self) -> usize {
        self.header_len + self.key_len
    }

    /// The deadline, if the item has one (0 in the field means none).
    pub fn deadline(&self) -> Option<u64> {
        self.expiry.filter(|&ms| ms != 0)
    }
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut [u8], mut v: usize) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

/// Reads a varint at the start of `buf`; `None` if truncated or longer than
/// a `usize` can hold (never the case for bytes this module wrote).
fn get_varint(buf: &[u8]) -> Option<(usize, usize)> {
    let mut v: usize = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= ((b & 0x7f) as usize).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// Longest varint [`read_header`] accepts.
const MAX_VARINT_LEN: usize = 10;

/// Writes `v` in exactly `width` bytes (`varint_len(v) <= width <= 10`),
/// padding with continuation bytes that add zero bits.
fn put_varint_padded(out: &mut [u8], mut v: usize, width: usize) -> usize {
    debug_assert!(varint_len(v) <= width && width <= MAX_VARINT_LEN);
    for byte in out.iter_mut().take(width - 1) {
        *byte = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
    }
    out[width - 1] = v as u8;
    width
}

/// True when an item of minimal encoded length `new_len` with a value of
/// `value_len` bytes can be written with [`write_exact`] over an item of
/// `old_len` bytes.
pub fn fits_in_place(new_len: usize, value_len: usize, old_len: usize) -> bool {
    new_len <= old_len && old_len - new_len <= MAX_VARINT_LEN - varint_len(value_len)
}

/// Writes an item of exactly `len` bytes at the start of `out`, padding its
/// value-length varint; `len` must satisfy [`fits_in_place`] for the item's
/// [`encoded_len`]. Returns `len`.
pub fn write_exact(
    out: &mut [u8],
    key: &[u8],
    value: &[u8],
    expiry: Option<u64>,
    len: usize,
) -> usize {
    let minimal = encoded_len(key.len(), value.len(), expiry.is_some());
    debug_assert!(fits_in_place(minimal, value.len(), len));
    let mut pos = put_varint(out, (key.len() << 1) | expiry.is_some() as usize);
    let width = varint_len(value.len()) + (len - minimal);
    pos += put_varint_padded(&mut out[pos..], value.len(), width);
    let end = write_body(out, pos, key, value, expiry);
    debug_assert_eq!(end, len);
    len
}

/// Writes the part of an item after its two length varints (expiry, key,
/// value) at `pos`. Returns the end of the item.
#[inline]
fn write_body(
    out: &mut [u8],
    mut pos: usize,
    key: &[u8],
    value: &[u8],
    expiry: Option<u64>,
) -> usize {
    if let Some(ms) = expiry {
        let ms = ms.min(MAX_EXPIRY_MS);
        out[pos..pos + EXPIRY_LEN].copy_from_slice(&ms.to_le_bytes()[..EXPIRY_LEN]);
        pos += EXPIRY_LEN;
    }
    out[pos..pos + key.len()].copy_from_slice(key);
    pos += key.len();
    out[pos..pos + value.len()].copy_from_slice(value);
    pos + value.len()
}

/// Total encoded size of an item with these lengths.
pub fn encoded_len(key_len: usize, value_len: usize, has_expiry: bool) -> usize {
    varint_len(key_len << 1)
        + varint_len(value_len)
        + if has_expiry { EXPIRY_LEN } else { 0 }
        + key_len
        + value_len
}

/// Writes an item at the start of `out`, which must be at least
/// [`encoded_len`] bytes long. Returns the bytes written.
pub fn write(out: &mut [u8], key: &[u8], value: &[u8], expiry: Option<u64>) -> usize {
    let mut pos = put_varint(out, (key.len() << 1) | expiry.is_some() as usize);
    pos += put_varint(&mut out[pos..], value.len());
    write_body(out, pos, key, value, expiry)
}

/// Decodes the header of the item at the start of `buf`. `None` means the
/// bytes are not a whole item, which for a segment's used range is a bug.
pub fn read_header(buf: &[u8]) -> Option<Header> {
    let (k, n1) = get_varint(buf)?;
    let (value_len, n2) = get_varint(buf.get(n1..)?)?;
    let mut header_len = n1 + n2;
    let expiry = if k & 1 == 1 {
        let field = buf.get(header_len..header_len + EXPIRY_LEN)?;
        let mut bytes = [0u8; 8];
        bytes[..EXPIRY_LEN].copy_from_slice(field);
        header_len += EXPIRY_LEN;
        Some(u64::from_le_bytes(bytes))
    } else {
        None
    };
    let header = Header { key_len: k >> 1, value_len, expiry, header_len };
    (buf.len() >= header.item_len()).then_some(header)
}

/// Overwrites the expiry field of an item that has one. Returns false (and
/// changes nothing) when the item was written without an expiry field.
pub fn patch_expiry(item: &mut [u8], header: &Header, expiry_ms: u64) -> bool {
    if header.expiry.is_none() {
        return false;
    }
    let at = header.header_len - EXPIRY_LEN;
    let ms = expiry_ms.min(MAX_EXPIRY_MS);
    item[at..at + EXPIRY_LEN].copy_from_slice(&ms.to_le_bytes()[..EXPIRY_LEN]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_item_header_is_two_bytes() {
        assert_eq!(encoded_len(16, 100, false), 2 + 16 + 100);
        assert_eq!(encoded_len(63, 127, false), 2 + 63 + 127);
        // klen 64 needs a second byte for (64 << 1); vlen 128 needs two.
        assert_eq!(encoded_len(64, 128, false), 4 + 64 + 128);
        assert_eq!(encoded_len(16, 1000, false), 3 + 16 + 1000);
        assert_eq!(encoded_len(16, 100, true), 2 + EXPIRY_LEN + 16 + 100);
    }

    #[test]
    fn exact_bytes_of_a_small_item() {
        let mut buf = [0u8; 16];
        let n = write(&mut buf, b"ab", b"xyz", None);
        assert_eq!(&buf[..n], &[4, 3, b'a', b'b', b'x', b'y', b'z']);
        let n = write(&mut buf, b"k", b"", Some(0x0102_0304_0506));
        assert_eq!(&buf[..n], &[3, 0, 6, 5, 4, 3, 2, 1, b'k']);
    }

    #[test]
    fn truncated_item_is_rejected() {
        let mut buf = [0u8; 32];
        let n = write(&mut buf, b"key", b"value", Some(5));
        for cut in 0..n {
            assert_eq!(read_header(&buf[..cut]), None, "cut at {cut}");
        }
        assert!(read_header(&buf[..n]).is_some());
    }

    #[test]
    fn patch_expiry_only_where_present() {
        let mut buf = [0u8; 32];
        let n = write(&mut buf, b"key", b"v", None);
        let h = read_header(&buf[..n]).unwrap();
        assert!(!patch_expiry(&mut buf[..n], &h, 7));
        let n = write(&mut buf, b"key", b"v", Some(1));
        let h = read_header(&buf[..n]).unwrap();
        assert!(patch_expiry(&mut buf[..n], &h, 99));
        let h2 = read_header(&buf[..n]).unwrap();
        assert_eq!(h2.expiry, Some(99));
        assert_eq!(&buf[h2.key_start()..h2.value_start()], b"key");
    }

    #[test]
    fn padded_varint_keeps_the_length() {
        let mut buf = [0u8; 32];
        let n = write(&mut buf, b"key", b"1234", None);
        // Three bytes shorter, written over it: the varint takes four bytes.
        assert!(fits_in_place(encoded_len(3, 1, false), 1, n));
        assert_eq!(write_exact(&mut buf, b"key", b"9", None, n), n);
        assert_eq!(&buf[..n], &[6, 0x81, 0x80, 0x80, 0x00, b'k', b'e', b'y', b'9']);
        let h = read_header(&buf[..n]).unwrap();
        assert_eq!((h.item_len(), h.value_len, h.header_len), (n, 1, 5));
        // Nine bytes shorter than the old item no longer fits a varint.
        assert!(!fits_in_place(10, 1, 20));
        assert!(!fits_in_place(21, 1, 20), "longer never fits");
    }

    proptest! {
        #[test]
        fn exact_length_roundtrip(key in proptest::collection::vec(any::<u8>(), 0..100),
                                  value in proptest::collection::vec(any::<u8>(), 0..300),
                                  expiry in proptest::option::of(0..=MAX_EXPIRY_MS),
                                  pad in 0usize..12) {
            let minimal = encoded_len(key.len(), value.len(), expiry.is_some());
            let len = minimal + pad;
            prop_assume!(fits_in_place(minimal, value.len(), len));
            let mut buf = vec![0u8; len + 3];
            prop_assert_eq!(write_exact(&mut buf, &key, &value, expiry, len), len);
            let h = read_header(&buf).unwrap();
            prop_assert_eq!(h.item_len(), len);
            prop_assert_eq!(h.expiry, expiry);
            prop_assert_eq!(&buf[h.key_start()..h.value_start()], &key[..]);
            prop_assert_eq!(&buf[h.value_start()..h.item_len()], &value[..]);
        }

        #[test]
        fn roundtrip(key in proptest::collection::vec(any::<u8>(), 0..300),
                     value in proptest::collection::vec(any::<u8>(), 0..20_000),
                     expiry in proptest::option::of(0..=MAX_EXPIRY_MS)) {
            let len = encoded_len(key.len(), value.len(), expiry.is_some());
            let mut buf = vec![0u8; len + 3];
            prop_assert_eq!(write(&mut buf, &key, &value, expiry), len);
            let h = read_header(&buf).unwrap();
            prop_assert_eq!(h.item_len(), len);
            prop_assert_eq!(h.expiry, expiry);
            prop_assert_eq!(&buf[h.key_start()..h.value_start()], &key[..]);
            prop_assert_eq!(&buf[h.value_start()..h.item_len()], &value[..]);
        }
    }
}
