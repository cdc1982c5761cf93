//! The command registry: every command family's name, arity, flags and
//! counter slot, declared once, on its [`Command`](super::Command) variant.
//!
//! `commands!` takes the list of variants, each with its registry entry,
//! and generates three things that can therefore never disagree:
//! - the [`Command`](super::Command) enum itself;
//! - [`CommandId`](super::CommandId), one fieldless id per variant, whose discriminant is the
//!   variant's index in [`REGISTRY`](super::REGISTRY) and its counter slot in the metrics;
//! - [`REGISTRY`](super::REGISTRY), the [`Spec`] of every family, in the same order.
//!
//! Adding a command is therefore one variant here (with its entry), one
//! parse arm in the command table and one execute arm in the engine; the
//! metrics, `COMMAND COUNT` and INFO's commandstats follow from the
//! registry.
//!
//! A family is what one variant covers: `DEL` and `UNLINK` both parse to
//! `Command::Del`, `EXPIRE`, `PEXPIRE`, `EXPIREAT` and `PEXPIREAT` to
//! `Command::Expire`. The entry's name and arity are those of the family's
//! first member (the one Redis's command table lists for it); the command
//! table checks the other members' arities itself.

/// What a command does, as the flags behind ACL categories: `@read`,
/// `@write`, `@keyspace`, `@admin`, `@dangerous`, `@connection`, `@fast`,
/// `@transaction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags(u16);

impl Flags {
    /// Reads keys' values.
    pub const READ: Flags = Flags(1 << 0);
    /// Changes keys or values.
    pub const WRITE: Flags = Flags(1 << 1);
    /// Works on keys as such (existence, expiry, deletion, counts).
    pub const KEYSPACE: Flags = Flags(1 << 2);
    /// Administers the server (INFO, CONFIG).
    pub const ADMIN: Flags = Flags(1 << 3);
    /// Can hurt the whole service in one call (FLUSHALL, CONFIG).
    pub const DANGEROUS: Flags = Flags(1 << 4);
    /// Concerns the connection itself (PING, HELLO, CLIENT, QUIT).
    pub const CONNECTION: Flags = Flags(1 << 5);
    /// Constant time (Redis's `@fast`).
    pub const FAST: Flags = Flags(1 << 6);
    /// Runs before the client has authenticated (AUTH, HELLO, QUIT):
    /// Redis's `no-auth` command flag, not an ACL category.
    pub const NO_AUTH: Flags = Flags(1 << 7);
    /// MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis's `@transaction`).
    pub const TRANSACTION: Flags = Flags(1 << 8);

    /// No flag.
    pub const NONE: Flags = Flags(0);

    /// Both sets of flags.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// True when every flag of `other` is set here.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when any flag of `other` is set here.
    pub const fn intersects(self, other: Flags) -> bool {
        self.0 & other.0 != 0
    }
}

/// One family's entry in the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Lower-case name, as `COMMAND`, INFO and the metrics show it.
    pub name: &'static str,
    /// Redis's arity convention: `n > 0` exactly `n` arguments (the name
    /// included), `-n` at least `n`.
    pub arity: i32,
    /// What the command does.
    pub flags: Flags,
    /// The family's other members' names (`unlink` for `del`), as ACL
    /// rules and `ACL CAT` name them.
    pub aliases: &'static [&'static str],
}

impl Spec {
    /// True when `argc` arguments (the name included) satisfy the arity.
    pub fn arity_allows(&self, argc: usize) -> bool {
        if self.arity > 0 {
            argc == self.arity as usize
        } else {
            argc >= self.arity.unsigned_abs() as usize
        }
    }
}

/// Declares `Command`, `CommandId` and `REGISTRY`
/// from one list (see the module docs). Each entry:
///
/// ```text
/// /// docs
/// Variant { fields } => ("name", arity, [FLAG, FLAG]),
/// Variant { fields } => ("name", arity, [FLAG], ["alias", "alias"]),
/// ```
macro_rules! commands {
    ($(
        $(#[$meta:meta])*
        $variant:ident $({ $($fields:tt)* })? => ($name:literal, $arity:expr, [$($flag:ident),* $(,)?] $(, [$($alias:literal),* $(,)?])?)
    ),* $(,)?) => {
        /// A request, borrowed from the bytes it was parsed from.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Command<'a> {
            $(
                $(#[$meta])*
                $variant $({ $($fields)* })?,
            )*
        }

        /// A command family's id: its index in [`REGISTRY`] and its counter
        /// slot.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum CommandId {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        /// Every family's entry, indexed by [`CommandId`].
        pub static REGISTRY: &[Spec] = &[
            $(Spec {
                name: $name,
                arity: $arity,
                flags: Flags::NONE$(.union(Flags::$flag))*,
                aliases: &[$($($alias),*)?],
            },)*
        ];

        impl CommandId {
            /// Every id, in registry order.
            pub const ALL: &'static [CommandId] = &[$(CommandId::$variant),*];

            /// This family's entry.
            pub fn spec(self) -> &'static Spec {
                &REGISTRY[self as usize]
            }

            /// The family's lower-case name.
            pub fn name(self) -> &'static str {
                self.spec().name
            }

            /// Index of this family's counters.
            pub fn slot(self) -> usize {
                self as usize
            }
        }

        impl Command<'_> {
            /// The family this request belongs to.
            pub fn id(&self) -> CommandId {
                match self {
                    $(Command::$variant { .. } => CommandId::$variant,)*
                }
            }
        }
    };
}

pub(crate) use commands;
