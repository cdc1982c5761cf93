//! Store tests: exact behaviour of each operation, eviction, expiry, and a
//! model-based proptest against a `HashMap`.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

fn config(segment_size: usize, quota: usize) -> StoreConfig {
    StoreConfig {
        shards: 4,
        segment_size,
        segment_quota: quota,
        index_partitions: 4,
        max_value_size: 1 << 20,
        retain_fraction: 0.5,
        clock: Clock::Manual(Arc::new(AtomicU64::new(1_000_000))),
    }
}

fn manual(store_config: &StoreConfig) -> Arc<AtomicU64> {
    match &store_config.clock {
        Clock::Manual(t) => t.clone(),
        Clock::System => unreachable!(),
    }
}

fn get(store: &Store, key: &[u8]) -> Option<Vec<u8>> {
    store.get(key, |v| v.to_vec())
}

fn check(store: &Store) {
    for shard in store.shards.iter() {
        shard.lock().unwrap().check_consistency();
    }
    let index: usize = store.shards.iter().map(|s| s.lock().unwrap().index.bytes()).sum();
    assert_eq!(index, store.index_bytes(), "index bytes accounting");
}

#[test]
fn put_get_overwrite_delete() {
    let store = Store::new(&config(4096, 64));
    assert_eq!(get(&store, b"k"), None);
    store.put(b"k", b"v1").unwrap();
    assert_eq!(get(&store, b"k"), Some(b"v1".to_vec()));
    store.put(b"k", b"").unwrap();
    assert_eq!(get(&store, b"k"), Some(b"".to_vec()));
    assert_eq!(store.len(), 1);
    assert!(store.delete(b"k"));
    assert!(!store.delete(b"k"));
    assert_eq!(get(&store, b"k"), None);
    assert!(store.is_empty());
    check(&store);
}

#[test]
fn binary_keys_and_values() {
    let store = Store::new(&config(4096, 64));
    let key = [0u8, b'\n', 255, b' '];
    let value: Vec<u8> = (0..=255).collect();
    store.put(&key, &value).unwrap();
    assert_eq!(get(&store, &key), Some(value));
    store.put(b"", b"empty key").unwrap();
    assert_eq!(get(&store, b""), Some(b"empty key".to_vec()));
}

/// Segments the store holds (regular ones, plus oversized ones by their
/// units) and how many of them are oversized.
fn held(store: &Store) -> (usize, usize) {
    let (mut units, mut oversized) = (0, 0);
    for shard in store.shards.iter() {
        let shard = shard.lock().unwrap();
        units += shard.segment_bytes() / store.segment_size();
        oversized += shard.oversized;
    }
    (units, oversized)
}

#[test]
fn item_larger_than_a_segment_gets_a_segment_of_its_own() {
    let store = Store::new(&config(256, 8));
    // One segment's worth, expiry field counted, stays in a segment:
    // 3-byte header + 6 + key + value.
    let fits = vec![7u8; 256 - 3 - 6 - 1];
    store.put(b"a", &fits).unwrap();
    assert_eq!(held(&store), (1, 0));
    let big = vec![1u8; 300];
    store.put(b"k", &big).unwrap();
    assert_eq!(get(&store, b"k"), Some(big));
    // 310 bytes: a 320-byte allocation, two segments' worth of quota.
    assert_eq!(held(&store), (3, 1));
    assert_eq!(store.stats().segments, 3);
    assert_eq!(store.stats().segment_bytes, 3 * 256);
    check(&store);
}

#[test]
fn a_dead_oversized_item_frees_its_segment_at_once() {
    let cfg = config(4096, 64);
    let clock = manual(&cfg);
    let store = Store::new(&cfg);
    let big: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    store.put(b"big", &big).unwrap();
    assert_eq!(held(&store), (3, 1));
    store.put(b"big", b"small now").unwrap();
    assert_eq!(held(&store), (1, 0), "overwritten: freed, not left for the FIFO");
    assert_eq!(store.stats().dead_bytes, 0);
    store.put(b"big", &big).unwrap();
    assert!(store.delete(b"big"));
    assert_eq!(held(&store).1, 0, "deleted");
    assert_eq!(store.stats().segments, 1, "units back in the quota");
    store.put(b"big", &big).unwrap();
    let deadline = clock.load(Ordering::Relaxed) + 10;
    assert!(store.expire(b"big", Some(deadline), ExpireWhen::Always).unwrap());
    assert_eq!(held(&store), (4, 1), "the expiry field is patched, not rewritten");
    clock.fetch_add(20, Ordering::Relaxed);
    store.expire_due(far_future());
    assert_eq!(held(&store), (1, 0), "expired by the active expiry");
    store.put(b"big", &big).unwrap();
    store.flush();
    assert_eq!(store.stats().segments, 1, "flushed: the regular segment waits in the pool");
    check(&store);
}

#[test]
fn oversized_writes_evict_across_shards_or_are_refused() {
    let store = Store::new(&config(4096, 16));
    for i in 0..2_000u32 {
        store.put(&i.to_be_bytes(), &[3u8; 100]).unwrap();
    }
    let before = store.len();
    // 40 KB: a 40 KiB allocation, ten segments' worth.
    let big = vec![9u8; 40_000];
    store.put(b"big", &big).unwrap();
    assert_eq!(get(&store, b"big"), Some(big.clone()));
    assert!(store.len() < before, "made room by eviction");
    assert!(store.stats().segments <= 16 + store.shard_count());
    // More than the whole quota: refused, nothing evicted for it.
    let len = store.len();
    assert_eq!(store.put(b"huge", &vec![1u8; 100_000]), Err(StoreError::OutOfMemory));
    assert_eq!(store.len(), len);
    check(&store);
    // NX on an existing key (with room to spare): the prepared segment's
    // units come back.
    let store = Store::new(&config(4096, 64));
    store.put(b"big", &big).unwrap();
    let segments = store.stats().segments;
    let nx = store.set(b"big", &big, WriteExpiry::None, WriteCondition::IfAbsent, None);
    assert_eq!(nx, Ok(SetOutcome::ConditionFailed));
    assert_eq!(store.stats().segments, segments);
    check(&store);
}

#[test]
fn append_copy_and_rename_past_a_segment() {
    let store = Store::new(&config(4096, 64));
    let mut model = Vec::new();
    for round in 0..20u8 {
        let chunk = vec![round; 700];
        assert_eq!(store.append(b"log", &chunk).unwrap(), model.len() + 700);
        model.extend_from_slice(&chunk);
        check(&store);
    }
    assert_eq!(get(&store, b"log"), Some(model.clone()));
    assert_eq!(store.strlen(b"log"), 14_000);
    assert_eq!(store.copy(b"log", b"copy", false), Ok(MoveOutcome::Done));
    assert_eq!(store.rename(b"copy", b"moved", false), Ok(MoveOutcome::Done));
    assert_eq!(get(&store, b"moved"), Some(model.clone()));
    assert_eq!(get(&store, b"copy"), None);
    assert_eq!(held(&store).1, 2);
    check(&store);
}

#[test]
fn a_read_oversized_item_gets_a_second_chance() {
    let store = Store::new(&StoreConfig { shards: 1, ..config(4096, 12) });
    store.put(b"hot", &vec![5u8; 5_000]).unwrap();
    store.put(b"cold", &vec![6u8; 5_000]).unwrap();
    assert!(get(&store, b"hot").is_some());
    for i in 0..3_000u32 {
        store.put(&i.to_be_bytes(), &[3u8; 20]).unwrap();
        if !store.exists(b"cold") {
            break;
        }
    }
    assert!(!store.exists(b"cold"), "evicted at the old end");
    assert!(get(&store, b"hot").is_some(), "moved to the young end once");
    assert!(store.stats().counters.retained_items >= 1);
    check(&store);
}

#[test]
fn eviction_keeps_recent_writes_and_memory_bounded() {
    let cfg = config(4096, 8);
    let store = Store::new(&cfg);
    let value = [b'x'; 100];
    for i in 0..10_000u32 {
        store.put(format!("key{i:08}").as_bytes(), &value).unwrap();
        assert!(store.segment_bytes() <= 8 * 4096);
    }
    check(&store);
    let stats = store.stats();
    assert!(stats.counters.evicted_items > 9_000, "{stats:?}");
    assert_eq!(stats.segments, 8);
    // The newest keys are all still there.
    for i in 9_980..10_000u32 {
        assert_eq!(get(&store, format!("key{i:08}").as_bytes()), Some(value.to_vec()), "{i}");
    }
    assert_eq!(get(&store, b"key00000000"), None);
}

#[test]
fn read_items_survive_eviction() {
    let store = Store::new(&StoreConfig { shards: 1, ..config(4096, 2) });
    store.put(b"hot", b"value").unwrap();
    for i in 0..2_000u32 {
        // Keep reading the hot key so its count stays above zero.
        assert_eq!(get(&store, b"hot").as_deref(), Some(&b"value"[..]), "lost at {i}");
        store.put(format!("cold{i}").as_bytes(), &[0u8; 50]).unwrap();
    }
    check(&store);
    assert!(store.stats().counters.retained_items > 0);
}

#[test]
fn shrinking_the_quota_releases_oldest_segments() {
    let store = Store::new(&config(4096, 32));
    for i in 0..2_000u32 {
        store.put(format!("k{i}").as_bytes(), &[1u8; 40]).unwrap();
    }
    let before = store.stats().segments;
    assert!(before > 16);
    let released = store.set_segment_quota(8);
    assert_eq!(store.stats().segments, 8);
    assert_eq!(released, before - 8);
    check(&store);
    assert!(get(&store, b"k1999").is_some());
    // Writes keep working within the smaller quota.
    for i in 0..500u32 {
        store.put(format!("n{i}").as_bytes(), &[2u8; 40]).unwrap();
    }
    assert!(store.stats().segments <= 8);
    check(&store);
}

/// Every way a segment is given up for good, each checked by
/// `segment::watch`, which fails the test if a buffer is freed while this
/// thread holds a shard's or the pool's lock.
#[test]
fn given_up_segments_are_freed_after_the_lock_is_released() {
    let store = Store::new(&config(4096, 32));
    for i in 0..2_000u32 {
        store.put(format!("k{i}").as_bytes(), &[1u8; 40]).unwrap();
    }
    let filled = store.stats().segments;
    // Spare segments in the pool (set_quota) and the shards' own
    // (release_oldest) when the governor shrinks the quota.
    store.flush();
    for i in 0..200u32 {
        store.put(format!("f{i}").as_bytes(), &[1u8; 4]).unwrap();
    }
    assert_eq!(store.pool.free_count(), filled - store.shard_count());
    let freed = segment::watch::freed();
    assert_eq!(store.set_segment_quota(2), store.shard_count() - 2);
    assert_eq!(store.stats().segments, 2);
    assert_eq!(segment::watch::freed() - freed, filled - 2);
    check(&store);
    // A write that finds the pool over quota hands its oldest segment back.
    let store = Store::new(&config(4096, 32));
    for i in 0..2_000u32 {
        store.put(format!("k{i}").as_bytes(), &[1u8; 40]).unwrap();
    }
    let before = store.stats().segments;
    store.pool.set_quota(8);
    let freed = segment::watch::freed();
    for i in 0..2_000u32 {
        store.put(format!("n{i}").as_bytes(), &[1u8; 40]).unwrap();
    }
    let after = store.stats().segments;
    assert!(after < before, "{after} segments, {before} before");
    assert_eq!(segment::watch::freed() - freed, before - after);
    check(&store);
}

#[test]
#[should_panic(expected = "segment buffers freed under a store lock")]
fn freeing_under_a_shard_lock_is_caught() {
    let store = Store::new(&config(4096, 4));
    let mut freed = segment::Freed::default();
    freed.add(Some(vec![0u8; 64].into_boxed_slice()));
    let _locked = store.lock(0);
    drop(freed);
}

#[test]
fn every_shard_can_write_even_at_zero_quota() {
    let store = Store::new(&config(4096, 4));
    store.put(b"a", b"1").unwrap();
    store.set_segment_quota(0);
    assert_eq!(store.stats().segments, 0, "everything released");
    assert_eq!(get(&store, b"a"), None);
    // A shard with no segment takes one past the quota rather than refuse.
    for i in 0..200u32 {
        store.put(format!("k{i}").as_bytes(), &[0u8; 30]).unwrap();
    }
    assert!(store.stats().segments <= store.shard_count(), "one per shard at most");
    assert!(get(&store, b"k199").is_some());
    check(&store);
}

#[test]
fn flush_returns_segments_for_reuse() {
    let store = Store::new(&config(4096, 16));
    for i in 0..500u32 {
        store.put(format!("k{i}").as_bytes(), &[1u8; 40]).unwrap();
    }
    let segments = store.stats().segments;
    store.flush();
    assert!(store.is_empty());
    assert_eq!(store.stats().segments, segments, "kept in the pool");
    assert_eq!(store.stats().item_bytes, 0);
    store.put(b"a", b"b").unwrap();
    assert_eq!(store.stats().segments, segments, "reused, not allocated");
    check(&store);
}

#[test]
fn expiry_is_lazy_and_exact() {
    let cfg = config(4096, 16);
    let clock = manual(&cfg);
    let store = Store::new(&cfg);
    let now = clock.load(Ordering::Relaxed);
    store.set(b"t", b"v", WriteExpiry::At(now + 1500), WriteCondition::Always, None).unwrap();
    assert_eq!(store.ttl(b"t"), Ttl::At(now + 1500));
    clock.store(now + 1499, Ordering::Relaxed);
    assert_eq!(get(&store, b"t"), Some(b"v".to_vec()));
    clock.store(now + 1500, Ordering::Relaxed);
    assert_eq!(get(&store, b"t"), None);
    assert_eq!(store.ttl(b"t"), Ttl::Missing);
    assert_eq!(store.stats().counters.expired_items, 1);
    check(&store);
}

#[test]
fn expire_patches_or_rewrites_and_persist_clears() {
    let cfg = config(4096, 16);
    let clock = manual(&cfg);
    let now = clock.load(Ordering::Relaxed);
    let store = Store::new(&cfg);
    store.put(b"k", b"v").unwrap();
    assert_eq!(store.ttl(b"k"), Ttl::Forever);
    // No expiry field yet: the item is rewritten with one.
    assert!(store.expire(b"k", Some(now + 10_000), ExpireWhen::Always).unwrap());
    assert_eq!(store.ttl(b"k"), Ttl::At(now + 10_000));
    // Now patched in place.
    assert!(store.expire(b"k", Some(now + 20_000), ExpireWhen::Always).unwrap());
    assert_eq!(store.ttl(b"k"), Ttl::At(now + 20_000));
    assert!(!store.expire(b"k", Some(now + 5_000), ExpireWhen::Later).unwrap());
    assert!(store.expire(b"k", Some(now + 5_000), ExpireWhen::Earlier).unwrap());
    assert!(!store.expire(b"k", Some(now + 50_000), ExpireWhen::NoDeadline).unwrap());
    assert!(store.expire(b"k", None, ExpireWhen::Always).unwrap());
    assert_eq!(store.ttl(b"k"), Ttl::Forever);
    assert!(!store.expire(b"k", None, ExpireWhen::Always).unwrap(), "nothing to persist");
    assert!(store.expire(b"k", Some(now), ExpireWhen::Always).unwrap(), "past deletes");
    assert_eq!(get(&store, b"k"), None);
    assert!(!store.expire(b"missing", Some(now + 1), ExpireWhen::Always).unwrap());
    check(&store);
}

#[test]
fn expired_items_are_dropped_by_eviction() {
    let cfg = StoreConfig { shards: 1, ..config(4096, 2) };
    let clock = manual(&cfg);
    let now = clock.load(Ordering::Relaxed);
    let store = Store::new(&cfg);
    for i in 0..30u32 {
        let key = format!("t{i}");
        store
            .set(key.as_bytes(), &[0; 50], WriteExpiry::At(now + 10), WriteCondition::Always, None)
            .unwrap();
    }
    clock.store(now + 10, Ordering::Relaxed);
    for i in 0..300u32 {
        store.put(format!("p{i}").as_bytes(), &[0; 50]).unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.counters.expired_items, 30, "{stats:?}");
    check(&store);
}

fn far_future() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(60)
}

#[test]
fn active_expiry_unlinks_expired_items_without_a_read() {
    let cfg = config(4096, 64);
    let clock = manual(&cfg);
    let now = clock.load(Ordering::Relaxed);
    let store = Store::new(&cfg);
    let ttl = |key: String, at| {
        store.set(key.as_bytes(), &[7; 40], WriteExpiry::At(at), WriteCondition::Always, None)
    };
    for i in 0..200 {
        ttl(format!("soon{i}"), now + 500).unwrap();
        ttl(format!("later{i}"), now + 5_000).unwrap();
        store.put(format!("forever{i}").as_bytes(), &[7; 40]).unwrap();
    }
    // Overwritten before its deadline: the old copy is dead, the new one
    // has no deadline and must survive.
    store.put(b"soon0", b"kept").unwrap();
    let before = store.stats();
    assert_eq!(store.expire_due(far_future()).expired, 0, "nothing is due yet");

    clock.store(now + 500, Ordering::Relaxed);
    let sweep = store.expire_due(far_future());
    assert!(sweep.done);
    assert_eq!(sweep.expired, 199, "{sweep:?}");
    let after = store.stats();
    assert_eq!(after.items, 600 - 199);
    assert_eq!(after.items_with_deadline, 200);
    assert_eq!(after.counters.expired_items, 199);
    assert!(after.item_bytes < before.item_bytes && after.dead_bytes > before.dead_bytes);
    assert_eq!(get(&store, b"soon0"), Some(b"kept".to_vec()));
    check(&store);

    // A segment just scanned waits before its next scan; then the later
    // wave goes too, and a scan with nothing due finds nothing.
    clock.store(now + 5_000, Ordering::Relaxed);
    assert_eq!(store.expire_due(far_future()).expired, 200);
    assert_eq!(store.stats().items_with_deadline, 0);
    clock.store(now + 50_000, Ordering::Relaxed);
    assert_eq!(store.expire_due(far_future()).segments, 0, "no deadline is left to wait for");
    check(&store);
}

#[test]
fn active_expiry_waits_between_scans_of_one_segment_and_stops_at_its_time_limit() {
    let cfg = StoreConfig { shards: 1, ..config(1 << 16, 64) };
    let clock = manual(&cfg);
    let now = clock.load(Ordering::Relaxed);
    let store = Store::new(&cfg);
    for i in 0..100u64 {
        let key = format!("k{i}");
        store
            .set(key.as_bytes(), b"v", WriteExpiry::At(now + 1 + i), WriteCondition::Always, None)
            .unwrap();
    }
    clock.store(now + 10, Ordering::Relaxed);
    assert_eq!(store.expire_due(far_future()).expired, 10);
    // Due again by its next deadline, but scanned too recently.
    clock.store(now + 20, Ordering::Relaxed);
    assert_eq!(store.expire_due(far_future()).segments, 0);
    clock.store(now + 10 + expiry::RESCAN_AFTER_MS, Ordering::Relaxed);
    assert_eq!(store.expire_due(far_future()).expired, 90);
    // A limit already passed does nothing and says so.
    store.set(b"x", b"v", WriteExpiry::At(now + 1), WriteCondition::Always, None).unwrap();
    let cut = store.expire_due(std::time::Instant::now());
    assert!(!cut.done && cut.segments == 0);
    check(&store);
}

#[test]
fn set_conditions_keepttl_and_get() {
    let cfg = config(4096, 16);
    let now = manual(&cfg).load(Ordering::Relaxed);
    let store = Store::new(&cfg);
    let nx = WriteCondition::IfAbsent;
    let failed = Ok(SetOutcome::ConditionFailed);
    assert_eq!(store.set(b"k", b"1", WriteExpiry::None, nx, None), Ok(SetOutcome::Written));
    assert_eq!(store.set(b"k", b"2", WriteExpiry::None, nx, None), failed);
    assert_eq!(store.set(b"x", b"2", WriteExpiry::None, WriteCondition::IfPresent, None), failed);
    assert_eq!(get(&store, b"x"), None);
    store.set(b"k", b"3", WriteExpiry::At(now + 100), WriteCondition::IfPresent, None).unwrap();
    let mut old = None;
    let mut grab = |v: Option<&[u8]>| {
        old = Some(v.map(<[u8]>::to_vec));
        true
    };
    store.set(b"k", b"4", WriteExpiry::Keep, WriteCondition::Always, Some(&mut grab)).unwrap();
    assert_eq!(old, Some(Some(b"3".to_vec())));
    let mut decline = |_: Option<&[u8]>| false;
    let outcome =
        store.set(b"k", b"9", WriteExpiry::None, WriteCondition::Always, Some(&mut decline));
    assert_eq!(outcome, Ok(SetOutcome::Aborted));
    assert_eq!(get(&store, b"k"), Some(b"4".to_vec()));
    assert_eq!(store.ttl(b"k"), Ttl::At(now + 100));
    store.set(b"k", b"5", WriteExpiry::None, WriteCondition::Always, None).unwrap();
    assert_eq!(store.ttl(b"k"), Ttl::Forever, "plain SET clears the deadline");
    check(&store);
}

#[test]
fn incr_append_strlen_getdel() {
    let cfg = config(4096, 16);
    let now = manual(&cfg).load(Ordering::Relaxed);
    let store = Store::new(&cfg);
    assert_eq!(store.incr_by(b"n", 5), Ok(5));
    assert_eq!(store.incr_by(b"n", -7), Ok(-2));
    assert_eq!(get(&store, b"n"), Some(b"-2".to_vec()));
    store.put(b"big", i64::MAX.to_string().as_bytes()).unwrap();
    assert_eq!(store.incr_by(b"big", 1), Err(StoreError::Overflow));
    store.put(b"s", b"abc").unwrap();
    assert_eq!(store.incr_by(b"s", 1), Err(StoreError::NotInteger));
    store.expire(b"n", Some(now + 5000), ExpireWhen::Always).unwrap();
    assert_eq!(store.incr_by(b"n", 1), Ok(-1));
    assert_eq!(store.ttl(b"n"), Ttl::At(now + 5000), "INCR keeps the deadline");
    assert_eq!(store.append(b"s", b"def"), Ok(6));
    assert_eq!(store.append(b"new", b"xy"), Ok(2));
    assert_eq!(store.strlen(b"s"), 6);
    assert_eq!(store.strlen(b"missing"), 0);
    assert_eq!(store.get_delete(b"s", |v| v != b"abcdef"), Some(false));
    assert!(store.exists(b"s"), "declined: kept");
    assert_eq!(store.get_delete(b"s", |v| v == b"abcdef"), Some(true));
    assert!(!store.exists(b"s"));
    assert_eq!(store.get_delete(b"s", |_| true), None);
    let small = Store::new(&StoreConfig { max_value_size: 4, ..config(4096, 16) });
    small.put(b"a", b"123").unwrap();
    assert_eq!(small.append(b"a", b"45"), Err(StoreError::ValueTooLarge));
    check(&store);
}

#[test]
fn index_grows_and_shrinks_with_item_count() {
    let store = Store::new(&config(1 << 16, 256));
    let empty = store.index_bytes();
    for i in 0..20_000u32 {
        store.put(&i.to_le_bytes(), b"v").unwrap();
    }
    let full = store.index_bytes();
    // 8-byte slots at >= 70% load: at most ~11.5 bytes per item.
    assert!(full - empty <= 20_000 * 115 / 10, "index {full} bytes for 20k items");
    for i in 0..20_000u32 {
        assert!(store.delete(&i.to_le_bytes()));
    }
    assert!(store.index_bytes() < full / 4, "shrank to {}", store.index_bytes());
    check(&store);
}

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u16),
    Get(u8),
    Delete(u8),
    Append(u8, u8),
    Expire(u8, u16),
    Persist(u8),
    Tick(u16),
}

/// `big`: value lengths that need an oversized segment, written to the
/// first 16 keys only (so that they fit the quota).
fn op(big: std::ops::Range<u16>) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u8>(), 0u16..600).prop_map(|(k, n)| Op::Put(k, n)),
        1 => (0u8..16, big).prop_map(|(k, n)| Op::Put(k, n)),
        4 => any::<u8>().prop_map(Op::Get),
        1 => any::<u8>().prop_map(Op::Delete),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(k, n)| Op::Append(k, n)),
        1 => (any::<u8>(), 1u16..2000).prop_map(|(k, ms)| Op::Expire(k, ms)),
        1 => any::<u8>().prop_map(Op::Persist),
        1 => (1u16..500).prop_map(Op::Tick),
    ]
}

fn value_for(key: u8, len: u16, version: usize) -> Vec<u8> {
    let mut v = format!("{key}:{version}:").into_bytes();
    v.resize(len as usize + v.len(), b'a' + (version % 26) as u8);
    v
}

/// Model of one key: value and deadline.
type Model = HashMap<u8, (Vec<u8>, Option<u64>)>;

fn run_model(ops: Vec<Op>, store_config: StoreConfig, evicting: bool) -> Result<(), TestCaseError> {
    let clock = manual(&store_config);
    let store = Store::new(&store_config);
    let mut model: Model = HashMap::new();
    for (version, op) in ops.into_iter().enumerate() {
        let now = clock.load(Ordering::Relaxed);
        model.retain(|_, (_, deadline)| deadline.is_none_or(|d| d > now));
        match op {
            Op::Put(k, len) => {
                let value = value_for(k, len, version);
                store.put(&[k], &value).unwrap();
                model.insert(k, (value, None));
            }
            Op::Get(k) => {
                let got = get(&store, &[k]);
                match (got, model.get(&k)) {
                    (Some(v), Some((expected, _))) => prop_assert_eq!(&v, expected),
                    (Some(v), None) => {
                        return Err(TestCaseError::fail(format!("ghost value {v:?} for {k}")));
                    }
                    (None, Some(_)) if !evicting => {
                        return Err(TestCaseError::fail(format!("lost key {k}")));
                    }
                    (None, Some(_)) => {
                        model.remove(&k);
                    }
                    (None, None) => {}
                }
            }
            Op::Delete(k) => {
                let existed = store.delete(&[k]);
                let modeled = model.remove(&k).is_some();
                prop_assert!(existed == modeled || (evicting && !existed));
            }
            Op::Append(k, n) => {
                let suffix = vec![b'+'; n as usize];
                let len = store.append(&[k], &suffix).unwrap();
                let present = get(&store, &[k]).is_some_and(|v| v.len() == len);
                prop_assert!(present || evicting);
                match model.get_mut(&k) {
                    Some((v, _)) if len == v.len() + suffix.len() => v.extend_from_slice(&suffix),
                    // Evicted before the append: the store started from empty.
                    _ => {
                        prop_assert!(evicting || len == suffix.len());
                        let deadline = model.get(&k).and_then(|(_, d)| *d);
                        let deadline = if len == suffix.len() { None } else { deadline };
                        model.insert(k, (suffix.clone(), deadline));
                    }
                }
            }
            Op::Expire(k, ms) => {
                let deadline = now + ms as u64;
                let applied = store.expire(&[k], Some(deadline), ExpireWhen::Always).unwrap();
                if let Some((_, d)) = model.get_mut(&k) {
                    prop_assert!(applied || evicting);
                    *d = Some(deadline);
                } else {
                    prop_assert!(!applied);
                }
            }
            Op::Persist(k) => {
                let applied = store.expire(&[k], None, ExpireWhen::Always).unwrap();
                match model.get_mut(&k) {
                    Some((_, d)) if d.is_some() => {
                        prop_assert!(applied || evicting);
                        *d = None;
                    }
                    _ => prop_assert!(!applied),
                }
            }
            Op::Tick(ms) => {
                clock.fetch_add(ms as u64, Ordering::Relaxed);
            }
        }
        check(&store);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Big enough never to evict: every key must be exactly as the model.
    #[test]
    fn matches_model_without_eviction(ops in proptest::collection::vec(op(17_000..40_000), 1..400)) {
        run_model(ops, config(1 << 14, 2048), false)?;
    }

    /// Tiny segments and quota: misses allowed (evicted), wrong values never.
    #[test]
    fn matches_model_under_eviction(ops in proptest::collection::vec(op(1_500..5_000), 1..400)) {
        let cfg = StoreConfig { shards: 2, ..config(2048, 6) };
        run_model(ops, cfg, true)?;
    }
}

#[test]
fn overwrite_in_place_leaves_no_dead_bytes() {
    let store = Store::new(&StoreConfig { shards: 1, ..config(4096, 4) });
    store.put(b"key", &[b'a'; 100]).unwrap();
    let one = store.stats();
    assert_eq!((one.item_bytes, one.dead_bytes), (item::encoded_len(3, 100, false), 0));
    // Same size, then 3 bytes shorter: written over the old item.
    store.put(b"key", &[b'b'; 100]).unwrap();
    store.put(b"key", &[b'c'; 97]).unwrap();
    let stats = store.stats();
    assert_eq!((stats.item_bytes, stats.dead_bytes), (one.item_bytes, 0));
    assert_eq!(stats.counters.overwrites_in_place, 2);
    assert_eq!(get(&store, b"key"), Some(vec![b'c'; 97]));
    assert_eq!(store.strlen(b"key"), 97);
    // A counter keeps its place while its digits do not grow.
    store.put(b"n", b"10").unwrap();
    for _ in 0..89 {
        store.incr_by(b"n", 1).unwrap();
    }
    assert_eq!(get(&store, b"n"), Some(b"99".to_vec()));
    assert_eq!(store.stats().dead_bytes, 0);
    // Longer does not fit: the old copy is dead until reclaimed.
    store.put(b"key", &[b'd'; 101]).unwrap();
    let stats = store.stats();
    assert_eq!(stats.dead_bytes, one.item_bytes);
    assert_eq!(stats.shards[0].dead_bytes, one.item_bytes);
    assert_eq!(stats.shards[0].segment_bytes, 4096);
    assert_eq!(stats.shards[0].live_bytes, stats.item_bytes);
    // Deletes feed the same accounting.
    assert!(store.delete(b"n"));
    assert_eq!(store.stats().dead_bytes, one.item_bytes + item::encoded_len(1, 2, false));
    check(&store);
}

#[test]
fn dead_segments_are_cleaned_before_the_oldest_is_evicted() {
    // One shard, four 4 KiB segments: cold keys first, never read, then a
    // few hot keys rewritten at sizes that never fit in place.
    let store = Store::new(&StoreConfig { shards: 1, ..config(4096, 4) });
    for i in 0..30u32 {
        store.put(format!("cold{i:02}").as_bytes(), &[b'c'; 100]).unwrap();
    }
    for round in 0..120u32 {
        let len = if round % 2 == 0 { 100 } else { 200 };
        store.put(format!("hot{}", round % 5).as_bytes(), &vec![b'h'; len]).unwrap();
    }
    let stats = store.stats();
    assert!(stats.counters.cleaned_segments > 0, "{stats:?}");
    // FIFO alone would have evicted the cold keys' segment by now.
    assert_eq!(stats.counters.evicted_items, 0, "{stats:?}");
    for i in 0..30u32 {
        assert!(store.exists(format!("cold{i:02}").as_bytes()), "cold{i:02} lost");
    }
    check(&store);
}

#[test]
fn overwrites_spread_over_the_whole_cache_are_cleaned_not_evicted() {
    // One shard of sixteen 4 KiB segments; 160 keys of 100 to 300 bytes
    // (three quarters of it), then every key rewritten eight times over
    // in random order at random sizes, so every segment holds dead copies
    // and the oldest the most. Cost-benefit alone evicts the oldest each
    // time (it frees the most) and loses live keys; past the dead share
    // the shard cleans instead.
    let store = Store::new(&StoreConfig { shards: 1, ..config(4096, 16) });
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: u64| {
        rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) % n
    };
    let mut latest = vec![Vec::new(); 160];
    for (k, value) in latest.iter_mut().enumerate() {
        *value = vec![b'a' + (k % 26) as u8; 100 + next(200) as usize];
        store.put(format!("k{k:03}").as_bytes(), value).unwrap();
    }
    for round in 0..8 * 160 {
        let k = next(160) as usize;
        latest[k] = vec![b'a' + (round % 26) as u8; 100 + next(200) as usize];
        store.put(format!("k{k:03}").as_bytes(), &latest[k]).unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.counters.evicted_items, 0, "{stats:?}");
    assert!(stats.counters.cleaned_segments > 0, "{stats:?}");
    for (k, value) in latest.iter().enumerate() {
        assert_eq!(get(&store, format!("k{k:03}").as_bytes()).as_ref(), Some(value), "k{k:03}");
    }
    check(&store);
}

/// A write in the overwrite-heavy model test.
#[derive(Debug, Clone)]
enum Rewrite {
    Put(u8, u16),
    Append(u8, u8),
    Incr(u8),
    Delete(u8),
    Expire(u8, u16),
    Persist(u8),
    Get(u8),
    Tick(u16),
}

/// Keys the string operations use; counters use `COUNTERS` on.
const STRINGS: u8 = 40;
const COUNTERS: u8 = 200;

fn rewrite(keys: u8) -> impl Strategy<Value = Rewrite> {
    // Mostly the same few lengths again, so many overwrites fit in place,
    // some a little shorter or longer, some much longer.
    let len = prop_oneof![4 => Just(100u16), 2 => Just(97), 2 => Just(101), 1 => Just(300)];
    prop_oneof![
        8 => (0..keys, len).prop_map(|(k, n)| Rewrite::Put(k, n)),
        1 => (0..keys, 0u8..4).prop_map(|(k, n)| Rewrite::Append(k, n)),
        2 => (COUNTERS..COUNTERS + 4).prop_map(Rewrite::Incr),
        1 => (0..keys).prop_map(Rewrite::Delete),
        1 => (0..keys, 1u16..2000).prop_map(|(k, ms)| Rewrite::Expire(k, ms)),
        1 => (0..keys).prop_map(Rewrite::Persist),
        2 => prop_oneof![0..keys, COUNTERS..COUNTERS + 4].prop_map(Rewrite::Get),
        1 => (1u16..500).prop_map(Rewrite::Tick),
    ]
}

/// Model of one key for the overwrite-heavy test: also the exact length
/// the store's item has, and whether it carries an expiry field.
#[derive(Debug, Clone)]
struct Stored {
    value: Vec<u8>,
    deadline: Option<u64>,
    field: bool,
    len: usize,
}

/// What `Shard::put` stores: written over the old item when it fits
/// (keeping its length exactly), else a new item of minimal length.
fn model_put(model: &mut HashMap<u8, Stored>, k: u8, value: Vec<u8>, expiry: Option<u64>) {
    let minimal = item::encoded_len(1, value.len(), expiry.is_some());
    // The value-length varint may be padded up to 10 bytes.
    let varint = (usize::BITS - value.len().leading_zeros()).div_ceil(7).max(1) as usize;
    let len = match model.get(&k) {
        Some(old) if minimal <= old.len && old.len - minimal <= 10 - varint => old.len,
        _ => minimal,
    };
    let deadline = expiry.filter(|&ms| ms != 0);
    model.insert(k, Stored { value, deadline, field: expiry.is_some(), len });
}

/// The live value of `key` without counting a read.
fn peek(store: &Store, key: &[u8]) -> Option<Vec<u8>> {
    store.with_key(key, |s, h, now| {
        let found = s.find_live(h, key, now)?;
        Some(s.value(&found).to_vec())
    })
}

fn run_rewrites(
    ops: Vec<Rewrite>,
    store_config: StoreConfig,
    evicting: bool,
) -> Result<(), TestCaseError> {
    let clock = manual(&store_config);
    let store = Store::new(&store_config);
    let mut model: HashMap<u8, Stored> = HashMap::new();
    let mut lost = 0u64;
    let universe: Vec<u8> = (0..STRINGS).chain(COUNTERS..COUNTERS + 4).collect();
    for (version, op) in ops.into_iter().enumerate() {
        let now = clock.load(Ordering::Relaxed);
        model.retain(|_, s| s.deadline.is_none_or(|d| d > now));
        match op {
            Rewrite::Put(k, len) => {
                let value = value_for(k, len, version);
                store.put(&[k], &value).unwrap();
                model_put(&mut model, k, value, None);
            }
            Rewrite::Append(k, n) => {
                let suffix = vec![b'+'; n as usize];
                store.append(&[k], &suffix).unwrap();
                let (mut value, deadline) =
                    model.get(&k).map_or((Vec::new(), None), |s| (s.value.clone(), s.deadline));
                value.extend_from_slice(&suffix);
                model_put(&mut model, k, value, deadline);
            }
            Rewrite::Incr(k) => {
                let n = store.incr_by(&[k], 1).unwrap();
                let (old, deadline) = model.get(&k).map_or((0, None), |s| {
                    (std::str::from_utf8(&s.value).unwrap().parse::<i64>().unwrap(), s.deadline)
                });
                prop_assert_eq!(n, old + 1);
                model_put(&mut model, k, n.to_string().into_bytes(), deadline);
            }
            Rewrite::Delete(k) => {
                prop_assert_eq!(store.delete(&[k]), model.remove(&k).is_some());
            }
            Rewrite::Expire(k, ms) => {
                let deadline = now + ms as u64;
                let applied = store.expire(&[k], Some(deadline), ExpireWhen::Always).unwrap();
                prop_assert_eq!(applied, model.contains_key(&k));
                match model.get_mut(&k) {
                    Some(s) if s.field => s.deadline = Some(deadline),
                    Some(s) => {
                        let value = s.value.clone();
                        model_put(&mut model, k, value, Some(deadline));
                    }
                    None => {}
                }
            }
            Rewrite::Persist(k) => {
                let applied = store.expire(&[k], None, ExpireWhen::Always).unwrap();
                let modeled = model.get_mut(&k).filter(|s| s.deadline.is_some());
                prop_assert_eq!(applied, modeled.is_some());
                if let Some(s) = modeled {
                    s.deadline = None;
                }
            }
            Rewrite::Get(k) => {
                let got = get(&store, &[k]);
                prop_assert_eq!(got.as_ref(), model.get(&k).map(|s| &s.value));
            }
            Rewrite::Tick(ms) => {
                clock.fetch_add(ms as u64, Ordering::Relaxed);
            }
        }
        // The store and the model agree on every key: a key the model has
        // is readable with its latest value, or was evicted (and counted).
        let now = clock.load(Ordering::Relaxed);
        model.retain(|_, s| s.deadline.is_none_or(|d| d > now));
        for &k in &universe {
            match (peek(&store, &[k]), model.get(&k)) {
                (Some(v), Some(s)) => prop_assert_eq!(&v, &s.value, "key {}", k),
                (Some(v), None) => {
                    return Err(TestCaseError::fail(format!("ghost value {v:?} for {k}")));
                }
                (None, Some(_)) if evicting => {
                    model.remove(&k);
                    lost += 1;
                }
                (None, Some(_)) => return Err(TestCaseError::fail(format!("lost key {k}"))),
                (None, None) => {}
            }
        }
        let stats = store.stats();
        prop_assert!(lost <= stats.counters.evicted_items, "{} lost, {:?}", lost, stats);
        prop_assert!(evicting || stats.counters.evicted_items == 0);
        // Live-byte accounting is exact: the model's item lengths.
        prop_assert_eq!(stats.items, model.len());
        prop_assert_eq!(stats.item_bytes, model.values().map(|s| s.len).sum::<usize>());
        let deadlines = model.values().filter(|s| s.deadline.is_some()).count();
        prop_assert_eq!(stats.items_with_deadline, deadlines);
        let held: usize = stats.shards.iter().map(|s| s.segment_bytes).sum();
        prop_assert!(stats.item_bytes + stats.dead_bytes <= held);
        check(&store);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Overwrite-heavy, never evicting: live bytes exactly as modeled.
    #[test]
    fn overwrites_match_model_exactly(ops in proptest::collection::vec(rewrite(12), 1..400)) {
        run_rewrites(ops, config(1 << 16, 512), false)?;
    }

    /// Overwrite-heavy under eviction and cleaning: nothing live is lost
    /// except by a counted eviction, accounting still exact.
    #[test]
    fn overwrites_under_reclamation(ops in proptest::collection::vec(rewrite(STRINGS), 1..400)) {
        let cfg = StoreConfig { shards: 2, ..config(2048, 6) };
        run_rewrites(ops, cfg, true)?;
    }
}
