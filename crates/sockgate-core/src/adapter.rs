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

/// A cross-node operation that did not complete.
///
/// Single-node adapters never return it; cluster adapters do when other nodes cannot be
/// reached or do not answer in time, instead of waiting forever.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdapterError {
    /// Fewer nodes answered than were counted before `timeout` passed (a node died or is
    /// overloaded). Retry, or use the local part of the answer.
    Timeout {
        /// The operation (`"fetchSockets"`, `"allRooms"`, `"serverSideEmitWithAck"`).
        operation: &'static str,
        /// How long it waited.
        timeout: Duration,
        /// Nodes that answered.
        answered: usize,
        /// Nodes that were expected to.
        expected: usize,
    },
    /// The cluster's transport (Redis) cannot be reached. The adapter reconnects by itself;
    /// retry later. Local operations keep working meanwhile.
    Unavailable {
        /// The operation.
        operation: &'static str,
        /// What the transport said.
        reason: String,
    },
}

impl std::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdapterError::Timeout {
                operation,
                timeout,
                answered,
                expected,
            } => write!(
                f,
                "timeout reached while waiting for {operation} response: {answered} of \
                 {expected} other nodes answered within {timeout:?}; retry, or check that every \
                 node is alive"
            ),
            AdapterError::Unavailable { operation, reason } => write!(
                f,
                "{operation} could not reach the other nodes ({reason}); the adapter \
                 reconnects by itself, retry later"
            ),
        }
    }
}

impl std::error::Error for AdapterError {}

/// Answers a server-side emit that wants an ack, with the answer's first argument.
pub type ServerSideAck = Box<dyn FnOnce(Value) + Send>;

/// Receives each ack of a broadcast, with the ack's arguments.
pub type AckCallback = Arc<dyn Fn(Vec<Value>) + Send + Sync>;

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

    /// Sends `packet` (an event from another node) to these local sockets expecting an ack
    /// from each within `timeout`, calls `on_ack` with each answer's arguments, and returns
    /// how many acks to expect. The namespace assigns the ack id.
    ///
    /// The default delivers without an ack id and expects none, so a namespace that cannot
    /// track acks still delivers the event.
    fn deliver_with_ack(
        &self,
        sids: &[Sid],
        packet: &Packet,
        flags: &BroadcastFlags,
        _timeout: Duration,
        _on_ack: AckCallback,
    ) -> usize {
        let mut packet = packet.clone();
        packet.id = None;
        self.deliver(sids, &packet, flags);
        0
    }

    /// An event another server sent with `serverSideEmit` (`data` is `[event, ...args]`);
    /// `ack`, when set, answers the sender. The default ignores it, as a Node server with no
    /// listener for the event does.
    fn on_server_side_emit(&self, _data: Vec<Value>, _ack: Option<ServerSideAck>) {}

    /// Another node's `socketsJoin` (`joined`) or `socketsLeave` changed the rooms of these
    /// local sockets, already applied to the adapter's index; the namespace tells its observers
    /// as of a local join or leave (in Node, such a join goes through `socket.join` on the
    /// socket's node and fires the adapter's `join-room`). The default does nothing.
    fn rooms_changed_remotely(&self, _sids: &[Sid], _rooms: &[Room], _joined: bool) {}
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
    /// answer's arguments (Node's nodes forward the first argument only: `vec![arg]`, so an
    /// answer that is one array stays one argument) and resolves to the number of remote
    /// answers to expect. Local sockets are handled by the caller.
    fn broadcast_with_ack_remote(
        &self,
        _packet: Packet,
        _opts: BroadcastOptions,
        _on_ack: AckCallback,
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

    /// [`Adapter::fetch_sockets`] that reports a cluster failure instead of returning only
    /// what answered.
    fn try_fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketDetails>, AdapterError>> {
        Box::pin(async move { Ok(self.fetch_sockets(opts).await) })
    }

    /// Every room with a member on any node (Node's `adapter.allRooms()`).
    fn all_rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        let rooms = self.rooms();
        Box::pin(async move { Ok(rooms) })
    }

    /// Sends an event to the other servers (`data` is `[event, ...args]`); this node's own
    /// listeners are not called. Nothing to do on a single node.
    fn server_side_emit(&self, _data: Vec<Value>) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async { Ok(()) })
    }

    /// [`Adapter::server_side_emit`] collecting one answer per other server within `timeout`.
    fn server_side_emit_with_ack(
        &self,
        _data: Vec<Value>,
        _timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<Value>, AdapterError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Whether connection state recovery is on (broadcasts then carry offsets).
    fn recovery_enabled(&self) -> bool {
        false
    }
    /// Keeps a disconnected socket's state for recovery.
    fn persist_session(&self, _session: PersistedSession) {}

    /// A connected socket's recoverable state: called when it connects and when its `data`
    /// changes (joins and leaves reach the adapter through [`Adapter::add_all`] and
    /// [`Adapter::del`]). An adapter that keeps sessions outside the process (the Redis
    /// streams adapter) saves them as they change, so a session survives its node being
    /// killed; the in-memory adapter only needs [`Adapter::persist_session`].
    fn track_session(&self, _session: PersistedSession) {}
    /// The socket left for a reason that allows no recovery: forget its session.
    fn forget_session(&self, _sid: Sid, _pid: &str) {}
    /// Resolves once everything this adapter queued for the cluster (broadcasts, room
    /// operations, sessions persisted by [`Adapter::persist_session`] or tracked as they
    /// changed) was handed to its transport, or given up on. A graceful shutdown awaits it,
    /// bounded by its close timeout, before it closes the transports, so a client that
    /// reconnects to another node finds its session. Nothing to do on a single node (the
    /// default resolves at once).
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
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
