//! The seed's `ExampleGateway`, written with the macros.

use sockgate::gateway::{gateway, subscribe_message, GatewayApp, WsException};
use sockgate::{DisconnectReason, NamespaceRef, SocketRef};

struct ExampleGateway;

#[gateway(namespace = "/example", transports = ["websocket"], cors(origin = "*"))]
impl ExampleGateway {
    fn handle_connection(&self, client: SocketRef) {
        let name = client.handshake().query().get("name").map(str::to_owned);
        println!("client connected: {}, name: {name:?}", client.id());
    }

    fn handle_disconnect(&self, client: SocketRef, reason: DisconnectReason) {
        println!("client disconnected: {} ({reason})", client.id());
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
        io.emit("message", &format!("{username} : {message}"))?;
        Ok(())
    }
}

fn main() {
    GatewayApp::new().gateway(ExampleGateway).build().unwrap();
}
