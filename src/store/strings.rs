//! Store primitives for the string commands (GETRANGE ... BITPOS) that
//! need the shards' internals: an in-place edit that may decline to write,
//! MSETNX's all-or-nothing write across shards, and BITOP's atomic
//! read-combine-write across shards.

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
        mut edit: impl FnMut(Option<&[u8]>) -> Result<Edit<T>, E>,
    ) -> Result<Result<T, E>, StoreError> {
        // FnMut: a write that needed an oversized segment the shard could
        // not reserve runs again once the store has made room.
        self.with_room(&[key], || {
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
        let keys: Vec<&[u8]> = pairs.iter().map(|&(key, _)| key).collect();
        self.with_room(&keys, || self.set_all_if_absent_once(pairs))
    }

    fn set_all_if_absent_once(&self, pairs: &[(&[u8], &[u8])]) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let located: Vec<_> = pairs.iter().map(|(k, _)| self.locate(k)).collect();
        self.with_shards_locked(&located, |locked| {
            write_all_if_absent(locked, pairs, &located, now)
        })
    }

    /// BITOP: stores `combine(values)` at `destination`, with no deadline,
    /// where `values` are the live values of `sources` in order (a missing
    /// key is empty); an empty result deletes `destination`. Returns the
    /// result's length.
    ///
    /// Atomic like [`Store::set_all_if_absent`]: the shards of every key are
    /// locked together for the whole call. `combine` runs under those
    /// locks, with the rules of [callbacks](super#callbacks); a result over
    /// the largest value is refused before anything is written.
    pub fn combine_into(
        &self,
        destination: &[u8],
        sources: &[&[u8]],
        combine: impl FnOnce(&[&[u8]]) -> Vec<u8>,
    ) -> Result<usize, StoreError> {
        let now = self.clock.now_ms();
        let target = self.locate(destination);
        let mut located: Vec<_> = sources.iter().map(|k| self.locate(k)).collect();
        located.push(target);
        self.with_shards_locked(&located, |locked| {
            // Expired sources are unlinked first, so the reads below need
            // only shared borrows of the shards, all at once.
            for (&key, &(shard, hash)) in sources.iter().zip(&located) {
                shard_of(locked, shard).find_live(hash, key, now);
            }
            let result = {
                let values: Vec<&[u8]> = sources
                    .iter()
                    .zip(&located)
                    .map(|(&key, &(shard, hash))| {
                        let s = shard_ref(locked, shard);
                        s.find(hash, key).map_or(&[][..], |found| s.value(&found))
                    })
                    .collect();
                combine(&values)
            };
            if result.len() > self.max_value_size {
                return Err(StoreError::ValueTooLarge);
            }
            let (shard, hash) = target;
            let s = shard_of(locked, shard);
            if result.is_empty() {
                s.delete(hash, destination, now);
            } else {
                s.put(hash, destination, &result, None, now)?;
            }
            Ok(result.len())
        })
    }

    /// Runs `f` with the shards of every `located` key locked, in
    /// ascending index order and each once: the one order every
    /// multi-shard operation takes, so no cycle of waits can form.
    fn with_shards_locked<R>(
        &self,
        located: &[(usize, KeyHash)],
        f: impl FnOnce(&mut [(usize, Locked<'_>)]) -> R,
    ) -> R {
        let mut order: Vec<usize> = located.iter().map(|&(shard, _)| shard).collect();
        order.sort_unstable();
        order.dedup();
        let mut locked: Vec<(usize, Locked<'_>)> =
            order.iter().map(|&shard| (shard, self.lock(shard))).collect();
        let result = f(&mut locked);
        // Segment buffers eviction gave up are freed only once no shard
        // lock is held (each guard frees its own after its unlock, but the
        // others would still be held).
        let freed: Vec<_> = locked.iter_mut().map(|(_, l)| l.freed.take()).collect();
        drop(locked);
        drop(freed);
        result
    }
}

fn shard_ref<'s, 'l>(locked: &'s [(usize, Locked<'l>)], index: usize) -> &'s Locked<'l> {
    let at = locked.binary_search_by_key(&index, |(i, _)| *i).expect("shard locked");
    &locked[at].1
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::store::{Clock, StoreConfig};

    fn store(quota: usize) -> Store {
        Store::new(&StoreConfig {
            shards: 8,
            segment_size: 4096,
            segment_quota: quota,
            index_partitions: 4,
            max_value_size: 1024,
            retain_fraction: 0.5,
            clock: Clock::Manual(Arc::new(AtomicU64::new(1_000_000))),
        })
    }

    fn get(store: &Store, key: &[u8]) -> Option<Vec<u8>> {
        store.get(key, <[u8]>::to_vec)
    }

    #[test]
    fn edit_keeps_or_writes_and_keeps_the_deadline() {
        let s = store(64);
        let kept: Result<usize, ()> =
            s.edit(b"k", |old| Ok(Edit::Keep(old.map_or(0, <[u8]>::len)))).unwrap();
        assert_eq!(kept, Ok(0));
        assert_eq!(get(&s, b"k"), None, "Keep creates nothing");
        s.set(
            b"k",
            b"ab",
            crate::store::WriteExpiry::At(2_000_000),
            crate::store::WriteCondition::Always,
            None,
        )
        .unwrap();
        let wrote: Result<(), ()> = s
            .edit(b"k", |old| {
                let mut v = old.unwrap_or_default().to_vec();
                v.push(b'c');
                Ok(Edit::Write(v, ()))
            })
            .unwrap();
        assert_eq!(wrote, Ok(()));
        assert_eq!(get(&s, b"k"), Some(b"abc".to_vec()));
        assert_eq!(s.ttl(b"k"), crate::store::Ttl::At(2_000_000));
        let refused: Result<(), &str> = s.edit(b"k", |_| Err("no")).unwrap();
        assert_eq!(refused, Err("no"));
        assert_eq!(get(&s, b"k"), Some(b"abc".to_vec()));
    }

    #[test]
    fn set_all_if_absent_is_all_or_nothing() {
        let s = store(64);
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"a", b"1"), (b"b", b"2"), (b"c", b"3")];
        assert_eq!(s.set_all_if_absent(&pairs), Ok(true));
        assert_eq!(get(&s, b"b"), Some(b"2".to_vec()));
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"x", b"1"), (b"c", b"9"), (b"y", b"2")];
        assert_eq!(s.set_all_if_absent(&pairs), Ok(false));
        assert_eq!(
            (get(&s, b"x"), get(&s, b"y"), get(&s, b"c")),
            (None, None, Some(b"3".to_vec()))
        );
        let twice: Vec<(&[u8], &[u8])> = vec![(b"d", b"1"), (b"d", b"2")];
        assert_eq!(s.set_all_if_absent(&twice), Ok(true));
        assert_eq!(get(&s, b"d"), Some(b"2".to_vec()));
    }

    #[test]
    fn a_failed_write_is_rolled_back() {
        // The last item needs more than the whole quota: the writes
        // before it, on several shards, are undone.
        let s = store(64);
        let keys: Vec<Vec<u8>> = (0..8u32).map(|i| format!("k{i}").into_bytes()).collect();
        let huge = vec![b'x'; 300_000];
        let mut pairs: Vec<(&[u8], &[u8])> =
            keys.iter().map(|k| (k.as_slice(), &b"v"[..])).collect();
        pairs.push((b"huge", &huge));
        assert_eq!(s.set_all_if_absent(&pairs), Err(StoreError::OutOfMemory));
        for key in &keys {
            assert_eq!(get(&s, key), None, "{key:?} was undone");
        }
        assert!(s.is_empty());
    }

    #[test]
    fn concurrent_calls_in_opposite_orders_do_not_deadlock() {
        let s = Arc::new(store(256));
        let keys: Vec<Vec<u8>> = (0..16u32).map(|i| format!("key{i}").into_bytes()).collect();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (s, keys) = (s.clone(), keys.clone());
                std::thread::spawn(move || {
                    for round in 0..2000u32 {
                        let mut pairs: Vec<(&[u8], &[u8])> =
                            keys.iter().map(|k| (k.as_slice(), &b"v"[..])).collect();
                        if (t + round) % 2 == 1 {
                            pairs.reverse();
                        }
                        let _ = s.set_all_if_absent(&pairs);
                        if round % 7 == 0 {
                            s.delete(&keys[(round as usize + t as usize) % keys.len()]);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}
