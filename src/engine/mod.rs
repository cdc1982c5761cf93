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
//! - [`info`]: INFO/STATS sections, from one [`Snapshot`].
//! - [`slowlog`]: SLOWLOG and the entries it shows.
//! - `config`: CONFIG GET and SET; [`live`]: the settings CONFIG SET
//!   changes while the server runs.
//! - [`output`]: the seam replies go through.
//! - [`clients`]: CLIENT LIST, INFO and KILL, over each connection's
//!   [`ClientRecord`] and the server's [`ClientDirectory`].
//! - `strings`: the string commands GETRANGE ... BITPOS.
//! - [`transaction`]: MULTI, EXEC, DISCARD, WATCH, UNWATCH; and
//!   [`exclusive`], how EXEC runs while no other command does.
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
pub mod clients;
mod config;
mod context;
pub mod exclusive;
pub mod execute;
pub mod info;
mod introspection;
mod keyspace;
pub mod live;
pub mod output;
pub mod slowlog;
mod strings;
pub mod transaction;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::acl::{Access, User};
use crate::memory::Budget;
use crate::metrics::{LocalCounters, ServerStats, Snapshot};
use crate::protocol::{Command, CommandError, Dialect, Reply};
use crate::store::Store;

pub use clients::{ClientDirectory, ClientRecord};
pub use exclusive::{Exclusive, Gates, Turn};
pub use info::Settings;
pub use live::Live;
pub use output::{Output, Replies};
pub use transaction::{Request, Transaction};

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
    /// What CLIENT LIST shows of the connection: its id, addresses and
    /// name among them (shared with the server's connection table).
    pub client: Arc<ClientRecord>,
    /// Who the connection authenticated as (`None`: nobody yet; never
    /// consulted when no password or ACL is configured). Shared with the
    /// users table, so a session pays 8 bytes for it.
    pub user: Option<Arc<User>>,
    /// Whether replies are sent (`CLIENT REPLY`).
    pub replies: ReplyMode,
    /// `CLIENT NO-EVICT on`: never closed for holding buffer memory that
    /// other clients wait for (see `crate::server::holders`).
    pub no_evict: bool,
    /// The current (then: the last) command, as
    /// [`clients::command_code`] encodes it.
    pub command: u16,
    /// Bytes of the read batch not yet consumed when the current command
    /// started, this command's included (CLIENT INFO's `qbuf`).
    pub unparsed: u32,
    /// MULTI's queue and WATCH's keys, while there are any (boxed: an
    /// idle connection pays 8 bytes for it).
    pub transaction: Option<Box<Transaction>>,
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
    /// A fresh session of connection `id`, without a socket, speaking
    /// `dialect`.
    pub fn new(id: u64, dialect: Dialect) -> Session {
        Session::of(Arc::new(ClientRecord::detached(id)), dialect)
    }

    /// A fresh session of the connection `client` describes.
    pub fn of(client: Arc<ClientRecord>, dialect: Dialect) -> Session {
        client.set_dialect(dialect);
        let replies = ReplyMode::On;
        Session {
            dialect,
            client,
            user: None,
            replies,
            no_evict: false,
            command: 0,
            unparsed: 0,
            transaction: None,
        }
    }

    /// The connection's id (CLIENT ID).
    pub fn id(&self) -> u64 {
        self.client.id
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
    /// SLOWLOG's entries (the connections log into it).
    pub slowlog: slowlog::SlowLog,
    /// The open connections (CLIENT LIST, CLIENT KILL).
    pub clients: Arc<dyn ClientDirectory>,
    /// The worker threads' gates, which EXEC takes to run alone.
    pub gates: Gates,
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
            slowlog: slowlog::SlowLog::default(),
            clients: Arc::new(clients::NoClients::default()),
            gates: Gates::default(),
        }
    }

    /// The same engine, seeing the connections of `clients`.
    pub fn with_clients(self, clients: Arc<dyn ClientDirectory>) -> Engine {
        Engine { clients, ..self }
    }

    /// The same engine, checking commands against `access`.
    pub fn with_access(self, access: Arc<Access>) -> Engine {
        Engine { access, ..self }
    }

    /// Runs `command` for `session`, counting it in `counters` (which
    /// the caller merges into [`ServerStats`]: a worker keeps one set for
    /// all its connections) and appending its reply to `out`. Without the
    /// request's bytes, a command sent after MULTI cannot be queued (it is
    /// refused): connections use [`Engine::request`].
    pub fn execute<O: Output + ?Sized>(
        &self,
        command: &Command<'_>,
        session: &mut Session,
        counters: &mut LocalCounters,
        out: &mut O,
    ) -> Flow {
        execute::execute(self, command, session, counters, out, None)
    }

    /// [`Engine::execute`] for a request as it arrived: what a transaction
    /// queues, and how EXEC runs alone.
    pub fn request<O: Output + ?Sized>(
        &self,
        command: &Command<'_>,
        mut request: Request<'_>,
        session: &mut Session,
        counters: &mut LocalCounters,
        out: &mut O,
    ) -> Flow {
        execute::execute(self, command, session, counters, out, Some(&mut request))
    }

    /// Answers a request the parser refused with `error` (`raw`: its
    /// bytes, when it was read whole), counting it; inside a transaction
    /// it is queued or discards the transaction instead (see
    /// [`transaction`]). `Err(n)`: no room, nothing done; run it again
    /// once the output can grow by `n` bytes.
    pub fn refused<O: Output + ?Sized>(
        &self,
        error: CommandError,
        raw: Option<&[u8]>,
        session: &mut Session,
        counters: &mut LocalCounters,
        out: &mut O,
    ) -> Result<(), usize> {
        let counted = error.clone();
        if transaction::refused(self, error, raw, session, out)? {
            counters.invalid(&counted);
        }
        Ok(())
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
