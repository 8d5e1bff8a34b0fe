//! The adapter contract of sockgate.
//!
//! A Socket.IO namespace hands every room operation and broadcast to an [`Adapter`]. The
//! [`InMemoryAdapter`] serves a single node; a cluster adapter (Redis, ...) implements the same
//! trait, forwarding to other nodes in the Node adapters' wire formats and delivering locally
//! through the [`LocalNamespace`] it is given. Nothing here depends on the server crate, so an
//! adapter crate depends on this one only.

mod adapter;
mod memory;
mod room;
pub mod sid_hash;
mod socket_id;

pub use adapter::{
    packet_offset, AckCallback, Adapter, AdapterError, AdapterFactory, BoxFuture, BroadcastFlags,
    BroadcastOptions, LocalNamespace, PersistedSession, Room, ServerSideAck, SocketDetails,
};
pub use memory::{InMemoryAdapter, RecoveryConfig};
pub use room::RoomIndex;
pub use socket_id::SocketId;

/// The former name of [`SocketId`], kept so that adapters written against it still compile.
/// It is the Socket.IO socket id, not the Engine.IO session id (`sockgate_engine::Sid`).
pub type Sid = SocketId;
