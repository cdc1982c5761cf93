//! What a connection reads from and writes to: a plain TCP socket, or a
//! TLS session over one.
//!
//! The connection loop is readiness-based: it waits until the socket is
//! readable, then reads and writes without awaiting (see
//! [`connection`](super::connection)), so that an idle connection holds
//! no buffer and no pending future. A TLS session keeps that shape by
//! driving rustls's synchronous [`ServerConnection`] over the same
//! non-blocking socket (`read_tls`/`write_tls` on `try_read`/`try_write`)
//! instead of an async stream wrapper, which would own buffers and a
//! future per direction. The handshake alone is left to tokio-rustls
//! ([`super::tls`]), after which its stream is taken apart into socket and
//! session.
//!
//! Reads stop, as on plain TCP, once a read of the socket comes back
//! short: one system call per request, not a second one that finds
//! nothing.
//!
//! Two things differ from plain TCP, and the connection asks about both:
//! - **Plaintext may already be decrypted.** A read that fills the
//!   caller's buffer can leave records decrypted inside rustls, and a
//!   socket wait would then sleep on bytes already here: waits return at
//!   once while [`Transport::has_buffered_input`] says so.
//! - **Accepted is not sent.** Bytes a write accepted may still sit
//!   encrypted inside rustls when the socket is full, so the output is
//!   only done when [`Transport::has_pending_output`] is false too.

use std::io::{self, Read, Write};
use std::task::{Context, Poll};

use rustls::ServerConnection;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Plaintext a session takes in before the socket has sent it: one full
/// record. What the socket does not take waits in the connection's own
/// output, accounted like a plain connection's (a larger limit would
/// only move those bytes into rustls, where every session would have to
/// reserve room for them). rustls adds at most a record's overhead.
pub const TLS_SEND_LIMIT: usize = 16 * 1024;

/// A client's byte stream.
pub enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP (boxed: rustls's session is a few KiB, and a plain
    /// connection should not carry its size).
    Tls(Box<TlsStream>),
}

/// A TLS session and the socket it runs over.
pub struct TlsStream {
    socket: TcpStream,
    session: ServerConnection,
    /// True when the last read filled its buffer: rustls may hold more
    /// decrypted input than the socket's readiness shows.
    buffered: bool,
}

impl TlsStream {
    /// Takes over a session whose handshake is complete. Early data the
    /// client sent with its last handshake flight may already be
    /// decrypted, so the first wait must not sleep on the socket.
    pub fn new(socket: TcpStream, mut session: ServerConnection) -> TlsStream {
        session.set_buffer_limit(Some(TLS_SEND_LIMIT));
        TlsStream { socket, session, buffered: true }
    }

    /// The session (negotiated version, client certificates).
    pub fn session(&self) -> &ServerConnection {
        &self.session
    }

    /// Reads decrypted bytes into `buf`: what rustls holds first, then
    /// records from the socket until `buf` is full or the socket has no
    /// more. `Ok(0)` is the end of the stream (close_notify, or the client
    /// closed TCP), `WouldBlock` means nothing is here yet.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        // Set once a read of the socket came back short: the kernel had
        // nothing more, and the socket's readiness is already cleared (see
        // `read_until_drained`), so a second read would only find nothing.
        let mut drained = false;
        loop {
            if filled == buf.len() {
                self.buffered = filled > 0;
                return Ok(filled);
            }
            match self.session.reader().read(&mut buf[filled..]) {
                Ok(0) => {
                    // close_notify: the end, after what was read.
                    self.buffered = false;
                    return Ok(filled);
                }
                Ok(n) => {
                    filled += n;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP closed without close_notify: an end all the same
                // (the client cannot send more), as for a plain socket.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    self.buffered = false;
                    return Ok(filled);
                }
                Err(e) => return Err(e),
            }
            if drained {
                self.buffered = false;
                return if filled > 0 { Ok(filled) } else { Err(io::ErrorKind::WouldBlock.into()) };
            }
            let mut socket = DrainingReader { socket: &self.socket, drained: false };
            let got = self.session.read_tls(&mut socket);
            drained = socket.drained;
            match got {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.buffered = false;
                    return if filled > 0 { Ok(filled) } else { Err(e) };
                }
                Err(e) => return Err(e),
            }
            if let Err(e) = self.session.process_new_packets() {
                // Tell the client why (the alert rustls queued), best effort.
                let _ = self.push();
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // A key update or a session ticket may want an answer.
            match self.push() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Encrypts what of `bytes` fits under [`TLS_SEND_LIMIT`] and sends
    /// what the socket takes. Returns how many bytes were accepted;
    /// `WouldBlock` when none could be, because the socket is full.
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.push()?;
        if bytes.is_empty() {
            return Ok(0);
        }
        let accepted = self.session.writer().write(bytes)?;
        match self.push() {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        if accepted == 0 { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(accepted) }
    }

    /// Sends the ciphertext rustls holds, until it holds none or the
    /// socket is full (`WouldBlock`).
    fn push(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            self.session.write_tls(&mut SocketWriter(&self.socket))?;
        }
        Ok(())
    }
}

/// rustls's reads of a non-blocking socket, noting when one came back
/// short (the kernel held no more: see [`read_until_drained`]).
struct DrainingReader<'a> {
    socket: &'a TcpStream,
    drained: bool,
}

impl Read for DrainingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let offered = buf.len();
        let n = read_until_drained(self.socket, offered, || self.socket.try_read(buf))?;
        self.drained = n > 0 && n < offered;
        Ok(n)
    }
}

/// rustls's writes to a non-blocking tokio socket: `WouldBlock` when it is
/// not ready (tokio then forgets the readiness, so the next wait waits).
struct SocketWriter<'a>(&'a TcpStream);

impl Write for SocketWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    /// rustls hands over every record it holds at once: one system call.
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport {
    /// The TCP socket underneath.
    pub fn socket(&self) -> &TcpStream {
        match self {
            Transport::Plain(socket) => socket,
            Transport::Tls(tls) => &tls.socket,
        }
    }

    /// The TCP socket underneath, to read and discard from while closing.
    pub fn socket_mut(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(socket) => socket,
            Transport::Tls(tls) => &mut tls.socket,
        }
    }

    /// Reads what is here into `buf` without waiting (see
    /// [`read_until_drained`] for the plain socket's readiness).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => {
                let offered = buf.len();
                read_until_drained(socket, offered, || socket.try_read(buf))
            }
            Transport::Tls(tls) => tls.read(buf),
        }
    }

    /// Reads what is here into the spare capacity of `vec` (at most
    /// `READ_CHUNK` at a time over TLS, which has to zero what it offers).
    pub fn read_buf(&mut self, vec: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => {
                let offered = vec.capacity() - vec.len();
                read_until_drained(socket, offered, || socket.try_read_buf(vec))
            }
            Transport::Tls(tls) => {
                const READ_CHUNK: usize = 64 * 1024;
                let len = vec.len();
                let offered = (vec.capacity() - len).min(READ_CHUNK);
                vec.resize(len + offered, 0);
                let result = tls.read(&mut vec[len..]);
                vec.truncate(len + *result.as_ref().unwrap_or(&0));
                result
            }
        }
    }

    /// Writes what of `bytes` the stream takes without waiting; see
    /// [`has_pending_output`](Self::has_pending_output).
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(socket) => socket.try_write(bytes),
            Transport::Tls(tls) => tls.write(bytes),
        }
    }

    /// True when bytes a write accepted have not all reached the socket.
    pub fn has_pending_output(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.session.wants_write(),
        }
    }

    /// True when input is waiting that the socket's readiness does not
    /// show (decrypted, inside rustls).
    pub fn has_buffered_input(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(tls) => tls.buffered,
        }
    }

    /// Ready when a read may find something.
    pub fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.has_buffered_input() {
            return Poll::Ready(Ok(()));
        }
        self.socket().poll_read_ready(cx)
    }

    /// Resolves when a read may find something.
    pub async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Resolves when the socket can take more bytes.
    pub async fn writable(&self) -> io::Result<()> {
        self.socket().writable().await
    }

    /// Ends the sending side: close_notify first over TLS, then FIN.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        if let Transport::Tls(tls) = self {
            tls.session.send_close_notify();
            while tls.session.wants_write() {
                tls.socket.writable().await?;
                match tls.push() {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
        match self {
            Transport::Plain(socket) => socket.shutdown().await,
            Transport::Tls(tls) => tls.socket.shutdown().await,
        }
    }
}

/// Runs `read`, which offers the socket `offered` bytes of room, and, when
/// it comes back short, marks the socket drained, so that the next wait
/// for readability waits for new data instead of returning at once.
///
/// Tokio only forgets a socket's readiness when a read fails with
/// `WouldBlock`. A client that sends one request and waits for the reply
/// would otherwise cost two reads per request: the one that brought the
/// request, and one more that finds nothing. A TCP read returns less than
/// it was offered only when it took everything the kernel held, so that
/// second read would find nothing; Redis does not make it either. (Over
/// TLS this applies to rustls's reads of ciphertext, never to the
/// decrypted bytes, whose count says nothing about what the kernel holds.)
///
/// Race-free: `try_io` notes the readiness it saw before `read` ran and
/// clears only that; data that arrives after the read is a new edge,
/// which sets readiness again and wakes the connection.
fn read_until_drained(
    socket: &TcpStream,
    offered: usize,
    read: impl FnOnce() -> io::Result<usize>,
) -> io::Result<usize> {
    let mut got = None;
    let result = socket.try_io(tokio::io::Interest::READABLE, || {
        let n = read()?;
        got = Some(n);
        if n > 0 && n < offered { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(n) }
    });
    match got {
        Some(n) => Ok(n),
        None => result,
    }
}
