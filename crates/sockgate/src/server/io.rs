//! The public face of a server: [`SocketIo`], its namespaces, broadcasts, HTTP entry points
//! and shutdown.

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use sockgate_engine::{BoxError, Engine, ResponseBody};
use tokio::net::TcpListener;
use tower_layer::Layer;

use super::bridge::IoHandler;
use super::builder::SocketIoBuilder;
use super::config::SocketIoConfig;
use super::layer::SocketIoLayer;
use super::matcher::Matcher;
use super::registry::{DynamicNamespace, Registry};
use crate::handler::{boxed_message_handler, MessageHandler};
use crate::namespace::{Namespace, NamespaceRef};
use crate::operators::BroadcastOperators;
use crate::payload::IntoPayload;
use crate::reason::DisconnectReason;
use crate::socket::IntoRooms;
use crate::SendError;

/// How long [`SocketIo::close`] waits for every queue to be delivered.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

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
    pub(super) registry: Arc<Registry>,
    pub(super) engine: Engine<IoHandler>,
}

impl fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketIo")
            .field("config", &self.registry.shared.config)
            .finish_non_exhaustive()
    }
}

impl SocketIo {
    /// A builder with Node's defaults.
    pub fn builder() -> SocketIoBuilder {
        SocketIoBuilder::new(SocketIoConfig::default())
    }

    /// A builder starting from `config` (options read at run time, or shared with a
    /// [`GatewayOptions`](crate::gateway::GatewayOptions)); the builder's setters then change
    /// single options of it. The whole configuration can only be given here, at the start,
    /// so that nothing set separately is ever replaced by it.
    pub fn builder_from(config: SocketIoConfig) -> SocketIoBuilder {
        SocketIoBuilder::new(config)
    }

    /// A server with Node's defaults.
    pub fn new() -> SocketIo {
        Self::builder().build()
    }

    /// The configuration.
    pub fn config(&self) -> &SocketIoConfig {
        &self.registry.shared.config
    }

    #[cfg(feature = "admin")]
    pub(crate) fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Declares a namespace and the handler called for each socket that connects to it
    /// (Node's `io.of(name).on("connection", handler)`). Its extractors see the `auth`
    /// payload as [`crate::extract::Data`].
    ///
    /// For a namespace that already exists (the main namespace `/` always does) this replaces
    /// only the connect handler: the namespace's sockets, event and server-side handlers,
    /// middlewares and adapter stay.
    pub fn ns<H, M>(&self, name: &str, handler: H) -> NamespaceRef
    where
        H: MessageHandler<M>,
        M: Send + Sync + 'static,
    {
        // A namespace that exists (the main one always does, from `build`) is kept: making a
        // new one would orphan its sockets, drop the handlers and middlewares already declared
        // on it, and start a second adapter (a cluster adapter's subscriptions would linger
        // until the old one is dropped, counted as a server by the other nodes).
        let existing = self.registry.namespaces.read().get(name).cloned();
        if let Some(ns) = existing {
            *ns.connect_handler.write() = Some(boxed_message_handler(handler));
            return NamespaceRef(ns);
        }
        let ns = Namespace::new(
            name.to_owned(),
            Vec::new(),
            self.registry.shared.clone(),
            Some(boxed_message_handler(handler)),
            Vec::new(),
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

    pub(crate) fn main(&self) -> NamespaceRef {
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

    /// Registers the handler of a server-side event on the main namespace (Node's
    /// `io.on(event, handler)`); see [`NamespaceRef::on_server_side`] and
    /// [`crate::server_side`].
    pub fn on_server_side<H, M>(&self, event: impl Into<String>, handler: H) -> NamespaceRef
    where
        H: crate::server_side::ServerSideHandler<M>,
        M: Send + Sync + 'static,
    {
        let main = self.main();
        main.on_server_side(event, handler);
        main
    }

    /// Sends an event to the other servers of the cluster on the main namespace (Node's
    /// `io.serverSideEmit(event, ...args)`); see [`NamespaceRef::server_side_emit`].
    pub async fn server_side_emit<P: IntoPayload>(
        &self,
        event: &str,
        data: P,
    ) -> Result<(), crate::ClusterError> {
        self.main().server_side_emit(event, data).await
    }

    /// [`SocketIo::server_side_emit`] collecting one answer per other server within the ack
    /// timeout (Node's `io.serverSideEmitWithAck`); see
    /// [`NamespaceRef::server_side_emit_with_ack`].
    pub async fn server_side_emit_with_ack<P: IntoPayload>(
        &self,
        event: &str,
        data: P,
    ) -> Result<crate::AckResponses, crate::ClusterError> {
        self.main().server_side_emit_with_ack(event, data).await
    }

    /// How many servers serve the main namespace, this one included; 1 without a cluster
    /// adapter.
    pub async fn server_count(&self) -> usize {
        self.main().server_count().await
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

    /// True when `path` belongs to this server (its Socket.IO path, or its
    /// [health path](SocketIoConfig::health_path)).
    pub fn matches(&self, path: &str) -> bool {
        self.engine.matches(path) || self.is_health_path(path)
    }

    fn is_health_path(&self, path: &str) -> bool {
        self.registry.shared.config.health_path.as_deref() == Some(path)
    }

    /// True from the start of a graceful shutdown ([`SocketIo::close`]) until it resolved:
    /// handshakes are refused and the health check answers 503. An application that answers
    /// its own health check returns 503 while this is true.
    pub fn is_draining(&self) -> bool {
        self.engine.is_shutting_down()
    }

    /// The health check's answer: `200 ok` while serving, `503 draining` during a graceful
    /// shutdown (served at [`SocketIoConfig::health_path`]).
    pub fn health_response(&self) -> Response<ResponseBody> {
        let (status, body) = if self.is_draining() {
            (http::StatusCode::SERVICE_UNAVAILABLE, "draining")
        } else {
            (http::StatusCode::OK, "ok")
        };
        let mut response = Response::new(ResponseBody::new(Bytes::from_static(body.as_bytes())));
        *response.status_mut() = status;
        response.headers_mut().insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        response
    }

    /// Answers one HTTP request under this server's path.
    pub async fn handle<B>(&self, request: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if self.is_health_path(request.uri().path()) {
            return self.health_response();
        }
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
    /// done: new handshakes are refused (503) and the health check (if any) answers 503; after
    /// [`DrainConfig::delay`](crate::DrainConfig::delay) every socket leaves with reason `server shutting down` (its
    /// disconnect handlers run, its session is kept for recovery and flushed by the adapter),
    /// and its connection delivers what is queued for it and closes, so the client reconnects
    /// (to another node). The closes are spread over [`DrainConfig::window`](crate::DrainConfig::window); the whole close
    /// takes at most [`DrainConfig::bound`](crate::DrainConfig::bound) (see [`SocketIo::close_with_timeout`]).
    ///
    /// Packets that clients send to a socket that already left are discarded. Once it
    /// resolved, the server accepts clients again (a process normally exits then; stop its
    /// listener with `serve(..).with_graceful_shutdown(..)`).
    pub async fn close(&self) {
        let timeout = self.registry.shared.config.drain.close_timeout;
        self.close_with_timeout(timeout).await;
    }

    /// [`SocketIo::close`] giving the last transports `timeout` (instead of
    /// [`DrainConfig::close_timeout`](crate::DrainConfig::close_timeout)) to deliver their queues; returns how many connections
    /// were still open then and were dropped (clients too slow to read).
    pub async fn close_with_timeout(&self, timeout: Duration) -> usize {
        let drain = &self.registry.shared.config.drain;
        let started = std::time::Instant::now();
        self.engine.begin_shutdown();
        if !drain.delay.is_zero() {
            tokio::time::sleep(drain.delay).await;
        }
        let deadline = started
            + drain
                .delay
                .saturating_add(drain.window)
                .saturating_add(timeout);
        let namespaces = self.registry.all();
        let flush = || {
            let adapters: Vec<_> = namespaces.iter().map(|ns| ns.adapter().clone()).collect();
            async move {
                for adapter in adapters {
                    adapter.flush().await;
                }
            }
        };
        super::drain::close_spread(self.engine.connections(), drain.window, deadline, flush).await;
        // Sockets of connections that opened meanwhile (a handshake already past the check).
        for ns in self.registry.all() {
            NamespaceRef(ns).close_all(DisconnectReason::ServerShuttingDown);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        self.engine.shutdown(left).await
    }
}

impl Default for SocketIo {
    fn default() -> Self {
        Self::new()
    }
}
