//! capkv: an in-memory key-value cache that never outgrows its memory limit.
//!
//! # Layout
//! Data flows top to bottom; no module reaches upward.
//! - [`acl`]: users, passwords, command categories and key patterns;
//!   the one authorization check the engine makes before a command.
//! - [`config`]: plain configuration structs and memory-limit detection.
//! - [`server`]: the only module that touches sockets: listeners, accept,
//!   the connection limit, per-connection read/execute/write loops,
//!   backpressure and client eviction, shutdown, the metrics and health
//!   port.
//! - [`engine`]: runs one command against the store and writes its reply
//!   through an output seam (a connection's buffer, or a `Vec<u8>` in
//!   tests); INFO, STATS and CONFIG GET.
//! - [`protocol`]: pure parsers and encoders for the line protocol, RESP2
//!   and RESP3; the command registry (name, arity, flags per command).
//! - [`metrics`]: counters, and the one snapshot INFO and `/metrics` render.
//! - [`memory`]: the byte budget: jemalloc and cgroup readings, the
//!   governor, budget-accounted buffers.
//! - [`store`]: segments, the hash index, eviction. Knows nothing of
//!   sockets or protocols.
//! - [`glob`]: Redis's glob patterns (ACL key patterns; KEYS and SCAN
//!   later).
//! - [`decimal`]: Redis's decimal integer rules, shared by protocol and
//!   store.
//! - [`extfloat`]: x87 `long double` arithmetic and printing, for
//!   INCRBYFLOAT's Redis-exact results.
//! - [`units`]: byte sizes and durations, read from flags and written for
//!   people.

#![forbid(unsafe_code)]

pub mod acl;
pub mod config;
pub mod decimal;
pub mod engine;
pub mod extfloat;
pub mod glob;
pub mod memory;
pub mod metrics;
pub mod protocol;
pub mod server;
pub mod store;
pub mod units;
