//! The commands: one arm per [`Command`] variant, each the command's
//! semantics against the store and the [`Reply`] it answers.
//!
//! Errors are values: an arm returns a [`CommandError`], and [`execute`]
//! drops anything the arm half-wrote and answers the error instead, so a
//! failed command never leaves a partial reply behind.

use std::time::Instant;

use crate::metrics::LocalCounters;
use crate::protocol::{
    Args, ClientSubcommand, Command, CommandError, ConfigSubcommand, Dialect, ExpireCondition,
    Expiry, MAX_CLIENT_NAME, Reply, SetCondition, SetOptions, TtlUnit,
};
use crate::store::{ExpireWhen, SetOutcome, Ttl, WriteCondition, WriteExpiry};

use super::acl;
use super::clients;
use super::context::{Ctx, finish, help, store_error};
use super::info;
use super::introspection;
use super::keyspace;
use super::output::{Output, Replies};
use super::slowlog;
use super::strings;
use super::transaction::{self, Request};
use super::{Engine, Flow, ReplyMode, Session};

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

/// Runs `command` for `session`, appending its reply to `out`; inside a
/// transaction, queues it instead (which needs its `request`).
pub fn execute<O: Output + ?Sized>(
    engine: &Engine,
    command: &Command<'_>,
    session: &mut Session,
    counters: &mut LocalCounters,
    out: &mut O,
    request: Option<&mut Request<'_>>,
) -> Flow {
    let id = command.id();
    session.command = clients::command_code(command);
    let dialect = session.dialect;
    // The one authorization check (see `crate::acl`); a bool when nothing
    // is configured.
    let allowed = if engine.access.enforced() {
        engine.access.authorize(&mut session.user, dialect == Dialect::Line, command)
    } else {
        Ok(())
    };
    let mut ctx = Ctx { engine, session, counters, out: Replies::new(out, dialect) };
    let mark = ctx.out.mark();
    if transaction::queues(ctx.session, id) {
        // Counted when EXEC runs it, as in Redis; refusals count now.
        let allowed = allowed.map_err(|error| acl::denied(error, command, &mut ctx));
        let flow = match transaction::queue(allowed, request.as_deref(), &mut ctx) {
            Ok(flow) => flow,
            Err(error) => {
                ctx.counters.command(id, false);
                ctx.counters.error_reply(&error);
                ctx.out.cut_back(mark);
                finish(&mut ctx.out, &Reply::Error(error))
            }
        };
        return reply_mode(flow, &mut ctx, mark);
    }
    // INFO commandstats' usec: a clock pair (about 50 ns) on a sample of
    // the commands (LocalCounters::time_this), not on every one.
    let started = ctx.counters.time_this(id).then(Instant::now);
    let ran = match allowed {
        Ok(()) => run(command, request, &mut ctx),
        Err(error) => Err(acl::denied(error, command, &mut ctx)),
    };
    let nanos = started.map(|t| u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX));
    // SLOWLOG: the connection logs a timed command at or past the
    // threshold (see `super::slowlog` for what that misses).
    if let Some(nanos) = nanos.filter(|&n| n >= ctx.counters.slow_after_nanos) {
        if !matches!(ran, Ok(Flow::NeedRoom(_))) {
            ctx.counters.slow = Some(nanos);
        }
    }
    let flow = match ran {
        Ok(flow) => {
            // A command that must wait for room is counted when it reruns.
            if !matches!(flow, Flow::NeedRoom(_)) {
                ctx.counters.command(id, true);
                if let Some(nanos) = nanos {
                    ctx.counters.command_time(id, nanos);
                }
            }
            flow
        }
        Err(error) => {
            if let Some(nanos) = nanos {
                ctx.counters.command_time(id, nanos);
            }
            if matches!(error, CommandError::OutOfMemory) {
                ctx.counters.rejected_writes += 1;
            }
            ctx.counters.command(id, false);
            ctx.counters.error_reply(&error);
            // Drop anything half-written by the failed command.
            ctx.out.cut_back(mark);
            finish(&mut ctx.out, &Reply::Error(error))
        }
    };
    reply_mode(flow, &mut ctx, mark)
}

/// Applies CLIENT REPLY to the reply written since `mark`.
fn reply_mode<O: Output + ?Sized>(flow: Flow, ctx: &mut Ctx<'_, '_, '_, O>, mark: usize) -> Flow {
    match flow {
        Flow::NeedRoom(_) => ctx.out.cut_back(mark),
        // CLIENT REPLY: a dropped reply is encoded and cut back, which
        // keeps every command's reply logic in one place.
        _ => match ctx.session.replies {
            ReplyMode::On => {}
            ReplyMode::Off => ctx.out.cut_back(mark),
            ReplyMode::SkipNext => ctx.session.replies = ReplyMode::Skip,
            ReplyMode::Skip => {
                ctx.out.cut_back(mark);
                ctx.session.replies = ReplyMode::On;
            }
        },
    }
    flow
}

/// A command EXEC runs from its queue ([`transaction::RunQueued`]).
fn run_queued(
    engine: &Engine,
    command: &Command<'_>,
    session: &mut Session,
    counters: &mut LocalCounters,
    out: &mut dyn Output,
) -> Flow {
    execute(engine, command, session, counters, out, None)
}

fn run<O: Output + ?Sized>(
    command: &Command<'_>,
    request: Option<&mut Request<'_>>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let engine: &Engine = ctx.engine;
    let store = &*engine.store;
    let out = &mut ctx.out;
    Ok(match *command {
        Command::Auth { username, password } => return acl::auth(username, password, ctx),
        Command::Acl { ref subcommand } => return acl::acl(subcommand, ctx),
        Command::Get { key } => get(key, ctx),
        Command::Set { key, value, options } => return set(key, value, options, ctx),
        Command::Del { keys } => {
            let n = keys.iter().filter(|k| store.delete(k)).count();
            finish(out, &Reply::Deleted(n as u64))
        }
        Command::GetDel { key } => {
            let mut need = 0;
            let found = store.get_delete(key, value_sender(out, &mut need));
            value_reply(found, need, ctx)
        }
        Command::GetEx { key, expiry } => {
            let flow = get(key, ctx);
            if let (Flow::Continue, Some(expiry)) = (flow, expiry) {
                let deadline = deadline(expiry, store.now_ms(), "getex")?;
                store.expire(key, deadline, ExpireWhen::Always).map_err(store_error)?;
            }
            flow
        }
        Command::Exists { keys } => {
            let n = keys.iter().filter(|k| store.exists(k)).count();
            finish(out, &Reply::Int(n as i64))
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
            finish(out, &Reply::Int(applied as i64))
        }
        Command::Persist { key } => {
            let applied = store.expire(key, None, ExpireWhen::HasDeadline).map_err(store_error)?;
            finish(out, &Reply::Int(applied as i64))
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
            finish(out, &Reply::Int(n))
        }
        Command::MGet { keys } => mget(keys, ctx),
        Command::MSet { pairs } => {
            let mut it = pairs.iter();
            while let (Some(key), Some(value)) = (it.next(), it.next()) {
                store.put(key, value).map_err(store_error)?;
            }
            finish(out, &Reply::Ok)
        }
        Command::IncrBy { key, delta } => {
            let n = store.incr_by(key, delta).map_err(store_error)?;
            finish(out, &Reply::Int(n))
        }
        Command::Append { key, value } => {
            let len = store.append(key, value).map_err(store_error)?;
            finish(out, &Reply::Int(len as i64))
        }
        Command::StrLen { key } => finish(out, &Reply::Int(store.strlen(key) as i64)),
        // String commands (GETRANGE ... BITPOS), in `super::strings`.
        Command::GetRange { key, start, end } => strings::getrange(key, start, end, ctx),
        Command::SetRange { key, offset, value } => {
            return strings::setrange(key, offset, value, ctx);
        }
        Command::GetSet { key, value } => {
            return set(key, value, SetOptions { get: true, ..SetOptions::default() }, ctx);
        }
        Command::MSetNx { pairs } => return strings::msetnx(pairs, ctx),
        Command::IncrByFloat { key, increment } => {
            return strings::incrbyfloat(key, increment, ctx);
        }
        Command::Lcs { key1, key2, options } => return strings::lcs(key1, key2, options, ctx),
        Command::SetBit { key, offset, bit } => return strings::setbit(key, offset, bit, ctx),
        Command::GetBit { key, offset } => strings::getbit(key, offset, ctx),
        Command::BitCount { key, range } => return strings::bitcount(key, range, ctx),
        Command::BitPos { key, bit, range } => return strings::bitpos(key, bit, range, ctx),
        Command::BitOp { operation, destination, sources } => {
            return strings::bitop(operation, destination, sources, ctx);
        }
        Command::Type { key } => keyspace::key_type(key, ctx),
        Command::Touch { keys } => keyspace::touch(keys, ctx),
        Command::ExpireTime { key, unit } => keyspace::expire_time(key, unit, ctx),
        Command::Time => keyspace::time(ctx),
        Command::RandomKey => keyspace::random_key(ctx),
        Command::Rename { key, new_key } => return keyspace::rename(key, new_key, false, ctx),
        Command::RenameNx { key, new_key } => return keyspace::rename(key, new_key, true, ctx),
        Command::Copy { source, destination, replace } => {
            return keyspace::copy(source, destination, replace, ctx);
        }
        Command::Keys { pattern } => return keyspace::keys(pattern, ctx),
        Command::Scan { cursor, pattern, count, kind } => {
            return keyspace::scan(cursor, pattern, count, kind, ctx);
        }
        Command::Object { subcommand, key } => return keyspace::object(subcommand, key, ctx),
        Command::Memory { key } => keyspace::memory(key, ctx),
        Command::DbSize => finish(out, &Reply::Int(store.len() as i64)),
        Command::FlushAll => {
            store.flush();
            finish(out, &Reply::Ok)
        }
        // The line protocol's PING takes no message.
        Command::Ping { message: Some(message) } => finish(out, &Reply::Bulk(message)),
        Command::Ping { message: None } => finish(out, &Reply::Pong),
        Command::Echo { message } => finish(out, &Reply::Bulk(message)),
        Command::Select { index: 0 } => finish(out, &Reply::Ok),
        Command::Select { .. } => return Err(CommandError::DbIndexOutOfRange),
        Command::Quit => {
            if !out.send(&Reply::Goodbye) {
                return Ok(Flow::NeedRoom(Reply::Goodbye.size_bound()));
            }
            Flow::Close
        }
        Command::Info { sections } => {
            let report = info::sections(&engine.snapshot(), &engine.settings, sections);
            finish(out, &Reply::Info(&report))
        }
        Command::Config { subcommand: ConfigSubcommand::Get { patterns } } => {
            let pairs = engine.settings.config_get(patterns, &engine.budget);
            let bound: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
            if !out.try_room(bound + 32) {
                return Ok(Flow::NeedRoom(bound + 32));
            }
            out.push(&Reply::Map(pairs.len()));
            for (name, value) in &pairs {
                out.push(&Reply::Bulk(name.as_bytes()));
                out.push(&Reply::Bulk(value.as_bytes()));
            }
            Flow::Continue
        }
        Command::Config { subcommand: ConfigSubcommand::Set { pairs } } => {
            engine.settings.config_set(pairs, &engine.budget)?;
            finish(out, &Reply::Ok)
        }
        Command::Config { subcommand: ConfigSubcommand::ResetStat } => {
            engine.stats.reset();
            // This connection's own counts since its last merge go too.
            *ctx.counters = LocalCounters::default();
            finish(&mut ctx.out, &Reply::Ok)
        }
        Command::Config { subcommand: ConfigSubcommand::Rewrite } => {
            return Err(CommandError::Fixed("ERR The server is running without a config file"));
        }
        Command::SlowLog { subcommand } => return slowlog::slowlog(subcommand, ctx),
        Command::CommandInfo { subcommand, args } => {
            return introspection::command(subcommand, args, ctx);
        }
        Command::Client { subcommand, args } => return client(subcommand, args, ctx),
        Command::Multi => return transaction::multi(request.as_deref(), ctx),
        Command::Exec => return transaction::exec(request, ctx, run_queued),
        Command::Discard => return transaction::discard(ctx),
        Command::Watch { keys } => return transaction::watch(keys, ctx),
        Command::Unwatch => return transaction::unwatch(ctx),
        Command::Hello { version, auth } => {
            acl::hello_auth(auth, ctx)?;
            hello(version, ctx)
        }
    })
}

/// Redis 7.0's CLIENT HELP lines for the subcommands capkv has.
const CLIENT_HELP: &[&str] = &[
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
];

fn client<O: Output + ?Sized>(
    subcommand: ClientSubcommand,
    args: Args<'_>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let out = &mut ctx.out;
    Ok(match subcommand {
        ClientSubcommand::SetName => {
            let name = args.iter().next().unwrap_or_default();
            if name.len() > MAX_CLIENT_NAME || name.iter().any(|b| !(b'!'..=b'~').contains(b)) {
                return Err(CommandError::InvalidClientName);
            }
            ctx.session.client.set_name((!name.is_empty()).then(|| name.into()));
            finish(out, &Reply::Ok)
        }
        ClientSubcommand::SetInfo | ClientSubcommand::NoTouch => finish(out, &Reply::Ok),
        ClientSubcommand::Reply => {
            let mode = args.iter().next().unwrap_or_default();
            let session = &mut *ctx.session;
            if mode.eq_ignore_ascii_case(b"on") {
                session.replies = ReplyMode::On;
                finish(out, &Reply::Ok)
            } else if mode.eq_ignore_ascii_case(b"off") {
                session.replies = ReplyMode::Off;
                Flow::Continue
            } else if mode.eq_ignore_ascii_case(b"skip") {
                if session.replies != ReplyMode::Off {
                    session.replies = ReplyMode::SkipNext;
                }
                Flow::Continue
            } else {
                return Err(CommandError::Syntax);
            }
        }
        ClientSubcommand::NoEvict => {
            let mode = args.iter().next().unwrap_or_default();
            ctx.session.no_evict = if mode.eq_ignore_ascii_case(b"on") {
                true
            } else if mode.eq_ignore_ascii_case(b"off") {
                false
            } else {
                return Err(CommandError::Syntax);
            };
            ctx.session.client.set_no_evict(ctx.session.no_evict);
            finish(&mut ctx.out, &Reply::Ok)
        }
        ClientSubcommand::GetName => match ctx.session.client.name() {
            Some(name) => finish(out, &Reply::Bulk(&name)),
            None => finish(out, &Reply::Nil),
        },
        ClientSubcommand::Id => finish(out, &Reply::Int(ctx.session.id() as i64)),
        ClientSubcommand::Help => help("CLIENT", CLIENT_HELP, ctx),
        ClientSubcommand::Info => clients::info(ctx),
        ClientSubcommand::List => return clients::list(args, ctx),
        ClientSubcommand::Kill => return clients::kill(args, ctx),
    })
}

fn get<O: Output + ?Sized>(key: &[u8], ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    let mut need = 0;
    let engine: &Engine = ctx.engine;
    let found = engine.store.get(key, value_sender(&mut ctx.out, &mut need));
    value_reply(found, need, ctx)
}

/// A store read callback (run under the shard's lock: it only encodes)
/// that sends the value found, or, when there is no room for it, returns
/// false and records the room it needs.
fn value_sender<'a, O: Output + ?Sized>(
    out: &'a mut Replies<'_, O>,
    need: &'a mut usize,
) -> impl FnOnce(&[u8]) -> bool + 'a {
    move |value| {
        out.send(&Reply::Bulk(value)) || {
            *need = Reply::Bulk(value).size_bound();
            false
        }
    }
}

/// Finishes a single-value read: `found` is what the store returned for a
/// [`value_sender`] callback (`None`: no such key).
fn value_reply<O: Output + ?Sized>(
    found: Option<bool>,
    need: usize,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Flow {
    match found {
        Some(true) => {
            ctx.counters.hits += 1;
            Flow::Continue
        }
        Some(false) => Flow::NeedRoom(need),
        None => {
            ctx.counters.misses += 1;
            finish(&mut ctx.out, &Reply::Nil)
        }
    }
}

fn set<O: Output + ?Sized>(
    key: &[u8],
    value: &[u8],
    options: SetOptions,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let engine: &Engine = ctx.engine;
    let store = &*engine.store;
    let out = &mut ctx.out;
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
            (false, false) => Reply::Nil,
        };
        return Ok(finish(out, &reply));
    }
    let mut need = 0;
    let mut found = false;
    let mut reply_old = |old: Option<&[u8]>| {
        found = old.is_some();
        let reply = old.map_or(Reply::Nil, Reply::Bulk);
        out.send(&reply) || {
            need = reply.size_bound();
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

fn mget<O: Output + ?Sized>(keys: Args<'_>, ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    let engine: &Engine = ctx.engine;
    let store = &*engine.store;
    let out = &mut ctx.out;
    if !out.send(&Reply::Array(keys.len())) {
        return Flow::NeedRoom(32);
    }
    let (mut hits, mut misses) = (0, 0);
    for key in keys.iter() {
        let mut refused = false;
        let hit = store.get(key, |v| {
            refused = !out.send(&Reply::Bulk(v));
        });
        let ok = match hit {
            Some(()) => {
                hits += 1;
                !refused
            }
            None => {
                misses += 1;
                out.send(&Reply::Nil)
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
fn hello<O: Output + ?Sized>(version: Option<i64>, ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    if !ctx.out.try_room(512) {
        return Flow::NeedRoom(512);
    }
    let proto = match version {
        Some(3) => {
            ctx.session.dialect = Dialect::Resp3;
            3
        }
        Some(_) => {
            ctx.session.dialect = Dialect::Resp2;
            2
        }
        None if ctx.session.dialect == Dialect::Resp3 => 3,
        None => 2,
    };
    // The reply is already in the new protocol.
    ctx.out.set_dialect(ctx.session.dialect);
    ctx.session.client.set_dialect(ctx.session.dialect);
    let out = &mut ctx.out;
    let id = ctx.session.id() as i64;
    let fields: [(&str, Reply<'_>); 7] = [
        ("server", Reply::Bulk(b"redis")),
        ("version", Reply::Bulk(info::REDIS_VERSION.as_bytes())),
        ("proto", Reply::Int(proto)),
        ("id", Reply::Int(id)),
        ("mode", Reply::Bulk(b"standalone")),
        ("role", Reply::Bulk(b"master")),
        ("modules", Reply::Array(0)),
    ];
    out.push(&Reply::Map(fields.len()));
    for (name, value) in &fields {
        out.push(&Reply::Bulk(name.as_bytes()));
        out.push(value);
    }
    Flow::Continue
}
