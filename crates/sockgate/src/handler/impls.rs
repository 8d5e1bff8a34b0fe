//! [`MessageHandler`] for functions of up to 7 extractors: one macro, for every scope.
//!
//! Each arity gets three implementations (a function returning its output, one returning a
//! future, and one borrowing the scope's receiver first, the `fn(&self, ...)` of a gateway);
//! the work they share (extraction, panics, the output) lives in the functions below, so the
//! macro only spells the arity.

use std::any::Any;
use std::borrow::Cow;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;

use super::MessageParts;
use super::{marker, run_future, FromMessageParts, HandlerOutput, HandlerScope, MessageHandler};
use crate::observe::{self, HandlerFailureKind, HandlerTimer};
use crate::socket::SocketRef;

/// A scope holding a value handlers may borrow as their first argument (a gateway).
pub trait HasReceiver: HandlerScope {
    /// The value (the gateway).
    type Receiver: Send + Sync + 'static;
    /// Borrows it.
    fn receiver(&self) -> &Self::Receiver;
}

/// Every argument of a handler, extracted in order (the first rejection stops).
trait ExtractAll<S: HandlerScope>: Sized {
    fn extract_all(
        socket: &SocketRef,
        parts: &MessageParts,
        scope: &S,
    ) -> Result<Self, S::Rejection>;
}

/// Extracts every argument, or hands the first rejection (or an extractor's panic) to the
/// scope.
fn extract<S: HandlerScope, E: ExtractAll<S>>(
    socket: &SocketRef,
    parts: &MessageParts,
    scope: S,
) -> Option<(E, S)> {
    let extracted =
        std::panic::catch_unwind(AssertUnwindSafe(|| E::extract_all(socket, parts, &scope)));
    match extracted {
        Ok(Ok(values)) => Some((values, scope)),
        Ok(Err(rejection)) => {
            observe::handler_failed(socket, &parts.event, HandlerFailureKind::Rejected);
            scope.rejected(socket, parts, rejection);
            None
        }
        Err(panic) => {
            observe::handler_failed(socket, &parts.event, HandlerFailureKind::Panicked);
            scope.panicked(socket, &parts.event, panic);
            None
        }
    }
}

/// Runs a handler that returns its output.
fn run_sync<S, R>(socket: SocketRef, parts: &MessageParts, scope: S, call: impl FnOnce(&S) -> R)
where
    S: HandlerScope,
    R: HandlerOutput<S>,
{
    let timer = HandlerTimer::start(&socket);
    match std::panic::catch_unwind(AssertUnwindSafe(|| call(&scope))) {
        Ok(output) => output.finish(&socket, &parts.event, scope),
        Err(panic) => {
            observe::handler_failed(&socket, &parts.event, HandlerFailureKind::Panicked);
            scope.panicked(&socket, &parts.event, panic);
        }
    }
    timer.finish(&socket, &parts.event);
}

/// Runs a handler that returns a future: polled once right away (see [`run_future`]).
fn run_async<S, Fut, R>(
    socket: SocketRef,
    parts: Cow<'_, MessageParts>,
    scope: S,
    call: impl FnOnce() -> Fut,
) where
    S: HandlerScope,
    Fut: Future<Output = R> + Send + 'static,
    R: HandlerOutput<S>,
{
    let timer = HandlerTimer::start(&socket);
    let future = match std::panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(future) => future,
        Err(panic) => {
            observe::handler_failed(&socket, &parts.event, HandlerFailureKind::Panicked);
            scope.panicked(&socket, &parts.event, panic);
            return timer.finish(&socket, &parts.event);
        }
    };
    // Only the event name outlives the call (for the report): the payload is not copied.
    let event = match parts {
        Cow::Owned(parts) => parts.event,
        Cow::Borrowed(parts) => parts.event.clone(),
    };
    run_future(async move {
        let result: Result<R, Box<dyn Any + Send>> = AssertUnwindSafe(future).catch_unwind().await;
        match result {
            Ok(output) => output.finish(&socket, &event, scope),
            Err(panic) => {
                observe::handler_failed(&socket, &event, HandlerFailureKind::Panicked);
                scope.panicked(&socket, &event, panic);
            }
        }
        timer.finish(&socket, &event);
    });
}

macro_rules! impl_handler {
    ($($ty:ident),*) => {
        #[allow(non_snake_case, unused_variables)]
        impl<S, $($ty,)*> ExtractAll<S> for ($($ty,)*)
        where
            S: HandlerScope,
            $($ty: FromMessageParts<S>, $ty::Rejection: Into<S::Rejection>,)*
        {
            fn extract_all(
                socket: &SocketRef,
                parts: &MessageParts,
                scope: &S,
            ) -> Result<Self, S::Rejection> {
                Ok(($($ty::from_message_parts(socket, parts, scope).map_err(Into::into)?,)*))
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<S, F, R, $($ty,)*> MessageHandler<(marker::Sync, $($ty,)*), S> for F
        where
            S: HandlerScope,
            F: Fn($($ty,)*) -> R + Send + Sync + 'static,
            R: HandlerOutput<S>,
            $($ty: FromMessageParts<S> + Send + 'static, $ty::Rejection: Into<S::Rejection>,)*
        {
            fn call(&self, socket: SocketRef, parts: Cow<'_, MessageParts>, scope: S) {
                let Some((($($ty,)*), scope)) = extract(&socket, &parts, scope) else {
                    return;
                };
                run_sync(socket, &parts, scope, |_| (self)($($ty,)*));
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<S, F, Fut, R, $($ty,)*> MessageHandler<(marker::Async, $($ty,)*), S> for F
        where
            S: HandlerScope,
            F: Fn($($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            R: HandlerOutput<S>,
            $($ty: FromMessageParts<S> + Send + 'static, $ty::Rejection: Into<S::Rejection>,)*
        {
            fn call(&self, socket: SocketRef, parts: Cow<'_, MessageParts>, scope: S) {
                let Some((($($ty,)*), scope)) = extract(&socket, &parts, scope) else {
                    return;
                };
                run_async(socket, parts, scope, || (self)($($ty,)*));
            }
        }

        #[allow(non_snake_case, unused_variables)]
        impl<S, F, R, $($ty,)*> MessageHandler<(marker::ByRef, $($ty,)*), S> for F
        where
            S: HasReceiver,
            F: Fn(&S::Receiver, $($ty,)*) -> R + Send + Sync + 'static,
            R: HandlerOutput<S>,
            $($ty: FromMessageParts<S> + Send + 'static, $ty::Rejection: Into<S::Rejection>,)*
        {
            fn call(&self, socket: SocketRef, parts: Cow<'_, MessageParts>, scope: S) {
                let Some((($($ty,)*), scope)) = extract(&socket, &parts, scope) else {
                    return;
                };
                run_sync(socket, &parts, scope, |scope| (self)(scope.receiver(), $($ty,)*));
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
