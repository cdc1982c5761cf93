//! AUTH, HELLO's AUTH option and the ACL subcommands: the engine's side
//! of [`crate::acl`], with Redis 7.0's replies.
//!
//! Failed authentications are counted (INFO's `acl_access_denied_auth`,
//! `/metrics`' `capkv_auth_failures_total`) and logged at warn level with
//! the user name and connection id, never the password; the log is
//! limited to one line per second so that a client guessing passwords
//! cannot flood it (the counter counts every attempt).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::acl::{CATEGORIES, CommandSet, Source, User, category};
use crate::protocol::{AclSubcommand, Command, CommandError, CommandId, Reply};

use super::Flow;
use super::context::{Ctx, finish};
use super::output::Output;

/// Redis 7.0's `ACL HELP`, for the subcommands capkv implements.
const HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Print this help.",
];

/// Redis's answer to ACL LOAD without an ACL file.
const NO_ACL_FILE: &str = "This Redis instance is not configured to use an ACL file. You may \
                           want to specify users via the ACL SETUSER command and then issue a \
                           CONFIG REWRITE (assuming you have a Redis configuration file set) in \
                           order to store users in the Redis configuration.";

/// Counts a refusal by [`crate::acl::Access::authorize`] and hands the
/// error back to be answered.
pub(super) fn denied<O: Output + ?Sized>(
    error: CommandError,
    command: &Command<'_>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> CommandError {
    let stats = &ctx.engine.stats;
    match error {
        CommandError::NoPermCommand { .. } => {
            stats.acl_denied_command.fetch_add(1, Ordering::Relaxed);
        }
        CommandError::NoPermKey => {
            stats.acl_denied_key.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    }
    tracing::debug!(
        connection = ctx.session.id(),
        command = command.id().name(),
        error = %error,
        "command refused"
    );
    error
}

/// Counts and (at most once a second) logs a failed authentication.
fn failed<O: Output + ?Sized>(user: Option<&[u8]>, ctx: &mut Ctx<'_, '_, '_, O>) -> CommandError {
    static LAST_LOGGED: AtomicU64 = AtomicU64::new(0);
    let total = ctx.engine.stats.auth_failures.fetch_add(1, Ordering::Relaxed) + 1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if LAST_LOGGED.swap(now, Ordering::Relaxed) != now {
        let name = user.unwrap_or(b"default");
        let user = String::from_utf8_lossy(&name[..name.len().min(64)]).into_owned();
        tracing::warn!(
            connection = ctx.session.id(),
            user = %user,
            failures_total = total,
            "authentication failed (at most one such line per second)"
        );
    }
    CommandError::WrongPass
}

/// `AUTH [username] password`.
pub(super) fn auth<O: Output + ?Sized>(
    username: Option<&[u8]>,
    password: &[u8],
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let access = &*ctx.engine.access;
    if username.is_none() && access.default_is_nopass() {
        return Err(CommandError::NoPasswordConfigured);
    }
    match access.authenticate(username, password) {
        Some(user) => {
            ctx.session.client.set_user(&user.name);
            ctx.session.user = Some(user);
            Ok(finish(&mut ctx.out, &Reply::Ok))
        }
        None => Err(failed(username, ctx)),
    }
}

/// HELLO's `AUTH user pass`, then Redis 7.0's rule that HELLO needs an
/// authenticated connection.
pub(super) fn hello_auth<O: Output + ?Sized>(
    auth: Option<(&[u8], &[u8])>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<(), CommandError> {
    let access = &*ctx.engine.access;
    if let Some((username, password)) = auth {
        match access.authenticate(Some(username), password) {
            Some(user) => {
                ctx.session.client.set_user(&user.name);
                ctx.session.user = Some(user);
            }
            None => return Err(failed(Some(username), ctx)),
        }
    }
    if access.enforced() && ctx.session.user.is_none() {
        return Err(CommandError::HelloNoAuth);
    }
    Ok(())
}

/// Sends `lines` as an array of bulk strings (or of status lines).
fn send_lines<O: Output + ?Sized>(
    lines: &[impl AsRef<str>],
    status: bool,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Flow {
    let bound = 32 + lines.iter().map(|l| l.as_ref().len() + 32).sum::<usize>();
    if !ctx.out.try_room(bound) {
        return Flow::NeedRoom(bound);
    }
    ctx.out.push(&Reply::Array(lines.len()));
    for line in lines {
        let line = line.as_ref();
        ctx.out.push(&if status { Reply::Status(line) } else { Reply::Bulk(line.as_bytes()) });
    }
    Flow::Continue
}

/// The families in a set and their other members' names, in registry order.
fn names(set: CommandSet) -> Vec<&'static str> {
    CommandId::ALL
        .iter()
        .filter(|&&id| set.contains(id))
        .flat_map(|id| std::iter::once(id.name()).chain(id.spec().aliases.iter().copied()))
        .collect()
}

/// The ACL subcommands.
pub(super) fn acl<O: Output + ?Sized>(
    subcommand: &AclSubcommand<'_>,
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Result<Flow, CommandError> {
    let access = &*ctx.engine.access;
    Ok(match subcommand {
        AclSubcommand::WhoAmI => {
            let name = ctx.session.user.as_ref().map_or(&b"default"[..], |u| &u.name);
            let name = name.to_vec();
            finish(&mut ctx.out, &Reply::Bulk(&name))
        }
        AclSubcommand::Users => {
            let users = access.users();
            let lines: Vec<String> =
                users.iter().map(|u| String::from_utf8_lossy(&u.name).into_owned()).collect();
            send_lines(&lines, false, ctx)
        }
        AclSubcommand::List => {
            let users = access.users();
            let lines: Vec<String> = users
                .iter()
                .map(|u| format!("user {} {}", String::from_utf8_lossy(&u.name), u.describe()))
                .collect();
            send_lines(&lines, false, ctx)
        }
        AclSubcommand::Cat { category: None } => {
            let lines: Vec<&str> = CATEGORIES.iter().map(|(name, _)| *name).collect();
            send_lines(&lines, false, ctx)
        }
        AclSubcommand::Cat { category: Some(name) } => {
            let flags = category(name).ok_or_else(|| CommandError::unknown_category(name))?;
            send_lines(&names(CommandSet::with_flags(flags)), false, ctx)
        }
        AclSubcommand::Help => send_lines(HELP, true, ctx),
        AclSubcommand::Load => {
            if !matches!(access.source(), Source::AclFile(_)) {
                return Err(CommandError::acl(NO_ACL_FILE));
            }
            match access.reload() {
                Ok(_) => {
                    tracing::info!(connection = ctx.session.id(), "ACL LOAD: users reloaded");
                    finish(&mut ctx.out, &Reply::Ok)
                }
                Err(e) => {
                    tracing::error!(error = %e, "ACL LOAD failed; the previous users stay");
                    return Err(CommandError::acl(&e.to_string()));
                }
            }
        }
        AclSubcommand::DryRun { username, command, name } => {
            let users = access.users();
            let user = users.get(username).ok_or_else(|| CommandError::user_not_found(username))?;
            let command = match command {
                Ok(command) => command,
                Err(CommandError::UnknownCommand(_)) => {
                    return Err(CommandError::command_not_found(name));
                }
                Err(e) => return Err(e.clone()),
            };
            match access.dry_run(user, command) {
                Ok(()) => finish(&mut ctx.out, &Reply::Ok),
                Err(CommandError::NoPermCommand { command }) => {
                    let text =
                        format!("This user has no permissions to run the '{command}' command");
                    finish(&mut ctx.out, &Reply::Bulk(text.as_bytes()))
                }
                Err(_) => {
                    let key = denied_key(user, command);
                    let text = format!(
                        "This user has no permissions to access the '{}' key",
                        String::from_utf8_lossy(key)
                    );
                    finish(&mut ctx.out, &Reply::Bulk(text.as_bytes()))
                }
            }
        }
    })
}

/// The first key of `command` that `user` may not touch.
fn denied_key<'a>(user: &User, command: &Command<'a>) -> &'a [u8] {
    command.keys().find(|key| !user.may_access(key)).unwrap_or_default()
}
