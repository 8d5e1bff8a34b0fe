//! The Socket.IO server, one concern a module:
//!
//! - `config`: [`SocketIoConfig`], every option as plain data;
//! - `options`: the setters of every option, shared by [`SocketIoBuilder`] and
//!   [`GatewayOptions`](crate::gateway::GatewayOptions);
//! - `builder`: [`SocketIoBuilder`] (state, adapter, `build`);
//! - `matcher` and `registry`: dynamic-namespace patterns and the namespaces of a server;
//! - `bridge`: [`IoHandler`], the engine handler that turns Engine.IO sessions into
//!   Socket.IO connections;
//! - `io`: [`SocketIo`], the public API (namespaces, broadcasts, HTTP entry, shutdown);
//! - `drain`: [`DrainConfig`] and the spread close of a graceful shutdown (rolling deploys);
//! - `client_bundle`: [`ClientBundle`], serving the official browser client;
//! - `layer`: [`SocketIoLayer`] and [`SocketIoService`], the tower middleware.

mod bridge;
mod builder;
mod client_bundle;
mod config;
mod drain;
mod io;
mod layer;
mod matcher;
mod options;
mod registry;

pub use bridge::IoHandler;
pub use builder::SocketIoBuilder;
pub use client_bundle::ClientBundle;
pub use config::SocketIoConfig;
pub use drain::DrainConfig;
pub use io::{SocketIo, DEFAULT_CLOSE_TIMEOUT};
pub use layer::{SocketIoLayer, SocketIoService};
pub(crate) use registry::{Registry, ServerShared};
