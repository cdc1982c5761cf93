//! The `latency` scenario: is every client served, or only most of them?
//!
//! `--latency-connections` closed-loop clients each send a batch of
//! `--latency-depth` requests (GET or SET of small values, `--latency-writes`
//! of them SETs), wait for every reply, and send the next batch, for
//! `--latency-duration` after a warm-up. Each batch's round trip is one
//! latency sample; each connection's completed operations are counted, so
//! the result shows both the percentiles and the spread between clients:
//! min / median / max operations per connection and Jain's fairness index
//! `(sum x)^2 / (n * sum x^2)` (1 when every connection did the same work,
//! 1/n when one did all of it). By Little's law the mean batch latency is
//! `connections * depth / throughput`; a median far below that mean means
//! some clients are served much more often than others.
//!
//! With the server's process id known, the result also has the server's
//! CPU time in the window and operations per server CPU-second; and the
//! machine's TCP retransmissions in the window: on loopback each one is a
//! dropped packet and a 200 ms stall, which is the kernel's, not the
//! server's, when it explains the maximum.
//!
//! The clients run on a current-thread runtime of their own, on one thread:
//! its run queue is one FIFO, so the driver serves its own connections in
//! the order their replies arrive. (Tokio's multi-thread scheduler spills
//! tasks woken together into a global queue that it polls only now and
//! then; a driver built on it would add a tail of its own to every server's
//! figures.)

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::data::{self, Rng};
use crate::engine::Target;
use crate::json::Obj;
use crate::monitor;
use crate::probe::percentile;
use crate::wire::{self, ClientReply, Expect};

/// What the scenario is parameterised by.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Closed-loop connections.
    pub conns: usize,
    /// Requests per batch.
    pub depth: usize,
    /// Measured time, after the warm-up.
    pub duration: Duration,
    /// Time before measuring (connections already open).
    pub warmup: Duration,
    /// Distinct keys.
    pub keys: u64,
    /// Key size.
    pub key_size: usize,
    /// Value size of the SETs.
    pub value: usize,
    /// Fraction of requests that are SETs.
    pub writes: f64,
    /// Seed of the key and operation choices.
    pub seed: u64,
}

/// What one connection did in the measured window.
#[derive(Default)]
struct Client {
    connected: bool,
    ops: u64,
    /// Round trip of each batch, in microseconds.
    batches: Vec<u32>,
    /// The slowest batch: its round trip and when it was sent (both in
    /// microseconds, the time since the measured window began).
    slowest: (u32, u64),
    errors: u64,
    failure: Option<String>,
}

/// What the measured window cost outside the driver.
#[derive(Default)]
struct Window {
    /// Seconds measured.
    seconds: f64,
    /// CPU seconds the server used in it, when its process is known.
    server_cpu: Option<f64>,
    /// TCP retransmissions on this machine in it.
    retransmits: Option<u64>,
}

/// Runs the scenario against the server (process `server_pid`, when known)
/// and adds its figures to `o`.
pub async fn run(
    target: Target,
    s: Settings,
    server_pid: Option<u32>,
    o: &mut Obj,
) -> Result<(), String> {
    // A thread and a runtime of its own (see the module docs).
    let driver = std::thread::Builder::new()
        .name("latency-driver".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("latency runtime: {e}"))?;
            Ok::<_, String>(runtime.block_on(drive(target, s.clone(), server_pid)))
        })
        .map_err(|e| format!("latency thread: {e}"))?;
    let (clients, window, settings) = tokio::task::spawn_blocking(move || driver.join())
        .await
        .map_err(|e| format!("latency thread: {e}"))?
        .map_err(|_| "latency driver panicked".to_string())??;
    report(&clients, &window, &settings, o);
    Ok(())
}

async fn drive(
    target: Target,
    s: Settings,
    server_pid: Option<u32>,
) -> (Vec<Client>, Window, Settings) {
    // Open everything first, at most 128 handshakes at a time, so the
    // measured window has every client in it.
    let gate = Arc::new(Semaphore::new(128));
    let opened: Vec<_> = (0..s.conns)
        .map(|_| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let connect = TcpStream::connect(target.addr);
                match tokio::time::timeout(Duration::from_secs(30), connect).await {
                    Ok(Ok(socket)) => {
                        let _ = socket.set_nodelay(true);
                        Ok(socket)
                    }
                    Ok(Err(e)) => Err(format!("connect: {e}")),
                    Err(_) => Err("connect: timed out".to_string()),
                }
            })
        })
        .collect();
    let mut sockets = Vec::with_capacity(s.conns);
    for task in opened {
        sockets.push(task.await.unwrap_or_else(|e| Err(format!("connect task: {e}"))));
    }
    let begin = Instant::now() + s.warmup;
    let end = begin + s.duration;
    let window = tokio::spawn(async move {
        let cpu = || server_pid.and_then(monitor::cpu_seconds);
        tokio::time::sleep_until(begin.into()).await;
        let (cpu0, retrans0) = (cpu(), monitor::tcp_retransmits());
        tokio::time::sleep_until(end.into()).await;
        let (cpu1, retrans1) = (cpu(), monitor::tcp_retransmits());
        Window {
            seconds: begin.elapsed().as_secs_f64(),
            server_cpu: cpu0.zip(cpu1).map(|(a, b)| b - a),
            retransmits: retrans0.zip(retrans1).map(|(a, b)| b.saturating_sub(a)),
        }
    });
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            let s = s.clone();
            tokio::spawn(async move {
                match socket {
                    Ok(socket) => client(target, socket, &s, i as u64, begin, end).await,
                    Err(why) => Client { failure: Some(why), ..Client::default() },
                }
            })
        })
        .collect();
    let mut clients = Vec::with_capacity(s.conns);
    for task in tasks {
        clients.push(task.await.unwrap_or_else(|e| Client {
            failure: Some(format!("task: {e}")),
            ..Client::default()
        }));
    }
    let window = window.await.unwrap_or_default();
    (clients, window, s)
}

/// One closed-loop client until `end`; counts only batches sent from `begin` on.
async fn client(
    target: Target,
    mut socket: TcpStream,
    s: &Settings,
    me: u64,
    begin: Instant,
    end: Instant,
) -> Client {
    let mut c = Client { connected: true, ..Client::default() };
    let mut rng = Rng::new(s.seed ^ data::mix(me + 1));
    let value = vec![b'v'; s.value];
    let (mut request, mut key) = (Vec::new(), Vec::new());
    let mut expects = Vec::with_capacity(s.depth);
    let mut replies = Vec::with_capacity(4096);
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        request.clear();
        expects.clear();
        for _ in 0..s.depth {
            data::key(b'q', rng.below(s.keys), s.key_size, &mut key);
            if rng.unit() < s.writes {
                wire::encode_set(target.wire, &key, &value, &mut request);
                expects.push(Expect::Set);
            } else {
                wire::encode_get(target.wire, &key, &mut request);
                expects.push(Expect::Get);
            }
        }
        if let Err(e) = socket.write_all(&request).await {
            c.failure = Some(format!("write: {e}"));
            break;
        }
        let mut answered = 0;
        let mut at = 0;
        while answered < expects.len() {
            match wire::parse_reply(target.wire, expects[answered], &replies[at..]) {
                Ok(Some((reply, used))) => {
                    at += used;
                    answered += 1;
                    if matches!(reply, ClientReply::Error(_)) {
                        c.errors += 1;
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    c.failure = Some(e.to_string());
                    return c;
                }
            }
            replies.drain(..at);
            at = 0;
            if replies.capacity() - replies.len() < 1024 {
                replies.reserve(4096);
            }
            match socket.read_buf(&mut replies).await {
                Ok(0) => {
                    c.failure = Some("closed by the server".into());
                    return c;
                }
                Ok(_) => {}
                Err(e) => {
                    c.failure = Some(format!("read: {e}"));
                    return c;
                }
            }
        }
        replies.drain(..at);
        let done = Instant::now();
        if sent >= begin && done <= end {
            c.ops += s.depth as u64;
            let us = done.duration_since(sent).as_micros().min(u32::MAX as u128) as u32;
            c.batches.push(us);
            if us > c.slowest.0 {
                c.slowest = (us, sent.duration_since(begin).as_micros() as u64);
            }
        }
    }
    c
}

/// Jain's fairness index of `x`: 1 when all are equal, 1/n when one has all.
pub fn jain(x: &[u64]) -> f64 {
    let sum: f64 = x.iter().map(|&v| v as f64).sum();
    let squares: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
    if squares == 0.0 { 0.0 } else { sum * sum / (x.len() as f64 * squares) }
}

fn report(clients: &[Client], window: &Window, s: &Settings, o: &mut Obj) {
    let measured = window.seconds;
    let connected: Vec<&Client> = clients.iter().filter(|c| c.connected).collect();
    let mut ops: Vec<u64> = connected.iter().map(|c| c.ops).collect();
    ops.sort_unstable();
    let total: u64 = ops.iter().sum();
    let mut batches: Vec<f64> =
        connected.iter().flat_map(|c| c.batches.iter().map(|&us| f64::from(us) / 1000.0)).collect();
    batches.sort_by(f64::total_cmp);
    let ms = |p: f64| percentile(&batches, p).unwrap_or(0.0);
    let mut failures: std::collections::BTreeMap<&str, u64> = Default::default();
    for why in clients.iter().filter_map(|c| c.failure.as_deref()) {
        *failures.entry(why).or_default() += 1;
    }
    let mut why = Obj::new();
    for (k, v) in &failures {
        why.int(k, *v);
    }
    let mut latency = Obj::new();
    latency
        .num("mean_ms", batches.iter().sum::<f64>() / batches.len().max(1) as f64)
        .num("p50_ms", ms(50.0))
        .num("p90_ms", ms(90.0))
        .num("p99_ms", ms(99.0))
        .num("p999_ms", ms(99.9))
        .num("max_ms", batches.last().copied().unwrap_or(0.0));
    // When the slowest batch was sent: a one-off stall (at the start, at
    // a growth of a table) and a steady tail look different.
    if let Some(c) = connected.iter().max_by_key(|c| c.slowest.0) {
        latency.num("max_sent_at_s", c.slowest.1 as f64 / 1e6);
    }
    let mut per = Obj::new();
    let pick = |q: f64| ops.get(((ops.len().max(1) - 1) as f64 * q).round() as usize).copied();
    per.opt("min", pick(0.0)).opt("median", pick(0.5)).opt("max", pick(1.0));
    o.int("connections", s.conns as u64)
        .int("connected", connected.len() as u64)
        .int("depth", s.depth as u64)
        .num("writes", s.writes)
        .int("keys", s.keys)
        .int("value_size", s.value as u64)
        .num("measured_s", measured)
        .int("ops", total)
        .num("ops_per_s", if measured > 0.0 { total as f64 / measured } else { 0.0 })
        .int("batches", batches.len() as u64)
        .raw("server_cpu_s", window.server_cpu.map_or("null".into(), |c| format!("{c:.3}")))
        .raw(
            "ops_per_server_cpu_s",
            match window.server_cpu {
                Some(c) if c > 0.0 => format!("{:.0}", total as f64 / c),
                _ => "null".into(),
            },
        )
        .opt("tcp_retransmits", window.retransmits)
        .obj("latency", &latency)
        .obj("ops_per_connection", &per)
        .num("jain_index", jain(&ops))
        .int("error_replies", clients.iter().map(|c| c.errors).sum())
        .int("connections_failed", failures.values().sum())
        .obj("failures", &why);
}

#[cfg(test)]
mod tests {
    use super::jain;

    #[test]
    fn jain_is_one_for_equal_shares_and_one_over_n_for_one_taker() {
        assert!((jain(&[5, 5, 5, 5]) - 1.0).abs() < 1e-12);
        assert!((jain(&[8, 0, 0, 0]) - 0.25).abs() < 1e-12);
        assert!((jain(&[1, 3]) - 0.8).abs() < 1e-12);
        assert_eq!(jain(&[0, 0]), 0.0);
    }
}
