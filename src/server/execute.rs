//! Executing a command: the thin layer where protocol meets store.
//!
//! [`execute`] runs one [`Command`] against the store and appends its
//! reply (encoded by the protocol module) to the connection's output
//! buffer. It never touches a socket, so tests can drive it directly.
//!
//! Every reply is given room in the budget *before* it is written. Where
//! the size is only known once the value is found (GET, MGET, SET ... GET),
//! the room is taken inside the store's read callback; if the budget has
//! none, nothing irreversible has happened yet and [`Flow::NeedRoom`] tells
//! the connection to flush, wait for memory, and run the command again.

use crate::memory::Budget;
use crate::metrics::{CommandKind, LocalCounters, ServerStats};
use crate::protocol::{
    Args, Command, CommandError, Dialect, ExpireCondition, Expiry, MAX_CLIENT_NAME, Reply,
    SetCondition, SetOptions, TtlUnit, encode_reply,
};
use crate::store::{ExpireWhen, SetOutcome, Store, StoreError, Ttl, WriteCondition, WriteExpiry};

use super::buffer::Buffer;
use super::info;

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next request.
    Continue,
    /// Flush the output and close the connection.
    Close,
    /// Nothing was done: flush, wait until the output can grow by this many
    /// bytes, then run the same command again.
    NeedRoom(usize),
}

/// Everything a command may read or change.
pub struct Context<'a> {
    /// The cache.
    pub store: &'a Store,
    /// The memory budget (for INFO).
    pub budget: &'a Budget,
    /// Process counters (for INFO).
    pub stats: &'a ServerStats,
    /// Settings shown by INFO and CONFIG GET.
    pub settings: &'a info::Settings,
    /// This connection's dialect.
    pub dialect: Dialect,
    /// True once the connection chose RESP3 with `HELLO 3` (nulls and maps
    /// are then RESP3's); HELLO changes it, the connection keeps it.
    pub resp3: bool,
    /// This connection's id (CLIENT ID).
    pub connection_id: u64,
    /// This connection's counters.
    pub counters: &'a mut LocalCounters,
    /// The name CLIENT SETNAME gave this connection.
    pub client_name: &'a mut Option<Box<[u8]>>,
}

impl Context<'_> {
    /// A missing value in this connection's protocol.
    fn nil(&self) -> Reply<'static> {
        if self.resp3 { Reply::Null } else { Reply::Nil }
    }

    /// The header of a map of `n` pairs: a RESP3 map, or the flat array of
    /// keys and values RESP2 uses.
    fn map(&self, n: usize) -> Reply<'static> {
        if self.resp3 { Reply::Map(n) } else { Reply::Array(2 * n) }
    }
}

/// Upper bound of an encoded reply's size, for reserving room.
fn reply_bound(reply: &Reply<'_>) -> usize {
    match reply {
        Reply::Bulk(v) | Reply::Report(v) => v.len() + 32,
        Reply::Status(s) => s.len() + 8,
        Reply::Error(_) => 640,
        _ => 32,
    }
}

/// Appends `reply` if the budget gives it room; false if it does not.
pub fn send(out: &mut Buffer, dialect: Dialect, reply: &Reply<'_>) -> bool {
    if !out.try_room(reply_bound(reply)) {
        return false;
    }
    encode_reply(dialect, reply, out.vec());
    true
}

/// Sends `reply`, or asks for room for it.
fn finish(out: &mut Buffer, dialect: Dialect, reply: &Reply<'_>) -> Flow {
    if send(out, dialect, reply) { Flow::Continue } else { Flow::NeedRoom(reply_bound(reply)) }
}

fn store_error(error: StoreError) -> CommandError {
    match error {
        StoreError::ItemTooLarge | StoreError::OutOfMemory => CommandError::OutOfMemory,
        StoreError::NotInteger => CommandError::NotAnInteger,
        StoreError::Overflow => CommandError::Overflow,
        StoreError::ValueTooLarge => CommandError::StringTooLong,
    }
}

/// Turns a SET/GETEX expiry into a deadline in Unix milliseconds.
fn deadline(expiry: Expiry, now: u64, command: &'static str) -> Result<Option<u64>, CommandError> {
    match expiry {
        Expiry::InMillis(ms) => now
            .checked_add(ms)
            .filter(|&d| d <= i64::MAX as u64)
            .map(Some)
            .ok_or(CommandError::InvalidExpireTime { command }),
        Expiry::AtUnixMillis(at) => Ok(Some(at.max(0) as u64)),
        Expiry::Persist => Ok(None),
    }
}

/// Runs `command`, appending its reply to `out`.
pub fn execute(command: &Command<'_>, ctx: &mut Context<'_>, out: &mut Buffer) -> Flow {
    let kind = CommandKind::of(command);
    let mark = out.len();
    let result = run(command, ctx, out);
    let flow = match result {
        Ok(flow) => {
            // A command that must wait for room is counted when it reruns.
            if !matches!(flow, Flow::NeedRoom(_)) {
                ctx.counters.command(kind, true);
            }
            flow
        }
        Err(error) => {
            if matches!(error, CommandError::OutOfMemory) {
                ctx.counters.rejected_writes += 1;
            }
            ctx.counters.command(kind, false);
            // Drop anything half-written by the failed command.
            out.vec().truncate(mark);
            finish(out, ctx.dialect, &Reply::Error(error))
        }
    };
    if let Flow::NeedRoom(_) = flow {
        out.vec().truncate(mark);
    }
    flow
}

fn run(
    command: &Command<'_>,
    ctx: &mut Context<'_>,
    out: &mut Buffer,
) -> Result<Flow, CommandError> {
    let store = ctx.store;
    let dialect = ctx.dialect;
    Ok(match *command {
        Command::Get { key } => get(key, ctx, out),
        Command::Set { key, value, options } => return set(key, value, options, ctx, out),
        Command::Del { keys } => {
            let n = keys.iter().filter(|k| store.delete(k)).count();
            finish(out, dialect, &Reply::Deleted(n as u64))
        }
        Command::GetDel { key } => {
            let mut need = 0;
            let found = store.get_delete(key, value_sender(out, dialect, &mut need));
            value_reply(found, need, ctx, out)
        }
        Command::GetEx { key, expiry } => {
            let flow = get(key, ctx, out);
            if let (Flow::Continue, Some(expiry)) = (flow, expiry) {
                let deadline = deadline(expiry, store.now_ms(), "getex")?;
                store.expire(key, deadline, ExpireWhen::Always).map_err(store_error)?;
            }
            flow
        }
        Command::Exists { keys } => {
            let n = keys.iter().filter(|k| store.exists(k)).count();
            finish(out, dialect, &Reply::Int(n as i64))
        }
        Command::Expire { key, expiry, condition, command } => {
            // A deadline not in the future deletes the key (store rule).
            let at = deadline(expiry, store.now_ms(), command)?;
            let when = match condition {
                ExpireCondition::Always => ExpireWhen::Always,
                ExpireCondition::IfNoExpiry => ExpireWhen::NoDeadline,
                ExpireCondition::IfHasExpiry => ExpireWhen::HasDeadline,
                ExpireCondition::IfGreater => ExpireWhen::Later,
                ExpireCondition::IfLess => ExpireWhen::Earlier,
                ExpireCondition::IfHasExpiryAndLess => ExpireWhen::HasDeadlineAndEarlier,
            };
            let applied = store.expire(key, at, when).map_err(store_error)?;
            finish(out, dialect, &Reply::Int(applied as i64))
        }
        Command::Persist { key } => {
            let applied = store.expire(key, None, ExpireWhen::HasDeadline).map_err(store_error)?;
            finish(out, dialect, &Reply::Int(applied as i64))
        }
        Command::Ttl { key, unit } => {
            let now = store.now_ms();
            let n = match store.ttl(key) {
                Ttl::Missing => -2,
                Ttl::Forever => -1,
                Ttl::At(at) => {
                    let ms = at.saturating_sub(now) as i64;
                    match unit {
                        // Redis rounds to the nearest second.
                        TtlUnit::Seconds => (ms + 500) / 1000,
                        TtlUnit::Millis => ms,
                    }
                }
            };
            finish(out, dialect, &Reply::Int(n))
        }
        Command::MGet { keys } => mget(keys, ctx, out),
        Command::MSet { pairs } => {
            let mut it = pairs.iter();
            while let (Some(key), Some(value)) = (it.next(), it.next()) {
                store.put(key, value).map_err(store_error)?;
            }
            finish(out, dialect, &Reply::Ok)
        }
        Command::IncrBy { key, delta } => {
            let n = store.incr_by(key, delta).map_err(store_error)?;
            finish(out, dialect, &Reply::Int(n))
        }
        Command::Append { key, value } => {
            let len = store.append(key, value).map_err(store_error)?;
            finish(out, dialect, &Reply::Int(len as i64))
        }
        Command::StrLen { key } => finish(out, dialect, &Reply::Int(store.strlen(key) as i64)),
        Command::DbSize => finish(out, dialect, &Reply::Int(store.len() as i64)),
        Command::FlushAll => {
            store.flush();
            finish(out, dialect, &Reply::Ok)
        }
        Command::Ping { message: Some(message) } if dialect == Dialect::Resp => {
            finish(out, dialect, &Reply::Bulk(message))
        }
        Command::Ping { .. } => finish(out, dialect, &Reply::Pong),
        Command::Echo { message } => finish(out, dialect, &Reply::Bulk(message)),
        Command::Select { index: 0 } => finish(out, dialect, &Reply::Ok),
        Command::Select { .. } => return Err(CommandError::DbIndexOutOfRange),
        Command::Quit => {
            if dialect == Dialect::Resp && !send(out, dialect, &Reply::Ok) {
                return Ok(Flow::NeedRoom(32));
            }
            Flow::Close
        }
        Command::Info { sections } => {
            let report = info::report(ctx, sections);
            finish(out, dialect, &Reply::Report(&report))
        }
        Command::ConfigGet { patterns } => {
            let pairs = ctx.settings.config_get(patterns);
            let bound: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
            if !out.try_room(bound + 32) {
                return Ok(Flow::NeedRoom(bound + 32));
            }
            encode_reply(dialect, &ctx.map(pairs.len()), out.vec());
            for (name, value) in &pairs {
                encode_reply(dialect, &Reply::Bulk(name.as_bytes()), out.vec());
                encode_reply(dialect, &Reply::Bulk(value.as_bytes()), out.vec());
            }
            Flow::Continue
        }
        Command::ConfigOther => finish(out, dialect, &Reply::Ok),
        Command::CommandInfo { subcommand } => match subcommand {
            b"count" => finish(out, dialect, &Reply::Int(CommandKind::ALL.len() as i64 - 1)),
            b"docs" => finish(out, dialect, &ctx.map(0)),
            // An empty list is enough for redis-cli and redis-benchmark:
            // they fall back to their built-in command tables.
            _ => finish(out, dialect, &Reply::Array(0)),
        },
        Command::Client { subcommand, args } => match subcommand {
            b"setname" => {
                let name = args.iter().next().unwrap_or_default();
                if name.len() > MAX_CLIENT_NAME || name.iter().any(|b| !(b'!'..=b'~').contains(b)) {
                    return Err(CommandError::InvalidClientName);
                }
                *ctx.client_name = (!name.is_empty()).then(|| name.into());
                finish(out, dialect, &Reply::Ok)
            }
            b"setinfo" | b"reply" | b"no-evict" | b"no-touch" => finish(out, dialect, &Reply::Ok),
            b"getname" => match ctx.client_name.as_deref() {
                Some(name) => finish(out, dialect, &Reply::Bulk(name)),
                None => finish(out, dialect, &ctx.nil()),
            },
            b"id" => finish(out, dialect, &Reply::Int(ctx.connection_id as i64)),
            _ => return Err(CommandError::unknown_subcommand(b"client", subcommand)),
        },
        Command::Hello { version } => hello(version, ctx, out),
    })
}

fn get(key: &[u8], ctx: &mut Context<'_>, out: &mut Buffer) -> Flow {
    let mut need = 0;
    let found = ctx.store.get(key, value_sender(out, ctx.dialect, &mut need));
    value_reply(found, need, ctx, out)
}

/// A store read callback that sends the value found, or, when the budget
/// has no room for it, returns false and records the room it needs.
fn value_sender<'a>(
    out: &'a mut Buffer,
    dialect: Dialect,
    need: &'a mut usize,
) -> impl FnOnce(&[u8]) -> bool + 'a {
    move |value| {
        send(out, dialect, &Reply::Bulk(value)) || {
            *need = value.len() + 32;
            false
        }
    }
}

/// Finishes a single-value read: `found` is what the store returned for a
/// [`value_sender`] callback (`None`: no such key).
fn value_reply(found: Option<bool>, need: usize, ctx: &mut Context<'_>, out: &mut Buffer) -> Flow {
    match found {
        Some(true) => {
            ctx.counters.hits += 1;
            Flow::Continue
        }
        Some(false) => Flow::NeedRoom(need),
        None => {
            ctx.counters.misses += 1;
            finish(out, ctx.dialect, &ctx.nil())
        }
    }
}

fn set(
    key: &[u8],
    value: &[u8],
    options: SetOptions,
    ctx: &mut Context<'_>,
    out: &mut Buffer,
) -> Result<Flow, CommandError> {
    let store = ctx.store;
    let dialect = ctx.dialect;
    let nil = ctx.nil();
    let expiry = match (options.keep_ttl, options.expiry) {
        (true, _) => WriteExpiry::Keep,
        (false, None) => WriteExpiry::None,
        (false, Some(expiry)) => match deadline(expiry, store.now_ms(), "set")? {
            Some(at) => WriteExpiry::At(at),
            None => WriteExpiry::None,
        },
    };
    let condition = match options.condition {
        SetCondition::Always => WriteCondition::Always,
        SetCondition::IfAbsent => WriteCondition::IfAbsent,
        SetCondition::IfPresent => WriteCondition::IfPresent,
    };
    if !options.get {
        // Room for the status reply first, so a refused reply never
        // follows a completed write.
        if !out.try_room(32) {
            return Ok(Flow::NeedRoom(32));
        }
        let outcome = store.set(key, value, expiry, condition, None).map_err(store_error)?;
        let written = outcome == SetOutcome::Written;
        let reply = match (options.reply_as_int, written) {
            (true, _) => Reply::Int(written as i64),
            (false, true) => Reply::Ok,
            (false, false) => nil,
        };
        return Ok(finish(out, dialect, &reply));
    }
    let mut need = 0;
    let mut found = false;
    let mut reply_old = |old: Option<&[u8]>| {
        found = old.is_some();
        let reply = old.map_or(nil.clone(), Reply::Bulk);
        send(out, dialect, &reply) || {
            need = reply_bound(&reply);
            false
        }
    };
    let outcome = store.set(key, value, expiry, condition, Some(&mut reply_old));
    match outcome.map_err(store_error)? {
        SetOutcome::Aborted => Ok(Flow::NeedRoom(need)),
        SetOutcome::Written | SetOutcome::ConditionFailed => {
            if found {
                ctx.counters.hits += 1;
            } else {
                ctx.counters.misses += 1;
            }
            Ok(Flow::Continue)
        }
    }
}

fn mget(keys: Args<'_>, ctx: &mut Context<'_>, out: &mut Buffer) -> Flow {
    let store = ctx.store;
    let dialect = ctx.dialect;
    let nil = ctx.nil();
    if !send(out, dialect, &Reply::Array(keys.len())) {
        return Flow::NeedRoom(32);
    }
    let (mut hits, mut misses) = (0, 0);
    for key in keys.iter() {
        let mut refused = false;
        let hit = store.get(key, |v| {
            refused = !send(out, dialect, &Reply::Bulk(v));
        });
        let ok = match hit {
            Some(()) => {
                hits += 1;
                !refused
            }
            None => {
                misses += 1;
                send(out, dialect, &nil)
            }
        };
        if !ok {
            // Size the whole reply so one wait is enough.
            let total = 32 + keys.iter().map(|k| store.strlen(k) + 32).sum::<usize>();
            return Flow::NeedRoom(total);
        }
    }
    ctx.counters.hits += hits;
    ctx.counters.misses += misses;
    Flow::Continue
}

/// `HELLO [2|3]`: switches the connection's protocol (none given: keeps
/// it) and describes the server, as a map in the protocol now in force.
fn hello(version: Option<i64>, ctx: &mut Context<'_>, out: &mut Buffer) -> Flow {
    let dialect = ctx.dialect;
    if !out.try_room(512) {
        return Flow::NeedRoom(512);
    }
    if let Some(version) = version {
        ctx.resp3 = version == 3;
    }
    let id = ctx.connection_id as i64;
    let fields: [(&str, Reply<'_>); 7] = [
        ("server", Reply::Bulk(b"redis")),
        ("version", Reply::Bulk(info::REDIS_VERSION.as_bytes())),
        ("proto", Reply::Int(if ctx.resp3 { 3 } else { 2 })),
        ("id", Reply::Int(id)),
        ("mode", Reply::Bulk(b"standalone")),
        ("role", Reply::Bulk(b"master")),
        ("modules", Reply::Array(0)),
    ];
    encode_reply(dialect, &ctx.map(fields.len()), out.vec());
    for (name, value) in &fields {
        encode_reply(dialect, &Reply::Bulk(name.as_bytes()), out.vec());
        encode_reply(dialect, value, out.vec());
    }
    Flow::Continue
}
