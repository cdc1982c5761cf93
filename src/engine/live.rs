//! The settings `CONFIG SET` changes while the server runs, shared by the
//! engine (which writes them) and the server (which reads them).
//!
//! Each is one atomic, read where it is used and never on a request's
//! path: the connection cap at accept, the idle timeout once per wait for
//! the client, the slowlog threshold once per read/execute/write round.
//! The memory budget is not here: it lives in
//! [`Budget`](crate::memory::Budget), which the governor reads every tick.
//!
//! A connection waiting for its client holds no timer while there is no
//! idle timeout (see `server::connection`), so setting one must wake the
//! idle connections for them to start counting: [`Live::timeout_changed`]
//! tells the server, which wakes them all.

use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Redis's default `slowlog-log-slower-than`, in microseconds.
pub const SLOWLOG_SLOWER_THAN: i64 = 10_000;
/// Redis's default `slowlog-max-len`.
pub const SLOWLOG_MAX_LEN: usize = 128;

/// See the module docs.
#[derive(Debug)]
pub struct Live {
    max_clients: AtomicUsize,
    /// Milliseconds; 0: never.
    idle_timeout_ms: AtomicU64,
    slowlog_slower_than: AtomicI64,
    slowlog_max_len: AtomicUsize,
    timeout_changed: Notify,
}

impl Live {
    /// Start-up values: the flags', and Redis's slowlog defaults.
    pub fn new(max_clients: usize, idle_timeout: Option<Duration>) -> Live {
        let ms = idle_timeout.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Live {
            max_clients: AtomicUsize::new(max_clients),
            idle_timeout_ms: AtomicU64::new(ms),
            slowlog_slower_than: AtomicI64::new(SLOWLOG_SLOWER_THAN),
            slowlog_max_len: AtomicUsize::new(SLOWLOG_MAX_LEN),
            timeout_changed: Notify::new(),
        }
    }

    /// `maxclients`: most connections accepted at once.
    pub fn max_clients(&self) -> usize {
        self.max_clients.load(Ordering::Relaxed)
    }

    pub(super) fn set_max_clients(&self, n: usize) {
        self.max_clients.store(n, Ordering::Relaxed);
    }

    /// `timeout`: close connections idle this long (`None`: never).
    pub fn idle_timeout(&self) -> Option<Duration> {
        match self.idle_timeout_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
    }

    /// `timeout` in whole seconds, as CONFIG GET shows it (0: never).
    pub fn idle_timeout_secs(&self) -> u64 {
        self.idle_timeout().map_or(0, |d| d.as_secs().max(1))
    }

    pub(super) fn set_idle_timeout_secs(&self, secs: u64) {
        self.idle_timeout_ms.store(secs.saturating_mul(1000), Ordering::Relaxed);
        // One permit is stored if the server is not waiting right now.
        self.timeout_changed.notify_one();
    }

    /// Resolves after the idle timeout has changed (one waiter: the
    /// server, which wakes the connections).
    pub async fn timeout_changed(&self) {
        self.timeout_changed.notified().await;
    }

    /// `slowlog-log-slower-than` in microseconds (negative: off).
    pub fn slowlog_slower_than(&self) -> i64 {
        self.slowlog_slower_than.load(Ordering::Relaxed)
    }

    pub(super) fn set_slowlog_slower_than(&self, micros: i64) {
        self.slowlog_slower_than.store(micros, Ordering::Relaxed);
    }

    /// `slowlog-max-len`.
    pub fn slowlog_max_len(&self) -> usize {
        self.slowlog_max_len.load(Ordering::Relaxed)
    }

    pub(super) fn set_slowlog_max_len(&self, n: usize) {
        self.slowlog_max_len.store(n, Ordering::Relaxed);
    }
}
