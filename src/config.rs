//! Configuration: command-line flags (each also a `CAPKV_*` environment
//! variable), validated into a plain [`Config`] the rest of the crate uses.
//!
//! The memory budget is the one setting with a story: by default it is
//! the container limit (cgroup v2 `memory.max`, else v1) minus headroom,
//! or a quarter of RAM outside a container. The headroom covers what can
//! move between two governor ticks and what the kernel charges outside the
//! allocator (page tables, thread stacks); see [`default_headroom`].

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use clap::{Parser, ValueEnum};

use crate::acl::{Access, AuthConfig};

use crate::memory::budget::BUFFER_SHARE;
use crate::memory::{Bounds, Cgroup};
use crate::protocol::Limits;
use crate::server::tls::{ClientAuth, TlsSettings};
use crate::store::{StoreConfig, index};
use crate::units::{parse_duration, parse_size, show};

const MIB: u64 = 1 << 20;

/// `--max-value-size` when not given, if the budget allows (16 MiB, the
/// size a request under the default `--max-client-buffer` of 64 MiB
/// always fits; Redis accepts 512 MB, memcached 1 MB).
pub const DEFAULT_MAX_VALUE: u64 = 16 * MIB;

/// Largest `--max-value-size` (Redis's `proto-max-bulk-len` default).
pub const MOST_MAX_VALUE: u64 = 512 * MIB;

/// Longest line-protocol value unless `--max-value-size` is given: the
/// seed protocol's 256 KiB. A line has no length header, so a connection
/// halfway through a long line holds room for the longest one; at 16 MiB
/// a few hundred slow writers would hold the buffers' whole share. An
/// explicit `--max-value-size` applies to lines too.
pub const DEFAULT_MAX_LINE_VALUE: u64 = 256 * 1024;

/// Why a configuration was refused. Each message names the flag.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A flag's value is outside what capkv supports.
    #[error("{flag}: {reason}")]
    Invalid {
        /// The flag, e.g. `--segment-size`.
        flag: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(flag: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid { flag, reason: reason.into() }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// capkv: an in-memory key-value cache that never outgrows its memory limit.
///
/// Speaks the seed's line protocol (`PUT k v`, `GET k`) and RESP2 (Redis
/// clients) on the same port. Every flag can also be set through the
/// environment variable shown next to it.
#[derive(Debug, Clone, Parser)]
#[command(name = "capkv", version, about, long_about = None)]
pub struct Cli {
    /// Address to listen on.
    #[arg(long, env = "CAPKV_BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// TCP port for both protocols (0 picks a free port).
    #[arg(long, env = "CAPKV_PORT", default_value_t = 7171)]
    pub port: u16,
    /// Memory budget for the whole process, e.g. `1536mb`, `2g`, or bytes.
    /// Default: the container's limit minus headroom, else 25% of RAM.
    #[arg(long, env = "CAPKV_MAX_MEMORY", value_parser = parse_size)]
    pub max_memory: Option<u64>,
    /// Headroom kept between the container limit and the default budget.
    /// Default: 3% of the limit, at least 8 MiB.
    #[arg(long, env = "CAPKV_HEADROOM", value_parser = parse_size)]
    pub headroom: Option<u64>,
    /// Size of one segment; a larger item gets an allocation of its own.
    #[arg(long, env = "CAPKV_SEGMENT_SIZE", default_value = "1mb", value_parser = parse_size)]
    pub segment_size: u64,
    /// Number of shards (independent locks).
    #[arg(long, env = "CAPKV_SHARDS", default_value_t = 16)]
    pub shards: usize,
    /// Most concurrent client connections; more are refused.
    #[arg(long, env = "CAPKV_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
    /// Longest key accepted.
    #[arg(long, env = "CAPKV_MAX_KEY_SIZE", default_value = "256", value_parser = parse_size)]
    pub max_key_size: u64,
    /// Longest value accepted, at most 512mb (a request must also fit
    /// --max-client-buffer and an eighth of the budget). Default: 16mb, or
    /// what an eighth of a small budget holds; line-protocol PUTs 256kb
    /// unless this flag is given.
    #[arg(long, env = "CAPKV_MAX_VALUE_SIZE", value_parser = parse_size)]
    pub max_value_size: Option<u64>,
    /// Close connections idle this long, e.g. `300s`, `5m` (0 = never).
    #[arg(long, env = "CAPKV_IDLE_TIMEOUT", default_value = "0", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Largest request or reply one connection may buffer; a request over
    /// it is refused and the connection closed.
    #[arg(long, env = "CAPKV_MAX_CLIENT_BUFFER", default_value = "64mb", value_parser = parse_size)]
    pub max_client_buffer: u64,
    /// Kernel send and receive buffer of each client socket (SO_SNDBUF,
    /// SO_RCVBUF; the kernel caps it at net.core.wmem_max / rmem_max).
    /// 0 leaves the kernel's autotuning, which lets one socket grow to
    /// tcp_rmem's maximum (6 MiB or more); under cgroup v2 the container is
    /// charged for it.
    #[arg(long, env = "CAPKV_SOCKET_BUFFER", default_value = "256kb", value_parser = parse_size)]
    pub socket_buffer: u64,
    /// Disconnect a client that leaves replies unread this long.
    #[arg(long, env = "CAPKV_WRITE_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub write_timeout: Duration,
    /// Port for Prometheus `/metrics`, `/healthz` and `/readyz` (0 disables).
    /// Taken even when only --port was asked for: pick another with this
    /// flag if 9171 is in use.
    #[arg(long, env = "CAPKV_METRICS_PORT", default_value_t = 9171)]
    pub metrics_port: u16,
    /// Address the metrics port listens on. Default: the same as --bind.
    /// It serves counters only, without a password: `127.0.0.1` keeps it
    /// on the machine.
    #[arg(long, env = "CAPKV_METRICS_BIND")]
    pub metrics_bind: Option<IpAddr>,
    /// How long SIGTERM/SIGINT waits for connections to finish.
    #[arg(long, env = "CAPKV_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
    /// Tokio worker threads. Default: the CPUs this process may use (cgroup
    /// CPU quota and affinity), not the host's core count.
    #[arg(long, env = "CAPKV_WORKERS")]
    pub workers: Option<usize>,
    /// Log format.
    #[arg(long, env = "CAPKV_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log level or tracing filter, e.g. `info`, `capkv=debug`.
    #[arg(long, env = "CAPKV_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// TCP port that speaks only Redis's protocol (RESP2/RESP3, inline
    /// commands as Redis parses them), for redis-cli, telnet and Redis's
    /// own test suite. 0 disables it.
    #[arg(long, env = "CAPKV_REDIS_PORT", default_value_t = 6379)]
    pub redis_port: u16,

    /// TCP port for TLS clients, both protocols (off unless set; 6380 is
    /// the usual choice). Needs --tls-cert-file and --tls-key-file.
    #[arg(long, env = "CAPKV_TLS_PORT")]
    pub tls_port: Option<u16>,
    /// Certificate chain for --tls-port (PEM, leaf first); reread when it
    /// changes and on SIGHUP.
    #[arg(long, env = "CAPKV_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// Private key of the certificate (PEM); reread with it.
    #[arg(long, env = "CAPKV_TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to.
    #[arg(long, env = "CAPKV_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Client certificates: `yes` (required), `optional`, `no`. Default:
    /// `yes` with --tls-ca-cert-file, else `no`.
    #[arg(long, env = "CAPKV_TLS_AUTH_CLIENTS", value_enum)]
    pub tls_auth_clients: Option<ClientAuth>,
    // Authentication and ACL (docs/OPERATIONS.md, "Authentication and ACL").
    /// Password of the default user: clients must AUTH before anything
    /// else. Visible in `ps`; prefer CAPKV_REQUIREPASS or
    /// --requirepass-file.
    #[arg(long, env = "CAPKV_REQUIREPASS", hide_env_values = true)]
    pub requirepass: Option<String>,
    /// File holding the default user's password (a mounted Secret), one
    /// trailing newline stripped; re-read on SIGHUP.
    #[arg(long, env = "CAPKV_REQUIREPASS_FILE")]
    pub requirepass_file: Option<std::path::PathBuf>,
    /// ACL file in Redis's syntax (`user <name> <rules>` lines); re-read on
    /// SIGHUP and ACL LOAD. Excludes --requirepass and --requirepass-file.
    #[arg(long, env = "CAPKV_ACLFILE")]
    pub aclfile: Option<std::path::PathBuf>,
    /// Refuse @dangerous commands (FLUSHALL, FLUSHDB, CONFIG, INFO, ACL)
    /// to every user.
    #[arg(long, env = "CAPKV_DENY_DANGEROUS")]
    pub deny_dangerous: bool,
}

/// Where the memory budget came from (logged at start-up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetSource {
    /// `--max-memory`.
    Flag,
    /// The cgroup limit minus headroom.
    Cgroup {
        /// The detected limit.
        limit: u64,
        /// Headroom subtracted.
        headroom: u64,
    },
    /// A quarter of physical memory (no container limit found).
    HostMemory {
        /// Total RAM.
        total: u64,
    },
}

impl std::fmt::Display for BudgetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BudgetSource::Flag => write!(f, "--max-memory"),
            BudgetSource::Cgroup { limit, headroom } => {
                write!(f, "cgroup limit {} minus headroom {}", show(*limit), show(*headroom))
            }
            BudgetSource::HostMemory { total } => write!(f, "25% of host memory {}", show(*total)),
        }
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Byte budget for the process.
    pub budget: u64,
    /// Where the budget came from.
    pub budget_source: BudgetSource,
    /// What `CONFIG SET maxmemory` may move the budget to.
    pub budget_bounds: Bounds,
    /// Container memory limit, if any.
    pub hard_limit: Option<u64>,
    /// Store layout.
    pub store: StoreConfig,
    /// Parser limits.
    pub limits: Limits,
    /// Connection cap.
    pub max_connections: usize,
    /// Idle timeout (`None` = never).
    pub idle_timeout: Option<Duration>,
    /// Per-connection request/reply cap: `--max-client-buffer`, at most the
    /// buffers' share of the budget.
    pub max_client_buffer: usize,
    /// Disconnect clients that do not read for this long.
    pub write_timeout: Duration,
    /// SO_SNDBUF and SO_RCVBUF of client sockets (`None`: the kernel's
    /// autotuning).
    pub socket_buffer: Option<usize>,
    /// Metrics listen address (`None` = disabled).
    pub metrics: Option<SocketAddr>,
    /// Drain deadline on shutdown.
    pub shutdown_timeout: Duration,
    /// Worker threads.
    pub workers: usize,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_level: String,
    /// Things the operator should know that do not stop the start (a
    /// budget above the machine's RAM ...), logged once logging is up.
    pub warnings: Vec<String>,
    /// The Redis port's address, if enabled.
    pub redis: Option<SocketAddr>,
    /// The TLS listener, if enabled.
    pub tls: Option<TlsListen>,
    /// Users, passwords and command checks, loaded from the auth flags.
    pub access: Arc<Access>,
}

/// Where TLS clients connect and with what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsListen {
    /// Listen address.
    pub listen: SocketAddr,
    /// Certificate, key, CA and client policy.
    pub settings: TlsSettings,
}

/// What the environment offers, detected once (separate so tests can fake it).
#[derive(Debug, Clone)]
pub struct Environment {
    /// The memory cgroup's limit, if limited.
    pub cgroup_limit: Option<u64>,
    /// Physical memory.
    pub total_memory: u64,
    /// CPUs this process may run on.
    pub cpus: usize,
}

impl Environment {
    /// Reads cgroups, /proc/meminfo and the CPU affinity/quota.
    pub fn detect() -> Environment {
        let total_memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
                line.split_whitespace().nth(1)?.parse::<u64>().ok()
            })
            .map_or(4 << 30, |kib| kib * 1024);
        Environment {
            cgroup_limit: Cgroup::detect().and_then(|c| c.limit()),
            total_memory,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Headroom kept between a container limit and the default budget: 3% of
/// the limit, at least 8 MiB.
///
/// The governor counts everything the process holds (index, runtime,
/// stacks, allocator slack) inside the budget, so the headroom only has to
/// cover how far the cgroup's peak can pass the budget between two ticks.
/// At 128 and 256 MiB, over all six scenarios at 4 MiB and at 8 MiB of
/// headroom, the highest peak passed the budget by 0.3 MiB (shifting at
/// 128 MiB): the 8 MiB floor covers that 25 times, and the governor's
/// emergency purge fires halfway to the limit. At 2 GiB the highest peak
/// passed the budget by 25 MiB (1.2% of the limit), which 3% covers 2.4
/// times.
/// docs/SCENARIOS.md ("Headroom") has the measurements.
pub fn default_headroom(limit: u64) -> u64 {
    (limit / 100 * 3).max(8 * MIB)
}

impl Cli {
    /// The auth flags.
    pub fn auth_config(&self) -> AuthConfig {
        AuthConfig {
            requirepass: self.requirepass.clone(),
            requirepass_file: self.requirepass_file.clone(),
            aclfile: self.aclfile.clone(),
            deny_dangerous: self.deny_dangerous,
        }
    }

    /// Loads the users the auth flags name (reading their files).
    fn access(&self) -> Result<Access, ConfigError> {
        let flag = match (&self.aclfile, &self.requirepass_file) {
            (Some(_), _) => "--aclfile",
            (None, Some(_)) => "--requirepass-file",
            (None, None) => "--requirepass",
        };
        Access::load(&self.auth_config()).map_err(|e| invalid(flag, e.to_string()))
    }

    /// Validates the flags against the environment.
    pub fn resolve(&self, env: &Environment) -> Result<Config, ConfigError> {
        let segment_size = self.segment_size;
        if !(64 * 1024..=index::MAX_SEGMENT_SIZE as u64).contains(&segment_size) {
            return Err(invalid("--segment-size", "must be between 64kb and 16mb"));
        }
        if self.shards == 0 || self.shards > 1024 {
            return Err(invalid("--shards", "must be between 1 and 1024"));
        }
        if self.max_connections == 0 {
            return Err(invalid("--max-connections", "must be at least 1"));
        }
        if self.write_timeout.is_zero() {
            return Err(invalid("--write-timeout", "must be more than 0"));
        }
        if self.socket_buffer != 0 && !(4096..=64 << 20).contains(&self.socket_buffer) {
            return Err(invalid("--socket-buffer", "must be 0 (the kernel's) or 4kb to 64mb"));
        }
        if self.max_key_size == 0 || self.max_key_size > 64 * 1024 {
            return Err(invalid("--max-key-size", "must be between 1 and 64kb"));
        }
        if self.max_value_size.is_some_and(|v| v > MOST_MAX_VALUE) {
            return Err(invalid("--max-value-size", "must be at most 512mb"));
        }
        let (budget, budget_source) = match (self.max_memory, env.cgroup_limit) {
            (Some(flag), Some(limit)) if flag > limit => {
                return Err(invalid(
                    "--max-memory",
                    format!("{} exceeds the container memory limit {}", show(flag), show(limit)),
                ));
            }
            (Some(flag), _) => (flag, BudgetSource::Flag),
            (None, Some(limit)) => {
                let headroom = self.headroom.unwrap_or_else(|| default_headroom(limit));
                if headroom >= limit {
                    return Err(invalid("--headroom", "must be smaller than the memory limit"));
                }
                (limit - headroom, BudgetSource::Cgroup { limit, headroom })
            }
            (None, None) => {
                (env.total_memory / 4, BudgetSource::HostMemory { total: env.total_memory })
            }
        };
        let mut warnings = Vec::new();
        let max_value_size = match self.max_value_size {
            Some(flag) => flag,
            None => {
                // The request, its framing and a read's worth of slack must
                // fit the buffers' share and --max-client-buffer.
                let fits = (budget / BUFFER_SHARE)
                    .saturating_sub(self.max_key_size + MIB / 16)
                    .min(self.max_client_buffer.saturating_sub(self.max_key_size + 64))
                    / 1024
                    * 1024;
                if fits < DEFAULT_MAX_VALUE {
                    warnings.push(format!(
                        "--max-value-size defaults to {} instead of {}: a request that big \
                         must fit --max-client-buffer {} and an eighth of the budget {}",
                        show(fits),
                        show(DEFAULT_MAX_VALUE),
                        show(self.max_client_buffer),
                        show(budget)
                    ));
                }
                fits.min(DEFAULT_MAX_VALUE)
            }
        };
        let max_line_value = match self.max_value_size {
            Some(_) => max_value_size,
            None => max_value_size.min(DEFAULT_MAX_LINE_VALUE),
        };
        if self.max_client_buffer < self.max_key_size + max_value_size + 64 {
            return Err(invalid("--max-client-buffer", "must hold at least one key and value"));
        }
        let partitions = StoreConfig::partitions_for(budget as usize, self.shards);
        let store = StoreConfig {
            shards: self.shards,
            segment_size: segment_size as usize,
            segment_quota: 0,
            index_partitions: partitions,
            max_value_size: max_value_size as usize,
            retain_fraction: 0.5,
            clock: Default::default(),
        };
        // The index, one segment per shard, and a little for the runtime
        // and a few connections.
        let minimum =
            store.empty_index_bytes() as u64 + self.shards as u64 * segment_size + 8 * MIB;
        if budget < minimum {
            return Err(invalid(
                "--max-memory",
                format!(
                    "budget {} is too small for {} shards of {} segments: at least {} is needed",
                    show(budget),
                    self.shards,
                    show(segment_size),
                    show(minimum)
                ),
            ));
        }
        // The request, its framing and a read's worth of slack.
        if budget / BUFFER_SHARE < self.max_key_size + max_value_size + MIB / 16 {
            return Err(invalid(
                "--max-value-size",
                format!(
                    "a request with a value of {} must fit in the connection buffers' share \
                     (1/{BUFFER_SHARE}) of the budget {}; raise --max-memory",
                    show(max_value_size),
                    show(budget)
                ),
            ));
        }
        // The index addresses at most MAX_SEGMENTS segments (of one shard;
        // counted over all of them, since a shard may take most of the
        // pool), so the budget can use at most that many.
        let most = index::MAX_SEGMENTS as u64 * segment_size;
        let budget = if budget <= most {
            budget
        } else if budget_source == BudgetSource::Flag {
            let largest = index::MAX_SEGMENTS as u64 * index::MAX_SEGMENT_SIZE as u64;
            let hint = if segment_size < index::MAX_SEGMENT_SIZE as u64 {
                format!("; --segment-size 16mb allows up to {}", show(largest))
            } else {
                String::new()
            };
            return Err(invalid(
                "--max-memory",
                format!(
                    "{} is above what the index supports: at most {} segments of \
                     --segment-size {}, so at most {}{hint}",
                    show(budget),
                    index::MAX_SEGMENTS,
                    show(segment_size),
                    show(most),
                ),
            ));
        } else {
            warnings.push(format!(
                "the budget {} ({budget_source}) is above what the index supports with \
                 --segment-size {}; using {} (raise --segment-size to use more)",
                show(budget),
                show(segment_size),
                show(most)
            ));
            most
        };
        if budget > env.total_memory {
            warnings.push(format!(
                "the memory budget {} ({budget_source}) is more than this machine's RAM {}: \
                 the cache can grow past what the machine has and be killed or swapped; \
                 set --max-memory below it",
                show(budget),
                show(env.total_memory)
            ));
        }
        let budget_bounds = self.budget_bounds(env, budget, minimum, most, max_value_size);
        check_log_filter(&self.log_level).map_err(|reason| invalid("--log-level", reason))?;
        let workers = match self.workers {
            Some(0) => return Err(invalid("--workers", "must be at least 1")),
            Some(n) => n,
            None => env.cpus.max(1),
        };
        Ok(Config {
            listen: SocketAddr::new(self.bind, self.port),
            budget,
            budget_source,
            budget_bounds,
            hard_limit: env.cgroup_limit,
            store,
            limits: Limits {
                max_key_size: self.max_key_size as usize,
                max_value_size: max_value_size as usize,
                max_line_value: max_line_value as usize,
                max_args: 1024 * 1024,
                max_inline: (self.max_key_size + max_line_value + 8) as usize,
            },
            max_connections: self.max_connections,
            idle_timeout: (!self.idle_timeout.is_zero()).then_some(self.idle_timeout),
            // One request must fit under the buffers' share of the budget,
            // or its connection would wait for room that never comes.
            max_client_buffer: self.max_client_buffer.min(budget / BUFFER_SHARE) as usize,
            write_timeout: self.write_timeout,
            socket_buffer: (self.socket_buffer != 0).then_some(self.socket_buffer as usize),
            metrics: (self.metrics_port != 0).then(|| {
                SocketAddr::new(self.metrics_bind.unwrap_or(self.bind), self.metrics_port)
            }),
            shutdown_timeout: self.shutdown_timeout,
            workers,
            log_format: self.log_format,
            log_level: self.log_level.clone(),
            warnings,
            redis: self.redis()?,
            tls: self.tls()?,
            access: Arc::new(self.access()?),
        })
    }

    /// The range `CONFIG SET maxmemory` may move the start-up `budget` in:
    /// the same rules as `--max-memory` (`minimum`: index and one segment
    /// per shard; the largest request must fit the buffers' share; at
    /// most `most`, what the index addresses), and at most the container
    /// limit minus headroom, or without one this machine's RAM, so that a
    /// live change cannot walk the process into the kernel's OOM killer.
    /// A start-up budget outside that stays allowed (it was the flag's).
    /// `max_value_size` is the one in force (the flag's, or the default).
    fn budget_bounds(
        &self,
        env: &Environment,
        budget: u64,
        minimum: u64,
        most: u64,
        max_value_size: u64,
    ) -> Bounds {
        let request = (self.max_key_size + max_value_size + MIB / 16) * BUFFER_SHARE;
        let min = minimum.max(request).min(budget);
        let (ceiling, max_reason, auto) = match env.cgroup_limit {
            Some(limit) => {
                let headroom = self.headroom.unwrap_or_else(|| default_headroom(limit));
                let ceiling = limit.saturating_sub(headroom);
                let reason = format!(
                    "the container memory limit {} minus headroom {}",
                    show(limit),
                    show(headroom)
                );
                (ceiling, reason, ceiling)
            }
            None => (
                env.total_memory,
                format!("this machine's RAM {}", show(env.total_memory)),
                env.total_memory / 4,
            ),
        };
        let (ceiling, max_reason) = if most < ceiling {
            let reason =
                format!("what the index addresses with --segment-size {}", show(self.segment_size));
            (most, reason)
        } else {
            (ceiling, max_reason)
        };
        let max = ceiling.max(budget);
        Bounds { min, max, max_reason, auto: auto.clamp(min, max) }
    }

    /// The Redis port, unless 0.
    fn redis(&self) -> Result<Option<SocketAddr>, ConfigError> {
        match self.redis_port {
            0 => Ok(None),
            port if port == self.port => Err(invalid("--redis-port", "must differ from --port")),
            port if Some(port) == self.tls_port => {
                Err(invalid("--redis-port", "must differ from --tls-port"))
            }
            port => Ok(Some(SocketAddr::new(self.bind, port))),
        }
    }

    /// The TLS listener the `--tls-*` flags describe (files are read at
    /// start-up, not here).
    fn tls(&self) -> Result<Option<TlsListen>, ConfigError> {
        let Some(port) = self.tls_port else {
            let stray = [
                ("--tls-cert-file", self.tls_cert_file.is_some()),
                ("--tls-key-file", self.tls_key_file.is_some()),
                ("--tls-ca-cert-file", self.tls_ca_cert_file.is_some()),
                ("--tls-auth-clients", self.tls_auth_clients.is_some()),
            ];
            return match stray.iter().find(|(_, set)| *set) {
                Some((flag, _)) => Err(invalid(flag, "needs --tls-port (TLS is off without it)")),
                None => Ok(None),
            };
        };
        if port != 0 && port == self.port {
            return Err(invalid("--tls-port", "must differ from --port"));
        }
        let (Some(cert_file), Some(key_file)) = (&self.tls_cert_file, &self.tls_key_file) else {
            let missing =
                if self.tls_cert_file.is_none() { "--tls-cert-file" } else { "--tls-key-file" };
            return Err(invalid("--tls-port", format!("needs {missing}")));
        };
        let ca_file = self.tls_ca_cert_file.clone();
        let auth_clients = self.tls_auth_clients.unwrap_or(if ca_file.is_some() {
            ClientAuth::Yes
        } else {
            ClientAuth::No
        });
        if auth_clients != ClientAuth::No && ca_file.is_none() {
            return Err(invalid("--tls-auth-clients", "yes and optional need --tls-ca-cert-file"));
        }
        Ok(Some(TlsListen {
            listen: SocketAddr::new(self.bind, port),
            settings: TlsSettings {
                cert_file: cert_file.clone(),
                key_file: key_file.clone(),
                ca_file,
                auth_clients,
            },
        }))
    }
}

/// Checks a `--log-level` value: comma-separated directives, each a level
/// (`error`, `warn`, `info`, `debug`, `trace`, `off`) or `TARGET=LEVEL`.
///
/// tracing's own syntax also takes a bare target (`capkv` = everything of
/// capkv at every level), so `--log-level garbage` would be a valid filter
/// that logs only the target "garbage", i.e. nothing. A bare word is
/// refused instead; `capkv=trace` says the same on purpose.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    use std::str::FromStr as _;
    use tracing::level_filters::LevelFilter;
    const LEVELS: &str = "error, warn, info, debug, trace, off";
    let directives: Vec<&str> =
        filter.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    if directives.is_empty() {
        return Err(format!("empty; use a level ({LEVELS}) or TARGET=LEVEL"));
    }
    for directive in directives {
        let level = directive.rsplit_once('=').map_or(directive, |(_, level)| level);
        if LevelFilter::from_str(level).is_err() {
            return Err(format!(
                "'{directive}' is neither a level ({LEVELS}) nor TARGET=LEVEL \
                 (e.g. capkv=debug)"
            ));
        }
        if let Err(e) = tracing_subscriber::filter::Directive::from_str(directive) {
            return Err(format!("'{directive}': {e}"));
        }
    }
    Ok(())
}

/// The environment variable of a flag: `--max-memory` -> `CAPKV_MAX_MEMORY`.
pub fn env_var_of(flag: &str) -> String {
    format!("CAPKV_{}", flag.trim_start_matches('-').replace('-', "_").to_ascii_uppercase())
}

/// Whether `flag` got its value from its environment variable: the
/// variable is set and the command line does not name the flag.
fn from_env(
    flag: &str,
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Option<String> {
    let on_command_line = args.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.strip_prefix(flag).is_some_and(|r| r.starts_with('=')))
    });
    let var = env_var_of(flag);
    (!on_command_line && env(&var).is_some()).then_some(var)
}

/// The one-line message for a refused configuration: [`ConfigError`]'s,
/// with the environment variable next to the flag when that is where the
/// value came from (`--max-memory (CAPKV_MAX_MEMORY): ...`), so whoever
/// set `CAPKV_MAX_MEMORY` in a manifest finds it.
pub fn describe_config_error(
    error: &ConfigError,
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> String {
    let ConfigError::Invalid { flag, reason } = error;
    match from_env(flag, args, env) {
        Some(var) => format!("{flag} ({var}): {reason}"),
        None => error.to_string(),
    }
}

/// clap's message for a value it refused, when the value came from a
/// `CAPKV_*` variable: clap names only the flag (`invalid value
/// 'tcp://10.0.0.1:7171' for '--port <PORT>'`), which sends whoever set
/// `CAPKV_PORT` looking for a flag nobody passed. Returns the message with
/// `--port (CAPKV_PORT)` in place of the flag and without clap's usage
/// hint; `None` for any other error (clap's own message is right then).
pub fn describe_env_error(
    error: &clap::Error,
    args: &[OsString],
    env: &dyn Fn(&str) -> Option<OsString>,
) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(error.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return None;
    }
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let flag = arg.split_whitespace().next()?;
    let var = from_env(flag, args, env)?;
    let text = error.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
        .collect();
    Some(lines.join(" ").replace(&format!("'{arg}'"), &format!("{flag} ({var})")))
}

/// The warning for a client port reachable beyond this machine with no
/// password: `None` on loopback or when clients must authenticate.
pub fn open_warning(bind: IpAddr, authenticated: bool) -> Option<String> {
    (!bind.is_loopback() && !authenticated).then(|| {
        format!(
            "listening on {bind} with no password: anyone who can reach this port can read, \
             write and flush the cache; set --requirepass-file (or --aclfile), or \
             --bind 127.0.0.1 and keep the port inside a network you trust"
        )
    })
}

/// Logs [`open_warning`]'s warning, if any, at start-up.
pub fn warn_if_open(bind: IpAddr, authenticated: bool) {
    if let Some(warning) = open_warning(bind, authenticated) {
        tracing::warn!("{warning}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("capkv").chain(args.iter().copied())).unwrap()
    }

    fn env(limit: Option<u64>) -> Environment {
        Environment { cgroup_limit: limit, total_memory: 16 << 30, cpus: 2 }
    }

    #[test]
    fn default_headroom_is_three_percent_at_least_8_mib() {
        assert_eq!(default_headroom(128 * MIB), 8 * MIB);
        assert_eq!(default_headroom(256 * MIB), 8 * MIB);
        assert_eq!(default_headroom(2 << 30), (2 << 30) / 100 * 3);
    }

    #[test]
    fn budget_from_cgroup_minus_headroom() {
        let c = cli(&[]).resolve(&env(Some(2 << 30))).unwrap();
        let headroom = default_headroom(2 << 30);
        assert_eq!(c.budget, (2 << 30) - headroom);
        assert_eq!(c.budget_source, BudgetSource::Cgroup { limit: 2 << 30, headroom });
        assert_eq!(c.workers, 2);
        assert_eq!(c.socket_buffer, Some(256 << 10));
        assert_eq!(c.listen.port(), 7171);
        let c = cli(&[]).resolve(&env(None)).unwrap();
        assert_eq!(c.budget, 4 << 30);
        let c = cli(&["--max-memory", "1g"]).resolve(&env(Some(2 << 30))).unwrap();
        assert_eq!((c.budget, c.budget_source), (1 << 30, BudgetSource::Flag));
        assert_eq!(c.max_client_buffer, 64 << 20, "the flag's default, under the 128 MiB share");
        let c = cli(&["--max-memory", "256mb"]).resolve(&env(None)).unwrap();
        assert_eq!(c.max_client_buffer, 32 << 20, "clamped to the buffers' eighth");
    }

    #[test]
    fn refusals_name_the_flag() {
        let err = |args: &[&str], limit| cli(args).resolve(&env(limit)).unwrap_err().to_string();
        assert!(
            err(&["--max-memory", "3g"], Some(2 << 30))
                .starts_with("--max-memory: 3.0 GiB exceeds")
        );
        assert!(err(&["--max-memory", "1mb"], None).contains("at least"));
        assert!(err(&["--segment-size", "32mb"], None).starts_with("--segment-size"));
        assert!(err(&["--max-value-size", "513mb"], None).starts_with("--max-value-size: must be"));
        let above_buffer = ["--max-value-size", "100mb", "--max-memory", "2g"];
        assert!(err(&above_buffer, None).starts_with("--max-client-buffer"));
        let big_values = ["--shards", "1", "--segment-size", "16mb", "--max-value-size", "15mb"];
        let too_small = [&big_values[..], &["--max-memory", "64mb"]].concat();
        assert!(err(&too_small, None).contains("connection buffers' share (1/8)"));
        let enough = [&big_values[..], &["--max-memory", "128mb", "--max-client-buffer", "16mb"]];
        assert!(cli(&enough.concat()).resolve(&env(None)).is_ok());
        assert!(err(&["--shards", "0"], None).starts_with("--shards"));
        assert!(err(&["--workers", "0"], None).starts_with("--workers"));
        assert!(err(&["--socket-buffer", "1kb"], None).starts_with("--socket-buffer"));
        assert!(Cli::try_parse_from(["capkv", "--max-memory", "much"]).is_err());
    }

    /// Values larger than a segment: 16 MiB by default, up to 512 MiB
    /// with the buffer and budget to carry them; a small budget shrinks
    /// the default (with a note), never an explicit flag.
    #[test]
    fn max_value_size_default_and_its_limits() {
        let c = cli(&["--max-memory", "1g"]).resolve(&env(None)).unwrap();
        assert_eq!((c.limits.max_value_size, c.store.max_value_size), (16 << 20, 16 << 20));
        assert_eq!(c.limits.max_line_value, 256 << 10, "lines keep the seed's 256 KiB");
        let c = cli(&["--max-value-size", "1mb"]).resolve(&env(None)).unwrap();
        assert_eq!(c.limits.max_line_value, 1 << 20, "unless the flag is given");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let c = cli(&["--max-memory", "64mb", "--shards", "4"]).resolve(&env(None)).unwrap();
        let shrunk = c.limits.max_value_size as u64;
        assert!(shrunk < 8 * MIB && shrunk + 256 + MIB / 16 <= 8 * MIB, "{shrunk}");
        assert_eq!(c.store.max_value_size as u64, shrunk);
        assert!(c.warnings.iter().any(|w| w.starts_with("--max-value-size defaults to")));
        let explicit = ["--max-memory", "64mb", "--shards", "4", "--max-value-size", "16mb"];
        assert!(cli(&explicit).resolve(&env(None)).is_err(), "an explicit flag is not shrunk");
        let most = ["--max-value-size", "512mb", "--max-client-buffer", "600mb"];
        let c = cli(&[&most[..], &["--max-memory", "8g"]].concat()).resolve(&env(None)).unwrap();
        assert_eq!(c.limits.max_value_size, 512 << 20);
    }

    #[test]
    fn kubernetes_quantities_in_every_size_flag() {
        let c = cli(&["--max-memory", "2Gi"]).resolve(&env(Some(4 << 30))).unwrap();
        assert_eq!(c.budget, 2 << 30);
        let c = cli(&["--max-memory", "1.5Gi"]).resolve(&env(None)).unwrap();
        assert_eq!(c.budget, 3 << 29);
        let c = cli(&["--max-memory", "500M"]).resolve(&env(None)).unwrap();
        assert_eq!(c.budget, 500_000_000);
        let c = cli(&["--max-memory", "1G", "--segment-size", "4Mi", "--max-value-size", "1Mi"])
            .resolve(&env(None))
            .unwrap();
        assert_eq!((c.budget, c.store.segment_size), (1_000_000_000, 4 << 20));
        assert_eq!(c.limits.max_value_size, 1 << 20);
        let c =
            cli(&["--headroom", "64Mi", "--socket-buffer", "128Ki", "--max-client-buffer", "32M"])
                .resolve(&env(Some(1 << 30)))
                .unwrap();
        assert_eq!(c.budget, (1 << 30) - (64 << 20));
        assert_eq!((c.socket_buffer, c.max_client_buffer), (Some(128 << 10), 32_000_000));
    }

    #[test]
    fn max_memory_above_the_index_names_max_memory_and_the_maximum() {
        let err = cli(&["--max-memory", "1tb"]).resolve(&env(None)).unwrap_err().to_string();
        assert!(err.starts_with("--max-memory: 1.0 TiB is above what the index supports"), "{err}");
        assert!(err.contains("at most 256.0 GiB") && err.contains("--segment-size 16mb"), "{err}");
        assert!(!err.starts_with("--segment-size"), "{err}");
        let c = cli(&["--max-memory", "1tb", "--segment-size", "16mb"]).resolve(&env(None));
        assert_eq!(c.unwrap().budget, 1 << 40);
        // A detected budget is capped instead, with a warning.
        let huge = Environment { cgroup_limit: None, total_memory: 4 << 40, cpus: 2 };
        let c = cli(&[]).resolve(&huge).unwrap();
        assert_eq!(c.budget, index::MAX_SEGMENTS as u64 * MIB);
        assert!(c.warnings.iter().any(|w| w.contains("above what the index supports")));
    }

    #[test]
    fn log_level_garbage_is_refused() {
        let err = |level: &str| cli(&["--log-level", level]).resolve(&env(None)).map(|_| ());
        for good in ["info", "WARN", "off", "capkv=debug", "info,capkv::server=trace", "debug,"] {
            assert!(err(good).is_ok(), "{good}");
        }
        for bad in ["garbage", "capkv", "capkv=loud", "", "info,verbose"] {
            let e = err(bad).unwrap_err().to_string();
            assert!(e.starts_with("--log-level: "), "{bad}: {e}");
        }
        let e = err("garbage").unwrap_err().to_string();
        assert!(e.contains("'garbage' is neither a level"), "{e}");
    }

    #[test]
    fn budget_over_the_machines_ram_warns_with_both_figures() {
        let c = cli(&["--max-memory", "20gb"]).resolve(&env(None)).unwrap();
        let warning = c.warnings.iter().find(|w| w.contains("RAM")).expect("a RAM warning");
        assert!(warning.contains("20.0 GiB") && warning.contains("16.0 GiB"), "{warning}");
        let c = cli(&["--max-memory", "8gb"]).resolve(&env(None)).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn metrics_follow_bind_unless_metrics_bind_says() {
        let c = cli(&["--bind", "10.0.0.5"]).resolve(&env(None)).unwrap();
        assert_eq!(c.metrics, Some("10.0.0.5:9171".parse().unwrap()));
        let c = cli(&["--bind", "10.0.0.5", "--metrics-bind", "127.0.0.1", "--metrics-port", "9"])
            .resolve(&env(None))
            .unwrap();
        assert_eq!(c.metrics, Some("127.0.0.1:9".parse().unwrap()));
        let c = cli(&["--metrics-port", "0"]).resolve(&env(None)).unwrap();
        assert_eq!(c.metrics, None);
    }

    #[test]
    fn env_errors_name_flag_and_variable() {
        let set =
            |name: &str| (name == "CAPKV_PORT").then(|| OsString::from("tcp://10.0.0.1:7171"));
        // clap's error for the value (here produced from the command line,
        // as a unit test cannot set the process's environment safely).
        let e = Cli::try_parse_from(["capkv", "--port", "tcp://10.0.0.1:7171"]).unwrap_err();
        let message = describe_env_error(&e, &["capkv".into()], &set).expect("rewritten");
        assert!(message.contains("for --port (CAPKV_PORT)"), "{message}");
        assert!(message.contains("'tcp://10.0.0.1:7171'"), "{message}");
        assert!(!message.contains('\n') && !message.contains("--help"), "{message}");
        // Given on the command line: clap's message stands.
        let args: Vec<OsString> = ["capkv", "--port", "x"].map(OsString::from).into();
        assert!(describe_env_error(&e, &args, &set).is_none());
        let args: Vec<OsString> = ["capkv", "--port=x"].map(OsString::from).into();
        assert!(describe_env_error(&e, &args, &set).is_none());
        // A value enum: the possible values stay in the one line.
        let set = |n: &str| (n == "CAPKV_LOG_FORMAT").then(|| OsString::from("xml"));
        let e = Cli::try_parse_from(["capkv", "--log-format", "xml"]).unwrap_err();
        let message = describe_env_error(&e, &["capkv".into()], &set).unwrap();
        assert!(message.contains("--log-format (CAPKV_LOG_FORMAT)"), "{message}");
        assert!(message.ends_with("(CAPKV_LOG_FORMAT) [possible values: text, json]"), "{message}");
        // Refusals after parsing too.
        let set = |n: &str| (n == "CAPKV_MAX_MEMORY").then(|| OsString::from("3g"));
        let e = cli(&["--max-memory", "3g"]).resolve(&env(Some(2 << 30))).unwrap_err();
        let message = describe_config_error(&e, &["capkv".into()], &set);
        assert!(
            message.starts_with("--max-memory (CAPKV_MAX_MEMORY): 3.0 GiB exceeds"),
            "{message}"
        );
        assert_eq!(env_var_of("--max-client-buffer"), "CAPKV_MAX_CLIENT_BUFFER");
    }

    #[test]
    fn open_bind_without_password_warns() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(open_warning(ip("0.0.0.0"), false).unwrap().contains("no password"));
        assert!(open_warning(ip("10.1.2.3"), false).is_some());
        assert!(open_warning(ip("::"), false).is_some());
        assert!(open_warning(ip("127.0.0.1"), false).is_none());
        assert!(open_warning(ip("::1"), false).is_none());
        assert!(open_warning(ip("0.0.0.0"), true).is_none());
    }

    #[test]
    fn tls_flags_are_checked_together() {
        let err = |args: &[&str]| cli(args).resolve(&env(None)).unwrap_err().to_string();
        assert!(cli(&[]).resolve(&env(None)).unwrap().tls.is_none());
        assert_eq!(
            err(&["--tls-cert-file", "c.pem"]),
            "--tls-cert-file: needs --tls-port (TLS is off without it)"
        );
        assert_eq!(
            err(&["--tls-port", "6380", "--tls-cert-file", "c"]),
            "--tls-port: needs --tls-key-file"
        );
        assert_eq!(
            err(&["--tls-port", "6380", "--tls-key-file", "k"]),
            "--tls-port: needs --tls-cert-file"
        );
        assert_eq!(
            err(&["--tls-port", "7171", "--tls-cert-file", "c", "--tls-key-file", "k"]),
            "--tls-port: must differ from --port"
        );
        let both = ["--tls-port", "6380", "--tls-cert-file", "c", "--tls-key-file", "k"];
        assert_eq!(
            err(&[&both[..], &["--tls-auth-clients", "yes"]].concat()),
            "--tls-auth-clients: yes and optional need --tls-ca-cert-file"
        );
        let tls = cli(&both).resolve(&env(None)).unwrap().tls.unwrap();
        assert_eq!(tls.listen.port(), 6380);
        assert_eq!(tls.settings.auth_clients, ClientAuth::No);
        let with_ca = [&both[..], &["--tls-ca-cert-file", "ca"]].concat();
        let tls = cli(&with_ca).resolve(&env(None)).unwrap().tls.unwrap();
        assert_eq!(tls.settings.auth_clients, ClientAuth::Yes, "Redis's default with a CA");
    }
}
