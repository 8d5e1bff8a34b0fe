//! Gateways: the NestJS programming model on top of the Socket.IO server.
//!
//! The seed gateway, in NestJS and in sockgate, side by side:
//!
//! ```ts
//! @WebSocketGateway({ namespace: '/example', transports: ['websocket'], cors: { origin: '*' } })
//! export class ExampleGateway implements OnGatewayConnection, OnGatewayDisconnect {
//!   @WebSocketServer() io: Server;
//!   handleConnection(client: Socket) { console.log(`client connected: ${client.id}`); }
//!   handleDisconnect(client: Socket) { console.log(`client disconnected: ${client.id}`); }
//!   @SubscribeMessage('message')
//!   handleTestMessage(@MessageBody() message: string, @ConnectedSocket() client: Socket) {
//!     const username = client.handshake.query.name[0];
//!     this.io.emit('message', `${username} : ${message}`);
//!   }
//! }
//! ```
//!
//! ```no_run
//! use std::sync::Arc;
//! use sockgate::gateway::*;
//! use sockgate::{Cors, DisconnectReason, SocketRef, Transports};
//!
//! struct ExampleGateway;
//!
//! impl Gateway for ExampleGateway {
//!     fn options(&self) -> GatewayOptions {
//!         GatewayOptions::new()
//!             .namespace("/example")
//!             .transports(Transports::websocket_only())
//!             .cors(Cors::any())
//!     }
//!
//!     fn register(router: &mut GatewayRouter<Self>) {
//!         router.subscribe_message("message", Self::handle_test_message);
//!     }
//!
//!     async fn handle_connection(self: Arc<Self>, client: SocketRef) -> Result<(), WsException> {
//!         println!("client connected: {}", client.id());
//!         Ok(())
//!     }
//!
//!     fn handle_disconnect(&self, client: SocketRef, reason: DisconnectReason) {
//!         println!("client disconnected: {} ({reason})", client.id());
//!     }
//! }
//!
//! impl ExampleGateway {
//!     fn handle_test_message(
//!         &self,
//!         MessageBody(message): MessageBody<String>,
//!         ConnectedSocket(client): ConnectedSocket,
//!         WsServer(io): WsServer,
//!     ) -> Result<(), WsException> {
//!         let username = client.handshake().query().get("name").ok_or("name is required")?;
//!         io.emit("message", &format!("{username} : {message}"))?;
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let gateways = GatewayApp::new().gateway(ExampleGateway).build()?;
//! # Ok(()) }
//! ```
//!
//! How NestJS maps to sockgate:
//!
//! | NestJS | sockgate |
//! |---|---|
//! | `@WebSocketGateway(port, options)` | [`Gateway::options`] returning [`GatewayOptions`] (or [`GatewayApp::gateway_with_options`] at run time) |
//! | `afterInit` / `handleConnection` / `handleDisconnect` | [`Gateway::after_init`] / [`Gateway::handle_connection`] (awaited before messages) / [`Gateway::handle_disconnect`] (with the reason) |
//! | `@SubscribeMessage('e')` | [`GatewayRouter::subscribe_message`] |
//! | `@MessageBody()`, `@ConnectedSocket()`, `@Ack()`, `@WebSocketServer()` | [`MessageBody`], [`ConnectedSocket`], [`Ack`], [`WsServer`] |
//! | other parameters | any extractor of the server ([`crate::extract`]: `Data<T>`, `Payload`, `Bin`, `State<T>`...): one family, [`crate::handler::FromMessageParts`] in the scope [`GatewayScope`] |
//! | `ValidationPipe` | `Valid<T>`, feature `validator` (a readable `exception` listing the fields) |
//! | `@UseGuards` | [`GatewayRouter::use_guard`], [`RouteConfig::guard`]; on connecting: [`GatewayRouter::use_connection_guard`] |
//! | `@UseFilters`, `BaseWsExceptionFilter` | [`ExceptionFilter`], [`DefaultExceptionFilter`], [`GatewayApp::use_global_filter`] |
//! | `WsException` | [`WsException`] |
//! | return value / `WsResponse` / Observable | [`IntoWsReply`]: the ack / [`WsResponse`] / [`WsStream`] |
//! | a thrown error | `Err(e)` with `e: Into<WsException>` (a [`crate::handler::HandlerError`] from `?` is an internal error): the exception filters |

mod app;
mod definition;
mod deliver;
mod dispatch;
mod error;
mod exception;
mod extract;
mod gate;
mod group;
mod handler;
mod options;
mod response;
mod router;

pub use app::{GatewayApp, Gateways};
pub use definition::Gateway;
pub use error::GatewayError;
pub use exception::{
    DefaultExceptionFilter, ExceptionContext, ExceptionFilter, FieldError, WsException,
};
#[cfg(feature = "validator")]
pub use extract::Valid;
pub use extract::{
    Ack, AckSender, Args, Auth, ConnectedSocket, GatewayContext, MessageBody, Pattern, Prop,
    PropKey, Query, WsServer,
};
pub use handler::GatewayScope;
pub use options::{GatewayNamespace, GatewayOptions};
pub use response::{IntoWsReply, Json, Reply, WsResponse, WsStream};
pub use router::{GatewayRouter, MessageGuard, RouteConfig};
#[cfg(feature = "macros")]
pub use sockgate_macros::{gateway, subscribe_message};
/// The `validator` crate, for `#[derive(Validate)]` on the bodies [`Valid`] checks (feature
/// `validator`).
#[cfg(feature = "validator")]
pub use validator;
