//! Keyspace operations: the ones that see more than one key at a time
//! (RENAME and COPY lock two shards; KEYS, SCAN and RANDOMKEY walk the
//! index) or that touch a key without reading its value.
//!
//! # Two shards at once
//! RENAME and COPY lock the source's and the destination's shards
//! together, lower index first (one lock when they are the same shard),
//! so no other client ever sees the state between: for RENAME, never both
//! keys and never neither. Every other store operation holds one shard
//! lock at a time, so the fixed order cannot deadlock.
//!
//! # The SCAN cursor
//! A cursor is a position in a fixed order of every possible key:
//! `(shard, partition, tag)`, packed as
//! `((shard * partitions + partition) << TAG_BITS) | tag`. All three are
//! bits of the key's hash (the shard count and each index's partition
//! count never change; see [`index::Partitioner`]), so a key's position
//! never changes either: not when its partition grows or shrinks (bucket
//! counts are not powers of two, so Redis's reverse-binary cursor would
//! not apply), not when cuckoo displacement moves it to its other bucket,
//! not when other keys come and go. Each call returns every live key whose
//! position lies in `[cursor, next)` (keys sharing a tag always together,
//! see [`Index::scan_partition`](index::Index::scan_partition)), and the
//! next call starts at `next`: so a key present for the whole scan is
//! returned exactly once, and a key added or removed during it at most
//! once.

use super::Store;
use super::index::{self, Location, TAG_BITS};
use super::shard::Shard;
use super::{StoreError, Ttl};

/// Bytes [`Store::shard_keys`] and [`Store::scan`] count for each key on
/// top of its length: room for its framing in a reply.
pub const KEY_OVERHEAD: usize = 32;

/// What RENAME, RENAMENX and COPY did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveOutcome {
    /// Done.
    Done,
    /// The source key does not exist.
    NoSource,
    /// The destination exists and the command may not overwrite it.
    DestinationExists,
}

/// One page of a SCAN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPage {
    /// The cursor to go on from; 0 when the scan is complete.
    pub cursor: u64,
    /// Live keys, in the cursor's order.
    pub keys: Vec<Box<[u8]>>,
}

/// A live item's key and value, copied out, with its deadline.
struct Copied {
    value: Vec<u8>,
    deadline: Option<u64>,
}

fn copy_live(shard: &mut Shard, hash: index::KeyHash, key: &[u8], now: u64) -> Option<Copied> {
    let found = shard.find_live(hash, key, now)?;
    Some(Copied { value: shard.value(&found).to_vec(), deadline: found.header.deadline() })
}

/// The key stored at `location`, and whether it is live at `now`.
fn key_at(shard: &Shard, location: Location, now: u64) -> (&[u8], bool) {
    let segment = shard.segment(location.segment);
    let header = segment.header(location.offset as usize);
    let live = header.deadline().is_none_or(|d| d > now);
    (segment.key(location.offset as usize, &header), live)
}

impl Store {
    /// Counts one use of `key` for eviction, as a read would; true if it is
    /// live (`TOUCH`).
    pub fn touch(&self, key: &[u8]) -> bool {
        self.with_key(key, |s, h, now| match s.find_live(h, key, now) {
            Some(found) => {
                s.index.touch(found.slot);
                true
            }
            None => false,
        })
    }

    /// Renames `from` to `to`, with its value and deadline, replacing any
    /// `to` unless `nx` (RENAME / RENAMENX). Both shards are locked for the
    /// whole move (see the module docs). Renaming a key onto itself
    /// changes nothing; it is [`MoveOutcome::Done`] if the key exists
    /// (with `nx`, [`MoveOutcome::DestinationExists`], Redis's 0).
    pub fn rename(&self, from: &[u8], to: &[u8], nx: bool) -> Result<MoveOutcome, StoreError> {
        let overwrite = if nx { Overwrite::Never } else { Overwrite::Always };
        self.with_room(&[to], || self.move_or_copy(from, to, overwrite, true))
    }

    /// Copies `from` to `to`, with its deadline, replacing an existing `to`
    /// only if `replace` (COPY). `from == to` is the caller's error to
    /// report; here it is a no-op answering [`MoveOutcome::DestinationExists`].
    pub fn copy(&self, from: &[u8], to: &[u8], replace: bool) -> Result<MoveOutcome, StoreError> {
        let overwrite = if replace { Overwrite::Always } else { Overwrite::Never };
        self.with_room(&[to], || self.move_or_copy(from, to, overwrite, false))
    }

    fn move_or_copy(
        &self,
        from: &[u8],
        to: &[u8],
        overwrite: Overwrite,
        remove_source: bool,
    ) -> Result<MoveOutcome, StoreError> {
        let (src_shard, src_hash) = self.locate(from);
        let (dst_shard, dst_hash) = self.locate(to);
        let now = self.clock.now_ms();
        if src_shard == dst_shard {
            let mut shard = self.lock(src_shard);
            let Some(item) = copy_live(&mut shard, src_hash, from, now) else {
                return Ok(MoveOutcome::NoSource);
            };
            if from == to {
                return Ok(match overwrite {
                    Overwrite::Always if remove_source => MoveOutcome::Done,
                    _ => MoveOutcome::DestinationExists,
                });
            }
            if overwrite == Overwrite::Never && shard.find_live(dst_hash, to, now).is_some() {
                return Ok(MoveOutcome::DestinationExists);
            }
            shard.put(dst_hash, to, &item.value, item.deadline, now)?;
            if remove_source {
                // Making room for the new copy may have evicted the source.
                shard.delete(src_hash, from, now);
            }
            return Ok(MoveOutcome::Done);
        }
        // Lower index first: the one order every two-shard operation uses.
        let (mut low, mut high) = if src_shard < dst_shard {
            let low = self.lock(src_shard);
            (low, self.lock(dst_shard))
        } else {
            let low = self.lock(dst_shard);
            (low, self.lock(src_shard))
        };
        let (src, dst) =
            if src_shard < dst_shard { (&mut low, &mut high) } else { (&mut high, &mut low) };
        let outcome = (|| -> Result<MoveOutcome, StoreError> {
            let Some(item) = copy_live(src, src_hash, from, now) else {
                return Ok(MoveOutcome::NoSource);
            };
            if overwrite == Overwrite::Never && dst.find_live(dst_hash, to, now).is_some() {
                return Ok(MoveOutcome::DestinationExists);
            }
            dst.put(dst_hash, to, &item.value, item.deadline, now)?;
            if remove_source {
                src.delete(src_hash, from, now);
            }
            Ok(MoveOutcome::Done)
        })();
        // Each guard frees what its shard gave up once its own mutex is
        // released, but the other one would still be held: take both
        // shards' buffers and free them after both locks.
        let freed = (low.freed.take(), high.freed.take());
        drop(high);
        drop(low);
        drop(freed);
        outcome
    }

    /// A live key chosen at random (`RANDOMKEY`), `None` when there is
    /// none. Expired items met on the way are unlinked, so each retry
    /// makes progress; after `MAX_EXPIRED` of them in a row the answer is
    /// `None` rather than a walk through a store full of expired keys.
    pub fn random_key(&self) -> Option<Box<[u8]>> {
        const MAX_EXPIRED: usize = 100;
        let shards = self.shards.len();
        let mut seed = random_u64();
        let mut expired = 0;
        let mut empty_shards = 0;
        let mut pick = (seed % shards as u64) as usize;
        while empty_shards < shards && expired < MAX_EXPIRED {
            let now = self.clock.now_ms();
            let mut shard = self.lock(pick);
            let Some((slot, location)) = shard.index.pick(seed >> 8) else {
                drop(shard);
                empty_shards += 1;
                pick = (pick + 1) % shards;
                continue;
            };
            let (key, live) = key_at(&shard, location, now);
            if live {
                return Some(key.into());
            }
            let header = shard.segment(location.segment).header(location.offset as usize);
            let found = super::shard::Found { slot, location, header };
            shard.unlink(&found);
            shard.counters.expired_items += 1;
            expired += 1;
            seed = random_u64();
            empty_shards = 0;
        }
        None
    }

    /// The keys of shard `shard` that are live and for which `keep` is
    /// true, copied out (`KEYS`, one shard at a time so the caller can
    /// stop between shards); `None` as soon as they would take more than
    /// `max_bytes`, counting each key's length plus [`KEY_OVERHEAD`].
    /// `keep` runs under the shard lock: see [the rules for
    /// callbacks](super#callbacks).
    pub fn shard_keys(
        &self,
        shard: usize,
        max_bytes: usize,
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> Option<Vec<Box<[u8]>>> {
        let now = self.clock.now_ms();
        let locked = self.lock(shard);
        let mut keys = Vec::new();
        let mut bytes = 0;
        let mut over = false;
        locked.index.for_each(|entry| {
            if over {
                return;
            }
            let (key, live) = key_at(&locked, entry.location, now);
            if live && keep(key) {
                bytes += key.len() + KEY_OVERHEAD;
                over = bytes > max_bytes;
                keys.push(key.into());
            }
        });
        (!over).then_some(keys)
    }

    /// One step of a SCAN from `cursor` (see the module docs for why the
    /// cursor survives index growth): about `count` index entries'
    /// worth of live keys for which `keep` is true, fewer if they reach
    /// `max_bytes` (each key's length plus [`KEY_OVERHEAD`]) first: the
    /// page then ends early, at a valid cursor. `keep` runs under the
    /// shard lock (see [the rules for callbacks](super#callbacks)).
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        max_bytes: usize,
        mut keep: impl FnMut(&[u8]) -> bool,
    ) -> ScanPage {
        let parts =
            self.shards[0].lock().unwrap_or_else(|e| e.into_inner()).index.partition_count();
        let end = (self.shards.len() * parts) as u64;
        let mut position = cursor >> TAG_BITS;
        let mut tag = (cursor & ((1 << TAG_BITS) - 1)) as u32;
        let mut keys = Vec::new();
        let mut entries = Vec::new();
        let (mut visited, mut bytes) = (0, 0);
        while position < end && visited < count && bytes < max_bytes {
            let (s, p) = ((position as usize) / parts, (position as usize) % parts);
            let now = self.clock.now_ms();
            let shard = self.lock(s);
            entries.clear();
            // An empty partition is skipped without walking it (its count
            // is kept), so a sparse store is scanned in few calls.
            let next = if shard.index.partition_len(p) == 0 {
                None
            } else {
                shard.index.scan_partition(p, tag, count - visited, &mut entries)
            };
            visited += entries.len();
            for &(_, location) in &entries {
                let (key, live) = key_at(&shard, location, now);
                if live && keep(key) {
                    bytes += key.len() + KEY_OVERHEAD;
                    keys.push(key.into());
                }
            }
            drop(shard);
            match next {
                Some(t) => tag = t,
                None => {
                    position += 1;
                    tag = 0;
                }
            }
        }
        let cursor = if position >= end { 0 } else { (position << TAG_BITS) | u64::from(tag) };
        ScanPage { cursor, keys }
    }

    /// Calls `inspect` with the live value of `key`, its index use counter
    /// and the bytes it takes (the item in its segment, or the allocation
    /// of an oversized segment of its own, plus its 8-byte index slot),
    /// without counting a use (`OBJECT`, `MEMORY USAGE`);
    /// `None` if the key is missing or expired. `inspect` runs under the
    /// shard lock: see [the rules for callbacks](super#callbacks).
    pub fn inspect<R>(&self, key: &[u8], inspect: impl FnOnce(&[u8], u8, usize) -> R) -> Option<R> {
        self.with_key(key, |s, h, now| {
            let found = s.find_live(h, key, now)?;
            let freq = s.index.entry(found.slot).freq;
            let segment = s.segment(found.location.segment);
            let item = match s.is_oversized(segment) {
                true => super::segment::allocation_size(segment.capacity()),
                false => found.header.item_len(),
            };
            let bytes = item + std::mem::size_of::<u64>();
            Some(inspect(s.value(&found), freq, bytes))
        })
    }

    /// The absolute deadline of `key` (`EXPIRETIME`): as [`Store::ttl`].
    pub fn deadline(&self, key: &[u8]) -> Ttl {
        self.ttl(key)
    }
}

/// Whether a move or copy may replace an existing destination.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Overwrite {
    Always,
    Never,
}

/// A random number, from the standard library's per-process random hash
/// keys (RANDOMKEY needs spread, not secrecy).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(0x9E37_79B9_7F4A_7C15);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use super::super::{Clock, Store, StoreConfig, Ttl};
    use super::MoveOutcome;

    fn store(shards: usize, partitions: usize) -> (Store, Arc<AtomicU64>) {
        let clock = Arc::new(AtomicU64::new(1_000_000));
        let config = StoreConfig {
            shards,
            segment_size: 1 << 16,
            segment_quota: 1024,
            index_partitions: partitions,
            max_value_size: 1 << 20,
            retain_fraction: 0.5,
            clock: Clock::Manual(clock.clone()),
        };
        (Store::new(&config), clock)
    }

    fn get(store: &Store, key: &[u8]) -> Option<Vec<u8>> {
        store.get(key, |v| v.to_vec())
    }

    fn check(store: &Store) {
        for shard in store.shards.iter() {
            shard.lock().unwrap().check_consistency();
        }
    }

    type Pair = (Vec<u8>, Vec<u8>);

    /// Two keys in different shards (and two in the same one).
    fn pairs(store: &Store) -> (Pair, Pair) {
        let (mut apart, mut together) = (None, None);
        let first = b"k0".to_vec();
        for i in 1..1000 {
            let other = format!("k{i}").into_bytes();
            let same = store.locate(&first).0 == store.locate(&other).0;
            match (same, &apart, &together) {
                (false, None, _) => apart = Some((first.clone(), other)),
                (true, _, None) => together = Some((first.clone(), other)),
                _ => {}
            }
        }
        (apart.unwrap(), together.unwrap())
    }

    #[test]
    fn rename_moves_value_and_deadline_across_and_within_shards() {
        let (store, _) = store(4, 2);
        let (apart, together) = pairs(&store);
        for (a, b) in [apart, together] {
            store.flush();
            assert_eq!(store.rename(&a, &b, false), Ok(MoveOutcome::NoSource));
            store
                .set(
                    &a,
                    b"v",
                    super::super::WriteExpiry::At(2_000_000),
                    super::super::WriteCondition::Always,
                    None,
                )
                .unwrap();
            assert_eq!(store.rename(&a, &b, false), Ok(MoveOutcome::Done));
            assert_eq!((get(&store, &a), get(&store, &b)), (None, Some(b"v".to_vec())));
            assert_eq!(store.ttl(&b), Ttl::At(2_000_000));
            // RENAMENX onto an existing key changes nothing.
            store.put(&a, b"w").unwrap();
            assert_eq!(store.rename(&a, &b, true), Ok(MoveOutcome::DestinationExists));
            assert_eq!(get(&store, &a), Some(b"w".to_vec()));
            // RENAME replaces, and the destination loses its old deadline
            // for the source's (none).
            assert_eq!(store.rename(&a, &b, false), Ok(MoveOutcome::Done));
            assert_eq!((get(&store, &a), get(&store, &b)), (None, Some(b"w".to_vec())));
            assert_eq!(store.ttl(&b), Ttl::Forever);
            assert_eq!(store.rename(&b, &a, true), Ok(MoveOutcome::Done));
            assert_eq!(store.len(), 1);
            // Onto itself: OK for RENAME, 0 for RENAMENX, value untouched.
            assert_eq!(store.rename(&a, &a, false), Ok(MoveOutcome::Done));
            assert_eq!(store.rename(&a, &a, true), Ok(MoveOutcome::DestinationExists));
            assert_eq!(get(&store, &a), Some(b"w".to_vec()));
            check(&store);
        }
    }

    #[test]
    fn copy_keeps_the_source_and_its_deadline() {
        let (store, clock) = store(4, 2);
        let (apart, together) = pairs(&store);
        for (a, b) in [apart, together] {
            store.flush();
            assert_eq!(store.copy(&a, &b, false), Ok(MoveOutcome::NoSource));
            store
                .set(
                    &a,
                    b"v",
                    super::super::WriteExpiry::At(2_000_000),
                    super::super::WriteCondition::Always,
                    None,
                )
                .unwrap();
            assert_eq!(store.copy(&a, &b, false), Ok(MoveOutcome::Done));
            assert_eq!(store.copy(&a, &b, false), Ok(MoveOutcome::DestinationExists));
            store.put(&a, b"new").unwrap();
            assert_eq!(store.copy(&a, &b, false), Ok(MoveOutcome::DestinationExists));
            assert_eq!(get(&store, &b), Some(b"v".to_vec()));
            assert_eq!(store.ttl(&b), Ttl::At(2_000_000));
            assert_eq!(store.copy(&a, &b, true), Ok(MoveOutcome::Done));
            assert_eq!(
                (get(&store, &a), get(&store, &b)),
                (Some(b"new".to_vec()), Some(b"new".to_vec()))
            );
            assert_eq!(store.ttl(&b), Ttl::Forever);
            // An expired source is missing.
            store
                .set(
                    &a,
                    b"v",
                    super::super::WriteExpiry::At(clock.load(Ordering::Relaxed) + 10),
                    super::super::WriteCondition::Always,
                    None,
                )
                .unwrap();
            clock.fetch_add(10, Ordering::Relaxed);
            assert_eq!(store.copy(&a, &b, true), Ok(MoveOutcome::NoSource));
            check(&store);
        }
    }

    #[test]
    fn concurrent_renames_never_show_both_or_neither_key() {
        let (store, _) = store(8, 2);
        let store = Arc::new(store);
        let (apart, _) = pairs(&store);
        let (a, b) = apart;
        store.put(&a, b"v").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // All three start together, so the looks overlap the renames even
        // when the machine is busy.
        let start = Arc::new(std::sync::Barrier::new(3));
        let movers: Vec<_> = (0..2)
            .map(|i| {
                let (store, a, b, start) = (store.clone(), a.clone(), b.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..20_000 {
                        let (from, to) = if i == 0 { (&a, &b) } else { (&b, &a) };
                        let _ = store.rename(from, to, false);
                    }
                })
            })
            .collect();
        let observer = {
            let (store, a, b, stop) = (store.clone(), a.clone(), b.clone(), stop.clone());
            let start = start.clone();
            std::thread::spawn(move || {
                let (sa, ha) = store.locate(&a);
                let (sb, hb) = store.locate(&b);
                let mut seen = 0u64;
                start.wait();
                while !stop.load(Ordering::Relaxed) || seen == 0 {
                    // Both shards locked in the store's order: an atomic look.
                    let (mut lo, mut hi) = (store.lock(sa.min(sb)), store.lock(sa.max(sb)));
                    let (x, y) = if sa < sb { (&mut lo, &mut hi) } else { (&mut hi, &mut lo) };
                    let in_a = x.find_live(ha, &a, 0).is_some();
                    let in_b = y.find_live(hb, &b, 0).is_some();
                    assert!(in_a != in_b, "a: {in_a}, b: {in_b}");
                    seen += 1;
                }
                seen
            })
        };
        for m in movers {
            m.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(observer.join().unwrap() > 0);
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn renames_that_evict_free_segments_after_both_locks() {
        // Small segments and a pool over quota: the destination's write
        // hands segments back, and they must be freed with no lock held
        // (the test build's watch panics otherwise).
        let store = Store::new(&StoreConfig {
            shards: 4,
            segment_size: 4096,
            segment_quota: 32,
            index_partitions: 2,
            max_value_size: 1 << 20,
            retain_fraction: 0.5,
            clock: Clock::Manual(Arc::new(AtomicU64::new(1_000_000))),
        });
        for i in 0..2_000u32 {
            store.put(format!("k{i}").as_bytes(), &[1u8; 40]).unwrap();
        }
        let before = store.stats().segments;
        store.pool.set_quota(8);
        let freed = super::super::segment::watch::freed();
        for i in 0..2_000u32 {
            let _ = store.copy(format!("k{i}").as_bytes(), format!("n{i}").as_bytes(), true);
            let _ = store.rename(format!("n{i}").as_bytes(), format!("m{i}").as_bytes(), false);
        }
        assert!(store.stats().segments < before);
        assert!(super::super::segment::watch::freed() > freed, "segments were freed");
        check(&store);
    }

    #[test]
    fn touch_counts_a_use() {
        let (store, _) = store(1, 1);
        assert!(!store.touch(b"k"));
        store.put(b"k", b"v").unwrap();
        assert!(store.touch(b"k"));
        let shard = store.lock(0);
        let mut freq = 0;
        shard.index.for_each(|e| freq = e.freq);
        assert_eq!(freq, 1);
    }

    #[test]
    fn random_key_finds_live_keys_and_gives_up_on_expired_ones() {
        let (store, clock) = store(4, 4);
        assert_eq!(store.random_key(), None);
        let now = clock.load(Ordering::Relaxed);
        for i in 0..500u32 {
            let expiry = super::super::WriteExpiry::At(now + 10);
            store
                .set(&i.to_le_bytes(), b"v", expiry, super::super::WriteCondition::Always, None)
                .unwrap();
        }
        clock.fetch_add(10, Ordering::Relaxed);
        // Every key is expired: the answer comes, and is nil.
        assert_eq!(store.random_key(), None);
        store.put(b"live", b"v").unwrap();
        let mut found = false;
        for _ in 0..20 {
            if let Some(key) = store.random_key() {
                assert_eq!(&*key, b"live");
                found = true;
                break;
            }
        }
        assert!(found, "the live key is found once the expired ones are unlinked");
        check(&store);
    }

    #[test]
    fn shard_keys_skip_expired_and_filter() {
        let (store, clock) = store(4, 2);
        for i in 0..100 {
            store.put(format!("a{i}").as_bytes(), b"v").unwrap();
        }
        let now = clock.load(Ordering::Relaxed);
        store
            .set(
                b"a_gone",
                b"v",
                super::super::WriteExpiry::At(now + 1),
                super::super::WriteCondition::Always,
                None,
            )
            .unwrap();
        clock.fetch_add(1, Ordering::Relaxed);
        let all: Vec<_> =
            (0..4).flat_map(|s| store.shard_keys(s, usize::MAX, |_| true).unwrap()).collect();
        assert_eq!(all.len(), 100);
        let ones: usize = (0..4)
            .map(|s| store.shard_keys(s, usize::MAX, |k| k.ends_with(b"1")).unwrap().len())
            .sum();
        assert_eq!(ones, 10);
    }

    fn full_scan(store: &Store, count: usize) -> Vec<Vec<u8>> {
        let mut cursor = 0;
        let mut keys = Vec::new();
        loop {
            let page = store.scan(cursor, count, usize::MAX, |_| true);
            keys.extend(page.keys.into_iter().map(Vec::from));
            if page.cursor == 0 {
                return keys;
            }
            assert!(page.cursor > cursor, "the cursor only moves forward");
            cursor = page.cursor;
        }
    }

    #[test]
    fn scan_returns_every_key_once_even_with_shared_tags() {
        // One shard, one partition, 20k keys: some two hundred pairs share
        // a 20-bit tag, and a page must never split them.
        let (store, _) = self::store(1, 1);
        for i in 0..20_000u32 {
            store.put(&i.to_le_bytes(), b"").unwrap();
        }
        for count in [3, 1000] {
            let keys = full_scan(&store, count);
            let distinct: HashSet<_> = keys.iter().collect();
            assert_eq!((keys.len(), distinct.len()), (20_000, 20_000), "COUNT {count}");
        }
        // Several shards and partitions; an empty store.
        let (store, _) = self::store(4, 8);
        assert_eq!(full_scan(&store, 10), Vec::<Vec<u8>>::new());
        for i in 0..3000u32 {
            store.put(&i.to_le_bytes(), b"").unwrap();
        }
        assert_eq!(full_scan(&store, 10).len(), 3000);
    }

    #[test]
    fn scan_cursor_survives_index_growth_and_shrinking() {
        let (store, _) = store(4, 2);
        let original: Vec<Vec<u8>> = (0..2000u32).map(|i| format!("old{i}").into_bytes()).collect();
        for k in &original {
            store.put(k, b"v").unwrap();
        }
        let start_bytes = store.index_bytes();
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut cursor = 0;
        let (mut added, mut pages) = (0u32, 0);
        loop {
            let page = store.scan(cursor, 10, usize::MAX, |_| true);
            for k in page.keys {
                *seen.entry(k.into()).or_default() += 1;
            }
            // Between pages: enough new keys to grow partitions again and
            // again (cuckoo tables rebuilt at new sizes), and deletions of
            // earlier newcomers so others shrink.
            for _ in 0..if pages < 60 { 100 } else { 0 } {
                store.put(format!("new{added}").as_bytes(), b"v").unwrap();
                if added % 3 == 0 && added > 0 {
                    store.delete(format!("new{}", added - 1).as_bytes());
                }
                added += 1;
            }
            pages += 1;
            if page.cursor == 0 {
                break;
            }
            cursor = page.cursor;
        }
        assert!(pages > 60, "{pages} pages: the inserts were interleaved with the scan");
        assert!(store.index_bytes() > 2 * start_bytes, "the index grew during the scan");
        for k in &original {
            assert_eq!(seen.get(k), Some(&1), "{} returned once", String::from_utf8_lossy(k));
        }
        assert!(seen.values().all(|&n| n == 1), "no key twice");
        check(&store);
    }
}
