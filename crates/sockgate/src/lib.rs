//! sockgate: NestJS-style WebSocket gateways for Rust that speak Socket.IO on the wire.
//!
//! The seed gateway, in NestJS:
//!
//! ```ts
//! @WebSocketGateway({ namespace: '/example', transports: ['websocket'], cors: { origin: '*' } })
//! export class ExampleGateway implements OnGatewayConnection, OnGatewayDisconnect {
//!   @WebSocketServer() io: Server;
//!   handleConnection(client: Socket) { console.log(`client connected: ${client.id}`); }
//!   handleDisconnect(client: Socket) { console.log(`client disconnected: ${client.id}`); }
//!   @SubscribeMessage('message')
//!   handleTestMessage(@MessageBody() message: string, @ConnectedSocket() client: Socket) {
//!     const username = client.handshake.query.name[0];
//!     this.io.emit('message', `${username} : ${message}`);
//!   }
//! }
//! ```
//!
//! and in sockgate (the `macros` feature; [`gateway`] shows the same without macros):
//!
//! ```no_run
//! use sockgate::gateway::{gateway, subscribe_message, GatewayApp, WsException};
//! use sockgate::{DisconnectReason, NamespaceRef, SocketRef};
//!
//! struct ExampleGateway;
//!
//! #[gateway(namespace = "/example", transports = ["websocket"], cors(origin = "*"))]
//! impl ExampleGateway {
//!     fn handle_connection(&self, client: SocketRef) {
//!         println!("client connected: {}", client.id());
//!     }
//!
//!     fn handle_disconnect(&self, client: SocketRef, reason: DisconnectReason) {
//!         println!("client disconnected: {} ({reason})", client.id());
//!     }
//!
//!     #[subscribe_message("message")]
//!     fn handle_test_message(
//!         &self,
//!         #[message_body] message: String,
//!         #[connected_socket] client: SocketRef,
//!         #[ws_server] io: NamespaceRef,
//!     ) -> Result<(), WsException> {
//!         let username = client.handshake().query().get("name").ok_or("name is required")?;
//!         io.emit("message", format!("{username} : {message}"))?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let gateways = GatewayApp::new().gateway(ExampleGateway).build()?;
//! let app = axum::Router::new().layer(gateways.layer());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! sockgate::engine::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! Underneath is the Socket.IO v5 server: namespaces (static and dynamic), sockets, events and
//! acks in both directions, binary attachments, rooms and broadcast operators, connect
//! middlewares, disconnect reasons, the adapter contract, and connection state recovery. Every
//! official socket.io client talks to it unchanged.
//!
//! Handlers are plain functions or closures whose arguments are [extractors](extract), as in
//! axum:
//!
//! ```no_run
//! use sockgate::{SocketIo, SocketRef, extract::{Data, AckSender}};
//!
//! # async fn run() -> std::io::Result<()> {
//! let io = SocketIo::new();
//! let broadcaster = io.clone();
//! io.ns("/", move |socket: SocketRef| {
//!     let io = broadcaster.clone();
//!     socket.on("message", move |Data(text): Data<String>| {
//!         let _ = io.emit("message", &text);
//!     });
//!     socket.on("ping", |ack: AckSender| {
//!         let _ = ack.send(&"pong");
//!     });
//! });
//! io.serve(tokio::net::TcpListener::bind("127.0.0.1:3000").await?).await
//! # }
//! ```

mod ack;
mod client;
mod extensions;
pub mod extract;
pub mod gateway;
pub mod handler;
mod handshake;
mod namespace;
mod operators;
mod payload;
mod reason;
mod server;
mod socket;
pub mod testing;

use std::fmt;

pub use ack::{AckError, AckFuture, AckResponses, AckSender, FromAck};
pub use client::ClientState;
pub use extensions::Extensions;
pub use handshake::{Handshake, QueryMap};
pub use namespace::{MiddlewareError, NamespaceRef};
pub use operators::{BroadcastOperators, RemoteSocket};
pub use payload::{Arg, IntoPayload, Payload};
pub use reason::DisconnectReason;
pub use server::{
    ClientBundle, IoHandler, SocketIo, SocketIoBuilder, SocketIoConfig, SocketIoLayer,
    SocketIoService, DEFAULT_CLOSE_TIMEOUT,
};
pub use socket::{IntoRooms, Socket, SocketRef, TimedSocket};

pub use sockgate_core::{self as core, RecoveryConfig, Room, Sid};
pub use sockgate_engine::{self as engine, Cors, EngineConfig, Transports};
pub use sockgate_proto::socketio::Parser;

/// Why a packet could not be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The socket is disconnected: drop the message or wait for the client to reconnect.
    Disconnected,
    /// The data could not be serialized to JSON: fix the type's `Serialize` impl.
    Serialize(String),
    /// The event name is reserved (`connect`, `connect_error`, `disconnect`, `disconnecting`,
    /// `newListener`, `removeListener`): the official client would treat it as its own event
    /// or drop the connection. Use another name. Node throws for the same names.
    ReservedEvent(String),
}

/// Event names an application may not emit (Node's `RESERVED_EVENTS`).
pub use sockgate_proto::socketio::RESERVED_EVENTS;

/// Refuses a reserved event name at the emit call, as Node does.
pub(crate) fn check_event_name(event: &str) -> Result<(), SendError> {
    if sockgate_proto::socketio::is_reserved_event(event) {
        return Err(SendError::ReservedEvent(event.to_owned()));
    }
    Ok(())
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected => f.write_str("the socket is disconnected"),
            SendError::Serialize(e) => write!(f, "could not serialize the data: {e}"),
            SendError::ReservedEvent(name) => write!(f, "\"{name}\" is a reserved event name"),
        }
    }
}

impl std::error::Error for SendError {}
