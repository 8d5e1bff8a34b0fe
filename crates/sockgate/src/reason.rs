//! Why a socket disconnected, with Node's wording.

use std::fmt;

use sockgate_engine::CloseReason;

/// Why a socket left its namespace. `Display` gives Node's reason string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The client called `socket.disconnect()`.
    ClientNamespaceDisconnect,
    /// The server called `socket.disconnect()`.
    ServerNamespaceDisconnect,
    /// The connection was closed (the user left the page, the network dropped cleanly).
    TransportClose,
    /// The connection failed, or the client was too slow to read what it was sent.
    TransportError,
    /// The client stopped answering pings.
    PingTimeout,
    /// The client sent an invalid packet.
    ParseError,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The Engine.IO session was closed without a Socket.IO reason.
    ForcedClose,
    /// The server closed the whole connection (`disconnect(true)`).
    ForcedServerClose,
}

impl DisconnectReason {
    /// Node's reason string.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ForcedServerClose => "forced server close",
        }
    }

    /// Whether a socket that left for this reason may recover its state (Node's list).
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportError
                | DisconnectReason::TransportClose
                | DisconnectReason::ForcedClose
                | DisconnectReason::PingTimeout
                | DisconnectReason::ServerShuttingDown
                | DisconnectReason::ForcedServerClose
        )
    }
}

impl From<CloseReason> for DisconnectReason {
    fn from(reason: CloseReason) -> Self {
        match reason {
            CloseReason::TransportClose => DisconnectReason::TransportClose,
            CloseReason::TransportError | CloseReason::BufferFull => {
                DisconnectReason::TransportError
            }
            CloseReason::PingTimeout => DisconnectReason::PingTimeout,
            CloseReason::ParseError => DisconnectReason::ParseError,
            CloseReason::ForcedClose => DisconnectReason::ForcedServerClose,
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
