//! The sharded adapter: `@socket.io/redis-adapter` 8.3's `createShardedAdapter`, the
//! ClusterAdapter message model ([`crate::cluster`]) over sharded pub/sub (Redis 7+).
//!
//! Channels for namespace `nsp` and prefix `socket.io`: `socket.io#<nsp>#` carries requests
//! and broadcasts, `socket.io#<nsp>#<uid>#` this node's responses, and in the dynamic modes
//! `socket.io#<nsp>#<room>#` a single-room broadcast, subscribed while the room has a member
//! here. Node decides "is this room a socket id?" by its length (20); sockgate's socket ids
//! have 20 characters too, so both sides route `to(<socket id>)` the same way.
//!
//! `SPUBLISH` is invisible to `PSUBSCRIBE`/`SUBSCRIBE`, so `@socket.io/redis-emitter` cannot
//! reach a sharded cluster (as with Node).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use rand::Rng;
use serde_json::Value;
use sockgate_core::{
    Adapter, AdapterError, AdapterFactory, BoxFuture, BroadcastOptions, LocalNamespace, Room,
    RoomIndex, ServerSideAck, Sid, SocketDetails,
};
use sockgate_proto::socketio::Packet;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::classic::codec::{opts_from, rooms_of, socket_from};
use crate::cluster::{self, message_type::*, ClusterMessage};
use crate::driver::{Driver, DriverMessage, MessageKind};
use crate::outage::Outage;

/// Which rooms get their own channel (Node's `subscriptionMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubscriptionMode {
    /// Only the main channel: every node receives every broadcast.
    Static,
    /// Public rooms (not 20-character socket ids) get a channel while they have a local
    /// member (Node's default).
    #[default]
    Dynamic,
    /// Every room, socket ids included.
    DynamicPrivate,
}

/// Settings of [`ShardedAdapter`], with Node's defaults.
#[derive(Debug, Clone)]
pub struct ShardedConfig {
    /// Channel prefix (Node's `channelPrefix`, default `socket.io`).
    pub channel_prefix: String,
    /// Which rooms get a channel; every node of a cluster must use the same mode.
    pub subscription_mode: SubscriptionMode,
    /// How long `fetchSockets` (unless `flags.timeout`) and `serverSideEmitWithAck` wait.
    pub requests_timeout: Duration,
    /// Most messages waiting to be published; past it new ones are dropped.
    pub max_pending_publishes: usize,
}

impl Default for ShardedConfig {
    fn default() -> Self {
        ShardedConfig {
            channel_prefix: "socket.io".into(),
            subscription_mode: SubscriptionMode::Dynamic,
            requests_timeout: Duration::from_secs(5),
            max_pending_publishes: 10_000,
        }
    }
}

/// `randomBytes(8).toString("hex")`: uids and request ids of the Cluster model.
fn random_hex() -> String {
    let bytes: [u8; 8] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

enum Outgoing {
    Publish(String, Bytes),
    Subscribe(String),
    Unsubscribe(String),
}

/// A namespace adapter on sharded pub/sub, wire-compatible with Node's sharded adapter.
pub struct ShardedAdapter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ShardedAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedAdapter")
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
    config: ShardedConfig,
    /// `prefix#nsp#`.
    main: String,
    /// `prefix#nsp#uid#`.
    own: String,
    pending: Mutex<HashMap<String, mpsc::UnboundedSender<ClusterMessage>>>,
    outbox: mpsc::Sender<Outgoing>,
    outage: Arc<Outage>,
    subscribed: watch::Receiver<bool>,
}

impl ShardedAdapter {
    /// A factory for the server builder's `.adapter(..)`. Must be called inside a tokio
    /// runtime.
    pub fn factory(driver: impl Driver, config: ShardedConfig) -> AdapterFactory {
        let driver: Arc<dyn Driver> = Arc::new(driver);
        let runtime = tokio::runtime::Handle::current();
        Arc::new(move |namespace| {
            let _enter = runtime.enter();
            ShardedAdapter::new(driver.clone(), namespace, config.clone()) as Arc<dyn Adapter>
        })
    }

    /// The adapter of `namespace`; subscribes in the background (retrying while Redis is
    /// down). Must run inside a tokio runtime.
    pub fn new(
        driver: Arc<dyn Driver>,
        namespace: Weak<dyn LocalNamespace>,
        config: ShardedConfig,
    ) -> Arc<ShardedAdapter> {
        let nsp = namespace
            .upgrade()
            .map_or_else(|| "/".to_owned(), |ns| ns.name().to_owned());
        let uid = random_hex();
        let main = format!("{}#{nsp}#", config.channel_prefix);
        let own = format!("{main}{uid}#");
        let (outbox, outbox_rx) = mpsc::channel(config.max_pending_publishes.max(1));
        let (subscribed_tx, subscribed) = watch::channel(false);
        let inner = Arc::new(Inner {
            uid,
            nsp,
            namespace,
            index: RwLock::new(RoomIndex::new()),
            driver,
            config,
            main,
            own,
            pending: Mutex::new(HashMap::new()),
            outbox,
            outage: Arc::new(Outage::default()),
            subscribed,
        });
        inner.spawn_outbox(outbox_rx);
        inner.spawn_receiver();
        inner.spawn_subscriber(subscribed_tx);
        Arc::new(ShardedAdapter { inner })
    }

    /// This node's uid on the wire (16 hex characters, like Node's).
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }

    /// Resolves once the main and response channels are subscribed.
    pub async fn subscribed(&self) {
        let mut rx = self.inner.subscribed.clone();
        let _ = rx.wait_for(|s| *s).await;
    }
}

impl Inner {
    fn spawn_outbox(self: &Arc<Self>, mut rx: mpsc::Receiver<Outgoing>) {
        let driver = self.driver.clone();
        let outage = self.outage.clone();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(item) = rx.recv().await {
                let result = match &item {
                    Outgoing::Publish(channel, payload) => {
                        driver.spublish(channel.clone(), payload.clone()).await
                    }
                    Outgoing::Subscribe(channel) => driver.ssubscribe(vec![channel.clone()]).await,
                    Outgoing::Unsubscribe(channel) => {
                        driver.sunsubscribe(vec![channel.clone()]).await
                    }
                };
                match result {
                    Ok(()) => outage.ok(),
                    Err(error) => {
                        outage.failed("spublish", &error);
                        if let (Outgoing::Subscribe(channel), Some(inner)) = (&item, weak.upgrade())
                        {
                            // Retried while the room lives, or a room broadcast would be missed.
                            inner.retry_subscription(channel.clone());
                        }
                    }
                }
            }
        });
    }

    fn retry_subscription(self: &Arc<Self>, channel: String) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                tokio::time::sleep(delay).await;
                let Some(inner) = weak.upgrade() else { return };
                let room = channel
                    .strip_prefix(inner.main.as_str())
                    .and_then(|r| r.strip_suffix('#'))
                    .unwrap_or_default()
                    .to_owned();
                if inner.index.read().members(&room).next().is_none() {
                    return;
                }
                if inner.driver.ssubscribe(vec![channel.clone()]).await.is_ok() {
                    return;
                }
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        });
    }

    fn spawn_receiver(self: &Arc<Self>) {
        let mut rx = self.driver.messages();
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                inner.on_raw(message);
            }
        });
    }

    fn spawn_subscriber(self: &Arc<Self>, done: watch::Sender<bool>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(100);
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let channels = vec![inner.main.clone(), inner.own.clone()];
                match inner.driver.ssubscribe(channels).await {
                    Ok(()) => {
                        inner.outage.ok();
                        let _ = done.send(true);
                        return;
                    }
                    Err(error) => inner.outage.failed("ssubscribe", &error),
                }
                drop(inner);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        });
    }

    fn send(&self, item: Outgoing) {
        if self.outbox.try_send(item).is_err() {
            self.outage.dropped();
        }
    }

    fn publish(&self, channel: String, payload: Vec<u8>) {
        self.send(Outgoing::Publish(channel, Bytes::from(payload)));
    }

    fn response_channel(&self, requester: &str) -> String {
        format!("{}{requester}#", self.main)
    }

    /// The channel of `room` in this mode, if it has one.
    fn room_channel(&self, room: &str) -> Option<String> {
        let has_channel = match self.config.subscription_mode {
            SubscriptionMode::Static => false,
            // Node's `looksLikeASocketId`: a 20-character room is private.
            SubscriptionMode::Dynamic => room.len() != 20,
            SubscriptionMode::DynamicPrivate => true,
        };
        has_channel.then(|| format!("{}{room}#", self.main))
    }

    /// Runs `f` on the index and (un)subscribes the channels of the rooms among `touched`
    /// that it created or emptied.
    fn mutate(&self, touched: &[Room], f: impl FnOnce(&mut RoomIndex)) {
        if self.config.subscription_mode == SubscriptionMode::Static {
            f(&mut self.index.write());
            return;
        }
        let mut index = self.index.write();
        let before: Vec<bool> = touched
            .iter()
            .map(|r| index.members(r).next().is_some())
            .collect();
        f(&mut index);
        for (room, was) in touched.iter().zip(before) {
            let is = index.members(room).next().is_some();
            if was == is {
                continue;
            }
            if let Some(channel) = self.room_channel(room) {
                self.send(if is {
                    Outgoing::Subscribe(channel)
                } else {
                    Outgoing::Unsubscribe(channel)
                });
            }
        }
    }

    fn namespace(&self) -> Option<Arc<dyn LocalNamespace>> {
        self.namespace.upgrade()
    }

    fn on_raw(&self, message: DriverMessage) {
        if message.kind != MessageKind::Sharded || !message.channel.starts_with(&self.main) {
            return;
        }
        let message = match cluster::decode(&message.payload) {
            Ok(m) => m,
            Err(error) => {
                tracing::debug!(%error, nsp = %self.nsp, "dropped a cluster message");
                return;
            }
        };
        if message.uid == self.uid || message.nsp != self.nsp {
            return;
        }
        match message.kind {
            FETCH_SOCKETS_RESPONSE
            | SERVER_SIDE_EMIT_RESPONSE
            | BROADCAST_CLIENT_COUNT
            | BROADCAST_ACK => {
                let pending = self.pending.lock();
                if let Some(tx) = message.request_id().and_then(|id| pending.get(id)) {
                    let _ = tx.send(message);
                }
            }
            _ => self.on_request(message),
        }
    }

    fn on_request(&self, message: ClusterMessage) {
        let opts = opts_from(message.get("opts"));
        let requester = message.uid.clone();
        let request_id = message.request_id().map(str::to_owned);
        match message.kind {
            BROADCAST => {
                let packet = match cluster::broadcast_packet(&message) {
                    Ok(p) => p,
                    Err(error) => {
                        tracing::debug!(%error, "dropped a cluster broadcast");
                        return;
                    }
                };
                let Some(ns) = self.namespace() else { return };
                let sids = self.index.read().select(&opts);
                let Some(id) = request_id else {
                    ns.deliver(&sids, &packet, &opts.flags);
                    return;
                };
                let channel = self.response_channel(&requester);
                let timeout = opts.flags.timeout.unwrap_or(self.config.requests_timeout);
                let (outbox, outage) = (self.outbox.clone(), self.outage.clone());
                let (uid, nsp) = (self.uid.clone(), self.nsp.clone());
                let reply: cluster::Reply = Arc::new(move |kind, data| {
                    let payload = cluster::encode(kind, Some(data), &uid, &nsp, &[]);
                    let item = Outgoing::Publish(channel.clone(), Bytes::from(payload));
                    if outbox.try_send(item).is_err() {
                        outage.dropped();
                    }
                });
                cluster::answer_broadcast_with_ack(
                    ns.as_ref(),
                    &sids,
                    &packet,
                    &opts.flags,
                    timeout,
                    &id,
                    reply,
                );
            }
            SOCKETS_JOIN | SOCKETS_LEAVE => {
                let rooms = rooms_of(message.get("rooms"));
                crate::local::remote_rooms_change(
                    self.namespace(),
                    &rooms,
                    message.kind == SOCKETS_JOIN,
                    || self.join_local(&opts, &rooms),
                    || self.leave_local(&opts, &rooms),
                );
            }
            DISCONNECT_SOCKETS => {
                let close = message
                    .get("close")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                self.disconnect_local(&opts, close);
            }
            FETCH_SOCKETS => {
                let Some(id) = request_id else { return };
                let sockets = self.local_details(&opts);
                let data = cluster::fetch_response_data(&id, &sockets);
                let payload = cluster::encode(
                    FETCH_SOCKETS_RESPONSE,
                    Some(data),
                    &self.uid,
                    &self.nsp,
                    &[],
                );
                self.publish(self.response_channel(&requester), payload);
            }
            SERVER_SIDE_EMIT => {
                let Some(ns) = self.namespace() else { return };
                let data = message
                    .get("packet")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let ack: Option<ServerSideAck> = request_id.map(|id| {
                    let (outbox, outage) = (self.outbox.clone(), self.outage.clone());
                    let (uid, nsp) = (self.uid.clone(), self.nsp.clone());
                    let channel = self.response_channel(&requester);
                    Box::new(move |answer: Value| {
                        let data = cluster::answer_data(&id, &answer);
                        let payload =
                            cluster::encode(SERVER_SIDE_EMIT_RESPONSE, Some(data), &uid, &nsp, &[]);
                        if outbox
                            .try_send(Outgoing::Publish(channel, Bytes::from(payload)))
                            .is_err()
                        {
                            outage.dropped();
                        }
                    }) as ServerSideAck
                });
                ns.on_server_side_emit(data, ack);
            }
            // Heartbeats and closes are for heartbeat transports; the sharded adapter counts
            // nodes with SHARDNUMSUB.
            _ => {}
        }
    }

    fn join_local(&self, opts: &BroadcastOptions, rooms: &[Room]) -> Vec<Sid> {
        let mut sids = Vec::new();
        self.mutate(rooms, |index| sids = crate::local::join(index, opts, rooms));
        sids
    }

    fn leave_local(&self, opts: &BroadcastOptions, rooms: &[Room]) -> Vec<Sid> {
        let mut sids = Vec::new();
        self.mutate(rooms, |index| {
            sids = crate::local::leave(index, opts, rooms)
        });
        sids
    }

    fn disconnect_local(&self, opts: &BroadcastOptions, close: bool) {
        crate::local::disconnect(&self.index, self.namespace(), opts, close);
    }

    fn local_details(&self, opts: &BroadcastOptions) -> Vec<SocketDetails> {
        crate::local::details(&self.index, self.namespace(), opts)
    }

    async fn count_servers(&self, operation: &'static str) -> Result<usize, AdapterError> {
        let count = tokio::time::timeout(
            self.config.requests_timeout,
            self.driver.shard_numsub(self.main.clone()),
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
                reason: "PUBSUB SHARDNUMSUB did not answer in time".into(),
            }),
        }
    }

    fn register(self: &Arc<Self>) -> (Pending, mpsc::UnboundedReceiver<ClusterMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = random_hex();
        self.pending.lock().insert(id.clone(), tx);
        (
            Pending {
                inner: Arc::downgrade(self),
                id,
            },
            rx,
        )
    }

    async fn publish_now(
        &self,
        operation: &'static str,
        payload: Vec<u8>,
    ) -> Result<(), AdapterError> {
        self.driver
            .spublish(self.main.clone(), Bytes::from(payload))
            .await
            .map_err(|error| {
                self.outage.failed(operation, &error);
                AdapterError::Unavailable {
                    operation,
                    reason: error.to_string(),
                }
            })
    }

    /// Publishes a request on the main channel and collects one answer per other node.
    async fn request(
        self: &Arc<Self>,
        operation: &'static str,
        kind: u64,
        data: impl FnOnce(&str) -> Value,
        timeout: Duration,
    ) -> Result<Vec<ClusterMessage>, AdapterError> {
        let expected = self.count_servers(operation).await? - 1;
        if expected == 0 {
            return Ok(Vec::new());
        }
        let (pending, mut rx) = self.register();
        let payload = cluster::encode(kind, Some(data(&pending.id)), &self.uid, &self.nsp, &[]);
        self.publish_now(operation, payload).await?;
        let deadline = Instant::now() + timeout;
        let mut answers = Vec::with_capacity(expected);
        while answers.len() < expected {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(answer)) => answers.push(answer),
                Ok(None) | Err(_) => {
                    return Err(AdapterError::Timeout {
                        operation,
                        timeout,
                        answered: answers.len(),
                        expected,
                    })
                }
            }
        }
        Ok(answers)
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
        let answers = self
            .request(
                "fetchSockets",
                FETCH_SOCKETS,
                |id| cluster::fetch_data(&opts, id),
                timeout,
            )
            .await?;
        for answer in answers {
            if let Some(Value::Array(remote)) = answer.get("sockets") {
                sockets.extend(remote.iter().filter_map(socket_from));
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
        let (pending, rx) = self.register();
        let data = cluster::broadcast_data(&packet, Some(&pending.id), &opts);
        let payload = cluster::encode(
            BROADCAST,
            Some(data),
            &self.uid,
            &self.nsp,
            &packet.attachments,
        );
        if self.publish_now("broadcastWithAck", payload).await.is_err() {
            return 0;
        }
        let deadline = Instant::now() + timeout;
        let classify = |message: &ClusterMessage| match message.kind {
            BROADCAST_CLIENT_COUNT => crate::local::AckReply::Count(
                message
                    .get("clientCount")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as usize,
            ),
            BROADCAST_ACK => {
                crate::local::AckReply::Ack(message.get("packet").cloned().unwrap_or(Value::Null))
            }
            _ => crate::local::AckReply::Other,
        };
        crate::local::collect_broadcast_acks(rx, pending, remote, deadline, classify, on_ack).await
    }
}

struct Pending {
    inner: Weak<Inner>,
    id: String,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            inner.pending.lock().remove(&self.id);
        }
    }
}

impl Adapter for ShardedAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        let inner = &self.inner;
        if inner.config.subscription_mode == SubscriptionMode::DynamicPrivate {
            // The socket's own room is created with the socket.
            let mut touched = rooms.to_vec();
            touched.push(Room::from(sid.as_str()));
            inner.mutate(&touched, |index| index.add_all(sid, rooms));
        } else {
            inner.mutate(rooms, |index| index.add_all(sid, rooms));
        }
    }

    fn del(&self, sid: Sid, room: &str) {
        self.inner
            .mutate(&[Room::from(room)], |index| index.del(sid, room));
    }

    fn del_all(&self, sid: Sid) {
        let touched = self.inner.index.read().rooms_of(sid);
        self.inner.mutate(&touched, |index| index.del_all(sid));
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
            let channel = match opts.rooms.as_slice() {
                [room] => inner.room_channel(room),
                _ => None,
            }
            .unwrap_or_else(|| inner.main.clone());
            let data = cluster::broadcast_data(&packet, None, &opts);
            let payload = cluster::encode(
                BROADCAST,
                Some(data),
                &inner.uid,
                &inner.nsp,
                &packet.attachments,
            );
            inner.publish(channel, payload);
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
            let data = cluster::rooms_data(&opts, &rooms);
            let inner = &self.inner;
            let payload = cluster::encode(SOCKETS_JOIN, Some(data), &inner.uid, &inner.nsp, &[]);
            inner.publish(inner.main.clone(), payload);
        }
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) {
        self.inner.leave_local(&opts, &rooms);
        if !opts.flags.local {
            let data = cluster::rooms_data(&opts, &rooms);
            let inner = &self.inner;
            let payload = cluster::encode(SOCKETS_LEAVE, Some(data), &inner.uid, &inner.nsp, &[]);
            inner.publish(inner.main.clone(), payload);
        }
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) {
        self.inner.disconnect_local(&opts, close);
        if !opts.flags.local {
            let data = cluster::disconnect_data(&opts, close);
            let inner = &self.inner;
            let payload =
                cluster::encode(DISCONNECT_SOCKETS, Some(data), &inner.uid, &inner.nsp, &[]);
            inner.publish(inner.main.clone(), payload);
        }
    }

    fn server_count(&self) -> BoxFuture<'_, usize> {
        Box::pin(async move { self.inner.count_servers("serverCount").await.unwrap_or(1) })
    }

    fn server_side_emit(&self, data: Vec<Value>) -> BoxFuture<'_, Result<(), AdapterError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let data = cluster::server_side_emit_data(&data, None);
            let payload =
                cluster::encode(SERVER_SIDE_EMIT, Some(data), &inner.uid, &inner.nsp, &[]);
            inner.publish_now("serverSideEmit", payload).await
        })
    }

    fn server_side_emit_with_ack(
        &self,
        data: Vec<Value>,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Vec<Value>, AdapterError>> {
        Box::pin(async move {
            let answers = self
                .inner
                .request(
                    "serverSideEmitWithAck",
                    SERVER_SIDE_EMIT,
                    |id| cluster::server_side_emit_data(&data, Some(id)),
                    timeout,
                )
                .await?;
            Ok(answers
                .into_iter()
                .map(|a| a.get("packet").cloned().unwrap_or(Value::Null))
                .collect())
        })
    }
}
