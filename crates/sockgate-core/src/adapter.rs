//! The contract between a namespace and its adapter.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::Value;
use sockgate_proto::socketio::Packet;

use crate::Sid;

/// A room name. Cheap to clone: broadcasts copy them around.
pub type Room = Arc<str>;

/// A boxed future, for the adapter methods that may talk to other nodes.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Modifiers of a broadcast (Node's `BroadcastFlags`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastFlags {
    /// Drop the packet for recipients whose transport is not writable right now.
    pub volatile: bool,
    /// Ask for compression (`None`: the default).
    pub compress: Option<bool>,
    /// Only this node's sockets.
    pub local: bool,
    /// How long to wait for acks.
    pub timeout: Option<Duration>,
}

/// Who a broadcast reaches: the union of `rooms` (all sockets when empty) minus the members of
/// `except`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BroadcastOptions {
    /// Target rooms; empty means the whole namespace.
    pub rooms: Vec<Room>,
    /// Rooms whose members are skipped.
    pub except: Vec<Room>,
    /// Modifiers.
    pub flags: BroadcastFlags,
}

/// What `fetchSockets` returns for one socket, local or remote.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketDetails {
    /// The socket id.
    pub id: Sid,
    /// The handshake as Node serializes it (`headers`, `time`, `address`, `xdomain`, `secure`,
    /// `issued`, `url`, `query`, `auth`).
    pub handshake: Value,
    /// Rooms the socket is in.
    pub rooms: Vec<Room>,
    /// The socket's `data`.
    pub data: Value,
}

/// A disconnected socket kept for connection state recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistedSession {
    /// The socket id it will get back.
    pub sid: Sid,
    /// The private id the client presents to recover.
    pub pid: String,
    /// Its rooms (its own id room included).
    pub rooms: Vec<Room>,
    /// Its `data`.
    pub data: Value,
}

/// What the adapter may ask of the namespace it serves on this node.
pub trait LocalNamespace: Send + Sync {
    /// The namespace name.
    fn name(&self) -> &str;
    /// Sends `packet` to these local sockets, serialized once for all of them.
    fn deliver(&self, sids: &[Sid], packet: &Packet, flags: &BroadcastFlags);
    /// Details of a local socket, for `fetchSockets`.
    fn details(&self, sid: Sid) -> Option<SocketDetails>;
    /// Disconnects these local sockets (`close`: also close their Engine.IO connection).
    fn disconnect(&self, sids: &[Sid], close: bool);
}

/// Room bookkeeping and broadcasting for one namespace.
///
/// The in-memory adapter does everything locally. A cluster adapter keeps a local
/// [`crate::RoomIndex`] too, and forwards broadcasts and requests to other nodes.
pub trait Adapter: Send + Sync + 'static {
    /// Adds a socket to rooms.
    fn add_all(&self, sid: Sid, rooms: &[Room]);
    /// Removes a socket from a room.
    fn del(&self, sid: Sid, room: &str);
    /// Removes a socket from every room (it disconnected).
    fn del_all(&self, sid: Sid);
    /// The rooms of a local socket.
    fn rooms_of(&self, sid: Sid) -> Vec<Room>;
    /// Every room with a local member.
    fn rooms(&self) -> Vec<Room>;
    /// The local sockets a broadcast with `opts` reaches.
    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<Sid>;

    /// Sends an event to every matching socket, local and (unless `flags.local`) remote.
    fn broadcast(&self, packet: Packet, opts: BroadcastOptions);

    /// Forwards an event expecting acks to the other nodes; calls `on_ack` with each remote
    /// answer and resolves to the number of remote answers to expect. Local sockets are
    /// handled by the caller.
    fn broadcast_with_ack_remote(
        &self,
        _packet: Packet,
        _opts: BroadcastOptions,
        _on_ack: Arc<dyn Fn(Value) + Send + Sync>,
    ) -> BoxFuture<'_, usize> {
        Box::pin(async { 0 })
    }

    /// Every matching socket, local and remote.
    fn fetch_sockets(&self, opts: BroadcastOptions) -> BoxFuture<'_, Vec<SocketDetails>>;
    /// Makes every matching socket join `rooms`.
    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>);
    /// Makes every matching socket leave `rooms`.
    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>);
    /// Disconnects every matching socket.
    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool);
    /// How many nodes serve this namespace.
    fn server_count(&self) -> BoxFuture<'_, usize> {
        Box::pin(async { 1 })
    }

    /// Whether connection state recovery is on (broadcasts then carry offsets).
    fn recovery_enabled(&self) -> bool {
        false
    }
    /// Keeps a disconnected socket's state for recovery.
    fn persist_session(&self, _session: PersistedSession) {}
    /// Finds a persisted session and the packets it missed since `offset`, oldest first.
    /// `None` when the session is unknown, expired, or the offset is no longer buffered.
    fn restore_session(
        &self,
        _pid: &str,
        _offset: &str,
    ) -> BoxFuture<'_, Option<(PersistedSession, Vec<Packet>)>> {
        Box::pin(async { None })
    }

    /// The packets reaching `rooms` stored after `offset`, oldest first, without touching any
    /// session: called once a recovering socket is registered, to pick up what was broadcast
    /// between [`Adapter::restore_session`] and the registration (otherwise lost). `None` when
    /// `offset` is not buffered.
    fn packets_after(&self, _offset: &str, _rooms: &[Room]) -> BoxFuture<'_, Option<Vec<Packet>>> {
        Box::pin(async { Some(Vec::new()) })
    }
}

/// The recovery offset a stored packet carries: its last argument.
pub fn packet_offset(packet: &Packet) -> Option<&str> {
    packet.data.as_ref()?.as_array()?.last()?.as_str()
}

/// Builds the adapter of each namespace.
pub type AdapterFactory = Arc<dyn Fn(Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> + Send + Sync>;
