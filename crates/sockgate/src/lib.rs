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
//! With a cluster adapter (`sockgate-redis`), the same API spans every node, Node socket.io
//! servers included: broadcasts, [`BroadcastOperators::fetch_sockets`] (remote sockets you can
//! emit to, make join, leave, disconnect), [`SocketIo::server_count`], and server-side events
//! between servers: [`SocketIo::server_side_emit`] and [`SocketIo::on_server_side`] (see
//! [`server_side`]).
//!
//! Connection state recovery ([`SocketIoBuilder::connection_state_recovery`]) on one node keeps
//! sessions and missed packets **in this process's memory**: a client whose transport dropped
//! gets its id, rooms, data and missed packets back when it reconnects to the same process,
//! but nothing survives a restart, a crash or a deploy of that process, and a client that
//! reconnects to another node starts over. For recovery that survives those, run the cluster
//! on `sockgate_redis::StreamsAdapter` (Redis Streams, wire-compatible with
//! `@socket.io/redis-streams-adapter`): sessions live in Redis and missed packets are read
//! back from the stream, on any node, even after the old node was killed.
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
//!
//! Events can also be declared once as Rust types, in both directions with their acks: then
//! emits and handlers are checked by the compiler, and the same declaration generates the
//! client's TypeScript event maps and an AsyncAPI document ([`typed`]).
//!
//! # Options
//!
//! One options model: every option of the server and of its engine (path, transports,
//! heartbeat, limits, CORS, `allowRequest`, HTTP timeouts, ack timeout, parser, recovery...)
//! is a field of [`SocketIoConfig`] and has a setter of the same name on [`SocketIoBuilder`]
//! and on [`gateway::GatewayOptions`], both generated from one definition. A setter changes
//! its option and nothing else, so the order of the calls does not matter:
//!
//! ```
//! use std::time::Duration;
//! use sockgate::SocketIo;
//!
//! let io = SocketIo::builder()
//!     .ping_interval(Duration::from_secs(10))
//!     .allow_request(|_request| async { Ok(()) }) // does not reset the interval
//!     .ack_timeout(Duration::from_secs(2))
//!     .build();
//! assert_eq!(io.config().engine.session.ping_interval, Duration::from_secs(10));
//! ```
//!
//! A whole configuration read at run time is the starting point, never a later reset:
//! [`SocketIo::builder_from`] and [`gateway::GatewayOptions::from_server_config`]. Heartbeats
//! longer than [`MAX_ADVERTISED_HEARTBEAT`] (about 12.4 days, `Duration::MAX`
//! included) are advertised and used as that bound, because JavaScript clients' timers
//! overflow past 2^31 − 1 ms.
//!
//! # Graceful shutdown and rolling deploys
//!
//! [`SocketIo::close`] drains a node: handshakes and the [health check](SocketIoConfig::health_path)
//! answer 503 at once, the clients keep being served for [`DrainConfig::delay`] (the load
//! balancer takes the node out meanwhile), then the sockets leave with `server shutting down`
//! (recoverable: their sessions are persisted and flushed by the adapter) and their transports
//! close in slices spread over [`DrainConfig::window`], so the other nodes get the reconnects
//! a few at a time; the close resolves within [`DrainConfig::bound`].
//!
//! ```no_run
//! use std::time::Duration;
//! use sockgate::SocketIo;
//!
//! # async fn run() -> std::io::Result<()> {
//! let io = SocketIo::builder()
//!     .health_path("/health")
//!     .drain_delay(Duration::from_secs(2))
//!     .drain_window(Duration::from_secs(10))
//!     .build();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! let drained = io.clone();
//! io.serve(listener)
//!     .with_graceful_shutdown(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         drained.close().await; // the listener closes once the drain is done
//!     })
//!     .await
//! # }
//! ```
//! # Observing a server: metrics, admin tools, logs
//!
//! An [`observe::Observer`] registered with `observer(..)` on the builder or the gateway
//! options is told what the server does (sessions, sockets, packets with their sizes, rooms,
//! broadcasts, drops, ack timeouts, recoveries, handler failures and durations, adapter
//! requests); without one, each hook is one length check. The `sockgate-metrics` crate is
//! such an observer, with a Prometheus endpoint.
//!
//! Logs and spans go through `tracing`. The spans nest as `session` > `socket` > `event`,
//! all at DEBUG, each with its ids as fields, and a handler's future stays in its event's span
//! when it waits:
//!
//! | target | level | what |
//! |---|---|---|
//! | `sockgate_engine::session` | DEBUG | span `session{sid, transport}` around a WebSocket's task and each polling request; events `session opened`, `session closed{reason}` |
//! | `sockgate::socket` | DEBUG | span `socket{ns, sid, session}` (also [`Socket::span`], to parent your own spans); events `socket connected{recovered}`, `socket disconnected{reason}`; ERROR: a disconnect callback panicked |
//! | `sockgate::event` | DEBUG | span `event{ns, sid, event, ack}` around every handler of an incoming event (`event = "connection"` for the connect handler) |
//! | `sockgate::handler` | WARN / ERROR | an extractor rejected a message, a handler returned an error (WARN); a handler panicked (ERROR) |
//! | `sockgate::client`, `sockgate_engine::*` | DEBUG | protocol violations and transport faults, with the session id |
//!
//! `RUST_LOG=sockgate=debug` turns them all on (an `EnvFilter` target matches by prefix, so
//! `sockgate` also covers `sockgate_engine`); `RUST_LOG=sockgate::event=debug` only the event
//! spans. A span is created only if its target and level are enabled, and a socket keeps its
//! span only then: with tracing off, spans cost a callsite check and no memory.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `macros` | yes | `#[gateway]` and `#[subscribe_message]` ([`gateway`]) |
//! | `typed` | yes | [`typed`]: typed events, TypeScript and AsyncAPI generation (ts-rs, schemars) |
//! | `testing` | no | `sockgate::testing`, an in-process test client (pulls hyper's client) |
//! | `validator` | no | `gateway::Valid<T>` and the `validator` re-export (NestJS's `ValidationPipe`) |
//! | `admin` | no | `sockgate::admin`: the official Socket.IO Admin UI's `/admin` namespace (pulls `bcrypt`) |
//!
//! `testing` and `validator` are off by default, as in axum-extra: they pull in dependencies
//! a server does not need, and `validator` makes that crate's API part of this one. Enable
//! them where used, e.g. `sockgate = { version = "0.1", features = ["testing"] }` under
//! `[dev-dependencies]`.
#![doc = include_str!("../docs/guide.md")]

mod ack;
#[cfg(feature = "admin")]
pub mod admin;
mod client;
mod extensions;
pub mod extract;
pub mod gateway;
pub mod handler;
mod handshake;
mod namespace;
pub mod observe;
mod operators;
mod payload;
mod reason;
mod server;
pub mod server_side;
mod socket;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(feature = "typed")]
pub mod typed;

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
    ClientBundle, DrainConfig, IoHandler, SocketIo, SocketIoBuilder, SocketIoConfig, SocketIoLayer,
    SocketIoService, DEFAULT_CLOSE_TIMEOUT,
};
pub use server_side::ClusterError;
pub use socket::{IntoRooms, Socket, SocketRef, TimedSocket};

pub use sockgate_core::{self as core, RecoveryConfig, Room, Sid, SocketId};
pub use sockgate_engine::{self as engine, Cors, EngineConfig, Transports};
pub use sockgate_proto::engine::MAX_ADVERTISED_HEARTBEAT;
pub use sockgate_proto::socketio::Parser;

/// Why a packet could not be sent.
///
/// New variants may be added: match with a `_` arm.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The socket is disconnected: drop the message, or keep it for when the client
    /// reconnects (with connection state recovery on, broadcasts are replayed for you).
    Disconnected,
    /// The data could not be serialized to JSON (the source is serde_json's error, also
    /// returned by [`Error::source`](std::error::Error::source)): fix the type's `Serialize`
    /// impl, or the data (a map with non-string keys, a float that is NaN...).
    Serialize(serde_json::Error),
    /// The event name is reserved (`connect`, `connect_error`, `disconnect`, `disconnecting`,
    /// `newListener`, `removeListener`): the official client would treat it as its own event
    /// or drop the connection. Use another name. Node throws for the same names.
    ReservedEvent(String),
}

/// Event names an application may not emit (Node's `RESERVED_EVENTS`).
pub use sockgate_proto::socketio::RESERVED_EVENTS;

/// The instant `timeout` from now. `Duration::MAX` means "no timeout", so a deadline past
/// `Instant`'s range is a century away instead of a panic on `Instant + Duration`.
pub(crate) fn deadline_after(timeout: std::time::Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + std::time::Duration::from_secs(100 * 365 * 86_400))
}

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

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SendError::Serialize(error) => Some(error),
            SendError::Disconnected | SendError::ReservedEvent(_) => None,
        }
    }
}

impl From<serde_json::Error> for SendError {
    fn from(error: serde_json::Error) -> Self {
        SendError::Serialize(error)
    }
}
