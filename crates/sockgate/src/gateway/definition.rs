//! The [`Gateway`] trait: a gateway's options, lifecycle hooks and message handlers.

use std::future::Future;
use std::sync::Arc;

use super::exception::WsException;
use super::options::GatewayOptions;
use super::router::GatewayRouter;
use crate::namespace::NamespaceRef;
use crate::reason::DisconnectReason;
use crate::socket::SocketRef;

/// A NestJS-style gateway: options, lifecycle hooks and message handlers.
///
/// Implement it by hand, or let `#[gateway]` and `#[subscribe_message]` (the `macros`
/// feature) write it. Every hook has a default that does nothing.
pub trait Gateway: Send + Sync + Sized + 'static {
    /// `@WebSocketGateway(...)`: namespace, port, CORS, transports... Called once at startup;
    /// the application may override it with options read at run time.
    fn options(&self) -> GatewayOptions {
        GatewayOptions::default()
    }

    /// Declares the message handlers, guards and filters (`@SubscribeMessage`, `@UseGuards`,
    /// `@UseFilters`).
    fn register(router: &mut GatewayRouter<Self>);

    /// `afterInit(server)`: the namespace exists, no client is connected yet.
    fn after_init(&self, _namespace: &NamespaceRef) {}

    /// `handleConnection(client)`. Awaited before any message of this socket is handled, so
    /// asynchronous authentication cannot race messages (NestJS binds handlers without
    /// waiting). Messages that arrive meanwhile wait in arrival order (at most 256 of them and
    /// 1 MiB, or one `maxHttpBufferSize` if larger; each one past that gets an `exception`) and
    /// are handled in that order once it succeeds. An error goes to the exception filters
    /// (pattern `handleConnection`), the waiting messages are dropped and the socket is
    /// disconnected.
    fn handle_connection(
        self: Arc<Self>,
        _socket: SocketRef,
    ) -> impl Future<Output = Result<(), WsException>> + Send {
        async { Ok(()) }
    }

    /// `handleDisconnect(client, reason)`.
    fn handle_disconnect(&self, _socket: SocketRef, _reason: DisconnectReason) {}
}
