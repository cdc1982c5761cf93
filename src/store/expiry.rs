//! Active expiry: expired items leave the index without being read, so
//! their bytes count as dead (for cleaning to reclaim) and DBSIZE, INFO
//! keyspace and the live-byte figures stop counting them.
//!
//! Redis samples random keys from a separate table of keys with a TTL;
//! capkv has no such table (it would cost bytes per item), but its items
//! sit in segments, and each segment knows the earliest deadline among the
//! items written into it ([`Segment::next_deadline`]). A background thread
//! ([`spawn`]) wakes every [`TICK`] and scans the segments whose earliest
//! deadline has passed: one walk over the segment's headers, where only an
//! item whose deadline has passed is hashed and looked up in the index,
//! and the scan leaves behind the earliest deadline still to come. Each
//! item is thus looked up about once in its life, and a scan costs one
//! header parse per item otherwise.
//!
//! Bounds:
//! - **Latency**: a segment is scanned once an eighth of the span between
//!   its earliest and latest deadlines has passed ([`DUE_SHARE`]), so
//!   items that expire together (a wave of short TTLs, written together
//!   into the same segments) leave within a [`TICK`] or two of their
//!   deadline; and at most [`RESCAN_AFTER_MS`] after the last scan
//!   otherwise (a segment whose items expire one by one over an hour is
//!   scanned about once a second, not at every deadline).
//! - **CPU**: a tick works for at most [`TICK_BUDGET`], a quarter of the
//!   tick (Redis's own cap for its expiry cycle), and a tick that hits the
//!   cap is counted (INFO `expired_time_cap_reached_count`); the next one
//!   goes on where it stopped. It holds one shard's lock for one segment
//!   at a time.
//!
//! Segcache groups items with similar deadlines into the same segments so
//! that whole segments expire at once. capkv's segments are shared by all
//! TTLs, so a segment holding both long and short deadlines is scanned
//! again for each wave of them; the rescan interval keeps that bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use xxhash_rust::xxh3::xxh3_64;

use super::Store;
use super::index::Location;
use super::segment::Segment;
use super::shard::Shard;

/// How often the expiry thread looks for due segments.
pub const TICK: Duration = Duration::from_millis(20);

/// Most time one tick may work: a quarter of it.
pub const TICK_BUDGET: Duration = Duration::from_millis(5);

/// A segment whose deadlines have not passed by [`DUE_SHARE`] of their
/// span is scanned again after this long, so no item outlives its
/// deadline by much more.
pub const RESCAN_AFTER_MS: u64 = 800;

/// The share of a segment's span of deadlines that must have passed
/// before it is scanned again sooner than [`RESCAN_AFTER_MS`].
pub const DUE_SHARE: f64 = 0.125;

/// What active expiry has done since start.
#[derive(Debug, Default)]
pub struct ExpiryStats {
    /// Segment scans.
    pub scans: AtomicU64,
    /// Item headers looked at.
    pub items_scanned: AtomicU64,
    /// Time spent scanning, in microseconds.
    pub busy_us: AtomicU64,
    /// Ticks that stopped at [`TICK_BUDGET`] with segments still due.
    pub capped: AtomicU64,
}

/// What one [`Store::expire_due`] call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Segments scanned.
    pub segments: usize,
    /// Item headers looked at.
    pub items: usize,
    /// Items expired.
    pub expired: usize,
    /// False when it stopped at its time limit with segments still due.
    pub done: bool,
}

/// True when active expiry should scan `segment` at `now`: a deadline
/// has passed, and either at least [`DUE_SHARE`] of the segment's span of
/// deadlines has (a scan then finds that much to reclaim, if they are
/// spread evenly) or the last scan was [`RESCAN_AFTER_MS`] ago.
fn due(segment: &Segment, now: u64) -> bool {
    let (next, last) = (segment.next_deadline(), segment.last_deadline());
    if next > now {
        return false;
    }
    let span = last.saturating_sub(next).max(1);
    let passed = (now - next).min(span);
    passed as f64 >= DUE_SHARE * span as f64 || segment.scanned_at() + RESCAN_AFTER_MS <= now
}

impl Shard {
    /// A segment due for a scan at `now`, if any.
    fn due_segment(&self, now: u64) -> Option<u32> {
        self.fifo.iter().copied().chain(self.open).find(|&id| due(self.segment(id), now))
    }

    /// Unlinks every item of segment `id` whose deadline has passed and
    /// notes the earliest deadline to come. Returns (items looked at,
    /// items expired).
    pub(super) fn expire_segment(&mut self, id: u32, now: u64) -> (usize, usize) {
        let partitioner = self.index.partitioner();
        let Shard { segments, index, live_bytes, dead_bytes, with_deadline, counters, .. } = self;
        let segment = segments[id as usize].as_mut().expect("scanning a live segment");
        let (mut at, mut items, mut expired, mut expired_bytes) = (0, 0, 0, 0);
        let (mut next, mut last) = (u64::MAX, 0);
        while at < segment.used() {
            let header = segment.header(at);
            let len = header.item_len();
            items += 1;
            match header.deadline() {
                Some(deadline) if deadline <= now => {
                    let hash = partitioner.key_hash(xxh3_64(segment.key(at, &header)));
                    let here = Location { segment: id, offset: at as u32 };
                    if let Some(slot) = index.find_location(hash, here) {
                        index.remove(slot);
                        expired += 1;
                        expired_bytes += len;
                    }
                }
                // Dead or live, a deadline to come may be a live item's.
                Some(deadline) => {
                    next = next.min(deadline);
                    last = last.max(deadline);
                }
                None => {}
            }
            at += len;
        }
        segment.mark_dead(expired_bytes);
        segment.scanned(now, next, last);
        *live_bytes -= expired_bytes;
        *dead_bytes += expired_bytes;
        *with_deadline -= expired;
        counters.expired_items += expired as u64;
        self.retire_if_dead_oversized(id);
        (items, expired)
    }
}

impl Store {
    /// Scans the segments due for active expiry, one segment per lock
    /// hold, until none is due or `until` passes.
    pub fn expire_due(&self, until: Instant) -> Sweep {
        let mut sweep = Sweep::default();
        let shards = self.shards.len();
        // Start where the last call stopped, so that a tick cut short by
        // its budget does not always serve the same shards first.
        let first = self.expiry_cursor.load(Ordering::Relaxed) % shards;
        for step in 0..shards {
            let shard = (first + step) % shards;
            loop {
                if Instant::now() >= until {
                    self.expiry_cursor.store(shard, Ordering::Relaxed);
                    return sweep;
                }
                let now = self.clock.now_ms();
                let mut locked = self.lock(shard);
                let Some(id) = locked.due_segment(now) else { break };
                let (items, expired) = locked.expire_segment(id, now);
                drop(locked);
                sweep.segments += 1;
                sweep.items += items;
                sweep.expired += expired;
            }
        }
        sweep.done = true;
        sweep
    }

    /// What active expiry has done since start.
    pub fn expiry_stats(&self) -> &ExpiryStats {
        &self.expiry_stats
    }
}

/// Starts the expiry thread; it runs until `stop` is set.
pub fn spawn(store: Arc<Store>, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name("capkv-expiry".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let start = Instant::now();
            let sweep = store.expire_due(start + TICK_BUDGET);
            let stats = store.expiry_stats();
            if sweep.segments > 0 {
                let busy = start.elapsed().as_micros() as u64;
                stats.scans.fetch_add(sweep.segments as u64, Ordering::Relaxed);
                stats.items_scanned.fetch_add(sweep.items as u64, Ordering::Relaxed);
                stats.busy_us.fetch_add(busy, Ordering::Relaxed);
            }
            if !sweep.done {
                stats.capped.fetch_add(1, Ordering::Relaxed);
            }
            std::thread::sleep(TICK.saturating_sub(start.elapsed()));
        }
    })
}
