//! Server counters, and the one [`Snapshot`] that INFO/STATS and the
//! Prometheus endpoint both render.
//!
//! Connections count into a private [`LocalCounters`] while they work and
//! merge it into the shared [`ServerStats`] once per read/execute/write
//! cycle, so the hot path touches no shared cache line per command.
//! Per-command counters are indexed by the registry's
//! [`CommandId::slot`](crate::protocol::CommandId::slot): nothing here
//! knows which commands exist.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::memory::{Budget, Reading};
use crate::protocol::{CommandError, CommandId, ERROR_CODES, REGISTRY};
use crate::store::StoreStats;

/// Counter slots: one per command family in the registry, then one for
/// requests that did not parse.
const SLOTS: usize = REGISTRY.len() + 1;

/// The slot of requests that did not parse.
const INVALID: usize = REGISTRY.len();

/// One command in this many is timed (besides the first of each kind in a
/// merge window; see [`LocalCounters::time_this`]). A clock pair costs
/// about 50 ns here, a pipelined GET about 600 ns of server CPU, so
/// timing every command would cost some 8%; one in 16 costs under 1%, and
/// INFO's `usec` is the timed commands' average times all calls.
pub const TIME_EVERY: u64 = 16;

/// Counters one connection accumulates between merges.
#[derive(Debug, Clone)]
pub struct LocalCounters {
    /// Commands answered without error, by registry slot.
    pub ok: [u64; SLOTS],
    /// Commands answered with an error, by registry slot (the last slot:
    /// requests that did not parse).
    pub failed: [u64; SLOTS],
    /// Nanoseconds the timed commands took, by registry slot.
    pub timed_nanos: [u64; SLOTS],
    /// Commands timed, by registry slot (see [`LocalCounters::time_this`]).
    pub timed: [u64; SLOTS],
    /// Commands run since start, for the one-in-[`TIME_EVERY`] choice.
    ticks: u64,
    /// Reads that found a live key.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Writes refused for lack of memory.
    pub rejected_writes: u64,
    /// Bytes read from the client.
    pub bytes_in: u64,
    /// Bytes written to the client.
    pub bytes_out: u64,
    /// Error replies, by [`ERROR_CODES`] index.
    pub errors: [u64; ERROR_CODES.len()],
    /// `slowlog-log-slower-than` in nanoseconds (`u64::MAX`: off), as the
    /// connection last read it; 0 times every command.
    pub slow_after_nanos: u64,
    /// Set by a timed command that took at least `slow_after_nanos`: how
    /// long, for the connection to log it (`crate::engine::slowlog`).
    pub slow: Option<u64>,
}

impl Default for LocalCounters {
    fn default() -> Self {
        LocalCounters {
            ok: [0; SLOTS],
            failed: [0; SLOTS],
            timed_nanos: [0; SLOTS],
            timed: [0; SLOTS],
            ticks: 0,
            hits: 0,
            misses: 0,
            rejected_writes: 0,
            bytes_in: 0,
            bytes_out: 0,
            errors: [0; ERROR_CODES.len()],
            slow_after_nanos: u64::MAX,
            slow: None,
        }
    }
}

impl LocalCounters {
    /// Counts one command.
    pub fn command(&mut self, id: CommandId, ok: bool) {
        if ok {
            self.ok[id.slot()] += 1;
        } else {
            self.failed[id.slot()] += 1;
        }
    }

    /// Whether to time the next command, of kind `id`: the first of its
    /// kind since the last merge (so every kind that ran has a sample,
    /// and an unpipelined client is timed on every command), and one in
    /// [`TIME_EVERY`] besides; every one while the slowlog logs every
    /// command.
    pub fn time_this(&mut self, id: CommandId) -> bool {
        self.ticks = self.ticks.wrapping_add(1);
        self.timed[id.slot()] == 0 || self.ticks % TIME_EVERY == 0 || self.slow_after_nanos == 0
    }

    /// Adds the time one timed command of `id` took to execute.
    pub fn command_time(&mut self, id: CommandId, nanos: u64) {
        self.timed[id.slot()] += 1;
        self.timed_nanos[id.slot()] += nanos;
    }

    /// Counts one request that did not parse, answered with `error`.
    pub fn invalid(&mut self, error: &CommandError) {
        self.failed[INVALID] += 1;
        self.error_reply(error);
    }

    /// Counts one error reply (INFO errorstats).
    pub fn error_reply(&mut self, error: &CommandError) {
        self.errors[error.code()] += 1;
    }
}

/// Process-wide counters.
pub struct ServerStats {
    ok: [AtomicU64; SLOTS],
    failed: [AtomicU64; SLOTS],
    timed_nanos: [AtomicU64; SLOTS],
    timed: [AtomicU64; SLOTS],
    hits: AtomicU64,
    misses: AtomicU64,
    rejected_writes: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    errors: [AtomicU64; ERROR_CODES.len()],
    /// Open client connections.
    pub connections_current: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections refused at the connection limit.
    pub connections_rejected: AtomicU64,
    /// Connections closed because they held buffers without moving them
    /// while other clients waited for buffer memory.
    pub clients_evicted: AtomicU64,
    /// TLS handshakes completed.
    pub tls_handshakes: AtomicU64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: AtomicU64,
    /// Failed AUTH / HELLO AUTH attempts (wrong password, unknown or
    /// disabled user).
    pub auth_failures: AtomicU64,
    /// Commands refused because the user may not run them.
    pub acl_denied_command: AtomicU64,
    /// Commands refused because of a key outside the user's patterns.
    pub acl_denied_key: AtomicU64,
    started: Instant,
}

impl Default for ServerStats {
    fn default() -> Self {
        ServerStats {
            ok: std::array::from_fn(|_| AtomicU64::new(0)),
            failed: std::array::from_fn(|_| AtomicU64::new(0)),
            timed_nanos: std::array::from_fn(|_| AtomicU64::new(0)),
            timed: std::array::from_fn(|_| AtomicU64::new(0)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected_writes: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            connections_current: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            clients_evicted: AtomicU64::new(0),
            tls_handshakes: AtomicU64::new(0),
            tls_handshake_failures: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            acl_denied_command: AtomicU64::new(0),
            acl_denied_key: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

/// Calls of one command family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandCalls {
    /// The family's registry name.
    pub name: &'static str,
    /// Answered without error.
    pub ok: u64,
    /// Answered with an error.
    pub failed: u64,
    /// Nanoseconds spent executing them (from the parsed request to the
    /// encoded reply; reading and writing the socket not included),
    /// estimated from the commands timed: their mean times `ok + failed`.
    pub nanos: u64,
}

impl CommandCalls {
    /// Calls answered, with or without error.
    pub fn calls(&self) -> u64 {
        self.ok + self.failed
    }

    /// Microseconds spent, as Redis's `usec`.
    pub fn usec(&self) -> u64 {
        self.nanos / 1000
    }

    /// Microseconds per call, as Redis's `usec_per_call` (0 without calls).
    pub fn usec_per_call(&self) -> f64 {
        match self.calls() {
            0 => 0.0,
            calls => self.nanos as f64 / 1000.0 / calls as f64,
        }
    }
}

/// A copy of [`ServerStats`] at one moment.
#[derive(Debug, Clone, Default)]
pub struct StatsSnapshot {
    /// Calls by command family, in registry order.
    pub commands: Vec<CommandCalls>,
    /// Requests that did not parse (unknown command, wrong arity, ...).
    pub invalid: u64,
    /// Key hits.
    pub hits: u64,
    /// Key misses.
    pub misses: u64,
    /// Writes refused for lack of memory.
    pub rejected_writes: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Error replies by code, in [`ERROR_CODES`] order (INFO errorstats).
    pub errors: [u64; ERROR_CODES.len()],
    /// Open connections.
    pub connections_current: u64,
    /// Connections accepted.
    pub connections_total: u64,
    /// Connections refused.
    pub connections_rejected: u64,
    /// Connections evicted for holding buffers others waited for.
    pub clients_evicted: u64,
    /// TLS handshakes completed.
    pub tls_handshakes: u64,
    /// TLS handshakes that failed or timed out.
    pub tls_handshake_failures: u64,
    /// Failed authentication attempts.
    pub auth_failures: u64,
    /// Commands refused for the command.
    pub acl_denied_command: u64,
    /// Commands refused for a key.
    pub acl_denied_key: u64,
    /// Seconds since start.
    pub uptime_secs: u64,
}

impl StatsSnapshot {
    /// Error replies of every code (Redis's `total_error_replies`).
    pub fn total_error_replies(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// All commands processed, invalid requests included.
    pub fn total_commands(&self) -> u64 {
        self.invalid + self.commands.iter().map(|c| c.ok + c.failed).sum::<u64>()
    }
}

impl ServerStats {
    /// Adds a connection's counters and zeroes them.
    pub fn merge(&self, local: &mut LocalCounters) {
        for (i, n) in local.ok.iter_mut().enumerate().filter(|(_, n)| **n > 0) {
            self.ok[i].fetch_add(std::mem::take(n), Ordering::Relaxed);
        }
        for (i, n) in local.failed.iter_mut().enumerate().filter(|(_, n)| **n > 0) {
            self.failed[i].fetch_add(std::mem::take(n), Ordering::Relaxed);
        }
        for (i, n) in local.timed.iter_mut().enumerate().filter(|(_, n)| **n > 0) {
            self.timed[i].fetch_add(std::mem::take(n), Ordering::Relaxed);
            let nanos = std::mem::take(&mut local.timed_nanos[i]);
            self.timed_nanos[i].fetch_add(nanos, Ordering::Relaxed);
        }
        for (i, n) in local.errors.iter_mut().enumerate().filter(|(_, n)| **n > 0) {
            self.errors[i].fetch_add(std::mem::take(n), Ordering::Relaxed);
        }
        for (shared, n) in [
            (&self.hits, &mut local.hits),
            (&self.misses, &mut local.misses),
            (&self.rejected_writes, &mut local.rejected_writes),
            (&self.bytes_in, &mut local.bytes_in),
            (&self.bytes_out, &mut local.bytes_out),
        ] {
            if *n > 0 {
                shared.fetch_add(std::mem::take(n), Ordering::Relaxed);
            }
        }
    }

    /// Adds bytes read and written outside a counted round.
    pub fn count_io(&self, bytes_in: u64, bytes_out: u64) {
        if bytes_in > 0 {
            self.bytes_in.fetch_add(bytes_in, Ordering::Relaxed);
        }
        if bytes_out > 0 {
            self.bytes_out.fetch_add(bytes_out, Ordering::Relaxed);
        }
    }

    /// `CONFIG RESETSTAT`: zeroes every counter, as Redis does; the open
    /// connections and the uptime are states, not counters, and stay.
    /// Counts other connections have not merged yet arrive afterwards.
    pub fn reset(&self) {
        let zero = |a: &AtomicU64| a.store(0, Ordering::Relaxed);
        for counters in [&self.ok, &self.failed, &self.timed_nanos, &self.timed] {
            counters.iter().for_each(zero);
        }
        self.errors.iter().for_each(zero);
        for a in [
            &self.hits,
            &self.misses,
            &self.rejected_writes,
            &self.bytes_in,
            &self.bytes_out,
            &self.connections_total,
            &self.connections_rejected,
            &self.clients_evicted,
            &self.tls_handshakes,
            &self.tls_handshake_failures,
            &self.auth_failures,
            &self.acl_denied_command,
            &self.acl_denied_key,
        ] {
            zero(a);
        }
    }

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let commands = CommandId::ALL
            .iter()
            .map(|&id| {
                let (ok, failed) = (load(&self.ok[id.slot()]), load(&self.failed[id.slot()]));
                let timed = load(&self.timed[id.slot()]);
                let nanos = estimate(load(&self.timed_nanos[id.slot()]), timed, ok + failed);
                CommandCalls { name: id.name(), ok, failed, nanos }
            })
            .collect();
        StatsSnapshot {
            commands,
            invalid: load(&self.failed[INVALID]),
            hits: load(&self.hits),
            misses: load(&self.misses),
            rejected_writes: load(&self.rejected_writes),
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            errors: std::array::from_fn(|i| load(&self.errors[i])),
            connections_current: load(&self.connections_current),
            connections_total: load(&self.connections_total),
            connections_rejected: load(&self.connections_rejected),
            clients_evicted: load(&self.clients_evicted),
            tls_handshakes: load(&self.tls_handshakes),
            tls_handshake_failures: load(&self.tls_handshake_failures),
            auth_failures: load(&self.auth_failures),
            acl_denied_command: load(&self.acl_denied_command),
            acl_denied_key: load(&self.acl_denied_key),
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }
}

/// Total time of `calls` commands of which `timed` took `timed_nanos`.
fn estimate(timed_nanos: u64, timed: u64, calls: u64) -> u64 {
    match timed {
        0 => 0,
        // The counters are read one by one while others merge: never
        // report more calls timed than made.
        t => {
            let total = u128::from(timed_nanos) * u128::from(calls.max(t)) / u128::from(t);
            u64::try_from(total).unwrap_or(u64::MAX)
        }
    }
}

/// Everything INFO, STATS and `/metrics` report, read at one moment, so
/// the two renderings can never gather their numbers differently.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Server counters.
    pub stats: StatsSnapshot,
    /// Store sizes and eviction counters.
    pub store: StoreStats,
    /// The governor's latest measurement.
    pub reading: Reading,
    /// The memory budget.
    pub budget: u64,
    /// Connection buffer bytes, now.
    pub buffer_bytes: u64,
    /// The container (cgroup) memory limit, if one was detected.
    pub hard_limit: Option<u64>,
}

impl Snapshot {
    /// Reads every source once (locks each store shard briefly).
    pub fn take(stats: &ServerStats, budget: &Budget, hard_limit: Option<u64>) -> Snapshot {
        Snapshot {
            stats: stats.snapshot(),
            store: budget.store().stats(),
            reading: budget.reading(),
            budget: budget.limit(),
            buffer_bytes: budget.buffer_bytes() as u64,
            hard_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_timed_at_least_once_per_merge_and_one_in_16_besides() {
        let stats = ServerStats::default();
        let mut local = LocalCounters::default();
        let mut timed = 0;
        for _ in 0..1600 {
            if local.time_this(CommandId::Get) {
                local.command_time(CommandId::Get, 100);
                timed += 1;
            }
            local.command(CommandId::Get, true);
        }
        // The first, then one in 16 (the 16th tick is one of them).
        assert_eq!(timed, 1 + 100);
        // A rare kind is timed the first time it runs in a window.
        assert!(local.time_this(CommandId::Set));
        local.command_time(CommandId::Set, 5_000);
        local.command(CommandId::Set, false);
        stats.merge(&mut local);
        assert!(local.time_this(CommandId::Get), "a new window times the first again");
        let snapshot = stats.snapshot();
        let get = snapshot.commands.iter().find(|c| c.name == CommandId::Get.name()).unwrap();
        assert_eq!((get.calls(), get.nanos), (1600, 160_000));
        assert_eq!(get.usec(), 160);
        assert!((get.usec_per_call() - 0.1).abs() < 1e-9);
        let set = snapshot.commands.iter().find(|c| c.name == CommandId::Set.name()).unwrap();
        assert_eq!((set.calls(), set.failed, set.nanos), (1, 1, 5_000));
    }

    #[test]
    fn estimates_never_divide_by_zero() {
        assert_eq!(estimate(0, 0, 10), 0);
        assert_eq!(estimate(300, 3, 30), 3000);
        assert_eq!(estimate(300, 3, 2), 300, "more timed than counted: no more than measured");
        assert_eq!(estimate(u64::MAX, 1, u64::MAX), u64::MAX);
    }
}
