//! The Socket.IO server: configuration, namespaces, and the engine it runs on.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use http_body_util::Either;
use parking_lot::RwLock;
use sockgate_core::{Adapter, AdapterFactory, InMemoryAdapter, LocalNamespace, RecoveryConfig};
use sockgate_engine::{
    BoxError, CloseReason, Connection, Cors, Engine, EngineConfig, EngineHandler, Message,
    ResponseBody, Transports,
};
use sockgate_proto::socketio::{EioMessage, Parser};
use std::convert::Infallible;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tower_layer::Layer;
use tower_service::Service;

use crate::client::{self, ClientState};
use crate::extensions::Extensions;
use crate::handler::{boxed_message_handler, BoxedMessageHandler, MessageHandler};
use crate::namespace::{Namespace, NamespaceRef};
use crate::operators::BroadcastOperators;
use crate::payload::IntoPayload;
use crate::reason::DisconnectReason;
use crate::socket::IntoRooms;
use crate::SendError;

/// How long [`SocketIo::close`] waits for every queue to be delivered.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Options of a Socket.IO server. `SocketIoConfig::default()` matches Node's defaults.
#[derive(Clone)]
pub struct SocketIoConfig {
    /// Engine.IO options (path, transports, heartbeat, limits, CORS...).
    pub engine: EngineConfig,
    /// Time a connection has to join a namespace before it is closed (default 45 s).
    pub connect_timeout: Duration,
    /// Default wait for acks (Node has none; default 5 s here so nothing waits forever).
    pub ack_timeout: Duration,
    /// The packet parser (default JSON).
    pub parser: Parser,
    /// Most attachments (JSON) or inline binaries (msgpack) one packet may carry (socket.io-parser
    /// 4.2.6's `maxAttachments`, default 10); a packet with more closes the connection with
    /// `parse error`.
    pub max_attachments: usize,
    /// Most bytes of attachments a connection may hold for one incomplete binary packet; past it
    /// the connection closes with `parse error`. `None` (the default): `maxHttpBufferSize`.
    pub max_pending_attachment_bytes: Option<u64>,
    /// Longest time a binary packet may wait for its last attachment before the connection closes
    /// with `parse error` (default 30 s; Node waits forever).
    pub pending_attachments_timeout: Duration,
    /// Most memory one packet's decoded payload may take, estimated before it is allocated
    /// (default 16 MiB; Node has no bound). A decoded value takes 72 bytes or more for as little
    /// as one byte on the wire, so a 1 MB packet of small values would otherwise cost 100 MB;
    /// a packet over the bound closes the connection with `parse error`. Raise it if legitimate
    /// packets carry more than ~200,000 values.
    pub max_decoded_bytes: usize,
    /// Connection state recovery (off by default, as in Node).
    pub recovery: Option<RecoveryConfig>,
    /// Serve the official browser client at `<path>socket.io.js` (Node's `serveClient`).
    pub serve_client: Option<ClientBundle>,
    /// Free a child of a dynamic namespace once its last socket left (Node's
    /// `cleanupEmptyChildNamespaces`). **On by default** (Node: off), because the names are
    /// chosen by clients: without it every name a client tries lives forever. A child is
    /// created again, with its handlers, on the next CONNECT.
    pub cleanup_empty_child_namespaces: bool,
}

impl Default for SocketIoConfig {
    fn default() -> Self {
        SocketIoConfig {
            engine: EngineConfig::default(),
            connect_timeout: Duration::from_secs(45),
            ack_timeout: Duration::from_secs(5),
            parser: Parser::Json,
            max_attachments: sockgate_proto::socketio::DEFAULT_MAX_ATTACHMENTS,
            max_pending_attachment_bytes: None,
            pending_attachments_timeout: Duration::from_secs(30),
            max_decoded_bytes: 16 << 20,
            recovery: None,
            serve_client: None,
            cleanup_empty_child_namespaces: true,
        }
    }
}

impl fmt::Debug for SocketIoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIoConfig")
            .field("engine", &self.engine)
            .field("connect_timeout", &self.connect_timeout)
            .field("ack_timeout", &self.ack_timeout)
            .field("recovery", &self.recovery)
            .field("serve_client", &self.serve_client)
            .finish_non_exhaustive()
    }
}

/// What every namespace shares.
pub(crate) struct ServerShared {
    pub(crate) config: SocketIoConfig,
    pub(crate) state: Arc<Extensions>,
    pub(crate) adapter_factory: AdapterFactory,
}

struct DynamicNamespace {
    matcher: Matcher,
    handler: Option<BoxedMessageHandler>,
    parent: Arc<Namespace>,
}

enum Matcher {
    /// `/tenant/{id}`: literal segments and named parameters.
    Pattern(Vec<Segment>),
    /// Any name the predicate accepts.
    Predicate(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

enum Segment {
    Literal(String),
    Param(String),
}

impl Matcher {
    fn parse(pattern: &str) -> Matcher {
        Matcher::Pattern(
            pattern
                .trim_start_matches('/')
                .split('/')
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Segment::Param(name.to_owned()),
                        None => Segment::Literal(s.to_owned()),
                    },
                )
                .collect(),
        )
    }

    fn matches(&self, name: &str) -> Option<Vec<(String, String)>> {
        match self {
            Matcher::Predicate(f) => f(name).then(Vec::new),
            Matcher::Pattern(segments) => {
                let parts: Vec<&str> = name.trim_start_matches('/').split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut params = Vec::new();
                for (segment, part) in segments.iter().zip(parts) {
                    match segment {
                        Segment::Literal(l) if l == part => {}
                        Segment::Param(p) if !part.is_empty() => {
                            params.push((p.clone(), part.to_owned()));
                        }
                        _ => return None,
                    }
                }
                Some(params)
            }
        }
    }
}

/// The namespaces of a server.
pub(crate) struct Registry {
    pub(crate) shared: Arc<ServerShared>,
    namespaces: RwLock<HashMap<String, Arc<Namespace>>>,
    dynamic: RwLock<Vec<DynamicNamespace>>,
}

impl Registry {
    /// The namespace named `name`, creating a child of a matching dynamic namespace if needed.
    ///
    /// The caller holds a CONNECT slot on the namespace (counted, so that a child is not freed
    /// while its middlewares run) and must give it back with [`Registry::connect_done`].
    pub(crate) fn namespace_for(self: &Arc<Self>, name: &str) -> Option<Arc<Namespace>> {
        if let Some(ns) = self.namespaces.read().get(name) {
            // Counted under the registry's lock: `free_child` takes it to remove the entry.
            ns.connecting.fetch_add(1, Ordering::AcqRel);
            return Some(ns.clone());
        }
        let dynamic = self.dynamic.read();
        let (params, parent) = dynamic
            .iter()
            .find_map(|d| d.matcher.matches(name).map(|p| (p, d)))?;
        let mut namespaces = self.namespaces.write();
        let ns = namespaces.entry(name.to_owned()).or_insert_with(|| {
            let child = Namespace::new(
                name.to_owned(),
                params,
                self.shared.clone(),
                parent.handler.clone(),
                parent.parent.middlewares(),
            );
            if self.shared.config.cleanup_empty_child_namespaces {
                let _ = child.cleanup.set(Arc::downgrade(self));
            }
            child
        });
        ns.connecting.fetch_add(1, Ordering::AcqRel);
        Some(ns.clone())
    }

    /// Gives back the CONNECT slot taken by [`Registry::namespace_for`]; a refused CONNECT
    /// leaves no child behind.
    pub(crate) fn connect_done(&self, ns: &Namespace) {
        if ns.connecting.fetch_sub(1, Ordering::AcqRel) == 1 {
            ns.free_if_unused();
        }
    }

    /// Removes the child `ns` if it is still the registered one and unused.
    pub(crate) fn free_child(&self, ns: &Namespace) {
        let mut namespaces = self.namespaces.write();
        let registered = namespaces
            .get(ns.name())
            .is_some_and(|entry| std::ptr::eq(Arc::as_ptr(entry), ns));
        if registered && ns.is_unused() {
            namespaces.remove(ns.name());
            tracing::debug!(nsp = ns.name(), "freed an empty child namespace");
        }
    }

    /// Number of namespaces (children of dynamic namespaces included).
    pub(crate) fn len(&self) -> usize {
        self.namespaces.read().len()
    }

    fn insert(&self, ns: Arc<Namespace>) {
        self.namespaces.write().insert(ns.name().to_owned(), ns);
    }

    fn all(&self) -> Vec<Arc<Namespace>> {
        self.namespaces.read().values().cloned().collect()
    }
}

/// Bridges Engine.IO sessions to Socket.IO (the engine handler of a [`SocketIo`]).
pub struct IoHandler {
    registry: Arc<Registry>,
}

impl fmt::Debug for IoHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoHandler").finish_non_exhaustive()
    }
}

impl EngineHandler for IoHandler {
    type Data = ClientState;

    fn on_open(&self, connection: &Arc<Connection<ClientState>>) {
        let timeout = self.registry.shared.config.connect_timeout;
        let weak = Arc::downgrade(connection);
        let timer = tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            if let Some(connection) = weak.upgrade() {
                if !connection.data().has_joined() {
                    connection.close();
                }
            }
        });
        connection.data().set_connect_timer(timer.abort_handle());
    }

    fn on_message(&self, connection: &Arc<Connection<ClientState>>, message: Message) {
        let message = match message {
            Message::Text(text) => EioMessage::Text(text),
            Message::Binary(data) => EioMessage::Binary(data),
        };
        client::on_message(&self.registry, connection, message);
    }

    fn on_close(&self, connection: &Connection<ClientState>, reason: CloseReason) {
        client::on_close(connection, reason.into());
    }
}

/// A Socket.IO server. Cheap to clone; every clone is the same server.
///
/// ```no_run
/// use sockgate::{SocketIo, SocketRef, extract::Data};
///
/// # async fn run() -> std::io::Result<()> {
/// let io = SocketIo::builder().build();
/// io.ns("/", |socket: SocketRef| {
///     socket.on("message", |socket: SocketRef, Data(text): Data<String>| {
///         let _ = socket.emit("message-back", &text);
///     });
/// });
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// io.serve(listener).await
/// # }
/// ```
#[derive(Clone)]
pub struct SocketIo {
    registry: Arc<Registry>,
    engine: Engine<IoHandler>,
}

impl fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIo")
            .field("config", &self.registry.shared.config)
            .finish_non_exhaustive()
    }
}

/// Builds a [`SocketIo`].
pub struct SocketIoBuilder {
    config: SocketIoConfig,
    state: Arc<Extensions>,
    adapter_factory: Option<AdapterFactory>,
}

impl fmt::Debug for SocketIoBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIoBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SocketIoBuilder {
    /// Replaces the whole configuration (for options read at run time).
    pub fn config(mut self, config: SocketIoConfig) -> Self {
        self.config = config;
        self
    }

    /// Sets the Engine.IO options.
    pub fn engine(mut self, engine: EngineConfig) -> Self {
        self.config.engine = engine;
        self
    }

    /// Sets the path (default `/socket.io/`).
    pub fn path(mut self, path: &str) -> Self {
        self.config.engine = self.config.engine.path(path);
        self
    }

    /// Sets the allowed transports.
    pub fn transports(mut self, transports: Transports) -> Self {
        self.config.engine.transports = transports;
        self
    }

    /// Sets CORS.
    pub fn cors(mut self, cors: Cors) -> Self {
        self.config.engine.cors = Some(cors);
        self
    }

    /// Sets `pingInterval`.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.config.engine.session.ping_interval = interval;
        self
    }

    /// Sets `pingTimeout`.
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.config.engine.session.ping_timeout = timeout;
        self
    }

    /// Sets `maxHttpBufferSize`.
    pub fn max_http_buffer_size(mut self, bytes: u64) -> Self {
        self.config.engine.session.max_payload = bytes;
        self
    }

    /// Sets `connectTimeout`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Sets the WebSocket write coalescing window (see [`EngineConfig::write_coalescing`]).
    pub fn write_coalescing(mut self, window: Duration) -> Self {
        self.config.engine.write_coalescing = window;
        self
    }

    /// Sets the connection-level HTTP options used by [`SocketIo::serve`] (timeouts,
    /// connection cap, shutdown bound).
    pub fn http(mut self, http: sockgate_engine::HttpConfig) -> Self {
        self.config.engine.http = http;
        self
    }

    /// Sets the time a client has to send a request head (default 10 s); see
    /// [`HttpConfig::header_read_timeout`](sockgate_engine::HttpConfig::header_read_timeout).
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.engine.http.header_read_timeout = timeout;
        self
    }

    /// Sets the keep-alive idle timeout (default 5 s); see
    /// [`HttpConfig::idle_timeout`](sockgate_engine::HttpConfig::idle_timeout).
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.engine.http.idle_timeout = timeout;
        self
    }

    /// Caps the connections served at once (default none); see
    /// [`HttpConfig::max_connections`](sockgate_engine::HttpConfig::max_connections).
    pub fn max_connections(mut self, max: Option<usize>) -> Self {
        self.config.engine.http.max_connections = max;
        self
    }

    /// Sets `httpRequestBodyTimeout` (default 30 s).
    pub fn http_request_body_timeout(mut self, timeout: Duration) -> Self {
        self.config.engine.http_request_body_timeout = timeout;
        self
    }

    /// Trusts `X-Forwarded-Proto` / `X-Forwarded-For` for [`Handshake::secure`] and
    /// [`Handshake::client_ip`] (default false: only behind a proxy that sets them).
    ///
    /// [`Handshake::secure`]: crate::Handshake::secure
    /// [`Handshake::client_ip`]: crate::Handshake::client_ip
    pub fn trust_proxy(mut self, trust: bool) -> Self {
        self.config.engine.trust_proxy = trust;
        self
    }

    /// Refuses handshakes and WebSocket upgrades from browsers on other origins with 403 (CORS
    /// does not apply to WebSockets); see
    /// [`EngineConfig::allowed_origins`](sockgate_engine::EngineConfig::allowed_origins).
    pub fn allowed_origins<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        origins: I,
    ) -> Self {
        self.config.engine = self.config.engine.allowed_origins(origins);
        self
    }

    /// Sets the default ack timeout.
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.config.ack_timeout = timeout;
        self
    }

    /// Chooses the parser (JSON or msgpack).
    pub fn parser(mut self, parser: Parser) -> Self {
        self.config.parser = parser;
        self
    }

    /// Sets the most attachments one packet may carry (see [`SocketIoConfig::max_attachments`]).
    pub fn max_attachments(mut self, max: usize) -> Self {
        self.config.max_attachments = max;
        self
    }

    /// Sets the most attachment bytes an incomplete binary packet may hold (see
    /// [`SocketIoConfig::max_pending_attachment_bytes`]).
    pub fn max_pending_attachment_bytes(mut self, bytes: u64) -> Self {
        self.config.max_pending_attachment_bytes = Some(bytes);
        self
    }

    /// Sets the most memory one decoded packet may take (see
    /// [`SocketIoConfig::max_decoded_bytes`]).
    pub fn max_decoded_bytes(mut self, bytes: usize) -> Self {
        self.config.max_decoded_bytes = bytes;
        self
    }

    /// Sets how long a binary packet may wait for its attachments (see
    /// [`SocketIoConfig::pending_attachments_timeout`]).
    pub fn pending_attachments_timeout(mut self, timeout: Duration) -> Self {
        self.config.pending_attachments_timeout = timeout;
        self
    }

    /// Serves the official browser client bundle (`serveClient`).
    pub fn serve_client(mut self, bundle: ClientBundle) -> Self {
        self.config.serve_client = Some(bundle);
        self
    }

    /// Frees empty children of dynamic namespaces (default on; see
    /// [`SocketIoConfig::cleanup_empty_child_namespaces`]).
    pub fn cleanup_empty_child_namespaces(mut self, cleanup: bool) -> Self {
        self.config.cleanup_empty_child_namespaces = cleanup;
        self
    }

    /// Turns on connection state recovery.
    pub fn connection_state_recovery(mut self, recovery: RecoveryConfig) -> Self {
        self.config.recovery = Some(recovery);
        self
    }

    /// Uses another adapter (a cluster adapter) for every namespace.
    pub fn adapter(
        mut self,
        factory: impl Fn(Weak<dyn LocalNamespace>) -> Arc<dyn Adapter> + Send + Sync + 'static,
    ) -> Self {
        self.adapter_factory = Some(Arc::new(factory));
        self
    }

    /// Adds application state, available to handlers through [`crate::extract::State`].
    pub fn with_state<T: Clone + Send + Sync + 'static>(self, state: T) -> Self {
        self.state.insert(state);
        self
    }

    /// Shares one state map between several servers (the gateways of one application).
    pub(crate) fn shared_state(mut self, state: Arc<Extensions>) -> Self {
        self.state = state;
        self
    }

    /// Builds the server.
    pub fn build(self) -> SocketIo {
        let recovery = self.config.recovery;
        let adapter_factory = self.adapter_factory.unwrap_or_else(|| {
            Arc::new(move |ns| Arc::new(InMemoryAdapter::new(ns, recovery)) as Arc<dyn Adapter>)
        });
        let shared = Arc::new(ServerShared {
            config: self.config,
            state: self.state,
            adapter_factory,
        });
        let registry = Arc::new(Registry {
            shared: shared.clone(),
            namespaces: RwLock::new(HashMap::new()),
            dynamic: RwLock::new(Vec::new()),
        });
        registry.insert(Namespace::new(
            "/".to_owned(),
            Vec::new(),
            shared.clone(),
            None,
            Vec::new(),
        ));
        let engine = Engine::new(
            shared.config.engine.clone(),
            IoHandler {
                registry: registry.clone(),
            },
        );
        SocketIo { registry, engine }
    }
}

impl SocketIo {
    /// A builder with Node's defaults.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder {
            config: SocketIoConfig::default(),
            state: Arc::new(Extensions::new()),
            adapter_factory: None,
        }
    }

    /// A server with Node's defaults.
    pub fn new() -> SocketIo {
        Self::builder().build()
    }

    /// The configuration.
    pub fn config(&self) -> &SocketIoConfig {
        &self.registry.shared.config
    }

    /// Declares a namespace and the handler called for each socket that connects to it
    /// (Node's `io.of(name).on("connection", handler)`). Its extractors see the `auth`
    /// payload as [`crate::extract::Data`].
    pub fn ns<H, M>(&self, name: &str, handler: H) -> NamespaceRef
    where
        H: MessageHandler<M>,
        M: Send + Sync + 'static,
    {
        let existing = self.registry.namespaces.read().get(name).cloned();
        let middlewares = existing.map(|ns| ns.middlewares()).unwrap_or_default();
        let ns = Namespace::new(
            name.to_owned(),
            Vec::new(),
            self.registry.shared.clone(),
            Some(boxed_message_handler(handler)),
            middlewares,
        );
        self.registry.insert(ns.clone());
        NamespaceRef(ns)
    }

    /// Declares a dynamic namespace: every name matching `pattern` (`/tenant/{id}` style, each
    /// `{name}` matching one segment) gets its own namespace on first connect. The returned
    /// handle holds middlewares that the children inherit (add them before clients connect).
    pub fn dynamic_ns<H, M>(&self, pattern: &str, handler: H) -> NamespaceRef
    where
        H: MessageHandler<M>,
        M: Send + Sync + 'static,
    {
        self.add_dynamic(Matcher::parse(pattern), pattern, handler)
    }

    /// Declares dynamic namespaces accepted by a predicate on the name.
    pub fn dynamic_ns_with<H, M>(
        &self,
        predicate: impl Fn(&str) -> bool + Send + Sync + 'static,
        handler: H,
    ) -> NamespaceRef
    where
        H: MessageHandler<M>,
        M: Send + Sync + 'static,
    {
        self.add_dynamic(
            Matcher::Predicate(Arc::new(predicate)),
            "<predicate>",
            handler,
        )
    }

    fn add_dynamic<H, M>(&self, matcher: Matcher, label: &str, handler: H) -> NamespaceRef
    where
        H: MessageHandler<M>,
        M: Send + Sync + 'static,
    {
        let parent = Namespace::new(
            label.to_owned(),
            Vec::new(),
            self.registry.shared.clone(),
            None,
            Vec::new(),
        );
        self.registry.dynamic.write().push(DynamicNamespace {
            matcher,
            handler: Some(boxed_message_handler(handler)),
            parent: parent.clone(),
        });
        NamespaceRef(parent)
    }

    /// The namespace named `name`, if declared (or already created by a dynamic pattern).
    pub fn of(&self, name: &str) -> Option<NamespaceRef> {
        self.registry
            .namespaces
            .read()
            .get(name)
            .cloned()
            .map(NamespaceRef)
    }

    fn main(&self) -> NamespaceRef {
        self.of("/").unwrap_or_else(|| self.ns("/", || {}))
    }

    /// Emits to every socket of the main namespace.
    pub fn emit<P: IntoPayload>(&self, event: &str, data: P) -> Result<(), SendError> {
        self.main().emit(event, data)
    }

    /// Broadcast operators on the main namespace.
    pub fn broadcast(&self) -> BroadcastOperators {
        self.main().broadcast()
    }

    /// Targets rooms of the main namespace.
    pub fn to<R: IntoRooms>(&self, rooms: R) -> BroadcastOperators {
        self.main().to(rooms)
    }

    /// Number of namespaces on this server, children of dynamic namespaces included.
    pub fn namespace_count(&self) -> usize {
        self.registry.len()
    }

    /// The engine (for session counts and low-level access).
    pub fn engine(&self) -> &Engine<IoHandler> {
        &self.engine
    }

    /// A tower `Layer` that serves Socket.IO beside an application's routes.
    pub fn layer(&self) -> SocketIoLayer {
        SocketIoLayer::new(vec![self.clone()])
    }

    /// True when `path` belongs to this server.
    pub fn matches(&self, path: &str) -> bool {
        self.engine.matches(path)
    }

    /// Answers one HTTP request under this server's path.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if let Some(bundle) = &self.registry.shared.config.serve_client {
            let path = request.uri().path();
            if let Some(name) = path.strip_prefix(self.engine.config().path.as_str()) {
                if let Some(response) = bundle.response(name, request.headers()) {
                    return response;
                }
            }
        }
        self.engine.handle(request).await
    }

    /// Serves Socket.IO alone on `listener` (other paths get 404), with the engine's
    /// [`HttpConfig`](sockgate_engine::HttpConfig). Await it, or call
    /// [`with_graceful_shutdown`](sockgate_engine::Serve::with_graceful_shutdown) first; the
    /// sessions themselves are ended by [`SocketIo::close`].
    pub fn serve(&self, listener: TcpListener) -> sockgate_engine::Serve {
        let not_found = sockgate_engine::service_fn(|_req: Request<hyper::body::Incoming>| async {
            let mut response = Response::new(ResponseBody::new(Bytes::from_static(b"Not Found")));
            *response.status_mut() = http::StatusCode::NOT_FOUND;
            Ok::<_, Infallible>(response)
        });
        sockgate_engine::serve(listener, self.layer().layer(not_found))
            .http_config(self.engine.config().http.clone())
    }

    /// Shuts the server down gracefully, like Node's `io.close()`, and resolves once it is
    /// done: new handshakes are refused (503); every socket leaves with reason
    /// `server shutting down` (its disconnect handlers run); every connection then delivers
    /// what is queued for it and closes, so clients reconnect (to another node). Waits at
    /// most [`DEFAULT_CLOSE_TIMEOUT`]; see [`SocketIo::close_with_timeout`].
    ///
    /// Packets that clients send once the close started are discarded: their sockets have
    /// already left. Once it resolved, the server accepts clients again (a process normally
    /// exits then; stop its listener with `serve(..).with_graceful_shutdown(..)`).
    pub async fn close(&self) {
        self.close_with_timeout(DEFAULT_CLOSE_TIMEOUT).await;
    }

    /// [`SocketIo::close`] waiting at most `timeout` for the queues to be delivered; returns
    /// how many connections were still open then and were dropped (clients too slow to read).
    pub async fn close_with_timeout(&self, timeout: Duration) -> usize {
        for ns in self.registry.all() {
            NamespaceRef(ns).close_all(DisconnectReason::ServerShuttingDown);
        }
        self.engine.shutdown(timeout).await
    }
}

impl Default for SocketIo {
    fn default() -> Self {
        Self::new()
    }
}

/// The official browser client files, loaded once and served from memory.
#[derive(Clone)]
pub struct ClientBundle {
    files: Arc<Vec<(String, Bytes)>>,
    dir: PathBuf,
}

impl fmt::Debug for ClientBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBundle")
            .field("dir", &self.dir)
            .finish()
    }
}

const BUNDLE_FILES: [&str; 6] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

impl ClientBundle {
    /// Loads the bundle from the `dist` folder of the npm package `socket.io-client`.
    pub fn from_dir(dir: impl AsRef<Path>) -> std::io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let mut files = Vec::new();
        for name in BUNDLE_FILES {
            if let Ok(content) = std::fs::read(dir.join(name)) {
                files.push((name.to_owned(), Bytes::from(content)));
            }
        }
        if !files.iter().any(|(n, _)| n == "socket.io.js") {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "no socket.io.js in {}: run `npm ci` where socket.io-client is a dependency",
                    dir.display()
                ),
            ));
        }
        Ok(ClientBundle {
            files: Arc::new(files),
            dir,
        })
    }

    /// Finds the npm package: `$SOCKGATE_CLIENT_DIST`, else `node_modules/socket.io-client/dist`
    /// (or `e2e/js/node_modules/...`) in the current directory or any parent.
    pub fn locate() -> std::io::Result<Self> {
        if let Some(dir) = std::env::var_os("SOCKGATE_CLIENT_DIST") {
            return Self::from_dir(dir);
        }
        let mut dir = std::env::current_dir()?;
        loop {
            for candidate in [
                dir.join("node_modules/socket.io-client/dist"),
                dir.join("e2e/js/node_modules/socket.io-client/dist"),
            ] {
                if candidate.join("socket.io.js").is_file() {
                    return Self::from_dir(candidate);
                }
            }
            if !dir.pop() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "socket.io-client not found in node_modules: run `npm ci --prefix e2e/js` or set SOCKGATE_CLIENT_DIST",
                ));
            }
        }
    }

    fn response(&self, name: &str, request: &HeaderMap) -> Option<Response<ResponseBody>> {
        let (_, content) = self.files.iter().find(|(n, _)| n == name)?;
        let etag = format!("\"{:x}-{}\"", content.len(), self.files.len());
        let mut response = if request
            .get(http::header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes())
        {
            let mut r = Response::new(ResponseBody::new(Bytes::new()));
            *r.status_mut() = http::StatusCode::NOT_MODIFIED;
            r
        } else {
            Response::new(ResponseBody::new(content.clone()))
        };
        let content_type = if name.ends_with(".map") {
            "application/json"
        } else {
            "application/javascript; charset=utf-8"
        };
        let headers = response.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("public, max-age=0"),
        );
        if let Ok(v) = http::HeaderValue::from_str(&etag) {
            headers.insert(http::header::ETAG, v);
        }
        Some(response)
    }
}

/// Serves one or more Socket.IO servers (one per path) in front of other routes, so they
/// share the application's port (the NestJS default).
#[derive(Debug, Clone)]
pub struct SocketIoLayer {
    servers: Arc<Vec<SocketIo>>,
}

impl SocketIoLayer {
    /// A layer for these servers.
    pub fn new(servers: Vec<SocketIo>) -> Self {
        SocketIoLayer {
            servers: Arc::new(servers),
        }
    }
}

impl<S> Layer<S> for SocketIoLayer {
    type Service = SocketIoService<S>;
    fn layer(&self, inner: S) -> SocketIoService<S> {
        SocketIoService {
            servers: self.servers.clone(),
            inner,
        }
    }
}

/// The service of [`SocketIoLayer`].
#[derive(Debug, Clone)]
pub struct SocketIoService<S> {
    servers: Arc<Vec<SocketIo>>,
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for SocketIoService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Either<ResponseBody, ResBody>>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let path = request.uri().path();
        if let Some(io) = self.servers.iter().find(|io| io.matches(path)) {
            let io = io.clone();
            return Box::pin(async move { Ok(io.handle(request).await.map(Either::Left)) });
        }
        // Take the service that was polled ready, leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move { Ok(inner.call(request).await?.map(Either::Right)) })
    }
}
