//! The seed's newline text protocol: one request per `\n`-terminated line.
//!
//! Byte-compatible with the seed (`seed/go/pkg/server/server.go`) for valid
//! requests: the command name is followed by any number of spaces, then
//! - `PUT <key> <value>`: the key runs to the next space; the value is
//!   everything after that one space, so it may contain spaces or be empty
//!   (`PUT k \n` stores an empty value);
//! - `GET <key>`: the key is the rest of the line, spaces included (the seed
//!   did this; such a key can never have been stored by `PUT`, so it simply
//!   misses, exactly as on the seed).
//!
//! Where capkv deliberately differs, each for a reason:
//! - a trailing `\r` is dropped (the seed stored it, breaking CRLF clients,
//!   and made `GET` miss); this also lets Redis-style inline `PING\r\n`,
//!   `GET k\r\n` work;
//! - command names are case-insensitive and must be a whole word: the seed
//!   compared only the first three bytes, so `GETkey` read `key`; here it is
//!   an unknown command;
//! - `DEL <key>` (rest of line, like `GET`), `PING`, `QUIT`, `STATS`,
//!   `AUTH [<user>] <password>` (answers `OK` or `ERROR invalid password`;
//!   with a password or ACL file configured, everything but `AUTH`, `PING`
//!   and `QUIT` answers `ERROR authentication required` until then);
//! - errors say why (`ERROR key too long`), keeping the `ERROR` prefix;
//! - empty lines are ignored, as Redis ignores empty inline requests (the
//!   seed answered `ERROR`); a line of only spaces is an unknown command;
//! - `DEL`/`GET` with no key, `PUT` without the space before the value, and
//!   `PING`/`QUIT`/`STATS` followed by anything but spaces are
//!   `ERROR wrong number of arguments`.
//!
//! Over-long lines are never buffered whole: once the unterminated start of
//! a line reaches [`Limits::max_line`], or proves the request invalid (a key
//! or value already over its limit, an unknown command) past a few hundred
//! bytes, the parser answers [`Parsed::Oversized`] and the server skips to
//! the next newline as bytes arrive. A complete line over the limit in the
//! buffer is refused with the same reason, so the answer never depends on
//! how the bytes were split into reads.

use memchr::memchr;

use super::{Args, Command, CommandError, Limits, Parsed, SetOptions};

/// Longest valid command token, including a trailing `\r` (`STATS\r`).
const LONGEST_COMMAND: usize = 6;

/// Parses one request line from the front of `buf`.
pub fn parse<'a>(buf: &'a [u8], limits: &Limits) -> Parsed<'a> {
    let max = limits.max_line();
    let Some(newline) = memchr(b'\n', buf) else {
        if buf.len() >= max {
            return Parsed::Oversized { error: over_limit(buf, limits), skip: None };
        }
        // Below this, every prefix could still become a valid request.
        if buf.len() > limits.max_key_size + 8 {
            if let Some(error) = early_reason(buf, limits) {
                return Parsed::Oversized { error, skip: None };
            }
        }
        return Parsed::Incomplete;
    };
    let consumed = newline + 1;
    if consumed > max {
        return Parsed::Invalid { error: over_limit(buf, limits), consumed };
    }
    let line = &buf[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Parsed::Ignored { consumed };
    }
    match parse_line(line, limits) {
        Ok(command) => Parsed::Command { command, consumed },
        Err(error) => Parsed::Invalid { error, consumed },
    }
}

/// The answer for a line longer than the limit, complete or not: what its
/// first `max_line` bytes prove, else "line too long". Judging only those
/// bytes makes the answer the same whether or not the newline had arrived.
fn over_limit(buf: &[u8], limits: &Limits) -> CommandError {
    let start = &buf[..limits.max_line().min(buf.len())];
    early_reason(start, limits).unwrap_or(CommandError::LineTooLong)
}

/// The known commands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Name {
    Get,
    Put,
    Del,
    Ping,
    Quit,
    Stats,
    Auth,
}

impl Name {
    /// Name used in the RESP form of arity errors.
    fn lower(self) -> &'static str {
        match self {
            Name::Get => "get",
            Name::Put => "put",
            Name::Del => "del",
            Name::Ping => "ping",
            Name::Quit => "quit",
            Name::Stats => "stats",
            Name::Auth => "auth",
        }
    }
}

fn lookup(name: &[u8]) -> Option<Name> {
    // Hot path first: exact upper case, as every seed client sends it.
    match name {
        b"GET" => return Some(Name::Get),
        b"PUT" => return Some(Name::Put),
        _ => {}
    }
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    match name.len() {
        3 if is(b"get") => Some(Name::Get),
        3 if is(b"put") => Some(Name::Put),
        3 if is(b"del") => Some(Name::Del),
        4 if is(b"ping") => Some(Name::Ping),
        4 if is(b"quit") => Some(Name::Quit),
        5 if is(b"stats") => Some(Name::Stats),
        4 if is(b"auth") => Some(Name::Auth),
        _ => None,
    }
}

/// Splits a line into its command token and what follows the first space
/// (`None` when there is no space).
fn split_command(line: &[u8]) -> (&[u8], Option<&[u8]>) {
    match memchr(b' ', line) {
        Some(space) => (&line[..space], Some(&line[space + 1..])),
        None => (line, None),
    }
}

/// Skips the spaces the seed skipped after the command name.
fn skip_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
    &bytes[start..]
}

fn unknown(name: &[u8], rest: Option<&[u8]>) -> CommandError {
    let args = rest.unwrap_or_default().split(|&b| b == b' ').filter(|a| !a.is_empty());
    CommandError::unknown_command(name, args)
}

/// Parses a complete line (without its `\n` and trailing `\r`).
fn parse_line<'a>(line: &'a [u8], limits: &Limits) -> Result<Command<'a>, CommandError> {
    let (name, rest) = split_command(line);
    let Some(known) = lookup(name) else { return Err(unknown(name, rest)) };
    let args = skip_spaces(rest.unwrap_or_default());
    match known {
        Name::Get | Name::Del => {
            if args.is_empty() {
                return Err(CommandError::WrongArity { command: known.lower() });
            }
            if args.len() > limits.max_key_size {
                return Err(CommandError::KeyTooLong);
            }
            Ok(if known == Name::Get {
                Command::Get { key: args }
            } else {
                Command::Del { keys: Args::one(args) }
            })
        }
        Name::Put => {
            let Some(space) = memchr(b' ', args) else {
                // No value separator. A key already over the limit is the
                // more useful answer (and what a partial line would get).
                return Err(if args.len() > limits.max_key_size {
                    CommandError::KeyTooLong
                } else {
                    CommandError::WrongArity { command: known.lower() }
                });
            };
            let (key, value) = (&args[..space], &args[space + 1..]);
            if key.len() > limits.max_key_size {
                return Err(CommandError::KeyTooLong);
            }
            if value.len() > limits.max_line_value {
                return Err(CommandError::ValueTooLarge);
            }
            Ok(Command::Set { key, value, options: SetOptions::default() })
        }
        Name::Auth => {
            // `AUTH password` or `AUTH user password`, split on spaces
            // (so a password with a space needs RESP).
            let mut words = args.split(|&b| b == b' ').filter(|w| !w.is_empty());
            match (words.next(), words.next(), words.next()) {
                (Some(password), None, None) => Ok(Command::Auth { username: None, password }),
                (Some(user), Some(password), None) => {
                    Ok(Command::Auth { username: Some(user), password })
                }
                _ => Err(CommandError::WrongArity { command: known.lower() }),
            }
        }
        Name::Ping | Name::Quit | Name::Stats => {
            if !args.is_empty() {
                return Err(CommandError::WrongArity { command: known.lower() });
            }
            Ok(match known {
                Name::Ping => Command::Ping { message: None },
                Name::Quit => Command::Quit,
                _ => Command::Info { sections: Args::empty() },
            })
        }
    }
}

/// What [`parse_line`] is certain to answer for any line starting with
/// `prefix` (which has no `\n`), when that answer is an error; `None` while
/// the line could still be valid or fail differently. A `\r` at the end of
/// the prefix may be the one dropped before the newline, hence the `+ 1`s.
fn early_reason(prefix: &[u8], limits: &Limits) -> Option<CommandError> {
    let (name, rest) = split_command(prefix);
    let Some(rest) = rest else {
        return (prefix.len() > LONGEST_COMMAND).then(|| unknown(prefix, None));
    };
    let Some(known) = lookup(name) else { return Some(unknown(name, Some(rest))) };
    let args = skip_spaces(rest);
    match known {
        Name::Get | Name::Del => {
            (args.len() > limits.max_key_size + 1).then_some(CommandError::KeyTooLong)
        }
        Name::Put => match memchr(b' ', args) {
            None => (args.len() > limits.max_key_size + 1).then_some(CommandError::KeyTooLong),
            Some(space) if space > limits.max_key_size => Some(CommandError::KeyTooLong),
            Some(space) => (args.len() - space - 1 > limits.max_line_value + 1)
                .then_some(CommandError::ValueTooLarge),
        },
        // Any prefix may still become a valid AUTH line.
        Name::Auth => None,
        Name::Ping | Name::Quit | Name::Stats => (args.len() > 1
            || args.first().is_some_and(|&b| b != b'\r'))
        .then_some(CommandError::WrongArity { command: known.lower() }),
    }
}

#[cfg(test)]
mod tests;
