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
use crate::payload::Payload;
use crate::socket::SocketRef;

/// A scope holding a value handlers may borrow as their first argument (a gateway).
pub trait HasReceiver: HandlerScope {
    /// The value (the gateway).
    type Receiver: Send + Sync + 'static;
    /// Borrows it.
    fn receiver(&self) -> &Self::Receiver;
}

/// Every argument of a handler, extracted in order (the first rejection stops).
///
/// In two steps, so that a [`Payload`] argument can take the message's payload by value
/// instead of copying it (a `Vec` of JSON values: one allocation per string, map and array):
/// [`ExtractAll::extract_others`] extracts every argument but that one, and only once they
/// all succeeded (a rejection still reports the whole message) [`ExtractAll::complete`] moves
/// the payload into it. That happens only when it is the one argument that reads the payload
/// ([`ExtractAll::TAKES_PAYLOAD`]) and the message is owned (not shared with `on_any`).
trait ExtractAll<S: HandlerScope>: Sized {
    /// The arguments extracted by the first step (`None`: the one that takes the payload).
    type Partial;
    /// Exactly one argument reads the payload, and it can take it by value.
    const TAKES_PAYLOAD: bool;
    /// Extracts every argument, except (with `defer`) the one taking the payload.
    fn extract_others(
        socket: &SocketRef,
        parts: &MessageParts,
        scope: &S,
        defer: bool,
    ) -> Result<Self::Partial, S::Rejection>;
    /// Completes the deferred argument with `payload` (taken from the message).
    fn complete(
        partial: Self::Partial,
        socket: &SocketRef,
        parts: &MessageParts,
        payload: Option<Payload>,
        scope: &S,
    ) -> Result<Self, S::Rejection>;
}

/// Extracts every argument, or hands the first rejection (or an extractor's panic) to the
/// scope.
fn extract<S: HandlerScope, E: ExtractAll<S>>(
    socket: &SocketRef,
    parts: &mut Cow<'_, MessageParts>,
    scope: S,
) -> Option<(E, S)> {
    let defer = E::TAKES_PAYLOAD && matches!(parts, Cow::Owned(_));
    let extracted = std::panic::catch_unwind(AssertUnwindSafe(|| {
        E::extract_others(socket, parts, &scope, defer)
    }));
    let partial = match extracted {
        Ok(Ok(partial)) => partial,
        Ok(Err(rejection)) => return reject(socket, parts, scope, Ok(rejection)),
        Err(panic) => return reject(socket, parts, scope, Err(panic)),
    };
    let payload = match parts {
        Cow::Owned(parts) if defer => Some(std::mem::take(&mut parts.payload)),
        _ => None,
    };
    let completed = std::panic::catch_unwind(AssertUnwindSafe(|| {
        E::complete(partial, socket, parts, payload, &scope)
    }));
    match completed {
        Ok(Ok(values)) => Some((values, scope)),
        Ok(Err(rejection)) => reject(socket, parts, scope, Ok(rejection)),
        Err(panic) => reject(socket, parts, scope, Err(panic)),
    }
}

/// Reports an extractor's rejection (`Ok`) or panic (`Err`) to the scope.
fn reject<S: HandlerScope, E>(
    socket: &SocketRef,
    parts: &MessageParts,
    scope: S,
    failure: Result<S::Rejection, Box<dyn Any + Send>>,
) -> Option<(E, S)> {
    match failure {
        Ok(rejection) => {
            observe::handler_failed(socket, &parts.event, HandlerFailureKind::Rejected);
            scope.rejected(socket, parts, rejection);
        }
        Err(panic) => {
            observe::handler_failed(socket, &parts.event, HandlerFailureKind::Panicked);
            scope.panicked(socket, &parts.event, panic);
        }
    }
    None
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
        #[allow(non_snake_case, unused_variables, unused_mut, clippy::unused_unit)]
        impl<S, $($ty,)*> ExtractAll<S> for ($($ty,)*)
        where
            S: HandlerScope,
            $($ty: FromMessageParts<S>, $ty::Rejection: Into<S::Rejection>,)*
        {
            type Partial = ($(Option<$ty>,)*);
            const TAKES_PAYLOAD: bool = (0 $(+ $ty::READS_PAYLOAD as usize)*) == 1
                && (false $(|| $ty::TAKES_PAYLOAD)*);

            fn extract_others(
                socket: &SocketRef,
                parts: &MessageParts,
                scope: &S,
                defer: bool,
            ) -> Result<Self::Partial, S::Rejection> {
                Ok(($(
                    if defer && $ty::TAKES_PAYLOAD {
                        None
                    } else {
                        Some($ty::from_message_parts(socket, parts, scope).map_err(Into::into)?)
                    },
                )*))
            }

            fn complete(
                partial: Self::Partial,
                socket: &SocketRef,
                parts: &MessageParts,
                mut payload: Option<Payload>,
                scope: &S,
            ) -> Result<Self, S::Rejection> {
                let ($($ty,)*) = partial;
                Ok(($(
                    match $ty {
                        Some(value) => value,
                        None => match payload.take().and_then($ty::from_taken_payload) {
                            Some(value) => value,
                            None => $ty::from_message_parts(socket, parts, scope)
                                .map_err(Into::into)?,
                        },
                    },
                )*))
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
            fn call(&self, socket: SocketRef, mut parts: Cow<'_, MessageParts>, scope: S) {
                let Some((($($ty,)*), scope)) = extract(&socket, &mut parts, scope) else {
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
            fn call(&self, socket: SocketRef, mut parts: Cow<'_, MessageParts>, scope: S) {
                let Some((($($ty,)*), scope)) = extract(&socket, &mut parts, scope) else {
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
            fn call(&self, socket: SocketRef, mut parts: Cow<'_, MessageParts>, scope: S) {
                let Some((($($ty,)*), scope)) = extract(&socket, &mut parts, scope) else {
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
