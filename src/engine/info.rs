//! INFO (RESP) and STATS (line protocol): one list of fields, two formats.
//!
//! Field names follow Redis where they mean the same thing (`used_memory`,
//! `maxmemory`, `evicted_keys`, `keyspace_hits` ...), so dashboards and
//! tools built for Redis read them unchanged; capkv's own breakdown of the
//! budget is prefixed `capkv_`. Values follow Redis's formats too
//! (`used_memory_human:1.50M`, `cmdstat_get:calls=...,failed_calls=...`),
//! and so does the choice of sections: `INFO` alone is Redis's default set,
//! `Commandstats` comes only with `INFO all`, `everything` or
//! `commandstats`.
//!
//! The numbers come from one [`Snapshot`], the same that `/metrics`
//! renders; how the sections look on the wire is the encoder's business
//! ([`Reply::Info`](crate::protocol::Reply::Info)).

use std::sync::Arc;

use super::live::Live;
use crate::memory::Bounds;
use crate::metrics::Snapshot;
use crate::protocol::{Args, ERROR_CODES, InfoSection};

/// The Redis version capkv reports (the command set it follows).
pub const REDIS_VERSION: &str = "7.0.0";

/// What INFO's `maxmemory_policy` and `CONFIG GET maxmemory-policy`
/// report: not one of Redis's names, because capkv does none of them. It
/// evicts whole segments, per shard, oldest first unless a younger one
/// frees more for less copying (cost-benefit, as log-structured file
/// systems clean), keeping items read since they were written; any key
/// may go, TTL or not, as with Redis's `allkeys-*` (see
/// [`crate::store::eviction`]). redis-py and redis_exporter read
/// the field as an opaque string.
pub const MAXMEMORY_POLICY: &str = "segment-cost-benefit";

/// Settings shown by INFO and CONFIG GET; the ones CONFIG SET changes
/// are in [`Live`] (and the budget in [`Budget`](crate::memory::Budget)).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listening port.
    pub port: u16,
    /// Listening address.
    pub bind: String,
    /// Largest value.
    pub max_value_size: usize,
    /// Container limit, if any.
    pub hard_limit: Option<u64>,
    /// Worker threads.
    pub workers: usize,
    /// `--max-client-buffer`: the largest reply KEYS and SCAN build.
    pub max_client_buffer: usize,
    /// What `CONFIG SET maxmemory` may set.
    pub budget_bounds: Bounds,
    /// Most connections the open-files limit leaves room for (`CONFIG SET
    /// maxclients` refuses more).
    pub max_clients_ceiling: usize,
    /// What CONFIG SET changes while the server runs.
    pub live: Arc<Live>,
}

/// Redis's `bytesToHuman`: `1023B`, `1.00K`, `256.00M`, `2.00G` ...
pub(super) fn human(bytes: u64) -> String {
    const UNITS: [char; 5] = ['K', 'M', 'G', 'T', 'P'];
    match crate::units::scale_bytes(bytes, UNITS.len()) {
        (_, 0) => format!("{bytes}B"),
        (value, step) => format!("{value:.2}{}", UNITS[step - 1]),
    }
}

/// Every section, titled, in Redis's order.
fn fields(snapshot: &Snapshot, s: &Settings) -> Vec<(&'static str, Vec<(String, String)>)> {
    let store = &snapshot.store;
    let stats = &snapshot.stats;
    let reading = &snapshot.reading;
    let budget = snapshot.budget;
    let kv = |k: &str, v: String| (k.to_string(), v);
    let ratio = |a: u64, b: u64| {
        if b == 0 { "0.00".to_string() } else { format!("{:.2}", a as f64 / b as f64) }
    };
    let server = vec![
        kv("redis_version", REDIS_VERSION.into()),
        kv("capkv_version", env!("CARGO_PKG_VERSION").into()),
        kv("redis_mode", "standalone".into()),
        kv("os", std::env::consts::OS.into()),
        kv("arch_bits", "64".into()),
        kv("process_id", std::process::id().to_string()),
        kv("tcp_port", s.port.to_string()),
        kv("uptime_in_seconds", stats.uptime_secs.to_string()),
        kv("uptime_in_days", (stats.uptime_secs / 86_400).to_string()),
        kv("io_threads_active", s.workers.to_string()),
    ];
    let clients = vec![
        kv("connected_clients", stats.connections_current.to_string()),
        kv("maxclients", s.live.max_clients().to_string()),
        kv("blocked_clients", "0".into()),
    ];
    let used = reading.heap.allocated.max(store.segment_bytes as u64);
    let memory = vec![
        kv("used_memory", used.to_string()),
        kv("used_memory_human", human(used)),
        kv("used_memory_rss", reading.rss.to_string()),
        kv("used_memory_rss_human", human(reading.rss)),
        kv("maxmemory", budget.to_string()),
        kv("maxmemory_human", human(budget)),
        kv("maxmemory_policy", MAXMEMORY_POLICY.into()),
        kv("mem_fragmentation_ratio", ratio(reading.rss, reading.heap.allocated)),
        kv("allocator_allocated", reading.heap.allocated.to_string()),
        kv("allocator_resident", reading.heap.resident.to_string()),
        kv("allocator_frag_ratio", ratio(reading.heap.resident, reading.heap.allocated)),
        kv("mem_allocator", "jemalloc-5.3.0".into()),
        kv("capkv_budget", budget.to_string()),
        kv("capkv_item_bytes", store.item_bytes.to_string()),
        kv("capkv_dead_bytes", store.dead_bytes.to_string()),
        kv("capkv_live_fraction", format!("{:.3}", store.live_fraction())),
        kv("capkv_segment_bytes", store.segment_bytes.to_string()),
        kv("capkv_segments", store.segments.to_string()),
        kv("capkv_segment_quota", store.segment_quota.to_string()),
        kv("capkv_segment_size", store.segment_size.to_string()),
        kv("capkv_index_bytes", store.index_bytes.to_string()),
        kv("capkv_buffer_bytes", snapshot.buffer_bytes.to_string()),
        kv("capkv_other_bytes", reading.other.to_string()),
        kv("capkv_jemalloc_dirty", reading.heap.dirty.to_string()),
        kv("capkv_cgroup_usage", reading.cgroup_usage.unwrap_or(0).to_string()),
        kv("capkv_cgroup_limit", s.hard_limit.unwrap_or(0).to_string()),
        kv(
            "capkv_socket_bytes",
            reading.sockets.map_or_else(|| "unknown".into(), |b| b.to_string()),
        ),
        kv("capkv_process_truth", reading.truth.to_string()),
        kv("capkv_emergency_purges", reading.emergency_purges.to_string()),
    ];
    // One line per shard, in the style of Keyspace's `db0:keys=...`.
    let mut memory = memory;
    for (i, shard) in store.shards.iter().enumerate() {
        memory.push((
            format!("capkv_shard{i}"),
            format!(
                "live_bytes={},dead_bytes={},segment_bytes={},live_fraction={:.3}",
                shard.live_bytes,
                shard.dead_bytes,
                shard.segment_bytes,
                shard.live_fraction()
            ),
        ));
    }
    let c = store.counters;
    let mut stats_section = vec![
        kv("total_connections_received", stats.connections_total.to_string()),
        kv("total_commands_processed", stats.total_commands().to_string()),
        kv("rejected_connections", stats.connections_rejected.to_string()),
        kv("evicted_clients", stats.clients_evicted.to_string()),
        kv("tls_handshakes", stats.tls_handshakes.to_string()),
        kv("tls_handshake_failures", stats.tls_handshake_failures.to_string()),
        kv("total_net_input_bytes", stats.bytes_in.to_string()),
        kv("total_net_output_bytes", stats.bytes_out.to_string()),
        kv("evicted_keys", c.evicted_items.to_string()),
        kv("expired_keys", c.expired_items.to_string()),
        kv("expired_time_cap_reached_count", store.expiry_capped.to_string()),
        kv("expire_cycle_cpu_milliseconds", store.expiry_busy_ms.to_string()),
        kv("keyspace_hits", stats.hits.to_string()),
        kv("keyspace_misses", stats.misses.to_string()),
        // Redis 7.2's names for the same three counters.
        kv("acl_access_denied_auth", stats.auth_failures.to_string()),
        kv("acl_access_denied_cmd", stats.acl_denied_command.to_string()),
        kv("acl_access_denied_key", stats.acl_denied_key.to_string()),
        kv("capkv_rejected_writes", stats.rejected_writes.to_string()),
        kv("capkv_retained_items", c.retained_items.to_string()),
        kv("capkv_evicted_segments", c.evicted_segments.to_string()),
        kv("capkv_cleaned_segments", c.cleaned_segments.to_string()),
        kv("capkv_overwrites_in_place", c.overwrites_in_place.to_string()),
    ];
    // Redis counts requests refused before running (unknown command,
    // arity) as `rejected_calls` of the command; capkv refuses them in the
    // parser, before it knows which command they were, and counts them
    // in `capkv_invalid_requests` instead. `usec` is the time from the
    // parsed request to its encoded reply, as Redis times `call()`.
    let mut commandstats = Vec::new();
    for calls in stats.commands.iter().filter(|c| c.calls() > 0) {
        commandstats.push(kv(
            &format!("cmdstat_{}", calls.name),
            format!(
                "calls={},usec={},usec_per_call={:.2},rejected_calls=0,failed_calls={}",
                calls.calls(),
                calls.usec(),
                calls.usec_per_call(),
                calls.failed
            ),
        ));
    }
    stats_section.push(kv("capkv_invalid_requests", stats.invalid.to_string()));
    stats_section.push(kv("total_error_replies", stats.total_error_replies().to_string()));
    // As Redis: one line per error code that was ever answered.
    let errorstats = ERROR_CODES
        .iter()
        .zip(stats.errors)
        .filter(|&(_, count)| count > 0)
        .map(|(code, count)| kv(&format!("errorstat_{code}"), format!("count={count}")))
        .collect();
    let keyspace = if store.items > 0 {
        vec![kv(
            "db0",
            format!("keys={},expires={},avg_ttl=0", store.items, store.items_with_deadline),
        )]
    } else {
        Vec::new()
    };
    let started = unix_secs().saturating_sub(stats.uptime_secs);
    // Nothing is ever saved: the fields say so the way Redis does with
    // `save ""` and `appendonly no`, for tools that read them.
    let persistence = vec![
        kv("loading", "0".into()),
        kv("async_loading", "0".into()),
        kv("rdb_changes_since_last_save", "0".into()),
        kv("rdb_bgsave_in_progress", "0".into()),
        kv("rdb_last_save_time", started.to_string()),
        kv("rdb_last_bgsave_status", "ok".into()),
        kv("rdb_saves", "0".into()),
        kv("aof_enabled", "0".into()),
        kv("aof_rewrite_in_progress", "0".into()),
        kv("aof_last_bgrewrite_status", "ok".into()),
        kv("aof_last_write_status", "ok".into()),
        kv("capkv_persistence", "none (a cache: restarts begin empty)".into()),
    ];
    // A primary with no replicas, which is what a capkv is.
    let replication = vec![
        kv("role", "master".into()),
        kv("connected_slaves", "0".into()),
        kv("master_failover_state", "no-failover".into()),
        kv("master_replid", replication_id(started)),
        kv("master_replid2", "0".repeat(40)),
        kv("master_repl_offset", "0".into()),
        kv("second_repl_offset", "-1".into()),
        kv("repl_backlog_active", "0".into()),
        kv("repl_backlog_size", "0".into()),
        kv("repl_backlog_first_byte_offset", "0".into()),
        kv("repl_backlog_histlen", "0".into()),
    ];
    let cpu = cpu_times();
    let cpu = vec![
        kv("used_cpu_sys", format!("{:.6}", cpu.sys)),
        kv("used_cpu_user", format!("{:.6}", cpu.user)),
        kv("used_cpu_sys_children", format!("{:.6}", cpu.sys_children)),
        kv("used_cpu_user_children", format!("{:.6}", cpu.user_children)),
        kv("used_cpu_sys_main_thread", format!("{:.6}", cpu.sys_main)),
        kv("used_cpu_user_main_thread", format!("{:.6}", cpu.user_main)),
    ];
    vec![
        ("Server", server),
        ("Clients", clients),
        ("Memory", memory),
        ("Persistence", persistence),
        ("Stats", stats_section),
        ("Replication", replication),
        ("CPU", cpu),
        ("Commandstats", commandstats),
        ("Errorstats", errorstats),
        ("Cluster", vec![kv("cluster_enabled", "0".into())]),
        ("Keyspace", keyspace),
    ]
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A 40-hex-digit id, stable for the life of the process, as Redis's
/// `master_replid` (clients compare it to tell a restarted server).
fn replication_id(started: u64) -> String {
    let seed = format!("{}:{started}", std::process::id());
    let a = xxhash_rust::xxh3::xxh3_64(seed.as_bytes());
    let b = xxhash_rust::xxh3::xxh3_64_with_seed(seed.as_bytes(), a);
    format!("{a:016x}{b:016x}{:08x}", (a ^ b) as u32)
}

/// Seconds of CPU the process (and its main thread) has used.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct CpuTimes {
    user: f64,
    sys: f64,
    user_children: f64,
    sys_children: f64,
    user_main: f64,
    sys_main: f64,
}

/// Reads `/proc/self/stat` and the main thread's; zeros where there is
/// no /proc.
fn cpu_times() -> CpuTimes {
    let process = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let main = std::fs::read_to_string(format!("/proc/self/task/{}/stat", std::process::id()))
        .unwrap_or_default();
    let (p, m) = (stat_ticks(&process), stat_ticks(&main));
    CpuTimes {
        user: p[0],
        sys: p[1],
        user_children: p[2],
        sys_children: p[3],
        user_main: m[0],
        sys_main: m[1],
    }
}

/// utime, stime, cutime, cstime of a `stat` line, in seconds (Linux
/// reports them in USER_HZ, 100 per second on every architecture).
fn stat_ticks(stat: &str) -> [f64; 4] {
    const USER_HZ: f64 = 100.0;
    // The command name may hold spaces and parentheses: fields start after
    // the last `)`; utime is the 14th field, the 12th after it.
    let fields = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let mut ticks = fields.split_whitespace().skip(11).map(|f| f.parse::<f64>().unwrap_or(0.0));
    std::array::from_fn(|_| ticks.next().unwrap_or(0.0) / USER_HZ)
}

/// Sections `INFO` without arguments (or `INFO default`) shows, as Redis.
fn in_default(section: &str) -> bool {
    section != "Commandstats"
}

/// The INFO/STATS sections, each marked whether `sections` asked for it
/// (empty: Redis's default set).
pub fn sections(snapshot: &Snapshot, settings: &Settings, sections: Args<'_>) -> Vec<InfoSection> {
    let wanted = |name: &str| {
        (sections.is_empty() && in_default(name))
            || sections.iter().any(|s| {
                s.eq_ignore_ascii_case(name.as_bytes())
                    || s.eq_ignore_ascii_case(b"all")
                    || s.eq_ignore_ascii_case(b"everything")
                    || (s.eq_ignore_ascii_case(b"default") && in_default(name))
            })
    };
    fields(snapshot, settings)
        .into_iter()
        .map(|(title, fields)| InfoSection { title, fields, selected: wanted(title) })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{human, stat_ticks};
    use crate::glob;

    #[test]
    fn cpu_times_from_a_stat_line_with_an_awkward_name() {
        let line = "4242 (cap kv) (x)) S 1 2 3 4 5 6 7 8 9 10 250 125 50 25 20 0 1";
        assert_eq!(stat_ticks(line), [2.5, 1.25, 0.5, 0.25]);
        assert_eq!(stat_ticks(""), [0.0; 4]);
    }

    #[test]
    fn human_sizes_as_redis_prints_them() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1024), "1.00K");
        assert_eq!(human(1536 * 1024), "1.50M");
        assert_eq!(human(256 << 20), "256.00M");
        assert_eq!(human(2 << 30), "2.00G");
    }

    /// CONFIG GET matches as Redis does, without case (`crate::glob`).
    #[test]
    fn config_get_patterns() {
        let glob = |p: &[u8], t: &[u8]| glob::matches(p, t, true);
        assert!(glob(b"*", b"maxmemory"));
        assert!(glob(b"max*", b"maxmemory-policy"));
        assert!(glob(b"MAXMEMORY", b"maxmemory"));
        assert!(glob(b"m?xclients", b"maxclients"));
        assert!(!glob(b"max", b"maxmemory"));
        assert!(!glob(b"*x", b"maxmemory"));
    }
}
