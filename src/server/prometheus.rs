//! `/metrics`: the counters of [`crate::metrics`], the store and the memory
//! budget in the Prometheus text format (version 0.0.4).
//!
//! The counters stay where they are (the atomics in
//! [`ServerStats`](crate::metrics::ServerStats), the shard counters, the
//! governor's [`Reading`](crate::memory::Reading)); a scrape copies them
//! into the same [`Snapshot`] that INFO renders and
//! encodes that through a `prometheus-client` collector built for the
//! scrape. Nothing on the request path knows Prometheus exists, and there
//! is no second set of counters that could drift from STATS/INFO.
//!
//! `prometheus-client` (the Prometheus project's Rust client) writes the
//! exposition format: `# HELP`/`# TYPE` lines, the `_total` suffix of
//! counters, the `_bytes` unit suffix, label escaping. Names follow the
//! Prometheus conventions (one `capkv_` prefix, base units, `_total` for
//! counters); where a Redis figure has the same meaning, the name is the one
//! redis_exporter uses (`keyspace_hits`, `evicted_keys`, `net_input_bytes`)
//! so Redis dashboards translate with a prefix change.
//!
//! Every command kind is exported with both results, zero or not, so that
//! `rate()` has a series from the first scrape on. Figures that do not
//! exist on this host (the cgroup limit and usage outside a memory-limited
//! cgroup) are left out rather than reported as 0, which would read as "no
//! memory" on a dashboard.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use crate::metrics::Snapshot;
use crate::protocol::ERROR_CODES;
use crate::store::ShardBytes;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The snapshot in the Prometheus text format.
pub fn render(snapshot: Snapshot) -> String {
    let mut registry = Registry::with_prefix("capkv");
    registry.register_collector(Box::new(snapshot));
    let mut text = String::with_capacity(16 * 1024);
    // Writing to a String cannot fail; an error here would be a bug in the
    // collector, and an empty page is the honest answer to it.
    if prometheus_client::encoding::prometheus_text::encode(&mut text, &registry).is_err() {
        text.clear();
    }
    text
}

type Result = std::result::Result<(), std::fmt::Error>;

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    v: u64,
) -> Result {
    let metric = ConstCounter::new(v);
    metric.encode(e.encode_descriptor(name, help, unit.as_ref(), metric.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, unit: Option<Unit>, v: u64) -> Result {
    let metric = ConstGauge::new(v);
    metric.encode(e.encode_descriptor(name, help, unit.as_ref(), metric.metric_type())?)
}

fn bytes(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result {
    gauge(e, name, help, Some(Unit::Bytes), v)
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> Result {
        let (s, store, r) = (&self.stats, &self.store, &self.reading);
        let e = &mut e;

        let mut family = e.encode_descriptor(
            "commands",
            "Commands answered, by command and result (invalid: requests that did not parse).",
            None,
            MetricType::Counter,
        )?;
        for result in ["ok", "error"] {
            let calls =
                s.commands.iter().map(|c| (c.name, if result == "ok" { c.ok } else { c.failed }));
            let invalid = if result == "ok" { 0 } else { s.invalid };
            for (name, n) in calls.chain([("invalid", invalid)]) {
                let labels = [("command", name), ("result", result)];
                ConstCounter::new(n).encode(family.encode_family(&labels)?)?;
            }
        }
        // redis_exporter's redis_commands_duration_seconds_total, from the
        // same clock as INFO commandstats' usec.
        let mut durations = e.encode_descriptor(
            "commands_duration",
            "Time spent executing commands, by command (INFO commandstats usec).",
            Some(&Unit::Seconds),
            MetricType::Counter,
        )?;
        for c in &s.commands {
            let seconds = c.nanos as f64 / 1e9;
            ConstCounter::new(seconds).encode(durations.encode_family(&[("command", c.name)])?)?;
        }
        counter(e, "keyspace_hits", "Key lookups that found a live key.", None, s.hits)?;
        counter(e, "keyspace_misses", "Key lookups that found nothing.", None, s.misses)?;
        let c = &store.counters;
        counter(e, "evicted_keys", "Live keys dropped by eviction.", None, c.evicted_items)?;
        counter(
            e,
            "expired_keys",
            "Keys dropped because their TTL passed.",
            None,
            c.expired_items,
        )?;
        counter(
            e,
            "retained_keys",
            "Keys copied forward by eviction because they had been read.",
            None,
            c.retained_items,
        )?;
        counter(
            e,
            "evicted_segments",
            "Segments reclaimed by eviction.",
            None,
            c.evicted_segments,
        )?;
        counter(
            e,
            "cleaned_segments",
            "Segments compacted for their dead bytes ahead of their turn, keeping every live item.",
            None,
            c.cleaned_segments,
        )?;
        counter(
            e,
            "overwrites_in_place",
            "Overwrites written over the old item in place (no dead copy left).",
            None,
            c.overwrites_in_place,
        )?;
        counter(
            e,
            "rejected_writes",
            "Writes refused for lack of memory (out of memory errors).",
            None,
            s.rejected_writes,
        )?;

        gauge(e, "connections_current", "Open client connections.", None, s.connections_current)?;
        counter(
            e,
            "connections",
            "Client connections accepted, including those refused at --max-connections.",
            None,
            s.connections_total,
        )?;
        counter(
            e,
            "connections_rejected",
            "Client connections refused at --max-connections.",
            None,
            s.connections_rejected,
        )?;
        counter(
            e,
            "clients_evicted",
            "Connections closed for holding buffers, without moving them, that other clients waited for.",
            None,
            s.clients_evicted,
        )?;
        counter(e, "tls_handshakes", "TLS handshakes completed.", None, s.tls_handshakes)?;
        counter(
            e,
            "tls_handshake_failures",
            "TLS handshakes that failed or timed out.",
            None,
            s.tls_handshake_failures,
        )?;
        counter(
            e,
            "auth_failures",
            "Failed AUTH and HELLO AUTH attempts (wrong password, unknown or disabled user).",
            None,
            s.auth_failures,
        )?;
        let mut denied = e.encode_descriptor(
            "acl_denied",
            "Commands refused by the ACL (or --deny-dangerous), by reason.",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in [("command", s.acl_denied_command), ("key", s.acl_denied_key)] {
            ConstCounter::new(n).encode(denied.encode_family(&[("reason", reason)])?)?;
        }
        // Every code, zero or not, so a rate() has a series from the start.
        let mut errors = e.encode_descriptor(
            "error_replies",
            "Error replies, by error code (INFO errorstats).",
            None,
            MetricType::Counter,
        )?;
        for (code, n) in ERROR_CODES.iter().zip(s.errors) {
            ConstCounter::new(n).encode(errors.encode_family(&[("code", *code)])?)?;
        }
        counter(e, "net_input", "Bytes read from clients.", Some(Unit::Bytes), s.bytes_in)?;
        counter(e, "net_output", "Bytes written to clients.", Some(Unit::Bytes), s.bytes_out)?;

        gauge(
            e,
            "items",
            "Keys stored (expired ones not yet noticed included).",
            None,
            to_u64(store.items),
        )?;
        bytes(e, "memory_budget", "The memory budget the whole process is held to.", self.budget)?;
        if let Some(limit) = self.hard_limit {
            bytes(
                e,
                "memory_limit",
                "The container (cgroup) memory limit detected at start-up.",
                limit,
            )?;
        }
        bytes(
            e,
            "memory_measured",
            "The process's footprint as the governor last measured it: the largest of RSS, \
             cgroup working set and jemalloc resident.",
            r.truth,
        )?;
        bytes(
            e,
            "memory_other",
            "Memory that is neither segments nor connection buffers (index, runtime, allocator, \
             kernel), as the governor last measured it.",
            r.other,
        )?;
        bytes(e, "item", "Bytes of live items (headers, keys, values).", to_u64(store.item_bytes))?;
        bytes(
            e,
            "dead",
            "Bytes of dead copies (overwritten, deleted, expired) still in segments.",
            to_u64(store.dead_bytes),
        )?;
        let live = ConstGauge::new(store.live_fraction());
        live.encode(e.encode_descriptor(
            "live_fraction",
            "Live item bytes over segment bytes allocated.",
            None,
            live.metric_type(),
        )?)?;
        for (name, help, value) in [
            (
                "shard_live",
                "Bytes of live items, by shard.",
                (|s: &ShardBytes| s.live_bytes) as fn(&ShardBytes) -> usize,
            ),
            ("shard_dead", "Bytes of dead copies in segments, by shard.", |s| s.dead_bytes),
            ("shard_segment", "Bytes of segments a shard holds, by shard.", |s| s.segment_bytes),
        ] {
            let mut family =
                e.encode_descriptor(name, help, Some(&Unit::Bytes), MetricType::Gauge)?;
            for (i, shard) in store.shards.iter().enumerate() {
                let label = i.to_string();
                ConstGauge::new(to_u64(value(shard)))
                    .encode(family.encode_family(&[("shard", label.as_str())])?)?;
            }
        }
        bytes(e, "index", "Bytes of the hash index.", to_u64(store.index_bytes))?;
        bytes(e, "buffer", "Bytes reserved by connection buffers.", self.buffer_bytes)?;
        bytes(e, "segment", "Bytes of segments allocated.", to_u64(store.segment_bytes))?;
        bytes(
            e,
            "segment_quota",
            "Bytes of segments the governor currently allows (quota times segment size).",
            to_u64(store.segment_quota.saturating_mul(store.segment_size)),
        )?;
        bytes(
            e,
            "jemalloc_allocated",
            "Bytes allocated by the program (jemalloc).",
            r.heap.allocated,
        )?;
        bytes(e, "jemalloc_resident", "Bytes in pages jemalloc holds resident.", r.heap.resident)?;
        bytes(
            e,
            "jemalloc_dirty",
            "Bytes in free pages jemalloc has not yet returned to the kernel.",
            r.heap.dirty,
        )?;
        bytes(e, "process_resident_memory", "Resident set size of the process.", r.rss)?;
        if let Some(usage) = r.cgroup_usage {
            bytes(
                e,
                "cgroup_usage",
                "Working set of the memory cgroup (usage minus inactive file pages).",
                usage,
            )?;
        }
        if let Some(sockets) = r.sockets {
            bytes(
                e,
                "socket_buffers",
                "Kernel socket buffers charged to the memory cgroup (cgroup v2 only).",
                sockets,
            )?;
        }
        counter(
            e,
            "memory_emergency_purges",
            "Times jemalloc's free pages were purged at once because the process neared the \
             container limit.",
            None,
            r.emergency_purges,
        )?;

        let mut info = e.encode_descriptor("build", "capkv's version.", None, MetricType::Info)?;
        info.encode_info(&[("version", env!("CARGO_PKG_VERSION"))])
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::CommandCalls;
    use crate::protocol::CommandId;

    fn sample() -> Snapshot {
        let mut s = Snapshot { budget: 1 << 30, hard_limit: Some(2 << 30), ..Snapshot::default() };
        s.stats.commands = CommandId::ALL
            .iter()
            .map(|id| CommandCalls { name: id.name(), ok: 0, failed: 0, nanos: 0 })
            .collect();
        s.stats.commands[CommandId::Get.slot()].ok = 7;
        s.stats.errors[4] = 2; // NOPERM
        s.stats.commands[CommandId::Get.slot()].nanos = 1_500_000_000;
        s.stats.hits = 5;
        s.store.segment_quota = 3;
        s.store.segment_size = 1 << 20;
        s.store.item_bytes = 3 << 19;
        s.store.dead_bytes = 1 << 19;
        s.store.segment_bytes = 2 << 20;
        s.store.shards = vec![
            ShardBytes { live_bytes: 1 << 20, dead_bytes: 0, segment_bytes: 1 << 20 },
            ShardBytes { live_bytes: 1 << 19, dead_bytes: 1 << 19, segment_bytes: 1 << 20 },
        ];
        s
    }

    #[test]
    fn live_and_dead_bytes_by_shard() {
        let text = render(sample());
        for line in [
            "# TYPE capkv_live_fraction gauge",
            "capkv_live_fraction 0.75",
            "capkv_dead_bytes 524288",
            "# TYPE capkv_shard_live_bytes gauge",
            "capkv_shard_live_bytes{shard=\"0\"} 1048576",
            "capkv_shard_live_bytes{shard=\"1\"} 524288",
            "capkv_shard_dead_bytes{shard=\"1\"} 524288",
            "capkv_shard_segment_bytes{shard=\"1\"} 1048576",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn names_types_and_values() {
        let text = render(sample());
        for line in [
            "# TYPE capkv_commands_total counter",
            "capkv_commands_total{command=\"get\",result=\"ok\"} 7",
            "capkv_commands_total{command=\"invalid\",result=\"error\"} 0",
            "capkv_error_replies_total{code=\"NOPERM\"} 2",
            "# TYPE capkv_commands_duration_seconds_total counter",
            "capkv_commands_duration_seconds_total{command=\"get\"} 1.5",
            "capkv_commands_duration_seconds_total{command=\"set\"} 0.0",
            "# TYPE capkv_keyspace_hits_total counter",
            "capkv_keyspace_hits_total 5",
            "# TYPE capkv_memory_limit_bytes gauge",
            "capkv_memory_limit_bytes 2147483648",
            "capkv_memory_budget_bytes 1073741824",
            "capkv_segment_quota_bytes 3145728",
            "capkv_net_input_bytes_total 0",
            "capkv_connections_current 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        let info = format!("capkv_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
        assert!(text.lines().any(|l| l == info), "missing {info:?}");
        // Every sample belongs to a family declared just before it.
        let mut family = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                family = rest.split(' ').next().unwrap().to_string();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(&family), "{line:?} outside its family {family:?}");
            }
        }
    }

    #[test]
    fn absent_cgroup_figures_are_left_out() {
        let text = render(Snapshot { hard_limit: None, ..sample() });
        assert!(!text.contains("capkv_memory_limit_bytes"));
        assert!(!text.contains("capkv_cgroup_usage_bytes"));
        assert!(!text.contains("capkv_socket_buffers_bytes"));
    }

    #[test]
    fn socket_buffers_are_shown_where_the_cgroup_charges_them() {
        let mut s = sample();
        s.reading.sockets = Some(4096);
        assert!(render(s).contains("\ncapkv_socket_buffers_bytes 4096\n"));
    }
}
