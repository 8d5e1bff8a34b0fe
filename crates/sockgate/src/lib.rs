//! sockgate: NestJS-style WebSocket gateways for Rust that speak Socket.IO on the wire.
//!
//! This crate is the Socket.IO v5 server: namespaces (static and dynamic), sockets, events and
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

pub use ack::{AckError, AckFuture, AckResponses, AckSender};
pub use client::ClientState;
pub use extensions::Extensions;
pub use handshake::{Handshake, QueryMap};
pub use namespace::{MiddlewareError, NamespaceRef};
pub use operators::{BroadcastOperators, RemoteSocket};
pub use payload::{IntoPayload, Payload};
pub use reason::DisconnectReason;
pub use server::{
    ClientBundle, IoHandler, SocketIo, SocketIoBuilder, SocketIoConfig, SocketIoLayer,
    SocketIoService,
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
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Disconnected => f.write_str("the socket is disconnected"),
            SendError::Serialize(e) => write!(f, "could not serialize the data: {e}"),
        }
    }
}

impl std::error::Error for SendError {}
