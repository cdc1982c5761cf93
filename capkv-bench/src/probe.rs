//! The probe: is the server still answering a newcomer?
//!
//! A server can keep its memory limit and still fail its clients by
//! freezing: thousands of connections holding buffer memory, and a fresh
//! client's request waits behind them. So during every scenario a probe
//! opens a fresh connection every 100 ms, sends a liveness check (`PING`,
//! memcached's `version`) and a `GET` of a key it wrote at the start, and
//! times connect + both replies. Each probe runs in its own task, so one
//! that hangs does not delay the next; a probe with no complete answer
//! within the deadline (5 s), or whose connection fails or is refused,
//! counts as unanswered. The known key may legally be evicted (a miss), but
//! a value that is not its value is wrong, like any wrong value.
//!
//! The probe runs on a thread and runtime of its own: on the load's
//! runtime, a probe's reply would wait behind thousands of the scenario's
//! own connections (the flood's 10,000) and measure the client, not the
//! server.
//!
//! The verdict (any probe over 1 s or unanswered fails CI) is
//! `scripts/scenario_report.py`'s: this module only measures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::data;
use crate::engine::{Target, io_kind};
use crate::json::Obj;
use crate::wire::{self, ClientReply, Expect};

/// Key prefix of the probe's known key (no scenario uses it).
const PREFIX: u8 = b'p';
/// Length of the known key's value.
const VALUE_LEN: usize = 100;

/// How the probe runs.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A fresh probe this often.
    pub every: Duration,
    /// A probe not answered within this is unanswered.
    pub deadline: Duration,
    /// Key size of the known key.
    pub key_size: usize,
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Both replies came: how long connect + replies took, and what the
    /// GET found.
    Answered { ms: f64, get: Get },
    /// No complete answer within the deadline.
    TimedOut,
    /// The connection failed, was refused or closed, or the server sent an
    /// error instead of an answer.
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Get {
    Hit,
    Miss,
    Wrong,
}

/// What the probes found, rendered as the scenario's `probe` object.
#[derive(Debug, Default)]
pub struct Report {
    answered_ms: Vec<f64>,
    timed_out: u64,
    failed: u64,
    misses: u64,
    /// GETs that returned something other than the known key's value.
    pub wrong: u64,
    errors: BTreeMap<String, u64>,
    every: Duration,
    deadline: Duration,
}

impl Report {
    fn add(&mut self, o: Outcome) {
        match o {
            Outcome::Answered { ms, get } => {
                self.answered_ms.push(ms);
                match get {
                    Get::Hit => {}
                    Get::Miss => self.misses += 1,
                    Get::Wrong => self.wrong += 1,
                }
            }
            Outcome::TimedOut => self.timed_out += 1,
            Outcome::Failed(why) => {
                self.failed += 1;
                *self.errors.entry(why).or_default() += 1;
            }
        }
    }

    /// `{count, answered, unanswered, timed_out, failed, misses, wrong,
    /// p50_ms, p99_ms, max_ms, ...}`; the latencies are over answered
    /// probes (`null` when none was), `count = answered + unanswered` and
    /// `unanswered = timed_out + failed`.
    pub fn to_obj(&self) -> Obj {
        let mut sorted = self.answered_ms.clone();
        sorted.sort_by(f64::total_cmp);
        let ms = |v: Option<f64>| v.map_or("null".to_string(), |v| format!("{v:.3}"));
        let mut errors = Obj::new();
        for (k, v) in &self.errors {
            errors.int(k, *v);
        }
        let unanswered = self.timed_out + self.failed;
        let mut o = Obj::new();
        o.int("count", sorted.len() as u64 + unanswered)
            .int("answered", sorted.len() as u64)
            .int("unanswered", unanswered)
            .int("timed_out", self.timed_out)
            .int("failed", self.failed)
            .int("misses", self.misses)
            .int("wrong", self.wrong)
            .raw("p50_ms", ms(percentile(&sorted, 50.0)))
            .raw("p99_ms", ms(percentile(&sorted, 99.0)))
            .raw("max_ms", ms(sorted.last().copied()))
            .int("interval_ms", self.every.as_millis() as u64)
            .int("deadline_ms", self.deadline.as_millis() as u64)
            .obj("errors", &errors);
        o
    }
}

/// The `p`-th percentile (0 < p <= 100) of ascending `sorted` values by
/// the nearest-rank method: the smallest value with at least p% of the
/// values at or below it. `None` for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn known_key(s: &Settings) -> Vec<u8> {
    let mut key = Vec::new();
    data::key(PREFIX, 0, s.key_size, &mut key);
    key
}

/// Writes the known key (once, before the first probe); on failure the
/// probes' GETs simply miss.
async fn store_known(target: Target, s: &Settings) -> Result<(), String> {
    let key = known_key(s);
    let (header, head, body) = data::value(0, 0, VALUE_LEN);
    let mut req = Vec::new();
    wire::set_prefix(target.wire, &key, VALUE_LEN, &mut req);
    req.extend_from_slice(&header[..head]);
    req.extend_from_slice(body);
    req.extend_from_slice(wire::set_suffix(target.wire));
    let exchange = async {
        let mut sock = TcpStream::connect(target.addr).await.map_err(|e| io_kind(&e))?;
        sock.write_all(&req).await.map_err(|e| io_kind(&e))?;
        let mut buf = Vec::new();
        loop {
            match wire::parse_reply(target.wire, Expect::Set, &buf).map_err(|e| e.0)? {
                Some((ClientReply::Stored, _)) => return Ok(()),
                Some((other, _)) => return Err(format!("set: {other:?}")),
                None => {}
            }
            if sock.read_buf(&mut buf).await.map_err(|e| io_kind(&e))? == 0 {
                return Err("closed".into());
            }
        }
    };
    tokio::time::timeout(s.deadline, exchange).await.map_err(|_| "timeout".to_string())?
}

/// One probe: connect, PING and GET in one write, both replies read.
async fn once(target: Target, s: Settings) -> Outcome {
    let start = Instant::now();
    let key = known_key(&s);
    let exchange = async {
        let mut sock = TcpStream::connect(target.addr)
            .await
            .map_err(|e| format!("connect: {}", io_kind(&e)))?;
        let _ = sock.set_nodelay(true);
        let mut req = Vec::new();
        wire::encode_ping(target.wire, &mut req);
        wire::encode_get(target.wire, &key, &mut req);
        sock.write_all(&req).await.map_err(|e| format!("write: {}", io_kind(&e)))?;
        let mut buf = Vec::with_capacity(512);
        let mut at = 0;
        let mut ponged = false;
        loop {
            let expect = if ponged { Expect::Get } else { Expect::Ping };
            match wire::parse_reply(target.wire, expect, &buf[at..]) {
                Err(e) => return Err(format!("protocol: {}", e.0)),
                Ok(None) => {}
                Ok(Some((ClientReply::Error(text), _))) => {
                    let text = String::from_utf8_lossy(&text[..text.len().min(60)]).into_owned();
                    return Err(format!("error reply: {}", text.trim()));
                }
                Ok(Some((_, used))) if !ponged => {
                    ponged = true;
                    at += used;
                    continue;
                }
                Ok(Some((ClientReply::Value(v), _))) => {
                    let ok = data::matches(v, 0, 0, VALUE_LEN);
                    return Ok(if ok { Get::Hit } else { Get::Wrong });
                }
                Ok(Some((ClientReply::Miss, _))) => return Ok(Get::Miss),
                Ok(Some((other, _))) => return Err(format!("unexpected GET reply {other:?}")),
            }
            match sock.read_buf(&mut buf).await {
                Ok(0) => return Err("read: connection closed by server".into()),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {}", io_kind(&e))),
            }
        }
    };
    match tokio::time::timeout(s.deadline, exchange).await {
        Err(_) => Outcome::TimedOut,
        Ok(Err(why)) => Outcome::Failed(why),
        Ok(Ok(get)) => Outcome::Answered { ms: start.elapsed().as_secs_f64() * 1e3, get },
    }
}

/// Starts [`run`] on a thread with a single-threaded runtime of its own;
/// the thread's result is the report.
pub fn spawn(
    target: Target,
    s: Settings,
    stop: watch::Receiver<bool>,
) -> std::thread::JoinHandle<Report> {
    std::thread::Builder::new()
        .name("probe".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("probe runtime");
            runtime.block_on(run(target, s, stop))
        })
        .expect("probe thread")
}

/// Probes `target` every `s.every` until `stop` turns true, then waits for
/// the probes still out (each at most `s.deadline`).
async fn run(target: Target, s: Settings, mut stop: watch::Receiver<bool>) -> Report {
    let mut report = Report { every: s.every, deadline: s.deadline, ..Report::default() };
    if let Err(why) = store_known(target, &s).await {
        *report.errors.entry(format!("storing the known key: {why}")).or_default() += 1;
    }
    let mut tick = tokio::time::interval(s.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = JoinSet::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        if *stop.borrow() {
            break;
        }
        out.spawn(once(target, s));
        while let Some(done) = out.try_join_next() {
            report.add(done.unwrap_or_else(|e| Outcome::Failed(format!("probe task: {e}"))));
        }
    }
    while let Some(done) = out.join_next().await {
        report.add(done.unwrap_or_else(|e| Outcome::Failed(format!("probe task: {e}"))));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[7.0], 50.0), Some(7.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.5), Some(1.0));
        // Ten values: p99 is the largest, p50 the fifth.
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(5.0));
        assert_eq!(percentile(&v, 99.0), Some(10.0));
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 50.0), Some(2.0));
        assert_eq!(percentile(&[1.0, 2.0], 50.0), Some(1.0));
    }

    #[test]
    fn the_report_adds_up() {
        let mut r = Report { every: Duration::from_millis(100), ..Report::default() };
        for ms in [3.0, 1.0, 2.0] {
            r.add(Outcome::Answered { ms, get: Get::Hit });
        }
        r.add(Outcome::Answered { ms: 900.0, get: Get::Miss });
        r.add(Outcome::TimedOut);
        r.add(Outcome::Failed("connect: connection refused".into()));
        r.add(Outcome::Failed("connect: connection refused".into()));
        let text = r.to_obj().render();
        assert!(text.starts_with(
            r#"{"count":7,"answered":4,"unanswered":3,"timed_out":1,"failed":2,"misses":1,"wrong":0,"p50_ms":2.000,"p99_ms":900.000,"max_ms":900.000,"interval_ms":100,"#
        ), "{text}");
        assert!(text.ends_with(r#""errors":{"connect: connection refused":2}}"#), "{text}");
        let empty = Report::default().to_obj().render();
        assert!(empty.contains(r#""count":0,"#) && empty.contains(r#""p50_ms":null"#), "{empty}");
    }
}
