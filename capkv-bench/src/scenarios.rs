//! The hostile workloads, each scaled to a memory limit L: the six memory
//! scenarios here, the two connection scenarios in [`crate::conns`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::data::{self, Rng, Zipf};
use crate::engine::{
    self, Counters, Phase, RangeFill, Reads, Sizer, Source, Target, Versions, Workload,
};
use crate::json::{self, Obj};
use crate::monitor::Watch;
use crate::wire;

/// The memory scenarios, in order: what `all` runs.
pub const ALL: &[&str] = &["small", "large", "shifting", "churn", "flood", "zipf"];

/// Every scenario: the memory scenarios, then the connection scenarios
/// (named explicitly; `all` keeps meaning the six).
pub const KNOWN: &[&str] =
    &["small", "large", "shifting", "churn", "flood", "zipf", "slowloris", "idle"];

/// Everything a scenario is parameterised by.
#[derive(Clone)]
pub struct Params {
    /// Server under load.
    pub target: Target,
    /// The memory limit L the scenario is scaled to.
    pub limit: u64,
    /// User bytes written, as a multiple of L.
    pub factor: f64,
    /// Connections of the ordinary scenarios.
    pub conns: usize,
    /// Pipeline depth override.
    pub depth: Option<usize>,
    /// Key size.
    pub key_size: usize,
    /// Keys sampled to estimate what is retained (per stratum).
    pub samples: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// A connection that makes no progress this long is given up.
    pub io_timeout: Duration,
    /// Reconnects per connection.
    pub reconnects: u32,
    /// Churn: key count.
    pub churn_keys: u64,
    /// Churn: fraction of reads.
    pub churn_reads: f64,
    /// Churn: passes over the key space (its expected size) at least.
    pub churn_passes: f64,
    /// Flood: writing connections (default scaled from 10,000 at 2 GiB).
    pub flood_conns: Option<usize>,
    /// Flood: connections that never read (default a tenth of the writers).
    pub flood_readers: Option<usize>,
    /// Flood: value size.
    pub flood_value: usize,
    /// Flood: GETs each non-reading connection sends.
    pub flood_gets: usize,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// Zipf value size.
    pub zipf_value: usize,
    /// Zipf key space over what fits.
    pub zipf_oversub: f64,
    /// Zipf fraction of writes.
    pub zipf_writes: f64,
    /// Zipf measured operations (default: one per key).
    pub zipf_ops: Option<u64>,
    /// Slowloris: attackers (default scaled from 3,000 at 256 MiB).
    pub slowloris_conns: Option<usize>,
    /// Slowloris: the fraction of the request's value each attacker sends.
    pub slowloris_fraction: f64,
    /// Slowloris: value size announced (default: the server's maximum).
    pub slowloris_value: Option<usize>,
    /// Slowloris: how long the attackers hold.
    pub slowloris_hold: Duration,
    /// Slowloris: user bytes filled before the attack, over L.
    pub slowloris_fill: f64,
    /// Idle: connections.
    pub idle_conns: usize,
    /// Idle: user bytes filled before, over L.
    pub idle_fill: f64,
    /// The server's process (for its RSS), if known.
    pub server_pid: Option<u32>,
    /// The server's memory cgroup, if known.
    pub cgroup: Option<capkv::memory::Cgroup>,
    /// Progress and sampling state.
    pub watch: Arc<Watch>,
}

/// What a scenario reports.
pub struct Outcome {
    /// The JSON fields.
    pub obj: Obj,
    /// Wrong values (including stale ones).
    pub wrong: u64,
    /// Estimated user bytes retained.
    pub retained: Option<f64>,
}

/// Accumulates phases.
#[derive(Default)]
pub struct Totals {
    phases: Vec<String>,
    set_bytes: u64,
    set_ok_bytes: u64,
    sets: u64,
    set_ok: u64,
    gets: u64,
    hits: u64,
    misses: u64,
    wrong: u64,
    stale: u64,
    lost: u64,
    errors: std::collections::BTreeMap<String, u64>,
    examples: Vec<String>,
}

impl Totals {
    fn add(&mut self, name: &str, c: &Counters, elapsed: f64) {
        let g = |a: &AtomicU64| a.load(Relaxed);
        self.set_bytes += g(&c.set_bytes);
        self.set_ok_bytes += g(&c.set_ok_bytes);
        self.sets += g(&c.sets);
        self.set_ok += g(&c.set_ok);
        self.gets += g(&c.gets);
        self.hits += g(&c.hits);
        self.misses += g(&c.misses);
        self.wrong += g(&c.wrong);
        self.stale += g(&c.stale);
        self.lost += g(&c.lost);
        let errors = c.errors.lock().unwrap().clone();
        for (k, v) in &errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        self.examples.extend(c.wrong_examples.lock().unwrap().iter().cloned());
        let mut o = Obj::new();
        o.str("phase", name)
            .num("elapsed_s", elapsed)
            .int("sets", g(&c.sets))
            .int("set_ok", g(&c.set_ok))
            .int("set_bytes", g(&c.set_bytes))
            .int("set_ok_bytes", g(&c.set_ok_bytes))
            .int("gets", g(&c.gets))
            .int("hits", g(&c.hits))
            .int("misses", g(&c.misses))
            .int("hit_bytes", g(&c.hit_bytes))
            .int("wrong_values", g(&c.wrong))
            .int("stale_values", g(&c.stale))
            .int("lost_requests", g(&c.lost))
            .obj("errors", &errors_obj(&errors));
        self.phases.push(o.render());
    }

    fn into_obj(self, o: &mut Obj) -> u64 {
        o.int("written_bytes", self.set_bytes)
            .int("stored_bytes", self.set_ok_bytes)
            .int("sets", self.sets)
            .int("set_ok", self.set_ok)
            .int("gets", self.gets)
            .int("hits", self.hits)
            .int("misses", self.misses)
            .int("wrong_values", self.wrong + self.stale)
            .int("stale_values", self.stale)
            .int("lost_requests", self.lost)
            .int("errors_total", self.errors.values().sum())
            .obj("errors", &errors_obj(&self.errors))
            .raw(
                "wrong_examples",
                json::array(self.examples.iter().take(5).map(|e| json::string(e))),
            )
            .raw("phases", json::array(self.phases));
        self.wrong + self.stale
    }
}

fn errors_obj(errors: &std::collections::BTreeMap<String, u64>) -> Obj {
    let mut o = Obj::new();
    for (k, v) in errors {
        o.int(k, *v);
    }
    o
}

/// Requests in flight per connection for items of about `item` bytes.
fn depth(p: &Params, item: usize) -> usize {
    p.depth.unwrap_or_else(|| ((4 << 20) / item.max(1)).clamp(4, 1000))
}

#[expect(clippy::too_many_arguments)]
pub async fn run_phase(
    p: &Params,
    name: &str,
    wl: &Arc<Workload>,
    counters: Arc<Counters>,
    sources: Vec<Box<dyn Source>>,
    depth: usize,
    goal: (u64, bool),
    totals: &mut Totals,
) -> Arc<Counters> {
    p.watch.enter(name, &counters, goal.0, goal.1);
    let phase = Arc::new(Phase {
        target: p.target,
        wl: wl.clone(),
        depth,
        io_timeout: p.io_timeout,
        reconnects: p.reconnects,
        counters: counters.clone(),
    });
    let start = Instant::now();
    let handles: Vec<_> =
        sources.into_iter().map(|s| tokio::spawn(engine::worker(phase.clone(), s))).collect();
    for h in handles {
        let _ = h.await;
    }
    totals.add(name, &counters, start.elapsed().as_secs_f64());
    counters
}

/// Writes keys `start..end` once, spread over the connections.
pub async fn fill(
    p: &Params,
    name: &str,
    wl: &Arc<Workload>,
    start: u64,
    end: u64,
    totals: &mut Totals,
) {
    let item = p.key_size + wl.sizer.len(start, 0);
    let bytes = (end - start) * item as u64;
    let sources: Vec<Box<dyn Source>> = (0..p.conns as u64)
        .map(|c| {
            Box::new(RangeFill { next: start + c, step: p.conns as u64, end }) as Box<dyn Source>
        })
        .collect();
    run_phase(p, name, wl, Arc::default(), sources, depth(p, item), (bytes, false), totals).await;
}

/// Reads `p.samples` random keys of `start..end`; returns the estimated
/// user bytes of that range still held.
pub async fn sample(
    p: &Params,
    name: &str,
    wl: &Arc<Workload>,
    start: u64,
    end: u64,
    totals: &mut Totals,
) -> f64 {
    let mut rng = Rng::new(p.seed ^ start ^ 0x5a5a);
    let n = p.samples.min(end - start);
    let mut per: Vec<Vec<u64>> = vec![Vec::new(); p.conns];
    for i in 0..n {
        per[i as usize % p.conns].push(start + rng.below(end - start));
    }
    let sources: Vec<Box<dyn Source>> =
        per.into_iter().map(|keys| Box::new(Reads(keys.into_iter())) as Box<dyn Source>).collect();
    // As deep as the writes: deeper pipelines of big values make the server
    // buffer replies, which costs it cache (Redis evicts for them).
    let depth = depth(p, p.key_size + wl.sizer.max_len(start));
    let c = run_phase(p, name, wl, Arc::default(), sources, depth, (n, true), totals).await;
    let answered = c.gets.load(Relaxed);
    if answered == 0 {
        return 0.0;
    }
    c.hit_bytes.load(Relaxed) as f64 * (end - start) as f64 / answered as f64
}

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
        "zipf" => {
            let item = ks + p.zipf_value;
            let fit = p.limit / item as u64;
            let keys = ((fit as f64 * p.zipf_oversub) as u64).max(1);
            let wl = Arc::new(Workload {
                prefix,
                key_size: ks,
                sizer: Sizer::Fixed(p.zipf_value),
                versions: Versions::shared(keys),
                cache_aside: true,
            });
            let zipf = Zipf::new(keys, p.zipf_s);
            let ops_limit = p.zipf_ops.unwrap_or(keys);
            o.int("keys", keys)
                .int("value_size", p.zipf_value as u64)
                .num("zipf_s", p.zipf_s)
                .num("write_ratio", p.zipf_writes)
                .int("measured_ops", ops_limit);
            let sources =
                |counters: &Arc<Counters>, bytes_limit: u64, ops_limit: u64, salt: u64| {
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
                            }) as Box<dyn Source>
                        })
                        .collect::<Vec<_>>()
                };
            let d = depth(p, item);
            let warm = Arc::new(Counters::default());
            let s = sources(&warm, target_bytes, u64::MAX, 0);
            run_phase(p, "warmup", &wl, warm, s, d, (target_bytes, false), &mut t).await;
            let measure = Arc::new(Counters::default());
            let s = sources(&measure, u64::MAX, ops_limit, 1_000_003);
            let m = run_phase(p, "measure", &wl, measure, s, d, (ops_limit, true), &mut t).await;
            let gets = m.gets.load(Relaxed);
            let hit_ratio = if gets > 0 { m.hits.load(Relaxed) as f64 / gets as f64 } else { 0.0 };
            o.num("hit_ratio", hit_ratio).int("measured_gets", gets);
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
