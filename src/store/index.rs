//! The hash index: key hash -> (segment, offset), one `u64` per item.
//!
//! # Slot layout
//! ```text
//!  63          40 39          22 21  20 19           0
//! +--------------+--------------+------+--------------+
//! | offset: 24   | segment+1: 18| freq | tag: 20      |
//! +--------------+--------------+------+--------------+
//! ```
//! A slot of 0 is empty (segment ids are stored plus one). The tag is 20
//! bits of the key's hash; it places the entry in its buckets *and* filters
//! candidates before the key in the segment is compared, so a lookup almost
//! never touches an item that is not the one asked for. `freq` counts uses
//! since the item was appended (saturating at 3): reads, and overwrites
//! written in place; eviction copies used items forward.
//!
//! # Why this shape
//! The memory target leaves about 10 bytes of index per item, so the table
//! must stay full: an 8-byte slot at 80% average load is 10 bytes per item.
//! Three choices get there without ever rehashing a large table:
//! - **Bucketized cuckoo hashing** (two candidate buckets of eight slots, one
//!   64-byte cache line each) runs at 90% load with a lookup that reads at
//!   most two cache lines. The second bucket is `(h(tag) - b) mod n`, an
//!   involution, so an entry can move between its buckets knowing only its
//!   tag, for any bucket count `n` (not just powers of two).
//! - **Many small partitions** (a power of two per shard, chosen from the
//!   budget so each holds a few thousand entries). A partition grows alone,
//!   so growing never stalls a request for more than tens of microseconds.
//!   Rehashing needs no key: bucket positions come from the stored tag.
//! - **Growth in jemalloc size-class steps** (bucket counts `4..=7 << k`, so
//!   byte sizes `{4,5,6,7} * 2^k * 64` are exact size classes): each step
//!   grows a partition by at most 25%, so its load stays between about 0.72
//!   and 0.9, and no allocation is rounded up by the allocator.
//! - **Staggered partitions** ([`Partitioner`]): partitions holding equal
//!   shares of evenly spread keys would all grow at once, so the whole
//!   index would swing between 0.72 and 0.9 load with the item count, and
//!   each wave of growth would free every old table together, fragmenting
//!   the allocator. Weighting partitions 1 to 1.8 spreads their growth
//!   over the item count, so the index grows smoothly and its load stays
//!   near the middle of the cycle (with 100-byte values, 0.845 of the
//!   memory limit held as items instead of 0.829).
//!
//! Partitions shrink again when load falls under 30%, so an index that was
//! sized for many small items gives its memory back to segments.

/// Bits of the key hash kept in a slot.
pub const TAG_BITS: u32 = 20;
const FREQ_BITS: u32 = 2;
const SEG_BITS: u32 = 18;
const OFFSET_BITS: u32 = 24;
const FREQ_SHIFT: u32 = TAG_BITS;
const SEG_SHIFT: u32 = FREQ_SHIFT + FREQ_BITS;
const OFFSET_SHIFT: u32 = SEG_SHIFT + SEG_BITS;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const FREQ_MASK: u64 = (1 << FREQ_BITS) - 1;
const SEG_MASK: u64 = (1 << SEG_BITS) - 1;

/// Most segments one shard can address.
pub const MAX_SEGMENTS: usize = (1 << SEG_BITS) - 1;
/// Largest segment size whose offsets fit a slot.
pub const MAX_SEGMENT_SIZE: usize = 1 << OFFSET_BITS;
/// Highest value of the read counter.
pub const MAX_FREQ: u8 = FREQ_MASK as u8;

const SLOTS: usize = 8;
/// Grow a partition before its load passes this (in 1/1024ths).
// 0.90: 0.95 would save only 0.2 bytes per item under churn (partitions
// near the limit grow anyway as their counts wander) and cost a third more
// time per insert in cuckoo kicks.
const MAX_LOAD_1024: usize = 922;
/// Shrink a partition when its load falls under this (in 1/1024ths).
const MIN_LOAD_1024: usize = 307; // 0.30
/// Cuckoo displacements tried before a partition grows instead.
const MAX_KICKS: usize = 256;
/// Bytes of one bucket.
pub const BUCKET_BYTES: usize = std::mem::size_of::<Bucket>();

/// Where an item lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Segment id within the shard.
    pub segment: u32,
    /// Byte offset of the item in the segment.
    pub offset: u32,
}

/// The parts of a key's hash the index uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyHash {
    tag: u32,
    partition: u32,
}

/// Most partition groups (see [`Partitioner`]).
const MAX_GROUPS: usize = 8;

/// Maps key hashes to partitions of one index, on purpose unevenly.
///
/// Partitions fall into up to eight equal groups; group `g` receives keys in
/// proportion to `2^(g/8)`, so the busiest partitions hold 1.8 times as many
/// entries as the quietest. Every partition therefore reaches its next size
/// at a different total, and the index as a whole always holds partitions
/// at every phase of their growth: its load stays near the average of the
/// growth cycle, about 0.8, instead of swinging between 0.72 just after all
/// partitions grew together and 0.90 just before. Eviction makes partition
/// counts wander, so partitions near their threshold grow early: a full
/// cache sits nearer 0.78.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitioner {
    /// log2 of the partitions in one group.
    group_bits: u32,
    /// `pick >= thresholds[i]` for the first `g` entries means group `g`;
    /// unused entries are `u32::MAX`, which no 16-bit pick reaches.
    thresholds: [u32; MAX_GROUPS - 1],
}

impl Partitioner {
    /// A partitioner for `partitions` (a power of two) partitions.
    fn new(partitions: usize) -> Partitioner {
        debug_assert!(partitions.is_power_of_two());
        let groups = partitions.min(MAX_GROUPS);
        let weights: Vec<f64> =
            (0..groups).map(|g| (g as f64 / MAX_GROUPS as f64).exp2()).collect();
        let total: f64 = weights.iter().sum();
        let mut thresholds = [u32::MAX; MAX_GROUPS - 1];
        let mut cumulative = 0.0;
        for (g, w) in weights.iter().enumerate().take(groups - 1) {
            cumulative += w;
            thresholds[g] = (cumulative / total * 65536.0).round() as u32;
        }
        Partitioner { group_bits: (partitions / groups).trailing_zeros(), thresholds }
    }

    /// Splits a 64-bit hash: the low 20 bits are the tag, the next bits pick
    /// the partition within its group, bits 32..48 pick the group. The high
    /// bits are left for choosing the shard (at most 1024 shards use ten).
    pub fn key_hash(&self, hash: u64) -> KeyHash {
        let pick = ((hash >> 32) & 0xFFFF) as u32;
        let group = self.thresholds.iter().filter(|&&t| pick >= t).count() as u32;
        let within = ((hash >> TAG_BITS) as u32) & ((1 << self.group_bits) - 1);
        KeyHash { tag: (hash & TAG_MASK) as u32, partition: (group << self.group_bits) | within }
    }
}

/// Identifies one occupied slot. Valid until the next insert or removal in
/// the same index (cuckoo displacement and resizing move entries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRef {
    partition: u32,
    bucket: u32,
    slot: u8,
}

#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Bucket([u64; SLOTS]);

fn pack(tag: u32, freq: u8, loc: Location) -> u64 {
    debug_assert!((loc.segment as usize) < MAX_SEGMENTS);
    debug_assert!((loc.offset as usize) < MAX_SEGMENT_SIZE);
    (tag as u64 & TAG_MASK)
        | ((freq as u64 & FREQ_MASK) << FREQ_SHIFT)
        | ((loc.segment as u64 + 1) << SEG_SHIFT)
        | ((loc.offset as u64) << OFFSET_SHIFT)
}

fn tag_of(slot: u64) -> u32 {
    (slot & TAG_MASK) as u32
}

fn freq_of(slot: u64) -> u8 {
    ((slot >> FREQ_SHIFT) & FREQ_MASK) as u8
}

fn location_of(slot: u64) -> Location {
    Location {
        segment: (((slot >> SEG_SHIFT) & SEG_MASK) - 1) as u32,
        offset: (slot >> OFFSET_SHIFT) as u32,
    }
}

/// The bucket counts a partition takes: 1, 2, 3, then `{4,5,6,7} << k`.
fn next_size(n: usize) -> usize {
    if n < 4 {
        return n + 1;
    }
    let shift = usize::BITS - 1 - n.leading_zeros() - 2;
    ((n >> shift) + 1) << shift
}

fn prev_size(n: usize) -> usize {
    if n <= 4 {
        return n.saturating_sub(1).max(1);
    }
    let shift = usize::BITS - 1 - n.leading_zeros() - 2;
    let m = n >> shift;
    if m == 4 { 7 << (shift - 1) } else { (m - 1) << shift }
}

/// One independently resized cuckoo table.
struct Partition {
    buckets: Box<[Bucket]>,
    len: usize,
}

impl Partition {
    fn with_buckets(n: usize) -> Partition {
        Partition { buckets: vec![Bucket::default(); n].into_boxed_slice(), len: 0 }
    }

    fn capacity(&self) -> usize {
        self.buckets.len() * SLOTS
    }

    fn primary(tag: u32, n: usize) -> usize {
        ((tag as u64 * n as u64) >> TAG_BITS) as usize
    }

    /// The other bucket of an entry with `tag` sitting in bucket `b`.
    /// `alt(alt(b)) == b` for every `b < n`.
    /// No division on this path: `mix` is range-reduced by a multiply and
    /// `mix + n - b` is below `2n`, so one conditional subtraction is `mod n`.
    fn alternate(b: usize, tag: u32, n: usize) -> usize {
        let mix = ((tag.wrapping_mul(0x9E37_79B1) as u64 * n as u64) >> 32) as usize;
        let x = mix + n - b;
        if x >= n { x - n } else { x }
    }

    fn candidates(&self, tag: u32) -> [usize; 2] {
        let n = self.buckets.len();
        let b1 = Self::primary(tag, n);
        [b1, Self::alternate(b1, tag, n)]
    }

    /// Places `slot` without growing; on failure returns the entry left
    /// without a place (not necessarily `slot` itself).
    fn place(&mut self, slot: u64, rng: &mut u32) -> Result<(), u64> {
        let [b1, b2] = self.candidates(tag_of(slot));
        for b in [b1, b2] {
            if let Some(free) = self.buckets[b].0.iter_mut().find(|s| **s == 0) {
                *free = slot;
                return Ok(());
            }
        }
        let n = self.buckets.len();
        let mut homeless = slot;
        let mut b = if next_random(rng) & 1 == 0 { b1 } else { b2 };
        for _ in 0..MAX_KICKS {
            let victim_slot = (next_random(rng) as usize) % SLOTS;
            std::mem::swap(&mut self.buckets[b].0[victim_slot], &mut homeless);
            b = Self::alternate(b, tag_of(homeless), n);
            if let Some(free) = self.buckets[b].0.iter_mut().find(|s| **s == 0) {
                *free = homeless;
                return Ok(());
            }
        }
        Err(homeless)
    }

    /// Rebuilds this partition with `n` buckets. Returns the entry that
    /// could not be placed if the new table turned out too small.
    fn rebuild(&mut self, n: usize, extra: Option<u64>, rng: &mut u32) -> Result<(), u64> {
        let mut next = Partition::with_buckets(n);
        let entries = self.buckets.iter().flat_map(|b| b.0).filter(|&s| s != 0);
        for slot in entries.chain(extra) {
            next.place(slot, rng)?;
            next.len += 1;
        }
        *self = next;
        Ok(())
    }
}

fn next_random(state: &mut u32) -> u32 {
    // xorshift32: victims only need to be spread, not unpredictable.
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    x
}

/// A shard's index: many small cuckoo partitions.
pub struct Index {
    partitions: Box<[Partition]>,
    partitioner: Partitioner,
    len: usize,
    bytes: usize,
    rng: u32,
}

/// What a slot says about its item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Where the item is.
    pub location: Location,
    /// Reads since it was written, saturating at [`MAX_FREQ`].
    pub freq: u8,
}

impl Index {
    /// An empty index of `partitions` partitions (rounded up to a power of
    /// two), each starting with one bucket.
    pub fn new(partitions: usize) -> Index {
        let count = partitions.max(1).next_power_of_two();
        let partitions: Box<[Partition]> = (0..count).map(|_| Partition::with_buckets(1)).collect();
        Index {
            partitions,
            partitioner: Partitioner::new(count),
            len: 0,
            bytes: count * (BUCKET_BYTES + std::mem::size_of::<Partition>()),
            rng: 0x2545_F491,
        }
    }

    /// How keys of this index are spread over its partitions.
    pub fn partitioner(&self) -> Partitioner {
        self.partitioner
    }

    /// Entries stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no entries are stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes held by the index.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Finds the entry with `hash` whose location satisfies `is_key` (the
    /// caller compares the key stored there).
    pub fn find(&self, hash: KeyHash, mut is_key: impl FnMut(Location) -> bool) -> Option<SlotRef> {
        let part = &self.partitions[hash.partition as usize];
        for b in part.candidates(hash.tag) {
            for (i, &slot) in part.buckets[b].0.iter().enumerate() {
                if slot != 0 && tag_of(slot) == hash.tag && is_key(location_of(slot)) {
                    return Some(SlotRef {
                        partition: hash.partition,
                        bucket: b as u32,
                        slot: i as u8,
                    });
                }
            }
        }
        None
    }

    /// Finds the entry with `hash` that points exactly at `location`.
    pub fn find_location(&self, hash: KeyHash, location: Location) -> Option<SlotRef> {
        self.find(hash, |l| l == location)
    }

    /// Reads an entry.
    pub fn entry(&self, r: SlotRef) -> Entry {
        let slot = self.slot(r);
        Entry { location: location_of(slot), freq: freq_of(slot) }
    }

    fn slot(&self, r: SlotRef) -> u64 {
        self.partitions[r.partition as usize].buckets[r.bucket as usize].0[r.slot as usize]
    }

    fn slot_mut(&mut self, r: SlotRef) -> &mut u64 {
        &mut self.partitions[r.partition as usize].buckets[r.bucket as usize].0[r.slot as usize]
    }

    /// Points an entry at a new location with a new read count.
    pub fn update(&mut self, r: SlotRef, location: Location, freq: u8) {
        let slot = self.slot_mut(r);
        *slot = pack(tag_of(*slot), freq, location);
    }

    /// Counts one read of the entry.
    pub fn touch(&mut self, r: SlotRef) {
        let slot = self.slot_mut(r);
        if freq_of(*slot) < MAX_FREQ {
            *slot += 1 << FREQ_SHIFT;
        }
    }

    /// Removes an entry; the partition shrinks if it became mostly empty.
    pub fn remove(&mut self, r: SlotRef) {
        *self.slot_mut(r) = 0;
        self.len -= 1;
        let part = &mut self.partitions[r.partition as usize];
        part.len -= 1;
        let n = part.buckets.len();
        if n > 1 && part.len * 1024 < part.capacity() * MIN_LOAD_1024 {
            // Shrink to the smallest size that is at most ~60% full, well
            // away from the growth threshold so a partition never flaps.
            let mut target = n;
            while target > 1 && part.len * 1024 <= prev_size(target) * SLOTS * 614 {
                target = prev_size(target);
            }
            // A failed rebuild leaves the partition as it was.
            if target < n && part.rebuild(target, None, &mut self.rng).is_ok() {
                self.bytes -= (n - target) * BUCKET_BYTES;
            }
        }
    }

    /// Adds an entry for a key that is not in the index.
    pub fn insert(&mut self, hash: KeyHash, location: Location) {
        let slot = pack(hash.tag, 0, location);
        let part = &mut self.partitions[hash.partition as usize];
        let homeless = if (part.len + 1) * 1024 > part.capacity() * MAX_LOAD_1024 {
            Some(slot)
        } else {
            // On failure `slot` is in the table and some other entry was
            // displaced out of it: the count of placed entries is unchanged.
            part.place(slot, &mut self.rng).err()
        };
        match homeless {
            None => part.len += 1,
            Some(homeless) => {
                let from = part.buckets.len();
                let mut to = next_size(from);
                // A rebuild only commits when every entry found a place.
                while part.rebuild(to, Some(homeless), &mut self.rng).is_err() {
                    to = next_size(to);
                }
                self.bytes += (to - from) * BUCKET_BYTES;
            }
        }
        self.len += 1;
    }

    /// Removes every entry and returns partitions to one bucket each.
    pub fn clear(&mut self) {
        let count = self.partitions.len();
        *self = Index::new(count);
    }

    /// Number of partitions (fixed for the index's life: [`Index::clear`]
    /// keeps it).
    pub fn partition_count(&self) -> usize {
        self.partitions.len()
    }

    /// Entries in partition `p`.
    pub fn partition_len(&self, p: usize) -> usize {
        self.partitions[p].len
    }

    /// The entries of partition `p` whose tag is at least `from`, in the
    /// order SCAN's cursor walks them: by tag. At most about `count` of
    /// them (all those sharing the last tag returned come along, so a tag
    /// is never split between two calls), with the tag to go on from
    /// (`None`: the partition is done).
    ///
    /// Where an entry sits in its partition (which bucket, which slot)
    /// changes with cuckoo displacement and with every resize, but its
    /// partition and tag are bits of its key's hash and never change, so
    /// "tag >= from" names the same entries whatever happened to the
    /// table in between. Walks the whole partition: partitions are sized
    /// to hold a few thousand entries.
    pub fn scan_partition(
        &self,
        p: usize,
        from: u32,
        count: usize,
        out: &mut Vec<(u32, Location)>,
    ) -> Option<u32> {
        let start = out.len();
        for bucket in self.partitions[p].buckets.iter() {
            for &slot in bucket.0.iter().filter(|&&s| s != 0 && tag_of(s) >= from) {
                out.push((tag_of(slot), location_of(slot)));
            }
        }
        let found = &mut out[start..];
        let count = count.max(1);
        if found.len() <= count {
            return None;
        }
        found.select_nth_unstable_by_key(count - 1, |&(tag, _)| tag);
        let last = found[count - 1].0;
        let mut keep = start;
        for i in start..out.len() {
            if out[i].0 <= last {
                out.swap(keep, i);
                keep += 1;
            }
        }
        out.truncate(keep);
        (last < TAG_MASK as u32).then_some(last + 1)
    }

    /// An entry picked by `start`: the first non-empty partition at or
    /// after `start % partitions`, then, within it, its entry number
    /// `(start >> 16) % entries` (so every entry of a partition is equally
    /// likely). `None` when the index is empty. Walks one partition.
    pub fn pick(&self, start: u64) -> Option<(SlotRef, Location)> {
        if self.len == 0 {
            return None;
        }
        let parts = self.partitions.len();
        let first = (start % parts as u64) as usize;
        let p = (0..parts).map(|k| (first + k) % parts).find(|&p| self.partitions[p].len > 0)?;
        let part = &self.partitions[p];
        let mut nth = ((start >> 16) % part.len as u64) as usize;
        for (b, bucket) in part.buckets.iter().enumerate() {
            for (i, &slot) in bucket.0.iter().enumerate().filter(|(_, s)| **s != 0) {
                if nth == 0 {
                    let r = SlotRef { partition: p as u32, bucket: b as u32, slot: i as u8 };
                    return Some((r, location_of(slot)));
                }
                nth -= 1;
            }
        }
        None
    }

    /// Calls `f` on every entry (for tests and consistency checks).
    pub fn for_each(&self, mut f: impl FnMut(Entry)) {
        for part in self.partitions.iter() {
            for bucket in part.buckets.iter() {
                for &slot in bucket.0.iter().filter(|&&s| s != 0) {
                    f(Entry { location: location_of(slot), freq: freq_of(slot) });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_pinned() {
        assert_eq!(std::mem::size_of::<Bucket>(), 64);
        assert_eq!(std::mem::align_of::<Bucket>(), 64);
        assert_eq!(TAG_BITS + FREQ_BITS + SEG_BITS + OFFSET_BITS, 64);
        let loc =
            Location { segment: MAX_SEGMENTS as u32 - 1, offset: MAX_SEGMENT_SIZE as u32 - 1 };
        let slot = pack(0xABCDE, 3, loc);
        assert_eq!((tag_of(slot), freq_of(slot), location_of(slot)), (0xABCDE, 3, loc));
        let zero = pack(0, 0, Location { segment: 0, offset: 0 });
        assert_ne!(zero, 0, "an occupied slot is never the empty value");
        assert_eq!(location_of(zero), Location { segment: 0, offset: 0 });
    }

    #[test]
    fn sizes_follow_jemalloc_classes() {
        let mut n = 1;
        let mut seen = vec![n];
        while n < 200 {
            n = next_size(n);
            seen.push(n);
        }
        assert_eq!(
            seen,
            [
                1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96,
                112, 128, 160, 192, 224
            ]
        );
        for w in seen.windows(2) {
            assert_eq!(prev_size(w[1]), w[0]);
        }
    }

    #[test]
    fn alternate_bucket_is_an_involution() {
        for n in [1usize, 2, 3, 5, 7, 10, 56, 1000] {
            for tag in [0u32, 1, 77, 0xFFFFF, 0x12345] {
                let b1 = Partition::primary(tag, n);
                assert!(b1 < n);
                let b2 = Partition::alternate(b1, tag, n);
                assert!(b2 < n);
                assert_eq!(Partition::alternate(b2, tag, n), b1, "n={n} tag={tag}");
            }
        }
    }

    #[test]
    fn insert_find_remove_many() {
        let mut index = Index::new(2);
        let partitioner = index.partitioner();
        let hashes: Vec<u64> =
            (0..50_000u64).map(|i| xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes())).collect();
        for (i, &h) in hashes.iter().enumerate() {
            index.insert(
                partitioner.key_hash(h),
                Location { segment: (i % 1000) as u32, offset: i as u32 },
            );
        }
        assert_eq!(index.len(), hashes.len());
        // Average load above 70%: the point of the whole design.
        let slots = (index.bytes() - 2 * std::mem::size_of::<Partition>()) / 8;
        assert!(hashes.len() * 100 / slots >= 70, "load {}%", hashes.len() * 100 / slots);
        for (i, &h) in hashes.iter().enumerate() {
            let loc = Location { segment: (i % 1000) as u32, offset: i as u32 };
            let r = index.find_location(partitioner.key_hash(h), loc).expect("present");
            assert_eq!(index.entry(r).location, loc);
        }
        for (i, &h) in hashes.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
            let loc = Location { segment: (i % 1000) as u32, offset: i as u32 };
            let r = index.find_location(partitioner.key_hash(h), loc).expect("present");
            index.remove(r);
        }
        assert_eq!(index.len(), hashes.len() / 2);
        let mut count = 0;
        index.for_each(|e| {
            assert_eq!(e.location.offset % 2, 1);
            count += 1;
        });
        assert_eq!(count, hashes.len() / 2);
    }

    #[test]
    fn partitioner_spreads_keys_by_weight() {
        for partitions in [1usize, 2, 4, 8, 64, 4096] {
            let p = Partitioner::new(partitions);
            let mut counts = vec![0u32; partitions];
            let n = 200_000u64;
            for i in 0..n {
                let h = xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
                let k = p.key_hash(h);
                assert_eq!(k.tag, (h & TAG_MASK) as u32);
                counts[k.partition as usize] += 1;
            }
            let groups = partitions.min(MAX_GROUPS);
            let per_group = partitions / groups;
            let total: f64 = (0..groups).map(|g| (g as f64 / 8.0).exp2()).sum();
            for g in 0..groups {
                let got: u32 = counts[g * per_group..(g + 1) * per_group].iter().sum();
                let want = n as f64 * (g as f64 / 8.0).exp2() / total;
                let err = (got as f64 - want).abs() / want;
                assert!(
                    err < 0.03,
                    "partitions {partitions} group {g}: {got} keys, want {want:.0}"
                );
            }
        }
    }

    #[test]
    fn load_stays_high_at_every_size() {
        // Uniform partitions all grow at once, so the load of the whole
        // index swings between 0.72 and 0.90 with the entry count;
        // staggered partitions keep it near the middle at every count.
        let mut index = Index::new(64);
        let partitioner = index.partitioner();
        let fixed = 64 * std::mem::size_of::<Partition>();
        let (mut lowest, mut next_check) = (1.0f64, 40_000u64);
        for i in 0..400_000u64 {
            let h = xxhash_rust::xxh3::xxh3_64(&i.to_le_bytes());
            index.insert(partitioner.key_hash(h), Location { segment: 0, offset: 0 });
            if i + 1 == next_check {
                let slots = (index.bytes() - fixed) / 8;
                lowest = lowest.min(index.len() as f64 / slots as f64);
                next_check += next_check / 50;
            }
        }
        assert!(lowest >= 0.78, "index load fell to {lowest:.3}");
    }

    #[test]
    fn touch_saturates() {
        let mut index = Index::new(1);
        let h = index.partitioner().key_hash(42);
        let loc = Location { segment: 1, offset: 2 };
        index.insert(h, loc);
        let r = index.find_location(h, loc).unwrap();
        for _ in 0..10 {
            index.touch(r);
        }
        assert_eq!(index.entry(r).freq, MAX_FREQ);
        assert_eq!(index.entry(r).location, loc);
    }
}
