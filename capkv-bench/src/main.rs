//! capkv-bench: hostile cache workloads against capkv, redis-server or
//! memcached, scaled to a memory limit, with every value checked.
//!
//! Prints one JSON line per scenario on stdout; progress goes to stderr.
//! `scripts/scenarios.sh` runs it against a server in a memory cgroup and
//! turns the results into a table and plots (see docs/SCENARIOS.md).
//!
//! # Layout
//! - `main` (here): the flags, and one run per scenario with its result line.
//! - [`scenarios`]: the six workloads, each scaled to the limit L.
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

mod data;
mod engine;
mod json;
mod monitor;
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
///             a key space 5x what fits; warm-up, then the hit ratio is measured.
/// After writing, random keys are sampled to estimate the user bytes retained.
///
/// Values are a pure function of (key, version, length), so a wrong value (the
/// bytes of another key, a corrupted or truncated value, a version never written,
/// or an older version after a newer one was stored) is detected and counted.
/// Exit status: 0 when every scenario ran without a wrong value, 1 otherwise,
/// 2 on usage errors.
#[derive(Debug, Parser)]
#[command(name = "capkv-bench", version, verbatim_doc_comment)]
struct Args {
    /// Scenarios to run, in order: small, large, shifting, churn, flood, zipf, or all.
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
    /// zipf: fraction of operations that write a new version (the rest read).
    #[arg(long, default_value_t = 0.1)]
    zipf_writes: f64,
    /// zipf: operations measured after the warm-up (default: one per key).
    #[arg(long)]
    zipf_ops: Option<u64>,
    /// Write a CSV sample of memory and server statistics to this file
    /// (`{}` is replaced by the scenario name).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// The server's memory cgroup directory (v1 or v2), sampled into the CSV and results.
    #[arg(long)]
    cgroup: Option<PathBuf>,
    /// The server's PID (its RSS is sampled).
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
    if let Some(bad) = names.iter().find(|n| !scenarios::ALL.contains(&n.as_str())) {
        eprintln!(
            "capkv-bench: unknown scenario {bad:?} (known: {}, all)",
            scenarios::ALL.join(", ")
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
            zipf_writes: a.zipf_writes,
            zipf_ops: a.zipf_ops,
            watch: watch.clone(),
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sampler = a.csv.as_ref().map(|csv| {
            let csv = PathBuf::from(csv.to_string_lossy().replace("{}", &name));
            tokio::spawn(monitor::sample(
                target,
                cgroup.clone(),
                a.server_pid,
                csv,
                a.interval,
                watch.clone(),
                stop_rx.clone(),
            ))
        });
        let progress =
            (!a.quiet).then(|| tokio::spawn(monitor::progress(watch.clone(), stop_rx.clone())));
        let result = scenarios::run(&params, &name).await;
        let elapsed = watch.start.elapsed().as_secs_f64();
        let _ = stop_tx.send(true);
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
        let rss = a.server_pid.and_then(monitor::rss);
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
        let _ = outcome.retained;
        println!("{}", o.render());
        failed |= outcome.wrong > 0;
    }
    i32::from(failed)
}
