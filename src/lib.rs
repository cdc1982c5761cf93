//! capkv: an in-memory key-value cache that never outgrows its memory limit.
//!
//! # Layout
//! Data flows top to bottom; no module reaches upward.
//! - [`config`]: plain configuration structs and memory-limit detection.
//! - [`decimal`]: Redis's decimal integer rules, for protocol and store.
//! - [`server`]: the only module that touches sockets: accept loop,
//!   per-connection tasks, execution of commands against the store, the
//!   metrics and health port.
//! - [`protocol`]: pure parsers and encoders for the line protocol and RESP2.
//! - [`store`]: segments, the hash index, eviction. Knows nothing of sockets.
//! - [`memory`]: the byte budget: jemalloc and cgroup readings, the governor.
//! - [`units`]: byte sizes and durations, read from flags and written for people.

pub mod config;
pub mod decimal;
pub mod memory;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod store;
pub mod units;
