//! Why a [`super::GatewayApp`] could not start.

use std::fmt;

/// Why the gateways could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayError {
    /// Two gateways share a server (same port and path) with different server-level options
    /// (one server has one parser, one CORS policy, one heartbeat...). Give them the same
    /// options (for hooks and predicates: the same `Arc`, e.g. one `SocketIoConfig` cloned for
    /// both), or a different path or port.
    ConflictingOptions {
        /// The shared port (`None`: the application's).
        port: Option<u16>,
        /// The shared path.
        path: String,
        /// The gateway whose options differ.
        gateway: &'static str,
        /// The gateway that first took this server, whose options it keeps.
        first: &'static str,
        /// The first option that differs, as a field path of [`crate::SocketIoConfig`]
        /// (`parser`, `engine.cors.origin`, `engine.session.ping_interval`...).
        option: &'static str,
    },
    /// Two gateways serve the same namespace of the same server.
    DuplicateNamespace {
        /// The namespace.
        namespace: String,
    },
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayError::ConflictingOptions {
                port,
                path,
                gateway,
                first,
                option,
            } => write!(
                f,
                "gateway {gateway} shares the server at port {} path {path} with gateway {first} \
                 but has different server options: `{option}` differs; align them (hooks and \
                 predicates must be the same Arc) or give it another path or port",
                port.map_or("(application)".to_owned(), |p| p.to_string()),
            ),
            GatewayError::DuplicateNamespace { namespace } => {
                write!(
                    f,
                    "two gateways serve namespace {namespace} on the same server"
                )
            }
        }
    }
}

impl std::error::Error for GatewayError {}
