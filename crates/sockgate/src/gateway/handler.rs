//! The gateway's side of the one handler system: the scope its handlers run in.
//!
//! A gateway handler is a [`crate::handler::MessageHandler`] whose scope is
//! [`GatewayScope<G>`]: its extractors are the server's plus the gateway's own, it may take
//! the gateway first (`fn(&G, ...)` or `async fn(Arc<G>, ...)`), its return value is an
//! [`IntoWsReply`], and its rejections, errors and panics go through the exception filters.

use std::any::Any;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::deliver::deliver;
use super::exception::{ExceptionContext, FilterChain, WsException};
use super::extract::GatewayContext;
use super::response::{IntoWsReply, Reply};
use crate::handler::{FromMessageParts, HandlerOutput, HandlerScope, HasReceiver, MessageParts};
use crate::socket::SocketRef;

/// Where a message handler of gateway `G` runs: the gateway, the message, and the filters
/// that answer its failures. Extractors that need it implement
/// `FromMessageParts<GatewayScope<G>>` (the gateway as `Arc<G>`, [`super::Ack`]).
pub struct GatewayScope<G> {
    pub(super) gateway: Arc<G>,
    pub(super) context: Arc<GatewayContext>,
    pub(super) filters: Arc<FilterChain>,
    /// Set when an extractor took the ack: the return value is then not sent as the ack.
    pub(super) ack_taken: AtomicBool,
}

impl<G> std::fmt::Debug for GatewayScope<G> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayScope")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

impl<G> GatewayScope<G> {
    /// The gateway.
    pub fn gateway(&self) -> &Arc<G> {
        &self.gateway
    }

    /// The socket and the message (what guards see).
    pub fn context(&self) -> &GatewayContext {
        &self.context
    }

    /// Whether the ack was taken by an extractor ([`super::Ack`] or
    /// [`crate::extract::AckSender`]).
    pub(super) fn ack_taken(&self) -> bool {
        self.ack_taken.load(Ordering::Acquire)
    }

    /// Runs the exception filters on `exception`.
    pub(super) fn fail(&self, exception: &WsException) {
        self.filters
            .handle(exception, &exception_context(&self.context));
    }
}

/// What the filters see of a failed message.
pub(super) fn exception_context(context: &GatewayContext) -> ExceptionContext {
    ExceptionContext {
        socket: context.socket.clone(),
        pattern: context.parts.event.clone(),
        data: context.body(),
    }
}

/// A caught panic, as the exception the filters see ("Internal server error" for the client).
pub(super) fn panicked(what: &str, panic: &Box<dyn Any + Send>) -> WsException {
    WsException::Internal(format!(
        "{what} panicked: {}",
        crate::handler::panic_message(panic)
    ))
}

/// Rejections, errors and panics go through the exception filters (default: the `exception`
/// event, as NestJS's `BaseWsExceptionFilter`).
impl<G: Send + Sync + 'static> HandlerScope for GatewayScope<G> {
    type Rejection = WsException;

    fn rejected(self, _: &SocketRef, _: &MessageParts, rejection: WsException) {
        self.fail(&rejection);
    }

    fn panicked(self, _: &SocketRef, _: &str, panic: Box<dyn Any + Send>) {
        // A panic is treated like an error: the client gets the filters' answer ("Internal
        // server error" by default) and the socket keeps working.
        self.fail(&panicked("handler", &panic));
    }

    fn ack_extracted(&self) {
        self.ack_taken.store(true, Ordering::Release);
    }
}

/// `fn(&G, extractors...)`: a method taking `&self`.
impl<G: Send + Sync + 'static> HasReceiver for GatewayScope<G> {
    type Receiver = G;
    fn receiver(&self) -> &G {
        &self.gateway
    }
}

/// The gateway itself (`async fn handler(self: Arc<Self>, ...)`).
impl<G: Send + Sync + 'static> FromMessageParts<GatewayScope<G>> for Arc<G> {
    type Rejection = Infallible;
    const READS_PAYLOAD: bool = false;
    fn from_message_parts(
        _: &SocketRef,
        _: &MessageParts,
        scope: &GatewayScope<G>,
    ) -> Result<Self, Infallible> {
        Ok(scope.gateway.clone())
    }
}

/// A gateway handler's return value is its reply (see [`IntoWsReply`]).
impl<G: Send + Sync + 'static, R: IntoWsReply> HandlerOutput<GatewayScope<G>> for R {
    fn finish(self, socket: &SocketRef, event: &str, scope: GatewayScope<G>) {
        let reply = self.into_reply();
        if matches!(reply, Reply::Exception(_)) {
            crate::observe::handler_failed(
                socket,
                event,
                crate::observe::HandlerFailureKind::Errored,
            );
        }
        deliver(reply, scope);
    }
}
