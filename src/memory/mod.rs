//! The memory budget: the only module that reads jemalloc or cgroups.
//!
//! - [`cgroup`]: the container's limit and working set (v2 or v1).
//! - [`jemalloc`]: allocator statistics and purge settings.
//! - [`budget`]: the shared account segments, buffers and everything else
//!   draw from; connection buffers reserve here before they grow.
//! - [`governor`]: the background thread that measures and moves the
//!   store's segment quota.

pub mod budget;
pub mod cgroup;
pub mod governor;
pub mod jemalloc;

pub use budget::Budget;
pub use cgroup::Cgroup;
pub use governor::{Governor, GovernorConfig, Reading};
