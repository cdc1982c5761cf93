//! Running one thing while no other command runs: what makes `EXEC`
//! atomic across shards.
//!
//! Every worker thread has a [`Gate`] and holds it for the whole of each
//! round (a synchronous batch of one connection's requests, see
//! `crate::server::connection`): taking an uncontended mutex that only its
//! own thread normally touches, once per round, not per command. To run
//! alone, `EXEC` lets go of its own gate, takes the one `exclusive` lock
//! (so two EXECs never wait on each other's gates), then every gate in
//! turn: once it holds them all, every other worker has finished the
//! round it was in and waits before starting its next one. Commands are
//! the unit Redis makes atomic, and a command runs inside one round, so
//! no other command is halfway done: a multi-key read (MGET, which takes
//! one shard lock at a time) sees all of a transaction or none of it.
//!
//! Why not what looked cheaper:
//! - a flag checked after a command's first shard lock, with EXEC
//!   sweeping every shard lock to flush in-flight commands, only fences
//!   single-lock commands: an MGET that read `a` before the sweep and
//!   reads `b` after the transaction sees half of it;
//! - a process-wide `RwLock` read by every command is an atomic on a
//!   cache line all cores share, per command; the gates are per worker,
//!   so their line stays in the worker's core cache, and per round.
//!   Measured: an uncontended lock and unlock is about 10 ns on the
//!   development machine, against the microseconds of the read and write
//!   system calls every round makes (well under 1% of a one-request
//!   round, less with pipelining).
//!
//! Deadlock: a round never blocks on anything but shard locks (held for
//! one store call, never while waiting for a gate) and, at its start, its
//! own gate. EXEC holds no gate of its own and no shard lock while it
//! waits for the others, and only one EXEC waits at a time; so every wait
//! ends when the round or the EXEC it waits for ends. What EXEC does not
//! stop: the governor's eviction and active expiry, which run on their
//! own threads under shard locks only (an item they drop during an EXEC
//! disappears as it could have the moment before).
//!
//! A worker blocked at its gate stalls its other connections for as long
//! as the EXEC runs, which is the price of atomicity Redis pays with one
//! thread for everything.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The gates of every worker of one server, and the lock that lets one
/// EXEC at a time take them.
#[derive(Debug, Default)]
pub struct Gates {
    gates: Mutex<Vec<Arc<Gate>>>,
    exclusive: Mutex<()>,
}

/// One worker's gate (see the module docs).
#[derive(Debug, Default)]
pub struct Gate(Mutex<()>);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing is guarded but the right to run: a panic elsewhere leaves
    // nothing inconsistent behind.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Gates {
    /// A new gate for a worker thread, counted from now on.
    pub fn register(&self) -> Arc<Gate> {
        let gate = Arc::new(Gate::default());
        lock(&self.gates).push(gate.clone());
        gate
    }

    /// Takes `gate` for a round; hold the turn until the round ends.
    pub fn enter<'g>(&'g self, gate: &'g Gate) -> Turn<'g> {
        Turn { gates: self, gate, held: Some(lock(&gate.0)) }
    }
}

/// Something that can run a closure while no other command runs.
pub trait Exclusive {
    /// Runs `f` alone (see the module docs).
    fn alone(&mut self, f: &mut dyn FnMut());
}

/// A worker's hold on its gate for one round.
pub struct Turn<'g> {
    gates: &'g Gates,
    gate: &'g Gate,
    held: Option<MutexGuard<'g, ()>>,
}

impl Exclusive for Turn<'_> {
    fn alone(&mut self, f: &mut dyn FnMut()) {
        // Our own gate first, so an EXEC already waiting for it can go on.
        self.held = None;
        let exclusive = lock(&self.gates.exclusive);
        let gates: Vec<Arc<Gate>> = lock(&self.gates.gates).clone();
        let held: Vec<MutexGuard<'_, ()>> = gates.iter().map(|g| lock(&g.0)).collect();
        f();
        drop(held);
        drop(exclusive);
        self.held = Some(lock(&self.gate.0));
    }
}

/// For callers outside any worker (tests, tools): nothing else runs
/// commands concurrently, so running is running alone.
#[derive(Debug, Default)]
pub struct Unshared;

impl Exclusive for Unshared {
    fn alone(&mut self, f: &mut dyn FnMut()) {
        f();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    #[test]
    fn alone_waits_for_other_rounds_to_end() {
        let gates = Arc::new(Gates::default());
        let (mine, theirs) = (gates.register(), gates.register());
        let in_round = Arc::new(AtomicBool::new(false));
        let (g, t, flag) = (gates.clone(), theirs.clone(), in_round.clone());
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let other = std::thread::spawn(move || {
            let _turn = g.enter(&t);
            flag.store(true, Ordering::SeqCst);
            started_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            flag.store(false, Ordering::SeqCst);
        });
        started_rx.recv().unwrap();
        let mut turn = gates.enter(&mine);
        let mut saw_round = true;
        turn.alone(&mut || saw_round = in_round.load(Ordering::SeqCst));
        assert!(!saw_round, "ran while another round was under way");
        other.join().unwrap();
    }
}
