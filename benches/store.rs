//! Store throughput without the network: get and set of 16-byte keys with
//! 100-byte values, on a store that is full and evicting, as in production.

use std::hint::black_box;

use capkv::store::{Clock, Store, StoreConfig};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn store(budget: usize) -> Store {
    let segment_size = 1 << 20;
    Store::new(&StoreConfig {
        shards: 16,
        segment_size,
        segment_quota: budget / segment_size,
        index_partitions: StoreConfig::partitions_for(budget, 16),
        max_value_size: 256 * 1024,
        retain_fraction: 0.5,
        clock: Clock::System,
    })
}

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"k000000000000000";
    let digits = format!("{i:015}");
    k[1..].copy_from_slice(digits.as_bytes());
    k
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Elements(1));
    let value = [b'v'; 100];
    for &budget_mb in &[64usize, 512] {
        let s = store(budget_mb << 20);
        // Fill past capacity so sets evict.
        let n = (budget_mb << 20) as u64 / 100;
        for i in 0..n {
            s.put(&key(i), &value).unwrap();
        }
        let live = s.len() as u64;
        let mut i = n;
        group.bench_function(BenchmarkId::new("set_evicting", format!("{budget_mb}mb")), |b| {
            b.iter(|| {
                i += 1;
                s.put(&key(i), &value).unwrap();
            })
        });
        let mut j = 0u64;
        group.bench_function(BenchmarkId::new("get_hit", format!("{budget_mb}mb")), |b| {
            b.iter(|| {
                j = (j + 7919) % (live / 2);
                let k = key(i - j);
                black_box(s.get(&k, |v| v.len()))
            })
        });
        group.bench_function(BenchmarkId::new("get_miss", format!("{budget_mb}mb")), |b| {
            b.iter(|| {
                j += 1;
                black_box(s.get(&key(999_999_999_999_999 - j), |v| v.len()))
            })
        });
    }
    group.finish();
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
