//! SLOWLOG: the latest commands that took at least
//! `slowlog-log-slower-than` microseconds, newest first, at most
//! `slowlog-max-len` of them, as Redis keeps them (`slowlog.c`): id, Unix
//! time, duration, arguments (at most 32, each cut at 128 bytes), the
//! client's address and name.
//!
//! # How commands are timed, and what can be missed
//!
//! A clock read per command would cost the hot path some 8% (see
//! [`crate::metrics::TIME_EVERY`]), so the slowlog adds none: it uses the
//! timing INFO's commandstats already does. [`LocalCounters::time_this`]
//! times the first command of each kind in every read/execute/write
//! round, and one in 16 besides; a timed command at or past the
//! threshold is logged. So:
//! - a client that sends one command at a time (redis-cli, most
//!   application code, the Redis test suite) has every command timed,
//!   and every slow one logged;
//! - in a pipeline, the first command of each kind is timed: a slow
//!   `KEYS *` or `FLUSHALL` behind a thousand GETs is logged;
//! - what can be missed: the second and later commands *of the same kind*
//!   in one pipelined read that are not the one-in-16 sample, e.g. the
//!   second of two slow `KEYS *` sent in one write. Only the first is
//!   then logged.
//! - `slowlog-log-slower-than 0` (log everything, a debugging setting)
//!   times every command, pipelined or not.
//!
//! The duration is the command's execution, from authorization to its
//! encoded reply, as Redis times `call()`.
//!
//! The arguments are the request's own bytes as the client sent them
//! (re-read from the input on this rare path: the parsed command borrows
//! them and keeps no list), with Redis's redactions: passwords (AUTH,
//! HELLO ... AUTH, ACL SETUSER) show as `(redacted)`.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::protocol::{CommandError, Reply, SlowlogSubcommand};

use super::Flow;
use super::context::{BULK_FRAMING, Ctx, finish, help};
use super::output::Output;

/// Redis 7.0's SLOWLOG HELP lines.
const HELP: &[&str] = &[
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
];

/// The SLOWLOG command.
pub(super) fn slowlog<O: Output + ?Sized>(
    subcommand: SlowlogSubcommand,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let log = &ctx.engine.slowlog;
    let out = &mut ctx.out;
    Ok(match subcommand {
        SlowlogSubcommand::Len => finish(out, &Reply::Int(log.len() as i64)),
        SlowlogSubcommand::Reset => {
            log.reset();
            finish(out, &Reply::Ok)
        }
        SlowlogSubcommand::Help => help("SLOWLOG", HELP, ctx),
        SlowlogSubcommand::Get { count } => {
            let entries = log.newest(count);
            let bound = 32
                + entries
                    .iter()
                    .map(|e| {
                        let args: usize = e.args.iter().map(|a| a.len() + BULK_FRAMING).sum();
                        args + e.peer.len() + e.name.len() + 8 * BULK_FRAMING
                    })
                    .sum::<usize>();
            if !out.try_room(bound) {
                return Ok(Flow::NeedRoom(bound));
            }
            out.push(&Reply::Array(entries.len()));
            for e in &entries {
                out.push(&Reply::Array(6));
                out.push(&Reply::Int(e.id as i64));
                out.push(&Reply::Int(e.time as i64));
                out.push(&Reply::Int(e.micros as i64));
                out.push(&Reply::Array(e.args.len()));
                for arg in &e.args {
                    out.push(&Reply::Bulk(arg));
                }
                out.push(&Reply::Bulk(e.peer.as_bytes()));
                out.push(&Reply::Bulk(&e.name));
            }
            Flow::Continue
        }
    })
}

/// Redis's `SLOWLOG_ENTRY_MAX_ARGC`.
pub const MAX_ARGS: usize = 32;
/// Redis's `SLOWLOG_ENTRY_MAX_STRING`.
pub const MAX_ARG_BYTES: usize = 128;

/// One logged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Unique, increasing (RESET does not restart it).
    pub id: u64,
    /// Unix time in seconds when it was logged.
    pub time: u64,
    /// How long it ran, in microseconds.
    pub micros: u64,
    /// Its arguments, trimmed as Redis trims them.
    pub args: Vec<Box<[u8]>>,
    /// The client's `ip:port`.
    pub peer: String,
    /// The client's name (empty: none).
    pub name: Box<[u8]>,
}

/// The log itself; entries come in from the connections (see the module
/// docs), under a lock taken only for a slow command or a SLOWLOG call.
#[derive(Debug, Default)]
pub struct SlowLog {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// What a slow command leaves for its entry, borrowed from the request.
pub struct Slow<'a> {
    /// The first arguments (at most [`MAX_ARGS`]).
    pub args: Vec<&'a [u8]>,
    /// How many arguments the request had.
    pub argc: usize,
    /// How long it ran.
    pub micros: u64,
    /// The client's `ip:port`.
    pub peer: String,
    /// The client's name.
    pub name: &'a [u8],
}

impl SlowLog {
    /// Logs `slow` as the newest entry, then drops the oldest past
    /// `max_len`.
    pub fn push(&self, slow: Slow<'_>, max_len: usize) {
        let args = trimmed(&redacted(&slow.args), slow.argc);
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let id = inner.next_id;
        inner.next_id += 1;
        inner.entries.push_front(Entry {
            id,
            time,
            micros: slow.micros,
            args,
            peer: slow.peer,
            name: slow.name.into(),
        });
        inner.entries.truncate(max_len);
    }

    /// The newest `count` entries (all: `None`), newest first.
    pub fn newest(&self, count: Option<usize>) -> Vec<Entry> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.iter().take(count.unwrap_or(usize::MAX)).cloned().collect()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).entries.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// SLOWLOG RESET.
    pub fn reset(&self) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).entries.clear();
    }
}

/// Redis's redactions (`redactClientCommandArgument`): which of `args`
/// show as `(redacted)`.
fn redacted<'a>(args: &[&'a [u8]]) -> Vec<&'a [u8]> {
    const REDACTED: &[u8] = b"(redacted)";
    let is = |i: usize, name: &[u8]| args.get(i).is_some_and(|a| a.eq_ignore_ascii_case(name));
    let mut out = args.to_vec();
    let mut hide = |from: usize, to: usize| {
        for arg in out.iter_mut().take(to).skip(from) {
            *arg = REDACTED;
        }
    };
    if is(0, b"auth") {
        hide(1, args.len());
    } else if is(0, b"acl") && is(1, b"setuser") {
        hide(2, args.len());
    } else if is(0, b"hello") {
        if let Some(at) = args.iter().position(|a| a.eq_ignore_ascii_case(b"auth")) {
            hide(at + 1, at + 3);
        }
    } else if is(0, b"config") && is(1, b"set") {
        for i in (2..args.len()).step_by(2) {
            let sensitive = ["requirepass", "masterauth", "masteruser"];
            if sensitive.iter().any(|s| is(i, s.as_bytes())) {
                hide(i + 1, i + 2);
            }
        }
    }
    out
}

/// Redis's trimming: past [`MAX_ARGS`] arguments the last kept one says
/// how many more there were; an argument past [`MAX_ARG_BYTES`] keeps
/// that many bytes and says how many more it had.
fn trimmed(args: &[&[u8]], argc: usize) -> Vec<Box<[u8]>> {
    let kept = argc.min(MAX_ARGS);
    (0..kept)
        .map(|i| {
            if kept != argc && i == kept - 1 {
                return format!("... ({} more arguments)", argc - kept + 1).into_bytes().into();
            }
            let arg = args.get(i).copied().unwrap_or_default();
            if arg.len() > MAX_ARG_BYTES {
                let mut cut = arg[..MAX_ARG_BYTES].to_vec();
                cut.extend_from_slice(
                    format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes(),
                );
                cut.into()
            } else {
                arg.into()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow<'a>(args: &[&'a [u8]], argc: usize) -> Slow<'a> {
        Slow { args: args.to_vec(), argc, micros: 7, peer: "127.0.0.1:1".into(), name: b"" }
    }

    fn shown(entry: &Entry) -> Vec<String> {
        entry.args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect()
    }

    #[test]
    fn newest_first_ids_increase_and_max_len_trims() {
        let log = SlowLog::default();
        for key in [b"a", b"b", b"c"] {
            log.push(slow(&[b"get", key], 2), 2);
        }
        let entries = log.newest(None);
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].id, shown(&entries[0])), (2, vec!["get".into(), "c".into()]));
        assert_eq!(entries[1].id, 1);
        assert_eq!(log.newest(Some(1)).len(), 1);
        log.reset();
        assert!(log.is_empty());
        log.push(slow(&[b"ping"], 1), 2);
        assert_eq!(log.newest(None)[0].id, 3, "RESET keeps counting");
    }

    #[test]
    fn long_arguments_and_long_commands_are_trimmed_as_redis_does() {
        let log = SlowLog::default();
        let args: Vec<Vec<u8>> = (0..33).map(|i| i.to_string().into_bytes()).collect();
        let first: Vec<&[u8]> = args.iter().take(MAX_ARGS).map(Vec::as_slice).collect();
        log.push(slow(&first, 33), 10);
        let entry = &log.newest(None)[0];
        assert_eq!(entry.args.len(), 32);
        assert_eq!(shown(entry)[30], "30");
        assert_eq!(shown(entry)[31], "... (2 more arguments)");
        let long = vec![b'A'; 129];
        log.push(slow(&[b"set", b"k", &long], 3), 10);
        let entry = &log.newest(None)[0];
        assert_eq!(shown(entry)[2], format!("{}... (1 more bytes)", "A".repeat(128)));
    }

    #[test]
    fn passwords_are_redacted() {
        let r = |args: &[&[u8]]| {
            redacted(args)
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(r(&[b"AUTH", b"user", b"pw"]), ["AUTH", "(redacted)", "(redacted)"]);
        assert_eq!(
            r(&[b"acl", b"setuser", b"u", b">pw"]),
            ["acl", "setuser", "(redacted)", "(redacted)"]
        );
        assert_eq!(
            r(&[b"hello", b"3", b"auth", b"u", b"pw", b"setname", b"n"]),
            ["hello", "3", "auth", "(redacted)", "(redacted)", "setname", "n"]
        );
        assert_eq!(
            r(&[b"config", b"set", b"requirepass", b"pw", b"timeout", b"1"]),
            ["config", "set", "requirepass", "(redacted)", "timeout", "1"]
        );
        assert_eq!(r(&[b"get", b"auth"]), ["get", "auth"]);
    }
}
