//! The governor: one background thread that measures the process and sets
//! the store's segment quota so everything fits the budget.
//!
//! Every tick (10 ms by default) it reads jemalloc (allocated, resident,
//! dirty), the process's RSS, and the cgroup's working set when there is
//! one, and takes the largest view as the truth: under cgroup v2 the
//! cgroup also charges kernel socket buffers that no allocator sees. From
//! that it derives "other" memory (neither segments nor buffers) and sets
//!
//! ```text
//! quota = (budget - other - min(buffers, share) - min(reserve + pressure, growth)) / segment_size
//! ```
//!
//! where `share` is the most buffers may take from the cache (an eighth of
//! the budget), `reserve` is room kept free so buffers can grow without
//! waiting, `pressure` is what connections are waiting for right now, and
//! `growth` is how much more the share lets buffers take. Room held back
//! past the share could never be used: during a flood, with buffers at
//! their cap, it once kept a quarter of the budget empty while the cache
//! was evicted. Lowering the quota makes the store release its oldest
//! segments at once.
//!
//! Buffers past their share are borrowed from room the cache has not
//! allocated (`Budget::buffer_cap`), so they do not lower the quota. One
//! exception keeps the process inside the budget: the quota never lets the
//! segments grow into the bytes buffers hold (`(budget - other - buffers)
//! / segment_size`). That bites only when the cache has grown through the
//! share it keeps free before its borrowers were evicted; it then writes
//! over its oldest segments until they are.
//!
//! Dirty pages are left out of "other": they are free memory jemalloc
//! holds for reuse (freed segments land there first), and counting them
//! would make each release look like growth and spiral the cache down.
//! If the truth ever passes the midpoint between budget and hard limit,
//! dirty pages are purged immediately instead of waiting for decay.
//!
//! It runs on a plain thread, not a tokio task: releasing segments walks
//! their items, which is CPU work that must not stall an async worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use super::budget::Budget;
use super::cgroup::Cgroup;
use super::jemalloc;
use super::reading::Reading;

/// Settings of the governor.
#[derive(Debug, Clone)]
pub struct GovernorConfig {
    /// Time between measurements.
    pub tick: Duration,
    /// The limit the kernel enforces (cgroup), if known.
    pub hard_limit: Option<u64>,
    /// Room kept free for buffer growth, at least.
    pub min_reserve: u64,
}

/// Measures and adjusts; see the module docs.
pub struct Governor {
    budget: Arc<Budget>,
    cgroup: Option<Cgroup>,
    config: GovernorConfig,
    page_size: u64,
    purges: u64,
}

impl Governor {
    /// A governor for `budget`, reading `cgroup` if given.
    pub fn new(budget: Arc<Budget>, cgroup: Option<Cgroup>, config: GovernorConfig) -> Governor {
        use tikv_jemalloc_ctl::{Access, AsName};
        let page: usize = "arenas.page\0".name().read().unwrap_or(4096);
        Governor { budget, cgroup, config, page_size: page as u64, purges: 0 }
    }

    fn rss(&self) -> u64 {
        // statm: size resident shared text lib data dt (in pages).
        std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
            .map_or(0, |pages| pages * self.page_size)
    }

    /// Measures once and moves the quota. Returns what it saw and did.
    pub fn tick(&mut self) -> Reading {
        let store = self.budget.store().clone();
        let heap = jemalloc::read().unwrap_or_default();
        let rss = self.rss();
        let charges = self.cgroup.as_ref().map(Cgroup::charges).unwrap_or_default();
        let (cgroup_usage, sockets) = (charges.working_set, charges.sockets);
        let truth = rss.max(cgroup_usage.unwrap_or(0)).max(heap.resident);
        let segments = store.segment_bytes() as u64;
        let index = store.index_bytes() as u64;
        let buffers = self.budget.buffer_bytes() as u64;

        // Live heap that is neither segments nor buffers, plus what lives
        // outside the heap (code, stacks)...
        let non_heap = rss.saturating_sub(heap.resident);
        let by_heap = heap.allocated.saturating_sub(segments + buffers) + non_heap;
        // ...or, from the outside, everything not segments, buffers or
        // reusable dirty pages. Segments not yet written are counted in
        // full but not yet resident, so this one can undercount: take both.
        let by_truth = truth.saturating_sub(segments + buffers + heap.dirty);
        let other = by_heap.max(by_truth).max(index);
        self.budget.set_other(other);

        let limit = self.budget.limit();
        let pressure = self.budget.pressure();
        let share = self.budget.buffer_share();
        let within = buffers.min(share);
        let reserve = self.config.min_reserve.max(within / 2);
        let held_back = (reserve + pressure).min(share - within);
        let room = limit.saturating_sub(other + within + held_back);
        let room =
            if buffers > share { room.min(limit.saturating_sub(other + buffers)) } else { room };
        // Never below one segment per shard: every shard must be able to
        // write, and buffers are capped well before they would need this.
        let quota = ((room / store.segment_size() as u64) as usize).max(store.shard_count());
        let previous = store.segment_quota();
        let released = if quota != previous { store.set_segment_quota(quota) } else { 0 };
        if quota < previous || pressure > 0 {
            self.budget.notify_room();
        }

        if let Some(hard) = self.config.hard_limit {
            if truth > limit + hard.saturating_sub(limit) / 2 {
                jemalloc::purge();
                self.purges += 1;
            }
        }
        let reading = Reading {
            heap,
            rss,
            cgroup_usage,
            sockets,
            truth,
            segments,
            index,
            buffers,
            other,
            quota,
            released,
            emergency_purges: self.purges,
        };
        self.budget.publish(reading);
        reading
    }

    /// Runs [`Governor::tick`] on its own thread until `stop` is set.
    pub fn spawn(mut self, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
        std::thread::Builder::new().name("capkv-governor".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let reading = self.tick();
                if reading.released > 0 {
                    tracing::debug!(
                        released = reading.released,
                        quota = reading.quota,
                        buffers = reading.buffers,
                        other = reading.other,
                        "segment quota lowered"
                    );
                }
                std::thread::sleep(self.config.tick);
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Clock, Store, StoreConfig};

    const SEGMENT: usize = 1 << 20;

    fn governor(limit: u64) -> Governor {
        let store = Store::new(&StoreConfig {
            shards: 1,
            segment_size: SEGMENT,
            segment_quota: 0,
            index_partitions: 1,
            max_value_size: 1024,
            retain_fraction: 0.5,
            clock: Clock::System,
        });
        let budget = Arc::new(Budget::new(limit, Arc::new(store)));
        let config = GovernorConfig {
            tick: Duration::from_millis(10),
            hard_limit: None,
            min_reserve: 4 << 20,
        };
        Governor::new(budget, None, config)
    }

    /// The quota a reading implies when `held_back` bytes are kept free.
    fn quota(limit: u64, reading: &Reading, held_back: u64) -> usize {
        ((limit - reading.other - reading.buffers - held_back) / SEGMENT as u64) as usize
    }

    #[test]
    fn idle_buffers_keep_the_minimum_reserve_free() {
        let limit = 1 << 30;
        let reading = governor(limit).tick();
        assert_eq!(reading.quota, quota(limit, &reading, 4 << 20));
    }

    /// Buffers at their share cannot take more from the cache, so no room
    /// is held back for them: holding it would only shrink the cache while
    /// a flood lasts.
    #[test]
    fn buffers_at_their_share_hold_nothing_back() {
        let limit = 1 << 30;
        let mut governor = governor(limit);
        let budget = governor.budget.clone();
        assert!(budget.try_reserve(budget.buffer_share() as usize));
        let reading = governor.tick();
        assert_eq!(reading.buffers, budget.buffer_share());
        assert_eq!(reading.quota, quota(limit, &reading, 0));
    }

    /// Bytes borrowed past the share evict nothing from a cache that has
    /// not allocated that far; the quota only stops the segments short of
    /// them, so that segments and buffers together stay inside the budget.
    #[test]
    fn borrowed_buffers_only_stop_the_cache_short_of_them() {
        let limit = 1 << 30;
        let mut governor = governor(limit);
        let budget = governor.budget.clone();
        let share = budget.buffer_share() as usize;
        assert!(budget.try_reserve(share));
        let at_share = governor.tick();
        assert_eq!(at_share.quota, quota(limit, &at_share, 0));
        assert!(budget.try_reserve(3 * share), "an empty cache lends");
        assert!(budget.buffer_bytes() as u64 <= budget.buffer_cap());
        let reading = governor.tick();
        assert_eq!(reading.released, 0);
        assert_eq!(reading.quota, quota(limit, &reading, 0));
        assert!(reading.quota < at_share.quota);
        budget.release(3 * share);
        let given_back = governor.tick();
        assert_eq!(given_back.quota, quota(limit, &given_back, 0), "the room is the cache's again");
        assert!(given_back.quota > reading.quota);
    }
}
