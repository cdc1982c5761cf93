//! Who gives buffer memory back when other clients need it: the biggest
//! holders first, and of equal ones the one that stalled first, as Redis 7
//! evicts its largest clients past `maxmemory-clients`.
//!
//! A connection that holds buffer bytes without moving them (replies its
//! client does not read, the start of a request its client stopped
//! sending) registers here for as long as it waits, with what it holds
//! and since when. While buffer bytes are wanted back
//! (`Budget::buffer_shortfall`: others wait for room that only released
//! buffers can give, or the cache wants back room it lent), the table
//! picks the holders past their grace whose bytes cover the shortfall,
//! biggest first; each of those ends its connection at its next look
//! (every [`LOOK_EVERY`]) if the shortfall still lasts. Nobody else is
//! disturbed: a client with 10 KiB unread keeps its connection while one
//! with 50 MiB unread is the one to go.
//!
//! The choice is made once per [`LOOK_EVERY`] for the whole table, not by
//! each holder: a few thousand stalled clients each sorting the table
//! twenty times a second would be the slowloris attack's second win.

use std::sync::Mutex;
use std::time::Duration;

use slab::Slab;
use tokio::time::Instant;

use crate::memory::budget::Shortfall;

/// How often a holder looks whether it was chosen.
pub const LOOK_EVERY: Duration = Duration::from_millis(50);

/// The longest grace when bytes past the buffers' share are wanted back
/// (`Shortfall::reclaim`): a holder whose own grace is longer (a client
/// stopped halfway through a request may be merely starved of CPU) is not
/// waited for past this, or the cache could grow through the room it keeps
/// free before the holder lets go.
pub const RECLAIM_GRACE: Duration = Duration::from_secs(1);

/// The holders of one server.
#[derive(Default)]
pub struct Holders {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    holders: Slab<Holder>,
    /// When the last choice was made.
    chosen_at: Option<Instant>,
}

struct Holder {
    bytes: usize,
    since: Instant,
    /// Not chosen before `since + grace`.
    grace: Duration,
    chosen: bool,
}

/// A connection's registration; leaves the table when dropped.
pub struct Hold<'a> {
    holders: &'a Holders,
    key: usize,
}

impl Holders {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection that holds `bytes` and has not moved them
    /// since `since`; it may be chosen once `grace` has passed after that.
    pub fn hold(&self, bytes: usize, since: Instant, grace: Duration) -> Hold<'_> {
        let holder = Holder { bytes, since, grace, chosen: false };
        let key = self.lock().holders.insert(holder);
        Hold { holders: self, key }
    }

    /// Connections registered now.
    pub fn len(&self) -> usize {
        self.lock().holders.len()
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Table {
    /// Marks the eligible holders, biggest (then stalest) first, until the
    /// chosen ones hold `shortfall` bytes; those chosen before count.
    fn choose(&mut self, now: Instant, shortfall: Shortfall) {
        self.chosen_at = Some(now);
        let mut freed: usize =
            self.holders.iter().filter(|(_, h)| h.chosen).map(|(_, h)| h.bytes).sum();
        if freed >= shortfall.bytes {
            return;
        }
        let eligible = |h: &Holder| {
            let grace = if shortfall.reclaim { h.grace.min(RECLAIM_GRACE) } else { h.grace };
            h.since + grace <= now
        };
        let mut candidates: Vec<(usize, Instant, usize)> = self
            .holders
            .iter()
            .filter(|(_, h)| !h.chosen && eligible(h))
            .map(|(key, h)| (h.bytes, h.since, key))
            .collect();
        candidates.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (bytes, _, key) in candidates {
            if freed >= shortfall.bytes {
                break;
            }
            self.holders[key].chosen = true;
            freed += bytes;
        }
    }
}

impl Hold<'_> {
    /// Whether this connection should give its buffers up now, with
    /// `shortfall` wanted back (see `Budget::buffer_shortfall`): it was
    /// chosen, and bytes are still wanted. Makes the table's choice when
    /// the last one is older than [`LOOK_EVERY`].
    pub fn must_go(&self, now: Instant, shortfall: Shortfall) -> bool {
        if shortfall.bytes == 0 {
            return false;
        }
        let mut table = self.holders.lock();
        if table.chosen_at.is_none_or(|at| now >= at + LOOK_EVERY) {
            table.choose(now, shortfall);
        }
        table.holders.get(self.key).is_some_and(|h| h.chosen)
    }
}

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.holders.lock().holders.try_remove(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(bytes: usize) -> Shortfall {
        Shortfall { bytes, reclaim: false }
    }

    #[test]
    fn the_biggest_eligible_holders_go_until_the_shortfall_is_covered() {
        let holders = Holders::default();
        let t0 = Instant::now();
        let grace = Duration::from_secs(1);
        let small = holders.hold(10 << 10, t0, grace);
        let big = holders.hold(4 << 20, t0 + Duration::from_millis(10), grace);
        let bigger = holders.hold(8 << 20, t0 + Duration::from_millis(20), grace);
        let young = holders.hold(64 << 20, t0 + Duration::from_secs(5), grace);
        let now = t0 + Duration::from_secs(2);
        // Nobody waits: nobody goes.
        assert!(
            !small.must_go(now, short(0))
                && !big.must_go(now, short(0))
                && !bigger.must_go(now, short(0))
        );
        // 6 MiB short: the 8 MiB holder covers it alone; the 64 MiB one is
        // still within its grace.
        assert!(bigger.must_go(now, short(6 << 20)));
        assert!(!big.must_go(now, short(6 << 20)));
        assert!(!small.must_go(now, short(6 << 20)));
        assert!(!young.must_go(now, short(6 << 20)));
        // Chosen, but nobody needs the bytes any more: it stays.
        assert!(!bigger.must_go(now, short(0)));
        // Later and still short of 10 MiB (the chosen one has not left
        // yet and counts): the next biggest goes too, the small one stays.
        let later = now + LOOK_EVERY;
        assert!(big.must_go(later, short(10 << 20)));
        assert!(!small.must_go(later, short(10 << 20)));
        drop((bigger, big));
        assert_eq!(holders.len(), 2);
    }

    #[test]
    fn of_equal_holders_the_one_that_stalled_first_goes() {
        let holders = Holders::default();
        let t0 = Instant::now();
        let newer = holders.hold(1 << 20, t0 + Duration::from_millis(5), Duration::ZERO);
        let older = holders.hold(1 << 20, t0, Duration::ZERO);
        let now = t0 + Duration::from_secs(1);
        assert!(older.must_go(now, short(1)));
        assert!(!newer.must_go(now, short(1)));
    }

    #[test]
    fn the_choice_is_made_at_most_once_per_look() {
        let holders = Holders::default();
        let t0 = Instant::now();
        let a = holders.hold(1 << 20, t0, Duration::ZERO);
        assert!(!a.must_go(t0, short(0)));
        let b = holders.hold(2 << 20, t0, Duration::ZERO);
        assert!(b.must_go(t0, short(1 << 20)));
        // A bigger shortfall right after does not choose again yet...
        assert!(!a.must_go(t0 + Duration::from_millis(1), short(3 << 20)));
        // ...but at the next look it does.
        assert!(a.must_go(t0 + LOOK_EVERY, short(3 << 20)));
    }

    #[test]
    fn when_the_cache_wants_borrowed_bytes_back_a_long_grace_is_cut_short() {
        let holders = Holders::default();
        let t0 = Instant::now();
        let slow = holders.hold(1 << 20, t0, Duration::from_secs(30));
        let now = t0 + RECLAIM_GRACE;
        assert!(!slow.must_go(now, short(1)), "others waiting: the holder's own grace");
        let reclaim = Shortfall { bytes: 1, reclaim: true };
        assert!(slow.must_go(now + LOOK_EVERY, reclaim));
    }
}
