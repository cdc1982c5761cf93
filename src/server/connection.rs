//! One client connection: wait until the client sends, run every complete
//! request it sent, answer them all with one write, repeat.
//!
//! An idle connection holds no buffer. A round (`Connection::round`)
//! borrows its worker's space ([`space`](super::space)): it reads into the
//! worker's input, runs the requests through the engine into the worker's
//! output, and writes that to the socket, all without waiting. Only what is
//! left when the round stops moves into the connection's own buffers, and
//! they are freed as soon as they are empty again:
//! - the start of a request that has not fully arrived: further reads go
//!   straight into the connection's input, which jumps to a size that
//!   holds the whole request (see `Connection::read_buffer_target`);
//! - replies the socket did not take: they are written out, while the
//!   client's next requests are read into the input (redis-rs and
//!   redis-benchmark write a whole pipeline before reading any reply:
//!   a server that only wrote would wait for the client, and the client
//!   for the server, until the write timeout), before more requests run.
//!
//! Memory stays bounded per connection and in total:
//! - a line over the limit is answered with an error and discarded as it
//!   streams in (the `Skip` state), never buffered whole;
//! - replies are written out once they pass [`FLUSH_AT`], before more
//!   requests are executed, so a client that pipelines a million GETs
//!   holds at most one flush's worth of replies;
//! - every buffer byte a connection keeps is reserved in the budget (up to
//!   [`CARRY_FREE`] per direction even without
//!   room, which is what lets a newcomer be served while others hold every
//!   buffer byte); a connection that cannot get room waits, which is
//!   backpressure on that client alone;
//! - a client that does not read its replies for `--write-timeout` is
//!   disconnected. Before that, while buffer bytes are wanted back (other
//!   clients wait for memory that only released buffers can give, or the
//!   cache has grown into what buffers borrowed: see
//!   `Budget::buffer_shortfall`), the connections that hold buffers
//!   without moving them are evicted, the biggest first, only as many as
//!   cover the shortfall ([`holders`](super::holders)): otherwise a few
//!   hundred clients that never read could hold every buffer byte and
//!   stall all the others until the write timeout. A client that leaves
//!   replies unread becomes a candidate after [`STALL_GRACE`]; one that
//!   stops sending halfway through a request in a grown buffer only after
//!   `--write-timeout` (a client merely starved of CPU, a load generator
//!   with ten thousand connections on one core, can pause that way for
//!   seconds), or after the same second when the bytes it holds are
//!   borrowed ones the cache wants back.
//!
//! Closing is done with care (see `Connection::close`): when capkv ends
//! a connection the client may still be sending (QUIT with more requests
//! behind it, a fatal request, shutdown), it sends FIN after the last
//! reply and reads and discards until the client closes too. Dropping a
//! socket with unread input makes the kernel reset the connection and
//! throw away replies not yet sent, cutting the last reply short.

use std::future::{Future, poll_fn};
use std::io;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use crate::engine::{ClientRecord, Engine, Flow, Request, Session, Turn};
use crate::memory::buffer::{BASE_CAPACITY, Buffer};
use crate::metrics::LocalCounters;
use crate::protocol::{self, CommandError, Dialect, Limits, Parsed, Reply, Skip};

use super::holders::{LOOK_EVERY, RECLAIM_GRACE};
use super::space::{CARRY_FREE, READ_SPACE, Sink, with_space};
use super::stop::{Stop, StopSlot};
use super::transport::Transport;
use super::{Port, Shared};

pub use super::space::FLUSH_AT;

/// Read at least this much per read call (grow the buffer if less is free).
const MIN_READ: usize = 1024;

/// How long a closing connection waits for the client to close its side.
pub(super) const LINGER: Duration = Duration::from_secs(2);

/// How long a connection may leave replies unread while others wait for
/// buffer memory, before it is evicted.
pub const STALL_GRACE: Duration = Duration::from_secs(1);

/// What ended a wait: what it waited for, or the drain signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Woken {
    /// What the connection waited for came: input (or the client closed
    /// its side), or buffer room.
    Ready,
    /// The server is draining.
    Stopping,
    /// Nudged (`CONFIG SET timeout`): nothing arrived, but the wait
    /// should be set up again with the settings now in force.
    Nudged,
}

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

/// How a round ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Every complete request was answered; what is left of the input (if
    /// anything) is the start of a request still arriving.
    Done,
    /// The client closed its side (after the round's requests ran).
    Eof,
    /// The socket did not take every reply; requests may be left to run.
    Blocked,
    /// The request at the front needs this much room for its reply.
    NeedRoom(usize),
    /// Flush and close (QUIT, a fatal request).
    Close,
}

/// Where [`run_requests`] stopped.
enum Halt {
    /// Out of complete requests.
    Drained,
    /// The socket would not take more replies.
    Blocked,
    /// The next request's reply needs this much room.
    NeedRoom(usize),
    /// Close after the replies.
    Close,
}

struct Connection {
    socket: Transport,
    shared: Arc<Shared>,
    /// Bytes the connection carries between rounds: the start of a request
    /// still arriving, or requests not yet run. Empty (no allocation) while
    /// idle.
    input: Buffer,
    /// Replies the socket has not taken yet. Empty (no allocation) while
    /// idle.
    output: Buffer,
    /// The engine's per-connection state: dialect, id, name.
    session: Session,
    /// Whether the first byte has chosen the dialect yet.
    detected: bool,
    /// Came in on the Redis port: Redis's parser limits.
    redis_port: bool,
    skip: Skip,
    /// The server's drain signal, and this connection's waker slot in it.
    stop: Arc<Stop>,
    stop_slot: StopSlot,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.stop.release(&mut self.stop_slot);
    }
}

/// Serves one client until it leaves, errs, idles out, or `stop` is
/// raised.
///
/// A plain function that returns the future rather than an `async fn`:
/// an `async fn` keeps its arguments twice in its future (as they were
/// passed and as the locals they are moved into), and the future is what
/// an idle connection costs. The same goes for everything the loop holds
/// while it waits for the client (see `wait_for_client`).
pub fn serve(
    socket: Transport,
    port: Port,
    shared: Arc<Shared>,
    stop: Arc<Stop>,
    id: u64,
) -> impl Future<Output = ()> + Send {
    let _ = socket.socket().set_nodelay(true);
    let budget = shared.engine.budget.clone();
    let client = Arc::new(record(&socket, id, stop.clock.now()));
    let mut connection = Connection {
        socket,
        shared,
        input: Buffer::new(budget.clone()),
        output: Buffer::new(budget),
        // The Redis port speaks RESP from the first byte (an inline
        // command included); the others detect the dialect from it.
        session: Session::of(
            client.clone(),
            if port == Port::Redis { Dialect::Resp2 } else { Dialect::Line },
        ),
        detected: port == Port::Redis,
        redis_port: port == Port::Redis,
        skip: Skip::Nothing,
        stop_slot: stop.enter(client),
        stop,
    };
    async move {
        match connection.run().await {
            // Rare paths are boxed so that the idle connection's future,
            // which is what it costs while it waits, stays small.
            // Killed (CLIENT KILL): closed at once, as Redis frees a
            // killed client; it is owed no reply.
            Ok(End::Close) if connection.stop.is_killed(&connection.stop_slot) => {}
            Ok(End::Close) => Box::pin(connection.close()).await,
            Ok(End::PeerClosed) => {}
            Err(e) => {
                tracing::debug!(connection = connection.session.id(), error = %e, "connection closed")
            }
        }
    }
}

/// What CLIENT LIST shows of the connection on `socket`.
fn record(socket: &Transport, id: u64, now: u32) -> ClientRecord {
    use std::os::fd::AsRawFd;
    let tcp = socket.socket();
    let unknown = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let addr = tcp.peer_addr().unwrap_or(unknown);
    let laddr = tcp.local_addr().unwrap_or(unknown);
    ClientRecord::new(id, addr, laddr, tcp.as_raw_fd(), now)
}

impl Connection {
    /// Tells CLIENT LIST what buffers the connection holds as it goes
    /// back to waiting (see `crate::engine::clients`; the batch's command
    /// and time were published by the round).
    fn publish(&self) {
        let input = (self.input.len(), self.input.capacity());
        self.session.client.publish_buffers(input, self.output.capacity());
    }

    async fn run(&mut self) -> io::Result<End> {
        // True when the input may hold requests that have not run yet
        // (read while replies waited, or left by a blocked round).
        let mut unrun = false;
        loop {
            let pending = !self.output.is_empty() || self.socket.has_pending_output();
            if pending && Box::pin(self.flush()).await? > 0 {
                unrun = true;
            }
            if !unrun {
                // Shutdown is only noticed between rounds, once every
                // request already read has been answered and flushed.
                if self.stop.is_stopping() {
                    return Ok(End::Close);
                }
                if !self.input.is_empty() && self.input.spare() < MIN_READ {
                    let target = self.read_buffer_target();
                    if target < self.input.len() + MIN_READ {
                        Box::pin(self.refuse_oversized_request()).await?;
                        return Ok(End::Close);
                    }
                    let grow = target - self.input.len();
                    let Connection { stop, stop_slot, input, .. } = self;
                    let room = unless_stopping(stop, stop_slot, input.room(grow));
                    if Box::pin(room).await == Woken::Stopping {
                        return Ok(End::Close);
                    }
                }
                self.publish();
                // Halfway through a request in a grown buffer: evictable
                // if the client stops sending while others wait for memory.
                let holding = !self.input.is_empty() && self.input.capacity() > BASE_CAPACITY;
                let woken = if holding || self.shared.idle_timeout().is_some() {
                    Box::pin(self.wait_with_timers(holding)).await?
                } else {
                    // The common case, and what an idle connection's
                    // future holds while it waits: no timer, no future of
                    // its own, two polls.
                    wait_for_client(&self.stop, &mut self.stop_slot, &self.socket).await?
                };
                match woken {
                    Woken::Stopping => return Ok(End::Close),
                    Woken::Nudged => continue,
                    Woken::Ready => {}
                }
            }
            unrun = false;
            match self.round()? {
                Round::Done => {}
                Round::Eof => {
                    if !self.output.is_empty() {
                        Box::pin(self.flush()).await?;
                    }
                    return Ok(End::PeerClosed);
                }
                Round::Blocked => unrun = true,
                Round::NeedRoom(n) => {
                    if n > self.shared.client_buffer_cap() {
                        let error = Reply::Error(CommandError::OutOfMemory);
                        self.output.room_with_reserved(error.size_bound(), 0);
                        Engine::send(&self.session, &mut self.output, &error);
                        Box::pin(self.flush()).await?;
                        return Ok(End::Close);
                    }
                    Box::pin(self.flush()).await?;
                    // Wait until the budget has the room, then run the
                    // request again (another client may take it first:
                    // the next round then waits again).
                    let Connection { stop, stop_slot, shared, .. } = self;
                    let budget = &shared.engine.budget;
                    let room = async {
                        budget.reserve(n).await;
                        budget.release(n)
                    };
                    if Box::pin(unless_stopping(stop, stop_slot, room)).await == Woken::Stopping {
                        return Ok(End::Close);
                    }
                    unrun = true;
                }
                Round::Close => {
                    Box::pin(self.flush()).await?;
                    return Ok(End::Close);
                }
            }
            self.input.shrink_if_empty(0);
            self.output.shrink_if_empty(0);
            // A round reads and writes without awaiting, so it spends none
            // of the task's cooperative budget by itself: spend one unit
            // per round, or a client that always has input ready would
            // keep its worker from every other connection and the accept
            // loop.
            tokio::task::consume_budget().await;
        }
    }

    /// Waits for the client with the timers that may end the wait: the
    /// idle timeout, and for a connection halfway through a request in a
    /// grown buffer, eviction when others wait for buffer memory.
    ///
    /// The idle timeout is looked up again after every nudge (`CONFIG
    /// SET timeout`) and counted from when this wait began, so a lower
    /// one closes a connection already idle that long at once.
    async fn wait_with_timers(&mut self, holding: bool) -> io::Result<Woken> {
        let Connection { socket, shared, stop, stop_slot, input, session, .. } = self;
        let since = Instant::now();
        // CLIENT NO-EVICT: such a connection keeps what it holds.
        let evictable = holding && !session.no_evict;
        let stall = stalled(shared, None, shared.write_timeout, input.capacity());
        tokio::pin!(stall);
        loop {
            let limit = shared.idle_timeout();
            let idle = async {
                match limit {
                    Some(limit) => tokio::time::sleep_until(since + limit).await,
                    None => std::future::pending().await,
                }
            };
            let woken = tokio::select! {
                biased;
                woken = wait_for_client(stop, stop_slot, socket) => woken?,
                () = idle => return Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")),
                () = &mut stall, if evictable => return Err(evicted("sending")),
            };
            // Nudged without a timeout to keep: wait the plain way.
            if woken != Woken::Nudged || (shared.idle_timeout().is_none() && !holding) {
                return Ok(woken);
            }
        }
    }

    /// One round, without waiting: read what the socket has, run every
    /// complete request, write the replies, and carry out what is left
    /// (see the module docs). Runs in the worker's space.
    fn round(&mut self) -> io::Result<Round> {
        let Connection {
            socket,
            shared,
            input,
            output,
            session,
            detected,
            skip,
            redis_port,
            stop,
            ..
        } = self;
        let limits = if *redis_port { &shared.redis_limits } else { &shared.limits };
        let budget = &shared.engine.budget;
        with_space(budget, &shared.engine.gates, |space| {
            // Read: into the worker's space, or, for a request already
            // under way, straight into the connection's input.
            let fresh = input.is_empty();
            let mut eof = false;
            let mut read = 0;
            let result = if fresh {
                // What is left of a read may have to be carried, and when
                // the budget could not hold a whole read's worth, at most
                // CARRY_FREE of it is carried without room.
                let most = if budget.could_reserve(READ_SPACE) { READ_SPACE } else { CARRY_FREE };
                socket.read(&mut space.input.vec()[..most])
            } else if input.spare() > 0 {
                socket.read_buf(input.vec())
            } else {
                Ok(usize::MAX)
            };
            match result {
                Ok(0) => eof = true,
                Ok(usize::MAX) => {}
                Ok(n) => read = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            space.counters.bytes_in += read as u64;

            // Run, holding the worker's gate (see `crate::engine::exclusive`).
            space.counters.slow_after_nanos = slow_after_nanos(shared);
            let mut turn = shared.engine.gates.enter(&space.gate);
            let mut sink = Sink::new(&mut space.output, budget);
            let counters = &mut space.counters;
            let mut ctx = Ctx { shared, limits, session, counters, detected, skip };
            let source = if fresh { &space.input.bytes()[..read] } else { input.bytes() };
            let ran = run_requests(&mut ctx, source, &mut sink, socket, &mut turn);
            drop(turn);
            // Before the replies go out: whoever has seen them sees the
            // batch in CLIENT LIST too.
            ctx.session.client.publish_activity(stop.clock.now(), ctx.session.command);
            let wrote = sink.write(socket);
            let credit = sink.credit;
            let (used, halt) = match (ran, wrote) {
                (Ok(ran), Ok(written)) => {
                    ctx.counters.bytes_out += written as u64;
                    ran
                }
                (Err(e), _) | (_, Err(e)) => {
                    budget.release(credit);
                    return Err(e);
                }
            };

            // Carry out what is left.
            let unsent = sink.out.len();
            if unsent > 0 {
                output.room_with_reserved(unsent, credit.min(unsent));
                output.vec().extend_from_slice(sink.out.bytes());
            }
            budget.release(credit.saturating_sub(unsent));
            if fresh {
                let rest = &space.input.bytes()[used..read];
                if !rest.is_empty() {
                    if !input.try_room(rest.len()) {
                        input.room_with_reserved(rest.len(), 0);
                    }
                    input.vec().extend_from_slice(rest);
                }
            } else {
                input.consume(used);
            }
            shared.engine.stats.merge(&mut space.counters);
            Ok(match halt {
                Halt::Close => Round::Close,
                Halt::NeedRoom(n) => Round::NeedRoom(n),
                Halt::Blocked => Round::Blocked,
                Halt::Drained if unsent > 0 || socket.has_pending_output() => Round::Blocked,
                Halt::Drained if eof => Round::Eof,
                Halt::Drained => Round::Done,
            })
        })
    }

    /// The capacity to grow the read buffer to when it is full. Everything
    /// in it is then one incomplete request (complete ones were executed).
    ///
    /// A small carry first grows to [`BASE_CAPACITY`]. Past that the buffer
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
        if self.session.dialect.is_resp() {
            let needed = protocol::resp::bytes_needed(self.input.bytes()) + MIN_READ;
            let most = self.shared.client_buffer_cap().max(one_request);
            needed.max(capacity * 2).min(most)
        } else if capacity < one_request {
            one_request
        } else {
            capacity
        }
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
        let socket = self.socket.socket_mut();
        let discard = async { while let Ok(1..) = socket.read(&mut sink).await {} };
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
        // Over TLS, bytes accepted may still wait inside the session.
        while written < total || self.socket.has_pending_output() {
            // The common case, a socket with room, is one write call.
            match self.socket.write(&self.output.bytes()[written..]) {
                Ok(n) => {
                    written += n;
                    deadline = None;
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let limit = self.shared.write_timeout;
            let until = *deadline.get_or_insert_with(|| Instant::now() + limit);
            let room = if eof { ReadRoom::Full } else { self.read_room() };
            let held = self.output.capacity() + self.input.capacity();
            let (socket, shared) = (&self.socket, &self.shared);
            let (stop, stop_slot) = (&self.stop, &mut self.stop_slot);
            let evictable = !self.session.no_evict;
            let budget = &shared.engine.budget;
            let wanted = match room {
                ReadRoom::Budget(bytes) => bytes,
                _ => 0,
            };
            let readable = tokio::select! {
                biased;
                ready = socket.writable() => ready.map(|()| false)?,
                // The governor makes room within a tick; hand it straight
                // back and let `read_room` take it on the next round.
                () = budget.reserve(wanted), if wanted > 0 => {
                    budget.release(wanted);
                    false
                }
                ready = socket.readable(), if room == ReadRoom::Ready => ready.map(|()| true)?,
                _ = tokio::time::sleep_until(until) => {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "client is not reading"));
                }
                // CLIENT KILL: no reason to finish these replies.
                () = stop.killed(stop_slot) => return Err(io::Error::other("killed")),
                () = stalled(shared, Some(until - limit), STALL_GRACE.min(limit), held), if evictable => {
                    return Err(evicted("reading"));
                }
            };
            if readable {
                match self.socket.read_buf(self.input.vec()) {
                    Ok(0) => eof = true,
                    Ok(n) => read += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.shared.engine.stats.count_io(read as u64, total as u64);
        self.output.vec().clear();
        self.output.shrink_if_empty(0);
        Ok(read)
    }

    /// Makes room to read into the input while replies wait, within
    /// `--max-client-buffer` and the budget.
    fn read_room(&mut self) -> ReadRoom {
        if self.input.spare() >= MIN_READ {
            return ReadRoom::Ready;
        }
        let grow = self.input.capacity().max(BASE_CAPACITY);
        if self.input.len() + grow > self.shared.client_buffer_cap() {
            ReadRoom::Full
        } else if self.input.try_room(grow) {
            ReadRoom::Ready
        } else {
            ReadRoom::Budget(grow)
        }
    }
}

/// Resolves once a connection that holds `bytes` of buffers it has not
/// moved since `since` (`None`: since this is first polled) should give
/// them up: buffer bytes are wanted back, and it is among the holders past
/// their `grace` chosen to give them, biggest first (see
/// [`holders`](super::holders)). Counts the eviction; never resolves while
/// nobody needs the bytes.
async fn stalled(shared: &Shared, since: Option<Instant>, grace: Duration, bytes: usize) {
    let since = since.unwrap_or_else(Instant::now);
    let hold = shared.holders.hold(bytes, since, grace);
    let mut at = since + grace.min(RECLAIM_GRACE);
    loop {
        tokio::time::sleep_until(at).await;
        let now = Instant::now();
        if hold.must_go(now, shared.engine.budget.buffer_shortfall()) {
            shared.engine.stats.clients_evicted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        at = now + LOOK_EVERY;
    }
}

/// The error that ends an evicted connection (logged at debug level with
/// every other connection error).
fn evicted(stopped: &str) -> io::Error {
    io::Error::other(format!(
        "evicted: stopped {stopped} while other clients waited for buffer memory"
    ))
}

/// Waits until `socket` has something to read or `stop` is raised (that
/// first).
///
/// A poll, not a `select!` of `socket.readable()` and a stop future: those
/// two futures (a waiter node each) were 300 of the 700 bytes an idle
/// connection's task held. `poll_read_ready` keeps the task's waker in
/// the socket's registration instead, and [`Stop`] in its table. Nothing
/// else in a connection waits on `poll_read_ready`: `flush` and `close`
/// read only while this wait is not running.
fn wait_for_client<'a>(
    stop: &'a Stop,
    slot: &'a mut StopSlot,
    socket: &'a Transport,
) -> impl Future<Output = io::Result<Woken>> + 'a {
    poll_fn(move |cx| {
        if stop.poll(slot, cx).is_ready() {
            return Poll::Ready(Ok(Woken::Stopping));
        }
        if stop.nudged(slot) {
            return Poll::Ready(Ok(Woken::Nudged));
        }
        socket.poll_read_ready(cx).map_ok(|()| Woken::Ready)
    })
}

/// Waits for `wait`, unless the drain signal comes first (it is looked at
/// first). For the rare waits, which callers box: the idle one is
/// [`wait_for_client`].
async fn unless_stopping(
    stop: &Stop,
    slot: &mut StopSlot,
    wait: impl Future<Output = ()>,
) -> Woken {
    tokio::select! {
        biased;
        () = stop.stopped(slot) => Woken::Stopping,
        () = wait => Woken::Ready,
    }
}

/// `slowlog-log-slower-than` in nanoseconds, as
/// [`LocalCounters::slow_after_nanos`] takes it (read once per round).
fn slow_after_nanos(shared: &Shared) -> u64 {
    match shared.engine.settings.live.slowlog_slower_than() {
        ..0 => u64::MAX,
        micros => (micros as u64).saturating_mul(1000),
    }
}

/// Logs the request `raw` that took `nanos` into the slowlog (the rare
/// path: its arguments are re-read from the bytes, the peer asked of the
/// socket).
#[cold]
fn log_slow(ctx: &Ctx<'_>, raw: &[u8], nanos: u64, socket: &Transport) {
    use crate::engine::slowlog::{MAX_ARGS, Slow};
    let (args, argc) = protocol::arguments::request_args(ctx.session.dialect, raw, MAX_ARGS);
    let peer = socket.socket().peer_addr().map_or_else(|_| String::new(), |a| a.to_string());
    let name = ctx.session.client.name();
    let slow =
        Slow { args, argc, micros: nanos / 1000, peer, name: name.as_deref().unwrap_or(b"") };
    let live = &ctx.shared.engine.settings.live;
    ctx.shared.engine.slowlog.push(slow, live.slowlog_max_len());
}

/// What [`run_requests`] needs of the connection.
struct Ctx<'a> {
    shared: &'a Shared,
    /// The parser limits of the connection's port.
    limits: &'a Limits,
    session: &'a mut Session,
    counters: &'a mut LocalCounters,
    detected: &'a mut bool,
    skip: &'a mut Skip,
}

/// Runs the complete requests at the front of `input`, replying into
/// `sink` and writing it out whenever it passes [`FLUSH_AT`]. Returns how
/// many bytes of `input` were handled and why it stopped.
fn run_requests(
    ctx: &mut Ctx<'_>,
    input: &[u8],
    sink: &mut Sink<'_>,
    socket: &mut Transport,
    turn: &mut Turn<'_>,
) -> io::Result<(usize, Halt)> {
    let mut done = 0;
    let mut retried = false;
    loop {
        done += ctx.skip.consume(&input[done..]);
        if done == input.len() {
            return Ok((done, Halt::Drained));
        }
        let rest = &input[done..];
        if !*ctx.detected {
            ctx.session.dialect = Dialect::detect(rest[0]);
            ctx.session.client.set_dialect(ctx.session.dialect);
            *ctx.detected = true;
        }
        // Empty (no allocation) unless the request was rewritten.
        let mut rewritten: Vec<u8> = Vec::new();
        let mut parsed = ctx.session.dialect.parse(rest, ctx.limits);
        if let Parsed::Rewritten { request, consumed } = parsed {
            rewritten = request;
            parsed = ctx.session.dialect.parse(&rewritten, ctx.limits).in_place_of(consumed);
        }
        let need = match parsed {
            Parsed::Incomplete => return Ok((done, Halt::Drained)),
            // (`in_place_of` never yields `Rewritten`.)
            Parsed::Ignored { consumed } | Parsed::Rewritten { consumed, .. } => {
                done += consumed;
                None
            }
            Parsed::Command { command, consumed } => {
                // CLIENT INFO's `qbuf` (a plain store).
                ctx.session.unparsed = u32::try_from(rest.len()).unwrap_or(u32::MAX);
                // A rewritten request's arguments are the unescaped ones.
                let raw = if rewritten.is_empty() { &rest[..consumed] } else { &rewritten[..] };
                let request = Request { raw, limits: ctx.limits, turn: &mut *turn };
                let engine = &ctx.shared.engine;
                let flow = engine.request(&command, request, ctx.session, ctx.counters, sink);
                if let Some(nanos) = ctx.counters.slow.take() {
                    log_slow(ctx, raw, nanos, socket);
                }
                match flow {
                    Flow::Continue => {
                        done += consumed;
                        None
                    }
                    Flow::Close => return Ok((done + consumed, Halt::Close)),
                    Flow::NeedRoom(n) => Some(n),
                }
            }
            Parsed::Invalid { error, consumed } => {
                // What a transaction queues: bytes that parse again as this.
                let raw =
                    Some(if rewritten.is_empty() { &rest[..consumed] } else { &rewritten[..] });
                match ctx.shared.engine.refused(error, raw, ctx.session, ctx.counters, sink) {
                    Ok(()) => {
                        done += consumed;
                        None
                    }
                    Err(need) => Some(need),
                }
            }
            Parsed::Oversized { error, skip } => {
                match ctx.shared.engine.refused(error, None, ctx.session, ctx.counters, sink) {
                    Ok(()) => {
                        *ctx.skip = Skip::after_oversized(skip);
                        None
                    }
                    Err(need) => Some(need),
                }
            }
            Parsed::Fatal { error } => {
                ctx.counters.invalid(&error);
                // Best effort: the connection closes either way.
                Engine::send(ctx.session, sink, &Reply::Error(error));
                return Ok((input.len(), Halt::Close));
            }
        };
        if let Some(n) = need {
            // Replies already encoded may be what stands in the way: write
            // them and try once more before giving up the round.
            if retried || sink.out.is_empty() {
                return Ok((done, Halt::NeedRoom(n)));
            }
            ctx.counters.bytes_out += sink.write(socket)? as u64;
            if !sink.out.is_empty() {
                return Ok((done, Halt::Blocked));
            }
            retried = true;
            continue;
        }
        retried = false;
        if sink.out.len() >= FLUSH_AT {
            ctx.counters.bytes_out += sink.write(socket)? as u64;
            if !sink.out.is_empty() {
                return Ok((done, Halt::Blocked));
            }
        }
    }
}
