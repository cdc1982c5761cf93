//! What every scenario is made of: its parameters, the totals it keeps,
//! and the phases it is built from (fill, run a workload, sample back). The
//! memory scenarios ([`crate::scenarios`]) and the connection scenarios
//! ([`crate::conns`]) both use it; neither uses the other's.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::data::Rng;
use crate::engine::{self, Counters, Phase, RangeFill, Reads, Source, Target, Workload};
use crate::json::{self, Obj};
use crate::monitor::Watch;

/// The memory scenarios, in order: what `all` runs.

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
    /// Zipf key count (overrides `zipf_oversub`).
    pub zipf_keys: Option<u64>,
    /// Zipf fraction of writes.
    pub zipf_writes: f64,
    /// Zipf measured operations (default: one per key).
    pub zipf_ops: Option<u64>,
    /// zipf-scan: keys the one-time scan reads, as a multiple of what fits.
    pub zipf_scan: f64,
    /// ttl: the short TTL of every other key, in milliseconds.
    pub ttl_ms: u32,
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
    /// Latency: the closed-loop clients.
    pub latency: crate::latency::Settings,
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
            .int("lost_requests", g(&c.lost));
        if c.scan_from.is_some() {
            o.int("scan_gets", g(&c.scan_gets)).int("scan_hits", g(&c.scan_hits));
        }
        o.obj("errors", &errors_obj(&errors));
        self.phases.push(o.render());
    }

    pub fn into_obj(self, o: &mut Obj) -> u64 {
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
pub fn depth(p: &Params, item: usize) -> usize {
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
    sample_mapped(p, name, wl, end - start, |i| start + i, totals).await
}

/// Reads `p.samples` random keys of a population of `count`, the `i`th of
/// which is key `key(i)`; returns the estimated user bytes of the
/// population still held.
pub async fn sample_mapped(
    p: &Params,
    name: &str,
    wl: &Arc<Workload>,
    count: u64,
    key: impl Fn(u64) -> u64,
    totals: &mut Totals,
) -> f64 {
    let start = key(0);
    let mut rng = Rng::new(p.seed ^ start ^ 0x5a5a);
    let n = p.samples.min(count);
    let mut per: Vec<Vec<u64>> = vec![Vec::new(); p.conns];
    for i in 0..n {
        per[i as usize % p.conns].push(key(rng.below(count)));
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
    c.hit_bytes.load(Relaxed) as f64 * count as f64 / answered as f64
}
