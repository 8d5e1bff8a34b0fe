//! Engine options, named and defaulted like Node's engine.io.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sockgate_proto::engine::SessionConfig;

use crate::cors::Cors;
use crate::request::RequestInfo;

/// The future an [`AllowRequest`] hook returns: `Err(message)` refuses the handshake.
pub type AllowRequestFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// An async hook that can refuse a handshake (Node's `allowRequest`). A refusal answers
/// 403 `{"code":4,"message":<message>}`.
pub type AllowRequest = Arc<dyn Fn(Arc<RequestInfo>) -> AllowRequestFuture + Send + Sync>;

/// Default [`EngineConfig::write_coalescing`] window.
pub const DEFAULT_WRITE_COALESCING: Duration = Duration::from_millis(10);

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
    pub write_coalescing: Duration,
    /// Longest time one WebSocket write may wait for the client to read (default 20 s). A
    /// client that stops reading is dropped with `transport error` once it passes, and a write
    /// also stops at once when the session is aborted (ping timeout, full queue), so a dead
    /// reader never keeps its task and socket.
    pub websocket_write_timeout: Duration,
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
}
