//! The output seam: where the engine writes replies.
//!
//! The engine never owns its output. A connection hands it a
//! budget-accounted [`Buffer`]; a test hands it a `Vec<u8>`. Either way
//! the engine asks for room first ([`Output::try_room`]) and appends only
//! what it was given room for, so a refusal ("the budget has none") can
//! happen before anything irreversible and turn into
//! [`Flow::NeedRoom`](super::Flow::NeedRoom).

use crate::memory::Buffer;
use crate::protocol::{Dialect, Reply, encode_reply};

/// A byte sink that may refuse to grow.
pub trait Output {
    /// Makes room for `extra` more bytes without waiting; false when there
    /// is none now.
    fn try_room(&mut self, extra: usize) -> bool;

    /// The bytes written so far, to append to (after [`Output::try_room`])
    /// or cut back.
    fn bytes_mut(&mut self) -> &mut Vec<u8>;

    /// Makes room for `extra` more bytes even past the budget, accounting
    /// them all the same: only for replies that must be sent whatever the
    /// budget says, because what they report has already happened (an
    /// EXEC's, bounded by `--max-client-buffer`).
    fn force_room(&mut self, extra: usize) {
        let _ = self.try_room(extra);
    }
}

/// Unbounded: every request for room succeeds (tests, tools).
impl Output for Vec<u8> {
    fn try_room(&mut self, _extra: usize) -> bool {
        true
    }

    fn bytes_mut(&mut self) -> &mut Vec<u8> {
        self
    }
}

/// A connection's buffer: room is reserved in the memory budget first.
impl Output for Buffer {
    fn try_room(&mut self, extra: usize) -> bool {
        Buffer::try_room(self, extra)
    }

    fn bytes_mut(&mut self) -> &mut Vec<u8> {
        self.vec()
    }

    fn force_room(&mut self, extra: usize) {
        Buffer::force_room(self, extra);
    }
}

/// Encodes replies in one dialect into an [`Output`].
pub struct Replies<'o, O: Output + ?Sized> {
    out: &'o mut O,
    dialect: Dialect,
}

impl<'o, O: Output + ?Sized> Replies<'o, O> {
    /// Replies in `dialect`, appended to `out`.
    pub fn new(out: &'o mut O, dialect: Dialect) -> Self {
        Replies { out, dialect }
    }

    /// Encodes what follows in `dialect` (HELLO's reply is already in the
    /// protocol it chose).
    pub fn set_dialect(&mut self, dialect: Dialect) {
        self.dialect = dialect;
    }

    /// Appends `reply` if there is room for it; false if there is not.
    pub fn send(&mut self, reply: &Reply<'_>) -> bool {
        if !self.out.try_room(reply.size_bound()) {
            return false;
        }
        encode_reply(self.dialect, reply, self.out.bytes_mut());
        true
    }

    /// Makes room for `extra` bytes of replies to come.
    pub fn try_room(&mut self, extra: usize) -> bool {
        self.out.try_room(extra)
    }

    /// Appends `reply` after [`Replies::try_room`] made room for it.
    pub fn push(&mut self, reply: &Reply<'_>) {
        encode_reply(self.dialect, reply, self.out.bytes_mut());
    }

    /// The output replies go to.
    pub fn output(&mut self) -> &mut O {
        self.out
    }

    /// The dialect replies are encoded in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Appends replies already encoded in this dialect, after
    /// [`Replies::try_room`] made room for them.
    pub fn push_encoded(&mut self, bytes: &[u8]) {
        self.out.bytes_mut().extend_from_slice(bytes);
    }

    /// Bytes written so far (a mark to cut back to).
    pub fn mark(&mut self) -> usize {
        self.out.bytes_mut().len()
    }

    /// Drops everything written after `mark`.
    pub fn cut_back(&mut self, mark: usize) {
        self.out.bytes_mut().truncate(mark);
    }
}
