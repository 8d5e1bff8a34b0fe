//! [`ContractError`]: why a contract could not be generated.

use super::Direction;

/// Why a contract could not be turned into files.
#[derive(Debug)]
#[non_exhaustive]
pub enum ContractError {
    /// An event is listed twice in the same direction: remove one from the contract.
    DuplicateEvent {
        /// The event name.
        event: String,
        /// The direction it is listed twice in.
        direction: Direction,
    },
    /// An event uses a name Socket.IO reserves (`connect`, `disconnect`...): rename it.
    ReservedEvent(String),
    /// Two different Rust types have the same TypeScript name: rename one
    /// (`#[ts(rename = "...")]`).
    TypeNameClash(String),
    /// Two contracts in one [`ContractFiles`](super::ContractFiles) share a namespace: merge them into one.
    DuplicateNamespace(String),
    /// Writing or reading a file failed (the path, then the error): check the directory exists
    /// and is writable.
    Io(std::path::PathBuf, std::io::Error),
}

impl std::fmt::Display for ContractError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ContractError::DuplicateEvent { event, direction } => {
                write!(f, "event \"{event}\" is declared twice as {direction:?}")
            }
            ContractError::ReservedEvent(name) => {
                write!(f, "\"{name}\" is a reserved Socket.IO event name")
            }
            ContractError::TypeNameClash(name) => write!(
                f,
                "two different types are both named `{name}` in TypeScript: rename one with #[ts(rename = \"..\")]"
            ),
            ContractError::DuplicateNamespace(ns) => {
                write!(f, "two contracts declare namespace \"{ns}\": merge them")
            }
            ContractError::Io(path, error) => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for ContractError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ContractError::Io(_, error) => Some(error),
            _ => None,
        }
    }
}
