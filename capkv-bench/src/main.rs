//! capkv-bench: hostile cache workloads against capkv, redis-server or
//! memcached, scaled to a memory limit, with every value checked.
//!
//! Prints one JSON line per scenario on stdout; progress goes to stderr.
//! `scripts/scenarios.sh` runs it against a server in a memory cgroup and
//! turns the results into a table and plots (see docs/SCENARIOS.md).
//!
//! # Layout
//! - `main` (here): the flags, and one run per scenario with its result line.
//! - [`scenarios`]: the six memory workloads, each scaled to the limit L.
//! - [`conns`]: the connection scenarios, `slowloris` and `idle`.
//! - [`latency`]: closed-loop clients timing every batch and counting each
//!   connection's operations: percentiles and fairness.
//! - [`probe`]: a fresh connection every 100 ms during every scenario,
//!   timing `PING` and a `GET`: is the server still answering newcomers?
//! - [`engine`]: pipelined connections that send generated requests and
//!   check every reply, reconnecting after errors.
//! - [`data`]: keys, values that are a pure function of (key, version,
//!   length), the random and Zipf generators.
//! - [`wire`]: the client side of the line protocol, RESP and memcached:
//!   request encoders and incremental reply parsers.
//! - [`monitor`]: the server's statistics and memory cgroup sampled into a
//!   CSV, and the progress line.
//! - [`json`]: the result line, written by hand.
//!
//! # Why a crate of its own
//! The server library exports no client API: a client for three wire
//! protocols, memcached's among them, is the load driver's business, not the
//! cache's. From the library it takes only what is genuinely shared: the
//! RESP request encoder ([`capkv::protocol::encode_command`]), the cgroup
//! reader ([`capkv::memory::Cgroup`]) and the size and duration syntax of
//! the server's flags. And `cargo build -p capkv`, the release and container
//! build of the server, does not build the load driver at all.

mod conns;
mod data;
mod engine;
mod json;
mod latency;
mod monitor;
mod phase;
mod probe;
mod scenarios;
mod wire;

use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::time::Duration;

use capkv::memory::Cgroup;
use capkv::units::{parse_duration, parse_size};
use clap::{Parser, ValueEnum};

use crate::engine::Target;
use crate::json::Obj;
use crate::monitor::Watch;
use crate::wire::Wire;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Server {
    /// capkv (RESP unless --wire says otherwise)
    Capkv,
    /// redis-server (RESP)
    Redis,
    /// memcached (text protocol)
    Memcached,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum WireArg {
    /// capkv's newline protocol: PUT/GET/STATS
    Line,
    /// RESP2: SET/GET/INFO
    Resp,
    /// memcached text protocol: set/get/stats
    Memcache,
}

fn size(s: &str) -> Result<u64, String> {
    parse_size(s)
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

/// Hostile cache workloads, scaled to a memory limit L, with every value read
/// back checked byte for byte.
///
/// Scenarios (each writes --factor x L user bytes, default 3x):
///   small     16-byte keys, 100-byte values, distinct keys;
///   large     100 KiB values;
///   shifting  a third of the bytes at 100 B, then 4 KiB, then 64 KiB values;
///   churn     --churn-keys keys (1 million) overwritten at random sizes 10 B - 10 KiB,
///             at least --churn-passes times over (so more than 3x L at small L),
///             with a fraction of reads checking the latest version;
///   flood     thousands of connections each pipelining 256 KiB PUTs at once, plus
///             connections that request big values and never read the replies;
///   zipf      Zipf(0.99) reads and writes (cache-aside: a miss is written back) over
///             a key space 5x what fits; warm-up, then the hit ratio is measured;
///   zipf-scan the same, with a one-time scan over --zipf-scan (10) x what fits
///             interleaved with the measured phase, spread to end with it (each scan
///             key read once; its miss written back); the hit ratio is the Zipf
///             reads' alone;
///   ttl       1000-byte values, every other key with a --ttl-ms (100 ms) TTL and the
///             rest without one, interleaved; afterwards the keys without a TTL are
///             sampled: how much of L holds data still live, where expired keys
///             that are not reclaimed crowd out live ones (RESP and memcached
///             only: the line protocol has no TTL).
/// After writing, random keys are sampled to estimate the user bytes retained.
/// `all` runs the first six. Two connection scenarios are named explicitly:
///   slowloris thousands of clients (3,000 at 256 MiB) each send 80% of a maximum-size
///             store request and stop, holding the connection, while a few fresh
///             connections keep writing and reading small values; reports the
///             attackers accepted, evicted and refused, and what the cache still holds;
///   idle      --idle-connections (10,000) connections each send one PING and go
///             quiet; reports the server's RSS and cgroup usage per connection;
///   latency   --latency-connections (1,000) closed-loop clients, each sending batches
///             of --latency-depth small GETs and SETs and waiting for the replies;
///             reports batch latency percentiles, operations per connection
///             (min/median/max) and Jain's fairness index.
/// During every scenario a probe opens a fresh connection every 100 ms, sends PING
/// (memcached: version) and a GET of a known key, and times connect + replies; the
/// result line's `probe` object has count, unanswered, p50_ms, p99_ms, max_ms.
///
/// Values are a pure function of (key, version, length), so a wrong value (the
/// bytes of another key, a corrupted or truncated value, a version never written,
/// or an older version after a newer one was stored) is detected and counted.
/// Exit status: 0 when every scenario ran without a wrong value, 1 otherwise,
/// 2 on usage errors.
#[derive(Debug, Parser)]
#[command(name = "capkv-bench", version, verbatim_doc_comment)]
struct Args {
    /// Scenarios to run, in order: small, large, shifting, churn, flood, zipf, zipf-scan,
    /// slowloris, idle, latency, or all (the first six).
    #[arg(required = true)]
    scenarios: Vec<String>,
    /// The memory limit L every scenario is scaled to (2g, 256mb, bytes).
    #[arg(long, value_parser = size)]
    limit: u64,
    /// Which server this is (sets the default protocol; reported in the results).
    #[arg(long, value_enum, default_value = "capkv")]
    server: Server,
    /// Protocol to speak (default: resp for capkv and redis, memcache for memcached).
    #[arg(long, value_enum)]
    wire: Option<WireArg>,
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = 7171)]
    port: u16,
    /// User bytes (keys + values) each scenario writes, as a multiple of L.
    #[arg(long, default_value_t = 3.0)]
    factor: f64,
    /// Connections (small, large, shifting, churn, zipf and the sampling).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Requests in flight per connection (default: about 4 MiB worth, 4 to 1000).
    #[arg(long)]
    pipeline: Option<usize>,
    /// Key size in bytes ('k' and a zero-padded number).
    #[arg(long, default_value_t = 16)]
    key_size: usize,
    /// Keys read back (per value size in `shifting`) to estimate what is retained;
    /// all of them when fewer were written. The sampled hit ratio's standard error
    /// is at most 0.5/sqrt(samples): about 0.003 of L at 200,000 when 3x L is written.
    #[arg(long, default_value_t = 200_000)]
    samples: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Give up on a connection that makes no progress this long.
    #[arg(long, value_parser = duration, default_value = "60s")]
    io_timeout: Duration,
    /// Reconnects allowed per connection after an error.
    #[arg(long, default_value_t = 3)]
    reconnects: u32,
    /// ttl: the TTL, in milliseconds, of the short-lived half of the keys
    /// (memcached: rounded up to whole seconds).
    #[arg(long, default_value_t = 100)]
    ttl_ms: u32,
    /// churn: number of keys.
    #[arg(long, default_value_t = 1_000_000)]
    churn_keys: u64,
    /// churn: write at least this many times the key space's expected size
    /// (1 million keys x 5 KiB), so every key is overwritten over and over.
    #[arg(long, default_value_t = 3.0)]
    churn_passes: f64,
    /// churn: fraction of operations that are reads.
    #[arg(long, default_value_t = 0.1)]
    churn_reads: f64,
    /// flood: writing connections (default 10,000 x L / 2 GiB, 100 to 10,000).
    #[arg(long)]
    flood_connections: Option<usize>,
    /// flood: connections that request big values and never read (default writers / 10).
    #[arg(long)]
    flood_readers: Option<usize>,
    /// flood: value size of the PUTs.
    #[arg(long, value_parser = size, default_value = "256kb")]
    flood_value: u64,
    /// flood: GETs of big values each never-reading connection sends.
    #[arg(long, default_value_t = 64)]
    flood_gets: usize,
    /// zipf: exponent.
    #[arg(long, default_value_t = 0.99)]
    zipf_s: f64,
    /// zipf: value size.
    #[arg(long, value_parser = size, default_value = "1000")]
    zipf_value: u64,
    /// zipf: key space as a multiple of the keys that fit in L.
    #[arg(long, default_value_t = 5.0)]
    zipf_keyspace: f64,
    /// zipf: number of keys (overrides --zipf-keyspace).
    #[arg(long)]
    zipf_keys: Option<u64>,
    /// zipf: fraction of operations that write a new version (the rest read).
    #[arg(long, default_value_t = 0.1)]
    zipf_writes: f64,
    /// zipf: operations measured after the warm-up (default: one per key).
    #[arg(long)]
    zipf_ops: Option<u64>,
    /// zipf-scan: keys the one-time scan reads, as a multiple of the keys that fit in L.
    #[arg(long, default_value_t = 10.0)]
    zipf_scan: f64,
    /// slowloris: attacking connections (default 3,000 x L / 256 MiB, 100 to 10,000).
    #[arg(long)]
    slowloris_connections: Option<usize>,
    /// slowloris: fraction of the value each attacker sends before stopping.
    #[arg(long, default_value_t = 0.8)]
    slowloris_fraction: f64,
    /// slowloris: value size the partial requests announce (default: the server's
    /// maximum from CONFIG GET proto-max-bulk-len or memcached's item_size_max, at
    /// most 1 MiB; 256 KiB when it does not say).
    #[arg(long, value_parser = size)]
    slowloris_value: Option<u64>,
    /// slowloris: how long the attackers hold their connections.
    #[arg(long, value_parser = duration, default_value = "15s")]
    slowloris_hold: Duration,
    /// slowloris: user bytes written (4 KiB values) before the attack, as a multiple of L.
    #[arg(long, default_value_t = 1.0)]
    slowloris_fill: f64,
    /// idle: connections that each send one PING and then stay idle.
    #[arg(long, default_value_t = 10_000)]
    idle_connections: usize,
    /// idle: user bytes written (4 KiB values) before, as a multiple of L.
    #[arg(long, default_value_t = 0.5)]
    idle_fill: f64,
    /// latency: closed-loop connections.
    #[arg(long, default_value_t = 1000)]
    latency_connections: usize,
    /// latency: requests per batch (the pipeline depth).
    #[arg(long, default_value_t = 1)]
    latency_depth: usize,
    /// latency: measured time.
    #[arg(long, value_parser = duration, default_value = "8s")]
    latency_duration: Duration,
    /// latency: time with every connection open and busy before measuring.
    #[arg(long, value_parser = duration, default_value = "2s")]
    latency_warmup: Duration,
    /// latency: distinct keys.
    #[arg(long, default_value_t = 10_000)]
    latency_keys: u64,
    /// latency: value size of the SETs.
    #[arg(long, value_parser = size, default_value = "10")]
    latency_value: u64,
    /// latency: fraction of requests that are SETs.
    #[arg(long, default_value_t = 0.5)]
    latency_writes: f64,
    /// The probe: a fresh connection with PING and GET this often.
    #[arg(long, value_parser = duration, default_value = "100ms")]
    probe_interval: Duration,
    /// The probe: a probe not answered within this counts as unanswered.
    #[arg(long, value_parser = duration, default_value = "5s")]
    probe_deadline: Duration,
    /// Write a CSV sample of memory and server statistics to this file
    /// (`{}` is replaced by the scenario name).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The server's memory cgroup directory (v1 or v2), sampled into the CSV and results.
    #[arg(long)]
    cgroup: Option<PathBuf>,
    /// The server's PID (its RSS is sampled; default: INFO `process_id` or
    /// memcached's `pid`, when the server runs on this machine).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Sampling interval of the CSV.
    #[arg(long, value_parser = duration, default_value = "100ms")]
    interval: Duration,
    /// No progress line on stderr.
    #[arg(long, short)]
    quiet: bool,
}

fn main() {
    let args = Args::parse();
    // The flood and the connection scenarios need thousands of files; the
    // soft limit is often 1,024 while the hard one allows far more. Where
    // this falls short, the scenario that needs more says so and scales down.
    let _ = conns::raise_open_files(64 * 1024);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = runtime.block_on(run(args));
    std::process::exit(code);
}

async fn run(a: Args) -> i32 {
    let wire = match (a.wire, a.server) {
        (Some(WireArg::Line), _) => Wire::Line,
        (Some(WireArg::Resp), _) => Wire::Resp,
        (Some(WireArg::Memcache), _) => Wire::Memcache,
        (None, Server::Memcached) => Wire::Memcache,
        (None, _) => Wire::Resp,
    };
    let Some(addr) = (a.host.as_str(), a.port).to_socket_addrs().ok().and_then(|mut i| i.next())
    else {
        eprintln!("capkv-bench: cannot resolve {}:{}", a.host, a.port);
        return 2;
    };
    let names: Vec<String> = if a.scenarios.iter().any(|s| s == "all") {
        scenarios::ALL.iter().map(|s| s.to_string()).collect()
    } else {
        a.scenarios.clone()
    };
    if let Some(bad) = names.iter().find(|n| !scenarios::KNOWN.contains(&n.as_str())) {
        eprintln!(
            "capkv-bench: unknown scenario {bad:?} (known: {}, all)",
            scenarios::KNOWN.join(", ")
        );
        return 2;
    }
    let target = Target { addr, wire };
    let server = format!("{:?}", a.server).to_lowercase();
    let wire_name = format!("{wire:?}").to_lowercase();
    let cgroup = match &a.cgroup {
        None => None,
        Some(dir) => match Cgroup::at(dir) {
            Some(cgroup) => Some(cgroup),
            None => {
                eprintln!(
                    "capkv-bench: --cgroup {}: not a memory cgroup (no memory.current or memory.usage_in_bytes)",
                    dir.display()
                );
                return 2;
            }
        },
    };
    let mut failed = false;
    for name in names {
        let watch = Watch::new();
        let server_pid = match a.server_pid {
            Some(pid) => Some(pid),
            None => server_pid(target).await,
        };
        let params = scenarios::Params {
            target,
            limit: a.limit,
            factor: a.factor,
            conns: a.connections.max(1),
            depth: a.pipeline,
            key_size: a.key_size.max(8),
            samples: a.samples,
            seed: a.seed,
            io_timeout: a.io_timeout,
            reconnects: a.reconnects,
            churn_keys: a.churn_keys,
            churn_reads: a.churn_reads,
            churn_passes: a.churn_passes,
            flood_conns: a.flood_connections,
            flood_readers: a.flood_readers,
            flood_value: a.flood_value as usize,
            flood_gets: a.flood_gets,
            zipf_s: a.zipf_s,
            zipf_value: a.zipf_value as usize,
            zipf_oversub: a.zipf_keyspace,
            zipf_keys: a.zipf_keys,
            zipf_writes: a.zipf_writes,
            zipf_ops: a.zipf_ops,
            zipf_scan: a.zipf_scan,
            ttl_ms: a.ttl_ms,
            slowloris_conns: a.slowloris_connections,
            slowloris_fraction: a.slowloris_fraction.clamp(0.0, 1.0),
            slowloris_value: a.slowloris_value.map(|v| v as usize),
            slowloris_hold: a.slowloris_hold,
            slowloris_fill: a.slowloris_fill,
            idle_conns: a.idle_connections.max(1),
            idle_fill: a.idle_fill,
            latency: latency::Settings {
                conns: a.latency_connections.max(1),
                depth: a.latency_depth.max(1),
                duration: a.latency_duration,
                warmup: a.latency_warmup,
                keys: a.latency_keys.max(1),
                key_size: a.key_size.max(8),
                value: a.latency_value as usize,
                writes: a.latency_writes.clamp(0.0, 1.0),
                seed: a.seed,
            },
            server_pid,
            cgroup: cgroup.clone(),
            watch: watch.clone(),
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sampler = a.csv.as_ref().map(|csv| {
            let csv = PathBuf::from(csv.to_string_lossy().replace("{}", &name));
            tokio::spawn(monitor::sample(
                target,
                cgroup.clone(),
                server_pid,
                csv,
                a.interval,
                watch.clone(),
                stop_rx.clone(),
            ))
        });
        let progress =
            (!a.quiet).then(|| tokio::spawn(monitor::progress(watch.clone(), stop_rx.clone())));
        let probe_settings = probe::Settings {
            every: a.probe_interval,
            deadline: a.probe_deadline,
            key_size: a.key_size.max(8),
        };
        let prober = probe::spawn(target, probe_settings, stop_rx.clone());
        let result = scenarios::run(&params, &name).await;
        let elapsed = watch.start.elapsed().as_secs_f64();
        let _ = stop_tx.send(true);
        let probes = tokio::task::spawn_blocking(move || prober.join())
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if let Some(s) = sampler {
            if let Ok(Err(e)) = s.await {
                eprintln!("capkv-bench: writing the CSV failed: {e}");
            }
        }
        if let Some(p) = progress {
            let _ = p.await;
        }
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                eprintln!("capkv-bench: {e}");
                return 2;
            }
        };
        let mut o = Obj::new();
        o.str("scenario", &name)
            .str("server", &server)
            .str("wire", &wire_name)
            .int("limit", a.limit)
            .num("factor", a.factor)
            .num("elapsed_s", elapsed);
        // The final state of the server, after the scenario.
        let stats = monitor::stats(target, Duration::from_secs(10)).await;
        o.bool("server_reachable", stats.is_ok());
        let stats = stats.unwrap_or_default();
        let num = |k: &str| stats.get(k).and_then(|v| v.parse::<f64>().ok());
        let mut s = Obj::new();
        for k in monitor::COLUMNS.iter().chain(&[
            "maxmemory",
            "limit_maxbytes",
            "used_memory_rss",
            "capkv_budget",
        ]) {
            if let Some(v) = num(k) {
                s.num(k, v);
            }
        }
        let rss = server_pid.and_then(monitor::rss);
        s.opt("rss", rss);
        o.obj("server_stats", &s);
        let mut cg = Obj::new();
        if let Some(c) = &cgroup {
            cg.opt("usage", c.usage())
                .opt("peak", c.peak())
                .opt("limit", c.limit())
                .opt("oom_kills", c.oom_kills());
        }
        o.obj("cgroup", &cg);
        // Overhead per item: resident memory beyond the user bytes held.
        if name == "small" {
            if let Some(items) = num("items").filter(|&n| n > 0.0) {
                let user = items * (params.key_size + 100) as f64;
                let resident = num("allocator_resident").or(rss.map(|r| r as f64));
                if let Some(r) = resident {
                    o.num("overhead_per_item_resident", (r - user) / items);
                }
                if let Some(u) = cgroup.as_ref().and_then(|c| c.usage()) {
                    o.num("overhead_per_item_cgroup", (u as f64 - user) / items);
                }
                o.num("items", items);
            }
        }
        for (k, v) in outcome.obj.clone().into_fields() {
            o.raw(&k, v);
        }
        o.obj("probe", &probes.to_obj());
        let _ = outcome.retained;
        println!("{}", o.render());
        failed |= outcome.wrong > 0 || probes.wrong > 0;
    }
    i32::from(failed)
}

/// The server's process id from its statistics (INFO `process_id`,
/// memcached's `pid`), if it runs on this machine (its /proc entry exists).
async fn server_pid(target: Target) -> Option<u32> {
    let stats = monitor::stats(target, Duration::from_secs(10)).await.ok()?;
    let pid: u32 = stats.get("process_id").or(stats.get("pid"))?.trim().parse().ok()?;
    std::path::Path::new(&format!("/proc/{pid}/status")).exists().then_some(pid)
}
