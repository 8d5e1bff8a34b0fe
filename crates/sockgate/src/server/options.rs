//! One options model: every engine and server option, defined once, set the same way on
//! [`SocketIoBuilder`] and on [`GatewayOptions`].
//!
//! Both types hold a [`SocketIoConfig`] (the builder its `config`, the gateway options their
//! `server` field) and reach it through [`OptionsMut`]. The `server_options!` invocation
//! below is the only place an option setter is written: it expands to the same inherent
//! methods on both types, so a new option added here reaches the server builder and the
//! gateways at once, and no call site needs a trait in scope. Every setter changes one
//! field and nothing else, so the order of calls never matters.
//!
//! Inherent methods rather than a public trait with default methods: the methods show up on
//! each type's own documentation page, and `SocketIo::builder().ping_interval(..)` works
//! without a `use` (a trait would break every existing call site that lacks the import).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sockgate_core::RecoveryConfig;
use sockgate_engine::{Cors, RequestInfo, Transports};
use sockgate_proto::socketio::Parser;

use super::builder::SocketIoBuilder;
use super::client_bundle::ClientBundle;
use super::config::SocketIoConfig;
use crate::gateway::GatewayOptions;

/// The configuration an options type sets (implemented by [`SocketIoBuilder`] and
/// [`GatewayOptions`]).
pub(crate) trait OptionsMut {
    /// The configuration the setters change.
    fn options_mut(&mut self) -> &mut SocketIoConfig;
}

impl OptionsMut for SocketIoBuilder {
    fn options_mut(&mut self) -> &mut SocketIoConfig {
        &mut self.config
    }
}

impl OptionsMut for GatewayOptions {
    fn options_mut(&mut self) -> &mut SocketIoConfig {
        &mut self.server
    }
}

/// Writes each option's setter once, as an inherent method of every listed type.
///
/// An option reads `fn name[generics](arg: Type) [where bounds] |config| { body }`: the body
/// changes `config` (a `&mut SocketIoConfig`), the generated method takes and returns `self`.
macro_rules! server_options {
    (for $($ty:ident),+; $options:tt) => {
        $(server_options!(@impl $ty $options);)+
    };
    (@impl $ty:ident {
        $(
            $(#[$attr:meta])*
            fn $name:ident $([$($generics:tt)*])? ($($arg:ident: $arg_ty:ty),*)
                $([where $($bounds:tt)*])? |$config:ident| $body:block
        )*
    }) => {
        impl $ty {
            $(
                $(#[$attr])*
                pub fn $name $(<$($generics)*>)? (mut self, $($arg: $arg_ty),*) -> Self
                $(where $($bounds)*)?
                {
                    let $config: &mut SocketIoConfig = OptionsMut::options_mut(&mut self);
                    $body
                    self
                }
            )*
        }
    };
}

server_options! { for SocketIoBuilder, GatewayOptions; {
    // ---- Engine.IO: transports and paths -------------------------------------------------

    /// Sets the path the server answers under (default `/socket.io/`; a trailing `/` is
    /// added). See [`EngineConfig::path`](sockgate_engine::EngineConfig::path).
    fn path(path: &str) |config| {
        config.engine = std::mem::take(&mut config.engine).path(path);
    }

    /// Sets the transports clients may use (default both; `['websocket']` is
    /// [`Transports::websocket_only`]).
    fn transports(transports: Transports) |config| {
        config.engine.transports = transports;
    }

    /// Allows or forbids upgrades from polling to WebSocket (Node's `allowUpgrades`, default
    /// true).
    fn allow_upgrades(allow: bool) |config| {
        config.engine.allow_upgrades = allow;
    }

    // ---- Engine.IO: heartbeat and limits -------------------------------------------------

    /// Sets `pingInterval` (default 25 s). The handshake advertises at most
    /// [`MAX_ADVERTISED_HEARTBEAT`](crate::MAX_ADVERTISED_HEARTBEAT)
    /// (about 12.4 days), and a server built with a longer interval pings at that interval,
    /// so that JavaScript clients (whose timers overflow past 2^31 − 1 ms) keep working with
    /// `Duration::MAX`.
    fn ping_interval(interval: Duration) |config| {
        config.engine.session.ping_interval = interval;
    }

    /// Sets `pingTimeout` (default 20 s), advertised at most as
    /// [`MAX_ADVERTISED_HEARTBEAT`](crate::MAX_ADVERTISED_HEARTBEAT), like
    /// `pingInterval`.
    fn ping_timeout(timeout: Duration) |config| {
        config.engine.session.ping_timeout = timeout;
    }

    /// Sets `upgradeTimeout`: the time a probing WebSocket has to complete the upgrade
    /// (default 10 s).
    fn upgrade_timeout(timeout: Duration) |config| {
        config.engine.session.upgrade_timeout = timeout;
    }

    /// Sets `maxHttpBufferSize`: the largest POST body or WebSocket message accepted (default
    /// 1e6 bytes).
    fn max_http_buffer_size(bytes: u64) |config| {
        config.engine.session.max_payload = bytes;
    }

    /// Sets the most bytes queued for one client before it is dropped as too slow (default
    /// 8 MiB; Node buffers forever). See
    /// [`SessionConfig::max_buffered_bytes`](sockgate_proto::engine::SessionConfig::max_buffered_bytes).
    fn max_buffered_bytes(bytes: usize) |config| {
        config.engine.session.max_buffered_bytes = bytes;
    }

    /// Sets the most body chunks one polling POST may arrive in (default 4096). See
    /// [`EngineConfig::max_buffered_chunks`](sockgate_engine::EngineConfig::max_buffered_chunks).
    fn max_buffered_chunks(chunks: usize) |config| {
        config.engine.max_buffered_chunks = chunks;
    }

    // ---- Engine.IO: who may connect ------------------------------------------------------

    /// Sets CORS (default none).
    fn cors(cors: Cors) |config| {
        config.engine.cors = Some(cors);
    }

    /// Sets Node's `allowRequest`: an async hook that can refuse a handshake (`Err(message)`
    /// answers 403 `{"code":4,"message":<message>}`). Replaces an earlier hook, nothing else.
    fn allow_request[F, Fut](hook: F)
        [where
            F: Fn(Arc<RequestInfo>) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = Result<(), String>> + Send + 'static]
        |config|
    {
        config.engine = std::mem::take(&mut config.engine).allow_request(hook);
    }

    /// Refuses handshakes and WebSocket upgrades from browsers on other origins with 403 (CORS
    /// does not apply to WebSockets); see
    /// [`EngineConfig::allowed_origins`](sockgate_engine::EngineConfig::allowed_origins).
    fn allowed_origins[I: IntoIterator<Item = S>, S: Into<String>](origins: I) |config| {
        config.engine = std::mem::take(&mut config.engine).allowed_origins(origins);
    }

    /// Refuses handshakes and upgrades whose `Origin` the predicate rejects (see
    /// [`EngineConfig::allowed_origins`](sockgate_engine::EngineConfig::allowed_origins)).
    fn allowed_origin_fn(predicate: impl Fn(&str) -> bool + Send + Sync + 'static) |config| {
        config.engine = std::mem::take(&mut config.engine).allowed_origin_fn(predicate);
    }

    /// Trusts `X-Forwarded-Proto` / `X-Forwarded-For` for [`Handshake::secure`] and
    /// [`Handshake::client_ip`] (default false: only behind a proxy that sets them).
    ///
    /// [`Handshake::secure`]: crate::Handshake::secure
    /// [`Handshake::client_ip`]: crate::Handshake::client_ip
    fn trust_proxy(trust: bool) |config| {
        config.engine.trust_proxy = trust;
    }

    // ---- Engine.IO: writes ---------------------------------------------------------------

    /// Sets the WebSocket write coalescing window for broadcasts (default 10 ms,
    /// `Duration::ZERO` disables); see
    /// [`EngineConfig::write_coalescing`](sockgate_engine::EngineConfig::write_coalescing).
    fn write_coalescing(window: Duration) |config| {
        config.engine.write_coalescing = window;
    }

    /// Sets the longest time one WebSocket write may wait for the client to read (default
    /// 20 s); see
    /// [`EngineConfig::websocket_write_timeout`](sockgate_engine::EngineConfig::websocket_write_timeout).
    fn websocket_write_timeout(timeout: Duration) |config| {
        config.engine.websocket_write_timeout = timeout;
    }

    /// Compresses polling responses at least this large (default 1024 bytes; `None`
    /// disables).
    fn http_compression_threshold(threshold: Option<usize>) |config| {
        config.engine.http_compression_threshold = threshold;
    }

    // ---- HTTP connections (when the server serves its own listener) ---------------------

    /// Sets `httpRequestBodyTimeout`: the time a polling POST body has to arrive (default
    /// 30 s).
    fn http_request_body_timeout(timeout: Duration) |config| {
        config.engine.http_request_body_timeout = timeout;
    }

    /// Sets the time a client has to send a request head (default 10 s) when the server
    /// serves its own listener ([`SocketIo::serve`](crate::SocketIo::serve), a gateway on its
    /// own port); see
    /// [`HttpConfig::header_read_timeout`](sockgate_engine::HttpConfig::header_read_timeout).
    fn header_read_timeout(timeout: Option<Duration>) |config| {
        config.engine.http.header_read_timeout = timeout;
    }

    /// Sets the keep-alive idle timeout (default 5 s) of the server's own listener; see
    /// [`HttpConfig::idle_timeout`](sockgate_engine::HttpConfig::idle_timeout).
    fn idle_timeout(timeout: Option<Duration>) |config| {
        config.engine.http.idle_timeout = timeout;
    }

    /// Caps the connections the server's own listener serves at once (default none); see
    /// [`HttpConfig::max_connections`](sockgate_engine::HttpConfig::max_connections).
    fn max_connections(max: Option<usize>) |config| {
        config.engine.http.max_connections = max;
    }

    /// Bounds how long requests in flight may take on a graceful shutdown of the server's own
    /// listener (default 10 s); see
    /// [`HttpConfig::shutdown_timeout`](sockgate_engine::HttpConfig::shutdown_timeout).
    fn shutdown_timeout(timeout: Duration) |config| {
        config.engine.http.shutdown_timeout = timeout;
    }

    // ---- Socket.IO -----------------------------------------------------------------------

    /// Sets `connectTimeout`: the time a connection has to join a namespace (default 45 s).
    fn connect_timeout(timeout: Duration) |config| {
        config.connect_timeout = timeout;
    }

    /// Sets the default time `emit_with_ack` waits for an answer (default 5 s; see
    /// [`SocketIoConfig::ack_timeout`]).
    fn ack_timeout(timeout: Duration) |config| {
        config.ack_timeout = timeout;
    }

    /// Chooses the parser (default JSON, or msgpack).
    fn parser(parser: Parser) |config| {
        config.parser = parser;
    }

    /// Sets the most attachments one packet may carry (default 10; see
    /// [`SocketIoConfig::max_attachments`]).
    fn max_attachments(max: usize) |config| {
        config.max_attachments = max;
    }

    /// Sets the most attachment bytes an incomplete binary packet may hold (default
    /// `maxHttpBufferSize`; see [`SocketIoConfig::max_pending_attachment_bytes`]).
    fn max_pending_attachment_bytes(bytes: u64) |config| {
        config.max_pending_attachment_bytes = Some(bytes);
    }

    /// Sets how long a binary packet may wait for its attachments (default 30 s; see
    /// [`SocketIoConfig::pending_attachments_timeout`]).
    fn pending_attachments_timeout(timeout: Duration) |config| {
        config.pending_attachments_timeout = timeout;
    }

    /// Sets the most memory one decoded packet may take (default 16 MiB; see
    /// [`SocketIoConfig::max_decoded_bytes`]).
    fn max_decoded_bytes(bytes: usize) |config| {
        config.max_decoded_bytes = bytes;
    }

    /// Turns on connection state recovery (default off, as in Node).
    fn connection_state_recovery(recovery: RecoveryConfig) |config| {
        config.recovery = Some(recovery);
    }

    /// Serves the official browser client bundle at `<path>socket.io.js` (Node's
    /// `serveClient`, default off).
    fn serve_client(bundle: ClientBundle) |config| {
        config.serve_client = Some(bundle);
    }

    /// Frees empty children of dynamic namespaces (default on; see
    /// [`SocketIoConfig::cleanup_empty_child_namespaces`]).
    fn cleanup_empty_child_namespaces(cleanup: bool) |config| {
        config.cleanup_empty_child_namespaces = cleanup;
    }

    // ---- Observability -------------------------------------------------------------------

    /// Adds an [`Observer`](crate::observe::Observer), told what the server does (see
    /// [`crate::observe`]); several may be added, each is called in the order added.
    fn observer[O: crate::observe::Observer](observer: O) |config| {
        config.observers.push(Arc::new(observer));
    }

    /// [`observer`](Self::observer) for an observer the caller keeps a handle on (to read
    /// what it gathered).
    fn observer_arc(observer: Arc<dyn crate::observe::Observer>) |config| {
        config.observers.push(observer);
    }
}}

#[cfg(test)]
mod tests;
