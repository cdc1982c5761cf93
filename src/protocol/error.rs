//! Why a request was refused, with the exact text each dialect sends.

/// A request-level error. The connection stays usable after every variant
/// except [`CommandError::Protocol`], which closes a RESP connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Placeholder until the protocol module is written.
    #[error("unknown command")]
    UnknownCommand,
}
