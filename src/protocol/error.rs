//! Why a request was refused, with the exact text each dialect sends.

/// A request-level error. The connection stays usable after every variant
/// except [`CommandError::Protocol`], which closes a RESP connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Placeholder until the protocol module is written.
    #[error("unknown command")]
    UnknownCommand,
    /// stub
    #[error("x")]
    UnknownSubcommand,
    /// stub
    #[error("x")]
    OutOfMemory,
    /// stub
    #[error("x")]
    NotAnInteger,
    /// stub
    #[error("x")]
    Overflow,
    /// stub
    #[error("x")]
    StringTooLong,
    /// stub
    #[error("x")]
    InvalidExpireTime {
        /// stub
        command: &'static str,
    },
    /// stub
    #[error("x")]
    DbIndexOutOfRange,
    /// stub
    #[error("x")]
    NoProto,
    /// stub
    #[error("x")]
    LineTooLong,
    /// stub
    #[error("x")]
    ValueTooLarge,
}
impl CommandError {
    /// stub
    pub fn unknown_subcommand(_a: &[u8], _b: &[u8]) -> CommandError {
        CommandError::UnknownSubcommand
    }
}
