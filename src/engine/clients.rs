//! CLIENT LIST, CLIENT INFO and CLIENT KILL: what the engine knows about
//! every connection, and the commands that read it.
//!
//! Each connection has one [`ClientRecord`], shared (an `Arc`) between its
//! [`Session`] and the server's connection table, which the engine reaches
//! through the [`ClientDirectory`] trait: the engine lists and kills
//! connections without touching a socket (the server wakes the connection
//! it kills; see `crate::server::stop`).
//!
//! What a record costs is what every idle connection costs, so it is kept
//! to one small allocation and written off the hot path:
//! - what never changes (id, addresses, fd, connect time) is plain data;
//! - the name and the user live behind one lock that CLIENT SETNAME, AUTH
//!   and HELLO take, and CLIENT LIST (nothing else does);
//! - what changes with traffic (last command, last interaction, buffer
//!   sizes) is published by the connection once per read batch: the
//!   command and time before the batch's replies are written (one relaxed
//!   store, [`ClientRecord::publish_activity`]), the buffer sizes as it
//!   goes back to waiting (a store only for a size that changed). No
//!   command pays an atomic for it; CLIENT LIST sees the state as of each
//!   connection's last batch (its own: as of now).
//!
//! Times count in [`ClientClock`] ticks, a coarse clock the server moves
//! every [`TICK_MS`] (Redis's own `unixtime` is as coarse), so publishing
//! reads no clock.
//!
//! The fields Redis has and capkv does not are constants (documented on
//! [`ClientRecord::write_line`]): every client is a normal one in db 0,
//! with no subscriptions, no MULTI (until capkv has it), no tracking.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::protocol::{Args, ClientSubcommand, Command, CommandError, CommandId, Dialect, Reply};

use super::context::{BULK_FRAMING, Ctx, finish};
use super::output::Output;
use super::{Flow, Session};

/// How often the server moves the [`ClientClock`], in milliseconds.
pub const TICK_MS: u64 = 100;

/// A coarse clock in [`TICK_MS`] ticks since it was made: read with one
/// relaxed load, moved by the server's ticker.
#[derive(Debug)]
pub struct ClientClock {
    epoch: Instant,
    ticks: AtomicU32,
}

impl Default for ClientClock {
    fn default() -> Self {
        ClientClock { epoch: Instant::now(), ticks: AtomicU32::new(0) }
    }
}

impl ClientClock {
    /// Ticks now (as of the last [`ClientClock::tick`]).
    pub fn now(&self) -> u32 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Moves the clock to the current time (the server's ticker).
    pub fn tick(&self) {
        let ticks = self.epoch.elapsed().as_millis() / u128::from(TICK_MS);
        self.ticks.store(u32::try_from(ticks).unwrap_or(u32::MAX), Ordering::Relaxed);
    }
}

/// The connections the engine can see: the server's connection table, or
/// [`NoClients`] for an engine without a server.
pub trait ClientDirectory: Send + Sync {
    /// Every open connection's record, in id order.
    fn clients(&self) -> Vec<Arc<ClientRecord>>;
    /// Ends the connection with this id (promptly, even while it waits
    /// for its client); false if there is none.
    fn kill(&self, id: u64) -> bool;
    /// The clock records count their times in.
    fn clock(&self) -> &ClientClock;
}

/// A directory with no connections (engine tests, tools).
#[derive(Debug, Default)]
pub struct NoClients(ClientClock);

impl ClientDirectory for NoClients {
    fn clients(&self) -> Vec<Arc<ClientRecord>> {
        Vec::new()
    }
    fn kill(&self, _id: u64) -> bool {
        false
    }
    fn clock(&self) -> &ClientClock {
        &self.0
    }
}

/// A code for "the last command" that fits the activity word: the family
/// plus one (0: none yet), and for CLIENT the subcommand plus one in the
/// high byte (so CLIENT LIST shows `client|list`).
pub fn command_code(command: &Command<'_>) -> u16 {
    let sub = match command {
        Command::Client { subcommand, .. } => *subcommand as u16 + 1,
        _ => 0,
    };
    (command.id() as u16 + 1) | (sub << 8)
}

/// The name [`command_code`] stands for, as Redis's `cmd=` shows it.
fn command_name(code: u16) -> &'static str {
    let family = (code & 0xff) as usize;
    let sub = (code >> 8) as usize;
    match (family.checked_sub(1).and_then(|f| CommandId::ALL.get(f)), sub.checked_sub(1)) {
        (None, _) => "NULL",
        (Some(_), Some(sub)) => ClientSubcommand::ALL.get(sub).map_or("client", |s| s.full_name()),
        (Some(id), None) => id.name(),
    }
}

/// The `state` bit of CLIENT NO-EVICT on.
const NO_EVICT: u8 = 0x80;

/// The name and user of a connection, when it has either.
#[derive(Debug, Default)]
struct Names {
    name: Option<Box<[u8]>>,
    user: Option<Box<[u8]>>,
}

/// What CLIENT LIST knows about one connection (see the module docs).
#[derive(Debug)]
pub struct ClientRecord {
    /// The connection's id (CLIENT ID).
    pub id: u64,
    /// The client's address, kept as IP and port: 20 bytes where a
    /// `SocketAddr` takes 32 (see [`ClientRecord::addr`]).
    addr: (IpAddr, u16),
    /// The address it connected to.
    laddr: (IpAddr, u16),
    /// The socket's file descriptor (-1: none).
    pub fd: i32,
    /// When it connected, in clock ticks.
    created: u32,
    /// Last interaction's tick (high 32 bits) and [`command_code`] of the
    /// last command (low 16).
    activity: AtomicU64,
    /// The connection's own input buffer: bytes held (high 32 bits) and
    /// capacity (low 32).
    input: AtomicU64,
    /// Capacity of the connection's own output buffer (unsent replies).
    output: AtomicU32,
    /// The protocol (low bits: 0 the line protocol, 2 or 3 RESP) and
    /// [`NO_EVICT`].
    state: AtomicU8,
    names: Mutex<Option<Box<Names>>>,
}

impl ClientRecord {
    /// A record for connection `id`, connected at tick `now`.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr, fd: i32, now: u32) -> ClientRecord {
        ClientRecord {
            id,
            addr: (addr.ip(), addr.port()),
            laddr: (laddr.ip(), laddr.port()),
            fd,
            created: now,
            activity: AtomicU64::new(u64::from(now) << 32),
            input: AtomicU64::new(0),
            output: AtomicU32::new(0),
            state: AtomicU8::new(0),
            names: Mutex::new(None),
        }
    }

    /// The client's address (CLIENT LIST's `addr`).
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(self.addr)
    }

    /// The address the client connected to (`laddr`).
    pub fn laddr(&self) -> SocketAddr {
        SocketAddr::from(self.laddr)
    }

    /// A record without a socket (engine tests).
    pub fn detached(id: u64) -> ClientRecord {
        let nowhere = SocketAddr::from(([0, 0, 0, 0], 0));
        ClientRecord::new(id, nowhere, nowhere, -1, 0)
    }

    /// Publishes a read batch: when it ended (`now`) and its last
    /// command. One relaxed store, before its replies are written.
    pub fn publish_activity(&self, now: u32, command: u16) {
        self.activity.store(u64::from(now) << 32 | u64::from(command), Ordering::Relaxed);
    }

    /// Publishes the bytes the connection's own buffers hold (input:
    /// length and capacity), as it goes back to waiting: a store only for
    /// a size that changed (they are empty again after most batches).
    pub fn publish_buffers(&self, input: (usize, usize), output: usize) {
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        let input = u64::from(clamp(input.0)) << 32 | u64::from(clamp(input.1));
        if self.input.load(Ordering::Relaxed) != input {
            self.input.store(input, Ordering::Relaxed);
        }
        if self.output.load(Ordering::Relaxed) != clamp(output) {
            self.output.store(clamp(output), Ordering::Relaxed);
        }
    }

    /// Records the protocol the connection speaks now.
    pub fn set_dialect(&self, dialect: Dialect) {
        let resp = match dialect {
            Dialect::Line => 0,
            Dialect::Resp2 => 2,
            Dialect::Resp3 => 3,
        };
        let evict = self.state.load(Ordering::Relaxed) & NO_EVICT;
        self.state.store(resp | evict, Ordering::Relaxed);
    }

    /// Records CLIENT NO-EVICT (the `e` flag).
    pub fn set_no_evict(&self, on: bool) {
        let resp = self.state.load(Ordering::Relaxed) & !NO_EVICT;
        self.state.store(resp | if on { NO_EVICT } else { 0 }, Ordering::Relaxed);
    }

    fn names(&self) -> std::sync::MutexGuard<'_, Option<Box<Names>>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The name CLIENT SETNAME gave, if any.
    pub fn name(&self) -> Option<Box<[u8]>> {
        self.names().as_ref().and_then(|n| n.name.clone())
    }

    /// Sets (or, with `None`, clears) the name.
    pub fn set_name(&self, name: Option<Box<[u8]>>) {
        let mut names = self.names();
        names.get_or_insert_with(Box::default).name = name;
        if names.as_ref().is_some_and(|n| n.name.is_none() && n.user.is_none()) {
            *names = None;
        }
    }

    /// Records who the connection authenticated as.
    pub fn set_user(&self, user: &[u8]) {
        let mut names = self.names();
        let user = (user != b"default").then(|| user.into());
        names.get_or_insert_with(Box::default).user = user;
        if names.as_ref().is_some_and(|n| n.name.is_none() && n.user.is_none()) {
            *names = None;
        }
    }

    /// Whether the connection authenticated as `user`.
    fn is_user(&self, user: &[u8]) -> bool {
        self.names().as_ref().and_then(|n| n.user.as_deref()).unwrap_or(b"default") == user
    }

    /// Appends this connection's CLIENT LIST line (without its newline),
    /// as of tick `now`. `own`: the session, when the line is the caller's
    /// own (its current command, nothing idle, its unparsed input).
    ///
    /// Fields that are constants in capkv: `flags` is `N` (or `e` after
    /// CLIENT NO-EVICT on), `db=0 sub=0 psub=0 ssub=0 multi=-1
    /// multi-mem=0 oll=0 events=r redir=-1`; `argv-mem` is 0 (arguments are
    /// never copied out of the read buffer), `rbs`/`rbp`/`obl` are 0
    /// (replies go through the worker's space, not a per-client buffer)
    /// and `omem` is the capacity of the unsent replies the connection
    /// holds; `tot-mem` is every buffer byte it holds.
    pub fn write_line(&self, now: u32, own: Option<&Session>, line: &mut String) {
        let activity = self.activity.load(Ordering::Relaxed);
        let input = self.input.load(Ordering::Relaxed);
        let (mut qbuf, capacity) = ((input >> 32) as usize, (input & 0xffff_ffff) as usize);
        let mut free = capacity.saturating_sub(qbuf);
        let omem = self.output.load(Ordering::Relaxed) as usize;
        let (mut idle, mut command) =
            (now.saturating_sub((activity >> 32) as u32), activity as u16);
        let state = self.state.load(Ordering::Relaxed);
        if let Some(session) = own {
            (idle, command, qbuf) = (0, session.command, session.unparsed as usize);
            free = capacity.saturating_sub(qbuf);
        }
        let secs = |ticks: u32| u64::from(ticks) * TICK_MS / 1000;
        let (name, user) = match self.names().as_deref() {
            Some(names) => (names.name.clone(), names.user.clone()),
            None => (None, None),
        };
        let text = |bytes: Option<&[u8]>, default: &'static str| match bytes {
            Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            None => default.to_owned(),
        };
        let _ = write!(
            line,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db=0 sub=0 psub=0 \
             ssub=0 multi=-1 qbuf={qbuf} qbuf-free={free} argv-mem=0 multi-mem=0 rbs=0 rbp=0 \
             obl=0 oll=0 omem={omem} tot-mem={} events=r cmd={} user={} redir=-1 resp={}",
            self.id,
            self.addr(),
            self.laddr(),
            self.fd,
            text(name.as_deref(), ""),
            secs(now.saturating_sub(self.created)),
            secs(idle),
            if state & NO_EVICT != 0 { "e" } else { "N" },
            capacity.max(qbuf) + omem,
            command_name(command),
            text(user.as_deref(), "default"),
            state & !NO_EVICT,
        );
    }
}

/// A CLIENT error after `ERR `.
fn error(text: String) -> CommandError {
    CommandError::Client(text.into_bytes().into())
}

/// Redis's client types, as `TYPE` names them: capkv's clients are all
/// normal ones.
fn type_matches(name: &[u8]) -> Result<bool, CommandError> {
    let name = name.to_ascii_lowercase();
    match &name[..] {
        b"normal" => Ok(true),
        b"master" | b"slave" | b"replica" | b"pubsub" => Ok(false),
        _ => Err(error(format!("Unknown client type '{}'", String::from_utf8_lossy(&name)))),
    }
}

/// Sends `lines` (each ends with `\n`) as CLIENT LIST's bulk string.
fn send_lines<O: Output + ?Sized>(lines: &str, ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    let reply = Reply::Bulk(lines.as_bytes());
    if ctx.out.try_room(lines.len() + BULK_FRAMING) {
        ctx.out.push(&reply);
        Flow::Continue
    } else {
        finish(&mut ctx.out, &reply)
    }
}

/// The line of `record`, with the caller's own state if it is the caller.
fn line_of(record: &ClientRecord, now: u32, session: &Session, lines: &mut String) {
    let own = (record.id == session.client.id).then_some(session);
    record.write_line(now, own, lines);
    lines.push('\n');
}

/// `CLIENT INFO`.
pub(super) fn info<O: Output + ?Sized>(ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    let now = ctx.engine.clients.clock().now();
    let mut lines = String::with_capacity(400);
    line_of(&ctx.session.client, now, ctx.session, &mut lines);
    send_lines(&lines, ctx)
}

/// `CLIENT LIST [TYPE type | ID id [id ...]]`.
pub(super) fn list<O: Output + ?Sized>(
    args: Args<'_>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let directory = &*ctx.engine.clients;
    let now = directory.clock().now();
    let mut all = directory.clients();
    let mut lines = String::with_capacity(400 * all.len().max(1));
    let mut args = args.iter();
    match (args.next(), args.len()) {
        (None, _) => {}
        (Some(filter), 1) if filter.eq_ignore_ascii_case(b"type") => {
            if !type_matches(args.next().unwrap_or_default())? {
                all.clear();
            }
        }
        (Some(filter), 1..) if filter.eq_ignore_ascii_case(b"id") => {
            let ids = args
                .map(|arg| {
                    crate::decimal::parse_i64(arg).ok_or_else(|| error("Invalid client ID".into()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            // In the order asked, as Redis answers.
            for id in ids {
                if let Some(record) = all.iter().find(|r| i64::try_from(r.id) == Ok(id)) {
                    line_of(record, now, ctx.session, &mut lines);
                }
            }
            return Ok(send_lines(&lines, ctx));
        }
        _ => return Err(CommandError::Syntax),
    }
    for record in &all {
        line_of(record, now, ctx.session, &mut lines);
    }
    Ok(send_lines(&lines, ctx))
}

/// What `CLIENT KILL`'s filters ask for.
#[derive(Default)]
struct Filter<'a> {
    id: Option<u64>,
    addr: Option<&'a [u8]>,
    laddr: Option<&'a [u8]>,
    user: Option<&'a [u8]>,
    /// `TYPE` named a type no capkv client has.
    no_type: bool,
    skip_me: bool,
}

impl Filter<'_> {
    fn matches(&self, record: &ClientRecord, me: u64) -> bool {
        let same = |want: Option<&[u8]>, addr: &SocketAddr| {
            want.is_none_or(|want| want == addr.to_string().as_bytes())
        };
        !self.no_type
            && self.id.is_none_or(|id| id == record.id)
            && same(self.addr, &record.addr())
            && same(self.laddr, &record.laddr())
            && self.user.is_none_or(|user| record.is_user(user))
            && !(self.skip_me && record.id == me)
    }
}

/// `CLIENT KILL ip:port` (answers OK, or `No such client`) and `CLIENT
/// KILL <filter> <value> ...` (answers how many): Redis's
/// `clientKillCommand`. The caller itself is answered, then closed.
pub(super) fn kill<O: Output + ?Sized>(
    args: Args<'_>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let old_form = args.len() == 1;
    let mut filter = Filter { skip_me: !old_form, ..Filter::default() };
    let mut args = args.iter();
    if old_form {
        filter.addr = args.next();
    }
    while let Some(option) = args.next() {
        let Some(value) = args.next() else {
            return Err(CommandError::Syntax);
        };
        match &option.to_ascii_lowercase()[..] {
            b"id" => {
                let id = crate::decimal::parse_i64(value).filter(|&id| id >= 1);
                let id = id.ok_or_else(|| error("client-id should be greater than 0".into()))?;
                filter.id = Some(id as u64);
            }
            b"type" => filter.no_type = !type_matches(value)?,
            b"addr" => filter.addr = Some(value),
            b"laddr" => filter.laddr = Some(value),
            b"user" => {
                if ctx.engine.access.users().get(value).is_none() {
                    let name = String::from_utf8_lossy(value);
                    return Err(error(format!("No such user '{name}'")));
                }
                filter.user = Some(value);
            }
            b"skipme" if value.eq_ignore_ascii_case(b"yes") => filter.skip_me = true,
            b"skipme" if value.eq_ignore_ascii_case(b"no") => filter.skip_me = false,
            _ => return Err(CommandError::Syntax),
        }
    }
    let me = ctx.session.client.id;
    let directory = &*ctx.engine.clients;
    let mut killed = 0;
    let mut close_me = false;
    for record in directory.clients().iter().filter(|r| filter.matches(r, me)) {
        if record.id == me {
            close_me = true;
            killed += 1;
        } else if directory.kill(record.id) {
            killed += 1;
        }
    }
    let flow = if !old_form {
        finish(&mut ctx.out, &Reply::Int(killed))
    } else if killed == 0 {
        return Err(error("No such client".into()));
    } else {
        finish(&mut ctx.out, &Reply::Ok)
    };
    Ok(if close_me && flow == Flow::Continue { Flow::Close } else { flow })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_one_small_allocation() {
        // An `Arc` adds two counters; jemalloc's size classes step by 16
        // up to 128 bytes: every connection pays the class, not the size.
        let size = std::mem::size_of::<ClientRecord>() + 16;
        assert!(size <= 112, "a record's allocation is {size} bytes");
    }

    #[test]
    fn command_codes_name_families_and_client_subcommands() {
        let list = Command::Client { subcommand: ClientSubcommand::List, args: Args::empty() };
        assert_eq!(command_name(command_code(&list)), "client|list");
        assert_eq!(command_name(command_code(&Command::Get { key: b"k" })), "get");
        assert_eq!(command_name(0), "NULL");
    }

    #[test]
    fn a_published_batch_shows_in_the_line() {
        let record = ClientRecord::detached(7);
        record.set_name(Some(b"worker".as_slice().into()));
        record.set_dialect(Dialect::Resp3);
        let get = command_code(&Command::Get { key: b"k" });
        record.publish_activity(10, get);
        record.publish_buffers((100, 16384), 0);
        let mut line = String::new();
        record.write_line(35, None, &mut line);
        let fields = [
            "id=7 ",
            " name=worker age=3 idle=2 flags=N ",
            " qbuf=100 qbuf-free=16284 ",
            " tot-mem=16384 ",
            " cmd=get user=default redir=-1 resp=3",
        ];
        for field in fields {
            assert!(line.contains(field), "{field:?} in {line}");
        }
        record.set_name(None);
        record.set_no_evict(true);
        line.clear();
        record.write_line(35, None, &mut line);
        assert!(line.contains(" name= age=3 idle=2 flags=e "), "{line}");
        assert!(line.ends_with(" resp=3"), "{line}");
    }
}
