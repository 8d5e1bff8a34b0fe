//! The interface between the engine and the layer above it (Socket.IO, or your own).

use std::sync::Arc;

use bytes::Bytes;
use sockgate_proto::engine::CloseReason;

use crate::connection::Connection;

/// A message received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(Bytes),
    /// A binary message.
    Binary(Bytes),
}

/// What the engine calls as sessions open, receive and close.
///
/// Calls for one session never overlap and arrive in order: `on_open`, then `on_message`s, then
/// exactly one `on_close`. Keep them short: they run on the session's driver, and a slow
/// handler delays that client only.
pub trait EngineHandler: Send + Sync + 'static {
    /// Per-session data stored in each [`Connection`].
    type Data: Default + Send + Sync + 'static;

    /// A session opened; the handshake was sent.
    fn on_open(&self, connection: &Arc<Connection<Self::Data>>);

    /// A message arrived.
    fn on_message(&self, connection: &Arc<Connection<Self::Data>>, message: Message);

    /// The session closed; nothing more can be sent.
    fn on_close(&self, connection: &Connection<Self::Data>, reason: CloseReason);

    /// The session upgraded from polling to WebSocket (between `on_open` and `on_close`).
    /// Does nothing unless implemented.
    fn on_upgrade(&self, connection: &Arc<Connection<Self::Data>>) {
        let _ = connection;
    }

    /// One WebSocket write carried `frames` frames (more than one: they were coalesced).
    /// Called on the driver after each write of the session's queue; does nothing unless
    /// implemented.
    fn on_frames_written(&self, connection: &Connection<Self::Data>, frames: usize) {
        let _ = (connection, frames);
    }
}
