//! The `capkv` binary: parse configuration, start logging, run the server.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use tokio::net::TcpListener;

use capkv::acl::{Access, Source};
use capkv::config::{Cli, Config, Environment, LogFormat};
use capkv::memory::jemalloc;
use capkv::server::Server;
use capkv::units::show;

// The budget is measured with jemalloc's statistics, so jemalloc must be
// the allocator of every byte the process uses.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let environment = Environment::detect();
    let config = match cli.resolve(&environment) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("capkv: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logging(&config) {
        eprintln!("capkv: {e:#}");
        return ExitCode::from(2);
    }
    match run(config, environment) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .with_context(|| format!("--log-level: invalid filter '{}'", config.log_level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log_format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
    Ok(())
}

fn run(config: Config, environment: Environment) -> anyhow::Result<()> {
    if let Err(e) = jemalloc::configure() {
        tracing::warn!(error = %e, "could not configure jemalloc purging");
    }
    let open_files = raise_open_files(config.max_connections);
    // This runtime accepts, answers the metrics port and waits for signals;
    // connections live on the server's worker threads (server::workers).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .thread_name("capkv-main")
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let shutdown = shutdown_signal();
        let listener = listen(config.listen, config.socket_buffer)
            .with_context(|| format!("binding {}", config.listen))?;
        let address = listener.local_addr()?;
        // INFO reports the port actually bound (`--port 0` picks one).
        let config = Config { listen: address, ..config.clone() };
        let server = Server::start(&config).context("starting the store")?;
        reload_on_sighup(config.access.clone());
        if *config.access.source() == Source::Default && !address.ip().is_loopback() {
            tracing::warn!(
                "listening on {address} without a password: anyone who reaches this port can \
                 read, write and flush the cache (set --requirepass-file or --aclfile)"
            );
        }
        // A port that cannot be bound is fatal: probes would fail and the
        // orchestrator restart us anyway, with a less clear reason.
        let metrics = match config.metrics {
            Some(at) => {
                let metrics = TcpListener::bind(at)
                    .await
                    .with_context(|| format!("binding --metrics-port {at}"))?;
                let at = metrics.local_addr()?;
                server.serve_metrics(metrics);
                format!("http://{at}/metrics")
            }
            None => "disabled".into(),
        };
        tracing::info!(
            budget = config.budget,
            budget_human = %show(config.budget),
            source = %config.budget_source,
            container_limit = config.hard_limit.map(show).unwrap_or_else(|| "none".into()),
            cpus_available = environment.cpus,
            workers = config.workers,
            open_files = %open_files.map_or_else(|| "unknown".into(), |n| n.to_string()),
            shards = config.store.shards,
            segment_size = config.store.segment_size,
            metrics = %metrics,
            "capkv {} listening on {address}",
            env!("CARGO_PKG_VERSION"),
        );
        let drained = server.run(listener, shutdown).await;
        if drained {
            tracing::info!("shut down cleanly");
        } else {
            tracing::warn!(
                deadline = ?config.shutdown_timeout,
                "drain deadline passed with connections still open"
            );
        }
        anyhow::Ok(())
    })?;
    // Connections past the deadline were dropped with the server's workers.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    Ok(())
}

/// Descriptors kept for everything that is not a client: the listeners,
/// the metrics port's clients, the runtime's own, /proc and cgroup reads.
const SPARE_FILES: u64 = 64;

/// Raises the soft limit on open files to the hard limit, since every
/// client takes a descriptor and the soft limit is often 1,024 where the
/// hard one allows far more (systemd, most shells). Warns when even the
/// hard limit leaves no room for `max_connections` clients: past it,
/// accept fails and clients wait in the kernel's backlog. Returns the
/// limit now in force, if it could be read.
fn raise_open_files(max_connections: usize) -> Option<u64> {
    let limit = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "could not read or raise the open-files limit");
            return None;
        }
    };
    let wanted = max_connections as u64 + SPARE_FILES;
    if limit < wanted {
        tracing::warn!(
            open_files = limit,
            max_connections,
            "the open-files limit leaves room for about {} clients, not --max-connections; \
             raise the hard limit (ulimit -Hn, systemd LimitNOFILE=, docker --ulimit nofile=)",
            limit.saturating_sub(SPARE_FILES),
        );
    }
    Some(limit)
}

/// Binds the client port with a deep accept backlog: the default of 128
/// overflows when thousands of clients connect at once (a deploy, a
/// failover), and the kernel then drops their handshakes. The kernel caps
/// it at `net.core.somaxconn`.
///
/// Accepted sockets inherit its buffer sizes, so `--socket-buffer` costs
/// no system call per connection.
fn listen(
    address: std::net::SocketAddr,
    socket_buffer: Option<usize>,
) -> std::io::Result<TcpListener> {
    let socket = match address {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    if let Some(size) = socket_buffer {
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        socket.set_send_buffer_size(size)?;
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(address)?;
    socket.listen(4096)
}

/// Re-reads the password file or the ACL file on every SIGHUP (Kubernetes
/// updates a mounted Secret in place; operators edit the ACL file and send
/// `kill -HUP`). A failure is logged and the users in force stay. Installed
/// before the start-up line, so a SIGHUP after it never meets the default
/// action (which would end the process).
fn reload_on_sighup(access: std::sync::Arc<Access>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut stream = match signal(SignalKind::hangup()) {
        Ok(stream) => stream,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP: no reloads");
            return;
        }
    };
    tokio::spawn(async move {
        while stream.recv().await.is_some() {
            match access.reload() {
                Ok(true) => tracing::info!(source = ?access.source(), "SIGHUP: users reloaded"),
                Ok(false) => tracing::info!("SIGHUP: no password or ACL file to reload"),
                Err(e) => tracing::error!(
                    error = %e,
                    "SIGHUP: reload failed; the previous users stay in force"
                ),
            }
        }
    });
}

/// Installs the SIGTERM (orchestrators) and SIGINT (Ctrl-C) handlers and
/// returns a future that resolves on either.
///
/// The handlers go in when this is called, not when the future is first
/// polled: `Server::run` polls it only once its accept loop is running,
/// and a SIGTERM that came before (a pod deleted while starting, a test
/// that signals right after the start-up line) would meet the default
/// action and kill the process without a drain or exit code 0.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let wait = |kind: SignalKind, name: &'static str| {
        let stream = signal(kind);
        if let Err(e) = &stream {
            tracing::warn!(error = %e, "cannot listen for {name}");
        }
        async move {
            match stream {
                Ok(mut stream) => {
                    stream.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        }
    };
    let (term, int) =
        (wait(SignalKind::terminate(), "SIGTERM"), wait(SignalKind::interrupt(), "SIGINT"));
    async move {
        tokio::select! {
            _ = term => tracing::info!("SIGTERM: draining"),
            _ = int => tracing::info!("SIGINT: draining"),
        }
    }
}
