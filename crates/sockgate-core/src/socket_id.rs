//! [`SocketId`]: the Socket.IO socket id, a type of its own.

use std::fmt;

use sockgate_proto::engine::Sid as SessionId;

/// A Socket.IO socket id (`socket.id`): 20 base64url characters, stored inline.
///
/// It looks like the Engine.IO session id (`sockgate_engine::Sid`, what `Connection::sid`
/// returns) and uses the same encoding, but it is a different value with a different life:
/// one connection has one session id and one socket id per namespace it joins, and a
/// recovered socket keeps its id across connections. Two types keep them from being mixed up:
///
/// ```compile_fail
/// let session = sockgate_proto::engine::Sid::from_random([7; 15]);
/// let socket: sockgate_core::SocketId = session; // mismatched types
/// ```
///
/// ```
/// let session = sockgate_proto::engine::Sid::from_random([7; 15]);
/// // Converting takes an explicit detour through the text, as it should be rare.
/// let socket = sockgate_core::SocketId::parse(session.as_str()).unwrap();
/// assert_eq!(socket.as_str(), session.as_str());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(SessionId);

impl SocketId {
    /// Builds an id from 15 random bytes (the caller owns the randomness).
    pub fn from_random(bytes: [u8; 15]) -> Self {
        SocketId(SessionId::from_random(bytes))
    }

    /// Parses an id received from a client or another node; `None` when it cannot be one.
    pub fn parse(s: &str) -> Option<Self> {
        SessionId::parse(s).map(SocketId)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SocketId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_id_round_trips_through_its_text() {
        let id = SocketId::from_random([0xfb; 15]);
        assert_eq!(id.as_str().len(), 20);
        assert_eq!(SocketId::parse(id.as_str()), Some(id));
        assert_eq!(id.to_string(), id.as_str());
        assert_eq!(SocketId::parse("short"), None);
    }
}
