//! One shard: its segments, its index, and every operation on its keys.
//! A shard is used behind one mutex and never blocks inside it, so a plain
//! `std::sync::Mutex` is enough (no await is ever held across it).
//!
//! Writes always go through `Shard::put`. An overwrite whose new item
//! fits where the old one is (same length, or a few bytes shorter: see
//! [`item::fits_in_place`]) is written over it and nothing else changes:
//! no dead copy, no eviction. Otherwise: make room first (which may evict
//! and move items), then look the key up again, then append the new item
//! and point the index at it; the old copy's bytes become dead. Looking up
//! *after* making room matters: eviction compacts segments in place, so
//! any location read before it could be stale.
//!
//! An item larger than a segment (with its expiry field counted, so that
//! adding a deadline never moves an item across the line) gets an
//! oversized segment of its own (see [`super::segment`]): it joins the
//! FIFO's young end at once, sealed, and is freed as soon as its item dies
//! (overwritten, deleted, expired), not when eviction reaches it. Its pool
//! units are reserved first; a shard that cannot get them notes how many
//! it wanted ([`Shard::wanted_units`]) and fails with `OutOfMemory`, and
//! the store evicts across shards and runs the operation again.

use std::collections::VecDeque;
use std::sync::Arc;

use super::StoreError;
use super::index::{Index, KeyHash, Location, SlotRef};
use super::item::{self, Header};
use super::segment::{self, Freed, Segment, SegmentPool};
use super::watch::Watched;

/// Counters a shard keeps under its lock.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShardCounters {
    /// Items dropped by eviction while still live.
    pub evicted_items: u64,
    /// Items found expired (on read or during eviction) and dropped.
    pub expired_items: u64,
    /// Items copied forward by eviction because they had been read.
    pub retained_items: u64,
    /// Segments reclaimed by eviction (the oldest of the shard).
    pub evicted_segments: u64,
    /// Segments compacted for their dead bytes ahead of their turn, keeping
    /// every live item (see [`super::eviction`]).
    pub cleaned_segments: u64,
    /// Overwrites written in place over the old item.
    pub overwrites_in_place: u64,
}

impl ShardCounters {
    /// Adds `other` to these counters.
    pub fn add(&mut self, other: &ShardCounters) {
        let ShardCounters {
            evicted_items,
            expired_items,
            retained_items,
            evicted_segments,
            cleaned_segments,
            overwrites_in_place,
        } = *other;
        self.evicted_items += evicted_items;
        self.expired_items += expired_items;
        self.retained_items += retained_items;
        self.evicted_segments += evicted_segments;
        self.cleaned_segments += cleaned_segments;
        self.overwrites_in_place += overwrites_in_place;
    }
}

/// A key found in the shard.
#[derive(Debug, Clone, Copy)]
pub(super) struct Found {
    pub slot: SlotRef,
    pub location: Location,
    pub header: Header,
}

/// An oversized item already written into its own segment, before its
/// shard was locked (see [`Store::set`](super::Store::set)), and the pool
/// units reserved for it. One that is not installed must be given back
/// with [`Prepared::discard`].
pub(super) struct Prepared {
    pub segment: Segment,
    pub units: usize,
}

impl Prepared {
    /// Returns the units to the pool and the buffer to the caller, to drop
    /// once no lock is held.
    pub(super) fn discard(self, pool: &SegmentPool) -> Box<[u8]> {
        pool.unreserve(self.units);
        self.segment.into_buffer()
    }
}

/// Deadline handling for a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteExpiry {
    /// No deadline (an existing one is cleared).
    None,
    /// Expire at this Unix time in milliseconds.
    At(u64),
    /// Keep whatever deadline the key has now.
    Keep,
}

/// Sees the previous value of a `SET ... GET` and may cancel the write.
///
/// [`Store::set`](super::Store::set) calls it at most once, with the key's
/// live value (`None` if missing or expired), before the NX/XX condition is
/// checked and before anything changes. Returning `true` lets the write go
/// on (it may still fail its condition or find no memory); `false` cancels
/// it: nothing changes and the outcome is [`SetOutcome::Aborted`].
///
/// It runs while the key's shard is locked, so it must not call into the
/// store (the same shard would deadlock: `std::sync::Mutex` is not
/// reentrant; another shard risks a lock-order deadlock), must not block or
/// await, and should be short: every other client of that shard waits for
/// it. It may allocate and copy; copying the old value into a reply is what
/// it is for. See [the rules for callbacks](super#callbacks).
pub type OnOld<'a> = &'a mut dyn FnMut(Option<&[u8]>) -> bool;

/// What a conditional write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The value was stored.
    Written,
    /// NX/XX did not allow it; nothing changed.
    ConditionFailed,
    /// The `on_old` callback declined; nothing changed.
    Aborted,
}

/// When a write happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteCondition {
    /// Always.
    Always,
    /// Only if the key is missing (NX).
    IfAbsent,
    /// Only if the key exists (XX).
    IfPresent,
}

/// One `SET`, as [`Store::set`](super::Store::set) describes it to the
/// shard. Two lifetimes: the callback's is invariant (it sits behind
/// `&mut`), so it cannot be shortened to the key's.
pub(super) struct Write<'a, 'f> {
    pub key: &'a [u8],
    pub value: &'a [u8],
    pub expiry: WriteExpiry,
    pub condition: WriteCondition,
    /// Sees the previous live value (for `SET ... GET`) before anything
    /// changes, and may cancel the write by returning false.
    pub on_old: Option<OnOld<'f>>,
}

/// When an expiry update happens (Redis 7 EXPIRE flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpireWhen {
    /// Always.
    Always,
    /// Only if the key has no deadline.
    NoDeadline,
    /// Only if the key has a deadline.
    HasDeadline,
    /// Only if the new deadline is later (no deadline counts as infinite).
    Later,
    /// Only if the new deadline is earlier (no deadline counts as infinite).
    Earlier,
    /// Only if the key has a deadline and the new one is earlier (XX LT).
    HasDeadlineAndEarlier,
}

/// The state of a key's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// The key does not exist.
    Missing,
    /// The key exists and never expires.
    Forever,
    /// The key expires at this Unix time in milliseconds.
    At(u64),
}

pub(super) struct Shard {
    pub(super) index: Index,
    pub(super) segments: Vec<Option<Segment>>,
    pub(super) free_ids: Vec<u32>,
    /// Sealed segments, oldest first.
    pub(super) fifo: VecDeque<u32>,
    /// The segment new items go into.
    pub(super) open: Option<u32>,
    pub(super) pool: Arc<SegmentPool>,
    /// Most bytes eviction may copy forward out of one segment.
    pub(super) retain_limit: usize,
    /// Sum of live item bytes.
    pub(super) live_bytes: usize,
    /// Sum of dead bytes over this shard's segments (see [`Segment::dead`]).
    pub(super) dead_bytes: usize,
    /// Segments sealed so far: the clock segment ages are measured in.
    pub(super) seals: u64,
    /// Indexed items that carry a deadline (INFO's `expires`), including
    /// expired ones not yet noticed.
    pub(super) with_deadline: usize,
    pub(super) counters: ShardCounters,
    /// Segment buffers given up under this shard's lock; the store's guard
    /// drops them after releasing it.
    pub(super) freed: Freed,
    /// The keys of this shard that connections WATCH (see
    /// [`super::watch`]); `None`, one branch per change, while there are
    /// none.
    pub(super) watched: Option<Box<Watched>>,
    /// Oversized segments held (all sealed, in the FIFO).
    pub(super) oversized: usize,
    /// Pool units those hold (see [`segment::units_for`]).
    pub(super) oversized_units: usize,
    /// Pool units the last oversized write could not get: the store makes
    /// that much room across shards and tries again (0: none wanted).
    pub(super) wanted_units: usize,
}

impl Shard {
    pub(super) fn new(pool: Arc<SegmentPool>, partitions: usize, retain_limit: usize) -> Shard {
        Shard {
            index: Index::new(partitions),
            segments: Vec::new(),
            free_ids: Vec::new(),
            fifo: VecDeque::new(),
            open: None,
            pool,
            retain_limit,
            live_bytes: 0,
            dead_bytes: 0,
            seals: 0,
            with_deadline: 0,
            counters: ShardCounters::default(),
            freed: Freed::default(),
            watched: None,
            oversized: 0,
            oversized_units: 0,
            wanted_units: 0,
        }
    }

    /// True when an item of these lengths needs an oversized segment. The
    /// expiry field is always counted, so the answer never depends on the
    /// deadline (see the module docs).
    pub(super) fn needs_own_segment(&self, key_len: usize, value_len: usize) -> bool {
        item::encoded_len(key_len, value_len, true) > self.pool.segment_size()
    }

    /// True for an oversized segment.
    pub(super) fn is_oversized(&self, segment: &Segment) -> bool {
        segment.capacity() > self.pool.segment_size()
    }

    /// Takes segment `id` out of the table: a regular one goes back to the
    /// pool, an oversized one is freed (after the lock, via `freed`) and
    /// its units return to the quota. The caller has taken it out of the
    /// FIFO and the open slot, and unlinked its items.
    pub(super) fn retire(&mut self, id: u32) {
        let segment = self.segments[id as usize].take().expect("retiring a live segment");
        self.free_ids.push(id);
        if self.is_oversized(&segment) {
            let units = segment::units_for(segment.capacity(), self.pool.segment_size());
            self.oversized -= 1;
            self.oversized_units -= units;
            self.pool.unreserve(units);
            self.freed.add(Some(segment.into_buffer()));
        } else {
            self.freed.add(self.pool.give_back(segment.into_buffer()));
        }
    }

    /// Frees segment `id` if it is oversized and its item has died.
    pub(super) fn retire_if_dead_oversized(&mut self, id: u32) {
        let segment = self.segment(id);
        if segment.live() > 0 || !self.is_oversized(segment) {
            return;
        }
        self.dead_bytes -= segment.dead();
        if let Some(at) = self.fifo.iter().position(|&s| s == id) {
            self.fifo.remove(at);
        }
        self.retire(id);
    }

    pub(super) fn segment(&self, id: u32) -> &Segment {
        self.segments[id as usize].as_ref().expect("index points at a live segment")
    }

    pub(super) fn segment_mut(&mut self, id: u32) -> &mut Segment {
        self.segments[id as usize].as_mut().expect("index points at a live segment")
    }

    /// Segments this shard holds.
    pub(super) fn segment_count(&self) -> usize {
        self.fifo.len() + self.open.is_some() as usize
    }

    /// Finds `key` whether or not it has expired.
    pub(super) fn find(&self, hash: KeyHash, key: &[u8]) -> Option<Found> {
        let mut header = None;
        let slot = self.index.find(hash, |loc| {
            let seg = self.segment(loc.segment);
            let h = seg.header(loc.offset as usize);
            let hit = seg.key(loc.offset as usize, &h) == key;
            if hit {
                header = Some(h);
            }
            hit
        })?;
        let location = self.index.entry(slot).location;
        Some(Found { slot, location, header: header? })
    }

    /// Finds `key` if it is live; an expired item is dropped on the way.
    pub(super) fn find_live(&mut self, hash: KeyHash, key: &[u8], now: u64) -> Option<Found> {
        let found = self.find(hash, key)?;
        if found.header.deadline().is_some_and(|d| d <= now) {
            self.unlink(&found);
            self.counters.expired_items += 1;
            return None;
        }
        Some(found)
    }

    /// Removes a found item from the index; its bytes become dead.
    pub(super) fn unlink(&mut self, found: &Found) {
        if let Some(watched) = self.watched.as_deref_mut() {
            let segment = self.segments[found.location.segment as usize].as_ref();
            let segment = segment.expect("index points at a live segment");
            watched.touch(segment.key(found.location.offset as usize, &found.header));
        }
        self.index.remove(found.slot);
        self.bury(found);
    }

    /// Counts a found item that the index no longer points at as dead (an
    /// oversized segment is freed at once).
    fn bury(&mut self, found: &Found) {
        let len = found.header.item_len();
        self.segment_mut(found.location.segment).mark_dead(len);
        self.live_bytes -= len;
        self.dead_bytes += len;
        self.with_deadline -= usize::from(found.header.deadline().is_some());
        self.retire_if_dead_oversized(found.location.segment);
    }

    /// Bytes of segments this shard holds (oversized ones by their units).
    pub(super) fn segment_bytes(&self) -> usize {
        (self.segment_count() - self.oversized + self.oversized_units) * self.pool.segment_size()
    }

    pub(super) fn value(&self, found: &Found) -> &[u8] {
        self.segment(found.location.segment).value(found.location.offset as usize, &found.header)
    }

    /// Reads a live value, counting the read for eviction. `read` runs
    /// under the shard's lock (see [`Store::get`](super::Store::get)).
    pub(super) fn get<R>(
        &mut self,
        hash: KeyHash,
        key: &[u8],
        now: u64,
        read: impl FnOnce(&[u8]) -> R,
    ) -> Option<R> {
        let found = self.find_live(hash, key, now)?;
        self.index.touch(found.slot);
        Some(read(self.value(&found)))
    }

    /// Writes `key` unconditionally with the given deadline.
    pub(super) fn put(
        &mut self,
        hash: KeyHash,
        key: &[u8],
        value: &[u8],
        expiry: Option<u64>,
        now: u64,
    ) -> Result<(), StoreError> {
        if let Some(watched) = self.watched.as_deref_mut() {
            watched.touch(key);
        }
        let size = item::encoded_len(key.len(), value.len(), expiry.is_some());
        if let Some(old) = self.find(hash, key) {
            let len = old.header.item_len();
            if item::fits_in_place(size, value.len(), len) {
                let offset = old.location.offset as usize;
                self.segment_mut(old.location.segment).overwrite(offset, len, key, value, expiry);
                self.with_deadline -= usize::from(old.header.deadline().is_some());
                self.with_deadline += usize::from(expiry.is_some_and(|ms| ms != 0));
                // The item stays where it was instead of moving to the young
                // end, so the write counts as a use: a key written often but
                // never read survives its segment's eviction once, as an
                // appended copy would have lived a whole pass of the FIFO.
                self.index.touch(old.slot);
                self.counters.overwrites_in_place += 1;
                return Ok(());
            }
        }
        if self.needs_own_segment(key.len(), value.len()) {
            let len = item::encoded_len(key.len(), value.len(), true);
            let units = segment::units_for(len, self.pool.segment_size());
            if !self.pool.try_reserve(units, &mut self.freed) {
                self.wanted_units = units;
                return Err(StoreError::OutOfMemory);
            }
            let mut segment = Segment::new(vec![0u8; len].into_boxed_slice());
            segment.append(key, value, Some(expiry.unwrap_or(0)));
            return self.install_prepared(hash, key, Prepared { segment, units });
        }
        self.make_room(size, now)?;
        let open = self.open.expect("make_room leaves an open segment");
        let offset = self.segment_mut(open).append(key, value, expiry);
        let location = Location { segment: open, offset: offset as u32 };
        self.link(hash, key, location, size, expiry.is_some_and(|ms| ms != 0));
        Ok(())
    }

    /// Points the index at a new item of `len` bytes for `key` at
    /// `location`; the key's old item, if any, dies.
    fn link(&mut self, hash: KeyHash, key: &[u8], location: Location, len: usize, deadline: bool) {
        let existing = self.find(hash, key);
        self.live_bytes += len;
        self.with_deadline += usize::from(deadline);
        match existing {
            Some(old) => {
                self.index.update(old.slot, location, 0);
                self.bury(&old);
            }
            None => self.index.insert(hash, location),
        }
    }

    /// Installs an oversized segment holding `key`'s new item (written
    /// with `deadline`) at the young end of the FIFO and points the index
    /// at it. Nothing changes if the shard has no segment id left.
    pub(super) fn install_prepared(
        &mut self,
        hash: KeyHash,
        key: &[u8],
        prepared: Prepared,
    ) -> Result<(), StoreError> {
        if self.free_ids.is_empty() && self.segments.len() >= super::index::MAX_SEGMENTS {
            let buffer = prepared.discard(&self.pool);
            self.freed.add(Some(buffer));
            return Err(StoreError::OutOfMemory);
        }
        // SET of a big value comes here without `put` (which bumps the
        // watched keys it writes itself).
        if let Some(watched) = self.watched.as_deref_mut() {
            watched.touch(key);
        }
        let Prepared { mut segment, units } = prepared;
        let len = segment.used();
        let deadline = segment.header(0).deadline().is_some();
        self.seals += 1;
        segment.seal(self.seals);
        let id = self.install(segment)?;
        self.fifo.push_back(id);
        self.oversized += 1;
        self.oversized_units += units;
        self.link(hash, key, Location { segment: id, offset: 0 }, len, deadline);
        Ok(())
    }

    /// `SET` with its options (see [`Write`]).
    ///
    /// `prepared`, if given, holds the new item already written (with an
    /// expiry field): it is taken and installed if the write happens, and
    /// left for the caller to discard otherwise.
    pub(super) fn set(
        &mut self,
        hash: KeyHash,
        write: Write<'_, '_>,
        now: u64,
        prepared: &mut Option<Prepared>,
    ) -> Result<SetOutcome, StoreError> {
        let Write { key, value, expiry, condition, on_old } = write;
        let plain = condition == WriteCondition::Always && expiry != WriteExpiry::Keep;
        let deadline = if plain && on_old.is_none() {
            match expiry {
                WriteExpiry::At(ms) => Some(ms),
                _ => None,
            }
        } else {
            let found = self.find_live(hash, key, now);
            if let Some(on_old) = on_old {
                if !on_old(found.as_ref().map(|f| self.value(f))) {
                    return Ok(SetOutcome::Aborted);
                }
            }
            let allowed = match condition {
                WriteCondition::Always => true,
                WriteCondition::IfAbsent => found.is_none(),
                WriteCondition::IfPresent => found.is_some(),
            };
            if !allowed {
                return Ok(SetOutcome::ConditionFailed);
            }
            match expiry {
                WriteExpiry::None => None,
                WriteExpiry::At(ms) => Some(ms),
                WriteExpiry::Keep => found.and_then(|f| f.header.deadline()),
            }
        };
        match prepared.take() {
            Some(mut item) => {
                let header = item.segment.header(0);
                if header.deadline() != deadline {
                    item.segment.patch_expiry(0, &header, deadline.unwrap_or(0));
                }
                self.install_prepared(hash, key, item)?;
            }
            None => self.put(hash, key, value, deadline, now)?,
        }
        Ok(SetOutcome::Written)
    }

    /// Deletes a live key; true if it existed.
    pub(super) fn delete(&mut self, hash: KeyHash, key: &[u8], now: u64) -> bool {
        match self.find_live(hash, key, now) {
            Some(found) => {
                self.unlink(&found);
                true
            }
            None => false,
        }
    }

    /// The deadline state of a key.
    pub(super) fn ttl(&mut self, hash: KeyHash, key: &[u8], now: u64) -> Ttl {
        match self.find_live(hash, key, now) {
            None => Ttl::Missing,
            Some(f) => f.header.deadline().map_or(Ttl::Forever, Ttl::At),
        }
    }

    /// Sets (`Some`) or clears (`None`) a key's deadline under `when`.
    /// A deadline at or before `now` deletes the key. True if applied.
    pub(super) fn expire(
        &mut self,
        hash: KeyHash,
        key: &[u8],
        deadline: Option<u64>,
        when: ExpireWhen,
        now: u64,
    ) -> Result<bool, StoreError> {
        let Some(found) = self.find_live(hash, key, now) else { return Ok(false) };
        let current = found.header.deadline();
        let allowed = match when {
            ExpireWhen::Always => true,
            ExpireWhen::NoDeadline => current.is_none(),
            ExpireWhen::HasDeadline => current.is_some(),
            ExpireWhen::Later => match (deadline, current) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(new), Some(cur)) => new > cur,
            },
            ExpireWhen::Earlier => match (deadline, current) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(new), Some(cur)) => new < cur,
            },
            ExpireWhen::HasDeadlineAndEarlier => match (deadline, current) {
                (Some(new), Some(cur)) => new < cur,
                _ => false,
            },
        };
        if !allowed {
            return Ok(false);
        }
        match deadline {
            Some(d) if d <= now => {
                self.unlink(&found);
                Ok(true)
            }
            None if current.is_none() => Ok(false),
            _ => {
                let ms = deadline.unwrap_or(0);
                let offset = found.location.offset as usize;
                if let Some(watched) = self.watched.as_deref_mut() {
                    watched.touch(key);
                }
                if self.segment_mut(found.location.segment).patch_expiry(offset, &found.header, ms)
                {
                    match (current, deadline) {
                        (None, Some(_)) => self.with_deadline += 1,
                        (Some(_), None) => self.with_deadline -= 1,
                        _ => {}
                    }
                    return Ok(true);
                }
                // Written without an expiry field: write it again with one.
                let value = self.value(&found).to_vec();
                self.put(hash, key, &value, deadline, now)?;
                Ok(true)
            }
        }
    }

    /// Replaces a live value with `f(old)`, keeping its deadline. `f` gets
    /// `None` for a missing key and may refuse with an error; it runs under
    /// the shard's lock, with the rules of [`OnOld`].
    pub(super) fn update<T>(
        &mut self,
        hash: KeyHash,
        key: &[u8],
        now: u64,
        f: impl FnOnce(Option<&[u8]>) -> Result<(Vec<u8>, T), StoreError>,
    ) -> Result<T, StoreError> {
        let found = self.find_live(hash, key, now);
        let deadline = found.and_then(|f| f.header.deadline());
        let (value, result) = f(found.as_ref().map(|f| self.value(f)))?;
        self.put(hash, key, &value, deadline, now)?;
        Ok(result)
    }

    /// Drops every item and gives every segment back to the pool (those
    /// past the quota go to `freed`).
    pub(super) fn flush(&mut self) {
        if let Some(mut watched) = self.watched.take() {
            let partitioner = self.index.partitioner();
            watched.touch_all(|key| {
                self.find(partitioner.key_hash(xxhash_rust::xxh3::xxh3_64(key)), key).is_some()
            });
            self.watched = Some(watched);
        }
        self.index.clear();
        self.fifo.clear();
        self.open = None;
        for id in 0..self.segments.len() {
            if self.segments[id].is_some() {
                self.retire(id as u32);
            }
        }
        self.segments.clear();
        self.free_ids.clear();
        self.live_bytes = 0;
        self.dead_bytes = 0;
        self.with_deadline = 0;
    }

    /// Allocates a local id for a new segment.
    pub(super) fn install(&mut self, segment: Segment) -> Result<u32, StoreError> {
        if let Some(id) = self.free_ids.pop() {
            self.segments[id as usize] = Some(segment);
            return Ok(id);
        }
        if self.segments.len() >= super::index::MAX_SEGMENTS {
            self.freed.add(self.pool.give_back(segment.into_buffer()));
            return Err(StoreError::OutOfMemory);
        }
        self.segments.push(Some(segment));
        Ok((self.segments.len() - 1) as u32)
    }
}
