//! Watching a server from outside: an [`Observer`] is told what happens (sessions, sockets,
//! packets, rooms, broadcasts, drops, acks, recoveries, handlers, adapter requests) and turns
//! it into metrics, an admin dashboard, audit logs...
//!
//! Register observers on the builder (or on
//! [`GatewayOptions`](crate::gateway::GatewayOptions)); several are allowed and each is called
//! in registration order:
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//! use sockgate::observe::{ObservedNamespace, Observer, PacketEvent};
//! use sockgate::SocketIo;
//!
//! #[derive(Default)]
//! struct CountEvents(AtomicU64);
//!
//! impl Observer for CountEvents {
//!     fn packet_received(&self, _ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
//!         if packet.event().is_some() {
//!             self.0.fetch_add(1, Ordering::Relaxed);
//!         }
//!     }
//! }
//!
//! let events = Arc::new(CountEvents::default());
//! let io = SocketIo::builder().observer_arc(events.clone()).build();
//! # let _ = io;
//! ```
//!
//! # What it costs
//!
//! Every method has an empty default; implement the ones you need. Without an observer, each
//! hook is one length check of the observer list: no allocation, no lock, no clock read. With
//! one, the server passes borrowed views (no allocation, no extra lock) and reads the clock
//! only for the durations it reports. Callbacks run on the server's tasks, often with a
//! session's driver waiting: keep them short and non-blocking (atomics, lock-free metric
//! handles, a channel send); never block, never call back into the same socket's sends
//! from `packet_sent`.
//!
//! # Per-namespace state, resolved once
//!
//! Namespaced callbacks get an [`ObservedNamespace`]: its name, and a slot that this observer
//! alone owns in that namespace, filled on first use by [`ObservedNamespace::cached`]. A
//! metrics observer keeps its labelled counter handles there, so a packet costs a pointer load
//! and an atomic add, not a label lookup.
//!
//! # When each callback fires
//!
//! | callback | when |
//! |---|---|
//! | [`session_opened`](Observer::session_opened) | an Engine.IO session opened (handshake sent) |
//! | [`session_upgraded`](Observer::session_upgraded) | a polling session switched to WebSocket |
//! | [`session_closed`](Observer::session_closed) | the session closed, once, with its reason |
//! | [`socket_connected`](Observer::socket_connected) | a socket joined a namespace: registered, in its own room, before its CONNECT answer and the connection handler (every `socket_connected` is followed by one `socket_disconnected`) |
//! | [`socket_disconnected`](Observer::socket_disconnected) | the socket left, after its disconnect callbacks ran |
//! | [`packet_received`](Observer::packet_received) | a decoded packet from a client, for a namespace it joined (CONNECTs: for an existing namespace, before middlewares) |
//! | [`packet_sent`](Observer::packet_sent) | a packet queued for one client (each recipient of a broadcast too) |
//! | [`room_joined`](Observer::room_joined) / [`room_left`](Observer::room_left) | a socket joined or left a room by name through `join`/`leave` (its own room, joined at connect, and the rooms dropped at disconnect are not reported one by one) |
//! | [`socket_data_changed`](Observer::socket_data_changed) | `set_data` stored a new `socket.data` |
//! | [`broadcast`](Observer::broadcast) | a broadcast was delivered to local sockets, with their count (one that reached no local socket is not reported) |
//! | [`frames_written`](Observer::frames_written) | one WebSocket write carried `frames` frames (`frames - 1` were coalesced) |
//! | [`dropped`](Observer::dropped) | a packet was not queued: the queue was full, or a volatile packet met a busy transport |
//! | [`ack_timed_out`](Observer::ack_timed_out) | an `emit_with_ack` (or a broadcast with acks) stopped waiting without every answer |
//! | [`recovery`](Observer::recovery) | a client asked for connection state recovery: succeeded or failed |
//! | [`handler_failed`](Observer::handler_failed) | an event handler's extractor rejected the message, or the handler panicked |
//! | [`handler_finished`](Observer::handler_finished) | an event handler completed (its future, if it waited), with its duration |
//! | [`adapter_request`](Observer::adapter_request) | a cluster request (fetch sockets, server-side emit with ack, server count) completed, with its latency |

mod dispatch;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;
use sockgate_proto::socketio::Packet;

pub use sockgate_engine::{CloseReason, TransportKind};
pub use sockgate_proto::socketio::PacketType;

pub use dispatch::Observers;
pub(crate) use dispatch::{handler_failed, HandlerTimer, NamespaceSlots};

use crate::reason::DisconnectReason;
use crate::socket::{Socket, SocketRef};

/// Told what a server does. Every method has an empty default: implement what you need.
///
/// Callbacks run on the server's own tasks (a session's driver, a broadcaster's task): keep
/// them short and never block. A panic in a callback is not caught for you on the hot paths;
/// do not panic.
pub trait Observer: Send + Sync + 'static {
    /// An Engine.IO session opened: its handshake was sent on `session.transport`.
    fn session_opened(&self, session: &SessionEvent<'_>) {
        let _ = session;
    }

    /// The session upgraded from polling to WebSocket (`session.transport` is now
    /// [`TransportKind::WebSocket`]).
    fn session_upgraded(&self, session: &SessionEvent<'_>) {
        let _ = session;
    }

    /// The session closed for `reason` (once per session); `session.transport` is the
    /// transport it used last.
    fn session_closed(&self, session: &SessionEvent<'_>, reason: CloseReason) {
        let _ = (session, reason);
    }

    /// A socket joined `ns`. The handle may be kept (it stays valid after the disconnect; its
    /// sends then fail).
    fn socket_connected(&self, ns: &ObservedNamespace<'_>, socket: &SocketRef) {
        let _ = (ns, socket);
    }

    /// The socket left `ns` for `reason` (Node's reason string is `reason.as_str()`).
    fn socket_disconnected(
        &self,
        ns: &ObservedNamespace<'_>,
        socket: &SocketRef,
        reason: DisconnectReason,
    ) {
        let _ = (ns, socket, reason);
    }

    /// A packet arrived from a client of `ns`.
    fn packet_received(&self, ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
        let _ = (ns, packet);
    }

    /// A packet was queued for one client of `ns`.
    fn packet_sent(&self, ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
        let _ = (ns, packet);
    }

    /// `socket` joined `room`.
    fn room_joined(&self, ns: &ObservedNamespace<'_>, socket: &Socket, room: &str) {
        let _ = (ns, socket, room);
    }

    /// `socket` left `room`.
    fn room_left(&self, ns: &ObservedNamespace<'_>, socket: &Socket, room: &str) {
        let _ = (ns, socket, room);
    }

    /// `socket.data` changed (read it with [`Socket::data_value`]).
    fn socket_data_changed(&self, ns: &ObservedNamespace<'_>, socket: &Socket) {
        let _ = (ns, socket);
    }

    /// A broadcast was delivered on this node (after its per-recipient
    /// [`packet_sent`](Observer::packet_sent) calls).
    fn broadcast(&self, ns: &ObservedNamespace<'_>, broadcast: &BroadcastEvent<'_>) {
        let _ = (ns, broadcast);
    }

    /// One WebSocket write carried `frames` frames: `frames - 1` of them were coalesced into
    /// a write they would otherwise have had to themselves.
    fn frames_written(&self, frames: usize) {
        let _ = frames;
    }

    /// A packet for a client of `ns` was not queued.
    fn dropped(&self, ns: &ObservedNamespace<'_>, drop: &DropEvent<'_>) {
        let _ = (ns, drop);
    }

    /// An ack wait on `ns` ended by its timeout; `socket` is `None` for a broadcast with acks.
    fn ack_timed_out(&self, ns: &ObservedNamespace<'_>, socket: Option<&Socket>) {
        let _ = (ns, socket);
    }

    /// A client asked `ns` for connection state recovery; `succeeded` tells whether its
    /// session was found (the socket then connects with [`Socket::recovered`] true).
    fn recovery(&self, ns: &ObservedNamespace<'_>, succeeded: bool) {
        let _ = (ns, succeeded);
    }

    /// An event handler did not run to its end: see [`HandlerFailure`].
    fn handler_failed(&self, ns: &ObservedNamespace<'_>, failure: &HandlerFailure<'_>) {
        let _ = (ns, failure);
    }

    /// An event handler of `event` completed after `duration` (from its call to the end of
    /// its future, if it waited).
    fn handler_finished(&self, ns: &ObservedNamespace<'_>, event: &str, duration: Duration) {
        let _ = (ns, event, duration);
    }

    /// A request to the cluster through the adapter completed.
    fn adapter_request(&self, ns: &ObservedNamespace<'_>, request: &AdapterRequestEvent) {
        let _ = (ns, request);
    }
}

impl fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer")
    }
}

/// The namespace a callback is about, with this observer's own slot in it.
pub struct ObservedNamespace<'a> {
    name: &'a str,
    slot: &'a OnceLock<Box<dyn Any + Send + Sync>>,
}

impl<'a> ObservedNamespace<'a> {
    /// The namespace's name (the concrete name for a child of a dynamic namespace).
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// This observer's value for this namespace, made by `init` (given the name) on first
    /// use and kept as long as the namespace lives: one `init` per namespace, then a pointer
    /// load per call.
    ///
    /// Use one type per observer: if the slot already holds a value of another type,
    /// `None` is returned (and `init` is not called).
    pub fn cached<T: Any + Send + Sync>(&self, init: impl FnOnce(&str) -> T) -> Option<&'a T> {
        self.slot
            .get_or_init(|| Box::new(init(self.name)))
            .downcast_ref()
    }
}

impl fmt::Debug for ObservedNamespace<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObservedNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// An Engine.IO session.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct SessionEvent<'a> {
    /// The Engine.IO session id (not a socket id).
    pub sid: sockgate_engine::Sid,
    /// The transport in use.
    pub transport: TransportKind,
    /// The handshake request (address, headers, query).
    pub request: &'a sockgate_engine::RequestInfo,
    /// The session's sockets (for the admin UI's `socket_updated` on upgrade).
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) client: &'a crate::client::ClientState,
}

/// One Socket.IO packet, received or sent.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct PacketEvent<'a> {
    /// The socket of the client, `None` for a CONNECT that has no socket yet.
    pub socket: Option<&'a Socket>,
    /// Bytes on the wire: the Engine.IO message(s) of the packet, attachments included
    /// (without the WebSocket frame header or polling framing).
    pub bytes: usize,
    pub(crate) packet: &'a Packet,
}

impl<'a> PacketEvent<'a> {
    /// The packet type.
    pub fn kind(&self) -> PacketType {
        self.packet.kind
    }

    /// The event name of an EVENT (or BINARY_EVENT) packet.
    pub fn event(&self) -> Option<&'a str> {
        self.packet.event_name()
    }

    /// The arguments: those after the event name for an event, the ack's for an ack, the
    /// auth/answer object for a CONNECT; binary attachments appear as placeholders.
    pub fn args(&self) -> &'a [Value] {
        match self.packet.data.as_ref() {
            Some(Value::Array(args)) if self.event().is_some() => &args[1..],
            Some(Value::Array(args)) => args,
            Some(other) => std::slice::from_ref(other),
            None => &[],
        }
    }

    /// The ack id, if the packet carries one.
    pub fn ack_id(&self) -> Option<u64> {
        self.packet.id
    }

    /// Number of binary attachments.
    pub fn attachments(&self) -> usize {
        self.packet.attachments.len()
    }
}

impl fmt::Debug for PacketEvent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacketEvent")
            .field("socket", &self.socket.map(Socket::id))
            .field("kind", &self.kind())
            .field("event", &self.event())
            .field("bytes", &self.bytes)
            .finish()
    }
}

/// A broadcast delivered on this node.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BroadcastEvent<'a> {
    /// The event name (`None` for a raw packet that is not an event).
    pub event: Option<&'a str>,
    /// Local sockets the packet was queued for.
    pub recipients: usize,
    /// Bytes of one copy on the wire.
    pub bytes: usize,
}

/// Why a packet was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The client's queue was full (`max_buffered_bytes`): the connection closes with
    /// `transport error`.
    QueueFull,
    /// A volatile packet met a transport that was not writable.
    Volatile,
}

impl DropReason {
    /// `"queue_full"` or `"volatile"` (label values).
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Volatile => "volatile",
        }
    }
}

/// A packet that was not queued.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DropEvent<'a> {
    /// The socket it was for.
    pub socket: &'a Socket,
    /// Why.
    pub reason: DropReason,
}

/// How an event handler failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HandlerFailureKind {
    /// An extractor refused the message (wrong payload type...).
    Rejected,
    /// The handler panicked (caught; the server goes on).
    Panicked,
    /// The handler returned an error (a plain server's `Err`, a gateway's exception).
    Errored,
}

impl HandlerFailureKind {
    /// `"rejected"`, `"panicked"` or `"errored"` (label values).
    pub fn as_str(self) -> &'static str {
        match self {
            HandlerFailureKind::Rejected => "rejected",
            HandlerFailureKind::Panicked => "panicked",
            HandlerFailureKind::Errored => "errored",
        }
    }
}

/// An event handler that did not run to its end.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct HandlerFailure<'a> {
    /// The socket whose message it handled.
    pub socket: &'a Socket,
    /// The event name.
    pub event: &'a str,
    /// Rejected or panicked.
    pub kind: HandlerFailureKind,
}

/// A cluster request through the adapter.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct AdapterRequestEvent {
    /// `"fetch_sockets"`, `"server_side_emit_with_ack"`, `"server_count"` or
    /// `"broadcast_with_ack"` (the remote part of a broadcast with acks: until the other
    /// servers said how many answers to expect).
    pub kind: &'static str,
    /// From the call to its answer.
    pub latency: Duration,
    /// False when the adapter reported an error.
    pub ok: bool,
}
