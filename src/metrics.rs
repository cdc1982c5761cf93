//! Server counters, shared by STATS/INFO and the Prometheus endpoint.
//!
//! Connections count into a private [`LocalCounters`] while they work and
//! merge it into the shared [`ServerStats`] once per read/execute/write
//! cycle, so the hot path touches no shared cache line per command.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::protocol::Command;

macro_rules! command_kinds {
    ($($kind:ident => $name:literal),* $(,)?) => {
        /// A command family, for per-command counters.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(usize)]
        pub enum CommandKind {
            $(
                #[doc = concat!("`", $name, "`")]
                $kind,
            )*
        }

        impl CommandKind {
            /// Every kind, in counter order.
            pub const ALL: &'static [CommandKind] = &[$(CommandKind::$kind),*];

            /// Lower-case name used in metrics and INFO.
            pub fn name(self) -> &'static str {
                match self {
                    $(CommandKind::$kind => $name,)*
                }
            }
        }
    };
}

command_kinds! {
    Get => "get",
    Set => "set",
    Del => "del",
    GetDel => "getdel",
    GetEx => "getex",
    Exists => "exists",
    Expire => "expire",
    Persist => "persist",
    Ttl => "ttl",
    MGet => "mget",
    MSet => "mset",
    IncrBy => "incrby",
    Append => "append",
    StrLen => "strlen",
    DbSize => "dbsize",
    FlushAll => "flushall",
    Ping => "ping",
    Echo => "echo",
    Select => "select",
    Quit => "quit",
    Info => "info",
    Config => "config",
    CommandInfo => "command",
    Client => "client",
    Hello => "hello",
    Invalid => "invalid",
}

const KINDS: usize = CommandKind::ALL.len();

impl CommandKind {
    /// The family of a parsed command.
    pub fn of(command: &Command<'_>) -> CommandKind {
        match command {
            Command::Get { .. } => CommandKind::Get,
            Command::Set { .. } => CommandKind::Set,
            Command::Del { .. } => CommandKind::Del,
            Command::GetDel { .. } => CommandKind::GetDel,
            Command::GetEx { .. } => CommandKind::GetEx,
            Command::Exists { .. } => CommandKind::Exists,
            Command::Expire { .. } => CommandKind::Expire,
            Command::Persist { .. } => CommandKind::Persist,
            Command::Ttl { .. } => CommandKind::Ttl,
            Command::MGet { .. } => CommandKind::MGet,
            Command::MSet { .. } => CommandKind::MSet,
            Command::IncrBy { .. } => CommandKind::IncrBy,
            Command::Append { .. } => CommandKind::Append,
            Command::StrLen { .. } => CommandKind::StrLen,
            Command::DbSize => CommandKind::DbSize,
            Command::FlushAll => CommandKind::FlushAll,
            Command::Ping { .. } => CommandKind::Ping,
            Command::Echo { .. } => CommandKind::Echo,
            Command::Select { .. } => CommandKind::Select,
            Command::Quit => CommandKind::Quit,
            Command::Info { .. } => CommandKind::Info,
            Command::ConfigGet { .. } | Command::ConfigOther => CommandKind::Config,
            Command::CommandInfo { .. } => CommandKind::CommandInfo,
            Command::Client { .. } => CommandKind::Client,
            Command::Hello { .. } => CommandKind::Hello,
        }
    }
}

/// Counters one connection accumulates between merges.
#[derive(Debug, Default, Clone)]
pub struct LocalCounters {
    /// Commands answered without error, by kind.
    pub ok: [u64; KINDS],
    /// Commands answered with an error, by kind.
    pub failed: [u64; KINDS],
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

impl LocalCounters {
    /// Counts one command.
    pub fn command(&mut self, kind: CommandKind, ok: bool) {
        if ok {
            self.ok[kind as usize] += 1;
        } else {
            self.failed[kind as usize] += 1;
        }
    }
}

/// Process-wide counters.
pub struct ServerStats {
    ok: [AtomicU64; KINDS],
    failed: [AtomicU64; KINDS],
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
            started: Instant::now(),
        }
    }
}

/// A copy of [`ServerStats`] at one moment.
#[derive(Debug, Clone, Default)]
pub struct StatsSnapshot {
    /// Successful commands by kind.
    pub ok: Vec<(CommandKind, u64)>,
    /// Failed commands by kind.
    pub failed: Vec<(CommandKind, u64)>,
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
    /// Seconds since start.
    pub uptime_secs: u64,
}

impl StatsSnapshot {
    /// All commands processed.
    pub fn total_commands(&self) -> u64 {
        self.ok.iter().chain(&self.failed).map(|(_, n)| n).sum()
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

    /// Reads every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let by_kind = |arr: &[AtomicU64; KINDS]| {
            CommandKind::ALL.iter().map(|&k| (k, load(&arr[k as usize]))).collect()
        };
        StatsSnapshot {
            ok: by_kind(&self.ok),
            failed: by_kind(&self.failed),
            hits: load(&self.hits),
            misses: load(&self.misses),
            rejected_writes: load(&self.rejected_writes),
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            connections_current: load(&self.connections_current),
            connections_total: load(&self.connections_total),
            connections_rejected: load(&self.connections_rejected),
            clients_evicted: load(&self.clients_evicted),
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }
}
