//! Handlers: plain functions or closures whose arguments are extractors, as in axum.
//!
//! A handler may be synchronous or `async`; its arguments are any types implementing
//! [`FromMessageParts`] (see [`crate::extract`]). It returns `()` or a `Result` whose error is
//! logged. A handler that panics is caught and logged; the socket and the server carry on.
//!
//! # When an extractor rejects a message
//!
//! The handler is not called, and the rejection is logged at `warn` (target
//! `sockgate::handler`) with the socket id, the event and the rejection. Nothing is sent to the
//! client: the plain API has no error channel of its own, and an ack the client asked for is
//! not answered, so an `emitWithAck` waits for its own timeout. When the client must learn
//! about it, take [`crate::extract::TryData`] (or [`crate::extract::Payload`]) and answer the
//! [`crate::extract::AckSender`] yourself. Gateways ([`crate::gateway`]) answer a rejection with
//! an `exception` event, as NestJS does.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Waker};

use futures_util::FutureExt;

use crate::payload::Payload;
use crate::reason::DisconnectReason;
use crate::socket::SocketRef;

/// What a handler receives: the event name, its arguments and the ack id if one was asked.
#[derive(Debug, Clone)]
pub struct MessageParts {
    /// The event name (`"connection"` for connect handlers).
    pub event: String,
    /// The arguments after the event name (for connect handlers: the `auth` payload).
    pub payload: Payload,
    /// The ack id, when the client expects an answer.
    pub ack_id: Option<u64>,
}

/// An extractor: builds a handler argument from the socket and the message.
pub trait FromMessageParts: Sized {
    /// Why extraction failed; the handler is then not called and the failure is logged at
    /// `warn` (nothing is sent to the client; see the module docs).
    type Rejection: fmt::Display;
    /// Extracts the value.
    fn from_message_parts(
        socket: &SocketRef,
        parts: &MessageParts,
    ) -> Result<Self, Self::Rejection>;
}

/// What a handler may return.
pub trait HandlerResult: Send + 'static {
    /// Reports the outcome (errors are logged).
    fn report(self, socket: &SocketRef, event: &str);
}

impl HandlerResult for () {
    fn report(self, _socket: &SocketRef, _event: &str) {}
}

impl<E: fmt::Display + Send + 'static> HandlerResult for Result<(), E> {
    fn report(self, socket: &SocketRef, event: &str) {
        if let Err(error) = self {
            tracing::warn!(socket = %socket.id(), event, %error, "handler returned an error");
        }
    }
}

/// A function usable as an event or connect handler. `M` is a marker chosen by the compiler;
/// you never name it.
pub trait MessageHandler<M>: Send + Sync + 'static {
    /// Runs the handler for one message.
    fn call(&self, socket: SocketRef, parts: MessageParts);
}

#[doc(hidden)]
pub mod marker {
    /// Marks handlers that return a value directly.
    #[derive(Debug)]
    pub struct Sync;
    /// Marks handlers that return a future.
    #[derive(Debug)]
    pub struct Async;
}

pub(crate) trait ErasedHandler: Send + Sync {
    fn call(&self, socket: SocketRef, parts: MessageParts);
}

struct Erased<H, M>(H, PhantomData<fn() -> M>);

impl<H: MessageHandler<M>, M: Send + Sync + 'static> ErasedHandler for Erased<H, M> {
    fn call(&self, socket: SocketRef, parts: MessageParts) {
        self.0.call(socket, parts);
    }
}

/// A type-erased handler shared by every socket that uses it.
pub(crate) type BoxedMessageHandler = Arc<dyn ErasedHandler>;

pub(crate) fn boxed_message_handler<H, M>(handler: H) -> BoxedMessageHandler
where
    H: MessageHandler<M>,
    M: Send + Sync + 'static,
{
    Arc::new(Erased(handler, PhantomData))
}

/// Called when a socket disconnects.
pub(crate) type DisconnectCallback = Box<dyn FnOnce(SocketRef, DisconnectReason) + Send>;

/// Logs an extractor rejection (see the module docs): the message is dropped, its ack too.
fn reject(socket: &SocketRef, parts: &MessageParts, rejection: &dyn fmt::Display) {
    tracing::warn!(
        socket = %socket.id(),
        event = %parts.event,
        ack = parts.ack_id.is_some(),
        %rejection,
        "extractor rejected the message; the handler was not called"
    );
}

/// The text of a caught panic.
pub(crate) fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Polls a handler's future once right away, so that a handler that does not wait finishes
/// before the next message of the same connection is read (events keep their order), and
/// spawns it only if it has to wait. Panics are caught both here and in the spawned task.
pub(crate) fn run_future(future: impl Future<Output = ()> + Send + 'static) {
    let mut future = Box::pin(AssertUnwindSafe(future).catch_unwind().map(|result| {
        if let Err(panic) = result {
            tracing::error!(panic = %panic_message(&panic), "a handler panicked");
        }
    }));
    let mut cx = Context::from_waker(Waker::noop());
    if future.as_mut().poll(&mut cx).is_pending() {
        tokio::spawn(future);
    }
}

macro_rules! impl_handler {
    ($($ty:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<F, R, $($ty,)*> MessageHandler<(marker::Sync, $($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> R + Send + Sync + 'static,
            R: HandlerResult,
            $($ty: FromMessageParts + Send + 'static,)*
        {
            fn call(&self, socket: SocketRef, parts: MessageParts) {
                $(
                    let $ty = match $ty::from_message_parts(&socket, &parts) {
                        Ok(value) => value,
                        Err(rejection) => {
                            reject(&socket, &parts, &rejection);
                            return;
                        }
                    };
                )*
                match std::panic::catch_unwind(AssertUnwindSafe(|| (self)($($ty,)*))) {
                    Ok(result) => result.report(&socket, &parts.event),
                    Err(panic) => tracing::error!(socket = %socket.id(), event = %parts.event, panic = %panic_message(&panic), "handler panicked"),
                }
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<F, Fut, R, $($ty,)*> MessageHandler<(marker::Async, $($ty,)*)> for F
        where
            F: Fn($($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerResult,
            $($ty: FromMessageParts + Send + 'static,)*
        {
            fn call(&self, socket: SocketRef, parts: MessageParts) {
                $(
                    let $ty = match $ty::from_message_parts(&socket, &parts) {
                        Ok(value) => value,
                        Err(rejection) => {
                            reject(&socket, &parts, &rejection);
                            return;
                        }
                    };
                )*
                let future = match std::panic::catch_unwind(AssertUnwindSafe(|| (self)($($ty,)*))) {
                    Ok(future) => future,
                    Err(panic) => {
                        tracing::error!(socket = %socket.id(), event = %parts.event, panic = %panic_message(&panic), "handler panicked");
                        return;
                    }
                };
                let event = parts.event;
                run_future(async move {
                    future.await.report(&socket, &event);
                });
            }
        }
    };
}

impl_handler!();
impl_handler!(T1);
impl_handler!(T1, T2);
impl_handler!(T1, T2, T3);
impl_handler!(T1, T2, T3, T4);
impl_handler!(T1, T2, T3, T4, T5);
impl_handler!(T1, T2, T3, T4, T5, T6);
impl_handler!(T1, T2, T3, T4, T5, T6, T7);
