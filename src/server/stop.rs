//! The connection table: the drain signal and CLIENT KILL, which must
//! reach a connection at once, the idle ones included, however long they
//! have been waiting for their client; and what CLIENT LIST lists.
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
//! The same slot holds the connection's [`ClientRecord`] (CLIENT LIST
//! reads the table; see `super::clients`) and whether CLIENT KILL chose
//! it. A kill bumps a counter that every wait compares with the one its
//! slot saw last: one relaxed load, like the drain flag's, and the lock
//! only after a kill somewhere.
//!
//! The same table carries a third, milder signal: a nudge
//! ([`Stop::nudge`], `CONFIG SET timeout`) wakes every waiting connection
//! without stopping it, so that it looks again at what it waits with (an
//! idle connection waits without a timer while there is no timeout).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::engine::ClientRecord;
use crate::engine::clients::ClientClock;

/// The drain signal and the connection table shared by a server's
/// connections.
#[derive(Default)]
pub struct Stop {
    stopping: AtomicBool,
    /// CLIENT KILLs so far (wrapping): a slot that saw another count
    /// looks whether it was the one killed.
    kills: AtomicU32,
    /// Nudges so far (wrapping).
    nudges: AtomicU32,
    wakers: Mutex<Slab<Entry>>,
    /// The coarse clock CLIENT LIST's ages and idle times count in.
    pub clock: ClientClock,
}

/// One connection in the table.
struct Entry {
    waker: Waker,
    /// `None` for a waiter that is no connection (tests).
    client: Option<Arc<ClientRecord>>,
    killed: bool,
}

/// A connection's place in [`Stop`]'s table (none until it enters or
/// first waits), and which waker it holds there.
#[derive(Debug)]
pub struct StopSlot {
    /// `u32::MAX`: none.
    key: u32,
    /// The kill count this slot last looked at.
    kills: u32,
    /// The nudges this connection has seen.
    nudges: u32,
    /// The data and vtable pointers of the waker in the table, as
    /// addresses: compared, never dereferenced.
    waker: (usize, usize),
}

impl Default for StopSlot {
    fn default() -> Self {
        StopSlot { key: NO_KEY, kills: 0, nudges: 0, waker: (0, 0) }
    }
}

const NO_KEY: u32 = u32::MAX;

/// What a wait watches for: the drain signal, or a kill only (a flush
/// finishes its replies through the drain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// The drain signal or a kill.
    Both,
    /// A kill.
    Kill,
}

/// What identifies a waker: the same data and vtable wake the same task.
fn identity(waker: &Waker) -> (usize, usize) {
    (waker.data() as usize, std::ptr::from_ref(waker.vtable()) as usize)
}

impl Stop {
    fn table(&self) -> MutexGuard<'_, Slab<Entry>> {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises the signal and wakes every registered connection.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for (_, entry) in self.table().iter() {
            entry.waker.wake_by_ref();
        }
    }

    /// Whether the signal is up.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Puts the connection `client` describes into the table (before it
    /// first waits, so CLIENT LIST shows it from the start).
    pub fn enter(&self, client: Arc<ClientRecord>) -> StopSlot {
        let kills = self.kills.load(Ordering::SeqCst);
        let nudges = self.nudges.load(Ordering::SeqCst);
        let entry = Entry { waker: Waker::noop().clone(), client: Some(client), killed: false };
        let key = self.table().insert(entry);
        StopSlot { key: u32::try_from(key).unwrap_or(NO_KEY), kills, nudges, waker: (0, 0) }
    }

    /// Wakes every registered connection without raising the signal;
    /// each sees [`Stop::nudged`] once.
    pub fn nudge(&self) {
        self.nudges.fetch_add(1, Ordering::SeqCst);
        for (_, entry) in self.table().iter() {
            entry.waker.wake_by_ref();
        }
    }

    /// Whether a nudge came since `slot` last looked (registered first:
    /// call after [`Stop::poll`], so that a nudge between the two wakes
    /// the task again).
    pub fn nudged(&self, slot: &mut StopSlot) -> bool {
        let nudges = self.nudges.load(Ordering::SeqCst);
        std::mem::replace(&mut slot.nudges, nudges) != nudges
    }

    /// Ready once the signal is up or the connection is killed; otherwise
    /// makes sure `slot` holds the waker of `cx`, so that [`Stop::stop`]
    /// and [`Stop::kill`] wake this task.
    pub fn poll(&self, slot: &mut StopSlot, cx: &mut Context<'_>) -> Poll<()> {
        self.poll_for(Watch::Both, slot, cx)
    }

    /// [`Stop::poll`], for what `watch` names.
    pub fn poll_for(&self, watch: Watch, slot: &mut StopSlot, cx: &mut Context<'_>) -> Poll<()> {
        if watch == Watch::Both && self.is_stopping() {
            return Poll::Ready(());
        }
        let waker = identity(cx.waker());
        let kills = self.kills.load(Ordering::SeqCst);
        if slot.key != NO_KEY && slot.waker == waker && slot.kills == kills {
            return Poll::Pending;
        }
        {
            let mut table = self.table();
            match table.get_mut(slot.key as usize) {
                Some(held) if held.killed => return Poll::Ready(()),
                Some(held) => held.waker.clone_from(cx.waker()),
                None => {
                    let entry = Entry { waker: cx.waker().clone(), client: None, killed: false };
                    slot.key = u32::try_from(table.insert(entry)).unwrap_or(NO_KEY);
                }
            }
            slot.waker = waker;
            // Only once it is known not to be this slot's kill: a killed
            // slot keeps taking this path, and stays ready.
            slot.kills = kills;
        }
        // `stop` may have raised the flag and woken the table between the
        // first look and the registration.
        if watch == Watch::Both && self.is_stopping() { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Ready once the signal is up or the connection killed (for waits
    /// that are futures anyway).
    pub async fn stopped(&self, slot: &mut StopSlot) {
        std::future::poll_fn(|cx| self.poll(slot, cx)).await
    }

    /// Ready once the connection is killed.
    pub async fn killed(&self, slot: &mut StopSlot) {
        std::future::poll_fn(|cx| self.poll_for(Watch::Kill, slot, cx)).await
    }

    /// Marks the connection with this id killed and wakes it; false if
    /// there is none (or it was killed already).
    pub fn kill(&self, id: u64) -> bool {
        let mut table = self.table();
        let found = table.iter_mut().find(|(_, e)| e.client.as_ref().is_some_and(|c| c.id == id));
        let Some((_, entry)) = found.filter(|(_, e)| !e.killed) else {
            return false;
        };
        entry.killed = true;
        self.kills.fetch_add(1, Ordering::SeqCst);
        entry.waker.wake_by_ref();
        true
    }

    /// Whether CLIENT KILL chose the connection in `slot`.
    pub fn is_killed(&self, slot: &StopSlot) -> bool {
        self.table().get(slot.key as usize).is_some_and(|e| e.killed)
    }

    /// The records of the connections in the table, in id order.
    pub fn clients(&self) -> Vec<Arc<ClientRecord>> {
        let mut clients: Vec<_> = {
            let table = self.table();
            table.iter().filter(|(_, e)| !e.killed).filter_map(|(_, e)| e.client.clone()).collect()
        };
        clients.sort_unstable_by_key(|c| c.id);
        clients
    }

    /// Gives `slot` back (when its connection ends).
    pub fn release(&self, slot: &mut StopSlot) {
        let key = std::mem::replace(&mut slot.key, NO_KEY);
        if key != NO_KEY {
            self.table().try_remove(key as usize);
        }
    }

    /// Connections registered now.
    pub fn registered(&self) -> usize {
        self.table().len()
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
}
