//! Fixed-size segments and the global pool they come from.
//!
//! A segment is a plain `Box<[u8]>` with a bump offset: items are appended
//! back to back (see [`super::item`]) and addressed by byte offset from the
//! index. Why not a bumpalo arena per segment, as the design card offered:
//! - eviction compacts a segment *in place* (survivors slide to the front
//!   with `copy_within`), which needs the bytes as one slice, not an arena
//!   that only hands out new allocations;
//! - items are addressed by 24-bit offsets, which a plain slice gives for
//!   free and an arena's chunk list would not;
//! - a segment is allocated once and reused forever, so an arena's
//!   `reset()` would only replace `write = 0`.
//!
//! The pool is the one place segments are allocated or given up. It holds
//! at most `quota` of them; the memory governor moves the quota, and shards
//! whose segment is full take a fresh one from the pool or, when the quota
//! is used up, evict their own oldest segment and reuse it.
//!
//! A segment given up for good is never freed under a lock: see [`Freed`].
//!
//! # Oversized segments
//! An item larger than a segment gets a segment of its own: one allocation
//! of exactly the item's length, holding it at offset 0. It sits in its
//! shard's segment table and FIFO like any other, so the index (segment id
//! plus offset) and eviction address it without a second path. The pool
//! counts it in *units* of `segment_size`: as many as the allocator's size
//! class for its length takes ([`units_for`]), reserved against the same
//! quota before the allocation is made, so the budget sees its bytes as
//! it sees segments' and a huge item gets room by eviction or is refused.
//! It never goes to the free list: when its item dies, it is freed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::item::{self, Header};

/// One segment owned by a shard.
pub struct Segment {
    data: Box<[u8]>,
    /// Bytes used from the start.
    write: usize,
    /// Bytes of items the index still points at.
    live: usize,
    /// The shard's seal count when this segment was last sealed: its age
    /// for choosing what to reclaim (see [`super::eviction`]).
    sealed_at: u64,
    /// No item in the segment that may still be live has a deadline
    /// before this (Unix ms; `u64::MAX`: none has one). Active expiry
    /// scans the segment once it passes (see [`super::expiry`]).
    next_deadline: u64,
    /// No item in the segment has a deadline after this (0: none has
    /// one). With [`Segment::next_deadline`], what share of the deadlines
    /// has passed, if they are spread evenly.
    last_deadline: u64,
    /// When active expiry last scanned the segment (Unix ms).
    scanned_at: u64,
}

impl Segment {
    /// Wraps a buffer from the pool as an empty segment.
    pub fn new(data: Box<[u8]>) -> Segment {
        Segment {
            data,
            write: 0,
            live: 0,
            sealed_at: 0,
            next_deadline: u64::MAX,
            last_deadline: 0,
            scanned_at: 0,
        }
    }

    /// Gives the buffer back (for the pool).
    pub fn into_buffer(self) -> Box<[u8]> {
        self.data
    }

    /// Bytes the segment can hold.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Bytes still free at the end.
    pub fn remaining(&self) -> usize {
        self.data.len() - self.write
    }

    /// Bytes written so far.
    pub fn used(&self) -> usize {
        self.write
    }

    /// Bytes of live items.
    pub fn live(&self) -> usize {
        self.live
    }

    /// Bytes written that no item the index points at occupies any more
    /// (overwritten, deleted or expired copies), until compaction.
    pub fn dead(&self) -> usize {
        self.write - self.live
    }

    /// Records that the segment was sealed at the shard's seal count `at`.
    pub fn seal(&mut self, at: u64) {
        self.sealed_at = at;
    }

    /// The shard's seal count when this segment was sealed.
    pub fn sealed_at(&self) -> u64 {
        self.sealed_at
    }

    /// Writes an item over the `len`-byte item at `offset`, keeping its
    /// length exactly (see [`item::write_exact`]); it stays live.
    pub fn overwrite(
        &mut self,
        offset: usize,
        len: usize,
        key: &[u8],
        value: &[u8],
        expiry: Option<u64>,
    ) {
        item::write_exact(&mut self.data[offset..offset + len], key, value, expiry, len);
        self.note_deadline(expiry);
    }

    /// Appends an item; the caller has checked [`Segment::remaining`].
    /// Returns its offset.
    pub fn append(&mut self, key: &[u8], value: &[u8], expiry: Option<u64>) -> usize {
        let offset = self.write;
        let n = item::write(&mut self.data[offset..], key, value, expiry);
        self.write += n;
        self.live += n;
        self.note_deadline(expiry);
        offset
    }

    /// Takes an item's expiry field into [`Segment::next_deadline`].
    fn note_deadline(&mut self, expiry: Option<u64>) {
        if let Some(ms) = expiry.filter(|&ms| ms != 0) {
            self.next_deadline = self.next_deadline.min(ms);
            self.last_deadline = self.last_deadline.max(ms);
        }
    }

    /// The earliest deadline an item that may be live has (`u64::MAX`:
    /// none).
    pub fn next_deadline(&self) -> u64 {
        self.next_deadline
    }

    /// The latest deadline an item may have (0: none has one).
    pub fn last_deadline(&self) -> u64 {
        self.last_deadline
    }

    /// Records a scan (by active expiry at `now`, or a compaction) that
    /// found `next` and `last` the earliest and latest deadlines still to
    /// come (`u64::MAX` and 0: none).
    pub fn scanned(&mut self, now: u64, next: u64, last: u64) {
        self.scanned_at = now;
        self.next_deadline = next;
        self.last_deadline = last;
    }

    /// When active expiry last scanned the segment.
    pub fn scanned_at(&self) -> u64 {
        self.scanned_at
    }

    /// The header of the item at `offset`.
    ///
    /// # Panics
    /// If `offset` is not the start of an item this segment holds, which
    /// would mean the index and the segments disagree (a bug, not input).
    pub fn header(&self, offset: usize) -> Header {
        item::read_header(&self.data[offset..self.write]).expect("index points at an item")
    }

    /// The key of the item at `offset` with header `h`.
    pub fn key(&self, offset: usize, h: &Header) -> &[u8] {
        &self.data[offset + h.key_start()..offset + h.value_start()]
    }

    /// The value of the item at `offset` with header `h`.
    pub fn value(&self, offset: usize, h: &Header) -> &[u8] {
        &self.data[offset + h.value_start()..offset + h.item_len()]
    }

    /// Rewrites the expiry field of the item at `offset` in place; false if
    /// the item has no such field.
    pub fn patch_expiry(&mut self, offset: usize, h: &Header, expiry_ms: u64) -> bool {
        let patched = item::patch_expiry(&mut self.data[offset..self.write], h, expiry_ms);
        if patched {
            self.note_deadline(Some(expiry_ms));
        }
        patched
    }

    /// Records that an item of `len` bytes is no longer referenced.
    pub fn mark_dead(&mut self, len: usize) {
        debug_assert!(self.live >= len);
        self.live -= len;
    }

    /// Moves the item `[from, from + len)` to `to <= from` during in-place
    /// compaction; it stays live.
    pub fn slide(&mut self, from: usize, len: usize, to: usize) {
        debug_assert!(to <= from);
        if to != from {
            self.data.copy_within(from..from + len, to);
        }
    }

    /// Ends a compaction: everything past `write` is free again and exactly
    /// the retained bytes are live.
    pub fn truncate(&mut self, write: usize) {
        self.write = write;
        self.live = write;
    }

    /// The bytes in use, for walking items.
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.write]
    }
}

/// Segment buffers given up for good, to be freed once no lock is held.
///
/// Freeing a segment is a jemalloc `free` of a whole segment (1 MiB by
/// default) that may hand its pages back to the kernel (`madvise`) then and
/// there. Under a shard's lock that would stall every other client of the
/// shard; under the pool's lock, every shard that wants a segment. So
/// buffers leaving the pool are collected here and dropped after the guard
/// (the idea of foyer's eviction): a shard's in its `freed` field, which the
/// store's shard guard empties and drops once the mutex is released; the
/// pool's own in [`SegmentPool::set_quota`]. Handing a buffer back to the
/// pool for reuse is not a free and happens under the locks.
#[derive(Default)]
pub struct Freed(Vec<Box<[u8]>>);

impl Freed {
    /// Keeps `buffer`, if there is one, until `self` is dropped.
    pub(super) fn add(&mut self, buffer: Option<Box<[u8]>>) {
        self.0.extend(buffer);
    }

    /// Everything collected so far, leaving `self` empty.
    pub(super) fn take(&mut self) -> Freed {
        Freed(std::mem::take(&mut self.0))
    }
}

/// In unit tests, dropping buffers checks that this thread holds no store
/// lock, and counts them.
#[cfg(test)]
impl Drop for Freed {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            watch::freed_now(self.0.len());
        }
    }
}

/// Test hook: the store locks this thread holds (counted where the store
/// takes and releases them) and the segment buffers it has freed.
#[cfg(test)]
pub(super) mod watch {
    use std::cell::Cell;

    thread_local! {
        static LOCKS_HELD: Cell<usize> = const { Cell::new(0) };
        static FREED: Cell<usize> = const { Cell::new(0) };
    }

    /// This thread took a shard's or the pool's lock.
    pub fn locked() {
        LOCKS_HELD.with(|n| n.set(n.get() + 1));
    }

    /// This thread released it.
    pub fn unlocked() {
        LOCKS_HELD.with(|n| n.set(n.get() - 1));
    }

    /// Segment buffers this thread has freed so far.
    pub fn freed() -> usize {
        FREED.with(Cell::get)
    }

    pub(super) fn freed_now(buffers: usize) {
        assert_eq!(LOCKS_HELD.with(Cell::get), 0, "segment buffers freed under a store lock");
        FREED.with(|n| n.set(n.get() + buffers));
    }
}

/// The bytes the allocator (jemalloc) takes for an allocation of `len`
/// bytes: its size class, four per doubling (`2^k + i * 2^(k-2)`). A
/// 16 MiB value plus its key is a 20 MiB allocation.
pub fn allocation_size(len: usize) -> usize {
    if len <= 16 {
        return len.max(8);
    }
    let k = usize::BITS - 1 - (len - 1).leading_zeros();
    let step = (1usize << k.saturating_sub(2)).max(16);
    len.div_ceil(step) * step
}

/// Pool units an oversized segment of `len` bytes is counted as: its
/// allocation in whole segments, rounded up (see the module docs).
pub fn units_for(len: usize, segment_size: usize) -> usize {
    allocation_size(len).div_ceil(segment_size)
}

/// The global supply of segment buffers, bounded by a quota.
pub struct SegmentPool {
    segment_size: usize,
    quota: AtomicUsize,
    allocated: AtomicUsize,
    free: Mutex<Vec<Box<[u8]>>>,
}

impl SegmentPool {
    /// A pool of `segment_size`-byte segments, allowed `quota` of them.
    pub fn new(segment_size: usize, quota: usize) -> SegmentPool {
        SegmentPool {
            segment_size,
            quota: AtomicUsize::new(quota),
            allocated: AtomicUsize::new(0),
            free: Mutex::new(Vec::new()),
        }
    }

    /// Bytes per segment.
    pub fn segment_size(&self) -> usize {
        self.segment_size
    }

    /// Segments currently allowed.
    pub fn quota(&self) -> usize {
        self.quota.load(Ordering::Relaxed)
    }

    /// Sets how many segments may exist. Lowering it frees what waits in
    /// the pool beyond the new quota (after releasing the pool's lock) and
    /// nothing else: the store then releases segments until it holds no
    /// more.
    pub fn set_quota(&self, quota: usize) {
        self.quota.store(quota, Ordering::Relaxed);
        if self.allocated() > quota {
            let mut surplus = Freed::default();
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            #[cfg(test)]
            watch::locked();
            while self.allocated() > quota {
                let Some(buffer) = free.pop() else { break };
                self.allocated.fetch_sub(1, Ordering::Relaxed);
                surplus.add(Some(buffer));
            }
            drop(free);
            #[cfg(test)]
            watch::unlocked();
            drop(surplus);
        }
    }

    /// Segments in existence (in shards or free in the pool).
    pub fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Segments waiting in the pool for a shard.
    pub fn free_count(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// A buffer for a new segment: a reused one, or a fresh allocation if
    /// the quota allows; `None` when the caller must evict instead.
    pub fn take(&self) -> Option<Box<[u8]>> {
        self.take_within(self.quota())
    }

    /// A buffer even past the quota, for a shard that holds no segment at
    /// all: every shard can always write. The quota never falls below one
    /// segment per shard, so this only bridges an uneven spread until the
    /// governor's next release evens it out.
    pub fn take_first(&self) -> Box<[u8]> {
        self.take_within(usize::MAX).expect("no limit")
    }

    fn take_within(&self, quota: usize) -> Option<Box<[u8]>> {
        if let Some(buf) = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Some(buf);
        }
        // Reserve first so concurrent shards cannot overshoot the quota.
        let reserved = self
            .allocated
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < quota).then_some(n + 1))
            .is_ok();
        // Zeroed allocation: fresh pages stay untouched (not resident) until
        // items are written into them.
        reserved.then(|| vec![0u8; self.segment_size].into_boxed_slice())
    }

    /// Returns a buffer: kept for reuse while within quota. Past the quota
    /// it no longer counts as allocated and comes back, for the caller to
    /// free once it holds no lock (in a [`Freed`]).
    pub fn give_back(&self, buf: Box<[u8]>) -> Option<Box<[u8]>> {
        if self.allocated() > self.quota() {
            self.allocated.fetch_sub(1, Ordering::Relaxed);
            Some(buf)
        } else {
            self.free.lock().unwrap_or_else(|e| e.into_inner()).push(buf);
            None
        }
    }

    /// Reserves `units` segments' worth of the quota for an oversized
    /// segment; false (nothing reserved) if the quota has no such room even
    /// once the free list is given up. Free buffers given up for it go to
    /// `freed`, for the caller to drop once it holds no lock.
    pub fn try_reserve(&self, units: usize, freed: &mut Freed) -> bool {
        let quota = self.quota();
        if units > quota {
            return false;
        }
        let fits =
            |n: usize| n.checked_add(units).filter(|&total| total <= quota).map(|_| n + units);
        loop {
            if self.allocated.fetch_update(Ordering::Relaxed, Ordering::Relaxed, fits).is_ok() {
                return true;
            }
            let Some(buffer) = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop() else {
                return false;
            };
            self.allocated.fetch_sub(1, Ordering::Relaxed);
            freed.add(Some(buffer));
        }
    }

    /// Gives back `units` reserved by [`SegmentPool::try_reserve`] (the
    /// oversized segment was freed, or never made).
    pub fn unreserve(&self, units: usize) {
        let before = self.allocated.fetch_sub(units, Ordering::Relaxed);
        debug_assert!(before >= units, "unreserved more units than reserved");
    }

    /// True when more segments exist than the quota allows.
    pub fn over_quota(&self) -> bool {
        self.allocated() > self.quota()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_respects_quota_and_reuses() {
        let pool = SegmentPool::new(64, 2);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        assert!(pool.take().is_none());
        pool.give_back(a);
        assert_eq!(pool.free_count(), 1);
        let a = pool.take().unwrap();
        assert_eq!(pool.allocated(), 2);
        pool.set_quota(1);
        assert!(pool.over_quota());
        pool.give_back(a);
        assert_eq!(pool.allocated(), 1);
        assert!(!pool.over_quota());
        pool.give_back(b);
        assert_eq!(pool.free_count(), 1);
        pool.set_quota(0);
        assert_eq!(pool.allocated(), 0);
    }

    #[test]
    fn oversized_units_follow_the_allocators_classes() {
        assert_eq!(allocation_size(1 << 20), 1 << 20);
        assert_eq!(allocation_size((1 << 20) + 1), 5 << 18);
        assert_eq!(allocation_size((16 << 20) + 30), 20 << 20);
        assert_eq!(allocation_size(1025), 1280);
        assert_eq!(units_for((16 << 20) + 30, 1 << 20), 20);
        assert_eq!(units_for((1 << 20) + 1, 1 << 20), 2);
    }

    #[test]
    fn reserving_units_gives_up_free_buffers_first() {
        let pool = SegmentPool::new(64, 4);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        pool.give_back(a);
        pool.give_back(b);
        let mut freed = Freed::default();
        assert!(!pool.try_reserve(5, &mut freed), "past the quota");
        assert!(pool.try_reserve(3, &mut freed));
        assert_eq!((pool.allocated(), pool.free_count()), (4, 1));
        assert!(pool.take().is_some(), "the buffer left in the free list");
        assert!(pool.take().is_none());
        pool.unreserve(3);
        assert_eq!(pool.allocated(), 1);
        drop(freed);
    }

    #[test]
    fn append_slide_truncate() {
        let mut seg = Segment::new(vec![0u8; 64].into_boxed_slice());
        let o1 = seg.append(b"a", b"1", None);
        let o2 = seg.append(b"bb", b"22", Some(9));
        assert_eq!((o1, o2), (0, 4));
        let h2 = seg.header(o2);
        assert_eq!(seg.key(o2, &h2), b"bb");
        assert_eq!(seg.value(o2, &h2), b"22");
        assert_eq!(seg.live(), seg.used());
        seg.mark_dead(seg.header(o1).item_len());
        seg.slide(o2, h2.item_len(), 0);
        seg.truncate(h2.item_len());
        let h = seg.header(0);
        assert_eq!(seg.key(0, &h), b"bb");
        assert_eq!(seg.remaining(), 64 - h2.item_len());
    }
}
