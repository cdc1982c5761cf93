//! The cache itself: keys and values in fixed-size segments, found through
//! a compact hash index, evicted a segment at a time. Knows nothing of
//! sockets or protocols; its only knob from outside is the segment quota
//! that the memory governor moves.
//!
//! # Layout
//! - [`item`]: the bytes of one item (2-byte header for small items).
//! - [`segment`]: fixed-size segments and the global pool with its quota.
//! - [`index`]: key hash -> (segment, offset), 8 bytes per slot.
//! - [`shard`]: one lock's worth of keys: segments + index, all operations.
//! - [`keyspace`]: RENAME and COPY (two shards locked together), KEYS,
//!   SCAN (a cursor that survives index growth), RANDOMKEY, TOUCH.
//! - [`expiry`]: active expiry, a thread that unlinks expired items
//!   without waiting for a read, segment by segment.
//! - [`strings`]: the string commands' primitives (an edit that may
//!   decline to write, MSETNX's all-or-nothing write across shards).
//! - [`watch`]: WATCH's versions of watched keys, bumped by every change.
//! - [`eviction`]: which segment is reclaimed next (the most dead space
//!   for its age, by log-structured cleaning's cost-benefit rule) and which
//!   items survive it.
//!
//! A key's 64-bit xxh3 hash is split three ways: the high bits choose the
//! shard, bits 20..48 the index partition ([`index::Partitioner`]), the low
//! 20 bits are the tag stored in the slot.
//!
//! Memory: every byte the store allocates is segments (`allocated *
//! segment_size`, exact; an oversized segment, one item larger than a
//! segment, counts as the whole segments its allocation covers) or index
//! (tracked to the byte on every resize).
//! Both are reported to the governor, which sets the segment quota so that
//! the two plus everything else in the process stay inside the budget.
//!
//! Segment bytes are live (items the index points at), dead (copies
//! overwritten, deleted or expired, until their segment is reclaimed) or
//! free (the open segment's tail, segments waiting in the pool). Each
//! shard keeps its live and dead totals up to date under its lock, so
//! [`Store::stats`] reports them without walking anything. Overwrites that
//! fit are written in place and leave no dead bytes; the rest are
//! reclaimed by [`eviction`].
//!
//! # Callbacks
//! [`Store::get`], [`Store::get_delete`] and [`Store::set`] (its [`OnOld`])
//! hand the stored value to a closure instead of copying it out. The
//! closure runs while the key's shard is locked, with the value borrowed
//! from the segment, so it:
//! - must not call into the store, not even to read: the same shard would
//!   deadlock (`std::sync::Mutex` is not reentrant), another shard risks a
//!   lock-order deadlock with a thread doing the opposite; nor take a lock
//!   that anyone may hold while calling into the store;
//! - must not block or await (no I/O, no waiting on a channel or a lock);
//! - should be short: every other client of that shard waits for it;
//! - may allocate and copy: copying the value into a reply is what it is
//!   for.
//!
//! # Items larger than a segment
//! A value up to `--max-value-size` (512 MiB at most) whose item does not
//! fit a segment is stored in an oversized segment of its own (see
//! [`segment`]). Its quota units are reserved before it is allocated:
//! when the quota has no room, the store evicts the oldest segments of the
//! shards that hold the most until it has, one shard lock at a time, or
//! refuses with `OutOfMemory` when the quota can never hold it. `SET`
//! does that and writes the item (one copy of the value, from the
//! request) before it locks the key's shard; the read-modify-write
//! commands build their value under the lock, so a shard that cannot
//! reserve there fails, and the store makes the room and runs the
//! operation once more ([`Store::with_room`]).
//!
//! Each method's docs say what the closure's return value means. A closure
//! runs before its operation changes anything, so one that panics leaves
//! the shard consistent; the panic reaches the caller and the shard keeps
//! serving (a poisoned shard lock is recovered).

pub mod eviction;
pub mod expiry;
pub mod index;
pub mod item;
pub mod keyspace;
pub mod segment;
pub mod shard;
pub mod strings;
pub mod watch;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use xxhash_rust::xxh3::xxh3_64;

use index::{KeyHash, Partitioner};
pub use keyspace::{MoveOutcome, ScanPage};
use segment::{Freed, Segment, SegmentPool};
pub use shard::{ExpireWhen, OnOld, SetOutcome, ShardCounters, Ttl, WriteCondition, WriteExpiry};
use shard::{Prepared, Shard, Write};
pub use strings::Edit;
pub use watch::WatchedKey;

/// Why a store operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The item is larger than a segment and can never be stored.
    #[error("item larger than a segment")]
    ItemTooLarge,
    /// No segment can be had right now (the budget is taken by other
    /// memory, such as connection buffers).
    #[error("out of memory")]
    OutOfMemory,
    /// The value is not a 64-bit signed integer.
    #[error("value is not an integer or out of range")]
    NotInteger,
    /// The increment would overflow.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// The resulting value would exceed the maximum value size.
    #[error("value too large")]
    ValueTooLarge,
}

/// Source of the current time, in Unix milliseconds.
#[derive(Clone, Debug, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// A clock moved by hand (tests).
    Manual(Arc<AtomicU64>),
}

impl Clock {
    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::System => {
                SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
            }
            Clock::Manual(ms) => ms.load(Ordering::Relaxed),
        }
    }
}

/// How to build a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Number of shards (each one lock).
    pub shards: usize,
    /// Bytes per segment (at most [`index::MAX_SEGMENT_SIZE`]).
    pub segment_size: usize,
    /// Segments allowed at start; the governor moves it afterwards.
    pub segment_quota: usize,
    /// Index partitions per shard (rounded up to a power of two).
    pub index_partitions: usize,
    /// Largest value `APPEND` and `INCR` may produce.
    pub max_value_size: usize,
    /// Fraction of a segment eviction may copy forward (0.0 to 1.0).
    pub retain_fraction: f64,
    /// Time source.
    pub clock: Clock,
}

impl StoreConfig {
    /// Index partitions per shard so that each holds a few thousand entries
    /// when the budget is full of the smallest plausible items (32 bytes).
    pub fn partitions_for(budget: usize, shards: usize) -> usize {
        (budget / 32 / shards.max(1) / 4096).clamp(1, 4096).next_power_of_two()
    }

    /// Index bytes of an empty store with this configuration.
    pub fn empty_index_bytes(&self) -> usize {
        index::Index::new(self.index_partitions).bytes() * self.shards
    }
}

/// How one shard's segment memory is used.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ShardBytes {
    /// Bytes of live items (headers, keys, values).
    pub live_bytes: usize,
    /// Bytes of dead copies (overwritten, deleted, expired and noticed)
    /// still in segments until reclamation.
    pub dead_bytes: usize,
    /// Bytes of the segments the shard holds.
    pub segment_bytes: usize,
}

impl ShardBytes {
    /// Live bytes over segment bytes (0 without segments).
    pub fn live_fraction(&self) -> f64 {
        fraction(self.live_bytes, self.segment_bytes)
    }
}

fn fraction(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// A snapshot of the store's counters and sizes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoreStats {
    /// Keys stored (including expired ones not yet noticed).
    pub items: usize,
    /// Of those, keys with a deadline.
    pub items_with_deadline: usize,
    /// Bytes of live items (headers, keys, values).
    pub item_bytes: usize,
    /// Bytes of dead copies still in segments (see [`ShardBytes`]).
    pub dead_bytes: usize,
    /// Bytes of segments in existence (in shards or free in the pool).
    pub segment_bytes: usize,
    /// Segments in existence (an oversized one counted as the segments'
    /// worth of quota its allocation takes).
    pub segments: usize,
    /// Segments allowed.
    pub segment_quota: usize,
    /// Bytes per segment.
    pub segment_size: usize,
    /// Bytes of index.
    pub index_bytes: usize,
    /// Eviction and expiry counters summed over shards.
    pub counters: ShardCounters,
    /// Segment memory by shard, in shard order.
    pub shards: Vec<ShardBytes>,
    /// Segment scans by active expiry (see [`expiry`]).
    pub expiry_scans: u64,
    /// Milliseconds active expiry has spent scanning.
    pub expiry_busy_ms: u64,
    /// Active expiry ticks cut short by their time cap.
    pub expiry_capped: u64,
}

impl StoreStats {
    /// Live item bytes over all segment bytes in existence: the share of
    /// the cache's memory that holds data a read can find.
    pub fn live_fraction(&self) -> f64 {
        fraction(self.item_bytes, self.segment_bytes)
    }
}

/// The sharded, memory-bounded key-value store.
pub struct Store {
    shards: Box<[Mutex<Shard>]>,
    pool: Arc<SegmentPool>,
    clock: Clock,
    partitioner: Partitioner,
    index_bytes: AtomicUsize,
    max_value_size: usize,
    /// The shard active expiry goes on from (see [`expiry`]).
    expiry_cursor: AtomicUsize,
    expiry_stats: expiry::ExpiryStats,
}

/// A locked shard plus what the store needs to settle when the lock is
/// released: the index bytes it grew or shrank by, and the segment buffers
/// it gave up, which are freed only after the mutex is released (see
/// [`segment::Freed`]).
struct Locked<'a> {
    /// `None` only while dropping.
    shard: Option<MutexGuard<'a, Shard>>,
    index_bytes: &'a AtomicUsize,
    before: usize,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let Some(mut shard) = self.shard.take() else { return };
        let after = shard.index.bytes();
        if after > self.before {
            self.index_bytes.fetch_add(after - self.before, Ordering::Relaxed);
        } else if after < self.before {
            self.index_bytes.fetch_sub(self.before - after, Ordering::Relaxed);
        }
        let freed = shard.freed.take();
        drop(shard);
        #[cfg(test)]
        segment::watch::unlocked();
        // The shard is unlocked: only now free what eviction gave up.
        drop(freed);
    }
}

impl std::ops::Deref for Locked<'_> {
    type Target = Shard;
    fn deref(&self) -> &Shard {
        self.shard.as_ref().expect("held until dropped")
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Shard {
        self.shard.as_mut().expect("held until dropped")
    }
}

impl Store {
    /// Builds an empty store. Allocates the (small) initial index; segments
    /// are allocated as items arrive.
    pub fn new(config: &StoreConfig) -> Store {
        let segment_size = config.segment_size.clamp(64, index::MAX_SEGMENT_SIZE);
        let pool = Arc::new(SegmentPool::new(segment_size, config.segment_quota));
        let retain = (segment_size as f64 * config.retain_fraction.clamp(0.0, 1.0)) as usize;
        let shards: Box<[Mutex<Shard>]> = (0..config.shards.max(1))
            .map(|_| Mutex::new(Shard::new(pool.clone(), config.index_partitions, retain)))
            .collect();
        let first = shards[0].lock().unwrap_or_else(|e| e.into_inner());
        let partitioner = first.index.partitioner();
        let index_bytes = first.index.bytes() * shards.len();
        drop(first);
        Store {
            shards,
            pool,
            clock: config.clock.clone(),
            partitioner,
            index_bytes: AtomicUsize::new(index_bytes),
            max_value_size: config.max_value_size,
            expiry_cursor: AtomicUsize::new(0),
            expiry_stats: expiry::ExpiryStats::default(),
        }
    }

    fn locate(&self, key: &[u8]) -> (usize, KeyHash) {
        let hash = xxh3_64(key);
        let shard = (((hash >> 32) * self.shards.len() as u64) >> 32) as usize;
        (shard, self.partitioner.key_hash(hash))
    }

    fn lock(&self, shard: usize) -> Locked<'_> {
        // A panic while holding a shard lock would be a bug in the store;
        // the shard's data is still structurally valid, so keep serving.
        let shard = self.shards[shard].lock().unwrap_or_else(|e| e.into_inner());
        #[cfg(test)]
        segment::watch::locked();
        let before = shard.index.bytes();
        Locked { shard: Some(shard), index_bytes: &self.index_bytes, before }
    }

    /// Runs `f` on the shard that owns `key`, with the key's hash and now,
    /// while holding that shard's lock.
    fn with_key<R>(&self, key: &[u8], f: impl FnOnce(&mut Shard, KeyHash, u64) -> R) -> R {
        let (shard, hash) = self.locate(key);
        let now = self.clock.now_ms();
        let mut locked = self.lock(shard);
        f(&mut locked, hash, now)
    }

    /// The current time of the store's clock (Unix milliseconds).
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Calls `read` with the value of `key` if it is live and returns what
    /// `read` returned; `None`, without calling `read`, if the key is
    /// missing or expired. A hit counts as a read for eviction.
    ///
    /// `read` runs with the key's shard locked: it must not call into the
    /// store, must not block or await, and should be short; it may allocate
    /// and copy. See [the rules for callbacks](self#callbacks).
    pub fn get<R>(&self, key: &[u8], read: impl FnOnce(&[u8]) -> R) -> Option<R> {
        self.with_key(key, |s, h, now| s.get(h, key, now, read))
    }

    /// Stores `key` = `value` with no deadline.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.set(key, value, WriteExpiry::None, WriteCondition::Always, None).map(drop)
    }

    /// Runs `op`, an operation on `keys` that builds its value under a
    /// shard lock, and when it fails because a shard could not reserve an
    /// oversized segment, makes that room (see [`Store::room_for`]) and
    /// runs it again, a few times at most (another writer may take the
    /// room first). `op` must change nothing when it fails.
    fn with_room<T>(
        &self,
        keys: &[&[u8]],
        mut op: impl FnMut() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut result = op();
        for _ in 0..3 {
            if !matches!(result, Err(StoreError::OutOfMemory)) {
                break;
            }
            let wanted = keys
                .iter()
                .map(|key| std::mem::take(&mut self.lock(self.locate(key).0).wanted_units))
                .max()
                .unwrap_or(0);
            if wanted == 0 {
                break;
            }
            self.room_for(wanted)?;
            self.pool.unreserve(wanted);
            result = op();
        }
        result
    }

    /// Reserves `units` of the segment quota for an oversized segment,
    /// evicting the oldest segment of the shard that holds the most bytes
    /// until they fit (one shard lock at a time, as the governor releases
    /// segments). `OutOfMemory` when the quota can never hold them, or
    /// nothing is left to evict.
    fn room_for(&self, units: usize) -> Result<(), StoreError> {
        let now = self.clock.now_ms();
        let mut next = 0;
        loop {
            let mut freed = Freed::default();
            let reserved = self.pool.try_reserve(units, &mut freed);
            drop(freed);
            if reserved {
                return Ok(());
            }
            if units > self.pool.quota() {
                return Err(StoreError::OutOfMemory);
            }
            let held: Vec<usize> =
                (0..self.shards.len()).map(|i| self.lock(i).segment_bytes()).collect();
            let most = held.iter().copied().max().unwrap_or(0);
            let n = self.shards.len();
            let pick = (0..n).map(|k| (next + k) % n).find(|&i| held[i] == most && most > 0);
            let Some(pick) = pick else { return Err(StoreError::OutOfMemory) };
            next = pick + 1;
            if !self.lock(pick).release_oldest(now) {
                return Err(StoreError::OutOfMemory);
            }
        }
    }

    /// `key`'s item in an oversized segment of its own, written with an
    /// expiry field (0 unless `expiry` sets a deadline), its units reserved.
    fn prepare(
        &self,
        key: &[u8],
        value: &[u8],
        expiry: WriteExpiry,
    ) -> Result<Prepared, StoreError> {
        let len = item::encoded_len(key.len(), value.len(), true);
        let units = segment::units_for(len, self.pool.segment_size());
        self.room_for(units)?;
        // Zeroed: fresh pages, touched only by the one copy of the value.
        let mut segment = Segment::new(vec![0u8; len].into_boxed_slice());
        let ms = match expiry {
            WriteExpiry::At(ms) => ms,
            WriteExpiry::None | WriteExpiry::Keep => 0,
        };
        segment.append(key, value, Some(ms));
        Ok(Prepared { segment, units })
    }

    /// `SET` with options: stores `key` = `value` if `condition` allows,
    /// with the deadline `expiry` gives.
    ///
    /// `on_old`, if given, is called once with the previous live value
    /// (`None` if missing or expired) before the condition is checked and
    /// before anything changes: `true` lets the write go on, `false`
    /// cancels it. It runs with the key's shard locked and must not call
    /// into the store, block or await; see [`OnOld`].
    ///
    /// Returns [`SetOutcome::Written`] when stored,
    /// [`SetOutcome::ConditionFailed`] when NX/XX refused and
    /// [`SetOutcome::Aborted`] when `on_old` declined (nothing changed in
    /// either case); an error when no memory can be had for the item.
    ///
    /// An item larger than a segment is written into its own segment
    /// before the shard is locked (see [Items larger than a
    /// segment](self#items-larger-than-a-segment)).
    pub fn set(
        &self,
        key: &[u8],
        value: &[u8],
        expiry: WriteExpiry,
        condition: WriteCondition,
        on_old: Option<OnOld<'_>>,
    ) -> Result<SetOutcome, StoreError> {
        let (shard, hash) = self.locate(key);
        let mut prepared = match item::encoded_len(key.len(), value.len(), true) {
            len if len > self.pool.segment_size() => Some(self.prepare(key, value, expiry)?),
            _ => None,
        };
        let write = Write { key, value, expiry, condition, on_old };
        let now = self.clock.now_ms();
        let mut locked = self.lock(shard);
        let outcome = locked.set(hash, write, now, &mut prepared);
        drop(locked);
        // Not written (a condition, or no segment id left): freed unlocked.
        if let Some(unused) = prepared {
            drop(unused.discard(&self.pool));
        }
        outcome
    }

    /// Deletes `key`; true if it existed.
    pub fn delete(&self, key: &[u8]) -> bool {
        self.with_key(key, |s, h, now| s.delete(h, key, now))
    }

    /// Reads `key` and deletes it if `read` returns true (`GETDEL`).
    /// Returns `Some(true)` if it was deleted, `Some(false)` if `read`
    /// returned false (the key is kept, and this does not count as a read
    /// for eviction), `None`, without calling `read`, if the key is missing
    /// or expired.
    ///
    /// `read` runs with the key's shard locked: it must not call into the
    /// store, must not block or await, and should be short; it may allocate
    /// and copy. See [the rules for callbacks](self#callbacks).
    pub fn get_delete(&self, key: &[u8], read: impl FnOnce(&[u8]) -> bool) -> Option<bool> {
        self.with_key(key, |s, h, now| {
            let found = s.find_live(h, key, now)?;
            let value = s.segment(found.location.segment);
            let delete = read(value.value(found.location.offset as usize, &found.header));
            if delete {
                s.unlink(&found);
            }
            Some(delete)
        })
    }

    /// True if `key` is live.
    pub fn exists(&self, key: &[u8]) -> bool {
        self.with_key(key, |s, h, now| s.find_live(h, key, now).is_some())
    }

    /// The deadline state of `key`.
    pub fn ttl(&self, key: &[u8]) -> Ttl {
        self.with_key(key, |s, h, now| s.ttl(h, key, now))
    }

    /// Sets (`Some(unix_ms)`) or clears (`None`) the deadline of `key` when
    /// `when` allows; a deadline not in the future deletes the key.
    pub fn expire(
        &self,
        key: &[u8],
        deadline: Option<u64>,
        when: ExpireWhen,
    ) -> Result<bool, StoreError> {
        self.with_room(&[key], || {
            self.with_key(key, |s, h, now| s.expire(h, key, deadline, when, now))
        })
    }

    /// Adds `delta` to the integer stored at `key` (missing counts as 0),
    /// keeping its deadline. Returns the new value.
    pub fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64, StoreError> {
        self.with_key(key, |s, h, now| {
            s.update(h, key, now, |old| {
                let current = match old {
                    None => 0,
                    Some(bytes) => {
                        crate::decimal::parse_i64(bytes).ok_or(StoreError::NotInteger)?
                    }
                };
                let next = current.checked_add(delta).ok_or(StoreError::Overflow)?;
                Ok((next.to_string().into_bytes(), next))
            })
        })
    }

    /// Appends `suffix` to the value at `key` (missing counts as empty),
    /// keeping its deadline. Returns the new length.
    pub fn append(&self, key: &[u8], suffix: &[u8]) -> Result<usize, StoreError> {
        let max = self.max_value_size;
        self.with_room(&[key], || {
            self.with_key(key, |s, h, now| {
                s.update(h, key, now, |old| {
                    let old = old.unwrap_or_default();
                    let len = old.len() + suffix.len();
                    if len > max {
                        return Err(StoreError::ValueTooLarge);
                    }
                    let mut value = Vec::with_capacity(len);
                    value.extend_from_slice(old);
                    value.extend_from_slice(suffix);
                    Ok((value, len))
                })
            })
        })
    }

    /// Length of the value at `key` (0 if missing).
    pub fn strlen(&self, key: &[u8]) -> usize {
        self.with_key(key, |s, h, now| s.find_live(h, key, now).map_or(0, |f| f.header.value_len))
    }

    /// Keys stored, including expired ones not yet noticed (like Redis).
    pub fn len(&self) -> usize {
        (0..self.shards.len()).map(|i| self.lock(i).index.len()).sum()
    }

    /// True when no keys are stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes every key; segments go back to the pool for reuse.
    pub fn flush(&self) {
        for i in 0..self.shards.len() {
            self.lock(i).flush();
        }
    }

    /// Bytes of index currently allocated.
    pub fn index_bytes(&self) -> usize {
        self.index_bytes.load(Ordering::Relaxed)
    }

    /// Bytes of segments currently allocated.
    pub fn segment_bytes(&self) -> usize {
        self.pool.allocated() * self.pool.segment_size()
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Bytes per segment.
    pub fn segment_size(&self) -> usize {
        self.pool.segment_size()
    }

    /// Segments currently allowed.
    pub fn segment_quota(&self) -> usize {
        self.pool.quota()
    }

    /// Sets the segment quota and releases segments until the store holds
    /// no more than it, oldest segments first. Returns segments released.
    pub fn set_segment_quota(&self, quota: usize) -> usize {
        self.pool.set_quota(quota);
        let now = self.clock.now_ms();
        let mut released = 0;
        let mut next = 0;
        let mut idle_rounds = 0;
        while self.pool.over_quota() && idle_rounds < 2 {
            // Release from the shard holding the most segments, so shards
            // stay balanced; ties rotate.
            let counts: Vec<usize> =
                (0..self.shards.len()).map(|i| self.lock(i).segment_count()).collect();
            let most = *counts.iter().max().unwrap_or(&0);
            if most == 0 {
                break;
            }
            let n = self.shards.len();
            let pick = (0..n).map(|k| (next + k) % n).find(|&i| counts[i] == most).unwrap_or(0);
            next = pick + 1;
            if self.lock(pick).release_oldest(now) {
                released += 1;
                idle_rounds = 0;
            } else {
                idle_rounds += 1;
            }
        }
        released
    }

    /// A snapshot of sizes and counters (locks each shard briefly; every
    /// figure is kept up to date under the lock, nothing is walked).
    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats {
            segment_bytes: self.segment_bytes(),
            segments: self.pool.allocated(),
            segment_quota: self.pool.quota(),
            segment_size: self.pool.segment_size(),
            index_bytes: self.index_bytes(),
            shards: Vec::with_capacity(self.shards.len()),
            expiry_scans: self.expiry_stats.scans.load(Ordering::Relaxed),
            expiry_busy_ms: self.expiry_stats.busy_us.load(Ordering::Relaxed) / 1000,
            expiry_capped: self.expiry_stats.capped.load(Ordering::Relaxed),
            ..StoreStats::default()
        };
        for i in 0..self.shards.len() {
            let shard = self.lock(i);
            stats.items += shard.index.len();
            stats.items_with_deadline += shard.with_deadline;
            stats.item_bytes += shard.live_bytes;
            stats.dead_bytes += shard.dead_bytes;
            stats.counters.add(&shard.counters);
            stats.shards.push(ShardBytes {
                live_bytes: shard.live_bytes,
                dead_bytes: shard.dead_bytes,
                segment_bytes: shard.segment_bytes(),
            });
        }
        stats
    }
}

#[cfg(test)]
mod tests;
