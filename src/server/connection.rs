//! One client connection: read, parse every complete request, execute,
//! answer them all with one write, repeat.
//!
//! Pipelining falls out of that loop: however many requests one read
//! brought in, they are answered in order with a single write (or several
//! if the replies pass [`FLUSH_AT`]). Memory stays bounded per connection
//! and in total:
//! - the read buffer starts at 4 KiB and grows (doubling) only while a
//!   request is incomplete and the buffer is full, up to
//!   `--max-client-buffer`; it shrinks back once drained;
//! - a line over the limit is answered with an error and discarded as it
//!   streams in (the `Skip` state), never buffered whole;
//! - handled requests are dropped from the front of the read buffer in one
//!   move before the next read (`done`), not one by one: dropping each of
//!   the thousands of requests a pipelined read brings would move the rest
//!   of the buffer every time;
//! - replies are written out once they pass [`FLUSH_AT`], before more
//!   requests are executed, so a client that pipelines a million GETs
//!   holds at most one flush's worth of replies;
//! - every buffer byte is reserved in the budget first; a connection that
//!   cannot get room waits, which is backpressure on that client alone;
//! - a client that does not read its replies for `--write-timeout` is
//!   disconnected, and after only [`STALL_GRACE`] while other clients
//!   wait for buffer memory that only released buffers can give (see
//!   `Budget::buffers_exhausted`): otherwise a few hundred clients that
//!   never read could hold every buffer byte and stall all the others
//!   until the write timeout. A client that stops sending halfway through
//!   a request in a grown buffer is evicted too, when others wait, but
//!   only after `--write-timeout`: a client merely starved of CPU (a load
//!   generator with ten thousand connections on one core) can pause that
//!   way for seconds, so a short grace would evict healthy writers;
//! - while replies wait for the client to read them, its requests are
//!   still read (into the accounted input buffer, up to
//!   `--max-client-buffer`). redis-rs and redis-benchmark write a whole
//!   pipeline before reading any reply: when both directions outgrow the
//!   kernel's socket buffers, a server that only wrote would wait for the
//!   client, and the client for the server, until the write timeout.
//!
//! Closing is done with care (see `Connection::close`): when capkv ends
//! a connection the client may still be sending (QUIT with more requests
//! behind it, a fatal request, shutdown), it sends FIN after the last
//! reply and reads and discards until the client closes too. Dropping a
//! socket with unread input makes the kernel reset the connection and
//! throw away replies not yet sent, cutting the last reply short.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::engine::{Engine, Flow, Session};
use crate::memory::buffer::{BASE_CAPACITY, Buffer};
use crate::protocol::{self, CommandError, Dialect, Parsed, Reply, Skip};

use super::Shared;

/// Write replies out once this many bytes are pending.
pub const FLUSH_AT: usize = 64 * 1024;

/// Read at least this much per read call (grow the buffer if less is free).
const MIN_READ: usize = 1024;

/// How long a closing connection waits for the client to close its side.
const LINGER: Duration = Duration::from_secs(2);

/// How long a connection may leave replies unread while others wait for
/// buffer memory, before it is evicted.
pub const STALL_GRACE: Duration = Duration::from_secs(1);

/// How often a stalled connection looks again whether others wait.
const STALL_RECHECK: Duration = Duration::from_millis(50);

/// How a connection ended, when no I/O error ended it.
enum End {
    /// The client closed its side: nothing more can arrive.
    PeerClosed,
    /// capkv is closing (QUIT, a fatal request, shutdown) and the client
    /// may still be sending.
    Close,
}

/// Whether the input can take more bytes while replies wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadRoom {
    /// It has room.
    Ready,
    /// It is at `--max-client-buffer` (or the client has closed its side).
    Full,
    /// The budget has no room for this many more bytes yet.
    Budget(usize),
}

/// What to do after looking at the front of the input.
enum Step {
    /// Drop this many bytes of input and go on.
    Consumed(usize),
    /// The input holds no complete request.
    NeedInput,
    /// Output needs this much room before the same request runs again.
    NeedRoom(usize),
    /// Drop this many bytes, flush and close.
    Close(usize),
}

struct Connection {
    socket: TcpStream,
    shared: Arc<Shared>,
    input: Buffer,
    output: Buffer,
    /// The engine's per-connection state: dialect, id, name, counters.
    session: Session,
    /// Whether the first byte has chosen the dialect yet.
    detected: bool,
    skip: Skip,
    /// Bytes at the front of `input` already handled (executed, refused or
    /// skipped), dropped by [`Connection::compact`].
    done: usize,
}

/// Serves one client until it leaves, errs, idles out, or shutdown begins.
pub async fn serve(
    socket: TcpStream,
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    id: u64,
) {
    let _ = socket.set_nodelay(true);
    let budget = shared.engine.budget.clone();
    let mut connection = Connection {
        socket,
        shared,
        input: Buffer::new(budget.clone()),
        output: Buffer::new(budget),
        session: Session::new(id, Dialect::Line),
        detected: false,
        skip: Skip::Nothing,
        done: 0,
    };
    match connection.run(shutdown).await {
        Ok(End::Close) => connection.close().await,
        Ok(End::PeerClosed) => {}
        Err(e) => tracing::debug!(connection = id, error = %e, "connection closed"),
    }
    let Connection { shared, mut session, .. } = connection;
    shared.engine.stats.merge(&mut session.counters);
}

impl Connection {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) -> io::Result<End> {
        loop {
            // Shutdown is only noticed between batches: every request
            // already read has been answered and flushed by now.
            if *shutdown.borrow() {
                return Ok(End::Close);
            }
            self.compact();
            if self.input.is_empty() && self.shared.engine.budget.buffers_exhausted() {
                // Others wait for buffer memory: an idle connection gives
                // back what a burst grew before it waits for more input.
                self.input.shrink_if_empty(BASE_CAPACITY);
                self.output.shrink_if_empty(BASE_CAPACITY);
            }
            if self.input.spare() < MIN_READ {
                let target = self.read_buffer_target();
                if target < self.input.len() + MIN_READ {
                    self.refuse_oversized_request().await?;
                    return Ok(End::Close);
                }
                self.input.room(target - self.input.len()).await;
            }
            // Halfway through a request in a grown buffer: evictable if
            // the client stops sending while others wait for memory.
            let holding = !self.input.is_empty() && self.input.capacity() > BASE_CAPACITY;
            let read = tokio::select! {
                biased;
                _ = shutdown.changed() => return Ok(End::Close),
                read = Self::read(&mut self.socket, &mut self.input, self.shared.idle_timeout) => read?,
                () = stalled(&self.shared, None, self.shared.write_timeout), if holding => {
                    return Err(evicted("sending"));
                }
            };
            if read == 0 {
                return Ok(End::PeerClosed);
            }
            self.session.counters.bytes_in += read as u64;
            let close = self.process().await?;
            self.shared.engine.stats.merge(&mut self.session.counters);
            if close {
                return Ok(End::Close);
            }
            self.compact();
            // A small read means a quiet client: give back what a burst
            // grew, so ten thousand idle connections hold 4 KiB each.
            if read < self.input.capacity() / 4 {
                self.input.shrink_if_empty(BASE_CAPACITY);
                self.output.shrink_if_empty(BASE_CAPACITY);
            }
        }
    }

    async fn read(
        socket: &mut TcpStream,
        input: &mut Buffer,
        idle: Option<Duration>,
    ) -> io::Result<usize> {
        let read = socket.read_buf(input.vec());
        match idle {
            None => read.await,
            Some(limit) => tokio::time::timeout(limit, read)
                .await
                .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"))),
        }
    }

    /// The capacity to grow the read buffer to when it is full. Everything
    /// in it is then one incomplete request (complete ones were executed).
    ///
    /// A fresh connection gets [`BASE_CAPACITY`]. Past that the buffer
    /// jumps straight to a size that holds the whole request, not by
    /// doubling: a connection that has to wait for budget then holds a few
    /// KiB, never half a request. Doubling would let thousands of clients,
    /// each halfway through a big PUT, hold the whole buffer share between
    /// them while each waits for more: nobody could finish, and nobody
    /// would let go. Whoever holds a big buffer can finish its request.
    ///
    /// How big "the whole request" is depends on the dialect. A RESP
    /// request declares its sizes ([`protocol::resp::bytes_needed`]), so
    /// a 256 KiB SET takes 257 KiB, and a request with several big values
    /// grows at least twofold each time, up to `--max-client-buffer`. A
    /// line request has no length header, so it gets room for the largest
    /// single-value request (`max_line`).
    fn read_buffer_target(&self) -> usize {
        let capacity = self.input.capacity();
        if capacity < BASE_CAPACITY {
            return BASE_CAPACITY;
        }
        let one_request = self.shared.limits.max_line() + MIN_READ;
        match self.detected.then_some(self.session.dialect) {
            Some(Dialect::Resp2 | Dialect::Resp3) => {
                let needed = protocol::resp::bytes_needed(self.pending()) + MIN_READ;
                let most = self.shared.max_client_buffer.max(one_request);
                needed.max(capacity * 2).min(most)
            }
            _ if capacity < one_request => one_request,
            _ => capacity,
        }
    }

    /// The input not yet handled.
    fn pending(&self) -> &[u8] {
        &self.input.bytes()[self.done..]
    }

    /// Drops the handled bytes from the front of the input.
    fn compact(&mut self) {
        if self.done > 0 {
            self.input.consume(self.done);
            self.done = 0;
        }
    }

    /// Executes every complete request in the input. True means close.
    async fn process(&mut self) -> io::Result<bool> {
        loop {
            self.discard_skipped();
            if self.pending().is_empty() {
                // Out of requests: send the replies. Requests that arrived
                // meanwhile are executed before the next read.
                if self.flush().await? == 0 {
                    break;
                }
                continue;
            }
            match self.step() {
                Step::Consumed(n) => self.done += n,
                Step::NeedInput => {
                    if self.flush().await? == 0 {
                        break;
                    }
                }
                Step::NeedRoom(n) => {
                    if n > self.shared.max_client_buffer {
                        let error = Reply::Error(CommandError::OutOfMemory);
                        Engine::send(&self.session, &mut self.output, &error);
                        self.flush().await?;
                        return Ok(true);
                    }
                    self.flush().await?;
                    self.output.room(n).await;
                }
                Step::Close(n) => {
                    self.done += n;
                    self.flush().await?;
                    return Ok(true);
                }
            }
            if self.output.len() >= FLUSH_AT {
                self.flush().await?;
            }
        }
        Ok(false)
    }

    /// Looks at the front of the input and does what it asks.
    fn step(&mut self) -> Step {
        let input = &self.input.bytes()[self.done..];
        if !self.detected {
            self.session.dialect = Dialect::detect(input[0]);
            self.detected = true;
        }
        let parsed = self.session.dialect.parse(input, &self.shared.limits);
        let error_step = |session: &Session, output: &mut Buffer, error: CommandError, then| {
            let reply = Reply::Error(error);
            if Engine::send(session, output, &reply) {
                then
            } else {
                Step::NeedRoom(reply.size_bound())
            }
        };
        match parsed {
            Parsed::Incomplete => Step::NeedInput,
            Parsed::Ignored { consumed } => Step::Consumed(consumed),
            Parsed::Command { command, consumed } => {
                let flow =
                    self.shared.engine.execute(&command, &mut self.session, &mut self.output);
                match flow {
                    Flow::Continue => Step::Consumed(consumed),
                    Flow::Close => Step::Close(consumed),
                    Flow::NeedRoom(n) => Step::NeedRoom(n),
                }
            }
            Parsed::Invalid { error, consumed } => {
                self.session.counters.invalid();
                error_step(&self.session, &mut self.output, error, Step::Consumed(consumed))
            }
            Parsed::Oversized { error, skip } => {
                let step = error_step(&self.session, &mut self.output, error, Step::Consumed(0));
                if let Step::Consumed(_) = step {
                    self.session.counters.invalid();
                    self.skip = Skip::after_oversized(skip);
                }
                step
            }
            Parsed::Fatal { error } => {
                self.session.counters.invalid();
                // Best effort: the connection closes either way.
                Engine::send(&self.session, &mut self.output, &Reply::Error(error));
                Step::Close(input.len())
            }
        }
    }

    /// Drops input that belongs to a request being skipped.
    fn discard_skipped(&mut self) {
        let pending = &self.input.bytes()[self.done..];
        self.done += self.skip.consume(pending);
    }

    /// A request larger than `--max-client-buffer`: refuse and close.
    async fn refuse_oversized_request(&mut self) -> io::Result<()> {
        let error = if self.session.dialect.is_resp() {
            CommandError::ValueTooLarge
        } else {
            CommandError::LineTooLong
        };
        Engine::send(&self.session, &mut self.output, &Reply::Error(error));
        self.flush().await.map(drop)
    }

    /// Ends a connection the client may still be sending on, without
    /// losing replies: FIN after the last reply, then read and discard
    /// until the client closes too, for at most [`LINGER`].
    ///
    /// Closing a socket whose receive queue holds unread bytes makes Linux
    /// send RST instead of FIN and drop whatever is still in the send
    /// queue (RFC 2525, 2.17): a client that pipelined past QUIT, or past
    /// the moment shutdown began, would see its last replies cut short.
    /// The client sees a clean end of stream after a complete reply
    /// instead; what it sent after that goes unanswered.
    async fn close(&mut self) {
        if self.socket.shutdown().await.is_err() {
            return;
        }
        let mut sink = [0u8; 1024];
        let discard = async { while let Ok(1..) = self.socket.read(&mut sink).await {} };
        let _ = tokio::time::timeout(LINGER, discard).await;
    }

    /// Writes all pending output, giving up on a client that reads none of
    /// it for `--write-timeout`. While the socket cannot take more, reads
    /// the client's next requests into the input (see the module doc);
    /// returns how many bytes it read.
    async fn flush(&mut self) -> io::Result<usize> {
        let total = self.output.len();
        let mut written = 0;
        let mut read = 0;
        let mut eof = false;
        let mut deadline = None;
        while written < total {
            // The common case, a socket with room, is one write call.
            match self.socket.try_write(&self.output.bytes()[written..]) {
                Ok(n) => {
                    written += n;
                    deadline = None;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let limit = self.shared.write_timeout;
            let until = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + limit);
            let room = if eof { ReadRoom::Full } else { self.read_room() };
            let (socket, shared) = (&self.socket, &self.shared);
            let budget = &shared.engine.budget;
            let wanted = match room {
                ReadRoom::Budget(bytes) => bytes,
                _ => 0,
            };
            tokio::select! {
                biased;
                ready = socket.writable() => ready?,
                // The governor makes room within a tick; hand it straight
                // back and let `read_room` take it on the next round.
                () = budget.reserve(wanted), if wanted > 0 => budget.release(wanted),
                ready = socket.readable(), if room == ReadRoom::Ready => {
                    ready?;
                    match socket.try_read_buf(self.input.vec()) {
                        Ok(0) => eof = true,
                        Ok(n) => {
                            read += n;
                            self.session.counters.bytes_in += n as u64;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                _ = tokio::time::sleep_until(until) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "client is not reading"));
                }
                () = stalled(shared, Some(until - limit), STALL_GRACE.min(limit)) => {
                    return Err(evicted("reading"));
                }
            }
        }
        self.session.counters.bytes_out += total as u64;
        self.output.vec().clear();
        self.output.shrink_if_empty(FLUSH_AT);
        Ok(read)
    }

    /// Makes room to read into the input while replies wait, within
    /// `--max-client-buffer` and the budget.
    fn read_room(&mut self) -> ReadRoom {
        if self.input.spare() < MIN_READ {
            self.compact();
        }
        if self.input.spare() >= MIN_READ {
            return ReadRoom::Ready;
        }
        let grow = self.input.capacity().max(BASE_CAPACITY);
        if self.input.len() + grow > self.shared.max_client_buffer {
            ReadRoom::Full
        } else if self.input.try_room(grow) {
            ReadRoom::Ready
        } else {
            ReadRoom::Budget(grow)
        }
    }
}

/// Resolves once a connection that has not moved its buffers since `since`
/// (`None`: since this is first polled) should give them up: `grace` has
/// passed and other clients are waiting for buffer memory. Counts the
/// eviction; never resolves while nobody waits.
async fn stalled(shared: &Shared, since: Option<tokio::time::Instant>, grace: Duration) {
    let mut at = since.unwrap_or_else(tokio::time::Instant::now) + grace;
    loop {
        tokio::time::sleep_until(at).await;
        if shared.engine.budget.buffers_exhausted() {
            shared.engine.stats.clients_evicted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        at = tokio::time::Instant::now() + STALL_RECHECK;
    }
}

/// The error that ends an evicted connection (logged at debug level with
/// every other connection error).
fn evicted(stopped: &str) -> io::Error {
    io::Error::other(format!(
        "evicted: stopped {stopped} while other clients waited for buffer memory"
    ))
}
