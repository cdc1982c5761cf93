//! Redis transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, with Redis
//! 7.0's semantics (`multi.c`).
//!
//! After MULTI a connection's commands are queued and answered `+QUEUED`;
//! EXEC runs them one after the other while no other command runs
//! ([`super::exclusive`]), so no client sees half a transaction, whichever
//! shards its keys are on. A command that fails inside EXEC answers its
//! error in EXEC's array and the rest still run, as in Redis: there is no
//! rollback.
//!
//! - **What is queued.** A parsed [`Command`] borrows the read buffer, so
//!   the queue keeps each request's bytes as they arrived and parses them
//!   again at EXEC (they parsed once, so they parse the same way). A request
//!   refused while queuing either discards the transaction (EXEC then
//!   answers `EXECABORT`) or is queued to answer its error inside EXEC, by
//!   Redis's split ([`CommandError::discards_transaction`]): unknown
//!   commands, wrong arity, ACL and memory refusals discard; argument
//!   errors, which Redis finds only when it runs the command, are queued.
//!   Once discarded, nothing more is stored (Redis does the same).
//! - **Memory.** The queue is one budget-accounted buffer of request bytes,
//!   at most `--max-client-buffer` long; a request that would pass it, or
//!   that the budget has no room for, is refused (and discards the
//!   transaction, as Redis's OOM refusal does). Watched keys are accounted
//!   in the budget too, within the same limit.
//! - **EXEC's reply** cannot wait for room once the first command has run.
//!   It is written with room forced past the budget, up to
//!   `--max-client-buffer` (the overshoot is accounted, so the governor
//!   shrinks the cache to pay it back, and only one EXEC runs at a time).
//!   A reply that would pass that limit is dropped: the commands still all
//!   run (into a scratch buffer reused command by command) and EXEC answers
//!   one error saying so. Redis would buffer any size of reply.
//! - **WATCH** is the store's ([`crate::store::watch`]): exact per key, and
//!   a watched key whose deadline passes before EXEC fails it. The check
//!   runs inside the exclusive section, so nothing can change a key between
//!   the check and the commands. EXEC and DISCARD forget every watch.
//! - The line protocol has no transactions (its parser knows no MULTI).

use std::collections::HashSet;
use std::sync::Arc;

use crate::memory::{Budget, Buffer};
use crate::protocol::{Args, Command, CommandError, CommandId, Dialect, Limits, Parsed, Reply};
use crate::store::{Store, WatchedKey};

use super::context::{Ctx, finish};
use super::exclusive::{Exclusive, Unshared};
use super::output::{Output, Replies};
use super::{Engine, Flow, Session};

/// `MULTI` inside a transaction.
pub const NESTED: &str = "ERR MULTI calls can not be nested";
/// `EXEC` outside one.
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
/// `DISCARD` outside one.
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
/// `WATCH` inside one.
pub const WATCH_INSIDE_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
/// `EXEC` of a transaction that a refused request discarded.
pub const EXEC_ABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
/// A queued request past `--max-client-buffer` (capkv's).
pub const TOO_LARGE: &str =
    "ERR transaction too large: its queued commands exceed the client buffer limit";
/// Watched keys past `--max-client-buffer` (capkv's).
pub const TOO_MANY_WATCHED: &str = "ERR too many watched keys: they exceed the client buffer limit";
/// An EXEC reply past `--max-client-buffer` (capkv's).
pub const REPLY_TOO_LARGE: &str =
    "ERR EXEC reply exceeds the client buffer limit; every command ran, their replies are lost";
/// A command queued without its request bytes (a caller of
/// [`Engine::execute`] rather than [`Engine::request`]).
const NO_REQUEST: &str = "ERR transactions need the request bytes: use Engine::request";

/// Bytes a watched key costs beyond its own: its entries in the store's
/// table and in the connection's set.
const WATCH_OVERHEAD: usize = 96;

/// What a request brings besides its parsed command, for the commands that
/// queue or run others.
pub struct Request<'r> {
    /// The request's bytes as they arrived (what is queued).
    pub raw: &'r [u8],
    /// The parser limits of the connection's port (what EXEC parses with).
    pub limits: &'r Limits,
    /// How to run alone (EXEC).
    pub turn: &'r mut dyn Exclusive,
}

/// A connection's transaction state: the queue after MULTI, and the keys
/// it watches. Dropping it forgets the watches.
pub struct Transaction {
    store: Arc<Store>,
    budget: Arc<Budget>,
    /// `Some` between MULTI and EXEC/DISCARD.
    queue: Option<Queue>,
    watching: HashSet<WatchedKey>,
    /// Bytes reserved in the budget for `watching`.
    watched_bytes: usize,
}

struct Queue {
    /// The queued requests, back to back.
    requests: Buffer,
    count: usize,
    /// A request was refused: EXEC answers EXECABORT.
    discarded: bool,
    limits: Limits,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction")
            .field("queued", &self.queue.as_ref().map(|q| q.count))
            .field("watching", &self.watching.len())
            .finish()
    }
}

impl Transaction {
    fn new(engine: &Engine) -> Transaction {
        Transaction {
            store: engine.store.clone(),
            budget: engine.budget.clone(),
            queue: None,
            watching: HashSet::new(),
            watched_bytes: 0,
        }
    }

    fn unwatch_all(&mut self) {
        for watched in self.watching.drain() {
            self.store.unwatch(watched);
        }
        self.budget.release(std::mem::take(&mut self.watched_bytes));
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        self.unwatch_all();
    }
}

impl Session {
    /// True between MULTI and EXEC/DISCARD.
    pub fn in_multi(&self) -> bool {
        self.transaction.as_ref().is_some_and(|t| t.queue.is_some())
    }

    fn queue_mut(&mut self) -> Option<&mut Queue> {
        self.transaction.as_mut().and_then(|t| t.queue.as_mut())
    }
}

/// True when `id`, sent inside a transaction, is queued rather than run
/// (Redis runs EXEC, DISCARD, MULTI, WATCH and QUIT at once).
pub(super) fn queues(session: &Session, id: CommandId) -> bool {
    session.in_multi()
        && !matches!(
            id,
            CommandId::Exec
                | CommandId::Discard
                | CommandId::Multi
                | CommandId::Watch
                | CommandId::Quit
        )
}

/// Queues a command that passed (`allowed`) or failed authorization.
/// Errors discard the transaction; the caller answers them.
pub(super) fn queue<O: Output + ?Sized>(
    allowed: Result<(), CommandError>,
    request: Option<&Request<'_>>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let cap = ctx.engine.settings.max_client_buffer;
    if !ctx.out.try_room(Reply::Status("QUEUED").size_bound()) {
        return Ok(Flow::NeedRoom(Reply::Status("QUEUED").size_bound()));
    }
    let Some(queue) = ctx.session.queue_mut() else { return Ok(Flow::Continue) };
    let stored = match (allowed, request) {
        (Err(error), _) => Err(error),
        // Nothing more is kept once the transaction is discarded.
        (Ok(()), _) if queue.discarded => Ok(()),
        (Ok(()), None) => Err(CommandError::Fixed(NO_REQUEST)),
        (Ok(()), Some(request)) => queue.push(request.raw, cap),
    };
    if let Err(error) = stored {
        queue.discarded = true;
        return Err(error);
    }
    Ok(finish(&mut ctx.out, &Reply::Status("QUEUED")))
}

impl Queue {
    fn push(&mut self, raw: &[u8], cap: usize) -> Result<(), CommandError> {
        if self.requests.len() + raw.len() > cap {
            return Err(CommandError::Fixed(TOO_LARGE));
        }
        if !self.requests.try_room(raw.len()) {
            return Err(CommandError::OutOfMemory);
        }
        self.requests.vec().extend_from_slice(raw);
        self.count += 1;
        Ok(())
    }
}

/// A request the parser refused (`error`), inside a transaction or not:
/// answers it, queues it to answer inside EXEC, or discards the
/// transaction (see the module docs). `Err(n)`: no room, nothing done;
/// wait for `n` bytes and try again.
pub(super) fn refused<O: Output + ?Sized>(
    engine: &Engine,
    error: CommandError,
    raw: Option<&[u8]>,
    session: &mut Session,
    out: &mut O,
) -> Result<bool, usize> {
    let queued = Reply::Status("QUEUED");
    let cap = engine.settings.max_client_buffer;
    let dialect = session.dialect;
    let wanted = session.replies_wanted();
    let Some(queue) = session.queue_mut() else {
        return send(wanted, out, dialect, &Reply::Error(error)).map(|()| true);
    };
    if let (false, Some(raw)) = (error.discards_transaction(), raw) {
        if wanted && !out.try_room(queued.size_bound()) {
            return Err(queued.size_bound());
        }
        if queue.discarded || queue.push(raw, cap).is_ok() {
            send(wanted, out, dialect, &queued)?;
            return Ok(false);
        }
    }
    let reply = Reply::Error(error);
    send(wanted, out, dialect, &reply)?;
    queue.discarded = true;
    Ok(true)
}

fn send<O: Output + ?Sized>(
    wanted: bool,
    out: &mut O,
    dialect: Dialect,
    reply: &Reply<'_>,
) -> Result<(), usize> {
    if !wanted || Replies::new(out, dialect).send(reply) { Ok(()) } else { Err(reply.size_bound()) }
}

/// `MULTI`.
pub(super) fn multi<O: Output + ?Sized>(
    request: Option<&Request<'_>>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if ctx.session.in_multi() {
        return Err(CommandError::Fixed(NESTED));
    }
    if !ctx.out.try_room(Reply::Ok.size_bound()) {
        return Ok(Flow::NeedRoom(Reply::Ok.size_bound()));
    }
    let engine: &Engine = ctx.engine;
    let limits = request.map_or_else(Limits::default, |r| *r.limits);
    let requests = Buffer::new(engine.budget.clone());
    let transaction =
        ctx.session.transaction.get_or_insert_with(|| Transaction::new(engine).into());
    transaction.queue = Some(Queue { requests, count: 0, discarded: false, limits });
    Ok(finish(&mut ctx.out, &Reply::Ok))
}

/// `DISCARD`.
pub(super) fn discard<O: Output + ?Sized>(
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if !ctx.session.in_multi() {
        return Err(CommandError::Fixed(DISCARD_WITHOUT_MULTI));
    }
    if !ctx.out.try_room(Reply::Ok.size_bound()) {
        return Ok(Flow::NeedRoom(Reply::Ok.size_bound()));
    }
    ctx.session.transaction = None;
    Ok(finish(&mut ctx.out, &Reply::Ok))
}

/// `WATCH key [key ...]`.
pub(super) fn watch<O: Output + ?Sized>(
    keys: Args<'_>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if ctx.session.in_multi() {
        return Err(CommandError::Fixed(WATCH_INSIDE_MULTI));
    }
    if !ctx.out.try_room(Reply::Ok.size_bound()) {
        return Ok(Flow::NeedRoom(Reply::Ok.size_bound()));
    }
    let engine: &Engine = ctx.engine;
    let transaction =
        ctx.session.transaction.get_or_insert_with(|| Transaction::new(engine).into());
    // All or nothing: the bytes of every new key first.
    let mut bytes = 0;
    for key in keys.iter() {
        if !transaction.watching.contains(key) {
            bytes += key.len() + WATCH_OVERHEAD;
        }
    }
    let refused = if transaction.watched_bytes + bytes > engine.settings.max_client_buffer {
        Some(CommandError::Fixed(TOO_MANY_WATCHED))
    } else if !engine.budget.try_reserve(bytes) {
        Some(CommandError::OutOfMemory)
    } else {
        None
    };
    if let Some(error) = refused {
        if transaction.watching.is_empty() {
            ctx.session.transaction = None;
        }
        return Err(error);
    }
    transaction.watched_bytes += bytes;
    for key in keys.iter() {
        if !transaction.watching.contains(key) {
            transaction.watching.insert(engine.store.watch(key));
        }
    }
    Ok(finish(&mut ctx.out, &Reply::Ok))
}

/// `UNWATCH`.
pub(super) fn unwatch<O: Output + ?Sized>(
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if !ctx.out.try_room(Reply::Ok.size_bound()) {
        return Ok(Flow::NeedRoom(Reply::Ok.size_bound()));
    }
    if let Some(transaction) = ctx.session.transaction.as_mut() {
        transaction.unwatch_all();
        if transaction.queue.is_none() {
            ctx.session.transaction = None;
        }
    }
    Ok(finish(&mut ctx.out, &Reply::Ok))
}

/// `EXEC`.
pub(super) fn exec<O: Output + ?Sized>(
    request: Option<&mut Request<'_>>,
    ctx: &mut Ctx<'_, '_, '_, O>,
    run: RunQueued,
) -> Result<Flow, CommandError> {
    if !ctx.session.in_multi() {
        return Err(CommandError::Fixed(EXEC_WITHOUT_MULTI));
    }
    // Whatever happens next, the transaction and its watches end here.
    let Some(mut transaction) = ctx.session.transaction.take() else {
        return Err(CommandError::Fixed(EXEC_WITHOUT_MULTI));
    };
    let Some(queue) = transaction.queue.take() else {
        return Err(CommandError::Fixed(EXEC_WITHOUT_MULTI));
    };
    if queue.discarded {
        return Err(CommandError::Fixed(EXEC_ABORT));
    }
    let engine: &Engine = ctx.engine;
    let cap = engine.settings.max_client_buffer;
    let dialect = ctx.out.dialect();
    let session = &mut *ctx.session;
    let counters = &mut *ctx.counters;
    let mut out = ExecOutput::new(ctx.out.output(), cap);
    let mut overflowed = false;
    let mut unshared = Unshared;
    let turn: &mut dyn Exclusive = match request {
        Some(request) => &mut *request.turn,
        None => &mut unshared,
    };
    turn.alone(&mut || {
        if transaction.watching.iter().any(|w| engine.store.watch_broken(w)) {
            Replies::new(&mut out, dialect).send(&Reply::NilArray);
            return;
        }
        Replies::new(&mut out, dialect).send(&Reply::Array(queue.count));
        let mut scratch: Vec<u8> = Vec::new();
        let mut rest = queue.requests.bytes();
        for _ in 0..queue.count {
            let (parsed, consumed) = match Dialect::Resp2.parse(rest, &queue.limits) {
                Parsed::Command { command, consumed } => (Ok(command), consumed),
                Parsed::Invalid { error, consumed } => (Err(error), consumed),
                // Each request parsed once when it was queued.
                _ => (Err(CommandError::Fixed("ERR queued request could not be read")), rest.len()),
            };
            rest = &rest[consumed.min(rest.len())..];
            let mut target: &mut dyn Output = if overflowed { &mut scratch } else { &mut out };
            let flow = run_one(engine, run, &parsed, session, counters, target);
            if let Flow::NeedRoom(_) = flow {
                // Nothing was done: run it again where there is room, and
                // give up on the reply (see the module docs).
                overflowed = true;
                out.drop_all();
                scratch.clear();
                target = &mut scratch;
                run_one(engine, run, &parsed, session, counters, target);
            }
            scratch.clear();
        }
    });
    drop(transaction);
    if overflowed {
        return Err(CommandError::Fixed(REPLY_TOO_LARGE));
    }
    Ok(Flow::Continue)
}

/// How EXEC runs a queued command: the dispatch in `execute`, handed in by
/// it, so that this module does not depend on the one that depends on it.
pub(super) type RunQueued = fn(
    &Engine,
    &Command<'_>,
    &mut Session,
    &mut crate::metrics::LocalCounters,
    &mut dyn Output,
) -> Flow;

/// Runs one queued command (or answers its parse error) into `out`.
fn run_one(
    engine: &Engine,
    run: RunQueued,
    parsed: &Result<Command<'_>, CommandError>,
    session: &mut Session,
    counters: &mut crate::metrics::LocalCounters,
    out: &mut dyn Output,
) -> Flow {
    match parsed {
        Ok(command) => run(engine, command, session, counters, out),
        Err(error) => {
            let reply = Reply::Error(error.clone());
            if !Engine::send(session, out, &reply) {
                return Flow::NeedRoom(reply.size_bound());
            }
            counters.invalid(error);
            Flow::Continue
        }
    }
}

/// EXEC's output: room is forced past the budget (what it reports has
/// happened), but never past `cap` bytes of EXEC's reply.
struct ExecOutput<'a, O: Output + ?Sized> {
    inner: &'a mut O,
    start: usize,
    cap: usize,
}

impl<'a, O: Output + ?Sized> ExecOutput<'a, O> {
    fn new(inner: &'a mut O, cap: usize) -> Self {
        let start = inner.bytes_mut().len();
        ExecOutput { inner, start, cap }
    }

    /// Drops everything EXEC wrote.
    fn drop_all(&mut self) {
        self.inner.bytes_mut().truncate(self.start);
    }
}

impl<O: Output + ?Sized> Output for ExecOutput<'_, O> {
    fn try_room(&mut self, extra: usize) -> bool {
        let written = self.inner.bytes_mut().len() - self.start;
        if written + extra > self.cap {
            return false;
        }
        if !self.inner.try_room(extra) {
            self.inner.force_room(extra);
        }
        true
    }

    fn bytes_mut(&mut self) -> &mut Vec<u8> {
        self.inner.bytes_mut()
    }
}
