//! What WATCH needs of the store: knowing, at EXEC, whether a key changed
//! since a connection began to watch it.
//!
//! Each shard keeps a table of the keys someone watches, each with a
//! version and a count of watchers; the table exists only while a key of
//! that shard is watched, so the cost on every write is one branch on an
//! empty `Option`. Every change to a watched key bumps its version:
//! writes of any kind (an overwrite with the same value too, as in Redis),
//! deletion, RENAME and COPY onto or off it, EXPIRE and PERSIST, eviction,
//! and FLUSHALL when the key exists. The check is exact: a key is found by
//! its bytes, so a write to another key of the same shard never aborts a
//! transaction.
//!
//! Expiry is handled by the deadline, not by bumping: a key that was live
//! when WATCH ran records its deadline, and EXEC fails once that deadline
//! has passed, whether or not anything has unlinked the item yet (Redis
//! 7.0's `isWatchedKeyExpired`). A key that had already expired when WATCH
//! ran is unlinked then (as a read would), so it is watched as missing:
//! its expiry is no change, as in Redis ("WATCH stale keys should not fail
//! EXEC"). That is why neither active expiry nor eviction's dropping of
//! expired items has to look at the table.

use std::collections::HashMap;

use super::Store;

/// The watched keys of one shard.
#[derive(Debug, Default)]
pub(super) struct Watched {
    keys: HashMap<Box<[u8]>, Entry>,
}

#[derive(Debug)]
struct Entry {
    /// Connections watching the key.
    watchers: usize,
    /// Bumped on every change of the key.
    version: u64,
}

impl Watched {
    /// Notes a change of `key`.
    pub(super) fn touch(&mut self, key: &[u8]) {
        if let Some(entry) = self.keys.get_mut(key) {
            entry.version = entry.version.wrapping_add(1);
        }
    }

    /// Notes a change of every watched key `present` says is stored.
    pub(super) fn touch_all(&mut self, mut present: impl FnMut(&[u8]) -> bool) {
        for (key, entry) in &mut self.keys {
            if present(key) {
                entry.version = entry.version.wrapping_add(1);
            }
        }
    }

    /// True when nobody watches a key of this shard any more.
    fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// One key one connection watches: hand it back to [`Store::unwatch`].
#[derive(Debug)]
pub struct WatchedKey {
    shard: usize,
    key: Box<[u8]>,
    version: u64,
    /// The key's deadline when it was watched (live keys only).
    deadline: Option<u64>,
}

impl WatchedKey {
    /// The key.
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}

// A connection's watched keys are a set of keys: equal by key, found by
// key.
impl PartialEq for WatchedKey {
    fn eq(&self, other: &WatchedKey) -> bool {
        self.key == other.key
    }
}

impl Eq for WatchedKey {}

impl std::hash::Hash for WatchedKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for WatchedKey {
    fn borrow(&self) -> &[u8] {
        &self.key
    }
}

impl Store {
    /// Starts watching `key`. Pair every call with [`Store::unwatch`]:
    /// the shard keeps the key's entry while anyone watches it.
    pub fn watch(&self, key: &[u8]) -> WatchedKey {
        let (shard, hash) = self.locate(key);
        let now = self.clock.now_ms();
        let mut locked = self.lock(shard);
        // Unlinks the key if it has expired: it is watched as missing.
        let deadline = locked.find_live(hash, key, now).and_then(|f| f.header.deadline());
        let table = locked.watched.get_or_insert_with(Box::default);
        let entry = table.keys.entry(key.into()).or_insert(Entry { watchers: 0, version: 0 });
        entry.watchers += 1;
        WatchedKey { shard, key: key.into(), version: entry.version, deadline }
    }

    /// True when `watched` changed since it was watched, or its deadline
    /// has passed.
    pub fn watch_broken(&self, watched: &WatchedKey) -> bool {
        if watched.deadline.is_some_and(|d| d <= self.clock.now_ms()) {
            return true;
        }
        let locked = self.lock(watched.shard);
        let version = locked.watched.as_ref().and_then(|t| t.keys.get(&watched.key));
        version.is_none_or(|e| e.version != watched.version)
    }

    /// Stops watching.
    pub fn unwatch(&self, watched: WatchedKey) {
        let mut locked = self.lock(watched.shard);
        let Some(table) = locked.watched.as_mut() else { return };
        if let Some(entry) = table.keys.get_mut(&watched.key) {
            entry.watchers -= 1;
            if entry.watchers == 0 {
                table.keys.remove(&watched.key);
            }
        }
        if table.is_empty() {
            locked.watched = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::super::{Clock, Store, StoreConfig};

    fn store(quota: usize) -> (Store, Arc<AtomicU64>) {
        let now = Arc::new(AtomicU64::new(1_000_000));
        let config = StoreConfig {
            // One shard: every other key shares the watched key's shard.
            shards: 1,
            segment_size: 4096,
            segment_quota: quota,
            index_partitions: 4,
            max_value_size: 1 << 20,
            retain_fraction: 0.5,
            clock: Clock::Manual(now.clone()),
        };
        (Store::new(&config), now)
    }

    #[test]
    fn only_changes_to_the_watched_key_break_the_watch() {
        let (store, _) = store(64);
        store.put(b"k", b"v").unwrap();
        let watched = store.watch(b"k");
        for i in 0..200 {
            let other = format!("other{i}");
            store.put(other.as_bytes(), b"v").unwrap();
            store.delete(other.as_bytes());
        }
        assert!(!store.watch_broken(&watched));
        // The same value counts as a change, as in Redis.
        store.put(b"k", b"v").unwrap();
        assert!(store.watch_broken(&watched));
        store.unwatch(watched);
        assert!(store.lock(0).watched.is_none(), "the table goes with the last watch");
    }

    #[test]
    fn deletes_deadlines_and_flushes_break_the_watch() {
        let (store, now) = store(64);
        let changes: [&dyn Fn(&Store); 4] = [
            &|s| assert!(s.delete(b"k")),
            &|s| {
                assert!(s.expire(b"k", Some(2_000_000), super::super::ExpireWhen::Always).unwrap())
            },
            &|s| s.flush(),
            &|s| assert!(s.rename(b"k", b"moved", false).is_ok()),
        ];
        for change in changes {
            store.put(b"k", b"v").unwrap();
            let watched = store.watch(b"k");
            change(&store);
            assert!(store.watch_broken(&watched));
            store.unwatch(watched);
        }
        // A flush leaves a watched key that does not exist alone.
        store.delete(b"k");
        let watched = store.watch(b"k");
        store.flush();
        assert!(!store.watch_broken(&watched));
        store.unwatch(watched);
        // A deadline that passes breaks it without anything unlinking it.
        store
            .set(
                b"k",
                b"v",
                super::super::WriteExpiry::At(1_000_100),
                super::super::WriteCondition::Always,
                None,
            )
            .unwrap();
        let watched = store.watch(b"k");
        assert!(!store.watch_broken(&watched));
        now.store(1_000_100, Ordering::Relaxed);
        assert!(store.watch_broken(&watched));
        store.unwatch(watched);
    }

    #[test]
    fn eviction_of_the_watched_key_breaks_the_watch() {
        let (store, _) = store(8);
        store.put(b"k", &[b'x'; 100]).unwrap();
        let watched = store.watch(b"k");
        for i in 0..2_000u32 {
            store.put(format!("key{i:08}").as_bytes(), &[b'x'; 100]).unwrap();
        }
        assert!(!store.exists(b"k"), "evicted");
        assert!(store.watch_broken(&watched));
        store.unwatch(watched);
    }

    #[test]
    fn two_watchers_share_the_entry_until_both_leave() {
        let (store, _) = store(64);
        let (first, second) = (store.watch(b"k"), store.watch(b"k"));
        store.unwatch(first);
        store.put(b"k", b"v").unwrap();
        assert!(store.watch_broken(&second));
        store.unwatch(second);
        assert!(store.lock(0).watched.is_none());
    }
}
