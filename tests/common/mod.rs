//! Test harness: real capkv servers on port 0, in-process or as the binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Parser;

use capkv::config::{Cli, Environment};
use capkv::server::tls::TlsFiles;
use capkv::server::{Ports, Server, Shared};

/// A server running on its own runtime thread, stopped on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The metrics port, when started with [`TestServer::start_with_metrics`].
    pub metrics: Option<SocketAddr>,
    /// The TLS port, when started with `--tls-port`.
    pub tls: Option<SocketAddr>,
    /// The Redis port, when started with `--redis-port` (the harness
    /// passes `--redis-port 0`, off, unless told otherwise; a test that
    /// wants one passes a port it picked).
    pub redis: Option<SocketAddr>,
    pub shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<bool>>,
}

impl TestServer {
    /// Starts a server with the given extra flags (port 0, loopback,
    /// metrics off, 256 MiB budget unless overridden).
    pub fn start(extra: &[&str]) -> TestServer {
        Self::launch(extra, false)
    }

    /// Like [`TestServer::start`], plus `/metrics`, `/healthz` and
    /// `/readyz` on a loopback port of their own.
    pub fn start_with_metrics(extra: &[&str]) -> TestServer {
        Self::launch(extra, true)
    }

    fn launch(extra: &[&str], with_metrics: bool) -> TestServer {
        let mut args = vec!["capkv", "--bind", "127.0.0.1", "--port", "0", "--metrics-port", "0"];
        if !extra.contains(&"--redis-port") {
            args.extend(["--redis-port", "0"]);
        }
        if !extra.contains(&"--max-memory") {
            args.extend(["--max-memory", "256mb"]);
        }
        args.extend_from_slice(extra);
        let cli = Cli::try_parse_from(args).expect("valid test flags");
        let env = Environment { cgroup_limit: None, total_memory: 8 << 30, cpus: 2 };
        let config = cli.resolve(&env).expect("valid test config");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
                let server = Server::start(&config).unwrap();
                let metrics = if with_metrics {
                    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    let at = metrics.local_addr().unwrap();
                    server.serve_metrics(metrics);
                    Some(at)
                } else {
                    None
                };
                let addr = listener.local_addr().unwrap();
                let tls = match &config.tls {
                    Some(tls) => {
                        let files = TlsFiles::load(tls.settings.clone()).expect("usable TLS files");
                        let listener = tokio::net::TcpListener::bind(tls.listen).await.unwrap();
                        Some((listener, Arc::new(files)))
                    }
                    None => None,
                };
                let tls_addr = tls.as_ref().map(|(l, _)| l.local_addr().unwrap());
                let redis = match config.redis {
                    Some(at) => Some(tokio::net::TcpListener::bind(at).await.unwrap()),
                    None => None,
                };
                let redis_addr = redis.as_ref().map(|l| l.local_addr().unwrap());
                addr_tx
                    .send((addr, metrics, tls_addr, redis_addr, server.shared().clone()))
                    .unwrap();
                server
                    .run_ports(listener, Ports { redis, tls }, async {
                        let _ = stop_rx.await;
                    })
                    .await
            })
        });
        let (addr, metrics, tls, redis, shared) = addr_rx.recv().expect("server started");
        TestServer { addr, metrics, tls, redis, shared, stop: Some(stop_tx), thread: Some(thread) }
    }

    /// A blocking client connection with a read timeout.
    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// Stops accepting and drains; returns whether the drain completed.
    pub fn stop(mut self) -> bool {
        self.stop.take().map(|s| s.send(()));
        self.thread.take().map(|t| t.join().unwrap()).unwrap_or(true)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A plain TCP client speaking raw bytes.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.set_nodelay(true).unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Client { stream, reader }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one `\n`-terminated line, terminator included.
    pub fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line).expect("read");
        line
    }

    /// Reads exactly `n` bytes.
    pub fn exact(&mut self, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        self.reader.read_exact(&mut buf).expect("read exact");
        buf
    }

    /// Sends `request` and returns the next line.
    pub fn ask(&mut self, request: &[u8]) -> Vec<u8> {
        self.send(request);
        self.line()
    }

    /// True once the server has closed the connection (reads EOF).
    pub fn closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.reader.read(&mut byte), Ok(0))
    }
}

/// The compiled `capkv` binary, started with `args`, its listening address
/// parsed from the start-up log.
pub struct BinaryServer {
    pub child: Child,
    pub addr: SocketAddr,
    /// The metrics port, when started with [`BinaryServer::start_with_metrics`].
    pub metrics: Option<SocketAddr>,
    pub log: Arc<std::sync::Mutex<String>>,
}

impl BinaryServer {
    pub fn start(args: &[&str]) -> BinaryServer {
        Self::launch(0, args).unwrap_or_else(|log| panic!("capkv did not start: {log}"))
    }

    /// Like [`BinaryServer::start`], with the metrics port on a free
    /// loopback port. `--metrics-port 0` means "disabled", so the port is
    /// picked here (bind port 0, read it, release it) and the start retried
    /// if another process took it in between.
    pub fn start_with_metrics(args: &[&str]) -> BinaryServer {
        let mut failures = String::new();
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            match Self::launch(port, args) {
                Ok(mut server) => {
                    server.metrics = Some(SocketAddr::from(([127, 0, 0, 1], port)));
                    return server;
                }
                Err(log) => failures.push_str(&log),
            }
        }
        panic!("capkv did not start with a metrics port: {failures}");
    }

    /// Starts the binary; on failure, returns its log.
    fn launch(metrics_port: u16, args: &[&str]) -> Result<BinaryServer, String> {
        let metrics_port = metrics_port.to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_capkv"))
            .args(["--bind", "127.0.0.1", "--port", "0", "--metrics-port", &metrics_port])
            .args(if args.contains(&"--redis-port") { &[][..] } else { &["--redis-port", "0"][..] })
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn capkv");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Logged before the address is handed over, so the start-up
                // line is in the log once start() returns.
                {
                    let mut log = sink.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
                if let Some(at) = line.find("listening on ") {
                    let addr = line[at + 13..].split_whitespace().next().unwrap_or("").to_string();
                    let _ = addr_tx.send(addr);
                }
            }
        });
        let Ok(addr) = addr_rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(log.lock().unwrap().clone());
        };
        let addr = strip_ansi(&addr).parse().expect("address in log");
        Ok(BinaryServer { child, addr, metrics: None, log })
    }

    /// Resident set size of the server process, from /proc.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }

    /// Sends a signal to the server.
    pub fn signal(&self, signal: &str) {
        let status =
            Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for exit, up to `limit`.
    pub fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for BinaryServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Polls `check` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `GET path` over HTTP/1.1 on a fresh connection: the status code and the
/// body, or `None` if the connection was refused or closed without a
/// complete response.
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8(response).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())?;
    (body.len() == length).then(|| (status, body.to_string()))
}

/// Stores `count` values of 250 KiB over one connection (keys
/// `<prefix><i>`), each answered `OK` before the next is sent; panics if
/// an answer takes over 30 s.
pub fn write_big_values(addr: SocketAddr, prefix: &str, count: usize) {
    let value = vec![b'v'; 250 * 1024];
    let mut client = Client::connect(addr);
    for i in 0..count {
        client.send(format!("PUT {prefix}{i} ").as_bytes());
        client.send(&value);
        assert_eq!(client.ask(b"\n"), b"OK\n", "{prefix}{i}");
    }
}

/// Opens a connection that sends the first `sent` bytes of a PUT of `key`
/// (a line-protocol value, no newline yet) and stops there.
pub fn half_put(addr: SocketAddr, key: &str, sent: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("PUT {key} ").as_bytes()).unwrap();
    s.write_all(&vec![b'h'; sent]).unwrap();
    s
}
