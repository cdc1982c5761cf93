//! Store primitives for the string commands (GETRANGE ... BITPOS) that
//! need the shards' internals: an in-place edit that may decline to write,
//! and MSETNX's all-or-nothing write across shards.

use super::index::KeyHash;
use super::shard::Found;
use super::{Locked, Store, StoreError};

/// What an [`Store::edit`] callback decided.
#[derive(Debug)]
pub enum Edit<T> {
    /// Leave the key as it is (missing stays missing) and return `T`.
    Keep(T),
    /// Store these bytes (the key's deadline is kept) and return `T`.
    Write(Vec<u8>, T),
}

impl Store {
    /// Largest value a command may produce (`--max-value-size`).
    pub fn max_value_size(&self) -> usize {
        self.max_value_size
    }

    /// Read-modify-write of one key under its shard's lock (SETRANGE,
    /// SETBIT, INCRBYFLOAT): `edit` sees the live value (`None` if missing
    /// or expired) and says whether to write. Nothing can change the key
    /// between the read and the write.
    ///
    /// The outer error is the store's (no memory for the new item); the
    /// inner one is `edit`'s own refusal, after which nothing changed.
    /// `edit` runs with the shard locked: the rules of
    /// [callbacks](super#callbacks) apply (no calls into the store, no
    /// blocking); it may allocate.
    pub fn edit<T, E>(
        &self,
        key: &[u8],
        edit: impl FnOnce(Option<&[u8]>) -> Result<Edit<T>, E>,
    ) -> Result<Result<T, E>, StoreError> {
        self.with_key(key, |s, h, now| {
            let found = s.find_live(h, key, now);
            let deadline = found.and_then(|f| f.header.deadline());
            match edit(found.as_ref().map(|f| s.value(f))) {
                Err(e) => Ok(Err(e)),
                Ok(Edit::Keep(result)) => Ok(Ok(result)),
                Ok(Edit::Write(value, result)) => {
                    s.put(h, key, &value, deadline, now)?;
                    Ok(Ok(result))
                }
            }
        })
    }

    /// MSETNX: stores every `(key, value)` pair, with no deadline, only if
    /// none of the keys is live; true if they were stored. A key given
    /// twice takes its last value.
    ///
    /// Atomic with respect to every other store operation: the shards of
    /// all the keys are locked together, in ascending index order and each
    /// once, before the first key is looked at, and released after the
    /// last write. Every other operation holds one shard lock at a time,
    /// and concurrent calls of this one take theirs in the same global
    /// order, so no cycle of waits (deadlock) can form. If a write fails
    /// (no memory), the keys already written are removed again: they were
    /// all missing before, so the store is left as it was, never with part
    /// of the set.
    pub fn set_all_if_absent(&self, pairs: &[(&[u8], &[u8])]) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let located: Vec<_> = pairs.iter().map(|(k, _)| self.locate(k)).collect();
        let mut order: Vec<usize> = located.iter().map(|&(shard, _)| shard).collect();
        order.sort_unstable();
        order.dedup();
        let mut locked: Vec<(usize, Locked<'_>)> =
            order.iter().map(|&shard| (shard, self.lock(shard))).collect();
        let result = write_all_if_absent(&mut locked, pairs, &located, now);
        // Segment buffers eviction gave up are freed only once no shard
        // lock is held (each guard frees its own after its unlock, but the
        // others would still be held).
        let freed: Vec<_> = locked.iter_mut().map(|(_, l)| l.freed.take()).collect();
        drop(locked);
        drop(freed);
        result
    }
}

fn shard_of<'s, 'l>(locked: &'s mut [(usize, Locked<'l>)], index: usize) -> &'s mut Locked<'l> {
    let at = locked.binary_search_by_key(&index, |(i, _)| *i).expect("shard locked");
    &mut locked[at].1
}

/// The body of [`Store::set_all_if_absent`], with every shard locked.
fn write_all_if_absent(
    locked: &mut [(usize, Locked<'_>)],
    pairs: &[(&[u8], &[u8])],
    located: &[(usize, KeyHash)],
    now: u64,
) -> Result<bool, StoreError> {
    for (&(key, _), &(shard, hash)) in pairs.iter().zip(located) {
        if shard_of(locked, shard).find_live(hash, key, now).is_some() {
            return Ok(false);
        }
    }
    for (done, (&(key, value), &(shard, hash))) in pairs.iter().zip(located).enumerate() {
        if let Err(error) = shard_of(locked, shard).put(hash, key, value, None, now) {
            for (&(key, _), &(shard, hash)) in pairs[..done].iter().zip(located) {
                let s = shard_of(locked, shard);
                let written: Option<Found> = s.find_live(hash, key, now);
                if let Some(found) = written {
                    s.unlink(&found);
                }
            }
            return Err(error);
        }
    }
    Ok(true)
}
