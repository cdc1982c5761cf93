//! The connection scenarios: what connections cost the server, and whether
//! clients that hold buffer memory can freeze it.
//!
//! - `slowloris`: thousands of clients each send most of a maximum-size
//!   store request and then nothing, holding the connection open. Each
//!   partial request is a buffer the server must keep (or refuse, or
//!   evict); a server that lets them take its buffer memory, or waits for
//!   them, stops answering everyone else. While they hold, a few fresh
//!   connections keep doing small writes and reads, checked like every
//!   value, and the probe (see [`crate::probe`]) keeps asking for `PING`.
//! - `idle`: many connections that each send one `PING`, read the reply and
//!   go quiet. The server's RSS and the cgroup's usage before and after,
//!   divided by the connections, is what one idle connection costs.
//!
//! Both fill part of the cache first and read it back before and after,
//! so what the connections cost the cache shows as well.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use capkv::memory::Cgroup;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};

use crate::data::{self, Rng};
use crate::engine::{self, Counters, Sizer, Source, Target, Until, Versions, Workload, io_kind};
use crate::json::Obj;
use crate::monitor;
use crate::phase::{Params, Totals, fill, run_phase, sample};
use crate::wire::{self, ClientReply, Expect, Wire};

/// Value size of the keys both scenarios fill the cache with: big enough
/// that filling is quick, small enough to be an ordinary cache item.
const FILL_VALUE: usize = 4096;
/// How long connecting may take before the attempt counts as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest partial value sent: the generator's largest value (1 MiB), which
/// is also memcached's default item limit. Redis announces 512 MiB; a
/// thousand clients each sending most of that is a bandwidth test, not a
/// buffer test.
const MAX_PARTIAL_VALUE: usize = data::MAX_VALUE;

/// The soft limit on open files, after trying to raise it to `want`
/// (first the soft limit up to the hard one, then both, which needs
/// CAP_SYS_RESOURCE). `Err` says why it is still lower.
pub fn raise_open_files(want: u64) -> Result<u64, (u64, String)> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err((0, format!("getrlimit: {}", std::io::Error::last_os_error())));
    }
    if lim.rlim_cur >= want {
        return Ok(lim.rlim_cur);
    }
    let set = |cur: u64, max: u64| {
        let new = libc::rlimit { rlim_cur: cur, rlim_max: max };
        // SAFETY: setrlimit reads one rlimit through a valid pointer.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 }
    };
    if lim.rlim_max >= want {
        return if set(want, lim.rlim_max) {
            Ok(want)
        } else {
            Err((lim.rlim_cur, format!("setrlimit: {}", std::io::Error::last_os_error())))
        };
    }
    if set(want, want) {
        return Ok(want);
    }
    let why = std::io::Error::last_os_error();
    let cur = if set(lim.rlim_max, lim.rlim_max) { lim.rlim_max } else { lim.rlim_cur };
    Err((cur, format!("hard limit {} and raising it failed: {why}", lim.rlim_max)))
}

/// Fits `want` connections (plus `spare` other files) into the open-file
/// limit, raising it if allowed; says on stderr when it cannot.
fn fit_open_files(what: &str, want: usize, spare: u64) -> (usize, u64) {
    match raise_open_files(want as u64 + spare) {
        Ok(limit) => (want, limit),
        Err((limit, why)) => {
            let fit = (limit.saturating_sub(spare) as usize).clamp(1, want);
            eprintln!(
                "capkv-bench: {what}: {want} connections need {} open files, the limit is {limit} ({why}): using {fit}",
                want as u64 + spare
            );
            (fit, limit)
        }
    }
}

/// A statistic of a report, as a number.
fn stat(stats: &Option<std::collections::BTreeMap<String, String>>, k: &str) -> Option<u64> {
    stats.as_ref()?.get(k)?.parse::<f64>().ok().map(|v| v as u64)
}

async fn stats_now(target: Target) -> Option<std::collections::BTreeMap<String, String>> {
    monitor::stats(target, Duration::from_secs(5)).await.ok()
}

/// The server's largest value, as it reports it: RESP `CONFIG GET
/// proto-max-bulk-len` (capkv on either wire, as it tells RESP by the
/// first byte; Redis), memcached's `stats settings` `item_size_max`.
async fn max_value_size(target: Target) -> Result<u64, String> {
    let exchange = async {
        let mut s = TcpStream::connect(target.addr).await.map_err(|e| io_kind(&e))?;
        let req: &[u8] = match target.wire {
            Wire::Memcache => b"stats settings\r\n",
            _ => b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$18\r\nproto-max-bulk-len\r\n",
        };
        s.write_all(req).await.map_err(|e| io_kind(&e))?;
        let mut buf = Vec::new();
        loop {
            let found = match target.wire {
                Wire::Memcache => wire::parse_reply(Wire::Memcache, Expect::Stats, &buf)
                    .map_err(|e| e.0)?
                    .map(|(r, _)| match r {
                        ClientReply::Report(t) => wire::parse_stats(t)
                            .into_iter()
                            .find(|(k, _)| k == "item_size_max")
                            .map(|(_, v)| v),
                        _ => None,
                    }),
                _ => wire::parse_config_get(&buf).map_err(|e| e.0)?.map(|(pairs, _)| {
                    pairs.into_iter().find(|(k, _)| k == "proto-max-bulk-len").map(|(_, v)| v)
                }),
            };
            match found {
                Some(Some(v)) => return v.parse::<u64>().map_err(|e| format!("{v:?}: {e}")),
                Some(None) => return Err("not reported".to_string()),
                None => {}
            }
            if s.read_buf(&mut buf).await.map_err(|e| io_kind(&e))? == 0 {
                return Err("closed".into());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| "timeout".to_string())?
}

/// What both scenarios fill the cache with, as [`fill_before`] wrote it.
struct Filled {
    wl: Arc<Workload>,
    /// Keys written.
    n: u64,
}

/// Fills `fraction` of L with `FILL_VALUE`-byte items under `prefix` and
/// reads them back, recording the keys and what was retained before the
/// scenario's own load.
async fn fill_before(p: &Params, o: &mut Obj, t: &mut Totals, prefix: u8, fraction: f64) -> Filled {
    let ks = p.key_size;
    let wl = Arc::new(Workload {
        prefix,
        key_size: ks,
        sizer: Sizer::Fixed(FILL_VALUE),
        versions: Versions::Once,
        cache_aside: false,
        short_ttl: None,
    });
    let n = (p.limit as f64 * fraction / (ks + FILL_VALUE) as f64).ceil() as u64;
    o.int("keys", n).int("fill_value_size", FILL_VALUE as u64);
    fill(p, "fill", &wl, 0, n, t).await;
    let before = sample(p, "sample_before", &wl, 0, n, t).await;
    o.num("retained_before_fraction", before / p.limit as f64);
    Filled { wl, n }
}

/// What became of one attacker.
#[derive(Debug)]
enum Fate {
    /// The connection failed, or the server closed it saying it has too
    /// many clients.
    Refused(String),
    /// The server closed it later (what it said, if anything).
    Evicted(String),
    /// Still open when the scenario ended.
    Held,
}

/// True when a server's parting words say it refused a new client
/// (Redis's and capkv's `max number of clients reached`, memcached's
/// `Too many open connections`).
fn says_refused(said: &[u8]) -> bool {
    let said = String::from_utf8_lossy(said).to_ascii_lowercase();
    said.contains("max number of clients") || said.contains("too many")
}

/// Shared state of the attackers.
struct Attack {
    target: Target,
    key_size: usize,
    value_len: usize,
    sent: usize,
    /// Attackers connected.
    connected: AtomicU64,
    /// Attackers whose whole partial request was written (into the
    /// server, or at least into the kernel's socket buffers).
    written: AtomicU64,
    /// Attackers done with their writes one way or another.
    settled: AtomicU64,
}

async fn attacker(a: Arc<Attack>, me: u64, mut stop: watch::Receiver<bool>) -> Fate {
    let settle = || {
        a.settled.fetch_add(1, Relaxed);
    };
    let sock = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(a.target.addr)).await
    {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            settle();
            return Fate::Refused(format!("connect: {}", io_kind(&e)));
        }
        Err(_) => {
            settle();
            return Fate::Refused("connect: timeout".into());
        }
    };
    a.connected.fetch_add(1, Relaxed);
    let (mut read, mut write) = sock.into_split();
    let mut key = Vec::new();
    data::key(b'a', me, a.key_size, &mut key);
    let (_, _, body) = data::value(me, 0, a.value_len);
    // The request's head only (none of the value): the value's first bytes
    // go straight from the shared pool, not copied for each of thousands
    // of attackers.
    let mut head = Vec::new();
    wire::partial_set(a.target.wire, &key, a.value_len, body, 0, &mut head);
    // Everything the server says until it closes the connection.
    let closed = async move {
        let mut said = Vec::new();
        loop {
            match read.read_buf(&mut said).await {
                Ok(0) | Err(_) => return said,
                Ok(_) => said.truncate(512),
            }
        }
    };
    tokio::pin!(closed);
    let sent = a.sent;
    let send = async move {
        write.write_all(&head).await?;
        write.write_all(&body[..sent.min(body.len())]).await?;
        Ok::<_, std::io::Error>(write)
    };
    let write_half = tokio::select! {
        r = send => r.ok(),
        said = &mut closed => {
            settle();
            return fate_of_close(&said);
        }
        _ = stop.changed() => { settle(); return Fate::Held; }
    };
    if write_half.is_some() {
        a.written.fetch_add(1, Relaxed);
    }
    settle();
    tokio::select! {
        said = &mut closed => fate_of_close(&said),
        _ = stop.changed() => Fate::Held,
    }
}

fn fate_of_close(said: &[u8]) -> Fate {
    let text = String::from_utf8_lossy(&said[..said.len().min(80)]).trim().to_string();
    if says_refused(said) { Fate::Refused(format!("closed: {text}")) } else { Fate::Evicted(text) }
}

/// `slowloris`: fill, attack, hold with checked small requests beside, then
/// read the cache back.
pub async fn slowloris(p: &Params, o: &mut Obj, t: &mut Totals) -> f64 {
    let ks = p.key_size;
    // The request size.
    let reported = max_value_size(p.target).await;
    let value_len = match (p.slowloris_value, &reported) {
        (Some(v), _) => v,
        (None, Ok(max)) => (*max as usize).min(MAX_PARTIAL_VALUE),
        (None, Err(_)) => 256 * 1024,
    }
    .clamp(2, MAX_PARTIAL_VALUE);
    let sent = ((value_len as f64 * p.slowloris_fraction) as usize).clamp(1, value_len - 1);
    match &reported {
        Ok(max) => o.int("max_value_size_reported", *max),
        Err(why) => {
            eprintln!("capkv-bench: slowloris: the server's max value size: {why}");
            o.raw("max_value_size_reported", "null".into())
        }
    };
    // The attackers: 3,000 at 256 MiB, in proportion to L, 100 to 10,000.
    let scaled = (3000.0 * p.limit as f64 / (256u64 << 20) as f64) as usize;
    let want = p.slowloris_conns.unwrap_or(scaled.clamp(100, 10_000));
    let (attackers, _) = fit_open_files("slowloris", want, 256 + p.conns as u64);
    o.int("attackers", attackers as u64)
        .int("value_size", value_len as u64)
        .int("partial_bytes", sent as u64)
        .num("partial_fraction", sent as f64 / value_len as f64)
        .num("hold_s", p.slowloris_hold.as_secs_f64());

    // What the cache holds before.
    let Filled { wl, n } = fill_before(p, o, t, b'o', p.slowloris_fill).await;
    let stats_before = stats_now(p.target).await;

    // The attack.
    p.watch.enter("attack", &Arc::default(), 0, true);
    let attack = Arc::new(Attack {
        target: p.target,
        key_size: ks,
        value_len,
        sent,
        connected: AtomicU64::new(0),
        written: AtomicU64::new(0),
        settled: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let tasks: Vec<_> = (0..attackers as u64)
        .map(|i| tokio::spawn(attacker(attack.clone(), i, stop_rx.clone())))
        .collect();
    // Until every attacker has connected and written (or failed), at most
    // 10 s: writers the server does not read from stay stuck.
    let settle_by = started + Duration::from_secs(10);
    while attack.settled.load(Relaxed) < attackers as u64 && Instant::now() < settle_by {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    o.num("attack_settle_s", started.elapsed().as_secs_f64())
        .int("attackers_connected", attack.connected.load(Relaxed))
        .int("attackers_written", attack.written.load(Relaxed))
        .int("attackers_stuck_writing", attackers as u64 - attack.settled.load(Relaxed));
    let stats_during = stats_now(p.target).await;
    o.opt("server_clients_during", stat(&stats_during, "connected_clients"));

    // The hold: small writes and reads on fresh connections, one request at
    // a time, every reply checked; nothing may wait longer than the probe's
    // deadline.
    let hold = Arc::new(Workload {
        prefix: b'u',
        key_size: ks,
        sizer: Sizer::Fixed(100),
        versions: Versions::owned(10_000),
        cache_aside: false,
        short_ttl: None,
    });
    // Every key written once first (a run against a server that holds an
    // earlier run's keys must not read their versions), then the mix.
    let short = Params { io_timeout: p.io_timeout.min(Duration::from_secs(5)), ..p.clone() };
    let first: Vec<Box<dyn Source>> = (0..p.conns as u64)
        .map(|c| {
            Box::new(engine::RangeFill { next: c, step: p.conns as u64, end: 10_000 })
                as Box<dyn Source>
        })
        .collect();
    run_phase(&short, "hold_fill", &hold, Arc::default(), first, 1, (10_000 * 116, false), t).await;
    let deadline = Instant::now() + p.slowloris_hold;
    let counters = Arc::new(Counters::default());
    let owners = p.conns as u64;
    let sources: Vec<Box<dyn Source>> = (0..owners)
        .map(|c| {
            Box::new(Until {
                inner: Box::new(engine::Random {
                    rng: Rng::new(p.seed + 31 * c),
                    own: c,
                    owners,
                    keys: 10_000,
                    zipf: None,
                    read_ratio: 0.5,
                    counters: counters.clone(),
                    bytes_limit: u64::MAX,
                    ops: Arc::default(),
                    ops_limit: u64::MAX,
                    scan: None,
                }),
                deadline,
            }) as Box<dyn Source>
        })
        .collect();
    let secs = p.slowloris_hold.as_secs();
    run_phase(&short, "hold", &hold, counters, sources, 1, (secs.max(1), false), t).await;

    // Release the attackers and count.
    let _ = stop_tx.send(true);
    let (mut refused, mut evicted, mut held) = (0u64, 0u64, 0u64);
    let mut reasons: std::collections::BTreeMap<String, u64> = Default::default();
    for task in tasks {
        match task.await {
            Ok(Fate::Held) => held += 1,
            Ok(Fate::Evicted(said)) => {
                evicted += 1;
                let said = if said.is_empty() { "evicted (closed)".into() } else { said };
                *reasons.entry(format!("evicted: {said}")).or_default() += 1;
            }
            Ok(Fate::Refused(why)) => {
                refused += 1;
                *reasons.entry(format!("refused: {why}")).or_default() += 1;
            }
            Err(e) => {
                refused += 1;
                *reasons.entry(format!("refused: task {e}")).or_default() += 1;
            }
        }
    }
    let stats_after = stats_now(p.target).await;
    let delta = |k: &str| match (stat(&stats_before, k), stat(&stats_after, k)) {
        (Some(b), Some(a)) => Some(a.saturating_sub(b)),
        _ => None,
    };
    let mut why = Obj::new();
    for (k, v) in &reasons {
        why.int(k, *v);
    }
    o.int("accepted", evicted + held)
        .int("evicted", evicted)
        .int("refused", refused)
        .int("held_to_end", held)
        .obj("attacker_outcomes", &why)
        .opt("server_evicted_clients", delta("evicted_clients"))
        .opt("server_rejected_connections", delta("rejected_connections"));

    // What the cache still holds.
    sample(&short, "sample_after", &wl, 0, n, t).await
}

/// What one idle connection's task saw.
#[derive(Debug)]
enum Idle {
    /// Connected, and stayed connected until the end or was closed by the
    /// server (`closed`). Whether its PING was answered is counted in
    /// [`IdleCount`].
    Connected { closed: bool },
    /// Never connected (why).
    Failed(String),
}

/// How the idle connections are doing, while they connect.
#[derive(Default)]
struct IdleCount {
    connected: AtomicU64,
    answered: AtomicU64,
    /// Connections done with their PING: answered, timed out or failed.
    done: AtomicU64,
}

async fn idle_one(
    target: Target,
    source: Option<std::net::IpAddr>,
    gate: Arc<Semaphore>,
    count: Arc<IdleCount>,
    mut stop: watch::Receiver<bool>,
) -> Idle {
    // Connecting is gated (a burst of thousands of SYNs overflows the
    // listen backlog); waiting for the reply is not, so a server that does
    // not answer costs the scenario one timeout, not one per batch.
    let permit = gate.acquire_owned().await;
    let connect = async {
        let sock = match source {
            Some(ip) => {
                let s = if ip.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }
                    .map_err(|e| format!("socket: {}", io_kind(&e)))?;
                s.bind((ip, 0).into()).map_err(|e| format!("bind {ip}: {}", io_kind(&e)))?;
                s.connect(target.addr).await
            }
            None => TcpStream::connect(target.addr).await,
        };
        let mut sock = sock.map_err(|e| format!("connect: {}", io_kind(&e)))?;
        let mut req = Vec::new();
        wire::encode_ping(target.wire, &mut req);
        sock.write_all(&req).await.map_err(|e| format!("write: {}", io_kind(&e)))?;
        Ok::<_, String>(sock)
    };
    let connected = tokio::time::timeout(CONNECT_TIMEOUT, connect).await;
    drop(permit);
    let mut sock = match connected {
        Ok(Ok(s)) => s,
        Ok(Err(why)) => {
            count.done.fetch_add(1, Relaxed);
            return Idle::Failed(why);
        }
        Err(_) => {
            count.done.fetch_add(1, Relaxed);
            return Idle::Failed("connect: timeout".into());
        }
    };
    count.connected.fetch_add(1, Relaxed);
    let mut buf = Vec::with_capacity(64);
    let reply = async {
        loop {
            match wire::parse_reply(target.wire, Expect::Ping, &buf) {
                Ok(Some((ClientReply::Report(_), _))) => return Ok(()),
                Ok(Some(_)) | Err(_) => return Err(false),
                Ok(None) => {}
            }
            match sock.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return Err(true),
                Ok(_) => {}
            }
        }
    };
    let (answered, mut closed) = match tokio::time::timeout(CONNECT_TIMEOUT, reply).await {
        Ok(Ok(())) => (true, false),
        Ok(Err(closed)) => (false, closed),
        Err(_) => (false, false),
    };
    if answered {
        count.answered.fetch_add(1, Relaxed);
    }
    count.done.fetch_add(1, Relaxed);
    let mut byte = [0u8; 512];
    while !closed {
        tokio::select! {
            r = sock.read(&mut byte) => closed = !matches!(r, Ok(n) if n > 0),
            _ = stop.changed() => break,
        }
    }
    Idle::Connected { closed }
}

/// Loopback source addresses for `n` connections to one server address:
/// a source address has about 28,000 ephemeral ports, so beyond 25,000
/// connections they are spread over 127.0.0.2, 127.0.0.3, ...
fn source_ip(target: Target, n: usize, i: usize) -> Option<std::net::IpAddr> {
    match target.addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_loopback() && n > 25_000 => {
            Some(std::net::Ipv4Addr::new(127, 0, 0, 2 + (i / 25_000) as u8).into())
        }
        _ => None,
    }
}

/// `idle`: fill, measure, open the idle connections, measure again.
pub async fn idle(p: &Params, o: &mut Obj, t: &mut Totals) -> f64 {
    let (conns, nofile) = fit_open_files("idle", p.idle_conns, 256 + p.conns as u64);
    o.int("idle_connections_requested", p.idle_conns as u64)
        .int("idle_connections", conns as u64)
        .int("open_files_limit", nofile);
    let Filled { wl, n } = fill_before(p, o, t, b'i', p.idle_fill).await;

    let rss = || p.server_pid.and_then(monitor::rss);
    let usage = |cg: &Option<Cgroup>| cg.as_ref().and_then(Cgroup::usage);
    if p.server_pid.is_none() {
        eprintln!("capkv-bench: idle: the server's pid is unknown (--server-pid): no RSS figures");
    } else if rss().is_none() {
        eprintln!(
            "capkv-bench: idle: cannot read /proc/{}/status: no RSS figures",
            p.server_pid.unwrap_or(0)
        );
    }
    // Let the fill's and the sampling's buffers go before measuring.
    p.watch.enter("settle", &Arc::default(), 0, true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats_before = stats_now(p.target).await;
    let (rss_before, cg_before) = (rss(), usage(&p.cgroup));

    p.watch.enter("connect", &Arc::default(), conns as u64, true);
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let count = Arc::new(IdleCount::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let tasks: Vec<_> = (0..conns)
        .map(|i| {
            tokio::spawn(idle_one(
                p.target,
                source_ip(p.target, conns, i),
                gate.clone(),
                count.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    while count.done.load(Relaxed) < conns as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    o.num("connect_s", started.elapsed().as_secs_f64());
    p.watch.enter("idle", &Arc::default(), 0, true);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stats_after = stats_now(p.target).await;
    let (rss_after, cg_after) = (rss(), usage(&p.cgroup));
    // What the connections cost is divided by those open, answered or not
    // (an unanswered PING is still a connection the server holds).
    let established = count.connected.load(Relaxed);
    let per = |b: Option<u64>, a: Option<u64>| match (b, a) {
        (Some(b), Some(a)) if established > 0 => {
            format!("{:.1}", (a as f64 - b as f64) / established as f64)
        }
        _ => "null".into(),
    };
    o.int("idle_connected", established)
        .int("idle_answered", count.answered.load(Relaxed))
        .opt("rss_before", rss_before)
        .opt("rss_after", rss_after)
        .raw("bytes_per_connection_rss", per(rss_before, rss_after))
        .opt("cgroup_before", cg_before)
        .opt("cgroup_after", cg_after)
        .raw("bytes_per_connection_cgroup", per(cg_before, cg_after))
        .opt("server_clients_before", stat(&stats_before, "connected_clients"))
        .opt("server_clients_after", stat(&stats_after, "connected_clients"))
        .opt("items_before", stat(&stats_before, "items"))
        .opt("items_after", stat(&stats_after, "items"));

    // Does the cache still hold what it held, with them all connected? (A
    // server they freeze does not answer this either: short timeouts.)
    let short = Params { io_timeout: p.io_timeout.min(Duration::from_secs(5)), ..p.clone() };
    let after = sample(&short, "sample_after", &wl, 0, n, t).await;
    let _ = stop_tx.send(true);
    let (mut failed, mut closed, mut held) = (0u64, 0u64, 0u64);
    let mut reasons: std::collections::BTreeMap<String, u64> = Default::default();
    for task in tasks {
        match task.await {
            Ok(Idle::Connected { closed: true }) => closed += 1,
            Ok(Idle::Connected { closed: false }) => held += 1,
            Ok(Idle::Failed(why)) => {
                failed += 1;
                *reasons.entry(why).or_default() += 1;
            }
            Err(e) => {
                failed += 1;
                *reasons.entry(format!("task: {e}")).or_default() += 1;
            }
        }
    }
    let mut why = Obj::new();
    for (k, v) in &reasons {
        why.int(k, *v);
    }
    o.int("idle_failed", failed)
        .int("idle_closed_by_server", closed)
        .int("idle_held_to_end", held)
        .obj("idle_failures", &why);
    after
}
