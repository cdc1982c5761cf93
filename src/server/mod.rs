//! The network side: the only module that touches sockets. It accepts,
//! reads, writes and closes; what a request means is the
//! [`engine`](crate::engine)'s business.
//!
//! - [`Server::start`] builds the store, the budget and the memory governor
//!   from a [`Config`];
//! - [`Server::run`] accepts on a bound listener until `shutdown` resolves
//!   (tests bind port 0 and pass their own shutdown future), then stops
//!   accepting, lets every connection finish the requests it already read,
//!   and returns once all are gone or the drain deadline passes;
//! - [`Server::serve_metrics`] answers `/metrics`, `/healthz` and `/readyz`
//!   on a second listener ([`http`], [`prometheus`]); readiness follows the
//!   [`Phase`] that `run` moves through;
//! - [`workers`] are the threads connections live on, one current-thread
//!   runtime each (a FIFO run queue: fair to a thousand clients at once);
//!   a new connection goes to the worker serving the fewest;
//! - [`stop`] is the connection table: the drain signal, CLIENT KILL's
//!   wake-up and the records CLIENT LIST reads ([`clients`] hands it to
//!   the engine);
//! - [`connection`] serves one client: reads, hands each parsed request
//!   to the engine, writes the replies, all in its worker's [`space`]; it
//!   keeps budget-accounted bytes of its own only for a request still
//!   arriving or replies the client has not read;
//! - [`transport`] is what a connection reads and writes: a plain socket,
//!   or a TLS session over one, driven without awaiting like the plain
//!   socket; [`tls`] builds and reloads the TLS configuration and runs
//!   the handshake (`--tls-port`: the same protocols, the same connection
//!   cap, the same budget).
//!
//! Connections over `--max-connections` (`maxclients`, which CONFIG SET
//! moves while the server runs) are accepted, told
//! `-ERR max number of clients reached` (Redis's words) and closed, rather
//! than left hanging in the kernel's backlog. The idle timeout is live
//! too: `run` wakes every connection when CONFIG SET changes it (see
//! [`stop`]).

pub mod clients;
pub mod connection;
pub mod holders;
pub mod http;
pub mod prometheus;
pub mod space;
pub mod stop;
pub mod tls;
pub mod transport;
pub mod workers;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::config::Config;
use crate::engine::{Engine, Live, Settings};
use crate::memory::{Budget, Cgroup, Governor, GovernorConfig};
use crate::protocol::Limits;
use crate::store::{Store, StoreConfig};
use stop::Stop;
use tls::TlsFiles;
use transport::Transport;
use workers::Workers;

/// Open files kept for everything that is not a client (listeners, the
/// metrics port, /proc and cgroup reads), as `main` reserves them.
pub const SPARE_FILES: u64 = 64;

/// Time between governor measurements.
const GOVERNOR_TICK: Duration = Duration::from_millis(10);

/// Where a server is in its life, as `/readyz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Built, not yet accepting clients.
    Starting = 0,
    /// Accepting clients.
    Serving = 1,
    /// Shutdown has begun: the client listener is closed and open
    /// connections are finishing.
    Draining = 2,
}

/// State every connection shares.
pub struct Shared {
    /// What runs the commands: the store, the budget, the counters.
    pub engine: Engine,
    /// Parser limits.
    pub limits: Limits,
    /// The same limits with Redis's inline cap, for the Redis port.
    pub redis_limits: Limits,
    /// Close connections that do not read replies for this long.
    pub write_timeout: Duration,
    /// Largest request or reply one connection may buffer, as the flag
    /// set it (see [`Shared::client_buffer_cap`]).
    pub max_client_buffer: usize,
    /// Connections holding buffers without moving them, and which of them
    /// give their buffers up first when others need them.
    pub holders: holders::Holders,
    /// The drain signal and the connection table (CLIENT LIST, KILL).
    pub stop: Arc<Stop>,
    next_id: AtomicU64,
    phase: AtomicU8,
}

impl Shared {
    /// Where the server is in its life.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            0 => Phase::Starting,
            1 => Phase::Serving,
            _ => Phase::Draining,
        }
    }

    /// Largest request or reply one connection may buffer now: the
    /// flag's, and at most the buffers' share of the budget, which
    /// `CONFIG SET maxmemory` may have lowered (a request past the share
    /// would wait for room that never comes).
    pub fn client_buffer_cap(&self) -> usize {
        let share = self.engine.budget.buffer_share();
        self.max_client_buffer.min(usize::try_from(share).unwrap_or(usize::MAX))
    }

    /// Close connections idle this long (`CONFIG SET timeout`).
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.engine.settings.live.idle_timeout()
    }

    fn set_phase(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Release);
    }
}

/// A running cache: store, budget and governor, ready to serve.
pub struct Server {
    shared: Arc<Shared>,
    governor_stop: Arc<AtomicBool>,
    governor: Option<JoinHandle<()>>,
    expiry: Option<JoinHandle<()>>,
    workers: Workers,
    drain: Duration,
}

impl Server {
    /// Builds everything `config` describes and starts the governor and
    /// the worker threads.
    pub fn start(config: &Config) -> io::Result<Server> {
        let store_config = StoreConfig { segment_quota: 0, ..config.store.clone() };
        let store = Arc::new(Store::new(&store_config));
        let budget = Arc::new(Budget::new(config.budget, store));
        // A cgroup without a limit cannot OOM-kill us, and its usage may be
        // other processes' (a login session, a CI runner): ignore it then.
        let cgroup = Cgroup::detect().filter(|c| c.limit().is_some());
        let mut governor = Governor::new(
            budget.clone(),
            cgroup,
            GovernorConfig {
                tick: GOVERNOR_TICK,
                hard_limit: config.hard_limit,
                min_reserve: (config.budget / 256).clamp(1 << 20, 16 << 20),
            },
        );
        // One measurement before serving, so the quota is right from the
        // first request.
        governor.tick();
        let governor_stop = Arc::new(AtomicBool::new(false));
        let handle = governor.spawn(governor_stop.clone())?;
        let expiry = crate::store::expiry::spawn(budget.store().clone(), governor_stop.clone())?;
        // As Redis: maxclients may not pass what the open-files limit
        // (raised at start-up) leaves for clients.
        let files = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(soft, _)| soft);
        let ceiling = usize::try_from(files.saturating_sub(SPARE_FILES)).unwrap_or(usize::MAX);
        let settings = Settings {
            port: config.listen.port(),
            bind: config.listen.ip().to_string(),
            max_value_size: config.limits.max_value_size,
            hard_limit: config.hard_limit,
            workers: config.workers,
            max_client_buffer: config.max_client_buffer,
            budget_bounds: config.budget_bounds.clone(),
            max_clients_ceiling: ceiling.max(config.max_connections),
            live: Arc::new(Live::new(config.max_connections, config.idle_timeout)),
        };
        let stop = Arc::new(Stop::default());
        let engine = Engine::new(budget, settings).with_access(config.access.clone());
        let shared = Arc::new(Shared {
            engine: engine.with_clients(stop.clone()),
            limits: config.limits,
            redis_limits: Limits { max_inline: crate::protocol::REDIS_INLINE_MAX, ..config.limits },
            write_timeout: config.write_timeout,
            max_client_buffer: config.max_client_buffer,
            holders: holders::Holders::default(),
            stop,
            next_id: AtomicU64::new(1),
            phase: AtomicU8::new(Phase::Starting as u8),
        });
        let workers = Workers::start(config.workers)?;
        Ok(Server {
            shared,
            governor_stop,
            governor: Some(handle),
            expiry: Some(expiry),
            workers,
            drain: config.shutdown_timeout,
        })
    }

    /// The shared state (store, budget, counters).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Answers `/metrics`, `/healthz` and `/readyz` on `listener` (see
    /// [`http`]) in a task of the current runtime, until the runtime stops.
    /// It keeps answering through the drain, so `/readyz` can say so.
    pub fn serve_metrics(&self, listener: TcpListener) -> tokio::task::JoinHandle<()> {
        tokio::spawn(http::serve(listener, self.shared.clone()))
    }

    /// Serves `listener` until `shutdown` resolves, then drains. Returns
    /// true if every connection finished within the drain deadline.
    pub async fn run(&self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> bool {
        self.run_ports(listener, Ports::default(), shutdown).await
    }

    /// [`run`](Self::run), with the other ports as well: the Redis port
    /// and the TLS port (see [`Ports`]), under the same connection cap.
    pub async fn run_ports(
        &self,
        listener: TcpListener,
        ports: Ports,
        shutdown: impl Future<Output = ()>,
    ) -> bool {
        let Ports { redis, tls } = ports;
        let shared = &self.shared;
        shared.set_phase(Phase::Serving);
        let stop = shared.stop.clone();
        tokio::spawn(clients::tick(stop.clone()));
        // Raised however `run` ends, dropped half-way included, so no
        // connection waits for a signal that never comes.
        let _raise = RaiseOnDrop(stop.clone());
        // Each connection holds a sender; when all are dropped, recv()
        // returns None: every connection is gone (mini-redis's pattern).
        let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
        let clients = Arc::new(AtomicUsize::new(0));
        // `CONFIG SET timeout`: wake every waiting connection, so that
        // those waiting without a timer start one.
        let follow = {
            let (shared, stop) = (shared.clone(), stop.clone());
            AbortOnDrop(tokio::spawn(async move {
                loop {
                    shared.engine.settings.live.timeout_changed().await;
                    stop.nudge();
                }
            }))
        };
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(5);
        loop {
            let tls_listener = tls.as_ref().map(|(listener, _)| listener);
            let (accepted, kind) = tokio::select! {
                // Shutdown first: once it has resolved, not one more
                // connection is accepted, even if one is waiting.
                biased;
                _ = &mut shutdown => break,
                accepted = listener.accept() => (accepted, Port::Mixed),
                accepted = accept_if(redis.as_ref()) => (accepted, Port::Redis),
                accepted = accept_if(tls_listener) => (accepted, Port::Tls),
            };
            let over_tls = kind == Port::Tls;
            let socket = match accepted {
                Ok((socket, _)) => {
                    backoff = Duration::from_millis(5);
                    socket
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off rather
                    // than spin, and keep serving existing clients.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            shared.engine.stats.connections_total.fetch_add(1, Ordering::Relaxed);
            let limit = shared.engine.settings.live.max_clients();
            let Some(permit) = ClientPermit::acquire(&clients, limit) else {
                shared.engine.stats.connections_rejected.fetch_add(1, Ordering::Relaxed);
                // A TLS client could not read a plaintext reason.
                if !over_tls {
                    tokio::spawn(reject(socket));
                }
                continue;
            };
            // The socket moves to the worker's own I/O driver.
            let socket = match socket.into_std() {
                Ok(socket) => socket,
                Err(e) => {
                    tracing::debug!(error = %e, "accepted socket unusable");
                    continue;
                }
            };
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            let (shared, stop, done) = (shared.clone(), stop.clone(), done_tx.clone());
            if over_tls {
                let config = tls.as_ref().map(|(_, files)| files.current());
                self.workers
                    .spawn(|seat| serve_tls(socket, config, shared, stop, id, seat, permit, done));
                continue;
            }
            // Everything the task keeps is moved in once and used in
            // place (no `let` of a captured value), so that the idle
            // connection's task holds one copy of each (see
            // `connection::serve`).
            self.workers.spawn(|seat| async move {
                if let Ok(socket) = TcpStream::from_std(socket) {
                    let stats = &shared.engine.stats;
                    stats.connections_current.fetch_add(1, Ordering::Relaxed);
                    let socket = Transport::Plain(socket);
                    connection::serve(socket, kind, shared.clone(), stop, id).await;
                    stats.connections_current.fetch_sub(1, Ordering::Relaxed);
                } else {
                    tracing::warn!("registering a connection with its worker failed");
                }
                drop((seat, permit, done));
            });
        }
        // Closed first (all of them), then reported: whoever sees `/readyz` say draining
        // knows a new connection is refused. Connections still in the
        // kernel's accept queue are reset with it, never half-served.
        drop((listener, redis, tls, follow));
        shared.set_phase(Phase::Draining);
        tracing::info!(
            connections = shared.engine.stats.connections_current.load(Ordering::Relaxed),
            "listener closed; draining"
        );
        stop.stop();
        drop(done_tx);
        tokio::time::timeout(self.drain, done_rx.recv()).await.is_ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.governor_stop.store(true, Ordering::Relaxed);
        for handle in [self.governor.take(), self.expiry.take()].into_iter().flatten() {
            let _ = handle.join();
        }
    }
}

/// The listeners besides the mixed one (`--port`).
#[derive(Default)]
pub struct Ports {
    /// `--redis-port`: RESP only, parsed as Redis parses it.
    pub redis: Option<TcpListener>,
    /// `--tls-port`: both protocols over TLS, and the configuration its
    /// handshakes use.
    pub tls: Option<(TcpListener, Arc<TlsFiles>)>,
}

/// Which port a client came in on: what its first bytes may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    /// `--port`: the seed's line protocol or RESP, told apart by the
    /// first byte; RESP inline requests as long as a line request.
    Mixed,
    /// `--redis-port`: RESP from the first byte, inline requests as Redis
    /// takes them (at most 64 KiB, blank lines skipped), so telnet and the
    /// Redis test suite see a Redis.
    Redis,
    /// `--tls-port`: as [`Port::Mixed`], over TLS.
    Tls,
}

/// Accepts on `listener`, or never when there is none.
async fn accept_if(
    listener: Option<&TcpListener>,
) -> io::Result<(TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// A TLS client's task: the handshake, then the same connection loop as
/// plain TCP. Its own function, so that a plain connection's task does
/// not carry the handshake's state.
#[expect(clippy::too_many_arguments, reason = "the task's parts, each moved in once")]
async fn serve_tls(
    socket: std::net::TcpStream,
    config: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
    stop: Arc<Stop>,
    id: u64,
    seat: workers::Seat,
    permit: ClientPermit,
    done: mpsc::Sender<()>,
) {
    let stats = &shared.engine.stats;
    if let (Ok(socket), Some(config)) = (TcpStream::from_std(socket), config) {
        match Box::pin(tls::handshake(socket, config, &shared.engine.budget)).await {
            Ok((transport, held)) => {
                stats.tls_handshakes.fetch_add(1, Ordering::Relaxed);
                stats.connections_current.fetch_add(1, Ordering::Relaxed);
                connection::serve(transport, Port::Mixed, shared.clone(), stop, id).await;
                stats.connections_current.fetch_sub(1, Ordering::Relaxed);
                drop(held);
            }
            Err(e) => {
                stats.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(connection = id, error = %e, "TLS handshake failed");
            }
        }
    }
    drop((seat, permit, done));
}

/// One client's place under `maxclients`, given back when dropped. A
/// count checked against the live limit, not a semaphore: `CONFIG SET
/// maxclients` below the open connections keeps them (as Redis does) and
/// refuses newcomers until enough have left.
struct ClientPermit(Arc<AtomicUsize>);

impl ClientPermit {
    fn acquire(clients: &Arc<AtomicUsize>, limit: usize) -> Option<ClientPermit> {
        clients
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .ok()
            .map(|_| ClientPermit(clients.clone()))
    }
}

impl Drop for ClientPermit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Stops a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Raises the drain signal when dropped.
struct RaiseOnDrop(Arc<Stop>);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Tells a client over the connection limit why, and closes without
/// losing the reason: FIN after the line, then read and discard what the
/// client already sent for at most [`connection::LINGER`], so the kernel
/// does not reset the connection (and the line with it) over unread input.
async fn reject(mut socket: TcpStream) {
    use tokio::io::AsyncReadExt;
    let _ = socket.write_all(b"-ERR max number of clients reached\r\n").await;
    if socket.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 512];
    let discard = async { while let Ok(1..) = socket.read(&mut sink).await {} };
    let _ = tokio::time::timeout(connection::LINGER, discard).await;
}
