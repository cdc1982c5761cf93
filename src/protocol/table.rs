//! The Redis command table: from a validated [`Frame`] to a [`Command`],
//! with Redis 7's arity rules, option grammar and error texts.
//!
//! Redis checks a command in this order, and so does this table: existence,
//! arity, then the command's own argument parsing (options before numbers).
//! capkv's size limits (key and value length) come last, because Redis
//! would have accepted the request up to that point.
//!
//! Arity follows Redis's convention: `n > 0` means exactly `n` arguments
//! (command name included), `-n` means at least `n`.

use super::ObjectSubcommand;
use super::frame::Frame;
use super::{
    AclSubcommand, Args, ClientSubcommand, Command, CommandError, CommandId, CommandSubcommand,
    ConfigSubcommand, ExpireCondition, Expiry, Limits, SetCondition, SetOptions, SlowlogSubcommand,
    TtlUnit,
};
use super::{BitOperation, BitRange, BitRangeError, LcsOptions, StringsError};
use crate::decimal::parse_i64;

/// Longest command or subcommand name in the table, rounded up. Longer
/// names are unknown without looking further.
const NAME_MAX: usize = 16;

/// Lower-cases `name` into `buf`; empty when too long to be a known name.
fn lower<'b>(name: &[u8], buf: &'b mut [u8; NAME_MAX]) -> &'b [u8] {
    if name.len() > NAME_MAX {
        return &[];
    }
    let out = &mut buf[..name.len()];
    for (o, b) in out.iter_mut().zip(name) {
        *o = b.to_ascii_lowercase();
    }
    out
}

/// Redis's arity rule for a family's first member, from the registry.
fn family(argc: usize, id: CommandId) -> Result<(), CommandError> {
    let spec = id.spec();
    if spec.arity_allows(argc) {
        Ok(())
    } else {
        Err(CommandError::WrongArity { command: spec.name })
    }
}

/// Redis's arity rule, for the other members of a family and subcommands.
fn arity(argc: usize, arity: i32, command: &'static str) -> Result<(), CommandError> {
    let ok = if arity > 0 { argc == arity as usize } else { argc >= arity.unsigned_abs() as usize };
    if ok { Ok(()) } else { Err(CommandError::WrongArity { command }) }
}

fn key<'a>(key: &'a [u8], limits: &Limits) -> Result<&'a [u8], CommandError> {
    if key.len() > limits.max_key_size { Err(CommandError::KeyTooLong) } else { Ok(key) }
}

fn keys<'a>(keys: Args<'a>, limits: &Limits) -> Result<Args<'a>, CommandError> {
    if keys.iter().any(|k| k.len() > limits.max_key_size) {
        Err(CommandError::KeyTooLong)
    } else {
        Ok(keys)
    }
}

fn value<'a>(value: &'a [u8], limits: &Limits) -> Result<&'a [u8], CommandError> {
    if value.len() > limits.max_value_size { Err(CommandError::ValueTooLarge) } else { Ok(value) }
}

fn integer(arg: &[u8]) -> Result<i64, CommandError> {
    parse_i64(arg).ok_or(CommandError::NotAnInteger)
}

/// Builds the command for a validated frame.
pub(crate) fn dispatch<'a>(f: &Frame<'a>, limits: &Limits) -> Result<Command<'a>, CommandError> {
    let argc = f.argc();
    let name = f.arg(0);
    let mut buf = [0u8; NAME_MAX];
    // Ordered roughly by how often clients send each command: a slice match
    // is a chain of length-and-bytes comparisons.
    let command = match lower(name, &mut buf) {
        b"get" => {
            family(argc, CommandId::Get)?;
            Command::Get { key: key(f.arg(1), limits)? }
        }
        b"set" => {
            family(argc, CommandId::Set)?;
            let options = set_options(f.tail(3))?;
            Command::Set { key: key(f.arg(1), limits)?, value: value(f.arg(2), limits)?, options }
        }
        b"del" | b"unlink" => {
            arity(argc, -2, if name.len() == 3 { "del" } else { "unlink" })?;
            Command::Del { keys: keys(f.tail(1), limits)? }
        }
        b"mget" => {
            family(argc, CommandId::MGet)?;
            Command::MGet { keys: keys(f.tail(1), limits)? }
        }
        b"mset" => Command::MSet { pairs: key_value_pairs(f, limits, CommandId::MSet)? },
        b"exists" => {
            family(argc, CommandId::Exists)?;
            Command::Exists { keys: keys(f.tail(1), limits)? }
        }
        b"incr" | b"decr" => {
            let incr = name[0].eq_ignore_ascii_case(&b'i');
            arity(argc, 2, if incr { "incr" } else { "decr" })?;
            Command::IncrBy { key: key(f.arg(1), limits)?, delta: if incr { 1 } else { -1 } }
        }
        b"incrby" => {
            family(argc, CommandId::IncrBy)?;
            let delta = integer(f.arg(2))?;
            Command::IncrBy { key: key(f.arg(1), limits)?, delta }
        }
        b"decrby" => {
            arity(argc, 3, "decrby")?;
            let amount = integer(f.arg(2))?;
            let delta = amount.checked_neg().ok_or(CommandError::DecrementOverflow)?;
            Command::IncrBy { key: key(f.arg(1), limits)?, delta }
        }
        b"setnx" => {
            arity(argc, 3, "setnx")?;
            let options = SetOptions {
                condition: SetCondition::IfAbsent,
                reply_as_int: true,
                ..SetOptions::default()
            };
            Command::Set { key: key(f.arg(1), limits)?, value: value(f.arg(2), limits)?, options }
        }
        b"setex" | b"psetex" => {
            let seconds = name.len() == 5;
            let command = if seconds { "setex" } else { "psetex" };
            arity(argc, 4, command)?;
            let amount = integer(f.arg(2))?;
            let expiry = relative_expiry(amount, seconds, command)?;
            let options = SetOptions { expiry: Some(expiry), ..SetOptions::default() };
            Command::Set { key: key(f.arg(1), limits)?, value: value(f.arg(3), limits)?, options }
        }
        b"getdel" => {
            family(argc, CommandId::GetDel)?;
            Command::GetDel { key: key(f.arg(1), limits)? }
        }
        b"getex" => {
            family(argc, CommandId::GetEx)?;
            let expiry = getex_expiry(f.tail(2))?;
            Command::GetEx { key: key(f.arg(1), limits)?, expiry }
        }
        b"expire" => expire(f, limits, "expire", ExpireKind::RelativeSeconds)?,
        b"pexpire" => expire(f, limits, "pexpire", ExpireKind::RelativeMillis)?,
        b"expireat" => expire(f, limits, "expireat", ExpireKind::AtSeconds)?,
        b"pexpireat" => expire(f, limits, "pexpireat", ExpireKind::AtMillis)?,
        b"ttl" => {
            family(argc, CommandId::Ttl)?;
            Command::Ttl { key: key(f.arg(1), limits)?, unit: TtlUnit::Seconds }
        }
        b"pttl" => {
            arity(argc, 2, "pttl")?;
            Command::Ttl { key: key(f.arg(1), limits)?, unit: TtlUnit::Millis }
        }
        b"persist" => {
            family(argc, CommandId::Persist)?;
            Command::Persist { key: key(f.arg(1), limits)? }
        }
        b"append" => {
            family(argc, CommandId::Append)?;
            Command::Append { key: key(f.arg(1), limits)?, value: value(f.arg(2), limits)? }
        }
        b"strlen" => {
            family(argc, CommandId::StrLen)?;
            Command::StrLen { key: key(f.arg(1), limits)? }
        }
        // String commands (GETRANGE ... BITPOS): parsers at the end of the file.
        b"getrange" | b"substr" => getrange(f, limits, name.len() == 6)?,
        b"setrange" => setrange(f, limits)?,
        b"getset" => {
            family(argc, CommandId::GetSet)?;
            Command::GetSet { key: key(f.arg(1), limits)?, value: value(f.arg(2), limits)? }
        }
        b"msetnx" => Command::MSetNx { pairs: key_value_pairs(f, limits, CommandId::MSetNx)? },
        b"incrbyfloat" => {
            family(argc, CommandId::IncrByFloat)?;
            if crate::extfloat::Ext::parse(f.arg(2)).is_none() {
                return Err(CommandError::Strings(StringsError::NotAFloat));
            }
            Command::IncrByFloat { key: key(f.arg(1), limits)?, increment: f.arg(2) }
        }
        b"lcs" => lcs(f, limits)?,
        b"setbit" => {
            family(argc, CommandId::SetBit)?;
            let offset = bit_offset(f.arg(2), limits)?;
            let bit = match parse_i64(f.arg(3)) {
                Some(0) => false,
                Some(1) => true,
                _ => return Err(CommandError::Strings(StringsError::BitValue)),
            };
            Command::SetBit { key: key(f.arg(1), limits)?, offset, bit }
        }
        b"getbit" => {
            family(argc, CommandId::GetBit)?;
            let offset = bit_offset(f.arg(2), limits)?;
            Command::GetBit { key: key(f.arg(1), limits)?, offset }
        }
        b"bitcount" => {
            family(argc, CommandId::BitCount)?;
            Command::BitCount { key: key(f.arg(1), limits)?, range: bitcount_range(f.tail(2)) }
        }
        b"bitpos" => {
            family(argc, CommandId::BitPos)?;
            let bit = match integer(f.arg(2))? {
                0 => false,
                1 => true,
                _ => return Err(CommandError::Strings(StringsError::BitArgument)),
            };
            Command::BitPos { key: key(f.arg(1), limits)?, bit, range: bitpos_range(f.tail(3)) }
        }
        b"bitop" => bitop(f, limits)?,
        b"ping" => match argc {
            1 => Command::Ping { message: None },
            2 => Command::Ping { message: Some(f.arg(1)) },
            _ => return Err(CommandError::WrongArity { command: "ping" }),
        },
        b"echo" => {
            family(argc, CommandId::Echo)?;
            Command::Echo { message: f.arg(1) }
        }
        // Keyspace commands (TYPE ... MEMORY).
        b"type" => {
            family(argc, CommandId::Type)?;
            Command::Type { key: key(f.arg(1), limits)? }
        }
        b"touch" => {
            family(argc, CommandId::Touch)?;
            Command::Touch { keys: keys(f.tail(1), limits)? }
        }
        b"expiretime" => {
            family(argc, CommandId::ExpireTime)?;
            Command::ExpireTime { key: key(f.arg(1), limits)?, unit: TtlUnit::Seconds }
        }
        b"pexpiretime" => {
            arity(argc, 2, "pexpiretime")?;
            Command::ExpireTime { key: key(f.arg(1), limits)?, unit: TtlUnit::Millis }
        }
        b"time" => {
            family(argc, CommandId::Time)?;
            Command::Time
        }
        b"randomkey" => {
            family(argc, CommandId::RandomKey)?;
            Command::RandomKey
        }
        b"rename" => {
            family(argc, CommandId::Rename)?;
            Command::Rename { key: key(f.arg(1), limits)?, new_key: key(f.arg(2), limits)? }
        }
        b"renamenx" => {
            family(argc, CommandId::RenameNx)?;
            Command::RenameNx { key: key(f.arg(1), limits)?, new_key: key(f.arg(2), limits)? }
        }
        b"copy" => copy(f, limits)?,
        b"keys" => {
            family(argc, CommandId::Keys)?;
            Command::Keys { pattern: f.arg(1) }
        }
        b"scan" => scan(f)?,
        b"object" => object(f, limits)?,
        b"memory" => memory(f, limits)?,
        b"dbsize" => {
            family(argc, CommandId::DbSize)?;
            Command::DbSize
        }
        b"flushall" | b"flushdb" => {
            arity(argc, -1, if name.len() == 8 { "flushall" } else { "flushdb" })?;
            let flag_ok = argc == 1
                || (argc == 2
                    && (f.arg(1).eq_ignore_ascii_case(b"sync")
                        || f.arg(1).eq_ignore_ascii_case(b"async")));
            if !flag_ok {
                return Err(CommandError::Syntax);
            }
            Command::FlushAll
        }
        b"select" => {
            family(argc, CommandId::Select)?;
            // `getIntFromObjectOrReply`: an i64 that also fits an `int`.
            let index = integer(f.arg(1))?;
            if i32::try_from(index).is_err() {
                return Err(CommandError::NotAnInteger);
            }
            Command::Select { index }
        }
        b"quit" => Command::Quit,
        b"info" => Command::Info { sections: f.tail(1) },
        b"hello" => hello(f)?,
        b"auth" => auth(f)?,
        b"acl" => acl(f, limits)?,
        b"config" => config(f)?,
        b"slowlog" => slowlog(f)?,
        b"command" => command_info(f)?,
        b"client" => client(f)?,
        b"multi" => {
            family(argc, CommandId::Multi)?;
            Command::Multi
        }
        b"exec" => {
            family(argc, CommandId::Exec)?;
            Command::Exec
        }
        b"discard" => {
            family(argc, CommandId::Discard)?;
            Command::Discard
        }
        b"watch" => {
            family(argc, CommandId::Watch)?;
            Command::Watch { keys: keys(f.tail(1), limits)? }
        }
        b"unwatch" => {
            family(argc, CommandId::Unwatch)?;
            Command::Unwatch
        }
        _ => return Err(CommandError::unknown_command(name, f.tail(1))),
    };
    Ok(command)
}

// Flags of Redis's `parseExtendedStringArgumentsOrReply`.
const NX: u8 = 1 << 0;
const XX: u8 = 1 << 1;
const EX: u8 = 1 << 2;
const PX: u8 = 1 << 3;
const KEEPTTL: u8 = 1 << 4;
const EXAT: u8 = 1 << 5;
const PXAT: u8 = 1 << 6;
const PERSIST: u8 = 1 << 7;

/// Which command the extended string options belong to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StringCommand {
    Set,
    GetEx,
}

/// The parsed options of SET or GETEX: flags, the expiry argument, and
/// whether SET's GET flag was given (not a conflict-relevant flag).
struct StringOptions<'a> {
    flags: u8,
    get: bool,
    expire: Option<&'a [u8]>,
}

/// Redis's `parseExtendedStringArgumentsOrReply`, condition for condition:
/// repeats of the same option are accepted (the last expiry wins), options
/// that conflict with one already given are syntax errors, and so is an
/// expiry flag without a following argument.
fn string_options(
    args: Args<'_>,
    command: StringCommand,
) -> Result<StringOptions<'_>, CommandError> {
    let set = command == StringCommand::Set;
    let get = command == StringCommand::GetEx;
    let mut out = StringOptions { flags: 0, get: false, expire: None };
    let mut iter = args.iter();
    while let Some(opt) = iter.next() {
        let has_next = iter.len() > 0;
        let flags = out.flags;
        let mut buf = [0u8; NAME_MAX];
        let expiry_conflicts =
            |own: u8| flags & (KEEPTTL | PERSIST | EX | PX | EXAT | PXAT) & !own != 0;
        match lower(opt, &mut buf) {
            b"nx" if set && flags & XX == 0 => out.flags |= NX,
            b"xx" if set && flags & NX == 0 => out.flags |= XX,
            b"get" if set => out.get = true,
            b"keepttl" if set && flags & (PERSIST | EX | EXAT | PX | PXAT) == 0 => {
                out.flags |= KEEPTTL
            }
            b"persist" if get && flags & (EX | EXAT | PX | PXAT | KEEPTTL) == 0 => {
                out.flags |= PERSIST
            }
            b"ex" if has_next && !expiry_conflicts(EX) => {
                out.flags |= EX;
                out.expire = iter.next();
            }
            b"px" if has_next && !expiry_conflicts(PX) => {
                out.flags |= PX;
                out.expire = iter.next();
            }
            b"exat" if has_next && !expiry_conflicts(EXAT) => {
                out.flags |= EXAT;
                out.expire = iter.next();
            }
            b"pxat" if has_next && !expiry_conflicts(PXAT) => {
                out.flags |= PXAT;
                out.expire = iter.next();
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(out)
}

/// Redis's `getExpireMillisecondsOrReply`, minus adding the current time
/// (the executor's job: it must answer `invalid expire time` if that
/// overflows). Non-positive values are refused.
fn string_expiry(flags: u8, arg: &[u8], command: &'static str) -> Result<Expiry, CommandError> {
    let amount = integer(arg)?;
    if flags & (EX | PX) != 0 {
        relative_expiry(amount, flags & EX != 0, command)
    } else {
        let invalid = CommandError::InvalidExpireTime { command };
        if amount <= 0 {
            return Err(invalid);
        }
        let millis =
            if flags & EXAT != 0 { amount.checked_mul(1000).ok_or(invalid)? } else { amount };
        Ok(Expiry::AtUnixMillis(millis))
    }
}

/// A SET-style relative expiry: must be positive and fit in milliseconds.
fn relative_expiry(
    amount: i64,
    seconds: bool,
    command: &'static str,
) -> Result<Expiry, CommandError> {
    let invalid = CommandError::InvalidExpireTime { command };
    if amount <= 0 {
        return Err(invalid);
    }
    let millis = if seconds { amount.checked_mul(1000).ok_or(invalid)? } else { amount };
    Ok(Expiry::InMillis(millis as u64))
}

fn set_options(args: Args<'_>) -> Result<SetOptions, CommandError> {
    let parsed = string_options(args, StringCommand::Set)?;
    let expiry = match parsed.expire {
        Some(arg) => Some(string_expiry(parsed.flags, arg, "set")?),
        None => None,
    };
    let condition = if parsed.flags & NX != 0 {
        SetCondition::IfAbsent
    } else if parsed.flags & XX != 0 {
        SetCondition::IfPresent
    } else {
        SetCondition::Always
    };
    Ok(SetOptions {
        expiry,
        keep_ttl: parsed.flags & KEEPTTL != 0,
        condition,
        get: parsed.get,
        reply_as_int: false,
    })
}

fn getex_expiry(args: Args<'_>) -> Result<Option<Expiry>, CommandError> {
    let parsed = string_options(args, StringCommand::GetEx)?;
    match parsed.expire {
        Some(arg) => Ok(Some(string_expiry(parsed.flags, arg, "getex")?)),
        None if parsed.flags & PERSIST != 0 => Ok(Some(Expiry::Persist)),
        None => Ok(None),
    }
}

/// How an EXPIRE-family time argument is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireKind {
    RelativeSeconds,
    RelativeMillis,
    AtSeconds,
    AtMillis,
}

/// Redis's `expireGenericCommand` up to the key lookup: flags first
/// (`parseExtendedExpireArgumentsOrReply`), then the number, then the
/// seconds-to-milliseconds overflow check.
fn expire<'a>(
    f: &Frame<'a>,
    limits: &Limits,
    command: &'static str,
    kind: ExpireKind,
) -> Result<Command<'a>, CommandError> {
    arity(f.argc(), -3, command)?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in f.tail(3) {
        let mut buf = [0u8; NAME_MAX];
        match lower(opt, &mut buf) {
            b"nx" => nx = true,
            b"xx" => xx = true,
            b"gt" => gt = true,
            b"lt" => lt = true,
            _ => return Err(CommandError::unsupported_option(opt)),
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CommandError::ExpireNxConflict);
    }
    if gt && lt {
        return Err(CommandError::ExpireGtLtConflict);
    }
    let condition = match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::IfNoExpiry,
        // XX GT behaves as GT: GT already fails on keys without a deadline.
        (_, _, true, _) => ExpireCondition::IfGreater,
        (_, true, _, true) => ExpireCondition::IfHasExpiryAndLess,
        (_, true, ..) => ExpireCondition::IfHasExpiry,
        (_, _, _, true) => ExpireCondition::IfLess,
        _ => ExpireCondition::Always,
    };
    let amount = integer(f.arg(2))?;
    let millis = match kind {
        ExpireKind::RelativeSeconds | ExpireKind::AtSeconds => {
            amount.checked_mul(1000).ok_or(CommandError::InvalidExpireTime { command })?
        }
        ExpireKind::RelativeMillis | ExpireKind::AtMillis => amount,
    };
    let expiry = match kind {
        // A deadline at or before now deletes the key. Without a clock the
        // parser cannot say "now - 5 s", but any instant at or before the
        // epoch is just as past and compares the same way under GT/LT
        // against a live key's deadline.
        ExpireKind::RelativeSeconds | ExpireKind::RelativeMillis if millis <= 0 => {
            Expiry::AtUnixMillis(millis)
        }
        ExpireKind::RelativeSeconds | ExpireKind::RelativeMillis => Expiry::InMillis(millis as u64),
        ExpireKind::AtSeconds | ExpireKind::AtMillis => Expiry::AtUnixMillis(millis),
    };
    Ok(Command::Expire { key: key(f.arg(1), limits)?, expiry, condition, command })
}

fn hello<'a>(f: &Frame<'a>) -> Result<Command<'a>, CommandError> {
    if f.argc() < 2 {
        return Ok(Command::Hello { version: None, auth: None });
    }
    let version = parse_i64(f.arg(1)).ok_or(CommandError::HelloVersionNotInteger)?;
    if version != 2 && version != 3 {
        return Err(CommandError::NoProto);
    }
    let mut auth = None;
    let mut iter = f.tail(2).iter();
    while let Some(opt) = iter.next() {
        let more = iter.len();
        if opt.eq_ignore_ascii_case(b"auth") && more >= 2 {
            let user = iter.next().unwrap_or_default();
            let pass = iter.next().unwrap_or_default();
            auth = Some((user, pass));
        } else if opt.eq_ignore_ascii_case(b"setname") && more >= 1 {
            iter.next();
        } else {
            return Err(CommandError::hello_syntax(opt));
        }
    }
    Ok(Command::Hello { version: Some(version), auth })
}

/// `AUTH password` or `AUTH username password`; more is Redis's syntax
/// error.
fn auth<'a>(f: &Frame<'a>) -> Result<Command<'a>, CommandError> {
    family(f.argc(), CommandId::Auth)?;
    match f.argc() {
        2 => Ok(Command::Auth { username: None, password: f.arg(1) }),
        3 => Ok(Command::Auth { username: Some(f.arg(1)), password: f.arg(2) }),
        _ => Err(CommandError::Syntax),
    }
}

/// The ACL subcommands capkv implements, with Redis 7's arities.
fn acl<'a>(f: &Frame<'a>, limits: &Limits) -> Result<Command<'a>, CommandError> {
    let argc = f.argc();
    family(argc, CommandId::Acl)?;
    let mut buf = [0u8; NAME_MAX];
    let subcommand = match lower(f.arg(1), &mut buf) {
        b"cat" => {
            arity(argc, -2, "acl|cat")?;
            match argc {
                2 => AclSubcommand::Cat { category: None },
                3 => AclSubcommand::Cat { category: Some(f.arg(2)) },
                _ => return Err(CommandError::Syntax),
            }
        }
        b"dryrun" => {
            arity(argc, -4, "acl|dryrun")?;
            let inner = f.sub(3);
            let mut buf = [0u8; NAME_MAX];
            let nested = inner.argc() >= 2
                && lower(inner.arg(0), &mut buf) == b"acl"
                && inner.arg(1).eq_ignore_ascii_case(b"dryrun");
            // One level only: a chain of nested DRYRUNs would recurse as
            // deep as the request is long.
            let command = if nested {
                Err(CommandError::Syntax)
            } else {
                dispatch(&inner, limits).map(Box::new)
            };
            AclSubcommand::DryRun { username: f.arg(2), command, name: f.arg(3) }
        }
        b"help" => {
            arity(argc, 2, "acl|help")?;
            AclSubcommand::Help
        }
        b"list" => {
            arity(argc, 2, "acl|list")?;
            AclSubcommand::List
        }
        b"load" => {
            arity(argc, 2, "acl|load")?;
            AclSubcommand::Load
        }
        b"users" => {
            arity(argc, 2, "acl|users")?;
            AclSubcommand::Users
        }
        b"whoami" => {
            arity(argc, 2, "acl|whoami")?;
            AclSubcommand::WhoAmI
        }
        _ => return Err(CommandError::unknown_subcommand(f.arg(0), f.arg(1))),
    };
    Ok(Command::Acl { subcommand })
}

fn config<'a>(f: &Frame<'a>) -> Result<Command<'a>, CommandError> {
    let argc = f.argc();
    family(argc, CommandId::Config)?;
    let mut buf = [0u8; NAME_MAX];
    let subcommand = match lower(f.arg(1), &mut buf) {
        b"get" => {
            arity(argc, -3, "config|get")?;
            ConfigSubcommand::Get { patterns: f.tail(2) }
        }
        b"set" => {
            arity(argc, -4, "config|set")?;
            if argc % 2 != 0 {
                return Err(CommandError::WrongArity { command: "config|set" });
            }
            ConfigSubcommand::Set { pairs: f.tail(2) }
        }
        b"resetstat" => {
            arity(argc, 2, "config|resetstat")?;
            ConfigSubcommand::ResetStat
        }
        b"rewrite" => {
            arity(argc, 2, "config|rewrite")?;
            ConfigSubcommand::Rewrite
        }
        _ => return Err(CommandError::unknown_subcommand(f.arg(0), f.arg(1))),
    };
    Ok(Command::Config { subcommand })
}

/// `SLOWLOG`, with Redis 7's subcommand arities; GET's count is an
/// integer from -1 (all) up.
fn slowlog<'a>(f: &Frame<'a>) -> Result<Command<'a>, CommandError> {
    let argc = f.argc();
    family(argc, CommandId::SlowLog)?;
    let mut buf = [0u8; NAME_MAX];
    let subcommand = match lower(f.arg(1), &mut buf) {
        b"get" => {
            arity(argc, -2, "slowlog|get")?;
            let count = match argc {
                2 => Some(10),
                3 => match integer(f.arg(2))? {
                    -1 => None,
                    n => Some(usize::try_from(n).map_err(|_| {
                        CommandError::Fixed("ERR count should be greater than or equal to -1")
                    })?),
                },
                _ => return Err(CommandError::subcommand_syntax(f.arg(0), f.arg(1))),
            };
            SlowlogSubcommand::Get { count }
        }
        b"len" => {
            arity(argc, 2, "slowlog|len")?;
            SlowlogSubcommand::Len
        }
        b"reset" => {
            arity(argc, 2, "slowlog|reset")?;
            SlowlogSubcommand::Reset
        }
        b"help" => {
            arity(argc, 2, "slowlog|help")?;
            SlowlogSubcommand::Help
        }
        _ => return Err(CommandError::unknown_subcommand(f.arg(0), f.arg(1))),
    };
    Ok(Command::SlowLog { subcommand })
}

/// `BITOP AND|OR|XOR|NOT destkey key [key ...]`: the operation is looked
/// at before the keys, as Redis does.
fn bitop<'a>(f: &Frame<'a>, limits: &Limits) -> Result<Command<'a>, CommandError> {
    let argc = f.argc();
    family(argc, CommandId::BitOp)?;
    let mut buf = [0u8; NAME_MAX];
    let operation = match lower(f.arg(1), &mut buf) {
        b"and" => BitOperation::And,
        b"or" => BitOperation::Or,
        b"xor" => BitOperation::Xor,
        b"not" => BitOperation::Not,
        _ => return Err(CommandError::Syntax),
    };
    if operation == BitOperation::Not && argc != 4 {
        return Err(CommandError::Strings(StringsError::BitOpNotArity));
    }
    Ok(Command::BitOp {
        operation,
        destination: key(f.arg(2), limits)?,
        sources: keys(f.tail(3), limits)?,
    })
}

fn command_info<'a>(f: &Frame<'a>) -> Result<Command<'a>, CommandError> {
    let argc = f.argc();
    if argc == 1 {
        return Ok(Command::CommandInfo { subcommand: None, args: f.tail(1) });
    }
    let mut buf = [0u8; NAME_MAX];
    let (subcommand, arity_of, name) = match lower(f.arg(1), &mut buf) {
        b"count" => (CommandSubcommand::Count, 2, "command|count"),
        b"docs" => (CommandSubcommand::Docs, -2, "command|docs"),
        b"info" => (CommandSubcommand::Info, -2, "command|info"),
        b"list" => (CommandSubcommand::List, -2, "command|list"),
        b"getkeys" => (CommandSubcommand::GetKeys, -4, "command|getkeys"),
        b"getkeysandflags" => (CommandSubcommand::GetKeysAndFlags, -4, "command|getkeysandflags"),
        b"help" => (CommandSubcommand::Help, 2, "command|help"),
        _ => return Err(CommandError::unknown_subcommand(f.arg(0), f.arg(1))),
    };
    arity(argc, arity_of, name)?;
    Ok(Command::CommandInfo { subcommand: Some(subcommand), args: f.tail(2) })
}

fn client<'a>(f: &Frame<'a>) -> Result<Command<'a>, CommandError> {
    let argc = f.argc();
    family(argc, CommandId::Client)?;
    let mut buf = [0u8; NAME_MAX];
    let name = lower(f.arg(1), &mut buf);
    let Some(&subcommand) = ClientSubcommand::ALL.iter().find(|s| s.name().as_bytes() == name)
    else {
        return Err(CommandError::unknown_subcommand(f.arg(0), f.arg(1)));
    };
    arity(argc, subcommand.arity(), subcommand.full_name())?;
    Ok(Command::Client { subcommand, args: f.tail(2) })
}

/// MSET's and MSETNX's `key value [key value ...]`: an even count, each
/// key and value within the limits.
fn key_value_pairs<'a>(
    f: &Frame<'a>,
    limits: &Limits,
    id: CommandId,
) -> Result<Args<'a>, CommandError> {
    family(f.argc(), id)?;
    if f.argc() % 2 == 0 {
        return Err(CommandError::WrongArity { command: id.name() });
    }
    let pairs = f.tail(1);
    for (i, arg) in pairs.iter().enumerate() {
        if i % 2 == 0 {
            key(arg, limits)?;
        } else {
            value(arg, limits)?;
        }
    }
    Ok(pairs)
}

// String commands (GETRANGE ... BITPOS).

/// `GETRANGE`/`SUBSTR`: both numbers are parsed before the key is looked
/// up, so their errors come first.
fn getrange<'a>(f: &Frame<'a>, limits: &Limits, substr: bool) -> Result<Command<'a>, CommandError> {
    arity(f.argc(), 4, if substr { "substr" } else { "getrange" })?;
    let start = integer(f.arg(2))?;
    let end = integer(f.arg(3))?;
    Ok(Command::GetRange { key: key(f.arg(1), limits)?, start, end })
}

/// `SETRANGE`: the offset must be an integer, then non-negative; the size
/// check needs the value's length and is the executor's.
fn setrange<'a>(f: &Frame<'a>, limits: &Limits) -> Result<Command<'a>, CommandError> {
    family(f.argc(), CommandId::SetRange)?;
    let offset = integer(f.arg(2))?;
    let offset =
        u64::try_from(offset).map_err(|_| CommandError::Strings(StringsError::OffsetOutOfRange))?;
    Ok(Command::SetRange { key: key(f.arg(1), limits)?, offset, value: f.arg(3) })
}

/// Redis's `getBitOffsetFromArgument`: an integer, not negative, whose
/// byte is inside the largest value.
fn bit_offset(arg: &[u8], limits: &Limits) -> Result<u64, CommandError> {
    parse_i64(arg)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n >> 3 < limits.max_value_size as u64)
        .ok_or(CommandError::Strings(StringsError::BitOffset))
}

fn range_integer(arg: &[u8]) -> Result<i64, BitRangeError> {
    parse_i64(arg).ok_or(BitRangeError::NotAnInteger)
}

/// `BYTE` or `BIT` (case-insensitive): true for `BIT`.
fn bit_unit(arg: &[u8]) -> Result<bool, BitRangeError> {
    if arg.eq_ignore_ascii_case(b"bit") {
        Ok(true)
    } else if arg.eq_ignore_ascii_case(b"byte") {
        Ok(false)
    } else {
        Err(BitRangeError::Syntax)
    }
}

/// BITCOUNT's `[start end [BYTE|BIT]]`, in Redis's order: start, end, the
/// both-negative empty range, then the unit.
fn bitcount_range(args: Args<'_>) -> Result<BitRange, BitRangeError> {
    let mut it = args.iter();
    match args.len() {
        0 => Ok(BitRange::Whole),
        2 | 3 => {
            let start = range_integer(it.next().unwrap_or_default())?;
            let end = range_integer(it.next().unwrap_or_default())?;
            if start < 0 && end < 0 && start > end {
                return Ok(BitRange::Empty);
            }
            let bits = match it.next() {
                Some(unit) => bit_unit(unit)?,
                None => false,
            };
            Ok(BitRange::Span { start, end: Some(end), bits })
        }
        _ => Err(BitRangeError::Syntax),
    }
}

/// BITPOS's `[start [end [BYTE|BIT]]]`, in Redis's order: start, the unit,
/// then end.
fn bitpos_range(args: Args<'_>) -> Result<BitRange, BitRangeError> {
    let mut it = args.iter();
    match args.len() {
        0 => Ok(BitRange::Whole),
        1..=3 => {
            let start = range_integer(it.next().unwrap_or_default())?;
            let end_arg = it.next();
            let bits = match it.next() {
                Some(unit) => bit_unit(unit)?,
                None => false,
            };
            let end = end_arg.map(range_integer).transpose()?;
            Ok(BitRange::Span { start, end, bits })
        }
        _ => Err(BitRangeError::Syntax),
    }
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`, options in
/// any order, repeats allowed.
fn lcs<'a>(f: &Frame<'a>, limits: &Limits) -> Result<Command<'a>, CommandError> {
    family(f.argc(), CommandId::Lcs)?;
    let mut options = LcsOptions::default();
    let mut it = f.tail(3).iter();
    while let Some(opt) = it.next() {
        let mut buf = [0u8; NAME_MAX];
        match lower(opt, &mut buf) {
            b"idx" => options.idx = true,
            b"len" => options.len = true,
            b"withmatchlen" => options.with_match_len = true,
            b"minmatchlen" if it.len() > 0 => {
                let n = integer(it.next().unwrap_or_default())?;
                options.min_match_len = n.max(0) as u64;
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    if options.len && options.idx {
        return Err(CommandError::Strings(StringsError::LcsLenAndIdx));
    }
    Ok(Command::Lcs { key1: key(f.arg(1), limits)?, key2: key(f.arg(2), limits)?, options })
}

/// Redis 7.0's `copyCommand` options, in its order: each `REPLACE` or
/// `DB <index>` in turn, the DB index checked as it is met (only 0 exists;
/// Redis casts the index to an `int` before checking it).
fn copy<'a>(f: &Frame<'a>, limits: &Limits) -> Result<Command<'a>, CommandError> {
    family(f.argc(), CommandId::Copy)?;
    let mut replace = false;
    let mut iter = f.tail(3).iter();
    while let Some(opt) = iter.next() {
        if opt.eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if opt.eq_ignore_ascii_case(b"db") && iter.len() > 0 {
            let index = integer(iter.next().unwrap_or_default())?;
            if index as i32 != 0 {
                return Err(CommandError::DbIndexOutOfRange);
            }
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(Command::Copy {
        source: key(f.arg(1), limits)?,
        destination: key(f.arg(2), limits)?,
        replace,
    })
}

/// Redis's `parseScanCursorOrReply` (a `strtoul` that must consume the
/// whole argument: an empty cursor is 0), then `scanGenericCommand`'s
/// options; every option needs its argument, COUNT at least 1.
fn scan<'a>(f: &Frame<'a>) -> Result<Command<'a>, CommandError> {
    family(f.argc(), CommandId::Scan)?;
    let raw = f.arg(1);
    let digits = raw.strip_prefix(b"+").unwrap_or(raw);
    let mut cursor = 0u64;
    for &d in digits {
        if !d.is_ascii_digit() {
            return Err(CommandError::InvalidCursor);
        }
        cursor = cursor
            .checked_mul(10)
            .and_then(|c| c.checked_add(u64::from(d - b'0')))
            .ok_or(CommandError::InvalidCursor)?;
    }
    if raw.len() == 1 && digits.is_empty() {
        return Err(CommandError::InvalidCursor);
    }
    let (mut pattern, mut count, mut kind) = (None, 10usize, None);
    let mut iter = f.tail(2).iter();
    while let Some(opt) = iter.next() {
        let Some(arg) = (iter.len() > 0).then(|| iter.next()).flatten() else {
            return Err(CommandError::Syntax);
        };
        if opt.eq_ignore_ascii_case(b"count") {
            let n = integer(arg)?;
            if n < 1 {
                return Err(CommandError::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if opt.eq_ignore_ascii_case(b"match") {
            pattern = Some(arg);
        } else if opt.eq_ignore_ascii_case(b"type") {
            kind = Some(arg);
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(Command::Scan { cursor, pattern, count, kind })
}

/// Redis 7.0's OBJECT container: the subcommand first (unknown: `Try
/// OBJECT HELP.`), then its own arity.
fn object<'a>(f: &Frame<'a>, limits: &Limits) -> Result<Command<'a>, CommandError> {
    let argc = f.argc();
    family(argc, CommandId::Object)?;
    let mut buf = [0u8; NAME_MAX];
    let (subcommand, name) = match lower(f.arg(1), &mut buf) {
        b"encoding" => (ObjectSubcommand::Encoding, "object|encoding"),
        b"freq" => (ObjectSubcommand::Freq, "object|freq"),
        b"idletime" => (ObjectSubcommand::IdleTime, "object|idletime"),
        b"refcount" => (ObjectSubcommand::RefCount, "object|refcount"),
        b"help" => {
            arity(argc, 2, "object|help")?;
            return Ok(Command::Object { subcommand: ObjectSubcommand::Help, key: None });
        }
        _ => return Err(CommandError::unknown_subcommand(f.arg(0), f.arg(1))),
    };
    arity(argc, 3, name)?;
    Ok(Command::Object { subcommand, key: Some(key(f.arg(2), limits)?) })
}

/// Redis 7.0's MEMORY container, USAGE and HELP only (DOCTOR, STATS,
/// MALLOC-STATS and PURGE are unknown subcommands here). USAGE's options
/// as `memoryCommand` reads them: `SAMPLES n` with `n >= 0`, checked
/// before the key is looked up; capkv's values have nothing to sample.
fn memory<'a>(f: &Frame<'a>, limits: &Limits) -> Result<Command<'a>, CommandError> {
    let argc = f.argc();
    family(argc, CommandId::Memory)?;
    let mut buf = [0u8; NAME_MAX];
    match lower(f.arg(1), &mut buf) {
        b"usage" => {
            arity(argc, -3, "memory|usage")?;
            let mut iter = f.tail(3).iter();
            while let Some(opt) = iter.next() {
                if !(opt.eq_ignore_ascii_case(b"samples") && iter.len() > 0) {
                    return Err(CommandError::Syntax);
                }
                if integer(iter.next().unwrap_or_default())? < 0 {
                    return Err(CommandError::Syntax);
                }
            }
            Ok(Command::Memory { key: Some(key(f.arg(2), limits)?) })
        }
        b"help" => {
            arity(argc, 2, "memory|help")?;
            Ok(Command::Memory { key: None })
        }
        _ => Err(CommandError::unknown_subcommand(f.arg(0), f.arg(1))),
    }
}
