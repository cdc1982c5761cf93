//! The metrics port (`--metrics-port`, default 9171): `/metrics` for
//! Prometheus, `/healthz` and `/readyz` for orchestrators.
//!
//! A port of its own, not 7171: probes and scrapes never compete with
//! clients for `--max-connections`, a NetworkPolicy can open it to the
//! monitoring namespace alone, and `/readyz` keeps answering after the
//! client listener has closed for the drain.
//!
//! - `/healthz`: 200 whenever the process answers at all.
//! - `/readyz`: 503 `starting` until the server accepts clients, 200
//!   `ready` while it does, 503 `draining` from the moment shutdown has
//!   closed the client listener. So an orchestrator stops routing while
//!   connections drain, and whoever sees `draining` knows that no new
//!   client connection will be served.
//! - `/metrics`: see [`super::prometheus`].
//! - any other path: 404; a method other than GET or HEAD: 405.
//!
//! Why a small hand-written HTTP/1.1 responder rather than hyper or a web
//! framework: the clients are Prometheus, the kubelet, curl and wget, each
//! sending one GET without a body. Reading the request head (at most 8 KiB,
//! within 5 s), answering with a `Content-Length` and `Connection: close`,
//! and closing is the whole protocol they need; keep-alive, chunked bodies
//! and upgrades would be code nobody calls. The part where a library pays
//! off, the exposition format, comes from `prometheus-client`.
//!
//! At most [`MAX_CONNECTIONS`] connections at once (more are closed
//! unanswered): this port's few buffers are not in the memory budget, so a
//! misbehaving client must not be able to multiply them.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::prometheus;
use super::{Phase, Shared};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;

/// Largest request head accepted.
const MAX_HEAD: usize = 8 * 1024;

/// Time a client has to send its request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Time a client has to take the response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

const TEXT: &str = "text/plain; charset=utf-8";

/// Answers on `listener` until the task is dropped (with the runtime).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let socket = match listener.accept().await {
            Ok((socket, _)) => socket,
            Err(e) => {
                tracing::warn!(error = %e, "metrics port: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(socket, &shared).await {
                tracing::debug!(error = %e, "metrics port: connection failed");
            }
            drop(permit);
        });
    }
}

/// What came in before the response.
enum Head {
    /// A request head, through its blank line.
    Complete(Vec<u8>),
    /// Over [`MAX_HEAD`] without a blank line.
    TooLarge,
    /// The client closed or stalled before a full head.
    Incomplete,
}

async fn answer(mut socket: TcpStream, shared: &Shared) -> io::Result<()> {
    let head = tokio::time::timeout(READ_TIMEOUT, read_head(&mut socket))
        .await
        .unwrap_or(Ok(Head::Incomplete))?;
    let response = match head {
        Head::Complete(head) => {
            respond(&head, shared.phase(), || prometheus::render(shared.engine.snapshot()))
        }
        Head::TooLarge => response(431, TEXT, b"request head too large\n", false),
        Head::Incomplete => return Ok(()),
    };
    let send = async {
        socket.write_all(&response).await?;
        socket.shutdown().await
    };
    tokio::time::timeout(WRITE_TIMEOUT, send)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "client is not reading")))
}

/// Reads through the blank line that ends a request head. The whole head is
/// read, not just the request line: closing with unread bytes makes the
/// kernel reset the connection, which can destroy the response in flight.
async fn read_head(socket: &mut TcpStream) -> io::Result<Head> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if head_length(&head).is_some() {
            return Ok(Head::Complete(head));
        }
        if head.len() >= MAX_HEAD {
            return Ok(Head::TooLarge);
        }
        let n = socket.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Incomplete);
        }
        head.extend_from_slice(&chunk[..n]);
    }
}

/// Length of the head through its blank line (`\r\n\r\n`, or `\n\n` from
/// lenient clients), if it is all there.
fn head_length(bytes: &[u8]) -> Option<usize> {
    let crlf = memchr::memmem::find(bytes, b"\r\n\r\n").map(|i| i + 4);
    let lf = memchr::memmem::find(bytes, b"\n\n").map(|i| i + 2);
    crlf.into_iter().chain(lf).min()
}

/// Method and path (query string dropped) of a request head.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let end = memchr::memchr(b'\n', head)?;
    let line = std::str::from_utf8(&head[..end]).ok()?.trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !version.starts_with("HTTP/1.") || method.is_empty() {
        return None;
    }
    // Absolute form (`GET http://host:9171/metrics`), which HTTP/1.1
    // servers must accept, names the same resource as origin form.
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let path = target.split(['?', '#']).next()?;
    path.starts_with('/').then_some((method, path))
}

/// The response to a request head. `metrics` renders `/metrics` and is
/// only called for it.
fn respond(head: &[u8], phase: Phase, metrics: impl FnOnce() -> String) -> Vec<u8> {
    let Some((method, path)) = request_line(head) else {
        return response(400, TEXT, b"bad request\n", false);
    };
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => return response(405, TEXT, b"method not allowed\n", false),
    };
    let (status, content_type, body): (u16, &str, std::borrow::Cow<'_, [u8]>) = match path {
        "/metrics" => (200, prometheus::CONTENT_TYPE, metrics().into_bytes().into()),
        "/healthz" => (200, TEXT, b"ok\n"[..].into()),
        "/readyz" => match phase {
            Phase::Serving => (200, TEXT, b"ready\n"[..].into()),
            Phase::Starting => (503, TEXT, b"starting\n"[..].into()),
            Phase::Draining => (503, TEXT, b"draining\n"[..].into()),
        },
        _ => (404, TEXT, b"not found\n"[..].into()),
    };
    response(status, content_type, &body, head_only)
}

/// A complete HTTP/1.1 response that closes the connection.
fn response(status: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    };
    let allow = if status == 405 { "Allow: GET, HEAD\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\n{allow}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(request: &str, phase: Phase) -> String {
        String::from_utf8(respond(request.as_bytes(), phase, || "capkv_x 1\n".into())).unwrap()
    }

    #[test]
    fn routes() {
        let r = ask("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", Phase::Serving);
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
        assert!(r.ends_with(
            "Content-Length: 10\r\nCache-Control: no-store\r\nConnection: close\r\n\r\ncapkv_x 1\n"
        ));
        assert!(ask("GET /healthz HTTP/1.0\r\n\r\n", Phase::Draining).ends_with("\r\n\r\nok\n"));
        assert!(
            ask("GET /readyz?verbose HTTP/1.1\r\n\r\n", Phase::Serving).starts_with("HTTP/1.1 200")
        );
        let starting = ask("GET /readyz HTTP/1.1\r\n\r\n", Phase::Starting);
        assert!(starting.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(starting.ends_with("starting\n"));
        assert!(ask("GET /readyz HTTP/1.1\r\n\r\n", Phase::Draining).ends_with("draining\n"));
        assert!(ask("GET /nope HTTP/1.1\r\n\r\n", Phase::Serving).starts_with("HTTP/1.1 404"));
        assert!(
            ask("GET http://h:9171/healthz HTTP/1.1\n\n", Phase::Serving)
                .starts_with("HTTP/1.1 200")
        );
    }

    #[test]
    fn methods_and_malformed_requests() {
        let head = ask("HEAD /metrics HTTP/1.1\r\n\r\n", Phase::Serving);
        assert!(head.ends_with(
            "Content-Length: 10\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        ));
        let post = ask("POST /metrics HTTP/1.1\r\n\r\n", Phase::Serving);
        assert!(post.starts_with("HTTP/1.1 405") && post.contains("Allow: GET, HEAD\r\n"));
        for bad in [
            "GET /metrics\r\n\r\n",
            "GET metrics HTTP/1.1\r\n\r\n",
            "GET / HTTP/2\r\n\r\n",
            "\r\n\r\n",
        ] {
            assert!(ask(bad, Phase::Serving).starts_with("HTTP/1.1 400"), "{bad:?}");
        }
    }

    #[test]
    fn head_ends_at_the_first_blank_line() {
        assert_eq!(head_length(b"GET / HTTP/1.1\r\nA: b\r\n\r\nrest"), Some(24));
        assert_eq!(head_length(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_length(b"GET / HTTP/1.1\r\nA: b\r\n"), None);
    }
}
