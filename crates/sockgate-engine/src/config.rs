//! Engine options, named and defaulted like Node's engine.io.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sockgate_proto::engine::SessionConfig;

use crate::cors::{AllowOrigin, Cors};
use crate::request::RequestInfo;

/// The future an [`AllowRequest`] hook returns: `Err(message)` refuses the handshake.
pub type AllowRequestFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// An async hook that can refuse a handshake (Node's `allowRequest`). A refusal answers
/// 403 `{"code":4,"message":<message>}`.
pub type AllowRequest = Arc<dyn Fn(Arc<RequestInfo>) -> AllowRequestFuture + Send + Sync>;

/// Default [`EngineConfig::write_coalescing`] window.
pub const DEFAULT_WRITE_COALESCING: Duration = Duration::from_millis(10);

/// Default [`HttpConfig::header_read_timeout`].
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`HttpConfig::idle_timeout`] (Node's `keepAliveTimeout`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default [`HttpConfig::shutdown_timeout`].
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`EngineConfig::http_request_body_timeout`] (engine.io's `httpRequestBodyTimeout`).
pub const DEFAULT_HTTP_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default [`EngineConfig::max_buffered_chunks`].
pub const DEFAULT_MAX_BUFFERED_CHUNKS: usize = 4096;

/// Connection-level HTTP options, applied by [`crate::serve`] (and `Engine::serve`,
/// `SocketIo::serve`). When the engine is mounted on another server, that server's own
/// settings apply instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Time a client has to send a whole request head (default 10 s; `None` disables). hyper
    /// starts this clock when a connection opens and again each time it goes idle after a
    /// response, so it also bounds how long a keep-alive connection may wait for its next
    /// request: the effective idle limit is the smaller of this and `idle_timeout`.
    pub header_read_timeout: Option<Duration>,
    /// Time a connection with no request in flight stays open (default 5 s, Node's
    /// `keepAliveTimeout`; `None` leaves only `header_read_timeout`): counted from the end of
    /// the last response, or from the accept for a connection that has sent nothing yet (the
    /// first request head, once begun, is bounded by `header_read_timeout`). A parked
    /// long-polling GET is in flight, so it is not cut by this; a response still being written
    /// is finished before the close.
    pub idle_timeout: Option<Duration>,
    /// Most TCP connections served at once, WebSockets included (default `None`: no cap). A
    /// connection over the cap is accepted and closed at once, after a best-effort
    /// `503 Service Unavailable`, rather than left waiting in the listen backlog: the client
    /// learns at once and its reconnection backoff applies, and the descriptor is freed.
    pub max_connections: Option<usize>,
    /// On graceful shutdown, how long HTTP requests in flight may take to finish before their
    /// connections are dropped (default 10 s).
    pub shutdown_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
            max_connections: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

impl HttpConfig {
    /// Sets [`HttpConfig::header_read_timeout`].
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// Sets [`HttpConfig::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`HttpConfig::max_connections`].
    pub fn max_connections(mut self, max: Option<usize>) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets [`HttpConfig::shutdown_timeout`].
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }
}

/// Which transports clients may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling.
    pub polling: bool,
    /// WebSocket.
    pub websocket: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Transports {
            polling: true,
            websocket: true,
        }
    }
}

impl Transports {
    /// WebSocket only (`transports: ['websocket']`).
    pub fn websocket_only() -> Self {
        Transports {
            polling: false,
            websocket: true,
        }
    }

    /// Polling only (`transports: ['polling']`).
    pub fn polling_only() -> Self {
        Transports {
            polling: true,
            websocket: false,
        }
    }
}

/// Options of one engine. `EngineConfig::default()` matches Node's defaults.
#[derive(Clone)]
pub struct EngineConfig {
    /// Path the engine answers under, matched by prefix (default `/socket.io/`).
    pub path: String,
    /// Allowed transports (default both).
    pub transports: Transports,
    /// Whether polling sessions may upgrade to WebSocket (default true).
    pub allow_upgrades: bool,
    /// Heartbeat, upgrade timeout and size limits. `session.max_payload` is Node's
    /// `maxHttpBufferSize`, applied to POST bodies and WebSocket messages alike.
    pub session: SessionConfig,
    /// CORS, answered like Node's `cors` package; none by default.
    pub cors: Option<Cors>,
    /// Hook that can refuse handshakes.
    pub allow_request: Option<AllowRequest>,
    /// Compress polling responses at least this large when the client accepts gzip or deflate
    /// (default 1024 bytes; `None` disables).
    pub http_compression_threshold: Option<usize>,
    /// WebSocket write coalescing window for broadcast copies (default 10 ms): a socket under
    /// load (its last write already carried several frames) that was written to less than this
    /// long ago gathers the broadcast frames queued until the window ends and sends them in one
    /// write; a socket receiving one frame at a time writes at once, and replies and other
    /// unicast frames always go out at once (flushing what waits). Trades at most this much latency
    /// under broadcast load for fewer system calls, which is where a broadcast's CPU goes
    /// (`Duration::ZERO` disables).
    ///
    /// Choosing a window (broadcast to 1,000 WebSocket clients, bench/BENCHMARKS.md "The write
    /// coalescing trade-off, measured"): the CPU per delivery falls with the frames one write
    /// carries, and a socket gathers about `window × its message rate` frames, so the p99 grows
    /// with the window. At 400 msg/s per socket, 20-25 ms gave 0.37-0.6x socketioxide's CPU
    /// per delivery at a p99 of 22-27 ms (socketioxide's: 18-43 ms); at 100 msg/s halving the
    /// CPU takes 25 ms or more, past socketioxide's p99 there (10-16 ms). Set it to the
    /// latency a broadcast may add in your application, not below 10 ms for a saving.
    pub write_coalescing: Duration,
    /// Longest time one WebSocket write may wait for the client to read (default 20 s). A
    /// client that stops reading is dropped with `transport error` once it passes, and a write
    /// also stops at once when the session is aborted (ping timeout, full queue), so a dead
    /// reader never keeps its task and socket.
    pub websocket_write_timeout: Duration,
    /// Connection-level HTTP options used when the engine serves its own listener.
    pub http: HttpConfig,
    /// Time a polling POST body has to arrive in full (default 30 s, engine.io's
    /// `httpRequestBodyTimeout`). A body still incomplete then is answered `408` with
    /// `Connection: close`, and the session is closed (`transport error`), as Node closes it
    /// when a data request ends prematurely.
    pub http_request_body_timeout: Duration,
    /// Most body chunks one polling POST may arrive in (default 4096): a body split into more
    /// is refused like an oversized one (413). Bounds the work a client can cause by trickling a
    /// body in tiny chunks; the bytes themselves are bounded by `maxHttpBufferSize`.
    pub max_buffered_chunks: usize,
    /// Trust `X-Forwarded-Proto` and `X-Forwarded-For` (default false). Turn on only behind a
    /// reverse proxy that sets them: otherwise any client can claim to be on TLS or to come
    /// from another address. When off, `secure` reflects the connection itself.
    pub trust_proxy: bool,
    /// Origins allowed to open a session (default `None`: any). Unlike [`Cors`], which only
    /// shapes the headers browsers act on and, as in Node, does not apply to WebSocket
    /// upgrades, this is enforced on every handshake, polling and WebSocket alike, and on
    /// every upgrade: a request whose `Origin` is not allowed gets 403
    /// `{"code":4,"message":"Origin not allowed"}`. A request without an `Origin` header
    /// (non-browser clients) is allowed: only browsers are protected by an origin check.
    /// `AllowOrigin::Any` and `AllowOrigin::Mirror` allow every origin.
    pub allowed_origins: Option<AllowOrigin>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            path: "/socket.io/".to_owned(),
            transports: Transports::default(),
            allow_upgrades: true,
            session: SessionConfig::default(),
            cors: None,
            allow_request: None,
            http_compression_threshold: Some(1024),
            write_coalescing: DEFAULT_WRITE_COALESCING,
            websocket_write_timeout: Duration::from_secs(20),
            http: HttpConfig::default(),
            http_request_body_timeout: DEFAULT_HTTP_REQUEST_BODY_TIMEOUT,
            max_buffered_chunks: DEFAULT_MAX_BUFFERED_CHUNKS,
            trust_proxy: false,
            allowed_origins: None,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("path", &self.path)
            .field("transports", &self.transports)
            .field("allow_upgrades", &self.allow_upgrades)
            .field("session", &self.session)
            .field("cors", &self.cors)
            .field("allow_request", &self.allow_request.is_some())
            .field(
                "http_compression_threshold",
                &self.http_compression_threshold,
            )
            .field("write_coalescing", &self.write_coalescing)
            .field("websocket_write_timeout", &self.websocket_write_timeout)
            .field("http", &self.http)
            .field("http_request_body_timeout", &self.http_request_body_timeout)
            .field("max_buffered_chunks", &self.max_buffered_chunks)
            .field("trust_proxy", &self.trust_proxy)
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

impl EngineConfig {
    /// Sets the path (a trailing `/` is added when missing).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        let mut path = path.into();
        if !path.ends_with('/') {
            path.push('/');
        }
        self.path = path;
        self
    }

    /// Sets the allowed transports.
    pub fn transports(mut self, transports: Transports) -> Self {
        self.transports = transports;
        self
    }

    /// Enables or disables upgrades from polling to WebSocket.
    pub fn allow_upgrades(mut self, allow: bool) -> Self {
        self.allow_upgrades = allow;
        self
    }

    /// Sets `pingInterval`.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.session.ping_interval = interval;
        self
    }

    /// Sets `pingTimeout`.
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.session.ping_timeout = timeout;
        self
    }

    /// Sets `upgradeTimeout`.
    pub fn upgrade_timeout(mut self, timeout: Duration) -> Self {
        self.session.upgrade_timeout = timeout;
        self
    }

    /// Sets `maxHttpBufferSize`: the largest POST body or WebSocket message accepted.
    pub fn max_http_buffer_size(mut self, bytes: u64) -> Self {
        self.session.max_payload = bytes;
        self
    }

    /// Sets the per-connection send queue bound, past which a slow client is dropped.
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.session.max_buffered_bytes = bytes;
        self
    }

    /// Sets CORS.
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = Some(cors);
        self
    }

    /// Sets the `allowRequest` hook.
    pub fn allow_request<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Arc<RequestInfo>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.allow_request = Some(Arc::new(move |req| Box::pin(hook(req))));
        self
    }

    /// Sets the WebSocket write coalescing window (`Duration::ZERO` disables).
    pub fn write_coalescing(mut self, window: Duration) -> Self {
        self.write_coalescing = window;
        self
    }

    /// Sets the WebSocket write timeout (see [`EngineConfig::websocket_write_timeout`]).
    pub fn websocket_write_timeout(mut self, timeout: Duration) -> Self {
        self.websocket_write_timeout = timeout;
        self
    }

    /// Sets the HTTP compression threshold (`None` disables compression).
    pub fn http_compression_threshold(mut self, threshold: Option<usize>) -> Self {
        self.http_compression_threshold = threshold;
        self
    }

    /// Sets the connection-level HTTP options (timeouts, connection cap, shutdown bound).
    pub fn http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }

    /// Sets [`HttpConfig::header_read_timeout`].
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.http.header_read_timeout = timeout;
        self
    }

    /// Sets [`HttpConfig::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.http.idle_timeout = timeout;
        self
    }

    /// Sets [`HttpConfig::max_connections`].
    pub fn max_connections(mut self, max: Option<usize>) -> Self {
        self.http.max_connections = max;
        self
    }

    /// Sets `httpRequestBodyTimeout` (see [`EngineConfig::http_request_body_timeout`]).
    pub fn http_request_body_timeout(mut self, timeout: Duration) -> Self {
        self.http_request_body_timeout = timeout;
        self
    }

    /// Sets [`EngineConfig::max_buffered_chunks`].
    pub fn max_buffered_chunks(mut self, chunks: usize) -> Self {
        self.max_buffered_chunks = chunks;
        self
    }

    /// Trusts `X-Forwarded-Proto` / `X-Forwarded-For` (see [`EngineConfig::trust_proxy`]).
    pub fn trust_proxy(mut self, trust: bool) -> Self {
        self.trust_proxy = trust;
        self
    }

    /// Refuses handshakes and upgrades from other origins (see
    /// [`EngineConfig::allowed_origins`]).
    pub fn allowed_origins<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        origins: I,
    ) -> Self {
        self.allowed_origins = Some(AllowOrigin::List(
            origins.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// Refuses handshakes and upgrades whose origin the predicate rejects.
    pub fn allowed_origin_fn(
        mut self,
        predicate: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.allowed_origins = Some(AllowOrigin::Predicate(Arc::new(predicate)));
        self
    }
}
