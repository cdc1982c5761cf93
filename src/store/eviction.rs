//! Which segment goes next, and what survives it.
//!
//! Policy: **per-shard FIFO of segments with reinsertion of read items**
//! (the Segcache / S3-FIFO idea, close to CLOCK at segment granularity),
//! **plus cost-benefit cleaning of dead space** (the rule of log-structured
//! file systems, Rosenblum and Ousterhout's LFS). When a shard needs space
//! and the pool has no segment for it, it reclaims one of its sealed
//! segments in place and makes it its open segment:
//! - items the index no longer points at (overwritten, deleted) vanish;
//! - expired items are dropped and counted as expirations;
//! - if the segment is the shard's *oldest*, it is normally **evicted**:
//!   items read since they were written (`freq > 0`) slide to the front of
//!   the segment with their read count decremented, up to a retention
//!   limit, and every other item is evicted;
//! - any other segment, and the oldest while the shard holds more than
//!   `DEAD_SHARE` of dead bytes, is **cleaned**: every live item slides
//!   to the front (its read count untouched) and nothing live is lost.
//!
//! Which segment: the one with the highest benefit/cost = (1 - u) * age /
//! (1 + u), where u is the fraction of the segment the reclamation keeps
//! and age is counted in segments sealed since. The benefit of
//! reclaiming a segment is the space it frees (1 - u), weighted by how
//! long that space has stayed dead (age: an old segment's live items are
//! stable, a young one's are still being overwritten, so cleaning it now
//! would copy items that die soon anyway); the cost is reading the segment
//! and moving what stays (1 + u). For the oldest segment u is its live
//! bytes capped at the retention limit (eviction keeps no more); for the
//! others u is its live fraction. Age-only FIFO is the special case where
//! the oldest always wins. Why this rule and not FIFO alone: when the same
//! keys are overwritten over and over (a Zipf workload with 50% writes),
//! their dead copies sit in every segment, and FIFO reclaims them only when
//! it reaches them, so two thirds of the cache held dead bytes. A segment
//! other than the oldest wins only if it keeps less than the oldest would
//! (its age is lower, so its (1 - u) / (1 + u) must be higher), so such a
//! reclamation frees at least what evicting the oldest would.
//!
//! That comparison never counts what eviction *loses*, so when overwrites
//! are spread over the whole cache (random keys rewritten at new sizes)
//! the oldest segment, holding the most dead bytes, always wins, and it is
//! evicted live items and all while every younger segment keeps its dead
//! ones. Hence a second rule: while more than `DEAD_SHARE` (a twelfth)
//! of a shard's sealed bytes are dead, the shard does not evict; it cleans
//! the best segment by the same score, the oldest included, among those
//! that have room for the incoming item once compacted. Each such cleaning
//! frees at least the item and on average more than the share; the share
//! bounds the copying (about eleven bytes moved per byte freed at worst,
//! a `memmove`, against a miss for every live item evicted instead).
//!
//! The compacted segment becomes the shard's open segment, so the
//! survivors now sit at the young end of the FIFO: a second chance paid for
//! with one `memmove`, no extra memory and no copy into another segment.
//! Retention is capped (at most half a segment by default, and never more
//! than leaves room for the item being written) so every reclamation frees
//! space even when everything is hot, and needs no free segment.
//!
//! Overwrites that fit the old item are written in place (see
//! [`super::shard`]), so fixed-size values and counters leave no dead
//! copies at all; cleaning is for the rest (values that change size,
//! deletes, expiry found on read).
//!
//! Oversized segments (one item larger than a segment, see
//! [`super::segment`]) take their turn in the same FIFO: one that reaches
//! the old end is evicted and freed if its item was not read since it was
//! written, and otherwise moves to the young end with one read spent, the
//! second chance a read item gets in a regular segment. They are never
//! cleaned (their one item is live, or the segment is already freed) and
//! never become the open segment.
//!
//! Trade-offs considered: a global FIFO across shards would evict in true
//! age order but needs cross-shard locking on every eviction; per-shard FIFO
//! is equivalent under uniform hashing, which xxh3 gives us. Merge-based
//! eviction (pelikan) compacts several segments into one and keeps more hot
//! items under skew, at the cost of a free target segment; in-place
//! compaction needs none, which matters when the budget is nearly all used.
//! Greedy cleaning (least live first, no age) would keep cleaning young
//! segments whose remaining items are about to be overwritten.

use xxhash_rust::xxh3::xxh3_64;

use super::StoreError;
use super::index::Location;
use super::segment::Segment;
use super::shard::Shard;

/// The share of a shard's sealed bytes that may be dead before it stops
/// evicting live items to make room and cleans dead ones instead (see the
/// module doc). A twelfth keeps the live fraction about 0.9; churn at
/// 2 GiB (random keys rewritten at random sizes, every segment part dead)
/// went from 0.82 to 0.91 live and from 0.78 to 0.865 of L retained
/// (in a 2 GiB cgroup), for about 8% more server CPU. A sixteenth kept
/// 0.02 more of L for about 15% more CPU, an eighth 0.04 less for none.
const DEAD_SHARE: f64 = 1.0 / 12.0;

/// What a compaction does with live, unexpired items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    /// The oldest segment: keep read items (one read count spent), evict
    /// the rest.
    Evict,
    /// Any segment, for its dead bytes (the oldest only past [`DEAD_SHARE`]):
    /// keep every live item.
    Clean,
}

impl Shard {
    /// Ensures the open segment has `size` free bytes, sealing it and taking
    /// a fresh segment from the pool, or reclaiming the oldest one.
    pub(super) fn make_room(&mut self, size: usize, now: u64) -> Result<(), StoreError> {
        if let Some(open) = self.open {
            if self.segment(open).remaining() >= size {
                return Ok(());
            }
            self.seal_open();
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
        let fresh = loop {
            if self.fifo.is_empty() {
                break Some(self.pool.take_first());
            }
            if let Some(buffer) = self.pool.take() {
                break Some(buffer);
            }
            if !self.is_oversized(self.segment(self.fifo[0])) {
                break None;
            }
            self.pass_oversized(now);
        };
        if let Some(buffer) = fresh {
            let id = self.install(Segment::new(buffer))?;
            self.open = Some(id);
            return Ok(());
        }
        let (position, pass) = self.pick_victim(size);
        let victim = self.fifo.remove(position).expect("not empty: checked above");
        let keep = segment_size - size;
        match pass {
            Pass::Evict => {
                self.compact(victim, self.retain_limit.min(keep), Pass::Evict, now);
                self.counters.evicted_segments += 1;
            }
            Pass::Clean => {
                self.compact(victim, keep, Pass::Clean, now);
                self.counters.cleaned_segments += 1;
            }
        }
        self.open = Some(victim);
        Ok(())
    }

    /// The oldest segment is oversized: evict and free it, or give its item
    /// a second chance at the young end if it was read (see the module doc).
    fn pass_oversized(&mut self, now: u64) {
        let id = self.fifo.pop_front().expect("the caller saw it");
        let segment = self.segment(id);
        let header = segment.header(0);
        let hash = self.index.partitioner().key_hash(xxh3_64(segment.key(0, &header)));
        let here = Location { segment: id, offset: 0 };
        let slot = self.index.find_location(hash, here);
        let expired = header.deadline().is_some_and(|d| d <= now);
        if let Some(slot) = slot.filter(|&slot| !expired && self.index.entry(slot).freq > 0) {
            let freq = self.index.entry(slot).freq;
            self.index.update(slot, here, freq - 1);
            self.counters.retained_items += 1;
            self.seals += 1;
            let seals = self.seals;
            self.segment_mut(id).seal(seals);
            self.fifo.push_back(id);
            return;
        }
        self.compact(id, 0, Pass::Evict, now);
        self.counters.evicted_segments += 1;
        self.retire(id);
    }

    /// Seals the open segment: it joins the FIFO at the young end.
    fn seal_open(&mut self) {
        if let Some(open) = self.open.take() {
            self.seals += 1;
            let seals = self.seals;
            self.segment_mut(open).seal(seals);
            self.fifo.push_back(open);
        }
    }

    /// The sealed segment to reclaim for an item of `size` bytes, and how
    /// (see the module doc). Normally: the FIFO position with the best
    /// benefit/cost `(1 - u) * age / (1 + u)`, the oldest evicted, any other
    /// cleaned; ties go to the older. While more than [`DEAD_SHARE`] of the
    /// sealed bytes are dead, eviction is off the table: the best segment
    /// to *clean* (the oldest included) that has room for the item once
    /// compacted, and only if none has, the oldest is evicted. The FIFO is
    /// not empty.
    fn pick_victim(&self, size: usize) -> (usize, Pass) {
        let segment_size = self.pool.segment_size();
        let score = |position: usize, kept: usize| {
            let segment = self.segment(self.fifo[position]);
            let u = kept as f64 / segment_size as f64;
            let age = (self.seals - segment.sealed_at() + 1) as f64;
            (1.0 - u) * age / (1.0 + u)
        };
        // Cleaning `position` keeps all its live bytes: its score, if the
        // item then fits.
        let clean = |position: usize| {
            let segment = self.segment(self.fifo[position]);
            let live = segment.live();
            (live + size <= segment_size && !self.is_oversized(segment))
                .then(|| (position, score(position, live)))
        };
        // The best to clean but the oldest; ties go to the older.
        let younger =
            (1..self.fifo.len()).filter_map(clean).fold(None, |best: Option<(usize, f64)>, c| {
                match best {
                    Some(b) if b.1 >= c.1 => Some(b),
                    _ => Some(c),
                }
            });
        let sealed = (self.fifo.len() - self.oversized) * segment_size;
        if self.dead_bytes as f64 > DEAD_SHARE * sealed as f64 {
            let best = match (clean(0), younger) {
                (Some(oldest), Some(y)) if y.1 > oldest.1 => Some(y),
                (oldest, y) => oldest.or(y),
            };
            if let Some((position, _)) = best {
                return (position, Pass::Clean);
            }
        }
        let evict = score(0, self.segment(self.fifo[0]).live().min(self.retain_limit));
        match younger {
            Some((position, s)) if s > evict => (position, Pass::Clean),
            _ => (0, Pass::Evict),
        }
    }

    /// Compacts segment `id` in place, keeping at most `keep` bytes of
    /// unexpired items (under [`Pass::Evict`] only read ones); every other
    /// item leaves the index.
    pub(super) fn compact(&mut self, id: u32, keep: usize, pass: Pass, now: u64) {
        let mut segment = self.segments[id as usize].take().expect("compacting a live segment");
        self.dead_bytes -= segment.dead();
        let partitioner = self.index.partitioner();
        let (mut read, mut write) = (0usize, 0usize);
        let (mut next_deadline, mut last_deadline) = (u64::MAX, 0);
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
                } else if (pass == Pass::Clean || entry.freq > 0) && write + len <= keep {
                    if let Some(deadline) = header.deadline() {
                        next_deadline = next_deadline.min(deadline);
                        last_deadline = last_deadline.max(deadline);
                    }
                    segment.slide(read, len, write);
                    let moved = Location { segment: id, offset: write as u32 };
                    if pass == Pass::Evict {
                        self.index.update(slot, moved, entry.freq - 1);
                        self.counters.retained_items += 1;
                    } else {
                        self.index.update(slot, moved, entry.freq);
                    }
                    write += len;
                } else {
                    if let Some(watched) = self.watched.as_deref_mut() {
                        watched.touch(segment.key(read, &header));
                    }
                    self.index.remove(slot);
                    self.live_bytes -= len;
                    self.with_deadline -= usize::from(header.deadline().is_some());
                    self.counters.evicted_items += 1;
                }
            }
            read += len;
        }
        segment.truncate(write);
        segment.scanned(segment.scanned_at(), next_deadline, last_deadline);
        self.segments[id as usize] = Some(segment);
    }

    /// Evicts the oldest segment entirely and returns it to the pool, or to
    /// `freed` when over quota. False if the shard holds no segment.
    pub(super) fn release_oldest(&mut self, now: u64) -> bool {
        let Some(id) = self.fifo.pop_front().or_else(|| self.open.take()) else {
            return false;
        };
        self.compact(id, 0, Pass::Evict, now);
        self.counters.evicted_segments += 1;
        self.retire(id);
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
                if self.is_oversized(seg) {
                    assert_eq!((seg.live(), seg.used()), (seg.capacity(), seg.capacity()));
                    assert!(self.fifo.contains(&(id as u32)), "oversized segments are sealed");
                }
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
        let dead: usize = self.segments.iter().flatten().map(Segment::dead).sum();
        assert_eq!(self.dead_bytes, dead, "dead bytes");
        let oversized: Vec<&Segment> =
            self.segments.iter().flatten().filter(|s| self.is_oversized(s)).collect();
        assert_eq!(oversized.len(), self.oversized, "oversized segments");
        let units: usize = oversized
            .iter()
            .map(|s| super::segment::units_for(s.capacity(), self.pool.segment_size()))
            .sum();
        assert_eq!(units, self.oversized_units, "oversized units");
    }
}
