//! The same gateway written with the `#[gateway]` attribute macros (shown in the README). It
//! expands to the plain API of [`crate::gateway`]; the tests check both behave alike.

use sockgate::gateway::{gateway, subscribe_message, WsException};
use sockgate::{DisconnectReason, NamespaceRef, SocketRef};

/// `ExampleGateway`, macro edition.
#[derive(Debug, Default)]
pub struct MacroExampleGateway;

#[gateway(namespace = "/example", transports = ["websocket"], cors(origin = "*"))]
impl MacroExampleGateway {
    fn handle_connection(&self, client: SocketRef) {
        tracing::info!("client connected: {}", client.id());
    }

    fn handle_disconnect(&self, client: SocketRef, reason: DisconnectReason) {
        tracing::info!("client disconnected: {} ({reason})", client.id());
    }

    #[subscribe_message("message")]
    fn handle_test_message(
        &self,
        #[message_body] message: String,
        #[connected_socket] client: SocketRef,
        #[ws_server] io: NamespaceRef,
    ) -> Result<(), WsException> {
        let username = client
            .handshake()
            .query()
            .get("name")
            .ok_or("name is required")?;
        io.emit("message", format!("{username} : {message}"))?;
        Ok(())
    }
}
