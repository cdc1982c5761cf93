//! The memory budget: the only module that reads jemalloc or cgroups.
//!
//! - [`cgroup`]: the container's limit and working set (v2 or v1).
//! - [`jemalloc`]: allocator statistics and purge settings.
//! - [`budget`]: the shared account segments, buffers and everything else
//!   draw from; connection buffers reserve here before they grow.
//! - [`buffer`]: a byte buffer whose every byte is reserved in the budget
//!   before it is allocated (what connections read into and write from).
//! - [`governor`]: the background thread that measures and moves the
//!   store's segment quota.
//! - [`reading`]: one measurement, written by the governor and published
//!   through the budget.
//!
//! Arrows run one way: the governor drives the budget; the budget and the
//! buffers know nothing of the governor.

pub mod budget;
pub mod buffer;
pub mod cgroup;
pub mod governor;
pub mod jemalloc;
pub mod reading;

pub use budget::{Bounds, Budget};
pub use buffer::Buffer;
pub use cgroup::Cgroup;
pub use governor::{Governor, GovernorConfig};
pub use reading::Reading;
