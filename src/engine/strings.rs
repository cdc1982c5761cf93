//! The string commands GETRANGE ... BITPOS: Redis 7.0's semantics, each
//! the pure computation (tested here) plus the store call that runs it.
//!
//! Read-modify-write commands (SETRANGE, SETBIT, INCRBYFLOAT) run their
//! computation inside [`Store::edit`](crate::store::Store::edit), under
//! the key's shard lock, and take room for their reply first, so a reply
//! refused for lack of room never follows a write that would then be run
//! twice.

use crate::extfloat::Ext;
use crate::protocol::{
    Args, BitOperation, BitRange, BitRangeError, CommandError, LcsOptions, Reply, StringsError,
};
use crate::store::{Edit, StoreError};

use super::context::{Ctx, finish};
use super::output::Output;
use super::{Engine, Flow};

fn store_error(error: StoreError) -> CommandError {
    match error {
        StoreError::ValueTooLarge => CommandError::StringTooLong,
        StoreError::NotInteger => CommandError::NotAnInteger,
        StoreError::Overflow => CommandError::Overflow,
        StoreError::ItemTooLarge | StoreError::OutOfMemory => CommandError::OutOfMemory,
    }
}

/// Room for an integer or status reply.
const SMALL: usize = 32;

/// Redis's GETRANGE/BITCOUNT/BITPOS clamping of `start..=end` (negative
/// from the end) over `len` items: the inclusive range, or `None` when
/// empty.
pub fn clamp(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    if start < 0 && end < 0 && start > end {
        return None;
    }
    clamp_both(start, end, len)
}

/// [`clamp`] without its first rule (both negative and `start > end`:
/// empty), which BITPOS does not have: there both clamp to 0.
fn clamp_both(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (len + start).max(0) } else { start };
    let mut end = if end < 0 { (len + end).max(0) } else { end };
    if end >= len {
        end = len - 1;
    }
    if len == 0 || start > end {
        return None;
    }
    Some((start as usize, end as usize))
}

/// GETRANGE's bytes.
pub fn getrange_of(value: &[u8], start: i64, end: i64) -> &[u8] {
    match clamp(start, end, value.len()) {
        Some((s, e)) => &value[s..=e],
        None => &[],
    }
}

/// SETRANGE's new value (zero-padded), or `None` when nothing is to be
/// written (an empty `patch`), or the size error.
pub fn setrange_of(
    old: Option<&[u8]>,
    offset: u64,
    patch: &[u8],
    max: usize,
) -> Result<Edit<usize>, CommandError> {
    let old_len = old.map_or(0, <[u8]>::len);
    if patch.is_empty() {
        return Ok(Edit::Keep(old_len));
    }
    let end = offset.checked_add(patch.len() as u64).filter(|&e| e <= max as u64);
    let Some(end) = end else { return Err(CommandError::StringTooLong) };
    let (offset, end) = (offset as usize, end as usize);
    let mut value = Vec::with_capacity(end.max(old_len));
    value.extend_from_slice(old.unwrap_or_default());
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset..end].copy_from_slice(patch);
    let len = value.len();
    Ok(Edit::Write(value, len))
}

/// The bit at `offset` (bit 0 is the most significant bit of byte 0).
pub fn bit_at(value: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    value.get(byte).is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// SETBIT's new value and the old bit.
pub fn setbit_of(old: Option<&[u8]>, offset: u64, bit: bool) -> Edit<bool> {
    let byte = (offset >> 3) as usize;
    let mut value = old.unwrap_or_default().to_vec();
    if value.len() <= byte {
        value.resize(byte + 1, 0);
    }
    let mask = 0x80u8 >> (offset & 7);
    let was = value[byte] & mask != 0;
    if bit {
        value[byte] |= mask;
    } else {
        value[byte] &= !mask;
    }
    Edit::Write(value, was)
}

/// BITOP's result over `values` (missing keys are empty): as long as the
/// longest, the shorter ones taken as padded with zero bytes.
pub fn bitop_of(operation: BitOperation, values: &[&[u8]]) -> Vec<u8> {
    let len = values.iter().map(|v| v.len()).max().unwrap_or(0);
    let byte = |v: &[u8], i: usize| v.get(i).copied().unwrap_or(0);
    let Some((first, rest)) = values.split_first() else { return Vec::new() };
    let mut out: Vec<u8> = (0..len).map(|i| byte(first, i)).collect();
    match operation {
        BitOperation::Not => out.iter_mut().for_each(|b| *b = !*b),
        BitOperation::And => {
            for v in rest {
                out.iter_mut().enumerate().for_each(|(i, b)| *b &= byte(v, i));
            }
        }
        BitOperation::Or => {
            for v in rest {
                out.iter_mut().zip(v.iter()).for_each(|(b, x)| *b |= x);
            }
        }
        BitOperation::Xor => {
            for v in rest {
                out.iter_mut().zip(v.iter()).for_each(|(b, x)| *b ^= x);
            }
        }
    }
    out
}

/// The range of bits `first..=last` a BITCOUNT/BITPOS range covers in
/// `len` bytes, or `None` when empty.
fn bit_span(range: BitRange, len: usize, bitpos: bool) -> Option<(u64, u64)> {
    match range {
        BitRange::Whole => (len > 0).then(|| (0, len as u64 * 8 - 1)),
        BitRange::Empty => None,
        BitRange::Span { start, end, bits } => {
            let units = if bits { len * 8 } else { len };
            // BITPOS without an end: to the end of the value.
            let end = end.unwrap_or(if bitpos { -1 } else { 0 });
            let (s, e) =
                if bitpos { clamp_both(start, end, units)? } else { clamp(start, end, units)? };
            if bits { Some((s as u64, e as u64)) } else { Some((s as u64 * 8, e as u64 * 8 + 7)) }
        }
    }
}

/// BITCOUNT over `value`.
pub fn bitcount_of(value: &[u8], range: BitRange) -> u64 {
    let Some((first, last)) = bit_span(range, value.len(), false) else { return 0 };
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let mut count: u64 = value[fb..=lb].iter().map(|b| u64::from(b.count_ones())).sum();
    // Bits of the edge bytes outside the range.
    let head = value[fb] & !(0xFFu8 >> (first & 7));
    let tail = value[lb] & (0xFFu16 >> ((last & 7) + 1)) as u8;
    count -= u64::from(head.count_ones());
    count -= u64::from(tail.count_ones());
    count
}

/// BITPOS over `value`: the first `bit` in the range; not found, -1, or
/// for a clear bit without an explicit end, the first bit past the value
/// (Redis takes the value as padded with zeros on the right).
pub fn bitpos_of(value: &[u8], bit: bool, range: BitRange) -> i64 {
    let end_given = matches!(range, BitRange::Span { end: Some(_), .. });
    let Some((first, last)) = bit_span(range, value.len(), true) else { return -1 };
    let skip = if bit { 0x00 } else { 0xFF };
    let mut at = first;
    while at <= last {
        let byte = value[(at >> 3) as usize];
        if at & 7 == 0 && last - at >= 7 && byte == skip {
            at += 8;
            continue;
        }
        if bit_at(value, at) == bit {
            return at as i64;
        }
        at += 1;
    }
    if bit || end_given { -1 } else { last as i64 + 1 }
}

/// LCS's dynamic-programming table, `(a.len()+1) * (b.len()+1)` entries;
/// `table[i * (b.len()+1) + j]` is the LCS length of `a[..i]`, `b[..j]`.
fn lcs_table(a: &[u8], b: &[u8]) -> Vec<u32> {
    let w = b.len() + 1;
    let mut t = vec![0u32; (a.len() + 1) * w];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    t
}

/// One LCS match: ranges in `a` and `b` (inclusive) and the length.
pub type LcsMatch = ((usize, usize), (usize, usize), usize);

/// The LCS string and its matches, from the end backwards, as Redis's
/// backtrack walks them (matches shorter than `min_len` left out).
pub fn lcs_of(a: &[u8], b: &[u8], min_len: u64) -> (Vec<u8>, Vec<LcsMatch>) {
    let t = lcs_table(a, b);
    let w = b.len() + 1;
    let mut idx = t[a.len() * w + b.len()] as usize;
    let mut result = vec![0u8; idx];
    let mut matches = Vec::new();
    let (mut i, mut j) = (a.len(), b.len());
    // Current range: `None` between matches.
    let mut range: Option<((usize, usize), (usize, usize))> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            match &mut range {
                None => range = Some(((i - 1, i - 1), (j - 1, j - 1))),
                Some((ra, rb)) if ra.0 == i && rb.0 == j => {
                    ra.0 -= 1;
                    rb.0 -= 1;
                }
                Some(_) => emit = true,
            }
            if let Some((ra, rb)) = range {
                if ra.0 == 0 || rb.0 == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if range.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some((ra, rb)) = range.take() {
                let len = ra.1 - ra.0 + 1;
                if min_len == 0 || len as u64 >= min_len {
                    matches.push((ra, rb, len));
                }
            }
        }
    }
    (result, matches)
}

/// Sends a value computed from a stored one inside the store's read
/// callback; `None`: the key is missing.
fn send_from<O: Output + ?Sized>(
    ctx: &mut Ctx<'_, '_, '_, O>,
    key: &[u8],
    compute: impl FnOnce(&[u8]) -> Reply<'_>,
) -> Option<Result<(), usize>> {
    let engine: &Engine = ctx.engine;
    let out = &mut ctx.out;
    let sent = engine.store.get(key, |value| {
        let reply = compute(value);
        if out.send(&reply) { Ok(()) } else { Err(reply.size_bound()) }
    });
    match sent {
        Some(_) => ctx.counters.hits += 1,
        None => ctx.counters.misses += 1,
    }
    sent
}

fn flow(sent: Option<Result<(), usize>>) -> Option<Flow> {
    match sent? {
        Ok(()) => Some(Flow::Continue),
        Err(need) => Some(Flow::NeedRoom(need)),
    }
}

/// `GETRANGE key start end`: `""` for a missing key.
pub(super) fn getrange<O: Output + ?Sized>(
    key: &[u8],
    start: i64,
    end: i64,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Flow {
    let sent = send_from(ctx, key, |v| Reply::Bulk(getrange_of(v, start, end)));
    flow(sent).unwrap_or_else(|| finish(&mut ctx.out, &Reply::Bulk(b"")))
}

/// `SETRANGE key offset value`: the new length.
pub(super) fn setrange<O: Output + ?Sized>(
    key: &[u8],
    offset: u64,
    value: &[u8],
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if !ctx.out.try_room(SMALL) {
        return Ok(Flow::NeedRoom(SMALL));
    }
    let store = &ctx.engine.store;
    let max = store.max_value_size();
    let len =
        store.edit(key, |old| setrange_of(old, offset, value, max)).map_err(store_error)??;
    Ok(finish(&mut ctx.out, &Reply::Int(len as i64)))
}

/// `MSETNX key value [key value ...]`: 1 if all were set, 0 if none.
pub(super) fn msetnx<O: Output + ?Sized>(
    pairs: Args<'_>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if !ctx.out.try_room(SMALL) {
        return Ok(Flow::NeedRoom(SMALL));
    }
    let mut list = Vec::with_capacity(pairs.len() / 2);
    let mut it = pairs.iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        list.push((k, v));
    }
    let written = ctx.engine.store.set_all_if_absent(&list).map_err(store_error)?;
    Ok(finish(&mut ctx.out, &Reply::Int(i64::from(written))))
}

/// `BITOP op destkey key [key ...]`: the length of the string stored.
pub(super) fn bitop<O: Output + ?Sized>(
    operation: BitOperation,
    destination: &[u8],
    sources: Args<'_>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if !ctx.out.try_room(SMALL) {
        return Ok(Flow::NeedRoom(SMALL));
    }
    let sources: Vec<&[u8]> = sources.iter().collect();
    let store = &ctx.engine.store;
    let len = store
        .combine_into(destination, &sources, |values| bitop_of(operation, values))
        .map_err(store_error)?;
    Ok(finish(&mut ctx.out, &Reply::Int(len as i64)))
}

/// Longest INCRBYFLOAT reply: x87's largest finite value printed with 17
/// decimals (4933 integer digits).
const FLOAT_REPLY: usize = 4933 + 18 + 32;

/// `INCRBYFLOAT key increment`: the new value, as Redis prints it.
pub(super) fn incrbyfloat<O: Output + ?Sized>(
    key: &[u8],
    increment: &[u8],
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if !ctx.out.try_room(FLOAT_REPLY) {
        return Ok(Flow::NeedRoom(FLOAT_REPLY));
    }
    let not_float = CommandError::Strings(StringsError::NotAFloat);
    let by = Ext::parse(increment).ok_or_else(|| not_float.clone())?;
    let edited = ctx.engine.store.edit(key, |old| {
        let current = match old {
            None => Ext::parse(b"0").ok_or_else(|| not_float.clone())?,
            Some(bytes) => Ext::parse(bytes).ok_or_else(|| not_float.clone())?,
        };
        let sum = current
            .add(&by)
            .filter(Ext::is_finite)
            .ok_or(CommandError::Strings(StringsError::NanOrInfinity))?;
        let text = sum.to_human().into_bytes();
        Ok::<_, CommandError>(Edit::Write(text.clone(), text))
    });
    let text = edited.map_err(store_error)??;
    Ok(finish(&mut ctx.out, &Reply::Bulk(&text)))
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`: missing
/// keys are empty strings.
pub(super) fn lcs<O: Output + ?Sized>(
    key1: &[u8],
    key2: &[u8],
    options: LcsOptions,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let store = &ctx.engine.store;
    let a = store.get(key1, <[u8]>::to_vec).unwrap_or_default();
    let b = store.get(key2, <[u8]>::to_vec).unwrap_or_default();
    // The table is transient memory outside the budget: bounded, as Redis
    // bounds it by proto-max-bulk-len.
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    if cells.saturating_mul(4) > store.max_value_size() as u64 {
        return Err(CommandError::Strings(StringsError::LcsTooLarge));
    }
    let (common, matches) = lcs_of(&a, &b, options.min_match_len);
    let out = &mut ctx.out;
    if options.len && !options.idx {
        return Ok(finish(out, &Reply::Int(common.len() as i64)));
    }
    if !options.idx {
        return Ok(finish(out, &Reply::Bulk(&common)));
    }
    let need = 128 + matches.len() * 128;
    if !out.try_room(need) {
        return Ok(Flow::NeedRoom(need));
    }
    out.push(&Reply::Map(2));
    out.push(&Reply::Bulk(b"matches"));
    out.push(&Reply::Array(matches.len()));
    for &((a0, a1), (b0, b1), len) in &matches {
        out.push(&Reply::Array(2 + usize::from(options.with_match_len)));
        for (s, e) in [(a0, a1), (b0, b1)] {
            out.push(&Reply::Array(2));
            out.push(&Reply::Int(s as i64));
            out.push(&Reply::Int(e as i64));
        }
        if options.with_match_len {
            out.push(&Reply::Int(len as i64));
        }
    }
    out.push(&Reply::Bulk(b"len"));
    out.push(&Reply::Int(common.len() as i64));
    Ok(Flow::Continue)
}

/// `SETBIT key offset bit`: the bit's old value.
pub(super) fn setbit<O: Output + ?Sized>(
    key: &[u8],
    offset: u64,
    bit: bool,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if !ctx.out.try_room(SMALL) {
        return Ok(Flow::NeedRoom(SMALL));
    }
    let edited =
        ctx.engine.store.edit(key, |old| Ok::<_, CommandError>(setbit_of(old, offset, bit)));
    let was = edited.map_err(store_error)??;
    Ok(finish(&mut ctx.out, &Reply::Int(i64::from(was))))
}

/// `GETBIT key offset`.
pub(super) fn getbit<O: Output + ?Sized>(
    key: &[u8],
    offset: u64,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Flow {
    let bit = ctx.engine.store.get(key, |v| bit_at(v, offset)).unwrap_or(false);
    finish(&mut ctx.out, &Reply::Int(i64::from(bit)))
}

fn range_error(error: BitRangeError) -> CommandError {
    match error {
        BitRangeError::NotAnInteger => CommandError::NotAnInteger,
        BitRangeError::Syntax => CommandError::Syntax,
    }
}

/// `BITCOUNT key [start end [BYTE|BIT]]`: 0 for a missing key, whatever
/// the range arguments (Redis 7.0 looks the key up first).
pub(super) fn bitcount<O: Output + ?Sized>(
    key: &[u8],
    range: Result<BitRange, BitRangeError>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let counted = ctx.engine.store.get(key, |v| range.map(|r| bitcount_of(v, r)));
    let n = counted.unwrap_or(Ok(0)).map_err(range_error)?;
    Ok(finish(&mut ctx.out, &Reply::Int(n as i64)))
}

/// `BITPOS key bit [start [end [BYTE|BIT]]]`: a missing key is all clear
/// bits (0 for a clear bit, -1 for a set one).
pub(super) fn bitpos<O: Output + ?Sized>(
    key: &[u8],
    bit: bool,
    range: Result<BitRange, BitRangeError>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let found = ctx.engine.store.get(key, |v| range.map(|r| bitpos_of(v, bit, r)));
    let missing = if bit { -1 } else { 0 };
    let n = found.unwrap_or(Ok(missing)).map_err(range_error)?;
    Ok(finish(&mut ctx.out, &Reply::Int(n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitop_pads_shorter_values_with_zero_bytes() {
        let (a, b, c): (&[u8], &[u8], &[u8]) = (b"\x0f\xff", b"\xf0", b"");
        assert_eq!(bitop_of(BitOperation::And, &[a, b]), b"\x00\x00");
        assert_eq!(bitop_of(BitOperation::Or, &[a, b]), b"\xff\xff");
        assert_eq!(bitop_of(BitOperation::Xor, &[a, b, a]), b"\xf0\x00");
        assert_eq!(bitop_of(BitOperation::Not, &[a]), b"\xf0\x00");
        // A missing key (empty) is a stream of zeros, so AND is all zeros.
        assert_eq!(bitop_of(BitOperation::And, &[a, c]), b"\x00\x00");
        assert_eq!(bitop_of(BitOperation::Or, &[c, c]), b"");
        assert_eq!(bitop_of(BitOperation::Not, &[c]), b"");
    }

    #[test]
    fn getrange_matches_the_suite() {
        let v = b"Hello World";
        let cases: &[(i64, i64, &str)] = &[
            (0, 3, "Hell"),
            (0, -1, "Hello World"),
            (-4, -1, "orld"),
            (5, 3, ""),
            (5, 5000, " World"),
            (-5000, 10000, "Hello World"),
            (0, -100, "H"),
            (1, -100, ""),
            (-1, -100, ""),
            (-100, -99, "H"),
            (-100, -100, "H"),
            (-100, -101, ""),
            (0, 4294967297, "Hello World"),
        ];
        for &(s, e, want) in cases {
            assert_eq!(getrange_of(v, s, e), want.as_bytes(), "{s} {e}");
        }
        assert_eq!(getrange_of(b"", 0, -1), b"");
        assert_eq!(getrange_of(b"abcde", 7, 8), b"");
        assert_eq!(getrange_of(b"abcde", -1, -3), b"");
    }

    #[test]
    fn setrange_pads_and_checks_size() {
        let w = |old: Option<&[u8]>, off, patch: &[u8]| match setrange_of(old, off, patch, 100) {
            Ok(Edit::Write(v, n)) => (Some(v), n),
            Ok(Edit::Keep(n)) => (None, n),
            Err(e) => panic!("{e:?}"),
        };
        assert_eq!(w(None, 0, b"foo"), (Some(b"foo".to_vec()), 3));
        assert_eq!(w(None, 0, b""), (None, 0));
        assert_eq!(w(None, 1, b"foo"), (Some(b"\0foo".to_vec()), 4));
        assert_eq!(w(Some(b"foo"), 0, b"b"), (Some(b"boo".to_vec()), 3));
        assert_eq!(w(Some(b"foo"), 0, b""), (None, 3));
        assert_eq!(w(Some(b"foo"), 4, b"bar"), (Some(b"foo\0bar".to_vec()), 7));
        assert_eq!(w(Some(b"1234"), 5, b"2"), (Some(b"1234\x002".to_vec()), 6));
        assert!(setrange_of(None, 98, b"abc", 100).is_err());
        assert!(setrange_of(None, u64::MAX, b"a", 100).is_err());
        assert!(matches!(setrange_of(None, 97, b"abc", 100), Ok(Edit::Write(_, 100))));
    }

    #[test]
    fn bits() {
        let Edit::Write(v, was) = setbit_of(None, 1, true) else { panic!() };
        assert_eq!((v.as_slice(), was), (&[0b0100_0000u8][..], false));
        let Edit::Write(v, was) = setbit_of(Some(b"@"), 2, true) else { panic!() };
        assert_eq!((v.as_slice(), was), (&[0b0110_0000u8][..], false));
        let Edit::Write(v, was) = setbit_of(Some(&v), 1, false) else { panic!() };
        assert_eq!((v.as_slice(), was), (&[0b0010_0000u8][..], true));
        assert!(bit_at(b"`", 1) && bit_at(b"`", 2) && !bit_at(b"`", 0) && !bit_at(b"`", 100));
    }

    #[test]
    fn bitcount_ranges() {
        let span = |start, end, bits| BitRange::Span { start, end: Some(end), bits };
        assert_eq!(bitcount_of(b"foobar", BitRange::Whole), 26);
        assert_eq!(bitcount_of(b"foobar", span(0, 0, false)), 4);
        assert_eq!(bitcount_of(b"foobar", span(1, 1, false)), 6);
        assert_eq!(bitcount_of(b"foobar", span(5, 30, true)), 17);
        assert_eq!(bitcount_of(b"foobar", span(-2, -1, false)), 7);
        assert_eq!(bitcount_of(b"\xff\xff", span(1, 14, true)), 14);
        assert_eq!(bitcount_of(b"\xff", span(3, 3, true)), 1);
        assert_eq!(bitcount_of(b"", BitRange::Whole), 0);
        assert_eq!(bitcount_of(b"foobar", BitRange::Empty), 0);
        // Against a bit-by-bit count.
        let v: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        for s in -330..330i64 {
            for e in [-330, -17, -1, 0, 5, 160, 319, 400] {
                let want = match clamp(s, e, v.len() * 8) {
                    Some((a, b)) => (a..=b).filter(|&i| bit_at(&v, i as u64)).count() as u64,
                    None => 0,
                };
                assert_eq!(bitcount_of(&v, span(s, e, true)), want, "{s} {e}");
            }
        }
    }

    #[test]
    fn bitpos_cases() {
        let span = |start, end: Option<i64>, bits| BitRange::Span { start, end, bits };
        assert_eq!(bitpos_of(b"\xff\xf0\x00", false, BitRange::Whole), 12);
        assert_eq!(bitpos_of(b"\x00\xff\xf0", true, span(0, None, false)), 8);
        assert_eq!(bitpos_of(b"\x00\xff\xf0", true, span(2, Some(-1), false)), 16);
        assert_eq!(bitpos_of(b"\x00\xff\xf0", true, span(2, Some(-1), true)), 8);
        assert_eq!(bitpos_of(b"\x00\xff\xf0", true, span(7, Some(15), true)), 8);
        assert_eq!(bitpos_of(b"\x00\x00\x00", true, BitRange::Whole), -1);
        assert_eq!(bitpos_of(b"\xff\xff\xff", false, BitRange::Whole), 24);
        assert_eq!(bitpos_of(b"\xff\xff\xff", false, span(0, None, false)), 24);
        assert_eq!(bitpos_of(b"\xff\xff\xff", false, span(0, Some(-1), false)), -1);
        assert_eq!(bitpos_of(b"", false, BitRange::Whole), -1);
        assert_eq!(bitpos_of(b"\xff", false, span(5, Some(2), false)), -1);
        // No empty rule for two negative indexes: both clamp to 0.
        assert_eq!(bitpos_of(b"\xff\x00", true, span(-13, Some(-32), false)), 0);
        assert_eq!(bitpos_of(b"\x00\xff", false, span(-20, Some(-25), true)), 0);
    }

    #[test]
    fn lcs_matches_redis() {
        let (s, m) = lcs_of(b"ohmytext", b"mynewtext", 0);
        assert_eq!(s, b"mytext");
        assert_eq!(m, vec![((4, 7), (5, 8), 4), ((2, 3), (0, 1), 2)]);
        let (_, m) = lcs_of(b"ohmytext", b"mynewtext", 4);
        assert_eq!(m, vec![((4, 7), (5, 8), 4)]);
        assert_eq!(lcs_of(b"", b"abc", 0), (vec![], vec![]));
    }
}
