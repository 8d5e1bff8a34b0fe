//! Engine.IO v4 transports for sockgate: HTTP long-polling and WebSocket over hyper.
//!
//! An [`Engine`] owns the sessions. Each session is a pure
//! [`sockgate_proto::engine::Session`] state machine behind a lock, driven by:
//! - the polling handlers (one GET and one POST in flight at a time),
//! - at most one WebSocket task, which reads client frames and writes the session's queue with
//!   vectored writes,
//! - one shared timer per engine for every session's heartbeat (no timer per connection).
//!
//! The layer above implements [`EngineHandler`] and sends through [`Connection`].
//!
//! The drivers only do I/O. What they decide (hold or flush a WebSocket's queue, where a packet
//! read from a socket goes, which close reason and code a socket's end means, which answer a
//! polling request gets) is decided by the pure functions of
//! [`sockgate_proto::engine::policy`], with the time passed in.
//!
//! ```no_run
//! use std::sync::Arc;
//! use sockgate_engine::{Connection, Engine, EngineConfig, EngineHandler, Message, CloseReason};
//! use sockgate_proto::engine::Frame;
//!
//! struct Echo;
//! impl EngineHandler for Echo {
//!     type Data = ();
//!     fn on_open(&self, _: &Arc<Connection<()>>) {}
//!     fn on_message(&self, conn: &Arc<Connection<()>>, message: Message) {
//!         let frame = match message {
//!             Message::Text(text) => Frame::message(&text),
//!             Message::Binary(data) => Frame::binary(data),
//!         };
//!         let _ = conn.send(Arc::new(frame));
//!     }
//!     fn on_close(&self, _: &Connection<()>, _: CloseReason) {}
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let engine = Engine::new(EngineConfig::default().path("/engine.io/"), Echo);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! engine.serve(listener).await
//! # }
//! ```

mod config;
mod connection;
mod cors;
mod engine;
mod error;
mod handler;
mod mount;
mod polling;
mod request;
mod route;
mod serve;
mod service;
mod session_state;
mod timer;
mod websocket;

pub use config::{
    AllowRequest, AllowRequestFuture, EngineConfig, HttpConfig, Transports,
    DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_HTTP_REQUEST_BODY_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BUFFERED_CHUNKS, DEFAULT_SHUTDOWN_TIMEOUT, DEFAULT_WRITE_COALESCING,
};
pub use connection::Connection;
pub use cors::{AllowOrigin, Cors};
pub use engine::{Engine, ResponseBody};
pub use error::RequestError;
pub use handler::{EngineHandler, Message};
pub use mount::{EngineLayer, Mount, MountFuture, Mounted};
pub use request::{RemoteAddr, RequestInfo, TlsConnection};
pub use serve::{serve, Serve, WithGracefulShutdown};
pub use service::EngineService;
pub use sockgate_proto::engine::{CloseReason, SessionConfig, Sid, TransportKind};
/// A tower service from an async function (for fallbacks in front of which an engine is
/// layered): tower's own, re-exported.
pub use tower::service_fn;
/// The service [`service_fn`] returns: tower's own, re-exported.
pub use tower::util::ServiceFn;

/// Errors from request bodies and inner services.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
