//! `ExampleGateway` with typed events ([`crate::contract`]): what the chat serves. It behaves
//! as the plain [`crate::gateway::ExampleGateway`] (the same tests pass against both) and
//! also acks `message` with the line it broadcast ([`Delivered`]).

use sockgate::gateway::{gateway, subscribe_message, WsException};
use sockgate::typed::{EmitTyped, Typed, TypedAck};
use sockgate::{DisconnectReason, NamespaceRef, SocketRef};

use crate::contract::{ChatText, Delivered, Joined, Left, Message, Presence};

/// The seed's gateway, typed.
#[derive(Debug, Default)]
pub struct TypedExampleGateway;

fn presence(client: &SocketRef) -> Presence {
    let name = client.handshake().query().get("name").unwrap_or("(none)");
    Presence {
        name: name.to_owned(),
    }
}

#[gateway(namespace = "/example", transports = ["websocket"], cors(origin = "*"))]
impl TypedExampleGateway {
    fn handle_connection(&self, client: SocketRef) {
        let presence = presence(&client);
        tracing::info!("client connected: {}, name: {}", client.id(), presence.name);
        let _ = client.namespace().emit_typed(Joined, &presence);
    }

    fn handle_disconnect(&self, client: SocketRef, reason: DisconnectReason) {
        let presence = presence(&client);
        tracing::info!(
            "client disconnected: {}, name: {}, reason: {}",
            client.id(),
            presence.name,
            reason
        );
        let _ = client.namespace().emit_typed(Left, &presence);
    }

    /// Broadcasts `<name> : <text>` to the namespace, sender included, and acks it. Without a
    /// `name` the sender gets NestJS's `exception` event (and no ack).
    #[subscribe_message(event = Message)]
    fn handle_test_message(
        &self,
        Typed(ChatText(text)): Typed<Message>,
        #[connected_socket] client: SocketRef,
        #[ws_server] io: NamespaceRef,
        ack: TypedAck<Message>,
    ) -> Result<(), WsException> {
        let username = client
            .handshake()
            .query()
            .get("name")
            .ok_or("query parameter `name` is required (connect with ?name=...)")?;
        let line = format!("{username} : {text}");
        io.emit_typed(Message, &ChatText(line.clone()))?;
        ack.send(&Delivered { line })?;
        Ok(())
    }
}
