//! The drain signal: when the server stops accepting, every connection
//! must notice at once, the idle ones included, however long they have
//! been waiting for their client.
//!
//! Why not a `watch` channel: a connection waits for its client and for
//! the signal at the same time, so the waiting future would hold a
//! `watch::Receiver::changed()` future (120 bytes with its waiter node) for
//! as long as the client is idle, in every idle connection. Here the
//! connection registers its task's waker once, in a slot of [`Stop`]'s
//! table (a waker: 16 bytes), and a wait is a plain poll: the flag, then
//! the socket. A task's waker stays the same across polls on a
//! current-thread runtime, and the slot remembers which waker it holds
//! (its data and vtable pointers: [`Waker::will_wake`] without the
//! table), so the table's lock is taken when a connection starts waiting
//! the first time and when it ends, not per request: the two workers
//! never meet on it in the request path.
//!
//! The same table carries a second, milder signal: a nudge
//! ([`Stop::nudge`], `CONFIG SET timeout`) wakes every waiting connection
//! without stopping it, so that it looks again at what it waits with (an
//! idle connection waits without a timer while there is no timeout).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::task::{Context, Poll, Waker};

use slab::Slab;

/// The drain signal shared by a server's connections.
#[derive(Default)]
pub struct Stop {
    stopping: AtomicBool,
    /// Nudges so far.
    nudges: AtomicU32,
    wakers: Mutex<Slab<Waker>>,
}

/// A connection's place in [`Stop`]'s table (none until it first waits),
/// and which waker it holds there.
#[derive(Debug)]
pub struct StopSlot {
    /// The slot's key in the table, [`NO_KEY`] before the first wait (not
    /// an `Option`: its tag would take the 8 bytes `nudges` fits in, and
    /// every idle connection holds a slot).
    key: usize,
    /// The data and vtable pointers of the waker in the table, as
    /// addresses: compared, never dereferenced.
    waker: (usize, usize),
    /// The nudges this connection has seen.
    nudges: u32,
}

/// [`StopSlot::key`] of a slot not in the table.
const NO_KEY: usize = usize::MAX;

impl Default for StopSlot {
    fn default() -> StopSlot {
        StopSlot { key: NO_KEY, waker: (0, 0), nudges: 0 }
    }
}

/// What identifies a waker: the same data and vtable wake the same task.
fn identity(waker: &Waker) -> (usize, usize) {
    (waker.data() as usize, std::ptr::from_ref(waker.vtable()) as usize)
}

impl Stop {
    /// Raises the signal and wakes every registered connection.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        for (_, waker) in wakers.iter() {
            waker.wake_by_ref();
        }
    }

    /// Wakes every registered connection without raising the signal;
    /// each sees [`Stop::nudged`] once.
    pub fn nudge(&self) {
        self.nudges.fetch_add(1, Ordering::SeqCst);
        let wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
        for (_, waker) in wakers.iter() {
            waker.wake_by_ref();
        }
    }

    /// Whether a nudge came since `slot` last looked (registered first:
    /// call after [`Stop::poll`], so that a nudge between the two wakes
    /// the task again).
    pub fn nudged(&self, slot: &mut StopSlot) -> bool {
        let nudges = self.nudges.load(Ordering::SeqCst);
        std::mem::replace(&mut slot.nudges, nudges) != nudges
    }

    /// Whether the signal is up.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Ready once the signal is up; otherwise makes sure `slot` holds the
    /// waker of `cx`, so that [`Stop::stop`] wakes this task.
    pub fn poll(&self, slot: &mut StopSlot, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_stopping() {
            return Poll::Ready(());
        }
        let waker = identity(cx.waker());
        if slot.key != NO_KEY && slot.waker == waker {
            return Poll::Pending;
        }
        {
            let mut wakers = self.wakers.lock().unwrap_or_else(|e| e.into_inner());
            match wakers.get_mut(slot.key) {
                Some(held) => held.clone_from(cx.waker()),
                None => slot.key = wakers.insert(cx.waker().clone()),
            }
            slot.waker = waker;
        }
        // `stop` may have raised the flag and woken the table between the
        // first look and the registration.
        if self.is_stopping() { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Ready once the signal is up (for waits that are futures anyway).
    pub async fn stopped(&self, slot: &mut StopSlot) {
        std::future::poll_fn(|cx| self.poll(slot, cx)).await
    }

    /// Gives `slot` back (when its connection ends).
    pub fn release(&self, slot: &mut StopSlot) {
        let key = std::mem::replace(&mut slot.key, NO_KEY);
        if key != NO_KEY {
            self.wakers.lock().unwrap_or_else(|e| e.into_inner()).try_remove(key);
        }
    }

    /// Connections registered now.
    pub fn registered(&self) -> usize {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn stop_wakes_every_registered_waiter_once_and_then_all_are_ready() {
        let stop = Stop::default();
        let counts: Vec<_> = (0..3).map(|_| Arc::new(Count(AtomicUsize::new(0)))).collect();
        let mut slots: Vec<StopSlot> = (0..3).map(|_| StopSlot::default()).collect();
        for (count, slot) in counts.iter().zip(&mut slots) {
            let waker = Waker::from(count.clone());
            let mut cx = Context::from_waker(&waker);
            assert!(stop.poll(slot, &mut cx).is_pending());
            // A second poll with the same waker keeps the one slot.
            assert!(stop.poll(slot, &mut cx).is_pending());
        }
        assert_eq!(stop.registered(), 3);
        stop.release(&mut slots[2]);
        assert_eq!(stop.registered(), 2);
        stop.stop();
        let woken: Vec<_> = counts.iter().map(|c| c.0.load(Ordering::SeqCst)).collect();
        assert_eq!(woken, [1, 1, 0], "the released slot is not woken");
        let waker = Waker::from(counts[2].clone());
        let mut cx = Context::from_waker(&waker);
        for slot in &mut slots {
            assert!(stop.poll(slot, &mut cx).is_ready());
        }
    }

    #[test]
    fn a_nudge_wakes_without_stopping_and_is_seen_once() {
        let stop = Stop::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut slot = StopSlot::default();
        assert!(stop.poll(&mut slot, &mut Context::from_waker(&waker)).is_pending());
        assert!(!stop.nudged(&mut slot));
        stop.nudge();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(stop.poll(&mut slot, &mut Context::from_waker(&waker)).is_pending());
        assert!(stop.nudged(&mut slot));
        assert!(!stop.nudged(&mut slot), "seen once");
    }

    #[test]
    fn a_new_waker_replaces_the_old_one() {
        let stop = Stop::default();
        let (old, new) =
            (Arc::new(Count(AtomicUsize::new(0))), Arc::new(Count(AtomicUsize::new(0))));
        let mut slot = StopSlot::default();
        for count in [&old, &new] {
            let waker = Waker::from(count.clone());
            assert!(stop.poll(&mut slot, &mut Context::from_waker(&waker)).is_pending());
        }
        assert_eq!(stop.registered(), 1);
        stop.stop();
        assert_eq!((old.0.load(Ordering::SeqCst), new.0.load(Ordering::SeqCst)), (0, 1));
    }
}
