//! `ExampleGateway`: the seed's NestJS gateway, line for line.
//!
//! ```ts
//! @WebSocketGateway({ namespace: '/example', transports: ['websocket'], cors: { origin: '*' } })
//! export class ExampleGateway implements OnGatewayConnection, OnGatewayDisconnect {
//!   @WebSocketServer() io: Server;
//!   handleConnection(client: Socket) { console.log(`client connected: ${client.id}, name: ${client.handshake.query.name}`); }
//!   handleDisconnect(client: Socket) { console.log(`client disconnected: ${client.id}`); }
//!   @SubscribeMessage('message')
//!   handleTestMessage(@MessageBody() message: string, @ConnectedSocket() client: Socket) {
//!     const username = client.handshake.query.name[0];
//!     this.io.emit('message', `${username} : ${message}`);
//!   }
//! }
//! ```
//!
//! One deliberate difference: the original's `query.name[0]` is the *first character* of the
//! name (engine.io 6 parses every query value as a single string, and `[0]` was a TypeScript
//! typing workaround), so NestJS broadcasts `a : hi` for `alice`. This port uses the whole
//! name (`alice : hi`), which is what the author meant. A repeated `name` keeps its last value,
//! as in engine.io 6.
//!
//! Additions for the chat page, which clients of the original ignore: `joined` and `left`
//! events carrying `{"name": ..}` when someone connects or leaves.

use std::sync::Arc;

use serde_json::{json, Value};
use sockgate::gateway::{
    ConnectedSocket, Gateway, GatewayOptions, GatewayRouter, MessageBody, WsException, WsServer,
};
use sockgate::{Cors, DisconnectReason, SocketRef, Transports};

/// The seed's gateway.
#[derive(Debug, Default)]
pub struct ExampleGateway;

fn name_of(client: &SocketRef) -> Option<&str> {
    client.handshake().query().get("name")
}

impl Gateway for ExampleGateway {
    fn options(&self) -> GatewayOptions {
        GatewayOptions::new()
            .namespace("/example")
            .transports(Transports::websocket_only())
            .cors(Cors::any())
    }

    fn register(router: &mut GatewayRouter<Self>) {
        router.subscribe_message("message", Self::handle_test_message);
    }

    async fn handle_connection(self: Arc<Self>, client: SocketRef) -> Result<(), WsException> {
        let name = name_of(&client).unwrap_or("(none)").to_owned();
        tracing::info!("client connected: {}, name: {}", client.id(), name);
        let _ = client.namespace().emit("joined", json!({ "name": name }));
        Ok(())
    }

    fn handle_disconnect(&self, client: SocketRef, reason: DisconnectReason) {
        let name = name_of(&client).unwrap_or("(none)").to_owned();
        tracing::info!(
            "client disconnected: {}, name: {}, reason: {}",
            client.id(),
            name,
            reason
        );
        let _ = client.namespace().emit("left", json!({ "name": name }));
    }
}

impl ExampleGateway {
    /// `@SubscribeMessage('message')`: broadcasts `<name> : <message>` to the whole
    /// namespace, sender included. Without a `name` the sender gets NestJS's `exception` event.
    fn handle_test_message(
        &self,
        MessageBody(message): MessageBody<Value>,
        ConnectedSocket(client): ConnectedSocket,
        WsServer(io): WsServer,
    ) -> Result<(), WsException> {
        let username = name_of(&client)
            .ok_or("query parameter `name` is required (connect with ?name=...)")?;
        io.emit("message", format!("{username} : {}", js_string(&message)))?;
        Ok(())
    }
}

/// Formats a value as JavaScript's template literal would (`${message}`): strings as they
/// are, arrays joined by commas, objects as `[object Object]`.
pub fn js_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(_) => "[object Object]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_a_template_literal() {
        assert_eq!(js_string(&json!("hi")), "hi");
        assert_eq!(js_string(&json!(42)), "42");
        assert_eq!(js_string(&json!(["x", "y", null, 1])), "x,y,,1");
        assert_eq!(js_string(&json!({"a": 1})), "[object Object]");
    }
}
