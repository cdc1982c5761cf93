//! Connection buffers whose every byte is reserved in the memory budget
//! *before* it is allocated.
//!
//! Reserving first is what keeps a flood of connections from pushing the
//! process past its limit: a buffer that cannot get room does not grow,
//! and its connection waits (backpressure) while the governor shrinks the
//! cache. Growing after the fact and accounting later would let a thousand
//! connections each overshoot by one reply before anyone noticed.

use std::sync::Arc;

use super::Budget;

/// Capacity a connection keeps while idle.
pub const BASE_CAPACITY: usize = 4096;

/// A byte buffer accounted in the budget.
pub struct Buffer {
    data: Vec<u8>,
    budget: Arc<Budget>,
}

impl Buffer {
    /// An empty buffer holding no budget yet.
    pub fn new(budget: Arc<Budget>) -> Buffer {
        Buffer { data: Vec::new(), budget }
    }

    /// A buffer of `capacity` bytes, accounted whether or not the budget
    /// has room: for fixed, small allocations made once (a worker's space).
    pub fn with_capacity_forced(budget: Arc<Budget>, capacity: usize) -> Buffer {
        let mut buffer = Buffer::new(budget);
        buffer.room_with_reserved(capacity, 0);
        buffer
    }

    /// The bytes held.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Appending access; grow only through [`Buffer::try_room`] first.
    pub fn vec(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes reserved (the allocation's capacity).
    pub fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Free capacity.
    pub fn spare(&self) -> usize {
        self.data.capacity() - self.data.len()
    }

    /// Makes room for `extra` more bytes if the budget allows, without
    /// waiting. Grows at least geometrically so appends stay amortised.
    pub fn try_room(&mut self, extra: usize) -> bool {
        if self.spare() >= extra {
            return true;
        }
        let want = (self.data.len() + extra).max(self.data.capacity() * 2).max(BASE_CAPACITY);
        // If the geometric step is refused, try for exactly what is needed.
        for target in [want, self.data.len() + extra] {
            let grow = target - self.data.capacity();
            if self.budget.try_reserve(grow) {
                self.grow_reserved(target, grow);
                return true;
            }
        }
        false
    }

    /// Makes room for `extra` more bytes like [`Buffer::try_room`], but
    /// accounts the growth whether or not the budget has room: only for
    /// bytes the caller has already reserved elsewhere (a worker's output
    /// growing for replies whose carry-out is reserved as credit).
    pub fn force_room(&mut self, extra: usize) {
        if self.spare() >= extra {
            return;
        }
        let target = (self.data.len() + extra).max(self.data.capacity() * 2);
        let grow = target - self.data.capacity();
        self.budget.force_reserve(grow);
        self.grow_reserved(target, grow);
    }

    /// Makes room for `extra` more bytes with `reserved` of them already
    /// reserved in the budget by the caller; the rest is accounted even
    /// past the budget's limit. Only for small, bounded carries (see the
    /// server's worker space), never for growth a client can drive.
    pub fn room_with_reserved(&mut self, extra: usize, reserved: usize) {
        let target = self.data.len() + extra;
        if target <= self.data.capacity() {
            self.budget.release(reserved);
            return;
        }
        let grow = target - self.data.capacity();
        if grow > reserved {
            self.budget.force_reserve(grow - reserved);
        } else {
            self.budget.release(reserved - grow);
        }
        self.grow_reserved(target, grow);
    }

    /// Makes room for `extra` more bytes, waiting for the budget if needed.
    pub async fn room(&mut self, extra: usize) {
        if self.try_room(extra) {
            return;
        }
        let target = self.data.len() + extra;
        let grow = target - self.data.capacity();
        self.budget.reserve(grow).await;
        self.grow_reserved(target, grow);
    }

    /// Grows to `target` capacity with `reserved` bytes already reserved,
    /// then accounts whatever rounding the allocator added.
    fn grow_reserved(&mut self, target: usize, reserved: usize) {
        let before = self.data.capacity();
        self.data.reserve_exact(target - self.data.len());
        let grown = self.data.capacity() - before;
        if grown > reserved {
            // Rounding by the allocator: tiny, accounted even if over.
            self.budget.force_reserve(grown - reserved);
        } else if grown < reserved {
            self.budget.release(reserved - grown);
        }
    }

    /// Drops the first `n` bytes, keeping the rest at the front.
    pub fn consume(&mut self, n: usize) {
        if n >= self.data.len() {
            self.data.clear();
        } else {
            self.data.drain(..n);
        }
    }

    /// Gives memory back when the buffer is empty and larger than `keep`.
    pub fn shrink_if_empty(&mut self, keep: usize) {
        if self.data.is_empty() && self.data.capacity() > keep {
            let before = self.data.capacity();
            self.data.shrink_to(keep);
            self.budget.release(before - self.data.capacity());
        }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        self.budget.release(self.data.capacity());
    }
}
