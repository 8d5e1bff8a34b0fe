//! The classic adapter: `@socket.io/redis-adapter` 8.3's `createAdapter` protocol.
//!
//! Per namespace `nsp` and key `socket.io` (Node's defaults):
//!
//! | channel | use |
//! |---|---|
//! | `socket.io#<nsp>#` and `socket.io#<nsp>#<room>#` | broadcasts (`PSUBSCRIBE socket.io#<nsp>#*`) |
//! | `socket.io-request#<nsp>#` | requests; its `NUMSUB` is the server count |
//! | `socket.io-response#<nsp>#` | responses |
//! | `socket.io-response#<nsp>#<uid>#` | responses addressed to this node |
//!
//! Rules that make a sockgate node indistinguishable from a Node one: it answers every request
//! that expects an answer, even with nothing; it ignores what it sent itself (by uid); it is
//! subscribed to the request channel exactly once (the driver's single subscriber
//! connection).

pub mod codec;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use rand::Rng;
use serde_json::Value;
use sockgate_core::{
    AckCallback, Adapter, AdapterError, AdapterFactory, BoxFuture, BroadcastOptions,
    LocalNamespace, Room, RoomIndex, ServerSideAck, Sid, SocketDetails,
};
use sockgate_proto::socketio::Packet;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use self::codec::{request_type, RequestBody, Response};
use crate::driver::{Driver, DriverMessage, MessageKind};
use crate::outage::Outage;

/// Settings of [`ClassicAdapter`], with Node's defaults.
#[derive(Debug, Clone)]
pub struct ClassicConfig {
    /// The channel prefix (Node's `key`, default `socket.io`). Every node of a cluster uses the
    /// same one.
    pub key: String,
    /// How long `fetchSockets`, `allRooms` and `serverSideEmitWithAck` wait for the other
    /// nodes (Node's `requestsTimeout`, default 5 s).
    pub requests_timeout: Duration,
    /// Answer on the requester's own response channel instead of the shared one (Node's
    /// `publishOnSpecificResponseChannel`, default false). Node 7.1+ listens on both.
    pub publish_on_specific_response_channel: bool,
    /// Most messages waiting to be published; past it (Redis far too slow or down) new ones
    /// are dropped, as pub/sub would lose them anyway.
    pub max_pending_publishes: usize,
}

impl Default for ClassicConfig {
    fn default() -> Self {
        ClassicConfig {
            key: "socket.io".into(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
            max_pending_publishes: 10_000,
        }
    }
}

/// The channel names of one namespace.
#[derive(Debug, Clone)]
struct Channels {
    /// `socket.io#<nsp>#`: broadcasts, and the prefix of room broadcasts.
    broadcast: String,
    request: String,
    response: String,
    specific_response: String,
}

impl Channels {
    fn new(key: &str, nsp: &str, uid: &str) -> Self {
        Channels {
            broadcast: format!("{key}#{nsp}#"),
            request: format!("{key}-request#{nsp}#"),
            response: format!("{key}-response#{nsp}#"),
            specific_response: format!("{key}-response#{nsp}#{uid}#"),
        }
    }
}

/// Node's `uid2(n)`: `n` characters of `[A-Za-z0-9_-]`.
fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A namespace adapter that shares rooms and broadcasts with the other nodes of a Node
/// socket.io cluster over Redis pub/sub.
pub struct ClassicAdapter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ClassicAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassicAdapter")
            .field("uid", &self.inner.uid)
            .field("nsp", &self.inner.nsp)
            .finish_non_exhaustive()
    }
}

struct Inner {
    uid: String,
    nsp: String,
    namespace: Weak<dyn LocalNamespace>,
    index: RwLock<RoomIndex>,
    driver: Arc<dyn Driver>,
    config: ClassicConfig,
    channels: Channels,
    /// Requests of this node waiting for answers, by request id.
    pending: Mutex<HashMap<String, mpsc::UnboundedSender<Response>>>,
    /// In publish order: one task publishes, so messages of this node stay ordered.
    outbox: mpsc::Sender<(String, Bytes)>,
    outage: Arc<Outage>,
    subscribed: watch::Receiver<bool>,
}

impl ClassicAdapter {
    /// A factory for the server builder's `.adapter(..)`: one adapter per namespace, all on
    /// `driver`. Must be called inside a tokio runtime (the adapters spawn their tasks on it).
    pub fn factory(driver: impl Driver, config: ClassicConfig) -> AdapterFactory {
        let driver: Arc<dyn Driver> = Arc::new(driver);
        let runtime = tokio::runtime::Handle::current();
        Arc::new(move |namespace| {
            let _enter = runtime.enter();
            ClassicAdapter::new(driver.clone(), namespace, config.clone()) as Arc<dyn Adapter>
        })
    }

    /// The adapter of `namespace`. Subscribes in the background (retrying while Redis is
    /// down); [`ClassicAdapter::subscribed`] waits for it. Must run inside a tokio runtime.
    pub fn new(
        driver: Arc<dyn Driver>,
        namespace: Weak<dyn LocalNamespace>,
        config: ClassicConfig,
    ) -> Arc<ClassicAdapter> {
        let nsp = namespace
            .upgrade()
            .map_or_else(|| "/".to_owned(), |ns| ns.name().to_owned());
        let uid = random_id(6);
        let channels = Channels::new(&config.key, &nsp, &uid);
        let (outbox, outbox_rx) = mpsc::channel(config.max_pending_publishes.max(1));
        let (subscribed_tx, subscribed) = watch::channel(false);
        let outage = Arc::new(Outage::default());
        let inner = Arc::new(Inner {
            uid,
            nsp,
            namespace,
            index: RwLock::new(RoomIndex::new()),
            driver,
            config,
            channels,
            pending: Mutex::new(HashMap::new()),
            outbox,
            outage,
            subscribed,
        });
        inner.spawn_publisher(outbox_rx);
        inner.spawn_receiver();
        inner.spawn_subscriber(subscribed_tx);
        Arc::new(ClassicAdapter { inner })
    }

    /// This node's uid on the wire (6 characters, like Node's).
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }

    /// Resolves once the adapter's channels are subscribed (immediately after that).
    pub async fn subscribed(&self) {
        let mut rx = self.inner.subscribed.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

impl Inner {
    fn spawn_publisher(self: &Arc<Self>, mut rx: mpsc::Receiver<(String, Bytes)>) {
        let driver = self.driver.clone();
        let outage = self.outage.clone();
        tokio::spawn(async move {
            // Ends when the adapter (the only sender) is dropped.
            while let Some((channel, payload)) = rx.recv().await {
                match driver.publish(channel, payload).await {
                    Ok(()) => outage.ok(),
                    Err(error) => {
                        outage.failed("publish", &error);
                        // What queued up behind a failed publish would fail the same way, one
                        // command timeout each, and arrive late after the outage: drop it now,
                        // as pub/sub drops what is sent while nobody can receive it.
                        while rx.try_recv().is_ok() {}
                    }
                }
            }
        });
    }

    fn spawn_receiver(self: &Arc<Self>) {
        let mut rx = self.driver.messages();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                inner.on_message(message);
            }
        });
    }

    fn spawn_subscriber(self: &Arc<Self>, done: watch::Sender<bool>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(100);
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let c = &inner.channels;
                let result = async {
                    inner
                        .driver
                        .psubscribe(vec![format!("{}*", c.broadcast)])
                        .await?;
                    inner
                        .driver
                        .subscribe(vec![
                            c.request.clone(),
                            c.response.clone(),
                            c.specific_response.clone(),
                        ])
                        .await
                }
                .await;
                match result {
                    Ok(()) => {
                        inner.outage.ok();
                        let _ = done.send(true);
                        return;
                    }
                    Err(error) => inner.outage.failed("subscribe", &error),
                }
                drop(inner);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        });
    }

    /// Queues a publish; never waits (a broadcast must not wait on Redis).
    fn publish(&self, channel: String, payload: Vec<u8>) {
        if self
            .outbox
            .try_send((channel, Bytes::from(payload)))
            .is_err()
        {
            self.outage.dropped();
        }
    }

    fn publish_response(&self, requester: Option<&str>, payload: Vec<u8>) {
        let channel = match requester {
            Some(uid) if self.config.publish_on_specific_response_channel => {
                format!("{}-response#{}#{uid}#", self.config.key, self.nsp)
            }
            _ => self.channels.response.clone(),
        };
        self.publish(channel, payload);
    }

    fn namespace(&self) -> Option<Arc<dyn LocalNamespace>> {
        self.namespace.upgrade()
    }

    fn on_message(&self, message: DriverMessage) {
        // The sharded adapter's channels have the same names in the sharded space.
        if message.kind == MessageKind::Sharded {
            return;
        }
        let channel = message.channel.as_str();
        if channel == self.channels.request {
            self.on_request(&message.payload);
        } else if channel == self.channels.response || channel == self.channels.specific_response {
            self.on_response(&message.payload);
        } else if let Some(rest) = channel.strip_prefix(self.channels.broadcast.as_str()) {
            let room = rest.strip_suffix('#').unwrap_or(rest);
            // Node's receiver-side optimisation: a room broadcast for a room with no member
            // here is not even decoded.
            if !room.is_empty() && self.index.read().members(room).next().is_none() {
                return;
            }
            self.on_broadcast(&message.payload);
        }
    }

    fn on_broadcast(&self, payload: &[u8]) {
        let broadcast = match codec::decode_broadcast(payload) {
            Ok(b) => b,
            Err(error) => {
                tracing::debug!(%error, nsp = %self.nsp, "dropped a broadcast");
                return;
            }
        };
        if broadcast.uid == self.uid || broadcast.packet.nsp != self.nsp {
            return;
        }
        let sids = self.index.read().select(&broadcast.opts);
        if let Some(ns) = self.namespace() {
            ns.deliver(&sids, &broadcast.packet, &broadcast.opts.flags);
        }
    }

    fn on_request(self: &Inner, payload: &[u8]) {
        let request = match codec::decode_request(payload) {
            Ok(r) => r,
            Err(error) => {
                tracing::debug!(%error, nsp = %self.nsp, "dropped a request");
                return;
            }
        };
        if request.uid.as_deref() == Some(self.uid.as_str()) {
            return;
        }
        let requester = request.uid.as_deref();
        let id = request.request_id.as_deref();
        match request.body {
            RequestBody::Sockets { rooms } => {
                let Some(id) = id else { return };
                let sids = self.index.read().select(&BroadcastOptions {
                    rooms,
                    ..Default::default()
                });
                self.publish_response(requester, codec::encode_sockets_response(id, &sids));
            }
            RequestBody::AllRooms => {
                let Some(id) = id else { return };
                let rooms = self.index.read().rooms();
                self.publish_response(requester, codec::encode_all_rooms_response(id, &rooms));
            }
            RequestBody::RemoteJoin { opts, rooms } => self.remote_rooms(&opts, &rooms, true),
            RequestBody::RemoteLeave { opts, rooms } => self.remote_rooms(&opts, &rooms, false),
            RequestBody::RemoteDisconnect { opts, close } => self.disconnect_local(&opts, close),
            RequestBody::RemoteFetch { opts } => {
                let Some(id) = id else { return };
                let sockets = self.local_details(&opts);
                self.publish_response(requester, codec::encode_fetch_response(id, &sockets));
            }
            RequestBody::ServerSideEmit { data } => {
                let Some(ns) = self.namespace() else { return };
                let ack: Option<ServerSideAck> = id.map(|id| {
                    let outbox = self.outbox.clone();
                    let channel = self.channels.response.clone();
                    let outage = self.outage.clone();
                    let id = id.to_owned();
                    // Always on the shared response channel, as Node answers it.
                    Box::new(move |answer: Value| {
                        let payload = codec::encode_server_side_emit_response(&id, &answer);
                        if outbox.try_send((channel, Bytes::from(payload))).is_err() {
                            outage.dropped();
                        }
                    }) as ServerSideAck
                });
                ns.on_server_side_emit(data, ack);
            }
            RequestBody::Broadcast { packet, opts } => {
                let Some(id) = id else { return };
                if packet.nsp != self.nsp {
                    return;
                }
                let Some(ns) = self.namespace() else { return };
                let sids = self.index.read().select(&opts);
                let timeout = opts.flags.timeout.unwrap_or(self.config.requests_timeout);
                let outbox = self.outbox.clone();
                let outage = self.outage.clone();
                let channel = match requester {
                    Some(uid) if self.config.publish_on_specific_response_channel => {
                        format!("{}-response#{}#{uid}#", self.config.key, self.nsp)
                    }
                    _ => self.channels.response.clone(),
                };
                let ack_id = id.to_owned();
                let ack_channel = channel.clone();
                let on_ack: AckCallback = Arc::new(move |args: Vec<Value>| {
                    let first = args.into_iter().next().unwrap_or(Value::Null);
                    let payload = codec::encode_broadcast_ack(&ack_id, &first, &[]);
                    if outbox
                        .try_send((ack_channel.clone(), Bytes::from(payload)))
                        .is_err()
                    {
                        outage.dropped();
                    }
                });
                let count = ns.deliver_with_ack(&sids, &packet, &opts.flags, timeout, on_ack);
                // One count per node, even 0: the requester waits for every node's count.
                self.publish(channel, codec::encode_client_count(id, count));
            }
        }
    }

    fn on_response(&self, payload: &[u8]) {
        let response = match codec::decode_response(payload) {
            Ok(r) => r,
            Err(error) => {
                tracing::debug!(%error, nsp = %self.nsp, "dropped a response");
                return;
            }
        };
        let pending = self.pending.lock();
        if let Some(tx) = pending.get(&response.request_id) {
            let _ = tx.send(response);
        }
    }

    fn join_local(&self, opts: &BroadcastOptions, rooms: &[Room]) -> Vec<Sid> {
        crate::local::join(&mut self.index.write(), opts, rooms)
    }

    /// Another node's `socketsJoin` (`joined`) or `socketsLeave`.
    fn remote_rooms(&self, opts: &BroadcastOptions, rooms: &[Room], joined: bool) {
        crate::local::remote_rooms_change(
            self.namespace(),
            rooms,
            joined,
            || self.join_local(opts, rooms),
            || self.leave_local(opts, rooms),
        );
    }

    fn leave_local(&self, opts: &BroadcastOptions, rooms: &[Room]) -> Vec<Sid> {
        crate::local::leave(&mut self.index.write(), opts, rooms)
    }

    fn disconnect_local(&self, opts: &BroadcastOptions, close: bool) {
        crate::local::disconnect(&self.index, self.namespace(), opts, close);
    }

    fn local_details(&self, opts: &BroadcastOptions) -> Vec<SocketDetails> {
        crate::local::details(&self.index, self.namespace(), opts)
    }

    /// `PUBSUB NUMSUB` of the request channel: every node, this one included.
    async fn count_servers(&self, operation: &'static str) -> Result<usize, AdapterError> {
        let count = tokio::time::timeout(
            self.config.requests_timeout,
            self.driver.numsub(self.channels.request.clone()),
        )
        .await;
        match count {
            Ok(Ok(n)) => {
                self.outage.ok();
                Ok(n.max(1))
            }
            Ok(Err(error)) => {
                self.outage.failed(operation, &error);
                Err(AdapterError::Unavailable {
                    operation,
                    reason: error.to_string(),
                })
            }
            Err(_) => Err(AdapterError::Unavailable {
                operation,
                reason: format!(
                    "PUBSUB NUMSUB took longer than {:?}",
                    self.config.requests_timeout
                ),
            }),
        }
    }

    /// Registers a request id; the guard unregisters it whatever ends the wait.
    fn register(self: &Arc<Self>) -> (PendingGuard, mpsc::UnboundedReceiver<Response>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut pending = self.pending.lock();
        let mut id = random_id(6);
        while pending.contains_key(&id) {
            id = random_id(6);
        }
        pending.insert(id.clone(), tx);
        (
            PendingGuard {
                inner: Arc::downgrade(self),
                id,
            },
            rx,
        )
    }

    async fn publish_now(
        &self,
        operation: &'static str,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), AdapterError> {
        self.driver
            .publish(channel, Bytes::from(payload))
            .await
            .map_err(|error| {
                self.outage.failed(operation, &error);
                AdapterError::Unavailable {
                    operation,
                    reason: error.to_string(),
                }
            })
    }

    /// Sends a request and collects one answer per other node, or fails after the timeout.
    async fn request(
        self: &Arc<Self>,
        operation: &'static str,
        body: RequestBody,
        timeout: Duration,
    ) -> Result<Vec<Response>, AdapterError> {
        let expected = self.count_servers(operation).await? - 1;
        if expected == 0 {
            return Ok(Vec::new());
        }
        let (guard, mut rx) = self.register();
        let payload = codec::encode_request(&self.uid, Some(&guard.id), &body);
        self.publish_now(operation, self.channels.request.clone(), payload)
            .await?;
        let deadline = Instant::now() + timeout;
        let mut responses = Vec::with_capacity(expected);
        while responses.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(response)) => responses.push(response),
                Ok(None) | Err(_) => {
                    return Err(AdapterError::Timeout {
                        operation,
                        timeout,
                        answered: responses.len(),
                        expected,
                    })
                }
            }
        }
        Ok(responses)
    }

    async fn fetch(
        self: &Arc<Self>,
        opts: BroadcastOptions,
    ) -> Result<Vec<SocketDetails>, AdapterError> {
        let mut sockets = self.local_details(&opts);
        if opts.flags.local {
            return Ok(sockets);
        }
        let timeout = opts.flags.timeout.unwrap_or(self.config.requests_timeout);
        let responses = self
            .request(
                "fetchSockets",
                RequestBody::RemoteFetch { opts: opts.clone() },
                timeout,
            )
            .await?;
        for response in responses {
            if let Some(Value::Array(remote)) = response.body.get("sockets") {
                sockets.extend(remote.iter().filter_map(codec::socket_from));
            }
        }
        Ok(sockets)
    }

    async fn broadcast_with_ack_remote(
        self: Arc<Self>,
        packet: Packet,
        mut opts: BroadcastOptions,
        on_ack: sockgate_core::AckCallback,
    ) -> usize {
        let remote = match self.count_servers("broadcastWithAck").await {
            Ok(n) => n - 1,
            Err(_) => return 0,
        };
        if remote == 0 {
            return 0;
        }
        let timeout = *opts
            .flags
            .timeout
            .get_or_insert(self.config.requests_timeout);
        let (guard, rx) = self.register();
        let payload = codec::encode_request(
            &self.uid,
            Some(&guard.id),
            &RequestBody::Broadcast { packet, opts },
        );
        if self
            .publish_now("broadcastWithAck", self.channels.request.clone(), payload)
            .await
            .is_err()
        {
            return 0;
        }
        let deadline = Instant::now() + timeout;
        let classify = |response: &Response| match response.kind {
            Some(request_type::BROADCAST_CLIENT_COUNT) => crate::local::AckReply::Count(
                response
                    .body
                    .get("clientCount")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as usize,
            ),
            Some(request_type::BROADCAST_ACK) => crate::local::AckReply::Ack(
                response.body.get("packet").cloned().unwrap_or(Value::Null),
            ),
            _ => crate::local::AckReply::Other,
        };
        crate::local::collect_broadcast_acks(rx, guard, remote, deadline, classify, on_ack).await
    }
}

struct PendingGuard {
    inner: Weak<Inner>,
    id: String,
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.pending.lock().remove(&self.id);
        }
    }
}

impl Adapter for ClassicAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.inner.index.write().add_all(sid, rooms);
    }

    fn del(&self, sid: Sid, room: &str) {
        self.inner.index.write().del(sid, room);
    }

    fn del_all(&self, sid: Sid) {
        self.inner.index.write().del_all(sid);
    }

    fn rooms_of(&self, sid: Sid) -> Vec<Room> {
        self.inner.index.read().rooms_of(sid)
    }

    fn rooms(&self) -> Vec<Room> {
        self.inner.index.read().rooms()
    }

    fn local_sockets(&self, opts: &BroadcastOptions) -> Vec<Sid> {
        self.inner.index.read().select(opts)
    }

    fn broadcast(&self, packet: Packet, opts: BroadcastOptions) {
        let inner = &self.inner;
        if !opts.flags.local {
            // Encoded once for Redis; local recipients get the namespace's own encoding.
            let channel = match opts.rooms.as_slice() {
                [room] => format!("{}{room}#", inner.channels.broadcast),
                _ => inner.channels.broadcast.clone(),
            };
            inner.publish(channel, codec::encode_broadcast(&inner.uid, &packet, &opts));
        }
        let sids = inner.index.read().select(&opts);
        if let Some(ns) = inner.namespace() {
            ns.deliver(&sids, &packet, &opts.flags);
        }
    }

    fn broadcast_with_ack_remote(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        on_ack: sockgate_core::AckCallback,
    ) -> BoxFuture<'_, usize> {
        Box::pin(
            self.inner
                .clone()
                .broadcast_with_ack_remote(packet, opts, on_ack),
        )
    }

    fn fetch_sockets(&self, opts: BroadcastOptions) -> BoxFuture<'_, Vec<SocketDetails>> {
        Box::pin(async move {
            let fetched = self.inner.fetch(opts.clone()).await;
            crate::local::fetched_or_local(fetched, || self.inner.local_details(&opts))
        })
    }

    fn try_fetch_sockets(
        &self,
        opts: BroadcastOptions,
    ) -> BoxFuture<'_, Result<Vec<SocketDetails>, AdapterError>> {
        Box::pin(self.inner.fetch(opts))
    }

    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) {
        self.inner.join_local(&opts, &rooms);
        if !opts.flags.local {
            let body = RequestBody::RemoteJoin { opts, rooms };
            let payload = codec::encode_request(&self.inner.uid, None, &body);
            self.inner
                .publish(self.inner.channels.request.clone(), payload);
        }
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) {
        self.inner.leave_local(&opts, &rooms);
        if !opts.flags.local {
            let body = RequestBody::RemoteLeave { opts, rooms };
            let payload = codec::encode_request(&self.inner.uid, None, &body);
            self.inner
                .publish(self.inner.channels.request.clone(), payload);
        }
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) {
        self.inner.disconnect_local(&opts, close);
        if !opts.flags.local {
            let body = RequestBody::RemoteDisconnect { opts, close };
            let payload = codec::encode_request(&self.inner.uid, None, &body);
            self.inner
                .publish(self.inner.channels.request.clone(), payload);
        }
    }

    fn server_count(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move { self.inner.count_servers("serverCount").await.unwrap_or(1) })
    }

    fn all_rooms(&self) -> BoxFuture<'_, Result<Vec<Room>, AdapterError>> {
        Box::pin(async move {
            let mut rooms: HashSet<Room> = self.rooms().into_iter().collect();
            let timeout = self.inner.config.requests_timeout;
            let responses = self
                .inner
                .request("allRooms", RequestBody::AllRooms, timeout)
                .await?;
            for response in responses {
                if let Some(Value::Array(remote)) = response.body.get("rooms") {
                    rooms.extend(remote.iter().filter_map(Value::as_str).map(Room::from));
                }
            }
            Ok(rooms.into_iter().collect())
        })
    }

    fn server_side_emit(&self, data: Vec<Value>) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let payload =
                codec::encode_request(&self.inner.uid, None, &RequestBody::ServerSideEmit { data });
            self.inner
                .publish_now(
                    "serverSideEmit",
                    self.inner.channels.request.clone(),
                    payload,
                )
                .await
        })
    }

    fn server_side_emit_with_ack(
        &self,
        data: Vec<Value>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<Value>, AdapterError>> {
        Box::pin(async move {
            let responses = self
                .inner
                .request(
                    "serverSideEmitWithAck",
                    RequestBody::ServerSideEmit { data },
                    timeout,
                )
                .await?;
            Ok(responses
                .into_iter()
                .map(|r| r.body.get("data").cloned().unwrap_or(Value::Null))
                .collect())
        })
    }
}
