//! The keyspace commands (TYPE, TOUCH, EXPIRETIME, TIME, RANDOMKEY,
//! RENAME, COPY, KEYS, SCAN, OBJECT, MEMORY), with Redis 7.0's replies.
//!
//! OBJECT answers as Redis does under an LFU policy, because what capkv
//! keeps per key is a use counter (the index's `freq`, 0 to 3, which
//! eviction reads): FREQ returns it, IDLETIME is Redis's "LFU policy
//! selected" error. MEMORY USAGE is the key's real cost: its item in the
//! segment plus its 8-byte index slot.
//!
//! KEYS and SCAN copy the keys they found out of the store (a shard at a
//! time, so no shard lock is held while the reply is written) and make
//! room for the whole reply before writing any of it. Neither buffers
//! more than `--max-client-buffer`: KEYS stops copying as soon as its
//! reply would pass the cap and answers an error (the connection stays
//! open; Redis has no cap on a normal client's replies, capkv does), and
//! a SCAN page ends early, at a valid cursor, when its keys reach half the
//! cap. KEYS checks the room after every shard: a reply that cannot fit
//! now stops the walk there and asks for [`Flow::NeedRoom`] with what it
//! has counted so far.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::glob;
use crate::protocol::{Args, CommandError, ObjectSubcommand, Reply, TtlUnit};
use crate::store::keyspace::KEY_OVERHEAD;
use crate::store::{MoveOutcome, Ttl};

use super::Flow;
use super::context::{BULK_FRAMING, Ctx, finish, help, store_error};
use super::output::Output;

/// KEYS or SCAN found more than `--max-client-buffer` can hold (Redis
/// has no such limit for normal clients; this is capkv's).
const TOO_LARGE: &str = "ERR reply would exceed --max-client-buffer; use SCAN";

/// `TYPE key`.
pub(super) fn key_type<O: Output + ?Sized>(key: &[u8], ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    let kind = if ctx.engine.store.exists(key) { "string" } else { "none" };
    finish(&mut ctx.out, &Reply::Status(kind))
}

/// `TOUCH key [key ...]`.
pub(super) fn touch<O: Output + ?Sized>(keys: Args<'_>, ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    let store = &*ctx.engine.store;
    let n = keys.iter().filter(|k| store.touch(k)).count();
    finish(&mut ctx.out, &Reply::Int(n as i64))
}

/// `EXPIRETIME` / `PEXPIRETIME`: Redis rounds seconds to the nearest.
pub(super) fn expire_time<O: Output + ?Sized>(
    key: &[u8],
    unit: TtlUnit,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Flow {
    let n = match ctx.engine.store.deadline(key) {
        Ttl::Missing => -2,
        Ttl::Forever => -1,
        Ttl::At(at) => {
            let at = at.min(i64::MAX as u64) as i64;
            match unit {
                TtlUnit::Seconds => (at + 500) / 1000,
                TtlUnit::Millis => at,
            }
        }
    };
    finish(&mut ctx.out, &Reply::Int(n))
}

/// `TIME`: `[seconds, microseconds]` as bulk strings, from the system
/// clock (Redis's too).
pub(super) fn time<O: Output + ?Sized>(ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let (secs, micros) = (now.as_secs().to_string(), now.subsec_micros().to_string());
    let out = &mut ctx.out;
    if !out.try_room(3 * BULK_FRAMING + secs.len() + micros.len()) {
        return Flow::NeedRoom(3 * BULK_FRAMING + secs.len() + micros.len());
    }
    out.push(&Reply::Array(2));
    out.push(&Reply::Bulk(secs.as_bytes()));
    out.push(&Reply::Bulk(micros.as_bytes()));
    Flow::Continue
}

/// `RANDOMKEY`.
pub(super) fn random_key<O: Output + ?Sized>(ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    match ctx.engine.store.random_key() {
        Some(key) => finish(&mut ctx.out, &Reply::Bulk(&key)),
        None => finish(&mut ctx.out, &Reply::Nil),
    }
}

/// `RENAME` (`nx` false) and `RENAMENX`.
pub(super) fn rename<O: Output + ?Sized>(
    key: &[u8],
    new_key: &[u8],
    nx: bool,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    // Room for the reply first, so a refused reply never follows a rename.
    if !ctx.out.try_room(BULK_FRAMING) {
        return Ok(Flow::NeedRoom(BULK_FRAMING));
    }
    let outcome = ctx.engine.store.rename(key, new_key, nx).map_err(store_error)?;
    let reply = match (outcome, nx) {
        (MoveOutcome::NoSource, _) => return Err(CommandError::NoSuchKey),
        (MoveOutcome::Done, false) => Reply::Ok,
        (MoveOutcome::Done, true) => Reply::Int(1),
        (MoveOutcome::DestinationExists, _) => Reply::Int(0),
    };
    Ok(finish(&mut ctx.out, &reply))
}

/// `COPY source destination [DB 0] [REPLACE]`.
pub(super) fn copy<O: Output + ?Sized>(
    source: &[u8],
    destination: &[u8],
    replace: bool,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    if source == destination {
        return Err(CommandError::SameObject);
    }
    if !ctx.out.try_room(BULK_FRAMING) {
        return Ok(Flow::NeedRoom(BULK_FRAMING));
    }
    let outcome = ctx.engine.store.copy(source, destination, replace).map_err(store_error)?;
    Ok(finish(&mut ctx.out, &Reply::Int(i64::from(outcome == MoveOutcome::Done))))
}

/// `KEYS pattern`, shard by shard (see the module docs for the room).
pub(super) fn keys<O: Output + ?Sized>(
    pattern: &[u8],
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let store = &*ctx.engine.store;
    let cap = ctx.engine.settings.max_client_buffer;
    let out = &mut ctx.out;
    let every = pattern == b"*";
    let mut found: Vec<Box<[u8]>> = Vec::new();
    let mut bound = BULK_FRAMING;
    for shard in 0..store.shard_count() {
        let room = cap.saturating_sub(bound);
        let Some(keys) =
            store.shard_keys(shard, room, |key| every || glob::matches(pattern, key, false))
        else {
            return Err(CommandError::Fixed(TOO_LARGE));
        };
        bound += keys.iter().map(|k| k.len() + KEY_OVERHEAD).sum::<usize>();
        if !out.try_room(bound) {
            return Ok(Flow::NeedRoom(bound));
        }
        found.extend(keys);
    }
    out.push(&Reply::Array(found.len()));
    for key in &found {
        out.push(&Reply::Bulk(key));
    }
    Ok(Flow::Continue)
}

/// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]` (the cursor's
/// design is in [`crate::store::keyspace`]).
pub(super) fn scan<O: Output + ?Sized>(
    cursor: u64,
    pattern: Option<&[u8]>,
    count: usize,
    kind: Option<&[u8]>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let store = &*ctx.engine.store;
    // Every value is a string: any other TYPE filters out every key.
    let any_type = kind.is_none_or(|k| k.eq_ignore_ascii_case(b"string"));
    let pattern = pattern.filter(|p| *p != b"*");
    // A page stops short of the client buffer's cap (half of it: room
    // for the framing and whatever else is queued).
    let max_bytes = ctx.engine.settings.max_client_buffer / 2;
    let page = store.scan(cursor, count, max_bytes, |key| {
        any_type && pattern.is_none_or(|p| glob::matches(p, key, false))
    });
    let next = page.cursor.to_string();
    let bound = 3 * BULK_FRAMING
        + next.len()
        + page.keys.iter().map(|k| k.len() + KEY_OVERHEAD).sum::<usize>();
    if bound > ctx.engine.settings.max_client_buffer {
        return Err(CommandError::Fixed(TOO_LARGE));
    }
    let out = &mut ctx.out;
    if !out.try_room(bound) {
        return Ok(Flow::NeedRoom(bound));
    }
    out.push(&Reply::Array(2));
    out.push(&Reply::Bulk(next.as_bytes()));
    out.push(&Reply::Array(page.keys.len()));
    for key in &page.keys {
        out.push(&Reply::Bulk(key));
    }
    Ok(Flow::Continue)
}

/// Redis 7.0's OBJECT HELP lines (`addReplyHelp` adds the header and the
/// HELP lines around them).
const OBJECT_HELP: &[&str] = &[
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
];

/// Redis 7.0's MEMORY HELP lines.
const MEMORY_HELP: &[&str] = &[
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
];

/// capkv's use counter is what eviction keeps, so it answers FREQ as
/// Redis does under an LFU policy, and IDLETIME with Redis's error for
/// that policy (no access time is kept).
const IDLETIME_UNDER_LFU: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. \
     Please note that when switching between policies at runtime LRU and LFU data will take \
     some time to adjust.";

/// How Redis 7.0 would encode a string value set with SET
/// (`tryObjectEncoding`): `int` for a canonical decimal `long` of at most
/// 20 characters, `embstr` up to 44 bytes, `raw` beyond.
fn encoding(value: &[u8]) -> &'static str {
    if value.len() <= 20 && crate::decimal::parse_i64(value).is_some() {
        "int"
    } else if value.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

/// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key`, `OBJECT HELP`.
pub(super) fn object<O: Output + ?Sized>(
    subcommand: ObjectSubcommand,
    key: Option<&[u8]>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let Some(key) = key else { return Ok(help("OBJECT", OBJECT_HELP, ctx)) };
    let found = ctx.engine.store.inspect(key, |value, freq, _| (encoding(value), freq));
    let Some((encoding, freq)) = found else { return Ok(finish(&mut ctx.out, &Reply::Nil)) };
    let reply = match subcommand {
        ObjectSubcommand::Encoding => Reply::Bulk(encoding.as_bytes()),
        ObjectSubcommand::Freq => Reply::Int(i64::from(freq)),
        ObjectSubcommand::IdleTime => return Err(CommandError::Fixed(IDLETIME_UNDER_LFU)),
        ObjectSubcommand::RefCount => Reply::Int(1),
        ObjectSubcommand::Help => unreachable!("HELP carries no key"),
    };
    Ok(finish(&mut ctx.out, &reply))
}

/// `MEMORY USAGE key [SAMPLES n]`, `MEMORY HELP`.
pub(super) fn memory<O: Output + ?Sized>(key: Option<&[u8]>, ctx: &mut Ctx<'_, '_, '_, O>) -> Flow {
    let Some(key) = key else { return help("MEMORY", MEMORY_HELP, ctx) };
    match ctx.engine.store.inspect(key, |_, _, bytes| bytes) {
        Some(bytes) => finish(&mut ctx.out, &Reply::Int(bytes as i64)),
        None => finish(&mut ctx.out, &Reply::Nil),
    }
}
