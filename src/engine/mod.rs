//! The engine: runs commands against the store and writes their replies.
//!
//! It sits between the wire and the store. The server hands it one parsed
//! [`Command`] at a time, with the connection's [`Session`] and an
//! [`Output`] to write into; the engine carries out the command's
//! semantics (Redis's, for RESP; the seed's, for the line protocol) and
//! emits [`Reply`] values that the protocol
//! encodes in the session's dialect. It never touches a socket and never
//! asks which protocol it speaks, so its tests drive it with a `Vec<u8>`.
//!
//! - [`execute`]: the commands, one arm each.
//! - [`info`]: INFO/STATS sections and CONFIG GET, from one
//!   [`Snapshot`].
//! - [`output`]: the seam replies go through.
//! - `strings`: the string commands GETRANGE ... BITPOS.
//! - `acl`: AUTH, HELLO's AUTH and the ACL subcommands. Whether a command
//!   may run at all is decided once, before its arm, by
//!   [`Access::authorize`] (see [`crate::acl`]).
//!
//! Every reply is given room *before* it is written. Where the size is
//! only known once the value is found (GET, MGET, SET ... GET), the room
//! is taken inside the store's read callback; if there is none, nothing
//! irreversible has happened yet and [`Flow::NeedRoom`] tells the
//! connection to flush, wait for memory, and run the command again.

mod acl;
mod context;
pub mod execute;
pub mod info;
mod introspection;
mod keyspace;
pub mod output;
mod strings;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::acl::{Access, User};
use crate::memory::Budget;
use crate::metrics::{LocalCounters, ServerStats, Snapshot};
use crate::protocol::{Command, Dialect, Reply};
use crate::store::Store;

pub use info::Settings;
pub use output::{Output, Replies};

/// What the connection does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next request.
    Continue,
    /// Flush the output and close the connection.
    Close,
    /// Nothing was done: flush, wait until the output can grow by this many
    /// bytes, then run the same command again.
    NeedRoom(usize),
}

/// What one connection carries from command to command.
#[derive(Debug)]
pub struct Session {
    /// The protocol replies are encoded in; `HELLO` moves it between
    /// RESP2 and RESP3.
    pub dialect: Dialect,
    /// The connection's id (CLIENT ID).
    pub id: u64,
    /// The name CLIENT SETNAME gave it. Boxed twice: a thin pointer keeps
    /// every session, and so every idle connection, 8 bytes smaller (the
    /// room `user` takes), and few clients set a name.
    pub name: Option<Box<Box<[u8]>>>,
    /// Who the connection authenticated as (`None`: nobody yet; never
    /// consulted when no password or ACL is configured). Shared with the
    /// users table, so a session pays 8 bytes for it.
    pub user: Option<Arc<User>>,
    /// Whether replies are sent (`CLIENT REPLY`).
    pub replies: ReplyMode,
    /// `CLIENT NO-EVICT on`: never closed for holding buffer memory that
    /// other clients wait for (see `crate::server::holders`).
    pub no_evict: bool,
}

/// `CLIENT REPLY ON|OFF|SKIP`, as Redis keeps it: OFF drops every reply
/// until ON; SKIP drops the reply of the one command after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent.
    On,
    /// No reply is sent, errors included, until `CLIENT REPLY ON`.
    Off,
    /// `CLIENT REPLY SKIP` just ran: the next command's reply is dropped.
    SkipNext,
    /// This command's reply is dropped.
    Skip,
}

impl Session {
    /// A fresh session speaking `dialect`.
    pub fn new(id: u64, dialect: Dialect) -> Session {
        Session { dialect, id, name: None, user: None, replies: ReplyMode::On, no_evict: false }
    }

    /// Whether a reply written now reaches the client (`CLIENT REPLY`).
    pub fn replies_wanted(&self) -> bool {
        matches!(self.replies, ReplyMode::On | ReplyMode::SkipNext)
    }
}

/// The state every command may read or change.
pub struct Engine {
    /// The cache.
    pub store: Arc<Store>,
    /// The memory budget (for INFO and the metrics).
    pub budget: Arc<Budget>,
    /// Process counters.
    pub stats: ServerStats,
    /// Settings shown by INFO and CONFIG GET.
    pub settings: Settings,
    /// Users, passwords and the authorization check.
    pub access: Arc<Access>,
}

impl Engine {
    /// An engine over the budget's store.
    pub fn new(budget: Arc<Budget>, settings: Settings) -> Engine {
        Engine {
            store: budget.store().clone(),
            budget,
            stats: ServerStats::default(),
            settings,
            access: Arc::new(Access::default()),
        }
    }

    /// The same engine, checking commands against `access`.
    pub fn with_access(self, access: Arc<Access>) -> Engine {
        Engine { access, ..self }
    }

    /// Runs `command` for `session`, counting it in `counters` (which
    /// the caller merges into [`ServerStats`]: a worker keeps one set for
    /// all its connections) and appending its reply to `out`.
    pub fn execute<O: Output + ?Sized>(
        &self,
        command: &Command<'_>,
        session: &mut Session,
        counters: &mut LocalCounters,
        out: &mut O,
    ) -> Flow {
        execute::execute(self, command, session, counters, out)
    }

    /// Appends one reply outside any command (a parse error, a refusal)
    /// in the session's dialect; false if there is no room for it.
    pub fn send<O: Output + ?Sized>(session: &Session, out: &mut O, reply: &Reply<'_>) -> bool {
        !session.replies_wanted() || Replies::new(out, session.dialect).send(reply)
    }

    /// Every number INFO and `/metrics` report, read now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::take(&self.stats, &self.budget, self.settings.hard_limit)
    }
}
