//! `ExampleGateway` with typed events ([`crate::contract`]): what the chat serves. It behaves
//! as the plain [`crate::gateway::ExampleGateway`] (the same tests pass against both) and
//! also answers `members` ([`MemberList`] in the ack).

use sockgate::gateway::{gateway, subscribe_message, WsException};
use sockgate::typed::{EmitTyped, Typed, TypedAck};
use sockgate::{DisconnectReason, NamespaceRef, SocketRef};

use crate::contract::{ChatText, Joined, Left, MemberList, Members, Message, Presence};

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

    /// Broadcasts `<name> : <text>` to the namespace, sender included. Without a `name` the
    /// sender gets NestJS's `exception` event.
    #[subscribe_message(event = Message)]
    fn handle_test_message(
        &self,
        Typed(ChatText(text)): Typed<Message>,
        #[connected_socket] client: SocketRef,
        #[ws_server] io: NamespaceRef,
    ) -> Result<(), WsException> {
        let username = client
            .handshake()
            .query()
            .get("name")
            .ok_or("query parameter `name` is required (connect with ?name=...)")?;
        io.emit_typed(Message, &ChatText(format!("{username} : {text}")))?;
        Ok(())
    }

    /// Answers who is connected to `/example` on this node, sorted, at most `limit` names.
    #[subscribe_message(event = Members)]
    fn handle_members(
        &self,
        Typed(query): Typed<Members>,
        #[ws_server] io: NamespaceRef,
        ack: TypedAck<Members>,
    ) -> Result<(), WsException> {
        let sockets = io.sockets();
        let mut names: Vec<String> = sockets.iter().map(|s| presence(s).name).collect();
        names.sort();
        if let Some(limit) = query.limit {
            names.truncate(limit as usize);
        }
        let total_count = u32::try_from(sockets.len()).unwrap_or(u32::MAX);
        ack.send(&MemberList { names, total_count })?;
        Ok(())
    }
}
