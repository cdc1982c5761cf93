//! What every command's code shares, whichever module it lives in: the
//! context a command runs in ([`Ctx`]), sending a reply or asking for
//! room ([`finish`]), the store's errors as the client sees them
//! ([`store_error`]), and Redis's `HELP` reply ([`help`]). A module of its
//! own so that `execute` (the dispatch) and the modules it dispatches to
//! (`acl`, `keyspace`, `strings`) both depend on it and not on each other.

use crate::metrics::LocalCounters;
use crate::protocol::{CommandError, Reply};
use crate::store::StoreError;

use super::output::{Output, Replies};
use super::{Engine, Flow, Session};

/// Bytes of framing a bulk string may need beyond its payload.
pub(super) const BULK_FRAMING: usize = 32;

/// Everything one command may touch.
pub(super) struct Ctx<'e, 's, 'o, O: Output + ?Sized> {
    pub(super) engine: &'e Engine,
    pub(super) session: &'s mut Session,
    pub(super) counters: &'s mut LocalCounters,
    pub(super) out: Replies<'o, O>,
}

/// Sends `reply`, or asks for room for it.
pub(super) fn finish<O: Output + ?Sized>(out: &mut Replies<'_, O>, reply: &Reply<'_>) -> Flow {
    if out.send(reply) { Flow::Continue } else { Flow::NeedRoom(reply.size_bound()) }
}

/// A store refusal as the client's error.
pub(super) fn store_error(error: StoreError) -> CommandError {
    match error {
        StoreError::ItemTooLarge | StoreError::OutOfMemory => CommandError::OutOfMemory,
        StoreError::NotInteger => CommandError::NotAnInteger,
        StoreError::Overflow => CommandError::Overflow,
        StoreError::ValueTooLarge => CommandError::StringTooLong,
    }
}

/// Redis's `addReplyHelp`.
pub(super) fn help<O: Output + ?Sized>(
    container: &str,
    lines: &[&str],
    ctx: &mut Ctx<'_, '_, '_, O>,
) -> Flow {
    let header = format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    let footer = ["HELP", "    Prints this help."];
    let bound = BULK_FRAMING * (lines.len() + 4)
        + header.len()
        + lines.iter().chain(&footer).map(|l| l.len()).sum::<usize>();
    let out = &mut ctx.out;
    if !out.try_room(bound) {
        return Flow::NeedRoom(bound);
    }
    out.push(&Reply::Array(lines.len() + 3));
    out.push(&Reply::Status(&header));
    for line in lines.iter().chain(&footer) {
        out.push(&Reply::Status(line));
    }
    Flow::Continue
}
