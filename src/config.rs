//! Configuration: command-line flags (each also a `CAPKV_*` environment
//! variable), validated into a plain [`Config`] the rest of the crate uses.
//!
//! The memory budget is the one setting with a story: by default it is
//! the container limit (cgroup v2 `memory.max`, else v1) minus headroom,
//! or a quarter of RAM outside a container. The headroom covers what can
//! move between two governor ticks and what the kernel charges outside the
//! allocator (page tables, thread stacks); see [`default_headroom`].

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use std::sync::Arc;

use clap::{Parser, ValueEnum};

use crate::acl::{Access, AuthConfig};

use crate::memory::Cgroup;
use crate::memory::budget::BUFFER_SHARE;
use crate::protocol::Limits;
use crate::store::{StoreConfig, index};
use crate::units::{parse_duration, parse_size, show};

const MIB: u64 = 1 << 20;

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
    /// Size of one segment; the largest item must fit in one.
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
    /// Longest value accepted.
    #[arg(long, env = "CAPKV_MAX_VALUE_SIZE", default_value = "256kb", value_parser = parse_size)]
    pub max_value_size: u64,
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
    #[arg(long, env = "CAPKV_METRICS_PORT", default_value_t = 9171)]
    pub metrics_port: u16,
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
    /// Users, passwords and command checks, loaded from the auth flags.
    pub access: Arc<Access>,
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
        if self.max_client_buffer < self.max_key_size + self.max_value_size + 64 {
            return Err(invalid("--max-client-buffer", "must hold at least one key and value"));
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
        // Header (at most 3 + 4 + 6 bytes) + key + value must fit a segment.
        if self.max_key_size + self.max_value_size + 16 > segment_size {
            return Err(invalid(
                "--max-value-size",
                format!(
                    "{} plus a key of {} must fit in one segment ({}); raise --segment-size",
                    show(self.max_value_size),
                    show(self.max_key_size),
                    show(segment_size)
                ),
            ));
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
        let partitions = StoreConfig::partitions_for(budget as usize, self.shards);
        let store = StoreConfig {
            shards: self.shards,
            segment_size: segment_size as usize,
            segment_quota: 0,
            index_partitions: partitions,
            max_value_size: self.max_value_size as usize,
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
        if budget / BUFFER_SHARE < self.max_key_size + self.max_value_size + MIB / 16 {
            return Err(invalid(
                "--max-value-size",
                format!(
                    "a request with a value of {} must fit in the connection buffers' share \
                     (1/{BUFFER_SHARE}) of the budget {}; raise --max-memory",
                    show(self.max_value_size),
                    show(budget)
                ),
            ));
        }
        if budget / segment_size > index::MAX_SEGMENTS as u64 {
            return Err(invalid("--segment-size", "too small for this budget; raise it"));
        }
        let workers = match self.workers {
            Some(0) => return Err(invalid("--workers", "must be at least 1")),
            Some(n) => n,
            None => env.cpus.max(1),
        };
        Ok(Config {
            listen: SocketAddr::new(self.bind, self.port),
            budget,
            budget_source,
            hard_limit: env.cgroup_limit,
            store,
            limits: Limits {
                max_key_size: self.max_key_size as usize,
                max_value_size: self.max_value_size as usize,
                max_args: 1024 * 1024,
            },
            max_connections: self.max_connections,
            idle_timeout: (!self.idle_timeout.is_zero()).then_some(self.idle_timeout),
            // One request must fit under the buffers' share of the budget,
            // or its connection would wait for room that never comes.
            max_client_buffer: self.max_client_buffer.min(budget / BUFFER_SHARE) as usize,
            write_timeout: self.write_timeout,
            socket_buffer: (self.socket_buffer != 0).then_some(self.socket_buffer as usize),
            metrics: (self.metrics_port != 0)
                .then(|| SocketAddr::new(self.bind, self.metrics_port)),
            shutdown_timeout: self.shutdown_timeout,
            workers,
            log_format: self.log_format,
            log_level: self.log_level.clone(),
            access: Arc::new(self.access()?),
        })
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
        assert!(err(&["--max-value-size", "2mb"], None).starts_with("--max-value-size"));
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
}
