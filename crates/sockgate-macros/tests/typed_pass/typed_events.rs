use serde::{Deserialize, Serialize};
use sockgate::gateway::{gateway, subscribe_message, Gateway, GatewayRouter, WsException};
use sockgate::typed::schemars::JsonSchema;
use sockgate::typed::ts_rs::TS;
use sockgate::typed::{
    Contract, EmitTyped, EmitWithAckTyped, Event, OnTyped, ServerSideEmitTyped, Typed, TypedAck,
};
use sockgate::{NamespaceRef, SocketIo, SocketRef};

// The derives through sockgate's re-exports (no direct dependency on ts-rs or schemars).
#[derive(Serialize, Deserialize, TS, JsonSchema)]
#[ts(crate = "sockgate::typed::ts_rs")]
#[schemars(crate = "sockgate::typed::schemars")]
struct Presence {
    name: String,
}

#[derive(Clone, Copy, Event)]
#[event(name = "joined", payload = Presence, server_to_client)]
struct Joined;

#[derive(Clone, Copy, Event)]
#[event(name = "ask", payload = String, server_to_client(ack = u32))]
struct Ask;

#[derive(Clone, Copy, Event)]
#[event(name = "message", payload = String, server_to_client, client_to_server(ack = bool))]
struct Message;

#[derive(Clone, Copy, Event)]
#[event(name = "sync", payload = Vec<String>, inter_server(ack = String))]
struct Sync;

#[derive(Contract)]
#[contract(
    namespace = "/chat",
    server_to_client(Joined, Ask, Message),
    client_to_server(Message),
    inter_server(Sync)
)]
struct Chat;

async fn emits(io: SocketIo, ns: NamespaceRef, socket: SocketRef) {
    let presence = Presence { name: "a".into() };
    socket.emit_typed(Joined, &presence).unwrap();
    ns.emit_typed(Joined, &presence).unwrap();
    (&io).emit_typed(Joined, &presence).unwrap();
    socket.to("room").emit_typed(Message, &"hi".to_owned()).unwrap();
    let count: u32 = socket.emit_with_ack_typed(Ask, &"how many?".to_owned()).await.unwrap();
    let _ = count;
    let answers = ns.broadcast().emit_with_ack_typed(Ask, &"all?".to_owned()).await.unwrap();
    let _: Vec<Result<u32, _>> = answers.values();
    let replies = ns.server_side_emit_with_ack_typed(Sync, &vec![]).await.unwrap();
    let _: Vec<Result<String, _>> = replies.values();
    (&io).server_side_emit_typed(Sync, &vec!["x".to_owned()]).await.unwrap();
}

fn plain(io: &SocketIo) {
    io.ns("/chat", |socket: SocketRef| {
        socket.on_typed(Message, |Typed(text): Typed<Message>, ack: TypedAck<Message>| {
            let _ = ack.send(&text.is_empty());
        });
    });
}

struct ByHand;
impl Gateway for ByHand {
    fn register(router: &mut GatewayRouter<Self>) {
        router.on_typed(Message, |_: &ByHand, Typed(text): Typed<Message>| text);
    }
}

struct WithMacros;

#[gateway(namespace = "/chat")]
impl WithMacros {
    #[subscribe_message(event = Message)]
    fn message(&self, Typed(text): Typed<Message>, ack: TypedAck<Message>) -> Result<(), WsException> {
        ack.send(&!text.is_empty())?;
        Ok(())
    }
}

fn main() {
    let _ = emits;
    let _ = plain;
    let _ = <Chat as Contract>::NAMESPACE;
}
