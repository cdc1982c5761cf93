//! The load engine: pipelined connections that send generated requests and
//! check every reply.
//!
//! One worker per connection runs a writer and a reader concurrently on
//! the two halves of its socket. The writer takes operations from its
//! [`Source`], records what each reply must be in a bounded queue (the
//! pipeline depth), and sends requests in batches; the reader parses
//! replies in order, pops the matching expectation and checks it: a value
//! must be, byte for byte, the generated value of the requested key at a
//! version that may legally be there. A worker whose connection fails
//! records why and reconnects (a few times), so a server that drops
//! connections under pressure slows the run down instead of ending it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::data::{self, Rng};
use crate::wire::{self, ClientReply, Expect, Wire};

/// Values larger than this are written straight from the pool.
const DIRECT_WRITE: usize = 32 * 1024;
/// Requests are written once this much is batched.
const BATCH_BYTES: usize = 64 * 1024;

/// How long values are.
#[derive(Debug, Clone)]
pub enum Sizer {
    /// Every value has this length.
    Fixed(usize),
    /// Uniform in `lo..=hi`, drawn from (key, version).
    Uniform(usize, usize),
    /// Keys below each bound get that length (bounds ascending).
    Ranges(Vec<(u64, usize)>),
}

impl Sizer {
    /// The longest value of any key from `key` on (for pipeline depths).
    pub fn max_len(&self, key: u64) -> usize {
        match self {
            Sizer::Uniform(_, hi) => *hi,
            _ => self.len(key, 0),
        }
    }
    /// The length of `key`'s value at `version`.
    pub fn len(&self, key: u64, version: u32) -> usize {
        match self {
            Sizer::Fixed(n) => *n,
            Sizer::Uniform(lo, hi) => {
                let h = data::mix(key ^ (u64::from(version) << 40) ^ 0xabcdef);
                lo + (h % (hi - lo + 1) as u64) as usize
            }
            Sizer::Ranges(r) => {
                r.iter().find(|(end, _)| key < *end).or(r.last()).map_or(0, |(_, n)| *n)
            }
        }
    }
}

/// What values of a key may legally be read.
pub enum Versions {
    /// Every key is written once, at version 0.
    Once,
    /// Each key has one writer (the connection that owns it), so a read must
    /// return the version of the last write sent before it, or an older one
    /// only if a write of that key was refused.
    Owned {
        /// Latest version sent, per key.
        latest: Vec<AtomicU32>,
        /// A write of this key was refused (its value is now uncertain).
        uncertain: Vec<AtomicBool>,
    },
    /// Any connection may write any key: a read may return any version
    /// already issued.
    Shared(Vec<AtomicU32>),
}

impl Versions {
    /// Per-key tracking for `keys` keys.
    pub fn owned(keys: u64) -> Versions {
        Versions::Owned {
            latest: (0..keys).map(|_| AtomicU32::new(0)).collect(),
            uncertain: (0..keys).map(|_| AtomicBool::new(false)).collect(),
        }
    }
    /// Shared tracking for `keys` keys.
    pub fn shared(keys: u64) -> Versions {
        Versions::Shared((0..keys).map(|_| AtomicU32::new(0)).collect())
    }
    /// The version the next write of `key` carries.
    pub fn bump(&self, key: u64) -> u32 {
        match self {
            Versions::Once => 0,
            Versions::Owned { latest, .. } => {
                let v = (latest[key as usize].load(Relaxed) + 1) & data::VERSION_MASK;
                latest[key as usize].store(v, Relaxed);
                v
            }
            Versions::Shared(t) => (t[key as usize].fetch_add(1, Relaxed) + 1) & data::VERSION_MASK,
        }
    }
    /// The version a write of `key` that does not change it carries.
    pub fn current(&self, key: u64) -> u32 {
        match self {
            Versions::Once => 0,
            Versions::Owned { latest, .. } => latest[key as usize].load(Relaxed),
            Versions::Shared(t) => t[key as usize].load(Relaxed) & data::VERSION_MASK,
        }
    }
}

/// One keyspace: key size, value sizes and version rules.
pub struct Workload {
    /// First byte of every key (one per scenario, so scenarios run against
    /// the same server never read each other's keys).
    pub prefix: u8,
    /// Bytes per key.
    pub key_size: usize,
    /// Value lengths.
    pub sizer: Sizer,
    /// Version rules.
    pub versions: Versions,
    /// On a miss, write the key (cache-aside).
    pub cache_aside: bool,
    /// When set, keys with an even index are stored with this TTL in
    /// milliseconds, the others without one (the `ttl` scenario).
    pub short_ttl: Option<u32>,
}

impl Workload {
    /// The TTL key `k` is stored with, if any.
    pub fn ttl_of(&self, k: u64) -> Option<u32> {
        self.short_ttl.filter(|_| k % 2 == 0)
    }
}

/// One request to send.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// Write `key` at `version`.
    Set {
        /// Key index.
        key: u64,
        /// Version.
        version: u32,
    },
    /// Read `key`.
    Get {
        /// Key index.
        key: u64,
    },
}

/// Where a worker's operations come from.
pub trait Source: Send {
    /// The next operation, or `None` when done.
    fn next(&mut self, wl: &Workload) -> Option<Op>;
}

/// Totals of a run, readable while it goes on.
#[derive(Default)]
pub struct Counters {
    /// Store requests sent.
    pub sets: AtomicU64,
    /// Store requests answered with success.
    pub set_ok: AtomicU64,
    /// User bytes (key + value) of stores sent.
    pub set_bytes: AtomicU64,
    /// User bytes of successful stores.
    pub set_ok_bytes: AtomicU64,
    /// Fetches answered.
    pub gets: AtomicU64,
    /// Fetches that returned a (correct) value.
    pub hits: AtomicU64,
    /// User bytes of those.
    pub hit_bytes: AtomicU64,
    /// Fetches that found nothing.
    pub misses: AtomicU64,
    /// Values that were not the generated bytes of any legal version.
    pub wrong: AtomicU64,
    /// Values of an older version after a newer one was stored.
    pub stale: AtomicU64,
    /// Requests sent whose replies never came (connection lost).
    pub lost: AtomicU64,
    /// Keys from this one on are a scan's: their fetches count in
    /// `scan_gets` / `scan_hits`, not in `gets` / `hits` / `misses`.
    pub scan_from: Option<u64>,
    /// Fetches of scan keys answered.
    pub scan_gets: AtomicU64,
    /// Of those, the ones that returned a (correct) value.
    pub scan_hits: AtomicU64,
    /// Errors by kind.
    pub errors: Mutex<BTreeMap<String, u64>>,
    /// The first few wrong values, described.
    pub wrong_examples: Mutex<Vec<String>>,
}

impl Counters {
    /// Adds one error of `kind`.
    pub fn error(&self, kind: String) {
        *self.errors.lock().unwrap().entry(kind).or_default() += 1;
    }
    /// Total errors.
    pub fn error_total(&self) -> u64 {
        self.errors.lock().unwrap().values().sum()
    }
    /// True when `key` is a scan's (see `scan_from`).
    fn is_scan(&self, key: u64) -> bool {
        self.scan_from.is_some_and(|from| key >= from)
    }
    fn wrong_example(&self, text: String) {
        let mut w = self.wrong_examples.lock().unwrap();
        if w.len() < 5 {
            w.push(text);
        }
    }
}

/// The server under load.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Its address.
    pub addr: SocketAddr,
    /// Its protocol.
    pub wire: Wire,
}

/// Shared settings of one phase.
pub struct Phase {
    /// Server.
    pub target: Target,
    /// Keyspace.
    pub wl: Arc<Workload>,
    /// Requests in flight per connection.
    pub depth: usize,
    /// A connection with no progress this long is given up.
    pub io_timeout: Duration,
    /// Reconnects allowed per worker.
    pub reconnects: u32,
    /// Totals.
    pub counters: Arc<Counters>,
}

/// What a reply must be.
#[derive(Debug, Clone, Copy)]
struct Pending {
    op: Op,
    /// For a read: the version expected (owned keys) or 0.
    expect: u32,
    len: usize,
}

/// A short name for an I/O error.
pub fn io_kind(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset".into(),
        BrokenPipe => "broken pipe".into(),
        UnexpectedEof => "connection closed by server".into(),
        TimedOut => "timeout".into(),
        _ => format!("io: {e}"),
    }
}

/// An error reply, shortened into a kind.
fn reply_kind(what: &str, text: &[u8]) -> String {
    let text = String::from_utf8_lossy(&text[..text.len().min(60)]);
    format!("{what}: {}", text.trim())
}

/// Runs one worker until its source is exhausted or it gives up.
pub async fn worker(phase: Arc<Phase>, mut source: Box<dyn Source>) {
    let mut failures = 0;
    let mut carry: Option<Op> = None;
    loop {
        let stream =
            match tokio::time::timeout(phase.io_timeout, TcpStream::connect(phase.target.addr))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    phase.counters.error(format!("connect: {}", io_kind(&e)));
                    failures += 1;
                    if failures > phase.reconnects {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                Err(_) => {
                    phase.counters.error("connect: timeout".into());
                    failures += 1;
                    if failures > phase.reconnects {
                        return;
                    }
                    continue;
                }
            };
        let _ = stream.set_nodelay(true);
        match run_connection(&phase, stream, &mut source, &mut carry).await {
            Ok(()) => return,
            Err(kind) => {
                phase.counters.error(kind);
                failures += 1;
                if failures > phase.reconnects {
                    return;
                }
            }
        }
    }
}

async fn run_connection(
    phase: &Phase,
    stream: TcpStream,
    source: &mut Box<dyn Source>,
    carry: &mut Option<Op>,
) -> Result<(), String> {
    let (read, write) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Pending>(phase.depth.max(1));
    let (miss_tx, miss_rx) = mpsc::unbounded_channel::<u64>();
    let mut head: Option<Pending> = None;
    let result = {
        let reader = reader(phase, read, &mut rx, &mut head, miss_tx);
        let writer = writer(phase, write, tx, source, miss_rx, carry);
        tokio::try_join!(writer, reader).map(|_| ())
    };
    if result.is_err() {
        // Requests whose replies will never come: their outcome is unknown.
        rx.close();
        let mut lost = 0;
        while let Some(p) = head.take().or_else(|| rx.try_recv().ok()) {
            lost += 1;
            if let (Op::Set { key, .. }, Versions::Owned { uncertain, .. }) =
                (p.op, &phase.wl.versions)
            {
                uncertain[key as usize].store(true, Relaxed);
            }
        }
        phase.counters.lost.fetch_add(lost, Relaxed);
    }
    result
}

async fn timed<T>(
    limit: Duration,
    what: &str,
    f: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    match tokio::time::timeout(limit, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {}", io_kind(&e))),
        Err(_) => Err(format!("{what}: timeout")),
    }
}

async fn writer(
    phase: &Phase,
    mut socket: OwnedWriteHalf,
    tx: mpsc::Sender<Pending>,
    source: &mut Box<dyn Source>,
    mut misses: mpsc::UnboundedReceiver<u64>,
    carry: &mut Option<Op>,
) -> Result<OwnedWriteHalf, String> {
    let wl = &*phase.wl;
    let wire = phase.target.wire;
    let limit = phase.io_timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(BATCH_BYTES * 2);
    let mut key = Vec::with_capacity(wl.key_size);
    loop {
        let op = match carry.take() {
            Some(op) => Some(op),
            None => match misses.try_recv() {
                Ok(k) => Some(Op::Set { key: k, version: wl.versions.current(k) }),
                Err(_) => source.next(wl),
            },
        };
        let Some(op) = op else { break };
        let pending = match op {
            Op::Set { key: k, version } => {
                Pending { op, expect: version, len: wl.sizer.len(k, version) }
            }
            Op::Get { key: k } => Pending { op, expect: wl.versions.current(k), len: 0 },
        };
        match tx.try_send(pending) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(p)) => {
                if !buf.is_empty() {
                    timed(limit, "write", socket.write_all(&buf)).await?;
                    buf.clear();
                }
                if tx.send(p).await.is_err() {
                    *carry = Some(op);
                    return Err("reader gone".into());
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                *carry = Some(op);
                return Err("reader gone".into());
            }
        }
        match op {
            Op::Set { key: k, version } => {
                data::key(wl.prefix, k, wl.key_size, &mut key);
                let len = pending.len;
                let (header, head, body) = data::value(k, version, len);
                let ttl = wl.ttl_of(k);
                match ttl {
                    Some(ms) => wire::set_prefix_ttl(wire, &key, len, ms, &mut buf),
                    None => wire::set_prefix(wire, &key, len, &mut buf),
                }
                buf.extend_from_slice(&header[..head]);
                if body.len() > DIRECT_WRITE {
                    timed(limit, "write", socket.write_all(&buf)).await?;
                    buf.clear();
                    timed(limit, "write", socket.write_all(body)).await?;
                } else {
                    buf.extend_from_slice(body);
                }
                match ttl {
                    Some(ms) => wire::set_suffix_ttl(wire, ms, &mut buf),
                    None => buf.extend_from_slice(wire::set_suffix(wire)),
                }
                // Counted as sent now, so a connection that fails later
                // still shows what it wrote.
                phase.counters.sets.fetch_add(1, Relaxed);
                phase.counters.set_bytes.fetch_add((wl.key_size + len) as u64, Relaxed);
            }
            Op::Get { key: k } => {
                data::key(wl.prefix, k, wl.key_size, &mut key);
                wire::encode_get(wire, &key, &mut buf);
            }
        }
        if buf.len() >= BATCH_BYTES {
            timed(limit, "write", socket.write_all(&buf)).await?;
            buf.clear();
        }
    }
    if !buf.is_empty() {
        timed(limit, "write", socket.write_all(&buf)).await?;
    }
    // The write half goes back to the caller, which keeps it open until
    // every reply has been read: dropping it sends FIN, and Redis closes a
    // connection at EOF without sending the replies still pending.
    Ok(socket)
}

#[derive(Default)]
struct Local {
    set_ok: u64,
    set_ok_bytes: u64,
    gets: u64,
    hits: u64,
    hit_bytes: u64,
    misses: u64,
    scan_gets: u64,
    scan_hits: u64,
}

impl Local {
    /// One more fetch answered: a scan's or a measured one.
    fn count_get(&mut self, scan: bool) {
        match scan {
            true => self.scan_gets += 1,
            false => self.gets += 1,
        }
    }

    fn flush(&mut self, c: &Counters) {
        c.set_ok.fetch_add(self.set_ok, Relaxed);
        c.set_ok_bytes.fetch_add(self.set_ok_bytes, Relaxed);
        c.gets.fetch_add(self.gets, Relaxed);
        c.hits.fetch_add(self.hits, Relaxed);
        c.hit_bytes.fetch_add(self.hit_bytes, Relaxed);
        c.misses.fetch_add(self.misses, Relaxed);
        c.scan_gets.fetch_add(self.scan_gets, Relaxed);
        c.scan_hits.fetch_add(self.scan_hits, Relaxed);
        *self = Local::default();
    }
}

async fn reader(
    phase: &Phase,
    mut socket: OwnedReadHalf,
    rx: &mut mpsc::Receiver<Pending>,
    head: &mut Option<Pending>,
    misses: mpsc::UnboundedSender<u64>,
) -> Result<(), String> {
    let wl = &*phase.wl;
    let wire = phase.target.wire;
    let c = &*phase.counters;
    let mut buf: Vec<u8> = Vec::with_capacity(256 * 1024);
    let mut start = 0usize;
    let mut local = Local::default();
    loop {
        // Answer every complete reply in the buffer.
        loop {
            if head.is_none() {
                *head = rx.try_recv().ok();
            }
            let Some(p) = *head else { break };
            let expect = if matches!(p.op, Op::Set { .. }) { Expect::Set } else { Expect::Get };
            match wire::parse_reply(wire, expect, &buf[start..]) {
                Ok(None) => break,
                Err(e) => {
                    local.flush(c);
                    return Err(format!("protocol: {}", e.0));
                }
                Ok(Some((reply, used))) => {
                    check(wl, c, &mut local, p, reply, &misses);
                    start += used;
                    *head = None;
                }
            }
        }
        local.flush(c);
        if head.is_none() {
            // Nothing outstanding: wait for the writer (or its end).
            match rx.recv().await {
                Some(p) => {
                    *head = Some(p);
                    continue;
                }
                None if start == buf.len() => return Ok(()),
                None => return Err("protocol: reply without a request".into()),
            }
        }
        if start > 0 && (start == buf.len() || start > buf.len() / 2) {
            buf.drain(..start);
            start = 0;
        }
        if buf.capacity() - buf.len() < 64 * 1024 {
            buf.reserve(buf.len().max(64 * 1024));
        }
        match tokio::time::timeout(phase.io_timeout, socket.read_buf(&mut buf)).await {
            Ok(Ok(0)) => return Err("read: connection closed by server".into()),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("read: {}", io_kind(&e))),
            Err(_) => return Err("read: timeout".into()),
        }
    }
}

fn check(
    wl: &Workload,
    c: &Counters,
    local: &mut Local,
    p: Pending,
    reply: ClientReply<'_>,
    misses: &mpsc::UnboundedSender<u64>,
) {
    match (p.op, reply) {
        (Op::Set { key, .. }, ClientReply::Stored) => {
            local.set_ok += 1;
            local.set_ok_bytes += (wl.key_size + p.len) as u64;
            if let Versions::Owned { uncertain, .. } = &wl.versions {
                uncertain[key as usize].store(false, Relaxed);
            }
        }
        (Op::Set { key, .. }, ClientReply::Error(text)) => {
            c.error(reply_kind("set", text));
            if let Versions::Owned { uncertain, .. } = &wl.versions {
                uncertain[key as usize].store(true, Relaxed);
            }
        }
        (Op::Get { key }, ClientReply::Value(v)) => {
            let scan = c.is_scan(key);
            local.count_get(scan);
            match verify(wl, key, p.expect, v) {
                Ok(()) if scan => local.scan_hits += 1,
                Ok(()) => {
                    local.hits += 1;
                    local.hit_bytes += (wl.key_size + v.len()) as u64;
                }
                Err(Wrong::Stale(got)) => {
                    c.stale.fetch_add(1, Relaxed);
                    c.wrong_example(format!(
                        "key {key}: stale version {got}, expected {}",
                        p.expect
                    ));
                }
                Err(Wrong::Bytes(why)) => {
                    c.wrong.fetch_add(1, Relaxed);
                    let shown = String::from_utf8_lossy(&v[..v.len().min(24)]).into_owned();
                    c.wrong_example(format!(
                        "key {key} ({} bytes, starts {shown:?}): {why}",
                        v.len()
                    ));
                }
            }
        }
        (Op::Get { key }, ClientReply::Miss) => {
            let scan = c.is_scan(key);
            local.count_get(scan);
            local.misses += u64::from(!scan);
            if wl.cache_aside {
                let _ = misses.send(key);
            }
        }
        (Op::Get { .. }, ClientReply::Error(text)) => {
            local.gets += 1;
            c.error(reply_kind("get", text));
        }
        (op, other) => {
            c.error(format!("unexpected reply to {op:?}: {other:?}").chars().take(100).collect())
        }
    }
}

enum Wrong {
    Stale(u32),
    Bytes(String),
}

fn verify(wl: &Workload, key: u64, expect: u32, v: &[u8]) -> Result<(), Wrong> {
    let Some(got) = data::version_of(v) else {
        return Err(Wrong::Bytes("no version header".into()));
    };
    let len = wl.sizer.len(key, got);
    let bytes_ok = data::matches(v, key, got, len);
    let legal = match &wl.versions {
        Versions::Once => got == 0,
        Versions::Owned { uncertain, .. } => {
            if got > expect {
                false
            } else if got < expect && !uncertain[key as usize].load(Relaxed) {
                return if bytes_ok {
                    Err(Wrong::Stale(got))
                } else {
                    Err(Wrong::Bytes(format!("version {got}, bytes differ")))
                };
            } else {
                true
            }
        }
        Versions::Shared(t) => got <= (t[key as usize].load(Relaxed) & data::VERSION_MASK),
    };
    if !legal {
        return Err(Wrong::Bytes(format!("version {got} never written (expected {expect})")));
    }
    if !bytes_ok {
        return Err(Wrong::Bytes(format!(
            "version {got}: length {} (want {len}) or bytes differ",
            v.len()
        )));
    }
    Ok(())
}

/// Writes keys `first, first + step, ...` below `end` once each, at
/// version 0 (or the next version when the workload tracks versions).
pub struct RangeFill {
    /// Next key.
    pub next: u64,
    /// Stride.
    pub step: u64,
    /// End (exclusive).
    pub end: u64,
}

impl Source for RangeFill {
    fn next(&mut self, wl: &Workload) -> Option<Op> {
        if self.next >= self.end {
            return None;
        }
        let key = self.next;
        self.next += self.step;
        Some(Op::Set { key, version: wl.versions.bump(key) })
    }
}

/// Reads the given keys.
pub struct Reads(pub std::vec::IntoIter<u64>);

impl Source for Reads {
    fn next(&mut self, _: &Workload) -> Option<Op> {
        self.0.next().map(|key| Op::Get { key })
    }
}

/// Random operations over keys `own, own + owners, ...` below `keys` until
/// a shared byte or operation budget is spent.
pub struct Random {
    /// Generator.
    pub rng: Rng,
    /// This worker's residue class (`owners == 1`: all keys).
    pub own: u64,
    /// Number of classes.
    pub owners: u64,
    /// Key space size.
    pub keys: u64,
    /// Zipf ranks instead of uniform keys.
    pub zipf: Option<data::Zipf>,
    /// Fraction of reads (the rest are writes of a new version).
    pub read_ratio: f64,
    /// Stop once the run's stores carry this many user bytes ...
    pub counters: Arc<Counters>,
    /// ... this many.
    pub bytes_limit: u64,
    /// Shared budget: stop once this many operations are issued ...
    pub ops: Arc<AtomicU64>,
    /// ... out of this many.
    pub ops_limit: u64,
    /// A one-time scan interleaved with these operations.
    pub scan: Option<Scan>,
}

/// A one-time scan: reads of keys `from .. from + count`, each once, in
/// order, shared by every connection (cache-aside writes each miss back,
/// so the scan passes through the cache as a real one would).
pub struct Scan {
    /// Scan keys handed out so far.
    pub next: Arc<AtomicU64>,
    /// First scan key.
    pub from: u64,
    /// Scan keys in all.
    pub count: u64,
    /// Chance that an operation is the scan's next read instead; scan
    /// reads do not count against the operation budget, and the reads
    /// left when the budget is spent come last.
    pub chance: f64,
}

impl Source for Random {
    fn next(&mut self, wl: &Workload) -> Option<Op> {
        if let Some(scan) = &self.scan {
            // Once the budget is spent, what is left of the scan is read
            // before the source ends: the chance only spreads the scan, and
            // a draw that fell short must not leave it unfinished.
            let spent = self.ops.load(Relaxed) >= self.ops_limit;
            if spent || self.rng.unit() < scan.chance {
                let i = scan.next.fetch_add(1, Relaxed);
                if i < scan.count {
                    return Some(Op::Get { key: scan.from + i });
                }
            }
        }
        if self.ops.fetch_add(1, Relaxed) >= self.ops_limit
            || self.counters.set_bytes.load(Relaxed) >= self.bytes_limit
        {
            return None;
        }
        let key = loop {
            let k = match &self.zipf {
                Some(z) => z.sample(&mut self.rng) - 1,
                None => self.rng.below(self.keys),
            };
            if self.owners == 1 {
                break k;
            }
            let k = k - k % self.owners + self.own;
            if k < self.keys {
                break k;
            }
        };
        if self.rng.unit() < self.read_ratio {
            return Some(Op::Get { key });
        }
        Some(Op::Set { key, version: wl.versions.bump(key) })
    }
}

/// Another source's operations until a deadline.
pub struct Until {
    /// The operations.
    pub inner: Box<dyn Source>,
    /// No operation is issued from this moment on.
    pub deadline: Instant,
}

impl Source for Until {
    fn next(&mut self, wl: &Workload) -> Option<Op> {
        if Instant::now() >= self.deadline { None } else { self.inner.next(wl) }
    }
}
