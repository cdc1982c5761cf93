//! The ACL file: Redis's format, in the subset capkv implements.
//!
//! One user per line, `user <name> <rule> <rule> ...`; blank lines are
//! skipped, and so (unlike Redis) are lines starting with `#`. Rules, as
//! Redis's `ACL SETUSER` reads them, case-insensitive where Redis is:
//!
//! | rule | effect |
//! |---|---|
//! | `on`, `off` | the user may (not) authenticate |
//! | `>password`, `<password` | add / remove a password (kept as SHA-256) |
//! | `#<sha256hex>`, `!<sha256hex>` | add / remove a password by its digest |
//! | `nopass` | any password authenticates; `resetpass`: none does |
//! | `~pattern`, `allkeys` (`~*`), `resetkeys` | keys the user may touch (Redis globs) |
//! | `+@category`, `-@category`, `allcommands` (`+@all`), `nocommands` (`-@all`) | command categories |
//! | `+command`, `-command` | one command family |
//! | `reset` | `resetpass resetkeys resetchannels off -@all` |
//! | `allchannels` (`&*`), `resetchannels`, `sanitize-payload`, `skip-sanitize-payload`, `clearselectors` | accepted for files Redis wrote; no effect |
//!
//! What Redis has and this refuses, each with a reason in the error:
//! selectors (`(...)`), read/write key permissions (`%R~`, `%W~`),
//! pub/sub channel patterns (`&chan*`; capkv has no pub/sub), and
//! subcommand rules (`+config|get`; permissions are per family).
//!
//! Errors name the file, the line and the reason (Redis's reason texts
//! where Redis has one): `users.acl:3: Unknown command or category name in
//! ACL`. The first error refuses the whole file, as Redis refuses to load
//! a file with any error.

use super::password::Digest;
use super::{CommandSet, User, category, command_by_name};

/// Why the users could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// A file could not be read.
    #[error("{file}: {reason}")]
    Io {
        /// The file's path.
        file: String,
        /// What went wrong.
        reason: String,
    },
    /// A line of the ACL file is invalid.
    #[error("{file}:{line}: {reason}")]
    Line {
        /// The file's path.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// More than one source of users was given.
    #[error(
        "--requirepass, --requirepass-file and --aclfile exclude each other: \
         give the default user's password in the ACL file (user default on >password ~* +@all)"
    )]
    Conflict,
    /// `--requirepass ""`.
    #[error("--requirepass: the password is empty")]
    EmptyPassword,
}

/// Parses an ACL file's bytes (`file` names it in errors).
pub fn parse_users(file: &str, text: &[u8]) -> Result<Vec<User>, AclError> {
    let mut users: Vec<User> = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let error = |reason: String| AclError::Line { file: file.to_string(), line: i + 1, reason };
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let mut words = line.split(|b| b.is_ascii_whitespace()).filter(|w| !w.is_empty());
        let (Some(b"user"), Some(name)) = (words.next(), words.next()) else {
            return Err(error("should start with user keyword followed by the username".into()));
        };
        if name.contains(&0) {
            return Err(error(format!(
                "username '{}' contains invalid characters",
                String::from_utf8_lossy(name)
            )));
        }
        if users.iter().any(|u| *u.name == *name) {
            return Err(error(format!("Duplicate user '{}' found", String::from_utf8_lossy(name))));
        }
        let mut user = User::new(name);
        for rule in words {
            apply(&mut user, rule).map_err(|reason| {
                error(format!("Error in rule '{}': {reason}", String::from_utf8_lossy(rule)))
            })?;
        }
        users.push(user);
    }
    Ok(users)
}

const UNKNOWN: &str = "Unknown command or category name in ACL";
const BAD_HASH: &str = "The password hash must be exactly 64 characters and contain only \
                        lowercase hexadecimal characters";
const NO_SUCH_PASSWORD: &str = "The password you are trying to remove from the user does not exist";
const AFTER_ALLKEYS: &str = "Adding a pattern after the * pattern (or the 'allkeys' flag) is not \
                             valid and does not have any effect. Try 'resetkeys' to start with an \
                             empty list of patterns";

/// Applies one rule to `user` (Redis's `ACLSetUser`), or says why not.
pub fn apply(user: &mut User, rule: &[u8]) -> Result<(), String> {
    let is = |word: &str| rule.eq_ignore_ascii_case(word.as_bytes());
    if rule.is_empty() {
        return Ok(());
    }
    if is("on") {
        user.enabled = true;
    } else if is("off") {
        user.enabled = false;
    } else if is("nopass") {
        user.nopass = true;
        user.passwords.clear();
    } else if is("resetpass") {
        user.nopass = false;
        user.passwords.clear();
    } else if is("allkeys") || is("~*") {
        user.all_keys = true;
        user.patterns.clear();
    } else if is("resetkeys") {
        user.all_keys = false;
        user.patterns.clear();
    } else if is("allchannels") || is("&*") {
        user.all_channels = true;
    } else if is("resetchannels") {
        user.all_channels = false;
    } else if is("allcommands") || is("+@all") {
        user.commands = CommandSet::all();
        user.all_commands = true;
    } else if is("nocommands") || is("-@all") {
        user.commands = CommandSet::default();
        user.all_commands = false;
    } else if is("reset") {
        for step in ["resetpass", "resetkeys", "resetchannels", "off", "-@all"] {
            apply(user, step.as_bytes())?;
        }
    } else if is("sanitize-payload") || is("skip-sanitize-payload") || is("clearselectors") {
        // Redis's RESTORE payload checks and selectors: nothing to do here.
    } else {
        let (&first, rest) = rule.split_first().unwrap_or((&0, &[]));
        match first {
            b'>' | b'<' | b'#' | b'!' => {
                let digest = if matches!(first, b'>' | b'<') {
                    Digest::of(rest)
                } else {
                    Digest::from_hex(rest).ok_or(BAD_HASH)?
                };
                if matches!(first, b'>' | b'#') {
                    if !user.passwords.contains(&digest) {
                        user.passwords.push(digest);
                    }
                    user.nopass = false;
                } else {
                    let at = user.passwords.iter().position(|d| *d == digest);
                    user.passwords.remove(at.ok_or(NO_SUCH_PASSWORD)?);
                }
            }
            b'~' => {
                if user.all_keys {
                    return Err(AFTER_ALLKEYS.into());
                }
                if !user.patterns.iter().any(|p| **p == *rest) {
                    user.patterns.push(rest.into());
                }
            }
            b'%' => return Err("read/write key permissions (%R~, %W~) are not supported".into()),
            b'&' => return Err("pub/sub channel patterns are not supported (no pub/sub)".into()),
            b'(' => return Err("selectors are not supported".into()),
            b'+' | b'-' => {
                let allow = first == b'+';
                if let Some(name) = rest.strip_prefix(b"@") {
                    let flags = category(name).ok_or(UNKNOWN)?;
                    let members = CommandSet::with_flags(flags);
                    if allow {
                        user.commands.add(members);
                    } else {
                        user.commands.subtract(members);
                    }
                } else if rest.contains(&b'|') {
                    return Err(
                        "subcommand rules are not supported (permissions are per command)".into()
                    );
                } else {
                    let id = command_by_name(rest).ok_or(UNKNOWN)?;
                    if allow {
                        user.commands.insert(id);
                    } else {
                        user.commands.remove(id);
                    }
                }
            }
            _ => return Err("Syntax error".into()),
        }
    }
    Ok(())
}
