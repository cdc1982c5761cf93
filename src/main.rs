//! The `capkv` binary: parse configuration, start logging, run the server.

use std::ffi::OsString;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use tokio::net::TcpListener;

use std::sync::Arc;

use capkv::acl::{Access, Source};
use capkv::config::{self, Cli, Config, Environment, LogFormat, TlsListen};
use capkv::memory::jemalloc;
use capkv::server::tls::TlsFiles;
use capkv::server::{Ports, Server};
use capkv::units::show;

// The budget is measured with jemalloc's statistics, so jemalloc must be
// the allocator of every byte the process uses.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    let env = |name: &str| std::env::var_os(name);
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        // A bad CAPKV_* value: say which variable, not only which flag.
        Err(e) => match config::describe_env_error(&e, &args, &env) {
            Some(message) => {
                eprintln!("capkv: {message}");
                return ExitCode::from(2);
            }
            None => e.exit(),
        },
    };
    let environment = Environment::detect();
    let config = match cli.resolve(&environment) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("capkv: {}", config::describe_config_error(&e, &args, &env));
            return ExitCode::from(2);
        }
    };
    if let Err(e) = init_logging(&config) {
        eprintln!("capkv: {e:#}");
        return ExitCode::from(2);
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    // The open-port warning: the second argument is whether clients must
    // authenticate (--requirepass, --requirepass-file or --aclfile).
    let authenticated = *config.access.source() != Source::Default;
    config::warn_if_open(config.listen.ip(), authenticated);
    // Fatal errors go to stderr as one plain line, like the configuration
    // errors above, whatever --log-format says: they are the last thing
    // the process says, and a person reads them.
    match run(config, environment) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("capkv: {e:#}");
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
            .map_err(|e| bind_error("--port", config.listen, &e))?;
        let address = listener.local_addr()?;
        // A port that cannot be bound is fatal: probes would fail and the
        // orchestrator restart us anyway, with a less clear reason. Both
        // are bound before the store is built, so a clash fails at once.
        let metrics_listener = match config.metrics {
            Some(at) => Some(
                TcpListener::bind(at).await.map_err(|e| bind_error("--metrics-port", at, &e))?,
            ),
            None => None,
        };
        let redis = match config.redis {
            Some(at) => Some(
                listen(at, config.socket_buffer).map_err(|e| bind_error("--redis-port", at, &e))?,
            ),
            None => None,
        };
        let redis_at = redis.as_ref().map_or_else(
            || "off".to_string(),
            |listener| listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
        );
        let tls = match &config.tls {
            Some(tls) => Some(listen_tls(tls, config.socket_buffer)?),
            None => None,
        };
        let tls_at = tls.as_ref().map_or_else(
            || "off".to_string(),
            |(listener, _)| listener.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
        );
        // INFO reports the port actually bound (`--port 0` picks one).
        let config = Config { listen: address, ..config.clone() };
        let server = Server::start(&config).context("starting the store")?;
        reload_on_sighup(config.access.clone());
        let metrics = match metrics_listener {
            Some(metrics) => {
                let at = metrics.local_addr()?;
                server.serve_metrics(metrics);
                tracing::info!(
                    "metrics, /healthz and /readyz on http://{at}/ (--metrics-bind, \
                     --metrics-port; no password: counters only)"
                );
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
            redis = %redis_at,
            tls = %tls_at,
            "capkv {} listening on {address}",
            env!("CARGO_PKG_VERSION"),
        );
        if let Some((_, files)) = &tls {
            tokio::spawn(follow_tls_files(files.clone()));
        }
        let drained = server.run_ports(listener, Ports { redis, tls }, shutdown).await;
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

/// The one-line error for a port that cannot be bound, naming the flag
/// (and its variable) to change.
fn bind_error(flag: &str, at: std::net::SocketAddr, e: &std::io::Error) -> anyhow::Error {
    let var = config::env_var_of(flag);
    let what = match e.kind() {
        std::io::ErrorKind::AddrInUse => "is already in use by another process".to_string(),
        std::io::ErrorKind::PermissionDenied => {
            "may not be bound by this user (ports below 1024 need privileges)".to_string()
        }
        _ => format!("cannot be bound: {e}"),
    };
    let hint = if flag == "--metrics-port" {
        format!("pick another with {flag} ({var}), or 0 to disable metrics")
    } else {
        format!("pick another with {flag} ({var})")
    };
    anyhow::anyhow!("{flag} {}: {at} {what}; {hint}", at.port())
}

/// Descriptors kept for everything that is not a client (shared with
/// `CONFIG SET maxclients`'s ceiling).
use capkv::server::SPARE_FILES;

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

/// Loads the TLS files and binds the TLS port, both fatal if they fail.
fn listen_tls(
    tls: &TlsListen,
    socket_buffer: Option<usize>,
) -> anyhow::Result<(TcpListener, Arc<TlsFiles>)> {
    let files = TlsFiles::load(tls.settings.clone())?;
    let listener =
        listen(tls.listen, socket_buffer).map_err(|e| bind_error("--tls-port", tls.listen, &e))?;
    Ok((listener, Arc::new(files)))
}

/// How often the TLS files are reread (see `server::tls`).
const TLS_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Rebuilds the TLS configuration whenever its files change (checked every
/// [`TLS_RELOAD_EVERY`]) or SIGHUP comes. A failed reload keeps the
/// configuration in force and says why, once per change of the failure.
async fn follow_tls_files(files: Arc<TlsFiles>) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(TLS_RELOAD_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = None;
    loop {
        let signalled = tokio::select! {
            _ = tick.tick() => false,
            Some(()) = async { hangup.as_mut()?.recv().await } => true,
        };
        match files.reload_if_changed() {
            Ok(true) => {
                last_error = None;
                tracing::info!(signalled, "TLS certificate and key reloaded");
            }
            Ok(false) => {
                if signalled {
                    tracing::info!("SIGHUP: TLS files unchanged");
                }
            }
            Err(e) => {
                let text = e.to_string();
                if signalled || last_error.as_ref() != Some(&text) {
                    tracing::error!(error = %text, "TLS reload failed; the previous certificate stays");
                }
                last_error = Some(text);
            }
        }
    }
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
