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
use crate::protocol::{CommandId, REGISTRY};
use crate::store::StoreStats;

/// Counter slots: one per command family in the registry, then one for
/// requests that did not parse.
const SLOTS: usize = REGISTRY.len() + 1;

/// The slot of requests that did not parse.
const INVALID: usize = REGISTRY.len();

/// Counters one connection accumulates between merges.
#[derive(Debug, Clone)]
pub struct LocalCounters {
    /// Commands answered without error, by registry slot.
    pub ok: [u64; SLOTS],
    /// Commands answered with an error, by registry slot (the last slot:
    /// requests that did not parse).
    pub failed: [u64; SLOTS],
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
}

impl Default for LocalCounters {
    fn default() -> Self {
        LocalCounters {
            ok: [0; SLOTS],
            failed: [0; SLOTS],
            hits: 0,
            misses: 0,
            rejected_writes: 0,
            bytes_in: 0,
            bytes_out: 0,
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

    /// Counts one request that did not parse.
    pub fn invalid(&mut self) {
        self.failed[INVALID] += 1;
    }
}

/// Process-wide counters.
pub struct ServerStats {
    ok: [AtomicU64; SLOTS],
    failed: [AtomicU64; SLOTS],
    hits: AtomicU64,
    misses: AtomicU64,
    rejected_writes: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    /// Open client connections.
    pub connections_current: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Connections refused at the connection limit.
    pub connections_rejected: AtomicU64,
    /// Connections closed because they held buffers without moving them
    /// while other clients waited for buffer memory.
    pub clients_evicted: AtomicU64,
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
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            rejected_writes: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            connections_current: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            clients_evicted: AtomicU64::new(0),
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
    /// Open connections.
    pub connections_current: u64,
    /// Connections accepted.
    pub connections_total: u64,
    /// Connections refused.
    pub connections_rejected: u64,
    /// Connections evicted for holding buffers others waited for.
    pub clients_evicted: u64,
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

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let commands = CommandId::ALL
            .iter()
            .map(|&id| CommandCalls {
                name: id.name(),
                ok: load(&self.ok[id.slot()]),
                failed: load(&self.failed[id.slot()]),
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
            connections_current: load(&self.connections_current),
            connections_total: load(&self.connections_total),
            connections_rejected: load(&self.connections_rejected),
            clients_evicted: load(&self.clients_evicted),
            auth_failures: load(&self.auth_failures),
            acl_denied_command: load(&self.acl_denied_command),
            acl_denied_key: load(&self.acl_denied_key),
            uptime_secs: self.started.elapsed().as_secs(),
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
