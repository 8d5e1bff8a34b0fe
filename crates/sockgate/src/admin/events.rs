//! The admin namespace as an [`Observer`]: aggregated counts for `server_stats` (sessions
//! opened and closed, packets and bytes in and out) and, in development mode, the per-socket
//! events, from the server's observation hooks (no counting of its own).
//!
//! Callbacks run on the server's tasks, often a session's driver: they only count (a short
//! lock) or queue the event on a bounded channel; one task emits the queue to the admin
//! namespace. So no admin emit runs on the stack of the send it reports, and a burst the UI
//! cannot take is dropped (and counted in a log line) instead of growing memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;
use std::time::SystemTime;

use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::stats::AggregatedKind;
use super::time::{now_iso, unix_millis};
use super::{serialize, Admin, AdminMode};
use crate::namespace::Namespace;
use crate::observe::{CloseReason, ObservedNamespace, Observer, PacketEvent, SessionEvent};
use crate::reason::DisconnectReason;
use crate::socket::{Socket, SocketRef};
use crate::{NamespaceRef, Payload, Room};

/// How many admin events may wait for the emitting task.
pub(crate) const QUEUE_LEN: usize = 8192;

/// One queued admin event: its name and arguments.
pub(crate) type Queued = (&'static str, Vec<Value>);

/// The queue from the callbacks to the emitting task.
pub(crate) struct EventQueue {
    sender: mpsc::Sender<Queued>,
    receiver: parking_lot::Mutex<Option<mpsc::Receiver<Queued>>>,
    dropped: AtomicU64,
}

impl EventQueue {
    pub(crate) fn new() -> EventQueue {
        let (sender, receiver) = mpsc::channel(QUEUE_LEN);
        EventQueue {
            sender,
            receiver: parking_lot::Mutex::new(Some(receiver)),
            dropped: AtomicU64::new(0),
        }
    }

    pub(crate) fn push(&self, event: &'static str, args: Vec<Value>) {
        if self.sender.try_send((event, args)).is_err() {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(
                    target: "sockgate::admin",
                    dropped,
                    "admin UI events dropped: the admin namespace cannot keep up (use production mode on busy servers)"
                );
            }
        }
    }

    /// Starts the task emitting the queue to `namespace` (once; later calls do nothing).
    pub(crate) fn start(&self, namespace: Weak<Namespace>) {
        let Some(mut receiver) = self.receiver.lock().take() else {
            return;
        };
        tokio::spawn(async move {
            while let Some((event, args)) = receiver.recv().await {
                let Some(ns) = namespace.upgrade() else {
                    break;
                };
                let _ = NamespaceRef(ns).emit(event, Payload::from_parts(args, Vec::new()));
            }
        });
    }
}

/// Rooms a socket was in, read as it starts to leave (they are gone when it has left).
#[derive(Clone)]
struct RoomsAtDisconnect(Vec<Room>);

impl Admin {
    fn development(&self) -> bool {
        self.options.mode == AdminMode::Development
    }

    fn is_admin_namespace(&self, name: &str) -> bool {
        name == self.options.namespace
    }

    fn count(&self, kind: AggregatedKind, sub_type: Option<&'static str>, count: u64) {
        let now = unix_millis(SystemTime::now());
        self.events.lock().push(now, kind, sub_type, count);
    }
}

impl Observer for Admin {
    fn session_opened(&self, _session: &SessionEvent<'_>) {
        self.count(AggregatedKind::RawConnection, None, 1);
    }

    fn session_closed(&self, _session: &SessionEvent<'_>, reason: CloseReason) {
        self.count(AggregatedKind::RawDisconnection, Some(reason.as_str()), 1);
    }

    fn session_upgraded(&self, session: &SessionEvent<'_>) {
        if !self.development() {
            return;
        }
        for socket in session.client.sockets() {
            self.queue.push(
                "socket_updated",
                vec![json!({
                    "id": socket.id().as_str(),
                    "nsp": socket.ns_name(),
                    "transport": session.transport.as_str(),
                })],
            );
        }
    }

    fn socket_connected(&self, ns: &ObservedNamespace<'_>, socket: &SocketRef) {
        if !self.development() {
            return;
        }
        socket.on_disconnecting(|socket, _| {
            let rooms = socket.rooms();
            socket.extensions.insert(RoomsAtDisconnect(rooms));
        });
        let _ = ns;
        self.queue.push(
            "socket_connected",
            vec![super::serialize_local(socket), Value::from(now_iso())],
        );
    }

    fn socket_disconnected(
        &self,
        ns: &ObservedNamespace<'_>,
        socket: &SocketRef,
        reason: DisconnectReason,
    ) {
        if !self.development() {
            return;
        }
        let id = socket.id();
        let now = now_iso();
        self.queue.push(
            "socket_disconnected",
            vec![
                Value::from(ns.name()),
                Value::from(id.as_str()),
                Value::from(reason.as_str()),
                Value::from(now.clone()),
            ],
        );
        // Node's adapter reports each room the socket leaves, its own included.
        if let Some(RoomsAtDisconnect(rooms)) = socket.extensions.remove::<RoomsAtDisconnect>() {
            for room in rooms {
                self.queue.push(
                    "room_left",
                    vec![
                        Value::from(ns.name()),
                        Value::from(&*room),
                        Value::from(id.as_str()),
                        Value::from(now.clone()),
                    ],
                );
            }
        }
    }

    fn packet_received(&self, ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
        self.count(AggregatedKind::PacketsIn, None, 1);
        self.count(AggregatedKind::BytesIn, None, packet.bytes as u64);
        if self.development() && !self.is_admin_namespace(ns.name()) {
            if let (Some(event), Some(socket)) = (packet.event(), packet.socket) {
                self.queue.push(
                    "event_received",
                    event_args(ns, socket, event, packet.args()),
                );
            }
        }
    }

    fn packet_sent(&self, ns: &ObservedNamespace<'_>, packet: &PacketEvent<'_>) {
        self.count(AggregatedKind::PacketsOut, None, 1);
        self.count(AggregatedKind::BytesOut, None, packet.bytes as u64);
        if self.development() && !self.is_admin_namespace(ns.name()) {
            if let (Some(event), Some(socket)) = (packet.event(), packet.socket) {
                self.queue
                    .push("event_sent", event_args(ns, socket, event, packet.args()));
            }
        }
    }

    fn room_joined(&self, ns: &ObservedNamespace<'_>, socket: &Socket, room: &str) {
        if self.development() {
            self.queue.push("room_joined", room_args(ns, socket, room));
        }
    }

    fn room_left(&self, ns: &ObservedNamespace<'_>, socket: &Socket, room: &str) {
        if self.development() {
            self.queue.push("room_left", room_args(ns, socket, room));
        }
    }

    fn socket_data_changed(&self, ns: &ObservedNamespace<'_>, socket: &Socket) {
        if self.development() {
            self.queue.push(
                "socket_updated",
                vec![json!({
                    "id": socket.id().as_str(),
                    "nsp": ns.name(),
                    "data": serialize::without_admin(&socket.data_value()),
                })],
            );
        }
    }
}

/// `(nsp, id, [event, ...args], timestamp)`.
fn event_args(
    ns: &ObservedNamespace<'_>,
    socket: &Socket,
    event: &str,
    args: &[Value],
) -> Vec<Value> {
    let mut all = Vec::with_capacity(args.len() + 1);
    all.push(Value::from(event));
    all.extend(args.iter().cloned());
    vec![
        Value::from(ns.name()),
        Value::from(socket.id().as_str()),
        Value::Array(all),
        Value::from(now_iso()),
    ]
}

/// `(nsp, room, id, timestamp)`.
fn room_args(ns: &ObservedNamespace<'_>, socket: &Socket, room: &str) -> Vec<Value> {
    vec![
        Value::from(ns.name()),
        Value::from(room),
        Value::from(socket.id().as_str()),
        Value::from(now_iso()),
    ]
}
