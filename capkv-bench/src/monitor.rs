//! Watching the server while it is under load: its statistics report (INFO
//! or STATS) and its memory cgroup (read with the server's own
//! [`capkv::memory::Cgroup`]), sampled into a CSV file, plus the progress
//! line on stderr.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use capkv::memory::Cgroup;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::engine::{Counters, Target};
use crate::wire::{self, ClientReply, Expect};

/// Reads one statistics report, normalised: every `name value` pair, plus
/// `items` (keys held) and `clients`, whatever the server calls them.
pub async fn stats(target: Target, limit: Duration) -> Result<BTreeMap<String, String>, String> {
    let fetch = async {
        let mut s = TcpStream::connect(target.addr).await.map_err(|e| e.to_string())?;
        let mut req = Vec::new();
        wire::encode_stats(target.wire, &mut req);
        s.write_all(&req).await.map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            if let Some((reply, _)) =
                wire::parse_reply(target.wire, Expect::Stats, &buf).map_err(|e| e.0)?
            {
                return match reply {
                    ClientReply::Report(t) | ClientReply::Value(t) => Ok(normalise(t)),
                    other => Err(format!("unexpected stats reply {other:?}")),
                };
            }
            if s.read_buf(&mut buf).await.map_err(|e| e.to_string())? == 0 {
                return Err("closed".into());
            }
        }
    };
    tokio::time::timeout(limit, fetch).await.map_err(|_| "timeout".to_string())?
}

fn normalise(report: &[u8]) -> BTreeMap<String, String> {
    let mut m: BTreeMap<String, String> = wire::parse_stats(report).into_iter().collect();
    let items = m
        .get("db0")
        .and_then(|v| v.strip_prefix("keys="))
        .map(|v| v.split(',').next().unwrap_or("0").to_string())
        .or_else(|| m.get("curr_items").cloned());
    m.insert("items".into(), items.unwrap_or_else(|| "0".into()));
    if let Some(c) = m.get("curr_connections").cloned() {
        m.entry("connected_clients".into()).or_insert(c);
    }
    if let Some(e) = m.get("evictions").cloned() {
        m.entry("evicted_keys".into()).or_insert(e);
    }
    m
}

/// Resident set size of `pid`, from /proc.
pub fn rss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// The CPU time (user + system) process `pid` has used so far, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields count from
    // the last ')'. utime and stime are fields 14 and 15, in clock ticks.
    let fields: Vec<&str> = text[text.rfind(')')? + 1..].split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_second > 0).then(|| ticks / per_second as f64)
}

/// TCP segments this machine's kernel has retransmitted so far (all
/// sockets; `RetransSegs` of /proc/net/snmp). On loopback a retransmission
/// means a dropped packet and a stall of at least the 200 ms minimum RTO.
pub fn tcp_retransmits() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next()?, tcp.next()?);
    let at = names.split_whitespace().position(|n| n == "RetransSegs")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// Statistics columns of the CSV, in order (empty when a server lacks one).
pub const COLUMNS: &[&str] = &[
    "items",
    "used_memory",
    "bytes",
    "evicted_keys",
    "connected_clients",
    "allocator_allocated",
    "allocator_resident",
    "capkv_item_bytes",
    "capkv_segment_bytes",
    "capkv_dead_bytes",
    "capkv_live_fraction",
    "capkv_index_bytes",
    "capkv_buffer_bytes",
    "capkv_other_bytes",
    "capkv_segment_quota",
    "capkv_rejected_writes",
    "mem_fragmentation_ratio",
];

/// What the sampler and the progress line need to know.
pub struct Watch {
    /// The phase now running (a label for the CSV and progress line).
    pub phase: Mutex<String>,
    /// The run's counters.
    pub counters: Mutex<Arc<Counters>>,
    /// Progress goal: user bytes stored, or operations (`goal_ops`).
    pub goal: Mutex<(u64, bool)>,
    /// When the run started.
    pub start: Instant,
}

impl Watch {
    /// A fresh watch.
    pub fn new() -> Arc<Watch> {
        Arc::new(Watch {
            phase: Mutex::new("start".into()),
            counters: Mutex::new(Arc::new(Counters::default())),
            goal: Mutex::new((0, false)),
            start: Instant::now(),
        })
    }
    /// Enters a phase with its own counters and goal.
    pub fn enter(&self, phase: &str, counters: &Arc<Counters>, goal: u64, ops: bool) {
        *self.phase.lock().unwrap() = phase.to_string();
        *self.counters.lock().unwrap() = counters.clone();
        *self.goal.lock().unwrap() = (goal, ops);
    }
}

/// A statistics report and when it arrived.
type Snapshot = (Instant, BTreeMap<String, String>);

/// Samples cgroup usage, RSS and the server's statistics every `interval`
/// into `csv` until `stop` turns true.
pub async fn sample(
    target: Target,
    cgroup: Option<Cgroup>,
    pid: Option<u32>,
    csv: PathBuf,
    interval: Duration,
    watch: Arc<Watch>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(&csv)?);
    write!(out, "t_s,phase,cgroup_usage,cgroup_limit,rss,stats_age_s")?;
    for c in COLUMNS {
        write!(out, ",{c}")?;
    }
    writeln!(out)?;
    // The statistics are fetched by their own task so a slow reply never
    // delays the cgroup samples.
    let latest: Arc<Mutex<Option<Snapshot>>> = Arc::default();
    let fetcher = {
        let latest = latest.clone();
        tokio::spawn(async move {
            loop {
                if let Ok(m) = stats(target, Duration::from_secs(5)).await {
                    *latest.lock().unwrap() = Some((Instant::now(), m));
                }
                tokio::time::sleep(interval).await;
            }
        })
    };
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let now = Instant::now();
        let (usage, limit) = match &cgroup {
            Some(cg) => (cg.usage(), cg.limit()),
            None => (None, None),
        };
        let show = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
        let phase = watch.phase.lock().unwrap().clone();
        write!(
            out,
            "{:.3},{},{},{},{}",
            now.duration_since(watch.start).as_secs_f64(),
            phase,
            show(usage),
            show(limit),
            show(pid.and_then(rss))
        )?;
        let guard = latest.lock().unwrap();
        match &*guard {
            Some((at, m)) => {
                write!(out, ",{:.3}", now.duration_since(*at).as_secs_f64())?;
                for c in COLUMNS {
                    write!(out, ",{}", m.get(*c).map(String::as_str).unwrap_or(""))?;
                }
            }
            None => {
                write!(out, ",")?;
                for _ in COLUMNS {
                    write!(out, ",")?;
                }
            }
        }
        drop(guard);
        writeln!(out)?;
    }
    fetcher.abort();
    out.flush()
}

/// Draws the progress line on stderr every half second until `stop`.
pub async fn progress(watch: Arc<Watch>, mut stop: watch::Receiver<bool>) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty { Duration::from_millis(500) } else { Duration::from_secs(10) };
    let mut tick = tokio::time::interval(every);
    let mut last = (Instant::now(), 0u64);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let phase = watch.phase.lock().unwrap().clone();
        let c = watch.counters.lock().unwrap().clone();
        let (goal, ops) = *watch.goal.lock().unwrap();
        let done = if ops {
            c.sets.load(Relaxed) + c.gets.load(Relaxed)
        } else {
            c.set_bytes.load(Relaxed)
        };
        let frac = if goal > 0 { (done as f64 / goal as f64).min(1.0) } else { 0.0 };
        let now = Instant::now();
        let rate = done.saturating_sub(last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        last = (now, done);
        let width = 30;
        let filled = (frac * width as f64) as usize;
        let bar: String = "#".repeat(filled) + &".".repeat(width - filled);
        let amount = if ops {
            format!("{:.2}M ops, {:.0}k ops/s", done as f64 / 1e6, rate / 1e3)
        } else {
            format!(
                "{:.2} GiB, {:.0} MiB/s",
                done as f64 / (1u64 << 30) as f64,
                rate / (1u64 << 20) as f64
            )
        };
        let line = format!(
            "{phase:>14} [{bar}] {:>3.0}% {amount}, hits {} misses {} errors {} wrong {}",
            frac * 100.0,
            c.hits.load(Relaxed),
            c.misses.load(Relaxed),
            c.error_total(),
            c.wrong.load(Relaxed) + c.stale.load(Relaxed),
        );
        if tty {
            eprint!("\r{line}\x1b[K");
        } else {
            eprintln!("{line}");
        }
    }
    if tty {
        eprintln!();
    }
}
