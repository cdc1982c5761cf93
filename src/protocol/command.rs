//! The command model both dialects parse into. Every variant borrows its
//! keys and values from the connection's read buffer: parsing allocates
//! nothing, and the executor copies bytes exactly once, into the store.
//!
//! Relative times (EX/PX) stay relative here; turning them into absolute
//! deadlines needs a clock, which is the executor's business, not the
//! parser's.
//!
//! Each variant carries its registry entry (name, arity, flags; see
//! [`registry`](super::registry)), so the variant is the one place a
//! command family is declared.

use super::CommandError;
use super::registry::{Flags, Spec, commands};
use super::strings::{BitOperation, BitRange, BitRangeError, LcsOptions};

commands! {
    /// `GET key` (line and RESP).
    Get {
        /// The key.
        key: &'a [u8],
    } => ("get", 2, [READ, FAST]),
    /// `PUT key value` (line), `SET key value [options]`, `SETNX`, `SETEX`,
    /// `PSETEX` (RESP).
    Set {
        /// The key.
        key: &'a [u8],
        /// The value, binary-safe.
        value: &'a [u8],
        /// Expiry, condition and GET flag.
        options: SetOptions,
    } => ("set", -3, [WRITE], ["setnx", "setex", "psetex"]),
    /// `DEL key` (line, one key) / `DEL`/`UNLINK key [key ...]` (RESP).
    /// Replies with the number of keys removed ([`crate::protocol::Reply::Deleted`]).
    Del {
        /// Keys to remove.
        keys: Args<'a>,
    } => ("del", -2, [WRITE, KEYSPACE], ["unlink"]),
    /// `GETDEL key`.
    GetDel {
        /// The key.
        key: &'a [u8],
    } => ("getdel", 2, [READ, WRITE, FAST]),
    /// `GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]`.
    GetEx {
        /// The key.
        key: &'a [u8],
        /// `None`: leave the TTL alone.
        expiry: Option<Expiry>,
    } => ("getex", -2, [READ, WRITE, FAST]),
    /// `EXISTS key [key ...]`: counts existing keys (repeats count twice).
    Exists {
        /// Keys to test.
        keys: Args<'a>,
    } => ("exists", -2, [READ, KEYSPACE, FAST]),
    /// `EXPIRE`/`PEXPIRE`/`EXPIREAT`/`PEXPIREAT key time [NX|XX|GT|LT]`.
    Expire {
        /// The key.
        key: &'a [u8],
        /// New deadline. A deadline in the past deletes the key.
        expiry: Expiry,
        /// Redis 7 condition flag.
        condition: ExpireCondition,
        /// Redis's lower-case name of the command that was sent (`expire`,
        /// `pexpire`, ...): the executor's `invalid expire time in '<name>'
        /// command` must name it, and `EXPIRE k 10` and `PEXPIRE k 10000`
        /// parse to the same expiry.
        command: &'static str,
    } => ("expire", -3, [WRITE, KEYSPACE, FAST], ["pexpire", "expireat", "pexpireat"]),
    /// `PERSIST key`.
    Persist {
        /// The key.
        key: &'a [u8],
    } => ("persist", 2, [WRITE, KEYSPACE, FAST]),
    /// `TTL key` / `PTTL key`.
    Ttl {
        /// The key.
        key: &'a [u8],
        /// Seconds (`TTL`) or milliseconds (`PTTL`).
        unit: TtlUnit,
    } => ("ttl", 2, [READ, KEYSPACE, FAST], ["pttl"]),
    /// `MGET key [key ...]`.
    MGet {
        /// Keys to read.
        keys: Args<'a>,
    } => ("mget", -2, [READ, FAST]),
    /// `MSET key value [key value ...]` (argument count already checked even).
    MSet {
        /// Alternating keys and values.
        pairs: Args<'a>,
    } => ("mset", -3, [WRITE]),
    /// `INCR`, `DECR`, `INCRBY key n`, `DECRBY key n`.
    IncrBy {
        /// The key.
        key: &'a [u8],
        /// Signed amount to add (DECRBY n is parsed as -n; `i64::MIN` for
        /// DECRBY is refused with Redis's `decrement would overflow`).
        delta: i64,
    } => ("incrby", 3, [WRITE, FAST], ["incr", "decr", "decrby"]),
    /// `APPEND key value`.
    Append {
        /// The key.
        key: &'a [u8],
        /// Bytes to add at the end.
        value: &'a [u8],
    } => ("append", 3, [WRITE, FAST]),
    /// `STRLEN key`.
    StrLen {
        /// The key.
        key: &'a [u8],
    } => ("strlen", 2, [READ, FAST]),
    // String commands (GETRANGE ... BITPOS).
    /// `GETRANGE key start end` / `SUBSTR key start end`: Redis's flags
    /// (`@read`, not `@fast`).
    GetRange {
        /// The key.
        key: &'a [u8],
        /// First byte, negative from the end.
        start: i64,
        /// Last byte (inclusive), negative from the end.
        end: i64,
    } => ("getrange", 4, [READ], ["substr"]),
    /// `SETRANGE key offset value`.
    SetRange {
        /// The key.
        key: &'a [u8],
        /// Where `value` goes (already checked non-negative).
        offset: u64,
        /// Bytes to write there.
        value: &'a [u8],
    } => ("setrange", 4, [WRITE]),
    /// `GETSET key value`: `SET key value GET` (the TTL is cleared).
    GetSet {
        /// The key.
        key: &'a [u8],
        /// The new value.
        value: &'a [u8],
    } => ("getset", 3, [WRITE, FAST]),
    /// `MSETNX key value [key value ...]`: all or nothing.
    MSetNx {
        /// Alternating keys and values (count already checked even).
        pairs: Args<'a>,
    } => ("msetnx", -3, [WRITE]),
    /// `INCRBYFLOAT key increment`.
    IncrByFloat {
        /// The key.
        key: &'a [u8],
        /// The increment as sent (already checked to be a float).
        increment: &'a [u8],
    } => ("incrbyfloat", 3, [WRITE, FAST]),
    /// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`.
    Lcs {
        /// The first string's key.
        key1: &'a [u8],
        /// The second string's key.
        key2: &'a [u8],
        /// Options.
        options: LcsOptions,
    } => ("lcs", -3, [READ]),
    /// `SETBIT key offset 0|1`.
    SetBit {
        /// The key.
        key: &'a [u8],
        /// Bit offset (already checked against the largest value).
        offset: u64,
        /// The new bit.
        bit: bool,
    } => ("setbit", 4, [WRITE]),
    /// `GETBIT key offset`.
    GetBit {
        /// The key.
        key: &'a [u8],
        /// Bit offset (already checked against the largest value).
        offset: u64,
    } => ("getbit", 3, [READ, FAST]),
    /// `BITCOUNT key [start end [BYTE|BIT]]`.
    BitCount {
        /// The key.
        key: &'a [u8],
        /// The range, or the error to answer if the key exists.
        range: Result<BitRange, BitRangeError>,
    } => ("bitcount", -2, [READ]),
    /// `BITPOS key bit [start [end [BYTE|BIT]]]`.
    BitPos {
        /// The key.
        key: &'a [u8],
        /// The bit looked for.
        bit: bool,
        /// The range, or the error to answer if the key exists.
        range: Result<BitRange, BitRangeError>,
    } => ("bitpos", -3, [READ]),
    /// `BITOP AND|OR|XOR|NOT destkey key [key ...]`.
    BitOp {
        /// The operation.
        operation: BitOperation,
        /// Where the result goes.
        destination: &'a [u8],
        /// The source keys (exactly one for NOT, already checked).
        sources: Args<'a>,
    } => ("bitop", -4, [WRITE]),
    // Keyspace commands (TYPE ... MEMORY).
    /// `TYPE key`: `string` or `none`.
    Type {
        /// The key.
        key: &'a [u8],
    } => ("type", 2, [READ, KEYSPACE, FAST]),
    /// `TOUCH key [key ...]`: counts existing keys, each a use for eviction.
    Touch {
        /// Keys to touch.
        keys: Args<'a>,
    } => ("touch", -2, [READ, KEYSPACE, FAST]),
    /// `EXPIRETIME key` / `PEXPIRETIME key`: the absolute deadline.
    ExpireTime {
        /// The key.
        key: &'a [u8],
        /// Seconds (`EXPIRETIME`) or milliseconds (`PEXPIRETIME`).
        unit: TtlUnit,
    } => ("expiretime", 2, [READ, KEYSPACE, FAST], ["pexpiretime"]),
    /// `TIME`: `[seconds, microseconds]`.
    Time => ("time", 1, [FAST]),
    /// `RANDOMKEY`: a live key, or nil.
    RandomKey => ("randomkey", 1, [READ, KEYSPACE]),
    /// `RENAME key newkey`.
    Rename {
        /// The key renamed.
        key: &'a [u8],
        /// Its new name.
        new_key: &'a [u8],
    } => ("rename", 3, [WRITE, KEYSPACE]),
    /// `RENAMENX key newkey`: only when `newkey` does not exist.
    RenameNx {
        /// The key renamed.
        key: &'a [u8],
        /// Its new name.
        new_key: &'a [u8],
    } => ("renamenx", 3, [WRITE, KEYSPACE, FAST]),
    /// `COPY source destination [DB 0] [REPLACE]`.
    Copy {
        /// The key copied.
        source: &'a [u8],
        /// Where to.
        destination: &'a [u8],
        /// REPLACE: overwrite an existing destination.
        replace: bool,
    } => ("copy", -3, [WRITE, KEYSPACE]),
    /// `KEYS pattern`.
    Keys {
        /// Glob pattern.
        pattern: &'a [u8],
    } => ("keys", 2, [READ, KEYSPACE, DANGEROUS]),
    /// `SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]`.
    Scan {
        /// Where the previous call stopped (0: the start).
        cursor: u64,
        /// MATCH.
        pattern: Option<&'a [u8]>,
        /// COUNT (at least 1; 10 by default).
        count: usize,
        /// TYPE, if given: only `string` matches anything.
        kind: Option<&'a [u8]>,
    } => ("scan", -2, [READ, KEYSPACE]),
    /// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key`, `OBJECT HELP`.
    Object {
        /// Which one.
        subcommand: ObjectSubcommand,
        /// The key (`None` for HELP).
        key: Option<&'a [u8]>,
    } => ("object", -2, [READ, KEYSPACE]),
    /// `MEMORY USAGE key [SAMPLES n]` (`Some(key)`), `MEMORY HELP` (`None`).
    Memory {
        /// The key USAGE measures.
        key: Option<&'a [u8]>,
    } => ("memory", -2, [READ]),
    /// `DBSIZE`.
    DbSize => ("dbsize", 1, [READ, KEYSPACE, FAST]),
    /// `FLUSHALL` / `FLUSHDB` (any ASYNC/SYNC flag accepted).
    FlushAll => ("flushall", -1, [WRITE, KEYSPACE, DANGEROUS], ["flushdb"]),
    /// `PING [message]` (line: `PING` -> `PONG`).
    Ping {
        /// Echoed back as a bulk string when present.
        message: Option<&'a [u8]>,
    } => ("ping", -1, [CONNECTION, FAST]),
    /// `ECHO message`.
    Echo {
        /// The message.
        message: &'a [u8],
    } => ("echo", 2, [CONNECTION, FAST]),
    /// `SELECT index`: only database 0 exists.
    Select {
        /// Requested index.
        index: i64,
    } => ("select", 2, [CONNECTION, FAST]),
    /// `QUIT`: reply (RESP `+OK`, line nothing) and close.
    Quit => ("quit", -1, [CONNECTION, FAST, NO_AUTH]),
    /// `INFO [section ...]` (RESP) / `STATS` (line).
    Info {
        /// Requested sections; empty means the default set.
        sections: Args<'a>,
    } => ("info", -1, [ADMIN, DANGEROUS]),
    /// `CONFIG GET|SET|RESETSTAT|REWRITE ...`.
    Config {
        /// Which one, with its arguments.
        subcommand: ConfigSubcommand<'a>,
    } => ("config", -2, [ADMIN, DANGEROUS]),
    /// `SLOWLOG GET [count]|LEN|RESET|HELP`.
    SlowLog {
        /// Which one.
        subcommand: SlowlogSubcommand,
    } => ("slowlog", -2, [ADMIN, DANGEROUS]),
    /// `COMMAND [COUNT|DOCS|GETKEYS|GETKEYSANDFLAGS|HELP|INFO|LIST ...]`:
    /// Redis 7.0.15's metadata of capkv's commands
    /// ([`metadata`](super::metadata)).
    CommandInfo {
        /// `None` for bare `COMMAND`.
        subcommand: Option<CommandSubcommand>,
        /// The arguments after the subcommand (names, filters, a request).
        args: Args<'a>,
    } => ("command", -1, [CONNECTION]),
    /// `CLIENT SETNAME`/`SETINFO`/`GETNAME`/`ID`/`INFO`/`LIST`/`NO-EVICT`/
    /// `NO-TOUCH`/`REPLY`: arity already checked. ACL flags are per
    /// registry entry: `CLIENT KILL` (Redis's `@admin @dangerous`) must
    /// get an entry of its own when it is added, or `--deny-dangerous` and
    /// `-@dangerous` would not cover it.
    Client {
        /// Which one.
        subcommand: ClientSubcommand,
        /// Arguments after the subcommand.
        args: Args<'a>,
    } => ("client", -2, [CONNECTION]),
    /// `HELLO [protover [AUTH user pass] [SETNAME name]]`: switches the
    /// connection to RESP2 or RESP3 (requests are framed the same way in
    /// both; replies differ). Any other version is refused by the parser
    /// with `NOPROTO`. `SETNAME` is accepted and ignored.
    Hello {
        /// Requested protocol version, if given (2 or 3).
        version: Option<i64>,
        /// `AUTH username password`, the last one given.
        auth: Option<(&'a [u8], &'a [u8])>,
    } => ("hello", -1, [CONNECTION, FAST, NO_AUTH]),
    /// `AUTH [username] password` (RESP and line protocol).
    Auth {
        /// `None`: the `default` user.
        username: Option<&'a [u8]>,
        /// The password (compared by digest, never stored).
        password: &'a [u8],
    } => ("auth", -2, [CONNECTION, FAST, NO_AUTH]),
    /// `ACL CAT|DRYRUN|HELP|LIST|LOAD|USERS|WHOAMI`.
    Acl {
        /// Which one, with its arguments.
        subcommand: AclSubcommand<'a>,
    } => ("acl", -2, [ADMIN, DANGEROUS]),
    /// `MULTI`: start queueing this connection's commands for `EXEC`
    /// (see `crate::engine::transaction`).
    Multi => ("multi", 1, [TRANSACTION, FAST]),
    /// `EXEC`: run the queued commands as one atomic step.
    Exec => ("exec", 1, [TRANSACTION]),
    /// `DISCARD`: drop the queued commands and every watch.
    Discard => ("discard", 1, [TRANSACTION, FAST]),
    /// `WATCH key [key ...]`: make the next `EXEC` fail if any of these
    /// keys changes first.
    Watch {
        /// The keys.
        keys: Args<'a>,
    } => ("watch", -2, [TRANSACTION, FAST]),
    /// `UNWATCH`: forget every watched key.
    Unwatch => ("unwatch", 1, [TRANSACTION, FAST]),
}

/// `ACL` subcommands (the read-only ones, and LOAD; see the `acl` module).
#[derive(Debug, Clone, PartialEq)]
pub enum AclSubcommand<'a> {
    /// `ACL CAT [category]`.
    Cat {
        /// `None`: list the categories.
        category: Option<&'a [u8]>,
    },
    /// `ACL DRYRUN username command [arg ...]`.
    DryRun {
        /// Whose permissions to test.
        username: &'a [u8],
        /// The command to test, parsed by the command table; the error if
        /// it does not parse (an unknown command, a wrong arity ...).
        command: Result<Box<Command<'a>>, CommandError>,
        /// The command's name as sent (for `Command '<name>' not found`).
        name: &'a [u8],
    },
    /// `ACL HELP`.
    Help,
    /// `ACL LIST`.
    List,
    /// `ACL LOAD`: re-read the ACL file.
    Load,
    /// `ACL USERS`.
    Users,
    /// `ACL WHOAMI`.
    WhoAmI,
}

impl<'a> Command<'a> {
    /// The keys this request reads or writes, in argument order: what ACL
    /// key patterns are checked against. Every variant that carries keys
    /// reports all of them here (MSET's every other argument); the match
    /// has no catch-all arm, so a new variant must say.
    pub fn keys(&self) -> Keys<'a> {
        let repr = match *self {
            Command::Get { key }
            | Command::Set { key, .. }
            | Command::GetDel { key }
            | Command::GetEx { key, .. }
            | Command::Expire { key, .. }
            | Command::Persist { key }
            | Command::Ttl { key, .. }
            | Command::IncrBy { key, .. }
            | Command::Append { key, .. }
            | Command::StrLen { key }
            | Command::GetRange { key, .. }
            | Command::SetRange { key, .. }
            | Command::GetSet { key, .. }
            | Command::IncrByFloat { key, .. }
            | Command::SetBit { key, .. }
            | Command::GetBit { key, .. }
            | Command::BitCount { key, .. }
            | Command::BitPos { key, .. } => KeysRepr::One(Some(key)),
            Command::Lcs { key1, key2, .. } => KeysRepr::Pair(Some(key1), Some(key2)),
            Command::BitOp { destination, sources, .. } => {
                KeysRepr::Then(Some(destination), sources.iter())
            }
            Command::Del { keys } | Command::Exists { keys } | Command::MGet { keys } => {
                KeysRepr::All(keys.iter())
            }
            Command::MSet { pairs } | Command::MSetNx { pairs } => KeysRepr::Even(pairs.iter()),
            Command::Type { key } | Command::ExpireTime { key, .. } => KeysRepr::One(Some(key)),
            Command::Touch { keys } | Command::Watch { keys } => KeysRepr::All(keys.iter()),
            Command::Rename { key, new_key } | Command::RenameNx { key, new_key } => {
                KeysRepr::Pair(Some(key), Some(new_key))
            }
            Command::Copy { source, destination, .. } => {
                KeysRepr::Pair(Some(source), Some(destination))
            }
            Command::Time | Command::RandomKey | Command::Keys { .. } | Command::Scan { .. } => {
                KeysRepr::One(None)
            }
            Command::Object { key, .. } | Command::Memory { key } => KeysRepr::One(key),
            Command::DbSize
            | Command::FlushAll
            | Command::Ping { .. }
            | Command::Echo { .. }
            | Command::Select { .. }
            | Command::Quit
            | Command::Info { .. }
            | Command::Config { .. }
            | Command::SlowLog { .. }
            | Command::CommandInfo { .. }
            | Command::Client { .. }
            | Command::Hello { .. }
            | Command::Auth { .. }
            | Command::Acl { .. }
            | Command::Multi
            | Command::Exec
            | Command::Discard
            | Command::Unwatch => KeysRepr::One(None),
        };
        Keys { repr }
    }
}

/// The keys of one request ([`Command::keys`]), borrowed, without
/// allocating.
#[derive(Clone)]
pub struct Keys<'a> {
    repr: KeysRepr<'a>,
}

#[derive(Clone)]
enum KeysRepr<'a> {
    One(Option<&'a [u8]>),
    All(ArgsIter<'a>),
    /// Every other argument, from the first (MSET's keys).
    Even(ArgsIter<'a>),
    /// Two keys (LCS, RENAME, COPY).
    Pair(Option<&'a [u8]>, Option<&'a [u8]>),
    /// One key, then every argument (BITOP's destination, then its sources).
    Then(Option<&'a [u8]>, ArgsIter<'a>),
}

impl<'a> Iterator for Keys<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.repr {
            KeysRepr::One(key) => key.take(),
            KeysRepr::All(iter) => iter.next(),
            KeysRepr::Even(iter) => {
                let key = iter.next();
                iter.next();
                key
            }
            KeysRepr::Pair(first, second) => first.take().or_else(|| second.take()),
            KeysRepr::Then(first, rest) => first.take().or_else(|| rest.next()),
        }
    }
}

/// `OBJECT` subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectSubcommand {
    /// `OBJECT ENCODING key`: `int`, `embstr` or `raw`.
    Encoding,
    /// `OBJECT FREQ key`: the index's use counter.
    Freq,
    /// `OBJECT IDLETIME key`: not tracked (Redis's LFU-policy error).
    IdleTime,
    /// `OBJECT REFCOUNT key`: always 1 (values are never shared).
    RefCount,
    /// `OBJECT HELP`.
    Help,
}

/// `CONFIG` subcommands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ConfigSubcommand<'a> {
    /// `CONFIG GET pattern [pattern ...]`.
    Get {
        /// Glob patterns.
        patterns: Args<'a>,
    },
    /// `CONFIG SET name value [name value ...]`.
    Set {
        /// The names and values, alternating (an even count, checked).
        pairs: Args<'a>,
    },
    /// `CONFIG RESETSTAT`.
    ResetStat,
    /// `CONFIG REWRITE` (refused: capkv has no config file).
    Rewrite,
}

/// `SLOWLOG` subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowlogSubcommand {
    /// `SLOWLOG GET [count]`: the newest `count` entries (`None`: all;
    /// 10 when not given).
    Get {
        /// How many.
        count: Option<usize>,
    },
    /// `SLOWLOG LEN`.
    Len,
    /// `SLOWLOG RESET`.
    Reset,
    /// `SLOWLOG HELP`.
    Help,
}

/// `COMMAND` subcommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandSubcommand {
    /// `COMMAND COUNT`.
    Count,
    /// `COMMAND DOCS [name ...]`.
    Docs,
    /// `COMMAND INFO [name ...]`.
    Info,
    /// `COMMAND LIST [FILTERBY ...]`.
    List,
    /// `COMMAND GETKEYS command [arg ...]`.
    GetKeys,
    /// `COMMAND GETKEYSANDFLAGS command [arg ...]`.
    GetKeysAndFlags,
    /// `COMMAND HELP`.
    Help,
}

macro_rules! subcommands {
    ($(#[$meta:meta])* $enum:ident { $($(#[$vmeta:meta])* $variant:ident => $name:literal, $full:literal, $arity:expr;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $enum {
            $($(#[$vmeta])* $variant,)*
        }

        impl $enum {
            /// Every subcommand.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),*];

            /// Lower-case name, as sent after the command.
            pub fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)*
                }
            }

            /// `command|subcommand`, as Redis names it in errors.
            pub fn full_name(self) -> &'static str {
                match self {
                    $($enum::$variant => $full,)*
                }
            }

            /// Redis's arity for the whole request (command name included).
            pub fn arity(self) -> i32 {
                match self {
                    $($enum::$variant => $arity,)*
                }
            }
        }
    };
}

subcommands! {
    /// `CLIENT` subcommands.
    ClientSubcommand {
        /// `CLIENT SETNAME name`.
        SetName => "setname", "client|setname", 3;
        /// `CLIENT GETNAME`.
        GetName => "getname", "client|getname", 2;
        /// `CLIENT ID`.
        Id => "id", "client|id", 2;
        /// `CLIENT HELP`.
        Help => "help", "client|help", 2;
        /// `CLIENT SETINFO attr value`: accepted, no effect.
        SetInfo => "setinfo", "client|setinfo", 4;
        /// `CLIENT INFO`: this connection's CLIENT LIST line.
        Info => "info", "client|info", 2;
        /// `CLIENT LIST [TYPE type | ID id ...]`: one line per connection.
        List => "list", "client|list", -2;
        /// `CLIENT KILL addr | CLIENT KILL filter value ...`: close
        /// connections.
        Kill => "kill", "client|kill", -3;
        /// `CLIENT NO-EVICT on|off`: whether the connection may be closed for
        /// holding buffer memory others wait for.
        NoEvict => "no-evict", "client|no-evict", 3;
        /// `CLIENT NO-TOUCH on|off`: accepted, no effect.
        NoTouch => "no-touch", "client|no-touch", 3;
        /// `CLIENT REPLY on|off|skip`: whether replies are sent.
        Reply => "reply", "client|reply", 3;
    }
}

/// How a write may or must set a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Expire this many milliseconds from now (EX s is parsed as s*1000).
    /// Always in `1..=i64::MAX`; zero or negative durations are parse errors
    /// for SET/GETEX and become [`Expiry::AtUnixMillis`] at or before the
    /// epoch for EXPIRE. The executor adds the current time and, like
    /// Redis, answers `invalid expire time in '<cmd>' command` if that
    /// overflows `i64`.
    InMillis(u64),
    /// Expire at this Unix time in milliseconds (EXAT s is s*1000).
    AtUnixMillis(i64),
    /// Remove any deadline (GETEX PERSIST).
    Persist,
}

/// `SET` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetOptions {
    /// `None`: no TTL (and clear any existing one, as Redis does).
    pub expiry: Option<Expiry>,
    /// KEEPTTL: keep the existing deadline.
    pub keep_ttl: bool,
    /// NX / XX.
    pub condition: SetCondition,
    /// GET: reply with the previous value (or nil) instead of OK.
    pub get: bool,
    /// SETNX: reply `:1` when the value was set and `:0` when it was not,
    /// instead of `+OK` / nil. Only ever set together with
    /// [`SetCondition::IfAbsent`].
    pub reply_as_int: bool,
}

/// `SET ... NX|XX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetCondition {
    /// Unconditional.
    #[default]
    Always,
    /// NX: only when the key does not exist.
    IfAbsent,
    /// XX: only when the key exists.
    IfPresent,
}

/// `EXPIRE ... NX|XX|GT|LT` (Redis 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpireCondition {
    /// Unconditional.
    #[default]
    Always,
    /// NX: only when the key has no deadline.
    IfNoExpiry,
    /// XX: only when the key has a deadline.
    IfHasExpiry,
    /// GT: only when the new deadline is later (no deadline = infinite).
    IfGreater,
    /// LT: only when the new deadline is earlier (no deadline = infinite,
    /// so a key without one always qualifies).
    IfLess,
    /// XX and LT together: only when the key has a deadline and the new one
    /// is earlier. (XX GT needs no variant: GT already fails on keys without
    /// a deadline, so it is parsed as [`ExpireCondition::IfGreater`].)
    IfHasExpiryAndLess,
}

/// `TTL` or `PTTL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtlUnit {
    /// `TTL`.
    Seconds,
    /// `PTTL`.
    Millis,
}

/// Arguments borrowed from a request, walked lazily without allocating.
///
/// Either a single argument (the line protocol's `DEL key`), a run of RESP
/// bulk strings (`$len\r\nbytes\r\n` ...), or the tail of an inline command
/// line; the parser has already validated the run, so walking it again
/// cannot fail.
///
/// Equality compares the arguments, not how they were framed: `DEL k` sent
/// inline and as multibulk parse to equal commands.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    repr: ArgsRepr<'a>,
    len: usize,
}

#[derive(Clone, Copy)]
enum ArgsRepr<'a> {
    One(&'a [u8]),
    Resp(&'a [u8]),
    Inline(&'a [u8]),
}

impl<'a> Args<'a> {
    /// No arguments.
    pub fn empty() -> Args<'a> {
        Args { repr: ArgsRepr::Resp(&[]), len: 0 }
    }

    /// Exactly one argument.
    pub fn one(arg: &'a [u8]) -> Args<'a> {
        Args { repr: ArgsRepr::One(arg), len: 1 }
    }

    /// `count` RESP bulk strings laid out back to back in `raw`, each
    /// `$<len>\r\n<bytes>\r\n`. The caller (the RESP parser) must have
    /// validated exactly this layout.
    pub(crate) fn resp(raw: &'a [u8], count: usize) -> Args<'a> {
        Args { repr: ArgsRepr::Resp(raw), len: count }
    }

    /// `count` inline arguments at the start of `raw` (leading whitespace
    /// allowed), tokenised as by [`super::inline::next_token`]. The caller
    /// must have checked that every token is borrowable.
    pub(crate) fn inline(raw: &'a [u8], count: usize) -> Args<'a> {
        Args { repr: ArgsRepr::Inline(raw), len: count }
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no arguments.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Walks the arguments in order.
    pub fn iter(&self) -> ArgsIter<'a> {
        ArgsIter { repr: self.repr, left: self.len }
    }
}

impl PartialEq for Args<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for Args<'_> {}

impl std::fmt::Debug for Args<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|a| String::from_utf8_lossy(a).into_owned()))
            .finish()
    }
}

impl<'a> IntoIterator for Args<'a> {
    type Item = &'a [u8];
    type IntoIter = ArgsIter<'a>;
    fn into_iter(self) -> ArgsIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Args`].
#[derive(Clone)]
pub struct ArgsIter<'a> {
    repr: ArgsRepr<'a>,
    left: usize,
}

impl<'a> Iterator for ArgsIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match &mut self.repr {
            ArgsRepr::One(arg) => Some(arg),
            ArgsRepr::Resp(raw) => {
                // Layout validated by the parser: `$<digits>\r\n<len bytes>\r\n`.
                // Clamped anyway, so a caller breaking that promise gets
                // wrong arguments, never a panic.
                let mut at = 1;
                let mut len = 0usize;
                while let Some(d) = raw.get(at).filter(|d| d.is_ascii_digit()) {
                    len = len.saturating_mul(10).saturating_add(usize::from(d - b'0'));
                    at += 1;
                }
                let start = (at + 2).min(raw.len());
                let end = start.saturating_add(len).min(raw.len());
                let arg = &raw[start..end];
                *raw = &raw[(end + 2).min(raw.len())..];
                Some(arg)
            }
            ArgsRepr::Inline(raw) => match super::inline::next_token(raw, 0) {
                Ok(Some(token)) => {
                    let arg = &raw[token.start..token.end];
                    *raw = &raw[token.next..];
                    Some(arg)
                }
                // Validated by the parser; stop rather than invent bytes.
                _ => {
                    self.left = 0;
                    None
                }
            },
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for ArgsIter<'_> {}
