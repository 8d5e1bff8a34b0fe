//! Gateway options: NestJS's `@WebSocketGateway(port, options)`, buildable at run time.

use std::sync::Arc;

use sockgate_engine::{AllowOrigin, Cors, EngineConfig};
use sockgate_proto::engine::SessionConfig;

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
///
/// Every server option has a setter here, the same as on
/// [`SocketIoBuilder`](crate::SocketIoBuilder) (one definition serves both), and each setter
/// changes its option only:
///
/// ```
/// use std::time::Duration;
/// use sockgate::gateway::GatewayOptions;
///
/// let options = GatewayOptions::new()
///     .namespace("/chat")
///     .ack_timeout(Duration::from_secs(2))
///     .write_coalescing(Duration::ZERO)
///     .ping_interval(Duration::from_secs(10));
/// assert_eq!(options.server.ack_timeout, Duration::from_secs(2));
/// assert_eq!(options.server.engine.write_coalescing, Duration::ZERO);
/// assert_eq!(options.server.engine.session.ping_interval, Duration::from_secs(10));
/// ```
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

    /// Options starting from `config` (e.g. read from the environment, or shared with a
    /// [`SocketIo::builder_from`](crate::SocketIo::builder_from)): namespace `/`, the
    /// application's port. The whole server configuration can only be given here, at the
    /// start, so that nothing set separately is ever replaced by it.
    pub fn from_server_config(config: SocketIoConfig) -> Self {
        GatewayOptions {
            server: config,
            ..Self::default()
        }
    }

    /// The first server-level option in which `self` and `other` differ (`None`: they agree).
    pub(crate) fn server_difference(&self, other: &GatewayOptions) -> Option<&'static str> {
        server_config_difference(&self.server, &other.server)
    }
}

/// Hooks and predicates have no equality: the same `Arc` (a configuration built once and
/// cloned for several gateways) agrees, two separately built closures conflict.
fn same_hook<T: ?Sized>(a: &Option<Arc<T>>, b: &Option<Arc<T>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

fn same_origin(a: &AllowOrigin, b: &AllowOrigin) -> bool {
    match (a, b) {
        (AllowOrigin::Any, AllowOrigin::Any) | (AllowOrigin::Mirror, AllowOrigin::Mirror) => true,
        (AllowOrigin::List(a), AllowOrigin::List(b)) => a == b,
        (AllowOrigin::Predicate(a), AllowOrigin::Predicate(b)) => Arc::ptr_eq(a, b),
        _ => false,
    }
}

/// The first CORS option that differs.
fn cors_difference(a: &Option<Cors>, b: &Option<Cors>) -> Option<&'static str> {
    let (a, b) = match (a, b) {
        (None, None) => return None,
        (Some(a), Some(b)) => (a, b),
        _ => return Some("engine.cors"),
    };
    // Destructured without `..`: a new CORS option does not compile until it is compared here.
    let Cors {
        origin,
        methods,
        allowed_headers,
        exposed_headers,
        credentials,
        max_age,
    } = a;
    if !same_origin(origin, &b.origin) {
        return Some("engine.cors.origin");
    }
    [
        (methods == &b.methods, "engine.cors.methods"),
        (
            allowed_headers == &b.allowed_headers,
            "engine.cors.allowed_headers",
        ),
        (
            exposed_headers == &b.exposed_headers,
            "engine.cors.exposed_headers",
        ),
        (credentials == &b.credentials, "engine.cors.credentials"),
        (max_age == &b.max_age, "engine.cors.max_age"),
    ]
    .into_iter()
    .find_map(|(same, name)| (!same).then_some(name))
}

/// The first server-level option in which two configurations differ, named by its field path
/// (`parser`, `engine.cors.origin`, `engine.session.ping_interval`...).
///
/// Every struct is destructured without `..`, so an option added later does not compile until
/// it is compared here: a conflict can never again be missed because a field was forgotten
/// (the `Debug` fingerprint this replaces left out the parser and printed predicates as
/// placeholders).
pub(crate) fn server_config_difference(
    a: &SocketIoConfig,
    b: &SocketIoConfig,
) -> Option<&'static str> {
    let SocketIoConfig {
        engine,
        connect_timeout,
        ack_timeout,
        parser,
        recovery,
        serve_client,
        cleanup_empty_child_namespaces,
        max_attachments,
        max_pending_attachment_bytes,
        pending_attachments_timeout,
        max_decoded_bytes,
        observers,
    } = a;
    let EngineConfig {
        path,
        transports,
        allow_upgrades,
        session,
        cors,
        allow_request,
        http_compression_threshold,
        write_coalescing,
        websocket_write_timeout,
        http,
        http_request_body_timeout,
        max_buffered_chunks,
        trust_proxy,
        allowed_origins,
    } = engine;
    let SessionConfig {
        ping_interval,
        ping_timeout,
        upgrade_timeout,
        max_payload,
        max_buffered_bytes,
    } = session;
    let (be, bs) = (&b.engine, &b.engine.session);
    let checks = [
        (path == &be.path, "engine.path"),
        (transports == &be.transports, "engine.transports"),
        (
            allow_upgrades == &be.allow_upgrades,
            "engine.allow_upgrades",
        ),
        (
            ping_interval == &bs.ping_interval,
            "engine.session.ping_interval",
        ),
        (
            ping_timeout == &bs.ping_timeout,
            "engine.session.ping_timeout",
        ),
        (
            upgrade_timeout == &bs.upgrade_timeout,
            "engine.session.upgrade_timeout",
        ),
        (max_payload == &bs.max_payload, "engine.session.max_payload"),
        (
            max_buffered_bytes == &bs.max_buffered_bytes,
            "engine.session.max_buffered_bytes",
        ),
        (
            same_hook(allow_request, &be.allow_request),
            "engine.allow_request",
        ),
        (
            http_compression_threshold == &be.http_compression_threshold,
            "engine.http_compression_threshold",
        ),
        (
            write_coalescing == &be.write_coalescing,
            "engine.write_coalescing",
        ),
        (
            websocket_write_timeout == &be.websocket_write_timeout,
            "engine.websocket_write_timeout",
        ),
        (http == &be.http, "engine.http"),
        (
            http_request_body_timeout == &be.http_request_body_timeout,
            "engine.http_request_body_timeout",
        ),
        (
            max_buffered_chunks == &be.max_buffered_chunks,
            "engine.max_buffered_chunks",
        ),
        (trust_proxy == &be.trust_proxy, "engine.trust_proxy"),
        (
            match (allowed_origins, &be.allowed_origins) {
                (None, None) => true,
                (Some(a), Some(b)) => same_origin(a, b),
                _ => false,
            },
            "engine.allowed_origins",
        ),
        (
            cleanup_empty_child_namespaces == &b.cleanup_empty_child_namespaces,
            "cleanup_empty_child_namespaces",
        ),
        (max_attachments == &b.max_attachments, "max_attachments"),
        (
            max_pending_attachment_bytes == &b.max_pending_attachment_bytes,
            "max_pending_attachment_bytes",
        ),
        (
            pending_attachments_timeout == &b.pending_attachments_timeout,
            "pending_attachments_timeout",
        ),
        (
            max_decoded_bytes == &b.max_decoded_bytes,
            "max_decoded_bytes",
        ),
        (observers.same(&b.observers), "observers"),
        (connect_timeout == &b.connect_timeout, "connect_timeout"),
        (ack_timeout == &b.ack_timeout, "ack_timeout"),
        (parser == &b.parser, "parser"),
        (recovery == &b.recovery, "recovery"),
        (
            // The bundle is loaded from a directory at construction: the same directory
            // serves the same files (its `Debug` is the directory).
            format!("{serve_client:?}") == format!("{:?}", b.serve_client),
            "serve_client",
        ),
    ];
    if let Some(name) = checks
        .into_iter()
        .find_map(|(same, name)| (!same).then_some(name))
    {
        return Some(name);
    }
    cors_difference(cors, &be.cors)
}
