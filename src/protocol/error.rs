//! Why a request was refused, with the exact text each dialect sends.
//!
//! RESP clients (and the test suites written against Redis) match error
//! texts byte for byte, so every RESP text here is Redis 7's, including its
//! quirks: the unknown-command message ends with a space, user bytes are cut
//! at 128 bytes and at the first NUL (Redis formats them with `%.128s`), and
//! CR/LF inside them become spaces. Line-protocol clients only ever saw a bare
//! `ERROR` from the seed, so their texts are `ERROR <short reason>`: anything
//! testing for the `ERROR` prefix keeps working, and humans learn why.
//!
//! Errors are rare, so the few variants that quote the client's bytes keep a
//! pre-rendered, bounded copy in a `Box<[u8]>`: that keeps the enum (and so
//! every [`crate::protocol::Reply`]) small on the hot path.

use std::borrow::Cow;
use std::fmt;

use super::strings::StringsError;

/// The error codes capkv answers with, as INFO errorstats names them
/// (`errorstat_ERR:count=3`); [`CommandError::code`] indexes this.
pub const ERROR_CODES: [&str; 7] =
    ["ERR", "OOM", "NOAUTH", "WRONGPASS", "NOPERM", "NOPROTO", "EXECABORT"];

/// A request-level error. The connection stays usable after every variant
/// except [`CommandError::Protocol`], which closes a RESP connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No such command. Holds Redis's rendered message (after `ERR `):
    /// `unknown command 'foo', with args beginning with: 'a' 'b' `.
    /// Build it with [`CommandError::unknown_command`].
    UnknownCommand(Box<[u8]>),
    /// A container command (CONFIG, COMMAND, CLIENT) with an unknown
    /// subcommand: `unknown subcommand 'x'. Try CONFIG HELP.`
    UnknownSubcommand(Box<[u8]>),
    /// Arity check failed: `wrong number of arguments for '<name>' command`,
    /// where `name` is Redis's lower-case full name (`get`, `config|get`).
    WrongArity {
        /// Redis's full command name.
        command: &'static str,
    },
    /// `syntax error`.
    Syntax,
    /// `value is not an integer or out of range`: a malformed integer
    /// argument, or INCR on a value that is not an integer.
    NotAnInteger,
    /// `increment or decrement would overflow` (INCR family, executor).
    Overflow,
    /// `decrement would overflow` (`DECRBY key -9223372036854775808`).
    DecrementOverflow,
    /// `invalid expire time in '<name>' command`: a non-positive SET/GETEX
    /// expiry, or a time that overflows once converted to milliseconds (or,
    /// in the executor, once added to the current time).
    InvalidExpireTime {
        /// Redis's command name (`set`, `setex`, `getex`, `expire`, ...).
        command: &'static str,
    },
    /// `Unsupported option <opt>` (EXPIRE family flags).
    UnsupportedOption(Box<[u8]>),
    /// `NX and XX, GT or LT options at the same time are not compatible`.
    ExpireNxConflict,
    /// `GT and LT options at the same time are not compatible`.
    ExpireGtLtConflict,
    /// `DB index is out of range` (SELECT of anything but 0, executor).
    DbIndexOutOfRange,
    /// `Client names cannot contain spaces, newlines or special characters.`
    /// (CLIENT SETNAME with a byte outside `!`..`~`, executor). capkv also
    /// refuses names over [`MAX_CLIENT_NAME`] bytes with this error: a name
    /// lives as long as its connection, outside the memory budget.
    InvalidClientName,
    /// `HELLO` with a version other than 2: `-NOPROTO unsupported protocol
    /// version` (no `ERR` prefix, as in Redis).
    NoProto,
    /// `Protocol version is not an integer or out of range` (HELLO).
    HelloVersionNotInteger,
    /// `Syntax error in HELLO option '<opt>'`.
    HelloSyntax(Box<[u8]>),
    /// The request can never be executed because its item would not fit in
    /// memory: `-OOM command not allowed when used memory > 'maxmemory'.`
    OutOfMemory,
    /// A key longer than the configured maximum (capkv-specific).
    KeyTooLong,
    /// A value longer than the configured maximum (capkv-specific).
    ValueTooLarge,
    /// APPEND would grow a value past the maximum size (executor):
    /// `string exceeds maximum allowed size (proto-max-bulk-len)`.
    StringTooLong,
    /// A line-protocol request line longer than
    /// [`crate::protocol::Limits::max_line`].
    LineTooLong,
    /// A line-protocol GET of a value that holds a newline (written over
    /// RESP): it cannot be sent as one line without the client reading
    /// the rest as the next replies.
    ValueHasNewline,
    /// RESP framing is broken: answer, then close the connection.
    Protocol(ProtocolError),
    /// A command other than AUTH, HELLO or QUIT before authenticating:
    /// `-NOAUTH Authentication required.`
    NoAuth,
    /// `HELLO` without `AUTH` before authenticating: Redis 7.0's
    /// `-NOAUTH HELLO must be called with the client already authenticated, ...`.
    HelloNoAuth,
    /// A wrong user name or password, or a disabled user:
    /// `-WRONGPASS invalid username-password pair or user is disabled.`
    WrongPass,
    /// `AUTH <password>` while the default user needs none: `AUTH
    /// <password> called without any password configured for the default
    /// user. Are you sure your configuration is correct?`
    NoPasswordConfigured,
    /// The user may not run this command (or `--deny-dangerous`):
    /// `-NOPERM this user has no permissions to run the '<name>' command`.
    NoPermCommand {
        /// The registry name of the command's family.
        command: &'static str,
    },
    /// A key outside the user's key patterns: `-NOPERM this user has no
    /// permissions to access one of the keys used as arguments`.
    NoPermKey,
    /// An ACL subcommand's error, rendered after `ERR ` (`Unknown category
    /// 'x'`, `User 'x' not found`, an ACL LOAD failure ...).
    Acl(Box<[u8]>),
    /// A CONFIG SET refusal, rendered after `ERR ` (`Unknown option or
    /// number of arguments for CONFIG SET - 'foo'`, ...).
    Config(Box<[u8]>),
    /// A CLIENT LIST/KILL refusal, rendered after `ERR ` (`No such
    /// client`, `Unknown client type 'x'`, ...).
    Client(Box<[u8]>),
    /// A string command's error (GETRANGE ... BITPOS), texts in
    /// [`StringsError`].
    Strings(StringsError),
    /// `no such key` (RENAME of a missing key, executor).
    NoSuchKey,
    /// `source and destination objects are the same` (COPY onto itself).
    SameObject,
    /// `invalid cursor` (SCAN).
    InvalidCursor,
    /// A keyspace error whose text is fixed: the whole RESP text (`ERR
    /// ...`), as Redis sends it.
    Fixed(&'static str),
}

/// Why a RESP stream cannot be framed. Each is answered with
/// `-ERR Protocol error: ...` and the connection is closed, as Redis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// `*<count>` is not a number, or is over the argument limit.
    InvalidMultibulkLength,
    /// `$<len>` is not a number, is negative, or is over the bulk limit.
    InvalidBulkLength,
    /// A multibulk element does not start with `$` (nested arrays, simple
    /// strings ...). Holds the byte found.
    ExpectedDollar(u8),
    /// The bytes after a bulk string's data are not `\r\n` (Redis skips them
    /// unchecked; capkv refuses rather than desynchronise).
    MissingBulkCrlf,
    /// An inline request longer than the limit without a newline.
    TooBigInlineRequest,
    /// An inline request with an unterminated quote, or a closing quote not
    /// followed by a space.
    UnbalancedQuotes,
}

/// Longest name CLIENT SETNAME accepts.
pub const MAX_CLIENT_NAME: usize = 256;

/// Longest run of client bytes quoted in one error (Redis's `%.128s`).
const QUOTE_MAX: usize = 128;

impl CommandError {
    /// Redis's unknown-command error for `name` called with `args`: the name
    /// cut at 128 bytes, then each argument quoted and followed by a space
    /// until the argument list reaches 128 bytes.
    pub fn unknown_command<'a>(
        name: &[u8],
        args: impl IntoIterator<Item = &'a [u8]>,
    ) -> CommandError {
        let mut text = Vec::with_capacity(64);
        text.extend_from_slice(b"unknown command '");
        text.extend_from_slice(c_str_prefix(name, QUOTE_MAX));
        text.extend_from_slice(b"', with args beginning with: ");
        let args_start = text.len();
        for arg in args {
            let used = text.len() - args_start;
            if used >= QUOTE_MAX {
                break;
            }
            text.push(b'\'');
            text.extend_from_slice(c_str_prefix(arg, QUOTE_MAX - used));
            text.extend_from_slice(b"' ");
        }
        map_newlines(&mut text);
        CommandError::UnknownCommand(text.into_boxed_slice())
    }

    /// `unknown subcommand 'sub'. Try CONTAINER HELP.`, the container name
    /// upper-cased as the client spelled it.
    pub fn unknown_subcommand(container: &[u8], sub: &[u8]) -> CommandError {
        Self::subcommand_error(b"unknown subcommand '", container, sub)
    }

    /// `unknown subcommand or wrong number of arguments for 'sub'. Try
    /// CONTAINER HELP.` (Redis's `addReplySubcommandSyntaxError`).
    pub fn subcommand_syntax(container: &[u8], sub: &[u8]) -> CommandError {
        Self::subcommand_error(
            b"unknown subcommand or wrong number of arguments for '",
            container,
            sub,
        )
    }

    /// `<prefix>sub'. Try CONTAINER HELP.`
    fn subcommand_error(prefix: &[u8], container: &[u8], sub: &[u8]) -> CommandError {
        let mut text = Vec::with_capacity(prefix.len() + 64);
        text.extend_from_slice(prefix);
        text.extend_from_slice(c_str_prefix(sub, QUOTE_MAX));
        text.extend_from_slice(b"'. Try ");
        text.extend(c_str_prefix(container, usize::MAX).iter().map(u8::to_ascii_uppercase));
        text.extend_from_slice(b" HELP.");
        map_newlines(&mut text);
        CommandError::UnknownSubcommand(text.into_boxed_slice())
    }

    /// `Unsupported option <opt>`.
    pub fn unsupported_option(opt: &[u8]) -> CommandError {
        CommandError::UnsupportedOption(format_quoted(b"Unsupported option ", opt, b""))
    }

    /// `Unknown category '<name>'` (ACL CAT), the name cut at 128 bytes.
    pub fn unknown_category(name: &[u8]) -> CommandError {
        let name = c_str_prefix(name, QUOTE_MAX);
        CommandError::Acl(format_quoted(b"Unknown category '", name, b"'"))
    }

    /// `User '<name>' not found` (ACL DRYRUN).
    pub fn user_not_found(name: &[u8]) -> CommandError {
        CommandError::Acl(format_quoted(b"User '", name, b"' not found"))
    }

    /// `Command '<name>' not found` (ACL DRYRUN).
    pub fn command_not_found(name: &[u8]) -> CommandError {
        CommandError::Acl(format_quoted(b"Command '", name, b"' not found"))
    }

    /// An ACL error whose whole text (after `ERR `) is `text`.
    pub fn acl(text: &str) -> CommandError {
        CommandError::Acl(format_quoted(b"", text.as_bytes(), b""))
    }

    /// `Syntax error in HELLO option '<opt>'`.
    pub fn hello_syntax(opt: &[u8]) -> CommandError {
        CommandError::HelloSyntax(format_quoted(b"Syntax error in HELLO option '", opt, b"'"))
    }

    /// True when this refusal, met while a transaction is being queued,
    /// discards the transaction (its `EXEC` answers `EXECABORT`) rather
    /// than being queued to be answered inside `EXEC`'s reply.
    ///
    /// Redis refuses at queue time only what stops a command from being
    /// looked up or admitted (unknown command or subcommand, wrong arity,
    /// authentication and ACL, memory); its argument errors (`syntax
    /// error`, `value is not an integer ...`) come from running the
    /// command, so inside a transaction they appear in `EXEC`'s array. capkv
    /// checks arguments while parsing, so it keeps that split by this
    /// list; its own size limits (key, value, line) count as admission.
    pub fn discards_transaction(&self) -> bool {
        matches!(
            self,
            CommandError::UnknownCommand(_)
                | CommandError::UnknownSubcommand(_)
                | CommandError::WrongArity { .. }
                | CommandError::OutOfMemory
                | CommandError::KeyTooLong
                | CommandError::ValueTooLarge
                | CommandError::LineTooLong
                | CommandError::Protocol(_)
                | CommandError::NoAuth
                | CommandError::NoPermCommand { .. }
                | CommandError::NoPermKey
        )
    }

    /// True when the connection must be closed after answering.
    pub fn closes_connection(&self) -> bool {
        matches!(self, CommandError::Protocol(_))
    }

    /// The RESP error text, without the leading `-` and trailing CRLF
    /// (`ERR syntax error`). Lossy for non-UTF-8 client bytes; the encoder
    /// uses [`CommandError::write_resp`], which is exact.
    pub fn resp_text(&self) -> Cow<'_, str> {
        let mut out = Vec::new();
        self.write_resp_text(&mut out);
        match String::from_utf8(out) {
            Ok(text) => Cow::Owned(text),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }

    /// The line-protocol error line, without the trailing newline:
    /// `ERROR <short reason>`.
    pub fn line_text(&self) -> &'static str {
        match self {
            CommandError::UnknownCommand(_) => "ERROR unknown command",
            CommandError::UnknownSubcommand(_) => "ERROR unknown subcommand",
            CommandError::WrongArity { .. } => "ERROR wrong number of arguments",
            CommandError::Syntax | CommandError::HelloSyntax(_) => "ERROR syntax error",
            CommandError::NotAnInteger | CommandError::HelloVersionNotInteger => {
                "ERROR not an integer"
            }
            CommandError::Overflow | CommandError::DecrementOverflow => "ERROR integer overflow",
            CommandError::InvalidExpireTime { .. } => "ERROR invalid expire time",
            CommandError::UnsupportedOption(_) => "ERROR unsupported option",
            CommandError::ExpireNxConflict | CommandError::ExpireGtLtConflict => {
                "ERROR incompatible options"
            }
            CommandError::DbIndexOutOfRange => "ERROR DB index is out of range",
            CommandError::InvalidClientName => "ERROR invalid client name",
            CommandError::NoProto => "ERROR unsupported protocol version",
            CommandError::OutOfMemory => "ERROR out of memory",
            CommandError::KeyTooLong => "ERROR key too long",
            CommandError::ValueTooLarge => "ERROR value too large",
            CommandError::StringTooLong => "ERROR string too long",
            CommandError::LineTooLong => "ERROR line too long",
            CommandError::ValueHasNewline => {
                "ERROR value contains a newline and cannot be sent as one line; read it over RESP"
            }
            CommandError::Protocol(_) => "ERROR protocol error",
            CommandError::NoAuth | CommandError::HelloNoAuth => "ERROR authentication required",
            CommandError::WrongPass => "ERROR invalid password",
            CommandError::NoPasswordConfigured => "ERROR no password is set",
            CommandError::NoPermCommand { .. } => "ERROR no permission to run this command",
            CommandError::NoPermKey => "ERROR no permission to access this key",
            CommandError::Acl(_) => "ERROR acl error",
            CommandError::Config(_) => "ERROR config error",
            CommandError::Client(_) => "ERROR client error",
            CommandError::Strings(e) => e.line_text(),
            CommandError::NoSuchKey => "ERROR no such key",
            CommandError::SameObject => "ERROR source and destination are the same",
            CommandError::InvalidCursor => "ERROR invalid cursor",
            CommandError::Fixed(_) => "ERROR command refused",
        }
    }

    /// The error's code, the first word of its RESP text (`ERR`, `OOM`,
    /// `NOPERM`, ...), by which INFO errorstats counts errors as Redis does;
    /// an index into [`ERROR_CODES`].
    pub fn code(&self) -> usize {
        let code = match self {
            CommandError::OutOfMemory => "OOM",
            CommandError::NoAuth | CommandError::HelloNoAuth => "NOAUTH",
            CommandError::WrongPass => "WRONGPASS",
            CommandError::NoPermCommand { .. } | CommandError::NoPermKey => "NOPERM",
            CommandError::NoProto => "NOPROTO",
            CommandError::Fixed(text) => text.split(' ').next().unwrap_or("ERR"),
            _ => "ERR",
        };
        ERROR_CODES.iter().position(|&c| c == code).unwrap_or(0)
    }

    /// Appends the whole RESP error reply: `-<text>\r\n`.
    pub fn write_resp(&self, out: &mut Vec<u8>) {
        out.push(b'-');
        self.write_resp_text(out);
        out.extend_from_slice(b"\r\n");
    }

    /// Appends the whole line-protocol error reply: `ERROR <reason>\n`.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.line_text().as_bytes());
        out.push(b'\n');
    }

    fn write_resp_text(&self, out: &mut Vec<u8>) {
        let fixed: &str = match self {
            CommandError::UnknownCommand(text)
            | CommandError::UnknownSubcommand(text)
            | CommandError::UnsupportedOption(text)
            | CommandError::HelloSyntax(text)
            | CommandError::Acl(text)
            | CommandError::Config(text)
            | CommandError::Client(text) => {
                out.extend_from_slice(b"ERR ");
                out.extend_from_slice(text);
                return;
            }
            CommandError::WrongArity { command } => {
                out.extend_from_slice(b"ERR wrong number of arguments for '");
                out.extend_from_slice(command.as_bytes());
                out.extend_from_slice(b"' command");
                return;
            }
            CommandError::NoPermCommand { command } => {
                out.extend_from_slice(b"NOPERM this user has no permissions to run the '");
                out.extend_from_slice(command.as_bytes());
                out.extend_from_slice(b"' command");
                return;
            }
            CommandError::InvalidExpireTime { command } => {
                out.extend_from_slice(b"ERR invalid expire time in '");
                out.extend_from_slice(command.as_bytes());
                out.extend_from_slice(b"' command");
                return;
            }
            CommandError::Protocol(ProtocolError::ExpectedDollar(byte)) => {
                out.extend_from_slice(b"ERR Protocol error: expected '$', got '");
                // Redis formats the byte with `%c` into a C string: a NUL
                // ends the message there, CR/LF become spaces.
                match byte {
                    0 => return,
                    b'\r' | b'\n' => out.push(b' '),
                    b => out.push(*b),
                }
                out.push(b'\'');
                return;
            }
            CommandError::Strings(e) => e.resp_text(),
            CommandError::Syntax => "ERR syntax error",
            CommandError::NotAnInteger => "ERR value is not an integer or out of range",
            CommandError::Overflow => "ERR increment or decrement would overflow",
            CommandError::DecrementOverflow => "ERR decrement would overflow",
            CommandError::ExpireNxConflict => {
                "ERR NX and XX, GT or LT options at the same time are not compatible"
            }
            CommandError::ExpireGtLtConflict => {
                "ERR GT and LT options at the same time are not compatible"
            }
            CommandError::DbIndexOutOfRange => "ERR DB index is out of range",
            CommandError::InvalidClientName => {
                "ERR Client names cannot contain spaces, newlines or special characters."
            }
            CommandError::NoProto => "NOPROTO unsupported protocol version",
            CommandError::HelloVersionNotInteger => {
                "ERR Protocol version is not an integer or out of range"
            }
            CommandError::OutOfMemory => "OOM command not allowed when used memory > 'maxmemory'.",
            CommandError::KeyTooLong => "ERR key too long",
            CommandError::ValueTooLarge => "ERR value too large",
            CommandError::StringTooLong => {
                "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
            }
            CommandError::LineTooLong => "ERR line too long",
            CommandError::ValueHasNewline => "ERR value contains a newline",
            CommandError::NoAuth => "NOAUTH Authentication required.",
            CommandError::HelloNoAuth => {
                "NOAUTH HELLO must be called with the client already authenticated, otherwise \
                 the HELLO AUTH <user> <pass> option can be used to authenticate the client and \
                 select the RESP protocol version at the same time"
            }
            CommandError::WrongPass => {
                "WRONGPASS invalid username-password pair or user is disabled."
            }
            CommandError::NoPasswordConfigured => {
                "ERR AUTH <password> called without any password configured for the default \
                 user. Are you sure your configuration is correct?"
            }
            CommandError::NoPermKey => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
            }
            CommandError::NoSuchKey => "ERR no such key",
            CommandError::SameObject => "ERR source and destination objects are the same",
            CommandError::InvalidCursor => "ERR invalid cursor",
            CommandError::Fixed(text) => text,
            CommandError::Protocol(p) => match p {
                ProtocolError::InvalidMultibulkLength => {
                    "ERR Protocol error: invalid multibulk length"
                }
                ProtocolError::InvalidBulkLength => "ERR Protocol error: invalid bulk length",
                ProtocolError::MissingBulkCrlf => {
                    "ERR Protocol error: bulk string not followed by CRLF"
                }
                ProtocolError::TooBigInlineRequest => "ERR Protocol error: too big inline request",
                ProtocolError::UnbalancedQuotes => {
                    "ERR Protocol error: unbalanced quotes in request"
                }
                ProtocolError::ExpectedDollar(_) => unreachable!("handled above"),
            },
        };
        out.extend_from_slice(fixed.as_bytes());
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.resp_text())
    }
}

impl From<ProtocolError> for CommandError {
    fn from(error: ProtocolError) -> CommandError {
        CommandError::Protocol(error)
    }
}

/// What C's `%.{max}s` prints of `bytes`: up to `max` bytes, stopping at the
/// first NUL.
fn c_str_prefix(bytes: &[u8], max: usize) -> &[u8] {
    let bytes = &bytes[..bytes.len().min(max)];
    match memchr::memchr(0, bytes) {
        Some(nul) => &bytes[..nul],
        None => bytes,
    }
}

/// Redis's `addReplyErrorFormat` treatment of a message quoting client bytes:
/// trailing CR/LF trimmed, inner ones turned into spaces.
fn format_quoted(prefix: &[u8], arg: &[u8], suffix: &[u8]) -> Box<[u8]> {
    let mut text = Vec::with_capacity(prefix.len() + arg.len().min(QUOTE_MAX) + suffix.len());
    text.extend_from_slice(prefix);
    // Redis quotes the whole argument here; the cap only bounds memory.
    text.extend_from_slice(c_str_prefix(arg, 4 * QUOTE_MAX));
    text.extend_from_slice(suffix);
    while text.last().is_some_and(|b| matches!(b, b'\r' | b'\n')) {
        text.pop();
    }
    map_newlines(&mut text);
    text.into_boxed_slice()
}

/// Replaces CR and LF with spaces so a message cannot break RESP framing.
fn map_newlines(text: &mut [u8]) {
    for b in text.iter_mut() {
        if matches!(*b, b'\r' | b'\n') {
            *b = b' ';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(e: &CommandError) -> Vec<u8> {
        let mut out = Vec::new();
        e.write_resp(&mut out);
        out
    }

    /// INFO errorstats' code is the first word of the text the client got.
    #[test]
    fn error_code_is_the_first_word_of_the_resp_text() {
        let errors = [
            CommandError::Syntax,
            CommandError::OutOfMemory,
            CommandError::NoAuth,
            CommandError::HelloNoAuth,
            CommandError::WrongPass,
            CommandError::NoPermCommand { command: "get" },
            CommandError::NoPermKey,
            CommandError::NoProto,
            CommandError::NoSuchKey,
            CommandError::Fixed("ERR something"),
            CommandError::Protocol(ProtocolError::InvalidBulkLength),
            CommandError::unknown_command(b"foo", [&b"a"[..]]),
        ];
        for e in errors {
            let text = resp(&e);
            let word = text[1..].split(|&b| b == b' ').next().unwrap();
            assert_eq!(ERROR_CODES[e.code()].as_bytes(), word, "{e:?}");
        }
    }

    #[test]
    fn unknown_command_matches_redis_format() {
        let e = CommandError::unknown_command(b"foo", [&b"a"[..], b"b"]);
        assert_eq!(resp(&e), b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n");
        let e = CommandError::unknown_command(b"foo", []);
        assert_eq!(resp(&e), b"-ERR unknown command 'foo', with args beginning with: \r\n");
        assert_eq!(e.line_text(), "ERROR unknown command");
    }

    #[test]
    fn unknown_command_truncates_like_redis() {
        let long = vec![b'x'; 300];
        let e = CommandError::unknown_command(&long, [&long[..], b"never"]);
        let mut expected = b"-ERR unknown command '".to_vec();
        expected.extend_from_slice(&long[..128]);
        expected.extend_from_slice(b"', with args beginning with: '");
        expected.extend_from_slice(&long[..128]);
        expected.extend_from_slice(b"' \r\n");
        assert_eq!(resp(&e), expected);

        // The second argument gets only what is left of the 128 bytes.
        let a = [b'a'; 100];
        let b = [b'b'; 100];
        let e = CommandError::unknown_command(b"x", [&a[..], &b[..], b"c"]);
        let mut expected = b"-ERR unknown command 'x', with args beginning with: '".to_vec();
        expected.extend_from_slice(&a);
        expected.extend_from_slice(b"' '");
        expected.extend_from_slice(&b[..128 - 103]);
        expected.extend_from_slice(b"' \r\n");
        assert_eq!(resp(&e), expected);
    }

    #[test]
    fn unknown_command_sanitises_bytes() {
        let e = CommandError::unknown_command(b"a\r\nb", [&b"x\0y"[..]]);
        assert_eq!(resp(&e), b"-ERR unknown command 'a  b', with args beginning with: 'x' \r\n");
    }

    #[test]
    fn fixed_texts() {
        let cases: &[(CommandError, &[u8], &str)] = &[
            (
                CommandError::WrongArity { command: "get" },
                b"-ERR wrong number of arguments for 'get' command\r\n",
                "ERROR wrong number of arguments",
            ),
            (CommandError::Syntax, b"-ERR syntax error\r\n", "ERROR syntax error"),
            (
                CommandError::NotAnInteger,
                b"-ERR value is not an integer or out of range\r\n",
                "ERROR not an integer",
            ),
            (
                CommandError::Overflow,
                b"-ERR increment or decrement would overflow\r\n",
                "ERROR integer overflow",
            ),
            (
                CommandError::DecrementOverflow,
                b"-ERR decrement would overflow\r\n",
                "ERROR integer overflow",
            ),
            (
                CommandError::InvalidExpireTime { command: "set" },
                b"-ERR invalid expire time in 'set' command\r\n",
                "ERROR invalid expire time",
            ),
            (
                CommandError::DbIndexOutOfRange,
                b"-ERR DB index is out of range\r\n",
                "ERROR DB index is out of range",
            ),
            (
                CommandError::InvalidClientName,
                b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
                "ERROR invalid client name",
            ),
            (
                CommandError::OutOfMemory,
                b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
                "ERROR out of memory",
            ),
            (
                CommandError::NoProto,
                b"-NOPROTO unsupported protocol version\r\n",
                "ERROR unsupported protocol version",
            ),
            (CommandError::KeyTooLong, b"-ERR key too long\r\n", "ERROR key too long"),
            (CommandError::ValueTooLarge, b"-ERR value too large\r\n", "ERROR value too large"),
            (
                CommandError::StringTooLong,
                b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
                "ERROR string too long",
            ),
            (CommandError::LineTooLong, b"-ERR line too long\r\n", "ERROR line too long"),
            (
                CommandError::ValueHasNewline,
                b"-ERR value contains a newline\r\n",
                "ERROR value contains a newline and cannot be sent as one line; read it over RESP",
            ),
            (
                ProtocolError::InvalidMultibulkLength.into(),
                b"-ERR Protocol error: invalid multibulk length\r\n",
                "ERROR protocol error",
            ),
            (
                ProtocolError::InvalidBulkLength.into(),
                b"-ERR Protocol error: invalid bulk length\r\n",
                "ERROR protocol error",
            ),
            (
                ProtocolError::ExpectedDollar(b'x').into(),
                b"-ERR Protocol error: expected '$', got 'x'\r\n",
                "ERROR protocol error",
            ),
            (
                ProtocolError::TooBigInlineRequest.into(),
                b"-ERR Protocol error: too big inline request\r\n",
                "ERROR protocol error",
            ),
            (
                ProtocolError::UnbalancedQuotes.into(),
                b"-ERR Protocol error: unbalanced quotes in request\r\n",
                "ERROR protocol error",
            ),
            (
                CommandError::ExpireNxConflict,
                b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
                "ERROR incompatible options",
            ),
            (
                CommandError::ExpireGtLtConflict,
                b"-ERR GT and LT options at the same time are not compatible\r\n",
                "ERROR incompatible options",
            ),
            (
                CommandError::HelloVersionNotInteger,
                b"-ERR Protocol version is not an integer or out of range\r\n",
                "ERROR not an integer",
            ),
        ];
        for (error, resp_bytes, line) in cases {
            assert_eq!(resp(error), *resp_bytes, "{error:?}");
            assert_eq!(error.line_text(), *line, "{error:?}");
            let mut out = Vec::new();
            error.write_line(&mut out);
            assert_eq!(out, format!("{line}\n").as_bytes());
            assert_eq!(error.closes_connection(), matches!(error, CommandError::Protocol(_)));
        }
    }

    #[test]
    fn expected_dollar_quirks() {
        let nul = CommandError::from(ProtocolError::ExpectedDollar(0));
        assert_eq!(resp(&nul), b"-ERR Protocol error: expected '$', got '\r\n");
        let cr = CommandError::from(ProtocolError::ExpectedDollar(b'\r'));
        assert_eq!(resp(&cr), b"-ERR Protocol error: expected '$', got ' '\r\n");
    }

    #[test]
    fn quoted_option_texts() {
        assert_eq!(
            resp(&CommandError::unsupported_option(b"foo")),
            b"-ERR Unsupported option foo\r\n"
        );
        assert_eq!(
            resp(&CommandError::unsupported_option(b"a\nb\r\n")),
            b"-ERR Unsupported option a b\r\n"
        );
        assert_eq!(
            resp(&CommandError::hello_syntax(b"bad")),
            b"-ERR Syntax error in HELLO option 'bad'\r\n"
        );
        assert_eq!(
            resp(&CommandError::unknown_subcommand(b"config", b"foo")),
            b"-ERR unknown subcommand 'foo'. Try CONFIG HELP.\r\n"
        );
    }

    #[test]
    fn display_is_resp_text() {
        assert_eq!(CommandError::Syntax.to_string(), "ERR syntax error");
        assert_eq!(
            CommandError::unsupported_option(b"\xff").to_string(),
            "ERR Unsupported option \u{fffd}"
        );
    }

    #[test]
    fn stays_small() {
        assert!(std::mem::size_of::<CommandError>() <= 24);
    }
}
