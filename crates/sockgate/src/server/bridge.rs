//! The engine bridge: Engine.IO sessions in, Socket.IO connections out.

use std::fmt;
use std::sync::Arc;

use sockgate_engine::{CloseReason, Connection, EngineHandler, Message};
use sockgate_proto::socketio::EioMessage;

use super::registry::Registry;
use crate::client::{self, ClientState};
use crate::observe::{Observer, SessionEvent};

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
        self.observe_session(connection, |o, session| o.session_opened(session));
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
        self.observe_session(connection, |o, session| o.session_closed(session, reason));
    }

    fn on_upgrade(&self, connection: &Arc<Connection<ClientState>>) {
        self.observe_session(connection, |o, session| o.session_upgraded(session));
    }

    fn on_frames_written(&self, _connection: &Connection<ClientState>, frames: usize) {
        self.registry
            .shared
            .config
            .observers
            .each(|o| o.frames_written(frames));
    }
}

impl IoHandler {
    /// Calls `f` on every observer with a view of `connection`'s session.
    #[inline]
    fn observe_session(
        &self,
        connection: &Connection<ClientState>,
        mut f: impl FnMut(&dyn Observer, &SessionEvent<'_>),
    ) {
        let observers = &self.registry.shared.config.observers;
        if observers.is_empty() {
            return;
        }
        let session = SessionEvent {
            sid: connection.sid(),
            transport: connection.transport(),
            request: connection.info(),
            client: connection.data(),
        };
        observers.each(|o| f(o, &session));
    }
}
