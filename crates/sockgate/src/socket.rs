//! A socket: one client in one namespace.
//!
//! Long for a reason: `Socket` is one type with the whole per-socket API of Node's `Socket`
//! (events, acks, rooms, data, disconnect); only small companions (`SocketRef`,
//! `TimedSocket`, `IntoRooms`) sit beside it.

use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use sockgate_core::{BroadcastOptions, PersistedSession, Room, Sid};
use sockgate_engine::Connection;
use sockgate_proto::socketio::Packet;

use crate::ack::{AckFuture, AckTable, FromAck};
use crate::client::ClientState;
use crate::extensions::Extensions;
use crate::handler::{BoxedMessageHandler, DisconnectCallback, MessageParts};
use crate::handshake::Handshake;
use crate::namespace::Namespace;
use crate::operators::BroadcastOperators;
use crate::payload::{encode_frames, IntoPayload, Outgoing, Payload};
use crate::reason::DisconnectReason;
use crate::SendError;

/// A listener of every outgoing event (`onAnyOutgoing`).
pub(crate) type OutgoingListener = Arc<dyn Fn(&str, &Payload) + Send + Sync>;

/// A cheap, cloneable handle on a [`Socket`].
#[derive(Clone)]
pub struct SocketRef(pub(crate) Arc<Socket>);

impl Deref for SocketRef {
    type Target = Socket;
    fn deref(&self) -> &Socket {
        &self.0
    }
}

impl fmt::Debug for SocketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for SocketRef {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

// The `Socket` methods taking `self: &Arc<Self>` cannot be reached through `Deref` (outside this
// crate nobody holds an `Arc<Socket>`), so `SocketRef` exposes them itself.
impl SocketRef {
    /// Emits an event and waits for the client's ack (see [`Socket::emit_with_ack`]).
    pub fn emit_with_ack<T: FromAck, P: IntoPayload>(&self, event: &str, data: P) -> AckFuture<T> {
        self.0.emit_with_ack(event, data)
    }

    /// Sets the ack timeout of the next emit: `socket.timeout(d).emit_with_ack(...)`.
    pub fn timeout(&self, timeout: Duration) -> TimedSocket {
        self.0.timeout(timeout)
    }

    /// Disconnects this socket from its namespace (see [`Socket::disconnect`]).
    pub fn disconnect(&self) {
        self.0.disconnect()
    }

    /// Disconnects this socket and closes the whole connection (`disconnect(true)`).
    pub fn disconnect_and_close(&self) {
        self.0.disconnect_and_close()
    }
}

/// One client connected to one namespace (Node's `Socket`).
///
/// Its id is 20 characters, distinct from the Engine.IO session id; it is always in the room
/// named by its id.
pub struct Socket {
    pub(crate) id: Sid,
    pub(crate) ns: Arc<Namespace>,
    pub(crate) conn: Arc<Connection<ClientState>>,
    pub(crate) handshake: Handshake,
    pid: Option<String>,
    recovered: bool,
    connected: AtomicBool,
    /// Set once the socket left: it joins no room any more (a handler still running after a
    /// close must not leave a dead id in the adapter).
    left: AtomicBool,
    /// Set while a recovered socket's missed packets are being replayed: broadcasts that
    /// reach it meanwhile wait in `held` so they follow the replay, and are dropped if the
    /// replay already carried them (same offset).
    replaying: AtomicBool,
    /// Handlers, callbacks, acks, data and replay state of this socket, allocated on first
    /// use: most sockets have none of their own, and inline they cost an idle socket 336
    /// bytes (see [`Rare`]).
    rare: OnceLock<Box<Rare>>,
    /// Typed per-socket values that are not serialized (use `set_data` for what must travel
    /// with `fetch_sockets` and recovery).
    pub extensions: Extensions,
    /// The `socket` span, only while a subscriber wanted it at creation: an idle socket pays
    /// one pointer for it otherwise.
    span: Option<Box<tracing::Span>>,
}

/// The parts of a [`Socket`] that most sockets never use (handlers are usually declared once
/// per namespace, acks are waited for only by `emit_with_ack`, recovery and `socket.data` are
/// opt-in): one allocation the first time any of them is needed.
#[derive(Default)]
pub(crate) struct Rare {
    pub(crate) handlers: RwLock<HashMap<Box<str>, BoxedMessageHandler>>,
    pub(crate) any_handlers: RwLock<Vec<BoxedMessageHandler>>,
    any_outgoing: RwLock<Vec<OutgoingListener>>,
    disconnecting: Mutex<Vec<DisconnectCallback>>,
    disconnect: Mutex<Vec<DisconnectCallback>>,
    pub(crate) acks: Mutex<AckTable>,
    data: Mutex<Value>,
    held: Mutex<Option<Vec<Packet>>>,
    /// The newest offset the replay sent, set once it ended: a live copy of a replayed packet
    /// can still arrive after that (a cluster node's stream reader lags the range read the
    /// replay came from), and offsets only grow, so anything at or below it is a duplicate.
    replayed_up_to: OnceLock<OffsetKey>,
}

/// The span of a socket whose span was disabled.
static NO_SPAN: tracing::Span = tracing::Span::none();

impl fmt::Debug for Socket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.id)
            .field("ns", &self.ns.name())
            .field("connected", &self.connected())
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(
        id: Sid,
        ns: Arc<Namespace>,
        conn: Arc<Connection<ClientState>>,
        handshake: Handshake,
        pid: Option<String>,
        recovered: bool,
        data: Value,
    ) -> Socket {
        Socket {
            handshake,
            pid,
            recovered,
            connected: AtomicBool::new(false),
            left: AtomicBool::new(false),
            replaying: AtomicBool::new(false),
            rare: if data.is_null() {
                OnceLock::new()
            } else {
                OnceLock::from(Box::new(Rare {
                    data: Mutex::new(data),
                    ..Rare::default()
                }))
            },
            extensions: Extensions::new(),
            span: {
                let span = tracing::debug_span!(
                    target: "sockgate::socket",
                    "socket",
                    ns = ns_name_of(&ns),
                    sid = %id,
                    session = %conn.sid(),
                );
                (!span.is_disabled()).then(|| Box::new(span))
            },
            id,
            ns,
            conn,
        }
    }

    /// The `socket` span (target `sockgate::socket`, level DEBUG, fields `ns`, `sid` and
    /// `session`, the Engine.IO id): its events and handlers run in it. Use it as the parent
    /// of your own spans for this socket; disabled when tracing was off for that target when
    /// the socket connected.
    pub fn span(&self) -> &tracing::Span {
        self.span.as_deref().unwrap_or(&NO_SPAN)
    }

    /// The rarely used parts, allocated now if they were not yet.
    pub(crate) fn rare(&self) -> &Rare {
        self.rare.get_or_init(Box::default)
    }

    /// The rarely used parts, if anything ever needed them.
    pub(crate) fn rare_if_any(&self) -> Option<&Rare> {
        self.rare.get().map(|rare| &**rare)
    }

    /// The socket id.
    pub fn id(&self) -> sockgate_core::SocketId {
        self.id
    }

    /// The namespace name (the concrete one for dynamic namespaces).
    pub fn ns_name(&self) -> &str {
        self.ns.name()
    }

    /// The namespace.
    pub fn namespace(&self) -> crate::NamespaceRef {
        crate::NamespaceRef(self.ns.clone())
    }

    /// The handshake (query, auth, headers, address...).
    pub fn handshake(&self) -> &Handshake {
        &self.handshake
    }

    /// Whether the socket is connected.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    pub(crate) fn set_connected(&self) {
        self.connected.store(true, Ordering::Release);
    }

    /// Whether this socket got its state back through connection state recovery.
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The private session id used for recovery (only when recovery is on).
    pub fn pid(&self) -> Option<&str> {
        self.pid.as_deref()
    }

    /// The Engine.IO transport in use: `"polling"` or `"websocket"`.
    pub fn transport(&self) -> &'static str {
        self.conn.transport().as_str()
    }

    /// The serializable data of this socket (Node's `socket.data`), as JSON.
    pub fn data_value(&self) -> Value {
        self.rare_if_any()
            .map_or(Value::Null, |rare| rare.data.lock().clone())
    }

    /// Reads `socket.data` as `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_value(self.data_value()).ok()
    }

    /// Sets `socket.data`, which travels with `fetch_sockets` and recovery.
    pub fn set_data<T: Serialize>(&self, data: &T) -> Result<(), serde_json::Error> {
        *self.rare().data.lock() = serde_json::to_value(data)?;
        self.track_session();
        self.ns.observe(|o, ns| o.socket_data_changed(ns, self));
        Ok(())
    }

    /// Registers a handler for `event`, replacing any previous one.
    pub fn on<H, M>(&self, event: impl Into<String>, handler: H)
    where
        H: crate::handler::MessageHandler<M>,
        M: Send + Sync + 'static,
    {
        let boxed = crate::handler::boxed_message_handler(handler);
        self.rare()
            .handlers
            .write()
            .insert(event.into().into_boxed_str(), boxed);
    }

    /// Removes the handler of `event`.
    pub fn off(&self, event: &str) {
        if let Some(rare) = self.rare_if_any() {
            rare.handlers.write().remove(event);
        }
    }

    /// Registers a handler called for every incoming event (Node's `onAny`); it can use the
    /// [`crate::extract::Event`] extractor to read the event name.
    pub fn on_any<H, M>(&self, handler: H)
    where
        H: crate::handler::MessageHandler<M>,
        M: Send + Sync + 'static,
    {
        self.rare()
            .any_handlers
            .write()
            .push(crate::handler::boxed_message_handler(handler));
    }

    /// Registers a callback for every outgoing event of this socket (Node's `onAnyOutgoing`).
    pub fn on_any_outgoing(&self, callback: impl Fn(&str, &Payload) + Send + Sync + 'static) {
        self.rare().any_outgoing.write().push(Arc::new(callback));
    }

    /// The `onAnyOutgoing` listeners, copied out so that none runs under the list's lock (a
    /// listener may add another). `None` when there are none: no allocation per emit.
    pub(crate) fn outgoing_listeners(&self) -> Option<Vec<OutgoingListener>> {
        let listeners = self.rare_if_any()?.any_outgoing.read();
        (!listeners.is_empty()).then(|| listeners.clone())
    }

    /// Called when the socket is about to leave (its rooms are still readable).
    pub fn on_disconnecting(
        &self,
        callback: impl FnOnce(SocketRef, DisconnectReason) + Send + 'static,
    ) {
        self.rare().disconnecting.lock().push(Box::new(callback));
    }

    /// Called once the socket left, with the reason.
    pub fn on_disconnect(
        &self,
        callback: impl FnOnce(SocketRef, DisconnectReason) + Send + 'static,
    ) {
        self.rare().disconnect.lock().push(Box::new(callback));
    }

    /// Emits an event to this client. Tuples send several arguments; a [`Payload`] sends
    /// binary too.
    pub fn emit<P: IntoPayload>(&self, event: &str, data: P) -> Result<(), SendError> {
        self.emit_flagged(event, data, false)
    }

    fn emit_flagged<P: IntoPayload>(
        &self,
        event: &str,
        data: P,
        volatile: bool,
    ) -> Result<(), SendError> {
        crate::check_event_name(event)?;
        let payload = data.into_payload().map_err(SendError::Serialize)?;
        let adapter = self.ns.adapter();
        if adapter.recovery_enabled() {
            // As in Node: with recovery on, an emit goes through the adapter to its own room,
            // so it gets an offset and is kept for replay like a broadcast (a client whose
            // last packets were per-socket emits can still recover). The fan-out calls the
            // `onAnyOutgoing` listeners.
            if !self.connected() {
                return Err(SendError::Disconnected);
            }
            let mut opts = BroadcastOptions {
                rooms: vec![Room::from(self.id.as_str())],
                ..Default::default()
            };
            opts.flags.volatile = volatile;
            adapter.broadcast(payload.into_event(self.ns_name(), event), opts);
            return Ok(());
        }
        for callback in self.outgoing_listeners().into_iter().flatten() {
            callback(event, &payload);
        }
        self.send_payload(payload, Outgoing::Event(event))
    }

    /// Emits an event and waits for the client's ack, up to the server's ack timeout (5 s
    /// unless set with [`crate::SocketIoBuilder::ack_timeout`]) or the one given with
    /// [`Socket::timeout`]. The future resolves to the ack decoded as `T` (see
    /// [`crate::FromAck`]): its first argument, every argument as
    /// [`Args<(A, B)>`](crate::extract::Args), or the raw [`Payload`]; and to
    /// [`crate::AckError::Timeout`] when the client did not answer in time.
    pub fn emit_with_ack<T: FromAck, P: IntoPayload>(
        self: &Arc<Self>,
        event: &str,
        data: P,
    ) -> AckFuture<T> {
        self.emit_with_ack_timeout(event, data, self.ns.server().config.ack_timeout)
    }

    pub(crate) fn emit_with_ack_timeout<T: FromAck, P: IntoPayload>(
        self: &Arc<Self>,
        event: &str,
        data: P,
        timeout: Duration,
    ) -> AckFuture<T> {
        if let Err(e) = crate::check_event_name(event) {
            return AckFuture::failed(crate::AckError::Send(e));
        }
        let payload = match data.into_payload() {
            Ok(payload) => payload,
            Err(e) => return AckFuture::failed(crate::AckError::Send(SendError::Serialize(e))),
        };
        for callback in self.outgoing_listeners().into_iter().flatten() {
            callback(event, &payload);
        }
        let id = self.ns.next_ack_id();
        let rx = self.rare().acks.lock().insert(id);
        let packet = payload.into_event(self.ns_name(), event).with_id(id);
        if let Err(e) = self.send_packet(packet) {
            self.rare().acks.lock().forget(id);
            return AckFuture::failed(crate::AckError::Send(e));
        }
        AckFuture::new(SocketRef(self.clone()), id, rx, timeout)
    }

    /// How many acks this socket's emits still wait for (for metrics and tests).
    pub fn pending_acks(&self) -> usize {
        self.rare_if_any().map_or(0, |rare| rare.acks.lock().len())
    }

    /// Sets the ack timeout of the next emit: `socket.timeout(d).emit_with_ack(...)`.
    pub fn timeout(self: &Arc<Self>, timeout: Duration) -> TimedSocket {
        TimedSocket {
            socket: self.clone(),
            timeout,
        }
    }

    /// Sends `payload` as `to`: received arguments still in their JSON text are copied as is
    /// (no packet, no `Value`), unless observers want to see the packet.
    pub(crate) fn send_payload(&self, payload: Payload, to: Outgoing<'_>) -> Result<(), SendError> {
        let parser = self.ns.server().config.parser;
        if !self.ns.is_observed() {
            if let Some(frames) = payload.encode_raw(parser, self.ns_name(), to) {
                if !self.connected() {
                    return Err(SendError::Disconnected);
                }
                return self
                    .conn
                    .send_all(frames)
                    .map_err(|_| SendError::Disconnected);
            }
        }
        self.send_packet(match to {
            Outgoing::Event(event) => payload.into_event(self.ns_name(), event),
            Outgoing::Ack(id) => payload.into_ack(self.ns_name(), id),
        })
    }

    /// Sends a packet to this socket's connection.
    pub(crate) fn send_packet(&self, packet: Packet) -> Result<(), SendError> {
        if !self.connected()
            && !packet
                .kind
                .eq(&sockgate_proto::socketio::PacketType::Connect)
        {
            return Err(SendError::Disconnected);
        }
        let frames = encode_frames(self.ns.server().config.parser, &packet);
        if !self.ns.is_observed() {
            return self
                .conn
                .send_all(frames)
                .map_err(|_| SendError::Disconnected);
        }
        let bytes = frames.iter().map(|f| f.len()).sum();
        let result = self.conn.send_all(frames);
        self.observe_send(&packet, bytes, &result);
        result.map_err(|_| SendError::Disconnected)
    }

    /// Tells the observers about one send to this socket (`result`: the queue's answer).
    pub(crate) fn observe_send(
        &self,
        packet: &Packet,
        bytes: usize,
        result: &Result<(), sockgate_proto::engine::SessionError>,
    ) {
        match result {
            Ok(()) => {
                let event = crate::observe::PacketEvent {
                    socket: Some(self),
                    bytes,
                    packet,
                };
                self.ns.observe(|o, ns| o.packet_sent(ns, &event));
            }
            Err(sockgate_proto::engine::SessionError::BufferFull) => {
                self.observe_drop(crate::observe::DropReason::QueueFull);
            }
            Err(_) => {}
        }
    }

    /// Tells the observers that a packet for this socket was dropped.
    pub(crate) fn observe_drop(&self, reason: crate::observe::DropReason) {
        let event = crate::observe::DropEvent {
            socket: self,
            reason,
        };
        self.ns.observe(|o, ns| o.dropped(ns, &event));
    }

    /// Tells the adapter this socket's recoverable state (with recovery on): at connect and
    /// when `data` changes, so a cluster adapter can save it before any disconnect.
    pub(crate) fn track_session(&self) {
        let adapter = self.ns.adapter();
        if let (Some(pid), true) = (&self.pid, adapter.recovery_enabled()) {
            if self.left.load(Ordering::Acquire) {
                return;
            }
            adapter.track_session(PersistedSession {
                sid: self.id,
                pid: pid.clone(),
                rooms: self.rooms(),
                data: self.data_value(),
            });
        }
    }

    /// Holds live broadcasts until [`Socket::end_replay`] (before the socket is registered).
    pub(crate) fn start_replay(&self) {
        *self.rare().held.lock() = Some(Vec::new());
        self.replaying.store(true, Ordering::Release);
    }

    /// While replaying, keeps a broadcast for later and returns `true`; otherwise `false`
    /// (send it now). One atomic load when not replaying: broadcasts pay nothing for this.
    /// After the replay, also returns `true` (drop it) for a late copy of a replayed packet.
    pub(crate) fn hold_during_replay(&self, packet: &Packet) -> bool {
        if !self.replaying.load(Ordering::Acquire) {
            return self
                .rare_if_any()
                .and_then(|rare| rare.replayed_up_to.get())
                .is_some_and(|newest| offset_key(packet).is_some_and(|key| key <= *newest));
        }
        match self.rare().held.lock().as_mut() {
            Some(held) => {
                held.push(packet.clone());
                true
            }
            None => false,
        }
    }

    /// Sends the replay (`missed`, oldest first), then what was held meanwhile minus what the
    /// replay already carried; from then on broadcasts go out directly. Runs under the hold's
    /// lock so that no live broadcast overtakes the replay.
    pub(crate) fn end_replay(&self, missed: Vec<Packet>) {
        let rare = self.rare();
        let mut held = rare.held.lock();
        let replayed: std::collections::HashSet<String> = missed
            .iter()
            .filter_map(|p| sockgate_core::packet_offset(p).map(str::to_owned))
            .collect();
        let mut newest = None;
        for packet in missed {
            newest = newest.max(offset_key(&packet));
            let _ = self.send_packet(packet);
        }
        for packet in held.take().unwrap_or_default() {
            let duplicate =
                sockgate_core::packet_offset(&packet).is_some_and(|o| replayed.contains(o));
            if !duplicate {
                newest = newest.max(offset_key(&packet));
                let _ = self.send_packet(packet);
            }
        }
        if let Some(newest) = newest {
            let _ = rare.replayed_up_to.set(newest);
        }
        self.replaying.store(false, Ordering::Release);
    }

    /// Joins rooms.
    pub fn join<R: IntoRooms>(&self, rooms: R) {
        if self.left.load(Ordering::Acquire) {
            return;
        }
        let rooms = rooms.into_rooms();
        self.ns.adapter().add_all(self.id, &rooms);
        // A close that ran meanwhile may have cleared the rooms before this join landed.
        if self.left.load(Ordering::Acquire) {
            self.ns.adapter().del_all(self.id);
            return;
        }
        for room in &rooms {
            self.ns.observe(|o, ns| o.room_joined(ns, self, room));
        }
    }

    /// Leaves a room.
    pub fn leave(&self, room: &str) {
        self.ns.adapter().del(self.id, room);
        if !self.left.load(Ordering::Acquire) {
            self.ns.observe(|o, ns| o.room_left(ns, self, room));
        }
    }

    /// Leaves every room but its own.
    pub fn leave_all(&self) {
        let own: Room = Room::from(self.id.as_str());
        for room in self.rooms() {
            if room != own {
                self.leave(&room);
            }
        }
    }

    /// The rooms this socket is in (its own id room included).
    pub fn rooms(&self) -> Vec<Room> {
        self.ns.adapter().rooms_of(self.id)
    }

    /// Broadcast to `rooms`, from this socket: the sender is excluded (`socket.to(room)`).
    pub fn to<R: IntoRooms>(&self, rooms: R) -> BroadcastOperators {
        self.broadcast().to(rooms)
    }

    /// Same as [`Socket::to`].
    pub fn within<R: IntoRooms>(&self, rooms: R) -> BroadcastOperators {
        self.to(rooms)
    }

    /// Broadcast to everyone but `rooms`, and but this socket.
    pub fn except<R: IntoRooms>(&self, rooms: R) -> BroadcastOperators {
        self.broadcast().except(rooms)
    }

    /// Broadcast to the whole namespace but this socket (`socket.broadcast`).
    pub fn broadcast(&self) -> BroadcastOperators {
        BroadcastOperators::new(self.ns.clone(), BroadcastOptions::default())
            .except(self.id.as_str())
    }

    /// Volatile emit to this socket: dropped if the transport is not writable now.
    pub fn emit_volatile<P: IntoPayload>(&self, event: &str, data: P) -> Result<(), SendError> {
        if !self.conn.is_writable() {
            self.observe_drop(crate::observe::DropReason::Volatile);
            return Ok(());
        }
        self.emit_flagged(event, data, true)
    }

    /// Disconnects this socket from its namespace (the client gets `41`); the connection stays
    /// open for other namespaces.
    pub fn disconnect(self: &Arc<Self>) {
        if self.connected() {
            let _ = self.send_packet(Packet::disconnect(self.ns_name()));
        }
        self.close(DisconnectReason::ServerNamespaceDisconnect);
    }

    /// Disconnects this socket and closes the whole connection (`disconnect(true)`).
    pub fn disconnect_and_close(self: &Arc<Self>) {
        let client = self.conn.data();
        for socket in client.sockets() {
            socket.disconnect();
        }
        self.conn.close();
    }

    /// Leaves the namespace for `reason`: runs the disconnecting callbacks, forgets rooms and
    /// pending acks, then runs the disconnect callbacks. Runs once.
    pub(crate) fn close(self: &Arc<Self>, reason: DisconnectReason) {
        self.leave_namespace(reason, false);
    }

    /// Closes a socket whose id and session a recovering socket on another connection takes
    /// over (its connection dropped silently and is not noticed dead yet). It leaves as for a
    /// transport close, but its session is neither saved nor forgotten: it is the recovering
    /// socket's now.
    pub(crate) fn close_superseded(self: &Arc<Self>) {
        self.leave_namespace(DisconnectReason::TransportClose, true);
    }

    fn leave_namespace(self: &Arc<Self>, reason: DisconnectReason, superseded: bool) {
        if !self.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        let _entered = self.span().enter();
        tracing::debug!(target: "sockgate::socket", %reason, "socket disconnected");
        self.left.store(true, Ordering::Release);
        let this = SocketRef(self.clone());
        let rare = self.rare_if_any();
        let disconnecting = rare.map(|rare| std::mem::take(&mut *rare.disconnecting.lock()));
        for callback in disconnecting.into_iter().flatten() {
            guarded(|| callback(this.clone(), reason));
        }
        if !superseded {
            self.end_session(reason);
        }
        self.ns.remove_socket(self);
        self.conn.data().remove_socket(self.ns_name());
        // Re-read: a disconnecting callback may have registered more.
        let rare = self.rare_if_any();
        if let Some(rare) = rare {
            rare.acks.lock().clear();
        }
        let disconnect = rare.map(|rare| std::mem::take(&mut *rare.disconnect.lock()));
        for callback in disconnect.into_iter().flatten() {
            guarded(|| callback(this.clone(), reason));
        }
        let ns_callbacks = self.ns.disconnect_handlers.read().clone();
        for callback in ns_callbacks {
            guarded(|| callback(this.clone(), reason));
        }
        self.ns
            .observe(|o, ns| o.socket_disconnected(ns, &this, reason));
        // Handlers capture sockets; dropping them breaks the reference cycles.
        if let Some(rare) = self.rare_if_any() {
            rare.handlers.write().clear();
            rare.any_handlers.write().clear();
            rare.any_outgoing.write().clear();
        }
    }

    /// Saves the session for a recovery when `reason` allows one, else forgets it.
    fn end_session(&self, reason: DisconnectReason) {
        let adapter = self.ns.adapter();
        let Some(pid) = self.pid.as_ref().filter(|_| adapter.recovery_enabled()) else {
            return;
        };
        if reason.is_recoverable() {
            adapter.persist_session(PersistedSession {
                sid: self.id,
                pid: pid.clone(),
                rooms: self.rooms(),
                data: self.data_value(),
            });
        } else {
            adapter.forget_session(self.id, pid);
        }
    }

    pub(crate) fn dispatch(self: &Arc<Self>, parts: MessageParts) {
        let span = tracing::debug_span!(
            target: "sockgate::event",
            parent: self.span(),
            "event",
            ns = self.ns_name(),
            sid = %self.id,
            event = %parts.event,
            ack = parts.ack_id,
        );
        let _entered = span.enter();
        // `on_any` handlers borrow the message: their extractors copy only what they take.
        let rare = self.rare_if_any();
        let any: Vec<BoxedMessageHandler> = rare
            .map(|rare| rare.any_handlers.read().clone())
            .unwrap_or_default();
        for handler in any {
            handler.call_ref(SocketRef(self.clone()), &parts);
        }
        let handler = rare
            .and_then(|rare| rare.handlers.read().get(parts.event.as_str()).cloned())
            .or_else(|| self.ns.handlers.read().get(parts.event.as_str()).cloned());
        match handler {
            Some(handler) => handler.call(SocketRef(self.clone()), parts),
            None => tracing::trace!(socket = %self.id, event = %parts.event, "no handler"),
        }
    }
}

/// The namespace's name, for the span built before the socket exists.
fn ns_name_of(ns: &Namespace) -> &str {
    ns.name()
}

/// Runs user code, logging a panic instead of unwinding into the server.
pub(crate) fn guarded(f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        tracing::error!(panic = %crate::handler::panic_message(&panic), "a handler panicked");
    }
}

/// A socket with an ack timeout for its next emit.
#[derive(Debug)]
pub struct TimedSocket {
    socket: Arc<Socket>,
    timeout: Duration,
}

impl TimedSocket {
    /// Emits and waits for the ack, up to the timeout.
    pub fn emit_with_ack<T: FromAck, P: IntoPayload>(&self, event: &str, data: P) -> AckFuture<T> {
        self.socket.emit_with_ack_timeout(event, data, self.timeout)
    }
}

/// Things that name one or more rooms.
pub trait IntoRooms {
    /// The room names.
    fn into_rooms(self) -> Vec<Room>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self)]
    }
}

impl IntoRooms for String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self)]
    }
}

impl IntoRooms for Room {
    fn into_rooms(self) -> Vec<Room> {
        vec![self]
    }
}

impl IntoRooms for Sid {
    fn into_rooms(self) -> Vec<Room> {
        vec![Room::from(self.as_str())]
    }
}

impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

impl<T: IntoRooms + Clone, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

/// A recovery offset as an ordered pair: `<a>-<b>` with both parts read as hex. That keeps
/// the order of the in-memory adapter's offsets (hex) and of Redis stream ids (decimal
/// `<ms>-<seq>`: decimal digit strings compare the same read in any radix up to 16).
type OffsetKey = (u64, u64);

fn offset_key(packet: &Packet) -> Option<OffsetKey> {
    let (a, b) = sockgate_core::packet_offset(packet)?.split_once('-')?;
    Some((
        u64::from_str_radix(a, 16).ok()?,
        u64::from_str_radix(b, 16).ok()?,
    ))
}
