//! Gateway options: NestJS's `@WebSocketGateway(port, options)`, buildable at run time.

use std::time::Duration;

use sockgate_core::RecoveryConfig;
use sockgate_engine::{Cors, Transports};
use sockgate_proto::socketio::Parser;

use crate::server::SocketIoConfig;

/// Which namespace a gateway serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayNamespace {
    /// One name (`/example`; a missing leading `/` is added, as NestJS does).
    Static(String),
    /// Every name matching a pattern with `{param}` segments (`/tenant/{id}`).
    Pattern(String),
}

/// Everything `@WebSocketGateway` accepts. Server-level options (path, transports, CORS,
/// heartbeat, limits, parser, recovery) must agree between gateways sharing a server (same
/// port and path); a conflict is a startup error, not NestJS's silent first-one-wins.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The namespace (default `/`).
    pub namespace: GatewayNamespace,
    /// `None`: share the application's HTTP port; `Some(n)`: a listener of its own.
    pub port: Option<u16>,
    /// The Socket.IO and Engine.IO options.
    pub server: SocketIoConfig,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            namespace: GatewayNamespace::Static("/".to_owned()),
            port: None,
            server: SocketIoConfig::default(),
        }
    }
}

impl GatewayOptions {
    /// Default options (namespace `/`, the application's port).
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves one namespace.
    pub fn namespace(mut self, name: &str) -> Self {
        let name = if name.starts_with('/') {
            name.to_owned()
        } else {
            format!("/{name}")
        };
        self.namespace = GatewayNamespace::Static(name);
        self
    }

    /// Serves every namespace matching `pattern` (`/tenant/{id}`).
    pub fn dynamic_namespace(mut self, pattern: &str) -> Self {
        self.namespace = GatewayNamespace::Pattern(pattern.to_owned());
        self
    }

    /// Listens on its own port instead of the application's.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Sets the path (default `/socket.io/`).
    pub fn path(mut self, path: &str) -> Self {
        self.server.engine = self.server.engine.path(path);
        self
    }

    /// Sets the transports (`['websocket']` → [`Transports::websocket_only`]).
    pub fn transports(mut self, transports: Transports) -> Self {
        self.server.engine.transports = transports;
        self
    }

    /// Sets CORS.
    pub fn cors(mut self, cors: Cors) -> Self {
        self.server.engine.cors = Some(cors);
        self
    }

    /// Sets `pingInterval`.
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.server.engine.session.ping_interval = interval;
        self
    }

    /// Sets `pingTimeout`.
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.server.engine.session.ping_timeout = timeout;
        self
    }

    /// Sets `maxHttpBufferSize`.
    pub fn max_http_buffer_size(mut self, bytes: u64) -> Self {
        self.server.engine.session.max_payload = bytes;
        self
    }

    /// Sets `connectTimeout`.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.server.connect_timeout = timeout;
        self
    }

    /// Sets the parser.
    pub fn parser(mut self, parser: Parser) -> Self {
        self.server.parser = parser;
        self
    }

    /// Turns on connection state recovery.
    pub fn connection_state_recovery(mut self, recovery: RecoveryConfig) -> Self {
        self.server.recovery = Some(recovery);
        self
    }

    /// Replaces the whole server configuration (e.g. read from the environment).
    pub fn server_config(mut self, config: SocketIoConfig) -> Self {
        self.server = config;
        self
    }

    /// A fingerprint of the server-level options, to detect conflicts.
    pub(crate) fn server_fingerprint(&self) -> String {
        format!("{:?}", self.server)
    }
}
