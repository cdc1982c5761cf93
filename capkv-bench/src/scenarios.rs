//! The hostile workloads, each scaled to a memory limit L: the six memory
//! scenarios here, the two connection scenarios in [`crate::conns`], the
//! fairness one in [`crate::latency`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::data::{self, Rng, Zipf};
use crate::engine::{self, Counters, RangeFill, Sizer, Source, Target, Versions, Workload};
use crate::json::Obj;
use crate::wire;

pub use crate::phase::{Outcome, Params};
use crate::phase::{Totals, depth, fill, run_phase, sample, sample_mapped};

/// The memory scenarios, in order: what `all` runs.
pub const ALL: &[&str] = &["small", "large", "shifting", "churn", "flood", "zipf"];

/// Every scenario: the memory scenarios, then the connection scenarios
/// (named explicitly; `all` keeps meaning the six).
pub const KNOWN: &[&str] = &[
    "small",
    "large",
    "shifting",
    "churn",
    "flood",
    "zipf",
    "zipf-scan",
    "ttl",
    "slowloris",
    "idle",
    "latency",
];

/// Everything a scenario is parameterised by.
fn retained(o: &mut Obj, p: &Params, bytes: f64) {
    o.num("retained_user_bytes", bytes.round()).num("retained_fraction", bytes / p.limit as f64);
}

/// Runs the scenario `name`.
pub async fn run(p: &Params, name: &str) -> Result<Outcome, String> {
    let mut o = Obj::new();
    let mut t = Totals::default();
    let target_bytes = (p.factor * p.limit as f64) as u64;
    let ks = p.key_size;
    let mut retained_bytes = None;
    let prefix = match name {
        "small" => b's',
        "large" => b'l',
        "shifting" => b'h',
        "churn" => b'c',
        "flood" => b'f',
        "zipf-scan" => b'y',
        "ttl" => b't',
        _ => b'z',
    };
    match name {
        "small" | "large" => {
            let value = if name == "small" { 100 } else { 100 * 1024 };
            let n = target_bytes.div_ceil((ks + value) as u64);
            let wl = Arc::new(Workload {
                prefix,
                key_size: ks,
                sizer: Sizer::Fixed(value),
                versions: Versions::Once,
                cache_aside: false,
                short_ttl: None,
            });
            o.int("value_size", value as u64).int("keys", n);
            fill(p, "fill", &wl, 0, n, &mut t).await;
            let r = sample(p, "sample", &wl, 0, n, &mut t).await;
            retained(&mut o, p, r);
            retained_bytes = Some(r);
        }
        "shifting" => {
            let sizes = [100usize, 4096, 65536];
            let mut bounds = Vec::new();
            let mut start = 0u64;
            for s in sizes {
                start += (target_bytes / 3).div_ceil((ks + s) as u64);
                bounds.push((start, s));
            }
            let wl = Arc::new(Workload {
                prefix,
                key_size: ks,
                sizer: Sizer::Ranges(bounds.clone()),
                versions: Versions::Once,
                cache_aside: false,
                short_ttl: None,
            });
            let mut from = 0;
            for &(end, s) in &bounds {
                fill(p, &format!("fill_{s}"), &wl, from, end, &mut t).await;
                from = end;
            }
            let mut from = 0;
            let mut total = 0.0;
            let mut per = Obj::new();
            for &(end, s) in &bounds {
                let r = sample(p, &format!("sample_{s}"), &wl, from, end, &mut t).await;
                per.num(&format!("{s}"), r.round());
                total += r;
                from = end;
            }
            o.obj("retained_by_value_size", &per);
            retained(&mut o, p, total);
            retained_bytes = Some(total);
        }
        "churn" => {
            let keys = p.churn_keys;
            let wl = Arc::new(Workload {
                prefix,
                key_size: ks,
                sizer: Sizer::Uniform(10, 10 * 1024),
                versions: Versions::owned(keys),
                cache_aside: false,
                short_ttl: None,
            });
            let counters = Arc::new(Counters::default());
            let owners = p.conns as u64;
            let space = keys as f64 * (ks + (10 + 10 * 1024) / 2) as f64;
            let churn_bytes = target_bytes.max((p.churn_passes * space) as u64);
            let sources: Vec<Box<dyn Source>> = (0..owners)
                .map(|c| {
                    Box::new(engine::Random {
                        rng: Rng::new(p.seed + c),
                        own: c,
                        owners,
                        keys,
                        zipf: None,
                        read_ratio: p.churn_reads,
                        counters: counters.clone(),
                        bytes_limit: churn_bytes,
                        ops: Arc::default(),
                        ops_limit: u64::MAX,
                        scan: None,
                    }) as Box<dyn Source>
                })
                .collect();
            o.int("keys", keys).num("read_ratio", p.churn_reads);
            run_phase(
                p,
                "churn",
                &wl,
                counters,
                sources,
                depth(p, 5 * 1024),
                (churn_bytes, false),
                &mut t,
            )
            .await;
            let r = sample(p, "sample", &wl, 0, keys, &mut t).await;
            retained(&mut o, p, r);
            retained_bytes = Some(r);
        }
        "flood" => {
            let scaled = (10_000.0 * p.limit as f64 / (2u64 << 30) as f64) as usize;
            let mut writers = p.flood_conns.unwrap_or(scaled.clamp(100, 10_000));
            let mut readers = p.flood_readers.unwrap_or(writers / 10);
            // Stay inside this process's file limit, keeping the shape.
            if let Some(nofile) = open_files_limit() {
                let room = nofile.saturating_sub(64) as usize;
                if writers + readers > room {
                    let scale = room as f64 / (writers + readers) as f64;
                    eprintln!(
                        "capkv-bench: open-file limit {nofile}: flood scaled from {writers}+{readers} to fit (raise ulimit -n)"
                    );
                    writers = ((writers as f64 * scale) as usize).max(1);
                    readers = (readers as f64 * scale) as usize;
                }
            }
            let value = p.flood_value;
            let item = (ks + value) as u64;
            let per = target_bytes.div_ceil(writers as u64 * item).max(1);
            let n = per * writers as u64;
            let big = 64u64;
            let wl = Arc::new(Workload {
                prefix,
                key_size: ks,
                sizer: Sizer::Fixed(value),
                versions: Versions::Once,
                cache_aside: false,
                short_ttl: None,
            });
            o.int("writers", writers as u64)
                .int("readers", readers as u64)
                .int("value_size", value as u64)
                .int("pipeline", per)
                .int("keys", n);
            // Big values for the readers to ask for.
            let prefill: Vec<Box<dyn Source>> =
                vec![Box::new(RangeFill { next: n, step: 1, end: n + big })];
            run_phase(p, "prefill", &wl, Arc::default(), prefill, 8, (big * item, false), &mut t)
                .await;
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let connected = Arc::new(AtomicU64::new(0));
            let mut idle = Vec::new();
            for r in 0..readers {
                let (target, ks, gets, stop, connected) =
                    (p.target, ks, p.flood_gets, stop_rx.clone(), connected.clone());
                idle.push(tokio::spawn(async move {
                    never_read(target, prefix, ks, n, big, r as u64, gets, stop, connected).await
                }));
            }
            let sources: Vec<Box<dyn Source>> = (0..writers as u64)
                .map(|c| {
                    Box::new(RangeFill { next: c * per, step: 1, end: (c + 1) * per })
                        as Box<dyn Source>
                })
                .collect();
            run_phase(
                p,
                "flood",
                &wl,
                Arc::default(),
                sources,
                per as usize,
                (n * item, false),
                &mut t,
            )
            .await;
            o.int("readers_connected", connected.load(Relaxed));
            let _ = stop_tx.send(true);
            for h in idle {
                let _ = h.await;
            }
            let r = sample(p, "sample", &wl, 0, n, &mut t).await;
            retained(&mut o, p, r);
            retained_bytes = Some(r);
        }
        "zipf" | "zipf-scan" => {
            let item = ks + p.zipf_value;
            let fit = p.limit / item as u64;
            let keys = p.zipf_keys.unwrap_or((fit as f64 * p.zipf_oversub) as u64).max(1);
            let scan_keys = match name {
                "zipf-scan" => (fit as f64 * p.zipf_scan) as u64,
                _ => 0,
            };
            let wl = Arc::new(Workload {
                prefix,
                key_size: ks,
                sizer: Sizer::Fixed(p.zipf_value),
                versions: Versions::shared(keys + scan_keys),
                cache_aside: true,
                short_ttl: None,
            });
            let zipf = Zipf::new(keys, p.zipf_s);
            let ops_limit = p.zipf_ops.unwrap_or(keys);
            o.int("keys", keys)
                .int("value_size", p.zipf_value as u64)
                .num("zipf_s", p.zipf_s)
                .num("write_ratio", p.zipf_writes)
                .int("measured_ops", ops_limit);
            // Spread so the scan's last key comes with the last measured
            // operation.
            let scan_chance = scan_keys as f64 / (scan_keys + ops_limit) as f64;
            let scan_next = Arc::new(AtomicU64::new(0));
            let sources = |counters: &Arc<Counters>,
                           bytes_limit: u64,
                           ops_limit: u64,
                           salt: u64,
                           scan: bool| {
                let ops = Arc::new(AtomicU64::new(0));
                (0..p.conns as u64)
                    .map(|c| {
                        Box::new(engine::Random {
                            rng: Rng::new(p.seed + c * 7919 + salt),
                            own: 0,
                            owners: 1,
                            keys,
                            zipf: Some(zipf.clone()),
                            read_ratio: 1.0 - p.zipf_writes,
                            counters: counters.clone(),
                            bytes_limit,
                            ops: ops.clone(),
                            ops_limit,
                            scan: (scan && scan_keys > 0).then(|| engine::Scan {
                                next: scan_next.clone(),
                                from: keys,
                                count: scan_keys,
                                chance: scan_chance,
                            }),
                        }) as Box<dyn Source>
                    })
                    .collect::<Vec<_>>()
            };
            let d = depth(p, item);
            let warm = Arc::new(Counters::default());
            let s = sources(&warm, target_bytes, u64::MAX, 0, false);
            run_phase(p, "warmup", &wl, warm, s, d, (target_bytes, false), &mut t).await;
            let measure = Arc::new(Counters {
                scan_from: (scan_keys > 0).then_some(keys),
                ..Counters::default()
            });
            let s = sources(&measure, u64::MAX, ops_limit, 1_000_003, true);
            let m = run_phase(p, "measure", &wl, measure, s, d, (ops_limit, true), &mut t).await;
            let gets = m.gets.load(Relaxed);
            let hit_ratio = if gets > 0 { m.hits.load(Relaxed) as f64 / gets as f64 } else { 0.0 };
            o.num("hit_ratio", hit_ratio).int("measured_gets", gets);
            if scan_keys > 0 {
                o.int("scan_keys", scan_keys).int("scan_reads", m.scan_gets.load(Relaxed));
            }
        }
        "ttl" => {
            if p.target.wire == crate::wire::Wire::Line {
                return Err(
                    "ttl needs a wire with TTLs (RESP or memcached), not the line protocol".into(),
                );
            }
            let value = 1000;
            let item = (ks + value) as u64;
            // Half the bytes written expire within seconds; the other half
            // alone is 1.5x L at the default factor, more than fits.
            let n = target_bytes.div_ceil(item).next_multiple_of(2);
            let wl = Arc::new(Workload {
                prefix,
                key_size: ks,
                sizer: Sizer::Fixed(value),
                versions: Versions::Once,
                cache_aside: false,
                short_ttl: Some(p.ttl_ms),
            });
            o.int("value_size", value as u64).int("keys", n).int("ttl_ms", u64::from(p.ttl_ms));
            fill(p, "fill", &wl, 0, n, &mut t).await;
            let lasting = n / 2;
            let r = sample_mapped(p, "sample", &wl, lasting, |i| 2 * i + 1, &mut t).await;
            o.num("lasting_bytes_written", (lasting * item) as f64);
            retained(&mut o, p, r);
            retained_bytes = Some(r);
        }
        "slowloris" | "idle" => {
            let r = if name == "slowloris" {
                crate::conns::slowloris(p, &mut o, &mut t).await
            } else {
                crate::conns::idle(p, &mut o, &mut t).await
            };
            retained(&mut o, p, r);
            retained_bytes = Some(r);
        }
        "latency" => crate::latency::run(p.target, p.latency.clone(), p.server_pid, &mut o).await?,
        other => return Err(format!("unknown scenario {other:?} (known: {})", KNOWN.join(", "))),
    }
    let wrong = t.into_obj(&mut o);
    Ok(Outcome { obj: o, wrong, retained: retained_bytes })
}

/// The soft limit on open files, from /proc/self/limits.
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// A connection that asks for big values and never reads the replies,
/// until `stop`.
#[expect(clippy::too_many_arguments)]
async fn never_read(
    target: Target,
    prefix: u8,
    key_size: usize,
    first: u64,
    count: u64,
    me: u64,
    gets: usize,
    mut stop: tokio::sync::watch::Receiver<bool>,
    connected: Arc<AtomicU64>,
) {
    let Ok(Ok(mut s)) =
        tokio::time::timeout(Duration::from_secs(60), TcpStream::connect(target.addr)).await
    else {
        return;
    };
    connected.fetch_add(1, Relaxed);
    let mut req = Vec::new();
    let mut key = Vec::new();
    for i in 0..gets as u64 {
        data::key(prefix, first + (me + i) % count, key_size, &mut key);
        wire::encode_get(target.wire, &key, &mut req);
    }
    // The server may stop reading once its replies back up; that is fine.
    let write = s.write_all(&req);
    tokio::select! {
        _ = write => { let _ = stop.changed().await; }
        _ = stop.changed() => {}
    }
}
