//! One measurement of the process, as the governor takes it and the budget
//! publishes it. It has a module of its own because both sides use it: the
//! governor writes it, the budget hands it to INFO and `/metrics`.

use super::jemalloc::HeapStats;

/// One measurement, as published for STATS/INFO and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Allocator statistics.
    pub heap: HeapStats,
    /// Process resident set size.
    pub rss: u64,
    /// Cgroup working set, when in a memory cgroup.
    pub cgroup_usage: Option<u64>,
    /// Kernel socket buffers charged to the cgroup (v2 only); part of
    /// `cgroup_usage`, so the budget already counts them.
    pub sockets: Option<u64>,
    /// The largest of the views above: what the budget is held to.
    pub truth: u64,
    /// Segment bytes allocated.
    pub segments: u64,
    /// Index bytes.
    pub index: u64,
    /// Connection buffer bytes.
    pub buffers: u64,
    /// Everything else (runtime, allocator overhead, kernel charges).
    pub other: u64,
    /// Segment quota set by this tick.
    pub quota: usize,
    /// Segments released by this tick.
    pub released: usize,
    /// Times dirty pages were purged because the process was over budget.
    pub emergency_purges: u64,
}
