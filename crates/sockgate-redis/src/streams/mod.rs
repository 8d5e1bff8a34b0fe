//! The Redis Streams adapter: `@socket.io/redis-streams-adapter` 0.3's protocol, the
//! ClusterAdapter message model ([`crate::cluster`]) over one Redis stream per namespace hash
//! plus pub/sub for requests and responses, with connection state recovery across nodes.
//!
//! One file because the adapter, its stream reader and its session store share one state and
//! one ordering argument (below); the wire formats live in [`codec`].
//!
//! - **Durable** messages (broadcasts without acks, `socketsJoin`/`socketsLeave`,
//!   `disconnectSockets`) are `XADD`ed to the namespace's stream (`MAXLEN ~ max_len`). Every
//!   node reads every stream with a blocking `XREAD` on a connection of its own and resumes
//!   from the last id it read after a Redis outage, so nothing published meanwhile is lost
//!   (pub/sub would lose it).
//! - **Ephemeral** messages (broadcasts with acks, `serverSideEmit`, `fetchSockets`) and all
//!   responses are msgpack `PUBLISH`es on `prefix#nsp#` and `prefix#nsp#<uid>#`. The server
//!   count is `PUBSUB NUMSUB prefix#nsp#`.
//! - **Recovery**: with [`StreamsConfig::recovery`] on, every broadcast carries its entry id
//!   as the last argument (the client's offset), as with Node. This node's own broadcasts
//!   reach its clients when the reader reads them back, so each client sees the stream in
//!   order (Node delivers its own at `XADD` time, which can put an older offset last and
//!   replay a packet twice on recovery). Sessions live in `sio:session:<pid>` (base64 msgpack,
//!   `PX` ttl), so a client may recover on any node, Node or sockgate. Unlike Node, a session
//!   is saved while its socket is connected, whenever what recovery needs changes (connect,
//!   join, leave, data; coalesced every [`StreamsConfig::session_flush_interval`] and
//!   refreshed before its ttl runs out), so it survives its node being killed and a
//!   reconnect that arrives before the old node noticed the disconnect.
//!
//! Ordering: broadcasts and room operations go through one queue per namespace, so a node's
//! entries enter the stream in call order; a short Redis outage holds the queue
//! ([`StreamsConfig::append_retry`]) instead of dropping what is in it.

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
    LocalNamespace, PersistedSession, RecoveryConfig, Room, RoomIndex, ServerSideAck, Sid,
    SocketDetails,
};
use sockgate_proto::socketio::Packet;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::classic::codec::{opts_from, rooms_of, socket_from};
use crate::cluster::{self, message_type::*, ClusterMessage};
use crate::driver::{
    next_stream_id, parse_stream_id, Driver, DriverError, DriverMessage, MessageKind,
};
use crate::outage::Outage;

/// Settings of [`StreamsAdapter`], with the Node adapter's defaults. Every node of a cluster
/// must agree on `stream_name`, `stream_count`, `channel_prefix`, `use_sharded_pubsub` and
/// `session_key_prefix`.
#[derive(Debug, Clone)]
pub struct StreamsConfig {
    /// Stream key (Node's `streamName`, default `socket.io`).
    pub stream_name: String,
    /// Number of streams (`streamCount`, default 1); namespace `nsp` goes to
    /// `stream_name-<hashCode(nsp) % stream_count>` when it is above 1.
    pub stream_count: usize,
    /// Prefix of the pub/sub channels (`channelPrefix`, default `socket.io`).
    pub channel_prefix: String,
    /// `SPUBLISH`/`SSUBSCRIBE` instead of `PUBLISH`/`SUBSCRIBE` (`useShardedPubSub`).
    pub use_sharded_pubsub: bool,
    /// Approximate most entries kept per stream (`maxLen`, default 10,000). It bounds the
    /// recovery window: a client whose offset was trimmed reconnects without recovery.
    pub max_len: usize,
    /// Most entries per `XREAD` (`readCount`, default 100).
    pub read_count: usize,
    /// How long one `XREAD` blocks (`blockTimeInMs`, default 5 s).
    pub block_time: Duration,
    /// Prefix of the session keys (`sessionKeyPrefix`, default `sio:session:`).
    pub session_key_prefix: String,
    /// Never write binary as base64 msgpack; blobs become Node's JSON form of a `Buffer`
    /// (`onlyPlaintext`, default false).
    pub only_plaintext: bool,
    /// How long `fetchSockets` (unless `flags.timeout`) and `serverSideEmitWithAck` wait.
    pub requests_timeout: Duration,
    /// Most messages waiting to be written; past it new ones are dropped (and logged).
    pub max_pending_publishes: usize,
    /// Connection state recovery (off by default). Turn it on together with the server's
    /// `connection_state_recovery`, with the same `max_disconnection_duration` (the sessions'
    /// ttl).
    pub recovery: Option<RecoveryConfig>,
    /// How often changed sessions are written (default 100 ms): a burst of joins becomes one
    /// `SET` per socket.
    pub session_flush_interval: Duration,
    /// How long stream writes are retried while Redis is unreachable (default 10 s), so a
    /// short outage loses no broadcast. With recovery on, this node's own clients get its
    /// broadcasts in stream order, so they wait too; past it, they get them without offset
    /// and the other nodes miss them (logged).
    pub append_retry: Duration,
    /// How long a restore keeps retrying while Redis does not answer (default 10 s) before
    /// the client gets a fresh session. A node under load sees commands time out (2 s by
    /// default in `FredDriver`); giving up at the first one turned recoverable reconnects into
    /// new sessions that lost what they missed. The client's own connect timeout (20 s in
    /// socket.io-client) bounds what is useful here.
    pub restore_patience: Duration,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            stream_name: "socket.io".into(),
            stream_count: 1,
            channel_prefix: "socket.io".into(),
            use_sharded_pubsub: false,
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_secs(5),
            session_key_prefix: "sio:session:".into(),
            only_plaintext: false,
            requests_timeout: Duration::from_secs(5),
            max_pending_publishes: 10_000,
            recovery: None,
            session_flush_interval: Duration::from_millis(100),
            append_retry: Duration::from_secs(10),
            restore_patience: Duration::from_secs(10),
        }
    }
}

impl StreamsConfig {
    /// These settings with connection state recovery on.
    pub fn with_recovery(mut self, recovery: RecoveryConfig) -> Self {
        self.recovery = Some(recovery);
        self
    }
}

/// `randomBytes(8).toString("hex")`: uids and request ids of the Cluster model.
fn random_hex() -> String {
    let bytes: [u8; 8] = rand::thread_rng().gen();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The instant `timeout` from now; `Duration::MAX` (no timeout) is a century, not a panic.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// Most `XRANGE` pages read while restoring one session (Node reads up to 100 unbounded
/// ranges; pages of [`RANGE_PAGE`] keep each reply small).
const MAX_RANGE_PAGES: usize = 200;
const RANGE_PAGE: usize = 1_000;

/// What one factory's adapters share: the driver and one reader per stream.
struct Hub {
    driver: Arc<dyn Driver>,
    config: StreamsConfig,
    adapters: Mutex<HashMap<String, Weak<Inner>>>,
    readers: Mutex<HashSet<String>>,
    /// Set once a reader knows where to start.
    reading: watch::Sender<bool>,
}

impl Hub {
    fn register(self: &Arc<Self>, inner: &Arc<Inner>) {
        self.adapters
            .lock()
            .insert(inner.nsp.clone(), Arc::downgrade(inner));
        if self.readers.lock().insert(inner.stream.clone()) {
            spawn_reader(Arc::downgrade(self), inner.stream.clone());
        }
    }

    fn adapter(&self, nsp: &str) -> Option<Arc<Inner>> {
        self.adapters.lock().get(nsp).and_then(Weak::upgrade)
    }
}

/// Reads `stream` forever, from its newest entry at start and then from the last id read
/// (also after an outage, so no entry is skipped), and hands each entry to its namespace's
/// adapter.
fn spawn_reader(hub: Weak<Hub>, stream: String) {
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(100);
        let mut down = false;
        // Start after the newest entry (`0-0` for an empty stream: everything is new).
        let mut last = loop {
            let Some(h) = hub.upgrade() else { return };
            let driver = h.driver.clone();
            drop(h);
            match driver.stream_last_id(stream.clone()).await {
                Ok(id) => {
                    if let Some(h) = hub.upgrade() {
                        h.reading.send_replace(true);
                    }
                    break id.unwrap_or_else(|| "0-0".to_owned());
                }
                Err(error) => {
                    if !down {
                        down = true;
                        tracing::warn!(%stream, %error, "cannot reach redis to start reading the stream; retrying with backoff");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        };
        loop {
            let Some(h) = hub.upgrade() else { return };
            let (driver, count, block) = (
                h.driver.clone(),
                h.config.read_count.max(1),
                h.config.block_time,
            );
            drop(h);
            match driver
                .xread(stream.clone(), last.clone(), count, block)
                .await
            {
                Ok(entries) => {
                    if down {
                        down = false;
                        tracing::info!(%stream, after = %last, "redis is back: reading the stream again from the last entry read, nothing skipped");
                    }
                    delay = Duration::from_millis(100);
                    let Some(h) = hub.upgrade() else { return };
                    for entry in entries {
                        last.clone_from(&entry.id);
                        match codec::decode_entry(&entry) {
                            Ok(Some(message)) => {
                                if let Some(adapter) = h.adapter(&message.nsp) {
                                    adapter.on_message(message, Some(&entry.id));
                                }
                            }
                            Ok(None) => {}
                            Err(error) => {
                                tracing::debug!(%error, id = %entry.id, "skipped a stream entry")
                            }
                        }
                    }
                }
                Err(error) => {
                    if !down {
                        down = true;
                        tracing::warn!(%stream, %error, after = %last, "cannot read the stream; retrying with backoff, and resuming after the last entry read");
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    });
}

enum Outgoing {
    /// `XADD` of these fields, then (recovery on) the local delivery with the entry id.
    Append {
        fields: Vec<(String, String)>,
        local: Option<(Packet, BroadcastOptions)>,
    },
    Publish(String, Bytes),
    /// Answered once everything queued before it was written.
    Flush(oneshot::Sender<()>),
}

enum SessionWrite {
    /// Written right away (a disconnect).
    Save(PersistedSession),
    Delete(String),
    /// Writes the changed sessions now, then answers.
    Flush(oneshot::Sender<()>),
}

/// Sessions of connected sockets, saved as they change.
#[derive(Default)]
struct Sessions {
    tracked: HashMap<Sid, (String, Value)>,
    dirty: HashSet<Sid>,
}

/// A namespace adapter on Redis Streams, wire-compatible with
/// `@socket.io/redis-streams-adapter` 0.3.1.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use sockgate_core::RecoveryConfig;
/// use sockgate_redis::{FredConfig, FredDriver, StreamsAdapter, StreamsConfig};
///
/// let driver = FredDriver::connect(FredConfig::new("redis://127.0.0.1:6379")).await?;
/// let recovery = RecoveryConfig::default();
/// let factory = StreamsAdapter::factory(driver, StreamsConfig::default().with_recovery(recovery));
/// // SocketIo::builder().connection_state_recovery(recovery).adapter(move |ns| factory(ns))
/// # let _ = factory; Ok(()) }
/// ```
pub struct StreamsAdapter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StreamsAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsAdapter")
            .field("uid", &self.inner.uid)
            .field("nsp", &self.inner.nsp)
            .field("stream", &self.inner.stream)
            .finish_non_exhaustive()
    }
}

struct Inner {
    uid: String,
    nsp: String,
    namespace: Weak<dyn LocalNamespace>,
    index: RwLock<RoomIndex>,
    hub: Arc<Hub>,
    stream: String,
    /// `prefix#nsp#`.
    public: String,
    /// `prefix#nsp#uid#`.
    private: String,
    pending: Mutex<HashMap<String, mpsc::UnboundedSender<ClusterMessage>>>,
    outbox: mpsc::Sender<Outgoing>,
    outage: Arc<Outage>,
    subscribed: watch::Receiver<bool>,
    sessions: Mutex<Sessions>,
    session_writes: mpsc::UnboundedSender<SessionWrite>,
    /// The value this node last wrote for each session (by pid): a disconnect noticed late
    /// must not overwrite a session another node restored and saved since.
    written: Mutex<HashMap<String, String>>,
    /// The id of this adapter's newest entry known to be in the stream: where a retried
    /// `XADD` looks for its first attempt.
    appended: Mutex<Option<String>>,
}

impl StreamsAdapter {
    /// A factory for the server builder's `.adapter(..)`; its adapters share one reader per
    /// stream. Must be called inside a tokio runtime.
    pub fn factory(driver: impl Driver, config: StreamsConfig) -> AdapterFactory {
        Self::factory_shared(Arc::new(driver), config)
    }

    /// [`StreamsAdapter::factory`] on a shared driver.
    pub fn factory_shared(driver: Arc<dyn Driver>, config: StreamsConfig) -> AdapterFactory {
        let hub = Arc::new(Hub {
            driver,
            config,
            adapters: Mutex::new(HashMap::new()),
            readers: Mutex::new(HashSet::new()),
            reading: watch::channel(false).0,
        });
        let runtime = tokio::runtime::Handle::current();
        Arc::new(move |namespace| {
            let _enter = runtime.enter();
            StreamsAdapter::with_hub(hub.clone(), namespace) as Arc<dyn Adapter>
        })
    }

    /// The adapter of one namespace with a reader of its own (several namespaces should
    /// share one [`StreamsAdapter::factory`]). Must run inside a tokio runtime.
    pub fn new(
        driver: Arc<dyn Driver>,
        namespace: Weak<dyn LocalNamespace>,
        config: StreamsConfig,
    ) -> Arc<StreamsAdapter> {
        let hub = Arc::new(Hub {
            driver,
            config,
            adapters: Mutex::new(HashMap::new()),
            readers: Mutex::new(HashSet::new()),
            reading: watch::channel(false).0,
        });
        // The adapter owns its hub: the reader stops with it.
        StreamsAdapter::with_hub(hub, namespace)
    }

    fn with_hub(hub: Arc<Hub>, namespace: Weak<dyn LocalNamespace>) -> Arc<StreamsAdapter> {
        let config = &hub.config;
        let nsp = namespace
            .upgrade()
            .map_or_else(|| "/".to_owned(), |ns| ns.name().to_owned());
        let uid = random_hex();
        let public = format!("{}#{nsp}#", config.channel_prefix);
        let private = format!("{public}{uid}#");
        let stream = codec::stream_name(&config.stream_name, config.stream_count, &nsp);
        let (outbox, outbox_rx) = mpsc::channel(config.max_pending_publishes.max(1));
        let (subscribed_tx, subscribed) = watch::channel(false);
        let (session_writes, session_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            uid,
            nsp,
            namespace,
            index: RwLock::new(RoomIndex::new()),
            hub: hub.clone(),
            stream,
            public,
            private,
            pending: Mutex::new(HashMap::new()),
            outbox,
            outage: Arc::new(Outage::default()),
            subscribed,
            sessions: Mutex::new(Sessions::default()),
            session_writes,
            written: Mutex::new(HashMap::new()),
            appended: Mutex::new(None),
        });
        inner.spawn_outbox(outbox_rx);
        inner.spawn_receiver();
        inner.spawn_subscriber(subscribed_tx);
        if inner.recovery().is_some() {
            inner.spawn_session_writer(session_rx);
        }
        hub.register(&inner);
        Arc::new(StreamsAdapter { inner })
    }

    /// This node's uid on the wire (16 hex characters, like Node's).
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }

    /// The stream this namespace writes to and reads from.
    pub fn stream(&self) -> &str {
        &self.inner.stream
    }

    /// Resolves once the request and response channels are subscribed and the stream reader
    /// knows where to start (what is published from then on reaches this node).
    pub async fn ready(&self) {
        let mut rx = self.inner.subscribed.clone();
        let _ = rx.wait_for(|s| *s).await;
        let mut reading = self.inner.hub.reading.subscribe();
        let _ = reading.wait_for(|r| *r).await;
    }
}

impl Inner {
    fn config(&self) -> &StreamsConfig {
        &self.hub.config
    }

    fn driver(&self) -> &Arc<dyn Driver> {
        &self.hub.driver
    }

    fn recovery(&self) -> Option<&RecoveryConfig> {
        self.config().recovery.as_ref()
    }

    fn namespace(&self) -> Option<Arc<dyn LocalNamespace>> {
        self.namespace.upgrade()
    }

    fn spawn_outbox(self: &Arc<Self>, mut rx: mpsc::Receiver<Outgoing>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            // When the current run of failed writes began.
            let mut failing_since: Option<Instant> = None;
            while let Some(item) = rx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                match item {
                    Outgoing::Append { fields, local } => {
                        let written = inner.append_now(fields, &mut failing_since).await;
                        if let (false, Some((packet, opts))) = (written, local) {
                            // Not in the stream (Redis down past the retry window): the local
                            // clients still get it, without an offset; they keep their
                            // previous one, which stays correct.
                            inner.deliver_local(packet, &opts, None);
                        }
                        // Written: the reader delivers it locally, in stream order.
                    }
                    Outgoing::Flush(done) => {
                        let _ = done.send(());
                    }
                    Outgoing::Publish(channel, payload) => {
                        let driver = inner.driver();
                        let result = if inner.config().use_sharded_pubsub {
                            driver.spublish(channel, payload).await
                        } else {
                            driver.publish(channel, payload).await
                        };
                        match result {
                            Ok(()) => inner.outage.ok(),
                            Err(error) => inner.outage.failed("PUBLISH", &error),
                        }
                    }
                }
            }
        });
    }

    /// `XADD`s `fields`, retrying while Redis is unreachable for up to
    /// [`StreamsConfig::append_retry`] from the start of the outage (the queue waits meanwhile,
    /// so entries keep their order); past it, each entry gets one attempt until one succeeds.
    async fn append_now(
        &self,
        fields: Vec<(String, String)>,
        failing_since: &mut Option<Instant>,
    ) -> bool {
        let mut delay = Duration::from_millis(50);
        // Set after an attempt that failed without an answer: Redis may have applied it (a
        // connection that dropped after the write, a late timeout), and appending it again
        // would deliver it twice to everyone. Looked for before each retry, and once more
        // when giving up (then it must not be delivered locally without its offset either).
        let mut maybe_written: Option<String> = None;
        let mut giving_up = false;
        loop {
            if let Some(since) = &maybe_written {
                if let Ok(Some(id)) = self.find_own_entry(since, &fields).await {
                    return self.appended_as(id, failing_since);
                }
            }
            if giving_up {
                return false;
            }
            let result = self
                .driver()
                .xadd(self.stream.clone(), self.config().max_len, fields.clone())
                .await;
            match result {
                Ok(id) => return self.appended_as(id, failing_since),
                Err(error) => {
                    self.outage.failed("XADD", &error);
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    let retryable = matches!(error, crate::DriverError::Unavailable(_));
                    if retryable && maybe_written.is_none() {
                        maybe_written = Some(self.search_start());
                    }
                    if !retryable || since.elapsed() >= self.config().append_retry {
                        giving_up = true;
                    } else {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(1));
                    }
                }
            }
        }
    }

    /// An append landed as entry `id`: the next retry searches after it, and the outage (if
    /// any) is over.
    fn appended_as(&self, id: String, failing_since: &mut Option<Instant>) -> bool {
        *self.appended.lock() = Some(id);
        *failing_since = None;
        self.outage.ok();
        true
    }

    /// Where to look for an attempt's entry: after this adapter's newest known entry (appends
    /// are made one at a time, so a later entry with this uid is that attempt), or, before the
    /// first one, the last minute of the stream by Redis time (ids start with Redis's clock;
    /// a minute covers a clock skew and the outage's retries).
    fn search_start(&self) -> String {
        if let Some(id) = self
            .appended
            .lock()
            .as_ref()
            .and_then(|id| next_stream_id(id))
        {
            return id;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        format!("{}-0", now.saturating_sub(60_000))
    }

    /// The id of an entry from `start` on with exactly `fields` (this adapter's uid among
    /// them), if one is in the stream.
    async fn find_own_entry(
        &self,
        start: &str,
        fields: &[(String, String)],
    ) -> Result<Option<String>, crate::DriverError> {
        let mut start = start.to_owned();
        for _ in 0..MAX_RANGE_PAGES {
            let entries = self
                .driver()
                .xrange(self.stream.clone(), start.clone(), "+".into(), RANGE_PAGE)
                .await?;
            let full = entries.len() >= RANGE_PAGE;
            for entry in &entries {
                if entry.fields == fields {
                    return Ok(Some(entry.id.clone()));
                }
            }
            match entries.last().and_then(|e| next_stream_id(&e.id)) {
                Some(next) if full => start = next,
                _ => break,
            }
        }
        Ok(None)
    }

    fn spawn_receiver(self: &Arc<Self>) {
        let mut rx = self.driver().messages();
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
                let channels = vec![inner.public.clone(), inner.private.clone()];
                let result = if inner.config().use_sharded_pubsub {
                    inner.driver().ssubscribe(channels).await
                } else {
                    inner.driver().subscribe(channels).await
                };
                match result {
                    Ok(()) => {
                        inner.outage.ok();
                        let _ = done.send(true);
                        return;
                    }
                    Err(error) => inner.outage.failed("SUBSCRIBE", &error),
                }
                drop(inner);
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        });
    }

    /// Writes changed sessions every flush interval, refreshes every tracked one before its
    /// ttl ends, and applies disconnects' saves and deletes in order with those writes.
    fn spawn_session_writer(self: &Arc<Self>, mut rx: mpsc::UnboundedReceiver<SessionWrite>) {
        let weak = Arc::downgrade(self);
        let flush = self
            .config()
            .session_flush_interval
            .max(Duration::from_millis(1));
        let ttl = self
            .recovery()
            .map_or(Duration::from_secs(120), |r| r.max_disconnection_duration);
        let refresh = (ttl / 2).max(flush);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(flush);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_refresh = Instant::now() + refresh;
            loop {
                tokio::select! {
                    write = rx.recv() => {
                        let Some(write) = write else { return };
                        let Some(inner) = weak.upgrade() else { return };
                        if let SessionWrite::Flush(done) = write {
                            inner.flush_sessions(ttl, false).await;
                            let _ = done.send(());
                        } else {
                            inner.write_session(write, ttl).await;
                        }
                    }
                    _ = tick.tick() => {
                        let Some(inner) = weak.upgrade() else { return };
                        let refreshing = Instant::now() >= next_refresh;
                        if refreshing {
                            next_refresh = Instant::now() + refresh;
                            let mut sessions = inner.sessions.lock();
                            let all: Vec<Sid> = sessions.tracked.keys().copied().collect();
                            sessions.dirty.extend(all);
                        }
                        inner.flush_sessions(ttl, refreshing).await;
                    }
                }
            }
        });
    }

    fn session_key(&self, pid: &str) -> String {
        format!("{}{pid}", self.config().session_key_prefix)
    }

    async fn write_session(&self, write: SessionWrite, ttl: Duration) {
        let result = match write {
            SessionWrite::Save(session) => {
                let key = self.session_key(&session.pid);
                let last = self.written.lock().remove(&session.pid);
                if let Some(last) = last {
                    // Someone else's value: the client already recovered on another node
                    // (the reconnect overtook this disconnect), which owns the session now.
                    if let Ok(Some(current)) = self.driver().get(key.clone()).await {
                        if current != last {
                            tracing::debug!(pid = %session.pid, "session moved to another node; not overwritten");
                            return;
                        }
                    }
                }
                let value = codec::encode_session(&session);
                self.driver().set_px(key, value, ttl).await
            }
            SessionWrite::Delete(key) => {
                let pid = key.strip_prefix(self.config().session_key_prefix.as_str());
                if let Some(pid) = pid {
                    self.written.lock().remove(pid);
                }
                self.driver().del(key).await
            }
            SessionWrite::Flush(done) => {
                let _ = done.send(());
                Ok(())
            }
        };
        if let Err(error) = result {
            self.outage.failed("SET session", &error);
        }
    }

    /// Writes the dirty sessions. A `refresh` first checks the sessions this node wrote
    /// before: one whose key holds another value now was recovered on another node while its
    /// socket here still looked connected (the connection dropped silently, up to a ping
    /// timeout ago). This node stops tracking it instead of putting its stale copy back.
    async fn flush_sessions(&self, ttl: Duration, refresh: bool) {
        let snapshots: Vec<PersistedSession> = {
            let mut sessions = self.sessions.lock();
            let dirty: Vec<Sid> = sessions.dirty.drain().collect();
            let index = self.index.read();
            dirty
                .into_iter()
                .filter_map(|sid| {
                    let (pid, data) = sessions.tracked.get(&sid)?;
                    Some(PersistedSession {
                        sid,
                        pid: pid.clone(),
                        rooms: index.rooms_of(sid),
                        data: data.clone(),
                    })
                })
                .collect()
        };
        // Distinct keys: written concurrently (one pipeline), 256 at a time.
        for chunk in snapshots.chunks(256) {
            let owned;
            let chunk = if refresh {
                owned = self.still_owned(chunk).await;
                owned.as_slice()
            } else {
                chunk
            };
            let writes = chunk.iter().map(|session| {
                let key = self.session_key(&session.pid);
                let value = codec::encode_session(session);
                self.driver().set_px(key, value, ttl)
            });
            let results = futures_util::future::join_all(writes).await;
            for (session, result) in chunk.iter().zip(results) {
                // Remembered only while the socket is connected: a disconnect meanwhile took
                // over (and an entry kept after it would never be removed).
                if result.is_ok() && self.sessions.lock().tracked.contains_key(&session.sid) {
                    let value = codec::encode_session(session);
                    self.written.lock().insert(session.pid.clone(), value);
                }
                if let Err(error) = result {
                    self.outage.failed("SET session", &error);
                    // Retried at the next flush while the socket is connected.
                    let mut sessions = self.sessions.lock();
                    if sessions.tracked.contains_key(&session.sid) {
                        sessions.dirty.insert(session.sid);
                    }
                }
            }
        }
    }

    /// The sessions of `chunk` whose key still holds what this node last wrote (or nothing:
    /// expired, or a Redis that restarted empty); the others moved and are no longer tracked
    /// here. Their last written value is kept, so the stale socket's close is not saved over
    /// the new owner's session either (see `write_session`).
    async fn still_owned(&self, chunk: &[PersistedSession]) -> Vec<PersistedSession> {
        let checks = chunk.iter().map(|session| {
            let last = self.written.lock().get(&session.pid).cloned();
            let key = self.session_key(&session.pid);
            async move {
                match last {
                    Some(last) => match self.driver().get(key).await {
                        Ok(Some(current)) => current == last,
                        // Unknown (Redis unanswering): the write will fail or succeed alike.
                        Ok(None) | Err(_) => true,
                    },
                    None => true,
                }
            }
        });
        let owned = futures_util::future::join_all(checks).await;
        let mut kept = Vec::with_capacity(chunk.len());
        for (session, owned) in chunk.iter().zip(owned) {
            if owned {
                kept.push(session.clone());
            } else {
                tracing::debug!(pid = %session.pid, "session recovered on another node; no longer refreshed here");
                let mut sessions = self.sessions.lock();
                sessions.tracked.remove(&session.sid);
                sessions.dirty.remove(&session.sid);
            }
        }
        kept
    }

    fn mark_dirty(&self, sid: Sid) {
        if self.recovery().is_none() {
            return;
        }
        let mut sessions = self.sessions.lock();
        if sessions.tracked.contains_key(&sid) {
            sessions.dirty.insert(sid);
        }
    }

    fn send(&self, item: Outgoing) {
        if let Err(error) = self.outbox.try_send(item) {
            self.outage.dropped();
            // The local clients still get a broadcast the cluster queue could not take.
            if let Outgoing::Append {
                local: Some((packet, opts)),
                ..
            } = error.into_inner()
            {
                self.deliver_local(packet, &opts, None);
            }
        }
    }

    fn append(&self, kind: u64, data: &Value, attachments: &[Bytes]) {
        self.send(Outgoing::Append {
            fields: self.fields(kind, data, attachments),
            local: None,
        });
    }

    fn fields(&self, kind: u64, data: &Value, attachments: &[Bytes]) -> Vec<(String, String)> {
        codec::entry_fields(
            kind,
            Some(data),
            &self.uid,
            &self.nsp,
            attachments,
            self.config().only_plaintext,
        )
    }

    fn publish(&self, channel: String, payload: Vec<u8>) {
        self.send(Outgoing::Publish(channel, Bytes::from(payload)));
    }

    fn response_channel(&self, requester: &str) -> String {
        format!("{}{requester}#", self.public)
    }

    /// Delivers `packet` to the local sockets matching `opts`, with `offset` appended when
    /// recovery is on and the broadcast is not volatile (Node's `addOffsetIfNecessary`).
    fn deliver_local(&self, mut packet: Packet, opts: &BroadcastOptions, offset: Option<&str>) {
        if let (Some(offset), Some(_), false) = (offset, self.recovery(), opts.flags.volatile) {
            if let Some(Value::Array(args)) = packet.data.as_mut() {
                args.push(Value::from(offset));
            }
        }
        let sids = self.index.read().select(opts);
        if let Some(ns) = self.namespace() {
            ns.deliver(&sids, &packet, &opts.flags);
        }
    }

    fn on_raw(&self, message: DriverMessage) {
        let expected = if self.config().use_sharded_pubsub {
            MessageKind::Sharded
        } else {
            MessageKind::Channel
        };
        if message.kind != expected
            || (message.channel != self.public && message.channel != self.private)
        {
            return;
        }
        match cluster::decode(&message.payload) {
            Ok(message) => self.on_message(message, None),
            Err(error) => tracing::debug!(%error, nsp = %self.nsp, "dropped a cluster message"),
        }
    }

    /// A message from the stream (with its entry id) or from pub/sub.
    fn on_message(&self, message: ClusterMessage, offset: Option<&str>) {
        if message.nsp != self.nsp {
            return;
        }
        if message.uid == self.uid {
            // With recovery on, this node's own broadcasts reach its clients from the stream:
            // every client then sees every entry in stream order, so its last offset is
            // always its newest (Node delivers its own at XADD time, out of order with what
            // it reads, and a recovery can replay an entry the client already had).
            if let (Some(offset), Some(_), BROADCAST, None) =
                (offset, self.recovery(), message.kind, message.request_id())
            {
                match cluster::broadcast_packet(&message) {
                    Ok(packet) => {
                        let opts = opts_from(message.get("opts"));
                        self.deliver_local(packet, &opts, Some(offset));
                    }
                    Err(error) => tracing::debug!(%error, "dropped an own broadcast"),
                }
            }
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
            _ => self.on_request(message, offset),
        }
    }

    fn on_request(&self, message: ClusterMessage, offset: Option<&str>) {
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
                let Some(id) = request_id else {
                    self.deliver_local(packet, &opts, offset);
                    return;
                };
                let Some(ns) = self.namespace() else { return };
                let sids = self.index.read().select(&opts);
                let channel = self.response_channel(&requester);
                let timeout = opts.flags.timeout.unwrap_or(self.config().requests_timeout);
                let (outbox, outage) = (self.outbox.clone(), self.outage.clone());
                let (uid, nsp) = (self.uid.clone(), self.nsp.clone());
                let reply: cluster::Reply = Arc::new(move |kind, data| {
                    let payload = codec::encode_pubsub(kind, Some(data), &uid, &nsp, &[]);
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
                crate::local::disconnect(&self.index, self.namespace(), &opts, close);
            }
            FETCH_SOCKETS => {
                let Some(id) = request_id else { return };
                let sockets = self.local_details(&opts);
                let data = cluster::fetch_response_data(&id, &sockets);
                let payload = codec::encode_pubsub(
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
                        let payload = codec::encode_pubsub(
                            SERVER_SIDE_EMIT_RESPONSE,
                            Some(data),
                            &uid,
                            &nsp,
                            &[],
                        );
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
            // No heartbeats since 0.3.0: the server count comes from NUMSUB.
            _ => {}
        }
    }

    fn join_local(&self, opts: &BroadcastOptions, rooms: &[Room]) -> Vec<Sid> {
        let sids = crate::local::join(&mut self.index.write(), opts, rooms);
        sids.iter().for_each(|sid| self.mark_dirty(*sid));
        sids
    }

    fn leave_local(&self, opts: &BroadcastOptions, rooms: &[Room]) -> Vec<Sid> {
        let sids = crate::local::leave(&mut self.index.write(), opts, rooms);
        sids.iter().for_each(|sid| self.mark_dirty(*sid));
        sids
    }

    fn local_details(&self, opts: &BroadcastOptions) -> Vec<SocketDetails> {
        crate::local::details(&self.index, self.namespace(), opts)
    }

    async fn count_servers(&self, operation: &'static str) -> Result<usize, AdapterError> {
        let driver = self.driver();
        let count = tokio::time::timeout(self.config().requests_timeout, async {
            if self.config().use_sharded_pubsub {
                driver.shard_numsub(self.public.clone()).await
            } else {
                driver.numsub(self.public.clone()).await
            }
        })
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
                reason: "PUBSUB NUMSUB did not answer in time".into(),
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

    /// Publishes an ephemeral request now (not through the queue: the caller waits on it).
    async fn publish_now(
        &self,
        operation: &'static str,
        payload: Vec<u8>,
    ) -> Result<(), AdapterError> {
        let driver = self.driver();
        let payload = Bytes::from(payload);
        let result = if self.config().use_sharded_pubsub {
            driver.spublish(self.public.clone(), payload).await
        } else {
            driver.publish(self.public.clone(), payload).await
        };
        result.map_err(|error| {
            self.outage.failed(operation, &error);
            AdapterError::Unavailable {
                operation,
                reason: error.to_string(),
            }
        })
    }

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
        let payload =
            codec::encode_pubsub(kind, Some(data(&pending.id)), &self.uid, &self.nsp, &[]);
        self.publish_now(operation, payload).await?;
        let deadline = deadline_after(timeout);
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
        let timeout = opts.flags.timeout.unwrap_or(self.config().requests_timeout);
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
        on_ack: AckCallback,
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
            .get_or_insert(self.config().requests_timeout);
        let (pending, rx) = self.register();
        let data = cluster::broadcast_data(&packet, Some(&pending.id), &opts);
        let payload = codec::encode_pubsub(
            BROADCAST,
            Some(data),
            &self.uid,
            &self.nsp,
            &packet.attachments,
        );
        if self.publish_now("broadcastWithAck", payload).await.is_err() {
            return 0;
        }
        let deadline = deadline_after(timeout);
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

    /// The stored broadcasts of this namespace after `offset` that reach `rooms`, oldest
    /// first, each with its entry id appended; `None` when Redis cannot be read.
    async fn broadcasts_after(&self, offset: &str, rooms: &[Room]) -> Option<Vec<Packet>> {
        match self.try_broadcasts_after(offset, rooms).await {
            Ok(packets) => packets,
            Err(error) => {
                self.outage.failed("XRANGE", &error);
                None
            }
        }
    }

    /// The broadcasts reaching `rooms` after `offset`; `Ok(None)` for an offset that is not a
    /// stream id.
    async fn try_broadcasts_after(
        &self,
        offset: &str,
        rooms: &[Room],
    ) -> Result<Option<Vec<Packet>>, DriverError> {
        let mut packets = Vec::new();
        let mut cursor = offset.to_owned();
        for _ in 0..MAX_RANGE_PAGES {
            let Some(start) = next_stream_id(&cursor) else {
                return Ok(None);
            };
            let entries = self
                .driver()
                .xrange(self.stream.clone(), start, "+".into(), RANGE_PAGE)
                .await?;
            let full = entries.len() >= RANGE_PAGE;
            for entry in entries {
                cursor.clone_from(&entry.id);
                if entry.field("nsp") != Some(self.nsp.as_str()) || entry.field("type") != Some("3")
                {
                    continue;
                }
                let Ok(Some(message)) = codec::decode_entry(&entry) else {
                    continue;
                };
                let opts = opts_from(message.get("opts"));
                if !codec::reaches(rooms, &opts) {
                    continue;
                }
                if let Ok(mut packet) = cluster::broadcast_packet(&message) {
                    if let Some(Value::Array(args)) = packet.data.as_mut() {
                        args.push(Value::from(entry.id.as_str()));
                    }
                    packets.push(packet);
                }
            }
            if !full {
                break;
            }
        }
        Ok(Some(packets))
    }

    /// Restores a session, retrying for [`StreamsConfig::restore_patience`] while Redis does
    /// not answer (a timeout under load is no reason to lose what the client missed).
    async fn restore(&self, pid: &str, offset: &str) -> Option<(PersistedSession, Vec<Packet>)> {
        parse_stream_id(offset)?;
        let deadline = Instant::now() + self.config().restore_patience;
        let mut pause = Duration::from_millis(50);
        loop {
            match self.try_restore(pid, offset).await {
                Ok(restored) => return restored,
                Err((operation, error)) => {
                    self.outage.failed(operation, &error);
                    let retry = matches!(error, DriverError::Unavailable(_));
                    if !retry || Instant::now() + pause >= deadline {
                        tracing::debug!(%pid, %error, "recovery refused: redis did not answer");
                        return None;
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
            }
        }
    }

    async fn try_restore(
        &self,
        pid: &str,
        offset: &str,
    ) -> Result<Option<(PersistedSession, Vec<Packet>)>, (&'static str, DriverError)> {
        let key = self.session_key(pid);
        let driver = self.driver();
        // GET, not Node's GETDEL: a restore whose connection dies before the recovered socket
        // is registered (a client that timed out under load and retries) must leave the
        // session for the retry. The key needs no delete: the recovered socket is tracked, so
        // this node overwrites it within `session_flush_interval`, and a leave deletes it.
        let (raw, found) = tokio::join!(
            driver.get(key),
            driver.xrange(self.stream.clone(), offset.into(), offset.into(), 1)
        );
        let Some(raw) = raw.map_err(|error| ("GET session", error))? else {
            tracing::debug!(%pid, "recovery refused: no session (expired or never saved)");
            return Ok(None);
        };
        if found.map_err(|error| ("XRANGE", error))?.is_empty() {
            tracing::debug!(%pid, %offset, "recovery refused: the offset left the stream");
            return Ok(None);
        }
        let session = match codec::decode_session(&raw) {
            Ok(session) if session.pid == pid => session,
            Ok(_) => return Ok(None),
            Err(error) => {
                tracing::debug!(%error, %pid, "recovery refused: unreadable session");
                return Ok(None);
            }
        };
        let missed = self
            .try_broadcasts_after(offset, &session.rooms)
            .await
            .map_err(|error| ("XRANGE", error))?;
        Ok(missed.map(|missed| (session, missed)))
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

impl Adapter for StreamsAdapter {
    fn add_all(&self, sid: Sid, rooms: &[Room]) {
        self.inner.index.write().add_all(sid, rooms);
        self.inner.mark_dirty(sid);
    }

    fn del(&self, sid: Sid, room: &str) {
        self.inner.index.write().del(sid, room);
        self.inner.mark_dirty(sid);
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
        if opts.flags.local {
            inner.deliver_local(packet, &opts, None);
            return;
        }
        let data = cluster::broadcast_data(&packet, None, &opts);
        let fields = inner.fields(BROADCAST, &data, &packet.attachments);
        if inner.recovery().is_some() {
            // Delivered locally when the reader reads it back, with its entry id (the
            // clients' offset), in stream order.
            inner.send(Outgoing::Append {
                fields,
                local: Some((packet, opts)),
            });
        } else {
            inner.send(Outgoing::Append {
                fields,
                local: None,
            });
            inner.deliver_local(packet, &opts, None);
        }
    }

    fn broadcast_with_ack_remote(
        &self,
        packet: Packet,
        opts: BroadcastOptions,
        on_ack: AckCallback,
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
            self.inner.append(SOCKETS_JOIN, &data, &[]);
        }
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) {
        self.inner.leave_local(&opts, &rooms);
        if !opts.flags.local {
            let data = cluster::rooms_data(&opts, &rooms);
            self.inner.append(SOCKETS_LEAVE, &data, &[]);
        }
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) {
        crate::local::disconnect(&self.inner.index, self.inner.namespace(), &opts, close);
        if !opts.flags.local {
            let data = cluster::disconnect_data(&opts, close);
            self.inner.append(DISCONNECT_SOCKETS, &data, &[]);
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
                codec::encode_pubsub(SERVER_SIDE_EMIT, Some(data), &inner.uid, &inner.nsp, &[]);
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

    fn recovery_enabled(&self) -> bool {
        self.inner.recovery().is_some()
    }

    fn track_session(&self, session: PersistedSession) {
        if self.inner.recovery().is_none() {
            return;
        }
        let mut sessions = self.inner.sessions.lock();
        sessions
            .tracked
            .insert(session.sid, (session.pid, session.data));
        sessions.dirty.insert(session.sid);
    }

    fn persist_session(&self, session: PersistedSession) {
        if self.inner.recovery().is_none() {
            return;
        }
        {
            let mut sessions = self.inner.sessions.lock();
            sessions.tracked.remove(&session.sid);
            sessions.dirty.remove(&session.sid);
        }
        let _ = self.inner.session_writes.send(SessionWrite::Save(session));
    }

    fn forget_session(&self, sid: Sid, pid: &str) {
        if self.inner.recovery().is_none() {
            return;
        }
        {
            let mut sessions = self.inner.sessions.lock();
            sessions.tracked.remove(&sid);
            sessions.dirty.remove(&sid);
        }
        let key = self.inner.session_key(pid);
        let _ = self.inner.session_writes.send(SessionWrite::Delete(key));
    }

    fn restore_session(
        &self,
        pid: &str,
        offset: &str,
    ) -> BoxFuture<'_, Option<(PersistedSession, Vec<Packet>)>> {
        let (pid, offset) = (pid.to_owned(), offset.to_owned());
        Box::pin(async move {
            self.inner.recovery()?;
            self.inner.restore(&pid, &offset).await
        })
    }

    fn packets_after(&self, offset: &str, rooms: &[Room]) -> BoxFuture<'_, Option<Vec<Packet>>> {
        let (offset, rooms) = (offset.to_owned(), rooms.to_vec());
        Box::pin(async move { self.inner.broadcasts_after(&offset, &rooms).await })
    }

    /// Waits until the stream writes queued so far were made (or given up on, see
    /// [`StreamsConfig::append_retry`]) and the changed and disconnected sessions were saved.
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (done, written) = oneshot::channel();
            if self.inner.outbox.send(Outgoing::Flush(done)).await.is_ok() {
                let _ = written.await;
            }
            if self.inner.recovery().is_some() {
                let (done, saved) = oneshot::channel();
                if self
                    .inner
                    .session_writes
                    .send(SessionWrite::Flush(done))
                    .is_ok()
                {
                    let _ = saved.await;
                }
            }
        })
    }
}
