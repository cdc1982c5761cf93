//! Which segment goes next, and what survives it.
//!
//! Policy: **per-shard FIFO of segments with reinsertion of read items**
//! (the Segcache / S3-FIFO idea, close to CLOCK at segment granularity).
//! When a shard needs space and the pool has no segment for it, it takes
//! its *oldest* segment and compacts it in place:
//! - items the index no longer points at (deleted, overwritten) vanish;
//! - expired items are dropped and counted as expirations;
//! - items read since they were written (`freq > 0`) slide to the front of
//!   the segment with their read count decremented, up to a retention limit;
//! - everything else is evicted.
//!
//! The compacted segment then becomes the shard's open segment, so the
//! survivors now sit at the young end of the FIFO: a second chance paid for
//! with one `memmove`, no extra memory and no copy into another segment.
//! Retention is capped (at most half a segment by default, and never more
//! than leaves room for the item being written) so every eviction frees
//! space even when everything is hot.
//!
//! Trade-offs considered: a global FIFO across shards would evict in true
//! age order but needs cross-shard locking on every eviction; per-shard FIFO
//! is equivalent under uniform hashing, which xxh3 gives us. Merge-based
//! eviction (pelikan) compacts several segments into one and keeps more hot
//! items under skew, at the cost of a free target segment; in-place
//! compaction needs none, which matters when the budget is nearly all used.

use xxhash_rust::xxh3::xxh3_64;

use super::StoreError;
use super::index::Location;
use super::segment::Segment;
use super::shard::Shard;

impl Shard {
    /// Ensures the open segment has `size` free bytes, sealing it and taking
    /// a fresh segment from the pool, or reclaiming the oldest one.
    pub(super) fn make_room(&mut self, size: usize, now: u64) -> Result<(), StoreError> {
        if let Some(open) = self.open {
            if self.segment(open).remaining() >= size {
                return Ok(());
            }
            self.fifo.push_back(open);
            self.open = None;
        }
        let segment_size = self.pool.segment_size();
        if size > segment_size {
            return Err(StoreError::ItemTooLarge);
        }
        // Over quota (the governor shrank it): hand a segment back while
        // we are here, so shrinking keeps pace with the write rate.
        if self.pool.over_quota() && self.fifo.len() > 1 {
            self.release_oldest(now);
        }
        let fresh = match self.fifo.is_empty() {
            true => Some(self.pool.take_first()),
            false => self.pool.take(),
        };
        if let Some(buffer) = fresh {
            let id = self.install(Segment::new(buffer))?;
            self.open = Some(id);
            return Ok(());
        }
        let victim = self.fifo.pop_front().expect("not empty: checked above");
        let keep = self.retain_limit.min(segment_size - size);
        self.compact(victim, keep, now);
        self.counters.evicted_segments += 1;
        self.open = Some(victim);
        Ok(())
    }

    /// Compacts segment `id` in place, keeping at most `keep` bytes of
    /// read, unexpired items; every other item leaves the index.
    pub(super) fn compact(&mut self, id: u32, keep: usize, now: u64) {
        let mut segment = self.segments[id as usize].take().expect("compacting a live segment");
        let partitioner = self.index.partitioner();
        let (mut read, mut write) = (0usize, 0usize);
        while read < segment.used() {
            let header = segment.header(read);
            let len = header.item_len();
            let hash = partitioner.key_hash(xxh3_64(segment.key(read, &header)));
            let here = Location { segment: id, offset: read as u32 };
            if let Some(slot) = self.index.find_location(hash, here) {
                let entry = self.index.entry(slot);
                if header.deadline().is_some_and(|d| d <= now) {
                    self.index.remove(slot);
                    self.live_bytes -= len;
                    self.with_deadline -= 1;
                    self.counters.expired_items += 1;
                } else if entry.freq > 0 && write + len <= keep {
                    segment.slide(read, len, write);
                    let moved = Location { segment: id, offset: write as u32 };
                    self.index.update(slot, moved, entry.freq - 1);
                    self.counters.retained_items += 1;
                    write += len;
                } else {
                    self.index.remove(slot);
                    self.live_bytes -= len;
                    self.with_deadline -= usize::from(header.deadline().is_some());
                    self.counters.evicted_items += 1;
                }
            }
            read += len;
        }
        segment.truncate(write);
        self.segments[id as usize] = Some(segment);
    }

    /// Evicts the oldest segment entirely and returns it to the pool, or to
    /// `freed` when over quota. False if the shard holds no segment.
    pub(super) fn release_oldest(&mut self, now: u64) -> bool {
        let Some(id) = self.fifo.pop_front().or_else(|| self.open.take()) else {
            return false;
        };
        self.compact(id, 0, now);
        self.counters.evicted_segments += 1;
        let segment = self.segments[id as usize].take().expect("released segment exists");
        self.free_ids.push(id);
        self.freed.add(self.pool.give_back(segment.into_buffer()));
        true
    }

    /// Checks every invariant between index and segments (tests only).
    #[cfg(test)]
    pub(super) fn check_consistency(&self) {
        let mut live_per_segment = vec![0usize; self.segments.len()];
        let (mut entries, mut with_deadline) = (0, 0);
        self.index.for_each(|e| {
            let seg = self.segment(e.location.segment);
            let h = seg.header(e.location.offset as usize);
            let key = seg.key(e.location.offset as usize, &h);
            let hash = self.index.partitioner().key_hash(xxh3_64(key));
            assert_eq!(self.index.find_location(hash, e.location).map(|_| ()), Some(()));
            live_per_segment[e.location.segment as usize] += h.item_len();
            entries += 1;
            with_deadline += usize::from(h.deadline().is_some());
        });
        assert_eq!(entries, self.index.len());
        assert_eq!(with_deadline, self.with_deadline, "items with a deadline");
        for (id, seg) in self.segments.iter().enumerate() {
            if let Some(seg) = seg {
                assert_eq!(seg.live(), live_per_segment[id], "live bytes of segment {id}");
                let mut at = 0;
                while at < seg.used() {
                    at += super::item::read_header(&seg.bytes()[at..])
                        .expect("whole items")
                        .item_len();
                }
                assert_eq!(at, seg.used());
            }
        }
        assert_eq!(self.live_bytes, live_per_segment.iter().sum::<usize>());
    }
}
