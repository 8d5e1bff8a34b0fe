//! [`SocketIoConfig`]: every option of a server, as plain data.
//!
//! The setters live in [`super::options`], shared by the builder and the gateway options.

use std::fmt;
use std::time::Duration;

use sockgate_core::RecoveryConfig;
use sockgate_engine::EngineConfig;
use sockgate_proto::socketio::Parser;

use super::client_bundle::ClientBundle;
use crate::observe::Observers;

/// Options of a Socket.IO server. `SocketIoConfig::default()` matches Node's defaults.
///
/// Each field has a setter of the same name on [`SocketIoBuilder`](crate::SocketIoBuilder)
/// and on [`GatewayOptions`](crate::gateway::GatewayOptions); a whole configuration (read at
/// run time) is given with [`SocketIo::builder_from`](crate::SocketIo::builder_from) or
/// [`GatewayOptions::from_server_config`](crate::gateway::GatewayOptions::from_server_config).
#[derive(Clone)]
pub struct SocketIoConfig {
    /// Engine.IO options (path, transports, heartbeat, limits, CORS...).
    pub engine: EngineConfig,
    /// Time a connection has to join a namespace before it is closed (default 45 s).
    pub connect_timeout: Duration,
    /// Default wait for acks (Node has none; default 5 s here so nothing waits forever): how
    /// long `emit_with_ack` waits unless the call sets its own timeout.
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
    /// Who is told what the server does (none by default; see [`crate::observe`]).
    pub observers: Observers,
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
            observers: Observers::default(),
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
            .field("observers", &self.observers)
            .finish_non_exhaustive()
    }
}
