//! The byte budget and who may spend it.
//!
//! Three consumers share one budget:
//! - **segments** (the cache), bounded by the store's segment quota;
//! - **connection buffers**, reserved here, synchronously, before a
//!   connection grows a buffer;
//! - **everything else** (index, runtime, allocator overhead, kernel socket
//!   memory under cgroup v2), measured by the governor every tick.
//!
//! The rule that keeps the sum under the budget without double-counting
//! free room: segments are entitled to their whole quota whether or not
//! they are allocated yet, and a buffer reservation only succeeds inside
//! what the quota leaves over:
//!
//! ```text
//! quota * segment_size + index + other + buffers + request <= budget
//! ```
//!
//! When a reservation fails, the connection waits and its demand counts as
//! *pressure*; on its next tick (milliseconds later) the governor lowers
//! the quota by that much, the store releases its oldest segments, and the
//! waiting connection gets its room. So a flood of connections shrinks the
//! cache instead of growing the process, by at most an eighth of the
//! budget ([`BUFFER_SHARE`]): buffers never take more than that *from the
//! cache*.
//!
//! Past their share, buffers may borrow what the cache is not using: the
//! budget its segments have not been allocated yet, less a share kept free
//! for the cache to grow into ([`Budget::buffer_cap`]). An empty cache
//! thus lends most of the budget to a burst of big requests, a full one
//! nothing. Borrowed bytes take nothing the cache holds: the quota only
//! stops the cache short of them. If the cache grows back into them, the borrowers that hold them without moving are evicted,
//! biggest first (`server::holders`); and should the cache reach them even
//! so, the governor stops it there (see its docs), the last resort that
//! keeps the process inside the budget. Past the cap connections wait, and
//! the ones that hold buffers without moving them are evicted (see
//! [`Budget::buffer_shortfall`]).
//!
//! Why an eighth: what is evicted during a flood stays lost after it, so
//! every byte buffers may take is a byte of cache gone. At 2 GiB an eighth
//! is 243 MiB, a thousand 256 KiB requests in flight, far more than one
//! core can copy into segments at once; a larger share only made floods
//! cost more cache (docs/SCENARIOS.md has the flood figures).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::reading::Reading;
use crate::store::Store;

/// Buffers may hold at most 1/`BUFFER_SHARE` of the budget (see the
/// module docs for why eight).
pub const BUFFER_SHARE: u64 = 8;

/// What the budget may be moved to while the server runs (`CONFIG SET
/// maxmemory`), derived at start-up with the same rules that check
/// `--max-memory` (see `crate::config`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// Smallest budget: the index, one segment per shard, and one largest
    /// request in the buffers' share.
    pub min: u64,
    /// Largest budget: under a container limit, the limit minus headroom;
    /// else this machine's RAM; never more than the index addresses.
    pub max: u64,
    /// What limits `max`, for the refusal's text.
    pub max_reason: String,
    /// The budget capkv picks by itself (what `maxmemory 0` sets): the
    /// container limit minus headroom, or a quarter of RAM.
    pub auto: u64,
}

/// Counts a waiting reservation for as long as it waits (even if the
/// waiting future is dropped).
struct Waiting<'a> {
    waiting: &'a AtomicUsize,
    bytes: usize,
}

impl<'a> Waiting<'a> {
    fn new(waiting: &'a AtomicUsize, bytes: usize) -> Waiting<'a> {
        waiting.fetch_add(bytes, Ordering::Relaxed);
        Waiting { waiting, bytes }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.waiting.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// Buffer bytes wanted back now (see [`Budget::buffer_shortfall`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shortfall {
    /// How many (0: none).
    pub bytes: usize,
    /// Wanted back while buffers hold more than their share: the holders'
    /// grace is cut short.
    pub reclaim: bool,
}

/// The budget shared by the governor, the store and the server.
pub struct Budget {
    /// The budget in bytes: `CONFIG SET maxmemory` moves it while the
    /// server runs. Read by the governor every tick and by buffer
    /// reservations, never per request.
    limit: AtomicU64,
    store: Arc<Store>,
    buffers: AtomicUsize,
    /// Bytes of everything that is neither segments nor buffers, as the
    /// governor last measured it (index included).
    other: AtomicU64,
    /// Bytes connections are waiting for right now.
    waiting: AtomicUsize,
    /// Woken when the governor has made room.
    room: Notify,
    /// The governor's latest measurement.
    reading: Mutex<Reading>,
}

impl Budget {
    /// A budget of `limit` bytes over `store`.
    pub fn new(limit: u64, store: Arc<Store>) -> Budget {
        let other = store.index_bytes() as u64;
        Budget {
            limit: AtomicU64::new(limit),
            store,
            buffers: AtomicUsize::new(0),
            other: AtomicU64::new(other),
            waiting: AtomicUsize::new(0),
            room: Notify::new(),
            reading: Mutex::new(Reading::default()),
        }
    }

    /// The budget in bytes.
    pub fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    /// Moves the budget to `limit` bytes (checked against [`Bounds`] by the
    /// caller). The governor follows on its next tick: a lower budget
    /// lowers the segment quota, and the store evicts down to it at once.
    pub fn set_limit(&self, limit: u64) {
        self.limit.store(limit, Ordering::Relaxed);
        self.room.notify_waiters();
    }

    /// The store this budget feeds.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Bytes held by connection buffers.
    pub fn buffer_bytes(&self) -> usize {
        self.buffers.load(Ordering::Relaxed)
    }

    /// Bytes of non-segment, non-buffer memory at the last measurement.
    pub fn other_bytes(&self) -> u64 {
        self.other.load(Ordering::Relaxed)
    }

    pub(super) fn set_other(&self, bytes: u64) {
        self.other.store(bytes, Ordering::Relaxed);
    }

    /// The governor's latest measurement (all zero before its first tick).
    pub fn reading(&self) -> Reading {
        *self.reading.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn publish(&self, reading: Reading) {
        *self.reading.lock().unwrap_or_else(|e| e.into_inner()) = reading;
    }

    /// Buffer bytes connections are waiting for that the cache could give
    /// up: their demand, as far as the buffers' share lets them grow
    /// (what they borrow past it is not the cache's to give up).
    pub(super) fn pressure(&self) -> u64 {
        let waiting = self.waiting.load(Ordering::Relaxed) as u64;
        let headroom = self.buffer_share().saturating_sub(self.buffer_bytes() as u64);
        waiting.min(headroom)
    }

    /// How many buffer bytes should be given back now, by evicting the
    /// connections that hold buffers without moving them (a client that
    /// reads no replies, or stopped halfway through a request), biggest
    /// first, as Redis 7 evicts clients past `maxmemory-clients`
    /// (`server::holders`); 0 when nobody needs them. Wanted back:
    ///
    /// - what connections wait for past the cap: neither the quota nor
    ///   lending can give it. Otherwise holders could stall every other
    ///   client until the write timeout.
    /// - what buffers hold past their cap, once that is more than half a
    ///   share: the cache has grown into the room it lent (half a share:
    ///   borrowed bytes are wanted back when the cache needs them, not at
    ///   each segment it allocates).
    ///
    /// Bytes past the share are a loan ([`Shortfall::reclaim`]), lent by
    /// the cache or carried without room (the few KiB every connection may
    /// keep): as soon as anyone waits while buffers hold more than their
    /// share, or the cache wants its room back, their holders get a short
    /// grace, not their own.
    pub fn buffer_shortfall(&self) -> Shortfall {
        let waiting = self.waiting.load(Ordering::Relaxed) as u64;
        let buffers = self.buffer_bytes() as u64;
        let (share, cap) = (self.buffer_share(), self.buffer_cap());
        let wanted = if waiting > 0 { (buffers + waiting).saturating_sub(cap) } else { 0 };
        let over = buffers.saturating_sub(cap);
        let grown_into = if over > share / 2 { over } else { 0 };
        let bytes = wanted.max(grown_into) as usize;
        let lent = buffers > share;
        Shortfall { bytes, reclaim: bytes > 0 && (grown_into > 0 || lent) }
    }

    /// Wakes connections waiting for room.
    pub(super) fn notify_room(&self) {
        self.room.notify_waiters();
    }

    /// What the segment quota entitles segments to, in bytes.
    fn segment_entitlement(&self) -> u64 {
        (self.store.segment_quota() * self.store.segment_size()) as u64
    }

    /// Most bytes buffers may take from the cache: an eighth of the budget
    /// (see the module docs for why).
    pub fn buffer_share(&self) -> u64 {
        self.limit() / BUFFER_SHARE
    }

    /// Most bytes buffers may hold now: their share, plus what the cache
    /// can lend, which is the budget that neither allocated segments,
    /// everything else, the share itself nor a second share (the room the
    /// cache keeps to grow into) takes. An empty cache lends most of the
    /// budget; a cache within two shares of full lends nothing.
    pub fn buffer_cap(&self) -> u64 {
        let share = self.buffer_share();
        let used = self.store.segment_bytes() as u64 + self.other_bytes();
        share + self.limit().saturating_sub(used + 2 * share)
    }

    /// Whether [`Budget::try_reserve`] of `bytes` would succeed now (a
    /// look, not a reservation: another connection may take the room).
    pub fn could_reserve(&self, bytes: usize) -> bool {
        self.room_check()(self.buffer_bytes() + bytes)
    }

    /// Tries to reserve `bytes` for a connection buffer, without waiting.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        let fits = self.room_check();
        self.buffers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                fits(held + bytes).then_some(held + bytes)
            })
            .is_ok()
    }

    /// The rule a reservation must pass, as of now: whether buffers may
    /// hold this many bytes in total. Up to their share, inside what the
    /// segment quota and everything else leave; past it, inside the cap
    /// (what the cache can lend).
    fn room_check(&self) -> impl Fn(usize) -> bool {
        let fixed = self.segment_entitlement() + self.other_bytes();
        let (limit, share, cap) = (self.limit(), self.buffer_share(), self.buffer_cap());
        move |buffers| {
            let buffers = buffers as u64;
            fixed + buffers.min(share) <= limit && buffers <= cap
        }
    }

    /// Reserves `bytes`, waiting for the governor to make room if needed.
    /// While it waits, its demand counts as pressure on the segment quota.
    pub async fn reserve(&self, bytes: usize) {
        if self.try_reserve(bytes) {
            return;
        }
        let _waiting = Waiting::new(&self.waiting, bytes);
        loop {
            let room = self.room.notified();
            if self.try_reserve(bytes) {
                return;
            }
            // The governor ticks every few milliseconds; the timeout only
            // guards against a missed wake-up.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(50), room).await;
        }
    }

    /// Accounts `bytes` unconditionally: only for allocator rounding of a
    /// reservation that already succeeded (a few bytes).
    pub fn force_reserve(&self, bytes: usize) {
        self.buffers.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Returns buffer bytes.
    pub fn release(&self, bytes: usize) {
        let before = self.buffers.fetch_sub(bytes, Ordering::Relaxed);
        debug_assert!(before >= bytes, "released more buffer bytes than reserved");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Clock, StoreConfig};

    fn budget(limit: u64, quota: usize) -> Budget {
        let store = Store::new(&StoreConfig {
            shards: 1,
            segment_size: 1024,
            segment_quota: quota,
            index_partitions: 1,
            max_value_size: 512,
            retain_fraction: 0.5,
            clock: Clock::System,
        });
        Budget::new(limit, Arc::new(store))
    }

    #[test]
    fn buffers_only_get_what_the_quota_leaves() {
        let b = budget(200_000, 190);
        let other = b.other_bytes() as usize;
        let free = 200_000 - 190 * 1024 - other;
        assert!(b.try_reserve(free));
        assert!(!b.try_reserve(1));
        assert_eq!(b.pressure(), 0, "nobody is waiting");
        b.release(free);
        assert_eq!(b.buffer_bytes(), 0);
        b.store().set_segment_quota(180);
        assert!(b.try_reserve(free + 10 * 1024));
        assert!(b.buffer_bytes() as u64 <= b.buffer_cap());
    }

    #[test]
    fn an_empty_cache_lends_all_but_two_shares() {
        let b = budget(100_000, 0);
        let share = b.buffer_share() as usize;
        assert_eq!(share, 100_000 / BUFFER_SHARE as usize);
        let cap = b.buffer_cap() as usize;
        assert_eq!(cap, share + 100_000 - b.other_bytes() as usize - 2 * share);
        assert!(b.try_reserve(cap));
        assert!(!b.try_reserve(1));
        assert_eq!(b.pressure(), 0, "borrowed bytes ask nothing of the quota");
    }

    #[test]
    fn a_cache_within_two_shares_of_full_lends_nothing() {
        let b = budget(200_000, 150);
        for i in 0..2_000u32 {
            b.store().put(&i.to_be_bytes(), &[7; 100]).unwrap();
        }
        let used = b.store().segment_bytes() as u64 + b.other_bytes();
        assert!(used + 2 * b.buffer_share() >= 200_000, "the cache is full ({used} used)");
        assert_eq!(b.buffer_cap(), b.buffer_share());
        // Past the share, nothing; within it, what the quota leaves.
        assert!(!b.try_reserve(b.buffer_share() as usize + 1));
    }

    /// Shortfall while connections wait for room past the cap, and when
    /// the cache has grown into borrowed room.
    #[test]
    fn buffers_are_wanted_back_past_the_cap() {
        let b = budget(200_000, 150);
        let share = b.buffer_share() as usize;
        let cap = b.buffer_cap() as usize;
        assert!(b.try_reserve(cap));
        assert_eq!(b.buffer_shortfall(), Shortfall::default(), "at the cap, nobody waiting");
        // The cache grows into the borrowed room: past half a share over
        // the cap, the excess is wanted back.
        let mut i = 0u32;
        while b.buffer_bytes() as u64 <= b.buffer_cap() + share as u64 / 2 {
            b.store().put(&i.to_be_bytes(), &[7; 100]).unwrap();
            i += 1;
        }
        let short = b.buffer_shortfall();
        assert!(short.reclaim);
        assert_eq!(short.bytes as u64, b.buffer_bytes() as u64 - b.buffer_cap());
        b.release(cap);
    }

    #[tokio::test]
    async fn waiting_counts_as_pressure_until_served() {
        let b = Arc::new(budget(100_000, 90));
        let free = 100_000 - 90 * 1024 - b.other_bytes() as usize;
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.reserve(free + 2048).await })
        };
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(5), async {
                while b.pressure() != (free + 2048) as u64 {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .is_ok()
        );
        // What the governor does: lower the quota, then wake the waiters.
        b.store().set_segment_quota(80);
        b.notify_room();
        waiter.await.unwrap();
        assert_eq!(b.buffer_bytes(), free + 2048);
        assert_eq!(b.pressure(), 0);
    }
}
