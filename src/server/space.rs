//! The read and write space a worker thread lends to whichever of its
//! connections is running, so an idle connection holds no buffer at all.
//!
//! memcached's idea (`rbuf_cache`): a connection reads into its worker's
//! buffer, runs every complete request it finds, and encodes the replies
//! into the worker's output; only what is left over when it stops (the
//! start of a request that has not fully arrived, replies the socket did
//! not take) moves into buffers of the connection's own. A worker runs one
//! connection at a time and the space is only borrowed inside one
//! synchronous round (no `.await` while it is held), so one space per
//! worker thread is enough.
//!
//! The space is accounted in the budget once, when a worker first needs
//! it. What a connection carries out of a round is accounted when it is
//! carried. Up to [`CARRY_FREE`] of it per direction is carried even when
//! the budget has no room: that is what every connection held while idle
//! in the first design (a 4 KiB read buffer), so the budget's worst case
//! is no worse, and it is what lets a newcomer be served while other
//! clients hold every buffer byte. Beyond that, replies are reserved in the
//! budget as they are encoded ([`Sink`]), a connection without a request
//! under way reads only `CARRY_FREE` at a time while the budget could not
//! hold a whole [`READ_SPACE`], and a request that does not fit waits for
//! room like any other buffer growth.

use std::cell::RefCell;
use std::io;
use std::sync::Arc;

use crate::engine::Output;
use crate::engine::exclusive::{Gate, Gates};
use crate::memory::{Budget, Buffer};
use crate::metrics::LocalCounters;

use super::transport::Transport;

/// Bytes a worker reads into at once for a connection without a partial
/// request.
pub const READ_SPACE: usize = 16 * 1024;

/// Replies are written out once this many bytes are pending.
pub const FLUSH_AT: usize = 64 * 1024;

/// Bytes a connection may carry out of a round in each direction without
/// a reservation (see the module docs).
pub const CARRY_FREE: usize = 4 * 1024;

/// Reply credit is reserved in steps of at least this much, so a round
/// with many replies makes few reservations.
const CREDIT_STEP: usize = 16 * 1024;

/// One worker thread's space.
pub struct Space {
    /// Where a connection without a partial request reads: always
    /// [`READ_SPACE`] long, read into as a slice.
    pub input: Buffer,
    /// Where replies are encoded.
    pub output: Buffer,
    /// Counters of the round running, merged into the server's at its end
    /// (kept here rather than with each connection, which keeps an idle
    /// connection small).
    pub counters: LocalCounters,
    /// The worker's gate, held while requests run (see
    /// [`crate::engine::exclusive`]).
    pub gate: Arc<Gate>,
    /// Whose budget it is accounted in (tests run several servers, each
    /// on threads of its own, in one process).
    budget: Arc<Budget>,
}

thread_local! {
    static SPACE: RefCell<Option<Space>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's space for `budget`, creating it on first
/// use (with a gate registered in `gates`). `f` must not await (it cannot:
/// it is synchronous) nor re-enter.
pub fn with_space<R>(budget: &Arc<Budget>, gates: &Gates, f: impl FnOnce(&mut Space) -> R) -> R {
    SPACE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let ours = slot.as_ref().is_some_and(|s| Arc::ptr_eq(&s.budget, budget));
        if !ours {
            let mut input = Buffer::with_capacity_forced(budget.clone(), READ_SPACE);
            // Zeroed once: reads go into it as a slice, never grow it.
            input.vec().resize(READ_SPACE, 0);
            let output = Buffer::with_capacity_forced(budget.clone(), FLUSH_AT);
            let counters = LocalCounters::default();
            let gate = gates.register();
            *slot = Some(Space { input, output, counters, gate, budget: budget.clone() });
        }
        let space = slot.as_mut().expect("space was just created");
        let result = f(space);
        // Whatever a round left behind was carried out; a big reply grew
        // the output past its base size only for that round.
        space.output.vec().clear();
        space.output.shrink_if_empty(FLUSH_AT);
        result
    })
}

/// The worker's output as the engine sees it during one round: replies
/// that would make the carry-out larger than [`CARRY_FREE`] are reserved
/// in the budget first (`credit`), so whatever the socket does not take
/// can always be carried.
pub struct Sink<'a> {
    /// The worker's output.
    pub out: &'a mut Buffer,
    budget: &'a Budget,
    /// Budget reserved in this round for replies that may have to be
    /// carried.
    pub credit: usize,
}

impl<'a> Sink<'a> {
    /// A sink over the worker's `out`, reserving in `budget`.
    pub fn new(out: &'a mut Buffer, budget: &'a Budget) -> Sink<'a> {
        Sink { out, budget, credit: 0 }
    }

    /// Writes as much of the pending replies as the socket takes without
    /// waiting. Returns how many bytes went.
    pub fn write(&mut self, socket: &mut Transport) -> io::Result<usize> {
        write_some(socket, self.out)
    }
}

impl Output for Sink<'_> {
    fn try_room(&mut self, extra: usize) -> bool {
        let carried = self.out.len() + extra;
        if carried > CARRY_FREE + self.credit {
            let want = carried - CARRY_FREE - self.credit;
            let step = want.max(CREDIT_STEP);
            if self.budget.try_reserve(step) {
                self.credit += step;
            } else if self.budget.try_reserve(want) {
                self.credit += want;
            } else {
                return false;
            }
        }
        // The credit covers every byte past CARRY_FREE, so the worker's
        // output may grow past its base for this round without asking the
        // budget a second time for the same bytes.
        self.out.force_room(extra);
        true
    }

    fn bytes_mut(&mut self) -> &mut Vec<u8> {
        self.out.vec()
    }

    fn force_room(&mut self, extra: usize) {
        if self.try_room(extra) {
            return;
        }
        let want = (self.out.len() + extra).saturating_sub(CARRY_FREE + self.credit);
        self.budget.force_reserve(want);
        self.credit += want;
        self.out.force_room(extra);
    }
}

/// Writes the front of `buffer` to `socket` until it is empty or the socket
/// would block, and drops what was written. Returns the bytes written.
pub fn write_some(socket: &mut Transport, buffer: &mut Buffer) -> io::Result<usize> {
    let mut written = 0;
    while written < buffer.len() {
        match socket.write(&buffer.bytes()[written..]) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => {
                buffer.consume(written);
                return Err(e);
            }
        }
    }
    buffer.consume(written);
    Ok(written)
}
