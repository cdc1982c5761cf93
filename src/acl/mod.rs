//! Authentication and access control: who a connection is, and whether it
//! may run a command on its keys. Redis's model (users, passwords, command
//! categories, key patterns) in the subset a cache needs.
//!
//! - [`password`]: SHA-256 digests and their constant-time comparison.
//! - [`file`](mod@file): the ACL file parser (Redis's `user <name> <rule> ...` lines).
//! - this module: [`User`] (one user's rules), [`Users`] (the table), and
//!   [`Access`], the engine's state: the table behind a lock, where it
//!   came from (a password, a password file, an ACL file) and how to
//!   reload it, and [`Access::authorize`], the one place a command is
//!   checked before it runs.
//!
//! # Cost
//! Nothing configured (no password, no ACL file, no `--deny-dangerous`):
//! [`Access::enforced`] is false and the engine never calls
//! [`Access::authorize`], one branch on a bool per command. Otherwise a
//! session holds an `Arc<User>` (8 bytes) taken when it authenticates, and
//! a check is an atomic load (has the user been replaced?), a bit test in
//! a 128-bit command set and, for users with key patterns, a glob match
//! per key. No lock and no allocation per command: the table's lock is
//! taken to authenticate, for ACL commands, and once per session after a
//! reload.
//!
//! # Reloads
//! SIGHUP re-reads the password file or the ACL file ([`Access::reload`]);
//! a failure keeps the rules in force. The new table replaces the old one
//! whole and every old [`User`] is marked replaced: a session whose user
//! was replaced looks its user up again by name on its next command, and
//! carries on with the new rules (a changed password does not log anyone
//! out, as in Redis), or, when the user is gone or disabled, goes back to
//! being unauthenticated (Redis disconnects those clients; here they may
//! AUTH again).
//!
//! # Categories
//! The categories are the registry's [`Flags`], one each ([`CATEGORIES`]),
//! so a command's categories are whatever its registry entry says and no
//! second list of commands exists. Permissions are per command family (a
//! registry entry): `+incr` grants the INCRBY family, `incr`, `decr`,
//! `incrby` and `decrby` alike.

pub mod file;
pub mod password;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use crate::protocol::{Command, CommandError, CommandId, Flags, REGISTRY};
pub use file::{AclError, parse_users};
pub use password::Digest;

// The command set is a u128 indexed by `CommandId`.
const _: () = assert!(CommandId::ALL.len() <= 128, "CommandSet needs more bits");

/// The ACL categories, in the order Redis's `ACL CAT` lists them, each the
/// registry flag behind it. `@all` is not one of them (as in Redis): it is
/// every command.
pub const CATEGORIES: &[(&str, Flags)] = &[
    ("keyspace", Flags::KEYSPACE),
    ("read", Flags::READ),
    ("write", Flags::WRITE),
    ("admin", Flags::ADMIN),
    ("fast", Flags::FAST),
    ("dangerous", Flags::DANGEROUS),
    ("connection", Flags::CONNECTION),
    ("transaction", Flags::TRANSACTION),
];

/// The flag behind `@name` (case-insensitive), without the `@`.
pub fn category(name: &[u8]) -> Option<Flags> {
    CATEGORIES.iter().find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name)).map(|&(_, f)| f)
}

/// The family a command name (a family's name or one of its members',
/// case-insensitive) belongs to.
pub fn command_by_name(name: &[u8]) -> Option<CommandId> {
    CommandId::ALL.iter().copied().find(|id| {
        let spec = id.spec();
        spec.name.as_bytes().eq_ignore_ascii_case(name)
            || spec.aliases.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(name))
    })
}

/// A set of command families, one bit per [`CommandId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommandSet(u128);

impl CommandSet {
    /// Every family.
    pub fn all() -> CommandSet {
        CommandSet(if REGISTRY.len() == 128 { u128::MAX } else { (1u128 << REGISTRY.len()) - 1 })
    }

    /// The families whose flags include any of `flags`.
    pub fn with_flags(flags: Flags) -> CommandSet {
        let mut set = CommandSet::default();
        for &id in CommandId::ALL {
            if id.spec().flags.intersects(flags) {
                set.insert(id);
            }
        }
        set
    }

    /// True when `id` is in the set.
    pub fn contains(self, id: CommandId) -> bool {
        self.0 & (1 << id as u32) != 0
    }

    /// Adds `id`.
    pub fn insert(&mut self, id: CommandId) {
        self.0 |= 1 << id as u32;
    }

    /// Removes `id`.
    pub fn remove(&mut self, id: CommandId) {
        self.0 &= !(1 << id as u32);
    }

    /// Adds every family of `other`.
    pub fn add(&mut self, other: CommandSet) {
        self.0 |= other.0;
    }

    /// Removes every family of `other`.
    pub fn subtract(&mut self, other: CommandSet) {
        self.0 &= !other.0;
    }

    /// How many families of `other` are in the set.
    fn count_in(self, other: CommandSet) -> u32 {
        (self.0 & other.0).count_ones()
    }
}

/// One user's rules, as the ACL file (or `--requirepass`) defined them.
#[derive(Debug)]
pub struct User {
    /// The user's name.
    pub name: Box<[u8]>,
    /// `on`: the user may authenticate.
    pub enabled: bool,
    /// `nopass`: any password authenticates.
    pub nopass: bool,
    /// Digests of the passwords that authenticate.
    pub passwords: Vec<Digest>,
    /// The families the user may run.
    pub commands: CommandSet,
    /// Set by `+@all`/`allcommands` and cleared by `-@all`/`nocommands`:
    /// how `ACL LIST` describes the rules (`+@all ...` or `-@all ...`).
    pub all_commands: bool,
    /// `allkeys` / `~*`: every key.
    pub all_keys: bool,
    /// Key patterns (Redis globs) when not `all_keys`.
    pub patterns: Vec<Box<[u8]>>,
    /// `allchannels` / `&*` (shown by `ACL LIST`; capkv has no pub/sub).
    pub all_channels: bool,
    /// Set once a reload replaced this user (see the module docs).
    replaced: AtomicBool,
}

impl User {
    /// A user as Redis's `ACL SETUSER name` creates one: off, no password
    /// (so it cannot authenticate), no commands, no keys.
    pub fn new(name: &[u8]) -> User {
        User {
            name: name.into(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            commands: CommandSet::default(),
            all_commands: false,
            all_keys: false,
            patterns: Vec::new(),
            all_channels: false,
            replaced: AtomicBool::new(false),
        }
    }

    /// Redis's default user: `on nopass ~* &* +@all`.
    pub fn default_user() -> User {
        User {
            enabled: true,
            nopass: true,
            commands: CommandSet::all(),
            all_commands: true,
            all_keys: true,
            all_channels: true,
            ..User::new(b"default")
        }
    }

    /// True when a reload has replaced this user.
    pub fn is_replaced(&self) -> bool {
        self.replaced.load(Ordering::Relaxed)
    }

    /// True when `password` authenticates this (enabled) user. Every stored
    /// digest is compared, in constant time each.
    pub fn accepts(&self, password: &[u8]) -> bool {
        let digest = Digest::of(password);
        let mut ok = false;
        for known in &self.passwords {
            ok |= known.ct_eq(&digest);
        }
        self.enabled && (self.nopass || ok)
    }

    /// True when the user may touch `key`.
    pub fn may_access(&self, key: &[u8]) -> bool {
        self.all_keys || self.patterns.iter().any(|p| crate::glob::matches(p, key, false))
    }

    /// Why this user may not run `command` (ignoring `--deny-dangerous`).
    pub fn check(&self, command: &Command<'_>) -> Result<(), CommandError> {
        let id = command.id();
        let spec = id.spec();
        if !self.commands.contains(id) && !spec.flags.contains(Flags::NO_AUTH) {
            return Err(CommandError::NoPermCommand { command: spec.name });
        }
        if !self.all_keys && !command.keys().all(|key| self.may_access(key)) {
            return Err(CommandError::NoPermKey);
        }
        Ok(())
    }

    /// The rules in Redis's `ACL LIST` form, without `user <name> `:
    /// `on #<sha256> ~* &* +@all`.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        out.push_str(if self.enabled { "on " } else { "off " });
        if self.nopass {
            out.push_str("nopass ");
        }
        for digest in &self.passwords {
            out.push('#');
            out.push_str(&digest.hex());
            out.push(' ');
        }
        if self.all_keys {
            out.push_str("~* ");
        } else {
            for pattern in &self.patterns {
                out.push('~');
                out.push_str(&String::from_utf8_lossy(pattern));
                out.push(' ');
            }
        }
        out.push_str(if self.all_channels { "&* " } else { "resetchannels " });
        out.push_str(&self.describe_commands());
        out
    }

    /// Redis's `ACLDescribeSelectorCommandRules`: `+@all` or `-@all`, then
    /// categories chosen greedily (each one that agrees with the user on
    /// more families than it disagrees, fewest disagreements first), then
    /// single families to fix the rest.
    fn describe_commands(&self) -> String {
        let additive = !self.all_commands;
        let mut rules = String::from(if additive { "-@all" } else { "+@all" });
        let mut shown = if additive { CommandSet::default() } else { CommandSet::all() };
        let mut left = self.commands;
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best: Option<(usize, u32, u32)> = None;
            for (j, &(_, flags)) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let members = CommandSet::with_flags(flags);
                let on = left.count_in(members);
                let off = members.0.count_ones() - on;
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                let better = match best {
                    None => true,
                    Some((_, mindiff, maxsame)) => {
                        diff < mindiff || (diff == mindiff && same > maxsame)
                    }
                };
                if same > diff && better {
                    best = Some((j, diff, same));
                }
            }
            let Some((j, _, _)) = best else { break };
            let (name, flags) = CATEGORIES[j];
            let members = CommandSet::with_flags(flags);
            if additive {
                shown.add(members);
                left.subtract(members);
            } else {
                shown.subtract(members);
                left.add(members);
            }
            rules.push_str(if additive { " +@" } else { " -@" });
            rules.push_str(name);
            applied[j] = true;
        }
        for &id in CommandId::ALL {
            let (want, have) = (self.commands.contains(id), shown.contains(id));
            if want != have {
                rules.push_str(if want { " +" } else { " -" });
                rules.push_str(id.name());
            }
        }
        rules
    }
}

/// The users, by name (sorted, as Redis lists them).
#[derive(Debug)]
pub struct Users {
    by_name: BTreeMap<Box<[u8]>, Arc<User>>,
}

impl Users {
    /// A table of `users`, with Redis's default user added unless one of
    /// them is named `default`.
    pub fn new(users: impl IntoIterator<Item = User>) -> Users {
        let mut by_name: BTreeMap<Box<[u8]>, Arc<User>> =
            users.into_iter().map(|u| (u.name.clone(), Arc::new(u))).collect();
        by_name
            .entry(b"default".as_slice().into())
            .or_insert_with(|| Arc::new(User::default_user()));
        Users { by_name }
    }

    /// The user named `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Arc<User>> {
        self.by_name.get(name)
    }

    /// The `default` user (always present).
    pub fn default_user(&self) -> Option<&Arc<User>> {
        self.by_name.get(b"default".as_slice())
    }

    /// Every user, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<User>> {
        self.by_name.values()
    }

    fn mark_replaced(&self) {
        for user in self.by_name.values() {
            user.replaced.store(true, Ordering::Relaxed);
        }
    }
}

/// Where the users come from, which decides what a reload re-reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Nothing configured (or only `--deny-dangerous`): the default user.
    Default,
    /// `--requirepass`: fixed for the process's life.
    Password,
    /// `--requirepass-file`: re-read on SIGHUP.
    PasswordFile(PathBuf),
    /// `--aclfile`: re-read on SIGHUP and ACL LOAD.
    AclFile(PathBuf),
}

/// The authentication settings, as flags give them.
#[derive(Clone, Default)]
pub struct AuthConfig {
    /// `--requirepass`.
    pub requirepass: Option<String>,
    /// `--requirepass-file`.
    pub requirepass_file: Option<PathBuf>,
    /// `--aclfile`.
    pub aclfile: Option<PathBuf>,
    /// `--deny-dangerous`.
    pub deny_dangerous: bool,
}

impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field("requirepass", &self.requirepass.as_ref().map(|_| "<redacted>"))
            .field("requirepass_file", &self.requirepass_file)
            .field("aclfile", &self.aclfile)
            .field("deny_dangerous", &self.deny_dangerous)
            .finish()
    }
}

/// The engine's authentication state (see the module docs).
pub struct Access {
    enforced: bool,
    deny_dangerous: bool,
    source: Source,
    users: RwLock<Arc<Users>>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("enforced", &self.enforced)
            .field("deny_dangerous", &self.deny_dangerous)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Default for Access {
    /// Nothing configured: every client is the default user, unchecked.
    fn default() -> Access {
        Access {
            enforced: false,
            deny_dangerous: false,
            source: Source::Default,
            users: RwLock::new(Arc::new(Users::new([]))),
        }
    }
}

/// The default user with `password` as its only password.
fn password_user(password: &[u8]) -> User {
    User { nopass: false, passwords: vec![Digest::of(password)], ..User::default_user() }
}

/// A password file's content, one trailing newline (`\n` or `\r\n`)
/// stripped, as a Kubernetes Secret mounted as a file holds it.
pub fn read_password_file(path: &std::path::Path) -> Result<Vec<u8>, AclError> {
    let mut bytes = std::fs::read(path)
        .map_err(|e| AclError::Io { file: path.display().to_string(), reason: e.to_string() })?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(AclError::Io {
            file: path.display().to_string(),
            reason: "the password file is empty".into(),
        });
    }
    Ok(bytes)
}

impl Access {
    /// Builds the state `config` describes, reading its files.
    pub fn load(config: &AuthConfig) -> Result<Access, AclError> {
        let source = match (&config.requirepass, &config.requirepass_file, &config.aclfile) {
            (None, None, None) => Source::Default,
            (Some(_), None, None) => Source::Password,
            (None, Some(path), None) => Source::PasswordFile(path.clone()),
            (None, None, Some(path)) => Source::AclFile(path.clone()),
            _ => return Err(AclError::Conflict),
        };
        let users = match (&source, &config.requirepass) {
            (Source::Password, Some(password)) => {
                if password.is_empty() {
                    return Err(AclError::EmptyPassword);
                }
                Users::new([password_user(password.as_bytes())])
            }
            _ => Self::read(&source)?,
        };
        Ok(Access {
            enforced: source != Source::Default || config.deny_dangerous,
            deny_dangerous: config.deny_dangerous,
            source,
            users: RwLock::new(Arc::new(users)),
        })
    }

    /// The users `source` defines now.
    fn read(source: &Source) -> Result<Users, AclError> {
        Ok(match source {
            Source::Default | Source::Password => Users::new([]),
            Source::PasswordFile(path) => Users::new([password_user(&read_password_file(path)?)]),
            Source::AclFile(path) => {
                let text = std::fs::read(path).map_err(|e| AclError::Io {
                    file: path.display().to_string(),
                    reason: e.to_string(),
                })?;
                Users::new(parse_users(&path.display().to_string(), &text)?)
            }
        })
    }

    /// Re-reads the password file or the ACL file and puts its users in
    /// force; on error the old ones stay. `Ok(false)`: nothing to re-read.
    pub fn reload(&self) -> Result<bool, AclError> {
        if matches!(self.source, Source::Default | Source::Password) {
            return Ok(false);
        }
        let users = Arc::new(Self::read(&self.source)?);
        let old =
            std::mem::replace(&mut *self.users.write().unwrap_or_else(|e| e.into_inner()), users);
        old.mark_replaced();
        Ok(true)
    }

    /// True when commands are checked at all (see the module docs).
    pub fn enforced(&self) -> bool {
        self.enforced
    }

    /// Where the users come from.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// The users in force.
    pub fn users(&self) -> Arc<Users> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The user `name` (default: `default`) if `password` authenticates
    /// them. A missing user costs a digest and a comparison too, so the
    /// reply's timing does not tell which names exist.
    pub fn authenticate(&self, name: Option<&[u8]>, password: &[u8]) -> Option<Arc<User>> {
        let users = self.users();
        let user = users.get(name.unwrap_or(b"default"));
        match user {
            Some(user) if user.accepts(password) => Some(user.clone()),
            Some(_) => None,
            None => {
                let _ = Digest::of(password).ct_eq(&Digest([0; 32]));
                None
            }
        }
    }

    /// True when `AUTH <password>` has nothing to check: the default user
    /// takes no password (Redis then answers an error).
    pub fn default_is_nopass(&self) -> bool {
        self.users().default_user().is_some_and(|u| u.nopass)
    }

    /// Brings a session's user up to date: a replaced user is looked up
    /// again by name (gone or disabled: unauthenticated), and an
    /// unauthenticated session becomes the default user if that one is on
    /// and takes no password (Redis authenticates such clients on connect).
    pub fn refresh(&self, session_user: &mut Option<Arc<User>>) {
        let users = self.users();
        if let Some(user) = session_user.take() {
            *session_user = users.get(&user.name).filter(|u| u.enabled).cloned();
        }
        if session_user.is_none() {
            *session_user = users.default_user().filter(|u| u.enabled && u.nopass).cloned();
        }
    }

    /// Whether the session whose user is `session_user` may run `command`
    /// now: the one check before every command when [`Access::enforced`].
    /// `line`: the session speaks the line protocol, whose `PING` is
    /// always allowed (it is the seed's health check).
    pub fn authorize(
        &self,
        session_user: &mut Option<Arc<User>>,
        line: bool,
        command: &Command<'_>,
    ) -> Result<(), CommandError> {
        if session_user.as_ref().is_none_or(|u| u.is_replaced()) {
            self.refresh(session_user);
        }
        let id = command.id();
        let flags = id.spec().flags;
        // The line protocol's PING is the seed's health check: always
        // answered, it tells nothing about the data.
        if line && id == CommandId::Ping {
            return Ok(());
        }
        let Some(user) = session_user.as_ref() else {
            if flags.contains(Flags::NO_AUTH) {
                return Ok(());
            }
            return Err(CommandError::NoAuth);
        };
        if self.deny_dangerous && flags.contains(Flags::DANGEROUS) {
            return Err(CommandError::NoPermCommand { command: id.name() });
        }
        user.check(command)
    }

    /// `ACL DRYRUN`: whether `user` may run `command`, `--deny-dangerous`
    /// included.
    pub fn dry_run(&self, user: &User, command: &Command<'_>) -> Result<(), CommandError> {
        let spec = command.id().spec();
        if self.deny_dangerous && spec.flags.contains(Flags::DANGEROUS) {
            return Err(CommandError::NoPermCommand { command: spec.name });
        }
        user.check(command)
    }
}

#[cfg(test)]
mod tests;
