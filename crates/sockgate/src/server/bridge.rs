//! The engine bridge: Engine.IO sessions in, Socket.IO connections out.

use std::fmt;
use std::sync::Arc;

use sockgate_engine::{CloseReason, Connection, EngineHandler, Message};
use sockgate_proto::socketio::EioMessage;

use super::registry::Registry;
use crate::client::{self, ClientState};

/// Bridges Engine.IO sessions to Socket.IO (the engine handler of a [`SocketIo`](crate::SocketIo)).
pub struct IoHandler {
    pub(super) registry: Arc<Registry>,
}

impl fmt::Debug for IoHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoHandler").finish_non_exhaustive()
    }
}

impl EngineHandler for IoHandler {
    type Data = ClientState;

    fn on_open(&self, connection: &Arc<Connection<ClientState>>) {
        let timeout = self.registry.shared.config.connect_timeout;
        let weak = Arc::downgrade(connection);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(connection) = weak.upgrade() {
                if !connection.data().has_joined() {
                    connection.close();
                }
            }
        });
        connection.data().set_connect_timer(timer.abort_handle());
    }

    fn on_message(&self, connection: &Arc<Connection<ClientState>>, message: Message) {
        let message = match message {
            Message::Text(text) => EioMessage::Text(text),
            Message::Binary(data) => EioMessage::Binary(data),
        };
        client::on_message(&self.registry, connection, message);
    }

    fn on_close(&self, connection: &Connection<ClientState>, reason: CloseReason) {
        client::on_close(connection, reason.into());
    }
}
