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
//! When a reservation fails, the connection waits and the shortfall is
//! recorded as *pressure*; on its next tick (milliseconds later) the
//! governor lowers the quota by that much, the store releases its oldest
//! segments, and the waiting connection gets its room. So a flood of
//! connections shrinks the cache instead of growing the process.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::governor::Reading;
use crate::store::Store;

/// The budget shared by the governor, the store and the server.
pub struct Budget {
    limit: u64,
    store: Arc<Store>,
    buffers: AtomicUsize,
    /// Bytes of everything that is neither segments nor buffers, as the
    /// governor last measured it (index included).
    other: AtomicU64,
    /// Buffer bytes refused since the governor last looked.
    pressure: AtomicUsize,
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
            limit,
            store,
            buffers: AtomicUsize::new(0),
            other: AtomicU64::new(other),
            pressure: AtomicUsize::new(0),
            room: Notify::new(),
            reading: Mutex::new(Reading::default()),
        }
    }

    /// The budget in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
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

    /// Takes the pressure recorded since the last call.
    pub(super) fn take_pressure(&self) -> usize {
        self.pressure.swap(0, Ordering::Relaxed)
    }

    /// Wakes connections waiting for room.
    pub(super) fn notify_room(&self) {
        self.room.notify_waiters();
    }

    /// What the segment quota entitles segments to, in bytes.
    fn segment_entitlement(&self) -> u64 {
        (self.store.segment_quota() * self.store.segment_size()) as u64
    }

    /// Tries to reserve `bytes` for a connection buffer. On failure the
    /// shortfall is recorded so the governor shrinks the cache.
    pub fn try_reserve(&self, bytes: usize) -> bool {
        let fixed = self.segment_entitlement() + self.other_bytes();
        let ok = self
            .buffers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                (fixed + (held + bytes) as u64 <= self.limit).then_some(held + bytes)
            })
            .is_ok();
        if !ok {
            self.pressure.fetch_add(bytes, Ordering::Relaxed);
        }
        ok
    }

    /// Reserves `bytes`, waiting for the governor to make room if needed.
    pub async fn reserve(&self, bytes: usize) {
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
        let b = budget(10_000, 8);
        let other = b.other_bytes();
        let free = 10_000 - 8 * 1024 - other as usize;
        assert!(b.try_reserve(free));
        assert!(!b.try_reserve(1));
        assert_eq!(b.take_pressure(), 1);
        assert_eq!(b.take_pressure(), 0);
        b.release(free);
        assert_eq!(b.buffer_bytes(), 0);
        b.store().set_segment_quota(4);
        assert!(b.try_reserve(free + 4 * 1024));
    }
}
