//! Namespaces: the sockets of one name, their adapter, connect handler and middlewares.
//!
//! One file because `Namespace` is both the server's namespace and the adapter's
//! `LocalNamespace` (the fan-out), and `NamespaceRef` is its public face: splitting them
//! would expose the private socket map across modules.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::RwLock;
use serde_json::Value;
use sockgate_core::sid_hash::SidBuildHasher;
use sockgate_core::{
    Adapter, BoxFuture, BroadcastFlags, BroadcastOptions, LocalNamespace, Sid, SocketDetails,
};
use sockgate_proto::socketio::Packet;

use crate::handler::BoxedMessageHandler;
use crate::operators::BroadcastOperators;
use crate::payload::encode_frames;
use crate::reason::DisconnectReason;
use crate::server::ServerShared;
use crate::socket::{IntoRooms, Socket, SocketRef};

/// Why a connect middleware refused a socket. The client sees a `connect_error` whose
/// `message` is `message` and whose `data` is `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct MiddlewareError {
    /// The error message.
    pub message: String,
    /// Extra data for the client (omitted when `None`).
    pub data: Option<Value>,
}

impl MiddlewareError {
    /// An error with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        MiddlewareError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data for the client.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

impl fmt::Display for MiddlewareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MiddlewareError {}

pub(crate) type BoxedMiddleware =
    Arc<dyn Fn(SocketRef) -> BoxFuture<'static, Result<(), MiddlewareError>> + Send + Sync>;

/// One namespace on this node.
pub(crate) struct Namespace {
    name: String,
    params: Vec<(String, String)>,
    server: Arc<ServerShared>,
    adapter: OnceLock<Arc<dyn Adapter>>,
    /// Keyed by each socket's own id (see [`ById`]).
    sockets: RwLock<HashSet<ById, SidBuildHasher>>,
    /// Set again by a later `io.ns(name, handler)` for the same name, which keeps the
    /// namespace (its sockets, handlers and adapter) and only swaps this.
    pub(crate) connect_handler: RwLock<Option<BoxedMessageHandler>>,
    middlewares: RwLock<Vec<BoxedMiddleware>>,
    /// Event handlers shared by every socket of the namespace (used when the socket has no
    /// handler of its own for the event): one table, not one per socket.
    pub(crate) handlers: RwLock<HashMap<Box<str>, BoxedMessageHandler>>,
    pub(crate) disconnect_handlers: RwLock<Vec<NsDisconnectCallback>>,
    /// Handlers of the events other servers send with `serverSideEmit`.
    pub(crate) server_side_handlers: RwLock<crate::server_side::ServerSideHandlers>,
    /// This namespace, for the adapter's calls that hand a [`NamespaceRef`] to handlers.
    this: OnceLock<Weak<Namespace>>,
    ack_ids: AtomicU64,
    /// Set for a child of a dynamic namespace: the registry frees it once it has no socket
    /// and no CONNECT in progress (Node's `cleanupEmptyChildNamespaces`).
    pub(crate) cleanup: OnceLock<Weak<crate::server::Registry>>,
    /// CONNECTs to this namespace still in their middlewares.
    pub(crate) connecting: std::sync::atomic::AtomicUsize,
    /// Each observer's slot in this namespace (empty when nothing observes).
    observed: crate::observe::NamespaceSlots,
}

/// A socket in its namespace's table, hashed and compared by its id, which it lends as the
/// key (`Borrow<Sid>`): a `SidMap<Arc<Socket>>` entry would store a second copy of the
/// 20-byte id, padded to 32 bytes with the pointer, where this is 8 (about 39 bytes less per
/// connected socket with the table's load factor).
struct ById(Arc<Socket>);

impl std::borrow::Borrow<Sid> for ById {
    fn borrow(&self) -> &Sid {
        &self.0.id
    }
}

// `Borrow` requires that the wrapper hashes and compares exactly as the id it lends.
impl std::hash::Hash for ById {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

impl PartialEq for ById {
    fn eq(&self, other: &Self) -> bool {
        self.0.id == other.0.id
    }
}

impl Eq for ById {}

pub(crate) type NsDisconnectCallback = Arc<dyn Fn(SocketRef, DisconnectReason) + Send + Sync>;

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .field("sockets", &self.sockets.read().len())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub(crate) fn new(
        name: String,
        params: Vec<(String, String)>,
        server: Arc<ServerShared>,
        connect_handler: Option<BoxedMessageHandler>,
        middlewares: Vec<BoxedMiddleware>,
    ) -> Arc<Namespace> {
        let ns = Arc::new(Namespace {
            name,
            params,
            server: server.clone(),
            adapter: OnceLock::new(),
            sockets: RwLock::new(HashSet::default()),
            connect_handler: RwLock::new(connect_handler),
            middlewares: RwLock::new(middlewares),
            handlers: RwLock::new(HashMap::new()),
            disconnect_handlers: RwLock::new(Vec::new()),
            server_side_handlers: RwLock::new(Default::default()),
            this: OnceLock::new(),
            ack_ids: AtomicU64::new(0),
            cleanup: OnceLock::new(),
            connecting: std::sync::atomic::AtomicUsize::new(0),
            observed: crate::observe::NamespaceSlots::new(&server.config.observers),
        });
        let _ = ns.this.set(Arc::downgrade(&ns));
        let weak: Weak<dyn LocalNamespace> = Arc::downgrade(&ns) as Weak<dyn LocalNamespace>;
        let _ = ns.adapter.set((server.adapter_factory)(weak));
        ns
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn params(&self) -> &[(String, String)] {
        &self.params
    }

    pub(crate) fn server(&self) -> &ServerShared {
        &self.server
    }

    /// Whether anything observes this server (then build what the observers are given).
    #[inline]
    pub(crate) fn is_observed(&self) -> bool {
        !self.server.config.observers.is_empty()
    }

    /// Calls `f` on every observer with its view of this namespace; one length check when
    /// there is none.
    #[inline]
    pub(crate) fn observe(
        &self,
        f: impl FnMut(&dyn crate::observe::Observer, &crate::observe::ObservedNamespace<'_>),
    ) {
        let observers = &self.server.config.observers;
        if !observers.is_empty() {
            observers.each_in(&self.name, &self.observed, f);
        }
    }

    pub(crate) fn adapter(&self) -> &Arc<dyn Adapter> {
        // Set in `new` before the namespace is shared.
        self.adapter.get().expect("adapter is set at construction")
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Registers broadcast ack `id` on each of `sids` still connected, every answer going to
    /// `answers`; returns the sockets registered (the ones to deliver to and wait for).
    pub(crate) fn register_broadcast_acks(
        &self,
        sids: &[Sid],
        id: u64,
        answers: &crate::ack::SharedAcks,
    ) -> Vec<Sid> {
        let mut waiting = Vec::with_capacity(sids.len());
        for sid in sids {
            if let Some(socket) = self.socket(*sid) {
                socket
                    .rare()
                    .acks
                    .lock()
                    .insert_shared(id, *sid, answers.clone());
                waiting.push(*sid);
            }
        }
        waiting
    }

    /// Ends the wait for broadcast ack `id`: later answers to it are ignored.
    pub(crate) fn forget_broadcast_acks(&self, sids: &[Sid], id: u64) {
        for sid in sids {
            if let Some(rare) = self.socket(*sid).as_deref().and_then(Socket::rare_if_any) {
                rare.acks.lock().forget(id);
            }
        }
    }

    pub(crate) fn middlewares(&self) -> Vec<BoxedMiddleware> {
        self.middlewares.read().clone()
    }

    pub(crate) fn add_middleware(&self, middleware: BoxedMiddleware) {
        self.middlewares.write().push(middleware);
    }

    pub(crate) fn insert_socket(&self, socket: Arc<Socket>) {
        self.sockets.write().replace(ById(socket));
    }

    /// Removes `socket` and its rooms, unless its id now belongs to another socket (a
    /// recovery took it over): that one's entry and rooms stay.
    pub(crate) fn remove_socket(&self, socket: &Arc<Socket>) {
        let id = socket.id();
        let (removed, empty) = {
            let mut sockets = self.sockets.write();
            let mine = sockets.get(&id).is_some_and(|s| Arc::ptr_eq(&s.0, socket));
            if mine {
                sockets.remove(&id);
            }
            (mine, sockets.is_empty())
        };
        if removed {
            self.adapter().del_all(id);
        }
        if empty {
            self.free_if_unused();
        }
    }

    /// A child namespace with no socket and no CONNECT in progress leaves the registry.
    pub(crate) fn free_if_unused(&self) {
        if let Some(registry) = self.cleanup.get().and_then(Weak::upgrade) {
            registry.free_child(self);
        }
    }

    pub(crate) fn is_unused(&self) -> bool {
        self.connecting.load(Ordering::Acquire) == 0 && self.sockets.read().is_empty()
    }

    pub(crate) fn socket(&self, id: Sid) -> Option<Arc<Socket>> {
        self.sockets.read().get(&id).map(|s| s.0.clone())
    }

    #[cfg(feature = "admin")]
    pub(crate) fn socket_count(&self) -> usize {
        self.sockets.read().len()
    }

    pub(crate) fn all_sockets(&self) -> Vec<Arc<Socket>> {
        self.sockets.read().iter().map(|s| s.0.clone()).collect()
    }
}

impl LocalNamespace for Namespace {
    fn name(&self) -> &str {
        &self.name
    }

    fn deliver(&self, sids: &[Sid], packet: &Packet, flags: &BroadcastFlags) {
        if sids.is_empty() {
            return;
        }
        // Encoded once; each recipient's queue gets reference-counted clones of the same frames.
        let frames = encode_frames(self.server.config.parser, packet);
        let event = packet.event_name();
        // Built at most once per broadcast, and only if some recipient listens (`onAnyOutgoing`).
        let outgoing = std::cell::OnceCell::new();
        let fan_out = sids.len() > 1;
        // A snapshot, then no lock: queueing a frame can close a recipient (queue full), and
        // its removal takes this map's write lock; listeners are user code.
        let recipients: Vec<Arc<Socket>> = {
            let sockets = self.sockets.read();
            sids.iter()
                .filter_map(|sid| sockets.get(sid).map(|s| s.0.clone()))
                .collect()
        };
        let observed = self.is_observed();
        let bytes: usize = if observed {
            frames.iter().map(|f| f.len()).sum()
        } else {
            0
        };
        let mut delivered = 0;
        for socket in recipients {
            if flags.volatile && !socket.conn.is_writable() {
                if observed {
                    socket.observe_drop(crate::observe::DropReason::Volatile);
                }
                continue;
            }
            if let Some(event) = event {
                if let Some(listeners) = socket.outgoing_listeners() {
                    let payload = outgoing.get_or_init(|| {
                        crate::payload::Payload::from_parts(
                            packet
                                .data
                                .as_ref()
                                .and_then(|d| d.as_array())
                                .map(|a| a[1..].to_vec())
                                .unwrap_or_default(),
                            packet.attachments.clone(),
                        )
                    });
                    for listener in listeners {
                        listener(event, payload);
                    }
                }
            }
            if socket.hold_during_replay(packet) {
                continue;
            }
            // A fan-out may wait for the write coalescing window; a single recipient is
            // served at once.
            let result = if fan_out {
                socket.conn.send_all_coalesced(frames.iter().cloned())
            } else {
                socket.conn.send_all(frames.iter().cloned())
            };
            if observed {
                delivered += usize::from(result.is_ok());
                socket.observe_send(packet, bytes, &result);
            }
        }
        if observed {
            let broadcast = crate::observe::BroadcastEvent {
                event,
                recipients: delivered,
                bytes,
            };
            self.observe(|o, ns| o.broadcast(ns, &broadcast));
        }
    }

    fn details(&self, sid: Sid) -> Option<SocketDetails> {
        let socket = self.socket(sid)?;
        let data = socket.data_value();
        #[cfg(feature = "admin")]
        let data = if self.server.admin_instrumented.load(Ordering::Relaxed) {
            crate::admin::data_with_admin_field(&socket, data)
        } else {
            data
        };
        Some(SocketDetails {
            id: sid,
            handshake: socket.handshake().to_json(),
            rooms: socket.rooms(),
            data,
        })
    }

    fn rooms_changed_remotely(&self, sids: &[Sid], rooms: &[sockgate_core::Room], joined: bool) {
        if !self.is_observed() {
            return;
        }
        for socket in sids.iter().filter_map(|sid| self.socket(*sid)) {
            for room in rooms {
                if joined {
                    self.observe(|o, ns| o.room_joined(ns, &socket, room));
                } else {
                    self.observe(|o, ns| o.room_left(ns, &socket, room));
                }
            }
        }
    }

    fn disconnect(&self, sids: &[Sid], close: bool) {
        for sid in sids {
            if let Some(socket) = self.socket(*sid) {
                if close {
                    socket.disconnect_and_close();
                } else {
                    socket.disconnect();
                }
            }
        }
    }

    /// Another node's broadcast with acks: the local recipients answer under an id of this
    /// namespace, and each answer goes back through `on_ack` until `timeout`.
    fn deliver_with_ack(
        &self,
        sids: &[Sid],
        packet: &Packet,
        flags: &BroadcastFlags,
        timeout: std::time::Duration,
        on_ack: sockgate_core::AckCallback,
    ) -> usize {
        let id = self.next_ack_id();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waiting = self.register_broadcast_acks(sids, id, &tx);
        drop(tx);
        self.deliver(&waiting, &packet.clone().with_id(id), flags);
        let expected = waiting.len();
        let namespace = self.this.get().cloned();
        if expected > 0 {
            tokio::spawn(async move {
                // The timeout comes from another node, any size: `Duration::MAX` must not panic.
                let deadline = crate::deadline_after(timeout);
                let mut answered = 0;
                while answered < expected {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some((_, payload))) => {
                            answered += 1;
                            on_ack(payload.into_args());
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
                // Late answers to this id are then ignored, as for a local broadcast.
                if let Some(ns) = namespace.as_ref().and_then(Weak::upgrade) {
                    ns.forget_broadcast_acks(&waiting, id);
                }
            });
        }
        expected
    }

    /// Runs this namespace's handler of the event (see [`NamespaceRef::on_server_side`]).
    fn on_server_side_emit(&self, data: Vec<Value>, ack: Option<sockgate_core::ServerSideAck>) {
        if let Some(ns) = self.this.get().and_then(Weak::upgrade) {
            crate::server_side::dispatch(NamespaceRef(ns), data, ack);
        }
    }
}

/// A handle on a namespace: broadcast to it, add middlewares, list its sockets.
#[derive(Clone, Debug)]
pub struct NamespaceRef(pub(crate) Arc<Namespace>);

impl NamespaceRef {
    /// The namespace name.
    pub fn name(&self) -> &str {
        self.0.name()
    }

    /// Adds a connect middleware, run in order before a socket joins; returning an error
    /// refuses the socket with a `connect_error`.
    pub fn use_middleware<F, Fut>(&self, middleware: F) -> &Self
    where
        F: Fn(SocketRef) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), MiddlewareError>> + Send + 'static,
    {
        self.0
            .add_middleware(Arc::new(move |socket| Box::pin(middleware(socket))));
        self
    }

    /// Registers a handler for `event` for every socket of this namespace (a socket's own
    /// handler for the same event takes precedence).
    pub fn on<H, M>(&self, event: impl Into<String>, handler: H) -> &Self
    where
        H: crate::handler::MessageHandler<M>,
        M: Send + Sync + 'static,
    {
        self.0.handlers.write().insert(
            event.into().into_boxed_str(),
            crate::handler::boxed_message_handler(handler),
        );
        self
    }

    /// Registers the handler of a server-side event: what another server of the cluster sends
    /// with `serverSideEmit` on this namespace (Node's `io.of(name).on(event, handler)`). Its
    /// arguments are extractors ([`crate::server_side`]: `Data`, `Args`, `Payload`,
    /// `AckSender`...); a later handler for the same event replaces the earlier one.
    pub fn on_server_side<H, M>(&self, event: impl Into<String>, handler: H) -> &Self
    where
        H: crate::server_side::ServerSideHandler<M>,
        M: Send + Sync + 'static,
    {
        self.0.server_side_handlers.write().insert(
            event.into().into_boxed_str(),
            crate::server_side::erase(handler),
        );
        self
    }

    /// Sends an event to the other servers of the cluster (Node's `serverSideEmit`); this
    /// server's own handlers are not called. Resolves once the adapter published it; a single
    /// node has nobody to send to and resolves at once.
    pub async fn server_side_emit<P: crate::payload::IntoPayload>(
        &self,
        event: &str,
        data: P,
    ) -> Result<(), crate::ClusterError> {
        let data = server_side_data(event, data)?;
        Ok(self.0.adapter().server_side_emit(data).await?)
    }

    /// [`NamespaceRef::server_side_emit`] collecting one answer per other server within the
    /// server's ack timeout (see [`BroadcastOperators::server_side_emit_with_ack`] to set
    /// another). Decode them with [`crate::AckResponses::values`], as broadcast acks.
    pub async fn server_side_emit_with_ack<P: crate::payload::IntoPayload>(
        &self,
        event: &str,
        data: P,
    ) -> Result<crate::AckResponses, crate::ClusterError> {
        self.broadcast()
            .server_side_emit_with_ack(event, data)
            .await
    }

    /// How many servers serve this namespace, this one included (Node's
    /// `adapter.serverCount()`); 1 without a cluster adapter.
    pub async fn server_count(&self) -> usize {
        let timer = crate::operators::AdapterTimer::start(&self.0);
        let count = self.0.adapter().server_count().await;
        timer.finish(&self.0, "server_count", true);
        count
    }

    /// Called for every socket of this namespace that disconnects.
    pub fn on_disconnect(
        &self,
        callback: impl Fn(SocketRef, DisconnectReason) + Send + Sync + 'static,
    ) -> &Self {
        self.0.disconnect_handlers.write().push(Arc::new(callback));
        self
    }

    /// Operators over the whole namespace.
    pub fn broadcast(&self) -> BroadcastOperators {
        BroadcastOperators::new(self.0.clone(), BroadcastOptions::default())
    }

    /// Emits to every socket of the namespace.
    pub fn emit<P: crate::payload::IntoPayload>(
        &self,
        event: &str,
        data: P,
    ) -> Result<(), crate::SendError> {
        self.broadcast().emit(event, data)
    }

    /// Targets rooms.
    pub fn to<R: IntoRooms>(&self, rooms: R) -> BroadcastOperators {
        self.broadcast().to(rooms)
    }

    /// Excludes rooms.
    pub fn except<R: IntoRooms>(&self, rooms: R) -> BroadcastOperators {
        self.broadcast().except(rooms)
    }

    /// The local socket with this id.
    pub fn get_socket(&self, id: sockgate_core::SocketId) -> Option<SocketRef> {
        self.0.socket(id).map(SocketRef)
    }

    /// Every local socket.
    pub fn sockets(&self) -> Vec<SocketRef> {
        self.0.all_sockets().into_iter().map(SocketRef).collect()
    }

    /// The adapter.
    pub fn adapter(&self) -> &Arc<dyn Adapter> {
        self.0.adapter()
    }

    pub(crate) fn close_all(&self, reason: DisconnectReason) {
        for socket in self.0.all_sockets() {
            socket.close(reason);
        }
    }
}

/// `[event, ...args]` for the adapter's server-side emits. Binary arguments are refused
/// (a [`crate::SendError::Serialize`]) rather than sent as placeholders whose bytes are lost:
/// the adapter's server-side emit carries JSON values only.
pub(crate) fn server_side_data<P: crate::payload::IntoPayload>(
    event: &str,
    data: P,
) -> Result<Vec<Value>, crate::SendError> {
    crate::check_event_name(event)?;
    let payload = data.into_payload().map_err(crate::SendError::Serialize)?;
    if payload.has_binary() {
        return Err(crate::SendError::Serialize(serde::ser::Error::custom(
            "server-side emits carry no binary: send the bytes as base64 or an array of numbers",
        )));
    }
    let mut values = Vec::with_capacity(payload.len() + 1);
    values.push(Value::String(event.to_owned()));
    values.extend(payload.into_args());
    Ok(values)
}
